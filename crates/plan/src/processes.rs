//! The typed arguments of a variant's processes, from its scenario settings.

use std::net::SocketAddr;
use std::path::Path;

use mesh5xx_loadgen::LoadArgs;
use mesh5xx_scenario::LoadSettings;
use mesh5xx_upstream::faults::Down;
use mesh5xx_upstream::{AppFault, AppFaults, UpstreamArgs};

/// Where an app server runs, which decides when its outages count from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppHost {
    /// A local process started just before the load: outages count from its start.
    Local,
    /// A pod that starts long before the load generator: outages count from its first
    /// request (readiness probes open connections without one).
    Pod,
}

/// The app server with `faults`, listening on `listen` and writing its report to `report`.
pub fn app_args(
    faults: &AppFaults,
    host: AppHost,
    listen: SocketAddr,
    report: &Path,
) -> UpstreamArgs {
    let faults = match host {
        AppHost::Local => faults.clone(),
        AppHost::Pod => faults
            .clone()
            .into_iter()
            .map(|fault| match fault {
                AppFault::Down(down) => AppFault::Down(Down {
                    after_first_request: true,
                    ..down
                }),
                other => other,
            })
            .collect(),
    };
    UpstreamArgs::new(listen, faults).with_report(report)
}

/// Outbound: the name the app resolves, through which DNS server, and the port it then uses.
#[derive(Debug, Clone)]
pub struct Resolve {
    /// The external host.
    pub name: String,
    /// The lab's DNS server; `None`: the system's resolver (a pod in a cluster).
    pub dns: Option<SocketAddr>,
    /// The port of the resolved address.
    pub port: u16,
    /// Whether the app connects to the answer itself (in a pod, where its sidecar gets the
    /// connection by the capture rules), or locally names it to its sidecar in a header.
    pub connect: bool,
}

/// The load generator of a variant: `load` sent to `target` with `Host: host` for
/// `duration_ms`, reporting to `dir/loadgen.json` and `dir/latency.hgrm`. It reads the
/// response flags from its default header, the one the sidecars add.
pub fn load_args(
    load: &LoadSettings,
    target: &str,
    host: &str,
    duration_ms: u64,
    dir: &Path,
    resolve: Option<&Resolve>,
) -> LoadArgs {
    let mut a = LoadArgs::new(
        target,
        duration_ms,
        dir.join("loadgen.json").display().to_string(),
    );
    a.host = Some(host.to_string());
    a.hgrm = Some(dir.join("latency.hgrm"));
    if let Some(n) = load.connections {
        a.connections = n as usize;
    }
    a.think_ms = load.think_ms.unwrap_or(0);
    a.think_jitter_ms = load.think_jitter_ms.unwrap_or(0);
    a.rate = load.rate;
    a.arrivals = load.arrivals.unwrap_or_default();
    a.max_requests_per_conn = load.max_requests_per_conn;
    if let Some(ms) = load.timeout_ms {
        a.timeout_ms = ms;
    }
    if let Some(path) = &load.path {
        a.path = path.clone();
    }
    a.no_keepalive = load.keepalive == Some(false);
    a.http10 = load.http10 == Some(true);
    a.banner_timeout_ms = load.banner_timeout_ms;
    if let Some(r) = resolve {
        a.resolve = Some(r.name.clone());
        a.upstream_port = Some(r.port);
        a.resolve_mode = load
            .resolve_mode
            .unwrap_or(mesh5xx_loadgen::ResolveMode::Once);
        a.dns = r.dns;
        a.connect_resolved = r.connect;
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;
    use mesh5xx_upstream::faults::{DownWindow, IdleClose};

    #[test]
    fn the_app_gets_its_faults_and_in_a_pod_outages_count_from_the_first_request() {
        let faults = AppFaults::new()
            .with(IdleClose { after_ms: 20 })
            .with(Down {
                windows: vec![DownWindow {
                    at_ms: 2000,
                    for_ms: 2000,
                }],
                after_first_request: false,
            });
        let local = "127.0.0.1:0".parse().unwrap();
        let a = app_args(&faults, AppHost::Local, local, Path::new("/d/app-0.json"));
        assert_eq!(a.faults().unwrap(), faults);
        assert_eq!(a.report.as_deref(), Some(Path::new("/d/app-0.json")));
        let pod = app_args(&faults, AppHost::Pod, local, Path::new("/dev/stdout"));
        let Some(AppFault::Down(down)) = pod
            .faults()
            .unwrap()
            .get(mesh5xx_upstream::FaultKind::Down)
            .cloned()
        else {
            panic!("{pod:?}");
        };
        assert!(down.after_first_request);
        assert_eq!(
            pod.faults()
                .unwrap()
                .get(mesh5xx_upstream::FaultKind::IdleClose),
            faults.get(mesh5xx_upstream::FaultKind::IdleClose)
        );
    }

    #[test]
    fn the_load_generator_gets_the_load_and_keepalive_off() {
        let load = LoadSettings {
            connections: Some(16),
            keepalive: Some(false),
            rate: Some(100.0),
            arrivals: Some(mesh5xx_loadgen::Arrivals::Poisson),
            ..Default::default()
        };
        let a = load_args(&load, "127.0.0.1:1", "srv-a", 1000, Path::new("/d"), None);
        let argv = a.to_argv().join(" ");
        assert!(
            argv.contains("--connections 16")
                && argv.contains("--rate 100 --arrivals poisson")
                && argv.contains("--no-keepalive")
                && argv.contains("--out /d/loadgen.json"),
            "{argv}"
        );
    }

    #[test]
    fn in_a_pod_the_app_connects_to_what_it_resolved() {
        let resolve = Resolve {
            name: "external.service.com".into(),
            dns: None,
            port: 80,
            connect: true,
        };
        let a = load_args(
            &LoadSettings::default(),
            "external.service.com:80",
            "external.service.com",
            1000,
            Path::new("/results"),
            Some(&resolve),
        );
        assert!(a.connect_resolved && a.dns.is_none());
        assert_eq!(a.resolve_mode, mesh5xx_loadgen::ResolveMode::Once);
    }
}
