//! One worker: at most one connection at a time, requests sent on it one after another.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::connection::{connect, Connection};
use crate::dns::Dns;
use crate::outcome::{Outcome, TransportErrorKind};
use crate::progress::Live;
use crate::request::RequestTemplate;
use crate::schedule::Schedule;
use crate::stats::WorkerStats;

/// How often a worker publishes its counters to the progress display.
const PUBLISH_EVERY: Duration = Duration::from_millis(200);

/// What every worker of a run reads.
pub(crate) struct Shared {
    /// Where connections go.
    pub(crate) target: SocketAddr,
    /// Connect to the resolved address instead of `target` (`--connect-resolved`).
    pub(crate) connect_resolved: bool,
    pub(crate) template: RequestTemplate,
    pub(crate) flags_header: String,
    /// The method is HEAD: responses carry no body.
    pub(crate) head_request: bool,
    pub(crate) timeout: Duration,
    pub(crate) keepalive: bool,
    pub(crate) max_requests_per_conn: Option<u64>,
    pub(crate) schedule: Schedule,
    pub(crate) dns: Option<Arc<Dns>>,
    /// The run's seed; worker `i` draws its think times from `seed + i`.
    pub(crate) seed: u64,
    /// A server-first line exchange per request, the banner awaited this long.
    pub(crate) banner_timeout: Option<Duration>,
}

/// Send requests as worker `index` until the schedule ends; returns what this worker saw.
pub(crate) async fn run(shared: Arc<Shared>, index: u64, live: Option<Arc<Live>>) -> WorkerStats {
    let mut stats = WorkerStats::new();
    let mut connection = None;
    let mut rng = fastrand::Rng::with_seed(shared.seed.wrapping_add(index));
    let start = shared.schedule.start();
    let mut publish_at = start;
    while let Some(due) = shared.schedule.next().await {
        let outcome = attempt(&shared, &mut connection, &mut stats).await;
        let done = Instant::now();
        stats.record(due - start, done - due, outcome);
        if let Some(live) = live.as_ref().filter(|_| done >= publish_at) {
            live.publish(&stats);
            publish_at = done + PUBLISH_EVERY;
        }
        shared.schedule.think(&mut rng).await;
    }
    if let Some(live) = &live {
        live.publish(&stats);
    }
    stats
}

/// One request on the worker's connection, opening one first when needed.
async fn attempt(
    shared: &Shared,
    slot: &mut Option<Connection>,
    stats: &mut WorkerStats,
) -> Outcome {
    let deadline = Instant::now() + shared.timeout;
    if let Some(banner_timeout) = shared.banner_timeout {
        let stream = match connect(shared.target, deadline).await {
            Ok(stream) => stream,
            Err(kind) => return Outcome::Transport(kind),
        };
        stats.sockets_opened += 1;
        return crate::line::exchange(stream, banner_timeout, deadline).await;
    }
    if let (Some(dns), Some(dst)) = (&shared.dns, slot.as_ref().and_then(|c| c.dst)) {
        if !dns.is_current(dst) {
            *slot = None;
        }
    }
    let connection = match slot {
        Some(connection) => connection,
        None => {
            let dst = match &shared.dns {
                Some(dns) => match dns.address_for_new_connection().await {
                    Some(dst) => Some(dst),
                    None => return Outcome::Transport(TransportErrorKind::Dns),
                },
                None => None,
            };
            // Connect to the resolved address itself, or announce it to the target (the
            // sidecar) in the original-destination header.
            let (to, announced) = match dst {
                Some(dst) if shared.connect_resolved => (dst, None),
                _ => (shared.target, dst),
            };
            let stream = match connect(to, deadline).await {
                Ok(stream) => stream,
                Err(kind) => return Outcome::Transport(kind),
            };
            stats.sockets_opened += 1;
            slot.insert(Connection::new(
                stream,
                shared.template.render(announced),
                dst,
            ))
        }
    };
    let exchange = connection.exchange(&shared.flags_header, shared.head_request);
    match tokio::time::timeout_at(deadline, exchange).await {
        Ok(Ok(response)) => {
            let reuse = shared.keepalive
                && response.keep_alive
                && shared
                    .max_requests_per_conn
                    .is_none_or(|max| connection.served < max);
            if !reuse {
                *slot = None;
            }
            Outcome::Response {
                status: response.status,
                flag: response.flag,
            }
        }
        Ok(Err(kind)) => {
            *slot = None;
            Outcome::Transport(kind)
        }
        Err(_elapsed) => {
            *slot = None;
            Outcome::Transport(TransportErrorKind::Timeout)
        }
    }
}
