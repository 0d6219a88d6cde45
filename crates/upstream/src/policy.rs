//! What the server does, ready for the hot path: the faults' hooks sorted by the calls they
//! need, the status slots, the response body, the close lag and the listener's outages.

use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{watch, Notify};
use tokio::time::Instant;

use crate::config::UpstreamConfig;
use crate::hook::{Build, Hook, ScheduledDown};

/// A server's behaviour, built once at start from its [`UpstreamConfig`].
#[derive(Debug)]
pub(crate) struct Policy {
    /// When the server started.
    pub(crate) started: Instant,
    /// Hooks called for every request, in registry order.
    pub(crate) requests: Vec<Arc<dyn Hook>>,
    /// Hooks watching every connection's timer, in registry order.
    pub(crate) connections: Vec<Arc<dyn Hook>>,
    /// The lag of the app's own closes.
    pub(crate) close_lag: Option<Duration>,
    /// How long the app keeps serving after SIGTERM.
    pub(crate) shutdown_delay: Duration,
    /// How the server stops: gracefully, or (`None`) closing every connection at once.
    pub(crate) graceful: Option<GracefulStop>,
    /// The listener's outages, by origin then time.
    pub(crate) down: Vec<ScheduledDown>,
    /// When the first request arrived, for outages that count from it.
    pub(crate) first_request: Option<FirstRequest>,
    /// The answer to a connection that opens with the HTTP/2 preface (`None`: hyper's close).
    pub(crate) preface_answer: Option<http::StatusCode>,
    /// The banner of the line protocol the app speaks instead of HTTP (`server-first`).
    pub(crate) server_first: Option<Arc<str>>,
    /// Status code of each response slot.
    codes: Vec<u16>,
    /// Response body of `--body-bytes`; `None` answers `ok\n`.
    body: Option<Box<[u8]>>,
}

impl Policy {
    /// The behaviour of `config` (already validated), for a server starting now.
    pub(crate) fn new(config: &UpstreamConfig) -> Self {
        let mut build = Build::new();
        let hooks: Vec<Arc<dyn Hook>> = config.faults.iter().map(|f| f.hook(&mut build)).collect();
        let requests = hooks
            .iter()
            .filter(|h| h.uses().requests)
            .cloned()
            .collect();
        let connections = hooks
            .iter()
            .filter(|h| h.uses().connections)
            .cloned()
            .collect();
        let close_lag = hooks.iter().filter_map(|h| h.close_lag()).max();
        let shutdown_delay = hooks
            .iter()
            .filter_map(|h| h.shutdown_delay())
            .max()
            .unwrap_or_default();
        let graceful = hooks
            .iter()
            .filter_map(|h| h.graceful_shutdown())
            .max()
            .map(GracefulStop::new);
        let mut down: Vec<ScheduledDown> = hooks.iter().flat_map(|h| h.down_windows()).collect();
        down.sort_by_key(|w| (w.from_first_request, w.at));
        let first_request = down
            .iter()
            .any(|w| w.from_first_request)
            .then(FirstRequest::default);
        let preface_answer = hooks.iter().find_map(|h| h.preface_answer());
        let server_first = hooks.iter().find_map(|h| h.server_first());
        Self {
            started: Instant::now(),
            preface_answer,
            server_first,
            requests,
            connections,
            close_lag,
            shutdown_delay,
            graceful,
            down,
            first_request,
            codes: build.codes(),
            body: config.body_bytes.map(filler),
        }
    }

    /// The response body, as one connection's own copy so that serving it
    /// touches no reference count shared with other connections.
    pub(crate) fn connection_body(&self) -> Bytes {
        match &self.body {
            None => Bytes::from_static(b"ok\n"),
            Some(body) => Bytes::copy_from_slice(body),
        }
    }

    /// The status code of every slot, in slot order.
    pub(crate) fn status_codes(&self) -> Vec<u16> {
        self.codes.clone()
    }
}

/// The moment the first request arrived, and a wake-up for the task waiting for it.
#[derive(Debug, Default)]
pub(crate) struct FirstRequest {
    at: OnceLock<Instant>,
    arrived: Notify,
}

impl FirstRequest {
    /// Note a request: the first one sets the time and wakes the waiting task.
    pub(crate) fn mark(&self) {
        if self.at.get().is_none() && self.at.set(Instant::now()).is_ok() {
            self.arrived.notify_one();
        }
    }

    /// When the first request arrived, if one did.
    pub(crate) fn at(&self) -> Option<Instant> {
        self.at.get().copied()
    }

