//! The long-format results table: one row per dataset x representation x
//! post-processing x metric x source x variant x seed.

use crate::dag::Dag;
use crate::error::{EngineError, Result};
use crate::nodes::Output;
use arrow::array::{ArrayRef, Float64Array, RecordBatch, StringArray, UInt64Array};
use arrow::datatypes::{DataType, Field, Schema};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// `<results_dir>/<pipeline>.parquet`; an error for a pipeline name that is
/// not a plain file name (it would write outside the directory).
pub fn results_path(results_dir: &Path, pipeline: &str) -> crate::error::Result<PathBuf> {
    Ok(pertbench_data::durable::join_plain(
        results_dir,
        &format!("{pipeline}.parquet"),
        "pipeline results file",
    )?)
}

/// The `failures` table of one run: pipeline, node kind, node label, error,
/// and how many nodes did not run because of failed inputs (on every row).
pub fn failures_batch(
    pipeline: &str,
    failures: &[(String, String, String)],
    not_run: usize,
) -> RecordBatch {
    let col = |f: &dyn Fn(&(String, String, String)) -> String| -> ArrayRef {
        Arc::new(StringArray::from(
            failures.iter().map(f).collect::<Vec<_>>(),
        ))
    };
    let schema = Schema::new(vec![
        Field::new("pipeline", DataType::Utf8, false),
        Field::new("kind", DataType::Utf8, false),
        Field::new("node", DataType::Utf8, false),
        Field::new("error", DataType::Utf8, false),
        Field::new("not_run_downstream", DataType::UInt64, false),
    ]);
    RecordBatch::try_new(
        Arc::new(schema),
        vec![
            col(&|_| pipeline.to_string()),
            col(&|f| f.0.clone()),
            col(&|f| f.1.clone()),
            col(&|f| f.2.clone()),
            Arc::new(UInt64Array::from(vec![not_run as u64; failures.len()])),
        ],
    )
    .expect("schema matches")
}

/// What a post-processing node recorded about the data: the batches it
/// excluded (joined) and its convention note (empty when none).
pub struct PostprocessNotes {
    pub excluded: String,
    pub convention: String,
}

pub fn build(
    dag: &Dag,
    metric_outputs: &[Option<Output>],
    postprocess_notes: impl Fn(usize) -> PostprocessNotes,
) -> Result<RecordBatch> {
    let now = chrono::Utc::now().to_rfc3339();
    let mut cols: Vec<Vec<String>> = vec![Vec::new(); 16];
    let (mut seed, mut value, mut n_items, mut null_size) = (vec![], vec![], vec![], vec![]);
    let mut source: Vec<Option<String>> = vec![];
    let mut higher_is_better: Vec<bool> = vec![];
    let (mut ci_low, mut ci_high): (Vec<Option<f64>>, Vec<Option<f64>>) = (vec![], vec![]);
    let (mut null_mean, mut p_value): (Vec<Option<f64>>, Vec<Option<f64>>) = (vec![], vec![]);
    for c in &dag.cells {
        // A failed node (or one whose input failed) has no output: its
        // cell has no rows, and the run lists it among the failures.
        let Some(out) = metric_outputs[c.metric_node].as_ref() else {
            continue;
        };
        let out = out.metric()?;
        let task = match &dag.nodes[c.metric_node].op {
            crate::dag::Op::Metric { spec, .. } => crate::metrics::implementation(spec.kind).task(),
            _ => {
                return Err(EngineError::msg(
                    "internal: a cell's metric node is not a metric",
                ))
            }
        };
        let notes = postprocess_notes(c.postprocess_node);
        for r in &out.rows {
            let convention = if notes.convention.is_empty() {
                r.convention.clone()
            } else {
                format!("{};postprocessing: {}", r.convention, notes.convention)
            };
            let text = [
                dag.pipeline.name.clone(),
                c.dataset.clone(),
                c.representation.clone(),
                c.postprocessing.clone(),
                task.to_string(),
                r.metric.clone(),
                r.variant.clone(),
                convention,
                notes.excluded.clone(),
                dag.nodes[c.metric_node].key.clone(),
                dag.nodes[c.representation_node].key.clone(),
                dag.nodes[c.postprocess_node].key.clone(),
                crate::PERTBENCH_VERSION.to_string(),
                now.clone(),
                dag.nodes[c.representation_node].definition.clone(),
                dag.nodes[c.metric_node].definition.clone(),
            ];
            for (k, t) in text.into_iter().enumerate() {
                cols[k].push(t);
            }
            source.push(r.source.clone());
            higher_is_better.push(crate::metrics::higher_is_better(&r.variant));
            seed.push(c.seed);
            value.push(r.value);
            n_items.push(r.n_items);
            null_size.push(r.null_size);
            ci_low.push(r.ci_low);
            ci_high.push(r.ci_high);
            null_mean.push(r.null_mean);
            p_value.push(r.p_value);
        }
    }
    let names = [
        "pipeline",
        "dataset",
        "representation",
        "postprocessing",
        "task",
        "metric",
        "variant",
        "convention",
        "excluded_batches",
        "metric_key",
        "representation_key",
        "postprocess_key",
        "pertbench_version",
        "computed_at",
        // Seed-free keys: seeds of one representation definition share
        // `representation_definition`; the same cell under every seed
        // shares `metric_definition`.
        "representation_definition",
        "metric_definition",
    ];
    let mut fields: Vec<Field> = names[..7]
        .iter()
        .map(|n| Field::new(*n, DataType::Utf8, false))
        .collect();
    let mut arrays: Vec<ArrayRef> = cols[..7]
        .iter()
        .map(|c| Arc::new(StringArray::from(c.clone())) as ArrayRef)
        .collect();
    fields.insert(6, Field::new("source", DataType::Utf8, true));
    arrays.insert(6, Arc::new(StringArray::from(source)));
    fields.push(Field::new("seed", DataType::UInt64, false));
    arrays.push(Arc::new(UInt64Array::from(seed)));
    fields.push(Field::new("value", DataType::Float64, true));
    arrays.push(Arc::new(Float64Array::from(value)));
    fields.push(Field::new("ci_low", DataType::Float64, true));
    arrays.push(Arc::new(Float64Array::from(ci_low)));
    fields.push(Field::new("ci_high", DataType::Float64, true));
    arrays.push(Arc::new(Float64Array::from(ci_high)));
    fields.push(Field::new("null_mean", DataType::Float64, true));
    arrays.push(Arc::new(Float64Array::from(null_mean)));
    fields.push(Field::new("p_value", DataType::Float64, true));
    arrays.push(Arc::new(Float64Array::from(p_value)));
    fields.push(Field::new("n_items", DataType::UInt64, false));
    arrays.push(Arc::new(UInt64Array::from(n_items)));
    fields.push(Field::new("null_size", DataType::UInt64, false));
    arrays.push(Arc::new(UInt64Array::from(null_size)));
    fields.push(Field::new("higher_is_better", DataType::Boolean, false));
    arrays.push(Arc::new(arrow::array::BooleanArray::from(higher_is_better)));
    for (k, n) in names.iter().enumerate().skip(7) {
        fields.push(Field::new(*n, DataType::Utf8, false));
        arrays.push(Arc::new(StringArray::from(cols[k].clone())));
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)
        .map_err(|e| EngineError::msg(e.to_string()))
}
