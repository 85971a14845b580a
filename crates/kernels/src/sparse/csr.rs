//! Compressed sparse row count matrices (never densified). The arrays are
//! owned vectors or views of a memory-mapped count cache; column indices are
//! stored in the narrowest type that fits (u16 up to 65,536 columns, else u32).

use crate::sparse::buffer::{Buf, Plain};
use crate::KernelError;
use rayon::prelude::*;

/// A column index type of the CSR arrays.
pub trait ColumnIndex: Plain {
    fn at(self) -> usize;
}
impl ColumnIndex for u16 {
    #[inline(always)]
    fn at(self) -> usize {
        self as usize
    }
}
impl ColumnIndex for u32 {
    #[inline(always)]
    fn at(self) -> usize {
        self as usize
    }
}

/// Column indices in their stored width.
#[derive(Clone)]
pub enum Indices {
    U16(Buf<u16>),
    U32(Buf<u32>),
}

impl Indices {
    pub fn len(&self) -> usize {
        match self {
            Indices::U16(b) => b.len(),
            Indices::U32(b) => b.len(),
        }
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Bytes per stored index.
    pub fn width(&self) -> usize {
        match self {
            Indices::U16(_) => 2,
            Indices::U32(_) => 4,
        }
    }
    #[inline]
    pub fn get(&self, p: usize) -> usize {
        match self {
            Indices::U16(b) => b[p] as usize,
            Indices::U32(b) => b[p] as usize,
        }
    }
    /// Largest index, or None when empty.
    fn max(&self) -> Option<usize> {
        match self {
            Indices::U16(b) => b.iter().copied().max().map(|m| m as usize),
            Indices::U32(b) => b.iter().copied().max().map(|m| m as usize),
        }
    }
}

/// Borrowed CSR arrays with a concrete index type, for kernels that are
/// generic over it (see [`with_rows!`](crate::with_rows)).
#[derive(Clone, Copy)]
pub struct RowParts<'a, I> {
    pub indptr: &'a [u64],
    pub indices: &'a [I],
    pub data: &'a [f32],
}

impl<'a, I: ColumnIndex> RowParts<'a, I> {
    /// Column indices and values of row `i`.
    #[inline(always)]
    pub fn row(&self, i: usize) -> (&'a [I], &'a [f32]) {
        let (a, b) = (self.indptr[i] as usize, self.indptr[i + 1] as usize);
        (&self.indices[a..b], &self.data[a..b])
    }
}

pub enum Parts<'a> {
    U16(RowParts<'a, u16>),
    U32(RowParts<'a, u32>),
}

/// Runs `$body` with `$p` bound to the matrix's [`RowParts`] of its stored
/// index type: `with_rows!(matrix, p => kernel(&p))`.
#[macro_export]
macro_rules! with_rows {
    ($m:expr, $p:ident => $body:expr) => {
        match $m.parts() {
            $crate::sparse::csr::Parts::U16($p) => $body,
            $crate::sparse::csr::Parts::U32($p) => $body,
        }
    };
}

/// Non-zeros of one row, whatever the stored index width.
pub struct RowIter<'a> {
    indices: RowIndices<'a>,
    data: &'a [f32],
    pos: usize,
}

enum RowIndices<'a> {
    U16(&'a [u16]),
    U32(&'a [u32]),
}

impl Iterator for RowIter<'_> {
    type Item = (usize, f32);
    #[inline]
    fn next(&mut self) -> Option<(usize, f32)> {
        let v = *self.data.get(self.pos)?;
        let c = match self.indices {
            RowIndices::U16(s) => s[self.pos] as usize,
            RowIndices::U32(s) => s[self.pos] as usize,
        };
        self.pos += 1;
        Some((c, v))
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        let r = self.data.len() - self.pos;
        (r, Some(r))
    }
}

/// n x g sparse matrix in CSR layout with f32 values.
#[derive(Clone)]
pub struct CsrMatrix {
    pub nrows: usize,
    pub ncols: usize,
    indptr: Buf<u64>,
    indices: Indices,
    data: Buf<f32>,
}

impl std::fmt::Debug for CsrMatrix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "CsrMatrix({} x {}, {} non-zeros, {}-byte indices{})",
            self.nrows,
            self.ncols,
            self.nnz(),
            self.indices.width(),
            if self.data.is_shared() {
                ", mapped"
            } else {
                ""
            }
        )
    }
}

