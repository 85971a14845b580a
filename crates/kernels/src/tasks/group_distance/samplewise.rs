//! Sums of a pair quantity (a distance between two samples, or an MMD
//! kernel) within a group and between groups. Rows are summed one at a
//! time and the row sums added in row order, so the bits do not depend on
//! `par` or the thread count.

use super::{CellMetric, MmdKernel, WithinPairs};
use crate::linalg::simd::avx2_dispatch;
use crate::runtime::parallel::map_indices;
use crate::Par;
use ndarray::ArrayView2;

#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Pair {
    Cell(CellMetric),
    Kernel(MmdKernel),
}

impl Pair {
    /// The quantity for samples `a` and `b`: distances from the
    /// differences (as pertpy's numba loop), kernels as sklearn defines
    /// them (`exp(-gamma ||a - b||^2)`, `(gamma <a, b>)^degree`).
    #[inline(always)]
    pub(super) fn value(&self, a: &[f64], b: &[f64]) -> f64 {
        let squared = || squared_distance(a, b);
        match *self {
            Pair::Cell(CellMetric::Euclidean) => squared().sqrt(),
            Pair::Cell(CellMetric::SqEuclidean) => squared(),
            Pair::Kernel(MmdKernel::Rbf { gamma }) => (-gamma * squared()).exp(),
            Pair::Kernel(MmdKernel::Poly { gamma, degree }) => {
                (gamma * dot(a, b)).powi(degree as i32)
            }
            Pair::Kernel(MmdKernel::Linear) => dot(a, b),
        }
    }
}

/// sum (a_k - b_k)^2 in eight interleaved partial sums (which the
/// compiler keeps in vector registers), added in a fixed order.
#[inline(always)]
fn squared_distance(a: &[f64], b: &[f64]) -> f64 {
    let mut acc = [0.0f64; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for k in 0..8 {
            let d = x[k] - y[k];
            acc[k] += d * d;
        }
    }
    let mut tail = 0.0;
    for (x, y) in ra.iter().zip(rb) {
        tail += (x - y) * (x - y);
    }
    ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7])) + tail
}

/// sum a_k b_k, as [`squared_distance`] adds.
#[inline(always)]
fn dot(a: &[f64], b: &[f64]) -> f64 {
    let mut acc = [0.0f64; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for k in 0..8 {
            acc[k] += x[k] * y[k];
        }
    }
    let mut tail = 0.0;
    for (x, y) in ra.iter().zip(rb) {
        tail += x * y;
    }
    ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7])) + tail
}

avx2_dispatch! {
    /// Sum of `pair` between `a` and each `g`-long row of `rows`, in row
    /// order (compiled for AVX2 where the processor has it: the same sums).
    fn sum_against(a: &[f64], rows: &[f64], g: usize, pair: Pair) -> f64 {
        let mut total = 0.0;
        for b in rows.chunks_exact(g) {
            total += pair.value(a, b);
        }
        total
    }
}

avx2_dispatch! {
    /// `pair` between `a` and each `g`-long row of `rows`, appended to `out`.
    fn values_against(a: &[f64], rows: &[f64], g: usize, pair: Pair, out: &mut Vec<f64>) {
        for b in rows.chunks_exact(g) {
            out.push(pair.value(a, b));
        }
    }
}

/// A group's sums over its ordered pairs i != j and over i = j.
#[derive(Debug, Clone, Copy)]
pub(super) struct PairSums {
    pub n: usize,
    pub off_diagonal: f64,
    pub diagonal: f64,
}

impl PairSums {
    /// Mean over the pairs `within` names; a group of one sample has no
    /// pair i < j and gives 0 (pertpy's `_euclidean_pairwise_mean_within`).
    pub(super) fn within_mean(&self, within: WithinPairs) -> f64 {
        let n = self.n as f64;
        match within {
            WithinPairs::ExcludeSelf if self.n < 2 => 0.0,
            WithinPairs::ExcludeSelf => self.off_diagonal / (n * (n - 1.0)),
            WithinPairs::IncludeSelf => (self.off_diagonal + self.diagonal) / (n * n),
        }
    }
}

/// Row-major rows of a matrix (borrowed when the view is in standard
/// layout, as the callers' are; copied otherwise).
struct Rows<'a> {
    data: &'a [f64],
    g: usize,
    n: usize,
}

