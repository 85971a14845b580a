//! Read-only SQL over pertbench results with DataFusion.
//!
//! Every `*.parquet` file directly in the results directory is one pipeline's
//! results; together they form the table `results`. Statements that write
//! (INSERT, COPY, CREATE, DROP, SET ...) are refused, and no table function
//! that reads other files is registered, so a query can only read results.
//!
//! The view `best_postprocessing` picks, per dataset x task x metric x source
//! x variant x representation, the post-processing with the best mean over
//! seeds (the largest, or the smallest where `higher_is_better` is false;
//! ties by name), with its standard deviation and number of seeds. Paper
//! 004's Table 2 reports these cells; the canned queries in `sql/` read it.

use datafusion::arrow::datatypes::Schema;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::util::pretty::pretty_format_batches;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{ListingOptions, ListingTableUrl};
use datafusion::execution::context::SQLOptions;
use datafusion::prelude::{ParquetReadOptions, SessionContext};
use std::path::Path;
use std::sync::Arc;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum SqlError {
    #[error("no results in {0}: run a pipeline first (pertbench run pipelines/quickstart.yaml)")]
    NoResults(String),
    #[error("query refused: {0}")]
    Refused(String),
    #[error("query failed: {0}")]
    Query(String),
}

/// Each representation's best post-processing, by the mean over seeds.
/// A computation that several pipelines (or result files) hold is counted
/// once (rows deduplicated by `metric_key`); seeds are aggregated within one
/// representation definition (`representation_definition`, its key without
/// the seed), so two representations that share a name but not their
/// definition are two rows, told apart by `representation_definition`.
/// Results written before definitions existed have none (''): their
/// same-named rows aggregate as before.
const BEST_POSTPROCESSING_VIEW: &str = "CREATE VIEW best_postprocessing AS
WITH computed AS (
  SELECT DISTINCT dataset, task, metric, source, variant, representation, postprocessing,
         higher_is_better, seed, value, metric_key,
         COALESCE(representation_definition, '') AS representation_definition,
         COALESCE(metric_definition, '') AS metric_definition
  FROM results
  WHERE value IS NOT NULL
),
per_postprocessing AS (
  SELECT dataset, task, metric, source, variant, representation, representation_definition,
         postprocessing,
         BOOL_AND(higher_is_better) AS higher_is_better,
         AVG(value) AS mean_value, STDDEV_POP(value) AS sd_value, COUNT(*) AS n_seeds
  FROM computed
  GROUP BY dataset, task, metric, source, variant, representation, representation_definition,
           postprocessing, metric_definition
),
ranked AS (
  SELECT *, ROW_NUMBER() OVER (
    PARTITION BY dataset, task, metric, source, variant, representation, representation_definition
    ORDER BY CASE WHEN higher_is_better THEN mean_value ELSE -mean_value END DESC,
             postprocessing) AS rank_in_representation
  FROM per_postprocessing
)
SELECT dataset, task, metric, source, variant, representation, postprocessing,
       higher_is_better, mean_value, sd_value, n_seeds, representation_definition
FROM ranked
WHERE rank_in_representation = 1";

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .expect("tokio runtime")
}

/// Whether `dir` holds a `.parquet` file (false when it does not exist).
fn has_parquet(dir: &Path) -> bool {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .any(|e| e.path().extension().is_some_and(|x| x == "parquet"))
        })
        .unwrap_or(false)
}

