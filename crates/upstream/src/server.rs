//! The listener: accepts connections, runs the down/up schedule, and stops on request: at
//! once, or gracefully with `graceful-shutdown`.

use std::net::SocketAddr;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::oneshot;
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;

use crate::config::UpstreamConfig;
use crate::connection;
use crate::error::UpstreamError;
use crate::hook::ScheduledDown;
use crate::policy::{GracefulStop, Policy};
use crate::report::{CloseReason, DownRecord, Registry, UpstreamReport};

/// Pause between attempts to listen again after a down window, while the port is busy.
const REBIND_RETRY: Duration = Duration::from_millis(50);

/// A server started with [`start`]; dropping it stops the server without a report.
#[derive(Debug)]
pub struct RunningUpstream {
    addr: SocketAddr,
    registry: Arc<Registry>,
    shutdown_delay: Duration,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

/// Start the server described by `config` on the current tokio runtime.
///
/// Returns once the socket listens; connections are served in background tasks.
pub async fn start(config: UpstreamConfig) -> Result<RunningUpstream, UpstreamError> {
    config.validate()?;
    let listener = listen(config.listen)?;
    let addr = listener
        .local_addr()
        .map_err(|source| UpstreamError::Listen {
            addr: config.listen,
            source,
        })?;
    let policy = Arc::new(Policy::new(&config));
    let registry = Arc::new(Registry::new(addr, policy.status_codes()));
    let shutdown_delay = policy.shutdown_delay;
    let (stop_tx, stop_rx) = oneshot::channel();
    let server = Server {
        addr,
        started: policy.started,
        policy,
        registry: registry.clone(),
        conns: JoinSet::new(),
    };
    let task = tokio::spawn(server.run(listener, stop_rx));
    Ok(RunningUpstream {
        addr,
        registry,
        shutdown_delay,
        stop: Some(stop_tx),
        task,
    })
}

impl RunningUpstream {
    /// The address the server listens on (with the port picked when asked for port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The report so far, counting open connections' requests too.
    pub fn report(&self) -> UpstreamReport {
        self.registry.report()
    }

    /// How long the app keeps serving after SIGTERM (the `shutdown-delay` fault; zero without it).
    pub fn shutdown_delay(&self) -> Duration {
        self.shutdown_delay
    }

    /// What the app does on SIGTERM: keep serving for the [shutdown
    /// delay](RunningUpstream::shutdown_delay), then [shut down](RunningUpstream::shutdown);
    /// returns the final report.
    pub async fn terminate(self) -> Result<UpstreamReport, UpstreamError> {
        tokio::time::sleep(self.shutdown_delay).await;
        self.shutdown().await
    }

    /// Stop listening, close the open connections and return the final report.
    ///
    /// Without `graceful-shutdown` every connection closes at once, a request in flight
    /// unanswered. With it, idle connections close at once and the others after their
    /// response (`Connection: close`); this returns once none is left, or after the fault's
    /// timeout, closing what remains.
    pub async fn shutdown(mut self) -> Result<UpstreamReport, UpstreamError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        (&mut self.task).await?;
        Ok(self.registry.report())
    }
}

impl Drop for RunningUpstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Open a listening socket on `addr` that can be reopened on the same port right after it closes.
fn listen(addr: SocketAddr) -> Result<TcpListener, UpstreamError> {
    let open = || {
        let socket = if addr.is_ipv4() {
            TcpSocket::new_v4()
        } else {
            TcpSocket::new_v6()
        }?;
        socket.set_reuseaddr(true)?;
        // A given port may be one the lab holds for the pod (bound with SO_REUSEPORT, not
        // listening: `mesh5xx_sidecar::ReservedPort`), which the app then shares.
        if addr.port() != 0 {
            socket.set_reuseport(true)?;
        }
        socket.bind(addr)?;
        socket.listen(1024)
    };
    open().map_err(|source| UpstreamError::Listen { addr, source })
}

/// The accept loop and everything it owns.
struct Server {
    addr: SocketAddr,
    policy: Arc<Policy>,
    registry: Arc<Registry>,
    started: Instant,
    /// The tasks of the open connections.
    conns: JoinSet<()>,
}

