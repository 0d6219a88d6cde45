//! The control port: a line protocol for snapshots of the firewall.
//!
//! Commands (case-insensitive), one per line:
//! - `LIST`: the `ipset list` lines of the live entries, then `END`;
//! - `STATS`: the report without the timeline, as one JSON line;
//! - `REPORT`: the report with the timeline, as one JSON line;
//! - `START`: start the schedule (with `"schedule_start": "command"`): `OK started`, or
//!   `OK already started`;
//! - `QUIT`: `BYE`, then the connection closes.
//!
//! Anything else gets `ERR unknown command: …`.

use std::io;
use std::sync::Arc;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::report::Sources;

/// Serve control clients until `shutdown` turns true.
pub async fn serve(
    listener: TcpListener,
    sources: Arc<Sources>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let stream = tokio::select! {
            r = listener.accept() => match r {
                Ok((stream, _)) => stream,
                Err(e) => {
                    tracing::warn!("control accept: {e}");
                    continue;
                }
            },
            _ = crate::stopped(&mut shutdown) => return,
        };
        let sources = sources.clone();
        tokio::spawn(async move {
            if let Err(e) = session(stream, &sources).await {
                tracing::debug!("control session: {e}");
            }
        });
    }
}

async fn session(stream: TcpStream, sources: &Sources) -> io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    while let Some(line) = lines.next_line().await? {
        let command = line.trim().to_ascii_uppercase();
        let reply = match command.as_str() {
            "" => continue,
            "LIST" => {
                let mut out = sources.firewall.ipset_lines().join("\n");
                if !out.is_empty() {
                    out.push('\n');
                }
                out + "END\n"
            }
            "STATS" | "REPORT" => {
                let report = sources.report(command == "REPORT").await;
                serde_json::to_string(&report).map_err(io::Error::other)? + "\n"
            }
            "START" => match sources.schedule.start() {
                true => "OK started\n".to_string(),
                false => "OK already started\n".to_string(),
            },
            "QUIT" => {
                write.write_all(b"BYE\n").await?;
                return Ok(());
            }
            _ => format!("ERR unknown command: {}\n", line.trim()),
        };
        write.write_all(reply.as_bytes()).await?;
    }
    Ok(())
}
