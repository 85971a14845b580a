//! Reading AnnData `.h5ad` files (anndata's on-disk format 0.1/0.2): obs
//! columns (categorical, string, bool, numeric), the var index, `X` as CSR
//! (read in row chunks, never densified) or dense, and `obsm` matrices.

use crate::error::{DataError, Result};
use crate::hdf5_values;
use crate::samples::RawColumn;
use hdf5::types::{VarLenAscii, VarLenUnicode};
use hdf5::{Dataset, File, Group};
use ndarray::s;
use pertbench_kernels::csr::CsrMatrix;
use pertbench_kernels::Matrix;
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

    /// Reads a CSR group (e.g. `X`) keeping only `rows` (ascending), in chunks of
    /// about 16M non-zeros, so the dense matrix is never formed.
    fn read_csr_group(&self, name: &str, rows: Option<&[usize]>) -> Result<CsrMatrix> {
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
        let data_ds = g
            .dataset("data")
            .map_err(|e| self.err(format!("{name}/data: {e}")))?;
        let idx_ds = g
            .dataset("indices")
            .map_err(|e| self.err(format!("{name}/indices: {e}")))?;
        let all: Vec<usize>;
        let rows = match rows {
            Some(r) => r,
            None => {
                all = (0..n).collect();
                &all
            }
        };
        let mut out = CsrMatrix {
            nrows: 0,
            ncols: m,
            indptr: vec![0],
            indices: vec![],
            data: vec![],
        };
        let mut k = 0;
        while k < rows.len() {
            // Grow the chunk until it holds ~CHUNK_NNZ entries.
            let first = rows[k];
            let mut end = k + 1;
            while end < rows.len() && (indptr[rows[end] + 1] - indptr[first]) as usize <= CHUNK_NNZ
            {
                end += 1;
            }
            let last = rows[end - 1];
            let (a, b) = (indptr[first] as usize, indptr[last + 1] as usize);
            let data: Vec<f32> = data_ds
                .read_slice_1d::<f32, _>(s![a..b])
                .map_err(|e| self.err(format!("{name}/data[{a}..{b}]: {e}")))?
                .to_vec();
            let idx: Vec<u32> = idx_ds
                .read_slice_1d::<i64, _>(s![a..b])
                .map_err(|e| self.err(format!("{name}/indices[{a}..{b}]: {e}")))?
                .iter()
                .map(|&v| v as u32)
                .collect();
            let local_ptr: Vec<u64> = (first..=last + 1)
                .map(|r| indptr[r] - indptr[first])
                .collect();
            let chunk = CsrMatrix::new(last + 1 - first, m, local_ptr, idx, data)
                .map_err(|e| self.err(format!("{name}, rows {first}..{}: {e}", last + 1)))?;
            let picked: Vec<usize> = rows[k..end].iter().map(|r| r - first).collect();
            out.append_rows(&chunk.select_rows(&picked))
                .map_err(|e| self.err(e))?;
            k = end;
        }
        Ok(out)
    }

    /// `X` as CSR, restricted to `rows` if given. Dense `X` is converted row
    /// block by row block; CSC is refused with advice.
    pub fn read_x(&self, rows: Option<&[usize]>) -> Result<CsrMatrix> {
        if let Ok(g) = self.file.group("X") {
            return match encoding(&g).as_deref() {
                Some("csr_matrix") => self.read_csr_group("X", rows),
                other => Err(self.err(format!(
                    "X is stored as {other:?}; pertbench reads CSR or dense X (convert with adata.X = scipy.sparse.csr_matrix(adata.X))"
                ))),
            };
        }
        let dense = self.read_dense("X", rows)?;
        let mut out = CsrMatrix {
            nrows: 0,
            ncols: dense.ncols(),
            indptr: vec![0],
            indices: vec![],
            data: vec![],
        };
        for r in dense.outer_iter() {
            for (c, v) in r.iter().enumerate() {
                if *v != 0.0 {
                    out.indices.push(c as u32);
                    out.data.push(*v);
                }
            }
            out.indptr.push(out.data.len() as u64);
            out.nrows += 1;
        }
        CsrMatrix::new(out.nrows, out.ncols, out.indptr, out.indices, out.data)
            .map_err(|e| self.err(format!("X: {e}")))
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
