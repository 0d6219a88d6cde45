//! The xDS resources of one sidecar, as istiod serves them, made from the lab's rendering.
//!
//! The renderer (`mesh5xx-sidecar`) writes a sidecar's whole configuration as one static
//! bootstrap. istiod serves the same objects over ADS with two indirections, followed here
//! (istio/istio `pilot/pkg/networking/core/cluster_builder.go@1.24.0` L693-709,
//! `listener_builder.go@1.24.0` L350-366): outbound service clusters are EDS clusters whose
//! endpoints come as `ClusterLoadAssignment`s named after the cluster, and the outbound HTTP
//! listener's routes come by RDS under the route configuration's name (`80`); inbound
//! listeners keep their routes inline, inbound, DNS and ORIGINAL_DST clusters their own
//! endpoints. Both config sources are ADS with `initial_fetch_timeout: 0s`.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use serde_json::{json, Value};

/// The four resource types a sidecar subscribes to, in istiod's push order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TypeUrl {
    Cluster,
    Endpoint,
    Listener,
    Route,
}

impl TypeUrl {
    /// Push order: CDS, EDS, LDS, RDS (`pilot/pkg/xds/ads.go@1.24.0` L500, `PushOrder`).
    pub const ALL: [TypeUrl; 4] = [
        TypeUrl::Cluster,
        TypeUrl::Endpoint,
        TypeUrl::Listener,
        TypeUrl::Route,
    ];

    /// The protobuf message of a resource of this type.
    pub fn message(self) -> &'static str {
        match self {
            TypeUrl::Cluster => "envoy.config.cluster.v3.Cluster",
            TypeUrl::Endpoint => "envoy.config.endpoint.v3.ClusterLoadAssignment",
            TypeUrl::Listener => "envoy.config.listener.v3.Listener",
            TypeUrl::Route => "envoy.config.route.v3.RouteConfiguration",
        }
    }

    /// The type URL on the wire.
    pub fn url(self) -> String {
        type_url(self.message())
    }

    /// The type of a type URL, if it is one of the four.
    pub fn parse(url: &str) -> Option<Self> {
        let message = url.strip_prefix(TYPE_URL_PREFIX)?;
        Self::ALL.into_iter().find(|t| t.message() == message)
    }

    /// CDS and LDS responses carry every resource (a missing one is removed); EDS and RDS
    /// responses carry the ones subscribed to.
    pub fn is_state_of_the_world(self) -> bool {
        matches!(self, TypeUrl::Cluster | TypeUrl::Listener)
    }

    /// The short name used in records: `cds`, `eds`, `lds`, `rds`.
    pub fn short(self) -> &'static str {
        match self {
            TypeUrl::Cluster => "cds",
            TypeUrl::Endpoint => "eds",
            TypeUrl::Listener => "lds",
            TypeUrl::Route => "rds",
        }
    }
}

const TYPE_URL_PREFIX: &str = "type.googleapis.com/";

/// The `Any` type URL of protobuf message `message`.
pub fn type_url(message: &str) -> String {
    format!("{TYPE_URL_PREFIX}{message}")
}

/// One sidecar's resources: by type, by name, in Envoy's JSON.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Resources {
    pub clusters: BTreeMap<String, Value>,
    pub endpoints: BTreeMap<String, Value>,
    pub listeners: BTreeMap<String, Value>,
    pub routes: BTreeMap<String, Value>,
}

/// A bootstrap the conversion cannot read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("rendered bootstrap: {0}")]
pub struct BootstrapError(String);

/// `{ads: {}, initial_fetch_timeout: 0s, resource_api_version: V3}`, istiod's config source.
fn ads_source() -> Value {
    json!({"ads": {}, "initial_fetch_timeout": "0s", "resource_api_version": "V3"})
}

impl Resources {
    /// The resources of type `t`.
    pub fn of(&self, t: TypeUrl) -> &BTreeMap<String, Value> {
        match t {
            TypeUrl::Cluster => &self.clusters,
            TypeUrl::Endpoint => &self.endpoints,
            TypeUrl::Listener => &self.listeners,
            TypeUrl::Route => &self.routes,
        }
    }

