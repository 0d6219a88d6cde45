//! Routes: timeouts and retry policies as istiod sets them, VirtualService applied.

use mesh5xx_scenario::duration::envoy as dur;
use mesh5xx_scenario::istio::{opt_duration, HttpRetry, HttpRoute, UriMatch};
use mesh5xx_scenario::{Behaviour, Profile};
use serde_json::{json, Map, Value};

use super::{InboundSpec, SidecarSpec};

/// The inbound virtual host: no timeout; from Istio 1.24 a `reset-before-request` retry.
pub fn inbound_vhost(spec: &SidecarSpec<'_>, inb: &InboundSpec<'_>, cluster: &str) -> Value {
    let mut route = Map::new();
    route.insert("cluster".into(), json!(cluster));
    route.insert("timeout".into(), json!("0s"));
    if let Some(n) = spec.profile.inbound_retry_attempts() {
        route.insert(
            "retry_policy".into(),
            json!({"retry_on": "reset-before-request", "num_retries": n}),
        );
    }
    let operation = format!("{}:{}/*", inb.service.host, inb.service.port);
    json!({
        "name": format!("inbound|http|{}", inb.service.port),
        "domains": ["*"],
        "routes": [named(spec.profile, Some(DEFAULT_ROUTE), json!({"match": {"prefix": "/"}, "route": route, "decorator": {"operation": operation}}))]
    })
}

/// Istio's name of a route generated without a VirtualService (`DefaultRouteName`).
const DEFAULT_ROUTE: &str = "default";

/// `route` with its name, from Istio 1.3 on ([`Behaviour::RouteNames`]); an empty name is
/// no name.
fn named(profile: &Profile, name: Option<&str>, mut route: Value) -> Value {
    if let Some(name) = name.filter(|n| !n.is_empty() && profile.has(Behaviour::RouteNames)) {
        route["name"] = json!(name);
    }
    route
}

/// The virtual host of a service (`host:port`): without a VirtualService one route to the
/// service, with one a route per `match` of each http route, VirtualService timeout and retries
/// applied. Routes are matched in order, and there is no other: a request no `match` takes
/// has no route (404 NR). A route without `match` (or with prefix `/`) takes every request and
/// ends the list (`BuildHTTPRoutesForVirtualService`, core/route/route.go@1.24.0 L377-427,
/// v1alpha3/route/route.go@1.4.0 L264-281).
pub fn service_vhost(spec: &SidecarSpec<'_>, host: &str, port: u16, cluster: &str) -> Value {
    let operation = format!("{host}:{port}/*");
    let routes = match spec.istio.http_routes(host) {
        None => vec![service_route(
            spec,
            None,
            json!({"prefix": "/"}),
            cluster.to_string(),
            &operation,
        )],
        Some(http) => {
            let mut routes = Vec::new();
            'http: for r in http {
                // A subset's cluster, which Envoy has only when a DestinationRule defines it.
                let to = r
                    .route
                    .first()
                    .and_then(|d| d.destination.subset.as_deref())
                    .map_or_else(
                        || cluster.to_string(),
                        |s| super::cluster::outbound_subset_name(port, s, host),
                    );
                let paths: Vec<Value> = if r.matches.is_empty() {
                    vec![json!({"prefix": "/"})]
                } else {
                    r.matches.iter().map(|m| path_match(&m.uri)).collect()
                };
                for path in paths {
                    let catch_all = path == json!({"prefix": "/"});
                    routes.push(service_route(spec, Some(r), path, to.clone(), &operation));
                    if catch_all {
                        break 'http;
                    }
                }
            }
            routes
        }
    };
    let short = host.split('.').next().unwrap_or(host);
    let mut domains = vec![host.to_string(), format!("{host}:{port}")];
    if short != host {
        domains.push(short.to_string());
        domains.push(format!("{short}:{port}"));
    }
    json!({
        "name": format!("{host}:{port}"),
        "domains": domains,
        "routes": routes
    })
}

/// Envoy's path match for a VirtualService `uri` (`TranslateRouteMatch`, core/route/route.go@1.24.0
/// L1039-1049: a sidecar's prefix stays a plain prefix).
fn path_match(uri: &UriMatch) -> Value {
    match (&uri.exact, &uri.prefix) {
        (Some(p), _) => json!({"path": p}),
        (None, p) => json!({"prefix": p.as_deref().unwrap_or("/")}),
    }
}

/// One route to the service's `cluster`, with `vs`'s timeout and retries (istiod's defaults
/// without one).
fn service_route(
    spec: &SidecarSpec<'_>,
    vs: Option<&HttpRoute>,
    path: Value,
    cluster: String,
    operation: &str,
) -> Value {
    let timeout = vs
        .and_then(|r| opt_duration(&r.timeout))
        .map(dur)
        .unwrap_or_else(|| "0s".into());
    let mut route = Map::new();
    route.insert("cluster".into(), json!(cluster));
    route.insert("timeout".into(), json!(timeout));
    if let Some(policy) = retry_policy(spec.profile, vs.and_then(|r| r.retries.as_ref())) {
        route.insert("retry_policy".into(), policy);
    }
    // With a VirtualService the route takes its http route's name (route.go@1.4.0 L336-342).
    let name = match vs {
        Some(r) => r.name.as_deref(),
        None => Some(DEFAULT_ROUTE),
    };
    named(
        spec.profile,
        name,
        json!({"match": path, "route": route, "decorator": {"operation": operation}}),
    )
}

