//! Sparse x dense products: `A M` and `A^T M` for a CSR `A` (n x g) and a
//! dense f64 `M`, the heavy kernels of sparse PCA. PCA runs them over a copy
//! regrouped by column ([`crate::sparse::column_blocks`]) where it pays and fits its
//! memory limit, and over the CSR matrix here otherwise.
//!
//! Both keep their sums in registers. `M` (or the output) is split into
//! panels of at most [`PANEL`] columns, and each panel's accumulators are
//! one row of at most eight 8-lane vectors:
//! - `A M`: for each row of `A`, a panel of the output row is summed over
//!   the row's non-zeros (`out[i] += v * M[c]`), then stored once. Where
//!   rows are dense enough, rows are taken [`BLOCKED_ROWS`] at a time and
//!   genes a block at a time, so the gene block's slice of `M` is read from
//!   L1 cache; each row's output panel is then loaded and stored once per
//!   gene block, continuing the same chain of multiply-adds.
//! - `A^T M`: rows are taken [`BLOCK`] at a time and their non-zeros
//!   regrouped by column (a counting sort of the block), so each column's
//!   panel of the output is loaded once, summed over the block's rows in
//!   that column (`out[c] += v * M[i]`, with the block's rows of `M` in
//!   L1/L2 cache), and stored once.
//!
//! Every output element is a chain of fused multiply-adds in a fixed order
//! (row order, and for `A^T M` fixed chunks of [`CHUNK_ROWS`] rows summed in
//! order), computed with AVX-512 where the processor has it and by the same
//! fused operations otherwise, so results do not depend on the machine or
//! on the number of threads.

use crate::runtime::parallel::{for_each_chunk_mut, map_slice};
use crate::runtime::work::{Kernel, Work};
use crate::sparse::column_blocks::sum_columns;
use crate::sparse::csr::{ColumnIndex, CsrMatrix, RowParts};
use faer::Par;
use ndarray::Array2;

/// f64 lanes in one vector register.
pub(crate) const LANES: usize = 8;
/// Columns per register tile of `A^T M`: eight vectors.
pub(crate) const PANEL: usize = 8 * LANES;
/// Columns per panel of `M` in `A M`: two vectors, so that a panel of a
/// many-gene `M` (8,000 x 16 x 8 bytes = 1 MB) stays in L2 cache while
/// every row of `A` passes over it. Wider panels (one pass over `A`) wait
/// on L3: 50,000 x 8,000 at 3,000 non-zeros per row with 60 columns took
/// 1.84 s with one 64-wide panel, 0.65 s with 16-wide ones, 0.83 s with
/// 32-wide ones.
const GATHER_PANEL: usize = 2 * LANES;
/// Rows per parallel task in `A M`.
const GATHER_ROWS: usize = 256;
/// Rows per parallel task of the gene-blocked `A M` (their output panels,
/// 64 x 64 x 8 bytes, stay in L1/L2 cache). On the bench's `spmm` case
/// 64 rows took 0.48-0.55 s, 256 rows 0.53-0.56 s, 1,024 rows 0.61-0.72 s;
/// with cache-line-aligned panels, 32 rows 0.39-0.41 s, 64 rows
/// 0.36-0.38 s, 128 rows 0.42 s.
const BLOCKED_ROWS: usize = 64;
/// Bytes of one gene block's slice of a panel of `M` in the gene-blocked
/// `A M`: within L1 cache (48 KB here). Same case: 8 KB 0.55 s, 16 KB
/// 0.48 s, 24 KB 0.52 s, 32 KB 0.55 s; aligned, 8 KB 0.45 s, 12 KB 0.41 s,
/// 16 KB 0.36-0.38 s, 24 KB 0.44 s, 32 KB 0.45 s.
const GENE_BLOCK_BYTES: usize = 16 * 1024;
/// Fewest expected non-zeros per row and gene block for the gene-blocked
/// `A M`; sparser rows pay more for the per-block bookkeeping than the L1
/// cache saves (50,000 x 8,000, 60 columns: 3,000 non-zeros per row 0.48 s
/// blocked vs 0.65 s not; 1,000 per row 0.26-0.29 s vs 0.26 s; 300 per row
/// 0.17-0.20 s vs 0.10 s).
const MIN_SEGMENT: f64 = 8.0;
/// Rows of `A` regrouped by column at a time in `A^T M`: the block's rows
/// of a panel of `M` (32 x 64 x 8 bytes) stay in L1 cache. Same matrix:
/// 0.57 s with 32 rows, 0.60 s with 64, 0.90 s with 256; aligned, 0.53 s
/// with 32 and 64 rows, 0.55 s with 128, and 0.61-0.63 s with 32-column
/// panels instead of 64. The regrouping alone (no sums) takes 0.26 s of
/// the 0.53 s. Regrouping a gene block at a time (each block's rows cut
/// at 32-column boundaries, as in `A M`) gave the same sums in 0.67 s.
const BLOCK: usize = 32;
// A row's place in its block is stored in one byte.
const _: () = assert!(BLOCK <= 256);
/// Rows per partial sum in `A^T M`; fixed so results do not depend on threads.
pub const CHUNK_ROWS: usize = 4096;

