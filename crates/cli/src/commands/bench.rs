//! `pertbench bench`: a Replogle-shaped screen through the six tasks.

use crate::context::Context;
use crate::progress;
use anyhow::Result;
use pertbench_bench::{self as bench, BenchOptions};
use pertbench_data::bench_screen::BenchScreenSpec;

#[derive(clap::Args)]
pub struct Args {
    /// Cells: 20k, 200k or 2m (or any count)
    #[arg(long, default_value = "20k")]
    tier: String,
    /// Mean non-zeros per cell of the generated counts
    #[arg(long, default_value_t = 1000)]
    nnz_per_row: usize,
    /// Queries sampled for iLISI and kNN
    #[arg(long, default_value_t = bench::DEFAULT_MAX_QUERIES)]
    max_queries: usize,
    /// Draws of Task 3's label-shuffle null
    #[arg(long, default_value_t = bench::DEFAULT_LABEL_SHUFFLES)]
    label_shuffles: usize,
    /// No per-node progress lines
    #[arg(long)]
    quiet: bool,
}

pub fn run(a: Args, ctx: &Context) -> Result<()> {
    let mut spec = BenchScreenSpec::replogle_shaped(bench::tier_cells(&a.tier)?);
    spec.nnz_per_row = a.nnz_per_row;
    let opts = BenchOptions {
        dir: ctx.ws.workdir.join("bench").join(&a.tier),
        tier: a.tier.to_ascii_lowercase(),
        spec,
        max_queries: a.max_queries,
        label_shuffles: a.label_shuffles,
    };
    print!(
        "{}",
        bench::run(&opts, &ctx.data, progress::observer(a.quiet))?
    );
    Ok(())
}
