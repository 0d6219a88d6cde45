//! `mesh5xx run SCENARIO | --all`: run variants, print the table, write the run directory.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Instant, SystemTime};

use anyhow::Context;
use mesh5xx_lab::{run_scenario, LabConfig, LabError, Network};
use mesh5xx_results::{NotApplicable, Summary};
use mesh5xx_scenario::{profile, Catalog, Profile, Scenario, Variant};
use mesh5xx_sidecar::EnvoyBinary;
use tokio::sync::watch;

use crate::envoy_cmd::EnvoyArgs;

/// Arguments of `mesh5xx run`.
#[derive(Debug, Clone, clap::Args)]
pub struct RunArgs {
    /// The scenario to run (see `mesh5xx list`), or the path of a scenario file of your own.
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    pub scenario: Option<String>,
    /// Run every scenario, one after another (one run directory each).
    #[arg(long, conflicts_with = "variants")]
    pub all: bool,
    /// Run only these variants (repeatable; default: all, baseline first).
    #[arg(long = "variant", value_name = "NAME")]
    pub variants: Vec<String>,
    /// Istio profile whose defaults the sidecars get (default: the scenario's).
    #[arg(long, value_name = "PROFILE")]
    pub profile: Option<String>,
    /// Seconds each variant drives load (default: the scenario's).
    #[arg(long, value_name = "SECS", value_parser = parse_secs)]
    pub duration: Option<f64>,
    /// Run each variant N times (1 to 100), round by round: every variant once, then again;
    /// the table gives the error rate's mean, 95 % interval and spread over the runs.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = parse_repeat)]
    pub repeat: u32,
    /// The run directory (default: a new one under results/runs/); with --all, DIR/<scenario>.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Exit 1 when any variant misses its expectations.
    #[arg(long)]
    pub check: bool,
    /// How pods are networked: `local` (every process on loopback, the app naming its
    /// sidecar; the default) or `netns` (each pod a network namespace on a bridge with the iptables rules
    /// Istio's istio-iptables writes for the profile's era; needs root).
    /// A scenario that only `netns` can show (an app on the pod's loopback, a lost node) runs there
    /// unless named otherwise.
    #[arg(long, value_name = "MODE", value_parser = parse_network)]
    pub network: Option<Network>,
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

fn parse_network(s: &str) -> Result<Network, String> {
    s.parse()
}

fn parse_repeat(s: &str) -> Result<u32, String> {
    let n: u32 = s
        .parse()
        .map_err(|_| format!("{s:?} is not a whole number of runs"))?;
    if (1..=100).contains(&n) {
        Ok(n)
    } else {
        Err(format!("{n} is not between 1 and 100 runs"))
    }
}

/// One scenario to run, resolved from the arguments before anything starts.
struct Plan<'a> {
    scenario: &'a Scenario,
    /// The variants to run, as they are under `profile`.
    variants: Vec<Variant>,
    /// The variants left out because `profile`'s istiod did not translate what they use.
    not_applicable: Vec<NotApplicable>,
    profile: Profile,
    run_dir: PathBuf,
    /// How its pods are networked.
    network: Network,
}

