//! The Istio objects a scenario may carry, typed for translation to Envoy config.
//!
//! Only the fields the lab translates are accepted; an unknown field is an
//! error rather than silently ignored. The raw YAML is kept so the very same
//! objects can be applied to a real cluster.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::duration;
use crate::versions::{Behaviour, Since};

/// Kubernetes object metadata (name and namespace are all the lab reads).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct Metadata {
    pub name: String,
    #[serde(default)]
    pub namespace: Option<String>,
    #[serde(default, flatten)]
    pub other: yaml_serde::Mapping,
}

/// `networking.istio.io` DestinationRule.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DestinationRule {
    pub host: String,
    #[serde(default)]
    pub traffic_policy: Option<TrafficPolicy>,
    /// Named subsets of the service's endpoints, each a cluster `outbound|PORT|NAME|HOST`.
    #[serde(default)]
    pub subsets: Vec<Subset>,
}

/// DestinationRule `subsets[]`. The lab renders a subset's cluster with every endpoint of the
/// service: scenarios name subsets by labels every server pod carries (`app: srv-a`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Subset {
    pub name: String,
    #[serde(default)]
    pub labels: std::collections::BTreeMap<String, String>,
}

/// DestinationRule `trafficPolicy`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TrafficPolicy {
    #[serde(default)]
    pub connection_pool: Option<ConnectionPool>,
    #[serde(default)]
    pub outlier_detection: Option<OutlierDetection>,
    /// How the sidecar talks TLS to the host's endpoints; without it, auto mTLS decides
    /// ([`crate::Behaviour::AutoMtls`]).
    #[serde(default)]
    pub tls: Option<ClientTls>,
}

/// DestinationRule `trafficPolicy.tls` (networking/v1alpha3/destination_rule.proto
/// `ClientTLSSettings`), as far as the lab translates it: the mesh's own modes.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ClientTls {
    pub mode: ClientTlsMode,
    /// The SANs the server's certificate must carry; istiod's default for ISTIO_MUTUAL is
    /// the service's service accounts (`spiffe://TRUST_DOMAIN/ns/NS/sa/SA`).
    #[serde(default)]
    pub subject_alt_names: Option<Vec<String>>,
    /// The SNI sent; istiod's default for ISTIO_MUTUAL is `outbound_.PORT_.SUBSET_.HOST`.
    #[serde(default)]
    pub sni: Option<String>,
}

/// `ClientTLSSettings.mode`. SIMPLE and MUTUAL (the app's own certificates, for hosts
/// outside the mesh) are refused when read: the lab's hosts are the mesh's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ClientTlsMode {
    /// Plaintext to every endpoint.
    Disable,
    /// One-way TLS with the app's CA (refused when read).
    Simple,
    /// mTLS with the app's certificates (refused when read).
    Mutual,
    /// mTLS with the sidecar's workload certificate, to every endpoint.
    IstioMutual,
}

/// `security.istio.io` PeerAuthentication: the mTLS mode the server pods' sidecars accept.
/// The lab has one workload per service, so a `selector` is read but matches every server
/// pod; `portLevelMtls` is keyed by the app's (target) port.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PeerAuthentication {
    #[serde(default)]
    pub selector: Option<yaml_serde::Value>,
    #[serde(default)]
    pub mtls: Option<PeerMtls>,
    #[serde(default)]
    pub port_level_mtls: std::collections::BTreeMap<u16, PeerMtls>,
}

/// PeerAuthentication `mtls` (or a `portLevelMtls` entry).
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PeerMtls {
    #[serde(default)]
    pub mode: MtlsMode,
}

/// PeerAuthentication `mtls.mode`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum MtlsMode {
    /// Inherit from the parent (namespace, then mesh): PERMISSIVE when nothing sets it.
    #[default]
    Unset,
    /// Plaintext only: no TLS filter chain.
    Disable,
    /// mTLS and plaintext both accepted.
    Permissive,
    /// mTLS only: a plaintext connection matches no filter chain.
    Strict,
}

/// DestinationRule `connectionPool`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectionPool {
    #[serde(default)]
    pub tcp: Option<TcpSettings>,
    #[serde(default)]
    pub http: Option<HttpSettings>,
}

