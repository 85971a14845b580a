//! `pertbench sql`: read-only SQL over the results.

use crate::context::Context;
use anyhow::{bail, Context as _, Result};
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    query: Option<String>,
    #[arg(long)]
    file: Option<PathBuf>,
}

pub fn run(a: Args, ctx: &Context) -> Result<()> {
    let q = match (a.query, a.file) {
        (Some(q), None) => q,
        (None, Some(f)) => {
            std::fs::read_to_string(&f).with_context(|| format!("{}", f.display()))?
        }
        _ => bail!("give a query or --file, not both"),
    };
    println!(
        "{}",
        pertbench_sql::format(&pertbench_sql::query(&ctx.ws.results_dir(), &q)?)
    );
    Ok(())
}