impl<'a> Rows<'a> {
    fn of(x: &'a ndarray::CowArray<'_, f64, ndarray::Ix2>) -> Rows<'a> {
        Rows {
            data: x.as_slice().expect("standard layout"),
            g: x.ncols(),
            n: x.nrows(),
        }
    }
    #[inline]
    fn row(&self, i: usize) -> &'a [f64] {
        &self.data[i * self.g..(i + 1) * self.g]
    }
}

/// Sums of `pair` over the rows of `x`.
pub(super) fn within_sums(x: ArrayView2<f64>, pair: Pair, par: Par) -> PairSums {
    let standard = x.as_standard_layout();
    let x = Rows::of(&standard);
    let (n, g) = (x.n, x.g);
    let upper = map_indices(par, n, |i| {
        sum_against(x.row(i), &x.data[(i + 1) * g..], g, pair)
    });
    let diagonal = match pair {
        Pair::Cell(_) => 0.0,
        _ => (0..n).map(|i| pair.value(x.row(i), x.row(i))).sum(),
    };
    PairSums {
        n,
        off_diagonal: 2.0 * upper.iter().sum::<f64>(),
        diagonal,
    }
}

/// Sum of `pair` over every (row of x, row of y).
pub(super) fn between_sum(x: ArrayView2<f64>, y: ArrayView2<f64>, pair: Pair, par: Par) -> f64 {
    let (xs, ys) = (x.as_standard_layout(), y.as_standard_layout());
    let (x, y) = (Rows::of(&xs), Rows::of(&ys));
    map_indices(par, x.n, |i| sum_against(x.row(i), y.data, y.g, pair))
        .iter()
        .sum()
}

/// The pooled rows' matrix of a pair quantity, for permutation tests that
/// relabel rows: the statistic of a labelling needs only the sums within
/// the relabelled X rows and their row sums ([`PooledPairs::sums`]).
pub(super) struct PooledPairs {
    n: usize,
    /// Row i holds the pair values of (i, j) for j >= i (diagonal first).
    upper: Vec<Vec<f64>>,
    row_sums: Vec<f64>,
    diagonal_total: f64,
    total: f64,
}

impl PooledPairs {
    pub(super) fn new(pooled: ArrayView2<f64>, pair: Pair, par: Par) -> PooledPairs {
        let standard = pooled.as_standard_layout();
        let p = Rows::of(&standard);
        let n = p.n;
        let upper: Vec<Vec<f64>> = map_indices(par, n, |i| {
            let mut out = Vec::with_capacity(n - i);
            values_against(p.row(i), &p.data[i * p.g..], p.g, pair, &mut out);
            out
        });
        // Each row's full sum, over j in order (the lower part read from
        // the upper rows: the matrix is symmetric to the bit).
        let row_sums: Vec<f64> = map_indices(par, n, |i| {
            let mut sum = 0.0;
            for (j, row) in upper[..i].iter().enumerate() {
                sum += row[i - j];
            }
            for v in &upper[i] {
                sum += v;
            }
            sum
        });
        let diagonal_total = upper.iter().map(|r| r[0]).sum();
        let total = row_sums.iter().sum();
        PooledPairs {
            n,
            upper,
            row_sums,
            diagonal_total,
            total,
        }
    }

    /// Peak bytes for `n` pooled rows (the upper triangle of the pair
    /// matrix).
    pub(super) fn bytes(n: usize) -> usize {
        n.saturating_mul(n.saturating_add(1)).saturating_mul(4)
    }

    /// (within X, within Y, between) sums over ordered pairs, diagonal
    /// included, for X the rows `in_x` (ascending) and Y the rest.
    pub(super) fn sums(&self, in_x: &[usize]) -> (PairSums, PairSums, f64) {
        // Pairs a < b of the (ascending) rows, each read once.
        let mut upper = 0.0;
        let mut diag_x = 0.0;
        let mut rows_x = 0.0;
        for (a, &i) in in_x.iter().enumerate() {
            let r = &self.upper[i];
            for &j in &in_x[a + 1..] {
                upper += r[j - i];
            }
            diag_x += r[0];
            rows_x += self.row_sums[i];
        }
        let xx = 2.0 * upper + diag_x;
        let diag_total = self.diagonal_total;
        let between = rows_x - xx;
        let yy = self.total - xx - 2.0 * between;
        let (n, m) = (in_x.len(), self.n - in_x.len());
        let diag_y = diag_total - diag_x;
        (
            PairSums {
                n,
                off_diagonal: xx - diag_x,
                diagonal: diag_x,
            },
            PairSums {
                n: m,
                off_diagonal: yy - diag_y,
                diagonal: diag_y,
            },
            between,
        )
    }
}
