//! The load generator acting as the app: closed and open loop, keep-alive pool, response flags, HDR latencies, per-second timeline.

/// Command-line arguments of `mesh5xx loadgen`.
#[derive(Debug, Clone, clap::Args)]
pub struct LoadArgs {}

/// Entry point of `mesh5xx loadgen`: runs to completion on its own tokio runtime.
pub fn main(args: LoadArgs) -> anyhow::Result<std::process::ExitCode> {
    let _ = args;
    anyhow::bail!("not built yet")
}