    /// The resources istiod would serve for the sidecar whose static bootstrap is `bootstrap`.
    pub fn from_bootstrap(bootstrap: &Value) -> Result<Self, BootstrapError> {
        let statics = &bootstrap["static_resources"];
        let mut out = Resources::default();
        for c in list(statics, "clusters")? {
            let name = name_of(c, "cluster")?;
            let mut c = c.clone();
            if c["type"] == "STATIC" && name.starts_with("outbound|") {
                let cla = c
                    .as_object_mut()
                    .and_then(|m| m.remove("load_assignment"))
                    .ok_or_else(|| {
                        BootstrapError(format!("cluster {name} has no load_assignment"))
                    })?;
                c["type"] = json!("EDS");
                c["eds_cluster_config"] = json!({"service_name": name, "eds_config": ads_source()});
                out.endpoints.insert(name.clone(), cla);
            }
            out.clusters.insert(name, c);
        }
        for l in list(statics, "listeners")? {
            let name = name_of(l, "listener")?;
            let mut l = l.clone();
            if name != "virtualInbound" {
                for chain in l["filter_chains"].as_array_mut().into_iter().flatten() {
                    for f in chain["filters"].as_array_mut().into_iter().flatten() {
                        let hcm = &mut f["typed_config"];
                        let Some(rc) = hcm.as_object_mut().and_then(|m| m.remove("route_config"))
                        else {
                            continue;
                        };
                        let rname = name_of(&rc, "route configuration")?;
                        hcm["rds"] =
                            json!({"config_source": ads_source(), "route_config_name": rname});
                        out.routes.insert(rname, rc);
                    }
                }
            }
            out.listeners.insert(name, l);
        }
        Ok(out)
    }

    /// Replace the endpoints of EDS cluster `cluster` (a pod came, went or moved), each
    /// labelled as the cluster's transport socket matches need ([`endpoint_metadata`]).
    pub fn set_endpoints(&mut self, cluster: &str, addrs: &[SocketAddr]) -> bool {
        if !self.endpoints.contains_key(cluster) {
            return false;
        }
        let mut cla = load_assignment(cluster, addrs);
        if let Some(metadata) = self.clusters.get(cluster).and_then(endpoint_metadata) {
            for ep in cla["endpoints"][0]["lb_endpoints"]
                .as_array_mut()
                .into_iter()
                .flatten()
            {
                ep["metadata"] = metadata.clone();
            }
        }
        self.endpoints.insert(cluster.to_string(), cla);
        true
    }
}

/// The metadata of every endpoint of `cluster`: the labels its first transport socket
/// match asks for, if it has matches (auto mTLS's `tlsMode: istio`). istiod labels an
/// endpoint so when its pod's `security.istio.io/tlsMode` says it has a sidecar
/// (`AppendLbEndpointMetadata`, pilot/pkg/networking/util/util.go@1.24.0 L457-474), and
/// every lab endpoint has one.
fn endpoint_metadata(cluster: &Value) -> Option<Value> {
    let labels = &cluster["transport_socket_matches"].as_array()?.first()?["match"];
    labels
        .as_object()
        .is_some_and(|l| !l.is_empty())
        .then(|| json!({"filter_metadata": {"envoy.transport_socket_match": labels}}))
}

/// A `ClusterLoadAssignment` of `addrs`, one locality.
pub fn load_assignment(cluster: &str, addrs: &[SocketAddr]) -> Value {
    let eps: Vec<Value> = addrs
        .iter()
        .map(|a| json!({"endpoint": {"address": {"socket_address": {"address": a.ip().to_string(), "port_value": a.port()}}}}))
        .collect();
    json!({"cluster_name": cluster, "endpoints": [{"lb_endpoints": eps}]})
}

