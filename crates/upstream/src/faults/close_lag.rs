//! `close-lag`: the app's close path is slow — when it closes a connection on its own it
//! stops reading it at once, but the FIN leaves `ms` later.
//!
//! Between the moment a server decides to close an idle connection and the moment its FIN
//! reaches the peer there is always some time: the timer callback waits its turn on a busy
//! event loop (Node.js), a GC pause holds the JVM (Tomcat, Finagle), the worker is busy with
//! another socket. On loopback that window is a few microseconds, so how often the sidecar
//! writes a request into it would be set by the machine's load. This fault states the window
//! instead: a request the sidecar writes on the connection during those `ms` is never read and
//! the close resets it (counted as `reset_unread` in the report; the client sees `503 UC`).
//!
//! It applies to every close the app makes on its own: [`idle-close`](super::idle_close),
//! [`lifetime`](super::lifetime) and an abrupt [`max-requests`](super::max_requests). Closes by
//! the client, on errors, when the app goes down or stops are immediate.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{positive, Fault, Invalid, Param};
use crate::hook::{Build, Hook, Uses};

/// Parameters of `close-lag`: `{ms: 10}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CloseLag {
    /// Time from the app's decision to close (it stops reading) to the FIN.
    pub ms: u64,
}

impl Fault for CloseLag {
    const SUMMARY: &'static str = "the app's own closes (idle, lifetime, abrupt max-requests) stop reading at once and send the FIN ms later; a request arriving in between is reset unanswered (event-loop lag, GC pause)";
    const PARAMS: &'static [Param] = &[Param {
        name: "ms",
        kind: "milliseconds",
        default: None,
        doc: "time from the decision to close (reading stops) to the FIN",
    }];

    fn example() -> Self {
        Self { ms: 10 }
    }

    fn validate(&self) -> Result<(), Invalid> {
        positive("ms", self.ms)
    }

    fn hook(&self, _build: &mut Build) -> Arc<dyn Hook> {
        Arc::new(CloseLagHook {
            lag: Duration::from_millis(self.ms),
        })
    }
}

/// Hands the core the lag of its close path.
#[derive(Debug)]
struct CloseLagHook {
    lag: Duration,
}

impl Hook for CloseLagHook {
    fn uses(&self) -> Uses {
        Uses::START_ONLY
    }

    fn close_lag(&self) -> Option<Duration> {
        Some(self.lag)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hook_states_the_lag_and_nothing_else() {
        let h = CloseLag { ms: 10 }.hook(&mut Build::new());
        assert_eq!(h.close_lag(), Some(Duration::from_millis(10)));
        assert_eq!(h.uses(), Uses::START_ONLY);
        assert!(h.down_windows().is_empty());
    }

    #[test]
    fn ms_is_required_and_positive() {
        assert!(serde_json::from_str::<CloseLag>("{}").is_err());
        assert_eq!(
            CloseLag { ms: 0 }.validate().unwrap_err(),
            Invalid::new("ms", "0 is not a positive number")
        );
    }
}