impl PartialEq for CsrMatrix {
    /// Equal shapes and entries (whatever the storage or index width).
    fn eq(&self, other: &Self) -> bool {
        self.nrows == other.nrows
            && self.ncols == other.ncols
            && *self.indptr == *other.indptr
            && *self.data == *other.data
            && (0..self.nnz()).all(|p| self.indices.get(p) == other.indices.get(p))
    }
}

/// Rows appended one at a time, then checked once by [`CsrBuilder::build`].
pub struct CsrBuilder {
    ncols: usize,
    indptr: Vec<u64>,
    indices: Vec<u32>,
    data: Vec<f32>,
}

impl CsrMatrix {
    /// From dense rows of `ncols` values each (zeros are not stored). Fails
    /// on a row of another length or a non-finite value.
    pub fn from_dense_rows<R: AsRef<[f32]>>(
        ncols: usize,
        rows: &[R],
    ) -> Result<CsrMatrix, KernelError> {
        let mut b = CsrBuilder::new(ncols);
        for (i, r) in rows.iter().enumerate() {
            let r = r.as_ref();
            if r.len() != ncols {
                return Err(KernelError::Shape(format!(
                    "row {i} has {} values, expected {ncols}",
                    r.len()
                )));
            }
            for (j, &v) in r.iter().enumerate() {
                if v != 0.0 {
                    b.push(j as u32, v);
                }
            }
            b.finish_row();
        }
        b.build()
    }
}

