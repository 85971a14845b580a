//! A CSR matrix regrouped by column within blocks of [`BLOCK_ROWS`] rows:
//! one layout on which both sparse products of PCA run, so that neither
//! regroups non-zeros on every call.
//!
//! Each block of rows is stored as a small CSC: for each column, the
//! block's non-zeros in that column in row order, each as its row within
//! the block (one byte) and its value (f32). Building it is one counting
//! sort per block, paid once per matrix; randomized PCA then makes
//! 2 x (power iterations + 1) products over it. Any [`RowSource`] can be
//! regrouped, not only a CSR matrix: Task 6's decoder regroups each chunk
//! of training rows straight from the counts, `lognorm`ed on the way
//! ([`crate::sparse::expression_rows::ExpressionRows::chunk`]), into buffers it
//! reuses from chunk to chunk ([`ColumnBlocks::refill`]).
//! - `A^T M`: each column's output panel is summed in registers over the
//!   block's non-zeros in that column, gathering rows of the block's slice
//!   of `M` (64 x 64 x 8 bytes, in L1 cache). Each parallel task owns a
//!   range of columns whose output stays in L2 cache while every block
//!   passes, so there is no reduction between tasks.
//! - `A M`: for each column, its row of a panel of `M` is held in
//!   registers and added into the block's output rows (64 x 64 x 8 bytes,
//!   in L1 cache).
//!
//! Every output element is one chain of fused multiply-adds in a fixed
//! order: `A M` in column order within each row (the chain of
//! [`crate::sparse::spmm::csr_dot`] on rows with sorted indices), `A^T M` in row
//! order within each column. Neither depends on the number of threads.
//!
//! Measured on the bench's `spmm` case (50,000 x 8,000, 3,000 non-zeros per
//! row, 60 columns, 2 threads): the build takes 0.41-0.43 s, `A M` 0.262-
//! 0.266 s and `A^T M` 0.176-0.183 s, against 0.35-0.37 s and 0.51-0.52 s for
//! the CSR products. In a standalone probe of these loops, 32-row blocks
//! took 0.33 s, 0.26 s and 0.20 s, 128-row blocks 0.47 s, 0.29 s and 0.18 s;
//! visiting odd blocks' columns in reverse (so `M`'s last rows would still
//! be in L2 cache) and padding output rows against 4 KB aliasing changed
//! nothing. `A M` here is bound by its load, multiply-add and store per
//! vector: 3.3 ns per non-zero on one thread, scaling to two.

use crate::runtime::parallel::for_each_chunk_mut;
use crate::runtime::work::{Kernel, Work};
use crate::sparse::buffer::reuse_zeroed;
use crate::sparse::csr::{ColumnIndex, CsrMatrix};
use crate::sparse::spmm::{by_vectors, unpack_rows, AlignedF64, Panels, LANES, PANEL};
use crate::KernelError;
use faer::Par;
use ndarray::Array2;
use rayon::prelude::*;

/// Rows per block; a row's place in its block fits in one byte.
pub const BLOCK_ROWS: usize = 64;
/// Bytes of output one `A^T M` task keeps in L2 cache (2 MB here): its
/// range of columns of one panel.
const TASK_OUTPUT_BYTES: usize = 1 << 20;
/// Fewest expected non-zeros per column of a block for which regrouping
/// pays: each column with entries costs a load and a store of its output
/// panel in `A^T M` and a load of its row of `M` in `A M`. The bench's `pca`
/// case (200,000 x 2,000 at 5%, 3.2 per column of a block, 50 components)
/// took 6.65-6.71 s regrouped and 7.24-7.33 s over the CSR matrix.
pub const MIN_PER_BLOCK_COLUMN: f64 = 2.0;

/// Rows that can be regrouped by column: each row's kept entries, column
/// and value, in the same order whichever way they are asked for.
pub trait RowSource: Sync {
    fn nrows(&self) -> usize;
    fn ncols(&self) -> usize;
    /// Entries row `i` keeps.
    fn row_len(&self, i: usize) -> usize;
    /// Calls `f(column)` for each kept entry of row `i`; every column is
    /// below [`RowSource::ncols`].
    fn columns(&self, i: usize, f: impl FnMut(usize));
    /// Calls `f(column, value)` for each kept entry of row `i`, in the
    /// order of [`RowSource::columns`].
    fn entries(&self, i: usize, f: impl FnMut(usize, f32));
    /// Rows `i0..i1` have been read (a memory-mapped source may give back
    /// their pages).
    fn release(&self, i0: usize, i1: usize);
}

