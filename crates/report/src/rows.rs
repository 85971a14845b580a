//! The results table's rows, read through `pertbench-sql` (the union of
//! every result file's columns), tolerating columns that older pertbench
//! versions did not write: a missing column reads as None, never guessed.

use crate::ReportError;
use arrow::array::{Array, ArrayRef, BooleanArray, Float64Array, StringArray, UInt64Array};
use arrow::compute::cast;
use arrow::datatypes::DataType;
use arrow::record_batch::RecordBatch;
use std::path::Path;

/// One row of the long-format results table.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ResultRow {
    pub pipeline: String,
    pub dataset: String,
    pub representation: String,
    pub postprocessing: String,
    /// None in files written before results carried the task.
    pub task: Option<String>,
    pub metric: String,
    pub variant: String,
    pub source: Option<String>,
    pub convention: String,
    pub excluded_batches: String,
    pub seed: u64,
    pub value: Option<f64>,
    pub ci_low: Option<f64>,
    pub ci_high: Option<f64>,
    pub null_mean: Option<f64>,
    pub p_value: Option<f64>,
    pub n_items: Option<u64>,
    /// None in files written before results carried the direction.
    pub higher_is_better: Option<bool>,
    pub version: String,
    pub computed_at: String,
    pub metric_key: String,
    pub representation_key: String,
    pub postprocess_key: String,
    /// The representation's key without its seed (empty in files written
    /// before it existed).
    pub representation_definition: String,
}

/// Rows and what the files lacked.
#[derive(Debug, Default)]
pub struct LoadedResults {
    pub rows: Vec<ResultRow>,
    /// Result files found (`*.parquet`).
    pub files: Vec<String>,
    /// Files left out because they failed verification, each with why and
    /// how to rebuild it.
    pub skipped: Vec<String>,
}

/// Columns the report uses, in the order of [`ResultRow`].
const COLUMNS: [&str; 24] = [
    "pipeline",
    "dataset",
    "representation",
    "postprocessing",
    "task",
    "metric",
    "variant",
    "source",
    "convention",
    "excluded_batches",
    "seed",
    "value",
    "ci_low",
    "ci_high",
    "null_mean",
    "p_value",
    "n_items",
    "higher_is_better",
    "pertbench_version",
    "computed_at",
    "metric_key",
    "representation_key",
    "postprocess_key",
    "representation_definition",
];

fn column(b: &RecordBatch, name: &str, to: &DataType) -> Result<Option<ArrayRef>, ReportError> {
    match b.column_by_name(name) {
        None => Ok(None),
        Some(c) => cast(c, to)
            .map(Some)
            .map_err(|e| ReportError::Results(format!("column `{name}`: {e}"))),
    }
}

fn strings(a: &Option<ArrayRef>, i: usize) -> Option<String> {
    let a = a.as_ref()?;
    let s = a.as_any().downcast_ref::<StringArray>()?;
    (!s.is_null(i)).then(|| s.value(i).to_string())
}

fn floats(a: &Option<ArrayRef>, i: usize) -> Option<f64> {
    let a = a.as_ref()?;
    let f = a.as_any().downcast_ref::<Float64Array>()?;
    (!f.is_null(i))
        .then(|| f.value(i))
        .filter(|v| v.is_finite())
}

fn unsigned(a: &Option<ArrayRef>, i: usize) -> Option<u64> {
    let a = a.as_ref()?;
    let f = a.as_any().downcast_ref::<UInt64Array>()?;
    (!f.is_null(i)).then(|| f.value(i))
}

fn booleans(a: &Option<ArrayRef>, i: usize) -> Option<bool> {
    let a = a.as_ref()?;
    let f = a.as_any().downcast_ref::<BooleanArray>()?;
    (!f.is_null(i)).then(|| f.value(i))
}

/// Rows of every result file in `results_dir`. A directory without result
/// files gives no rows (the report says so); a file that cannot be read is
/// an error naming it.
pub fn load(results_dir: &Path) -> Result<LoadedResults, ReportError> {
    let mut files: Vec<String> = match std::fs::read_dir(results_dir) {
        Ok(rd) => rd
            .flatten()
            .filter(|e| e.path().extension().is_some_and(|x| x == "parquet"))
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect(),
        Err(e) => {
            return Err(ReportError::Results(format!(
                "cannot read the results directory {}: {e}",
                results_dir.display()
            )))
        }
    };
    files.sort();
    let checked = pertbench_sql::result_files(results_dir);
    let skipped: Vec<String> = checked.skipped.iter().map(|s| s.to_string()).collect();
    if checked.readable.is_empty() {
        return Ok(LoadedResults {
            rows: Vec::new(),
            files,
            skipped,
        });
    }
    let answer = pertbench_sql::query_files(
        results_dir,
        &checked,
        "SELECT * FROM results",
        &pertbench_sql::Limits::from_env(),
    )
    .map_err(|e| ReportError::Results(format!("{}: {e}", results_dir.display())))?;
    Ok(LoadedResults {
        rows: from_batches(&answer.batches)?,
        files,
        skipped,
    })
}

/// The rows of result batches (a results file's, or a query's), columns
/// missing from older files read as None.
pub fn from_batches(batches: &[RecordBatch]) -> Result<Vec<ResultRow>, ReportError> {
    let mut rows = Vec::new();
    for b in batches {
        let text = DataType::Utf8;
        let get = |k: usize, t: &DataType| column(b, COLUMNS[k], t);
        let cols: Vec<Option<ArrayRef>> = (0..COLUMNS.len())
            .map(|k| {
                let t = match COLUMNS[k] {
                    "seed" | "n_items" => DataType::UInt64,
                    "value" | "ci_low" | "ci_high" | "null_mean" | "p_value" => DataType::Float64,
                    "higher_is_better" => DataType::Boolean,
                    _ => text.clone(),
                };
                get(k, &t)
            })
            .collect::<Result<_, _>>()?;
        for i in 0..b.num_rows() {
            let s = |k: usize| strings(&cols[k], i).unwrap_or_default();
            rows.push(ResultRow {
                pipeline: s(0),
                dataset: s(1),
                representation: s(2),
                postprocessing: s(3),
                task: strings(&cols[4], i).filter(|t| !t.is_empty()),
                metric: s(5),
                variant: s(6),
                source: strings(&cols[7], i).filter(|t| !t.is_empty()),
                convention: s(8),
                excluded_batches: s(9),
                seed: unsigned(&cols[10], i).unwrap_or(0),
                value: floats(&cols[11], i),
                ci_low: floats(&cols[12], i),
                ci_high: floats(&cols[13], i),
                null_mean: floats(&cols[14], i),
                p_value: floats(&cols[15], i),
                n_items: unsigned(&cols[16], i),
                higher_is_better: booleans(&cols[17], i),
                version: s(18),
                computed_at: s(19),
                metric_key: s(20),
                representation_key: s(21),
                postprocess_key: s(22),
                representation_definition: s(23),
            });
        }
    }
    Ok(rows)
}
