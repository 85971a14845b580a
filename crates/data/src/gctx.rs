//! Reading CMap's `.gctx` files (GCTX 1.0, the HDF5 form of L1000 data, as
//! written by cmapPy): the matrix `/0/DATA/0/matrix` is stored samples x
//! genes (HDF5 dims `[n_columns, n_rows]` of the GCT table), sample ids in
//! `/0/META/COL/id`, gene ids in `/0/META/ROW/id`, and any further per-sample
//! metadata as datasets next to `id` in `/0/META/COL`.
//!
//! Samples are read in blocks of rows (a hyperslab of whole samples), so
//! memory for reading is bounded by the block size, never the file.

use crate::error::{DataError, Result};
use crate::hdf5_values;
use crate::row_blocks::spans;
use crate::samples::RawColumn;
use hdf5::{Dataset, File};
use ndarray::s;
use pertbench_kernels::sparse::csr::{CsrBuilder, CsrMatrix};
use pertbench_kernels::Matrix;
use std::path::{Path, PathBuf};

pub const MATRIX: &str = "0/DATA/0/matrix";
pub const COL_META: &str = "0/META/COL";
pub const ROW_META: &str = "0/META/ROW";

/// Values read per block (64 MB of f32).
pub const DEFAULT_BLOCK_VALUES: usize = 1 << 24;

pub struct Gctx {
    file: File,
    path: PathBuf,
    matrix: Dataset,
    n_samples: usize,
    n_genes: usize,
}

impl Gctx {
    pub fn open(path: &Path) -> Result<Gctx> {
        let file = File::open(path)
            .map_err(|e| DataError::file(path, format!("not a readable HDF5/gctx file: {e}")))?;
        let matrix = file.dataset(MATRIX).map_err(|e| {
            DataError::file(
                path,
                format!("not a gctx file: no dataset `/{MATRIX}` ({e})"),
            )
        })?;
        let shape = matrix.shape();
        if shape.len() != 2 {
            return Err(DataError::file(
                path,
                format!("/{MATRIX} has {} dimensions, expected 2", shape.len()),
            ));
        }
        Ok(Gctx {
            file,
            path: path.to_path_buf(),
            matrix,
            n_samples: shape[0],
            n_genes: shape[1],
        })
    }

