//! mTLS between sidecars: the client's ISTIO_MUTUAL upstream TLS context (a DestinationRule
//! `tls`, or auto mTLS) and the server's inbound filter chains for its PeerAuthentication
//! mode, with the workload certificates as the SDS secrets `default` and `ROOTCA`
//! ([`crate::certs`]).

use mesh5xx_scenario::istio::{ClientTlsMode, MtlsMode};
use mesh5xx_scenario::model::Service;
use mesh5xx_scenario::Behaviour;
use serde_json::{json, Map, Value};

use super::SidecarSpec;
use crate::certs::{service_account, spiffe_id, WorkloadSecrets};

/// The ALPN the client offers on an in-mesh HTTP/1.1 cluster (`ALPNInMeshWithMxc`:
/// pilot/pkg/networking/util/util.go@1.24.0 L113; core/cluster_tls.go@1.24.0 L186-192), in
/// every era with workload certificates (from 1.5: v1alpha3/cluster.go@1.5.0 L1188-1194,
/// `PILOT_ENABLE_TCP_METADATA_EXCHANGE` on by default, pilot/pkg/features/pilot.go@1.5.0
/// L206-209).
const ALPN_IN_MESH: &[&str] = &["istio-peer-exchange", "istio"];

/// The ALPN on an in-mesh HTTP/2 cluster: `ALPNInMeshH2WithMxc` from 1.7, `ALPNInMeshH2`
/// before ([`Behaviour::AlpnH2PeerExchange`]).
fn alpn_in_mesh_h2(spec: &SidecarSpec<'_>) -> &'static [&'static str] {
    if spec.profile.has(Behaviour::AlpnH2PeerExchange) {
        &["istio-peer-exchange", "istio", "h2"]
    } else {
        &["istio", "h2"]
    }
}

/// What a PERMISSIVE server's TLS chain matches (`allIstioMtlsALPNs`,
/// core/listener.go@1.24.0 L92).
const ALL_ISTIO_MTLS_ALPNS: [&str; 5] = [
    "istio",
    "istio-peer-exchange",
    "istio-http/1.0",
    "istio-http/1.1",
    "istio-h2",
];

/// The server's ciphers (`SupportedCiphers`, pilot/pkg/security/authn/utils/utils.go@1.24.0
/// L28-36).
const SUPPORTED_CIPHERS: [&str; 6] = [
    "ECDHE-ECDSA-AES256-GCM-SHA384",
    "ECDHE-RSA-AES256-GCM-SHA384",
    "ECDHE-ECDSA-AES128-GCM-SHA256",
    "ECDHE-RSA-AES128-GCM-SHA256",
    "AES256-GCM-SHA384",
    "AES128-GCM-SHA256",
];

/// An SDS secret read from `path` (pilot-agent serves the same names over `sds-grpc`:
/// pilot/pkg/model/authentication.go@1.24.0 ConstructSdsSecretConfig).
fn sds(name: &str, path: &std::path::Path) -> Value {
    json!({"name": name, "sds_config": {"path_config_source": {"path": path.display().to_string()}, "resource_api_version": "V3"}})
}

fn tls_params(spec: &SidecarSpec<'_>, ciphers: bool) -> Value {
    let mut p = Map::new();
    p.insert("tls_minimum_protocol_version".into(), json!("TLSv1_2"));
    if spec.profile.has(Behaviour::TlsV13Params) {
        p.insert("tls_maximum_protocol_version".into(), json!("TLSv1_3"));
    }
    if ciphers {
        p.insert("cipher_suites".into(), json!(SUPPORTED_CIPHERS));
    }
    Value::Object(p)
}

/// The client's ISTIO_MUTUAL transport socket toward `svc` (`subset`'s cluster if any), on an
/// HTTP/2 cluster if `http2`: core/cluster_tls.go@1.24.0 L157-193, L378-387, L426-446.
fn istio_mutual(
    spec: &SidecarSpec<'_>,
    secrets: &WorkloadSecrets,
    (svc, subset, http2): (&Service, Option<&str>, bool),
    sans: Option<&[String]>,
    sni: Option<&str>,
) -> Value {
    let sans: Vec<String> = sans.map_or_else(
        || vec![spiffe_id("default", service_account(svc))],
        <[String]>::to_vec,
    );
    let sni = sni.map_or_else(
        || {
            format!(
                "outbound_.{}_.{}_.{}",
                svc.port,
                subset.unwrap_or(""),
                svc.host
            )
        },
        str::to_string,
    );
    let mut common = Map::new();
    if spec.profile.has(Behaviour::TlsV13Params) {
        common.insert("tls_params".into(), tls_params(spec, false));
    }
    let alpn = if http2 {
        alpn_in_mesh_h2(spec)
    } else {
        ALPN_IN_MESH
    };
    common.insert("alpn_protocols".into(), json!(alpn));
    common.insert(
        "tls_certificate_sds_secret_configs".into(),
        json!([sds("default", &secrets.default)]),
    );
    let matchers: Vec<Value> = sans.iter().map(|s| json!({"exact": s})).collect();
    common.insert(
        "combined_validation_context".into(),
        json!({
            "default_validation_context": {"match_subject_alt_names": matchers},
            "validation_context_sds_secret_config": sds("ROOTCA", &secrets.root),
        }),
    );
    json!({
        "name": "envoy.transport_sockets.tls",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext",
            "common_tls_context": common,
            "sni": sni,
        }
    })
}

