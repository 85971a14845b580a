//! The DE table in pdex's columns (one row per perturbation and gene, in
//! perturbation then gene order), as Parquet or CSV; cell-eval reads the
//! CSV as a precomputed DE table (`--de-real`, `--de-pred`).

use crate::error::{EngineError, Result};
use arrow::array::{ArrayRef, Float64Array, RecordBatch, StringArray, UInt64Array};
use arrow::datatypes::{DataType, Field, Schema};
use pertbench_kernels::tasks::differential_expression::DeTable;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;

/// The columns, in order (pdex 0.2's names; `fold_change`, its deprecated
/// alias of `log2_fold_change`, and `percent_change` are left out).
pub const COLUMNS: [&str; 10] = [
    "target",
    "feature",
    "target_mean",
    "ref_mean",
    "target_membership",
    "ref_membership",
    "log2_fold_change",
    "statistic",
    "p_value",
    "fdr",
];

/// The table as one record batch.
pub fn to_batch(t: &DeTable, perturbations: &[String], genes: &[String]) -> RecordBatch {
    let g = t.n_genes;
    let n = t.n_groups() * g;
    let target: Vec<&str> = (0..n).map(|i| perturbations[i / g].as_str()).collect();
    let feature: Vec<&str> = (0..n).map(|i| genes[i % g].as_str()).collect();
    let ref_mean: Vec<f64> = (0..n).map(|i| t.reference_mean[i % g]).collect();
    let target_membership: Vec<u64> = (0..n).map(|i| t.group_sizes[i / g] as u64).collect();
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(target)),
        Arc::new(StringArray::from(feature)),
        Arc::new(Float64Array::from(t.target_mean.clone())),
        Arc::new(Float64Array::from(ref_mean)),
        Arc::new(UInt64Array::from(target_membership)),
        Arc::new(UInt64Array::from(vec![t.reference_size as u64; n])),
        Arc::new(Float64Array::from(t.log2_fold_change.clone())),
        Arc::new(Float64Array::from(t.statistic.clone())),
        Arc::new(Float64Array::from(t.p_value.clone())),
        Arc::new(Float64Array::from(t.fdr.clone())),
    ];
    let types = [
        DataType::Utf8,
        DataType::Utf8,
        DataType::Float64,
        DataType::Float64,
        DataType::UInt64,
        DataType::UInt64,
        DataType::Float64,
        DataType::Float64,
        DataType::Float64,
        DataType::Float64,
    ];
    let schema = Schema::new(
        COLUMNS
            .iter()
            .zip(types)
            .map(|(name, ty)| Field::new(*name, ty, false))
            .collect::<Vec<_>>(),
    );
    RecordBatch::try_new(Arc::new(schema), columns).expect("columns match the schema")
}

/// A CSV field: quoted when it holds a comma, quote or line break.
pub(crate) fn csv_text(s: &str) -> std::borrow::Cow<'_, str> {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\"")).into()
    } else {
        s.into()
    }
}

/// A number as polars and pandas read it back exactly (shortest
/// round-trip digits; `inf`, `-inf`, `NaN`).
pub(crate) fn csv_number(v: f64) -> String {
    format!("{v:?}")
}

/// Writes the table atomically: Parquet, or CSV when `path` ends in `.csv`.
pub fn write(path: &Path, t: &DeTable, perturbations: &[String], genes: &[String]) -> Result<()> {
    let csv = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("csv"));
    if !csv {
        return crate::exec::table::write_parquet_atomic(path, &to_batch(t, perturbations, genes));
    }
    let g = t.n_genes;
    pertbench_data::fetch::atomic_write_with(path, |f| {
        let mut w = std::io::BufWriter::new(f);
        writeln!(w, "{}", COLUMNS.join(","))?;
        for (k, p) in perturbations.iter().enumerate() {
            let p = csv_text(p);
            for (j, gene) in genes.iter().enumerate() {
                let i = k * g + j;
                writeln!(
                    w,
                    "{p},{},{},{},{},{},{},{},{},{}",
                    csv_text(gene),
                    csv_number(t.target_mean[i]),
                    csv_number(t.reference_mean[j]),
                    t.group_sizes[k],
                    t.reference_size,
                    csv_number(t.log2_fold_change[i]),
                    csv_number(t.statistic[i]),
                    csv_number(t.p_value[i]),
                    csv_number(t.fdr[i]),
                )?;
            }
        }
        w.flush()
    })
    .map_err(EngineError::from)
}
