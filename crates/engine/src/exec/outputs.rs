//! Node outputs and how each is stored in, and read back from, the cache.

use crate::error::{EngineError, Result};
use crate::exec::table;
use crate::metrics::MetricOutput;
use crate::plan::NodeKind;
use crate::splits::SplitOut;
use pertbench_data::manifest::Values;
use pertbench_data::samples::Samples;
use pertbench_kernels::sparse::csr::CsrMatrix;
use pertbench_kernels::Matrix;
use std::path::Path;
use std::sync::Arc;

/// An ingested dataset.
pub struct IngestOut {
    pub samples: Samples,
    pub source_rows: Vec<usize>,
    /// Rows of the source file before unassigned samples were dropped.
    pub n_file_rows: usize,
    pub counts: Option<CsrMatrix>,
    pub genes: Vec<String>,
    /// Mean expression per gene over all samples (see [`IngestOut::expression_rows`]).
    pub expression_mean: Vec<f64>,
    /// Whether `counts` holds raw counts or log expression.
    pub values: Values,
    /// Rows of the file ingestion dropped, by reason (NA perturbation,
    /// batch or control flag, unassigned labels, ...).
    pub dropped: std::collections::BTreeMap<String, usize>,
    /// When ingestion streamed `counts` to disk: the scratch directory whose
    /// `counts/` cache they map, kept until the output is dropped (writing
    /// the node links these files instead of copying them).
    pub streamed_counts: Option<Arc<tempfile::TempDir>>,
}

impl IngestOut {
    /// What ingestion dropped, as a `convention` entry (empty when
    /// nothing was): `dropped_at_ingest=<reason>:<n>|...`.
    pub fn dropped_convention(&self) -> String {
        if self.dropped.is_empty() {
            return String::new();
        }
        let parts: Vec<String> = self
            .dropped
            .iter()
            .map(|(why, n)| format!("{}:{n}", why.replace([';', '|', '='], " ")))
            .collect();
        format!("dropped_at_ingest={}", parts.join("|"))
    }

    /// Expression as metrics use it: `lognorm` = log1p(counts / rowsum * 1e4)
    /// of raw counts; log expression (e.g. L1000 level 3) as stored.
    pub fn expression_rows(counts: &CsrMatrix, values: Values, rows: &[usize]) -> CsrMatrix {
        let x = counts.select_rows(rows);
        match values {
            Values::Counts => x.into_lognorm(),
            Values::LogExpression => x,
        }
    }

    /// One sample's expression (as [`IngestOut::expression_rows`]) into `out`
    /// (length ncols, zeroed).
    pub fn expression_row_into(counts: &CsrMatrix, values: Values, row: usize, out: &mut [f64]) {
        match values {
            Values::Counts => counts.lognorm_row_into(row, out),
            Values::LogExpression => {
                for (j, v) in counts.row(row) {
                    out[j] = v as f64;
                }
            }
        }
    }

    /// Mean expression per gene (as [`IngestOut::expression_rows`]).
    pub fn expression_column_means(counts: &CsrMatrix, values: Values) -> Vec<f64> {
        match values {
            Values::Counts => counts.lognorm_column_means(),
            Values::LogExpression => counts.column_means(),
        }
    }
}

/// Writes counts as a count cache at `dest`: hard links to the files of
/// `from` (the cache ingestion streamed `counts` to) when given, else a copy
/// written from memory.
fn write_counts(dest: &Path, counts: &CsrMatrix, from: Option<&Path>) -> Result<()> {
    if let Some(src) = from {
        std::fs::create_dir_all(dest)
            .map_err(|e| EngineError::msg(format!("{}: {e}", dest.display())))?;
        for entry in std::fs::read_dir(src)
            .map_err(|e| EngineError::msg(format!("{}: {e}", src.display())))?
        {
            let entry = entry.map_err(|e| EngineError::msg(e.to_string()))?;
            let to = dest.join(entry.file_name());
            if std::fs::hard_link(entry.path(), &to).is_err() {
                std::fs::copy(entry.path(), &to).map_err(|e| {
                    EngineError::msg(format!("{}: cannot write: {e}", to.display()))
                })?;
            }
        }
        return Ok(());
    }
    pertbench_data::count_cache::write(dest, counts)
        .map_err(|e| EngineError::msg(e.to_string()))?;
    Ok(())
}

