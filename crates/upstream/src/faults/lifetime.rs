//! `lifetime`: the app closes every connection a fixed time after it opened.
//!
//! Models Finagle's `maxLifeTime`, gRPC's `MAX_CONNECTION_AGE` and the connection-age limits
//! of servers behind load balancers: a connection reaching its age is closed without notice
//! when idle, or right after the response in flight, however busy it is. Unlike an idle
//! timeout this also recycles connections the client keeps busy, so a pool that always reuses
//! its connections still meets the close. With [`close-lag`](super::close_lag) the close goes
//! through the app's slow close path.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use super::{positive, Fault, Invalid, Param};
use crate::hook::{Build, ConnState, Expiry, Hook, Uses};
use crate::report::CloseReason;

/// Parameters of `lifetime`: `{after_ms: 200}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lifetime {
    /// A connection's age at which the app closes it.
    pub after_ms: u64,
}

impl Fault for Lifetime {
    const SUMMARY: &'static str = "close a connection after_ms after it opened: at once when idle, else right after the response in flight, without notice (Finagle maxLifeTime, gRPC MAX_CONNECTION_AGE)";
    const PARAMS: &'static [Param] = &[Param {
        name: "after_ms",
        kind: "milliseconds",
        default: None,
        doc: "a connection's age at which the app closes it",
    }];

    fn example() -> Self {
        Self { after_ms: 200 }
    }

    fn validate(&self) -> Result<(), Invalid> {
        positive("after_ms", self.after_ms)
    }

    fn hook(&self, _build: &mut Build) -> Arc<dyn Hook> {
        Arc::new(LifetimeHook {
            after: Duration::from_millis(self.after_ms),
        })
    }
}

/// Closes a connection at `opened + after`, or after the response then in flight.
#[derive(Debug)]
struct LifetimeHook {
    after: Duration,
}

impl Hook for LifetimeHook {
    fn uses(&self) -> Uses {
        Uses::CONNECTIONS
    }

    fn deadline(&self, conn: &ConnState) -> Option<Instant> {
        // Once the connection is set to close after its response there is nothing to wait for.
        (!conn.closing()).then(|| conn.opened() + self.after)
    }

    fn expire(&self, conn: &ConnState, now: Instant) -> Expiry {
        match self.deadline(conn) {
            Some(at) if now >= at && conn.in_flight() => {
                Expiry::CloseAfterResponse(CloseReason::Lifetime)
            }
            Some(at) if now >= at => Expiry::CloseNow(CloseReason::Lifetime),
            _ => Expiry::Keep,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hook() -> Arc<dyn Hook> {
        Lifetime { after_ms: 200 }.hook(&mut Build::new())
    }

    #[test]
    fn an_idle_connection_closes_at_its_age() {
        let (h, conn) = (hook(), ConnState::new());
        let at = conn.opened() + Duration::from_millis(200);
        assert_eq!(h.deadline(&conn), Some(at));
        assert_eq!(h.expire(&conn, at - Duration::from_millis(1)), Expiry::Keep);
        assert_eq!(h.expire(&conn, at), Expiry::CloseNow(CloseReason::Lifetime));
    }

    #[test]
    fn a_busy_connection_closes_after_its_response_and_is_then_left_alone() {
        let (h, conn) = (hook(), ConnState::new());
        let at = conn.opened() + Duration::from_millis(200);
        conn.begin();
        assert_eq!(h.deadline(&conn), Some(at), "busy or not, the age counts");
        assert_eq!(
            h.expire(&conn, at),
            Expiry::CloseAfterResponse(CloseReason::Lifetime)
        );
        conn.close_after_response();
        assert_eq!(h.deadline(&conn), None);
        assert_eq!(h.expire(&conn, at), Expiry::Keep);
    }

    #[test]
    fn after_ms_is_required_and_positive() {
        assert!(serde_json::from_str::<Lifetime>("{}").is_err());
        assert!(Lifetime { after_ms: 0 }.validate().is_err());
    }
}