/// `connectionPool.tcp`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TcpSettings {
    #[serde(default)]
    pub max_connections: Option<u32>,
    #[serde(default)]
    pub connect_timeout: Option<String>,
    #[serde(default)]
    pub max_connection_duration: Option<String>,
}

/// `connectionPool.http`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct HttpSettings {
    #[serde(default)]
    pub http1_max_pending_requests: Option<u32>,
    #[serde(default)]
    pub http2_max_requests: Option<u32>,
    #[serde(default)]
    pub max_requests_per_connection: Option<u32>,
    #[serde(default)]
    pub max_retries: Option<u32>,
    #[serde(default)]
    pub idle_timeout: Option<String>,
    /// Whether the sidecar speaks HTTP/2 to the service's HTTP port (translated from 1.6).
    #[serde(default)]
    pub h2_upgrade_policy: Option<H2UpgradePolicy>,
}

/// `connectionPool.http.h2UpgradePolicy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum H2UpgradePolicy {
    /// meshConfig's `h2UpgradePolicy` (DO_NOT_UPGRADE in every profile's install).
    Default,
    DoNotUpgrade,
    Upgrade,
}

/// DestinationRule `outlierDetection`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct OutlierDetection {
    /// Istio ≤ 1.6: consecutive gateway errors (502, 503, 504) before ejection.
    #[serde(default)]
    pub consecutive_errors: Option<u32>,
    #[serde(default, rename = "consecutive5xxErrors")]
    pub consecutive_5xx_errors: Option<u32>,
    #[serde(default)]
    pub consecutive_gateway_errors: Option<u32>,
    #[serde(default)]
    pub interval: Option<String>,
    #[serde(default)]
    pub base_ejection_time: Option<String>,
    #[serde(default)]
    pub max_ejection_percent: Option<u32>,
    #[serde(default)]
    pub min_health_percent: Option<u32>,
}

/// `networking.istio.io` VirtualService.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct VirtualService {
    pub hosts: Vec<String>,
    #[serde(default)]
    pub http: Vec<HttpRoute>,
}

/// VirtualService `http[]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HttpRoute {
    /// The route's name: Envoy's route name (`%ROUTE_NAME%`) from Istio 1.3.
    #[serde(default)]
    pub name: Option<String>,
    /// The requests it takes (any of them); none: every request.
    #[serde(default, rename = "match")]
    pub matches: Vec<HttpMatchRequest>,
    #[serde(default)]
    pub route: Vec<RouteDestination>,
    #[serde(default)]
    pub timeout: Option<String>,
    #[serde(default)]
    pub retries: Option<HttpRetry>,
}

/// VirtualService `http[].match[]`, as far as the lab translates it: the request's path.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HttpMatchRequest {
    pub uri: UriMatch,
}

/// `match[].uri`: an exact path or a prefix (one of them, checked when read).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct UriMatch {
    #[serde(default)]
    pub exact: Option<String>,
    #[serde(default)]
    pub prefix: Option<String>,
}

/// VirtualService `http[].route[]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RouteDestination {
    pub destination: Destination,
    #[serde(default)]
    pub weight: Option<u32>,
}

/// A route destination.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Destination {
    pub host: String,
    /// A subset a DestinationRule names: the route goes to its cluster
    /// (`outbound|PORT|SUBSET|HOST`), which exists only when the DestinationRule defines it.
    #[serde(default)]
    pub subset: Option<String>,
    #[serde(default)]
    pub port: Option<PortSelector>,
}

/// A destination port.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PortSelector {
    pub number: u16,
}

/// VirtualService `http[].retries`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct HttpRetry {
    pub attempts: u32,
    #[serde(default)]
    pub per_try_timeout: Option<String>,
    #[serde(default)]
    pub retry_on: Option<String>,
}

/// `networking.istio.io` ServiceEntry.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ServiceEntry {
    pub hosts: Vec<String>,
    pub ports: Vec<ServicePort>,
    #[serde(default)]
    pub resolution: Resolution,
    #[serde(default)]
    pub location: Option<String>,
}

/// A ServiceEntry port.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ServicePort {
    pub number: u16,
    pub name: String,
    #[serde(default)]
    pub protocol: Option<String>,
}

