//! Reading AnnData `.h5ad` files (anndata's on-disk format 0.1/0.2): obs
//! columns (categorical, string, bool, numeric), the var index, `X` as CSR
//! (read in row chunks, never densified) or dense, and `obsm` matrices.

use crate::error::{DataError, Result};
use crate::hdf5_values;
use crate::row_blocks::{rows_or_all, spans};
use crate::samples::RawColumn;
use hdf5::types::{VarLenAscii, VarLenUnicode};
use hdf5::{Dataset, File, Group};
use ndarray::s;
use pertbench_kernels::csr::{CsrBuilder, CsrMatrix};
use pertbench_kernels::{KernelError, Matrix};
use std::path::{Path, PathBuf};

pub struct H5ad {
    file: File,
    path: PathBuf,
}

/// Non-zeros read per chunk of `X`.
const CHUNK_NNZ: usize = 1 << 24;

fn encoding(obj: &hdf5::Location) -> Option<String> {
    let a = obj.attr("encoding-type").ok()?;
    a.read_scalar::<VarLenUnicode>()
        .map(|s| s.as_str().to_string())
        .or_else(|_| {
            a.read_scalar::<VarLenAscii>()
                .map(|s| s.as_str().to_string())
        })
        .ok()
}

impl H5ad {
    pub fn open(path: &Path) -> Result<H5ad> {
        let file = File::open(path)
            .map_err(|e| DataError::file(path, format!("not a readable HDF5/h5ad file: {e}")))?;
        Ok(H5ad {
            file,
            path: path.to_path_buf(),
        })
    }

    fn err(&self, msg: impl std::fmt::Display) -> DataError {
        DataError::file(&self.path, msg.to_string())
    }

    fn group(&self, name: &str) -> Result<Group> {
        self.file
            .group(name)
            .map_err(|e| self.err(format!("group `{name}`: {e}")))
    }

    fn read_strings(&self, ds: &Dataset, what: &str) -> Result<Vec<String>> {
        hdf5_values::read_strings(ds).map_err(|e| self.err(format!("{what}: {e}")))
    }

    fn index_of(&self, group: &str) -> Result<Vec<String>> {
        let g = self.group(group)?;
        let name = g
            .attr("_index")
            .ok()
            .and_then(|a| a.read_scalar::<VarLenUnicode>().ok())
            .map(|s| s.as_str().to_string())
            .unwrap_or_else(|| "_index".into());
        let ds = g
            .dataset(&name)
            .map_err(|e| self.err(format!("{group}/{name}: {e}")))?;
        self.read_strings(&ds, &format!("{group}/{name}"))
    }

    /// obs index (cell barcodes).
    pub fn obs_names(&self) -> Result<Vec<String>> {
        self.index_of("obs")
    }

    /// var index (gene names).
    pub fn var_names(&self) -> Result<Vec<String>> {
        self.index_of("var")
    }

    pub fn obs_column_names(&self) -> Result<Vec<String>> {
        let g = self.group("obs")?;
        let mut names = g.member_names().map_err(|e| self.err(e))?;
        names.retain(|n| n != "_index" && n != "__categories");
        Ok(names)
    }

    fn read_numeric(&self, ds: &Dataset, what: &str) -> Result<RawColumn> {
        hdf5_values::read_column(ds).map_err(|e| self.err(format!("{what}: {e}")))
    }

