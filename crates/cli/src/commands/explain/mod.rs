//! `pertbench explain`: what a metric, variant or post-processing computes.

mod text;

use anyhow::Result;

#[derive(clap::Args)]
pub struct Args {
    name: Option<String>,
    /// Print the JSON schema of pipeline files (every field of every
    /// metric kind, with its type, choices, default and meaning)
    #[arg(long, conflicts_with = "name")]
    schema: bool,
}

pub fn run(a: Args) -> Result<()> {
    if a.schema {
        println!(
            "{}",
            serde_json::to_string_pretty(&pertbench_engine::pipeline::json_schema())?
        );
        return Ok(());
    }
    let Some(name) = a.name else {
        print!("{}", text::index());
        return Ok(());
    };
    let topics = text::lookup(&name).map_err(anyhow::Error::msg)?;
    if topics.len() > 1 {
        println!("`{name}` is written by {} metrics:\n", topics.len());
    }
    let texts: Vec<String> = topics.iter().map(text::render).collect();
    print!("{}", texts.join("\n"));
    Ok(())
}
