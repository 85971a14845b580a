//! Read-only SQL over pertbench results with DataFusion.
//!
//! Every `*.parquet` file directly in the results directory is one pipeline's
//! results; together they form the table `results`. Each file is verified
//! first against the checksum written beside it (`.<name>.sha256`) and its
//! Parquet footer is checked: a file that fails either is named in a warning
//! and left out (with how to rebuild it from the cache), never read. Statements that write
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
use datafusion::datasource::listing::{ListingTable, ListingTableConfig};
use datafusion::execution::context::SQLOptions;
use datafusion::prelude::SessionContext;
use pertbench_data::durable::{verify_checksum, Checked};
use std::path::{Path, PathBuf};
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

/// Tables from the results schema (`pertbench-schema`), beside the results:
/// `tasks` (task, number, paper_metric_kind) and `headline_variants`
/// (variant), so that canned queries do not restate them.
fn register_schema_tables(ctx: &datafusion::prelude::SessionContext) -> Result<(), SqlError> {
    use datafusion::arrow::array::{ArrayRef, RecordBatch, StringArray, UInt8Array};
    use pertbench_schema::{Task, HEADLINE_VARIANTS};
    use std::sync::Arc;
    let fail = |e: String| SqlError::Query(format!("registering the schema tables: {e}"));
    let tasks = RecordBatch::try_from_iter(vec![
        (
            "task",
            Arc::new(StringArray::from_iter_values(
                Task::ALL.iter().map(|t| t.title()),
            )) as ArrayRef,
        ),
        (
            "number",
            Arc::new(UInt8Array::from_iter(Task::ALL.iter().map(|t| t.number()))) as ArrayRef,
        ),
        (
            "paper_metric_kind",
            Arc::new(StringArray::from_iter(
                Task::ALL.iter().map(|t| t.paper_metric_kind()),
            )) as ArrayRef,
        ),
    ])
    .map_err(|e| fail(e.to_string()))?;
    let headline = RecordBatch::try_from_iter(vec![(
        "variant",
        Arc::new(StringArray::from_iter_values(HEADLINE_VARIANTS)) as ArrayRef,
    )])
    .map_err(|e| fail(e.to_string()))?;
    ctx.register_batch("tasks", tasks)
        .map_err(|e| fail(e.to_string()))?;
    ctx.register_batch("headline_variants", headline)
        .map_err(|e| fail(e.to_string()))?;
    Ok(())
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .expect("tokio runtime")
}

/// Bounds on one query: wall time, and memory for its operators (sorts,
/// joins, aggregations). Nothing spills to disk (a query writes no file).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub timeout: std::time::Duration,
    pub memory_bytes: usize,
}

impl Limits {
    /// 300 s and 2 GiB, or `PERTBENCH_SQL_TIMEOUT_SECS` and
    /// `PERTBENCH_SQL_MEMORY_MB`.
    pub fn from_env() -> Limits {
        let var = |name: &str| std::env::var(name).ok().and_then(|v| v.parse::<u64>().ok());
        Limits {
            timeout: std::time::Duration::from_secs(
                var("PERTBENCH_SQL_TIMEOUT_SECS").unwrap_or(300),
            ),
            memory_bytes: var("PERTBENCH_SQL_MEMORY_MB").map_or(2 << 30, |mb| (mb as usize) << 20),
        }
    }
}

fn session(limits: &Limits) -> Result<SessionContext, SqlError> {
    use datafusion::execution::disk_manager::{DiskManagerBuilder, DiskManagerMode};
    use datafusion::execution::runtime_env::RuntimeEnvBuilder;
    let runtime = RuntimeEnvBuilder::new()
        .with_memory_limit(limits.memory_bytes, 1.0)
        .with_disk_manager_builder(
            DiskManagerBuilder::default().with_mode(DiskManagerMode::Disabled),
        )
        .build_arc()
        .map_err(|e| SqlError::Query(e.to_string()))?;
    Ok(SessionContext::new_with_config_rt(
        datafusion::prelude::SessionConfig::new(),
        runtime,
    ))
}

/// The `*.parquet` files directly in `dir`, sorted.
fn parquet_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "parquet"))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// A results file left out of a query, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct SkippedFile {
    pub path: PathBuf,
    pub reason: String,
}

