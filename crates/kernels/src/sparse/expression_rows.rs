//! The expression of chosen rows of a count matrix (owned or memory-mapped),
//! read a row at a time or a block of genes at a time, never copied whole.
//!
//! Passes over a mapped matrix give back the pages of the rows they have
//! finished with ([`CsrMatrix::release_rows`]), so a pass over a count cache
//! larger than memory keeps a bounded resident set.

use crate::sparse::column_blocks::RowSource;
use crate::sparse::csr::{ColumnIndex, CsrMatrix, Indices, LognormRow, RowParts};
use crate::with_rows;
use crate::KernelError;
use rayon::prelude::*;

/// What the stored values become.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// log1p(count / row total x 1e4) (`lognorm`); rows summing to zero are zero.
    Lognorm,
    /// The stored values (log expression, as L1000 stores it).
    AsStored,
}

impl Target {
    /// How the stored values of a row summing to `row_total` become this
    /// target; None for a `lognorm` row that sums to zero (all its values
    /// are zero, and it keeps no entries).
    #[inline]
    fn row(self, row_total: f32) -> Option<RowValues> {
        match self {
            Target::AsStored => Some(RowValues::AsStored),
            Target::Lognorm if row_total > 0.0 => {
                Some(RowValues::Lognorm(LognormRow::new(row_total)))
            }
            Target::Lognorm => None,
        }
    }

    /// Whether a row summing to `row_total` keeps its entries.
    #[inline]
    fn keeps(self, row_total: f32) -> bool {
        self != Target::Lognorm || row_total > 0.0
    }
}

/// One row's stored values as a [`Target`], computed in f32.
enum RowValues {
    AsStored,
    Lognorm(LognormRow),
}

impl RowValues {
    #[inline]
    fn value(&mut self, stored: f32) -> f32 {
        match self {
            RowValues::AsStored => stored,
            RowValues::Lognorm(row) => row.value(stored),
        }
    }
}

/// Rows `rows` of `matrix` (set row i is matrix row `rows[i]`) as `target`.
#[derive(Clone, Copy)]
pub struct ExpressionRows<'a> {
    pub matrix: &'a CsrMatrix,
    pub rows: &'a [usize],
    pub target: Target,
}

/// A run of an [`ExpressionRows`] set's rows, as a [`RowSource`].
pub struct ExpressionChunk<'s, 'a> {
    set: &'s ExpressionRows<'a>,
    /// The run's first set row.
    i0: usize,
    /// Each row's stored total.
    totals: Vec<f32>,
}

impl ExpressionChunk<'_, '_> {
    /// Entries the run keeps.
    pub fn nnz(&self) -> usize {
        (0..self.totals.len()).map(|i| self.row_len(i)).sum()
    }

    /// The run as a CSR matrix of its kept entries (u32 indices), rows
    /// filled in parallel.
    pub fn to_csr(&self) -> Result<CsrMatrix, KernelError> {
        let n = self.nrows();
        let mut indptr = Vec::with_capacity(n + 1);
        indptr.push(0u64);
        for i in 0..n {
            indptr.push(indptr[i] + self.row_len(i) as u64);
        }
        let nnz = indptr[n] as usize;
        let (mut indices, mut values) = (vec![0u32; nnz], vec![0f32; nnz]);
        // Each group of rows fills its own span of the arrays.
        let group = n.div_ceil(4 * rayon::current_num_threads().max(1)).max(1);
        let mut spans = Vec::new();
        let (mut idx_rest, mut val_rest): (&mut [u32], &mut [f32]) = (&mut indices, &mut values);
        for k0 in (0..n).step_by(group) {
            let k1 = (k0 + group).min(n);
            let len = (indptr[k1] - indptr[k0]) as usize;
            let (a, b) = idx_rest.split_at_mut(len);
            let (c, d) = val_rest.split_at_mut(len);
            spans.push((k0..k1, a, c));
            (idx_rest, val_rest) = (b, d);
        }
        spans.into_par_iter().for_each(|(ks, idx, val)| {
            let mut at = 0;
            for k in ks {
                self.entries(k, |c, v| {
                    idx[at] = c as u32;
                    val[at] = v;
                    at += 1;
                });
            }
        });
        CsrMatrix::from_parts(
            n,
            self.ncols(),
            indptr.into(),
            Indices::U32(indices.into()),
            values.into(),
        )
    }
}

