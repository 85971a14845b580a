//! `pertbench fetch`: fetch and verify datasets.

use crate::context::Context;
use anyhow::{bail, Result};
use pertbench_data::fetch::{fetch, Origin};
use std::collections::{BTreeSet, VecDeque};

#[derive(clap::Args)]
pub struct Args {
    datasets: Vec<String>,
    #[arg(long)]
    all: bool,
}

pub fn run(a: Args, ctx: &Context) -> Result<()> {
    let data = &ctx.data;
    let names: Vec<String> = if a.all {
        pertbench_data::manifest::list(&data.manifest_dirs)
            .into_iter()
            .map(|(_, m)| m.name)
            .collect()
    } else if a.datasets.is_empty() {
        bail!("name the datasets to fetch, or pass --all");
    } else {
        a.datasets
    };
    // A dataset's parts (appended files, metadata table) are fetched with it.
    let mut queue: VecDeque<String> = names.into();
    let mut seen = BTreeSet::new();
    while let Some(name) = queue.pop_front() {
        if !seen.insert(name.clone()) {
            continue;
        }
        let (_, m) = data.manifest(&name)?;
        queue.extend(m.parts().into_iter().map(String::from));
        if m.source.is_generated() {
            println!("{name}: generated in code, nothing to fetch");
            continue;
        }
        let f = fetch(&m, &data.fetch)?;
        let from = match f.origin {
            Origin::DataDir => "already verified".to_string(),
            Origin::Mirror(p) => format!("from mirror {}", p.display()),
            Origin::Network(w) => format!("via {w}"),
        };
        println!(
            "{name}: {} ({from}; artefact sha256 {})",
            f.path.display(),
            f.sha256
        );
    }
    Ok(())
}
