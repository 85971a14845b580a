//! What cytominer-eval's replicate metrics (`replicate_reproducibility`,
//! `precision_recall`, `enrichment`, `grit`) share: the pipeline names of
//! the similarity and of the sample columns that make profiles replicates
//! (cytominer-eval's `replicate_groups`, `groupby_columns`), and the pair
//! correlations of the samples a metric scores.

use super::MetricContext;
use crate::error::{EngineError, Result};
use pertbench_kernels::tasks::replicate_metrics::{Correlations, ProfileCorrelation};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// cytominer-eval's `similarity_metric` (pandas' `corr`).
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum CorrelationMethod {
    Pearson,
    Spearman,
}

impl CorrelationMethod {
    pub fn kernel(self) -> ProfileCorrelation {
        match self {
            CorrelationMethod::Pearson => ProfileCorrelation::Pearson,
            CorrelationMethod::Spearman => ProfileCorrelation::Spearman,
        }
    }
}

/// A sample column two profiles can share.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum SampleColumn {
    Perturbation,
    Batch,
    /// The dataset's `columns.annotation` (MoA, target); NA shares nothing.
    Annotation,
    /// The sample itself: each profile its own group.
    Sample,
}

impl SampleColumn {
    pub fn name(self) -> &'static str {
        match self {
            SampleColumn::Perturbation => "perturbation",
            SampleColumn::Batch => "batch",
            SampleColumn::Annotation => "annotation",
            SampleColumn::Sample => "sample",
        }
    }
}

/// Which samples a metric compares.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ReplicateSamples {
    /// Every sample, controls included (cytominer-eval scores the profiles
    /// it is given; control wells are replicates of each other).
    All,
    /// The perturbed samples only.
    Treated,
}

impl ReplicateSamples {
    pub fn name(self) -> &'static str {
        match self {
            ReplicateSamples::All => "all",
            ReplicateSamples::Treated => "treated",
        }
    }
}

/// The correlations of the metric's samples and, for each triangle
/// position, its row of the samples table.
pub(crate) struct PairCorrelations {
    pub correlations: Correlations,
    /// Samples-table row of each triangle position.
    pub rows: Vec<usize>,
    /// Samples left out because every feature has one value.
    pub constant: Vec<String>,
}

pub(crate) fn pair_correlations(
    ctx: &MetricContext,
    what: &str,
    samples: ReplicateSamples,
    method: CorrelationMethod,
) -> Result<PairCorrelations> {
    let s = &ctx.ingest.samples;
    let positions: Vec<usize> = (0..ctx.rows.len())
        .filter(|&p| samples == ReplicateSamples::All || !s.is_control[ctx.rows[p]])
        .collect();
    let x = ctx.matrix.select(ndarray::Axis(0), &positions);
    let correlations = Correlations::new(x.view(), method.kernel(), ctx.work)
        .map_err(|e| kernel_error(ctx, what, &positions, e))?;
    let rows: Vec<usize> = correlations
        .kept
        .iter()
        .map(|&i| ctx.rows[positions[i]])
        .collect();
    let constant = correlations
        .constant
        .iter()
        .map(|&i| s.sample_id[ctx.rows[positions[i]]].clone())
        .collect();
    Ok(PairCorrelations {
        correlations,
        rows,
        constant,
    })
}

/// A kernel's error on matrix positions `positions` (row i of its input is
/// position `positions[i]`): a non-finite value names its sample.
pub(crate) fn kernel_error(
    ctx: &MetricContext,
    what: &str,
    positions: &[usize],
    e: pertbench_kernels::KernelError,
) -> EngineError {
    match e {
        pertbench_kernels::KernelError::NonFinite { row, column } => EngineError::msg(format!(
            "{what}: sample `{}` has a NaN or infinite value in feature {column}",
            ctx.ingest.samples.sample_id[ctx.rows[positions[row]]]
        )),
        e => EngineError::kernel(what.to_string())(e),
    }
}

/// The value of `column` at samples-table row `r`, None where it is NA.
fn value<'a>(ctx: &MetricContext<'a>, column: SampleColumn, r: usize) -> Option<&'a str> {
    let s = &ctx.ingest.samples;
    match column {
        SampleColumn::Perturbation => Some(&s.perturbation[r]),
        SampleColumn::Batch => Some(&s.batch[r]),
        SampleColumn::Annotation => s.annotation.as_ref().and_then(|a| a[r].as_deref()),
        SampleColumn::Sample => Some(&s.sample_id[r]),
    }
}

/// Refuses `annotation` where the dataset maps none.
pub(crate) fn check_columns(
    ctx: &MetricContext,
    what: &str,
    columns: &[SampleColumn],
) -> Result<()> {
    if columns.contains(&SampleColumn::Annotation) && ctx.ingest.samples.annotation.is_none() {
        return Err(EngineError::msg(format!(
            "{what}: `annotation` is one of its columns, but the dataset maps no `columns.annotation` (a column such as Metadata_moa or Metadata_target) in its manifest"
        )));
    }
    Ok(())
}

/// Codes of the tuple of `columns`' values of each row, in sorted order of
/// the tuples (None where one value is NA), with each code's tuple as the
/// details print it (values joined by `/`).
pub(crate) fn column_codes(
    ctx: &MetricContext,
    rows: &[usize],
    columns: &[SampleColumn],
) -> (Vec<Option<u32>>, Vec<String>) {
    let keys: Vec<Option<Vec<&str>>> = rows
        .iter()
        .map(|&r| columns.iter().map(|&c| value(ctx, c, r)).collect())
        .collect();
    let mut book: BTreeMap<&Vec<&str>, u32> = keys.iter().flatten().map(|k| (k, 0)).collect();
    for (i, v) in book.values_mut().enumerate() {
        *v = i as u32;
    }
    let names = book.keys().map(|k| k.join("/")).collect();
    let codes = keys.iter().map(|k| k.as_ref().map(|k| book[k])).collect();
    (codes, names)
}

/// A column list as the convention column writes it.
pub(crate) fn columns_name(columns: &[SampleColumn]) -> String {
    columns
        .iter()
        .map(|c| c.name())
        .collect::<Vec<_>>()
        .join("+")
}
