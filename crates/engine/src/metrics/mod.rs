//! Metrics, one per file, each behind [`Metric`]; [`implementation`] is the
//! one place that maps a pipeline's metric kind to its code.

mod consistency;
mod distribution;
mod features;
mod ilisi;
mod interpretability;
mod knn;
mod linear_probe;
mod prediction;
mod recall;
mod rewiring;
mod transfer;

use crate::error::{EngineError, Result};
use crate::nodes::IngestOut;
use crate::pipeline::{EvalSamples, MetricKind, MetricSpec};
use crate::splits::{SplitName, SplitOut};
use arrow::array::{Array, AsArray, Float64Array, RecordBatch, StringArray, UInt64Array};
use arrow::datatypes::{DataType, Field, Float64Type, Schema, UInt64Type};
use pertbench_data::dataset::DataContext;
use pertbench_kernels::Matrix;
use std::collections::BTreeMap;
use std::sync::Arc;

/// One number a metric reports.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricRow {
    pub metric: String,
    /// Sub-population the value is about (a relationship source), if any.
    pub source: Option<String>,
    pub variant: String,
    /// None when the metric is undefined here (e.g. no pair present); the
    /// reason is in `convention`.
    pub value: Option<f64>,
    /// Items the value averages over (perturbations tested, pairs used).
    pub n_items: u64,
    pub null_size: u64,
    pub convention: String,
    /// Seeded bootstrap 95% interval of an aggregate over items (None where
    /// the metric gives none, e.g. a value that is undefined).
    pub ci_low: Option<f64>,
    pub ci_high: Option<f64>,
    /// Mean of the same computation on shuffled labels, and the empirical
    /// p-value (1 + #{null >= value}) / (1 + draws) (None where the metric
    /// has no label-shuffle null).
    pub null_mean: Option<f64>,
    pub p_value: Option<f64>,
}

impl MetricRow {
    pub(crate) fn with_interval(mut self, (lo, hi): (f64, f64)) -> Self {
        self.ci_low = Some(lo);
        self.ci_high = Some(hi);
        self
    }
    pub(crate) fn with_null(mut self, null_mean: f64, p_value: f64) -> Self {
        self.null_mean = Some(null_mean);
        self.p_value = Some(p_value);
        self
    }
}

/// Rows of a metric without a source: one per (variant, value), sharing
/// the item count, null size and convention.
pub(crate) fn rows_of(
    label: &str,
    n_items: usize,
    null_size: usize,
    convention: &str,
    values: &[(&str, Option<f64>)],
) -> Vec<MetricRow> {
    values
        .iter()
        .map(|(variant, value)| MetricRow {
            metric: label.to_string(),
            source: None,
            variant: variant.to_string(),
            value: *value,
            n_items: n_items as u64,
            null_size: null_size as u64,
            convention: convention.to_string(),
            ci_low: None,
            ci_high: None,
            null_mean: None,
            p_value: None,
        })
        .collect()
}

pub struct MetricOutput {
    pub rows: Vec<MetricRow>,
    /// Per-item statistics (e.g. per-perturbation avgsim and p-value).
    pub details: Option<RecordBatch>,
}

pub struct MetricContext<'a> {
    pub ingest: &'a IngestOut,
    /// The post-processed representation; `rows` index the samples table.
    pub matrix: &'a Matrix,
    pub rows: &'a [usize],
    pub seed: u64,
    pub data: &'a DataContext,
    /// The dataset's splits, for metrics whose [`Metric::needs_split`] is true.
    pub split: Option<&'a SplitOut>,
    /// The representation before a post-processing fitted on the data, for
    /// metrics whose [`Metric::refits_postprocessing`] is true; None after
    /// `raw`.
    pub unprocessed: Option<Unprocessed<'a>>,
}

/// A representation before its post-processing, and that post-processing's
/// name: a test whose reference group the transform was fitted on refits the
/// transform on the groups it compares (distribution).
#[derive(Clone, Copy)]
pub struct Unprocessed<'a> {
    pub matrix: &'a Matrix,
    /// Row of the samples table for each row of `matrix`.
    pub rows: &'a [usize],
    pub postprocessing: &'a str,
}

