//! The `random` and `shuffled` baselines (METRICS.md "Baselines").

use crate::stats::rng::stream;
use crate::Matrix;
use rand::seq::SliceRandom;
use rand_distr::{Distribution, StandardNormal};

/// iid N(0, 1), n x d, from the seed.
pub fn random_normal(n: usize, d: usize, seed: u64) -> Matrix {
    let mut rng = stream(seed, "baseline-random", 0);
    Matrix::from_shape_simple_fn((n, d), || StandardNormal.sample(&mut rng))
}

/// The permutation used by `shuffled`: output row i is input row perm[i].
pub fn shuffle_permutation(n: usize, seed: u64) -> Vec<usize> {
    let mut perm: Vec<usize> = (0..n).collect();
    perm.shuffle(&mut stream(seed, "baseline-shuffled", 0));
    perm
}

/// Rows of `x` permuted: labels no longer match their samples.
pub fn shuffled(x: &Matrix, seed: u64) -> Matrix {
    let perm = shuffle_permutation(x.nrows(), seed);
    x.select(ndarray::Axis(0), &perm)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_is_seeded_standard_normal() {
        let a = random_normal(2000, 5, 1);
        assert_eq!(a, random_normal(2000, 5, 1));
        assert_ne!(a, random_normal(2000, 5, 2));
        let mean = a.iter().map(|v| *v as f64).sum::<f64>() / a.len() as f64;
        let var = a.iter().map(|v| (*v as f64 - mean).powi(2)).sum::<f64>() / a.len() as f64;
        assert!(
            mean.abs() < 0.03 && (var - 1.0).abs() < 0.05,
            "{mean} {var}"
        );
    }

    #[test]
    fn shuffled_permutes_rows() {
        let x = Matrix::from_shape_fn((50, 2), |(i, j)| (i * 2 + j) as f32);
        let s = shuffled(&x, 3);
        let mut rows: Vec<f32> = s.column(0).to_vec();
        rows.sort_by(|a, b| a.total_cmp(b));
        assert_eq!(rows, x.column(0).to_vec());
        assert_ne!(s, x);
        for r in s.outer_iter() {
            assert_eq!(r[1], r[0] + 1.0);
        }
    }
}
