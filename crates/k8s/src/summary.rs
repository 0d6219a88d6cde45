//! `summary.json` of a kind run, from what `scripts/kind-run.sh` collected.
//!
//! A kind run directory has the local layout: one sub-directory per variant holding the
//! Job's `loadgen.json` (and `latency.hgrm`), the istio-proxy access log of every meshed
//! pod as `access-<pod>.log` (the load generator's pod is `loadgen-…`: the client sidecar;
//! every other pod is a server sidecar), each app container's log as `app-<pod>.log` (its
//! report JSON follows the READY line) and the rendered `manifests.yaml`. The summary is
//! built from the processes' typed reports with `mesh5xx_plan::outcome`, as the local
//! runner builds it, and checked against the scenario's expectations: both modes count alike.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::SystemTime;

use anyhow::{bail, Context};
use mesh5xx_loadgen::LoadReport;
use mesh5xx_plan::{outcome, read_report};
use mesh5xx_results::clock::rfc3339;
use mesh5xx_results::{Machine, Summary, VariantResult, SCHEMA_VERSION};
use mesh5xx_scenario::{Catalog, Scenario, Variant};
use mesh5xx_upstream::UpstreamReport;

/// `mesh5xx render kind-summary`: write `summary.json` for a kind run directory.
#[derive(Debug, Clone, clap::Args)]
pub struct KindSummaryArgs {
    /// The run directory `scripts/kind-run.sh` wrote (one sub-directory per variant).
    #[arg(value_name = "RUN_DIR")]
    pub run_dir: PathBuf,
    /// The scenario that ran.
    #[arg(long, value_name = "SCENARIO")]
    pub scenario: String,
    /// A variant that ran, in order (repeatable).
    #[arg(long = "variant", value_name = "NAME", required = true)]
    pub variants: Vec<String>,
    /// The Istio profile the cluster was installed with [default: the scenario's].
    #[arg(long, value_name = "P")]
    pub profile: Option<String>,
    /// The istio-proxy's Envoy version, e.g. `1.34.1`.
    #[arg(long, value_name = "VERSION", default_value = "unknown")]
    pub envoy_version: String,
    /// When the run started (RFC 3339) [default: now].
    #[arg(long, value_name = "TIME")]
    pub started_at: Option<String>,
    /// Mark the run finished now (the last call of a run).
    #[arg(long)]
    pub finished: bool,
    /// Mark the run interrupted (not every variant ran).
    #[arg(long)]
    pub interrupted: bool,
}

/// Entry point of `mesh5xx render kind-summary`: writes `RUN_DIR/summary.json`, prints the
/// before/after table when `--finished`, and exits 1 if a variant missed its expectations.
pub fn summary_main(args: KindSummaryArgs, catalog: &Catalog) -> anyhow::Result<ExitCode> {
    let scenario = catalog.get(&args.scenario)?;
    let variants = args
        .variants
        .iter()
        .map(|v| scenario.variant(v))
        .collect::<Result<Vec<_>, _>>()?;
    let profile = args.profile.as_deref().unwrap_or(&scenario.profile);
    mesh5xx_scenario::profile::by_name(profile)?;
    let started_at = args
        .started_at
        .clone()
        .unwrap_or_else(|| rfc3339(SystemTime::now()));
    let finished_at = args.finished.then(|| rfc3339(SystemTime::now()));
    let summary = build(
        &args.run_dir,
        scenario,
        &variants,
        &Meta {
            profile: profile.to_string(),
            envoy_version: args.envoy_version.clone(),
            started_at,
            finished_at,
            interrupted: args.interrupted,
        },
    )?;
    summary
        .write_to(&args.run_dir)
        .with_context(|| format!("writing {}/summary.json", args.run_dir.display()))?;
    if args.finished {
        print!("{}", mesh5xx_results::table::render(&summary));
    }
    Ok(if summary.passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Run-level facts the directory does not hold.
#[derive(Debug, Clone)]
pub struct Meta {
    pub profile: String,
    pub envoy_version: String,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub interrupted: bool,
}

/// The summary of `variants` from `run_dir`; a variant whose `loadgen.json` is missing (its
/// Job failed) is left out and fails the run.
pub fn build(
    run_dir: &Path,
    scenario: &Scenario,
    variants: &[&Variant],
    meta: &Meta,
) -> anyhow::Result<Summary> {
    let mut summary = Summary {
        schema_version: SCHEMA_VERSION,
        scenario: scenario.name.clone(),
        title: scenario.title.clone(),
        envoy_version: meta.envoy_version.clone(),
        istio_profile: meta.profile.clone(),
        mode: "kind".into(),
        started_at: meta.started_at.clone(),
        finished_at: meta.finished_at.clone(),
        machine: Machine::this(),
        interrupted: meta.interrupted,
        passed: !meta.interrupted,
        variants: Vec::new(),
        not_applicable: Vec::new(),
    };
    for v in variants {
        let dir = run_dir.join(&v.name);
        if !dir.join("loadgen.json").exists() {
            eprintln!(
                "mesh5xx: {}: no loadgen.json; variant {} is left out of the summary",
                dir.display(),
                v.name
            );
            summary.passed = false;
            continue;
        }
        let r = variant_result(&dir, v)?;
        summary.passed &= r.passed;
        summary.variants.push(r);
    }
    Ok(summary)
}

/// Role of a pod's sidecar: the load generator's is the client, every other is a server.
pub fn role_of(pod: &str) -> &'static str {
    if pod.starts_with("loadgen") {
        "client"
    } else {
        "server"
    }
}

/// Files `<prefix><pod>.log` of `dir`, as (pod, path), sorted by pod.
fn pod_files(dir: &Path, prefix: &str) -> anyhow::Result<Vec<(String, PathBuf)>> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).with_context(|| dir.display().to_string())? {
        let path = e?.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if let Some(pod) = name
            .strip_prefix(prefix)
            .and_then(|n| n.strip_suffix(".log"))
        {
            out.push((pod.to_string(), path.clone()));
        }
    }
    out.sort();
    Ok(out)
}

