//! What each Istio profile of the lab means in a real cluster: which Istio is installed, with
//! which compatibility profile and mesh settings, and what cannot be reproduced there.
//!
//! One Istio version is pinned for every profile ([`PINNED_ISTIO_VERSION`], overridable with
//! `ISTIO_VERSION` in the scripts); the profiles differ in the IstioOperator file installed
//! from `kind-cluster/istio/` and, for `istio-1.4`, an extra EnvoyFilter.

/// The Istio release `scripts/kind-up.sh` installs unless `ISTIO_VERSION` says otherwise.
///
/// 1.26 is the newest line that still ships the `1.23` compatibility profile (it restores
/// the pre-1.24 retry policy: 503 retried by default, no inbound `reset-before-request`
/// retries), so every lab profile maps onto one control plane version.
pub const PINNED_ISTIO_VERSION: &str = "1.26.2";

/// The kind node image (Kubernetes 1.32, inside the range Istio 1.26 supports).
pub const PINNED_KIND_NODE_IMAGE: &str = "kindest/node:v1.32.2";

/// How faithfully a profile is reproduced on the pinned Istio.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fidelity {
    /// Every default the lab models matches.
    Full,
    /// Some defaults are emulated with mesh settings or an EnvoyFilter; `not_reproduced`
    /// names what is still different.
    Emulated,
}

/// The cluster-side install of one lab profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IstioInstall {
    /// Lab profile name, e.g. `istio-1.4`.
    pub profile: &'static str,
    /// The IstioOperator file for `istioctl install -f`, relative to the repository root.
    pub operator_file: &'static str,
    /// `compatibilityVersion` set in that file.
    pub compatibility_version: &'static str,
    /// Further Istio objects applied in `istio-system` for this profile (besides the
    /// flags-header EnvoyFilter every profile gets).
    pub extra_files: &'static [&'static str],
    pub fidelity: Fidelity,
    /// What differs from the real release line, one sentence each.
    pub not_reproduced: &'static [&'static str],
}

/// The EnvoyFilter that makes sidecars return `x-mesh5xx-flags: %RESPONSE_FLAGS%`, as the
/// local sidecars do, so the load generator can count client-visible flags.
pub const FLAGS_HEADER_FILTER: &str = "kind-cluster/istio/envoyfilter-flags-header.yaml";

/// The cluster install of every lab profile, oldest first.
pub fn all() -> Vec<IstioInstall> {
    vec![
        IstioInstall {
            profile: "istio-1.2",
            operator_file: "kind-cluster/istio/istio-1.2.yaml",
            compatibility_version: "1.23",
            extra_files: &["kind-cluster/istio/envoyfilter-passthrough-timeout-15s.yaml"],
            fidelity: Fidelity::Emulated,
            not_reproduced: &[
                "Istio 1.2 itself cannot run on a current Kubernetes; the pinned Istio emulates it as it emulates 1.4, with 1.2's TEXT access-log format (no %ROUTE_NAME%, as in the seed's lines).",
                "DNS clusters respect the record TTL (1.2 ignored it) and every circuit-breaker threshold is MaxUint32 (1.2: outbound max_retries 1024, the rest Envoy's 1024).",
                "Outbound clusters use LEAST_REQUEST (1.2: ROUND_ROBIN) and the PassthroughCluster has a 5 min idle timeout (1.2: Envoy's 1 h).",
                "A VirtualService retryOn listing status codes gets retriable-status-codes appended (from 1.12), so those codes are retried; 1.2 never retried them.",
                "Inbound traffic reaches the app on the pod IP (1.2 used 127.0.0.1): the app listens on 0.0.0.0.",
            ],
        },
        IstioInstall {
            profile: "istio-1.4",
            operator_file: "kind-cluster/istio/istio-1.4.yaml",
            compatibility_version: "1.23",
            extra_files: &["kind-cluster/istio/envoyfilter-passthrough-timeout-15s.yaml"],
            fidelity: Fidelity::Emulated,
            not_reproduced: &[
                "Istio 1.4 itself cannot run on a current Kubernetes; the pinned Istio emulates it: compatibility profile 1.23 (503 retried by default, no inbound retries), the pre-1.9 TEXT access-log format, 1.4-style inbound cluster names through inboundClusterStatName, dnsRefreshRate 300s, and an EnvoyFilter restoring the 15 s route timeout on PassthroughCluster.",
                "Outbound clusters use LEAST_REQUEST (1.4: ROUND_ROBIN; ENABLE_LEGACY_LB_ALGORITHM_DEFAULT, which restored it, is gone since 1.19) and the PassthroughCluster has a 5 min idle timeout (1.4: Envoy's 1 h).",
                "A VirtualService retryOn listing status codes gets retriable-status-codes appended (from 1.12), so those codes are retried; 1.4 never retried them.",
                "Inbound traffic reaches the app on the pod IP (1.4 used 127.0.0.1): the app listens on 0.0.0.0.",
            ],
        },
        IstioInstall {
            profile: "istio-1.13",
            operator_file: "kind-cluster/istio/istio-1.13.yaml",
            compatibility_version: "1.23",
            extra_files: &[],
            fidelity: Fidelity::Emulated,
            not_reproduced: &[
                "Outbound clusters use LEAST_REQUEST (1.13: ROUND_ROBIN; ENABLE_LEGACY_LB_ALGORITHM_DEFAULT is gone since 1.19), the PassthroughCluster has a 5 min idle timeout (1.13: Envoy's 1 h), and the access log prints %UPSTREAM_CLUSTER_RAW% (1.13: %UPSTREAM_CLUSTER%, the same value without alt_stat_name).",
            ],
        },
        IstioInstall {
            profile: "istio-1.24",
            operator_file: "kind-cluster/istio/istio-1.24.yaml",
            compatibility_version: "1.24",
            extra_files: &[],
            fidelity: Fidelity::Full,
            not_reproduced: &[],
        },
    ]
}

/// The cluster install of the lab profile `name`.
pub fn for_profile(name: &str) -> Option<IstioInstall> {
    all().into_iter().find(|i| i.profile == name)
}
