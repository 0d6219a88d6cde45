//! `firewall-expiry`: the egress firewall lets traffic to an external address through only
//! while its allow entry is live; a DNS answer for the host adds (or refreshes) the entry,
//! which expires `after_ms` later.
//!
//! Models the DNS-driven egress allow lists of production networks: a DNS proxy adds every
//! answered address to an ipset with a `timeout` (3600 s is common), and the firewall admits
//! NEW connections only to addresses in the set. An app that resolved the name long ago and
//! keeps opening connections to that address meets an expired entry — its connects are
//! refused (or time out, or are reset), the sidecar answers `503 UF` — until some client's
//! lookup adds the entry again. Established connections keep flowing (conntrack).

use serde::{Deserialize, Serialize};

use super::NetworkFault;
use crate::config::{ConfigError, EgressConfig, FirewallBackend, OnExpired};

/// Parameters of `firewall-expiry`: `{after_ms: 3000, on_expired: refuse, backend: userspace}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FirewallExpiry {
    /// Lifetime of an allow entry (the ipset `timeout`); every answer restarts it.
    pub after_ms: u64,
    /// What a NEW connection to an address without a live entry gets: `refuse` (default),
    /// `reset` (userspace only) or `drop` (nftables only).
    #[serde(default)]
    pub on_expired: OnExpired,
    /// Where the firewall runs: `userspace` (default: forwarders in the egress process) or
    /// `nftables` (a kernel set with per-element timeouts; the run needs root and `nft`).
    #[serde(default)]
    pub backend: FirewallBackend,
}

impl NetworkFault for FirewallExpiry {
    const NAME: &'static str = "firewall-expiry";
    const SUMMARY: &'static str = "an allow entry per answered address, expiring after_ms after the last DNS answer; NEW connections to an expired address are refused, reset or dropped (a DNS-driven ipset with a timeout)";

    fn validate(&self) -> Result<(), ConfigError> {
        if self.after_ms == 0 {
            return Err(ConfigError {
                field: "after_ms".into(),
                message: "0 is not a positive number".into(),
            });
        }
        let needs = match (self.backend, self.on_expired) {
            (FirewallBackend::Userspace, OnExpired::Drop) => Some("nftables"),
            (FirewallBackend::Nftables, OnExpired::Reset) => Some("userspace"),
            _ => None,
        };
        match needs {
            Some(backend) => Err(ConfigError {
                field: "on_expired".into(),
                message: format!(
                    "{:?} needs backend: {backend} (this fault has {:?})",
                    self.on_expired, self.backend
                ),
            }),
            None => Ok(()),
        }
    }

    fn apply(&self, host: &str, _upstream: &str, config: &mut EgressConfig) {
        config.firewall = true;
        config.allow = vec![host.to_string()];
        config.allow_timeout_ms = self.after_ms;
        config.on_expired = self.on_expired;
        config.backend = self.backend;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn it_allow_lists_the_host_with_the_timeout() {
        let fault = FirewallExpiry {
            after_ms: 3000,
            on_expired: OnExpired::Refuse,
            backend: FirewallBackend::Nftables,
        };
        let mut config = EgressConfig {
            firewall: false,
            ..EgressConfig::default()
        };
        fault.apply("external.service.com", "127.0.0.1:1", &mut config);
        assert!(config.firewall);
        assert_eq!(config.allow, ["external.service.com"]);
        assert_eq!(config.allow_timeout_ms, 3000);
        assert_eq!(config.backend, FirewallBackend::Nftables);
    }

    #[test]
    fn answers_a_backend_cannot_give_are_refused() {
        let drop = FirewallExpiry {
            after_ms: 1,
            on_expired: OnExpired::Drop,
            backend: FirewallBackend::Userspace,
        };
        let e = drop.validate().unwrap_err();
        assert_eq!(e.field, "on_expired");
        assert!(e.message.contains("needs backend: nftables"), "{e}");
        let defaults: FirewallExpiry = serde_json::from_str(r#"{"after_ms": 5}"#).unwrap();
        assert_eq!(
            (defaults.on_expired, defaults.backend),
            (OnExpired::Refuse, FirewallBackend::Userspace)
        );
        defaults.validate().unwrap();
    }
}