impl RowSource for CsrMatrix {
    fn nrows(&self) -> usize {
        self.nrows
    }
    fn ncols(&self) -> usize {
        self.ncols
    }
    fn row_len(&self, i: usize) -> usize {
        (self.indptr()[i + 1] - self.indptr()[i]) as usize
    }
    #[inline]
    fn columns(&self, i: usize, mut f: impl FnMut(usize)) {
        crate::with_rows!(self, p => p.row(i).0.iter().for_each(|c| f(c.at())))
    }
    #[inline]
    fn entries(&self, i: usize, mut f: impl FnMut(usize, f32)) {
        crate::with_rows!(self, p => {
            let (cols, vals) = p.row(i);
            cols.iter().zip(vals).for_each(|(c, v)| f(c.at(), *v))
        })
    }
    fn release(&self, i0: usize, i1: usize) {
        self.release_rows(i0, i1);
    }
}

/// A CSR matrix regrouped by column within blocks of [`BLOCK_ROWS`] rows.
///
/// Invariants (established by [`ColumnBlocks::refill`], relied on by the
/// products' unchecked reads): block `b` has `ncols + 1`
/// non-decreasing `starts` from 0 to its entry count; every entry's row is
/// below the block's row count; `first` has one more value than there are
/// blocks and its last is the entry count.
pub struct ColumnBlocks {
    nrows: usize,
    ncols: usize,
    /// `ncols + 1` offsets per block into the block's entries.
    starts: Vec<u32>,
    /// Index of each block's first entry in `rows` and `values`.
    first: Vec<usize>,
    /// Row within its block of each entry.
    rows: Vec<u8>,
    values: Vec<f32>,
}

impl ColumnBlocks {
    /// Bytes the regrouped copy of `a` takes.
    pub fn bytes_for(a: &CsrMatrix) -> usize {
        let blocks = a.nrows.div_ceil(BLOCK_ROWS);
        a.nnz() * 5 + blocks * (a.ncols + 1) * 4 + (blocks + 1) * 8
    }

    /// Whether `a` is dense enough for regrouping to pay (see
    /// [`MIN_PER_BLOCK_COLUMN`]).
    pub fn pays_for(a: &CsrMatrix) -> bool {
        Self::pays_for_counts(a.nnz(), a.nrows, a.ncols)
    }

    /// [`ColumnBlocks::pays_for`] a matrix of `nrows x ncols` holding `nnz`
    /// non-zeros.
    pub fn pays_for_counts(nnz: usize, nrows: usize, ncols: usize) -> bool {
        let cells = nrows as f64 * ncols as f64;
        cells > 0.0 && BLOCK_ROWS as f64 * nnz as f64 / cells >= MIN_PER_BLOCK_COLUMN
    }

    pub fn nrows(&self) -> usize {
        self.nrows
    }

    pub fn ncols(&self) -> usize {
        self.ncols
    }

    pub fn nnz(&self) -> usize {
        self.values.len()
    }

    /// Regroups `a`, blocks in parallel.
    pub fn from_csr(a: &CsrMatrix) -> Result<Self, KernelError> {
        let mut blocks = Self::empty();
        blocks.refill(a)?;
        Ok(blocks)
    }

    /// A copy of no rows, to [`ColumnBlocks::refill`].
    pub fn empty() -> Self {
        ColumnBlocks {
            nrows: 0,
            ncols: 0,
            starts: Vec::new(),
            first: vec![0],
            rows: Vec::new(),
            values: Vec::new(),
        }
    }

