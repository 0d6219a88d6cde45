//! The fake DNS server and the egress firewall whose allow entries expire like ipset timeouts.
//!
//! One process serves:
//! - a DNS server (UDP and TCP) answering A records from a zone table that a
//!   schedule can change over time (load balancer IP rotation);
//! - an egress firewall: every answer for an allow-listed name adds or refreshes
//!   `(ip, tcp:port)` in an allow table for `allow_timeout_ms`, like `ipset add … timeout N -exist`;
//! - one gateway per external address, forwarding to the real server, that
//!   refuses NEW connections while its allow entry has expired (established
//!   ones keep flowing, as with conntrack): a TCP forwarder in this process, or with
//!   `backend: nftables` the kernel itself (an nftables set, DNAT and conntrack; see
//!   [`nftables`]);
//! - a control port for snapshots, and a JSON report on exit.
//!
//! [`main`] runs it as `mesh5xx egress`; [`start`] runs it inside a tokio runtime.

pub mod allow;
pub mod config;
mod control;
pub mod dns;
pub mod faults;
pub mod firewall;
pub mod gateway;
pub mod nftables;
pub mod report;
pub mod schedule;
mod service;
pub mod zones;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

pub use config::{
    ConfigError, EgressConfig, ElbOldAddress, FirewallBackend, GatewayConfig, Network, OnExpired,
    ScheduleChange, ZoneRecord,
};
pub use report::Report;
pub use schedule::ScheduleStart;
pub use service::{start, EgressError, Ready, ReadyGateway, RunningEgress};

/// Command-line arguments of `mesh5xx egress`.
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct EgressArgs {
    /// JSON configuration (an `EgressConfig`); without it, no zones and no gateways.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Write the JSON report here on SIGTERM or SIGINT.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// Print the network faults a scenario's `topology.external.faults` can name (what they
    /// make this process do) and exit.
    #[arg(long)]
    pub list_faults: bool,
}

impl EgressArgs {
    /// These arguments as a command line, after the `egress` subcommand word.
    pub fn to_argv(&self) -> Vec<String> {
        let mut a = Vec::new();
        if let Some(config) = &self.config {
            a.extend(["--config".to_string(), config.display().to_string()]);
        }
        if let Some(report) = &self.report {
            a.extend(["--report".to_string(), report.display().to_string()]);
        }
        if self.list_faults {
            a.push("--list-faults".to_string());
        }
        a
    }
}

/// Entry point of `mesh5xx egress`: runs to completion on its own tokio runtime.
pub fn main(args: EgressArgs) -> anyhow::Result<ExitCode> {
    if args.list_faults {
        print!("{}", faults::NetworkFaults::describe());
        return Ok(ExitCode::SUCCESS);
    }
    let config = match &args.config {
        Some(path) => EgressConfig::from_file(path)?,
        None => EgressConfig::default(),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the tokio runtime")?;
    runtime.block_on(async {
        let running = start(config).await?;
        mesh5xx_process::announce_ready(running.ready()).context("cannot print the READY line")?;
        mesh5xx_process::stop_signal()
            .await
            .context("cannot handle SIGTERM/SIGINT")?;
        let report = running.shutdown().await;
        if let Some(path) = &args.report {
            let json = serde_json::to_string_pretty(&report)?;
            std::fs::write(path, json + "\n")
                .with_context(|| format!("cannot write the report to {}", path.display()))?;
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// Resolves once the shutdown flag turns true (or its sender is gone).
pub(crate) async fn stopped(shutdown: &mut tokio::sync::watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        args: EgressArgs,
    }

    #[test]
    fn to_argv_round_trips_through_the_command_line() {
        for args in [
            EgressArgs {
                config: Some("/run/egress-config.json".into()),
                report: Some("/run/egress.json".into()),
                list_faults: false,
            },
            EgressArgs {
                config: None,
                report: None,
                list_faults: true,
            },
        ] {
            let argv = std::iter::once("egress".to_string()).chain(args.to_argv());
            assert_eq!(Cli::try_parse_from(argv).unwrap().args, args);
        }
    }
}