/// One cache line of f64s, so a vector of them starts on a line boundary.
#[derive(Clone, Copy, Default)]
#[repr(C, align(64))]
struct Line([f64; LANES]);

/// Zeroed f64s starting on a cache-line boundary, so that every
/// [`LANES`]-wide load at a multiple of [`LANES`] reads one line, not two.
///
/// The allocator gives large `Vec<f64>`s 16-byte alignment, so every
/// 8-lane load of a panel row straddled two cache lines. With panels and
/// the output on line boundaries, `A M` on the bench's `spmm` case (50,000 x
/// 8,000, 3,000 non-zeros per row, 60 columns) went from 0.42-0.46 s to
/// 0.36-0.37 s.
pub(crate) struct AlignedF64 {
    lines: Vec<Line>,
    len: usize,
}

impl AlignedF64 {
    pub(crate) fn zeros(len: usize) -> Self {
        Self {
            lines: vec![Line([0.0; LANES]); len.div_ceil(LANES)],
            len,
        }
    }

    /// `len` values in this allocation where it holds them (contents kept,
    /// growth zeroed), else in a new zeroed one.
    fn reuse(self, len: usize) -> Self {
        Self {
            lines: crate::sparse::buffer::reuse_zeroed(self.lines, len.div_ceil(LANES)),
            len,
        }
    }
}

impl std::ops::Deref for AlignedF64 {
    type Target = [f64];
    fn deref(&self) -> &[f64] {
        // SAFETY: `Line` is `repr(C)` f64s with no padding, so the lines are
        // `lines.len() * LANES` contiguous f64s, and `zeros` keeps `len` at
        // most that.
        unsafe { std::slice::from_raw_parts(self.lines.as_ptr().cast(), self.len) }
    }
}

impl std::ops::DerefMut for AlignedF64 {
    fn deref_mut(&mut self) -> &mut [f64] {
        // SAFETY: as for `deref`, borrowed mutably.
        unsafe { std::slice::from_raw_parts_mut(self.lines.as_mut_ptr().cast(), self.len) }
    }
}

/// A dense row-major matrix split into column panels, each zero-padded to a
/// multiple of [`LANES`]: panel `p` holds `rows x width(p)` values, row-major.
pub(crate) struct Panels {
    pub(crate) rows: usize,
    pub(crate) cols: usize,
    pub(crate) data: AlignedF64,
    /// (first column, padded width, offset in `data`) of each panel.
    pub(crate) panels: Vec<(usize, usize, usize)>,
}

impl Panels {
    fn layout(rows: usize, cols: usize, panel: usize) -> Vec<(usize, usize, usize)> {
        let mut out = Vec::new();
        let (mut c0, mut off) = (0, 0);
        while c0 < cols {
            let w = (cols - c0).min(panel).div_ceil(LANES) * LANES;
            out.push((c0, w, off));
            off += rows * w;
            c0 += panel;
        }
        out
    }

