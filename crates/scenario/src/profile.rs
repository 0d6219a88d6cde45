//! Istio version profiles: the defaults istiod gave a sidecar in one release line.
//!
//! A profile is a point on [`crate::versions::TABLE`]: every setting below is read off the
//! rows for its version, each row citing the istio/istio file and tag it follows.

use std::time::Duration;

use crate::versions::{Behaviour, IstioVersion};

/// Which Istio TEXT access-log format a sidecar writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LogFormat {
    /// Istio 1.2 (`EnvoyTextLogFormat12`): `istio.mixer:status` and the transport failure
    /// reason after the flags, `%REQUESTED_SERVER_NAME%` last — the seed's lines.
    Istio12,
    /// Istio 1.3–1.8 (`EnvoyTextLogFormat13`): as 1.2, with `%ROUTE_NAME%` last.
    Istio13,
    /// Istio 1.9–1.22: response code details and connection termination details after the
    /// flags, `%UPSTREAM_CLUSTER%`.
    Istio19,
    /// Istio 1.23 and later: as 1.9, with `%UPSTREAM_CLUSTER_RAW%`.
    Current,
}

/// One Istio release line: its settings are read off the behaviour table by the methods below,
/// so they cannot disagree with [`Profile::has`].
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Profile {
    /// Profile name, e.g. `istio-1.4`.
    pub name: &'static str,
    /// The Istio release line it stands for.
    pub version: IstioVersion,
    /// One line saying what distinguishes it.
    pub summary: &'static str,
}

/// Default `retry_on` until 1.5 (`v1alpha3/route/retry/retry.go@1.4.0` L33).
const RETRY_ON_1_1: &str =
    "connect-failure,refused-stream,unavailable,cancelled,resource-exhausted,retriable-status-codes";
/// Default `retry_on` from 1.6 (`resource-exhausted` dropped).
const RETRY_ON_1_6: &str =
    "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes";

impl Profile {
    /// The profile of Istio `version`.
    pub fn at(name: &'static str, version: IstioVersion, summary: &'static str) -> Self {
        Self {
            name,
            version,
            summary,
        }
    }

    /// The access-log format its sidecars write.
    pub fn log_format(&self) -> LogFormat {
        if self.has(Behaviour::UpstreamClusterRaw) {
            LogFormat::Current
        } else if self.has(Behaviour::ResponseDetailsLogFormat) {
            LogFormat::Istio19
        } else if self.has(Behaviour::RouteNameInAccessLog) {
            LogFormat::Istio13
        } else {
            LogFormat::Istio12
        }
    }

    /// Route timeout on the PassthroughCluster route (Envoy's 15 s default before 1.5).
    pub fn passthrough_route_timeout(&self) -> Option<Duration> {
        (!self.has(Behaviour::PassthroughNoRouteTimeout)).then(|| Duration::from_secs(15))
    }

    /// Retries in the default outbound retry policy (2 in every modelled release).
    pub fn default_retry_attempts(&self) -> u32 {
        2
    }

    /// `retry_on` of the default outbound retry policy.
    pub fn default_retry_on(&self) -> &'static str {
        if self.has(Behaviour::RetryWithoutResourceExhausted) {
            RETRY_ON_1_6
        } else {
            RETRY_ON_1_1
        }
    }

    /// Whether 503 is in the default retriable status codes (excluded from 1.24).
    pub fn default_retry_503(&self) -> bool {
        !self.has(Behaviour::Default503NotRetried)
    }

    /// Inbound routes retry `reset-before-request` this many times (1.24+), if any.
    pub fn inbound_retry_attempts(&self) -> Option<u32> {
        self.has(Behaviour::InboundRetryResetBeforeRequest)
            .then_some(2)
    }

    /// The `dnsRefreshRate` DNS clusters get: the mesh default, or what the install set.
    pub fn dns_refresh_rate(&self) -> Duration {
        if self.has(Behaviour::DnsRefresh60s) {
            Duration::from_secs(60)
        } else if self.has(Behaviour::HelmDnsRefresh300s)
            && !self.has(Behaviour::ChartsDropDnsRefresh)
        {
            Duration::from_secs(300)
        } else {
            Duration::from_secs(5)
        }
    }

    /// Whether DNS clusters honour the record TTL.
    pub fn respect_dns_ttl(&self) -> bool {
        self.has(Behaviour::RespectDnsTtl)
    }

    /// Mesh `connectTimeout` (10 s: the 1.2–1.5 helm configmap, the code default from 1.6).
    pub fn connect_timeout(&self) -> Duration {
        Duration::from_secs(10)
    }

    /// Upstream idle timeout of the PassthroughCluster (none before 1.16: Envoy's 1 h).
    pub fn passthrough_idle_timeout(&self) -> Option<Duration> {
        self.has(Behaviour::PassthroughIdleTimeout5m)
            .then(|| Duration::from_secs(300))
    }

    /// The `max_concurrent_streams` of the HTTP/2 options istiod sets on a cluster (`None`:
    /// empty options, Envoy's default 2^31-1).
    pub fn http2_max_concurrent_streams(&self) -> Option<u32> {
        (!self.has(Behaviour::H2DefaultMaxStreams)).then_some(1 << 30)
    }

    /// MeshConfig `protocolDetectionTimeout`: how long a sniffing listener waits for the
    /// client's first bytes before it hands the connection to its TCP proxy (`None`: 0s, no
    /// timeout).
    pub fn protocol_detection_timeout(&self) -> Option<Duration> {
        if self.has(Behaviour::ProtocolDetectionTimeoutOff) {
            None
        } else if self.has(Behaviour::ProtocolDetectionTimeout5s) {
            Some(Duration::from_secs(5))
        } else {
            Some(Duration::from_millis(100))
        }
    }

    /// Whether this profile's istiod renders `behaviour`.
    pub fn has(&self, behaviour: Behaviour) -> bool {
        self.version.has(behaviour)
    }
}

