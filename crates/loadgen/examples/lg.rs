use clap::Parser;
#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: mesh5xx_loadgen::LoadArgs,
}
fn main() -> anyhow::Result<std::process::ExitCode> {
    mesh5xx_loadgen::main(Cli::parse().args)
}
