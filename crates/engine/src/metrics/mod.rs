//! Metrics, one per file, each behind [`Metric`]; [`implementation`] is the
//! one place that maps a pipeline's metric kind to its code.

mod consistency;
mod recall;

use crate::error::{EngineError, Result};
use crate::nodes::IngestOut;
use crate::pipeline::{MetricKind, MetricSpec};
use arrow::array::{Array, AsArray, Float64Array, RecordBatch, StringArray, UInt64Array};
use arrow::datatypes::{DataType, Field, Float64Type, Schema, UInt64Type};
use pertbench_data::dataset::DataContext;
use pertbench_kernels::Matrix;
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
}

pub trait Metric: Sync {
    fn version(&self) -> u32;
    /// Whether the seed changes the output.
    fn seeded(&self, spec: &MetricSpec) -> bool;
    fn compute(&self, spec: &MetricSpec, ctx: &MetricContext) -> Result<MetricOutput>;
}

pub fn implementation(kind: MetricKind) -> &'static dyn Metric {
    match kind {
        MetricKind::Consistency => &consistency::Consistency,
        MetricKind::RelationshipRecall => &recall::RelationshipRecall,
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
    Ok((0..b.num_rows())
        .map(|i| MetricRow {
            metric: metric.value(i).to_string(),
            source: source.is_valid(i).then(|| source.value(i).to_string()),
            variant: variant.value(i).to_string(),
            value: value.is_valid(i).then(|| value.value(i)),
            n_items: n_items.value(i),
            null_size: null_size.value(i),
            convention: convention.value(i).to_string(),
        })
        .collect())
}
