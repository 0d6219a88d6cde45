//! What the server does: the typed configuration and the per-request choices it implies.

use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::Duration;

use bytes::Bytes;
use http::StatusCode;
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::error::UpstreamError;

/// Parts per million: the resolution of status probabilities.
const PPM: u32 = 1_000_000;

/// How a connection ends once it has served `max_requests` responses.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum CloseMode {
    /// Send `Connection: close` on the Nth response, then close (Tomcat `maxKeepAliveRequests`).
    #[default]
    Graceful,
    /// Write the Nth response without any header, then close the socket.
    Abrupt,
    /// Read request N+1 and close without replying.
    Drop,
}

/// Answer `code` to a share of the requests.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StatusShare {
    /// The HTTP status code to answer.
    pub code: u16,
    /// The probability of answering it, in percent (0..=100).
    pub percent: f64,
}

/// One outage: the app stops listening `at` after start (or after the first request, with
/// [`UpstreamConfig::down_after_first_request`]), for `duration`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DownWindow {
    /// Time after start (or after the first request) at which the app goes down.
    pub at: Duration,
    /// How long it stays down before it listens again.
    pub duration: Duration,
}

/// Response delay: `base` plus or minus a uniform `jitter`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Delay {
    /// Mean delay before each response.
    pub base: Duration,
    /// Half-width of the uniform spread around `base`.
    pub jitter: Duration,
}

/// Everything the toy upstream can be told to do. `None` or empty means off.
#[derive(Debug, Clone, PartialEq)]
pub struct UpstreamConfig {
    /// Address to listen on; port 0 picks a free one.
    pub listen: SocketAddr,
    /// Close a keep-alive connection idle for this long, without notice.
    pub idle_timeout: Option<Duration>,
    /// Recycle a connection after this many responses.
    pub max_requests: Option<u64>,
    /// How the recycle after `max_requests` happens.
    pub close_mode: CloseMode,
    /// Close a connection this long after it was opened.
    pub max_lifetime: Option<Duration>,
    /// The app's close path: when it closes a connection on its own (idle timeout, lifetime,
    /// abrupt max requests) it stops reading it at once but the FIN leaves this much later;
    /// a request that arrives in between is never answered and the close resets it.
    pub close_lag: Option<Duration>,
    /// Wait before each response.
    pub delay: Delay,
    /// Injected statuses; requests not picked by any get 200.
    pub statuses: Vec<StatusShare>,
    /// Response body size in bytes; `None` answers `ok\n`.
    pub body_bytes: Option<usize>,
    /// Outages, in time order, not overlapping.
    pub down: Vec<DownWindow>,
    /// Count the `down` windows from the first request received instead of from the start:
    /// in a cluster the app starts long before the load reaches it.
    pub down_after_first_request: bool,
}

impl Default for UpstreamConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            idle_timeout: None,
            max_requests: None,
            close_mode: CloseMode::Graceful,
            max_lifetime: None,
            close_lag: None,
            delay: Delay::default(),
            statuses: Vec::new(),
            body_bytes: None,
            down: Vec::new(),
            down_after_first_request: false,
        }
    }
}

impl UpstreamConfig {
    /// Check the parts that only make sense together: status shares summing to at most
    /// 100 %, valid codes, and down windows that do not overlap. Sorts the down windows.
    pub fn validate(mut self) -> Result<Self, UpstreamError> {
        let mut total = 0.0;
        for s in &self.statuses {
            if !(100..=999).contains(&s.code) {
                return Err(UpstreamError::BadStatus(s.code));
            }
            if !(0.0..=100.0).contains(&s.percent) {
                return Err(UpstreamError::BadPercent(s.code, s.percent));
            }
            total += s.percent;
        }
        if total > 100.0 + 1e-9 {
            return Err(UpstreamError::StatusSharesOver100(total));
        }
        if self.max_requests == Some(0) {
            self.max_requests = None;
        }
        self.down.sort_by_key(|w| w.at);
        for pair in self.down.windows(2) {
            if pair[0].at + pair[0].duration > pair[1].at {
                return Err(UpstreamError::OverlappingDown(pair[0], pair[1]));
            }
        }
        Ok(self)
    }
}

