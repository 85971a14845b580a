//! Loading a screen dataset named by a manifest into the data model.

use crate::cmap::CmapFile;
use crate::count_cache::{self, CountCacheWriter};
use crate::count_values::{self, NotCount};
use crate::error::{DataError, Result};
use crate::fetch::{fetch, FetchOptions};
use crate::h5ad::H5ad;
use crate::manifest::{
    ColumnMapping, CountsSource, FeatureSpec, Format, Manifest, MissingPolicy, Source, Values,
};
use crate::samples::RawColumn;
use crate::samples::{ingest, Samples};
use crate::{manifest, relationships, synthetic, tabular};
use pertbench_kernels::sparse::csr::CsrMatrix;
use std::collections::BTreeMap;
use std::path::PathBuf;

mod cmap_screen;
#[cfg(test)]
use cmap_screen::key_rows;
use cmap_screen::load_cmap;

/// Where manifests live and how artefacts are fetched.
#[derive(Debug, Clone)]
pub struct DataContext {
    pub manifest_dirs: Vec<PathBuf>,
    pub fetch: FetchOptions,
}

impl DataContext {
    pub fn manifest(&self, name: &str) -> Result<(PathBuf, Manifest)> {
        manifest::find(name, &self.manifest_dirs)
    }

    /// The local, verified file of a fetched dataset.
    pub fn file_of(&self, name: &str) -> Result<PathBuf> {
        let (_, m) = self.manifest(name)?;
        Ok(fetch(&m, &self.fetch)?.path)
    }
}

pub struct Dataset {
    pub name: String,
    pub samples: Samples,
    /// Counts (n x genes, CSR), when the source has them.
    pub counts: Option<CsrMatrix>,
    pub genes: Vec<String>,
    pub dropped: BTreeMap<String, usize>,
    /// The source file (None for generated data).
    pub file: Option<PathBuf>,
    /// Row of the source file for each sample.
    pub source_rows: Vec<usize>,
    /// Rows of the source file before any were dropped.
    pub n_file_rows: usize,
    /// Raw counts, or expression that is already normalised and log-scaled.
    pub values: Values,
}

impl Dataset {
    pub fn summary(&self) -> String {
        let mut s = format!(
            "{}: {} samples, {} batches, {} perturbations",
            self.name,
            self.samples.len(),
            self.samples.controls_per_batch().len(),
            self.samples
                .perturbation
                .iter()
                .zip(&self.samples.is_control)
                .filter(|(_, c)| !**c)
                .map(|(p, _)| p)
                .collect::<std::collections::BTreeSet<_>>()
                .len()
        );
        if let Some(c) = &self.counts {
            s.push_str(&format!(", {} genes ({} non-zeros)", c.ncols, c.nnz()));
        }
        for (why, n) in &self.dropped {
            s.push_str(&format!("; dropped {n} ({why})"));
        }
        s
    }
}

/// How counts are held while loading.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// Stream an h5ad's `X` into a count cache at this path and memory-map
    /// it, instead of reading it into memory.
    pub counts_to: Option<PathBuf>,
    /// Values read per block of `X` (0: the default of 16M).
    pub block_values: usize,
}

pub fn load(name: &str, ctx: &DataContext) -> Result<Dataset> {
    load_with(name, ctx, &LoadOptions::default())
}

