use std::path::PathBuf;

use mesh5xx_scenario::model::Service;
use mesh5xx_scenario::{profile, IstioObjects};

use super::*;

fn svc() -> Service {
    Service {
        host: "srv-a.default.svc.cluster.local".into(),
        port: 80,
    }
}

fn istio(yaml: &str) -> IstioObjects {
    IstioObjects::parse(&yaml_serde::from_str::<Vec<yaml_serde::Value>>(yaml).unwrap()).unwrap()
}

fn server(profile: &Profile, istio: &IstioObjects, svc: &Service) -> Value {
    render(&SidecarSpec {
        pod: "srv-a-0".into(),
        profile,
        istio,
        access_log: PathBuf::from("/tmp/x.log"),
        inbound: Some(InboundSpec {
            service: svc,
            app: "127.0.0.1:8080".parse().unwrap(),
        }),
        outbound: None,
        runtime: Default::default(),
    })
}

#[test]
fn inbound_cluster_is_named_by_era() {
    let s = svc();
    let none = IstioObjects::default();
    let old = server(&profile::by_name("istio-1.4").unwrap(), &none, &s);
    assert_eq!(
        old["static_resources"]["clusters"][0]["name"],
        "inbound|80|http|srv-a.default.svc.cluster.local"
    );
    let new = server(&profile::by_name("istio-1.13").unwrap(), &none, &s);
    assert_eq!(
        new["static_resources"]["clusters"][0]["name"],
        "inbound|80||"
    );
    let cb = &new["static_resources"]["clusters"][0]["circuit_breakers"]["thresholds"][0];
    assert_eq!(cb["max_retries"], u32::MAX);
}

#[test]
fn destination_rule_pool_reaches_the_inbound_cluster() {
    let s = svc();
    let objs = istio(
        "- {apiVersion: networking.istio.io/v1beta1, kind: DestinationRule, metadata: {name: a}, spec: {host: srv-a, trafficPolicy: {connectionPool: {http: {idleTimeout: 15ms, maxRequestsPerConnection: 10}, tcp: {maxConnectionDuration: 150ms}}}}}",
    );
    let cfg = server(&profile::by_name("istio-1.13").unwrap(), &objs, &s);
    let opts = &cfg["static_resources"]["clusters"][0]["typed_extension_protocol_options"]
        ["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"]["common_http_protocol_options"];
    assert_eq!(opts["idle_timeout"], "0.015s");
    assert_eq!(opts["max_requests_per_connection"], 10);
    assert_eq!(opts["max_connection_duration"], "0.15s");
}

#[test]
fn istio_1_24_retries_inbound_reset_before_request() {
    let s = svc();
    let none = IstioObjects::default();
    let cfg = server(&profile::by_name("istio-1.24").unwrap(), &none, &s);
    let hcm =
        &cfg["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"];
    let route = &hcm["route_config"]["virtual_hosts"][0]["routes"][0]["route"];
    assert_eq!(route["retry_policy"]["retry_on"], "reset-before-request");
    let old = server(&profile::by_name("istio-1.13").unwrap(), &none, &s);
    let hcm =
        &old["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"];
    assert!(
        hcm["route_config"]["virtual_hosts"][0]["routes"][0]["route"]["retry_policy"].is_null()
    );
}

#[test]
fn default_retry_policy_follows_the_profile_and_virtual_service() {
    let p14 = profile::by_name("istio-1.4").unwrap();
    let p124 = profile::by_name("istio-1.24").unwrap();
    let d = route::retry_policy(&p14, None).unwrap();
    assert_eq!(d["num_retries"], 2);
    assert_eq!(d["retriable_status_codes"], json!([503]));
    assert!(route::retry_policy(&p124, None).unwrap()["retriable_status_codes"].is_null());
    let objs = istio(
        "- {apiVersion: networking.istio.io/v1beta1, kind: VirtualService, metadata: {name: a}, spec: {hosts: [srv-a], http: [{route: [{destination: {host: srv-a}}], retries: {attempts: 3, retryOn: 'reset,503'}}]}}",
    );
    let r = objs
        .http_route("srv-a.default.svc.cluster.local")
        .unwrap()
        .retries
        .as_ref();
    let p = route::retry_policy(&p124, r).unwrap();
    assert_eq!(p["retry_on"], "reset,retriable-status-codes");
    assert_eq!(p["retriable_status_codes"], json!([503]));
    assert_eq!(p["num_retries"], 3);
    let off = istio(
        "- {apiVersion: networking.istio.io/v1beta1, kind: VirtualService, metadata: {name: a}, spec: {hosts: [srv-a], http: [{route: [{destination: {host: srv-a}}], retries: {attempts: 0}}]}}",
    );
    assert!(route::retry_policy(&p14, off.http_route("srv-a").unwrap().retries.as_ref()).is_none());
}

#[test]
fn passthrough_route_has_15s_timeout_only_in_old_istio() {
    let none = IstioObjects::default();
    for (name, want) in [("istio-1.4", "15s"), ("istio-1.13", "0s")] {
        let p = profile::by_name(name).unwrap();
        let cfg = render(&SidecarSpec {
            pod: "client".into(),
            profile: &p,
            istio: &none,
            access_log: PathBuf::from("/tmp/c.log"),
            inbound: None,
            outbound: Some(OutboundSpec {
                service: None,
                external: vec![],
            }),
            runtime: Default::default(),
        });
        let hcm = &cfg["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]
            ["typed_config"];
        let vh = &hcm["route_config"]["virtual_hosts"][0];
        assert_eq!(vh["name"], "allow_any");
        assert_eq!(vh["routes"][0]["route"]["timeout"], want, "{name}");
        let pc = &cfg["static_resources"]["clusters"][0];
        assert_eq!(pc["name"], "PassthroughCluster");
        assert_eq!(pc["type"], "ORIGINAL_DST");
    }
}