/// `allow_any`: everything else goes to PassthroughCluster. Before Istio 1.5 the route has no
/// timeout, so Envoy's 15 s applies ([`Behaviour::PassthroughNoRouteTimeout`]); before 1.6
/// the route is unnamed and the access log's `%ROUTE_NAME%` shows `-`
/// ([`Behaviour::AllowAnyRouteNamed`]).
pub fn allow_any_vhost(spec: &SidecarSpec<'_>) -> Value {
    let timeout = spec
        .profile
        .passthrough_route_timeout()
        .map(dur)
        .unwrap_or_else(|| "0s".into());
    let route = named(
        spec.profile,
        spec.profile
            .has(Behaviour::AllowAnyRouteNamed)
            .then_some("allow_any"),
        json!({"match": {"prefix": "/"}, "route": {"cluster": "PassthroughCluster", "timeout": timeout}}),
    );
    json!({
        "name": "allow_any",
        "domains": ["*"],
        "routes": [route]
    })
}

/// `block_all`, the catch-all under `outboundTrafficPolicy: REGISTRY_ONLY`: a 502 direct
/// response for every host the sidecar has no service for, in every modelled release
/// (v1alpha3/httproute.go@1.2.0 L232-249, @1.4.0 L204-219; core/httproute.go@1.24.0 L865-884);
/// its route named as `allow_any`'s ([`Behaviour::AllowAnyRouteNamed`]).
pub fn block_all_vhost(spec: &SidecarSpec<'_>) -> Value {
    let route = named(
        spec.profile,
        spec.profile
            .has(Behaviour::AllowAnyRouteNamed)
            .then_some("block_all"),
        json!({"match": {"prefix": "/"}, "direct_response": {"status": 502}}),
    );
    json!({
        "name": "block_all",
        "domains": ["*"],
        "routes": [route]
    })
}

/// Istio's `ConvertPolicy`: the profile's default policy, overridden by the VirtualService's
/// `retries`; `attempts: 0` disables retries.
pub fn retry_policy(profile: &Profile, vs: Option<&HttpRetry>) -> Option<Value> {
    let mut retry_on = profile.default_retry_on().to_string();
    let mut codes: Vec<u32> = if profile.default_retry_503() {
        vec![503]
    } else {
        vec![]
    };
    let mut attempts = profile.default_retry_attempts();
    let mut per_try = None;
    if let Some(r) = vs {
        if r.attempts == 0 {
            return None;
        }
        attempts = r.attempts;
        if let Some(on) = &r.retry_on {
            // Istio's parseRetryOn (v1alpha3/route/retry/retry.go@1.4.0 L89-108, unchanged in
            // 1.24): a part is a status code when Go's http.StatusText knows the number;
            // any other part stays in retry_on. A VirtualService's codes replace the defaults.
            let (nums, names): (Vec<&str>, Vec<&str>) = on
                .split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .partition(|p| p.parse::<u16>().is_ok_and(is_known_status));
            codes = nums.iter().filter_map(|n| n.parse().ok()).collect();
            retry_on = names.join(",");
            // Only from 1.12 does istiod add the policy that makes Envoy look at the codes
            // (retry.go@1.12.0 L84-87); before, listed codes are never retried.
            if !codes.is_empty()
                && !retry_on.contains("retriable-status-codes")
                && profile.has(Behaviour::VsRetryAddsRetriableStatusCodes)
            {
                if !retry_on.is_empty() {
                    retry_on.push(',');
                }
                retry_on.push_str("retriable-status-codes");
            }
        }
        per_try = opt_duration(&r.per_try_timeout);
    }
    let mut p = json!({
        "retry_on": retry_on,
        "num_retries": attempts,
        "retry_host_predicate": [{"name": "envoy.retry_host_predicates.previous_hosts", "typed_config": {"@type": "type.googleapis.com/envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate"}}],
        "host_selection_retry_max_attempts": 5,
    });
    if !codes.is_empty() {
        p["retriable_status_codes"] = json!(codes);
    }
    if let Some(d) = per_try {
        p["per_try_timeout"] = json!(dur(d));
    }
    Some(p)
}

/// Whether Go's `http.StatusText(code)` is non-empty: the status codes `net/http` names.
fn is_known_status(code: u16) -> bool {
    matches!(
        code,
        100..=103
            | 200..=208
            | 226
            | 300..=305
            | 307
            | 308
            | 400..=418
            | 421..=426
            | 428
            | 429
            | 431
            | 451
            | 500..=508
            | 510
            | 511
    )
}
