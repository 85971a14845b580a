//! The long-format results table: one row per dataset x representation x
//! post-processing x metric x source x variant x seed.

use crate::error::{EngineError, Result};
use crate::exec::outputs::Output;
use crate::plan::Dag;
use arrow::array::{ArrayRef, RecordBatch, StringArray, UInt64Array};
use arrow::datatypes::{DataType, Field, Schema};
use pertbench_schema::ResultRow;
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
    let mut rows = Vec::new();
    for c in &dag.cells {
        // A failed node (or one whose input failed) has no output: its
        // cell has no rows, and the run lists it among the failures.
        let Some(out) = metric_outputs[c.metric_node].as_ref() else {
            continue;
        };
        let out = out.metric()?;
        let task = match &dag.nodes[c.metric_node].op {
            crate::plan::Op::Metric { spec, .. } => {
                crate::metrics::implementation(spec.kind()).task()
            }
            _ => {
                return Err(EngineError::msg(
                    "internal: a cell's metric node is not a metric",
                ))
            }
        };
        let notes = postprocess_notes(c.postprocess_node);
        let node = |i: usize| &dag.nodes[i];
        for r in &out.rows {
            let convention = if notes.convention.is_empty() {
                r.convention.clone()
            } else {
                format!("{};postprocessing: {}", r.convention, notes.convention)
            };
            rows.push(ResultRow {
                pipeline: dag.pipeline.name.clone(),
                dataset: c.dataset.clone(),
                representation: c.representation.clone(),
                postprocessing: c.postprocessing.clone(),
                task: Some(task.title().to_string()),
                metric: r.metric.clone(),
                source: r.source.clone(),
                variant: r.variant.clone(),
                seed: c.seed,
                value: r.value,
                ci_low: r.ci_low,
                ci_high: r.ci_high,
                null_mean: r.null_mean,
                p_value: r.p_value,
                n_items: Some(r.n_items),
                null_size: Some(r.null_size),
                higher_is_better: Some(pertbench_schema::higher_is_better(&r.variant)),
                convention,
                excluded_batches: notes.excluded.clone(),
                metric_key: node(c.metric_node).key.clone(),
                representation_key: node(c.representation_node).key.clone(),
                postprocess_key: node(c.postprocess_node).key.clone(),
                pertbench_version: crate::PERTBENCH_VERSION.to_string(),
                computed_at: now.clone(),
                // Seed-free keys: seeds of one representation definition
                // share `representation_definition`; the same cell under
                // every seed shares `metric_definition`.
                representation_definition: node(c.representation_node).definition.clone(),
                metric_definition: node(c.metric_node).definition.clone(),
            });
        }
    }
    ResultRow::to_batch(&rows).map_err(|e| EngineError::msg(format!("internal: {e}")))
}
