//! `mesh5xx xds`: the control plane as a process. It prints a READY line with its ADS
//! address, reads updates from stdin (one JSON [`Update`] per line) and records to
//! `--record FILE`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};
use tokio::io::AsyncBufReadExt;

use crate::{ControlPlane, Debounce, Event, Recorder, Schema, Update};

/// Arguments of `mesh5xx xds`.
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct XdsArgs {
    /// Address to serve ADS on (loopback, or any address in a network namespace of the run's
    /// own); port 0 picks a free port, printed on the READY line.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:0")]
    pub listen: SocketAddr,
    /// Write the record (one JSON object per update, push, response, ACK, NACK) to FILE.
    #[arg(long, value_name = "FILE")]
    pub record: Option<PathBuf>,
    /// Envoy's protobuf schema, a FileDescriptorSet [default: made once from PyPI xds-protos
    /// into the cache; env MESH5XX_XDS_SCHEMA].
    #[arg(long, value_name = "FILE")]
    pub schema: Option<PathBuf>,
    /// PILOT_DEBOUNCE_AFTER: quiet time before a push (ms).
    #[arg(long, value_name = "MS", default_value_t = 100)]
    pub debounce_after_ms: u64,
    /// PILOT_DEBOUNCE_MAX: the longest a change waits for quiet (ms).
    #[arg(long, value_name = "MS", default_value_t = 10_000)]
    pub debounce_max_ms: u64,
    /// PILOT_ENABLE_EDS_DEBOUNCE=false: push endpoint changes at once.
    #[arg(long)]
    pub no_eds_debounce: bool,
    /// PILOT_PUSH_THROTTLE: sidecars pushed at once.
    #[arg(long, value_name = "N", default_value_t = 25)]
    pub push_throttle: usize,
}

/// The READY line of `mesh5xx xds`: `MESH5XX-READY {"addr":"127.0.0.1:41234","pid":1234}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ready {
    /// Where it serves ADS.
    pub addr: SocketAddr,
    pub pid: u32,
}

/// `mesh5xx xds` alone, to read the defaults off clap.
#[derive(clap::Parser)]
struct Standalone {
    #[command(flatten)]
    args: XdsArgs,
}

impl XdsArgs {
    /// clap's defaults, recording to `record`, with the schema at `schema`.
    pub fn new(record: PathBuf, schema: PathBuf) -> Self {
        use clap::Parser;
        let mut a = Standalone::parse_from(["xds"]).args;
        a.record = Some(record);
        a.schema = Some(schema);
        a
    }

    /// The command line `mesh5xx xds` reads these arguments from (flags at their default
    /// left out).
    pub fn to_argv(&self) -> Vec<String> {
        use clap::Parser;
        let d = Standalone::parse_from(["xds"]).args;
        let mut v = Vec::new();
        let mut flag = |name: &str, value: String| {
            v.push(format!("--{name}"));
            v.push(value);
        };
        if self.listen != d.listen {
            flag("listen", self.listen.to_string());
        }
        if let Some(p) = &self.record {
            flag("record", p.display().to_string());
        }
        if let Some(p) = &self.schema {
            flag("schema", p.display().to_string());
        }
        if self.debounce_after_ms != d.debounce_after_ms {
            flag("debounce-after-ms", self.debounce_after_ms.to_string());
        }
        if self.debounce_max_ms != d.debounce_max_ms {
            flag("debounce-max-ms", self.debounce_max_ms.to_string());
        }
        if self.push_throttle != d.push_throttle {
            flag("push-throttle", self.push_throttle.to_string());
        }
        if self.no_eds_debounce {
            v.push("--no-eds-debounce".into());
        }
        v
    }

    /// The debounce these arguments ask for.
    pub fn debounce(&self) -> Debounce {
        Debounce {
            after: Duration::from_millis(self.debounce_after_ms),
            max: Duration::from_millis(self.debounce_max_ms),
            eds: !self.no_eds_debounce,
        }
    }
}

/// Entry point of `mesh5xx xds`: serves until SIGTERM/SIGINT; a bad update line ends it with
/// exit code 2 after recording why (what was recorded before stays).
pub fn main(args: XdsArgs) -> anyhow::Result<ExitCode> {
    // In a network namespace of the run's own (the netns mode), its addresses are the run's.
    if !args.listen.ip().is_loopback() && !mesh5xx_process::netns::is_private()? {
        bail!(
            "--listen {}: the control plane serves only on loopback (127.0.0.0/8 or ::1), or in a network namespace of the run's own",
            args.listen
        );
    }
    let schema = Schema::locate(args.schema.as_deref())?;
    let recorder = Arc::new(match &args.record {
        Some(p) => Recorder::to_file(p).with_context(|| format!("--record {}", p.display()))?,
        None => Recorder::in_memory(),
    });
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let cp = ControlPlane::start(
            args.listen,
            schema,
            args.debounce(),
            args.push_throttle,
            recorder.clone(),
        )
        .await
        .with_context(|| format!("--listen {}", args.listen))?;
        mesh5xx_process::announce_ready(&Ready {
            addr: cp.addr(),
            pid: std::process::id(),
        })?;
        let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
        let mut n = 0usize;
        let mut stdin_open = true;
        let stop = mesh5xx_process::stop_signal();
        tokio::pin!(stop);
        loop {
            tokio::select! {
                line = lines.next_line(), if stdin_open => match line? {
                    None => stdin_open = false,
                    Some(line) => {
                        n += 1;
                        if line.trim().is_empty() {
                            continue;
                        }
                        match serde_json::from_str::<Update>(&line) {
                            Ok(u) => cp.update(u),
                            Err(e) => {
                                let reason = format!("stdin line {n}: {e}");
                                recorder.record(Event::Rejected { what: "update".into(), reason: reason.clone() });
                                eprintln!("mesh5xx xds: {reason}");
                                return Ok(ExitCode::from(2));
                            }
                        }
                    }
                },
                r = &mut stop => {
                    r?;
                    return Ok(ExitCode::SUCCESS);
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn arguments_round_trip_through_the_command_line() {
        let mut a = XdsArgs::new("/tmp/r.jsonl".into(), "/tmp/s.fds".into());
        assert_eq!(
            Standalone::parse_from(std::iter::once("xds".to_string()).chain(a.to_argv())).args,
            a
        );
        a.listen = "127.0.0.2:15010".parse().unwrap();
        a.debounce_after_ms = 5;
        a.debounce_max_ms = 50;
        a.no_eds_debounce = true;
        a.push_throttle = 3;
        assert_eq!(
            Standalone::parse_from(std::iter::once("xds".to_string()).chain(a.to_argv())).args,
            a
        );
        assert_eq!(
            a.debounce(),
            Debounce {
                after: Duration::from_millis(5),
                max: Duration::from_millis(50),
                eds: false
            }
        );
    }

    #[test]
    fn the_ready_line_carries_addr_and_pid() {
        let r = Ready {
            addr: "127.0.0.1:41234".parse().unwrap(),
            pid: 7,
        };
        let line = format!(
            "{}{}",
            mesh5xx_process::READY_PREFIX,
            serde_json::to_string(&r).unwrap()
        );
        let back: Ready =
            serde_json::from_value(mesh5xx_process::parse_ready_line(&line).unwrap()).unwrap();
        assert_eq!(back, r);
    }
}
