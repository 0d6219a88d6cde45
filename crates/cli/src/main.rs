//! `mesh5xx`: the command line of the lab. Thin: every subcommand lives in a library crate.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Reproduce the HTTP 503/504 errors an Istio sidecar (Envoy) produces, and measure the fixes.
#[derive(Debug, Parser)]
#[command(name = "mesh5xx", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// The toy app server (keep-alive recycling, delays, statuses, down windows).
    Upstream(mesh5xx_upstream::UpstreamArgs),
    /// The load generator acting as the app.
    Loadgen(mesh5xx_loadgen::LoadArgs),
    /// The fake DNS server and expiring egress firewall.
    Egress(mesh5xx_egress::EgressArgs),
    /// Read istio-proxy access logs and name the failure and its fix.
    Diagnose(mesh5xx_diagnose::DiagnoseArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Upstream(args) => mesh5xx_upstream::main(args),
        Command::Loadgen(args) => mesh5xx_loadgen::main(args),
        Command::Egress(args) => mesh5xx_egress::main(args),
        Command::Diagnose(args) => mesh5xx_diagnose::main(args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("mesh5xx: error: {err:#}");
            ExitCode::from(2)
        }
    }
}