/// ServiceEntry `resolution` and the Envoy cluster type istiod gives it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Resolution {
    /// `ORIGINAL_DST`: the address the app connected to.
    #[default]
    None,
    /// `STATIC` endpoints.
    Static,
    /// `STRICT_DNS`: every address of every answer, re-resolved each refresh.
    Dns,
    /// `LOGICAL_DNS`: the first address of the latest answer.
    DnsRoundRobin,
}

/// `networking.istio.io` Sidecar, as far as the lab translates it: the outbound traffic policy
/// of the namespace's sidecars, which overrides meshConfig's (`pilot/pkg/model/sidecar.go@1.4.0`
/// L92-95, L186-190; the lab has one namespace and reads no workload selector), and the
/// `ingress` listeners' `defaultEndpoint`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Sidecar {
    #[serde(default)]
    pub outbound_traffic_policy: Option<OutboundTrafficPolicy>,
    #[serde(default)]
    pub ingress: Vec<SidecarIngress>,
}

/// Sidecar `ingress[]`: the inbound listener of one of the pod's ports and where it sends
/// the traffic. With `defaultEndpoint: 127.0.0.1:PORT` istiod makes the port's inbound
/// cluster STATIC to that address, with no passthrough source address, in every version
/// (`v1alpha3/cluster.go@1.2.0` L410-440; `@1.10.0` L301-336, where the inbound cluster
/// otherwise became ORIGINAL_DST to the pod's address; `core/cluster.go@1.24.0` L575-661 and
/// `core/cluster_builder.go@1.24.0` L382-386, L442-451). The lab translates the
/// `127.0.0.1:PORT` form, the one that keeps an app bound to localhost reachable.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SidecarIngress {
    pub port: SidecarPort,
    #[serde(default)]
    pub default_endpoint: Option<String>,
}

/// Sidecar `ingress[].port`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SidecarPort {
    pub number: u16,
    #[serde(default)]
    pub protocol: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
}

impl SidecarIngress {
    /// The loopback port `defaultEndpoint` names, or why the lab cannot translate it.
    fn loopback_port(&self) -> Result<Option<u16>, String> {
        let Some(ep) = &self.default_endpoint else {
            return Ok(None);
        };
        ep.strip_prefix("127.0.0.1:")
            .and_then(|p| p.parse::<u16>().ok())
            .filter(|p| *p > 0)
            .map(Some)
            .ok_or_else(|| {
                format!("{ep:?}: the lab translates 127.0.0.1:PORT only (the app's loopback)")
            })
    }
}

/// Sidecar (or meshConfig) `outboundTrafficPolicy`.
#[derive(Debug, Clone, Copy, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OutboundTrafficPolicy {
    pub mode: OutboundTrafficMode,
}

/// `outboundTrafficPolicy.mode`: what a sidecar does with a destination it has no service for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OutboundTrafficMode {
    /// To `PassthroughCluster`: the `allow_any` virtual host (the installs' default).
    #[default]
    AllowAny,
    /// Refused: the `block_all` virtual host answers 502 itself.
    RegistryOnly,
}

/// `security.istio.io` AuthorizationPolicy, as far as the lab translates it: ALLOW or DENY
/// rules on the request's method, applied to the server pods' inbound listener (istiod's
/// RBAC HTTP filter: `pilot/pkg/security/authz/builder/builder.go@1.24.0` L182-283,
/// `model/model.go@1.24.0` L165-222, `model/generator.go@1.24.0` L360-369).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AuthorizationPolicy {
    #[serde(default)]
    pub action: AuthorizationAction,
    #[serde(default)]
    pub rules: Vec<AuthorizationRule>,
}

/// AuthorizationPolicy `action`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AuthorizationAction {
    #[default]
    Allow,
    Deny,
}

/// AuthorizationPolicy `rules[]`: a request matches when it matches one of `to` (every
/// request when `to` is empty).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AuthorizationRule {
    #[serde(default)]
    pub to: Vec<AuthorizationTo>,
}

/// AuthorizationPolicy `rules[].to[]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AuthorizationTo {
    pub operation: AuthorizationOperation,
}

/// AuthorizationPolicy `rules[].to[].operation`: the methods it matches (one of them).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AuthorizationOperation {
    pub methods: Vec<String>,
}