    /// Regroups `src` into this copy, reusing its buffers (a stream of
    /// chunks of similar size allocates, and the kernel zeroes fresh pages,
    /// only once); blocks in parallel. On error the copy holds no rows.
    pub fn refill(&mut self, src: &impl RowSource) -> Result<(), KernelError> {
        let (nrows, ncols) = (src.nrows(), src.ncols());
        // The buffers to reuse; until the fill ends the copy holds no rows.
        let Self {
            starts,
            rows,
            values,
            mut first,
            ..
        } = std::mem::replace(self, Self::empty());
        let blocks = nrows.div_ceil(BLOCK_ROWS);
        let lens: Vec<usize> = (0..blocks)
            .into_par_iter()
            .map(|b| {
                (b * BLOCK_ROWS..((b + 1) * BLOCK_ROWS).min(nrows))
                    .map(|i| src.row_len(i))
                    .sum()
            })
            .collect();
        if let Some(b) = lens.iter().position(|&l| l > u32::MAX as usize) {
            return Err(KernelError::Shape(format!(
                "rows {} to {} hold more than {} non-zeros; cannot regroup them by column",
                b * BLOCK_ROWS,
                ((b + 1) * BLOCK_ROWS).min(nrows) - 1,
                u32::MAX
            )));
        }
        first.clear();
        first.push(0);
        for l in &lens {
            first.push(first[first.len() - 1] + l);
        }
        let nnz = first[blocks];
        // Each block zeroes its own offsets and writes every one of its
        // entries below, so reused buffers keep what they hold, and new
        // ones come zeroed by the allocator (not written here, on one
        // thread: that took a third of the bench's 0.41 s build).
        let mut starts = reuse_zeroed(starts, blocks * (ncols + 1));
        let mut rows = reuse_zeroed(rows, nnz);
        let mut values = reuse_zeroed(values, nnz);
        // Each block's own slices of the three arrays, for parallel filling.
        let mut parts = Vec::with_capacity(blocks);
        {
            let (mut st, mut ro, mut va): (&mut [u32], &mut [u8], &mut [f32]) =
                (&mut starts, &mut rows[..nnz], &mut values[..nnz]);
            for b in 0..blocks {
                let len = first[b + 1] - first[b];
                let (s, st_rest) = st.split_at_mut(ncols + 1);
                let (r, ro_rest) = ro.split_at_mut(len);
                let (v, va_rest) = va.split_at_mut(len);
                parts.push((b, s, r, v));
                (st, ro, va) = (st_rest, ro_rest, va_rest);
            }
        }
        parts.into_par_iter().for_each_init(
            || vec![0u32; ncols],
            |cursor, (b, starts, entry_rows, values)| {
                let span = b * BLOCK_ROWS..((b + 1) * BLOCK_ROWS).min(nrows);
                starts.fill(0);
                for i in span.clone() {
                    src.columns(i, |c| starts[c + 1] += 1);
                }
                for c in 0..ncols {
                    starts[c + 1] += starts[c];
                }
                cursor.copy_from_slice(&starts[..ncols]);
                for i in span.clone() {
                    let row = (i - span.start) as u8;
                    src.entries(i, |c, v| {
                        let slot = &mut cursor[c];
                        entry_rows[*slot as usize] = row;
                        values[*slot as usize] = v;
                        *slot += 1;
                    });
                }
                // Each column's range was written through exactly, so no
                // entry holds a row left from an earlier fill (the
                // products read rows unchecked).
                assert!(
                    cursor.iter().zip(&starts[1..]).all(|(c, e)| c == e),
                    "a row source gave other entries than it counted"
                );
                // The products read only the copy: a memory-mapped source's
                // pages for these rows need not stay resident.
                src.release(span.start, span.end);
            },
        );
        *self = Self {
            nrows,
            ncols,
            starts,
            first,
            rows,
            values,
        };
        Ok(())
    }

    /// Block `b`'s column offsets, rows and values.
    fn block(&self, b: usize) -> (&[u32], &[u8], &[f32]) {
        let (s, e) = (self.first[b], self.first[b + 1]);
        (
            &self.starts[b * (self.ncols + 1)..(b + 1) * (self.ncols + 1)],
            &self.rows[s..e],
            &self.values[s..e],
        )
    }

    fn blocks(&self) -> usize {
        self.first.len() - 1
    }

    /// Each column's sum, in f64, added in row order (so the same bits as
    /// a column of `A^T 1`); columns as `par` says.
    pub fn column_sums(&self, par: Par) -> Vec<f64> {
        let mut sums = vec![0f64; self.ncols];
        let task = self
            .ncols
            .div_ceil(4 * crate::runtime::parallel::threads(par))
            .max(1);
        for_each_chunk_mut(par, &mut sums, task, |t, out| {
            let c0 = t * task;
            for b in 0..self.blocks() {
                let (starts, _, values) = self.block(b);
                for (k, sum) in out.iter_mut().enumerate() {
                    let (s, e) = (starts[c0 + k] as usize, starts[c0 + k + 1] as usize);
                    for v in &values[s..e] {
                        *sum += *v as f64;
                    }
                }
            }
        });
        sums
    }

    /// `A M` for a dense `M` (ncols x l).
    /// Blocks of rows run as `par` says; the product is recorded in `work`.
    pub fn dot(&self, m: &Array2<f64>, par: Par, work: &Work) -> Array2<f64> {
        work.timed(Kernel::SparseProduct, || {
            work.add_flops(2 * self.nnz() * m.ncols());
            self.dot_untimed(m, par)
        })
    }

