//! `status-window`: for a while the app answers every request with one error status.
//!
//! Models a deploy or a dependency outage seen from the caller: the app is up and accepts
//! connections, but every request that arrives in `[at_ms, at_ms + for_ms)` after the
//! server's start is answered `code` (503 by default) — a new version failing its requests
//! until it is rolled back, a maintenance mode, a database that is away. Unlike
//! [`down`](super::down) nothing happens to connections: the 5xx is the app's own, passed
//! through by the sidecar without a response flag. A request is judged by when it arrives,
//! so a [`delay`](super::delay) does not move it in or out of the window. Inside the window
//! its answer takes precedence over [`status`](super::status) shares.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{positive, Fault, Invalid, Param};
use crate::hook::{Build, Decision, Hook, RequestInfo, StatusSlot, Uses};

/// Parameters of `status-window`: `{at_ms: 2000, for_ms: 1000, code: 503}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusWindow {
    /// When the window opens, after the server's start.
    pub at_ms: u64,
    /// How long it stays open.
    pub for_ms: u64,
    /// The status every request in the window gets; 503 when not given.
    #[serde(default = "service_unavailable")]
    pub code: u16,
}

fn service_unavailable() -> u16 {
    503
}

impl Fault for StatusWindow {
    const SUMMARY: &'static str = "answer code to every request that arrives in [at_ms, at_ms + for_ms) after start (a deploy that returns 503 for a while)";
    const PARAMS: &'static [Param] = &[
        Param {
            name: "at_ms",
            kind: "milliseconds",
            default: None,
            doc: "when the window opens, after the start",
        },
        Param {
            name: "for_ms",
            kind: "milliseconds",
            default: None,
            doc: "how long it stays open",
        },
        Param {
            name: "code",
            kind: "HTTP status code",
            default: Some("503"),
            doc: "the answer to every request in the window",
        },
    ];

    fn example() -> Self {
        Self {
            at_ms: 2000,
            for_ms: 1000,
            code: 503,
        }
    }

    fn validate(&self) -> Result<(), Invalid> {
        positive("for_ms", self.for_ms)?;
        if !(100..=999).contains(&self.code) {
            return Err(Invalid::new(
                "code",
                format!("{} is not an HTTP status code (100..=999)", self.code),
            ));
        }
        Ok(())
    }

    fn hook(&self, build: &mut Build) -> Arc<dyn Hook> {
        Arc::new(StatusWindowHook {
            from: Duration::from_millis(self.at_ms),
            until: Duration::from_millis(self.at_ms.saturating_add(self.for_ms)),
            answer: build.status(self.code),
        })
    }
}

/// Answers `answer` to requests arriving between `from` and `until` after the start.
#[derive(Debug)]
struct StatusWindowHook {
    from: Duration,
    until: Duration,
    answer: StatusSlot,
}

impl StatusWindowHook {
    /// Whether a request arriving `since_start` after the start is in the window.
    fn covers(&self, since_start: Duration) -> bool {
        (self.from..self.until).contains(&since_start)
    }
}

impl Hook for StatusWindowHook {
    fn uses(&self) -> Uses {
        Uses::REQUESTS
    }

    fn on_request(&self, request: &RequestInfo, decision: &mut Decision) {
        if self.covers(request.since_start()) {
            decision.answer(self.answer);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::time::Instant;

    fn hook(at_ms: u64, for_ms: u64) -> StatusWindowHook {
        StatusWindowHook {
            from: Duration::from_millis(at_ms),
            until: Duration::from_millis(at_ms + for_ms),
            answer: Build::new().status(503),
        }
    }

    #[test]
    fn the_window_is_closed_at_its_start_and_open_at_its_end() {
        let h = hook(2000, 1000);
        let ms = Duration::from_millis;
        assert!(!h.covers(ms(1999)));
        assert!(h.covers(ms(2000)));
        assert!(h.covers(ms(2999)));
        assert!(!h.covers(ms(3000)));
    }

    #[test]
    fn requests_in_the_window_get_the_code_and_others_nothing() {
        let mut build = Build::new();
        let window = StatusWindow {
            at_ms: 0,
            for_ms: 60_000,
            code: 502,
        };
        let inside = window.hook(&mut build);
        let later = StatusWindow {
            at_ms: 60_000,
            ..window
        }
        .hook(&mut build);
        let request = RequestInfo {
            n: 1,
            started: Instant::now(),
            id: None,
        };
        let mut d = Decision::default();
        inside.on_request(&request, &mut d);
        assert_eq!(d.status().map(|s| s.code().as_u16()), Some(502));
        let mut d = Decision::default();
        later.on_request(&request, &mut d);
        assert_eq!(d, Decision::default());
        assert_eq!(build.codes(), vec![200, 502]);
    }

    #[test]
    fn code_defaults_to_503_and_bad_values_are_rejected() {
        let w: StatusWindow = serde_json::from_str(r#"{"at_ms":2000,"for_ms":1000}"#).unwrap();
        assert_eq!(w, StatusWindow::example());
        assert!(serde_json::from_str::<StatusWindow>(r#"{"at_ms":1}"#).is_err());
        let zero = StatusWindow { for_ms: 0, ..w };
        assert_eq!(
            zero.validate().unwrap_err(),
            Invalid::new("for_ms", "0 is not a positive number")
        );
        let bad = StatusWindow { code: 42, ..w };
        assert_eq!(bad.validate().unwrap_err().field, "code");
    }
}
