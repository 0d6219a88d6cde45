//! `mesh5xx run SCENARIO`: run variants, print the table, write the run directory.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::SystemTime;

use anyhow::Context;
use mesh5xx_lab::{run_scenario, LabConfig, LabError};
use mesh5xx_scenario::profile;
use tokio::sync::watch;

use crate::envoy_cmd::EnvoyArgs;

/// Arguments of `mesh5xx run`.
#[derive(Debug, Clone, clap::Args)]
pub struct RunArgs {
    /// The scenario to run (see `mesh5xx list`).
    pub scenario: String,
    /// Run only these variants (repeatable; default: all, baseline first).
    #[arg(long = "variant", value_name = "NAME")]
    pub variants: Vec<String>,
    /// Istio profile whose defaults the sidecars get (default: the scenario's).
    #[arg(long, value_name = "PROFILE")]
    pub profile: Option<String>,
    /// Seconds each variant drives load (default: the scenario's).
    #[arg(long, value_name = "SECS", value_parser = parse_secs)]
    pub duration: Option<f64>,
    /// The run directory (default: a new one under results/runs/).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Exit 1 when any variant misses its expectations.
    #[arg(long)]
    pub check: bool,
    #[command(flatten)]
    pub envoy: EnvoyArgs,
}

fn parse_secs(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .parse()
        .map_err(|_| format!("{s:?} is not a number of seconds"))?;
    if (0.5..=600.0).contains(&v) {
        Ok(v)
    } else {
        Err(format!("{v} is not between 0.5 and 600 seconds"))
    }
}

/// Run the command; `scenarios` is the `--scenarios` directory, if given.
pub fn main(args: RunArgs, scenarios: Option<&PathBuf>) -> anyhow::Result<ExitCode> {
    let catalog = crate::catalog::load(scenarios)?;
    let scenario = catalog.get(&args.scenario)?;
    let variants = if args.variants.is_empty() {
        scenario.variants.iter().collect::<Vec<_>>()
    } else {
        args.variants
            .iter()
            .map(|n| scenario.variant(n))
            .collect::<Result<Vec<_>, _>>()?
    };
    let profile = profile::by_name(args.profile.as_deref().unwrap_or(&scenario.profile))?;
    let envoy = args.envoy.locate()?;
    let run_dir = match &args.out {
        Some(d) => {
            std::fs::create_dir_all(d)
                .with_context(|| format!("creating --out {}", d.display()))?;
            d.clone()
        }
        None => mesh5xx_results::run_dir(
            &PathBuf::from("results/runs"),
            &scenario.name,
            SystemTime::now(),
        )
        .context("creating the run directory under results/runs")?,
    };
    eprintln!(
        "mesh5xx: {} — {} (Envoy {} from {}, profile {}); results in {}",
        scenario.name,
        scenario.title,
        envoy.version,
        envoy.source,
        profile.name,
        run_dir.display()
    );
    let cfg = LabConfig {
        exe: std::env::current_exe().context("finding the mesh5xx binary")?,
        envoy,
        profile,
        run_dir: run_dir.clone(),
        duration_ms: args.duration.map(|s| (s * 1000.0) as u64),
        progress: true,
    };
    // One thread: the parent-death signal of every child follows the thread that spawned it.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let started = std::time::Instant::now();
    let outcome = rt.block_on(async {
        let (tx, rx) = watch::channel(false);
        tokio::spawn(async move {
            wait_for_signal().await;
            eprintln!("mesh5xx: stopping; results so far are kept");
            let _ = tx.send(true);
        });
        run_scenario(&cfg, scenario, &variants, rx).await
    });
    let summary = match outcome {
        Ok(s) => s,
        Err(e @ LabError::Interrupted) => return Err(e.into()),
        Err(e) => {
            return Err(anyhow::Error::new(e)
                .context(format!("results so far are in {}", run_dir.display())));
        }
    };
    print!("{}", mesh5xx_results::table::render(&summary));
    println!(
        "\n{} variant(s) in {:.1} s wall; summary: {}",
        summary.variants.len(),
        started.elapsed().as_secs_f64(),
        run_dir.join("summary.json").display()
    );
    if summary.interrupted {
        return Ok(ExitCode::from(130));
    }
    if args.check && !summary.passed {
        for v in summary.variants.iter().filter(|v| !v.passed) {
            eprintln!(
                "mesh5xx: {} missed its expectations: {}",
                v.name,
                v.failures.join("; ")
            );
        }
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
