//! The toy app server: keep-alive recycling (idle close, max requests with graceful/abrupt/drop, lifetime), delays, injected statuses, down/up schedule.
//!
//! Run it as `mesh5xx upstream` ([`main`]) or in process with [`start`]:
//!
//! ```no_run
//! # async fn demo() -> Result<(), mesh5xx_upstream::UpstreamError> {
//! use std::time::Duration;
//! use mesh5xx_upstream::{start, UpstreamConfig};
//!
//! let server = start(UpstreamConfig {
//!     idle_timeout: Some(Duration::from_millis(20)),
//!     ..UpstreamConfig::default()
//! })
//! .await?;
//! println!("listening on {}", server.addr());
//! let report = server.shutdown().await?;
//! println!("{} requests", report.requests);
//! # Ok(())
//! # }
//! ```

mod args;
mod connection;
mod error;
mod policy;
mod report;
mod server;
mod service;

use std::path::Path;
use std::process::ExitCode;

pub use args::UpstreamArgs;
pub use error::UpstreamError;
pub use policy::{CloseMode, Delay, DownWindow, StatusShare, UpstreamConfig};
pub use report::{ClosedByReason, DownRecord, UpstreamReport};
pub use server::{start, RunningUpstream};

/// Entry point of `mesh5xx upstream`: runs to completion on its own tokio runtime.
///
/// Prints the READY line once listening, serves until SIGTERM or SIGINT, then writes
/// the report to `--report FILE` or stdout.
pub fn main(args: UpstreamArgs) -> anyhow::Result<ExitCode> {
    let config = args.config()?;
    let runtime = if args.threads == 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(usize::from(args.threads))
            .enable_all()
            .build()?
    };
    runtime.block_on(async {
        let server = start(config).await?;
        let ready =
            serde_json::json!({ "addr": server.addr().to_string(), "pid": std::process::id() });
        mesh5xx_process::announce_ready(&ready)?;
        stop_signal().await?;
        let report = server.shutdown().await?;
        write_report(&report, args.report.as_deref())?;
        Ok(ExitCode::SUCCESS)
    })
}

/// Wait for SIGTERM or SIGINT.
async fn stop_signal() -> std::io::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    Ok(())
}

/// Write `report` as JSON to `path`, or to stdout when there is none.
fn write_report(report: &UpstreamReport, path: Option<&Path>) -> Result<(), UpstreamError> {
    let json = serde_json::to_string_pretty(report).expect("the report serializes");
    match path {
        Some(path) => std::fs::write(path, json + "\n").map_err(|source| UpstreamError::Report {
            path: path.to_path_buf(),
            source,
        }),
        None => {
            println!("{json}");
            Ok(())
        }
    }
}