/// The per-request decisions, precomputed from an [`UpstreamConfig`] for the hot path.
#[derive(Debug)]
pub(crate) struct Policy {
    /// Cumulative thresholds in parts per million, one per injected status.
    thresholds: Vec<u32>,
    /// Status of each slot: 200, then the injected statuses in order.
    codes: Vec<StatusCode>,
    /// `(base, jitter)` in milliseconds, or `None` for no delay.
    delay_ms: Option<(u64, u64)>,
    /// Response body of `--body-bytes`; `None` answers `ok\n`.
    body: Option<Box<[u8]>>,
    pub(crate) max_requests: Option<u64>,
    pub(crate) close_mode: CloseMode,
    pub(crate) idle_timeout: Option<Duration>,
    pub(crate) max_lifetime: Option<Duration>,
    pub(crate) close_lag: Option<Duration>,
    /// When the first request arrived, for a schedule of down windows that counts from it.
    pub(crate) first_request: Option<FirstRequest>,
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

impl Policy {
    /// Precompute the decisions of `config`.
    pub(crate) fn new(config: &UpstreamConfig) -> Self {
        let mut acc = 0.0;
        let thresholds = config
            .statuses
            .iter()
            .map(|s| {
                acc += s.percent;
                ((acc / 100.0) * f64::from(PPM)).round() as u32
            })
            .collect();
        let codes =
            std::iter::once(StatusCode::OK)
                .chain(config.statuses.iter().map(|s| {
                    StatusCode::from_u16(s.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
                }))
                .collect();
        let Delay { base, jitter } = config.delay;
        let delay_ms = (base > Duration::ZERO || jitter > Duration::ZERO)
            .then_some((base.as_millis() as u64, jitter.as_millis() as u64));
        let body = config.body_bytes.map(filler);
        Self {
            thresholds,
            codes,
            delay_ms,
            body,
            max_requests: config.max_requests,
            close_mode: config.close_mode,
            idle_timeout: config.idle_timeout,
            max_lifetime: config.max_lifetime,
            close_lag: config.close_lag,
            first_request: (config.down_after_first_request && !config.down.is_empty())
                .then(FirstRequest::default),
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

    /// The status slot of the next response: 0 is 200, `i + 1` is the i-th injected status.
    pub(crate) fn pick_status(&self) -> usize {
        if self.thresholds.is_empty() {
            return 0;
        }
        let roll = fastrand::u32(0..PPM);
        self.thresholds
            .iter()
            .position(|&t| roll < t)
            .map_or(0, |i| i + 1)
    }

    /// The status code of a slot returned by [`Policy::pick_status`].
    pub(crate) fn status_code(&self, slot: usize) -> StatusCode {
        self.codes[slot]
    }

    /// The status code of every slot, in slot order.
    pub(crate) fn status_codes(&self) -> Vec<u16> {
        self.codes.iter().map(StatusCode::as_u16).collect()
    }

    /// The delay before the next response, if any.
    pub(crate) fn pick_delay(&self) -> Option<Duration> {
        let (base, jitter) = self.delay_ms?;
        let spread = jitter as i64;
        let ms = (base as i64 + fastrand::i64(-spread..=spread)).max(0);
        Some(Duration::from_millis(ms as u64))
    }

    /// Whether connections need a timer (idle timeout or lifetime).
    pub(crate) fn needs_timer(&self) -> bool {
        self.idle_timeout.is_some() || self.max_lifetime.is_some()
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

    fn config_with(statuses: Vec<StatusShare>) -> UpstreamConfig {
        UpstreamConfig {
            statuses,
            ..UpstreamConfig::default()
        }
    }

    #[test]
    fn no_statuses_always_200() {
        let p = Policy::new(&UpstreamConfig::default());
        assert!((0..1000).all(|_| p.pick_status() == 0));
        assert_eq!(p.status_code(0), StatusCode::OK);
    }

    #[test]
    fn full_share_always_picked() {
        let p = Policy::new(&config_with(vec![StatusShare {
            code: 503,
            percent: 100.0,
        }]));
        assert!((0..1000).all(|_| p.status_code(p.pick_status()).as_u16() == 503));
    }

    #[test]
    fn shares_are_roughly_respected() {
        let p = Policy::new(&config_with(vec![
            StatusShare {
                code: 503,
                percent: 10.0,
            },
            StatusShare {
                code: 504,
                percent: 30.0,
            },
        ]));
        let mut counts = [0u32; 3];
        for _ in 0..100_000 {
            counts[p.pick_status()] += 1;
        }
        assert!((8_000..12_000).contains(&counts[1]), "{counts:?}");
        assert!((27_000..33_000).contains(&counts[2]), "{counts:?}");
    }

    #[test]
    fn shares_over_100_are_rejected() {
        let c = config_with(vec![
            StatusShare {
                code: 503,
                percent: 60.0,
            },
            StatusShare {
                code: 504,
                percent: 50.0,
            },
        ]);
        assert!(matches!(
            c.validate(),
            Err(UpstreamError::StatusSharesOver100(_))
        ));
    }

    #[test]
    fn overlapping_down_windows_are_rejected() {
        let w = |at, dur| DownWindow {
            at: Duration::from_millis(at),
            duration: Duration::from_millis(dur),
        };
        let c = UpstreamConfig {
            down: vec![w(4000, 500), w(3000, 2000)],
            ..UpstreamConfig::default()
        };
        assert!(matches!(
            c.validate(),
            Err(UpstreamError::OverlappingDown(..))
        ));
        let ok = UpstreamConfig {
            down: vec![w(5000, 100), w(3000, 2000)],
            ..UpstreamConfig::default()
        };
        assert_eq!(ok.validate().unwrap().down[0], w(3000, 2000));
    }

    #[test]
    fn delay_stays_within_jitter() {
        let p = Policy::new(&UpstreamConfig {
            delay: Delay {
                base: Duration::from_millis(10),
                jitter: Duration::from_millis(3),
            },
            ..UpstreamConfig::default()
        });
        for _ in 0..1000 {
            let d = p.pick_delay().unwrap().as_millis();
            assert!((7..=13).contains(&d), "{d}");
        }
        assert!(Policy::new(&UpstreamConfig::default())
            .pick_delay()
            .is_none());
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
        assert_eq!(
            &Policy::new(&UpstreamConfig::default()).connection_body()[..],
            b"ok\n"
        );
    }
}