    /// One obs column; None if absent. Categorical codes of -1 are missing.
    pub fn obs_column(&self, name: &str) -> Result<Option<RawColumn>> {
        let g = self.group("obs")?;
        if !g.link_exists(name) {
            return Ok(None);
        }
        let what = format!("obs/{name}");
        if let Ok(sub) = g.group(name) {
            match encoding(&sub).as_deref() {
                Some("categorical") => {
                    let cats_ds = sub
                        .dataset("categories")
                        .map_err(|e| self.err(format!("{what}/categories: {e}")))?;
                    let cats: Vec<String> = match self
                        .read_numeric(&cats_ds, &format!("{what}/categories"))?
                    {
                        RawColumn::Str(v) => v.into_iter().map(|s| s.unwrap_or_default()).collect(),
                        other => (0..other.len())
                            .map(|i| other.text(i).unwrap_or_default())
                            .collect(),
                    };
                    let codes: Vec<i64> = sub
                        .dataset("codes")
                        .and_then(|d| d.read_raw::<i64>())
                        .map_err(|e| self.err(format!("{what}/codes: {e}")))?;
                    let vals = codes
                        .into_iter()
                        .map(|c| {
                            if c < 0 {
                                Ok(None)
                            } else {
                                cats.get(c as usize).cloned().map(Some).ok_or_else(|| {
                                    self.err(format!(
                                        "{what}: code {c} beyond {} categories",
                                        cats.len()
                                    ))
                                })
                            }
                        })
                        .collect::<Result<Vec<_>>>()?;
                    return Ok(Some(RawColumn::Str(vals)));
                }
                Some("nullable-boolean") | Some("nullable-integer") => {
                    let ds = sub
                        .dataset("values")
                        .map_err(|e| self.err(format!("{what}/values: {e}")))?;
                    return self.read_numeric(&ds, &what).map(Some);
                }
                other => {
                    return Err(self.err(format!("{what}: unsupported column encoding {other:?}")))
                }
            }
        }
        let ds = g
            .dataset(name)
            .map_err(|e| self.err(format!("{what}: {e}")))?;
        self.read_numeric(&ds, &what).map(Some)
    }

    fn shape_attr(&self, g: &Group, what: &str) -> Result<(usize, usize)> {
        let shape: Vec<i64> = g
            .attr("shape")
            .and_then(|a| a.read_raw::<i64>())
            .map_err(|e| self.err(format!("{what}: shape attribute: {e}")))?;
        if shape.len() != 2 {
            return Err(self.err(format!("{what}: shape has {} dimensions", shape.len())));
        }
        Ok((shape[0] as usize, shape[1] as usize))
    }

    /// Reads a CSR group (e.g. `X`) keeping only `rows` (ascending), in
    /// chunks of about `block_nnz` non-zeros, handing each chunk's kept rows
    /// to `on_block` in order; the dense matrix is never formed and memory is
    /// bounded by the chunk. Returns the number of columns.
    fn stream_csr_group(
        &self,
        name: &str,
        rows: Option<&[usize]>,
        block_nnz: usize,
        on_block: &mut dyn FnMut(CsrMatrix) -> Result<()>,
    ) -> Result<usize> {
        let g = self.group(name)?;
        let (n, m) = self.shape_attr(&g, name)?;
        let indptr: Vec<u64> = g
            .dataset("indptr")
            .and_then(|d| d.read_raw::<i64>())
            .map_err(|e| self.err(format!("{name}/indptr: {e}")))?
            .into_iter()
            .map(|v| v as u64)
            .collect();
        if indptr.len() != n + 1 {
            return Err(self.err(format!(
                "{name}/indptr has {} entries for {n} rows",
                indptr.len()
            )));
        }
        if let Some(w) = indptr.windows(2).position(|w| w[1] < w[0]) {
            return Err(self.err(format!("{name}/indptr decreases at row {w}")));
        }
        let data_ds = g
            .dataset("data")
            .map_err(|e| self.err(format!("{name}/data: {e}")))?;
        let idx_ds = g
            .dataset("indices")
            .map_err(|e| self.err(format!("{name}/indices: {e}")))?;
        if indptr[0] != 0 || indptr[n] > data_ds.size().min(idx_ds.size()) as u64 {
            return Err(self.err(format!(
                "{name}/indptr runs from {} to {} but {name}/data has {} and {name}/indices {} entries",
                indptr[0],
                indptr[n],
                data_ds.size(),
                idx_ds.size()
            )));
        }
        let rows = rows_or_all(rows, n);
        if let Some(&r) = rows.iter().find(|&&r| r >= n) {
            return Err(self.err(format!("internal: row {r} requested of {n} rows of {name}")));
        }
        let block_nnz = block_nnz.max(1) as u64;
        // Each chunk grows until it holds ~block_nnz entries.
        for span in spans(&rows, |first, r| indptr[r + 1] - indptr[first] <= block_nnz) {
            let (first, last) = (rows[span.start], rows[span.end - 1]);
            let (a, b) = (indptr[first] as usize, indptr[last + 1] as usize);
            let data: Vec<f32> = data_ds
                .read_slice_1d::<f32, _>(s![a..b])
                .map_err(|e| self.err(format!("{name}/data[{a}..{b}]: {e}")))?
                .to_vec();
            let idx_raw = idx_ds
                .read_slice_1d::<i64, _>(s![a..b])
                .map_err(|e| self.err(format!("{name}/indices[{a}..{b}]: {e}")))?;
            let mut idx = Vec::with_capacity(b - a);
            for (p, &v) in idx_raw.iter().enumerate() {
                if v < 0 || v as u64 >= m as u64 {
                    let at = (a + p) as u64;
                    let row = first + indptr[first..=last + 1].partition_point(|&o| o <= at) - 1;
                    return Err(self.err(format!(
                        "{name}/indices[{at}] = {v} (row {row}) is out of range for {m} columns"
                    )));
                }
                idx.push(v as u32);
            }
            let local_ptr: Vec<u64> = (first..=last + 1)
                .map(|r| indptr[r] - indptr[first])
                .collect();
            let chunk =
                CsrMatrix::new(last + 1 - first, m, local_ptr, idx, data).map_err(|e| match e {
                    KernelError::NonFinite { row, column } => self.err(format!(
                        "{name}: non-finite value (NaN or Inf) at row {}, column {column}",
                        first + row
                    )),
                    e => self.err(format!("{name}, rows {first}..{}: {e}", last + 1)),
                })?;
            let picked: Vec<usize> = rows[span].iter().map(|r| r - first).collect();
            on_block(if picked.len() == chunk.nrows {
                chunk
            } else {
                chunk.select_rows(&picked)
            })?;
        }
        Ok(m)
    }

