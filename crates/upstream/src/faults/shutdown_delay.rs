//! `shutdown-delay`: on SIGTERM the app keeps listening and answering for `ms`, then stops.
//!
//! Kubernetes sends SIGTERM to a terminating pod's containers at the moment it starts
//! removing the pod's endpoint, and the removal reaches the callers' sidecars only after the
//! endpoints controller, the control plane's watch and its debounced push. An app that exits
//! at once refuses the requests still routed to it meanwhile (`503 UF` at its sidecar); one
//! that keeps serving a while after SIGTERM (a sleep in the SIGTERM handler, Spring Boot's
//! `server.shutdown=graceful` with `spring.lifecycle.timeout-per-shutdown-phase`, Go's
//! `Shutdown` after a delay) answers them. Without this fault the app stops on SIGTERM at once.
//! The stop after the delay closes every connection at once, or with `graceful-shutdown`
//! finishes the requests in flight first (see [`super::GracefulShutdown`]).

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{positive, Fault, Invalid, Param};
use crate::hook::{Build, Hook, Uses};

/// Parameters of `shutdown-delay`: `{ms: 2000}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShutdownDelay {
    /// How long the app keeps serving after SIGTERM.
    pub ms: u64,
}

impl Fault for ShutdownDelay {
    const SUMMARY: &'static str = "on SIGTERM keep listening and answering for ms, then stop (a graceful shutdown that waits for the endpoint's removal to reach the callers)";
    const PARAMS: &'static [Param] = &[Param {
        name: "ms",
        kind: "milliseconds",
        default: None,
        doc: "time from SIGTERM to the stop",
    }];

    fn example() -> Self {
        Self { ms: 2000 }
    }

    fn validate(&self) -> Result<(), Invalid> {
        positive("ms", self.ms)
    }

    fn hook(&self, _build: &mut Build) -> Arc<dyn Hook> {
        Arc::new(ShutdownDelayHook {
            delay: Duration::from_millis(self.ms),
        })
    }
}

/// Hands the server its delay between SIGTERM and the stop.
#[derive(Debug)]
struct ShutdownDelayHook {
    delay: Duration,
}

impl Hook for ShutdownDelayHook {
    fn uses(&self) -> Uses {
        Uses::START_ONLY
    }

    fn shutdown_delay(&self) -> Option<Duration> {
        Some(self.delay)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hook_states_the_delay_and_nothing_else() {
        let h = ShutdownDelay { ms: 2000 }.hook(&mut Build::new());
        assert_eq!(h.shutdown_delay(), Some(Duration::from_millis(2000)));
        assert_eq!(h.close_lag(), None);
        assert_eq!(h.uses(), Uses::START_ONLY);
    }

    #[test]
    fn a_zero_delay_is_refused() {
        assert!(ShutdownDelay { ms: 0 }.validate().is_err());
    }
}
