//! What istiod rendered for a sidecar, by Istio version: one row per version-dependent
//! behaviour the lab renders, with the first release that had it and the istio/istio source
//! it was read from (`path@tag`, paths as they were at that tag; `v1alpha3/` is
//! `pilot/pkg/networking/core/v1alpha3/`, which became `pilot/pkg/networking/core/` in 1.22).
//!
//! A [`Profile`](crate::Profile) is a point on this table: its settings are read off the
//! rows for its version ([`IstioVersion::has`]), never written by hand, and an Istio field a
//! scenario uses that its profile's istiod did not know is refused ([`Since`]).

use std::fmt;
use std::str::FromStr;

/// An Istio release line, `1.MINOR`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct IstioVersion {
    /// The major version (1).
    pub major: u16,
    /// The minor version.
    pub minor: u16,
}

impl IstioVersion {
    /// `1.minor`.
    pub const fn v1(minor: u16) -> Self {
        Self { major: 1, minor }
    }

    /// Whether istiod of this version renders `behaviour` (the row's "from" side).
    pub fn has(self, behaviour: Behaviour) -> bool {
        self >= behaviour.row().since
    }
}

impl fmt::Display for IstioVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

impl FromStr for IstioVersion {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (major, minor) = s
            .split_once('.')
            .ok_or_else(|| format!("{s:?} is not an Istio version like 1.24"))?;
        let num = |p: &str| {
            p.parse::<u16>()
                .map_err(|_| format!("{s:?} is not an Istio version like 1.24"))
        };
        Ok(Self {
            major: num(major)?,
            minor: num(minor)?,
        })
    }
}

/// One row: a behaviour, the first release that had it, what came before and after, and
/// where in istio/istio it was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Row {
    /// Which behaviour.
    pub behaviour: Behaviour,
    /// The first `1.x.0` that renders it.
    pub since: IstioVersion,
    /// What istiod rendered before.
    pub before: &'static str,
    /// What it renders from `since` on.
    pub after: &'static str,
    /// The istio/istio file(s) and tag(s) it follows.
    pub source: &'static str,
}

macro_rules! behaviours {
    ($($variant:ident { since: $minor:literal, before: $before:literal, after: $after:literal, source: $source:literal })+) => {
        /// The version-dependent behaviours of istiod the lab renders.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
        pub enum Behaviour {
            $(
                #[doc = $after]
                $variant,
            )+
        }

        /// Every row, in the order of the enum.
        pub const TABLE: &[Row] = &[
            $(Row {
                behaviour: Behaviour::$variant,
                since: IstioVersion::v1($minor),
                before: $before,
                after: $after,
                source: $source,
            },)+
        ];
    };
}