/// [`load`], with counts streamed to disk when `opts.counts_to` is set.
pub fn load_with(name: &str, ctx: &DataContext, opts: &LoadOptions) -> Result<Dataset> {
    let (mpath, m) = ctx.manifest(name)?;
    if let Source::Synthetic(spec) = &m.source {
        let clusters_file = ctx.file_of(&spec.clusters)?;
        let clusters = relationships::read_clusters(&clusters_file)?;
        let s = synthetic::generate(spec, &clusters).map_err(|e| DataError::file(&mpath, e))?;
        let n = s.samples.len();
        return Ok(Dataset {
            name: m.name.clone(),
            samples: s.samples,
            counts: Some(s.counts),
            genes: s.genes,
            dropped: BTreeMap::new(),
            file: None,
            source_rows: (0..n).collect(),
            n_file_rows: n,
            values: Values::Counts,
        });
    }
    if let Source::SyntheticPlate(spec) = &m.source {
        let s = crate::synthetic_plate::generate(spec).map_err(|e| DataError::file(&mpath, e))?;
        let n = s.samples.len();
        return Ok(Dataset {
            name: m.name.clone(),
            samples: s.samples,
            counts: Some(s.features),
            genes: s.feature_names,
            dropped: BTreeMap::new(),
            file: None,
            source_rows: (0..n).collect(),
            n_file_rows: n,
            values: Values::LogExpression,
        });
    }
    if let Some(gm) = &m.gene_map {
        let path = fetch(&m, &ctx.fetch)?.path;
        return load_gene_map(&m, gm, path);
    }
    let map = m.columns.clone().ok_or_else(|| {
        DataError::file(&mpath, "field `columns` is required for a screen dataset")
    })?;
    let fetched = fetch(&m, &ctx.fetch)?;
    let path = fetched.path;
    match m.format {
        Format::H5ad => {
            let h = H5ad::open(&path)?;
            let index = h.obs_names()?;
            let ing = ingest(&path, &map, &index, &mut |c| h.obs_column(c))?;
            let source = m.counts.clone().unwrap_or_default();
            let matrix = source.matrix_path();
            let genes = h5ad_genes(&h, &path, &source, m.gene_column.as_deref())?;
            let block = if opts.block_values == 0 {
                1 << 24
            } else {
                opts.block_values
            };
            // Checked before reading: every block the matrix yields has its
            // columns, and its rows are the cells of obs.
            let (nrows, ncols) = h.matrix_shape(&matrix)?;
            if nrows != index.len() {
                return Err(DataError::file(
                    &path,
                    format!(
                        "{matrix} has {nrows} rows but obs has {} cells",
                        index.len()
                    ),
                ));
            }
            if genes.len() != ncols {
                return Err(DataError::file(
                    &path,
                    format!(
                        "{} has {} genes but {matrix} has {ncols} columns",
                        source.var_frame(),
                        genes.len()
                    ),
                ));
            }
            // Counts are checked value by value as they stream: a
            // normalised matrix read as counts would be normalised again.
            let mut checker = CountCheck::new(m.values, &ing.source_rows);
            let mut check = |b: &CsrMatrix| -> Result<()> {
                checker.check(b).map_err(|(row, col, v, why)| {
                    let gene = genes.get(col).map(String::as_str).unwrap_or("?");
                    DataError::file(
                        &path,
                        format!(
                            "{matrix}: the value {v} at row {row} (cell `{}`), gene `{gene}` {}, but the manifest declares raw counts (`values: counts`, read from `counts: {}`); {}",
                            index[row],
                            why.describe(),
                            source.name(),
                            match why {
                                NotCount::Negative => "counts cannot be negative: check how the matrix was made".to_string(),
                                NotCount::Fractional => count_values::h5ad_advice(&h, &matrix),
                            }
                        ),
                    )
                })
            };
            let counts = match &opts.counts_to {
                None => h.collect_blocks(&mut |on_block| {
                    h.stream_matrix(&matrix, Some(&ing.source_rows), block, &mut |b| {
                        check(&b)?;
                        on_block(b)
                    })
                })?,
                Some(dest) => {
                    let mut w = CountCacheWriter::create(dest, ncols)?;
                    h.stream_matrix(&matrix, Some(&ing.source_rows), block, &mut |b| {
                        check(&b)?;
                        w.push_block(&b)
                            .map_err(|e| DataError::file(&path, format!("{matrix}: {e}")))
                    })?;
                    w.finish()?;
                    count_cache::open(dest)?
                }
            };
            Ok(Dataset {
                name: m.name.clone(),
                samples: ing.samples,
                counts: Some(counts),
                genes,
                dropped: ing.dropped,
                file: Some(path),
                source_rows: ing.source_rows,
                n_file_rows: index.len(),
                values: m.values,
            })
        }
        Format::Gctx | Format::Gct => load_cmap(&m, &map, path, ctx),
        Format::Parquet | Format::Csv => {
            let df = tabular::read_frame(&path)?;
            let index: Vec<String> = (0..df.height()).map(|i| i.to_string()).collect();
            let mut ing = ingest(&path, &map, &index, &mut |c| tabular::column(&path, &df, c))?;
            let (counts, genes, values) = match &m.features {
                None => (None, vec![], m.values),
                Some(spec) => {
                    let (matrix, names) =
                        profile_features(&path, &df, &map.column_names(), spec, &mut ing)?;
                    (Some(matrix), names, Values::LogExpression)
                }
            };
            Ok(Dataset {
                name: m.name.clone(),
                samples: ing.samples,
                counts,
                genes,
                dropped: ing.dropped,
                file: Some(path),
                source_rows: ing.source_rows,
                n_file_rows: index.len(),
                values,
            })
        }
        other => Err(DataError::file(
            &mpath,
            format!("format {other:?} is not a screen dataset"),
        )),
    }
}

