//! Naming the lab scenario a group looks like, with the evidence and the fixes.

use mesh5xx_accesslog::Flags;

use crate::grouping::{Direction, GroupKey, GroupStats, HostTracker};
use crate::timeline::BurstSummary;

/// The lab scenarios a group can be mapped to.
pub const SCENARIOS: [&str; 5] = [
    "inbound-keepalive-uc",
    "inbound-app-down-uf",
    "outbound-firewall-uf",
    "outbound-elb-ip-change",
    "outbound-timeout-ut",
];

/// What a group most likely is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// One of [`SCENARIOS`], or `None`.
    pub scenario: Option<&'static str>,
    /// Why, in words, from the group's numbers.
    pub evidence: String,
    /// What to change, most effective first.
    pub mitigations: Vec<&'static str>,
    /// Remarks on flag combinations (retries exhausted, overflow…).
    pub notes: Vec<String>,
    /// The command reproducing the scenario in the lab.
    pub command: Option<String>,
}

const KEEPALIVE_FIXES: &[&str] = &[
    "DestinationRule trafficPolicy.connectionPool.http.idleTimeout below the app's keep-alive idle timeout, so the sidecar closes pooled connections first",
    "App server: unbounded keep-alive requests (Tomcat maxKeepAliveRequests=-1, no Finagle maxLifeTime), leaving only an idle timeout longer than the proxy's",
    "Retries on resets: VirtualService retries.retryOn: reset (Istio >= 1.24 retries reset-before-request on inbound routes by default)",
    "DestinationRule connectionPool.http.maxRequestsPerConnection (1 disables keep-alive, at the cost of a connect per request)",
];
const APP_DOWN_FIXES: &[&str] = &[
    "Find why the app container is not accepting: restarts, OOM kills, crash loops (kubectl get pod; kubectl describe pod)",
    "Readiness probe and graceful shutdown so traffic stops before the app does; holdApplicationUntilProxyStarts for start-up order",
    "Client-side retries: VirtualService retries.retryOn: connect-failure,reset",
];
const FIREWALL_FIXES: &[&str] = &[
    "ServiceEntry for the host with resolution: DNS (plus a VirtualService): the sidecar re-resolves it every DNS refresh, which keeps the egress firewall's allow entry alive (best)",
    "Make the app re-resolve DNS and recycle its long connections periodically",
    "No long-lived connections from the app to the external host (costs throughput at high QPS)",
    "Retries: VirtualService retries.retryOn: connect-failure (only helps once another attempt can succeed)",
];
const ELB_FIXES: &[&str] = &[
    "ServiceEntry for the host with resolution: DNS (plus a VirtualService): the sidecar follows the load balancer's new IPs every DNS refresh (best)",
    "Make the app re-resolve DNS and recycle its long connections periodically",
    "DestinationRule connectionPool.http.idleTimeout / maxRequestsPerConnection so upstream connections are recycled",
    "Retries: VirtualService retries.retryOn: connect-failure,reset",
];
const TIMEOUT_FIXES: &[&str] = &[
    "VirtualService http[].timeout above the upstream's slowest legitimate response (e.g. timeout: 30s)",
    "ServiceEntry + VirtualService for the external host so it gets its own route and timeout instead of PassthroughCluster's (Envoy's 15 s default on Istio < 1.5)",
    "Make the upstream faster, or the call asynchronous",
];

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

/// Maps a group to a scenario.
pub fn classify(
    key: &GroupKey,
    stats: &GroupStats,
    bursts: Option<&BurstSummary>,
    hosts: &HostTracker,
) -> Verdict {
    let flags: Vec<&str> = Flags::new(&key.flags).collect();
    let has = |f: &str| flags.contains(&f);
    let external = stats.external_hosts.most_common();
    let egress = key.direction.is_egress() && external.is_some();
    let ip_change = external.and_then(|name| ip_change(name, hosts));

    let scenario = match key.code {
        504 if has("UT") && key.direction != Direction::Inbound => Some("outbound-timeout-ut"),
        503 if has("UC") && key.direction == Direction::Inbound => Some("inbound-keepalive-uc"),
        503 if has("UF") && key.direction == Direction::Inbound => Some("inbound-app-down-uf"),
        503 if (has("UF") || has("UC")) && egress && ip_change.is_some() => {
            Some("outbound-elb-ip-change")
        }
        503 if has("UF") && egress => Some("outbound-firewall-uf"),
        _ => None,
    };

    let mut evidence = vec![format!(
        "{} {} {} on {}",
        key.direction.as_str(),
        key.code,
        key.flags,
        key.cluster.as_deref().unwrap_or("an unnamed cluster")
    )];
    if let Some((bytes, n)) = stats.bytes_sent.top(1).into_iter().next() {
        let body = match bytes.as_str() {
            "95" => " (\"…reset reason: connection termination\")",
            "91" => " (\"…reset reason: connection failure\")",
            "24" => " (\"upstream request timeout\")",
            _ => "",
        };
        evidence.push(format!("{n}× {bytes}-byte body{body}"));
    }
    if let Some(median) = median_duration(stats) {
        let round = median >= 1000 && median % 1000 <= median / 100;
        evidence.push(if has("UT") && round {
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
    if let Some(host) = external {
        evidence.push(format!("external host {host}"));
    }
    if let Some(change) = &ip_change {
        evidence.push(change.clone());
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
    if scenario.is_none() {
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
    if key.code == 503 && key.flags == "-" {
        notes.push(
            "No flag: the upstream itself answered 503; look at the app, not the sidecar"
                .to_owned(),
        );
    }

    let mitigations = match scenario {
        Some("inbound-keepalive-uc") => KEEPALIVE_FIXES,
        Some("inbound-app-down-uf") => APP_DOWN_FIXES,
        Some("outbound-firewall-uf") => FIREWALL_FIXES,
        Some("outbound-elb-ip-change") => ELB_FIXES,
        Some("outbound-timeout-ut") => TIMEOUT_FIXES,
        _ => &[],
    };
    Verdict {
        scenario,
        evidence: evidence.join("; "),
        mitigations: mitigations.to_vec(),
        notes,
        command: scenario.map(|s| format!("mesh5xx run {s}")),
    }
}

/// The median `%DURATION%` of a group.
pub fn median_duration(stats: &GroupStats) -> Option<u64> {
    (!stats.durations.is_empty()).then(|| stats.durations.value_at_quantile(0.5))
}

/// Describes an IP change of `name`: an older IP that failed while a newer one appeared.
fn ip_change(name: &str, hosts: &HostTracker) -> Option<String> {
    let ips = hosts.ips(name);
    let old = ips.iter().find(|s| s.errors > 0)?;
    let new = ips
        .iter()
        .find(|s| s.host != old.host && s.first_ms > old.first_ms && s.ok > 0)?;
    Some(format!(
        "{name} moved from {} ({} ok, {} failed) to {} ({} ok)",
        old.host, old.ok, old.errors, new.host, new.ok
    ))
}
