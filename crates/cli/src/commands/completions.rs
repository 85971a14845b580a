//! `pertbench completions`: a shell completion script.

use anyhow::Result;

#[derive(clap::Args)]
pub struct Args {
    #[arg(value_enum)]
    shell: clap_complete::Shell,
}

pub fn run(a: Args) -> Result<()> {
    use clap::CommandFactory;
    clap_complete::generate(
        a.shell,
        &mut crate::Cli::command(),
        "pertbench",
        &mut std::io::stdout(),
    );
    Ok(())
}