    fn dot_untimed(&self, m: &Array2<f64>, par: Par) -> Array2<f64> {
        assert_eq!(self.ncols, m.nrows(), "A M: inner sizes differ");
        let packed = Panels::from_array(m, PANEL);
        let lpad: usize = packed.panels.iter().map(|p| p.1).sum();
        let mut out = AlignedF64::zeros(self.nrows * lpad);
        if lpad > 0 {
            for_each_chunk_mut(par, &mut out[..], BLOCK_ROWS * lpad, |b, block| {
                let (starts, rows, values) = self.block(b);
                for &(c0, w, off) in &packed.panels {
                    let mp = &packed.data[off..off + self.ncols * w];
                    add_into_rows(&mut block[c0..], lpad, starts, rows, values, mp, w);
                }
            });
        }
        unpack_rows(&out, m.ncols(), self.nrows)
    }

    /// `A^T M` for a dense `M` (nrows x l).
    /// Columns run as `par` says; the product is recorded in `work`.
    pub fn t_dot(&self, m: &Array2<f64>, par: Par, work: &Work) -> Array2<f64> {
        work.timed(Kernel::SparseProduct, || {
            assert_eq!(self.nrows, m.nrows(), "A^T M: row counts differ");
            let packed = Panels::from_array(m, PANEL);
            let mut out = Panels::zeros(self.ncols, m.ncols(), PANEL);
            self.t_dot_panels(&packed, &mut out, par, work);
            out.unpack()
        })
    }

    /// `out += A^T M` for `M` packed in [`PANEL`]-wide panels and `out`
    /// (ncols x l) laid out the same way; its operations are recorded in
    /// `work` (the caller times it).
    pub(crate) fn t_dot_panels(&self, packed: &Panels, out: &mut Panels, par: Par, work: &Work) {
        assert_eq!(self.nrows, packed.rows, "A^T M: row counts differ");
        assert_eq!(
            (out.rows, out.cols, out.panels.len()),
            (self.ncols, packed.cols, packed.panels.len()),
            "A^T M: output shape"
        );
        assert!(
            out.panels
                .iter()
                .zip(&packed.panels)
                .all(|(o, p)| o.1 == p.1),
            "A^T M: output panels as wide as M's"
        );
        work.add_flops(2 * self.nnz() * packed.cols);
        let tasks_per_thread = 4;
        let Panels {
            panels: out_panels,
            data: out_data,
            ..
        } = out;
        for (&(_, w, off), &(_, _, out_off)) in packed.panels.iter().zip(out_panels.iter()) {
            let task_cols = (TASK_OUTPUT_BYTES / (w * 8))
                .min(
                    self.ncols
                        .div_ceil(tasks_per_thread * crate::runtime::parallel::threads(par)),
                )
                .max(1);
            for_each_chunk_mut(
                par,
                &mut out_data[out_off..out_off + self.ncols * w],
                task_cols * w,
                |t, o| {
                    let c0 = t * task_cols;
                    let c1 = c0 + o.len() / w;
                    for b in 0..self.blocks() {
                        let (starts, rows, values) = self.block(b);
                        let r0 = b * BLOCK_ROWS;
                        let r1 = (r0 + BLOCK_ROWS).min(self.nrows);
                        let mb = &packed.data[off + r0 * w..off + r1 * w];
                        sum_block_columns(o, &starts[c0..=c1], rows, values, mb, w);
                    }
                },
            );
        }
    }
}

/// A CSR matrix as sparse products read it: regrouped by column where that
/// pays ([`ColumnBlocks::pays_for`]) and the copy fits a limit in bytes,
/// else the CSR matrix itself (no memory beyond it).
pub enum SparseProducts<'a> {
    Csr(&'a CsrMatrix),
    Regrouped(ColumnBlocks),
}

impl<'a> SparseProducts<'a> {
    pub fn new(a: &'a CsrMatrix, limit_bytes: usize) -> Result<Self, KernelError> {
        Ok(
            if ColumnBlocks::pays_for(a) && ColumnBlocks::bytes_for(a) <= limit_bytes {
                SparseProducts::Regrouped(ColumnBlocks::from_csr(a)?)
            } else {
                SparseProducts::Csr(a)
            },
        )
    }

    /// Each column's sum, in f64, added in row order.
    pub fn column_sums(&self, par: Par) -> Vec<f64> {
        match self {
            SparseProducts::Csr(a) => {
                let mut sums = vec![0f64; a.ncols];
                for i in 0..a.nrows {
                    for (c, v) in a.row(i) {
                        sums[c] += v as f64;
                    }
                }
                sums
            }
            SparseProducts::Regrouped(b) => b.column_sums(par),
        }
    }

    /// `A M`, run as `par` says and recorded in `work`.
    pub fn dot(&self, m: &Array2<f64>, par: Par, work: &Work) -> Array2<f64> {
        match self {
            SparseProducts::Csr(a) => crate::sparse::spmm::csr_dot(a, m, par, work),
            SparseProducts::Regrouped(b) => b.dot(m, par, work),
        }
    }

