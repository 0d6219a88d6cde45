//! The fake DNS server and the egress firewall whose allow entries expire like ipset timeouts.

/// Command-line arguments of `mesh5xx egress`.
#[derive(Debug, Clone, clap::Args)]
pub struct EgressArgs {}

/// Entry point of `mesh5xx egress`: runs to completion on its own tokio runtime.
pub fn main(args: EgressArgs) -> anyhow::Result<std::process::ExitCode> {
    let _ = args;
    anyhow::bail!("not built yet")
}