behaviours! {
    MaxUint32CircuitBreakers {
        since: 4,
        before: "outbound max_retries 1024, other thresholds at Envoy's defaults (1024)",
        after: "every circuit-breaker threshold MaxUint32, inbound and outbound",
        source: "v1alpha3/cluster.go@1.3.0 L56-63; v1alpha3/cluster.go@1.4.0 L71-90"
    }
    RouteNameInAccessLog {
        since: 3,
        before: "the TEXT access log ends at %REQUESTED_SERVER_NAME% (EnvoyTextLogFormat12, the seed's lines)",
        after: "the TEXT access log ends with %ROUTE_NAME% (EnvoyTextLogFormat13, for proxies of 1.3 and later)",
        source: "v1alpha3/listener.go@1.2.10 L72-82; v1alpha3/listener.go@1.4.0 L105-121, L218-220"
    }
    RouteNames {
        since: 3,
        before: "routes are unnamed",
        after: "routes are named: default without a VirtualService, the VirtualService http route's name (and .match name) with one",
        source: "v1alpha3/route/route.go@1.2.10 L640-668; v1alpha3/route/route.go@1.4.0 L336-342, L748-750"
    }
    RespectDnsTtl {
        since: 3,
        before: "DNS clusters ignore the record TTL",
        after: "respect_dns_ttl: true on DNS clusters (PILOT_RESPECT_DNS_TTL, default true)",
        source: "v1alpha3/cluster.go@1.4.0 L1295-1297; pilot/pkg/features/pilot.go@1.4.0 L208-210"
    }
    HelmDnsRefresh300s {
        since: 2,
        before: "meshConfig.dnsRefreshRate 5 s",
        after: "the helm/operator install sets dnsRefreshRate 300s (until 1.5; 1.6-1.13 charts set nothing: 5 s)",
        source: "install/kubernetes/helm/istio/values.yaml@1.4.0 L207; operator/data/profiles/default.yaml@1.5.0 L255"
    }
    ChartsDropDnsRefresh {
        since: 6,
        before: "dnsRefreshRate 300s from the install",
        after: "the install sets no dnsRefreshRate: the mesh default applies (5 s until 1.13)",
        source: "pkg/config/mesh/mesh.go@1.13.0 L104 (5 s); no dnsRefreshRate in manifests/ at 1.6.0-1.13.0"
    }
    DnsRefresh60s {
        since: 14,
        before: "mesh default dnsRefreshRate 5 s",
        after: "mesh default dnsRefreshRate 60 s",
        source: "pkg/config/mesh/mesh.go@1.14.0 L110"
    }
    PassthroughNoRouteTimeout {
        since: 5,
        before: "the allow_any route has no timeout: Envoy's 15 s applies",
        after: "the allow_any route has timeout 0 (disabled)",
        source: "v1alpha3/httproute.go@1.4.0 L195-197; v1alpha3/httproute.go@1.5.0 L198-199"
    }
    AllowAnyRouteNamed {
        since: 6,
        before: "the catch-all routes are unnamed (%ROUTE_NAME% logs -)",
        after: "the catch-all routes are named allow_any (block_all under REGISTRY_ONLY)",
        source: "v1alpha3/httproute.go@1.4.0 L185-219; v1alpha3/httproute.go@1.6.0 L500-540"
    }
    SidecarOutboundTrafficPolicy {
        since: 3,
        before: "outboundTrafficPolicy only mesh-wide, in meshConfig",
        after: "a Sidecar's outboundTrafficPolicy sets its namespace's mode (REGISTRY_ONLY: the block_all virtual host, a 502 direct response)",
        source: "v1alpha3/httproute.go@1.2.0 L213-250 (env.Mesh only); pilot/pkg/model/sidecar.go@1.3.0 L92-95, L186-190; pilot/pkg/networking/util/util.go@1.4.0 L586-590; core/httproute.go@1.24.0 L825-884"
    }
    RetryWithoutResourceExhausted {
        since: 6,
        before: "default retry_on includes resource-exhausted",
        after: "default retry_on connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes",
        source: "v1alpha3/route/retry/retry.go@1.4.0 L32-43; v1alpha3/route/retry/retry.go@1.6.0"
    }
    Consecutive5xxErrors {
        since: 5,
        before: "outlierDetection.consecutiveErrors counts gateway errors (502/503/504): consecutive_gateway_failure, enforcing_consecutive_5xx 0",
        after: "consecutive5xxErrors -> consecutive_5xx (enforced when > 0), consecutiveGatewayErrors -> consecutive_gateway_failure; unset leaves Envoy's defaults",
        source: "v1alpha3/cluster.go@1.4.0 L990-995; v1alpha3/cluster.go@1.5.0 L960-986; crd-all.gen.yaml@1.5.0 L2151"
    }
    OutlierSuccessRateOff {
        since: 7,
        before: "enforcing_success_rate not set (Envoy's 100)",
        after: "enforcing_success_rate: 0; consecutiveErrors no longer read",
        source: "v1alpha3/cluster.go@1.7.0; v1alpha3/cluster.go@1.13.0 L637-659"
    }
    InboundTargetPortNames {
        since: 8,
        before: "inbound clusters named inbound|SERVICE_PORT|PORT_NAME|HOST",
        after: "inbound clusters named inbound|TARGET_PORT|| (1.8.0 itself used the service port; 1.8.1 on the target port)",
        source: "v1alpha3/listener.go@1.4.0 L1969; pilot/pkg/model/service.go@1.8.1 BuildInboundSubsetKey"
    }
    TrackRemaining {
        since: 10,
        before: "circuit breakers without track_remaining",
        after: "circuit breakers with track_remaining: true",
        source: "v1alpha3/cluster.go@1.10.0 L69"
    }
    InboundPassthrough {
        since: 10,
        before: "the inbound cluster is STATIC 127.0.0.1:PORT",
        after: "the inbound cluster is ORIGINAL_DST to the pod IP (inbound passthrough); the lab's local mode has no pod IP and keeps 127.0.0.1",
        source: "v1alpha3/cluster_builder.go@1.10.0 (buildInboundPassthroughClusters)"
    }
    VsRetryAddsRetriableStatusCodes {
        since: 12,
        before: "a VirtualService retryOn listing codes keeps them in retriable_status_codes without the retriable-status-codes policy, so Envoy never retries them",
        after: "retriable-status-codes is appended when retryOn lists status codes (also backported to 1.10.5 and 1.11.3)",
        source: "v1alpha3/route/retry/retry.go@1.4.0 L78-108; v1alpha3/route/retry/retry.go@1.12.0 L84-87"
    }
    DnsRoundRobin {
        since: 12,
        before: "no ServiceEntry resolution DNS_ROUND_ROBIN",
        after: "resolution DNS_ROUND_ROBIN -> LOGICAL_DNS cluster",
        source: "pilot/pkg/serviceregistry/serviceentry/conversion.go@1.12.0 L157-158; v1alpha3/cluster.go@1.12.0 L518-519"
    }
    LeastRequestDefault {
        since: 14,
        before: "outbound clusters ROUND_ROBIN",
        after: "outbound clusters LEAST_REQUEST (ENABLE_LEGACY_LB_ALGORITHM_DEFAULT=false; the flag is gone in 1.19)",
        source: "v1alpha3/cluster.go@1.13.0 L711; v1alpha3/cluster.go@1.14.0 L706-711; pilot/pkg/features/pilot.go@1.14.0 L288-293"
    }
    MaxConnectionDuration {
        since: 15,
        before: "connectionPool.tcp.maxConnectionDuration is not translated",
        after: "tcp.maxConnectionDuration -> common_http_protocol_options.max_connection_duration",
        source: "v1alpha3/cluster_builder.go@1.15.0 L866-867, L892"
    }
    PassthroughDownstreamProtocol {
        since: 7,
        before: "PassthroughCluster speaks HTTP/1.1 to the destination whatever the client spoke",
        after: "PassthroughCluster speaks the client's protocol: protocol_selection USE_DOWNSTREAM_PROTOCOL until 1.9, HttpProtocolOptions use_downstream_protocol_config from 1.10 (rendered in that form for every era)",
        source: "v1alpha3/cluster_builder.go@1.6.0 L235-245; v1alpha3/cluster_builder.go@1.7.0 L307-313; v1alpha3/cluster_builder.go@1.9.0 L405-411; v1alpha3/cluster_builder.go@1.10.0 L64-73, L482-490; core/cluster_builder.go@1.24.0 L52-65, L526-535"
    }
    PassthroughIdleTimeout5m {
        since: 16,
        before: "PassthroughCluster without idle_timeout (Envoy's 1 h)",
        after: "PassthroughCluster idle_timeout 5 min",
        source: "v1alpha3/cluster_builder.go@1.16.0 L70-73; core/cluster_builder.go@1.24.0 L55-58"
    }
    ResponseDetailsLogFormat {
        since: 9,
        before: "the TEXT access log has istio.mixer:status and the transport failure reason after the flags",
        after: "the TEXT access log has %RESPONSE_CODE_DETAILS% %CONNECTION_TERMINATION_DETAILS% after the flags",
        source: "v1alpha3/accesslog.go@1.9.0 L47-51"
    }
    UpstreamClusterRaw {
        since: 23,
        before: "the TEXT access log prints %UPSTREAM_CLUSTER%",
        after: "the TEXT access log prints %UPSTREAM_CLUSTER_RAW% (clusters carry alt_stat_name NAME;)",
        source: "pilot/pkg/model/telemetry_logging.go@1.23.0; core/cluster_builder.go@1.24.0 L300"
    }
    InboundRetryResetBeforeRequest {
        since: 24,
        before: "inbound routes without a retry policy",
        after: "inbound routes retry reset-before-request twice (ENABLE_INBOUND_RETRY_POLICY, default true)",
        source: "core/route/route.go@1.24.0 L1252-1259; pilot/pkg/features/pilot.go@1.24.0 L237"
    }
    ListenerTrafficDirection {
        since: 3,
        before: "listeners carry no traffic_direction",
        after: "the inbound listener has traffic_direction INBOUND, the outbound ones OUTBOUND (what Envoy's drain_listeners?inboundonly selects)",
        source: "v1alpha3/listener.go@1.2.10 (none); v1alpha3/listener.go@1.3.0 L625, L1316; v1alpha3/listener.go@1.4.0 L637, L1343; core/listener_inbound.go@1.24.0 L156; core/listener.go@1.24.0 L559"
    }
    VirtualInboundListener {
        since: 3,
        before: "captured inbound traffic reaches the `virtual` listener on 15001, which hands it to the POD_IP_PORT inbound listener (not bound)",
        after: "captured inbound traffic reaches `virtualInbound` on 15006 (filter chains by destination port; the outbound one is `virtualOutbound`)",
        source: "v1alpha3/listener.go@1.2.10 L57-58, L276-290; v1alpha3/listener.go@1.3.0 L90, L133; v1alpha3/listener_builder.go@1.4.0 L135-175, L311-335; core/listener_inbound.go@1.24.0 L196, L270"
    }
    AuthorizationPolicy {
        since: 4,
        before: "authorization by the v1alpha1 RBAC objects (ClusterRbacConfig, ServiceRole): no AuthorizationPolicy",
        after: "security.istio.io/v1beta1 AuthorizationPolicy -> an envoy.filters.http.rbac filter in the inbound HTTP connection manager, one policy per rule named ns[NS]-policy[NAME]-rule[N]",
        source: "pilot/pkg/security/authz/builder/builder.go@1.4.0 L45-52; pilot/pkg/security/authz/builder/builder.go@1.24.0 L182-283, L369-375"
    }
    ImmediateDrainStrategy {
        since: 10,
        before: "Envoy's gradual drain: while a listener drains, a response closes its connection with a probability growing over --drain-time-s (drainDuration, 45 s)",
        after: "pilot-agent starts Envoy with --drain-strategy immediate: every response on a draining listener closes its connection",
        source: "pkg/envoy/proxy.go@1.4.0 L108-109; pkg/envoy/proxy.go@1.10.0 L89; pkg/envoy/proxy.go@1.24.0 L126-127; pkg/config/mesh/mesh.go@1.24.0 L44"
    }
    InboundOnlyTerminationDrain {
        since: 5,
        before: "on SIGTERM pilot-agent hot-restarts Envoy into an empty configuration (epoch N+1 on envoy_bootstrap_drain.json, `{}`, with --restart-epoch N+1 and the same --drain-time-s/--parent-shutdown-time-s): the old epoch closes every listener, inbound and outbound (new connections refused), drains the open ones over drainDuration and exits at parentShutdownDuration; the admin endpoint is gone (the new epoch has none); every epoch is killed after terminationDrainDuration",
        after: "on SIGTERM pilot-agent drains the inbound listeners only (POST drain_listeners?inboundonly); outbound listeners serve until Envoy is stopped after terminationDrainDuration",
        source: "pkg/envoy/agent.go@1.4.0 L124-161, L245-252, L262-271; pkg/envoy/proxy.go@1.4.0 L101-115, L142-144, L189-195; tools/packaging/common/envoy_bootstrap_drain.json@1.4.0; pkg/envoy/admin.go@1.5.0 L40; pkg/envoy/admin.go@1.8.0 L42; pkg/envoy/agent.go@1.24.0 L152-162"
    }
    GracefulTerminationDrain {
        since: 8,
        before: "the inbound listeners drained on SIGTERM stop accepting at once (drain_listeners?inboundonly)",
        after: "they keep accepting while they drain (drain_listeners?inboundonly&graceful)",
        source: "pkg/envoy/admin.go@1.6.0 L40; pkg/envoy/admin.go@1.8.0 L42; pkg/envoy/admin.go@1.24.0 L32"
    }
    ExitOnZeroActiveConnections {
        since: 12,
        before: "Envoy is stopped terminationDrainDuration after SIGTERM",
        after: "EXIT_ON_ZERO_ACTIVE_CONNECTIONS (default false): wait MINIMUM_DRAIN_DURATION (5 s), then stop Envoy once its listeners hold no connection, checked every second",
        source: "pkg/envoy/agent.go@1.11.0 (no such option); pkg/envoy/agent.go@1.12.0 L34; pilot/cmd/pilot-agent/options/options.go@1.24.0 L159-166; pkg/envoy/agent.go@1.24.0 L163-200"
    }
    HoldApplicationUntilProxyStarts {
        since: 7,
        before: "the app containers start with istio-proxy, nothing makes them wait for it",
        after: "holdApplicationUntilProxyStarts puts istio-proxy first with a postStart `pilot-agent wait` (polling its readiness every 500 ms), so the app starts once the sidecar is ready (values.global.proxy from 1.7; ProxyConfig, per pod by the proxy.istio.io/config annotation, from 1.8)",
        source: "manifests/charts/istio-control/istio-discovery/files/injection-template.yaml@1.7.0 L158-164; pilot/cmd/pilot-agent/wait.go@1.7.0 L80-82; injection-template.yaml@1.8.0 L2, L175"
    }
    NativeSidecar {
        since: 19,
        before: "istio-proxy is one of the pod's containers",
        after: "native sidecars: istio-proxy an init container with restartPolicy Always and a startup probe, the app containers started after it (ENABLE_NATIVE_SIDECARS on istiod, default false; per pod by the sidecar.istio.io/nativeSidecar annotation from 1.24)",
        source: "manifests/charts/istio-control/istio-discovery/files/injection-template.yaml@1.19.0 L27, L188-197, L339-340; injection-template.yaml@1.24.0 L27, L68-70; pilot/pkg/features/experimental.go@1.24.0 L181"
    }
    Default503NotRetried {
        since: 24,
        before: "503 in the default retriable status codes",
        after: "503 not retried by default (EXCLUDE_UNSAFE_503_FROM_DEFAULT_RETRY, default true)",
        source: "core/route/retry/retry.go@1.24.0 L52-54; pilot/pkg/features/pilot.go@1.24.0 L240"
    }
    H2UpgradePolicy {
        since: 6,
        before: "DestinationRule connectionPool.http.h2UpgradePolicy not translated: HTTP/1.1 to a service's http port",
        after: "h2UpgradePolicy UPGRADE gives an http port's outbound cluster http2_protocol_options (DO_NOT_UPGRADE, the mesh default, does not); http2 and grpc ports are HTTP/2 either way",
        source: "v1alpha3/cluster.go@1.6.0 L641-690; core/cluster_traffic_policy.go@1.24.0 L182-222, core/cluster_builder.go@1.24.0 L594-613"
    }
    PeerAuthentication {
        since: 5,
        before: "inbound mTLS set by the authentication.istio.io/v1alpha1 Policy (no PeerAuthentication)",
        after: "security.istio.io/v1beta1 PeerAuthentication mtls.mode (and portLevelMtls) sets the inbound filter chains: STRICT a TLS chain only, PERMISSIVE a TLS chain on Istio's ALPNs and a plaintext one, DISABLE plaintext only",
        source: "pkg/config/schema/collections/collections.gen.go@1.5.0 L472-475; core/filterchain_options.go@1.24.0 L86-182; pilot/pkg/security/authn/utils/utils.go@1.24.0 L40-91"
    }
    AutoMtls {
        since: 5,
        before: "the install leaves enableAutoMtls off (values.global.mtls.auto false): without a DestinationRule tls, clients send plaintext",
        after: "enableAutoMtls on (the operator's default profile, mtls.auto true; the mesh default from 1.6): without a DestinationRule tls, the client sends ISTIO_MUTUAL to endpoints labelled tlsMode istio unless the server's PeerAuthentication is DISABLE (transport_socket_matches tlsMode-istio / tlsMode-disabled)",
        source: "install/kubernetes/helm/istio/values.yaml@1.4.0 L371; operator/data/profiles/default.yaml@1.5.0 L321-323; pkg/config/mesh/mesh.go@1.6.0 L156; core/cluster_tls.go@1.24.0 L95-133, L398-456"
    }
    TlsV13Params {
        since: 14,
        before: "the client's ISTIO_MUTUAL context has no tls_params (Envoy's TLSv1_2 maximum); the server's has a TLSv1_2 minimum only",
        after: "tls_params TLSv1_2 to TLSv1_3 on the client's ISTIO_MUTUAL context and the server's inbound context",
        source: "v1alpha3/cluster_builder.go@1.13.0 L1021-1049; pilot/pkg/security/authn/utils/utils.go@1.13.0 L65-69; v1alpha3/cluster_builder.go@1.14.0 L1342-1350; pilot/pkg/security/authn/utils/utils.go@1.14.0 L77; core/cluster_tls.go@1.24.0 L378-387"
    }
    AlpnH2PeerExchange {
        since: 7,
        before: "an ISTIO_MUTUAL HTTP/2 cluster offers ALPN istio, h2 (ALPNInMeshH2); an HTTP/1.1 one istio-peer-exchange, istio",
        after: "an ISTIO_MUTUAL HTTP/2 cluster offers istio-peer-exchange, istio, h2 (ALPNInMeshH2WithMxc)",
        source: "v1alpha3/cluster.go@1.5.0 L1181-1194; v1alpha3/cluster.go@1.6.0 L1062-1076; v1alpha3/cluster.go@1.7.0 L1007-1030; pilot/pkg/features/pilot.go@1.7.0 L170-173; core/cluster_tls.go@1.24.0 L176-192"
    }
    ListenerNrAccessLog {
        since: 8,
        before: "no listener access log: a connection no filter chain takes is not logged",
        after: "the inbound listener logs, in the access log's format, the connections no filter chain takes (response_flag_filter NR: filter_chain_not_found)",
        source: "v1alpha3/accesslog.go@1.7.0 (none); v1alpha3/accesslog.go@1.8.0 L233; core/accesslog.go@1.24.0 L188-240, core/listener_inbound.go@1.24.0 L312"
    }
    OutboundProtocolSniffing {
        since: 3,
        before: "a Service port whose name names no protocol is TCP: the outbound listener is a TCP proxy",
        after: "such a port is sniffed on the outbound listener (PILOT_ENABLE_PROTOCOL_SNIFFING_FOR_OUTBOUND, default true): tls_inspector and http_inspector listener filters, an HTTP chain matching application_protocols http/1.1 and h2c, a TCP proxy chain for the rest, listener_filters_timeout protocolDetectionTimeout with continue_on_listener_filters_timeout",
        source: "pilot/pkg/features/pilot.go@1.3.0 L180-184; v1alpha3/listener.go@1.4.0 L1803-1810, L1881-1884; core/listener.go@1.24.0 L76-90, L553-608, L940-963"
    }
    InboundProtocolSniffing {
        since: 5,
        before: "a port whose name names no protocol is TCP on the inbound listener (PILOT_ENABLE_PROTOCOL_SNIFFING_FOR_INBOUND, default false)",
        after: "sniffed inbound too: an http_inspector listener filter, an HTTP chain on application_protocols http/1.1 and h2c (raw_buffer), a TCP proxy chain for the rest (raw_buffer), listener_filters_timeout protocolDetectionTimeout",
        source: "pilot/pkg/features/pilot.go@1.4.0 L189-192; pilot/pkg/features/pilot.go@1.5.0 L201-204; core/filterchain_options.go@1.24.0 L140-160, L196-205; core/listener_inbound.go@1.24.0 L285-316, L540-571"
    }
    ProtocolDetectionTimeout5s {
        since: 7,
        before: "MeshConfig protocolDetectionTimeout 100ms (helm's global.proxy.protocolDetectionTimeout, the code default from 1.3)",
        after: "protocolDetectionTimeout 5s",
        source: "pkg/config/mesh/mesh.go@1.3.0 L85; install/kubernetes/helm/istio/values.yaml@1.4.0 L218; pkg/config/mesh/mesh.go@1.6.0 L149; pkg/config/mesh/mesh.go@1.7.0 L96"
    }
    ProtocolDetectionTimeoutOff {
        since: 8,
        before: "protocolDetectionTimeout 5s: a connection whose client says nothing goes to the TCP proxy after it",
        after: "protocolDetectionTimeout 0s: no timeout, the sniffing listener waits for the client's first bytes for ever",
        source: "pkg/config/mesh/mesh.go@1.8.0 L84; pkg/config/mesh/mesh.go@1.24.0 L76; core/listener.go@1.24.0 L600-605"
    }
    SniffRawBufferMatch {
        since: 9,
        before: "the outbound HTTP chain of a sniffed port matches application_protocols http/1.0, http/1.1 and h2 only: a connection the inspector could not name (or that timed out) falls to the TCP proxy chain",
        after: "the outbound HTTP chain matches application_protocols http/1.0, http/1.1, h2c and transport_protocol raw_buffer; Envoy gives every plaintext connection raw_buffer and picks the most specific chain at each step, so a connection the inspector could not name matches no chain (no_filter_chain_match)",
        source: "v1alpha3/listener.go@1.4.0 L141-149, L1293-1302; v1alpha3/listener.go@1.9.0 L137, L1300-1302; core/listener.go@1.24.0 L955-961"
    }
    SniffNoHttp10Alpn {
        since: 13,
        before: "a sniffed port's HTTP chain matches http/1.0 too",
        after: "it matches http/1.1 and h2c only, unless istiod runs with PILOT_HTTP10 (an HTTP/1.0 client goes to the TCP chain instead of a 426)",
        source: "v1alpha3/listener.go@1.12.0 plaintextHTTPALPNs; v1alpha3/listener.go@1.13.0 L98-107; core/listener.go@1.24.0 L76-90"
    }
    UseDownstreamProtocol {
        since: 4,
        before: "the clusters of a sniffed port speak HTTP/1.1 to the upstream whatever the client spoke",
        after: "the clusters of a sniffed port speak the client's protocol (HTTP/1.1 or HTTP/2), outbound, and inbound where inbound sniffing is on: protocol_selection USE_DOWNSTREAM_PROTOCOL with http2_protocol_options until 1.9, HttpProtocolOptions use_downstream_protocol_config from 1.10 (rendered in that form for every era)",
        source: "v1alpha3/cluster.go@1.3.0 L1075-1084; v1alpha3/cluster.go@1.4.0 L1230-1255; v1alpha3/cluster.go@1.9.0 L1085-1107; v1alpha3/cluster_builder.go@1.10.0 L884-894, L912-925; core/cluster_builder.go@1.24.0 L569-580, L594-614"
    }
    H2UpgradeAnyPort {
        since: 10,
        before: "h2UpgradePolicy UPGRADE upgrades HTTP ports only: a sniffed port's cluster keeps the downstream protocol",
        after: "UPGRADE is read before the port's protocol: it makes the outbound cluster of any port HTTP/2 (explicit http2_protocol_options in place of use_downstream_protocol_config)",
        source: "v1alpha3/cluster.go@1.6.0 L665-679; v1alpha3/cluster_builder.go@1.10.0 L528-556; core/cluster_traffic_policy.go@1.24.0 L193-222"
    }
    H2DefaultMaxStreams {
        since: 15,
        before: "the HTTP/2 options istiod sets on a cluster (an http2 or grpc port, h2UpgradePolicy UPGRADE, a sniffed port's downstream protocol, PassthroughCluster from 1.10) ask for max_concurrent_streams 1073741824 (2^30)",
        after: "those HTTP/2 options are empty: Envoy's default max_concurrent_streams, 2147483647 (2^31-1)",
        source: "v1alpha3/cluster.go@1.0.0 L505-513; v1alpha3/cluster.go@1.4.0 L1230-1250; v1alpha3/cluster.go@1.9.0 L590-600; v1alpha3/cluster_builder.go@1.10.0 L897-904; v1alpha3/cluster_builder.go@1.14.0 L1208-1215; v1alpha3/cluster_builder.go@1.15.0 L1137-1139"
    }
    PassthroughHttp2Options {
        since: 10,
        before: "PassthroughCluster's downstream protocol is protocol_selection alone: no HTTP/2 options, Envoy's defaults",
        after: "PassthroughCluster's use_downstream_protocol_config carries istiod's HTTP/2 options (max_concurrent_streams 2^30 until 1.14)",
        source: "v1alpha3/cluster_builder.go@1.9.0 L405-414; v1alpha3/cluster_builder.go@1.10.0 L64-73, L483-491"
    }
    AppProtocol {
        since: 6,
        before: "a Service port's appProtocol is not read: its name alone decides the protocol",
        after: "appProtocol, when set, decides the protocol in place of the name",
        source: "pkg/config/kube/conversion.go@1.5.0 L57 (ConvertProtocol(port, name, proto)); pkg/config/kube/conversion.go@1.6.0 L47-57; pkg/config/kube/conversion.go@1.24.0 L48-70"
    }
    DeltaXds {
        since: 22,
        before: "pilot-agent bootstraps Envoy with ads_config.api_type GRPC: state-of-the-world ADS (ISTIO_DELTA_XDS, default false)",
        after: "ads_config.api_type DELTA_GRPC: incremental ADS, DeltaAggregatedResources (ISTIO_DELTA_XDS, default true)",
        source: "pilot/pkg/features/experimental.go@1.21.0 L183; pilot/pkg/features/experimental.go@1.22.0 L168-170; pkg/bootstrap/config.go@1.22.0 L95-98, L115; tools/packaging/common/envoy_bootstrap.json@1.22.0 L214-215"
    }
}

