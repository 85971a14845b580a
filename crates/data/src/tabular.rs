//! Parquet and CSV tables through Polars: metadata columns for the samples
//! table, and representation columns.

use crate::error::{DataError, Result};
use crate::samples::RawColumn;
use pertbench_kernels::Matrix;
use polars::prelude::*;
use std::path::Path;

/// The table's format extension, looking through a `.gz` suffix
/// (`profiles.csv.gz` is `csv`), and whether it is gzip-compressed.
fn table_extension(path: &Path) -> (String, bool) {
    let ext = |p: &Path| {
        p.extension()
            .and_then(|e| e.to_str())
            .unwrap_or("")
            .to_ascii_lowercase()
    };
    let outer = ext(path);
    if outer == "gz" {
        (ext(&path.with_extension("")), true)
    } else {
        (outer, false)
    }
}

/// A whole table: parquet; csv; tsv or txt (tab-separated); each delimited
/// form also gzip-compressed (`.csv.gz`). Column types are inferred from
/// every row, so a column whose first rows are whole numbers still reads
/// its fractions.
pub fn read_frame(path: &Path) -> Result<DataFrame> {
    contained(path, || read_frame_uncontained(path))
}

/// Runs a Polars read of `path`: a panic of the reader on a malformed file
/// (found by the table fuzz target: Parquet metadata that Polars' thrift
/// decoder indexes out of range) is an error naming the file.
fn contained(path: &Path, read: impl FnOnce() -> Result<DataFrame>) -> Result<DataFrame> {
    crate::panics::contained(read).unwrap_or_else(|panic| {
        Err(DataError::file(
            path,
            format!("cannot read table: the reader failed on it ({panic}); is the file damaged?"),
        ))
    })
}

fn read_frame_uncontained(path: &Path) -> Result<DataFrame> {
    let (ext, gz) = table_extension(path);
    let res = match ext.as_str() {
        "parquet" | "pq" if !gz => {
            let f = std::fs::File::open(path).map_err(|e| DataError::io(path, e))?;
            ParquetReader::new(f).finish()
        }
        "csv" | "tsv" | "txt" => {
            let opts = CsvReadOptions::default()
                .with_has_header(true)
                .with_infer_schema_length(None)
                .with_parse_options(
                    CsvParseOptions::default().with_separator(separator(path).unwrap_or(b',')),
                );
            if gz {
                opts.into_reader_with_file_handle(std::io::Cursor::new(gunzip(path)?))
                    .finish()
            } else {
                opts.try_into_reader_with_file_path(Some(path.to_path_buf()))
                    .and_then(|r| r.finish())
            }
        }
        other => {
            return Err(DataError::file(
                path,
                format!(
                    "unknown table extension `{other}{}` (parquet, csv, tsv, txt; csv, tsv and txt also .gz)",
                    if gz { ".gz" } else { "" }
                ),
            ))
        }
    };
    res.map_err(|e| DataError::file(path, format!("cannot read table: {e}")))
}

/// A gzip file's whole content.
fn gunzip(path: &Path) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    let f = std::fs::File::open(path).map_err(|e| DataError::io(path, e))?;
    std::io::Read::read_to_end(&mut flate2::read::MultiGzDecoder::new(f), &mut bytes)
        .map_err(|e| DataError::file(path, format!("not a readable gzip file: {e}")))?;
    Ok(bytes)
}

fn separator(path: &Path) -> Option<u8> {
    match table_extension(path).0.as_str() {
        "csv" => Some(b','),
        "tsv" | "txt" => Some(b'\t'),
        _ => None,
    }
}

/// The feature columns of a profile table under `spec`: numeric columns
/// matching its prefix or regex, or every numeric column not starting with
/// its `exclude_prefix` and not in `mapped` (the metadata columns the
/// manifest maps). A text column the prefix or regex selects is an error.
pub fn feature_columns(
    path: &Path,
    df: &DataFrame,
    spec: &crate::manifest::FeatureSpec,
    mapped: &[&str],
) -> Result<Vec<String>> {
    let re = match &spec.regex {
        Some(r) => Some(
            regex::Regex::new(r)
                .map_err(|e| DataError::file(path, format!("features.regex: {e}")))?,
        ),
        None => None,
    };
    let mut out = Vec::new();
    for col in df.columns() {
        let name = col.name().as_str();
        let numeric = col.dtype().is_primitive_numeric();
        let explicit = match (&spec.prefix, &re) {
            (Some(p), _) => Some(name.starts_with(p.as_str())),
            (None, Some(re)) => Some(re.is_match(name)),
            (None, None) => None,
        };
        match explicit {
            Some(true) if !numeric => {
                return Err(DataError::file(
                    path,
                    format!(
                        "feature column `{name}` is not numeric ({}); narrow `features` or fix the column",
                        col.dtype()
                    ),
                ))
            }
            Some(true) => out.push(name.to_string()),
            Some(false) => {}
            None => {
                if numeric
                    && !name.starts_with(spec.exclude_prefix.as_str())
                    && !mapped.contains(&name)
                {
                    out.push(name.to_string());
                }
            }
        }
    }
    if out.is_empty() {
        return Err(DataError::file(
            path,
            format!("no feature column matches `features` {spec:?}"),
        ));
    }
    Ok(out)
}