impl std::fmt::Display for SkippedFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let stem = self
            .path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        write!(
            f,
            "{}: {}; left out of the results. Rebuild it from the cache with \
             `pertbench run pipelines/{stem}.yaml` (its nodes are cached and verified, so nothing is recomputed)",
            self.path.display(),
            self.reason
        )
    }
}

/// Checks a Parquet file's framing (magic bytes, footer length) and parses
/// its footer, without letting a malformed footer panic the process.
fn check_parquet(path: &Path) -> Result<(), String> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let len = f.metadata().map_err(|e| e.to_string())?.len();
    if len == 0 {
        return Err("an empty (0-byte) file".into());
    }
    if len < 12 {
        return Err(format!("{len} bytes: too short for a Parquet file"));
    }
    let mut head = [0u8; 4];
    f.read_exact(&mut head).map_err(|e| e.to_string())?;
    let mut tail = [0u8; 8];
    f.seek(SeekFrom::End(-8)).map_err(|e| e.to_string())?;
    f.read_exact(&mut tail).map_err(|e| e.to_string())?;
    if &head != b"PAR1" || &tail[4..] != b"PAR1" {
        return Err("not a Parquet file (no PAR1 magic at its start and end)".into());
    }
    let footer = u64::from(u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]));
    if footer + 12 > len {
        return Err(format!(
            "malformed Parquet footer (claims {footer} bytes in a {len}-byte file)"
        ));
    }
    let p = path.to_path_buf();
    let parsed = pertbench_data::panics::contained(move || {
        let file = std::fs::File::open(&p).map_err(|e| e.to_string())?;
        datafusion::parquet::file::metadata::ParquetMetaDataReader::new()
            .parse_and_finish(&file)
            .map(|_| ())
            .map_err(|e| e.to_string())
    });
    match parsed {
        Ok(r) => r.map_err(|e| format!("malformed Parquet footer: {e}")),
        Err(_) => Err("malformed Parquet footer (the Parquet reader failed on it)".into()),
    }
}

/// The results files of a directory, sorted into those a query reads
/// (verified against their checksum, or without one, from an older
/// pertbench, and with a sound footer) and those it leaves out.
#[derive(Debug, Clone, Default)]
pub struct ResultFiles {
    pub readable: Vec<PathBuf>,
    /// Readable files without a checksum beside them (not verified).
    pub unchecked: Vec<PathBuf>,
    pub skipped: Vec<SkippedFile>,
}

pub fn result_files(dir: &Path) -> ResultFiles {
    let mut out = ResultFiles::default();
    for path in parquet_files(dir) {
        // The framing first (it says what is wrong with an empty or
        // truncated file more plainly), then the checksum.
        if let Err(why) = check_parquet(&path) {
            out.skipped.push(SkippedFile { path, reason: why });
            continue;
        }
        // Under the pair's shared lock: a run replacing the file and its
        // checksum holds it exclusively until both are in place.
        let verdict = {
            let lock = pertbench_data::durable::pair_lock_path(&path);
            // A read-only results directory cannot hold the lock file:
            // verify without it.
            let _shared = pertbench_data::durable::Lock::shared(&lock).ok();
            verify_checksum(&path)
        };
        if let Checked::Mismatch(why) = verdict {
            out.skipped.push(SkippedFile {
                path,
                reason: format!("fails its checksum ({why})"),
            });
            continue;
        }
        if verdict == Checked::Unchecked {
            out.unchecked.push(path.clone());
        }
        out.readable.push(path);
    }
    out
}

/// A query's rows and the results files it left out.
#[derive(Debug)]
pub struct Answer {
    pub batches: Vec<RecordBatch>,
    pub skipped: Vec<SkippedFile>,
    /// Files read without a checksum to verify them against.
    pub unchecked: Vec<PathBuf>,
}