    /// Values the panels of `layout` hold over `rows` rows.
    fn data_len(panels: &[(usize, usize, usize)], rows: usize) -> usize {
        panels
            .last()
            .map(|&(_, w, off)| off + rows * w)
            .unwrap_or(0)
    }

    pub(crate) fn zeros(rows: usize, cols: usize, panel: usize) -> Self {
        let panels = Self::layout(rows, cols, panel);
        Self {
            rows,
            cols,
            data: AlignedF64::zeros(Self::data_len(&panels, rows)),
            panels,
        }
    }

    /// Panels of no rows, to [`Panels::pack`] or [`Panels::zero`] into.
    pub(crate) fn empty() -> Self {
        Self::zeros(0, 0, PANEL)
    }

    /// This buffer, laid out for `rows x cols` (its allocation reused
    /// where it holds them; contents unspecified).
    fn relayout(&mut self, rows: usize, cols: usize, panel: usize) {
        let panels = Self::layout(rows, cols, panel);
        let data = std::mem::replace(&mut self.data, AlignedF64::zeros(0));
        *self = Self {
            rows,
            cols,
            data: data.reuse(Self::data_len(&panels, rows)),
            panels,
        };
    }

    /// Packs row-major `m` (`rows x cols`) into this buffer, reusing it;
    /// padding columns are zeroed.
    pub(crate) fn pack(&mut self, m: &[f64], rows: usize, cols: usize, panel: usize) {
        assert_eq!(m.len(), rows * cols, "pack: {rows} x {cols} values");
        self.relayout(rows, cols, panel);
        for &(c0, w, off) in &self.panels {
            let take = (cols - c0).min(w);
            for r in 0..rows {
                let dst = &mut self.data[off + r * w..off + (r + 1) * w];
                dst[..take].copy_from_slice(&m[r * cols + c0..r * cols + c0 + take]);
                dst[take..].fill(0.0);
            }
        }
    }

    /// Zeroes this buffer, laid out for `rows x cols`, reusing it.
    pub(crate) fn zero(&mut self, rows: usize, cols: usize, panel: usize) {
        self.relayout(rows, cols, panel);
        self.data.fill(0.0);
    }

    /// Adds the `rows x cols` matrix these panels hold into `out`.
    pub(crate) fn add_to(&self, out: &mut Array2<f64>) {
        assert_eq!(out.dim(), (self.rows, self.cols), "add_to: shapes differ");
        for &(c0, w, off) in &self.panels {
            let take = (self.cols - c0).min(w);
            for r in 0..self.rows {
                let src = &self.data[off + r * w..off + r * w + take];
                for (o, v) in out
                    .row_mut(r)
                    .slice_mut(ndarray::s![c0..c0 + take])
                    .iter_mut()
                    .zip(src)
                {
                    *o += v;
                }
            }
        }
    }

    pub(crate) fn from_array(m: &Array2<f64>, panel: usize) -> Self {
        let (rows, cols) = m.dim();
        let m = m.as_standard_layout();
        let mut p = Self::empty();
        p.pack(m.as_slice().expect("standard layout"), rows, cols, panel);
        p
    }

    pub(crate) fn unpack(&self) -> Array2<f64> {
        let mut out = Array2::<f64>::zeros((self.rows, self.cols));
        let os = out.as_slice_mut().expect("standard layout");
        for &(c0, w, off) in &self.panels {
            let take = (self.cols - c0).min(w);
            for r in 0..self.rows {
                os[r * self.cols + c0..r * self.cols + c0 + take]
                    .copy_from_slice(&self.data[off + r * w..off + r * w + take]);
            }
        }
        out
    }
}

