//! Writing an AnnData `.h5ad` with a CSR `X` the way anndata lays it out
//! (gzip-compressed chunks, `encoding-type` attributes, categorical obs
//! columns), a block of rows at a time so memory is bounded by the block.
//! The file appears at its path only when finished (temporary file, then
//! rename). Used by `pertbench bench` to write Replogle-shaped screens and by
//! tests that need an h5ad.

use crate::error::{DataError, Result};
use hdf5::types::VarLenUnicode;
use hdf5::{Dataset, File, Location};
use ndarray::{s, Array1};
use pertbench_kernels::sparse::csr::CsrMatrix;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Values per compressed chunk of `X/data` and `X/indices`.
const CHUNK: usize = 1 << 16;

pub struct CsrH5adWriter {
    path: PathBuf,
    tmp: Option<tempfile::TempPath>,
    file: File,
    data: Dataset,
    indices: Dataset,
    indptr: Vec<i64>,
    ncols: usize,
}

/// Creates the HDF5 file of a private temporary (renamed into place when
/// written) without a file lock: a lock would outlive the writer in any
/// child process forked while the file is open (HDF5 does not open with
/// O_CLOEXEC), so that a reader of the finished file found it "temporarily
/// unavailable" (seen in the CLI tests, where other tests spawn processes
/// at any time).
pub(crate) fn create_temporary(tmp: &Path) -> hdf5::Result<File> {
    File::with_options()
        .with_fapl(|p| p.file_locking(false))
        .create(tmp)
}

fn text(path: &Path, s: &str) -> Result<VarLenUnicode> {
    s.parse::<VarLenUnicode>()
        .map_err(|e| DataError::file(path, format!("string `{s}`: {e}")))
}

impl CsrH5adWriter {
    /// Starts `path` with `ncols` genes; `compression` is the gzip level
    /// (0: none).
    pub fn create(path: &Path, ncols: usize, compression: u8) -> Result<Self> {
        let dir = crate::durable::parent_dir(path);
        std::fs::create_dir_all(dir).map_err(|e| DataError::write(dir, e))?;
        let tmp = tempfile::Builder::new()
            .prefix(".h5ad-")
            .tempfile_in(dir)
            .map_err(|e| DataError::write(dir, e))?
            .into_temp_path();
        let err = |e: hdf5::Error| DataError::file(path, format!("writing h5ad: {e}"));
        let file = create_temporary(&tmp).map_err(err)?;
        let x = file.create_group("X").map_err(err)?;
        let mk = |name: &str, f32_values: bool| -> hdf5::Result<Dataset> {
            let b = if f32_values {
                x.new_dataset::<f32>()
            } else {
                x.new_dataset::<i32>()
            };
            let b = b.chunk(CHUNK).shape(0..);
            let b = if compression > 0 {
                b.deflate(compression)
            } else {
                b
            };
            b.create(name)
        };
        let data = mk("data", true).map_err(err)?;
        let indices = mk("indices", false).map_err(err)?;
        Ok(CsrH5adWriter {
            path: path.to_path_buf(),
            tmp: Some(tmp),
            file,
            data,
            indices,
            indptr: vec![0],
            ncols,
        })
    }

    fn err(&self, e: impl std::fmt::Display) -> DataError {
        DataError::file(&self.path, format!("writing h5ad: {e}"))
    }

    pub fn nrows(&self) -> usize {
        self.indptr.len() - 1
    }

    /// Appends the rows of `block`.
    pub fn push_block(&mut self, block: &CsrMatrix) -> Result<()> {
        if block.ncols != self.ncols {
            return Err(self.err(format!(
                "a block of {} columns for {} genes",
                block.ncols, self.ncols
            )));
        }
        let start = *self.indptr.last().expect("starts with 0") as usize;
        let end = start + block.nnz();
        self.data.resize(end).map_err(|e| self.err(e))?;
        self.indices.resize(end).map_err(|e| self.err(e))?;
        self.data
            .write_slice(block.data(), s![start..end])
            .map_err(|e| self.err(e))?;
        let idx: Array1<i32> = (0..block.nnz())
            .map(|p| block.indices().get(p) as i32)
            .collect();
        self.indices
            .write_slice(&idx, s![start..end])
            .map_err(|e| self.err(e))?;
        self.indptr.extend(
            block.indptr()[1..]
                .iter()
                .map(|&o| (start as u64 + o) as i64),
        );
        Ok(())
    }

