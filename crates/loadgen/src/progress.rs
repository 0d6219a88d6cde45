//! The one-line progress display on stderr: elapsed time, request rate, errors by flag.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::time::Instant;

use crate::stats::WorkerStats;

/// How often the line is redrawn.
const REDRAW_EVERY: Duration = Duration::from_millis(500);

/// Counters a worker publishes now and then for the display (never on every request).
#[derive(Debug, Default)]
pub(crate) struct Live(Mutex<Snapshot>);

#[derive(Debug, Clone, Default)]
struct Snapshot {
    requests: u64,
    errors: u64,
    /// Error flags and transport error kinds.
    causes: Vec<(String, u64)>,
}

impl Live {
    /// Copy the worker's counters.
    pub(crate) fn publish(&self, stats: &WorkerStats) {
        let mut causes: Vec<(String, u64)> = stats
            .flags
            .iter()
            .filter(|(flag, _)| flag.is_error_flag())
            .map(|(flag, n)| (flag.to_string_lossy(), n))
            .collect();
        causes.extend(
            stats
                .transport_errors()
                .map(|(k, n)| (k.as_str().to_string(), n)),
        );
        *self.0.lock().expect("progress lock") = Snapshot {
            requests: stats.requests,
            errors: stats.errors,
            causes,
        };
    }
}

/// Redraw the line until `done` fires, then end it with a newline.
pub(crate) async fn show(
    lives: Vec<Arc<Live>>,
    start: Instant,
    planned: Option<Duration>,
    mut done: oneshot::Receiver<()>,
) {
    let mut ticks = tokio::time::interval_at(start + REDRAW_EVERY, REDRAW_EVERY);
    let (mut last_requests, mut last_time) = (0, start);
    loop {
        let finished = tokio::select! {
            _ = ticks.tick() => false,
            _ = &mut done => true,
        };
        let now = Instant::now();
        let total = lives.iter().fold(Snapshot::default(), |mut total, live| {
            let snapshot = live.0.lock().expect("progress lock");
            total.requests += snapshot.requests;
            total.errors += snapshot.errors;
            for (cause, n) in &snapshot.causes {
                match total.causes.iter_mut().find(|(c, _)| c == cause) {
                    Some((_, count)) => *count += n,
                    None => total.causes.push((cause.clone(), *n)),
                }
            }
            total
        });
        let interval = (now - last_time).as_secs_f64().max(1e-3);
        let rate = (total.requests - last_requests) as f64 / interval;
        (last_requests, last_time) = (total.requests, now);
        let causes: Vec<String> = total
            .causes
            .iter()
            .map(|(c, n)| format!("{c} {n}"))
            .collect();
        let elapsed = (now - start).as_secs_f64();
        let clock = match planned {
            Some(p) => format!("{elapsed:5.1}/{:.0}s", p.as_secs_f64()),
            None => format!("{elapsed:6.1}s"),
        };
        let mut line = format!(
            "\r{clock} {:>9.0} req/s {:>10} requests {:>8} errors",
            rate, total.requests, total.errors,
        );
        if !causes.is_empty() {
            line.push_str(&format!(" ({})", causes.join(", ")));
        }
        line.push_str("\x1b[K");
        let mut err = std::io::stderr().lock();
        let _ = err.write_all(line.as_bytes());
        if finished {
            let _ = err.write_all(b"\n");
            return;
        }
        let _ = err.flush();
    }
}