/// All profiles the lab knows, oldest first.
pub fn all() -> Vec<Profile> {
    vec![
        Profile::at(
            "istio-1.2",
            IstioVersion::v1(2),
            "as 1.4, and the seed's access log (no route name); DNS clusters ignore the TTL; outbound circuit breakers at 1024",
        ),
        Profile::at(
            "istio-1.4",
            IstioVersion::v1(4),
            "15 s route timeout on PassthroughCluster; 503 retried by default; VirtualService status codes never retried; route name last in the log",
        ),
        Profile::at(
            "istio-1.13",
            IstioVersion::v1(13),
            "no route timeouts; 503 retried by default; ROUND_ROBIN; 5 s DNS refresh",
        ),
        Profile::at(
            "istio-1.24",
            IstioVersion::v1(24),
            "503 no longer retried by default; inbound routes retry reset-before-request twice; LEAST_REQUEST",
        ),
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

    fn profile(name: &str) -> Profile {
        by_name(name).unwrap()
    }

    #[test]
    fn only_1_24_excludes_503_and_retries_inbound() {
        for p in all() {
            let is_124 = p.name == "istio-1.24";
            assert_eq!(!p.default_retry_503(), is_124, "{}", p.name);
            assert_eq!(p.inbound_retry_attempts().is_some(), is_124, "{}", p.name);
        }
    }

    #[test]
    fn each_profile_is_what_its_istiod_rendered() {
        let (old, mid, new) = (
            profile("istio-1.4"),
            profile("istio-1.13"),
            profile("istio-1.24"),
        );
        // v1alpha3/httproute.go@1.4.0 L195-197: no timeout on allow_any, Envoy's 15 s.
        assert_eq!(
            old.passthrough_route_timeout(),
            Some(Duration::from_secs(15))
        );
        assert_eq!(mid.passthrough_route_timeout(), None);
        // values.yaml@1.4.0 L207: 300s; mesh.go@1.13.0 L104: 5 s; mesh.go@1.14.0 L110: 60 s.
        let refresh: Vec<u64> = [&old, &mid, &new]
            .iter()
            .map(|p| p.dns_refresh_rate().as_secs())
            .collect();
        assert_eq!(refresh, [300, 5, 60]);
        // cluster.go@1.4.0 L1295-1297: TTL respected from 1.3.
        assert!(old.respect_dns_ttl() && mid.respect_dns_ttl() && new.respect_dns_ttl());
        // cluster_builder.go@1.16.0 L70-73: the 5 min PassthroughCluster idle timeout.
        assert_eq!(
            (
                old.passthrough_idle_timeout(),
                mid.passthrough_idle_timeout()
            ),
            (None, None)
        );
        assert_eq!(
            new.passthrough_idle_timeout(),
            Some(Duration::from_secs(300))
        );
        // retry.go@1.4.0 L33: resource-exhausted until 1.5.
        assert!(old.default_retry_on().contains("resource-exhausted"));
        assert!(!mid.default_retry_on().contains("resource-exhausted"));
        // telemetry_logging.go@1.23.0: %UPSTREAM_CLUSTER_RAW% from 1.23.
        let formats = [old.log_format(), mid.log_format(), new.log_format()];
        assert_eq!(
            formats,
            [LogFormat::Istio13, LogFormat::Istio19, LogFormat::Current]
        );
    }

    /// The seed's lines are Istio 1.2's: `EnvoyTextLogFormat12` (listener.go@1.2.10 L72-82),
    /// DNS clusters without `respect_dns_ttl` (cluster.go@1.2.10 sets none), the helm chart's
    /// 300 s refresh (values.yaml@1.2.10 L179) and the 1.4 defaults otherwise (retry.go@1.2.10
    /// L30-44, httproute.go@1.2.10 L213-231).
    #[test]
    fn istio_1_2_is_the_seed_s_istiod() {
        let (seed, old) = (profile("istio-1.2"), profile("istio-1.4"));
        assert_eq!(seed.log_format(), LogFormat::Istio12);
        assert!(!seed.respect_dns_ttl());
        assert!(!seed.has(Behaviour::MaxUint32CircuitBreakers));
        assert_eq!(seed.dns_refresh_rate(), Duration::from_secs(300));
        assert_eq!(
            (
                seed.passthrough_route_timeout(),
                seed.default_retry_on(),
                seed.default_retry_503()
            ),
            (
                old.passthrough_route_timeout(),
                old.default_retry_on(),
                old.default_retry_503()
            )
        );
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