impl Behaviour {
    /// Its row in [`TABLE`].
    pub fn row(self) -> &'static Row {
        TABLE
            .iter()
            .find(|r| r.behaviour == self)
            .expect("every behaviour has a row")
    }
}

/// An Istio field or value a scenario uses, and the first version whose istiod translated
/// it; under an older profile the variant is refused, not rendered without it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Since {
    /// The field or value, as a scenario writes it (e.g. `tcp.maxConnectionDuration`).
    pub field: String,
    /// The first version that translated it.
    pub version: IstioVersion,
    /// The last version that still did, for fields that were removed.
    pub until: Option<IstioVersion>,
}

impl fmt::Display for Since {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.until {
            Some(until) => write!(f, "Istio ≤ {until} ({})", self.field),
            None => write!(f, "Istio ≥ {} ({})", self.version, self.field),
        }
    }
}

impl Since {
    /// A field translated from `behaviour`'s first version on.
    pub fn from(field: &str, behaviour: Behaviour) -> Self {
        Self {
            field: field.to_string(),
            version: behaviour.row().since,
            until: None,
        }
    }

    /// A field translated before `behaviour` replaced it.
    pub fn before(field: &str, behaviour: Behaviour) -> Self {
        let since = behaviour.row().since;
        Self {
            field: field.to_string(),
            version: IstioVersion::v1(0),
            until: Some(IstioVersion::v1(since.minor - 1)),
        }
    }

