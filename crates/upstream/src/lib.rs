//! The toy app server: keep-alive recycling (idle close, max requests with graceful/abrupt/drop, lifetime), delays, injected statuses, down/up schedule.

/// Command-line arguments of `mesh5xx upstream`.
#[derive(Debug, Clone, clap::Args)]
pub struct UpstreamArgs {}

/// Entry point of `mesh5xx upstream`: runs to completion on its own tokio runtime.
pub fn main(args: UpstreamArgs) -> anyhow::Result<std::process::ExitCode> {
    let _ = args;
    anyhow::bail!("not built yet")
}