/// `out[0..w] += v * m[c * w..]` for each non-zero (c, v), in order,
/// continuing the chain of fused multiply-adds already in `out` (zeros for
/// a whole row's panel of `A M`). `w` is a multiple of [`LANES`], at most
/// [`PANEL`].
#[inline(always)]
fn gather_accumulate_portable<I: ColumnIndex>(
    out: &mut [f64],
    cols: &[I],
    vals: &[f32],
    m: &[f64],
    w: usize,
) {
    let out = &mut out[..w];
    for (c, v) in cols.iter().zip(vals) {
        let (c, v) = (c.at(), *v as f64);
        for (a, x) in out.iter_mut().zip(&m[c * w..c * w + w]) {
            *a = x.mul_add(v, *a);
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::{ColumnIndex, LANES};
    use std::arch::x86_64::*;

    /// [`super::gather_accumulate_portable`] with `N` vectors of accumulators.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn gather_accumulate<I: ColumnIndex, const N: usize>(
        out: &mut [f64],
        cols: &[I],
        vals: &[f32],
        m: &[f64],
    ) {
        let w = N * LANES;
        debug_assert!(out.len() >= w);
        let o = out.as_mut_ptr();
        let mut acc = [_mm512_setzero_pd(); N];
        for (k, a) in acc.iter_mut().enumerate() {
            *a = _mm512_loadu_pd(o.add(k * LANES));
        }
        let base = m.as_ptr();
        for (c, v) in cols.iter().zip(vals) {
            let c = c.at();
            debug_assert!(c * w + w <= m.len());
            let row = base.add(c * w);
            let vv = _mm512_set1_pd(*v as f64);
            for (k, a) in acc.iter_mut().enumerate() {
                *a = _mm512_fmadd_pd(_mm512_loadu_pd(row.add(k * LANES)), vv, *a);
            }
        }
        for (k, a) in acc.iter().enumerate() {
            _mm512_storeu_pd(o.add(k * LANES), *a);
        }
    }
}

#[cfg(target_arch = "x86_64")]
pub(crate) fn has_avx512() -> bool {
    std::arch::is_x86_feature_detected!("avx512f")
}

/// Calls `$f::<N>` for the number of vectors `$w / LANES` (1 to 8).
macro_rules! by_vectors {
    ($w:expr, $f:ident $(<$pre:ty>)? ($($arg:expr),*)) => {
        match $w / LANES {
            1 => $f::<$($pre,)? 1>($($arg),*),
            2 => $f::<$($pre,)? 2>($($arg),*),
            3 => $f::<$($pre,)? 3>($($arg),*),
            4 => $f::<$($pre,)? 4>($($arg),*),
            5 => $f::<$($pre,)? 5>($($arg),*),
            6 => $f::<$($pre,)? 6>($($arg),*),
            7 => $f::<$($pre,)? 7>($($arg),*),
            _ => $f::<$($pre,)? 8>($($arg),*),
        }
    };
}
pub(crate) use by_vectors;

fn gather_accumulate<I: ColumnIndex>(
    out: &mut [f64],
    cols: &[I],
    vals: &[f32],
    m: &[f64],
    w: usize,
) {
    #[cfg(target_arch = "x86_64")]
    if has_avx512() {
        use avx512::gather_accumulate as g;
        assert!(out.len() >= w);
        // SAFETY: the processor has AVX-512F (checked above); `out` holds
        // `w` values and every column index is below the matrix's width, so
        // each row read is in `m`.
        unsafe { by_vectors!(w, g<I>(out, cols, vals, m)) };
        return;
    }
    gather_accumulate_portable(out, cols, vals, m, w)
}

/// A M for CSR A (n x g) and dense M (g x l).
/// Blocks of rows run as `par` says (the same bits either way); the product
/// is recorded in `work`.
pub fn csr_dot(a: &CsrMatrix, m: &Array2<f64>, par: Par, work: &Work) -> Array2<f64> {
    work.timed(Kernel::SparseProduct, || {
        work.add_flops(2 * a.nnz() * m.ncols());
        csr_dot_untimed(a, m, par)
    })
}

fn csr_dot_untimed(a: &CsrMatrix, m: &Array2<f64>, par: Par) -> Array2<f64> {
    assert_eq!(a.ncols, m.nrows(), "A M: inner sizes differ");
    let gene_block = gene_block(m.ncols());
    let per_segment =
        a.nnz() as f64 / a.nrows.max(1) as f64 * gene_block as f64 / a.ncols.max(1) as f64;
    if per_segment >= MIN_SEGMENT {
        let packed = Panels::from_array(m, PANEL);
        let flat =
            crate::with_rows!(a, p => dot_parts_blocked(&p, a.nrows, &packed, gene_block, par));
        return unpack_rows(&flat, m.ncols(), a.nrows);
    }
    let packed = Panels::from_array(m, GATHER_PANEL);
    let out = crate::with_rows!(a, p => dot_parts(&p, a.nrows, &packed, par));
    out.unpack()
}

/// Genes per block of the gene-blocked `A M` for an `M` of `l` columns:
/// one panel's slice of them fills [`GENE_BLOCK_BYTES`].
fn gene_block(l: usize) -> usize {
    let widest = l.clamp(1, PANEL).div_ceil(LANES) * LANES;
    (GENE_BLOCK_BYTES / (widest * 8)).max(LANES)
}

/// `n x l` from the `n x lpad` row-major layout of [`dot_parts_blocked`]:
/// its panels are [`PANEL`] wide (the last padded to [`LANES`]), so a
/// panel's first column is also its offset within a row.
pub(crate) fn unpack_rows(flat: &[f64], cols: usize, nrows: usize) -> Array2<f64> {
    let mut out = Array2::<f64>::zeros((nrows, cols));
    if nrows == 0 || cols == 0 {
        return out;
    }
    let lpad = flat.len() / nrows;
    for (o, f) in out
        .as_slice_mut()
        .expect("standard layout")
        .chunks_mut(cols)
        .zip(flat.chunks(lpad))
    {
        o.copy_from_slice(&f[..cols]);
    }
    out
}

fn dot_parts<I: ColumnIndex>(a: &RowParts<'_, I>, nrows: usize, m: &Panels, par: Par) -> Panels {
    let mut out = Panels::zeros(nrows, m.cols, GATHER_PANEL);
    // Panel by panel (each of M's panels stays in L2 cache while every row
    // passes), rows in parallel blocks.
    let mut rest: &mut [f64] = &mut out.data;
    for &(_, w, off) in &m.panels {
        let (mine, tail) = rest.split_at_mut(nrows * w);
        rest = tail;
        let mp = &m.data[off..off + m.rows * w];
        for_each_chunk_mut(par, mine, GATHER_ROWS * w, |b, rows| {
            for (k, row) in rows.chunks_mut(w).enumerate() {
                let (cols, vals) = a.row(b * GATHER_ROWS + k);
                gather_accumulate(row, cols, vals, mp, w);
            }
        });
    }
    out
}

/// `A M` with `M`'s rows taken a gene block at a time: for a block of
/// [`BLOCKED_ROWS`] rows of `A`, each gene block's slice of a panel of `M`
/// (at most [`GENE_BLOCK_BYTES`]) stays in L1 cache while the block's rows
/// add their non-zeros in that gene range into their output panel, which
/// is loaded and stored once per segment. Returns `n x lpad` row-major,
/// panel after panel within a row.
///
/// Each row's non-zeros are still taken in stored order (a cursor per row
/// that only moves forward; the last gene block takes whatever is left), so
/// every output is the same chain of fused multiply-adds as
/// [`dot_parts`]'s, and unsorted rows are still summed in full.
fn dot_parts_blocked<I: ColumnIndex>(
    a: &RowParts<'_, I>,
    nrows: usize,
    m: &Panels,
    gene_block: usize,
    par: Par,
) -> AlignedF64 {
    let lpad: usize = m.panels.iter().map(|p| p.1).sum();
    let mut out = AlignedF64::zeros(nrows * lpad);
    if lpad == 0 {
        return out;
    }
    for_each_chunk_mut(par, &mut out[..], BLOCKED_ROWS * lpad, |b, block| {
        let r0 = b * BLOCKED_ROWS;
        let rows = block.len() / lpad;
        let mut cursor = vec![0usize; rows];
        let mut end = vec![0usize; rows];
        let mut g0 = 0;
        while g0 < m.rows {
            let g1 = (g0 + gene_block).min(m.rows);
            for (r, e) in end.iter_mut().enumerate() {
                let cols = a.row(r0 + r).0;
                let s = cursor[r];
                *e = if g1 == m.rows {
                    cols.len()
                } else {
                    // At most one entry per gene of the block when the
                    // row is sorted; any end keeps the sum complete.
                    let window = &cols[s..(s + (g1 - g0)).min(cols.len())];
                    s + window.partition_point(|c| c.at() < g1)
                };
            }
            for &(c0, w, off) in &m.panels {
                let mp = &m.data[off..off + m.rows * w];
                for r in 0..rows {
                    let (s, e) = (cursor[r], end[r]);
                    if s == e {
                        continue;
                    }
                    let (cols, vals) = a.row(r0 + r);
                    let o = &mut block[r * lpad + c0..r * lpad + c0 + w];
                    gather_accumulate(o, &cols[s..e], &vals[s..e], mp, w);
                }
            }
            cursor.copy_from_slice(&end);
            g0 = g1;
        }
    });
    out
}

/// A^T M for CSR A (n x g) and dense M (n x l), summed in fixed row chunks.
/// Chunks of rows run as `par` says (added in order: the same bits either
/// way); the product is recorded in `work`.
pub fn csr_t_dot(a: &CsrMatrix, m: &Array2<f64>, par: Par, work: &Work) -> Array2<f64> {
    assert_eq!(a.nrows, m.nrows(), "A^T M: row counts differ");
    work.timed(Kernel::SparseProduct, || {
        let packed = Panels::from_array(m, PANEL);
        work.add_flops(2 * a.nnz() * m.ncols());
        let out = crate::with_rows!(a, p => t_dot_parts(&p, a.nrows, a.ncols, &packed, par));
        out.unpack()
    })
}

/// One chunk's A^T M, in the panel layout of a `g x l` matrix.
fn t_dot_chunk<I: ColumnIndex>(
    a: &RowParts<'_, I>,
    rows: std::ops::Range<usize>,
    ncols: usize,
    m: &Panels,
    out: &mut Panels,
) {
    let mut starts = vec![0u32; ncols + 1];
    // The block's non-zeros regrouped by column: row within the block and
    // value, summed by the loop PCA's regrouped copy uses.
    let (mut entry_rows, mut entry_values) = (Vec::<u8>::new(), Vec::<f32>::new());
    let mut fill = vec![0u32; ncols];
    let mut r0 = rows.start;
    while r0 < rows.end {
        let r1 = (r0 + BLOCK).min(rows.end);
        // Counting sort of the block's non-zeros by column, rows in order.
        starts.iter_mut().for_each(|s| *s = 0);
        for i in r0..r1 {
            for c in a.row(i).0 {
                starts[c.at() + 1] += 1;
            }
        }
        for c in 0..ncols {
            starts[c + 1] += starts[c];
        }
        let total = starts[ncols] as usize;
        entry_rows.resize(total, 0);
        entry_values.resize(total, 0.0);
        fill.copy_from_slice(&starts[..ncols]);
        for i in r0..r1 {
            let (cols, v) = a.row(i);
            for (c, x) in cols.iter().zip(v) {
                let slot = &mut fill[c.at()];
                entry_rows[*slot as usize] = (i - r0) as u8;
                entry_values[*slot as usize] = *x;
                *slot += 1;
            }
        }
        for (&(_, w, off), &(_, _, out_off)) in m.panels.iter().zip(&out.panels) {
            // The block's rows of this panel of M are contiguous.
            let block_m = &m.data[off + r0 * w..off + r1 * w];
            let o = &mut out.data[out_off..out_off + ncols * w];
            sum_columns(o, &starts, &entry_rows, &entry_values, block_m, w);
        }
        r0 = r1;
    }
}

fn t_dot_parts<I: ColumnIndex>(
    a: &RowParts<'_, I>,
    nrows: usize,
    ncols: usize,
    m: &Panels,
    par: Par,
) -> Panels {
    let starts: Vec<usize> = (0..nrows).step_by(CHUNK_ROWS).collect();
    let mut total = Panels::zeros(ncols, m.cols, PANEL);
    // Chunks are computed a group at a time and added in order, so memory
    // holds one partial per thread, not one per chunk.
    let group = crate::runtime::parallel::threads(par) * 2;
    for batch in starts.chunks(group) {
        let partials: Vec<Panels> = map_slice(par, batch, |&s| {
            let mut part = Panels::zeros(ncols, m.cols, PANEL);
            t_dot_chunk(a, s..(s + CHUNK_ROWS).min(nrows), ncols, m, &mut part);
            part
        });
        for p in partials {
            for (t, x) in total.data.iter_mut().zip(p.data.iter()) {
                *t += x;
            }
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng;

    use crate::sparse::csr::testing::dense;

    fn random_csr(n: usize, g: usize, density: f64, seed: u64) -> CsrMatrix {
        crate::sparse::csr::testing::random_csr(n, g, density, seed, "spmm-test", |_, _| false)
    }

    /// Widths around the panel and lane sizes, rows across blocks and
    /// chunks, an empty row and an empty column: both products equal the
    /// dense ones, and the portable loops give the same bits as the
    /// dispatched ones.
    #[test]
    fn products_equal_dense_at_every_panel_width() {
        let mut rng = crate::stats::rng::stream(9, "spmm-test-m", 0);
        let a = random_csr(CHUNK_ROWS + BLOCK + 37, 70, 0.2, 1);
        let ad = dense(&a);
        for l in [1usize, 7, 8, 9, 60, 64, 65, 130] {
            let mg = Array2::from_shape_simple_fn((a.ncols, l), || rng.random::<f64>() - 0.5);
            let mn = Array2::from_shape_simple_fn((a.nrows, l), || rng.random::<f64>() - 0.5);
            let got = csr_dot(&a, &mg, Par::rayon(0), &Work::new());
            let want = ad.dot(&mg);
            let err = (&got - &want).iter().fold(0.0f64, |m, x| m.max(x.abs()));
            assert!(err < 1e-10, "A M, l = {l}: {err}");
            let got_t = csr_t_dot(&a, &mn, Par::rayon(0), &Work::new());
            let want_t = ad.t().dot(&mn);
            let err = (&got_t - &want_t)
                .iter()
                .fold(0.0f64, |m, x| m.max(x.abs()));
            assert!(err < 1e-9, "A^T M, l = {l}: {err}");
        }
    }

    /// The gene-blocked `A M` gives the same bits as the row-at-a-time one
    /// for gene blocks smaller than, equal to and larger than the width,
    /// rows across row blocks, empty rows, and rows whose indices are out of
    /// order or repeated (still summed in full, in stored order).
    #[test]
    fn gene_blocked_gather_equals_row_at_a_time_bit_for_bit() {
        let sorted = random_csr(BLOCKED_ROWS * 2 + 5, 70, 0.4, 4);
        // The same rows with every third row reversed and every fifth row's
        // first index repeated at its end.
        let mut indptr = vec![0u64];
        let (mut idx, mut data) = (Vec::<u16>::new(), Vec::<f32>::new());
        for i in 0..sorted.nrows {
            let mut row: Vec<(usize, f32)> = sorted.row(i).collect();
            if i % 3 == 0 {
                row.reverse();
            }
            if i % 5 == 0 && !row.is_empty() {
                row.push((row[0].0, 0.75));
            }
            for (c, v) in row {
                idx.push(c as u16);
                data.push(v);
            }
            indptr.push(idx.len() as u64);
        }
        let shuffled = CsrMatrix::from_parts(
            sorted.nrows,
            sorted.ncols,
            indptr.into(),
            crate::sparse::csr::Indices::U16(idx.into()),
            data.into(),
        )
        .unwrap();
        let mut rng = crate::stats::rng::stream(5, "spmm-test-m", 0);
        for a in [&sorted, &shuffled] {
            let ad = dense(a);
            for l in [1usize, 9, 60, 64, 65, 130] {
                let m = Array2::from_shape_simple_fn((a.ncols, l), || rng.random::<f64>() - 0.5);
                let rowwise = crate::with_rows!(a, p => dot_parts(&p, a.nrows, &Panels::from_array(&m, GATHER_PANEL), Par::rayon(0))).unpack();
                let packed = Panels::from_array(&m, PANEL);
                for gene_block in [LANES, 13, 64, 500] {
                    let flat = crate::with_rows!(a, p => dot_parts_blocked(&p, a.nrows, &packed, gene_block, Par::Seq));
                    let blocked = unpack_rows(&flat, l, a.nrows);
                    assert_eq!(blocked, rowwise, "l = {l}, gene block {gene_block}");
                }
                let err = (&rowwise - &ad.dot(&m))
                    .iter()
                    .fold(0.0f64, |e, x| e.max(x.abs()));
                assert!(err < 1e-10, "l = {l}: {err}");
            }
        }
        // csr_dot takes the blocked path at this density for narrow M.
        assert!(0.4 * gene_block(8) as f64 >= MIN_SEGMENT);
    }

    #[test]
    fn panels_and_blocked_output_start_on_cache_lines() {
        for len in [0usize, 1, 7, 8, 9, 1000, 1 << 20] {
            let buf = AlignedF64::zeros(len);
            assert_eq!(buf.len(), len);
            assert_eq!(buf.as_ptr() as usize % 64, 0, "len {len}");
            assert!(buf.iter().all(|&x| x == 0.0));
        }
        let m = Array2::from_shape_fn((300, 70), |(i, j)| (i * 70 + j) as f64);
        let p = Panels::from_array(&m, PANEL);
        for &(_, w, off) in &p.panels {
            assert_eq!(p.data[off..].as_ptr() as usize % 64, 0);
            assert_eq!((w * 8) % 64, 0);
        }
        assert_eq!(p.unpack(), m);
        let a = random_csr(BLOCKED_ROWS + 3, 70, 0.4, 6);
        let mg = Panels::from_array(&m.slice(ndarray::s![..70, ..]).to_owned(), PANEL);
        let flat =
            crate::with_rows!(a, q => dot_parts_blocked(&q, a.nrows, &mg, 13, Par::rayon(0)));
        assert_eq!(flat.as_ptr() as usize % 64, 0);
    }

    #[test]
    fn portable_and_dispatched_panels_agree_bit_for_bit() {
        let a = random_csr(300, 50, 0.3, 2);
        let mut rng = crate::stats::rng::stream(3, "spmm-test-m", 0);
        for w in [8usize, 24, 64] {
            let m: Vec<f64> = (0..a.ncols * w)
                .map(|_| rng.random::<f64>() - 0.5)
                .collect();
            crate::with_rows!(a, p => {
                for i in 0..a.nrows {
                    let (cols, vals) = p.row(i);
                    // From zeros (a row's panel) and from a partial sum.
                    for start in [0.0, 0.25] {
                        let mut x = vec![start; w];
                        let mut y = x.clone();
                        gather_accumulate(&mut x, cols, vals, &m, w);
                        gather_accumulate_portable(&mut y, cols, vals, &m, w);
                        assert_eq!(x, y);
                    }
                }
            });
            // One block regrouped by column, through both loops that sum
            // its columns (shared with the regrouped copy).
            let rows = 200usize;
            let mb: Vec<f64> = (0..rows * w).map(|_| rng.random::<f64>() - 0.5).collect();
            let starts: Vec<u32> = (0..=a.ncols as u32).map(|c| c * 3).collect();
            let n = a.ncols * 3;
            let values: Vec<f32> = (0..n).map(|j| j as f32 * 0.25 - 3.0).collect();
            let entry_rows: Vec<u8> = (0..n).map(|j| (j * 7 % rows) as u8).collect();
            let mut x = vec![0.5; a.ncols * w];
            let mut y = x.clone();
            sum_columns(&mut x, &starts, &entry_rows, &values, &mb, w);
            crate::sparse::column_blocks::sum_columns_portable(
                &mut y,
                &starts,
                &entry_rows,
                &values,
                &mb,
                w,
            );
            assert_eq!(x, y);
        }
    }
}