/// Run the command; `scenarios` is the `--scenarios` directory, if given.
pub fn main(args: RunArgs, scenarios: Option<&PathBuf>) -> anyhow::Result<ExitCode> {
    let (catalog, name) = match &args.scenario {
        Some(wanted) => {
            let (catalog, name) = crate::catalog::load_for(scenarios, wanted)?;
            (catalog, Some(name))
        }
        None => (crate::catalog::load(scenarios)?, None),
    };
    let args = RunArgs {
        scenario: name,
        ..args
    };
    let mut plans = plan(&args, &catalog)?;
    let envoy = args.envoy.locate()?;
    provision_schema(&plans)?;
    enter_private_network(&mut plans, &args)?;
    let exe = std::env::current_exe().context("finding the mesh5xx binary")?;
    // One thread: the parent-death signal of every child follows the thread that spawned it.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (tx, rx) = watch::channel(false);
    rt.spawn(async move {
        wait_for_signal().await;
        eprintln!("mesh5xx: stopping; results so far are kept");
        let _ = tx.send(true);
    });
    let mut all_passed = true;
    for p in plans {
        let started = Instant::now();
        let (summary, run_dir) = rt.block_on(run_one(&args, &envoy, &exe, &p, rx.clone()))?;
        print!("{}", mesh5xx_results::table::render(&summary));
        let runs: usize = summary.variants.iter().map(|v| v.runs.len()).sum();
        println!(
            "\n{}: {} variant(s), {runs} run(s) in {:.1} s wall; summary: {}\n",
            p.scenario.name,
            summary.variants.len(),
            started.elapsed().as_secs_f64(),
            run_dir.join("summary.json").display()
        );
        if summary.interrupted {
            return Ok(ExitCode::from(130));
        }
        for v in summary.variants.iter().filter(|v| !v.passed) {
            eprintln!(
                "mesh5xx: {} / {} missed its expectations: {}",
                p.scenario.name,
                v.name,
                v.failures.join("; ")
            );
        }
        all_passed &= summary.passed;
    }
    if args.check && !all_passed {
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

/// The control plane's xDS schema (from PyPI on first use), made before the run may enter a
/// private network namespace, from which PyPI cannot be reached.
fn provision_schema(plans: &[Plan<'_>]) -> anyhow::Result<()> {
    let control_plane = plans
        .iter()
        .any(|p| p.variants.iter().any(|v| v.topology.control_plane));
    if control_plane {
        mesh5xx_xds::Schema::file(None).context("the control plane's xDS schema")?;
    }
    Ok(())
}

/// Variants whose firewall runs in the kernel (nftables) need the whole run in a private
/// network namespace, entered here before any thread exists so that every process of the
/// run shares it. Without `nft` or root, naming such a variant with --variant is an error;
/// otherwise those variants are left out, saying so.
fn enter_private_network(plans: &mut [Plan<'_>], args: &RunArgs) -> anyhow::Result<()> {
    if plans.iter().any(|p| p.network == Network::Netns) {
        // The pods' bridge and veths go into the run's own namespace, gone with the run (the
        // local mode's loopback works the same in it).
        return mesh5xx_process::netns::enter_private().map_err(|e| {
            let names: Vec<&str> = plans
                .iter()
                .filter(|p| p.network == Network::Netns)
                .map(|p| p.scenario.name.as_str())
                .collect();
            anyhow::anyhow!(
                "{} runs with --network netns, which needs a private network namespace ({e}): run as root",
                names.join(", ")
            )
        });
    }
    let needing: Vec<String> = plans
        .iter()
        .flat_map(|p| {
            p.variants
                .iter()
                .filter(|v| v.needs_private_network())
                .map(move |v| format!("{} / {}", p.scenario.name, v.name))
        })
        .collect();
    if needing.is_empty() {
        return Ok(());
    }
    let entered = match std::process::Command::new("nft").arg("--version").output() {
        Err(e) => Err(format!(
            "needs `nft` ({e}): install it (Debian: apt-get install nftables)"
        )),
        Ok(_) => mesh5xx_process::netns::enter_private()
            .map_err(|e| format!("needs a private network namespace ({e}): run as root")),
    };
    match entered {
        Ok(()) => Ok(()),
        Err(why) if !args.variants.is_empty() => anyhow::bail!(
            "{} runs its firewall in the kernel (nftables) and {why}, or leave that variant out",
            needing.join(", ")
        ),
        Err(why) => {
            eprintln!(
                "mesh5xx: leaving out {} (the firewall in the kernel): {why}",
                needing.join(", ")
            );
            for p in plans.iter_mut() {
                p.variants.retain(|v| !v.needs_private_network());
            }
            Ok(())
        }
    }
}

/// Resolve scenarios, variants, profile and run directories; every name is checked up front.
fn plan<'a>(args: &RunArgs, catalog: &'a Catalog) -> anyhow::Result<Vec<Plan<'a>>> {
    let scenarios: Vec<&Scenario> = match &args.scenario {
        Some(name) => vec![catalog.get(name)?],
        None => catalog.scenarios.iter().collect(),
    };
    let mut plans = Vec::new();
    for scenario in scenarios {
        let network = args
            .network
            .unwrap_or_else(|| Network::for_scenario(scenario));
        let named: Vec<&Variant> = if args.variants.is_empty() {
            scenario.variants.iter().collect()
        } else {
            args.variants
                .iter()
                .map(|n| scenario.variant(n))
                .collect::<Result<Vec<_>, _>>()?
        };
        let profile = profile::by_name(args.profile.as_deref().unwrap_or(&scenario.profile))?;
        let mut variants = Vec::new();
        let mut not_applicable = Vec::new();
        for v in named {
            if let Some(why) = network.refuses(v) {
                if !args.variants.is_empty() {
                    anyhow::bail!("{} / {}: {why}", scenario.name, v.name);
                }
                eprintln!("mesh5xx: {}: leaving out {}: {why}", scenario.name, v.name);
                continue;
            }
            let v = v.for_profile(&profile);
            let Some(why) = v.not_applicable(&profile) else {
                variants.push(v);
                continue;
            };
            if !args.variants.is_empty() {
                anyhow::bail!(
                    "{}: {why}; run it under another profile (--profile) or leave it out",
                    scenario.name
                );
            }
            eprintln!("mesh5xx: {}: leaving out {why}", scenario.name);
            not_applicable.push(NotApplicable {
                needs: v.needs(&profile).unwrap_or_default(),
                variant: v.name,
            });
        }
        let run_dir = match (&args.out, args.all) {
            (Some(d), false) => d.clone(),
            (Some(d), true) => d.join(&scenario.name),
            (None, _) => PathBuf::new(),
        };
        if variants.is_empty() && not_applicable.is_empty() {
            if args.all {
                eprintln!(
                    "mesh5xx: leaving out {}: no variant runs with --network {network}",
                    scenario.name
                );
                continue;
            }
            anyhow::bail!(
                "{}: no variant runs with --network {network}",
                scenario.name
            );
        }
        plans.push(Plan {
            network,
            scenario,
            variants,
            not_applicable,
            profile,
            run_dir,
        });
    }
    Ok(plans)
}

/// Run one plan; its summary and the run directory it went to.
async fn run_one(
    args: &RunArgs,
    envoy: &EnvoyBinary,
    exe: &std::path::Path,
    p: &Plan<'_>,
    stop: watch::Receiver<bool>,
) -> anyhow::Result<(Summary, PathBuf)> {
    let run_dir = if p.run_dir.as_os_str().is_empty() {
        mesh5xx_results::run_dir(
            &PathBuf::from("results/runs"),
            &p.scenario.name,
            SystemTime::now(),
        )
        .context("creating the run directory under results/runs")?
    } else {
        std::fs::create_dir_all(&p.run_dir)
            .with_context(|| format!("creating --out {}", p.run_dir.display()))?;
        p.run_dir.clone()
    };
    let rounds = if args.repeat > 1 {
        format!(", {} runs of each variant, round by round", args.repeat)
    } else {
        String::new()
    };
    eprintln!(
        "mesh5xx: {} — {} (Envoy {} from {}, profile {}{rounds}); results in {}",
        p.scenario.name,
        p.scenario.title,
        envoy.version,
        envoy.source,
        p.profile.name,
        run_dir.display()
    );
    let cfg = LabConfig {
        exe: exe.to_path_buf(),
        envoy: envoy.clone(),
        profile: p.profile.clone(),
        run_dir: run_dir.clone(),
        duration_ms: args.duration.map(|s| (s * 1000.0) as u64),
        repeat: args.repeat,
        progress: true,
        live: std::io::IsTerminal::is_terminal(&std::io::stderr()),
        not_applicable: p.not_applicable.clone(),
        network: p.network,
    };
    let variants: Vec<&Variant> = p.variants.iter().collect();
    match run_scenario(&cfg, p.scenario, &variants, stop).await {
        Ok(s) => Ok((s, run_dir)),
        Err(e @ LabError::Interrupted) => Err(e.into()),
        Err(e) => {
            Err(anyhow::Error::new(e)
                .context(format!("results so far are in {}", run_dir.display())))
        }
    }
}

async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
