use clap::Parser;
#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: mesh5xx_upstream::UpstreamArgs,
}
fn main() -> anyhow::Result<std::process::ExitCode> {
    mesh5xx_upstream::main(Cli::parse().args)
}
