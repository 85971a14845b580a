//! Energy distances of many groups of cells to one set of control cells,
//! at matrix-product speed (cell-eval's `pearson_edistance`).
//!
//! E(X, C) = 2 mean d(x, c) - mean d(x, x') - mean d(c, c'), Euclidean,
//! means over all pairs (self-pairs included). Squared distances come from
//! |x|^2 + |c|^2 - 2 x.c, the products by blocks of a matrix product; a pair
//! whose squared distance is small against |x|^2 + |c|^2 (where that
//! formula loses digits) is recomputed as the sum of squared differences,
//! so equal cells are exactly 0 apart. Equal rows within a group (a
//! prediction that gives every cell of a perturbation one profile) are
//! counted once with their multiplicity. Each group is computed on one
//! thread with sequential products, and the control set's own term by
//! fixed row blocks summed in order: the result does not depend on the
//! number of threads.

use super::expression_metrics::EnergyDistances;
use crate::runtime::parallel::map_indices;
use crate::Par;
use faer::linalg::matmul::matmul;
use faer::{Accum, Mat};
use ndarray::{Array2, ArrayView2};
use std::collections::HashMap;
use std::hash::{DefaultHasher, Hasher};

/// Squared distances below this share of |x|^2 + |c|^2 are recomputed
/// exactly (the product formula's rounding is about 1e-16 of it).
const RECOMPUTE_BELOW: f64 = 1e-6;
/// Rows of a block of the control set's own term.
const BLOCK: usize = 1024;

/// The distinct rows of a set of cells, each with its multiplicity.
#[derive(Debug, Clone)]
pub struct Cells {
    rows: Mat<f64>,
    weights: Vec<f64>,
    norms: Vec<f64>,
    n: f64,
}

impl Cells {
    /// `x`: one row per cell.
    pub fn new(x: ArrayView2<f64>) -> Cells {
        // -0.0 and 0.0 are one value.
        let bits = |i: usize| x.row(i).into_iter().map(|v| (v + 0.0).to_bits());
        // Rows by a hash of their values (distinct rows that collide are
        // told apart by comparing them), not by the values themselves: a
        // key per row would copy the matrix.
        let mut by_hash: HashMap<u64, Vec<usize>> = HashMap::new();
        let mut first: Vec<usize> = Vec::new();
        let mut weights: Vec<f64> = Vec::new();
        for i in 0..x.nrows() {
            let mut h = DefaultHasher::new();
            bits(i).for_each(|b| h.write_u64(b));
            let same = by_hash.entry(h.finish()).or_default();
            match same.iter().find(|&&u| bits(first[u]).eq(bits(i))) {
                Some(&u) => weights[u] += 1.0,
                None => {
                    same.push(first.len());
                    first.push(i);
                    weights.push(1.0);
                }
            }
        }
        let rows = Mat::<f64>::from_fn(first.len(), x.ncols(), |u, j| x[(first[u], j)]);
        let norms = (0..first.len())
            .map(|u| (0..x.ncols()).map(|j| rows[(u, j)] * rows[(u, j)]).sum())
            .collect();
        Cells {
            rows,
            weights,
            norms,
            n: x.nrows() as f64,
        }
    }

    /// Distinct rows.
    pub fn n_distinct(&self) -> usize {
        self.weights.len()
    }
}

/// Sum over pairs of rows a (in `a_rows`) and b of w_a w_b d(a, b).
fn weighted_distance_sum(a: &Cells, a_rows: std::ops::Range<usize>, b: &Cells) -> f64 {
    let (m, n) = (a_rows.len(), b.n_distinct());
    if m == 0 || n == 0 {
        return 0.0;
    }
    let block = a.rows.subrows(a_rows.start, m);
    let mut dot = Mat::<f64>::zeros(m, n);
    matmul(
        dot.as_mut(),
        Accum::Replace,
        block,
        b.rows.transpose(),
        1.0,
        Par::Seq,
    );
    let g = a.rows.ncols();
    let mut sum = 0.0;
    for i in 0..m {
        let u = a_rows.start + i;
        let mut row = 0.0;
        for v in 0..n {
            let scale = a.norms[u] + b.norms[v];
            let mut d2 = scale - 2.0 * dot[(i, v)];
            if d2 <= RECOMPUTE_BELOW * scale {
                d2 = (0..g)
                    .map(|j| {
                        let e = a.rows[(u, j)] - b.rows[(v, j)];
                        e * e
                    })
                    .sum();
            }
            row += b.weights[v] * d2.sqrt();
        }
        sum += a.weights[u] * row;
    }
    sum
}

