//! `pertbench explain`: what a metric, variant or post-processing computes.

use anyhow::Result;
use pertbench_engine::explain;

#[derive(clap::Args)]
pub struct Args {
    name: Option<String>,
}

pub fn run(a: Args) -> Result<()> {
    let Some(name) = a.name else {
        print!("{}", explain::index());
        return Ok(());
    };
    let topics = explain::lookup(&name).map_err(anyhow::Error::msg)?;
    if topics.len() > 1 {
        println!("`{name}` is written by {} metrics:\n", topics.len());
    }
    let texts: Vec<String> = topics.iter().map(explain::render).collect();
    print!("{}", texts.join("\n"));
    Ok(())
}
