//! Compressed sparse row count matrices (never densified).

use crate::KernelError;

/// n x g sparse matrix in CSR layout with f32 values.
#[derive(Debug, Clone, PartialEq)]
pub struct CsrMatrix {
    pub nrows: usize,
    pub ncols: usize,
    /// nrows + 1 offsets into `indices` / `data`.
    pub indptr: Vec<u64>,
    pub indices: Vec<u32>,
    pub data: Vec<f32>,
}

impl CsrMatrix {
    /// Checks offsets, column bounds and finiteness; names the first bad entry.
    pub fn new(
        nrows: usize,
        ncols: usize,
        indptr: Vec<u64>,
        indices: Vec<u32>,
        data: Vec<f32>,
    ) -> Result<Self, KernelError> {
        if indptr.len() != nrows + 1 {
            return Err(KernelError::Shape(format!(
                "indptr has {} entries, expected nrows + 1 = {}",
                indptr.len(),
                nrows + 1
            )));
        }
        if indices.len() != data.len() || indptr[nrows] as usize != data.len() || indptr[0] != 0 {
            return Err(KernelError::Shape(format!(
                "indptr ends at {} but there are {} indices and {} values",
                indptr[nrows],
                indices.len(),
                data.len()
            )));
        }
        if let Some(w) = indptr.windows(2).position(|w| w[1] < w[0]) {
            return Err(KernelError::Shape(format!("indptr decreases at row {w}")));
        }
        if let Some(p) = indices.iter().position(|&c| c as usize >= ncols) {
            return Err(KernelError::Shape(format!(
                "column index {} at position {p} is out of range for {ncols} columns",
                indices[p]
            )));
        }
        if let Some(p) = data.iter().position(|v| !v.is_finite()) {
            let row = indptr.partition_point(|&o| o as usize <= p) - 1;
            return Err(KernelError::NonFinite {
                row,
                column: indices[p] as usize,
            });
        }
        Ok(Self {
            nrows,
            ncols,
            indptr,
            indices,
            data,
        })
    }

