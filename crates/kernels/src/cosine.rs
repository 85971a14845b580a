//! Cosine similarities in f64: unit rows, the sorted upper-triangle null of
//! all pairwise similarities (computed in blocks, never as an n x n matrix),
//! and similarities of chosen pairs.

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

/// All cos(u_i, u_j) for i < j, sorted ascending. `u` must have unit (or zero) rows.
/// Blocked: each block of rows is multiplied against the rows after it.
pub fn sorted_upper_triangle(u: &ndarray::Array2<f64>) -> Vec<f64> {
    let n = u.nrows();
    let total = n * n.saturating_sub(1) / 2;
    let mut out = Vec::with_capacity(total);
    let block = 512usize;
    let all = rows_to_faer(u, 0..n);
    let mut start = 0;
    while start < n {
        let end = (start + block).min(n);
        let a = rows_to_faer(u, start..end);
        let rest = all.as_ref().subrows(start, n - start);
        let prod = crate::work::timed(crate::work::Kernel::DenseProduct, || {
            crate::work::add_product(end - start, u.ncols(), n - start);
            &a * rest.transpose()
        });
        for i in 0..(end - start) {
            for j in (i + 1)..(n - start) {
                out.push(prod[(i, j)].clamp(-1.0, 1.0));
            }
        }
        start = end;
    }
    debug_assert_eq!(out.len(), total);
    out.par_sort_unstable_by(|a, b| a.total_cmp(b));
    out
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
        let null = sorted_upper_triangle(&u);
        let s = 0.5f64.sqrt();
        let mut want = vec![0.0, s, 0.0, s, 0.0, 0.0];
        want.sort_by(|a, b| a.total_cmp(b));
        assert_eq!(null.len(), 6);
        for (a, b) in null.iter().zip(&want) {
            assert!((a - b).abs() < 1e-12);
        }
        assert!((pair_cosines(&u, &[(0, 2)])[0] - s).abs() < 1e-12);
    }

    #[test]
    fn blocked_null_spans_blocks() {
        // 600 rows crosses the 512-row block edge.
        let n = 600;
        let x =
            ndarray::Array2::from_shape_fn((n, 3), |(i, j)| ((i * 7 + j * 13) % 11) as f64 - 5.0);
        let u = unit_rows(&x);
        let null = sorted_upper_triangle(&u);
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