    /// Writes obs (index and categorical string columns), var and the CSR
    /// metadata, then renames the file into place.
    pub fn finish(
        mut self,
        obs_index: &[String],
        obs_columns: &[(&str, &[String])],
        var_names: &[String],
    ) -> Result<()> {
        let n = self.nrows();
        if obs_index.len() != n || obs_columns.iter().any(|(_, c)| c.len() != n) {
            return Err(self.err(format!(
                "obs has a column whose length differs from the {n} rows of X"
            )));
        }
        if var_names.len() != self.ncols {
            return Err(self.err(format!(
                "{} var names for {} genes",
                var_names.len(),
                self.ncols
            )));
        }
        let path = self.path.clone();
        let err = |e: hdf5::Error| DataError::file(&path, format!("writing h5ad: {e}"));
        let attr = |loc: &Location, name: &str, val: &str| -> Result<()> {
            loc.new_attr::<VarLenUnicode>()
                .create(name)
                .and_then(|a| a.write_scalar(&text(&path, val).expect("ascii")))
                .map_err(err)
        };
        let strings = |v: &[String]| -> Result<Array1<VarLenUnicode>> {
            v.iter().map(|s| text(&path, s)).collect()
        };
        // anndata (0.8 and later) reads each element by its encoding
        // attributes, and a data frame's columns by `column-order`.
        let encoded = |loc: &Location, kind: &str, version: &str| -> Result<()> {
            attr(loc, "encoding-type", kind)?;
            attr(loc, "encoding-version", version)
        };
        let column_order = |loc: &Location, names: &[String]| -> Result<()> {
            let names = strings(names)?;
            loc.new_attr::<VarLenUnicode>()
                .shape(names.len())
                .create("column-order")
                .and_then(|a| a.write(&names))
                .map_err(err)
        };
        let string_array = |g: &hdf5::Group, name: &str, v: &[String]| -> Result<()> {
            let d = g
                .new_dataset_builder()
                .with_data(&strings(v)?)
                .create(name)
                .map_err(err)?;
            encoded(&d, "string-array", "0.2.0")
        };
        encoded(&self.file, "anndata", "0.1.0")?;
        let x = self.file.group("X").map_err(err)?;
        attr(&x, "encoding-type", "csr_matrix")?;
        attr(&x, "encoding-version", "0.1.0")?;
        x.new_attr::<i64>()
            .shape(2)
            .create("shape")
            .and_then(|a| a.write(&Array1::from(vec![n as i64, self.ncols as i64])))
            .map_err(err)?;
        x.new_dataset_builder()
            .with_data(&Array1::from(std::mem::take(&mut self.indptr)))
            .create("indptr")
            .map_err(err)?;
        let obs = self.file.create_group("obs").map_err(err)?;
        attr(&obs, "_index", "_index")?;
        encoded(&obs, "dataframe", "0.2.0")?;
        let names: Vec<String> = obs_columns.iter().map(|(n, _)| n.to_string()).collect();
        column_order(&obs, &names)?;
        string_array(&obs, "_index", obs_index)?;
        for (name, values) in obs_columns {
            let mut cats: BTreeMap<&str, i32> = BTreeMap::new();
            for v in values.iter() {
                cats.entry(v.as_str()).or_insert(0);
            }
            for (k, (_, code)) in cats.iter_mut().enumerate() {
                *code = k as i32;
            }
            let g = obs.create_group(name).map_err(err)?;
            encoded(&g, "categorical", "0.2.0")?;
            g.new_attr::<bool>()
                .create("ordered")
                .and_then(|a| a.write_scalar(&false))
                .map_err(err)?;
            let names: Vec<String> = cats.keys().map(|s| s.to_string()).collect();
            string_array(&g, "categories", &names)?;
            let codes: Array1<i32> = values.iter().map(|v| cats[v.as_str()]).collect();
            let d = g
                .new_dataset_builder()
                .with_data(&codes)
                .create("codes")
                .map_err(err)?;
            encoded(&d, "array", "0.2.0")?;
        }
        let var = self.file.create_group("var").map_err(err)?;
        attr(&var, "_index", "_index")?;
        encoded(&var, "dataframe", "0.2.0")?;
        column_order(&var, &[])?;
        string_array(&var, "_index", var_names)?;
        self.file.flush().map_err(err)?;
        let tmp = self.tmp.take().expect("finished once");
        drop(self);
        tmp.persist(&path)
            .map_err(|e| DataError::write(&path, e.error))?;
        Ok(())
    }
}
