//! Running a scenario's variants one after another, round after round, and recording the
//! results.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use mesh5xx_process::Supervised;
use mesh5xx_results::clock::rfc3339;
use mesh5xx_results::{pool, Machine, NotApplicable, Summary, VariantResult, SCHEMA_VERSION};
use mesh5xx_scenario::{Profile, Scenario, Variant};
use mesh5xx_sidecar::EnvoyBinary;
use tokio::process::Command;
use tokio::sync::watch;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use mesh5xx_loadgen::{LoadReport, ProgressMode};
use mesh5xx_plan::outcome;
use mesh5xx_plan::processes::{load_args, Resolve};
use mesh5xx_plan::read_report;
use mesh5xx_upstream::UpstreamReport;

use crate::{lifecycle, other_app, Network};
use crate::{topology, LabError};
use mesh5xx_podnet::PodNetwork;

/// Everything a run needs besides the scenario.
#[derive(Debug, Clone)]
pub struct LabConfig {
    /// The `mesh5xx` binary (it runs `mesh5xx upstream` and `mesh5xx loadgen`).
    pub exe: PathBuf,
    pub envoy: EnvoyBinary,
    pub profile: Profile,
    /// The run directory (created by the caller).
    pub run_dir: PathBuf,
    /// Override of every variant's duration.
    pub duration_ms: Option<u64>,
    /// Runs of each variant (at least 1), interleaved: round k runs every variant once, in
    /// order, so that a slow spell of the machine does not fall on one variant only.
    pub repeat: u32,
    /// Print one line per run on stderr as it starts and ends.
    pub progress: bool,
    /// Show the load generator's live line (elapsed, req/s, errors by flag) on the terminal.
    pub live: bool,
    /// The scenario's variants left out because the profile's istiod could not express them;
    /// recorded in `summary.json` from its first write.
    pub not_applicable: Vec<NotApplicable>,
    /// How the pods are networked (the netns mode needs the run in a private namespace).
    pub network: Network,
}

/// Run `variants` of `scenario`, each `cfg.repeat` times round by round; `stop` turning true
/// interrupts the run. `summary.json` is (re)written after every run, each variant pooled
/// over the runs it has so far; the returned summary is the final one.
///
/// A variant run once keeps its files in `VARIANT/`; run repeatedly, in `VARIANT/run-K/`.
pub async fn run_scenario(
    cfg: &LabConfig,
    scenario: &Scenario,
    variants: &[&Variant],
    mut stop: watch::Receiver<bool>,
) -> Result<Summary, LabError> {
    let mut summary = Summary {
        schema_version: SCHEMA_VERSION,
        scenario: scenario.name.clone(),
        title: scenario.title.clone(),
        envoy_version: cfg.envoy.version.clone(),
        istio_profile: cfg.profile.name.to_string(),
        mode: cfg.network.to_string(),
        started_at: rfc3339(SystemTime::now()),
        finished_at: None,
        machine: Machine::this(),
        interrupted: false,
        passed: true,
        variants: Vec::new(),
        not_applicable: cfg.not_applicable.clone(),
    };
    write_summary(&cfg.run_dir, &summary)?;
    let net = match cfg.network {
        Network::Local => None,
        Network::Netns => Some(crate::network::pod_network().await?),
    };
    let repeat = cfg.repeat.max(1);
    let repeated = repeat > 1;
    // Each variant's runs so far, with their round.
    let mut runs: Vec<Vec<(u32, VariantResult)>> = vec![Vec::new(); variants.len()];
    'rounds: for round in 1..=repeat {
        for (i, v) in variants.iter().enumerate() {
            if *stop.borrow() {
                summary.interrupted = true;
                break 'rounds;
            }
            let duration_ms = cfg.duration_ms.unwrap_or(v.duration_ms);
            if cfg.progress {
                announce(v, (i, variants.len()), (round, repeat), duration_ms);
            }
            let dir = run_subdir(cfg, v, round, repeated)?;
            let result = run_variant(
                cfg,
                scenario,
                v,
                cfg.run_dir.join(&dir),
                duration_ms,
                net.as_ref(),
                &mut stop,
            )
            .await;
            match result {
                Ok(mut r) => {
                    r.dir = dir;
                    if cfg.progress {
                        eprintln!(
                            "      {} requests, {:.2} % errors, p99 {:.1} ms: {}",
                            r.requests,
                            r.error_rate * 100.0,
                            r.latency_ms.p99,
                            if r.passed {
                                "as expected".to_string()
                            } else {
                                r.failures.join("; ")
                            }
                        );
                    }
                    summary.passed &= r.passed;
                    runs[i].push((round, r));
                    summary.variants = runs
                        .iter()
                        .filter(|r| !r.is_empty())
                        .map(|r| pool(r, repeated))
                        .collect();
                    write_summary(&cfg.run_dir, &summary)?;
                }
                Err(LabError::Interrupted) => {
                    summary.interrupted = true;
                    break 'rounds;
                }
                Err(e) => {
                    summary.passed = false;
                    write_summary(&cfg.run_dir, &summary)?;
                    return Err(e);
                }
            }
        }
    }
    summary.passed &= !summary.interrupted;
    summary.finished_at = Some(rfc3339(SystemTime::now()));
    write_summary(&cfg.run_dir, &summary)?;
    Ok(summary)
}

