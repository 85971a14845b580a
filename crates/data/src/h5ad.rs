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
use pertbench_kernels::sparse::csr::{CsrBuilder, CsrMatrix};
use pertbench_kernels::{KernelError, Matrix};
use std::path::{Path, PathBuf};

pub struct H5ad {
    file: File,
    path: PathBuf,
}

/// Non-zeros read per chunk of `X`.
const CHUNK_NNZ: usize = 1 << 24;

/// A scalar string attribute (variable-length, UTF-8 or ASCII).
fn string_attr(obj: &hdf5::Location, name: &str) -> Option<String> {
    let a = obj.attr(name).ok()?;
    // Checked text: an attribute of other bytes is no attribute.
    a.read_scalar::<VarLenUnicode>()
        .map(|s| s.as_bytes().to_vec())
        .or_else(|_| {
            a.read_scalar::<VarLenAscii>()
                .map(|s| s.as_bytes().to_vec())
        })
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
}

fn encoding(obj: &hdf5::Location) -> Option<String> {
    string_attr(obj, "encoding-type")
}

/// For an AnnData Zarr store (a `.zarr` path or a directory), the message
/// that says pertbench reads h5ad and gives the one-line conversion.
pub fn zarr_advice(path: &Path) -> Option<String> {
    let zarr = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("zarr"))
        || path.is_dir();
    zarr.then(|| {
        format!(
            "is a Zarr store (or a directory); pertbench reads AnnData as .h5ad: convert it with python -c \"import anndata; anndata.read_zarr('{p}').write_h5ad('{p}.h5ad')\"",
            p = path.display()
        )
    })
}

