//! Predicted samples from a perturbation-response model: an h5ad (`X` with
//! genes in `var`, the perturbation in an `obs` column) or a table (Parquet,
//! CSV, TSV: a perturbation column, an optional context column, and one
//! numeric column per gene). Values are on the dataset's expression scale
//! (log1p of counts per 10k for count data, as stored for log expression).

use crate::error::{DataError, Result};
use crate::h5ad::H5ad;
use crate::samples::RawColumn;
use pertbench_kernels::Matrix;
use std::path::Path;

#[derive(Debug, Clone, PartialEq)]
pub struct PredictedSamples {
    pub perturbation: Vec<String>,
    pub context: Option<Vec<String>>,
    pub genes: Vec<String>,
    /// Samples x genes.
    pub values: Matrix,
}

fn texts(path: &Path, name: &str, col: RawColumn) -> Result<Vec<String>> {
    (0..col.len())
        .map(|i| {
            col.text(i).ok_or_else(|| {
                DataError::file(path, format!("column `{name}`, row {i}: missing value"))
            })
        })
        .collect()
}

impl PredictedSamples {
    /// A copy changed by `f` (for building variants of a fixture).
    pub fn clone_with(&self, f: impl FnOnce(&mut PredictedSamples)) -> PredictedSamples {
        let mut c = self.clone();
        f(&mut c);
        c
    }
}

/// Reads predicted samples; `perturbation_column` (and `context_column`,
/// when given) must exist. Every value must be finite.
pub fn read_predictions(
    path: &Path,
    perturbation_column: &str,
    context_column: Option<&str>,
) -> Result<PredictedSamples> {
    if !path.exists() {
        return Err(DataError::file(path, "predictions file not found"));
    }
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    let out = if ext == "h5ad" {
        let h = H5ad::open(path)?;
        let col = |name: &str| -> Result<Vec<String>> {
            let c = h.obs_column(name)?.ok_or_else(|| {
                DataError::file(
                    path,
                    format!(
                        "obs has no column `{name}`; it has: {}",
                        h.obs_column_names().unwrap_or_default().join(", ")
                    ),
                )
            })?;
            texts(path, name, c)
        };
        let perturbation = col(perturbation_column)?;
        let context = context_column.map(col).transpose()?;
        let genes = h.var_names()?;
        let x = h.read_x(None)?;
        let mut values = Matrix::zeros((x.nrows, x.ncols));
        for i in 0..x.nrows {
            for (j, v) in x.row(i) {
                values[(i, j)] = v;
            }
        }
        PredictedSamples {
            perturbation,
            context,
            genes,
            values,
        }
    } else {
        let df = crate::tabular::read_frame(path)?;
        let names: Vec<String> = df
            .get_column_names()
            .iter()
            .map(|s| s.to_string())
            .collect();
        let col = |name: &str| -> Result<Vec<String>> {
            let c = crate::tabular::column(path, &df, name)?.ok_or_else(|| {
                DataError::file(
                    path,
                    format!("no column `{name}`; it has: {}", names.join(", ")),
                )
            })?;
            texts(path, name, c)
        };
        let perturbation = col(perturbation_column)?;
        let context = context_column.map(col).transpose()?;
        let genes: Vec<String> = names
            .iter()
            .filter(|n| n.as_str() != perturbation_column && Some(n.as_str()) != context_column)
            .cloned()
            .collect();
        for g in &genes {
            let dt = df.column(g).map(|c| c.dtype().clone()).ok();
            if !dt.as_ref().is_some_and(|d| d.is_primitive_numeric()) {
                return Err(DataError::file(
                    path,
                    format!("column `{g}` is not numeric ({dt:?}); every column but the perturbation and context columns must be a gene's values"),
                ));
            }
        }
        let values = crate::tabular::matrix(path, &df, &genes)?;
        PredictedSamples {
            perturbation,
            context,
            genes,
            values,
        }
    };
    if out.genes.is_empty() || out.values.nrows() == 0 {
        return Err(DataError::file(
            path,
            "no predicted samples or no gene columns",
        ));
    }
    if let Some((i, j)) = out
        .values
        .indexed_iter()
        .find(|(_, v)| !v.is_finite())
        .map(|(ij, _)| ij)
    {
        return Err(DataError::file(
            path,
            format!(
                "sample {i}, gene `{}`: non-finite value (NaN or Inf)",
                out.genes[j]
            ),
        ));
    }
    let mut seen = std::collections::HashSet::new();
    if let Some(g) = out.genes.iter().find(|g| !seen.insert(g.as_str())) {
        return Err(DataError::file(path, format!("gene `{g}` appears twice")));
    }
    Ok(out)
}