/// One Istio object of a kind the lab translates.
#[derive(Debug, Clone)]
pub enum IstioObject {
    DestinationRule(Metadata, Box<DestinationRule>),
    VirtualService(Metadata, VirtualService),
    ServiceEntry(Metadata, ServiceEntry),
    AuthorizationPolicy(Metadata, AuthorizationPolicy),
    Sidecar(Metadata, Sidecar),
    PeerAuthentication(Metadata, PeerAuthentication),
}

/// The Istio objects of a variant: typed, plus the raw YAML for `kubectl apply`.
#[derive(Debug, Clone, Default)]
pub struct IstioObjects {
    pub objects: Vec<IstioObject>,
    pub raw: Vec<yaml_serde::Value>,
}

#[derive(Deserialize)]
struct Envelope {
    #[serde(rename = "apiVersion")]
    api_version: String,
    kind: String,
    metadata: Metadata,
    spec: yaml_serde::Value,
}

impl IstioObjects {
    /// Parse a list of Kubernetes objects; `Err((field, reason))` names the element at fault.
    pub fn parse(values: &[yaml_serde::Value]) -> Result<Self, (String, String)> {
        let mut out = IstioObjects::default();
        for (i, v) in values.iter().enumerate() {
            let at = |f: &str| format!("istio[{i}]{f}");
            let env: Envelope =
                yaml_serde::from_value(v.clone()).map_err(|e| (at(""), e.to_string()))?;
            let group = if matches!(
                env.kind.as_str(),
                "AuthorizationPolicy" | "PeerAuthentication"
            ) {
                "security.istio.io/"
            } else {
                "networking.istio.io/"
            };
            if !env.api_version.starts_with(group) {
                return Err((
                    at(".apiVersion"),
                    format!("{:?} is not {group}* (kind {})", env.api_version, env.kind),
                ));
            }
            let spec = |e: yaml_serde::Error| (at(".spec"), e.to_string());
            let obj = match env.kind.as_str() {
                "DestinationRule" => {
                    let dr: DestinationRule = yaml_serde::from_value(env.spec).map_err(spec)?;
                    check_durations_dr(&dr).map_err(|(f, r)| (at(&format!(".spec.{f}")), r))?;
                    IstioObject::DestinationRule(env.metadata, Box::new(dr))
                }
                "VirtualService" => {
                    let vs: VirtualService = yaml_serde::from_value(env.spec).map_err(spec)?;
                    check_vs(&vs).map_err(|(f, r)| (at(&format!(".spec.{f}")), r))?;
                    IstioObject::VirtualService(env.metadata, vs)
                }
                "ServiceEntry" => {
                    IstioObject::ServiceEntry(env.metadata, yaml_serde::from_value(env.spec).map_err(spec)?)
                }
                "AuthorizationPolicy" => {
                    IstioObject::AuthorizationPolicy(env.metadata, yaml_serde::from_value(env.spec).map_err(spec)?)
                }
                "Sidecar" => {
                    let sc: Sidecar = yaml_serde::from_value(env.spec).map_err(spec)?;
                    for (n, ingress) in sc.ingress.iter().enumerate() {
                        ingress.loopback_port().map_err(|r| {
                            (at(&format!(".spec.ingress[{n}].defaultEndpoint")), r)
                        })?;
                    }
                    IstioObject::Sidecar(env.metadata, sc)
                }
                "PeerAuthentication" => {
                    IstioObject::PeerAuthentication(env.metadata, yaml_serde::from_value(env.spec).map_err(spec)?)
                }
                other => {
                    return Err((
                        at(".kind"),
                        format!("{other:?} is not translated; use DestinationRule, VirtualService, ServiceEntry, Sidecar, AuthorizationPolicy or PeerAuthentication"),
                    ))
                }
            };
            out.objects.push(obj);
            out.raw.push(v.clone());
        }
        Ok(out)
    }

    /// The AuthorizationPolicies, with their names (they apply to every server pod: the lab
    /// has one workload per service and reads no selector).
    pub fn authorization_policies(
        &self,
    ) -> impl Iterator<Item = (&Metadata, &AuthorizationPolicy)> {
        self.objects.iter().filter_map(|o| match o {
            IstioObject::AuthorizationPolicy(m, ap) => Some((m, ap)),
            _ => None,
        })
    }

