//! `pertbench plan`: a pipeline's DAG with each node's cache state.

use crate::context::Context;
use anyhow::Result;
use pertbench_engine::exec::run::{plan, plan_lines};
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    pipeline: PathBuf,
}

pub fn run(a: Args, ctx: &Context) -> Result<()> {
    let dag = plan(&a.pipeline, &ctx.data)?;
    let cache = ctx.ws.cache();
    let lines = plan_lines(&dag, &cache);
    for l in &lines {
        println!("{l}");
    }
    for s in &dag.skipped {
        println!("skipped  {s}");
    }
    let cached = lines.iter().filter(|l| l.starts_with("cached")).count();
    println!(
        "{} nodes: {} cached, {} to compute",
        lines.len(),
        cached,
        lines.len() - cached
    );
    Ok(())
}