/// The values of `columns` (numeric) at `rows`, as f64, None where a value
/// is missing, NaN or infinite: rows x columns, row-major.
pub fn feature_values(
    path: &Path,
    df: &DataFrame,
    columns: &[String],
    rows: &[usize],
) -> Result<Vec<Option<f64>>> {
    let mut out = vec![None; rows.len() * columns.len()];
    let d = columns.len();
    for (j, name) in columns.iter().enumerate() {
        let col = df
            .column(name)
            .map_err(|_| DataError::file(path, format!("column `{name}` is missing")))?
            .cast(&DataType::Float64)
            .map_err(|e| DataError::file(path, format!("column `{name}`: {e}")))?;
        let ca = col
            .f64()
            .map_err(|e| DataError::file(path, format!("column `{name}`: {e}")))?;
        for (i, &r) in rows.iter().enumerate() {
            out[i * d + j] = ca.get(r).filter(|v| v.is_finite());
        }
    }
    Ok(out)
}

/// A metadata table (parquet; csv; tsv or txt, tab-separated), reading only
/// the `wanted` columns it has, delimited text as text (no type inference,
/// so columns of mixed types such as LINCS's `instinfo_beta.txt` read
/// intact). Memory is that of the wanted columns only.
pub fn read_metadata_table(path: &Path, wanted: &[String]) -> Result<DataFrame> {
    contained(path, || read_metadata_table_uncontained(path, wanted))
}

fn read_metadata_table_uncontained(path: &Path, wanted: &[String]) -> Result<DataFrame> {
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
    if table_extension(path).1 {
        let df = CsvReadOptions::default()
            .with_has_header(true)
            .with_infer_schema_length(Some(0))
            .with_parse_options(CsvParseOptions::default().with_separator(sep))
            .into_reader_with_file_handle(std::io::Cursor::new(gunzip(path)?))
            .finish()
            .map_err(err)?;
        let have: Vec<String> = wanted
            .iter()
            .filter(|w| df.column(w.as_str()).is_ok())
            .cloned()
            .collect();
        return df.select(have).map_err(err);
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn gzipped_tables_read_whole_and_as_metadata() {
        let dir = tempfile::tempdir().unwrap();
        let text = "sample_id\tpert_type\tdose\nA\tctl_vector\t1\nB\ttrt_xpr\t2.5\n";
        let path = dir.path().join("instinfo.txt.gz");
        let mut gz = flate2::write::GzEncoder::new(
            std::fs::File::create(&path).unwrap(),
            flate2::Compression::default(),
        );
        gz.write_all(text.as_bytes()).unwrap();
        gz.finish().unwrap();
        // Whole: types inferred from every row (dose reads 2.5).
        let df = read_frame(&path).unwrap();
        assert_eq!(df.height(), 2);
        assert_eq!(
            column(&path, &df, "dose").unwrap(),
            Some(RawColumn::Num(vec![1.0, 2.5]))
        );
        // As metadata: only the wanted columns that exist, as text.
        let wanted = vec!["sample_id".to_string(), "dose".into(), "absent".into()];
        let meta = read_metadata_table(&path, &wanted).unwrap();
        assert_eq!(meta.width(), 2);
        assert_eq!(
            column(&path, &meta, "dose").unwrap(),
            Some(RawColumn::Str(vec![Some("1".into()), Some("2.5".into())]))
        );
        let bad = dir.path().join("t.json.gz");
        std::fs::write(&bad, b"x").unwrap();
        let e = read_frame(&bad).unwrap_err().to_string();
        assert!(e.contains("unknown table extension `json.gz`"), "{e}");
    }
}