/// The app server's report in its container log: the JSON object after the READY line.
pub fn app_report(log: &str) -> anyhow::Result<UpstreamReport> {
    let Some(start) = log
        .lines()
        .scan(0usize, |at, line| {
            let here = *at;
            *at += line.len() + 1;
            Some((here, line))
        })
        .find(|(_, l)| l.trim_start().starts_with('{'))
        .map(|(at, _)| at)
    else {
        bail!("no report JSON in the app log (was the pod stopped with SIGTERM?)");
    };
    let mut it = serde_json::Deserializer::from_str(&log[start..]).into_iter::<UpstreamReport>();
    match it.next() {
        Some(r) => Ok(r?),
        None => bail!("no report JSON in the app log"),
    }
}

fn variant_result(dir: &Path, v: &Variant) -> anyhow::Result<VariantResult> {
    let load: LoadReport = read_report(&dir.join("loadgen.json"))?;
    let mut sidecars = Vec::new();
    for (pod, path) in pod_files(dir, "access-")? {
        sidecars.push(
            outcome::access_log(&path, &pod, role_of(&pod))
                .with_context(|| path.display().to_string())?,
        );
    }
    let mut apps = Vec::new();
    for (pod, path) in pod_files(dir, "app-")? {
        let text = std::fs::read_to_string(&path)?;
        match app_report(&text) {
            Ok(r) => apps.push(r),
            Err(e) => eprintln!("mesh5xx: {}: {e} (pod {pod})", path.display()),
        }
    }
    let egress = egress_report(dir).map(|r| outcome::egress_summary(&r, other_app_lookups(dir)));
    Ok(outcome::variant_result(v, load, sidecars, &apps, egress))
}

/// Lookups the Job's `other-app` container got an answer to (`other-app.log`, one
/// [`crate::LOOKUP_MARKER`] line per lookup); 0 without the file.
pub fn other_app_lookups(dir: &Path) -> u64 {
    let answered = format!("{} answered", crate::LOOKUP_MARKER);
    std::fs::read_to_string(dir.join("other-app.log"))
        .map(|t| t.lines().filter(|l| l.trim() == answered).count() as u64)
        .unwrap_or(0)
}

/// The egress pod's report: the last line of an `egress-*.log` of `dir` that is one (the pod
/// prints it on stdout when it stops).
fn egress_report(dir: &Path) -> Option<mesh5xx_egress::Report> {
    let entries = std::fs::read_dir(dir).ok()?;
    let log = entries.filter_map(|e| e.ok().map(|e| e.path())).find(|p| {
        p.file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("egress-") && n.ends_with(".log"))
    })?;
    let text = std::fs::read_to_string(log).ok()?;
    text.lines()
        .rev()
        .find_map(|l| serde_json::from_str::<mesh5xx_egress::Report>(l.trim()).ok())
}