/// Whether the client's cluster toward `svc` uses auto mTLS: set its transport socket (or
/// socket matches) as istiod does. A DestinationRule `tls` is used as given (DISABLE: none;
/// ISTIO_MUTUAL: to every endpoint); without one, auto mTLS ([`Behaviour::AutoMtls`]) sends
/// ISTIO_MUTUAL to endpoints labelled `tlsMode: istio` unless the server's PeerAuthentication
/// is DISABLE (core/cluster_tls.go@1.24.0 L95-133, L398-456). Returns whether the endpoints
/// must carry the `tlsMode: istio` label (every lab endpoint has a sidecar).
pub fn apply_upstream(
    c: &mut Map<String, Value>,
    spec: &SidecarSpec<'_>,
    svc: &Service,
    subset: Option<&str>,
) -> bool {
    let Some(secrets) = &spec.secrets else {
        return false;
    };
    // Its ALPN names HTTP/2 (asked at core/cluster_tls.go@1.24.0 L179).
    let http2 = super::cluster::is_http2(c);
    let tls = spec
        .istio
        .destination_rule(&svc.host)
        .and_then(|d| d.traffic_policy.as_ref())
        .and_then(|t| t.tls.as_ref());
    match tls {
        Some(t) if t.mode == ClientTlsMode::IstioMutual => {
            let socket = istio_mutual(
                spec,
                secrets,
                (svc, subset, http2),
                t.subject_alt_names.as_deref(),
                t.sni.as_deref(),
            );
            c.insert("transport_socket".into(), socket);
            false
        }
        Some(_) => false,
        None if spec.profile.has(Behaviour::AutoMtls)
            && spec.istio.peer_mtls_mode(svc.target_port) != MtlsMode::Disable =>
        {
            let socket = istio_mutual(spec, secrets, (svc, subset, http2), None, None);
            c.insert(
                "transport_socket_matches".into(),
                json!([
                    {"name": "tlsMode-istio", "match": {"tlsMode": "istio"}, "transport_socket": socket},
                    {"name": "tlsMode-disabled", "match": {}, "transport_socket": {
                        "name": "envoy.transport_sockets.raw_buffer",
                        "typed_config": {"@type": "type.googleapis.com/envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer"}
                    }},
                ]),
            );
            true
        }
        None => false,
    }
}

/// The label auto mTLS matches on an endpoint with a sidecar.
pub fn istio_endpoint_metadata() -> Value {
    json!({"filter_metadata": {"envoy.transport_socket_match": {"tlsMode": "istio"}}})
}

/// The server's DownstreamTlsContext for an HTTP port (`BuildInboundTLS`,
/// pilot/pkg/security/authn/utils/utils.go@1.24.0 L40-91).
fn downstream(spec: &SidecarSpec<'_>, secrets: &WorkloadSecrets) -> Value {
    json!({
        "name": "envoy.transport_sockets.tls",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
            "common_tls_context": {
                "alpn_protocols": ["h2", "http/1.1"],
                "tls_params": tls_params(spec, true),
                "combined_validation_context": {
                    "default_validation_context": {},
                    "validation_context_sds_secret_config": sds("ROOTCA", &secrets.root),
                },
                "tls_certificate_sds_secret_configs": [sds("default", &secrets.default)],
            },
            "require_client_certificate": true,
        }
    })
}

/// Turn the inbound listener's one plaintext chain into the chains istiod renders for the
/// server's PeerAuthentication mode on an HTTP port (core/filterchain_options.go@1.24.0
/// L86-182: STRICT a TLS chain, PERMISSIVE a TLS chain on Istio's ALPNs and a plaintext one,
/// DISABLE a plaintext one), with a TLS inspector when a chain matches TLS
/// (`populateListenerFilters`, core/listener_inbound.go@1.24.0 L529-565).
pub fn inbound(l: &mut Value, spec: &SidecarSpec<'_>, target_port: u16) {
    let Some(secrets) = &spec.secrets else {
        return;
    };
    let plain = l["filter_chains"][0].clone();
    let with = |m: Value, tls: bool| {
        let mut chain = plain.clone();
        // Keep what the chain already matches (a captured pod's destination port).
        let mut fcm = chain["filter_chain_match"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        fcm.extend(m.as_object().cloned().unwrap_or_default());
        chain["filter_chain_match"] = Value::Object(fcm);
        if tls {
            chain["transport_socket"] = downstream(spec, secrets);
        }
        chain
    };
    let tls_chain = || with(json!({"transport_protocol": "tls"}), true);
    let raw = || with(json!({"transport_protocol": "raw_buffer"}), false);
    let chains = match spec.istio.peer_mtls_mode(target_port) {
        MtlsMode::Strict => vec![tls_chain()],
        MtlsMode::Permissive | MtlsMode::Unset => vec![
            with(
                json!({"transport_protocol": "tls", "application_protocols": ALL_ISTIO_MTLS_ALPNS}),
                true,
            ),
            raw(),
        ],
        MtlsMode::Disable => vec![raw()],
    };
    let inspect = chains
        .iter()
        .any(|c| c["filter_chain_match"]["transport_protocol"] == "tls");
    l["filter_chains"] = Value::Array(chains);
    if inspect {
        // After the original destination filter of a captured pod, as istiod orders them.
        let mut filters = l["listener_filters"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        filters.push(json!({
            "name": "envoy.filters.listener.tls_inspector",
            "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector"}
        }));
        l["listener_filters"] = Value::Array(filters);
    }
}