/// A representation, or a post-processed one: `rows` index the samples table.
pub struct MatrixOut {
    pub matrix: Matrix,
    pub rows: Vec<usize>,
    /// Batches a transform dropped, with reasons.
    pub excluded: Vec<String>,
    /// How the data shaped a post-processing (TVN's components), for the
    /// rows' `convention`; empty otherwise.
    pub convention: String,
}

#[derive(Clone)]
pub enum Output {
    Ingest(Arc<IngestOut>),
    Matrix(Arc<MatrixOut>),
    Metric(Arc<MetricOutput>),
    Split(Arc<SplitOut>),
}

impl Output {
    pub fn ingest(&self) -> Result<&Arc<IngestOut>> {
        match self {
            Output::Ingest(i) => Ok(i),
            _ => Err(EngineError::msg("internal: expected an ingest output")),
        }
    }
    pub fn matrix(&self) -> Result<&Arc<MatrixOut>> {
        match self {
            Output::Matrix(m) => Ok(m),
            _ => Err(EngineError::msg("internal: expected a matrix output")),
        }
    }
    pub fn split(&self) -> Result<&Arc<SplitOut>> {
        match self {
            Output::Split(s) => Ok(s),
            _ => Err(EngineError::msg("internal: expected a split output")),
        }
    }
    pub fn metric(&self) -> Result<&Arc<MetricOutput>> {
        match self {
            Output::Metric(m) => Ok(m),
            _ => Err(EngineError::msg("internal: expected a metric output")),
        }
    }

    /// Writes the output's files into `dir` and returns facts for node.json.
    pub fn write(&self, dir: &Path) -> Result<serde_json::Value> {
        match self {
            Output::Ingest(i) => {
                table::write_parquet(
                    &dir.join("samples.parquet"),
                    &table::samples_to_batch(&i.samples, &i.source_rows),
                )?;
                table::write_parquet(
                    &dir.join("genes.parquet"),
                    &table::genes_to_batch(&i.genes, &i.expression_mean),
                )?;
                if let Some(c) = &i.counts {
                    let streamed = i.streamed_counts.as_ref().map(|t| t.path().join("counts"));
                    write_counts(&dir.join("counts"), c, streamed.as_deref())?;
                }
                Ok(serde_json::json!({
                    "n_samples": i.samples.len(),
                    "n_file_rows": i.n_file_rows,
                    "n_genes": i.genes.len(),
                    "nnz": i.counts.as_ref().map(|c| c.nnz()),
                    "values": i.values.name(),
                    "dropped": i.dropped,
                }))
            }
            Output::Matrix(m) => {
                // The matrix as raw f32 (.npy): no columnar copy of it is
                // built, and it reads back in one pass.
                pertbench_data::npy::write(&dir.join("matrix.npy"), &m.matrix)
                    .map_err(|e| EngineError::msg(e.to_string()))?;
                table::write_parquet(&dir.join("rows.parquet"), &table::rows_to_batch(&m.rows))?;
                Ok(serde_json::json!({
                    "n_rows": m.matrix.nrows(),
                    "n_dims": m.matrix.ncols(),
                    "excluded": m.excluded,
                    "convention": m.convention,
                }))
            }
            Output::Split(sp) => {
                table::write_parquet(&dir.join("splits.parquet"), &table::splits_to_batch(sp))?;
                Ok(serde_json::json!({
                    "n_train": sp.train.len(),
                    "n_test_seen": sp.test_seen.len(),
                    "n_test_unseen": sp.test_unseen.len(),
                    "unseen_train_perturbations": sp.unseen_train_perturbations,
                }))
            }
            Output::Metric(m) => {
                table::write_parquet(
                    &dir.join("rows.parquet"),
                    &crate::metrics::MetricRow::to_batch(&m.rows),
                )?;
                if let Some(d) = &m.details {
                    table::write_parquet(&dir.join("details.parquet"), d)?;
                }
                Ok(serde_json::json!({ "n_rows": m.rows.len() }))
            }
        }
    }