/// Mean distance over all pairs of cells of `a` and `b`, by row blocks of
/// `a` computed with `par` and summed in order.
fn mean_distance(a: &Cells, b: &Cells, par: Par) -> f64 {
    let blocks = a.n_distinct().div_ceil(BLOCK);
    let sums = map_indices(par, blocks, |k| {
        let start = k * BLOCK;
        weighted_distance_sum(a, start..(start + BLOCK).min(a.n_distinct()), b)
    });
    sums.iter().sum::<f64>() / (a.n * b.n)
}

/// The energy distance of each group to the controls; `group(k)` gives
/// group k's cells (one row per cell, the controls' columns).
pub fn energy_distances(
    n_groups: usize,
    group: impl Fn(usize) -> Array2<f64> + Sync + Send,
    control: ArrayView2<f64>,
    par: Par,
) -> EnergyDistances {
    let control = Cells::new(control);
    let within_control = mean_distance(&control, &control, par);
    let terms = map_indices(par, n_groups, |k| {
        let x = Cells::new(group(k).view());
        (
            mean_distance(&x, &control, Par::Seq),
            mean_distance(&x, &x, Par::Seq),
        )
    });
    EnergyDistances::from_terms(within_control, &terms)
}

/// Multiply-adds of the products [`energy_distances`] computes for groups
/// of `distinct` distinct rows against `controls` distinct control rows
/// over `genes` genes (for benchmarks).
pub fn products(distinct: &[usize], controls: usize, genes: usize) -> f64 {
    let g = genes as f64;
    let c = controls as f64;
    distinct
        .iter()
        .map(|&d| {
            let d = d as f64;
            (d * c + d * d) * g
        })
        .sum::<f64>()
        + c * c * g
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tasks::cell_eval::expression_metrics::energy_distances as direct;

    fn cells(n: usize, g: usize, seed: usize) -> Array2<f64> {
        Array2::from_shape_fn((n, g), |(i, j)| {
            let v = ((i * 31 + j * 17 + seed * 7) % 13) as f64;
            if v < 6.0 {
                0.0
            } else {
                (v * 0.37).ln_1p() + seed as f64 * 0.01
            }
        })
    }

    #[test]
    fn equals_the_direct_sums() {
        let control = cells(70, 40, 0);
        let groups: Vec<Array2<f64>> = (1..5).map(|s| cells(5 + 9 * s, 40, s)).collect();
        let views: Vec<_> = groups.iter().map(|g| g.view()).collect();
        let want = direct(&views, control.view(), Par::Seq);
        for par in [Par::Seq, Par::rayon(0)] {
            let got = energy_distances(groups.len(), |k| groups[k].clone(), control.view(), par);
            for (a, b) in got.values.iter().zip(&want.values) {
                assert!((a - b).abs() <= 1e-12 * want.scale, "{a} vs {b}");
            }
            assert!((got.scale - want.scale).abs() <= 1e-12 * want.scale);
        }
        // The same bits on any number of threads.
        let seq = energy_distances(
            groups.len(),
            |k| groups[k].clone(),
            control.view(),
            Par::Seq,
        );
        let par = energy_distances(
            groups.len(),
            |k| groups[k].clone(),
            control.view(),
            Par::rayon(0),
        );
        assert_eq!(seq, par);
    }

    #[test]
    fn repeated_rows_count_once_with_their_multiplicity_and_equal_cells_are_0_apart() {
        let control = cells(40, 12, 0);
        let profile = cells(1, 12, 3);
        let groups: Vec<Array2<f64>> = [1usize, 4, 300]
            .iter()
            .map(|&n| Array2::from_shape_fn((n, 12), |(_, j)| profile[(0, j)]))
            .collect();
        assert_eq!(Cells::new(groups[2].view()).n_distinct(), 1);
        let e = energy_distances(
            groups.len(),
            |k| groups[k].clone(),
            control.view(),
            Par::Seq,
        );
        // Within each group every pair is 0 apart, so the three are equal.
        assert_eq!(e.values[0], e.values[1]);
        assert_eq!(e.values[0], e.values[2]);
        let views: Vec<_> = groups.iter().map(|g| g.view()).collect();
        let want = direct(&views, control.view(), Par::Seq);
        assert!((e.values[2] - want.values[2]).abs() <= 1e-12 * want.scale);
        // A group of the controls themselves is 0 from them.
        let same = energy_distances(1, |_| control.clone(), control.view(), Par::Seq);
        assert!(same.values[0].abs() <= 1e-12 * same.scale, "{:?}", same);
    }
}