    fn err(&self, msg: impl std::fmt::Display) -> DataError {
        DataError::file(&self.path, msg.to_string())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
    pub fn n_samples(&self) -> usize {
        self.n_samples
    }
    pub fn n_genes(&self) -> usize {
        self.n_genes
    }

    fn ids(&self, group: &str, n: usize, what: &str) -> Result<Vec<String>> {
        let name = format!("{group}/id");
        let ds = self
            .file
            .dataset(&name)
            .map_err(|e| self.err(format!("/{name}: {e}")))?;
        let col = hdf5_values::read_column(&ds).map_err(|e| self.err(format!("/{name}: {e}")))?;
        if col.len() != n {
            return Err(self.err(format!(
                "/{name} has {} {what} ids but /{MATRIX} has {n}",
                col.len()
            )));
        }
        Ok((0..n).map(|i| col.text(i).unwrap_or_default()).collect())
    }

    /// Sample ids (`/0/META/COL/id`), one per matrix row.
    pub fn sample_ids(&self) -> Result<Vec<String>> {
        self.ids(COL_META, self.n_samples, "sample")
    }

    /// Gene ids (`/0/META/ROW/id`), one per matrix column.
    pub fn gene_ids(&self) -> Result<Vec<String>> {
        self.ids(ROW_META, self.n_genes, "gene")
    }

    /// Per-sample metadata fields stored in the file (besides `id`).
    pub fn column_names(&self) -> Result<Vec<String>> {
        let Ok(g) = self.file.group(COL_META) else {
            return Ok(vec![]);
        };
        let mut names = g.member_names().map_err(|e| self.err(e))?;
        names.retain(|n| n != "id");
        // By name, whatever order the HDF5 release lists members in.
        names.sort();
        Ok(names)
    }

    /// A per-sample metadata field; None if the file does not carry it.
    pub fn column(&self, name: &str) -> Result<Option<RawColumn>> {
        self.meta(COL_META, name, self.n_samples, "samples")
    }

    /// A per-gene metadata field (e.g. `pr_gene_symbol`); None if absent.
    pub fn row_column(&self, name: &str) -> Result<Option<RawColumn>> {
        self.meta(ROW_META, name, self.n_genes, "genes")
    }

    /// Names of the per-gene metadata fields (besides `id`).
    pub fn row_column_names(&self) -> Result<Vec<String>> {
        let Ok(g) = self.file.group(ROW_META) else {
            return Ok(vec![]);
        };
        let mut names = g.member_names().map_err(|e| self.err(e))?;
        names.retain(|n| n != "id");
        // By name, whatever order the HDF5 release lists members in.
        names.sort();
        Ok(names)
    }

    fn meta(&self, group: &str, name: &str, n: usize, what_n: &str) -> Result<Option<RawColumn>> {
        let Ok(g) = self.file.group(group) else {
            return Ok(None);
        };
        if !g.link_exists(name) {
            return Ok(None);
        }
        let what = format!("/{group}/{name}");
        let ds = g
            .dataset(name)
            .map_err(|e| self.err(format!("{what}: {e}")))?;
        let col = hdf5_values::read_column(&ds).map_err(|e| self.err(format!("{what}: {e}")))?;
        // cmapPy writes missing metadata as -666 (or NA, NaN): missing here.
        let col = match col {
            RawColumn::Str(v) => RawColumn::Str(
                v.into_iter()
                    .map(|x| x.filter(|t| !crate::gct::missing(t)))
                    .collect(),
            ),
            RawColumn::Num(v) => RawColumn::Num(
                v.into_iter()
                    .map(|x| if x == -666.0 { f64::NAN } else { x })
                    .collect(),
            ),
            other => other,
        };
        if col.len() != n {
            return Err(self.err(format!("{what} has {} values for {n} {what_n}", col.len())));
        }
        Ok(Some(col))
    }

    /// The samples `rows` (ascending, in range) as CSR (exact zeros dropped),
    /// keeping the gene columns `genes` (ascending; all if None), reading
    /// whole-sample hyperslabs of at most `block_values` values. A non-finite
    /// value is an error naming the sample and gene.
    pub fn read_rows(
        &self,
        rows: &[usize],
        genes: Option<&[usize]>,
        block_values: usize,
    ) -> Result<CsrMatrix> {
        let m = self.n_genes;
        let all: Vec<usize>;
        let genes = match genes {
            Some(g) => {
                if let Some(&c) = g.iter().find(|&&c| c >= m) {
                    return Err(self.err(format!("gene column {c} is beyond the {m} genes")));
                }
                g
            }
            None => {
                all = (0..m).collect();
                &all
            }
        };
        let block_rows = (block_values / m.max(1)).max(1);
        let mut out = CsrBuilder::new(genes.len());
        if let Some(w) = rows.windows(2).find(|w| w[1] <= w[0]) {
            return Err(self.err(format!(
                "internal: rows must ascend ({} then {})",
                w[0], w[1]
            )));
        }
        if let Some(&r) = rows.last() {
            if r >= self.n_samples {
                return Err(self.err(format!(
                    "sample row {r} is beyond the {} samples of /{MATRIX}",
                    self.n_samples
                )));
            }
        }
        for span in spans(rows, |first, r| r < first + block_rows) {
            let (first, last) = (rows[span.start], rows[span.end - 1]);
            let block: Matrix = self
                .matrix
                .read_slice_2d::<f32, _>(s![first..last + 1, ..])
                .map_err(|e| self.err(format!("/{MATRIX}[{first}..{}]: {e}", last + 1)))?;
            for &r in &rows[span] {
                let row = block.row(r - first);
                for (j, &g) in genes.iter().enumerate() {
                    let v = row[g];
                    if !v.is_finite() {
                        return Err(self.err(format!(
                            "/{MATRIX}: value {v} at sample row {r}, gene column {g}"
                        )));
                    }
                    if v != 0.0 {
                        out.push(j as u32, v);
                    }
                }
                out.finish_row();
            }
        }
        out.build().map_err(|e| self.err(format!("/{MATRIX}: {e}")))
    }
}

/// Writes a gctx file the way cmapPy does (samples x genes f32 matrix, ids
/// and string metadata as fixed-length byte strings), chunked by blocks of
/// whole samples so large generated files stream. `fill(first, block)`
/// writes rows `first..first + block.nrows()`. Atomic: temporary, then rename.
pub fn write(
    path: &Path,
    sample_ids: &[String],
    gene_ids: &[String],
    sample_meta: &[(&str, &RawColumn)],
    block_rows: usize,
    fill: &mut dyn FnMut(usize, &mut Matrix),
) -> Result<()> {
    let err = |e: hdf5::Error| DataError::file(path, format!("writing gctx: {e}"));
    crate::fetch::atomic_write_at(path, "gctx", |tmp| {
        let f = File::create(tmp).map_err(err)?;
        let version = hdf5::types::VarLenAscii::from_ascii("GCTX1.0").expect("ascii");
        f.new_attr::<hdf5::types::VarLenAscii>()
            .create("version")
            .and_then(|a| a.write_scalar(&version))
            .map_err(err)?;
        let (n, m) = (sample_ids.len(), gene_ids.len());
        let block_rows = block_rows.clamp(1, n.max(1));
        let ds = f
            .new_dataset::<f32>()
            .chunk([block_rows, m.max(1)])
            .shape([n, m])
            .create(MATRIX)
            .map_err(err)?;
        let mut first = 0;
        while first < n {
            let rows = block_rows.min(n - first);
            let mut block = Matrix::zeros((rows, m));
            fill(first, &mut block);
            ds.write_slice(&block, s![first..first + rows, ..])
                .map_err(err)?;
            first += rows;
        }
        let write_strings = |group: &str, name: &str, v: &[Option<String>]| -> Result<()> {
            let fixed: Vec<hdf5::types::FixedAscii<64>> = v
                .iter()
                .map(|s| {
                    hdf5::types::FixedAscii::<64>::from_ascii(s.as_deref().unwrap_or("").as_bytes())
                        .map_err(|e| DataError::file(path, format!("{group}/{name}: {e}")))
                })
                .collect::<Result<_>>()?;
            f.new_dataset_builder()
                .with_data(&fixed)
                .create(format!("{group}/{name}").as_str())
                .map_err(err)?;
            Ok(())
        };
        let some = |v: &[String]| v.iter().cloned().map(Some).collect::<Vec<_>>();
        write_strings(COL_META, "id", &some(sample_ids))?;
        write_strings(ROW_META, "id", &some(gene_ids))?;
        for (name, col) in sample_meta {
            if col.len() != n {
                return Err(DataError::file(
                    path,
                    format!("metadata `{name}` has {} values for {n} samples", col.len()),
                ));
            }
            match col {
                RawColumn::Str(v) => write_strings(COL_META, name, v)?,
                RawColumn::Num(v) => {
                    f.new_dataset_builder()
                        .with_data(v)
                        .create(format!("{COL_META}/{name}").as_str())
                        .map_err(err)?;
                }
                RawColumn::Bool(v) => {
                    let v: Vec<bool> = v
                        .iter()
                        .map(|b| {
                            b.ok_or_else(|| {
                                DataError::file(
                                    path,
                                    format!("metadata `{name}`: a gctx holds no missing booleans"),
                                )
                            })
                        })
                        .collect::<Result<_>>()?;
                    f.new_dataset_builder()
                        .with_data(&v)
                        .create(format!("{COL_META}/{name}").as_str())
                        .map_err(err)?;
                }
            }
        }
        f.flush().map_err(err)?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(p: &str, n: usize) -> Vec<String> {
        (0..n).map(|i| format!("{p}{i}")).collect()
    }

    #[test]
    fn round_trip_in_blocks_with_metadata() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.gctx");
        let plate = RawColumn::Str((0..7).map(|i| Some(format!("P{}", i / 3))).collect());
        let dose = RawColumn::Num((0..7).map(|i| i as f64 * 0.5).collect());
        // value(i, g) = i * 10 + g, zero at (0, 0).
        write(
            &path,
            &ids("s", 7),
            &ids("g", 4),
            &[("det_plate", &plate), ("dose", &dose)],
            3,
            &mut |first, b| {
                for ((i, g), v) in b.indexed_iter_mut() {
                    *v = ((first + i) * 10 + g) as f32;
                }
            },
        )
        .unwrap();
        let g = Gctx::open(&path).unwrap();
        assert_eq!((g.n_samples(), g.n_genes()), (7, 4));
        assert_eq!(g.sample_ids().unwrap(), ids("s", 7));
        assert_eq!(g.gene_ids().unwrap(), ids("g", 4));
        assert_eq!(g.column_names().unwrap(), vec!["det_plate", "dose"]);
        assert_eq!(
            g.column("det_plate").unwrap().unwrap().text(6).unwrap(),
            "P2"
        );
        assert_eq!(g.column("dose").unwrap().unwrap().text(3).unwrap(), "1.5");
        assert!(g.column("absent").unwrap().is_none());
        // Blocks of 2 rows (8 values / 4 genes); rows spanning several blocks.
        let rows = [0, 2, 3, 6];
        let x = g.read_rows(&rows, None, 8).unwrap();
        assert_eq!(x.nrows, 4);
        assert_eq!(
            x.row(0).collect::<Vec<_>>(),
            vec![(1, 1.0), (2, 2.0), (3, 3.0)]
        );
        assert_eq!(
            x.row(3).collect::<Vec<_>>(),
            vec![(0, 60.0), (1, 61.0), (2, 62.0), (3, 63.0)]
        );
        let whole = g.read_rows(&rows, None, DEFAULT_BLOCK_VALUES).unwrap();
        assert_eq!(whole, x);
        let some = g.read_rows(&[2, 6], Some(&[1, 3]), 8).unwrap();
        assert_eq!(some.ncols, 2);
        assert_eq!(some.row(1).collect::<Vec<_>>(), vec![(0, 61.0), (1, 63.0)]);
        let e = g.read_rows(&[7], None, 8).unwrap_err().to_string();
        assert!(e.contains("sample row 7 is beyond the 7 samples"), "{e}");
    }

    #[test]
    fn reads_narrow_fixed_strings_as_cmappy_writes_them() {
        // cmapPy stores ids as numpy `S<n>` with n the longest id (here 2).
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.gctx");
        {
            let f = File::create(&path).unwrap();
            f.new_dataset_builder()
                .with_data(&ndarray::arr2(&[[0.5f32, 4.5], [1.5, f32::NAN]]))
                .create(MATRIX)
                .unwrap();
            let col: Vec<hdf5::types::FixedAscii<2>> = ["s1", "s2"]
                .iter()
                .map(|s| hdf5::types::FixedAscii::from_ascii(s.as_bytes()).unwrap())
                .collect();
            let row: Vec<hdf5::types::FixedAscii<4>> = ["g1", "g333"]
                .iter()
                .map(|s| hdf5::types::FixedAscii::from_ascii(s.as_bytes()).unwrap())
                .collect();
            f.new_dataset_builder()
                .with_data(&col)
                .create("0/META/COL/id")
                .unwrap();
            f.new_dataset_builder()
                .with_data(&row)
                .create("0/META/ROW/id")
                .unwrap();
        }
        let g = Gctx::open(&path).unwrap();
        assert_eq!(g.sample_ids().unwrap(), vec!["s1", "s2"]);
        assert_eq!(g.gene_ids().unwrap(), vec!["g1", "g333"]);
        assert_eq!(g.read_rows(&[0], None, 64).unwrap().data(), &[0.5, 4.5]);
        let e = g.read_rows(&[0, 1], None, 64).unwrap_err().to_string();
        assert!(
            e.contains("value NaN at sample row 1, gene column 1"),
            "{e}"
        );
    }

    #[test]
    fn a_file_that_is_not_gctx_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.gctx");
        File::create(&path).unwrap();
        let e = Gctx::open(&path).err().unwrap().to_string();
        assert!(
            e.contains("x.gctx: not a gctx file: no dataset `/0/DATA/0/matrix`"),
            "{e}"
        );
        std::fs::write(&path, b"truncated").unwrap();
        let e = Gctx::open(&path).err().unwrap().to_string();
        assert!(e.contains("not a readable HDF5/gctx file"), "{e}");
    }
}
