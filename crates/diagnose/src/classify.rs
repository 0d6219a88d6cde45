//! Naming the scenario a group of 5xx lines looks like, with the evidence and the fixes.

use mesh5xx_accesslog::Flags;

use crate::grouping::{GroupKey, GroupStats, Groups};
use crate::known::{known_causes, KnownCause};
use crate::signature::{best, Observed, Rule, RuleFix};
use crate::timeline::BurstSummary;

/// What a group most likely is.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// The scenario whose signature fits best, or `None`.
    pub scenario: Option<String>,
    /// When no scenario fits: a cause that is no fault of the mesh, if one fits.
    pub known_cause: Option<KnownCause>,
    /// Why, in words, from the group's numbers.
    pub evidence: String,
    /// What to change, most effective first, from the scenario's `fixes`.
    pub mitigations: Vec<RuleFix>,
    /// Remarks on flag combinations (retries exhausted, overflow…).
    pub notes: Vec<String>,
    /// The command reproducing the scenario in the lab.
    pub command: Option<String>,
}

/// What a response flag means (Envoy's documentation, shortened).
pub fn flag_meaning(flag: &str) -> &'static str {
    match flag {
        "UC" => "upstream connection termination: the upstream closed or reset the connection before a response",
        "UF" => "upstream connection failure: the sidecar could not connect to the upstream",
        "UT" => "upstream request timeout: the route timeout expired before the upstream answered",
        "URX" => "upstream retry limit exceeded: every retry attempt failed too",
        "UH" => "no healthy upstream: the cluster had no healthy endpoint",
        "UO" => "upstream overflow: a circuit breaker (connectionPool limit) rejected the request",
        "NR" => "no route configured for the request",
        "DC" => "downstream connection termination: the client went away",
        "LR" => "connection local reset",
        "UR" => "upstream remote reset",
        "URR" => "upstream reset received",
        "UMSDR" => "upstream request reached max stream duration",
        "DPE" | "UPE" => "HTTP protocol error",
        "RL" => "rate limited",
        "UAEX" => "rejected by the external authorization service",
        "NC" => "upstream cluster not found",
        "DT" => "request or connection exceeded max duration",
        "FI" | "DI" => "fault injection (abort or delay)",
        _ => "see Envoy's response flag documentation",
    }
}

