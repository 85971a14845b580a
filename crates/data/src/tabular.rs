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
        "csv" | "tsv" | "txt" => CsvReadOptions::default()
            .with_has_header(true)
            .with_parse_options(
                CsvParseOptions::default().with_separator(separator(path).unwrap_or(b',')),
            )
            .try_into_reader_with_file_path(Some(path.to_path_buf()))
            .and_then(|r| r.finish()),
        other => {
            return Err(DataError::file(
                path,
                format!("unknown table extension `{other}` (parquet, csv, tsv, txt)"),
            ))
        }
    };
    res.map_err(|e| DataError::file(path, format!("cannot read table: {e}")))
}

fn separator(path: &Path) -> Option<u8> {
    match path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase()
        .as_str()
    {
        "csv" => Some(b','),
        "tsv" | "txt" => Some(b'\t'),
        _ => None,
    }
}

/// A metadata table (parquet; csv; tsv or txt, tab-separated), reading only
/// the `wanted` columns it has, delimited text as text (no type inference,
/// so columns of mixed types such as LINCS's `instinfo_beta.txt` read
/// intact). Memory is that of the wanted columns only.
pub fn read_metadata_table(path: &Path, wanted: &[String]) -> Result<DataFrame> {
    let err = |e: PolarsError| DataError::file(path, format!("cannot read table: {e}"));
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    if matches!(ext.to_ascii_lowercase().as_str(), "parquet" | "pq") {
        let f = std::fs::File::open(path).map_err(|e| DataError::io(path, e))?;
        let mut r = ParquetReader::new(f);
        let schema = r.schema().map_err(err)?;
        let cols: Vec<String> = wanted
            .iter()
            .filter(|w| schema.contains(w.as_str()))
            .cloned()
            .collect();
        return r.with_columns(Some(cols)).finish().map_err(err);
    }
    let sep = separator(path).ok_or_else(|| {
        DataError::file(
            path,
            format!("unknown table extension `{ext}` (parquet, csv, tsv, txt)"),
        )
    })?;
    let mut header = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(
            std::fs::File::open(path).map_err(|e| DataError::io(path, e))?,
        ),
        &mut header,
    )
    .map_err(|e| DataError::io(path, e))?;
    let names: Vec<&str> = header
        .trim_end_matches(['\n', '\r'])
        .split(sep as char)
        .map(|h| h.trim_matches('"'))
        .collect();
    let cols: Vec<PlSmallStr> = wanted
        .iter()
        .filter(|w| names.contains(&w.as_str()))
        .map(|w| PlSmallStr::from(w.as_str()))
        .collect();
    CsvReadOptions::default()
        .with_has_header(true)
        .with_infer_schema_length(Some(0))
        .with_columns(Some(cols.into()))
        .with_parse_options(CsvParseOptions::default().with_separator(sep))
        .try_into_reader_with_file_path(Some(path.to_path_buf()))
        .and_then(|r| r.finish())
        .map_err(err)
}

/// A column as a [`RawColumn`]; None if absent.
pub fn column(path: &Path, df: &DataFrame, name: &str) -> Result<Option<RawColumn>> {
    let Ok(col) = df.column(name) else {
        return Ok(None);
    };
    let err = |e: PolarsError| DataError::file(path, format!("column `{name}`: {e}"));
    Ok(Some(match col.dtype() {
        DataType::Boolean => RawColumn::Bool(col.bool().map_err(err)?.iter().collect()),
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

/// The numeric columns named (in order) as an n x d f32 matrix (a
/// representation, perturbation features). A missing
/// value, NaN or Inf is an error naming the column and row.
pub fn matrix(path: &Path, df: &DataFrame, columns: &[String]) -> Result<Matrix> {
    let n = df.height();
    let mut m = Matrix::zeros((n, columns.len()));
    for (j, name) in columns.iter().enumerate() {
        let col = df
            .column(name)
            .map_err(|_| DataError::file(path, format!("column `{name}` is missing")))?;
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
