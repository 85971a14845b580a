//! Cosine similarities in f64: unit rows, the sorted upper-triangle null of
//! all pairwise similarities (computed in blocks, never as an n x n matrix),
//! and similarities of chosen pairs.

use crate::runtime::work::{Kernel, Work};
use faer::Mat;
use rayon::prelude::*;

/// Rows scaled to unit Euclidean norm; zero rows stay zero (cosine 0).
pub fn unit_rows(x: &ndarray::Array2<f64>) -> ndarray::Array2<f64> {
    let mut u = x.clone();
    u.outer_iter_mut().into_par_iter().for_each(|mut r| {
        let norm = r.iter().map(|v| v * v).sum::<f64>().sqrt();
        if norm > 0.0 {
            r.mapv_inplace(|v| v / norm);
        }
    });
    u
}

fn rows_to_faer(x: &ndarray::Array2<f64>, rows: std::ops::Range<usize>) -> Mat<f64> {
    let d = x.ncols();
    Mat::from_fn(rows.len(), d, |i, j| x[(rows.start + i, j)])
}

/// Every cos(u_i, u_j) for i < j, row by row, in one arithmetic: pair
/// similarities are read from the same values the null is sorted from, so
/// a pair that ties a null value at a threshold resolves as efaar's
/// (which reads both from one similarity matrix), never 1 ulp apart
/// (issue 20). Blocked: each block of rows is multiplied against the rows
/// after it; the triangle is kept, never an n x n matrix.
pub struct UpperTriangle {
    n: usize,
    values: Vec<f64>,
}

impl UpperTriangle {
    /// `u` must have unit (or zero) rows. The products are recorded in
    /// `work`.
    pub fn new(u: &ndarray::Array2<f64>, work: &Work) -> Self {
        Self::of_products(u, work, |_, _, dot| dot.clamp(-1.0, 1.0))
    }

    /// `value(i, j, u_i . u_j)` for every pair i < j, the products taken in
    /// blocks as [`UpperTriangle::new`] takes them.
    pub fn of_products(
        u: &ndarray::Array2<f64>,
        work: &Work,
        value: impl Fn(usize, usize, f64) -> f64,
    ) -> Self {
        let n = u.nrows();
        let total = n * n.saturating_sub(1) / 2;
        let mut values = Vec::with_capacity(total);
        let block = 512usize;
        let all = rows_to_faer(u, 0..n);
        let mut start = 0;
        while start < n {
            let end = (start + block).min(n);
            let a = rows_to_faer(u, start..end);
            let rest = all.as_ref().subrows(start, n - start);
            let prod = work.timed(Kernel::DenseProduct, || {
                work.add_product(end - start, u.ncols(), n - start);
                &a * rest.transpose()
            });
            for i in 0..(end - start) {
                for j in (i + 1)..(n - start) {
                    values.push(value(start + i, start + j, prod[(i, j)]));
                }
            }
            start = end;
        }
        debug_assert_eq!(values.len(), total);
        UpperTriangle { n, values }
    }

    /// The value of pair a != b (cos(u_a, u_b) for [`UpperTriangle::new`]).
    pub fn get(&self, a: usize, b: usize) -> f64 {
        let (i, j) = if a < b { (a, b) } else { (b, a) };
        debug_assert!(i != j && j < self.n);
        self.values[i * self.n - i * (i + 1) / 2 + (j - i - 1)]
    }

    /// The similarity of each pair (rows a != b).
    pub fn pairs(&self, pairs: &[(usize, usize)]) -> Vec<f64> {
        pairs.iter().map(|&(a, b)| self.get(a, b)).collect()
    }

    /// Every value, ascending: the null.
    pub fn sorted(&self) -> Vec<f64> {
        let mut out = self.values.clone();
        out.par_sort_unstable_by(|a, b| a.total_cmp(b));
        out
    }
}

/// All cos(u_i, u_j) for i < j, sorted ascending. `u` must have unit (or zero) rows.
pub fn sorted_upper_triangle(u: &ndarray::Array2<f64>, work: &Work) -> Vec<f64> {
    UpperTriangle::new(u, work).sorted()
}

/// cos(u_a, u_b) for each pair of row indices.
pub fn pair_cosines(u: &ndarray::Array2<f64>, pairs: &[(usize, usize)]) -> Vec<f64> {
    pairs
        .par_iter()
        .map(|&(a, b)| u.row(a).dot(&u.row(b)).clamp(-1.0, 1.0))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn null_is_sorted_upper_triangle() {
        let x = array![[1.0, 0.0], [0.0, 2.0], [1.0, 1.0], [0.0, 0.0]];
        let u = unit_rows(&x);
        let null = sorted_upper_triangle(&u, &Work::new());
        let s = 0.5f64.sqrt();
        let mut want = vec![0.0, s, 0.0, s, 0.0, 0.0];
        want.sort_by(|a, b| a.total_cmp(b));
        assert_eq!(null.len(), 6);
        for (a, b) in null.iter().zip(&want) {
            assert!((a - b).abs() < 1e-12);
        }
        assert!((pair_cosines(&u, &[(0, 2)])[0] - s).abs() < 1e-12);
    }

    /// Issue 20 item 5: each pair's similarity is, bit for bit, a value of
    /// the null (the old per-pair dot product could differ by an ulp from
    /// the blocked product's, and cross a threshold the null's copy did not).
    #[test]
    fn pair_similarities_are_values_of_the_null_bit_for_bit() {
        let n = 700;
        let x = ndarray::Array2::from_shape_fn((n, 37), |(i, j)| {
            ((i * 31 + j * 17) % 23) as f64 * 0.13 - 1.1 + (i as f64 * 0.7 + j as f64).sin()
        });
        let u = unit_rows(&x);
        let tri = UpperTriangle::new(&u, &Work::new());
        let null = tri.sorted();
        let pairs: Vec<(usize, usize)> = (0..n)
            .flat_map(|a| [(a, (a * 7 + 3) % n)])
            .filter(|(a, b)| a != b)
            .collect();
        let mut ulp_apart = 0;
        for (&(a, b), s) in pairs.iter().zip(tri.pairs(&pairs)) {
            assert!(
                null.binary_search_by(|v| v.total_cmp(&s)).is_ok(),
                "pair ({a}, {b}): {s} not in the null"
            );
            assert_eq!(s.to_bits(), tri.get(b, a).to_bits());
            if pair_cosines(&u, &[(a, b)])[0].to_bits() != s.to_bits() {
                ulp_apart += 1;
            }
        }
        // The separate dot product does differ for some pairs: the case the
        // shared triangle exists for.
        assert!(ulp_apart > 0, "no pair differed; the test lost its point");
    }

    #[test]
    fn blocked_null_spans_blocks() {
        // 600 rows crosses the 512-row block edge.
        let n = 600;
        let x =
            ndarray::Array2::from_shape_fn((n, 3), |(i, j)| ((i * 7 + j * 13) % 11) as f64 - 5.0);
        let u = unit_rows(&x);
        let null = sorted_upper_triangle(&u, &Work::new());
        let mut direct = Vec::new();
        for i in 0..n {
            for j in (i + 1)..n {
                direct.push(u.row(i).dot(&u.row(j)).clamp(-1.0, 1.0));
            }
        }
        direct.sort_by(|a, b| a.total_cmp(b));
        assert_eq!(null.len(), direct.len());
        let worst = null
            .iter()
            .zip(&direct)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        assert!(worst < 1e-12, "{worst}");
    }
}