    fn read_csr_group(&self, name: &str, rows: Option<&[usize]>) -> Result<CsrMatrix> {
        self.collect_blocks(&mut |on_block| self.stream_csr_group(name, rows, CHUNK_NNZ, on_block))
    }

    /// Stacks the blocks a streaming reader hands over (it returns the
    /// number of columns, for an empty result).
    fn collect_blocks(
        &self,
        stream: &mut dyn FnMut(&mut dyn FnMut(CsrMatrix) -> Result<()>) -> Result<usize>,
    ) -> Result<CsrMatrix> {
        let mut out: Option<CsrMatrix> = None;
        let m = stream(&mut |block| {
            match &mut out {
                None => out = Some(block),
                Some(o) => o.append_rows(&block).map_err(|e| self.err(e))?,
            }
            Ok(())
        })?;
        Ok(out.unwrap_or_else(|| CsrMatrix::empty(m)))
    }

    /// Whether `X` is CSR (`true`) or dense (`false`); any other storage is an
    /// error advising conversion.
    fn x_is_csr(&self) -> Result<bool> {
        if let Ok(g) = self.file.group("X") {
            return match encoding(&g).as_deref() {
                Some("csr_matrix") => Ok(true),
                other => Err(self.err(format!(
                    "X is stored as {other:?}; pertbench reads CSR or dense X (convert with adata.X = scipy.sparse.csr_matrix(adata.X))"
                ))),
            };
        }
        match self.file.dataset("X") {
            Ok(ds) if ds.ndim() == 2 => Ok(false),
            Ok(ds) => Err(self.err(format!("X has {} dimensions, not 2", ds.ndim()))),
            Err(e) => Err(self.err(format!("no readable X: {e}"))),
        }
    }

    /// (rows, columns) of `X`, CSR or dense, without reading it.
    pub fn x_shape(&self) -> Result<(usize, usize)> {
        if self.x_is_csr()? {
            self.shape_attr(&self.group("X")?, "X")
        } else {
            let shape = self
                .file
                .dataset("X")
                .map_err(|e| self.err(format!("X: {e}")))?
                .shape();
            Ok((shape[0], shape[1]))
        }
    }

    /// `X` as CSR, restricted to `rows` (ascending) if given. Dense `X` is
    /// converted row block by row block; CSC is refused with advice.
    pub fn read_x(&self, rows: Option<&[usize]>) -> Result<CsrMatrix> {
        self.collect_blocks(&mut |on_block| self.stream_x(rows, CHUNK_NNZ, on_block))
    }