impl Server {
    async fn run(mut self, listener: TcpListener, mut stop: oneshot::Receiver<()>) {
        let mut listener = Some(listener);
        let policy = self.policy.clone();
        let mut pending = policy.down.clone();
        let started = self.started;
        let far = started + Duration::from_secs(86_400 * 365);
        // Outages count from the start, or from the first request once it arrives.
        let first_request = policy.first_request.as_ref();
        let mut first_at: Option<Instant> = None;
        let mut due = next_down(&pending, started, first_at);
        let mut next = pin!(tokio::time::sleep_until(due.map_or(far, |(_, at)| at)));
        while let Some(active) = listener.as_ref() {
            tokio::select! {
                _ = &mut stop => break,
                at = async { first_request.expect("checked").wait().await },
                    if first_request.is_some() && first_at.is_none() =>
                {
                    first_at = Some(at);
                    let ms = at.duration_since(started).as_millis() as u64;
                    self.registry.record_first_request(ms);
                    eprintln!("mesh5xx upstream: first request at {ms} ms; the down windows count from it");
                    due = next_down(&pending, started, first_at);
                    next.as_mut().reset(due.map_or(far, |(_, at)| at));
                }
                accepted = active.accept() => match accepted {
                    Ok((stream, _)) => self.spawn(stream),
                    Err(e) => {
                        // Out of file descriptors and the like: back off instead of spinning.
                        eprintln!("mesh5xx upstream: accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                },
                _ = &mut next, if due.is_some() => {
                    let (i, _) = due.expect("checked");
                    let window = pending.remove(i);
                    drop(listener.take());
                    listener = self.down(window, &mut stop).await;
                    due = next_down(&pending, started, first_at);
                    next.as_mut().reset(due.map_or(far, |(_, at)| at));
                }
            }
        }
        drop(listener);
        if let Some(graceful) = &policy.graceful {
            self.drain(graceful).await;
        }
        self.close_all(CloseReason::Shutdown).await;
    }

    /// The graceful stop (the listener is already closed): tell every connection, and wait
    /// for them to close, up to the stop's timeout.
    async fn drain(&mut self, graceful: &GracefulStop) {
        while self.conns.try_join_next().is_some() {}
        let open = self.conns.len();
        let began = Instant::now();
        graceful.begin();
        eprintln!(
            "mesh5xx upstream: graceful shutdown: stopped listening on {}; waiting up to {} ms for {open} open connections",
            self.addr,
            graceful.timeout.as_millis()
        );
        let all_closed = async { while self.conns.join_next().await.is_some() {} };
        let closed = tokio::time::timeout(graceful.timeout, all_closed)
            .await
            .is_ok();
        let after_ms = began.elapsed().as_millis();
        if closed {
            eprintln!(
                "mesh5xx upstream: graceful shutdown: every connection closed after {after_ms} ms"
            );
        } else {
            eprintln!(
                "mesh5xx upstream: graceful shutdown: timeout after {after_ms} ms; closing the {} connections still open",
                self.conns.len()
            );
        }
    }

    fn spawn(&mut self, stream: tokio::net::TcpStream) {
        while self.conns.try_join_next().is_some() {}
        let open = self.registry.open();
        self.conns
            .spawn(connection::serve(stream, self.policy.clone(), open));
    }

    /// Close every open connection for `reason`; returns how many were open.
    async fn close_all(&mut self, reason: CloseReason) -> usize {
        let open = self.registry.mark_open(reason);
        self.conns.abort_all();
        while self.conns.join_next().await.is_some() {}
        open
    }

    /// Be down for `window` (the listener is already closed); `None` if told to stop meanwhile.
    async fn down(
        &mut self,
        window: ScheduledDown,
        stop: &mut oneshot::Receiver<()>,
    ) -> Option<TcpListener> {
        let went_down = Instant::now();
        let at_ms = went_down.duration_since(self.started).as_millis() as u64;
        let closed = self.close_all(CloseReason::Down).await;
        eprintln!(
            "mesh5xx upstream: down at {at_ms} ms for {} ms: stopped listening on {}, closed {closed} open connections",
            window.duration.as_millis(),
            self.addr
        );
        let up_at = went_down + window.duration;
        let listener = tokio::select! {
            _ = &mut *stop => None,
            listener = self.relisten(up_at) => Some(listener),
        };
        let for_ms = went_down.elapsed().as_millis() as u64;
        self.registry.record_down(DownRecord { at_ms, for_ms });
        if listener.is_some() {
            eprintln!(
                "mesh5xx upstream: up again on {} after {for_ms} ms",
                self.addr
            );
        }
        listener
    }

    /// Listen on the same address again at `at`, retrying while the port is busy.
    async fn relisten(&self, at: Instant) -> TcpListener {
        tokio::time::sleep_until(at).await;
        let mut warned = false;
        loop {
            match listen(self.addr) {
                Ok(listener) => return listener,
                Err(e) if !warned => {
                    eprintln!("mesh5xx upstream: {e}; retrying");
                    warned = true;
                }
                Err(_) => {}
            }
            tokio::time::sleep(REBIND_RETRY).await;
        }
    }
}

/// The next outage due among `pending`, and when: the earliest whose origin is known (the
/// start, or the first request once it arrived).
fn next_down(
    pending: &[ScheduledDown],
    started: Instant,
    first_request: Option<Instant>,
) -> Option<(usize, Instant)> {
    pending
        .iter()
        .enumerate()
        .filter_map(|(i, w)| {
            let origin = if w.from_first_request {
                first_request?
            } else {
                started
            };
            Some((i, origin + w.at))
        })
        .min_by_key(|&(_, at)| at)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(at_ms: u64, from_first_request: bool) -> ScheduledDown {
        ScheduledDown {
            at: Duration::from_millis(at_ms),
            duration: Duration::from_millis(10),
            from_first_request,
        }
    }

    #[test]
    fn the_next_outage_is_the_earliest_with_a_known_origin() {
        let started = Instant::now();
        let pending = [window(500, true), window(300, false), window(100, true)];
        assert_eq!(
            next_down(&pending, started, None),
            Some((1, started + Duration::from_millis(300)))
        );
        let first = started + Duration::from_millis(50);
        assert_eq!(
            next_down(&pending, started, Some(first)),
            Some((2, first + Duration::from_millis(100)))
        );
        assert_eq!(next_down(&pending[..1], started, None), None);
    }
}
