//! The toy app server: a plain HTTP/1.1 server plus the faults that make real app servers
//! fail behind a sidecar — keep-alive recycling (idle close, max requests with
//! graceful/abrupt/drop, lifetime) through a slow close path, delays, injected statuses,
//! outages, and how it stops on SIGTERM (a shutdown delay, a graceful shutdown).
//!
//! Each fault is one module of [`faults`]; a server's faults are an [`AppFaults`], written in
//! scenario files as `{idle-close: {after_ms: 20}, close-lag: {ms: 10}}` and on the command
//! line as `--fault idle-close:after_ms=20 --fault close-lag:ms=10`.
//!
//! Run it as `mesh5xx upstream` ([`main`], arguments from [`UpstreamArgs::to_argv`]) or in
//! process with [`start`]:
//!
//! ```no_run
//! # async fn demo() -> Result<(), mesh5xx_upstream::UpstreamError> {
//! use mesh5xx_upstream::faults::{CloseLag, IdleClose};
//! use mesh5xx_upstream::{start, AppFaults, UpstreamConfig};
//!
//! let faults = AppFaults::new()
//!     .with(IdleClose { after_ms: 20 })
//!     .with(CloseLag { ms: 10 });
//! let server = start(UpstreamConfig::with_faults(faults)).await?;
//! println!("listening on {}", server.addr());
//! let report = server.shutdown().await?;
//! println!("{} requests", report.requests);
//! # Ok(())
//! # }
//! ```

mod args;
mod config;
mod connection;
mod error;
pub mod faults;
mod hook;
mod lines;
mod policy;
mod ready;
mod report;
mod server;
mod service;
mod spec;

use std::path::Path;
use std::process::ExitCode;

pub use args::UpstreamArgs;
pub use config::UpstreamConfig;
pub use error::UpstreamError;
pub use faults::{describe_faults, AppFault, AppFaults, FaultError, FaultKind, Param};
pub use ready::Ready;
pub use report::{ClosedByReason, DownRecord, UpstreamReport};
pub use server::{start, RunningUpstream};

/// Entry point of `mesh5xx upstream`: runs to completion on its own tokio runtime.
///
/// With `--list-faults` prints the faults and returns. Otherwise prints the READY line
/// ([`Ready`]) once listening, serves until SIGTERM or SIGINT, stops as
/// [`RunningUpstream::terminate`] does (after its `shutdown-delay`; at once, or with
/// `graceful-shutdown` once the requests in flight are answered), then writes the report to
/// `--report FILE` or stdout.
pub fn main(args: UpstreamArgs) -> anyhow::Result<ExitCode> {
    if args.list_faults {
        print!("{}", describe_faults());
        return Ok(ExitCode::SUCCESS);
    }
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
        let ready = Ready {
            addr: server.addr(),
            pid: std::process::id(),
        };
        mesh5xx_process::announce_ready(&ready)?;
        mesh5xx_process::stop_signal().await?;
        let report = server.terminate().await?;
        write_report(&report, args.report.as_deref())?;
        Ok(ExitCode::SUCCESS)
    })
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