    /// Whether istiod `version` translated the field.
    pub fn holds_for(&self, version: IstioVersion) -> bool {
        version >= self.version && self.until.is_none_or(|u| version <= u)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_behaviour_has_one_row_citing_a_tagged_source() {
        for r in TABLE {
            assert_eq!(
                TABLE.iter().filter(|x| x.behaviour == r.behaviour).count(),
                1,
                "{:?}",
                r.behaviour
            );
            assert!(r.source.contains('@'), "{:?} cites no tag", r.behaviour);
            assert_eq!(r.since.major, 1);
        }
    }

    #[test]
    fn versions_order_by_number_not_by_text() {
        let v = |s: &str| s.parse::<IstioVersion>().unwrap();
        assert!(v("1.4") < v("1.13") && v("1.13") < v("1.24"));
        assert!("1.x".parse::<IstioVersion>().is_err());
        assert_eq!(v("1.24").to_string(), "1.24");
    }

    #[test]
    fn a_version_has_what_came_at_or_before_it() {
        let v = IstioVersion::v1;
        assert!(!v(11).has(Behaviour::VsRetryAddsRetriableStatusCodes));
        assert!(v(12).has(Behaviour::VsRetryAddsRetriableStatusCodes));
        assert!(
            v(14).has(Behaviour::LeastRequestDefault) && !v(13).has(Behaviour::LeastRequestDefault)
        );
        assert!(v(22).has(Behaviour::DeltaXds) && !v(21).has(Behaviour::DeltaXds));
    }

    #[test]
    fn since_says_which_versions_translate_a_field() {
        let mcd = Since::from(
            "tcp.maxConnectionDuration",
            Behaviour::MaxConnectionDuration,
        );
        assert!(!mcd.holds_for(IstioVersion::v1(14)) && mcd.holds_for(IstioVersion::v1(15)));
        assert_eq!(mcd.to_string(), "Istio ≥ 1.15 (tcp.maxConnectionDuration)");
        let old = Since::before(
            "outlierDetection.consecutiveErrors",
            Behaviour::OutlierSuccessRateOff,
        );
        assert!(old.holds_for(IstioVersion::v1(4)) && !old.holds_for(IstioVersion::v1(7)));
        assert_eq!(
            old.to_string(),
            "Istio ≤ 1.6 (outlierDetection.consecutiveErrors)"
        );
    }
}
