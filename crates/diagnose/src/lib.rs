//! Reads istio-proxy access logs, groups the 5xx and names the scenario and the fix.

/// Command-line arguments of `mesh5xx diagnose`.
#[derive(Debug, Clone, clap::Args)]
pub struct DiagnoseArgs {}

/// Entry point of `mesh5xx diagnose`: runs to completion on its own tokio runtime.
pub fn main(args: DiagnoseArgs) -> anyhow::Result<std::process::ExitCode> {
    let _ = args;
    anyhow::bail!("not built yet")
}