/// Registers `files` as table `name`: the union of their columns, every one
/// nullable (result files written by an older pertbench lack newer columns,
/// `task`, `null_mean`..., which then read as NULL instead of failing the
/// query on a non-nullable column).
async fn register_files(
    ctx: &SessionContext,
    name: &str,
    files: &[PathBuf],
) -> Result<(), SqlError> {
    let q = |e: datafusion::error::DataFusionError| SqlError::Query(e.to_string());
    let options =
        ListingOptions::new(Arc::new(ParquetFormat::default())).with_file_extension(".parquet");
    let mut urls = Vec::with_capacity(files.len());
    let mut merged = Schema::empty();
    for f in files {
        let url = ListingTableUrl::parse(f.display().to_string()).map_err(q)?;
        let schema = options
            .infer_schema(&ctx.state(), &url)
            .await
            .map_err(|e| SqlError::Query(format!("{}: {e}", f.display())))?;
        merged = Schema::try_merge([merged, schema.as_ref().clone()])
            .map_err(|e| SqlError::Query(format!("{}: {e}", f.display())))?;
        urls.push(url);
    }
    let nullable = Schema::new(
        merged
            .fields()
            .iter()
            .map(|f| f.as_ref().clone().with_nullable(true))
            .collect::<Vec<_>>(),
    );
    let config = ListingTableConfig::new_with_multi_paths(urls)
        .with_listing_options(options)
        .with_schema(Arc::new(nullable));
    let table = ListingTable::try_new(config).map_err(q)?;
    ctx.register_table(name, Arc::new(table)).map_err(q)?;
    Ok(())
}

/// Runs one read-only query over the results in `results_dir`; a results file
/// that fails verification is left out and named in a warning on stderr.
pub fn query(results_dir: &Path, sql: &str) -> Result<Vec<RecordBatch>, SqlError> {
    let answer = query_verified(results_dir, sql)?;
    for s in &answer.skipped {
        eprintln!("warning: {s}");
    }
    for p in &answer.unchecked {
        eprintln!(
            "note: {} has no checksum beside it (written by an older pertbench or by hand): read unverified; re-run its pipeline to checksum it",
            p.display()
        );
    }
    Ok(answer.batches)
}

/// [`query`], returning the files it left out instead of printing them.
pub fn query_verified(results_dir: &Path, sql: &str) -> Result<Answer, SqlError> {
    query_with_limits(results_dir, sql, &Limits::from_env())
}

/// [`query_verified`] within `limits`: a query that runs longer, or needs
/// more memory, is stopped with an error that says which limit it hit.
pub fn query_with_limits(
    results_dir: &Path,
    sql: &str,
    limits: &Limits,
) -> Result<Answer, SqlError> {
    query_files(results_dir, &result_files(results_dir), sql, limits)
}

