//! The results table's rows, read through `pertbench-sql` (the union of
//! every result file's columns), tolerating columns that older pertbench
//! versions did not write: a missing column reads as None, never guessed.

use crate::ReportError;
use arrow::record_batch::RecordBatch;
use std::path::Path;

pub use pertbench_schema::ResultRow;

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
    ResultRow::from_batches(batches).map_err(|e| ReportError::Results(e.to_string()))
}
