use super::{RepContext, RepresentationKindImpl};
use crate::error::{EngineError, Result};
use crate::exec::outputs::MatrixOut;
use crate::pipeline::{RepresentationKind, RepresentationSpec};
use pertbench_data::h5ad::H5ad;
use pertbench_data::{npy, tabular};
use pertbench_kernels::Matrix;
use std::collections::HashMap;

/// A model's embedding: h5ad `obsm`, a Parquet/CSV table or an `.npy` file.
/// Rows align with the dataset's samples: by `id_column` when given, else by
/// position, either over all rows of the source file (before unassigned
/// samples are dropped) or over the kept samples.
pub struct External;

fn align(spec: &RepresentationSpec, source: &str, m: Matrix, ctx: &RepContext) -> Result<Matrix> {
    let kept = ctx.ingest.samples.len();
    let file_rows = ctx.ingest.n_file_rows;
    if m.nrows() == kept {
        Ok(m)
    } else if m.nrows() == file_rows {
        Ok(m.select(ndarray::Axis(0), &ctx.ingest.source_rows))
    } else {
        Err(EngineError::msg(format!(
            "representation `{}`: {source} has {} rows, but dataset `{}` has {kept} samples ({file_rows} rows in its file before dropping)",
            spec.name,
            m.nrows(),
            ctx.dataset
        )))
    }
}

/// The first value that occurs twice, with both positions.
fn first_repeat(values: &[String]) -> Option<(&str, usize, usize)> {
    let mut seen: HashMap<&str, usize> = HashMap::with_capacity(values.len());
    for (i, v) in values.iter().enumerate() {
        if let Some(first) = seen.insert(v.as_str(), i) {
            return Some((v.as_str(), first, i));
        }
    }
    None
}

impl RepresentationKindImpl for External {
    fn version(&self) -> u32 {
        1
    }
    fn seeded(&self) -> bool {
        false
    }
    fn compute(&self, spec: &RepresentationSpec, ctx: &RepContext) -> Result<MatrixOut> {
        let n = ctx.ingest.samples.len();
        let (matrix, source) = match spec.kind {
            RepresentationKind::Obsm => {
                let file = ctx.data.file_of(ctx.dataset)?;
                let key = spec.key.as_deref().unwrap_or_default();
                let m = H5ad::open(&file)?.read_obsm(key, Some(&ctx.ingest.source_rows))?;
                (m, format!("{}:obsm/{key}", file.display()))
            }
            RepresentationKind::Npy => {
                let path = spec.path.clone().unwrap_or_default();
                let m = npy::read(&path)?;
                let src = path.display().to_string();
                (align(spec, &src, m, ctx)?, src)
            }
            RepresentationKind::Table => {
                let path = spec.path.clone().unwrap_or_default();
                let df = tabular::read_frame(&path)?;
                let cols = match (&spec.columns, &spec.prefix) {
                    (Some(c), _) => c.clone(),
                    (None, Some(p)) => tabular::columns_with_prefix(&df, p),
                    _ => vec![],
                };
                if cols.is_empty() {
                    return Err(EngineError::msg(format!(
                        "representation `{}`: {} has no columns matching {:?}",
                        spec.name,
                        path.display(),
                        spec.prefix
                    )));
                }
                let m = tabular::matrix(&path, &df, &cols)?;
                let src = path.display().to_string();
                let m = match &spec.id_column {
                    Some(idc) => {
                        let ids = tabular::column(&path, &df, idc)?.ok_or_else(|| {
                            EngineError::msg(format!(
                                "{}: id column `{idc}` is missing",
                                path.display()
                            ))
                        })?;
                        // A keyed join needs unique keys on both sides:
                        // a repeated key would give several samples one row.
                        if let Some((id, a, b)) = first_repeat(&ctx.ingest.samples.sample_id) {
                            return Err(EngineError::msg(format!(
                                "representation `{}`: dataset `{}` has sample id `{id}` twice (samples {a} and {b}), so an embedding keyed by `id_column: {idc}` cannot tell them apart; give the cells unique ids (adata.obs_names_make_unique()) or align the embedding by position (drop `id_column`)",
                                spec.name, ctx.dataset
                            )));
                        }
                        let mut pos: HashMap<String, usize> = HashMap::with_capacity(ids.len());
                        for i in 0..ids.len() {
                            if let Some(t) = ids.text(i) {
                                if let Some(first) = pos.insert(t.clone(), i) {
                                    return Err(EngineError::msg(format!(
                                        "{}: id `{t}` occurs twice in column `{idc}` (rows {first} and {i}); a keyed join needs unique ids",
                                        path.display()
                                    )));
                                }
                            }
                        }
                        let mut rows = Vec::with_capacity(n);
                        for sid in &ctx.ingest.samples.sample_id {
                            rows.push(*pos.get(sid).ok_or_else(|| {
                                EngineError::msg(format!(
                                    "{}: sample `{sid}` of dataset `{}` is not in column `{idc}`",
                                    path.display(),
                                    ctx.dataset
                                ))
                            })?);
                        }
                        m.select(ndarray::Axis(0), &rows)
                    }
                    None => align(spec, &src, m, ctx)?,
                };
                (m, src)
            }
            _ => unreachable!("external handles obsm, table and npy"),
        };
        if let Err(e) = pertbench_kernels::error::check_finite(&matrix) {
            return Err(EngineError::msg(format!(
                "representation `{}`: {source}: {e}",
                spec.name
            )));
        }
        Ok(MatrixOut {
            matrix,
            rows: (0..n).collect(),
            excluded: vec![],
            convention: String::new(),
        })
    }
}
