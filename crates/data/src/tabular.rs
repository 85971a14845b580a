//! Parquet and CSV tables through Polars: metadata columns for the samples
//! table, and representation columns.

use crate::error::{DataError, Result};
use crate::samples::RawColumn;
use pertbench_kernels::Matrix;
use polars::prelude::*;
use std::path::Path;

pub fn read_frame(path: &Path) -> Result<DataFrame> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    let res = match ext.as_str() {
        "parquet" | "pq" => {
            let f = std::fs::File::open(path).map_err(|e| DataError::io(path, e))?;
            ParquetReader::new(f).finish()
        }
        "csv" | "tsv" => CsvReadOptions::default()
            .with_has_header(true)
            .with_parse_options(CsvParseOptions::default().with_separator(if ext == "tsv" {
                b'\t'
            } else {
                b','
            }))
            .try_into_reader_with_file_path(Some(path.to_path_buf()))
            .and_then(|r| r.finish()),
        other => {
            return Err(DataError::file(
                path,
                format!("unknown table extension `{other}` (parquet, csv, tsv)"),
            ))
        }
    };
    res.map_err(|e| DataError::file(path, format!("cannot read table: {e}")))
}

/// A column as a [`RawColumn`]; None if absent.
pub fn column(path: &Path, df: &DataFrame, name: &str) -> Result<Option<RawColumn>> {
    let Ok(col) = df.column(name) else {
        return Ok(None);
    };
    let err = |e: PolarsError| DataError::file(path, format!("column `{name}`: {e}"));
    Ok(Some(match col.dtype() {
        DataType::Boolean => RawColumn::Bool(
            col.bool()
                .map_err(err)?
                .iter()
                .map(|v| v.unwrap_or(false))
                .collect(),
        ),
        dt if dt.is_primitive_numeric() => RawColumn::Num(
            col.cast(&DataType::Float64)
                .map_err(err)?
                .f64()
                .map_err(err)?
                .iter()
                .map(|v| v.unwrap_or(f64::NAN))
                .collect(),
        ),
        _ => RawColumn::Str(
            col.cast(&DataType::String)
                .map_err(err)?
                .str()
                .map_err(err)?
                .iter()
                .map(|v| v.map(str::to_string))
                .collect(),
        ),
    }))
}

/// The numeric columns named (in order) as an n x d f32 matrix. A missing
/// value, NaN or Inf is an error naming the column and row.
pub fn matrix(path: &Path, df: &DataFrame, columns: &[String]) -> Result<Matrix> {
    let n = df.height();
    let mut m = Matrix::zeros((n, columns.len()));
    for (j, name) in columns.iter().enumerate() {
        let col = df.column(name).map_err(|_| {
            DataError::file(path, format!("representation column `{name}` is missing"))
        })?;
        let vals = col
            .cast(&DataType::Float32)
            .map_err(|e| DataError::file(path, format!("column `{name}`: {e}")))?;
        let ca = vals
            .f32()
            .map_err(|e| DataError::file(path, format!("column `{name}`: {e}")))?;
        for (i, v) in ca.iter().enumerate() {
            match v {
                Some(x) if x.is_finite() => m[(i, j)] = x,
                other => {
                    return Err(DataError::file(
                        path,
                        format!(
                            "column `{name}`, row {i}: {} value",
                            if other.is_none() {
                                "missing"
                            } else {
                                "non-finite (NaN or Inf)"
                            }
                        ),
                    ))
                }
            }
        }
    }
    Ok(m)
}

/// Column names that start with `prefix`, in table order.
pub fn columns_with_prefix(df: &DataFrame, prefix: &str) -> Vec<String> {
    df.get_column_names()
        .iter()
        .map(|s| s.to_string())
        .filter(|c| c.starts_with(prefix))
        .collect()
}