    /// Reads an output of `kind` back from a verified node directory.
    pub fn read(kind: NodeKind, dir: &Path, meta: &serde_json::Value) -> Result<Output> {
        match kind {
            NodeKind::Ingest => {
                let (samples, source_rows) =
                    table::batch_to_samples(&table::read_parquet(&dir.join("samples.parquet"))?)?;
                let (genes, expression_mean) =
                    table::batch_to_genes(&table::read_parquet(&dir.join("genes.parquet"))?)?;
                let counts_path = dir.join("counts.parquet");
                let counts = if dir.join("counts").is_dir() {
                    let c = pertbench_data::count_cache::open(&dir.join("counts"))
                        .map_err(|e| EngineError::msg(e.to_string()))?;
                    if (c.nrows, c.ncols) != (samples.len(), genes.len()) {
                        return Err(EngineError::msg(format!(
                            "{}: cached counts are {} x {} for {} samples and {} genes",
                            dir.display(),
                            c.nrows,
                            c.ncols,
                            samples.len(),
                            genes.len()
                        )));
                    }
                    Some(c)
                } else if counts_path.exists() {
                    // Caches written before counts were memory-mapped.
                    Some(table::read_csr_parquet(
                        &counts_path,
                        samples.len(),
                        genes.len(),
                    )?)
                } else {
                    None
                };
                let n_file_rows = meta
                    .get("n_file_rows")
                    .and_then(|v| v.as_u64())
                    .unwrap_or(samples.len() as u64) as usize;
                Ok(Output::Ingest(Arc::new(IngestOut {
                    samples,
                    source_rows,
                    n_file_rows,
                    counts,
                    genes,
                    expression_mean,
                    values: if meta.get("values").and_then(|v| v.as_str())
                        == Some(Values::LogExpression.name())
                    {
                        Values::LogExpression
                    } else {
                        Values::Counts
                    },
                    streamed_counts: None,
                    dropped: meta
                        .get("dropped")
                        .and_then(|d| serde_json::from_value(d.clone()).ok())
                        .unwrap_or_default(),
                })))
            }
            NodeKind::Representation | NodeKind::PostProcess => {
                let npy = dir.join("matrix.npy");
                let (matrix, rows) = if npy.exists() {
                    let matrix = pertbench_data::npy::read(&npy)
                        .map_err(|e| EngineError::msg(e.to_string()))?;
                    let rows =
                        table::batch_to_rows(&table::read_parquet(&dir.join("rows.parquet"))?)?;
                    if rows.len() != matrix.nrows() {
                        return Err(EngineError::msg(format!(
                            "{}: {} rows, but rows.parquet lists {}",
                            npy.display(),
                            matrix.nrows(),
                            rows.len()
                        )));
                    }
                    (matrix, rows)
                } else {
                    // Caches written before matrices went to .npy.
                    table::batch_to_matrix(&table::read_parquet(&dir.join("matrix.parquet"))?)?
                };
                let excluded = meta
                    .get("excluded")
                    .and_then(|v| v.as_array())
                    .map(|a| {
                        a.iter()
                            .filter_map(|s| s.as_str().map(String::from))
                            .collect()
                    })
                    .unwrap_or_default();
                let convention = meta
                    .get("convention")
                    .and_then(|v| v.as_str())
                    .unwrap_or_default()
                    .to_string();
                Ok(Output::Matrix(Arc::new(MatrixOut {
                    matrix,
                    rows,
                    excluded,
                    convention,
                })))
            }
            NodeKind::Split => {
                let mut sp =
                    table::batch_to_splits(&table::read_parquet(&dir.join("splits.parquet"))?)?;
                if let Some(m) = meta
                    .get("unseen_train_perturbations")
                    .and_then(|v| v.as_object())
                {
                    for (k, v) in m {
                        sp.unseen_train_perturbations
                            .insert(k.clone(), v.as_u64().unwrap_or(0) as usize);
                    }
                }
                Ok(Output::Split(Arc::new(sp)))
            }
            NodeKind::Metric => {
                let rows = crate::metrics::MetricRow::from_batch(&table::read_parquet(
                    &dir.join("rows.parquet"),
                )?)
                .map_err(|e| EngineError::msg(format!("{}: {e}", dir.display())))?;
                let dpath = dir.join("details.parquet");
                let details = if dpath.exists() {
                    Some(table::read_parquet(&dpath)?)
                } else {
                    None
                };
                Ok(Output::Metric(Arc::new(MetricOutput { rows, details })))
            }
        }
    }
}