/// Runs `sql` over the results files `readable` (and the failures beside
/// them): the batches, and the failures files it left out.
fn execute(
    results_dir: &Path,
    readable: &[PathBuf],
    sql: &str,
    limits: &Limits,
) -> Result<(Vec<RecordBatch>, Vec<SkippedFile>), SqlError> {
    let options = SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false);
    let mut skipped = Vec::new();
    let ctx = session(limits)?;
    let batches = runtime().block_on(async {
        register_files(&ctx, "results", readable).await?;
        // The failed nodes of each pipeline's last run, beside the results
        // (`<workdir>/failures`), when any run wrote them.
        if let Some(failures) = results_dir.parent().map(|w| w.join("failures")) {
            let f = result_files(&failures);
            skipped.extend(f.skipped);
            if !f.readable.is_empty() {
                register_files(&ctx, "failures", &f.readable).await?;
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
        register_schema_tables(&ctx)?;
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
        match tokio::time::timeout(limits.timeout, df.collect()).await {
            Ok(r) => r.map_err(|e| {
                let m = e.to_string();
                if m.contains("Resources exhausted") {
                    SqlError::Query(format!(
                        "the query needs more than its memory limit of {} MB (PERTBENCH_SQL_MEMORY_MB): {m}",
                        limits.memory_bytes >> 20
                    ))
                } else {
                    SqlError::Query(m)
                }
            }),
            Err(_) => Err(SqlError::Query(format!(
                "the query ran longer than its limit of {} s (PERTBENCH_SQL_TIMEOUT_SECS) and was stopped",
                limits.timeout.as_secs_f64()
            ))),
        }
    })?;
    Ok((batches, skipped))
}

/// A panic of the Parquet reader inside a query (a malformed page the
/// footer check cannot see), contained: each file is read alone to find
/// those the reader fails on; they are left out and named, and the query
/// runs again over the others.
fn execute_contained(
    results_dir: &Path,
    readable: &[PathBuf],
    sql: &str,
    limits: &Limits,
    skipped: &mut Vec<SkippedFile>,
) -> Result<Vec<RecordBatch>, SqlError> {
    use pertbench_data::panics::contained;
    // The query over `files`: its batches (the failures files it left out
    // join `skipped`), or the panic it was stopped by.
    let attempt = |files: &[PathBuf], skipped: &mut Vec<SkippedFile>| {
        contained(|| execute(results_dir, files, sql, limits)).map(|r| {
            r.map(|(batches, more)| {
                skipped.extend(more);
                batches
            })
        })
    };
    let panic = match attempt(readable, skipped) {
        Ok(r) => return r,
        Err(panic) => panic,
    };
    let mut good = Vec::new();
    for f in readable {
        let probe = contained(|| {
            execute(
                results_dir,
                std::slice::from_ref(f),
                "SELECT * FROM results",
                limits,
            )
        });
        match probe {
            Ok(Ok(_)) => good.push(f.clone()),
            Ok(Err(e)) => skipped.push(SkippedFile {
                path: f.clone(),
                reason: format!("unreadable ({e})"),
            }),
            Err(p) => skipped.push(SkippedFile {
                path: f.clone(),
                reason: format!("the Parquet reader failed on its data ({p})"),
            }),
        }
    }
    if good.len() == readable.len() || good.is_empty() {
        return Err(if good.is_empty() {
            no_readable_results(results_dir, skipped)
        } else {
            SqlError::Query(format!("the query engine failed: {panic}"))
        });
    }
    attempt(&good, skipped)
        .unwrap_or_else(|p| Err(SqlError::Query(format!("the query engine failed: {p}"))))
}

/// The error when every results file of `results_dir` was left out.
fn no_readable_results(results_dir: &Path, skipped: &[SkippedFile]) -> SqlError {
    SqlError::Query(format!(
        "no readable results in {}: {}",
        results_dir.display(),
        skipped
            .iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>()
            .join("; ")
    ))
}

/// [`query_with_limits`] over the files of `results_dir` already sorted by
/// [`result_files`] (so a caller that needs them too verifies them once).
pub fn query_files(
    results_dir: &Path,
    files: &ResultFiles,
    sql: &str,
    limits: &Limits,
) -> Result<Answer, SqlError> {
    if files.readable.is_empty() {
        return Err(if files.skipped.is_empty() {
            SqlError::NoResults(results_dir.display().to_string())
        } else {
            no_readable_results(results_dir, &files.skipped)
        });
    }
    let mut skipped = files.skipped.clone();
    let batches = execute_contained(results_dir, &files.readable, sql, limits, &mut skipped)?;
    Ok(Answer {
        batches,
        skipped,
        unchecked: files.unchecked.clone(),
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

    /// A results file of (representation, value) rows, without a checksum
    /// (as an older pertbench wrote them).
    fn write_rows(path: &Path, rows: &[(&str, f64)]) {
        let schema = Arc::new(Schema::new(vec![
            Field::new("representation", DataType::Utf8, false),
            Field::new("value", DataType::Float64, true),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.0))),
                Arc::new(Float64Array::from_iter_values(rows.iter().map(|r| r.1))),
            ],
        )
        .unwrap();
        let f = std::fs::File::create(path).unwrap();
        let mut w = parquet::arrow::ArrowWriter::try_new(f, schema, None).unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
    }

    fn write_results(dir: &Path) {
        write_rows(&dir.join("p.parquet"), &[("pca", 0.5), ("random", 0.1)]);
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

    /// A results file of one row with its checksum, as pertbench writes them.
    fn write_named(dir: &Path, name: &str, rep: &str, value: f64) -> PathBuf {
        let path = dir.join(name);
        write_rows(&path, &[(rep, value)]);
        pertbench_data::durable::write_checksum(&path).unwrap();
        path
    }

    #[test]
    fn a_damaged_results_file_is_named_and_left_out_never_read() {
        let dir = tempfile::tempdir().unwrap();
        let good = write_named(dir.path(), "good.parquet", "pca", 2.47121);
        let bad = write_named(dir.path(), "bad.parquet", "random", 0.5);
        let q = "SELECT representation, value FROM results ORDER BY 1";
        assert_eq!(
            query_verified(dir.path(), q).unwrap().batches[0].num_rows(),
            2
        );
        let original = std::fs::read(&bad).unwrap();
        // One flipped bit in a data page, a malformed footer length, a
        // 0-byte file, a file that is not Parquet at all.
        let mut flipped = original.clone();
        flipped[original.len() / 3] ^= 0x04;
        let mut footer = original.clone();
        let n = footer.len();
        footer[n - 8..n - 4].copy_from_slice(&u32::MAX.to_le_bytes());
        let mut footer_in_range = original.clone();
        footer_in_range[n - 8..n - 4].copy_from_slice(&((n as u32) - 12).to_le_bytes());
        for (case, bytes, rechecksum, why) in [
            ("flipped bit", flipped, false, "fails its checksum"),
            (
                "footer length",
                footer.clone(),
                true,
                "malformed Parquet footer",
            ),
            (
                "footer bytes",
                footer_in_range,
                true,
                "malformed Parquet footer",
            ),
            ("0 bytes", Vec::new(), true, "0-byte"),
            (
                "not parquet",
                b"name,value\npca,1\n".to_vec(),
                true,
                "not a Parquet file",
            ),
        ] {
            std::fs::write(&bad, &bytes).unwrap();
            if rechecksum {
                // Damage the checksum cannot see (written after the fact, or
                // a file without one): the footer check still catches it.
                pertbench_data::durable::write_checksum(&bad).unwrap();
            }
            let a = query_verified(dir.path(), q).unwrap();
            let text = format(&a.batches);
            assert!(
                text.contains("2.47121") && !text.contains("random"),
                "{case}: {text}"
            );
            assert_eq!(a.skipped.len(), 1, "{case}");
            let msg = a.skipped[0].to_string();
            assert!(
                msg.contains("bad.parquet")
                    && msg.contains(why)
                    && msg.contains("pipelines/bad.yaml"),
                "{case}: {msg}"
            );
            std::fs::remove_file(pertbench_data::durable::checksum_path(&bad)).unwrap();
            // Without a checksum, only damage the footer check sees is caught;
            // the file is then reported as unverified.
            let f = result_files(dir.path());
            let caught = usize::from(case != "flipped bit");
            assert_eq!(f.skipped.len(), caught, "{case} unchecked");
            assert_eq!(f.unchecked.len(), 1 - caught, "{case} unchecked");
        }
        // Every file damaged: an error naming it, not an empty answer.
        std::fs::write(&good, b"").unwrap();
        let e = query_verified(dir.path(), q).unwrap_err().to_string();
        assert!(
            e.contains("good.parquet") && e.contains("bad.parquet"),
            "{e}"
        );
    }

    #[test]
    fn a_query_is_stopped_at_its_time_and_memory_limits() {
        let dir = tempfile::tempdir().unwrap();
        write_named(dir.path(), "p.parquet", "pca", 1.0);
        let limits = Limits {
            timeout: std::time::Duration::from_secs(2),
            memory_bytes: 16 << 20,
        };
        let started = std::time::Instant::now();
        let e = query_with_limits(
            dir.path(),
            "SELECT COUNT(*) FROM generate_series(1, 100000000000) t(v) WHERE v % 7 = 3",
            &limits,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("ran longer than its limit of 2 s"), "{e}");
        assert!(started.elapsed().as_secs() < 30, "{:?}", started.elapsed());
        let e = query_with_limits(
            dir.path(),
            "SELECT v, COUNT(*) FROM generate_series(1, 30000000) t(v) GROUP BY v ORDER BY v DESC",
            &Limits {
                timeout: std::time::Duration::from_secs(120),
                ..limits
            },
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("memory limit of 16 MB"), "{e}");
        // Within the limits, an answer.
        let a =
            query_with_limits(dir.path(), "SELECT COUNT(*) AS n FROM results", &limits).unwrap();
        assert!(format(&a.batches).contains("| 1 |"));
    }
}
