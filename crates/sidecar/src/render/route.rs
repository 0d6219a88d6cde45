//! Routes: timeouts and retry policies as istiod sets them, VirtualService applied.

use mesh5xx_scenario::duration::envoy as dur;
use mesh5xx_scenario::istio::{opt_duration, HttpRetry};
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

/// The virtual host of a service (`host:port`), VirtualService timeout and retries applied.
pub fn service_vhost(spec: &SidecarSpec<'_>, host: &str, port: u16, cluster: &str) -> Value {
    let vs = spec.istio.http_route(host);
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
    let short = host.split('.').next().unwrap_or(host);
    let mut domains = vec![host.to_string(), format!("{host}:{port}")];
    if short != host {
        domains.push(short.to_string());
        domains.push(format!("{short}:{port}"));
    }
    // With a VirtualService the route takes its http route's name (route.go@1.4.0 L336-342).
    let name = match vs {
        Some(r) => r.name.as_deref(),
        None => Some(DEFAULT_ROUTE),
    };
    json!({
        "name": format!("{host}:{port}"),
        "domains": domains,
        "routes": [named(spec.profile, name, json!({"match": {"prefix": "/"}, "route": route, "decorator": {"operation": format!("{host}:{port}/*")}}))]
    })
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