/// A gene-level map: each row one gene (its perturbation label), one
/// batch `all`, no controls; a row without a gene is dropped and counted, a
/// gene on two rows is an error naming it.
fn load_gene_map(m: &Manifest, gm: &crate::manifest::GeneMap, path: PathBuf) -> Result<Dataset> {
    let df = tabular::read_frame(&path)?;
    let genes_col = tabular::column(&path, &df, &gm.gene)?.ok_or_else(|| {
        DataError::file(&path, format!("gene_map: column `{}` is missing", gm.gene))
    })?;
    let mut samples = crate::samples::Samples::default();
    let mut source_rows = Vec::new();
    let mut dropped = BTreeMap::new();
    let mut seen: std::collections::HashMap<String, usize> = Default::default();
    for i in 0..df.height() {
        let Some(g) = genes_col.text(i).filter(|t| !t.trim().is_empty()) else {
            *dropped.entry("missing gene".to_string()).or_default() += 1;
            continue;
        };
        if let Some(first) = seen.insert(g.clone(), i) {
            return Err(DataError::file(
                &path,
                format!(
                    "gene_map: gene `{g}` is on rows {first} and {i}; a gene-level map has one row per gene (aggregate them first)"
                ),
            ));
        }
        samples.sample_id.push(g.clone());
        samples.perturbation.push(g);
        samples.batch.push("all".into());
        samples.is_control.push(false);
        source_rows.push(i);
    }
    if samples.is_empty() {
        return Err(DataError::file(&path, "gene_map: no row names a gene"));
    }
    let mut ing = crate::samples::Ingested {
        samples,
        source_rows,
        dropped,
    };
    let spec = m.features.clone().unwrap_or_default();
    let (counts, genes) = profile_features(&path, &df, &[gm.gene.as_str()], &spec, &mut ing)?;
    Ok(Dataset {
        name: m.name.clone(),
        samples: ing.samples,
        counts: Some(counts),
        genes,
        dropped: ing.dropped,
        file: Some(path),
        source_rows: ing.source_rows,
        n_file_rows: df.height(),
        values: Values::LogExpression,
    })
}

