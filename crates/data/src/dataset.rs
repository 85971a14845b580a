//! Loading a screen dataset named by a manifest into the data model.

use crate::error::{DataError, Result};
use crate::fetch::{fetch, FetchOptions};
use crate::h5ad::H5ad;
use crate::manifest::{Format, Manifest, Source};
use crate::samples::{ingest, Samples};
use crate::{manifest, relationships, synthetic, tabular};
use pertbench_kernels::csr::CsrMatrix;
use std::collections::BTreeMap;
use std::path::PathBuf;

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

pub fn load(name: &str, ctx: &DataContext) -> Result<Dataset> {
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
        });
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
            let counts = h.read_x(Some(&ing.source_rows))?;
            let genes = h.var_names()?;
            if genes.len() != counts.ncols {
                return Err(DataError::file(
                    &path,
                    format!(
                        "var has {} genes but X has {} columns",
                        genes.len(),
                        counts.ncols
                    ),
                ));
            }
            Ok(Dataset {
                name: m.name.clone(),
                samples: ing.samples,
                counts: Some(counts),
                genes,
                dropped: ing.dropped,
                file: Some(path),
                source_rows: ing.source_rows,
                n_file_rows: index.len(),
            })
        }
        Format::Parquet | Format::Csv => {
            let df = tabular::read_frame(&path)?;
            let index: Vec<String> = (0..df.height()).map(|i| i.to_string()).collect();
            let ing = ingest(&path, &map, &index, &mut |c| tabular::column(&path, &df, c))?;
            Ok(Dataset {
                name: m.name.clone(),
                samples: ing.samples,
                counts: None,
                genes: vec![],
                dropped: ing.dropped,
                file: Some(path),
                source_rows: ing.source_rows,
                n_file_rows: index.len(),
            })
        }
        other => Err(DataError::file(
            &mpath,
            format!("format {other:?} is not a screen dataset"),
        )),
    }
}
