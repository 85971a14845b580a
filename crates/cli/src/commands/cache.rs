//! `pertbench cache ls | gc`: the node cache.

use crate::context::Context;
use anyhow::{bail, Result};
use pertbench_engine::exec::cache::{Cache, CacheState, Entry};
use pertbench_engine::exec::run::plan;
use std::collections::BTreeSet;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    action: Action,
}

#[derive(clap::Subcommand)]
enum Action {
    /// List cached nodes with size and state
    Ls,
    /// Remove nodes no listed pipeline uses (default: every pipelines/*.yaml),
    /// and temporaries of killed runs. Refuses while a run uses the cache;
    /// never follows a symlink; leaves what pertbench did not write.
    Gc {
        pipelines: Vec<PathBuf>,
        /// Remove every node when no pipeline is given or found (without
        /// it, gc refuses rather than empty the cache)
        #[arg(long)]
        all: bool,
    },
}

pub fn run(a: Args, ctx: &Context) -> Result<()> {
    let cache = ctx.ws.cache();
    match a.action {
        Action::Ls => list(&cache),
        Action::Gc { pipelines, all } => gc(&cache, pipelines, all, ctx),
    }
}

fn list(cache: &Cache) -> Result<()> {
    let mut total = 0;
    for (kind, key, size, entry) in cache.list() {
        total += size;
        let (st, label) = match &entry {
            Entry::Node(CacheState::Valid(r)) => ("ok", r.label.clone()),
            Entry::Node(CacheState::Missing) => ("missing", String::new()),
            Entry::Node(CacheState::Corrupt(why)) => ("corrupt", why.clone()),
            Entry::LiveTemporary => ("running", "a live run's temporary".into()),
            Entry::StaleTemporary => (
                "stale",
                "a killed run's temporary (gc or the next run removes it)".into(),
            ),
            Entry::Foreign(why) => ("foreign", format!("{why}: left alone")),
        };
        let short: String = key.chars().take(12).collect();
        println!("{st:<8} {kind:<14} {short:<12} {size:>10}  {label}");
    }
    println!("total {total} bytes in {}", cache.root.display());
    Ok(())
}

/// Every `pipelines/*.yaml` of the current directory, sorted.
fn default_pipelines() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir("pipelines")
        .map(|rd| {
            rd.flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn gc(cache: &Cache, pipelines: Vec<PathBuf>, all: bool, ctx: &Context) -> Result<()> {
    let pipelines = if pipelines.is_empty() {
        default_pipelines()
    } else {
        pipelines
    };
    if pipelines.is_empty() && !all {
        bail!(
            "cache gc: no pipeline given and none in {}: every node of {} would be removed; \
             name the pipelines whose nodes to keep, or pass --all to remove them all",
            std::env::current_dir()
                .map(|d| d.join("pipelines").display().to_string())
                .unwrap_or_else(|_| "./pipelines".into()),
            cache.root.display()
        );
    }
    let mut keep = BTreeSet::new();
    for p in &pipelines {
        let dag = plan(p, &ctx.data)?;
        keep.extend(dag.nodes.iter().map(|n| n.key.clone()));
    }
    let r = cache.gc(&keep)?;
    println!(
        "removed {} nodes and {} temporaries of killed runs ({} bytes); kept those of {} pipelines",
        r.nodes_removed,
        r.temporaries_removed,
        r.bytes_freed,
        pipelines.len()
    );
    for l in &r.left {
        println!("left: {l}");
    }
    Ok(())
}
