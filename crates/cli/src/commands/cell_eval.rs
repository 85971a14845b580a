//! `pertbench cell-eval`: a predicted h5ad scored against the real one with
//! cell-eval's metrics (the Virtual Cell Challenge's scorer), and against a
//! baseline prediction for the VCC score. The options follow `cell-eval run`.

use anyhow::{anyhow, bail, Result};
use pertbench_engine::cell_eval::aggregate::{self, Summary};
use pertbench_engine::cell_eval::metric_set::Profile;
use pertbench_engine::cell_eval::{self as ce, de_tables, files, DeSource, Evaluation};
use pertbench_engine::differential_expression::input::{read_grouped_by_context, GroupedCells};
use pertbench_engine::differential_expression::{self as de, DeConvention};
use pertbench_kernels::Par;
use std::path::{Path, PathBuf};

#[derive(clap::Args)]
pub struct Args {
    /// The predicted h5ad (controls included)
    #[arg(long)]
    adata_pred: PathBuf,
    /// The real h5ad
    #[arg(long)]
    adata_real: PathBuf,
    /// A precomputed DE table of the prediction (pdex's columns; CSV or Parquet)
    #[arg(long, requires = "de_real")]
    de_pred: Option<PathBuf>,
    /// A precomputed DE table of the real data
    #[arg(long, requires = "de_pred")]
    de_real: Option<PathBuf>,
    /// The control label
    #[arg(long, default_value = "non-targeting")]
    control_pert: String,
    /// The obs column holding each cell's perturbation
    #[arg(long, default_value = "target_gene")]
    pert_col: String,
    /// An obs column of cell types (contexts): each cell type is scored on
    /// its own, as a file of its own (its own normalisation, DE and
    /// metrics), into <celltype>_results.csv and the rest
    #[arg(long, conflicts_with_all = ["de_real", "de_pred"])]
    celltype_col: Option<String>,
    /// full, minimal, vcc, de, anndata or pds
    #[arg(long, default_value = "full", value_parser = Profile::from_arg)]
    profile: Profile,
    /// Where results.csv, agg_results.csv, the DE tables and score.csv go
    #[arg(short, long, default_value = "cell-eval-outdir")]
    outdir: PathBuf,
    /// Keep integer counts as they are (not normalised and log1p'd)
    #[arg(long)]
    allow_discrete: bool,
    /// Leave out the cells with this label in each file (e.g. unassigned),
    /// as if the files had been filtered; repeatable
    #[arg(long = "drop-label")]
    drop_labels: Vec<String>,
    /// DE conventions: pdex_0_2 (cell-eval >= 0.6) or cell_eval_0_5 (the VCC's)
    #[arg(long, default_value = "pdex_0_2", value_parser = DeConvention::from_arg)]
    convention: DeConvention,
    /// A baseline prediction (h5ad) evaluated the same way; the score
    /// normalises each metric against it
    #[arg(long, conflicts_with = "baseline_agg")]
    baseline_pred: Option<PathBuf>,
    /// A baseline's aggregate results (cell-eval's or pertbench's
    /// agg_results.csv) to score against
    #[arg(long)]
    baseline_agg: Option<PathBuf>,
    /// Resamples of each mean's bootstrap interval
    #[arg(long, default_value_t = 1000)]
    n_bootstrap: usize,
    /// Seed of the bootstrap
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

/// A file's cells, split by cell type when `--celltype-col` is given (one
/// split named "" otherwise).
fn read(path: &Path, a: &Args) -> Result<Vec<(String, GroupedCells)>> {
    let splits = read_grouped_by_context(
        path,
        &a.pert_col,
        a.celltype_col.as_deref(),
        &a.control_pert,
        a.allow_discrete,
        &a.drop_labels,
    )?;
    for (context, cells) in &splits {
        for (label, n) in &cells.dropped {
            let within = if context.is_empty() {
                String::new()
            } else {
                format!(" ({context})")
            };
            println!(
                "{}{within}: dropped {n} cells labelled `{label}`",
                path.display()
            );
        }
    }
    Ok(splits)
}

/// The prediction's (or baseline's) splits in the real data's order; the
/// same cell types in both, or an error naming those that differ.
fn paired(
    real: &[(String, GroupedCells)],
    mut other: Vec<(String, GroupedCells)>,
    other_path: &Path,
    a: &Args,
) -> Result<Vec<GroupedCells>> {
    let names =
        |v: &[(String, GroupedCells)]| -> Vec<String> { v.iter().map(|c| c.0.clone()).collect() };
    let (want, have) = (names(real), names(&other));
    let missing: Vec<&String> = want.iter().filter(|c| !have.contains(c)).collect();
    let extra: Vec<&String> = have.iter().filter(|c| !want.contains(c)).collect();
    if !missing.is_empty() || !extra.is_empty() {
        bail!(
            "{}: its cell types (obs column `{}`) are not the real data's: missing {missing:?}, not in the real data {extra:?}",
            other_path.display(),
            a.celltype_col.as_deref().unwrap_or_default()
        );
    }
    Ok(want
        .iter()
        .map(|c| {
            let k = other.iter().position(|o| &o.0 == c).expect("checked above");
            other.swap_remove(k).1
        })
        .collect())
}

/// Evaluates `pred` against `real`, writing the DE tables it computes and
/// the results under `prefix`; the given DE tables are used when
/// `use_tables` (the prediction's evaluation, not the baseline's).
fn evaluate(
    a: &Args,
    real: &GroupedCells,
    pred: &GroupedCells,
    profile: Profile,
    convention: DeConvention,
    prefix: &str,
    use_tables: bool,
) -> Result<(Evaluation, Vec<Summary>)> {
    let par = Par::rayon(0);
    let needs_de = profile
        .metrics()
        .iter()
        .any(|m| m.reads == ce::metric_set::Reads::De);
    let source = match (&a.de_real, &a.de_pred) {
        (Some(r), Some(p)) if use_tables => {
            let (rt, rs) = de_tables::read(r, &real.genes)?;
            let (pt, ps) = de_tables::read(p, &real.genes)?;
            if rt != pt {
                bail!(
                    "the DE tables hold different perturbations ({} real, {} predicted)",
                    rt.len(),
                    pt.len()
                );
            }
            if rt != real.perturbations {
                bail!(
                    "the DE tables' perturbations ({}) are not the expression data's ({})",
                    rt.len(),
                    real.perturbations.len()
                );
            }
            DeSource::Tables(rs, ps)
        }
        _ if needs_de => {
            ce::check_pair(real, pred)?;
            let rt = de::run(real, convention, par)?;
            let pt = de::run(pred, convention, par)?;
            de::table::write(
                &a.outdir.join(format!("{prefix}real_de.csv")),
                &rt,
                &real.perturbations,
                &real.genes,
            )?;
            de::table::write(
                &a.outdir.join(format!("{prefix}pred_de.csv")),
                &pt,
                &pred.perturbations,
                &pred.genes,
            )?;
            DeSource::Tables(ce::de_side(&rt), ce::de_side(&pt))
        }
        _ => DeSource::Compute,
    };
    let e = ce::evaluate(real, pred, profile, convention, source, par)?;
    let s = aggregate::summarise(&e, a.n_bootstrap, a.seed)?;
    files::write_results(&a.outdir.join(format!("{prefix}results.csv")), &e)?;
    files::write_aggregates(&a.outdir.join(format!("{prefix}agg_results.csv")), &s)?;
    Ok((e, s))
}

pub fn run(a: Args) -> Result<()> {
    let real = read(&a.adata_real, &a)?;
    let pred = paired(&real, read(&a.adata_pred, &a)?, &a.adata_pred, &a)?;
    let baseline = match &a.baseline_pred {
        Some(b) => Some(paired(&real, read(b, &a)?, b, &a)?),
        None => None,
    };
    for (k, ((context, real), pred)) in real.iter().zip(&pred).enumerate() {
        // cell-eval's file names: "<celltype>_results.csv", a slash in a
        // cell type (HepG2/C3A) written as "-".
        let prefix = if context.is_empty() {
            String::new()
        } else {
            println!("\ncell type `{context}`");
            format!("{}_", context.replace('/', "-"))
        };
        let base = baseline.as_ref().map(|b| &b[k]);
        run_one(&a, real, pred, base, &prefix)?;
    }
    Ok(())
}

/// One pair (one cell type's, or the files'), with its baseline.
fn run_one(
    a: &Args,
    real: &GroupedCells,
    pred: &GroupedCells,
    baseline_cells: Option<&GroupedCells>,
    prefix: &str,
) -> Result<()> {
    let (profile, convention) = (a.profile, a.convention);
    let (e, summary) = evaluate(a, real, pred, profile, convention, prefix, true)?;
    println!(
        "{} perturbations, {} metrics -> {}",
        e.perturbations.len(),
        e.columns.len(),
        a.outdir.display()
    );
    println!("{:<28} {:>12} {:>25}", "metric", "mean", "95% interval");
    for m in &summary {
        println!(
            "{:<28} {:>12.6} {:>25}",
            m.name,
            m.values[2],
            format!("[{:.6}, {:.6}]", m.values[9], m.values[10])
        );
    }
    let baseline: Option<Vec<Summary>> = match (baseline_cells, &a.baseline_agg) {
        (Some(base), _) => {
            let prefix = format!("{prefix}baseline_");
            Some(evaluate(a, real, base, profile, convention, &prefix, false)?.1)
        }
        (None, Some(path)) => {
            let means = files::read_aggregate_means(path)?;
            let mut out = Vec::new();
            for m in &summary {
                let v = means
                    .iter()
                    .find(|(n, _)| *n == m.name)
                    .ok_or_else(|| {
                        anyhow!(
                            "{}: no metric `{}` in the baseline's aggregates",
                            path.display(),
                            m.name
                        )
                    })?
                    .1;
                let mut values = [f64::NAN; 11];
                values[2] = v;
                out.push(Summary {
                    name: m.name.clone(),
                    best: m.best,
                    values,
                });
            }
            Some(out)
        }
        (None, None) => None,
    };
    if let Some(base) = baseline {
        let (rows, avg) = aggregate::score(&summary, &base)?;
        files::write_score(&a.outdir.join(format!("{prefix}score.csv")), &rows, avg)?;
        println!(
            "\n{:<28} {:>12} {:>12} {:>14}",
            "metric", "prediction", "baseline", "from baseline"
        );
        for r in &rows {
            println!(
                "{:<28} {:>12.6} {:>12.6} {:>14.6}",
                r.metric, r.user, r.baseline, r.from_baseline
            );
        }
        println!("{:<28} {:>12} {:>12} {:>14.6}", "avg_score", "", "", avg);
    }
    Ok(())
}