impl H5ad {
    pub fn open(path: &Path) -> Result<H5ad> {
        if let Some(advice) = zarr_advice(path) {
            return Err(DataError::file(path, advice));
        }
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

    /// A dataframe group (`obs`, `var`, `raw/var`, an `obsm` frame). Files
    /// written before anndata 0.7 store obs and var as one compound dataset:
    /// those are refused with the conversion.
    fn frame(&self, frame: &str) -> Result<Group> {
        if let Ok(ds) = self.file.dataset(frame) {
            let compound = ds
                .dtype()
                .and_then(|t| t.to_descriptor())
                .is_ok_and(|d| matches!(d, hdf5::types::TypeDescriptor::Compound(_)));
            return Err(self.err(format!(
                "`{frame}` is {} dataset, the layout of anndata before 0.7 (2019); pertbench reads anndata 0.7 and later: re-save it with a current anndata, which still reads it: python -c \"import anndata; anndata.read_h5ad('{f}').write_h5ad('{f}.new.h5ad')\"",
                if compound { "a compound (record)" } else { "a" },
                f = self.path.display()
            )));
        }
        self.group(frame)
    }

    /// Name of a dataframe's index dataset (the `_index` attribute).
    fn index_name(g: &Group) -> String {
        string_attr(g, "_index").unwrap_or_else(|| "_index".into())
    }

    /// A dataframe's index dataset, with its path for messages.
    fn index_dataset(&self, frame: &str) -> Result<(Dataset, String)> {
        let g = self.frame(frame)?;
        let name = Self::index_name(&g);
        let what = format!("{frame}/{name}");
        let ds = g
            .dataset(&name)
            .map_err(|e| self.err(format!("{what}: {e}")))?;
        Ok((ds, what))
    }

    /// The index of a dataframe group (`obs`, `var`, `raw/var`).
    pub fn index_of(&self, frame: &str) -> Result<Vec<String>> {
        let (ds, what) = self.index_dataset(frame)?;
        self.read_strings(&ds, &what)
    }

    /// The rows of a dataframe group: the length of its index.
    fn frame_len(&self, frame: &str) -> Result<usize> {
        Ok(self.index_dataset(frame)?.0.size())
    }

    /// obs index (cell barcodes).
    pub fn obs_names(&self) -> Result<Vec<String>> {
        self.index_of("obs")
    }

    /// var index (gene names).
    pub fn var_names(&self) -> Result<Vec<String>> {
        self.index_of("var")
    }

    /// The columns of a dataframe group, in its `column-order` where the
    /// file records one.
    pub fn frame_column_names(&self, frame: &str) -> Result<Vec<String>> {
        let g = self.frame(frame)?;
        let index = Self::index_name(&g);
        let mut names = g.member_names().map_err(|e| self.err(e))?;
        names.retain(|n| n != &index && n != "_index" && n != "__categories");
        // Without a `column-order`, by name (HDF5 lists members by name or
        // by creation, depending on the release and the file).
        let names = sorted(names);
        if let Ok(order) = g
            .attr("column-order")
            .and_then(|a| a.read_raw::<VarLenUnicode>())
        {
            let order: Vec<String> = order
                .iter()
                .filter_map(|s| std::str::from_utf8(s.as_bytes()).ok().map(str::to_string))
                .collect();
            if order.iter().all(|o| names.contains(o)) && order.len() == names.len() {
                return Ok(order);
            }
        }
        Ok(names)
    }

    pub fn obs_column_names(&self) -> Result<Vec<String>> {
        self.frame_column_names("obs")
    }

    pub fn var_column_names(&self) -> Result<Vec<String>> {
        self.frame_column_names("var")
    }

    fn read_numeric(&self, ds: &Dataset, what: &str) -> Result<RawColumn> {
        hdf5_values::read_column(ds).map_err(|e| self.err(format!("{what}: {e}")))
    }

    /// One obs column; None if absent. Missing values (categorical code -1,
    /// masked entries of nullable columns) are None or NaN.
    pub fn obs_column(&self, name: &str) -> Result<Option<RawColumn>> {
        self.frame_column("obs", name)
    }

    /// One var column; None if absent.
    pub fn var_column(&self, name: &str) -> Result<Option<RawColumn>> {
        self.frame_column("var", name)
    }

    /// One column of a dataframe group, in any of anndata's encodings:
    /// a plain array or string array; `categorical` (0.8+: a group of codes
    /// and categories; 0.7: codes whose `categories` attribute refers to
    /// `<frame>/__categories/<name>`); `nullable-integer`,
    /// `nullable-boolean` and `nullable-string-array` (values and a mask:
    /// masked entries are missing, never their stored value).
    pub fn frame_column(&self, frame: &str, name: &str) -> Result<Option<RawColumn>> {
        let g = self.frame(frame)?;
        if !g.link_exists(name) {
            return Ok(None);
        }
        let what = format!("{frame}/{name}");
        let categorical = |codes: Vec<i64>, cats: RawColumn, what: &str| -> Result<RawColumn> {
            let cats: Vec<Option<String>> = (0..cats.len()).map(|i| cats.text(i)).collect();
            let vals = codes
                .into_iter()
                .map(|c| {
                    if c < 0 {
                        Ok(None)
                    } else {
                        cats.get(c as usize).cloned().ok_or_else(|| {
                            self.err(format!("{what}: code {c} beyond {} categories", cats.len()))
                        })
                    }
                })
                .collect::<Result<Vec<_>>>()?;
            Ok(RawColumn::Str(vals))
        };
        let dataset = |g: &Group, member: &str| -> Result<Dataset> {
            g.dataset(member)
                .map_err(|e| self.err(format!("{what}/{member}: {e}")))
        };
        if let Ok(sub) = g.group(name) {
            let enc = encoding(&sub);
            return match enc.as_deref() {
                Some("categorical") => {
                    let cats = self.read_numeric(&dataset(&sub, "categories")?, &format!("{what}/categories"))?;
                    let codes: Vec<i64> = dataset(&sub, "codes")?
                        .read_raw::<i64>()
                        .map_err(|e| self.err(format!("{what}/codes: {e}")))?;
                    categorical(codes, cats, &what).map(Some)
                }
                Some("nullable-boolean") | Some("nullable-integer") | Some("nullable-string-array") => {
                    let values = self.read_numeric(&dataset(&sub, "values")?, &format!("{what}/values"))?;
                    let mask: Vec<bool> = dataset(&sub, "mask")?
                        .read_raw::<bool>()
                        .map_err(|e| self.err(format!("{what}/mask: {e}")))?;
                    if mask.len() != values.len() {
                        return Err(self.err(format!(
                            "{what}: mask has {} entries for {} values",
                            mask.len(),
                            values.len()
                        )));
                    }
                    Ok(Some(values.masked(&mask)))
                }
                other => Err(self.err(format!(
                    "{what}: unsupported column encoding {other:?} (pertbench reads categorical, nullable-integer, nullable-boolean, nullable-string-array, string and numeric arrays)"
                ))),
            };
        }
        let ds = dataset(&g, name)?;
        let has_categories = ds
            .attr_names()
            .is_ok_and(|a| a.iter().any(|n| n == "categories"));
        if has_categories {
            // anndata 0.7: the codes, with the categories in `__categories`.
            let cats_path = format!("{frame}/__categories/{name}");
            let cats_ds = self.file.dataset(&cats_path).map_err(|e| {
                self.err(format!(
                    "{what} is categorical (anndata 0.7) but {cats_path} is unreadable: {e}"
                ))
            })?;
            let cats = self.read_numeric(&cats_ds, &cats_path)?;
            let codes: Vec<i64> = ds
                .read_raw::<i64>()
                .map_err(|e| self.err(format!("{what}: {e}")))?;
            return categorical(codes, cats, &what).map(Some);
        }
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
        // A negative extent wrapped to a huge one (and `n + 1` overflowed);
        // column indices are held as u32.
        let (n, m) = (shape[0], shape[1]);
        if n < 0 || m < 0 {
            return Err(self.err(format!("{what}: shape attribute is ({n}, {m}): negative")));
        }
        if m > i64::from(u32::MAX) {
            return Err(self.err(format!(
                "{what}: shape attribute claims {m} columns (at most {} are supported)",
                u32::MAX
            )));
        }
        Ok((n as usize, m as usize))
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
    pub(crate) fn collect_blocks(
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

    /// Whether the matrix at `name` (`X`, `raw/X`, `layers/<key>`) is CSR
    /// (`true`) or dense (`false`); any other storage is an error advising
    /// conversion.
    fn matrix_is_csr(&self, name: &str) -> Result<bool> {
        if let Ok(g) = self.file.group(name) {
            return match encoding(&g).as_deref() {
                Some("csr_matrix") => Ok(true),
                other => Err(self.err(format!(
                    "{name} is stored as {}; pertbench reads CSR or dense matrices (convert with adata.X = scipy.sparse.csr_matrix(adata.X), or the same for the layer, then write_h5ad)",
                    other.unwrap_or("an unlabelled group")
                ))),
            };
        }
        match self.file.dataset(name) {
            Ok(ds) if ds.ndim() == 2 => Ok(false),
            Ok(ds) => Err(self.err(format!("{name} has {} dimensions, not 2", ds.ndim()))),
            Err(e) => Err(self.err(format!("no readable {name}: {e}"))),
        }
    }

    /// Whether the file has a matrix at `name` (a group or a dataset).
    pub fn has_matrix(&self, name: &str) -> bool {
        self.file.link_exists(name)
    }

    /// The keys of `layers` (none without it).
    pub fn layer_names(&self) -> Vec<String> {
        self.file
            .group("layers")
            .and_then(|g| g.member_names())
            .map(sorted)
            .unwrap_or_default()
    }

    /// Whether `X` is stored as CSR (`true`) or dense (`false`).
    pub fn x_is_csr(&self) -> Result<bool> {
        self.matrix_is_csr("X")
    }

    /// (rows, columns) of `X`, CSR or dense, without reading it.
    pub fn x_shape(&self) -> Result<(usize, usize)> {
        self.matrix_shape("X")
    }

    /// (rows, columns) of the matrix at `name`, without reading it.
    pub fn matrix_shape(&self, name: &str) -> Result<(usize, usize)> {
        if self.matrix_is_csr(name)? {
            self.shape_attr(&self.group(name)?, name)
        } else {
            let shape = self
                .file
                .dataset(name)
                .map_err(|e| self.err(format!("{name}: {e}")))?
                .shape();
            Ok((shape[0], shape[1]))
        }
    }

    /// `X` as CSR, restricted to `rows` (ascending) if given. Dense `X` is
    /// converted row block by row block; CSC is refused with advice.
    pub fn read_x(&self, rows: Option<&[usize]>) -> Result<CsrMatrix> {
        self.read_matrix("X", rows)
    }

    /// The matrix at `name` as CSR, restricted to `rows` (ascending).
    pub fn read_matrix(&self, name: &str, rows: Option<&[usize]>) -> Result<CsrMatrix> {
        self.collect_blocks(&mut |on_block| self.stream_matrix(name, rows, CHUNK_NNZ, on_block))
    }

    /// Streams `X` (CSR or dense): see [`H5ad::stream_matrix`].
    pub fn stream_x(
        &self,
        rows: Option<&[usize]>,
        block_values: usize,
        on_block: &mut dyn FnMut(CsrMatrix) -> Result<()>,
    ) -> Result<usize> {
        self.stream_matrix("X", rows, block_values, on_block)
    }

    /// Streams the matrix at `name` (`X`, `raw/X`, `layers/<key>`; CSR or
    /// dense) restricted to `rows` (ascending) in blocks of about
    /// `block_values` stored values, each as CSR, in row order; returns the
    /// number of columns. Memory is bounded by the block.
    pub fn stream_matrix(
        &self,
        name: &str,
        rows: Option<&[usize]>,
        block_values: usize,
        on_block: &mut dyn FnMut(CsrMatrix) -> Result<()>,
    ) -> Result<usize> {
        if self.matrix_is_csr(name)? {
            self.stream_csr_group(name, rows, block_values, on_block)
        } else {
            self.stream_dense(name, rows, block_values, on_block)
        }
    }

    /// The first `n_rows` rows of the matrix at `name`, to tell counts
    /// from normalised values without reading it all.
    pub fn matrix_head(&self, name: &str, n_rows: usize) -> Result<CsrMatrix> {
        let (n, _) = self.matrix_shape(name)?;
        let rows: Vec<usize> = (0..n.min(n_rows)).collect();
        self.read_matrix(name, Some(&rows))
    }

    fn stream_dense(
        &self,
        name: &str,
        rows: Option<&[usize]>,
        block_values: usize,
        on_block: &mut dyn FnMut(CsrMatrix) -> Result<()>,
    ) -> Result<usize> {
        let ds = self
            .file
            .dataset(name)
            .map_err(|e| self.err(format!("{name}: {e}")))?;
        let shape = ds.shape();
        let (n, m) = (shape[0], shape[1]);
        let rows = rows_or_all(rows, n);
        let block_rows = (block_values / m.max(1)).max(1);
        for span in spans(&rows, |first, r| r < first + block_rows) {
            let (first, last) = (rows[span.start], rows[span.end - 1]);
            let block: Matrix = ds
                .read_slice_2d::<f32, _>(s![first..last + 1, ..])
                .map_err(|e| self.err(format!("{name}[{first}..{}]: {e}", last + 1)))?;
            let mut out = CsrBuilder::new(m);
            for &r in &rows[span] {
                for (c, v) in block.row(r - first).iter().enumerate() {
                    if !v.is_finite() {
                        return Err(self.err(format!(
                            "{name}: non-finite value (NaN or Inf) at row {r}, column {c}"
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
                    .map_err(|e| self.err(format!("{name}, rows {first}..{}: {e}", last + 1)))?,
            )?;
        }
        Ok(m)
    }

    fn read_dense(&self, name: &str, rows: Option<&[usize]>) -> Result<Matrix> {
        let ds = self
            .file
            .dataset(name)
            .map_err(|e| self.err(format!("{name}: {e}")))?;
        let m: Matrix = if ds.ndim() == 1 {
            let v: Vec<f32> = ds
                .read_raw::<f32>()
                .map_err(|e| self.err(format!("{name}: {e}")))?;
            Matrix::from_shape_vec((v.len(), 1), v).map_err(|e| self.err(format!("{name}: {e}")))?
        } else {
            ds.read_2d::<f32>()
                .map_err(|e| self.err(format!("{name}: {e}")))?
        };
        Ok(match rows {
            Some(r) => m.select(ndarray::Axis(0), r),
            None => m,
        })
    }

    /// The cells of the file: the length of the obs index.
    pub fn n_obs(&self) -> Result<usize> {
        self.frame_len("obs")
    }

    /// Every `obsm` key with its number of columns (none without `obsm`).
    pub fn obsm_shapes(&self) -> Result<Vec<(String, usize)>> {
        let Ok(g) = self.file.group("obsm") else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for key in sorted(g.member_names().map_err(|e| self.err(e))?) {
            let cols = if let Ok(ds) = g.dataset(&key) {
                ds.shape().get(1).copied().unwrap_or(1)
            } else if let Ok(sub) = g.group(&key) {
                if encoding(&sub).as_deref() == Some("dataframe") {
                    self.frame_column_names(&format!("obsm/{key}"))?.len()
                } else {
                    // A sparse obsm: its `shape` attribute is [rows, cols].
                    sub.attr("shape")
                        .and_then(|a| a.read_raw::<i64>())
                        .ok()
                        .and_then(|s| s.get(1).copied())
                        .unwrap_or(0) as usize
                }
            } else {
                0
            };
            out.push((key, cols));
        }
        Ok(out)
    }

    /// Rows of an `obsm` entry (dense, sparse or a DataFrame).
    fn obsm_rows(&self, name: &str) -> Result<usize> {
        if let Ok(ds) = self.file.dataset(name) {
            return Ok(ds.shape().first().copied().unwrap_or(0));
        }
        let g = self.group(name)?;
        match encoding(&g).as_deref() {
            Some("dataframe") => self.frame_len(name),
            _ => self.shape_attr(&g, name).map(|(r, _)| r),
        }
    }

    /// `obsm/<key>` as a dense matrix: a dense array, a CSR matrix
    /// (densified: it is an embedding) or a DataFrame of numeric columns.
    /// Its rows must be the file's cells: a shorter or longer obsm is an
    /// error, never truncated or padded.
    pub fn read_obsm(&self, key: &str, rows: Option<&[usize]>) -> Result<Matrix> {
        let name = format!("obsm/{key}");
        if !self.group("obsm")?.link_exists(key) {
            let keys = sorted(self.group("obsm")?.member_names().unwrap_or_default());
            return Err(self.err(format!(
                "obsm has no key `{key}`; keys: {}",
                keys.join(", ")
            )));
        }
        let n_obs = self.n_obs()?;
        let n_rows = self.obsm_rows(&name)?;
        if n_rows != n_obs {
            return Err(self.err(format!(
                "{name} has {n_rows} rows but the file has {n_obs} cells (obs); anndata keeps them equal, so the file was edited after writing: re-write the embedding with one row per cell"
            )));
        }
        if let Ok(g) = self.file.group(&name) {
            return match encoding(&g).as_deref() {
                Some("csr_matrix") => {
                    let csr = self.read_csr_group(&name, rows)?;
                    let mut d = Matrix::zeros((csr.nrows, csr.ncols));
                    for i in 0..csr.nrows {
                        for (c, v) in csr.row(i) {
                            d[(i, c)] = v;
                        }
                    }
                    Ok(d)
                }
                Some("dataframe") => {
                    let columns = self.frame_column_names(&name)?;
                    let all = rows_or_all(rows, n_obs);
                    let mut d = Matrix::zeros((all.len(), columns.len()));
                    for (j, c) in columns.iter().enumerate() {
                        match self.frame_column(&name, c)? {
                            Some(RawColumn::Num(v)) if v.len() != n_obs => {
                                return Err(self.err(format!(
                                    "{name}/{c} has {} values for {n_obs} cells",
                                    v.len()
                                )))
                            }
                            Some(RawColumn::Num(v)) => {
                                for (i, &r) in all.iter().enumerate() {
                                    d[(i, j)] = v[r] as f32;
                                }
                            }
                            _ => {
                                return Err(self.err(format!(
                                    "{name}/{c}: an embedding stored as a DataFrame needs numeric columns only"
                                )))
                            }
                        }
                    }
                    Ok(d)
                }
                other => Err(self.err(format!(
                    "{name}: unsupported encoding {other:?} (pertbench reads dense arrays, csr_matrix and dataframe)"
                ))),
            };
        }
        self.read_dense(&name, rows)
    }
}

/// Group members by name: HDF5 lists them by name or by creation order,
/// depending on the release and on how the file was written.
fn sorted(mut names: Vec<String>) -> Vec<String> {
    names.sort();
    names
}