impl CsrBuilder {
    pub fn new(ncols: usize) -> Self {
        Self {
            ncols,
            indptr: vec![0],
            indices: vec![],
            data: vec![],
        }
    }
    /// Adds one entry to the current row.
    #[inline]
    pub fn push(&mut self, column: u32, value: f32) {
        self.indices.push(column);
        self.data.push(value);
    }
    /// Ends the current row.
    pub fn finish_row(&mut self) {
        self.indptr.push(self.data.len() as u64);
    }
    pub fn nrows(&self) -> usize {
        self.indptr.len() - 1
    }
    pub fn build(self) -> Result<CsrMatrix, KernelError> {
        CsrMatrix::new(
            self.nrows(),
            self.ncols,
            self.indptr,
            self.indices,
            self.data,
        )
    }
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
        let m = Self::from_parts(
            nrows,
            ncols,
            indptr.into(),
            Indices::U32(indices.into()),
            data.into(),
        )?;
        if let Some(p) = m.data.iter().position(|v| !v.is_finite()) {
            let row = m.indptr.partition_point(|&o| o as usize <= p) - 1;
            return Err(KernelError::NonFinite {
                row,
                column: m.indices.get(p),
            });
        }
        Ok(m)
    }

    /// Assembles a matrix from stored arrays (e.g. a memory-mapped cache),
    /// checking offsets and column bounds but not values (a cache checks
    /// values when it is written).
    pub fn from_parts(
        nrows: usize,
        ncols: usize,
        indptr: Buf<u64>,
        indices: Indices,
        data: Buf<f32>,
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
                "indptr runs from {} to {} but there are {} indices and {} values",
                indptr[0],
                indptr[nrows],
                indices.len(),
                data.len()
            )));
        }
        if let Some(w) = indptr.windows(2).position(|w| w[1] < w[0]) {
            return Err(KernelError::Shape(format!("indptr decreases at row {w}")));
        }
        if indices.max().is_some_and(|m| m >= ncols) {
            let p = (0..indices.len())
                .find(|&p| indices.get(p) >= ncols)
                .expect("an index is out of range");
            let row = indptr.partition_point(|&o| o as usize <= p) - 1;
            return Err(KernelError::Shape(format!(
                "column index {} at position {p} (row {row}) is out of range for {ncols} columns",
                indices.get(p)
            )));
        }
        Ok(Self {
            nrows,
            ncols,
            indptr,
            indices,
            data,
        })
    }

    /// An empty matrix with `ncols` columns.
    pub fn empty(ncols: usize) -> CsrMatrix {
        CsrMatrix {
            nrows: 0,
            ncols,
            indptr: vec![0u64].into(),
            indices: Indices::U32(Vec::new().into()),
            data: Vec::new().into(),
        }
    }

    pub fn indptr(&self) -> &[u64] {
        &self.indptr
    }
    pub fn data(&self) -> &[f32] {
        &self.data
    }
    pub fn indices(&self) -> &Indices {
        &self.indices
    }
    /// Whether the arrays view a memory-mapped cache rather than owned memory.
    pub fn is_mapped(&self) -> bool {
        self.data.is_shared()
    }

    /// The arrays with their concrete index type (see [`with_rows!`](crate::with_rows)).
    pub fn parts(&self) -> Parts<'_> {
        match &self.indices {
            Indices::U16(b) => Parts::U16(RowParts {
                indptr: &self.indptr,
                indices: b,
                data: &self.data,
            }),
            Indices::U32(b) => Parts::U32(RowParts {
                indptr: &self.indptr,
                indices: b,
                data: &self.data,
            }),
        }
    }

    /// Non-zero (column, value) pairs of row `i`.
    pub fn row(&self, i: usize) -> RowIter<'_> {
        let (a, b) = (self.indptr[i] as usize, self.indptr[i + 1] as usize);
        RowIter {
            indices: match &self.indices {
                Indices::U16(s) => RowIndices::U16(&s[a..b]),
                Indices::U32(s) => RowIndices::U32(&s[a..b]),
            },
            data: &self.data[a..b],
            pos: 0,
        }
    }

    pub fn nnz(&self) -> usize {
        self.data.len()
    }

    /// Gives back the resident pages of rows `r0..r1` of a memory-mapped
    /// matrix (see [`crate::sparse::buffer::MappedBytes::release`]); they stay
    /// readable. Passes over a mapped cache call this behind them, so their
    /// peak memory does not grow with the cache. No effect on owned arrays.
    pub fn release_rows(&self, r0: usize, r1: usize) {
        if r0 >= r1 || r1 > self.nrows {
            return;
        }
        let (a, b) = (self.indptr[r0] as usize, self.indptr[r1] as usize);
        match &self.indices {
            Indices::U16(s) => s.release(a, b),
            Indices::U32(s) => s.release(a, b),
        }
        self.data.release(a, b);
    }

    /// Keeps the rows listed, in that order.
    pub fn select_rows(&self, rows: &[usize]) -> CsrMatrix {
        fn pick<I: ColumnIndex>(
            p: &RowParts<'_, I>,
            rows: &[usize],
        ) -> (Vec<u64>, Vec<I>, Vec<f32>) {
            let total: usize = rows.iter().map(|&r| p.row(r).1.len()).sum();
            let mut indptr = Vec::with_capacity(rows.len() + 1);
            indptr.push(0u64);
            let mut indices = Vec::with_capacity(total);
            let mut data = Vec::with_capacity(total);
            for &r in rows {
                let (c, v) = p.row(r);
                indices.extend_from_slice(c);
                data.extend_from_slice(v);
                indptr.push(data.len() as u64);
            }
            (indptr, indices, data)
        }
        let (indptr, indices, data) = match self.parts() {
            Parts::U16(p) => {
                let (a, b, c) = pick(&p, rows);
                (a, Indices::U16(b.into()), c)
            }
            Parts::U32(p) => {
                let (a, b, c) = pick(&p, rows);
                (a, Indices::U32(b.into()), c)
            }
        };
        CsrMatrix {
            nrows: rows.len(),
            ncols: self.ncols,
            indptr: indptr.into(),
            indices,
            data: data.into(),
        }
    }

    /// Appends the rows of `other` (same number of columns). Indices widen
    /// to u32 when the two matrices store different widths.
    pub fn append_rows(&mut self, other: &CsrMatrix) -> Result<(), KernelError> {
        if other.ncols != self.ncols {
            return Err(KernelError::Shape(format!(
                "cannot stack {} columns under {}",
                other.ncols, self.ncols
            )));
        }
        let base = *self.indptr.last().unwrap();
        self.indptr
            .make_mut()
            .extend(other.indptr[1..].iter().map(|o| o + base));
        match (&mut self.indices, &other.indices) {
            (Indices::U16(a), Indices::U16(b)) => a.make_mut().extend_from_slice(b),
            (Indices::U32(a), Indices::U32(b)) => a.make_mut().extend_from_slice(b),
            (mine, theirs) => {
                let mut wide: Vec<u32> = (0..mine.len()).map(|p| mine.get(p) as u32).collect();
                wide.extend((0..theirs.len()).map(|p| theirs.get(p) as u32));
                *mine = Indices::U32(wide.into());
            }
        }
        self.data.make_mut().extend_from_slice(&other.data);
        self.nrows += other.nrows;
        Ok(())
    }

    /// The g x n transpose (so rows of the result are the columns of self),
    /// with row indices ascending within each column.
    pub fn transpose(&self) -> CsrMatrix {
        let mut count = vec![0u64; self.ncols + 1];
        for p in 0..self.nnz() {
            count[self.indices.get(p) + 1] += 1;
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
            indptr: count.into(),
            indices: Indices::U32(indices.into()),
            data: data.into(),
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
        let data = self.data.make_mut();
        for i in 0..self.nrows {
            let (a, b) = (self.indptr[i] as usize, self.indptr[i + 1] as usize);
            let total: f32 = data[a..b].iter().sum();
            if total > 0.0 {
                let mut row = LognormRow::new(total);
                for v in &mut data[a..b] {
                    *v = row.value(*v);
                }
            }
        }
        self
    }

    /// Each stored value replaced by `f(row, value)`, in place (no copy of
    /// the matrix; the sparsity pattern is unchanged, so `f` should keep
    /// zeros zero).
    pub fn into_mapped(mut self, f: impl Fn(usize, f32) -> f32) -> CsrMatrix {
        let data = self.data.make_mut();
        for i in 0..self.nrows {
            let (a, b) = (self.indptr[i] as usize, self.indptr[i + 1] as usize);
            for v in &mut data[a..b] {
                *v = f(i, *v);
            }
        }
        self
    }

    /// Writes the `lognorm` of row `i` into `out` (length ncols, zeroed).
    pub fn lognorm_row_into(&self, i: usize, out: &mut [f64]) {
        let total: f32 = self.row(i).map(|(_, v)| v).sum();
        if total > 0.0 {
            let mut row = LognormRow::new(total);
            for (j, v) in self.row(i) {
                out[j] = row.value(v) as f64;
            }
        }
    }

    /// Mean of `lognorm` = log1p(counts / rowsum * 1e4) per column, over all rows.
    /// Rows summing to zero contribute zeros.
    pub fn lognorm_column_means(&self) -> Vec<f64> {
        self.column_means_by_row(|total| {
            // In f64 from the f64 total; small whole counts computed once.
            let mut memo = WholeCountMemo::<f64>::default();
            move |v: f32| (total > 0.0).then(|| memo.get(v, || (v as f64 / total * 1e4).ln_1p()))
        })
    }

    /// Mean of the stored values per column, over all rows.
    pub fn column_means(&self) -> Vec<f64> {
        self.column_means_by_row(|_| |v: f32| Some(v as f64))
    }

    /// Column means of each row's values mapped by `row_values(row total)`
    /// (None adds nothing). Rows are summed in fixed chunks in parallel, the
    /// chunks' sums added in order (the result does not depend on the
    /// thread count), and a mapped matrix gives back each chunk's pages once
    /// it is summed.
    fn column_means_by_row<R: FnMut(f32) -> Option<f64>>(
        &self,
        row_values: impl Fn(f64) -> R + Sync,
    ) -> Vec<f64> {
        const CHUNK: usize = 1 << 14;
        let partial: Vec<Vec<f64>> = (0..self.nrows.div_ceil(CHUNK))
            .into_par_iter()
            .map(|c| {
                let (r0, r1) = (c * CHUNK, ((c + 1) * CHUNK).min(self.nrows));
                let mut sums = vec![0.0f64; self.ncols];
                with_rows!(self, p => {
                    for i in r0..r1 {
                        let (cols, vals) = p.row(i);
                        let total: f64 = vals.iter().map(|v| *v as f64).sum();
                        let mut value = row_values(total);
                        for (j, v) in cols.iter().zip(vals) {
                            if let Some(x) = value(*v) {
                                sums[j.at()] += x;
                            }
                        }
                    }
                });
                self.release_rows(r0, r1);
                sums
            })
            .collect();
        let mut sums = vec![0.0f64; self.ncols];
        for p in partial {
            for (s, v) in sums.iter_mut().zip(p) {
                *s += v;
            }
        }
        let n = self.nrows.max(1) as f64;
        sums.iter().map(|s| s / n).collect()
    }
}

