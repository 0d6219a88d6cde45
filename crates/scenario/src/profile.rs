//! Istio version profiles: the defaults istiod gave a sidecar in each era.
//!
//! Sources: Istio's `pilot/pkg/networking/core/route/retry/retry.go` (default
//! retry policy, 503 excluded from 1.24), `getDefaultCircuitBreakerThresholds`
//! (all thresholds `MaxUint32`), the cluster builder (STRICT_DNS: `V4_ONLY`,
//! mesh `dnsRefreshRate`, `respect_dns_ttl`), and the PassthroughCluster's
//! 15 s route timeout kept until about Istio 1.5.

use std::time::Duration;

/// Which Istio TEXT access-log format a sidecar writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LogFormat {
    /// Before Istio 1.9, as in the seed's lines (`%UPSTREAM_CLUSTER%`, no details fields).
    Legacy,
    /// Istio 1.9 and later (`%RESPONSE_CODE_DETAILS%`, `%UPSTREAM_CLUSTER_RAW%`, ...).
    Current,
}

/// The version-dependent defaults of one Istio release line.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Profile {
    /// Profile name, e.g. `istio-1.4`.
    pub name: &'static str,
    /// One line saying what distinguishes it.
    pub summary: &'static str,
    /// The access-log format its sidecars write.
    pub log_format: LogFormat,
    /// Inbound cluster names carry the service (`inbound|80|http|srv-a.ns.svc.cluster.local`)
    /// before Istio 1.10; later they are `inbound|80||`.
    pub inbound_cluster_names_service: bool,
    /// Route timeout on the PassthroughCluster route (Envoy's 15 s default until about 1.5).
    pub passthrough_route_timeout: Option<Duration>,
    /// Retries in the default outbound retry policy.
    pub default_retry_attempts: u32,
    /// `retry_on` of the default outbound retry policy.
    pub default_retry_on: &'static str,
    /// Whether 503 is in the default retriable status codes (excluded from 1.24).
    pub default_retry_503: bool,
    /// Inbound routes retry `reset-before-request` this many times (1.24+), if any.
    pub inbound_retry_attempts: Option<u32>,
    /// Mesh `dnsRefreshRate` for DNS clusters.
    pub dns_refresh_rate: Duration,
    /// Whether DNS clusters honour the record TTL.
    pub respect_dns_ttl: bool,
    /// Mesh `connectTimeout`.
    pub connect_timeout: Duration,
    /// Upstream idle timeout of the PassthroughCluster.
    pub passthrough_idle_timeout: Duration,
}

const RETRY_ON: &str =
    "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes";

/// All profiles the lab knows, oldest first.
pub fn all() -> Vec<Profile> {
    vec![
        Profile {
            name: "istio-1.4",
            summary: "15 s route timeout on PassthroughCluster; 503 retried by default; legacy log format",
            log_format: LogFormat::Legacy,
            inbound_cluster_names_service: true,
            passthrough_route_timeout: Some(Duration::from_secs(15)),
            default_retry_attempts: 2,
            default_retry_on: RETRY_ON,
            default_retry_503: true,
            inbound_retry_attempts: None,
            dns_refresh_rate: Duration::from_secs(300),
            respect_dns_ttl: false,
            connect_timeout: Duration::from_secs(10),
            passthrough_idle_timeout: Duration::from_secs(300),
        },
        Profile {
            name: "istio-1.13",
            summary: "no route timeouts; 503 retried by default; current log format",
            log_format: LogFormat::Current,
            inbound_cluster_names_service: false,
            passthrough_route_timeout: None,
            default_retry_attempts: 2,
            default_retry_on: RETRY_ON,
            default_retry_503: true,
            inbound_retry_attempts: None,
            dns_refresh_rate: Duration::from_secs(60),
            respect_dns_ttl: true,
            connect_timeout: Duration::from_secs(10),
            passthrough_idle_timeout: Duration::from_secs(300),
        },
        Profile {
            name: "istio-1.24",
            summary: "503 no longer retried by default; inbound routes retry reset-before-request twice",
            log_format: LogFormat::Current,
            inbound_cluster_names_service: false,
            passthrough_route_timeout: None,
            default_retry_attempts: 2,
            default_retry_on: RETRY_ON,
            default_retry_503: false,
            inbound_retry_attempts: Some(2),
            dns_refresh_rate: Duration::from_secs(60),
            respect_dns_ttl: true,
            connect_timeout: Duration::from_secs(10),
            passthrough_idle_timeout: Duration::from_secs(300),
        },
    ]
}

/// The profile called `name`.
pub fn by_name(name: &str) -> Result<Profile, crate::ScenarioError> {
    all()
        .into_iter()
        .find(|p| p.name == name)
        .ok_or_else(|| crate::ScenarioError::UnknownProfile {
            name: name.to_string(),
            known: all().iter().map(|p| p.name).collect::<Vec<_>>().join(", "),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_1_24_excludes_503_and_retries_inbound() {
        for p in all() {
            let is_124 = p.name == "istio-1.24";
            assert_eq!(!p.default_retry_503, is_124, "{}", p.name);
            assert_eq!(p.inbound_retry_attempts.is_some(), is_124, "{}", p.name);
        }
    }

    #[test]
    fn unknown_profile_lists_the_known_ones() {
        let err = by_name("istio-0.1").unwrap_err().to_string();
        assert!(
            err.contains("istio-1.4") && err.contains("istio-1.24"),
            "{err}"
        );
    }
}