    /// The outbound traffic policy of the client's sidecar: a Sidecar's, else the install's
    /// meshConfig (ALLOW_ANY in every profile's install).
    pub fn outbound_traffic_mode(&self) -> OutboundTrafficMode {
        self.objects
            .iter()
            .rev()
            .find_map(|o| match o {
                IstioObject::Sidecar(_, sc) => sc.outbound_traffic_policy.map(|p| p.mode),
                _ => None,
            })
            .unwrap_or_default()
    }

    /// The mTLS mode the server pods' sidecars accept on the app's `target_port`: the first
    /// PeerAuthentication's (the oldest wins) port-level mode, else its `mtls.mode`, else the
    /// mesh's default PERMISSIVE; an UNSET mode inherits (`ComposePeerAuthentication` and
    /// `GetMutualTLSModeForPort`, pilot/pkg/security/authn/policy_applier.go@1.24.0 L337-380).
    pub fn peer_mtls_mode(&self, target_port: u16) -> MtlsMode {
        let mode = self.objects.iter().find_map(|o| match o {
            IstioObject::PeerAuthentication(_, pa) => pa
                .port_level_mtls
                .get(&target_port)
                .map(|m| m.mode)
                .filter(|m| *m != MtlsMode::Unset)
                .or(pa.mtls.map(|m| m.mode).filter(|m| *m != MtlsMode::Unset)),
            _ => None,
        });
        mode.unwrap_or(MtlsMode::Permissive)
    }

    /// Whether any object sets TLS (a PeerAuthentication, a DestinationRule's `tls`): the
    /// sidecars then need workload certificates.
    pub fn sets_tls(&self) -> bool {
        self.objects.iter().any(|o| match o {
            IstioObject::PeerAuthentication(..) => true,
            IstioObject::DestinationRule(_, dr) => {
                dr.traffic_policy.as_ref().is_some_and(|t| t.tls.is_some())
            }
            _ => false,
        })
    }

    /// These objects and then `more`.
    pub fn with(&self, more: &IstioObjects) -> IstioObjects {
        IstioObjects {
            objects: self.objects.iter().chain(&more.objects).cloned().collect(),
            raw: self.raw.iter().chain(&more.raw).cloned().collect(),
        }
    }

    /// The `127.0.0.1` port a Sidecar's ingress listener for the pod's `port` sends its
    /// traffic to (`defaultEndpoint`), if one does.
    pub fn ingress_default_endpoint(&self, port: u16) -> Option<u16> {
        self.objects.iter().find_map(|o| match o {
            IstioObject::Sidecar(_, sc) => sc
                .ingress
                .iter()
                .filter(|i| i.port.number == port)
                .find_map(|i| i.loopback_port().ok().flatten()),
            _ => None,
        })
    }

    /// The DestinationRule whose `host` is `host`, if any.
    pub fn destination_rule(&self, host: &str) -> Option<&DestinationRule> {
        self.objects.iter().find_map(|o| match o {
            IstioObject::DestinationRule(_, dr) if host_matches(&dr.host, host) => Some(&**dr),
            _ => None,
        })
    }

    /// The http routes of the VirtualService for `host`, in order, if there is one.
    pub fn http_routes(&self, host: &str) -> Option<&[HttpRoute]> {
        self.objects.iter().find_map(|o| match o {
            IstioObject::VirtualService(_, vs)
                if vs.hosts.iter().any(|h| host_matches(h, host)) =>
            {
                Some(vs.http.as_slice())
            }
            _ => None,
        })
    }