/// How a sidecar's ADS stream speaks: state of the world (`GRPC`) or incremental
/// (`DELTA_GRPC`). pilot-agent writes `DELTA_GRPC` when `ISTIO_DELTA_XDS` is on, by default
/// from 1.22 (istio/istio `pkg/bootstrap/config.go@1.22.0` L95-98,
/// `pilot/pkg/features/experimental.go@1.22.0` L168-170).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdsApi {
    /// `StreamAggregatedResources`.
    Grpc,
    /// `DeltaAggregatedResources`.
    DeltaGrpc,
}

impl AdsApi {
    /// `ads_config.api_type`.
    pub fn api_type(self) -> &'static str {
        match self {
            AdsApi::Grpc => "GRPC",
            AdsApi::DeltaGrpc => "DELTA_GRPC",
        }
    }
}

/// The bootstrap pilot-agent would give the sidecar of `bootstrap`: its node, admin and
/// runtime, and instead of the static resources an ADS subscription over `api` to the
/// control plane at `xds` over a cluster named `xds-grpc` (istio/istio
/// `tools/packaging/common/envoy_bootstrap.json@1.22.0` L204-225: `ads_config.api_type`
/// `{{ .xds_type }}`, V3; `cds_config`/`lds_config` from ADS).
pub fn ads_bootstrap(bootstrap: &Value, xds: SocketAddr, api: AdsApi) -> Value {
    let mut b = bootstrap.clone();
    b["static_resources"] = json!({"clusters": [{
        "name": "xds-grpc",
        "type": "STATIC",
        "connect_timeout": "1s",
        "load_assignment": load_assignment("xds-grpc", &[xds]),
        "typed_extension_protocol_options": {"envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
            "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
            "explicit_http_config": {"http2_protocol_options": {}}
        }}
    }]});
    b["dynamic_resources"] = json!({
        "ads_config": {
            "api_type": api.api_type(),
            "transport_api_version": "V3",
            "set_node_on_first_message_only": true,
            "grpc_services": [{"envoy_grpc": {"cluster_name": "xds-grpc"}}]
        },
        "cds_config": {"ads": {}, "initial_fetch_timeout": "0s", "resource_api_version": "V3"},
        "lds_config": {"ads": {}, "initial_fetch_timeout": "0s", "resource_api_version": "V3"}
    });
    b
}

fn list<'a>(v: &'a Value, key: &str) -> Result<&'a Vec<Value>, BootstrapError> {
    match &v[key] {
        Value::Null => Ok(const { &Vec::new() }),
        Value::Array(a) => Ok(a),
        other => Err(BootstrapError(format!(
            "static_resources.{key} is {other}, not a list"
        ))),
    }
}