    /// `A^T M`, run as `par` says and recorded in `work`.
    pub fn t_dot(&self, m: &Array2<f64>, par: Par, work: &Work) -> Array2<f64> {
        match self {
            SparseProducts::Csr(a) => crate::sparse::spmm::csr_t_dot(a, m, par, work),
            SparseProducts::Regrouped(b) => b.t_dot(m, par, work),
        }
    }
}

/// For each column `c` with entries: `out[r * stride..][..w] += v * m[c]`
/// over its (r, v), in order. `w` is a multiple of [`LANES`], at most
/// [`PANEL`].
#[inline(always)]
fn add_into_rows_portable(
    out: &mut [f64],
    stride: usize,
    starts: &[u32],
    rows: &[u8],
    values: &[f32],
    m: &[f64],
    w: usize,
) {
    for c in 0..starts.len() - 1 {
        let mc = &m[c * w..c * w + w];
        for j in starts[c] as usize..starts[c + 1] as usize {
            let (r, v) = (rows[j] as usize, values[j] as f64);
            for (o, x) in out[r * stride..r * stride + w].iter_mut().zip(mc) {
                *o = x.mul_add(v, *o);
            }
        }
    }
}

/// For each column `c` of `starts` (one more offset than columns):
/// `out[c * w..][..w] += v * m[r]` over its entries (r, v), in order.
#[inline(always)]
pub(crate) fn sum_columns_portable(
    out: &mut [f64],
    starts: &[u32],
    rows: &[u8],
    values: &[f32],
    m: &[f64],
    w: usize,
) {
    for c in 0..starts.len() - 1 {
        let o = &mut out[c * w..c * w + w];
        for j in starts[c] as usize..starts[c + 1] as usize {
            let (r, v) = (rows[j] as usize, values[j] as f64);
            for (a, x) in o.iter_mut().zip(&m[r * w..r * w + w]) {
                *a = x.mul_add(v, *a);
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::LANES;
    use std::arch::x86_64::*;

    /// [`super::add_into_rows_portable`] with `N` vectors per row.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn add_into_rows<const N: usize>(
        out: &mut [f64],
        stride: usize,
        starts: &[u32],
        rows: &[u8],
        values: &[f32],
        m: &[f64],
    ) {
        let w = N * LANES;
        let (o, mp) = (out.as_mut_ptr(), m.as_ptr());
        for c in 0..starts.len() - 1 {
            let (s, e) = (*starts.get_unchecked(c), *starts.get_unchecked(c + 1));
            if s == e {
                continue;
            }
            let mut mc = [_mm512_setzero_pd(); N];
            for (k, x) in mc.iter_mut().enumerate() {
                *x = _mm512_loadu_pd(mp.add(c * w + k * LANES));
            }
            for j in s as usize..e as usize {
                let row = o.add(*rows.get_unchecked(j) as usize * stride);
                let v = _mm512_set1_pd(*values.get_unchecked(j) as f64);
                for (k, x) in mc.iter().enumerate() {
                    let p = row.add(k * LANES);
                    _mm512_storeu_pd(p, _mm512_fmadd_pd(*x, v, _mm512_loadu_pd(p)));
                }
            }
        }
    }

    /// [`super::sum_columns_portable`] with `N` vectors of accumulators.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn sum_columns<const N: usize>(
        out: &mut [f64],
        starts: &[u32],
        rows: &[u8],
        values: &[f32],
        m: &[f64],
    ) {
        let w = N * LANES;
        let mp = m.as_ptr();
        for c in 0..starts.len() - 1 {
            let (s, e) = (*starts.get_unchecked(c), *starts.get_unchecked(c + 1));
            if s == e {
                continue;
            }
            let o = out.as_mut_ptr().add(c * w);
            let mut acc = [_mm512_setzero_pd(); N];
            for (k, a) in acc.iter_mut().enumerate() {
                *a = _mm512_loadu_pd(o.add(k * LANES));
            }
            for j in s as usize..e as usize {
                let row = mp.add(*rows.get_unchecked(j) as usize * w);
                let v = _mm512_set1_pd(*values.get_unchecked(j) as f64);
                for (k, a) in acc.iter_mut().enumerate() {
                    *a = _mm512_fmadd_pd(_mm512_loadu_pd(row.add(k * LANES)), v, *a);
                }
            }
            for (k, a) in acc.iter().enumerate() {
                _mm512_storeu_pd(o.add(k * LANES), *a);
            }
        }
    }
}

/// Checks, cheaply, that a block's offsets end within its entries. The
/// rest of what the unchecked loops read through (offsets that do not
/// decrease, entries' rows within the block) holds for a [`ColumnBlocks`]
/// block by the type's invariant; [`check_rows`] checks it for others.
fn check_ends(starts: &[u32], rows: &[u8], values: &[f32]) {
    assert!(!starts.is_empty());
    assert_eq!(rows.len(), values.len());
    assert!(starts[starts.len() - 1] as usize <= rows.len());
    assert!(starts[0] as usize <= rows.len());
}

/// For blocks not built by [`ColumnBlocks`]: the offsets do not decrease
/// and every entry they cover has a row below `row_limit`.
fn check_rows(starts: &[u32], rows: &[u8], row_limit: usize) {
    assert!(starts.windows(2).all(|p| p[0] <= p[1]));
    let (first, end) = (starts[0] as usize, starts[starts.len() - 1] as usize);
    assert!(rows[first..end].iter().all(|&r| (r as usize) < row_limit));
}

fn add_into_rows(
    out: &mut [f64],
    stride: usize,
    starts: &[u32],
    rows: &[u8],
    values: &[f32],
    m: &[f64],
    w: usize,
) {
    #[cfg(target_arch = "x86_64")]
    if crate::sparse::spmm::has_avx512() {
        use avx512::add_into_rows as f;
        check_ends(starts, rows, values);
        let block_rows = out.len().div_ceil(stride);
        assert!(block_rows == 0 || (block_rows - 1) * stride + w <= out.len());
        assert!((starts.len() - 1) * w <= m.len());
        debug_assert!(rows.iter().all(|&r| (r as usize) < block_rows));
        // SAFETY: AVX-512F is present. Offsets are non-decreasing (the
        // invariant of `ColumnBlocks`) and end within the entries; every
        // entry's row is below the block's row count (same invariant), so
        // each row of `out` read and written is in `out`; each column's row
        // of `m` is in `m` (asserted).
        unsafe { by_vectors!(w, f(out, stride, starts, rows, values, m)) };
        return;
    }
    add_into_rows_portable(out, stride, starts, rows, values, m, w)
}

/// [`sum_columns_portable`], with AVX-512 where the processor has it.
///
/// # Safety
/// The offsets do not decrease and end within the entries, every entry
/// they cover has a row of `m` in `m`, and `out` holds every column.
unsafe fn sum_columns_unchecked(
    out: &mut [f64],
    starts: &[u32],
    rows: &[u8],
    values: &[f32],
    m: &[f64],
    w: usize,
) {
    #[cfg(target_arch = "x86_64")]
    if crate::sparse::spmm::has_avx512() {
        use avx512::sum_columns as f;
        // SAFETY: AVX-512F is present; the rest is the caller's promise.
        unsafe { by_vectors!(w, f(out, starts, rows, values, m)) };
        return;
    }
    sum_columns_portable(out, starts, rows, values, m, w)
}

/// One block of a [`ColumnBlocks`], summed by column into `out`.
fn sum_block_columns(
    out: &mut [f64],
    starts: &[u32],
    rows: &[u8],
    values: &[f32],
    m: &[f64],
    w: usize,
) {
    check_ends(starts, rows, values);
    assert!((starts.len() - 1) * w <= out.len());
    debug_assert!(rows.iter().all(|&r| (r as usize + 1) * w <= m.len()));
    // SAFETY: offsets are non-decreasing and every entry's row is below the
    // block's row count, whose rows `m` holds (the invariants of
    // `ColumnBlocks`); the offsets end within the entries and `out` holds
    // every column (asserted).
    unsafe { sum_columns_unchecked(out, starts, rows, values, m, w) }
}

/// [`sum_columns_portable`], with AVX-512 where the processor has it, for a
/// block regrouped elsewhere (`spmm::csr_t_dot` regroups one per call):
/// checks everything the unchecked loops read through.
pub(crate) fn sum_columns(
    out: &mut [f64],
    starts: &[u32],
    rows: &[u8],
    values: &[f32],
    m: &[f64],
    w: usize,
) {
    check_ends(starts, rows, values);
    check_rows(starts, rows, m.len() / w);
    assert!((starts.len() - 1) * w <= out.len());
    // SAFETY: all of the function's requirements are asserted above.
    unsafe { sum_columns_unchecked(out, starts, rows, values, m, w) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sparse::spmm::{csr_dot, csr_t_dot};
    use rand::Rng;

    use crate::sparse::csr::testing::dense;

    /// Row 5 stays empty, and column 3 is never set.
    fn random_csr(n: usize, g: usize, density: f64, seed: u64) -> CsrMatrix {
        let holes = |i: usize, c: usize| i == 5 || c == 3;
        crate::sparse::csr::testing::random_csr(n, g, density, seed, "column-blocks-test", holes)
    }

    fn worst(a: &Array2<f64>, b: &Array2<f64>) -> f64 {
        (a - b).iter().fold(0.0f64, |m, x| m.max(x.abs()))
    }

    /// Rows across several blocks and a partial last block, an empty row and
    /// an empty column, widths around the lane and panel sizes: both
    /// products equal the dense ones, and `A M` gives the same bits as the
    /// CSR product (the same chain of multiply-adds on sorted rows).
    #[test]
    fn products_equal_dense_and_csr_at_every_width() {
        let a = random_csr(3 * BLOCK_ROWS + 17, 70, 0.3, 1);
        let blocks = ColumnBlocks::from_csr(&a).unwrap();
        assert_eq!(blocks.nnz(), a.nnz());
        let ad = dense(&a);
        let mut rng = crate::stats::rng::stream(2, "column-blocks-m", 0);
        for l in [1usize, 7, 8, 9, 60, 64, 65, 130] {
            let mg = Array2::from_shape_simple_fn((a.ncols, l), || rng.random::<f64>() - 0.5);
            let mn = Array2::from_shape_simple_fn((a.nrows, l), || rng.random::<f64>() - 0.5);
            let got = blocks.dot(&mg, Par::rayon(0), &Work::new());
            assert!(worst(&got, &ad.dot(&mg)) < 1e-10, "A M, l = {l}");
            assert_eq!(
                got,
                csr_dot(&a, &mg, Par::rayon(0), &Work::new()),
                "A M bits, l = {l}"
            );
            let got_t = blocks.t_dot(&mn, Par::rayon(0), &Work::new());
            assert!(worst(&got_t, &ad.t().dot(&mn)) < 1e-10, "A^T M, l = {l}");
            assert!(
                worst(&got_t, &csr_t_dot(&a, &mn, Par::rayon(0), &Work::new())) < 1e-10,
                "A^T M vs CSR, l = {l}"
            );
        }
    }

    /// Rows whose indices are out of order or repeated are still summed in
    /// full.
    #[test]
    fn unsorted_and_repeated_indices_are_summed_in_full() {
        let indptr: Vec<u64> = vec![0, 3, 3, 6];
        let idx: Vec<u32> = vec![4, 1, 4, 0, 2, 0];
        let data: Vec<f32> = vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        let a = CsrMatrix::new(3, 5, indptr, idx, data).unwrap();
        let blocks = ColumnBlocks::from_csr(&a).unwrap();
        let m = Array2::from_shape_fn((5, 2), |(i, j)| (i * 2 + j) as f64 + 1.0);
        let want = dense(&a).dot(&m);
        assert!(worst(&blocks.dot(&m, Par::rayon(0), &Work::new()), &want) < 1e-12);
        // Row 0: 1 * m[4] + 2 * m[1] + 3 * m[4] = 4 * (9, 10) + 2 * (3, 4).
        assert_eq!(
            blocks.dot(&m, Par::rayon(0), &Work::new()).row(0).to_vec(),
            vec![42.0, 48.0]
        );
        let mn = Array2::from_shape_fn((3, 2), |(i, j)| (i + j) as f64 + 0.5);
        let want_t = dense(&a).t().dot(&mn);
        assert!(worst(&blocks.t_dot(&mn, Par::rayon(0), &Work::new()), &want_t) < 1e-12);
        // Column 0: 4 * mn[2] + 6 * mn[2] = 10 * (2.5, 3.5).
        assert_eq!(
            blocks
                .t_dot(&mn, Par::rayon(0), &Work::new())
                .row(0)
                .to_vec(),
            vec![25.0, 35.0]
        );
    }

    /// The same bits with 1 and 3 threads (tasks own columns, no reduction).
    #[test]
    fn products_do_not_depend_on_threads() {
        let a = random_csr(5 * BLOCK_ROWS + 3, 300, 0.2, 3);
        let blocks = ColumnBlocks::from_csr(&a).unwrap();
        let mut rng = crate::stats::rng::stream(4, "column-blocks-m", 0);
        let mg = Array2::from_shape_simple_fn((a.ncols, 60), || rng.random::<f64>() - 0.5);
        let mn = Array2::from_shape_simple_fn((a.nrows, 60), || rng.random::<f64>() - 0.5);
        let run = |threads: usize, par: Par| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| {
                let b = ColumnBlocks::from_csr(&a).unwrap();
                let w = Work::new();
                (b.dot(&mg, par, &w), b.t_dot(&mn, par, &w))
            })
        };
        // One thread, three threads, and sequential kernels: the same bits.
        let (one, three, seq) = (
            run(1, Par::rayon(0)),
            run(3, Par::rayon(0)),
            run(3, Par::Seq),
        );
        assert_eq!(one, three);
        assert_eq!(one, seq);
        assert_eq!(one.0, blocks.dot(&mg, Par::rayon(0), &Work::new()));
    }

    #[test]
    fn portable_and_dispatched_loops_agree_bit_for_bit() {
        let a = random_csr(BLOCK_ROWS + 9, 40, 0.4, 5);
        let blocks = ColumnBlocks::from_csr(&a).unwrap();
        let mut rng = crate::stats::rng::stream(6, "column-blocks-m", 0);
        for w in [8usize, 24, 64] {
            for b in 0..blocks.blocks() {
                let (starts, rows, values) = blocks.block(b);
                let block_rows = (a.nrows - b * BLOCK_ROWS).min(BLOCK_ROWS);
                let m: Vec<f64> = (0..a.ncols * w)
                    .map(|_| rng.random::<f64>() - 0.5)
                    .collect();
                let stride = w + 8;
                let mut x = vec![0.25; block_rows * stride];
                let mut y = x.clone();
                add_into_rows(&mut x, stride, starts, rows, values, &m, w);
                add_into_rows_portable(&mut y, stride, starts, rows, values, &m, w);
                assert_eq!(x, y);
                let mb: Vec<f64> = (0..block_rows * w)
                    .map(|_| rng.random::<f64>() - 0.5)
                    .collect();
                let mut x = vec![0.5; a.ncols * w];
                let mut y = x.clone();
                sum_columns(&mut x, starts, rows, values, &mb, w);
                sum_columns_portable(&mut y, starts, rows, values, &mb, w);
                assert_eq!(x, y);
            }
        }
    }

    #[test]
    fn column_sums_equal_a_transpose_ones_bit_for_bit() {
        // Rows spanning several blocks, an empty row and an empty column.
        for (seed, g) in [(11u64, 30usize), (12, 7)] {
            let a = random_csr(3 * BLOCK_ROWS + 5, g, 0.35, seed);
            let ones = Array2::<f64>::ones((a.nrows, 1));
            let want: Vec<f64> = csr_t_dot(&a, &ones, Par::rayon(0), &Work::new())
                .column(0)
                .to_vec();
            let regrouped = SparseProducts::new(&a, usize::MAX).unwrap();
            assert!(matches!(regrouped, SparseProducts::Regrouped(_)));
            assert_eq!(regrouped.column_sums(Par::rayon(0)), want);
            assert_eq!(
                SparseProducts::new(&a, 0)
                    .unwrap()
                    .column_sums(Par::rayon(0)),
                want
            );
        }
        let a = CsrMatrix::new(
            3,
            4,
            vec![0u64, 2, 2, 5],
            vec![3u32, 0, 3, 3, 1],
            vec![1.5, 2.0, 0.25, 4.0, 8.0],
        )
        .unwrap();
        let want = vec![2.0, 8.0, 0.0, 5.75];
        assert_eq!(
            ColumnBlocks::from_csr(&a)
                .unwrap()
                .column_sums(Par::rayon(0)),
            want
        );
        assert_eq!(SparseProducts::Csr(&a).column_sums(Par::rayon(0)), want);
    }

    #[test]
    fn size_and_density_rules() {
        let a = random_csr(2 * BLOCK_ROWS + 1, 50, 0.3, 7);
        let blocks = ColumnBlocks::from_csr(&a).unwrap();
        let held = blocks.rows.len()
            + blocks.values.len() * 4
            + blocks.starts.len() * 4
            + blocks.first.len() * 8;
        assert_eq!(ColumnBlocks::bytes_for(&a), held);
        // 64 rows x 0.3 is about 19 per column of a block.
        assert!(ColumnBlocks::pays_for(&a));
        assert!(!ColumnBlocks::pays_for(&random_csr(100, 50, 0.01, 8)));
        let empty = CsrMatrix::new(0, 4, vec![0u64], Vec::<u32>::new(), vec![]).unwrap();
        assert!(!ColumnBlocks::pays_for(&empty));
        let b = ColumnBlocks::from_csr(&empty).unwrap();
        assert_eq!(
            b.dot(&Array2::zeros((4, 3)), Par::rayon(0), &Work::new())
                .dim(),
            (0, 3)
        );
        assert_eq!(
            b.t_dot(&Array2::zeros((0, 3)), Par::rayon(0), &Work::new()),
            Array2::<f64>::zeros((4, 3))
        );
    }
}
