//! `pertbench de`: differential expression of every perturbation of an h5ad
//! against its controls, as cell-eval computes it with pdex, written as a
//! table in pdex's columns.

use anyhow::Result;
use pertbench_engine::differential_expression::{self as de, DeConvention};
use std::path::PathBuf;
use std::time::Instant;

#[derive(clap::Args)]
pub struct Args {
    /// The h5ad: X (log1p-normalised values or integer counts), genes in
    /// var, each cell's perturbation in an obs column
    input: PathBuf,
    /// The obs column holding each cell's perturbation (cell-eval's --pert-col)
    #[arg(long, default_value = "target_gene")]
    perturbation_column: String,
    /// The control label (cell-eval's --control-pert)
    #[arg(long, default_value = "non-targeting")]
    control: String,
    /// The table to write: CSV when it ends in .csv, else Parquet
    #[arg(short, long, default_value = "de.csv")]
    output: PathBuf,
    /// pdex_0_2 (BH per perturbation; cell-eval >= 0.6) or cell_eval_0_5
    /// (BH over all tests, clipped fold changes; the Virtual Cell Challenge)
    #[arg(long, default_value = "pdex_0_2", value_parser = DeConvention::from_arg)]
    convention: DeConvention,
    /// Keep integer counts as they are instead of normalising them (cell-eval's --allow-discrete)
    #[arg(long)]
    allow_discrete: bool,
    /// Leave out the cells with this label (e.g. unassigned), as if the
    /// file had been filtered; repeatable
    #[arg(long = "drop-label")]
    drop_labels: Vec<String>,
}

pub fn run(a: Args) -> Result<()> {
    let convention = a.convention;
    let start = Instant::now();
    let cells = de::input::read_grouped(
        &a.input,
        &a.perturbation_column,
        &a.control,
        a.allow_discrete,
        &a.drop_labels,
    )?;
    let read = start.elapsed();
    let table = de::run(&cells, convention, pertbench_kernels::Par::rayon(0))?;
    let computed = start.elapsed() - read;
    de::table::write(&a.output, &table, &cells.perturbations, &cells.genes)?;
    let significant = table.fdr.iter().filter(|&&q| q < 0.05).count();
    println!(
        "{} perturbations x {} genes against {} controls ({}; convention {}): {} tests with FDR < 0.05 -> {}",
        cells.perturbations.len(),
        cells.genes.len(),
        cells.control_rows.len(),
        cells.scale.describe(),
        convention.name(),
        significant,
        a.output.display()
    );
    if convention == de::DeConvention::CellEval05 {
        println!("{}", de::describe_pdex_0_1_guess(&cells));
    }
    for (label, n) in &cells.dropped {
        println!("dropped {n} cells labelled `{label}`");
    }
    println!(
        "read {:.2}s, tests {:.2}s",
        read.as_secs_f64(),
        computed.as_secs_f64()
    );
    Ok(())
}