/// Runs one read-only query over the results in `results_dir`.
pub fn query(results_dir: &Path, sql: &str) -> Result<Vec<RecordBatch>, SqlError> {
    if !has_parquet(results_dir) {
        return Err(SqlError::NoResults(results_dir.display().to_string()));
    }
    let options = SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false);
    runtime().block_on(async {
        let ctx = SessionContext::new();
        let dir = format!("{}/", results_dir.display());
        // The union of all files' columns, every one nullable: result files
        // written by an older pertbench lack newer columns (`task`,
        // `null_mean`...), which then read as NULL instead of failing the
        // query on a non-nullable column.
        let q = |e: datafusion::error::DataFusionError| SqlError::Query(e.to_string());
        let url = ListingTableUrl::parse(&dir).map_err(q)?;
        let merged = ListingOptions::new(Arc::new(ParquetFormat::default()))
            .with_file_extension(".parquet")
            .infer_schema(&ctx.state(), &url)
            .await
            .map_err(q)?;
        let nullable = Schema::new(
            merged
                .fields()
                .iter()
                .map(|f| f.as_ref().clone().with_nullable(true))
                .collect::<Vec<_>>(),
        );
        ctx.register_parquet(
            "results",
            &dir,
            ParquetReadOptions::default()
                .file_extension(".parquet")
                .schema(&nullable),
        )
        .await
        .map_err(q)?;
        // The failed nodes of each pipeline's last run, beside the results
        // (`<workdir>/failures`), when any run wrote them.
        if let Some(failures) = results_dir.parent().map(|w| w.join("failures")) {
            if has_parquet(&failures) {
                ctx.register_parquet(
                    "failures",
                    &format!("{}/", failures.display()),
                    ParquetReadOptions::default().file_extension(".parquet"),
                )
                .await
                .map_err(q)?;
            }
        }
        // Our own view, created before the user's (read-only) query runs,
        // when the results carry the columns it needs (older result files
        // lack `task` and `higher_is_better`; plain queries still work).
        let schema = ctx
            .table("results")
            .await
            .map_err(|e| SqlError::Query(e.to_string()))?
            .schema()
            .clone();
        if ["task", "higher_is_better"]
            .iter()
            .all(|c| schema.has_column_with_unqualified_name(c))
        {
            // Files that all predate the definition columns: their keys.
            let view = if schema.has_column_with_unqualified_name("representation_definition") {
                BEST_POSTPROCESSING_VIEW.to_string()
            } else {
                BEST_POSTPROCESSING_VIEW
                    .replace("COALESCE(representation_definition, '')", "''")
                    .replace("COALESCE(metric_definition, '')", "''")
            };
            ctx.sql(&view)
                .await
                .map_err(|e| SqlError::Query(format!("creating view best_postprocessing: {e}")))?;
        }
        let df = ctx.sql_with_options(sql, options).await.map_err(|e| {
            let m = e.to_string();
            if m.contains("not supported")
                || m.contains("DDL")
                || m.contains("DML")
                || m.contains("Statement")
            {
                SqlError::Refused(m)
            } else {
                SqlError::Query(m)
            }
        })?;
        df.collect()
            .await
            .map_err(|e| SqlError::Query(e.to_string()))
    })
}

/// A text table of the batches.
pub fn format(batches: &[RecordBatch]) -> String {
    pretty_format_batches(batches)
        .map(|t| t.to_string())
        .unwrap_or_else(|e| format!("cannot format: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Float64Array, StringArray};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use std::sync::Arc;

    #[test]
    fn older_result_files_without_newer_columns_read_as_null() {
        let dir = tempfile::tempdir().unwrap();
        write_results(dir.path());
        // A newer file with a non-nullable column the older one lacks.
        let schema = Arc::new(Schema::new(vec![
            Field::new("representation", DataType::Utf8, false),
            Field::new("task", DataType::Utf8, false),
            Field::new("value", DataType::Float64, true),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(StringArray::from(vec!["pca"])),
                Arc::new(StringArray::from(vec!["transfer"])),
                Arc::new(Float64Array::from(vec![Some(0.9)])),
            ],
        )
        .unwrap();
        let f = std::fs::File::create(dir.path().join("q.parquet")).unwrap();
        let mut w = parquet::arrow::ArrowWriter::try_new(f, schema, None).unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
        let b = query(
            dir.path(),
            "SELECT representation, COALESCE(task, '-') AS task, value FROM results ORDER BY value",
        )
        .unwrap();
        let text = format(&b);
        assert!(
            text.contains("| random         | -        | 0.1   |")
                && text.contains("| pca            | transfer | 0.9   |"),
            "{text}"
        );
    }

    fn write_results(dir: &Path) {
        let schema = Arc::new(Schema::new(vec![
            Field::new("representation", DataType::Utf8, false),
            Field::new("value", DataType::Float64, true),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(StringArray::from(vec!["pca", "random"])),
                Arc::new(Float64Array::from(vec![Some(0.5), Some(0.1)])),
            ],
        )
        .unwrap();
        let f = std::fs::File::create(dir.join("p.parquet")).unwrap();
        let mut w = parquet::arrow::ArrowWriter::try_new(f, schema, None).unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
    }

    #[test]
    fn selects_and_refuses_writes() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            query(dir.path(), "SELECT 1"),
            Err(SqlError::NoResults(_))
        ));
        write_results(dir.path());
        let b = query(
            dir.path(),
            "SELECT representation FROM results WHERE value > 0.2",
        )
        .unwrap();
        let text = format(&b);
        assert!(text.contains("pca") && !text.contains("random"), "{text}");
        for bad in [
            "CREATE TABLE t AS SELECT * FROM results",
            "COPY results TO '/tmp/pertbench-out.csv'",
            "CREATE EXTERNAL TABLE x STORED AS CSV LOCATION '/etc/passwd'",
            "INSERT INTO results VALUES ('x', 1.0)",
            "SET datafusion.execution.batch_size = 1",
            "DROP TABLE results",
        ] {
            let e = query(dir.path(), bad).unwrap_err();
            assert!(matches!(e, SqlError::Refused(_)), "{bad}: {e}");
        }
        assert!(!Path::new("/tmp/pertbench-out.csv").exists());
        let e = query(dir.path(), "SELECT * FROM read_csv('/etc/passwd')").unwrap_err();
        assert!(matches!(e, SqlError::Query(_)), "{e}");
    }
}
