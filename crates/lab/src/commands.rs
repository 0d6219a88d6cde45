//! Command lines of the lab's own processes, from a variant's settings.

use std::net::SocketAddr;
use std::path::Path;

use mesh5xx_scenario::{AppSettings, LoadSettings};
use mesh5xx_sidecar::FLAGS_HEADER;

/// Arguments of `mesh5xx upstream` for `app`, reporting to `report`.
pub fn upstream_args(app: &AppSettings, report: &Path) -> Vec<String> {
    let mut a = vec![
        "upstream".to_string(),
        "--listen".into(),
        "127.0.0.1:0".into(),
    ];
    let mut opt = |flag: &str, v: Option<u64>| {
        if let Some(v) = v.filter(|v| *v > 0) {
            a.push(flag.into());
            a.push(v.to_string());
        }
    };
    opt("--idle-timeout-ms", app.idle_timeout_ms);
    opt("--max-requests", app.max_requests);
    opt("--max-lifetime-ms", app.max_lifetime_ms);
    opt("--close-lag-ms", app.close_lag_ms);
    opt("--delay-ms", app.delay_ms);
    opt("--delay-jitter-ms", app.delay_jitter_ms);
    opt("--body-bytes", app.body_bytes);
    if let Some(m) = app.close_mode {
        a.push("--close-mode".into());
        a.push(m.as_str().into());
    }
    for s in &app.status {
        a.push("--status".into());
        a.push(s.clone());
    }
    for d in &app.down {
        a.push("--down".into());
        a.push(d.clone());
    }
    a.push("--report".into());
    a.push(report.display().to_string());
    a
}

/// Outbound: the name the app resolves, through which DNS server, and the port it then uses.
#[derive(Debug, Clone)]
pub struct Resolve {
    pub name: String,
    /// Locally the lab's DNS server, the answer announced to the sidecar in a header;
    /// `None` in a pod: the system's resolver, and the app connects to the answer itself.
    pub dns: Option<SocketAddr>,
    pub port: u16,
}

/// Arguments of `mesh5xx loadgen` sending `load` to `target` for `duration_ms`.
pub fn loadgen_args(
    load: &LoadSettings,
    target: SocketAddr,
    host: &str,
    duration_ms: u64,
    dir: &Path,
    resolve: Option<&Resolve>,
) -> Vec<String> {
    let mut a = vec![
        "loadgen".to_string(),
        "--target".into(),
        target.to_string(),
        "--host".into(),
        host.into(),
        "--duration-ms".into(),
        duration_ms.to_string(),
        "--flags-header".into(),
        FLAGS_HEADER.into(),
        "--out".into(),
        dir.join("loadgen.json").display().to_string(),
        "--hgrm".into(),
        dir.join("latency.hgrm").display().to_string(),
    ];
    let mut opt = |flag: &str, v: Option<String>| {
        if let Some(v) = v {
            a.push(flag.into());
            a.push(v);
        }
    };
    opt("--connections", load.connections.map(|v| v.to_string()));
    opt("--think-ms", load.think_ms.map(|v| v.to_string()));
    opt(
        "--think-jitter-ms",
        load.think_jitter_ms.map(|v| v.to_string()),
    );
    opt("--rate", load.rate.map(|v| v.to_string()));
    opt("--arrivals", load.arrivals.map(|v| v.as_str().to_string()));
    opt(
        "--max-requests-per-conn",
        load.max_requests_per_conn.map(|v| v.to_string()),
    );
    opt("--timeout-ms", load.timeout_ms.map(|v| v.to_string()));
    opt("--path", load.path.clone());
    if load.keepalive == Some(false) {
        a.push("--no-keepalive".into());
    }
    if let Some(r) = resolve {
        a.extend([
            "--resolve".to_string(),
            r.name.clone(),
            "--upstream-port".into(),
            r.port.to_string(),
            "--resolve-mode".into(),
            load.resolve_mode.clone().unwrap_or_else(|| "once".into()),
        ]);
        match r.dns {
            Some(dns) => a.extend(["--dns".to_string(), dns.to_string()]),
            None => a.push("--connect-resolved".into()),
        }
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;
    use mesh5xx_scenario::model::CloseMode;

    #[test]
    fn zero_means_off_and_lists_repeat() {
        let app = AppSettings {
            idle_timeout_ms: Some(0),
            max_requests: Some(10),
            close_mode: Some(CloseMode::Abrupt),
            down: vec!["3000+2000".into()],
            status: vec!["503:5".into(), "500:1".into()],
            ..Default::default()
        };
        let a = upstream_args(&app, Path::new("/r.json")).join(" ");
        assert!(!a.contains("--idle-timeout-ms"), "{a}");
        assert!(
            a.contains("--max-requests 10 ") && a.contains("--close-mode abrupt"),
            "{a}"
        );
        assert!(
            a.contains("--status 503:5 --status 500:1 --down 3000+2000"),
            "{a}"
        );
    }

    #[test]
    fn loadgen_gets_the_flags_header_and_keepalive_off() {
        let load = LoadSettings {
            connections: Some(8),
            keepalive: Some(false),
            ..Default::default()
        };
        let a = loadgen_args(
            &load,
            "127.0.0.1:1".parse().unwrap(),
            "srv-a",
            1000,
            Path::new("/d"),
            None,
        )
        .join(" ");
        assert!(
            a.contains("--flags-header x-mesh5xx-flags")
                && a.contains("--connections 8")
                && a.ends_with("--no-keepalive"),
            "{a}"
        );
    }
}
