//! `graceful-shutdown`: on SIGTERM the app finishes the requests in flight, then exits.
//!
//! Go's `http.Server.Shutdown` and Spring Boot's `server.shutdown=graceful` stop an app this
//! way; without this fault the app closes every connection at once, cutting the requests in
//! flight (the sidecar answers them `503 UC`). When the stop begins the app:
//!
//! - closes its listening socket: new connections are refused;
//! - closes every idle connection at once: a keep-alive connection between two requests, and
//!   one accepted that has not sent a byte of its first request yet;
//! - lets every request in flight finish and closes its connection right after that response.
//!   A response whose head is written after the stop began carries `Connection: close` (as
//!   Go's server writes it); one whose head was already out closes after it without the
//!   header;
//! - exits when no connection is left, or `timeout_ms` after the stop began (Go's `Shutdown`
//!   context, Spring's `spring.lifecycle.timeout-per-shutdown-phase`), closing what remains:
//!   a request still in flight then gets no response.
//!
//! These closes are the stop's own: they do not wait for the `close-lag`.
//!
//! With `shutdown-delay` too, the two run one after the other: on SIGTERM the app keeps
//! listening and serving for the delay's `ms`, then the stop above begins. A request started
//! during the delay is finished like any other, and the app is gone at most
//! `ms + timeout_ms` after SIGTERM.
//!
//! The report counts the connections closed idle as `shutdown_idle`, those closed after
//! their request's response as `shutdown_after_response`, and those still open at the
//! timeout as `shutdown`.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{positive, Fault, Invalid, Param};
use crate::hook::{Build, Hook, Uses};

/// Parameters of `graceful-shutdown`: `{timeout_ms: 30000}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GracefulShutdown {
    /// The longest the app waits, from the start of the stop, for the requests in flight;
    /// Spring Boot's default `timeout-per-shutdown-phase` (30 s) when not given.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
}

fn default_timeout_ms() -> u64 {
    30_000
}

impl Fault for GracefulShutdown {
    const SUMMARY: &'static str = "on SIGTERM (after any shutdown-delay) stop listening, close idle connections, finish the requests in flight with Connection: close, exit when none is left or at timeout_ms (Go's Server.Shutdown, Spring Boot's server.shutdown=graceful)";
    const PARAMS: &'static [Param] = &[Param {
        name: "timeout_ms",
        kind: "milliseconds",
        default: Some("30000"),
        doc: "the longest wait for the requests in flight; what is still open then is closed",
    }];

    fn example() -> Self {
        Self {
            timeout_ms: default_timeout_ms(),
        }
    }

    fn validate(&self) -> Result<(), Invalid> {
        positive("timeout_ms", self.timeout_ms)
    }

    fn hook(&self, _build: &mut Build) -> Arc<dyn Hook> {
        Arc::new(GracefulShutdownHook {
            timeout: Duration::from_millis(self.timeout_ms),
        })
    }
}

/// Hands the server the timeout of its graceful stop.
#[derive(Debug)]
struct GracefulShutdownHook {
    timeout: Duration,
}

impl Hook for GracefulShutdownHook {
    fn uses(&self) -> Uses {
        Uses::START_ONLY
    }

    fn graceful_shutdown(&self) -> Option<Duration> {
        Some(self.timeout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::faults::{AppFaults, FaultKind};

    #[test]
    fn the_hook_states_the_timeout_and_nothing_else() {
        let h = GracefulShutdown { timeout_ms: 2500 }.hook(&mut Build::new());
        assert_eq!(h.graceful_shutdown(), Some(Duration::from_millis(2500)));
        assert_eq!((h.shutdown_delay(), h.close_lag()), (None, None));
        assert_eq!(h.uses(), Uses::START_ONLY);
    }

    #[test]
    fn the_timeout_defaults_to_30_s() {
        let f: GracefulShutdown = serde_json::from_str("{}").unwrap();
        assert_eq!(f, GracefulShutdown { timeout_ms: 30_000 });
        let f: AppFaults = yaml_serde::from_str("{graceful-shutdown: {timeout_ms: 500}}").unwrap();
        assert_eq!(f, AppFaults::new().with(GracefulShutdown { timeout_ms: 500 }));
    }

    #[test]
    fn errors_name_the_field() {
        let err = AppFaults::new()
            .with(GracefulShutdown { timeout_ms: 0 })
            .validate()
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "graceful-shutdown.timeout_ms: 0 is not a positive number"
        );
        assert_eq!(
            (err.fault, err.field.as_str()),
            ("graceful-shutdown", "timeout_ms")
        );

        let err = FaultKind::GracefulShutdown
            .with_params(serde_json::json!({"timeout_ms": "30s"}))
            .unwrap_err();
        assert_eq!(
            (err.fault, err.field.as_str()),
            ("graceful-shutdown", "timeout_ms")
        );
        assert!(
            err.to_string()
                .starts_with("graceful-shutdown.timeout_ms: invalid type"),
            "{err}"
        );

        let err = FaultKind::GracefulShutdown
            .with_params(serde_json::json!({"timeout": 30000}))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("graceful-shutdown"), "{err}");
        assert!(err.contains("unknown field `timeout`"), "{err}");
        assert!(err.contains("timeout_ms"), "{err}");

        let err = yaml_serde::from_str::<AppFaults>("{graceful-shutdown: {timeout_ms: -1}}")
            .unwrap_err()
            .to_string();
        assert!(err.contains("timeout_ms"), "{err}");
    }
}
