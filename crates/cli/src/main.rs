//! `mesh5xx`: the command line of the lab. Thin: every command lives in a library.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use mesh5xx::{envoy_cmd, explain, list, run};

/// Reproduce the HTTP 503/504 errors an Istio sidecar (Envoy) produces, and measure the fixes.
#[derive(Debug, Parser)]
#[command(name = "mesh5xx", version, about, long_about = None)]
struct Cli {
    /// Directory of scenario files, given before the command (default: ./scenarios, else the source tree's).
    #[arg(long, value_name = "DIR", env = "MESH5XX_SCENARIOS")]
    scenarios: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

/// Parsed once per process, so its size does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
enum Command {
    /// List the scenarios (one name first on each line; --json for variants too).
    List {
        /// Print JSON with every scenario's variants and descriptions.
        #[arg(long, group = "format")]
        json: bool,
        /// Print the Markdown table of the README: signature, cause, measured fixes.
        #[arg(long, group = "format")]
        markdown: bool,
        /// Print the table of istiod behaviours by Istio version (with the istio/istio
        /// source of each) that the profiles are read from.
        #[arg(long, group = "format")]
        istio_versions: bool,
        /// Print the Istio profiles (`--profile`), oldest first: name, then what sets it apart.
        #[arg(long, group = "format")]
        profiles: bool,
    },
    /// Explain a scenario: symptom, mechanism, each mitigation with its Istio YAML and cost.
    Explain {
        /// The scenario (see `mesh5xx list`), or the path of a scenario file of your own.
        scenario: String,
    },
    /// Run a scenario's variants through a real Envoy and print the before/after table.
    Run(run::RunArgs),
    /// Render a scenario for a real cluster (kind + Istio).
    #[command(subcommand)]
    Render(RenderCommand),
    /// Write a Markdown report with SVG charts from one or more run directories.
    Report(mesh5xx_report::ReportArgs),
    /// Find or install the Envoy binary the lab uses, and print its path and version.
    Envoy(envoy_cmd::EnvoyArgs),
    /// The toy app server (keep-alive recycling, delays, statuses, down windows).
    Upstream(mesh5xx_upstream::UpstreamArgs),
    /// The load generator acting as the app.
    Loadgen(mesh5xx_loadgen::LoadArgs),
    /// The fake DNS server and expiring egress firewall.
    Egress(mesh5xx_egress::EgressArgs),
    /// The istiod-like control plane: serves sidecars over ADS, reads updates on stdin.
    Xds(mesh5xx_xds::XdsArgs),
    /// Read istio-proxy access logs and name the failure and its fix.
    Diagnose(mesh5xx_diagnose::DiagnoseArgs),
}

#[derive(Debug, Subcommand)]
enum RenderCommand {
    /// The Envoy configuration each sidecar of a variant gets, as the profile's istiod
    /// rendered it; with --diff-profile, what differs between two Istio versions.
    Envoy(mesh5xx::render_envoy::RenderEnvoyArgs),
    /// Kubernetes manifests and the variant's Istio objects (the same YAML the local lab translates).
    K8s(mesh5xx_k8s::RenderK8sArgs),
    /// Write summary.json for a kind run directory (used by scripts/kind-run.sh).
    KindSummary(mesh5xx_k8s::KindSummaryArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("MESH5XX_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .init();
    let scenarios = cli.scenarios.as_ref();
    let result = match cli.command {
        Command::List {
            json,
            markdown,
            istio_versions,
            profiles,
        } => list_scenarios(
            scenarios,
            match (json, markdown, istio_versions, profiles) {
                (true, ..) => list::Format::Json,
                (_, true, ..) => list::Format::Markdown,
                (_, _, true, _) => list::Format::IstioVersions,
                (.., true) => list::Format::Profiles,
                _ => list::Format::Text,
            },
        ),
        Command::Explain { scenario } => mesh5xx::catalog::load_for(scenarios, &scenario)
            .and_then(|(c, scenario)| {
                c.get(&scenario).map(|s| {
                    let style = explain::Style {
                        colour: std::io::IsTerminal::is_terminal(&std::io::stdout()),
                    };
                    explain::render(s, explain::reference_summary(s).as_ref(), style)
                })
            })
            .map(|text| {
                print!("{text}");
                ExitCode::SUCCESS
            })
            .map_err(Into::into),
        Command::Run(args) => run::main(args, scenarios),
        Command::Envoy(args) => args.locate().map_err(Into::into).map(|b| {
            println!("{} {} ({})", b.path.display(), b.version, b.source);
            ExitCode::SUCCESS
        }),
        Command::Render(cmd) => match cmd {
            RenderCommand::Envoy(mut args) => mesh5xx::catalog::load_for(scenarios, &args.scenario)
                .map_err(anyhow::Error::from)
                .and_then(|(catalog, name)| {
                    args.scenario = name;
                    mesh5xx::render_envoy::main(&args, &catalog)
                }),
            RenderCommand::K8s(mut args) => mesh5xx::catalog::load_for(scenarios, &args.scenario)
                .map_err(anyhow::Error::from)
                .and_then(|(catalog, name)| {
                    args.scenario = name;
                    mesh5xx_k8s::main(args, &catalog)
                }),
            RenderCommand::KindSummary(mut args) => {
                mesh5xx::catalog::load_for(scenarios, &args.scenario)
                    .map_err(anyhow::Error::from)
                    .and_then(|(catalog, name)| {
                        args.scenario = name;
                        mesh5xx_k8s::summary_main(args, &catalog)
                    })
            }
        },
        Command::Report(args) => mesh5xx_report::main(args),
        Command::Upstream(args) => mesh5xx_upstream::main(args),
        Command::Loadgen(args) => mesh5xx_loadgen::main(args),
        Command::Egress(args) => mesh5xx_egress::main(args),
        Command::Xds(args) => mesh5xx_xds::process::main(args),
        Command::Diagnose(args) => mesh5xx::catalog::load(scenarios)
            .map_err(anyhow::Error::from)
            .and_then(|catalog| {
                let rules = catalog.scenarios.iter().filter_map(|s| s.rule()).collect();
                let unlogged = catalog
                    .scenarios
                    .iter()
                    .filter_map(|s| {
                        s.unlogged.as_ref().map(|seen| mesh5xx_diagnose::Unlogged {
                            scenario: s.name.clone(),
                            seen: seen.trim().to_string(),
                        })
                    })
                    .collect();
                mesh5xx_diagnose::main(args, rules, unlogged)
            }),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("mesh5xx: error: {err:#}");
            ExitCode::from(2)
        }
    }
}

fn list_scenarios(scenarios: Option<&PathBuf>, format: list::Format) -> anyhow::Result<ExitCode> {
    let catalog = mesh5xx::catalog::load(scenarios)?;
    print!("{}", list::render(&catalog, format));
    Ok(ExitCode::SUCCESS)
}
