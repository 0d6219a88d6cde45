//! What a variant measured: its processes' reports and its sidecars' access logs, counted
//! into its [`VariantResult`] and checked against its expectation.

use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::{Path, PathBuf};

use mesh5xx_loadgen::LoadReport;
use mesh5xx_results::{
    EgressSummary, ExpiredWindow, Latency, Second, SidecarCounts, VariantResult,
};
use mesh5xx_scenario::{Observed, Variant};
use mesh5xx_upstream::UpstreamReport;
use serde::de::DeserializeOwned;

/// A process report that could not be read.
#[derive(Debug, thiserror::Error)]
#[error("{}: {reason}", path.display())]
pub struct ReportError {
    /// The report file.
    pub path: PathBuf,
    /// Why it could not be read or decoded.
    pub reason: String,
}

/// Read and decode a process's JSON report (its typed contract).
pub fn read_report<T: DeserializeOwned>(path: &Path) -> Result<T, ReportError> {
    let fail = |reason: String| ReportError {
        path: path.to_path_buf(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?;
    serde_json::from_str(&text).map_err(|e| fail(e.to_string()))
}

/// A variant's result from the load generator's report, the sidecars' counts, the app
/// replicas' reports and the egress summary, checked against its expectation.
pub fn variant_result(
    v: &Variant,
    load: LoadReport,
    sidecars: Vec<SidecarCounts>,
    apps: &[UpstreamReport],
    egress: Option<EgressSummary>,
) -> VariantResult {
    let timeline: Vec<Second> = load
        .timeline
        .iter()
        .map(|s| Second {
            t: s.t,
            requests: s.requests,
            errors: s.errors,
            flags: s.flags.clone(),
        })
        .collect();
    let verdict = v.expect.check(&observe(&load, &timeline, &sidecars));
    let l = load.latency_ms;
    VariantResult {
        name: v.name.clone(),
        description: v.description.trim().to_string(),
        duration_s: load.duration_s,
        requests: load.requests,
        responses: load
            .responses
            .iter()
            .map(|(code, n)| (code.to_string(), *n))
            .collect(),
        flags: load.flags.clone(),
        transport_errors: load
            .transport_errors
            .iter()
            .map(|(kind, n)| (kind.as_str().to_string(), *n))
            .collect(),
        errors: load.errors,
        error_rate: load.error_rate,
        latency_ms: Latency {
            p50: l.p50,
            p90: l.p90,
            p99: l.p99,
            p999: l.p999,
            max: l.max,
            mean: l.mean,
        },
        throughput_rps: load.throughput_rps,
        sockets_opened: load.sockets_opened,
        sockets_ideal: load.sockets_ideal,
        timeline,
        sidecars,
        app_connections: app_connections(apps),
        egress,
        expect: serde_json::to_value(&v.expect).expect("serializable"),
        passed: verdict.passed,
        failures: verdict.failures,
        dir: v.name.clone(),
        runs: Vec::new(),
        error_rate_stats: None,
        marks: Vec::new(),
    }
}

/// App-server connections over the replicas: opened, closed by reason (`closed_REASON`),
/// and those closed with a request unread (`reset_unread`).
fn app_connections(apps: &[UpstreamReport]) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    for r in apps {
        *counts.entry("opened".to_string()).or_insert(0) += r.connections_opened;
        let closed = serde_json::to_value(r.connections_closed).expect("serializable");
        for (reason, n) in closed.as_object().into_iter().flatten() {
            *counts.entry(format!("closed_{reason}")).or_insert(0) += n.as_u64().unwrap_or(0);
        }
        if r.reset_unread > 0 {
            *counts.entry("reset_unread".to_string()).or_insert(0) += r.reset_unread;
        }
    }
    counts
}

/// What the expectation reads from a run: client-visible error flags from the timeline,
/// sidecar flags split on `,`.
pub fn observe(load: &LoadReport, timeline: &[Second], sidecars: &[SidecarCounts]) -> Observed {
    let mut o = Observed {
        requests: load.requests,
        errors: load.errors,
        errors_per_second: timeline.iter().map(|s| s.errors).collect(),
        transport_errors: load
            .transport_errors
            .iter()
            .map(|(kind, n)| (kind.as_str().to_string(), *n))
            .collect(),
        p50_ms: load.latency_ms.p50,
        ..Default::default()
    };
    // Client-visible error flags: the flags of error responses, from the timeline's per-second
    // error-flag counts (the report's `flags` also counts successful responses' `-`).
    // Errors without a flag (the app's own 5xx passed through, or no response at all) count
    // as `-`, so an expectation on flags also holds them to account.
    for s in timeline {
        let mut flagged = 0;
        for (f, n) in &s.flags {
            *o.error_flags.entry(f.clone()).or_default() += n;
            flagged += n;
        }
        let unflagged = s.errors.saturating_sub(flagged);
        if unflagged > 0 {
            *o.error_flags.entry("-".to_string()).or_default() += unflagged;
        }
    }
    for s in sidecars {
        let into = if s.role == "server" {
            &mut o.server_sidecar_flags
        } else {
            &mut o.client_sidecar_flags
        };
        for (f, n) in &s.flags {
            for single in f.split(',').filter(|x| *x != "-") {
                *into.entry(single.to_string()).or_default() += n;
            }
        }
    }
    o
}

/// The firewall's side of an outbound variant, from the egress process's report.
pub fn egress_summary(r: &mesh5xx_egress::Report, other_app_lookups: u64) -> EgressSummary {
    EgressSummary {
        dns_queries: r.dns.by_type.values().sum(),
        other_app_lookups,
        allow_added: r.allow.added,
        allow_refreshed: r.allow.refreshed,
        allow_expired: r.allow.expired,
        connections_accepted: r.gateways.iter().map(|g| g.accepted).sum(),
        connections_refused: r.gateways.iter().map(|g| g.refused).sum(),
        connections_cut: r.gateways.iter().map(|g| g.cut).sum(),
        expired_windows: r
            .gateways
            .iter()
            .flat_map(|g| &g.expired_windows)
            .map(|w| ExpiredWindow {
                from_ms: w.from_ms,
                to_ms: w.to_ms,
                duration_ms: w.duration_ms,
            })
            .collect(),
        ipset: r.ipset.clone(),
    }
}

/// Count an access log's lines by status, flags and upstream cluster (a missing log counts
/// nothing).
pub fn access_log(path: &Path, pod: &str, role: &str) -> std::io::Result<SidecarCounts> {
    let mut c = SidecarCounts {
        pod: pod.to_string(),
        role: role.to_string(),
        ..Default::default()
    };
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(c),
        Err(e) => return Err(e),
    };
    for line in std::io::BufReader::new(file).lines() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        match mesh5xx_accesslog::parse_line(&line) {
            Ok(e) => {
                c.requests += 1;
                *c.responses.entry(e.response_code.to_string()).or_default() += 1;
                *c.flags.entry(e.response_flags.to_string()).or_default() += 1;
                if let Some(cl) = e.upstream_cluster {
                    *c.clusters.entry(cl.to_string()).or_default() += 1;
                }
                if e.response_code >= 500 && c.sample_error_line.is_none() {
                    c.sample_error_line = Some(line.clone());
                }
            }
            Err(_) => c.unparsed += 1,
        }
    }
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_the_seed_line() {
        let scratch = mesh5xx_testkit::scratch("outcome");
        let dir = scratch.path();
        let p = dir.join("a.log");
        std::fs::write(
            &p,
            "[2022-04-18T09:29:59.633Z] \"GET /service_a/v2.1/get?ids=123456 HTTP/1.1\" 503 UC \"-\" \"-\" 0 95 11 - \"-\" \"-\" \"bc6f9ba3-d8dc-4955-a092-64617d9277c8\" \"srv-a.xyz\" \"127.0.0.1:8080\" inbound|80|http|srv-a.xyz.svc.cluster.local - 100.64.121.11:8080 100.64.254.9:35174 -\nnoise\n",
        )
        .unwrap();
        let c = access_log(&p, "srv-a-0", "server").unwrap();
        assert_eq!(c.requests, 1);
        assert_eq!(c.unparsed, 1);
        assert_eq!(c.flags["UC"], 1);
        assert_eq!(c.clusters["inbound|80|http|srv-a.xyz.svc.cluster.local"], 1);
        assert!(c.sample_error_line.unwrap().contains("503 UC"));
    }

    #[test]
    fn errors_without_a_flag_count_as_dash() {
        let load: LoadReport = serde_json::from_value(serde_json::json!({
            "mode": "open", "connections": 2, "rate": 10.0, "duration_s": 1.0,
            "requests": 10, "responses": {"200": 5, "503": 5}, "flags": {"-": 7, "UC": 3},
            "transport_errors": {}, "errors": 5, "error_rate": 0.5,
            "latency_ms": {"p50": 1.0, "p90": 1.0, "p99": 1.0, "p999": 1.0, "max": 1.0, "mean": 1.0},
            "timeline": [], "sockets_opened": 2, "sockets_ideal": 2, "throughput_rps": 10.0
        }))
        .unwrap();
        let second = Second {
            t: 0,
            requests: 10,
            errors: 5,
            flags: [("UC".to_string(), 3)].into_iter().collect(),
        };
        let o = observe(&load, &[second], &[]);
        let want: BTreeMap<String, u64> = [("-".to_string(), 2), ("UC".to_string(), 3)]
            .into_iter()
            .collect();
        assert_eq!(o.error_flags, want);
    }
}
