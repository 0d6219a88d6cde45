//! `http1-only`: the app speaks HTTP/1.1 only and answers an HTTP/2 connection preface
//! (`PRI * HTTP/2.0`) with an HTTP/1.1 error response, then closes.
//!
//! An HTTP/1.1 server that receives HTTP/2 with prior knowledge (a sidecar whose cluster to
//! it has `http2_protocol_options`: a Service port named `http2` or `grpc`, or a
//! DestinationRule's `h2UpgradePolicy: UPGRADE` on a sniffed port) reads the preface as a
//! request with method `PRI` and version `HTTP/2.0`, and most answer it: Python's
//! `http.server` sends `HTTP/1.0 400 Bad request version`, others a `400` or `505`. The
//! sidecar's HTTP/2 codec cannot read that answer and resets the stream: `502 UPE`
//! `upstream_reset_before_response_started{protocol_error}`. Without this fault the app
//! (hyper) recognises the preface and closes without a word: `503 UC`
//! `{connection_termination}`.

use std::sync::Arc;

use http::StatusCode;
use serde::{Deserialize, Serialize};

use super::{Fault, Invalid, Param};
use crate::hook::{Build, Hook, Uses};

/// Parameters of `http1-only`: `{status: 400}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Http1Only {
    /// The status of the answer to an HTTP/2 preface.
    #[serde(default = "bad_request")]
    pub status: u16,
}

fn bad_request() -> u16 {
    400
}

impl Fault for Http1Only {
    const SUMMARY: &'static str = "answer an HTTP/2 connection preface (PRI * HTTP/2.0) with an HTTP/1.1 status response and close, as most HTTP/1.1-only servers do (without it the app closes without a word)";
    const PARAMS: &'static [Param] = &[Param {
        name: "status",
        kind: "HTTP status code",
        default: Some("400"),
        doc: "the answer to the preface (400 Bad Request; some servers answer 505)",
    }];

    fn example() -> Self {
        Self {
            status: bad_request(),
        }
    }

    fn validate(&self) -> Result<(), Invalid> {
        match StatusCode::from_u16(self.status) {
            Ok(s) if s.is_client_error() || s.is_server_error() => Ok(()),
            _ => Err(Invalid::new(
                "status",
                format!("{} is not a 4xx or 5xx status code", self.status),
            )),
        }
    }

    fn hook(&self, _build: &mut Build) -> Arc<dyn Hook> {
        Arc::new(Http1OnlyHook {
            status: StatusCode::from_u16(self.status).expect("validated"),
        })
    }
}

/// Hands the core its answer to an HTTP/2 preface.
#[derive(Debug)]
struct Http1OnlyHook {
    status: StatusCode,
}

impl Hook for Http1OnlyHook {
    fn uses(&self) -> Uses {
        Uses::START_ONLY
    }

    fn preface_answer(&self) -> Option<StatusCode> {
        Some(self.status)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hook_states_the_answer_and_nothing_else() {
        let h = Http1Only::example().hook(&mut Build::new());
        assert_eq!(h.preface_answer(), Some(StatusCode::BAD_REQUEST));
        assert_eq!(h.close_lag(), None);
        assert_eq!(h.uses(), Uses::START_ONLY);
    }

    #[test]
    fn only_error_statuses_are_accepted() {
        assert!(Http1Only { status: 505 }.validate().is_ok());
        assert!(Http1Only { status: 200 }.validate().is_err());
        assert!(Http1Only { status: 1000 }.validate().is_err());
    }
}