/// The progress line of a run starting: `[round 2/5] [3/10] NAME (5 s)`, the round only when
/// repeating, the description only in the first round.
fn announce(v: &Variant, (i, variants): (usize, usize), (round, repeat): (u32, u32), ms: u64) {
    let round_tag = if repeat > 1 {
        format!("[round {round}/{repeat}] ")
    } else {
        String::new()
    };
    let about = if round == 1 {
        format!(": {}", v.description.trim())
    } else {
        String::new()
    };
    eprintln!(
        "{round_tag}[{}/{variants}] {}{about} ({:.0} s)",
        i + 1,
        v.name,
        ms as f64 / 1000.0
    );
}

/// The directory of a run, relative to the run directory: `VARIANT`, or `VARIANT/run-K` when
/// repeating. The first round of a repeated variant clears what an earlier run into the same
/// `--out` directory left in `VARIANT`.
fn run_subdir(
    cfg: &LabConfig,
    v: &Variant,
    round: u32,
    repeated: bool,
) -> Result<String, LabError> {
    if !repeated {
        return Ok(v.name.clone());
    }
    let variant_dir = cfg.run_dir.join(&v.name);
    if round == 1 && variant_dir.exists() {
        std::fs::remove_dir_all(&variant_dir).map_err(LabError::io(&variant_dir))?;
    }
    Ok(format!("{}/run-{round}", v.name))
}

/// The environment variable that makes the runner panic N ms into a variant's load: fault
/// injection for the tests of what a crashed run leaves behind (processes, namespaces,
/// interfaces, rules). Unset, nothing happens.
pub const PANIC_AFTER_MS_ENV: &str = "MESH5XX_PANIC_AFTER_MS";

/// Panic `MESH5XX_PANIC_AFTER_MS` ms after `load_start`, or never.
async fn injected_panic(load_start: tokio::time::Instant) {
    let after = std::env::var(PANIC_AFTER_MS_ENV)
        .ok()
        .and_then(|v| v.parse::<u64>().ok());
    match after {
        Some(ms) => {
            tokio::time::sleep_until(load_start + Duration::from_millis(ms)).await;
            panic!("{PANIC_AFTER_MS_ENV}={ms}: the runner panics {ms} ms into the load, as asked");
        }
        None => std::future::pending().await,
    }
}

