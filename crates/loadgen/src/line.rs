//! The server-first line exchange (`--banner-timeout-ms`): a connection per exchange; wait
//! for the server's banner line, send one line, read the answer line, close.
//!
//! This is how an SMTP or MySQL client talks: it says nothing until the server has greeted
//! it. Behind a sidecar that sniffs the port, the greeting only comes once the sidecar stops
//! waiting for the client to speak first.

use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::outcome::{Outcome, TransportErrorKind};

/// The line sent once the banner has arrived.
const LINE: &[u8] = b"HELO mesh5xx\r\n";

/// Longest banner or answer line read.
const MAX_LINE: u64 = 4096;

/// One exchange on `stream`: the banner within `banner_timeout`, then the answer to
/// [`LINE`] by `deadline`.
pub(crate) async fn exchange(
    stream: TcpStream,
    banner_timeout: Duration,
    deadline: Instant,
) -> Outcome {
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    let mut line = Vec::new();
    let banner_by = (Instant::now() + banner_timeout).min(deadline);
    match tokio::time::timeout_at(banner_by, read_line(&mut read, &mut line)).await {
        Err(_) if banner_by < deadline => return Outcome::Transport(TransportErrorKind::NoBanner),
        Err(_) => return Outcome::Transport(TransportErrorKind::Timeout),
        Ok(Err(kind)) => return Outcome::Transport(kind),
        Ok(Ok(())) => {}
    }
    let answer = async {
        write
            .write_all(LINE)
            .await
            .map_err(|e| TransportErrorKind::of_io(&e))?;
        line.clear();
        read_line(&mut read, &mut line).await
    };
    match tokio::time::timeout_at(deadline, answer).await {
        Err(_) => Outcome::Transport(TransportErrorKind::Timeout),
        Ok(Err(kind)) => Outcome::Transport(kind),
        Ok(Ok(())) => Outcome::Answered,
    }
}

/// Read one whole line into `line`.
async fn read_line(
    read: &mut BufReader<tokio::net::tcp::OwnedReadHalf>,
    line: &mut Vec<u8>,
) -> Result<(), TransportErrorKind> {
    use tokio::io::AsyncReadExt;
    match read.take(MAX_LINE).read_until(b'\n', line).await {
        Err(e) => Err(TransportErrorKind::of_io(&e)),
        Ok(_) if line.ends_with(b"\n") => Ok(()),
        Ok(0) => Err(TransportErrorKind::ClosedBeforeResponse),
        Ok(_) if line.len() as u64 >= MAX_LINE => Err(TransportErrorKind::Other),
        Ok(_) => Err(TransportErrorKind::ClosedBeforeResponse),
    }
}