impl RowSource for ExpressionChunk<'_, '_> {
    fn nrows(&self) -> usize {
        self.totals.len()
    }
    fn ncols(&self) -> usize {
        self.set.n_genes()
    }
    fn row_len(&self, i: usize) -> usize {
        if !self.set.target.keeps(self.totals[i]) {
            return 0;
        }
        let r = self.set.rows[self.i0 + i];
        with_rows!(self.set.matrix, p => (p.indptr[r + 1] - p.indptr[r]) as usize)
    }
    #[inline]
    fn columns(&self, i: usize, mut f: impl FnMut(usize)) {
        if !self.set.target.keeps(self.totals[i]) {
            return;
        }
        let r = self.set.rows[self.i0 + i];
        with_rows!(self.set.matrix, p => p.row(r).0.iter().for_each(|c| f(c.at())))
    }
    #[inline]
    fn entries(&self, i: usize, mut f: impl FnMut(usize, f32)) {
        let Some(mut row) = self.set.target.row(self.totals[i]) else {
            return;
        };
        let r = self.set.rows[self.i0 + i];
        with_rows!(self.set.matrix, p => {
            let (cols, stored) = p.row(r);
            for (c, v) in cols.iter().zip(stored) {
                f(c.at(), row.value(*v));
            }
        })
    }
    fn release(&self, i0: usize, i1: usize) {
        self.set.release(self.i0 + i0, self.i0 + i1);
    }
}

/// Rows of the set read between two page releases.
const RELEASE_EVERY: usize = 8192;

/// One block of genes of every row of a set, gene by gene: the entries of
/// gene `g0 + k` are `rows[starts[k]..starts[k + 1]]` (set rows, ascending)
/// and the same range of `values`.
pub struct GeneColumns {
    pub g0: usize,
    pub starts: Vec<usize>,
    pub rows: Vec<u32>,
    pub values: Vec<f64>,
}

impl GeneColumns {
    pub fn n_genes(&self) -> usize {
        self.starts.len() - 1
    }
    /// Set rows and values of gene `g0 + k`.
    pub fn column(&self, k: usize) -> (&[u32], &[f64]) {
        let (a, b) = (self.starts[k], self.starts[k + 1]);
        (&self.rows[a..b], &self.values[a..b])
    }
}

impl<'a> ExpressionRows<'a> {
    pub fn len(&self) -> usize {
        self.rows.len()
    }
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
    pub fn n_genes(&self) -> usize {
        self.matrix.ncols
    }

    /// Set rows `i0..i1` as a CSR matrix of their values as the target (in
    /// f32, as the target computes them, so exactly), built in parallel.
    pub fn csr_rows(&self, i0: usize, i1: usize) -> Result<CsrMatrix, KernelError> {
        self.chunk(i0, i1).to_csr()
    }

    /// Set rows `i0..i1` as a [`RowSource`] of their values as the target
    /// computes them (in f32, so exactly as [`ExpressionRows::csr_rows`]
    /// gives them), to regroup by column without a CSR copy. The rows'
    /// totals are summed here, in parallel.
    pub fn chunk(&self, i0: usize, i1: usize) -> ExpressionChunk<'_, 'a> {
        let totals = with_rows!(self.matrix, p => self.rows[i0..i1]
            .par_iter()
            .map(|&r| p.row(r).1.iter().sum())
            .collect());
        ExpressionChunk {
            set: self,
            i0,
            totals,
        }
    }

    /// Appends set row i's genes and values (a gene may repeat if the
    /// matrix stores it twice; callers add).
    pub fn row_into(&self, i: usize, genes: &mut Vec<u32>, values: &mut Vec<f64>) {
        with_rows!(self.matrix, p => self.row_into_parts(&p, i, genes, values))
    }

    fn row_into_parts<I: ColumnIndex>(
        &self,
        p: &RowParts<'_, I>,
        i: usize,
        genes: &mut Vec<u32>,
        values: &mut Vec<f64>,
    ) {
        let (idx, val) = p.row(self.rows[i]);
        let Some(mut row) = self.target.row(val.iter().sum()) else {
            return;
        };
        for (j, v) in idx.iter().zip(val) {
            genes.push(j.at() as u32);
            values.push(row.value(*v) as f64);
        }
    }

    /// Gives back the mapped pages of set rows `i0..i1` (the span of matrix
    /// rows they cover).
    pub fn release(&self, i0: usize, i1: usize) {
        if i0 >= i1 {
            return;
        }
        let set = &self.rows[i0..i1];
        let lo = set.iter().copied().min().expect("non-empty");
        let hi = set.iter().copied().max().expect("non-empty");
        self.matrix.release_rows(lo, hi + 1);
    }