/// What `pertbench explain` says about a metric kind: the definition it
/// implements (METRICS.md), the rows it writes, its options, how public
/// tools' conventions map onto them, and where it comes from.
#[derive(Debug)]
pub struct Explanation {
    /// One line.
    pub summary: &'static str,
    /// The definition, as implemented.
    pub definition: &'static str,
    /// (variant, meaning) of every row it writes; `<x>` stands for a value
    /// of an option (a probe, a threshold).
    pub variants: &'static [(&'static str, &'static str)],
    /// (field, default, meaning) of every pipeline field of the kind, in
    /// the order of [`MetricKind::fields`].
    pub options: &'static [(&'static str, &'static str, &'static str)],
    /// Where public tools differ, and which option gives their convention.
    pub conventions: &'static str,
    pub references: &'static [&'static str],
}

pub trait Metric: Sync {
    /// What `pertbench explain` prints.
    fn explanation(&self) -> &'static Explanation;
    fn version(&self) -> u32;
    /// Task of paper 004's hierarchy, e.g. "3 perturbation consistency".
    fn task(&self) -> &'static str;
    /// Whether the metric reads the train / test splits.
    fn needs_split(&self) -> bool {
        false
    }
    /// Whether the metric reads the representation before a fitted
    /// post-processing ([`MetricContext::unprocessed`]).
    fn refits_postprocessing(&self) -> bool {
        false
    }
    /// Whether the seed changes the output.
    fn seeded(&self, spec: &MetricSpec) -> bool;
    fn compute(&self, spec: &MetricSpec, ctx: &MetricContext) -> Result<MetricOutput>;
}

pub fn implementation(kind: MetricKind) -> &'static dyn Metric {
    match kind {
        MetricKind::Consistency => &consistency::Consistency,
        MetricKind::RelationshipRecall => &recall::RelationshipRecall,
        MetricKind::Ilisi => &ilisi::Ilisi,
        MetricKind::LinearProbe => &linear_probe::LinearProbe,
        MetricKind::Knn => &knn::Knn,
        MetricKind::Interpretability => &interpretability::Interpretability,
        MetricKind::Distribution => &distribution::Distribution,
        MetricKind::Transfer => &transfer::Transfer,
        MetricKind::Prediction => &prediction::Prediction,
        MetricKind::Rewiring => &rewiring::Rewiring,
    }
}

/// Whether a larger value of this variant is better (errors are not).
pub fn higher_is_better(variant: &str) -> bool {
    !matches!(variant, "mse" | "mae" | "energy_to_real")
}

/// Bootstrap resamples of the intervals, unless the metric sets `n_bootstrap`.
pub const DEFAULT_N_BOOTSTRAP: usize = 1000;

/// Sets each row's interval from a cluster bootstrap over perturbations:
/// `items` pairs a row's variant with its per-item values and the statistic
/// (e.g. the mean); `cluster` gives each item's perturbation code (controls
/// one cluster). Rows whose variant is not listed are left as they are.
pub(crate) fn cluster_intervals(
    label: &str,
    rows: &mut [MetricRow],
    items: &[(&str, &[f64], fn(&[f64]) -> f64)],
    cluster: &[u32],
    n_boot: usize,
    seed: u64,
) -> Result<()> {
    for (k, (variant, values, stat)) in items.iter().enumerate() {
        if values.is_empty() {
            continue;
        }
        let ci = pertbench_kernels::bootstrap::cluster_interval(
            values,
            cluster,
            n_boot,
            0.95,
            seed ^ (k as u64 + 1),
            stat,
        )
        .map_err(EngineError::kernel(format!("metric `{label}` (bootstrap)")))?;
        for r in rows.iter_mut().filter(|r| r.variant == *variant) {
            r.ci_low = Some(ci.0);
            r.ci_high = Some(ci.1);
        }
    }
    Ok(())
}