    /// The Istio fields and values these objects use that not every istiod translated, each
    /// with the versions that did (the rows of [`crate::versions::TABLE`]).
    pub fn requires(&self) -> Vec<Since> {
        let mut out = Vec::new();
        for o in &self.objects {
            match o {
                IstioObject::DestinationRule(_, dr) => {
                    let Some(tp) = &dr.traffic_policy else {
                        continue;
                    };
                    let tcp = tp.connection_pool.as_ref().and_then(|p| p.tcp.as_ref());
                    let http = tp.connection_pool.as_ref().and_then(|p| p.http.as_ref());
                    if http.is_some_and(|h| h.h2_upgrade_policy.is_some()) {
                        out.push(Since::from(
                            "connectionPool.http.h2UpgradePolicy",
                            Behaviour::H2UpgradePolicy,
                        ));
                    }
                    if tcp.is_some_and(|t| t.max_connection_duration.is_some()) {
                        out.push(Since::from(
                            "connectionPool.tcp.maxConnectionDuration",
                            Behaviour::MaxConnectionDuration,
                        ));
                    }
                    if let Some(od) = &tp.outlier_detection {
                        if od.consecutive_5xx_errors.is_some() {
                            out.push(Since::from(
                                "outlierDetection.consecutive5xxErrors",
                                Behaviour::Consecutive5xxErrors,
                            ));
                        }
                        if od.consecutive_gateway_errors.is_some() {
                            out.push(Since::from(
                                "outlierDetection.consecutiveGatewayErrors",
                                Behaviour::Consecutive5xxErrors,
                            ));
                        }
                        if od.consecutive_errors.is_some() {
                            out.push(Since::before(
                                "outlierDetection.consecutiveErrors",
                                Behaviour::OutlierSuccessRateOff,
                            ));
                        }
                    }
                }
                IstioObject::AuthorizationPolicy(..) => {
                    out.push(Since::from(
                        "AuthorizationPolicy",
                        Behaviour::AuthorizationPolicy,
                    ));
                }
                IstioObject::PeerAuthentication(..) => {
                    out.push(Since::from(
                        "PeerAuthentication",
                        Behaviour::PeerAuthentication,
                    ));
                }
                IstioObject::Sidecar(_, sc) if sc.outbound_traffic_policy.is_some() => {
                    out.push(Since::from(
                        "Sidecar outboundTrafficPolicy",
                        Behaviour::SidecarOutboundTrafficPolicy,
                    ));
                }
                IstioObject::ServiceEntry(_, se) if se.resolution == Resolution::DnsRoundRobin => {
                    out.push(Since::from(
                        "ServiceEntry resolution: DNS_ROUND_ROBIN",
                        Behaviour::DnsRoundRobin,
                    ));
                }
                _ => {}
            }
        }
        out
    }

    /// The ServiceEntry naming `host`, if any.
    pub fn service_entry(&self, host: &str) -> Option<&ServiceEntry> {
        self.objects.iter().find_map(|o| match o {
            IstioObject::ServiceEntry(_, se) if se.hosts.iter().any(|h| host_matches(h, host)) => {
                Some(se)
            }
            _ => None,
        })
    }
}

/// Istio host matching as the lab needs it: exact, or the short name of a cluster-local FQDN.
fn host_matches(pattern: &str, host: &str) -> bool {
    pattern == host || host.split('.').next() == Some(pattern)
}

/// Parse an optional Istio duration field.
pub fn opt_duration(v: &Option<String>) -> Option<Duration> {
    v.as_deref().and_then(|s| duration::parse(s).ok())
}

fn check(field: &str, v: &Option<String>) -> Result<(), (String, String)> {
    match v {
        Some(s) => duration::parse(s)
            .map(|_| ())
            .map_err(|r| (field.to_string(), r)),
        None => Ok(()),
    }
}

fn check_durations_dr(dr: &DestinationRule) -> Result<(), (String, String)> {
    let Some(tp) = &dr.traffic_policy else {
        return Ok(());
    };
    if let Some(tls) = &tp.tls {
        let refused = match tls.mode {
            ClientTlsMode::Simple => Some("SIMPLE"),
            ClientTlsMode::Mutual => Some("MUTUAL"),
            ClientTlsMode::Disable | ClientTlsMode::IstioMutual => None,
        };
        if let Some(mode) = refused {
            return Err((
                "trafficPolicy.tls.mode".into(),
                format!("{mode} is not translated (it takes the app's own certificates); use DISABLE or ISTIO_MUTUAL"),
            ));
        }
    }
    if let Some(cp) = &tp.connection_pool {
        if let Some(tcp) = &cp.tcp {
            check(
                "trafficPolicy.connectionPool.tcp.connectTimeout",
                &tcp.connect_timeout,
            )?;
            check(
                "trafficPolicy.connectionPool.tcp.maxConnectionDuration",
                &tcp.max_connection_duration,
            )?;
        }
        if let Some(http) = &cp.http {
            check(
                "trafficPolicy.connectionPool.http.idleTimeout",
                &http.idle_timeout,
            )?;
        }
    }
    if let Some(od) = &tp.outlier_detection {
        check("trafficPolicy.outlierDetection.interval", &od.interval)?;
        check(
            "trafficPolicy.outlierDetection.baseEjectionTime",
            &od.base_ejection_time,
        )?;
    }
    Ok(())
}

