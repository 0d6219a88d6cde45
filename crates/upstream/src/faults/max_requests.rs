//! `max-requests`: the app recycles a connection after serving `count` requests on it.
//!
//! Models the request limit of keep-alive connections: Tomcat's `maxKeepAliveRequests`
//! (100 by default), nginx's `keepalive_requests`, Apache's `MaxKeepAliveRequests`. How the
//! server ends the connection decides whether the client can avoid the close:
//!
//! - `graceful`: the `count`-th response carries `Connection: close` and the server closes
//!   once it is out (Tomcat, nginx). A client that honours the header never reuses the
//!   connection.
//! - `abrupt`: the `count`-th response goes out without any header and the server closes
//!   right after it, through the [`close-lag`](super::close_lag) path (servers that enforce the
//!   limit in their connection loop). A request the client sends meanwhile meets the close.
//! - `drop`: the server reads request `count + 1` and closes without replying (servers that
//!   check the limit when the next request arrives): every `count + 1`-th request on a
//!   connection fails.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::{positive, Fault, Invalid, Param};
use crate::hook::{Build, Decision, Hook, RequestInfo, Uses};
use crate::report::CloseReason;

/// Parameters of `max-requests`: `{count: 10, mode: drop}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MaxRequests {
    /// Responses per connection; 100 (Tomcat's default) when not given.
    pub count: u64,
    /// How the connection ends; `graceful` when not given.
    pub mode: CloseMode,
}

impl Default for MaxRequests {
    fn default() -> Self {
        Self {
            count: 100,
            mode: CloseMode::Graceful,
        }
    }
}

/// How a connection ends once it has served `count` responses.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CloseMode {
    /// Send `Connection: close` on the last response, then close (Tomcat `maxKeepAliveRequests`).
    #[default]
    Graceful,
    /// Write the last response without any header, then close the socket.
    Abrupt,
    /// Read the next request and close without replying.
    Drop,
}

impl CloseMode {
    /// The name in scenario files and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            CloseMode::Graceful => "graceful",
            CloseMode::Abrupt => "abrupt",
            CloseMode::Drop => "drop",
        }
    }
}

impl Fault for MaxRequests {
    const SUMMARY: &'static str = "recycle a connection after count responses: Connection: close on the last (graceful), a close right after it (abrupt), or the next request read and dropped unanswered (drop) (Tomcat maxKeepAliveRequests, nginx keepalive_requests)";
    const PARAMS: &'static [Param] = &[
        Param {
            name: "count",
            kind: "requests",
            default: Some("100"),
            doc: "responses per connection",
        },
        Param {
            name: "mode",
            kind: "graceful | abrupt | drop",
            default: Some("graceful"),
            doc: "how the connection ends",
        },
    ];

    fn example() -> Self {
        Self {
            count: 10,
            mode: CloseMode::Drop,
        }
    }

    fn validate(&self) -> Result<(), Invalid> {
        positive("count", self.count)
    }

    fn hook(&self, _build: &mut Build) -> Arc<dyn Hook> {
        Arc::new(*self)
    }
}

impl Hook for MaxRequests {
    fn uses(&self) -> Uses {
        Uses::REQUESTS
    }

    fn on_request(&self, request: &RequestInfo, decision: &mut Decision) {
        let reason = CloseReason::MaxRequests;
        match self.mode {
            CloseMode::Drop if request.n > self.count => decision.drop_request(reason),
            CloseMode::Graceful if request.n >= self.count => decision.close_with_header(reason),
            CloseMode::Abrupt if request.n >= self.count => decision.close_after(reason),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::time::Instant;

    fn decide(mode: CloseMode, n: u64) -> Decision {
        let hook = MaxRequests { count: 3, mode }.hook(&mut Build::new());
        let mut d = Decision::default();
        let started = Instant::now();
        hook.on_request(&RequestInfo {
            n,
            started,
            id: None,
        }, &mut d);
        d
    }

    #[test]
    fn graceful_sends_connection_close_on_the_last_response() {
        assert_eq!(decide(CloseMode::Graceful, 2), Decision::default());
        let last = decide(CloseMode::Graceful, 3);
        assert_eq!(last.closes_with_header(), Some(CloseReason::MaxRequests));
        assert_eq!(last.closes_after(), None);
    }

    #[test]
    fn abrupt_closes_after_the_last_response() {
        assert_eq!(decide(CloseMode::Abrupt, 2), Decision::default());
        let last = decide(CloseMode::Abrupt, 3);
        assert_eq!(last.closes_after(), Some(CloseReason::MaxRequests));
        assert_eq!(last.closes_with_header(), None);
    }

    #[test]
    fn drop_answers_count_requests_and_drops_the_next() {
        assert_eq!(decide(CloseMode::Drop, 3), Decision::default());
        assert_eq!(
            decide(CloseMode::Drop, 4).dropped(),
            Some(CloseReason::MaxRequests)
        );
    }

    #[test]
    fn parameters_default_to_tomcat_and_count_must_be_positive() {
        let d: MaxRequests = serde_json::from_str("{}").unwrap();
        assert_eq!(d, MaxRequests::default());
        let drop: MaxRequests = serde_json::from_str(r#"{"count":10,"mode":"drop"}"#).unwrap();
        assert_eq!(drop, MaxRequests::example());
        assert!(serde_json::from_str::<MaxRequests>(r#"{"mode":"rude"}"#).is_err());
        assert_eq!(
            MaxRequests {
                count: 0,
                mode: CloseMode::Abrupt
            }
            .validate()
            .unwrap_err(),
            Invalid::new("count", "0 is not a positive number")
        );
    }
}