/// The `top1` and `top5` rows of a classification task (kNN, the linear
/// probe) from each query's (top-1 hit, top-5 hit), with cluster-bootstrap
/// intervals over the queries' perturbations (`cluster`); `convention` gains
/// the bootstrap's description.
pub(crate) fn top_k_rows(
    label: &str,
    hits: &[(bool, bool)],
    convention: &str,
    cluster: &[u32],
    n_boot: usize,
    seed: u64,
) -> Result<Vec<MetricRow>> {
    let top1: Vec<f64> = hits.iter().map(|h| f64::from(u8::from(h.0))).collect();
    let top5: Vec<f64> = hits.iter().map(|h| f64::from(u8::from(h.1))).collect();
    let n = hits.len() as f64;
    let (t1, t5) = (
        top1.iter().sum::<f64>() as usize,
        top5.iter().sum::<f64>() as usize,
    );
    let convention = format!("{convention};bootstrap={n_boot}_over_perturbations");
    let mut rows = rows_of(
        label,
        hits.len(),
        0,
        &convention,
        &[("top1", Some(t1 as f64 / n)), ("top5", Some(t5 as f64 / n))],
    );
    let mean: fn(&[f64]) -> f64 = pertbench_kernels::bootstrap::mean;
    cluster_intervals(
        label,
        &mut rows,
        &[("top1", &top1, mean), ("top5", &top5, mean)],
        cluster,
        n_boot,
        seed,
    )?;
    Ok(rows)
}

/// Perturbation codes of matrix positions (controls share one code), for
/// [`cluster_intervals`].
pub(crate) fn perturbation_codes(ctx: &MetricContext, positions: &[usize]) -> Vec<u32> {
    let s = &ctx.ingest.samples;
    let name = |p: usize| {
        if s.is_control[ctx.rows[p]] {
            "\u{0}control"
        } else {
            s.perturbation[ctx.rows[p]].as_str()
        }
    };
    let book = code_book(positions.iter().map(|&p| name(p)));
    positions.iter().map(|&p| book[name(p)]).collect()
}

/// Codes 0..n for the distinct keys in sorted order, so a code never
/// depends on the order of the rows.
pub(crate) fn code_book<'a>(keys: impl IntoIterator<Item = &'a str>) -> BTreeMap<&'a str, u32> {
    let mut book: BTreeMap<&str, u32> = keys.into_iter().map(|k| (k, 0)).collect();
    for (i, v) in book.values_mut().enumerate() {
        *v = i as u32;
    }
    book
}

/// Positions in the metric's matrix of a split's sample rows. Rows a
/// post-processing dropped (a batch without controls) are counted, not kept.
pub(crate) struct SplitPositions {
    pub positions: Vec<usize>,
    pub dropped: usize,
}

pub(crate) fn split_positions(ctx: &MetricContext, on: EvalSamples) -> Result<SplitPositions> {
    let mut pos_of = vec![usize::MAX; ctx.ingest.samples.len()];
    for (p, &r) in ctx.rows.iter().enumerate() {
        pos_of[r] = p;
    }
    let sample_rows: Vec<usize> = match on {
        EvalSamples::All => (0..ctx.ingest.samples.len()).collect(),
        other => {
            let split = ctx
                .split
                .ok_or_else(|| EngineError::msg("internal: metric needs splits but has none"))?;
            let name = match other {
                EvalSamples::Train => SplitName::Train,
                EvalSamples::TestSeen => SplitName::TestSeen,
                _ => SplitName::TestUnseen,
            };
            split.rows(name).to_vec()
        }
    };
    let positions: Vec<usize> = sample_rows
        .iter()
        .map(|&r| pos_of[r])
        .filter(|&p| p != usize::MAX)
        .collect();
    Ok(SplitPositions {
        dropped: sample_rows.len() - positions.len(),
        positions,
    })
}

/// Fails with a message naming the split when it holds no samples.
pub(crate) fn require_nonempty(label: &str, what: &str, n: usize) -> Result<()> {
    if n == 0 {
        return Err(EngineError::msg(format!(
            "metric `{label}`: the {what} is empty (check the splits: batches and perturbations per split)"
        )));
    }
    Ok(())
}

/// A seeded sample of at most `max` of `positions` (kept in ascending order).
pub(crate) fn sample_queries(
    positions: &[usize],
    max: Option<usize>,
    seed: u64,
    tag: &str,
) -> Vec<usize> {
    match max {
        Some(m) if m < positions.len() => {
            use rand::seq::index::sample;
            let mut rng = pertbench_kernels::rng::stream(seed, tag, 0);
            let mut pick: Vec<usize> = sample(&mut rng, positions.len(), m).into_vec();
            pick.sort_unstable();
            pick.into_iter().map(|i| positions[i]).collect()
        }
        _ => positions.to_vec(),
    }
}

