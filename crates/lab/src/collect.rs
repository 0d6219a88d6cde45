//! Turning what a variant's processes wrote (access logs, reports) into its result.

use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::Path;

use mesh5xx_results::{SidecarCounts, VariantResult};
use mesh5xx_scenario::{Observed, Variant};

use crate::reports::{LoadgenReport, UpstreamReport};

/// A variant's result from the load generator's report, the sidecars' counts, the app
/// replicas' reports and the egress summary, checked against its expectation.
pub fn variant_result(
    v: &Variant,
    load: LoadgenReport,
    sidecars: Vec<SidecarCounts>,
    apps: &[UpstreamReport],
    egress: Option<serde_json::Value>,
) -> VariantResult {
    let mut app_connections = BTreeMap::new();
    for r in apps {
        *app_connections.entry("opened".to_string()).or_insert(0) += r.connections_opened;
        for (k, n) in &r.connections_closed {
            *app_connections.entry(format!("closed_{k}")).or_insert(0) += n;
        }
        if r.reset_unread > 0 {
            *app_connections
                .entry("reset_unread".to_string())
                .or_insert(0) += r.reset_unread;
        }
    }
    let verdict = v.expect.check(&observe(&load, &sidecars));
    VariantResult {
        name: v.name.clone(),
        description: v.description.trim().to_string(),
        duration_s: load.duration_s,
        requests: load.requests,
        responses: load.responses,
        flags: load.flags,
        transport_errors: load.transport_errors,
        errors: load.errors,
        error_rate: load.error_rate,
        latency_ms: load.latency_ms,
        throughput_rps: load.throughput_rps,
        sockets_opened: load.sockets_opened,
        sockets_ideal: load.sockets_ideal,
        timeline: load.timeline,
        sidecars,
        app_connections,
        egress,
        expect: serde_json::to_value(&v.expect).expect("serializable"),
        passed: verdict.passed,
        failures: verdict.failures,
        dir: v.name.clone(),
        runs: Vec::new(),
        error_rate_stats: None,
    }
}

/// What the expectation reads from a run: client-visible error flags from the timeline,
/// sidecar flags split on `,`.
pub fn observe(load: &LoadgenReport, sidecars: &[SidecarCounts]) -> Observed {
    let mut o = Observed {
        requests: load.requests,
        errors: load.errors,
        errors_per_second: load.timeline.iter().map(|s| s.errors).collect(),
        ..Default::default()
    };
    // Client-visible error flags: the flags of error responses, from the timeline's per-second
    // error-flag counts (the report's `flags` also counts successful responses' `-`).
    for s in &load.timeline {
        for (f, n) in &s.flags {
            *o.error_flags.entry(f.clone()).or_default() += n;
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

/// The firewall's side of an outbound variant, from the egress report.
pub fn egress_summary(r: &serde_json::Value, other_app_lookups: u64) -> serde_json::Value {
    let gateways = r["gateways"].as_array().cloned().unwrap_or_default();
    let sum = |k: &str| gateways.iter().filter_map(|g| g[k].as_u64()).sum::<u64>();
    serde_json::json!({
        "dns_queries": r["dns"]["by_type"].as_object().map(|m| m.values().filter_map(|v| v.as_u64()).sum::<u64>()).unwrap_or(0),
        "other_app_lookups": other_app_lookups,
        "allow_added": r["allow"]["added"],
        "allow_refreshed": r["allow"]["refreshed"],
        "allow_expired": r["allow"]["expired"],
        "connections_accepted": sum("accepted"),
        "connections_refused": sum("refused"),
        "connections_cut": sum("cut"),
        "expired_windows": gateways.iter().flat_map(|g| g["expired_windows"].as_array().cloned().unwrap_or_default()).collect::<Vec<_>>(),
        "ipset": r["ipset"],
    })
}

/// Count an access log's lines by status, flags and upstream cluster.
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
        let dir = std::env::temp_dir().join(format!("mesh5xx-collect-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
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
        std::fs::remove_dir_all(dir).unwrap();
    }
}