    /// Streams `X` (CSR or dense) restricted to `rows` (ascending) in blocks
    /// of about `block_values` stored values, each as CSR, in row order;
    /// returns the number of columns. Memory is bounded by the block.
    pub fn stream_x(
        &self,
        rows: Option<&[usize]>,
        block_values: usize,
        on_block: &mut dyn FnMut(CsrMatrix) -> Result<()>,
    ) -> Result<usize> {
        if self.x_is_csr()? {
            self.stream_csr_group("X", rows, block_values, on_block)
        } else {
            self.stream_dense_x(rows, block_values, on_block)
        }
    }

    fn stream_dense_x(
        &self,
        rows: Option<&[usize]>,
        block_values: usize,
        on_block: &mut dyn FnMut(CsrMatrix) -> Result<()>,
    ) -> Result<usize> {
        let ds = self
            .file
            .dataset("X")
            .map_err(|e| self.err(format!("X: {e}")))?;
        let shape = ds.shape();
        let (n, m) = (shape[0], shape[1]);
        let rows = rows_or_all(rows, n);
        let block_rows = (block_values / m.max(1)).max(1);
        for span in spans(&rows, |first, r| r < first + block_rows) {
            let (first, last) = (rows[span.start], rows[span.end - 1]);
            let block: Matrix = ds
                .read_slice_2d::<f32, _>(s![first..last + 1, ..])
                .map_err(|e| self.err(format!("X[{first}..{}]: {e}", last + 1)))?;
            let mut out = CsrBuilder::new(m);
            for &r in &rows[span] {
                for (c, v) in block.row(r - first).iter().enumerate() {
                    if !v.is_finite() {
                        return Err(self.err(format!(
                            "X: non-finite value (NaN or Inf) at row {r}, column {c}"
                        )));
                    }
                    if *v != 0.0 {
                        out.push(c as u32, *v);
                    }
                }
                out.finish_row();
            }
            on_block(
                out.build()
                    .map_err(|e| self.err(format!("X, rows {first}..{}: {e}", last + 1)))?,
            )?;
        }
        Ok(m)
    }

    fn read_dense(&self, name: &str, rows: Option<&[usize]>) -> Result<Matrix> {
        let ds = self
            .file
            .dataset(name)
            .map_err(|e| self.err(format!("{name}: {e}")))?;
        let m: Matrix = ds
            .read_2d::<f32>()
            .map_err(|e| self.err(format!("{name}: {e}")))?;
        Ok(match rows {
            Some(r) => m.select(ndarray::Axis(0), r),
            None => m,
        })
    }

    /// Every `obsm` key with its number of columns (none without `obsm`).
    pub fn obsm_shapes(&self) -> Result<Vec<(String, usize)>> {
        let Ok(g) = self.file.group("obsm") else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for key in g.member_names().map_err(|e| self.err(e))? {
            let cols = if let Ok(ds) = g.dataset(&key) {
                ds.shape().get(1).copied().unwrap_or(1)
            } else if let Ok(sub) = g.group(&key) {
                // A sparse obsm: its `shape` attribute is [rows, cols].
                sub.attr("shape")
                    .and_then(|a| a.read_raw::<i64>())
                    .ok()
                    .and_then(|s| s.get(1).copied())
                    .unwrap_or(0) as usize
            } else {
                0
            };
            out.push((key, cols));
        }
        Ok(out)
    }

    /// `obsm/<key>` as a dense matrix (a CSR obsm is densified: it is an embedding).
    pub fn read_obsm(&self, key: &str, rows: Option<&[usize]>) -> Result<Matrix> {
        let name = format!("obsm/{key}");
        if !self.group("obsm")?.link_exists(key) {
            let keys = self.group("obsm")?.member_names().unwrap_or_default();
            return Err(self.err(format!(
                "obsm has no key `{key}`; keys: {}",
                keys.join(", ")
            )));
        }
        if let Ok(g) = self.file.group(&name) {
            if encoding(&g).as_deref() != Some("csr_matrix") {
                return Err(self.err(format!("{name}: unsupported encoding")));
            }
            let csr = self.read_csr_group(&name, rows)?;
            let mut d = Matrix::zeros((csr.nrows, csr.ncols));
            for i in 0..csr.nrows {
                for (c, v) in csr.row(i) {
                    d[(i, c)] = v;
                }
            }
            return Ok(d);
        }
        self.read_dense(&name, rows)
    }
}