    /// Reads the set a block of genes at a time (blocks in ascending order).
    pub fn gene_blocks(&self) -> GeneBlocks<'a> {
        GeneBlocks::new(*self)
    }
}

/// Reads an [`ExpressionRows`] set gene block by gene block. When every row
/// stores its genes in ascending order (the h5ad and count-cache norm), a
/// cursor per row makes each block read only its own entries; otherwise
/// each block scans the rows whole.
pub struct GeneBlocks<'a> {
    set: ExpressionRows<'a>,
    /// Row totals (for `lognorm`).
    totals: Vec<f32>,
    /// Per set row, the next stored entry to read (sorted rows only).
    cursors: Option<Vec<u64>>,
    next_gene: usize,
}

impl<'a> GeneBlocks<'a> {
    fn new(set: ExpressionRows<'a>) -> Self {
        let (totals, sorted) = with_rows!(set.matrix, p => {
            let mut totals = Vec::with_capacity(set.len());
            let mut sorted = true;
            for (i, &r) in set.rows.iter().enumerate() {
                let (idx, val) = p.row(r);
                totals.push(val.iter().sum::<f32>());
                sorted &= idx.windows(2).all(|w| w[0].at() < w[1].at());
                if (i + 1) % RELEASE_EVERY == 0 {
                    set.release(i + 1 - RELEASE_EVERY, i + 1);
                }
            }
            set.release(set.len() / RELEASE_EVERY * RELEASE_EVERY, set.len());
            (totals, sorted)
        });
        let cursors = sorted.then(|| {
            let indptr = with_rows!(set.matrix, p => p.indptr);
            set.rows.iter().map(|&r| indptr[r]).collect()
        });
        GeneBlocks {
            set,
            totals,
            cursors,
            next_gene: 0,
        }
    }

    /// Genes `g0..g1` of every set row; blocks must follow one another.
    /// Parts of the rows are read in parallel and joined in row order.
    pub fn block(&mut self, g0: usize, g1: usize) -> GeneColumns {
        assert_eq!(g0, self.next_gene, "gene blocks are read in order");
        assert!(g0 <= g1 && g1 <= self.set.n_genes(), "gene block in range");
        self.next_gene = g1;
        let n = self.set.len();
        let part_rows = n.div_ceil(2 * rayon::current_num_threads().max(1)).max(1);
        let (set, totals) = (&self.set, &self.totals);
        let parts: Vec<Entries> = with_rows!(set.matrix, p => match &mut self.cursors {
            Some(cursors) => cursors
                .par_chunks_mut(part_rows)
                .enumerate()
                .map(|(k, c)| {
                    let i0 = k * part_rows;
                    entries(set, totals, &p, (g0, g1), (i0, i0 + c.len()), Some(c))
                })
                .collect(),
            None => (0..n.div_ceil(part_rows))
                .into_par_iter()
                .map(|k| {
                    let (i0, i1) = (k * part_rows, ((k + 1) * part_rows).min(n));
                    entries(set, totals, &p, (g0, g1), (i0, i1), None)
                })
                .collect(),
        });
        // Counting sort by gene; stable over parts in order, so each gene's
        // rows stay ascending.
        let width = g1 - g0;
        let mut starts = vec![0usize; width + 1];
        for part in &parts {
            for &g in &part.gene {
                starts[g as usize + 1] += 1;
            }
        }
        for k in 0..width {
            starts[k + 1] += starts[k];
        }
        let total = starts[width];
        let mut at = starts.clone();
        let mut rows = vec![0u32; total];
        let mut values = vec![0f64; total];
        for part in &parts {
            for ((g, r), v) in part.gene.iter().zip(&part.row).zip(&part.value) {
                let dst = &mut at[*g as usize];
                rows[*dst] = *r;
                values[*dst] = *v;
                *dst += 1;
            }
        }
        GeneColumns {
            g0,
            starts,
            rows,
            values,
        }
    }
}

/// (gene - g0, set row, value) of a block's entries, in row order.
#[derive(Default)]
struct Entries {
    gene: Vec<u32>,
    row: Vec<u32>,
    value: Vec<f64>,
}