async fn run_variant(
    cfg: &LabConfig,
    scenario: &Scenario,
    v: &Variant,
    dir: PathBuf,
    duration_ms: u64,
    net: Option<&Arc<PodNetwork>>,
    stop: &mut watch::Receiver<bool>,
) -> Result<VariantResult, LabError> {
    if dir.exists() {
        // A re-run into the same --out directory starts the variant afresh (Envoy appends to logs).
        std::fs::remove_dir_all(&dir).map_err(LabError::io(&dir))?;
    }
    std::fs::create_dir_all(&dir).map_err(LabError::io(&dir))?;
    let mut pods =
        topology::start(&cfg.exe, &cfg.envoy, &cfg.profile, scenario, v, &dir, net).await?;

    let resolve = pods.egress.as_ref().map(|e| Resolve {
        name: scenario.service.host.clone(),
        dns: Some(e.ready.dns),
        port: e.ready.gateway_port,
        connect: pods.client_sandbox.is_some(),
    });
    let other_lookups = Arc::new(AtomicU64::new(0));
    let other_app = match (&v.topology.other_app, &pods.egress) {
        (Some(o), Some(e)) => Some(tokio::spawn(other_app::run(
            scenario.service.host.clone(),
            e.ready.dns,
            Duration::from_millis(o.first_at_ms.unwrap_or(o.resolve_every_ms)),
            Duration::from_millis(o.resolve_every_ms),
            other_lookups.clone(),
        ))),
        _ => None,
    };
    let mut load = load_args(
        &v.load,
        &pods.target.to_string(),
        &scenario.service.host,
        duration_ms,
        &dir,
        resolve.as_ref(),
    );
    if cfg.live {
        load.progress = ProgressMode::Always;
    }
    let mut cmd = Command::new(&cfg.exe);
    cmd.arg("loadgen").args(load.to_argv());
    if let Some(ns) = pods.client_netns() {
        ns.enter_on_spawn(&mut cmd);
    }
    let log = dir.join("loadgen.out");
    let mut loadgen = if cfg.live {
        Supervised::spawn_showing_stderr("loadgen", cmd, Some(&log))?
    } else {
        Supervised::spawn("loadgen", cmd, Some(&log))?
    };
    let limit = Duration::from_millis(duration_ms) + Duration::from_secs(60);
    let load_start = tokio::time::Instant::now();
    if let Some(e) = &pods.egress {
        e.start_schedule().await.map_err(|e| {
            LabError::Lifecycle(format!("starting the egress process's schedule: {e}"))
        })?;
    }
    let load_start_unix_ms = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    // The pod's life goes on while the load runs; the load's end is waited for either way.
    let lifecycle = lifecycle::run(&mut pods, v, load_start, &dir);
    let status = tokio::select! {
        (s, l) = async { tokio::join!(tokio::time::timeout(limit, loadgen.wait()), lifecycle) } => {
            l?;
            match s {
                Ok(s) => s?,
                Err(_) => return Err(LabError::LoadgenTimeout { secs: limit.as_secs(), log }),
            }
        }
        _ = stop.wait_for(|s| *s) => return Err(LabError::Interrupted),
        () = injected_panic(load_start) => unreachable!("an injected panic does not return"),
    };
    if !status.success() {
        return Err(LabError::Loadgen {
            status: status.to_string(),
            log,
        });
    }
    let sidecar_logs: Vec<(String, &'static str, PathBuf)> = pods
        .all_sidecars()
        .map(|s| (s.pod.clone(), s.role, s.access_log.clone()))
        .collect();
    let app_reports: Vec<PathBuf> = pods.all_apps().map(|a| a.report.clone()).collect();
    if let Some(task) = other_app {
        task.abort();
    }
    let egress_report = match &pods.egress {
        Some(e) => {
            let lines = e.ipset().await.unwrap_or_default();
            let path = dir.join("ipset.txt");
            std::fs::write(&path, lines.join("\n") + "\n").map_err(LabError::io(&path))?;
            Some(e.report.clone())
        }
        None => None,
    };
    pods.stop(&dir).await?;
    let egress = match egress_report {
        Some(path) => Some(outcome::egress_summary(
            &read_report::<mesh5xx_egress::Report>(&path)?,
            other_lookups.load(Ordering::Relaxed),
        )),
        None => None,
    };

    let load: LoadReport = read_report(&dir.join("loadgen.json"))?;
    let mut sidecars = Vec::new();
    for (pod, role, path) in &sidecar_logs {
        sidecars.push(outcome::access_log(path, pod, role).map_err(LabError::io(path))?);
    }
    let apps = app_reports
        .iter()
        .map(|p| read_report::<UpstreamReport>(p))
        .collect::<Result<Vec<_>, _>>()?;
    let mut result = outcome::variant_result(v, load, sidecars, &apps, egress);
    result.marks = lifecycle::marks(&dir, load_start_unix_ms);
    Ok(result)
}

fn write_summary(dir: &Path, summary: &Summary) -> Result<(), LabError> {
    summary
        .write_to(dir)
        .map_err(LabError::io(dir.join("summary.json")))
}