fn check_vs(vs: &VirtualService) -> Result<(), (String, String)> {
    for (i, r) in vs.http.iter().enumerate() {
        for (j, m) in r.matches.iter().enumerate() {
            if m.uri.exact.is_some() == m.uri.prefix.is_some() {
                return Err((
                    format!("http[{i}].match[{j}].uri"),
                    "give one of exact or prefix".into(),
                ));
            }
        }
        check(&format!("http[{i}].timeout"), &r.timeout)?;
        if let Some(retry) = &r.retries {
            check(
                &format!("http[{i}].retries.perTryTimeout"),
                &retry.per_try_timeout,
            )?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(s: &str) -> Vec<yaml_serde::Value> {
        yaml_serde::from_str(s).unwrap()
    }

    #[test]
    fn parses_a_destination_rule_and_virtual_service() {
        let objs = IstioObjects::parse(&yaml(
            r#"
- apiVersion: networking.istio.io/v1beta1
  kind: DestinationRule
  metadata: {name: srv-a}
  spec:
    host: srv-a.default.svc.cluster.local
    trafficPolicy:
      connectionPool:
        http: {idleTimeout: 15ms, maxRequestsPerConnection: 10}
- apiVersion: networking.istio.io/v1beta1
  kind: VirtualService
  metadata: {name: srv-a}
  spec:
    hosts: [srv-a]
    http:
    - match: [{uri: {prefix: /api}}, {uri: {exact: /health}}]
      route: [{destination: {host: srv-a}}]
      retries: {attempts: 3, retryOn: reset}
"#,
        ))
        .unwrap();
        let dr = objs
            .destination_rule("srv-a.default.svc.cluster.local")
            .unwrap();
        let http = dr
            .traffic_policy
            .as_ref()
            .unwrap()
            .connection_pool
            .as_ref()
            .unwrap()
            .http
            .as_ref()
            .unwrap();
        assert_eq!(http.max_requests_per_connection, Some(10));
        let route = &objs.http_routes("srv-a.default.svc.cluster.local").unwrap()[0];
        assert_eq!(
            route.retries.as_ref().unwrap().retry_on.as_deref(),
            Some("reset")
        );
        assert_eq!(
            route.matches.iter().map(|m| &m.uri).collect::<Vec<_>>(),
            [
                &UriMatch {
                    exact: None,
                    prefix: Some("/api".into())
                },
                &UriMatch {
                    exact: Some("/health".into()),
                    prefix: None
                }
            ]
        );
        assert_eq!(objs.raw.len(), 2);
    }

    #[test]
    fn unknown_fields_and_bad_durations_name_the_field() {
        let err = IstioObjects::parse(&yaml(
            "- {apiVersion: networking.istio.io/v1beta1, kind: DestinationRule, metadata: {name: x}, spec: {host: x, trafficPolicy: {connectionPool: {http: {idleTimeout: '15'}}}}}",
        ))
        .unwrap_err();
        assert_eq!(
            err.0,
            "istio[0].spec.trafficPolicy.connectionPool.http.idleTimeout"
        );
        let err = IstioObjects::parse(&yaml(
            "- {apiVersion: networking.istio.io/v1beta1, kind: DestinationRule, metadata: {name: x}, spec: {host: x, trafficPolicy: {loadBalancer: {}}}}",
        ))
        .unwrap_err();
        assert!(err.1.contains("loadBalancer"), "{err:?}");
        let err = IstioObjects::parse(&yaml(
            "- {apiVersion: v1, kind: Service, metadata: {name: x}, spec: {}}",
        ))
        .unwrap_err();
        assert_eq!(err.0, "istio[0].apiVersion");
    }
}