/// Writes predicted samples as Parquet (for fixtures and for the built-in
/// predictors' exports).
pub fn write_predictions_parquet(
    path: &Path,
    p: &PredictedSamples,
    perturbation_column: &str,
) -> Result<()> {
    use polars::prelude::*;
    let mut cols: Vec<Column> = vec![Column::new(
        perturbation_column.into(),
        p.perturbation.clone(),
    )];
    if let Some(c) = &p.context {
        cols.push(Column::new("context".into(), c.clone()));
    }
    for (j, g) in p.genes.iter().enumerate() {
        cols.push(Column::new(g.as_str().into(), p.values.column(j).to_vec()));
    }
    let mut df = DataFrame::new(p.perturbation.len(), cols)
        .map_err(|e| DataError::file(path, e.to_string()))?;
    crate::fetch::atomic_write_with(path, |f| {
        ParquetWriter::new(f)
            .finish(&mut df)
            .map(|_| ())
            .map_err(std::io::Error::other)
    })
}

/// Writes predicted samples as a minimal h5ad: dense `X`, the perturbation
/// (and context) as string `obs` columns, genes as the `var` index.
pub fn write_predictions_h5ad(
    path: &Path,
    p: &PredictedSamples,
    perturbation_column: &str,
) -> Result<()> {
    use hdf5::types::VarLenUnicode;
    let err = |e: hdf5::Error| DataError::file(path, format!("writing h5ad: {e}"));
    crate::fetch::atomic_write_at(path, "h5ad", |tmp| {
        let f = crate::h5ad_writer::create_temporary(tmp).map_err(err)?;
        let strings = |v: &[String]| -> Result<Vec<VarLenUnicode>> {
            v.iter()
                .map(|s| {
                    s.parse::<VarLenUnicode>()
                        .map_err(|e| DataError::file(path, format!("string `{s}`: {e}")))
                })
                .collect()
        };
        f.new_dataset_builder()
            .with_data(&p.values)
            .create("X")
            .map_err(err)?;
        let ids: Vec<String> = (0..p.perturbation.len())
            .map(|i| format!("cell{i}"))
            .collect();
        for (group, index) in [("obs", ids), ("var", p.genes.clone())] {
            let g = f.create_group(group).map_err(err)?;
            g.new_dataset_builder()
                .with_data(&strings(&index)?)
                .create("_index")
                .map_err(err)?;
        }
        let obs = f.group("obs").map_err(err)?;
        obs.new_dataset_builder()
            .with_data(&strings(&p.perturbation)?)
            .create(perturbation_column)
            .map_err(err)?;
        if let Some(c) = &p.context {
            obs.new_dataset_builder()
                .with_data(&strings(c)?)
                .create("context")
                .map_err(err)?;
        }
        f.flush().map_err(err)?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> PredictedSamples {
        PredictedSamples {
            perturbation: vec!["A".into(), "A".into(), "B".into()],
            context: None,
            genes: vec!["g1".into(), "g2".into()],
            values: Matrix::from_shape_vec((3, 2), vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]).unwrap(),
        }
    }

    #[test]
    fn h5ad_round_trip_and_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pred.h5ad");
        let mut with_context = sample();
        with_context.context = Some(vec!["r1".into(), "r2".into(), "r1".into()]);
        write_predictions_h5ad(&path, &with_context, "gene").unwrap();
        let back = read_predictions(&path, "gene", Some("context")).unwrap();
        assert_eq!(back, with_context);
        let e = read_predictions(&path, "guide", None)
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.contains("pred.h5ad")
                && e.contains("obs has no column `guide`; it has: context, gene"),
            "{e}"
        );
        let mut bad = sample();
        bad.values[(2, 0)] = f32::INFINITY;
        write_predictions_h5ad(&path, &bad, "gene").unwrap();
        let e = read_predictions(&path, "gene", None)
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.contains("pred.h5ad: X: non-finite value (NaN or Inf) at row 2, column 0"),
            "{e}"
        );
    }

    #[test]
    fn parquet_round_trip_and_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pred.parquet");
        write_predictions_parquet(&path, &sample(), "gene").unwrap();
        let back = read_predictions(&path, "gene", None).unwrap();
        assert_eq!(back.perturbation, vec!["A", "A", "B"]);
        assert_eq!(back.genes, vec!["g1", "g2"]);
        assert_eq!(back.values, sample().values);
        let e = read_predictions(&path, "perturbation", None)
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.contains("pred.parquet")
                && e.contains("no column `perturbation`; it has: gene, g1, g2"),
            "{e}"
        );
        let mut bad = sample();
        bad.values[(1, 1)] = f32::NAN;
        write_predictions_parquet(&path, &bad, "gene").unwrap();
        let e = read_predictions(&path, "gene", None)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("column `g2`, row 1"), "{e}");
        let e = read_predictions(&dir.path().join("none.parquet"), "gene", None)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("predictions file not found"), "{e}");
    }
}