    /// Wait for the first request; returns its time.
    pub(crate) async fn wait(&self) -> Instant {
        loop {
            let arrived = self.arrived.notified();
            if let Some(at) = self.at() {
                return at;
            }
            arrived.await;
        }
    }
}

/// A graceful stop: its timeout, and the signal to the connections that it began.
#[derive(Debug)]
pub(crate) struct GracefulStop {
    /// The longest wait for the connections to close, from the start of the stop.
    pub(crate) timeout: Duration,
    begun: watch::Sender<bool>,
}

impl GracefulStop {
    fn new(timeout: Duration) -> Self {
        Self {
            timeout,
            begun: watch::Sender::new(false),
        }
    }

    /// Begin the stop: every connection waiting in [`GracefulStop::begun`] wakes.
    pub(crate) fn begin(&self) {
        self.begun.send_replace(true);
    }

    /// Resolves once the stop has begun (at once if it already has).
    pub(crate) fn begun(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut begun = self.begun.subscribe();
        async move {
            if begun.wait_for(|&b| b).await.is_err() {
                // The server is gone without a graceful stop: the connection is aborted.
                std::future::pending::<()>().await;
            }
        }
    }
}

/// `n` bytes of body text: lines of `x` ending in a newline.
fn filler(n: usize) -> Box<[u8]> {
    let mut body = vec![b'x'; n];
    for (i, b) in body.iter_mut().enumerate() {
        if i % 64 == 63 || i + 1 == n {
            *b = b'\n';
        }
    }
    body.into_boxed_slice()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::faults::{
        AppFaults, CloseLag, Down, DownWindow, GracefulShutdown, IdleClose, Status, StatusWindow,
    };

    fn policy(faults: AppFaults) -> Policy {
        Policy::new(&UpstreamConfig::with_faults(faults))
    }

    #[test]
    fn a_plain_server_has_no_hooks() {
        let p = policy(AppFaults::new());
        assert!(p.requests.is_empty() && p.connections.is_empty());
        assert_eq!((p.close_lag, p.first_request.is_some()), (None, false));
        assert!(p.graceful.is_none());
        assert_eq!(p.status_codes(), vec![200]);
    }

    #[test]
    fn hooks_are_sorted_by_the_calls_they_need() {
        let p = policy(
            AppFaults::new()
                .with(IdleClose { after_ms: 20 })
                .with(CloseLag { ms: 10 })
                .with(Status {
                    codes: [(503, 5.0)].into_iter().collect(),
                })
                .with(StatusWindow {
                    at_ms: 0,
                    for_ms: 10,
                    code: 502,
                }),
        );
        assert_eq!((p.requests.len(), p.connections.len()), (2, 1));
        assert_eq!(p.close_lag, Some(Duration::from_millis(10)));
        assert_eq!(p.status_codes(), vec![200, 502, 503]);
    }

    #[test]
    fn outages_from_the_first_request_need_its_time() {
        let down = |after_first_request| Down {
            windows: vec![DownWindow {
                at_ms: 10,
                for_ms: 10,
            }],
            after_first_request,
        };
        assert!(policy(AppFaults::new().with(down(false)))
            .first_request
            .is_none());
        let p = policy(AppFaults::new().with(down(true)));
        assert!(p.first_request.is_some());
        assert_eq!(p.down.len(), 1);
    }

    #[tokio::test]
    async fn a_graceful_stop_wakes_connections_waiting_before_and_after_it_begins() {
        let p = policy(AppFaults::new().with(GracefulShutdown { timeout_ms: 700 }));
        let graceful = p.graceful.as_ref().unwrap();
        assert_eq!(graceful.timeout, Duration::from_millis(700));
        let early = tokio::spawn(graceful.begun());
        tokio::task::yield_now().await;
        assert!(!early.is_finished());
        graceful.begin();
        let wait = Duration::from_secs(5);
        tokio::time::timeout(wait, early).await.unwrap().unwrap();
        tokio::time::timeout(wait, graceful.begun()).await.unwrap();
    }

    #[test]
    fn body_has_requested_size() {
        let p = Policy::new(&UpstreamConfig {
            body_bytes: Some(1000),
            ..UpstreamConfig::default()
        });
        let body = p.connection_body();
        assert_eq!(body.len(), 1000);
        assert_eq!(body.last(), Some(&b'\n'));
        assert_eq!(&policy(AppFaults::new()).connection_body()[..], b"ok\n");
    }
}