/// The feature matrix of a profile table for the kept samples, under the
/// manifest's `features` (columns, missing-value policy); samples a policy
/// drops leave `ing`, and every drop or imputation is counted in
/// `ing.dropped`.
/// `mapped` are the table's metadata columns (never features).
fn profile_features(
    path: &std::path::Path,
    df: &polars::prelude::DataFrame,
    mapped: &[&str],
    spec: &FeatureSpec,
    ing: &mut crate::samples::Ingested,
) -> Result<(CsrMatrix, Vec<String>)> {
    let mut columns = tabular::feature_columns(path, df, spec, mapped)?;
    let d = columns.len();
    let mut rows = ing.source_rows.clone();
    let mut vals = tabular::feature_values(path, df, &columns, &rows)?;
    let n_missing = vals.iter().filter(|v| v.is_none()).count();
    if n_missing > 0 {
        match spec.missing {
            MissingPolicy::Error => {
                let at = vals
                    .iter()
                    .position(|v| v.is_none())
                    .expect("one is missing");
                return Err(DataError::file(
                    path,
                    format!(
                        "feature `{}` is missing (or NaN, Inf) at row {} ({n_missing} missing values in all); set `features: {{missing: drop_features | drop_samples | mean_impute}}` to say what to do",
                        columns[at % d],
                        rows[at / d]
                    ),
                ));
            }
            MissingPolicy::DropFeatures => {
                let keep: Vec<usize> = (0..d)
                    .filter(|&j| (0..rows.len()).all(|i| vals[i * d + j].is_some()))
                    .collect();
                if keep.is_empty() {
                    return Err(DataError::file(
                        path,
                        "every feature has a missing value (missing: drop_features)",
                    ));
                }
                ing.dropped.insert(
                    "features with missing values (missing: drop_features)".into(),
                    d - keep.len(),
                );
                vals = (0..rows.len())
                    .flat_map(|i| keep.iter().map(move |&j| (i, j)))
                    .map(|(i, j)| vals[i * d + j])
                    .collect();
                columns = keep.iter().map(|&j| columns[j].clone()).collect();
            }
            MissingPolicy::DropSamples => {
                let keep: Vec<usize> = (0..rows.len())
                    .filter(|&i| vals[i * d..(i + 1) * d].iter().all(Option::is_some))
                    .collect();
                ing.dropped.insert(
                    "missing feature values (missing: drop_samples)".into(),
                    rows.len() - keep.len(),
                );
                ing.samples = ing.samples.select(&keep);
                rows = keep.iter().map(|&i| rows[i]).collect();
                ing.source_rows = rows.clone();
                vals = keep
                    .iter()
                    .flat_map(|&i| vals[i * d..(i + 1) * d].to_vec())
                    .collect();
                if ing.samples.is_empty() {
                    return Err(DataError::file(
                        path,
                        "missing: drop_samples left no samples",
                    ));
                }
            }
            MissingPolicy::MeanImpute => {
                for j in 0..d {
                    let present: Vec<f64> =
                        (0..rows.len()).filter_map(|i| vals[i * d + j]).collect();
                    if present.is_empty() {
                        return Err(DataError::file(
                            path,
                            format!(
                                "feature `{}` has no value to impute from (missing: mean_impute)",
                                columns[j]
                            ),
                        ));
                    }
                    let mean = present.iter().sum::<f64>() / present.len() as f64;
                    for i in 0..rows.len() {
                        vals[i * d + j].get_or_insert(mean);
                    }
                }
                ing.dropped.insert(
                    "feature values imputed by the feature mean (missing: mean_impute)".into(),
                    n_missing,
                );
            }
        }
    }
    let d = columns.len();
    let mut b = pertbench_kernels::sparse::csr::CsrBuilder::new(d);
    for i in 0..rows.len() {
        for j in 0..d {
            let v = vals[i * d + j].expect("missing values handled") as f32;
            if v != 0.0 {
                b.push(j as u32, v);
            }
        }
        b.finish_row();
    }
    let m = b
        .build()
        .map_err(|e| DataError::file(path, e.to_string()))?;
    Ok((m, columns))
}

/// Checks that blocks of a matrix streamed in row order hold counts, when
/// the dataset declares counts; `rows` are the file rows of the samples.
struct CountCheck<'a> {
    on: bool,
    rows: &'a [usize],
    seen: usize,
}

impl<'a> CountCheck<'a> {
    fn new(values: Values, rows: &'a [usize]) -> Self {
        CountCheck {
            on: values == Values::Counts,
            rows,
            seen: 0,
        }
    }
    /// Err((file row, column, value, why)) at the first value that is not a
    /// count.
    fn check(&mut self, b: &CsrMatrix) -> std::result::Result<(), (usize, usize, f32, NotCount)> {
        let first = self.seen;
        self.seen += b.nrows;
        if !self.on {
            return Ok(());
        }
        match count_values::first_not_count(b) {
            Some((r, c, v, why)) => Err((self.rows[first + r], c, v, why)),
            None => Ok(()),
        }
    }
}