    /// Non-zero (column, value) pairs of row `i`.
    pub fn row(&self, i: usize) -> impl Iterator<Item = (usize, f32)> + '_ {
        let (a, b) = (self.indptr[i] as usize, self.indptr[i + 1] as usize);
        self.indices[a..b]
            .iter()
            .map(|&c| c as usize)
            .zip(self.data[a..b].iter().copied())
    }

    pub fn nnz(&self) -> usize {
        self.data.len()
    }

    /// Keeps the rows listed, in that order.
    pub fn select_rows(&self, rows: &[usize]) -> CsrMatrix {
        let mut indptr = Vec::with_capacity(rows.len() + 1);
        indptr.push(0u64);
        let mut indices = Vec::new();
        let mut data = Vec::new();
        for &r in rows {
            let (a, b) = (self.indptr[r] as usize, self.indptr[r + 1] as usize);
            indices.extend_from_slice(&self.indices[a..b]);
            data.extend_from_slice(&self.data[a..b]);
            indptr.push(data.len() as u64);
        }
        CsrMatrix {
            nrows: rows.len(),
            ncols: self.ncols,
            indptr,
            indices,
            data,
        }
    }

    /// Appends the rows of `other` (same number of columns).
    pub fn append_rows(&mut self, other: &CsrMatrix) -> Result<(), KernelError> {
        if other.ncols != self.ncols {
            return Err(KernelError::Shape(format!(
                "cannot stack {} columns under {}",
                other.ncols, self.ncols
            )));
        }
        let base = *self.indptr.last().unwrap();
        self.indptr
            .extend(other.indptr[1..].iter().map(|o| o + base));
        self.indices.extend_from_slice(&other.indices);
        self.data.extend_from_slice(&other.data);
        self.nrows += other.nrows;
        Ok(())
    }

    /// The g x n transpose (so rows of the result are the columns of self),
    /// with row indices ascending within each column.
    pub fn transpose(&self) -> CsrMatrix {
        let mut count = vec![0u64; self.ncols + 1];
        for &c in &self.indices {
            count[c as usize + 1] += 1;
        }
        for j in 0..self.ncols {
            count[j + 1] += count[j];
        }
        let mut next = count.clone();
        let mut indices = vec![0u32; self.nnz()];
        let mut data = vec![0f32; self.nnz()];
        for i in 0..self.nrows {
            for (c, v) in self.row(i) {
                let p = next[c] as usize;
                indices[p] = i as u32;
                data[p] = v;
                next[c] += 1;
            }
        }
        CsrMatrix {
            nrows: self.ncols,
            ncols: self.nrows,
            indptr: count,
            indices,
            data,
        }
    }

    /// `lognorm` = log1p(counts / rowsum * 1e4) of one count, given its row's sum.
    #[inline]
    pub fn lognorm_value(count: f32, row_total: f32) -> f32 {
        (count / row_total * 1e4).ln_1p()
    }

    /// `lognorm` = log1p(counts / rowsum * 1e4), row by row; rows summing to
    /// zero stay zero. The sparsity pattern is unchanged.
    pub fn lognorm(&self) -> CsrMatrix {
        self.clone().into_lognorm()
    }

    /// [`CsrMatrix::lognorm`] in place (no copy of the matrix).
    pub fn into_lognorm(mut self) -> CsrMatrix {
        for i in 0..self.nrows {
            let (a, b) = (self.indptr[i] as usize, self.indptr[i + 1] as usize);
            let total: f32 = self.data[a..b].iter().sum();
            if total > 0.0 {
                for v in &mut self.data[a..b] {
                    *v = Self::lognorm_value(*v, total);
                }
            }
        }
        self
    }

    /// Writes the `lognorm` of row `i` into `out` (length ncols, zeroed).
    pub fn lognorm_row_into(&self, i: usize, out: &mut [f64]) {
        let total: f32 = self.row(i).map(|(_, v)| v).sum();
        if total > 0.0 {
            for (j, v) in self.row(i) {
                out[j] = Self::lognorm_value(v, total) as f64;
            }
        }
    }

    /// Mean of `lognorm` = log1p(counts / rowsum * 1e4) per column, over all rows.
    /// Rows summing to zero contribute zeros.
    pub fn lognorm_column_means(&self) -> Vec<f64> {
        let mut sums = vec![0.0f64; self.ncols];
        for i in 0..self.nrows {
            let total: f64 = self.row(i).map(|(_, v)| v as f64).sum();
            if total <= 0.0 {
                continue;
            }
            for (c, v) in self.row(i) {
                sums[c] += (v as f64 / total * 1e4).ln_1p();
            }
        }
        let n = self.nrows.max(1) as f64;
        sums.iter().map(|s| s / n).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> CsrMatrix {
        // [[1, 0, 3], [0, 0, 0], [0, 2, 0]]
        CsrMatrix::new(3, 3, vec![0, 2, 2, 3], vec![0, 2, 1], vec![1.0, 3.0, 2.0]).unwrap()
    }

    #[test]
    fn rejects_bad_structure() {
        assert!(CsrMatrix::new(2, 2, vec![0, 1], vec![0], vec![1.0]).is_err());
        assert!(CsrMatrix::new(1, 2, vec![0, 1], vec![5], vec![1.0]).is_err());
        let e = CsrMatrix::new(2, 2, vec![0, 1, 2], vec![0, 1], vec![1.0, f32::NAN]).unwrap_err();
        assert_eq!(e, KernelError::NonFinite { row: 1, column: 1 });
    }

    #[test]
    fn lognorm_means_by_hand() {
        let m = small();
        let means = m.lognorm_column_means();
        let r0c0 = (1.0f64 / 4.0 * 1e4).ln_1p();
        let r0c2 = (3.0f64 / 4.0 * 1e4).ln_1p();
        let r2c1 = (1e4f64).ln_1p();
        assert!((means[0] - r0c0 / 3.0).abs() < 1e-12);
        assert!((means[1] - r2c1 / 3.0).abs() < 1e-12);
        assert!((means[2] - r0c2 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn lognorm_by_hand() {
        let l = small().lognorm();
        let want0 = vec![(0, (2500.0f32).ln_1p()), (2, (7500.0f32).ln_1p())];
        assert_eq!(l.row(0).collect::<Vec<_>>(), want0);
        assert_eq!(l.row(1).count(), 0);
        assert_eq!(l.row(2).collect::<Vec<_>>(), vec![(1, (1e4f32).ln_1p())]);
        let mut dense = vec![0.0; 3];
        small().lognorm_row_into(0, &mut dense);
        assert_eq!(dense, vec![(2500.0f32).ln_1p() as f64, 0.0, (7500.0f32).ln_1p() as f64]);
    }

    #[test]
    fn select_and_append() {
        let m = small();
        let s = m.select_rows(&[2, 0]);
        assert_eq!(s.row(0).collect::<Vec<_>>(), vec![(1, 2.0)]);
        assert_eq!(s.row(1).collect::<Vec<_>>(), vec![(0, 1.0), (2, 3.0)]);
        let mut a = m.select_rows(&[0]);
        a.append_rows(&m.select_rows(&[2])).unwrap();
        assert_eq!(a, s.select_rows(&[1, 0]));
    }

    #[test]
    fn transpose_by_hand() {
        let t = small().transpose();
        // Columns of [[1, 0, 3], [0, 0, 0], [0, 2, 0]].
        assert_eq!((t.nrows, t.ncols), (3, 3));
        assert_eq!(t.row(0).collect::<Vec<_>>(), vec![(0, 1.0)]);
        assert_eq!(t.row(1).collect::<Vec<_>>(), vec![(2, 2.0)]);
        assert_eq!(t.row(2).collect::<Vec<_>>(), vec![(0, 3.0)]);
        assert_eq!(t.transpose(), small());
    }
}
