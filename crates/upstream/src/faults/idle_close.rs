//! `idle-close`: the app closes a keep-alive connection that has been idle for a while,
//! without notice.
//!
//! This is the keep-alive idle timeout of real app servers: Node.js `server.keepAliveTimeout`
//! (5 s by default), Tomcat's `keepAliveTimeout`, Go's `http.Server.IdleTimeout`, gunicorn's
//! `--keep-alive`. When the timer fires the server simply closes the socket: no
//! `Connection: close` was sent, so the client (the sidecar's connection pool) learns of it
//! only when the FIN arrives, and a request it writes on the connection in the meantime meets
//! the close — Envoy's `503 UC`. A request in flight is never cut: the connection is idle only
//! once its response is out. With [`close-lag`](super::close_lag) the close goes through the
//! app's slow close path.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use super::{positive, Fault, Invalid, Param};
use crate::hook::{Build, ConnState, Expiry, Hook, Uses};
use crate::report::CloseReason;

/// Parameters of `idle-close`: `{after_ms: 20}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IdleClose {
    /// How long a connection may stay idle (no request in flight) before the app closes it;
    /// 5000 (Node.js's default) when not given.
    pub after_ms: u64,
}

impl Default for IdleClose {
    fn default() -> Self {
        Self { after_ms: 5000 }
    }
}

impl Fault for IdleClose {
    const SUMMARY: &'static str = "close a keep-alive connection idle for after_ms, without notice (Node.js keepAliveTimeout, Tomcat keepAliveTimeout, Go IdleTimeout)";
    const PARAMS: &'static [Param] = &[Param {
        name: "after_ms",
        kind: "milliseconds",
        default: Some("5000"),
        doc: "how long a connection may stay idle before the app closes it",
    }];

    fn example() -> Self {
        Self { after_ms: 20 }
    }

    fn validate(&self) -> Result<(), Invalid> {
        positive("after_ms", self.after_ms)
    }

    fn hook(&self, _build: &mut Build) -> Arc<dyn Hook> {
        Arc::new(IdleHook {
            after: Duration::from_millis(self.after_ms),
        })
    }
}

/// Closes a connection once it has been idle for `after`.
#[derive(Debug)]
struct IdleHook {
    after: Duration,
}

impl Hook for IdleHook {
    fn uses(&self) -> Uses {
        Uses::CONNECTIONS
    }

    fn deadline(&self, conn: &ConnState) -> Option<Instant> {
        (!conn.in_flight()).then(|| conn.idle_since() + self.after)
    }

    fn expire(&self, conn: &ConnState, now: Instant) -> Expiry {
        match self.deadline(conn) {
            Some(at) if now >= at => Expiry::CloseNow(CloseReason::IdleTimeout),
            _ => Expiry::Keep,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hook(after_ms: u64) -> Arc<dyn Hook> {
        IdleClose { after_ms }.hook(&mut Build::new())
    }

    #[test]
    fn closes_once_idle_for_after_ms_not_before() {
        let h = hook(20);
        let conn = ConnState::new();
        let at = conn.opened() + Duration::from_millis(20);
        assert_eq!(h.deadline(&conn), Some(at));
        assert_eq!(h.expire(&conn, at - Duration::from_millis(1)), Expiry::Keep);
        assert_eq!(
            h.expire(&conn, at),
            Expiry::CloseNow(CloseReason::IdleTimeout)
        );
    }

    #[test]
    fn a_request_in_flight_is_not_idle() {
        let h = hook(20);
        let conn = ConnState::new();
        conn.begin();
        assert_eq!(h.deadline(&conn), None);
        let late = conn.opened() + Duration::from_secs(10);
        assert_eq!(h.expire(&conn, late), Expiry::Keep);
        conn.end();
        assert_eq!(
            h.deadline(&conn),
            Some(conn.idle_since() + Duration::from_millis(20))
        );
    }

    #[test]
    fn parameters_default_to_node_and_must_be_positive() {
        let default: IdleClose = serde_json::from_str("{}").unwrap();
        assert_eq!(default.after_ms, 5000);
        let err = IdleClose { after_ms: 0 }.validate().unwrap_err();
        assert_eq!(err, Invalid::new("after_ms", "0 is not a positive number"));
        assert!(serde_json::from_str::<IdleClose>(r#"{"after_ms":1,"x":2}"#).is_err());
    }
}