fn name_of(v: &Value, what: &str) -> Result<String, BootstrapError> {
    v["name"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| BootstrapError(format!("a {what} without a name")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bootstrap() -> Value {
        json!({"node": {"id": "sidecar~127.0.0.1~client.default~default.svc.cluster.local"},
        "static_resources": {
          "clusters": [
            {"name": "outbound|80||srv-a.default.svc.cluster.local", "type": "STATIC",
             "load_assignment": load_assignment("outbound|80||srv-a.default.svc.cluster.local", &["127.0.0.1:1001".parse().unwrap()])},
            {"name": "PassthroughCluster", "type": "ORIGINAL_DST"},
            {"name": "inbound|8080||", "type": "STATIC", "load_assignment": load_assignment("inbound|8080||", &[])}
          ],
          "listeners": [
            {"name": "0.0.0.0_80", "filter_chains": [{"filters": [{"name": "hcm", "typed_config": {"stat_prefix": "x", "route_config": {"name": "80", "virtual_hosts": []}}}]}]},
            {"name": "virtualInbound", "filter_chains": [{"filters": [{"name": "hcm", "typed_config": {"route_config": {"name": "inbound|8080||"}}}]}]}
          ]}})
    }

    #[test]
    fn outbound_clusters_go_eds_and_outbound_routes_rds() {
        let r = Resources::from_bootstrap(&bootstrap()).unwrap();
        let svc = "outbound|80||srv-a.default.svc.cluster.local";
        assert_eq!(r.clusters[svc]["type"], "EDS");
        assert_eq!(r.clusters[svc]["eds_cluster_config"]["service_name"], svc);
        assert!(r.clusters[svc].get("load_assignment").is_none());
        assert_eq!(
            r.endpoints[svc]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]
                ["socket_address"]["port_value"],
            1001
        );
        // Inbound and passthrough clusters keep their own endpoints.
        assert_eq!(r.clusters["inbound|8080||"]["type"], "STATIC");
        assert_eq!(r.endpoints.len(), 1);
        let hcm = &r.listeners["0.0.0.0_80"]["filter_chains"][0]["filters"][0]["typed_config"];
        assert_eq!(hcm["rds"]["route_config_name"], "80");
        assert!(hcm.get("route_config").is_none());
        assert_eq!(r.routes["80"]["name"], "80");
        // Inbound routes stay inline.
        assert!(
            r.listeners["virtualInbound"]["filter_chains"][0]["filters"][0]["typed_config"]
                .get("route_config")
                .is_some()
        );
        assert_eq!(r.routes.len(), 1);
    }

    #[test]
    fn endpoints_change_only_for_eds_clusters() {
        let mut r = Resources::from_bootstrap(&bootstrap()).unwrap();
        let svc = "outbound|80||srv-a.default.svc.cluster.local";
        assert!(r.set_endpoints(svc, &["127.0.0.1:2002".parse().unwrap()]));
        assert_eq!(
            r.endpoints[svc]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]
                ["socket_address"]["port_value"],
            2002
        );
        assert!(!r.set_endpoints("inbound|8080||", &[]));
        // No transport socket matches: the endpoints carry no labels.
        assert!(r.endpoints[svc]["endpoints"][0]["lb_endpoints"][0]
            .get("metadata")
            .is_none());
    }

    #[test]
    fn pushed_endpoints_carry_the_labels_auto_mtls_matches_on() {
        let mut r = Resources::from_bootstrap(&bootstrap()).unwrap();
        let svc = "outbound|80||srv-a.default.svc.cluster.local";
        let istio = json!({"tlsMode": "istio"});
        r.clusters.get_mut(svc).unwrap()["transport_socket_matches"] = json!([
            {"name": "tlsMode-istio", "match": istio, "transport_socket": {}},
            {"name": "tlsMode-disabled", "match": {}, "transport_socket": {}},
        ]);
        let addrs = [
            "127.0.0.1:2002".parse().unwrap(),
            "127.0.0.1:2003".parse().unwrap(),
        ];
        assert!(r.set_endpoints(svc, &addrs));
        let eps = r.endpoints[svc]["endpoints"][0]["lb_endpoints"]
            .as_array()
            .unwrap();
        assert_eq!(eps.len(), 2);
        for ep in eps {
            assert_eq!(
                ep["metadata"]["filter_metadata"]["envoy.transport_socket_match"],
                istio
            );
        }
    }

    #[test]
    fn a_bootstrap_without_names_is_refused() {
        let e = Resources::from_bootstrap(
            &json!({"static_resources": {"clusters": [{"type": "STATIC"}]}}),
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "rendered bootstrap: a cluster without a name"
        );
    }

    #[test]
    fn the_ads_bootstrap_keeps_the_node_and_subscribes_over_ads() {
        let xds = "127.0.0.1:15010".parse().unwrap();
        let b = ads_bootstrap(&bootstrap(), xds, AdsApi::Grpc);
        assert_eq!(b["node"], bootstrap()["node"]);
        assert_eq!(b["static_resources"]["clusters"][0]["name"], "xds-grpc");
        assert!(b["static_resources"].get("listeners").is_none());
        assert_eq!(b["dynamic_resources"]["ads_config"]["api_type"], "GRPC");
        let d = ads_bootstrap(&bootstrap(), xds, AdsApi::DeltaGrpc);
        assert_eq!(
            d["dynamic_resources"]["ads_config"]["api_type"],
            "DELTA_GRPC"
        );
    }
}