/// Maps a group to the scenario of `rules` whose signature fits it best, or else to the
/// known cause (no fault of the mesh) that fits it best.
pub fn classify(
    key: &GroupKey,
    stats: &GroupStats,
    bursts: Option<&BurstSummary>,
    groups: &Groups,
    rules: &[Rule],
) -> Verdict {
    let flags: Vec<&str> = Flags::new(&key.flags).collect();
    let has = |f: &str| flags.contains(&f);
    let observed = Observed::new(key, stats, bursts, groups);
    let rule = best(rules, |r| &r.signature, &observed);
    let known = match rule {
        Some(_) => None,
        None => best(known_causes(), |k| &k.signature, &observed),
    };

    let mut evidence = vec![format!(
        "{} {} {} on {}",
        key.direction.as_str(),
        key.code,
        key.flags,
        key.cluster.as_deref().unwrap_or("an unnamed cluster")
    )];
    if let Some((bytes, n)) = stats.bytes_sent.top(1).into_iter().next() {
        let text = bytes
            .parse::<u64>()
            .ok()
            .and_then(|b| rules.iter().find_map(|r| r.signature.bodies.get(&b)));
        let body = text.map(|t| format!(" (\"{t}\")")).unwrap_or_default();
        evidence.push(format!("{n}× {bytes}-byte body{body}"));
    }
    if let Some(median) = observed.median_ms {
        evidence.push(if has("UT") && observed.at_timeout() {
            format!(
                "median duration {median} ms, just over a {} s timeout",
                median / 1000
            )
        } else {
            format!("median duration {median} ms")
        });
    }
    if let Some(details) = stats.details.most_common() {
        evidence.push(format!("details {details}"));
    }
    if let Some(reason) = stats.failure_reasons.most_common() {
        evidence.push(format!("transport failure {reason}"));
    }
    if let Some(host) = observed.external {
        evidence.push(format!("external host {host}"));
    }
    if let Some(change) = &observed.ip_change {
        evidence.push(change.clone());
    }
    match observed.recovered {
        Some(true) => {
            evidence.push("the failing upstream answered again after its last error".to_owned())
        }
        Some(false) => evidence.push(
            "the failing upstream answered nothing after its last error (the pod went away?)"
                .to_owned(),
        ),
        None => {}
    }
    if observed.new_upstream == Some(true) {
        evidence.push(
            "the failing upstream had answered nothing before its first error (a new pod whose app was not listening yet?)"
                .to_owned(),
        );
    }
    if observed.recurs == Some(true) {
        evidence.push(
            "the failing upstream answered again between its errors and then failed again (an app that crashes and restarts?)"
                .to_owned(),
        );
    }
    if let Some(b) = bursts {
        if b.bursts > 1 {
            let period = b
                .period_secs
                .map(|p| format!(", about every {p} s"))
                .unwrap_or_default();
            evidence.push(format!(
                "{} bursts separated by quiet gaps{period}",
                b.bursts
            ));
        } else if b.active_intervals > 1 {
            evidence.push(format!("one run over {} s", b.span_secs));
        }
    }
    if rule.is_none() {
        for flag in &flags {
            evidence.push(format!("{flag}: {}", flag_meaning(flag)));
        }
    }

    let mut notes = Vec::new();
    if has("URX") {
        notes.push("URX: retries were attempted and exhausted; each line stands for the first attempt and every retry".to_owned());
    }
    if has("UO") {
        notes.push("UO: circuit breaker overflow; raise DestinationRule connectionPool limits (maxConnections, http1MaxPendingRequests, http2MaxRequests) or shed load".to_owned());
    }
    if has("UH") {
        notes.push(
            "UH: no healthy endpoint; check endpoints and outlier detection ejections".to_owned(),
        );
    }
    if key.code >= 500 && key.flags == "-" {
        let answered = stats
            .details
            .most_common()
            .is_none_or(|d| d == "via_upstream");
        notes.push(if answered {
            format!("No flag: the upstream itself answered {}; look at the app, not the sidecar", key.code)
        } else {
            format!(
                "No flag: the sidecar answered {} itself ({}), from its route configuration, without calling an upstream",
                key.code,
                stats.details.most_common().unwrap_or_default()
            )
        });
    }
    // A local reply to a gRPC request is a trailers-only HTTP 200 with `grpc-status` from
    // `httpToGrpcStatus` (504 -> 14 UNAVAILABLE): `Utility::prepareLocalReply`, its `is_grpc_`
    // branch (envoyproxy/envoy source/common/http/utility.cc@0075dc33;
    // `DownstreamFilterManager::sendLocalReply` passes `is_grpc_request_`,
    // source/common/http/filter_manager.cc@00e00299). %RESPONSE_CODE% is the `:status` the
    // connection manager encodes, so the access log shows 200, not 504. Checked with Envoy
    // 1.40.0, a 0.2 s route timeout and an upstream that never answers: an h2c gRPC call logs
    // `200 UT response_timeout` (grpc-status 14), a plain HTTP/1.1 request `504 UT`.
    if key.code == 200 && has("UT") {
        notes.push("200 UT: the route timeout expired on a gRPC call (Envoy answers gRPC with HTTP 200 and the error in grpc-status) or on a response already under way: the same timeout as 504 UT".to_owned());
    }
    if key.code == 404 && has("NR") {
        notes.push("404 NR: no route matched the request's host, port or path in the caller's sidecar (`route_not_found`); istioctl proxy-config routes shows the routes it has".to_owned());
    }
    if key.code == 101 {
        notes.push("101: an upgraded (WebSocket) connection, logged when it ends; its duration is the session's".to_owned());
    }

    Verdict {
        scenario: rule.map(|r| r.scenario.clone()),
        known_cause: known.cloned(),
        evidence: evidence.join("; "),
        mitigations: rule.map(|r| r.fixes.clone()).unwrap_or_default(),
        notes,
        command: rule.map(|r| format!("mesh5xx run {}", r.scenario)),
    }
}