/// The entries of genes `g0..g1` of set rows `i0..i1`: from `cursors` (one
/// per row, advanced past the block) when rows are sorted, else by scanning
/// each row whole.
fn entries<I: ColumnIndex>(
    set: &ExpressionRows,
    totals: &[f32],
    p: &RowParts<'_, I>,
    (g0, g1): (usize, usize),
    (i0, i1): (usize, usize),
    cursors: Option<&mut [u64]>,
) -> Entries {
    let mut out = Entries::default();
    let mut cursors = cursors;
    let mut released = i0;
    for i in i0..i1 {
        let r = set.rows[i];
        // A row that keeps no entries still advances its cursor.
        let mut row = set.target.row(totals[i]);
        let mut push = |g: usize, v: f32| {
            if let Some(row) = row.as_mut() {
                out.gene.push((g - g0) as u32);
                out.row.push(i as u32);
                out.value.push(row.value(v) as f64);
            }
        };
        match cursors.as_deref_mut() {
            Some(c) => {
                let end = p.indptr[r + 1] as usize;
                let mut at = c[i - i0] as usize;
                while at < end {
                    let g = p.indices[at].at();
                    if g >= g1 {
                        break;
                    }
                    push(g, p.data[at]);
                    at += 1;
                }
                c[i - i0] = at as u64;
            }
            None => {
                let (idx, val) = p.row(r);
                for (j, v) in idx.iter().zip(val) {
                    let g = j.at();
                    if (g0..g1).contains(&g) {
                        push(g, *v);
                    }
                }
            }
        }
        if i + 1 - released >= RELEASE_EVERY {
            set.release(released, i + 1);
            released = i + 1;
        }
    }
    set.release(released, i1);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::work::Work;
    use faer::Par;

    fn counts(unsorted: bool) -> CsrMatrix {
        // 4 x 5 counts; row 2 is empty; row 3 stores its genes out of order
        // when `unsorted`.
        let (idx, val): (Vec<u32>, Vec<f32>) = if unsorted {
            (
                vec![0, 3, 1, 2, 4, 4, 0],
                vec![1.0, 3.0, 2.0, 5.0, 5.0, 2.0, 6.0],
            )
        } else {
            (
                vec![0, 3, 1, 2, 4, 0, 4],
                vec![1.0, 3.0, 2.0, 5.0, 5.0, 6.0, 2.0],
            )
        };
        CsrMatrix::new(4, 5, vec![0, 2, 5, 5, 7], idx, val).unwrap()
    }

    /// Dense target matrix of the set, by the definition.
    fn dense(m: &CsrMatrix, rows: &[usize], target: Target) -> Vec<Vec<f64>> {
        rows.iter()
            .map(|&r| {
                let mut out = vec![0.0; m.ncols];
                let total: f64 = m.row(r).map(|(_, v)| v as f64).sum();
                for (j, v) in m.row(r) {
                    out[j] = match target {
                        Target::AsStored => v as f64,
                        Target::Lognorm => ((v as f64 / total) * 1e4).ln_1p(),
                    };
                }
                out
            })
            .collect()
    }

    #[test]
    fn rows_and_gene_blocks_give_the_same_matrix() {
        for unsorted in [false, true] {
            let m = counts(unsorted);
            for target in [Target::Lognorm, Target::AsStored] {
                let rows = vec![3usize, 0, 2];
                let set = ExpressionRows {
                    matrix: &m,
                    rows: &rows,
                    target,
                };
                let want = dense(&m, &rows, target);
                for (i, want_row) in want.iter().enumerate() {
                    let (mut g, mut v) = (vec![], vec![]);
                    set.row_into(i, &mut g, &mut v);
                    let mut got = vec![0.0; 5];
                    for (j, x) in g.iter().zip(&v) {
                        got[*j as usize] += x;
                    }
                    for (a, b) in got.iter().zip(want_row) {
                        assert!((a - b).abs() < 1e-5, "row {i}: {got:?} vs {want_row:?}");
                    }
                }
                // The CSR copy of set rows 1..3 (rows 0 and 2 of the
                // counts, the second empty) holds the same values, exactly
                // as `row_into` gives them.
                let part = set.csr_rows(1, 3).unwrap();
                assert_eq!((part.nrows, part.ncols, part.nnz()), (2, 5, 2));
                for (k, i) in (1..3).enumerate() {
                    let (mut g, mut v) = (vec![], vec![]);
                    set.row_into(i, &mut g, &mut v);
                    let copy: Vec<(usize, f64)> = part.row(k).map(|(j, x)| (j, x as f64)).collect();
                    let direct: Vec<(usize, f64)> = g.iter().map(|j| *j as usize).zip(v).collect();
                    assert_eq!(copy, direct, "{target:?} set row {i}");
                }
                let all = set.csr_rows(0, 3).unwrap();
                assert_eq!(all.nnz(), 4);
                assert_eq!(set.csr_rows(2, 2).unwrap().nrows, 0);
                let mut blocks = set.gene_blocks();
                assert_eq!(blocks.cursors.is_some(), !unsorted);
                let mut got = vec![vec![0.0; 5]; rows.len()];
                for (g0, g1) in [(0, 2), (2, 2), (2, 5)] {
                    let b = blocks.block(g0, g1);
                    assert_eq!(b.n_genes(), g1 - g0);
                    for k in 0..b.n_genes() {
                        let (r, v) = b.column(k);
                        assert!(r.windows(2).all(|w| w[0] < w[1]), "rows ascend");
                        for (i, x) in r.iter().zip(v) {
                            got[*i as usize][g0 + k] = *x;
                        }
                    }
                }
                for (a, b) in got.iter().flatten().zip(want.iter().flatten()) {
                    assert!((a - b).abs() < 1e-5, "{target:?} unsorted={unsorted}");
                }
            }
        }
    }

    /// A run of rows regrouped straight from the expression is the same
    /// copy as the run's CSR copy regrouped: the same products and sums,
    /// bit for bit, including when the buffers were filled before.
    #[test]
    fn chunks_regroup_as_their_csr_copies() {
        use crate::sparse::column_blocks::ColumnBlocks;
        use ndarray::Array2;
        let m = crate::sparse::csr::testing::random_csr(
            300,
            40,
            0.3,
            21,
            "expression-chunk",
            |i, c| i == 70 || c == 5,
        );
        let rows: Vec<usize> = (0..300).rev().step_by(2).chain(0..40).collect();
        let mut reused = ColumnBlocks::empty();
        for target in [Target::Lognorm, Target::AsStored] {
            let set = ExpressionRows {
                matrix: &m,
                rows: &rows,
                target,
            };
            // A long run, then shorter ones (the buffers shrink), then empty.
            for (i0, i1) in [(0, 190), (3, 70), (100, 101), (40, 40)] {
                let xs =
                    Array2::from_shape_fn((i1 - i0, 3), |(i, j)| (i * 7 + j) as f64 * 0.25 - 3.0);
                let copy = ColumnBlocks::from_csr(&set.csr_rows(i0, i1).unwrap()).unwrap();
                let chunk = set.chunk(i0, i1);
                assert_eq!(chunk.nnz(), copy.nnz());
                reused.refill(&chunk).unwrap();
                let fresh = {
                    let mut b = ColumnBlocks::empty();
                    b.refill(&chunk).unwrap();
                    b
                };
                for b in [&reused, &fresh] {
                    assert_eq!(b.nnz(), copy.nnz());
                    assert_eq!(
                        b.t_dot(&xs, Par::Seq, &Work::new()),
                        copy.t_dot(&xs, Par::rayon(0), &Work::new()),
                        "{target:?} {i0}..{i1}"
                    );
                    assert_eq!(b.column_sums(Par::Seq), copy.column_sums(Par::rayon(0)));
                }
            }
        }
    }

    /// A source whose entries differ from what it counted cannot leave
    /// rows from an earlier fill in the copy: the fill stops.
    #[test]
    #[should_panic(expected = "a row source gave other entries than it counted")]
    fn a_source_that_miscounts_stops_the_fill() {
        use crate::sparse::column_blocks::ColumnBlocks;
        struct Miscounts;
        impl RowSource for Miscounts {
            fn nrows(&self) -> usize {
                3
            }
            fn ncols(&self) -> usize {
                4
            }
            fn row_len(&self, _: usize) -> usize {
                2
            }
            fn columns(&self, _: usize, mut f: impl FnMut(usize)) {
                f(0);
                f(1);
            }
            fn entries(&self, i: usize, mut f: impl FnMut(usize, f32)) {
                // Row 2 gives its second entry to column 0, not 1.
                f(0, 1.0);
                f(if i == 2 { 0 } else { 1 }, 2.0);
            }
            fn release(&self, _: usize, _: usize) {}
        }
        let mut b = ColumnBlocks::empty();
        let _ = b.refill(&Miscounts);
    }
}
