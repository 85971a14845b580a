//! `pertbench report`: a self-contained HTML report of a results directory.

use crate::context::Context;
use anyhow::Result;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// Results directory [default: <workdir>/results]
    results: Option<PathBuf>,
    /// The HTML file to write
    #[arg(short, long, default_value = "report.html")]
    output: PathBuf,
}

pub fn run(a: Args, ctx: &Context) -> Result<()> {
    let dir = a.results.unwrap_or_else(|| ctx.ws.results_dir());
    let report = pertbench_report::render(&dir)?;
    pertbench_data::fetch::atomic_write_readable(&a.output, report.html.as_bytes())?;
    println!(
        "{} result rows, {} plots -> {}",
        report.n_rows,
        report.n_plots,
        a.output.display()
    );
    for m in &report.missing {
        println!("missing: {m}");
    }
    Ok(())
}