/// Values of one row's whole counts from 1 to 63, each computed once (counts
/// are mostly 1, 2, 3...; a row of 1,000 non-zeros holds a few dozen
/// distinct ones). A value is computed by the same expression on the same
/// count either way, so it has the same bits.
pub struct WholeCountMemo<T> {
    /// Bit c set: `memo[c]` holds the value of count c.
    filled: u64,
    memo: [T; 64],
}

impl<T: Copy + Default> Default for WholeCountMemo<T> {
    fn default() -> Self {
        WholeCountMemo {
            filled: 0,
            memo: [T::default(); 64],
        }
    }
}

impl<T: Copy + Default> WholeCountMemo<T> {
    /// The value of `count`: `compute()` (which computes it from `count`
    /// alone) the first time a whole count is asked for, remembered after.
    #[inline]
    pub fn get(&mut self, count: f32, compute: impl FnOnce() -> T) -> T {
        // Saturating: negative and NaN counts give 0, huge ones u32::MAX;
        // both fail the range or the round-trip test and are computed.
        let c = count as u32;
        if (1..64).contains(&c) && c as f32 == count {
            let bit = 1u64 << c;
            if self.filled & bit == 0 {
                self.memo[c as usize] = compute();
                self.filled |= bit;
            }
            return self.memo[c as usize];
        }
        compute()
    }
}

