//! `server-first`: the app speaks a server-first line protocol instead of HTTP. On accept it
//! writes its banner line (an SMTP server's `220 … ESMTP`, MySQL's greeting), then answers
//! every line the client sends with `250 ` and the line, until the client closes.
//!
//! Behind a sidecar whose listener sniffs the port (a Service port whose name names no
//! protocol), the client waits for the banner while the sidecar's HTTP inspector waits for
//! the client's first bytes: the connection reaches the app only when the inspector gives
//! up (MeshConfig `protocolDetectionTimeout`; at 0s, never).

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::{Fault, Invalid, Param};
use crate::hook::{Build, Hook, Uses};

/// Parameters of `server-first`: `{banner: "220 srv-a ESMTP"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerFirst {
    /// The line the app writes as soon as it accepts a connection (without its CRLF).
    #[serde(default = "smtp_banner")]
    pub banner: String,
}

fn smtp_banner() -> String {
    "220 srv-a ESMTP mesh5xx".into()
}

impl Fault for ServerFirst {
    const SUMMARY: &'static str = "speak a server-first line protocol instead of HTTP: write a banner line on accept (SMTP's 220, MySQL's greeting), then answer each line `250 LINE`";
    const PARAMS: &'static [Param] = &[Param {
        name: "banner",
        kind: "text",
        default: Some("220 srv-a ESMTP mesh5xx"),
        doc: "the line written on accept, before the client says anything",
    }];

    fn example() -> Self {
        Self {
            banner: smtp_banner(),
        }
    }

    fn validate(&self) -> Result<(), Invalid> {
        if self.banner.is_empty() || self.banner.contains(['\r', '\n']) {
            return Err(Invalid::new(
                "banner",
                format!("{:?} is not one non-empty line", self.banner),
            ));
        }
        Ok(())
    }

    fn hook(&self, _build: &mut Build) -> Arc<dyn Hook> {
        Arc::new(ServerFirstHook {
            banner: format!("{}\r\n", self.banner).into(),
        })
    }
}

/// Hands the core the banner of its line protocol.
#[derive(Debug)]
struct ServerFirstHook {
    banner: Arc<str>,
}

impl Hook for ServerFirstHook {
    fn uses(&self) -> Uses {
        Uses::START_ONLY
    }

    fn server_first(&self) -> Option<Arc<str>> {
        Some(self.banner.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hook_states_the_banner_with_its_line_end() {
        let h = ServerFirst::example().hook(&mut Build::new());
        assert_eq!(h.server_first().as_deref(), Some("220 srv-a ESMTP mesh5xx\r\n"));
        assert_eq!(h.preface_answer(), None);
    }

    #[test]
    fn the_banner_is_one_line() {
        let banner = |b: &str| ServerFirst { banner: b.into() }.validate();
        assert!(banner("* OK IMAP4 ready").is_ok());
        assert!(banner("").is_err());
        assert!(banner("220 a\r\n250 b").is_err());
    }
}