/// Mean of the rows of `m` at `positions`, in f64.
pub(crate) fn mean_of_rows(m: &pertbench_kernels::Matrix, positions: &[usize]) -> Vec<f64> {
    let mut out = vec![0.0; m.ncols()];
    for &p in positions {
        for (o, v) in out.iter_mut().zip(m.row(p)) {
            *o += *v as f64;
        }
    }
    out.iter().map(|v| v / positions.len() as f64).collect()
}

/// Rows of `m` at `positions`, as a new matrix.
pub(crate) fn gather(
    m: &pertbench_kernels::Matrix,
    positions: &[usize],
) -> pertbench_kernels::Matrix {
    m.select(ndarray::Axis(0), positions)
}

/// Columns of `m` (restricted to `positions`) whose values are all equal.
pub(crate) fn constant_columns(m: &pertbench_kernels::Matrix, positions: &[usize]) -> usize {
    (0..m.ncols())
        .filter(|&j| {
            positions
                .first()
                .is_none_or(|&f| positions.iter().all(|&p| m[(p, j)] == m[(f, j)]))
        })
        .count()
}

/// Units of a perturbation within a context, as `distribution` and
/// `prediction` compare them with the controls of their context.
pub(crate) struct ContextUnits {
    /// Whether units are per context (`controls: context` and samples with
    /// contexts); otherwise one pool holds all controls (key None).
    pub by_context: bool,
    /// Control positions per pool.
    pub pools: BTreeMap<Option<String>, Vec<usize>>,
    /// (perturbation, context, positions): 2 or more samples and a pool of 2
    /// or more controls; by perturbation, then context.
    pub units: Vec<(String, Option<String>, Vec<usize>)>,
    /// Units left out with fewer than 2 samples...
    pub too_small: usize,
    /// ...and, of the rest, those whose pool has fewer than 2 controls.
    pub without_controls: usize,
}

pub(crate) fn context_units(
    ctx: &MetricContext,
    pool: Option<crate::pipeline::ControlPool>,
) -> ContextUnits {
    let s = &ctx.ingest.samples;
    let by_context = pool.unwrap_or(crate::pipeline::ControlPool::Context)
        == crate::pipeline::ControlPool::Context
        && s.context.is_some();
    let context_of = |r: usize| -> Option<String> {
        if by_context {
            s.context.as_ref().map(|c| c[r].clone())
        } else {
            None
        }
    };
    let mut pools: BTreeMap<Option<String>, Vec<usize>> = BTreeMap::new();
    for (pos, &r) in ctx.rows.iter().enumerate() {
        if s.is_control[r] {
            pools.entry(context_of(r)).or_default().push(pos);
        }
    }
    let (mut too_small, mut without_controls) = (0, 0);
    let mut units = Vec::new();
    for (p, positions) in perturbation_groups(ctx) {
        let mut split: BTreeMap<Option<String>, Vec<usize>> = BTreeMap::new();
        for pos in positions {
            split
                .entry(context_of(ctx.rows[pos]))
                .or_default()
                .push(pos);
        }
        for (context, positions) in split {
            if positions.len() < 2 {
                too_small += 1;
            } else if pools.get(&context).is_none_or(|c| c.len() < 2) {
                without_controls += 1;
            } else {
                units.push((p.clone(), context, positions));
            }
        }
    }
    ContextUnits {
        by_context,
        pools,
        units,
        too_small,
        without_controls,
    }
}

/// Non-control rows of the matrix grouped by perturbation (sorted), as
/// positions in the matrix.
pub(crate) fn perturbation_groups(
    ctx: &MetricContext,
) -> std::collections::BTreeMap<String, Vec<usize>> {
    let s = &ctx.ingest.samples;
    let mut g: std::collections::BTreeMap<String, Vec<usize>> = Default::default();
    for (pos, &r) in ctx.rows.iter().enumerate() {
        if !s.is_control[r] {
            g.entry(s.perturbation[r].clone()).or_default().push(pos);
        }
    }
    g
}