/// The `lognorm` values of one row, given its total, in f32
/// ([`CsrMatrix::lognorm_value`]), small whole counts' values computed once.
pub struct LognormRow {
    total: f32,
    memo: WholeCountMemo<f32>,
}

impl LognormRow {
    pub fn new(total: f32) -> Self {
        LognormRow {
            total,
            memo: WholeCountMemo::default(),
        }
    }

    /// `lognorm` of a stored count of this row.
    #[inline]
    pub fn value(&mut self, count: f32) -> f32 {
        let total = self.total;
        self.memo
            .get(count, || CsrMatrix::lognorm_value(count, total))
    }
}

/// Random matrices for the tests of the sparse products.
#[cfg(test)]
pub(crate) mod testing {
    use super::{CsrBuilder, CsrMatrix};
    use ndarray::Array2;
    use rand::Rng;

    /// n x g: each cell that is not `skipped` holds a non-zero (a multiple
    /// of 0.5 from 0.5 to 4) with probability `density`, drawn from the
    /// stream `label`.
    pub fn random_csr(
        n: usize,
        g: usize,
        density: f64,
        seed: u64,
        label: &str,
        skipped: impl Fn(usize, usize) -> bool,
    ) -> CsrMatrix {
        let mut rng = crate::stats::rng::stream(seed, label, 0);
        let mut b = CsrBuilder::new(g);
        for i in 0..n {
            for c in 0..g {
                if !skipped(i, c) && rng.random::<f64>() < density {
                    b.push(c as u32, rng.random_range(1..9) as f32 * 0.5);
                }
            }
            b.finish_row();
        }
        b.build().unwrap()
    }

    /// `a` as a dense f64 matrix (repeated indices summed).
    pub fn dense(a: &CsrMatrix) -> Array2<f64> {
        let mut d = Array2::<f64>::zeros((a.nrows, a.ncols));
        for i in 0..a.nrows {
            for (c, v) in a.row(i) {
                d[[i, c]] += v as f64;
            }
        }
        d
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
        assert_eq!(
            dense,
            vec![(2500.0f32).ln_1p() as f64, 0.0, (7500.0f32).ln_1p() as f64]
        );
    }

    #[test]
    fn lognorm_row_memo_gives_the_same_bits() {
        // Whole counts inside and outside the memo's range, fractions,
        // zeros of both signs, negatives, NaN and infinity; each asked twice
        // (the second answer comes from the memo where it applies).
        let mut counts: Vec<f32> = (0..200).map(|k| k as f32 * 0.5).collect();
        counts.extend([-0.0, -1.0, -63.0, 63.0, 64.0, 1e9, f32::NAN, f32::INFINITY]);
        for total in [1.0f32, 37.0, 12345.0, 0.5] {
            let mut row = LognormRow::new(total);
            for _ in 0..2 {
                for &c in &counts {
                    let want = CsrMatrix::lognorm_value(c, total);
                    let got = row.value(c);
                    assert_eq!(got.to_bits(), want.to_bits(), "count {c}, total {total}");
                }
            }
        }
    }

    #[test]
    fn lognorm_column_means_are_the_direct_sums_bit_for_bit() {
        // Whole and half counts (the memo and the direct path), an empty row.
        let m = testing::random_csr(70, 9, 0.5, 3, "lognorm-means", |i, _| i == 4);
        let mut sums = vec![0f64; m.ncols];
        for i in 0..m.nrows {
            let total: f64 = m.row(i).map(|(_, v)| v as f64).sum();
            for (j, v) in m.row(i) {
                if total > 0.0 {
                    sums[j] += (v as f64 / total * 1e4).ln_1p();
                }
            }
        }
        let want: Vec<f64> = sums.iter().map(|s| s / m.nrows as f64).collect();
        assert_eq!(m.lognorm_column_means(), want);
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
