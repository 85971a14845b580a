//! Sums of a pair quantity (a distance between two samples, or an MMD
//! kernel) within a group and between groups. Rows are summed one at a
//! time and the row sums added in row order, so the bits do not depend on
//! `par` or the thread count.

use super::{CellMetric, MmdKernel, WithinPairs};
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
    #[inline]
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
#[inline]
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
#[inline]
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

/// Row-major rows of a matrix.
struct Rows<'a> {
    data: &'a [f64],
    g: usize,
}

impl<'a> Rows<'a> {
    fn of(x: &'a ndarray::Array2<f64>) -> Rows<'a> {
        Rows {
            data: x.as_slice().expect("standard layout"),
            g: x.ncols(),
        }
    }
    #[inline]
    fn row(&self, i: usize) -> &'a [f64] {
        &self.data[i * self.g..(i + 1) * self.g]
    }
}

/// Sums of `pair` over the rows of `x` (standard layout).
pub(super) fn within_sums(x: ArrayView2<f64>, pair: Pair, par: Par) -> PairSums {
    let owned = x.as_standard_layout().into_owned();
    let x = Rows::of(&owned);
    let n = owned.nrows();
    let upper = map_indices(par, n, |i| {
        let a = x.row(i);
        (i + 1..n).map(|j| pair.value(a, x.row(j))).sum::<f64>()
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
    let (xo, yo) = (
        x.as_standard_layout().into_owned(),
        y.as_standard_layout().into_owned(),
    );
    let (x, y) = (Rows::of(&xo), Rows::of(&yo));
    let m = yo.nrows();
    map_indices(par, xo.nrows(), |i| {
        let a = x.row(i);
        (0..m).map(|j| pair.value(a, y.row(j))).sum::<f64>()
    })
    .iter()
    .sum()
}

/// The pooled rows' matrix of a pair quantity, for permutation tests that
/// relabel rows: the statistic of a labelling needs only the sums within
/// the relabelled X rows and their row sums ([`PooledPairs::sums`]).
pub(super) struct PooledPairs {
    n: usize,
    values: Vec<f64>,
    row_sums: Vec<f64>,
    total: f64,
}

impl PooledPairs {
    pub(super) fn new(pooled: ArrayView2<f64>, pair: Pair, par: Par) -> PooledPairs {
        let owned = pooled.as_standard_layout().into_owned();
        let p = Rows::of(&owned);
        let n = owned.nrows();
        // Each row's upper part (j >= i).
        let rows: Vec<Vec<f64>> = map_indices(par, n, |i| {
            let a = p.row(i);
            (i..n).map(|j| pair.value(a, p.row(j))).collect()
        });
        // Symmetric to the bit: the lower triangle copies the upper one.
        let mut values = vec![0.0; n * n];
        for i in 0..n {
            for j in 0..n {
                values[i * n + j] = if j >= i {
                    rows[i][j - i]
                } else {
                    rows[j][i - j]
                };
            }
        }
        let row_sums: Vec<f64> = (0..n)
            .map(|i| values[i * n..(i + 1) * n].iter().sum())
            .collect();
        let total = row_sums.iter().sum();
        PooledPairs {
            n,
            values,
            row_sums,
            total,
        }
    }

    /// Peak bytes for `n` pooled rows (the pair matrix and its upper
    /// rows while it is built).
    pub(super) fn bytes(n: usize) -> usize {
        n.saturating_mul(n).saturating_mul(12)
    }

    /// (within X, within Y, between) sums over ordered pairs, diagonal
    /// included, for X the rows `in_x` (ascending) and Y the rest.
    pub(super) fn sums(&self, in_x: &[usize]) -> (PairSums, PairSums, f64) {
        let mut xx = 0.0;
        let mut diag_x = 0.0;
        let mut rows_x = 0.0;
        for &i in in_x {
            let r = &self.values[i * self.n..(i + 1) * self.n];
            for &j in in_x {
                xx += r[j];
            }
            diag_x += r[i];
            rows_x += self.row_sums[i];
        }
        let diag_total: f64 = (0..self.n).map(|i| self.values[i * self.n + i]).sum();
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