pub fn rows_to_batch(rows: &[MetricRow]) -> RecordBatch {
    let schema = Schema::new(vec![
        Field::new("metric", DataType::Utf8, false),
        Field::new("source", DataType::Utf8, true),
        Field::new("variant", DataType::Utf8, false),
        Field::new("value", DataType::Float64, true),
        Field::new("n_items", DataType::UInt64, false),
        Field::new("null_size", DataType::UInt64, false),
        Field::new("convention", DataType::Utf8, false),
        Field::new("ci_low", DataType::Float64, true),
        Field::new("ci_high", DataType::Float64, true),
        Field::new("null_mean", DataType::Float64, true),
        Field::new("p_value", DataType::Float64, true),
    ]);
    RecordBatch::try_new(
        Arc::new(schema),
        vec![
            Arc::new(StringArray::from(
                rows.iter().map(|r| r.metric.clone()).collect::<Vec<_>>(),
            )),
            Arc::new(StringArray::from(
                rows.iter().map(|r| r.source.clone()).collect::<Vec<_>>(),
            )),
            Arc::new(StringArray::from(
                rows.iter().map(|r| r.variant.clone()).collect::<Vec<_>>(),
            )),
            Arc::new(Float64Array::from(
                rows.iter().map(|r| r.value).collect::<Vec<_>>(),
            )),
            Arc::new(UInt64Array::from(
                rows.iter().map(|r| r.n_items).collect::<Vec<_>>(),
            )),
            Arc::new(UInt64Array::from(
                rows.iter().map(|r| r.null_size).collect::<Vec<_>>(),
            )),
            Arc::new(StringArray::from(
                rows.iter()
                    .map(|r| r.convention.clone())
                    .collect::<Vec<_>>(),
            )),
            Arc::new(Float64Array::from(
                rows.iter().map(|r| r.ci_low).collect::<Vec<_>>(),
            )),
            Arc::new(Float64Array::from(
                rows.iter().map(|r| r.ci_high).collect::<Vec<_>>(),
            )),
            Arc::new(Float64Array::from(
                rows.iter().map(|r| r.null_mean).collect::<Vec<_>>(),
            )),
            Arc::new(Float64Array::from(
                rows.iter().map(|r| r.p_value).collect::<Vec<_>>(),
            )),
        ],
    )
    .expect("schema matches")
}

pub fn batch_to_rows(b: &RecordBatch) -> Result<Vec<MetricRow>> {
    let get = |n: &str| {
        b.column_by_name(n)
            .ok_or_else(|| EngineError::msg(format!("metric rows lack `{n}`")))
    };
    let metric = get("metric")?.as_string::<i32>();
    let source = get("source")?.as_string::<i32>();
    let variant = get("variant")?.as_string::<i32>();
    let value = get("value")?.as_primitive::<Float64Type>();
    let n_items = get("n_items")?.as_primitive::<UInt64Type>();
    let null_size = get("null_size")?.as_primitive::<UInt64Type>();
    let convention = get("convention")?.as_string::<i32>();
    // Rows cached before intervals and nulls existed lack those columns: None.
    let ci = |n: &str| {
        b.column_by_name(n)
            .map(|c| c.as_primitive::<Float64Type>().clone())
    };
    let (ci_low, ci_high) = (ci("ci_low"), ci("ci_high"));
    let (null_mean, p_value) = (ci("null_mean"), ci("p_value"));
    let at = |c: &Option<arrow::array::Float64Array>, i: usize| {
        c.as_ref().and_then(|c| c.is_valid(i).then(|| c.value(i)))
    };
    Ok((0..b.num_rows())
        .map(|i| MetricRow {
            metric: metric.value(i).to_string(),
            source: source.is_valid(i).then(|| source.value(i).to_string()),
            variant: variant.value(i).to_string(),
            value: value.is_valid(i).then(|| value.value(i)),
            n_items: n_items.value(i),
            null_size: null_size.value(i),
            convention: convention.value(i).to_string(),
            ci_low: at(&ci_low, i),
            ci_high: at(&ci_high, i),
            null_mean: at(&null_mean, i),
            p_value: at(&p_value, i),
        })
        .collect())
}

#[cfg(test)]
mod calibration;
#[cfg(test)]
mod tests;
