//! `pertbench bench`: a Replogle-shaped screen through the six tasks.

use crate::context::Context;
use crate::progress;
use anyhow::Result;
use pertbench_bench::{self as bench, BenchOptions};
use pertbench_data::bench_screen::BenchScreenSpec;
use pertbench_engine::cell_eval::metric_set::Profile;
use pertbench_engine::differential_expression::DeConvention;

#[derive(clap::Args)]
pub struct Args {
    /// hierarchy: the six tasks under four post-processings; vcc: DE and
    /// cell-eval's metric set on a screen and a prediction (issue 23); map:
    /// copairs' phenotypic activity on profiles (tier = profiles, issue 24);
    /// distance: pertpy's distances and E-test on an embedding (tier = cells)
    #[arg(long, value_enum, default_value_t = Suite::Hierarchy)]
    suite: Suite,
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
    /// vcc: cell-eval's metric set (full, minimal, vcc, de, anndata, pds)
    #[arg(long, value_parser = Profile::from_arg, default_value = "full")]
    profile: Profile,
    /// vcc: DE and metric conventions: pdex_0_2 (cell-eval >= 0.6) or
    /// cell_eval_0_5 (cell-eval 0.5.45 with pdex 0.1.24, the challenge's)
    #[arg(long, default_value = "pdex_0_2", value_parser = DeConvention::from_arg)]
    convention: DeConvention,
    /// vcc: a Python with cell-eval installed, run on the same files and
    /// timed beside (e.g. target/venvs/cell-eval/bin/python); map: a Python
    /// with copairs (target/venvs/reference-tools/bin/python); distance: a
    /// Python with pertpy (target/venvs/pertpy-1.2.0/bin/python)
    #[arg(long)]
    anchor_python: Option<std::path::PathBuf>,
    /// map: features per profile
    #[arg(long, default_value_t = 1000)]
    features: usize,
    /// map: draws of the null (copairs' and the permutation test's);
    /// distance: the E-test's relabellings
    #[arg(long, default_value_t = 1000)]
    null_size: usize,
    /// map: profiles of the set copairs runs on beside; distance: cells of
    /// the set pertpy runs on beside
    #[arg(long, default_value_t = 5000)]
    anchor_profiles: usize,
    /// distance: dimensions of the embedding (pertpy's X_pca)
    #[arg(long, default_value_t = 50)]
    dims: usize,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Suite {
    Hierarchy,
    Vcc,
    Map,
    Distance,
}

pub fn run(a: Args, ctx: &Context) -> Result<()> {
    if let Suite::Map = a.suite {
        let opts = bench::map::MapBenchOptions {
            n_profiles: bench::tier_cells(&a.tier)?,
            n_features: a.features,
            replicates: 4,
            control_fraction: 0.05,
            null_size: a.null_size,
            dir: ctx.ws.workdir.join("bench").join(format!("map_{}", a.tier)),
            anchor_python: a.anchor_python,
            anchor_profiles: a.anchor_profiles,
        };
        print!("{}", bench::map::run(&opts)?);
        return Ok(());
    }
    if let Suite::Distance = a.suite {
        let opts = bench::distance::DistanceBenchOptions {
            n_cells: bench::tier_cells(&a.tier)?,
            dims: a.dims,
            n_permutations: a.null_size,
            dir: ctx
                .ws
                .workdir
                .join("bench")
                .join(format!("distance_{}", a.tier)),
            anchor_python: a.anchor_python,
            anchor_cells: a.anchor_profiles,
        };
        print!("{}", bench::distance::run(&opts)?);
        return Ok(());
    }
    if let Suite::Vcc = a.suite {
        let mut spec = bench::vcc::k562_essential_shaped(bench::tier_cells(&a.tier)?);
        spec.nnz_per_row = a.nnz_per_row;
        let opts = bench::vcc::VccBenchOptions {
            dir: ctx.ws.workdir.join("bench").join(format!("vcc_{}", a.tier)),
            spec,
            profile: a.profile,
            convention: a.convention,
            anchor_python: a.anchor_python,
        };
        print!("{}", bench::vcc::run(&opts, &ctx.data)?);
        return Ok(());
    }
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