/// The gene names of an h5ad's count matrix: its var frame's index, or the
/// column `gene_column` of it (a missing name is an error naming the gene).
fn h5ad_genes(
    h: &H5ad,
    path: &std::path::Path,
    source: &CountsSource,
    gene_column: Option<&str>,
) -> Result<Vec<String>> {
    let frame = source.var_frame();
    let ids = h.index_of(frame)?;
    let Some(column) = gene_column else {
        return Ok(ids);
    };
    let col = h.frame_column(frame, column)?.ok_or_else(|| {
        let have = h.frame_column_names(frame).unwrap_or_default();
        DataError::file(
            path,
            format!(
                "`gene_column: {column}`: {frame} has no column `{column}`; its columns: {}",
                listing(&have)
            ),
        )
    })?;
    gene_names_from(path, column, &col, &ids, frame)
}

/// Names for a listing in an error: joined, or `(none)`.
fn listing(names: &[String]) -> String {
    if names.is_empty() {
        "(none)".to_string()
    } else {
        names.join(", ")
    }
}

/// The gene names in `col` (the field `gene_column` of `frame`), one per
/// gene id; a gene without a name is an error naming its id and row.
fn gene_names_from(
    path: &std::path::Path,
    gene_column: &str,
    col: &RawColumn,
    ids: &[String],
    frame: &str,
) -> Result<Vec<String>> {
    (0..col.len())
        .map(|i| {
            col.text(i).filter(|t| !t.trim().is_empty()).ok_or_else(|| {
                DataError::file(
                    path,
                    format!(
                        "`gene_column: {gene_column}`: gene `{}` (row {i} of {frame}) has no name",
                        ids.get(i).map(String::as_str).unwrap_or("?")
                    ),
                )
            })
        })
        .collect()
}

/// The batches of a screen whose file is already in the data directory,
/// from its sample metadata alone (the matrix is not read); None when that
/// is not known without fetching or joining (not fetched yet, appended
/// files, a joined metadata table, generated data, gene-level maps) or the
/// metadata does not ingest (ingestion then says why).
pub fn fetched_batches(name: &str, ctx: &DataContext) -> Option<usize> {
    fetched_controls_per_batch(name, ctx).map(|m| m.len())
}

/// The control samples of each batch of a screen whose file is already in
/// the data directory, known as [`fetched_batches`] is.
pub fn fetched_controls_per_batch(
    name: &str,
    ctx: &DataContext,
) -> Option<BTreeMap<String, usize>> {
    let (_, m) = ctx.manifest(name).ok()?;
    if !m.append.is_empty() || m.metadata.is_some() || m.gene_map.is_some() {
        return None;
    }
    let path = crate::fetch::fetched_path(&m, &ctx.fetch)?;
    let map = m.columns.clone()?;
    let ing = match m.format {
        Format::H5ad => {
            let h = H5ad::open(&path).ok()?;
            let index = h.obs_names().ok()?;
            ingest(&path, &map, &index, &mut |c| h.obs_column(c)).ok()?
        }
        Format::Gctx | Format::Gct => {
            let part = CmapFile::open(&path, m.format).ok()?;
            let index = part.sample_ids().ok()?;
            ingest(&path, &map, &index, &mut |c| part.column(c)).ok()?
        }
        Format::Csv | Format::Parquet => {
            let df = tabular::read_frame(&path).ok()?;
            let index: Vec<String> = (0..df.height()).map(|i| i.to_string()).collect();
            ingest(&path, &map, &index, &mut |c| tabular::column(&path, &df, c)).ok()?
        }
        _ => return None,
    };
    Some(ing.samples.controls_per_batch())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_rows_index_keys_and_refuse_duplicates() {
        let p = std::path::Path::new("instinfo.txt");
        let keys = RawColumn::Str(vec![Some("a".into()), None, Some("b".into())]);
        let rows = key_rows(p, &keys, "sample_id").unwrap();
        assert_eq!((rows["a"], rows["b"], rows.len()), (0, 2, 2));
        let dup = RawColumn::Str(vec![Some("a".into()), Some("a".into())]);
        let e = key_rows(p, &dup, "sample_id").unwrap_err().to_string();
        assert_eq!(
            e,
            "instinfo.txt: key `a` occurs twice in column `sample_id`"
        );
    }
}
