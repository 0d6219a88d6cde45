//! The load generator acting as the app: closed and open loop, keep-alive pool, response flags, HDR latencies, per-second timeline.
//!
//! `-c N` workers each own at most one HTTP/1.1 connection and send pre-built requests
//! on it one after another, reconnecting when the server closes it, when it fails,
//! after `Connection: close` or after `--max-requests-per-conn`. Every response is
//! counted by status and by the response-flags header the sidecar adds; attempts
//! without a response are counted by [`TransportErrorKind`]. Workers keep their own
//! counters and histograms, merged when the run ends into a [`LoadReport`].
//!
//! [`run`] drives a run in-process; [`main`] is `mesh5xx loadgen`.

mod args;
mod config;
mod connection;
mod dns;
mod error;
mod hgrm;
mod line;
mod outcome;
mod progress;
mod report;
mod request;
mod response;
mod runtime;
mod schedule;
mod stats;
mod worker;

use std::fs::File;
use std::io::{BufWriter, Write};
use std::sync::Arc;

use anyhow::Context;
use tokio::runtime::Handle;
use tokio::time::Instant;

pub use args::{LoadArgs, ProgressMode};
pub use config::{Arrivals, LoadConfig, Pacing, ResolveConfig, ResolveMode, Stop};
pub use error::LoadError;
pub use hgrm::write_hgrm;
pub use outcome::TransportErrorKind;
pub use report::{LatencySummary, LoadMode, LoadReport, TimelineEntry};

use config::ResolveMode::Every;
use dns::Dns;
use progress::Live;
use request::RequestTemplate;
use runtime::Runtimes;
use schedule::Schedule;
use stats::WorkerStats;
use worker::Shared;

/// Default response header carrying the sidecar's `%RESPONSE_FLAGS%`.
pub const DEFAULT_FLAGS_HEADER: &str = "x-mesh5xx-flags";

/// Threads of `mesh5xx loadgen`, one single-threaded runtime each.
const THREADS: usize = 2;

/// Entry point of `mesh5xx loadgen`: runs to completion on its own threads (one
/// single-threaded tokio runtime each, workers spread over them) and
/// writes the report. Failed requests are data: the exit code is 0 whatever they were.
pub fn main(args: LoadArgs) -> anyhow::Result<std::process::ExitCode> {
    let config = args.to_config()?;
    let runtimes = Runtimes::start(THREADS).context("starting the runtime threads")?;
    let report = runtimes.block_on(|handles| run_on(config, handles))?;
    drop(runtimes);
    let json = serde_json::to_string_pretty(&report)?;
    if args.out == "-" {
        let mut stdout = std::io::stdout().lock();
        match writeln!(stdout, "{json}").and_then(|()| stdout.flush()) {
            Err(err) if err.kind() != std::io::ErrorKind::BrokenPipe => {
                return Err(anyhow::Error::new(err).context("writing the report to stdout"));
            }
            _ => {}
        }
    } else {
        std::fs::write(&args.out, json + "\n")
            .with_context(|| format!("writing --out {}", args.out))?;
    }
    if let (Some(path), Some(histogram)) = (&args.hgrm, &report.latency_histogram) {
        let mut out = BufWriter::new(
            File::create(path).with_context(|| format!("creating --hgrm {}", path.display()))?,
        );
        write_hgrm(histogram, &mut out)
            .and_then(|()| out.flush())
            .with_context(|| format!("writing --hgrm {}", path.display()))?;
    }
    Ok(std::process::ExitCode::SUCCESS)
}

/// Run the load described by `config` on the current tokio runtime and report it.
pub async fn run(config: LoadConfig) -> Result<LoadReport, LoadError> {
    run_on(config, vec![Handle::current()]).await
}

/// [`run`], with the workers spread round-robin over the runtimes of `handles`.
async fn run_on(config: LoadConfig, handles: Vec<Handle>) -> Result<LoadReport, LoadError> {
    config.validate()?;
    let target = tokio::net::lookup_host(&config.target)
        .await
        .and_then(|mut addrs| {
            addrs
                .next()
                .ok_or_else(|| std::io::Error::other("no address"))
        })
        .map_err(|source| LoadError::Target {
            target: config.target.clone(),
            source,
        })?;
    let dns = config
        .resolve
        .as_ref()
        .map(Dns::new)
        .transpose()?
        .map(Arc::new);
    let seed = config.seed.unwrap_or_else(|| fastrand::u64(..));
    let start = Instant::now();
    let shared = Arc::new(Shared {
        target,
        connect_resolved: config.resolve.as_ref().is_some_and(|r| r.connect),
        template: RequestTemplate::new(&config),
        flags_header: config.flags_header.clone(),
        head_request: config.method.eq_ignore_ascii_case("HEAD"),
        timeout: config.timeout,
        keepalive: config.keepalive,
        max_requests_per_conn: config.max_requests_per_conn,
        schedule: Schedule::new(start, config.stop, config.pacing, seed),
        dns: dns.clone(),
        seed,
        banner_timeout: config.banner_timeout,
    });
    let refresher = match (&dns, &config.resolve) {
        (
            Some(dns),
            Some(ResolveConfig {
                mode: Every(period),
                ..
            }),
        ) => {
            let end = config.stop.duration.map(|d| start + d);
            Some(tokio::spawn(Arc::clone(dns).refresh_every(*period, end)))
        }
        _ => None,
    };
    let lives: Vec<Arc<Live>> = (0..config.connections)
        .map(|_| Arc::new(Live::default()))
        .collect();
    let progress = config.progress.then(|| {
        let (done, finished) = tokio::sync::oneshot::channel();
        let display = tokio::spawn(progress::show(
            lives.clone(),
            start,
            config.stop.duration,
            finished,
        ));
        (done, display)
    });
    let workers: Vec<_> = lives
        .iter()
        .zip(handles.iter().cycle())
        .zip(0..)
        .map(|((live, runtime), index)| {
            let live = config.progress.then(|| Arc::clone(live));
            runtime.spawn(worker::run(Arc::clone(&shared), index, live))
        })
        .collect();
    let mut total = WorkerStats::new();
    for worker in workers {
        total.merge(worker.await?);
    }
    let elapsed = start.elapsed();
    if let Some(refresher) = refresher {
        refresher.abort();
    }
    if let Some((done, display)) = progress {
        let _ = done.send(());
        display.await?;
    }
    let facts = report::RunFacts {
        elapsed,
        dns_queries: dns.as_ref().map(|dns| dns.queries()),
        resolved: dns.as_ref().map(|dns| dns.seen()).unwrap_or_default(),
    };
    Ok(LoadReport::build(&config, total, facts))
}
