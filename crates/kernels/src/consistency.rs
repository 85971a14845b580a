//! Task 3, perturbation consistency (METRICS.md "Task 3").
//!
//! avgsim_g = mean over pairs i < j of cos(x_i, x_j)
//!          = (||sum_i u_i||^2 - m) / (n (n - 1)),
//! with u_i the unit rows and m the number of non-zero rows (a zero row has
//! cosine 0 with everything, so it adds no self term).
//! p_g = #(null >= avgsim_g) / |null| (the efaar-benchmarking convention
//! `1 - searchsorted(null, s, "left") / |null|`).

use crate::rng::stream;
use crate::search::searchsorted_left;
use crate::KernelError;
use ndarray::{Array1, Array2};
use rand::seq::index::sample;
use rayon::prelude::*;

/// Mean pairwise cosine of the rows listed, from unit rows. None below 2 rows.
pub fn avgsim(unit: &Array2<f64>, rows: &[usize]) -> Option<f64> {
    let n = rows.len();
    if n < 2 {
        return None;
    }
    let mut sum = Array1::<f64>::zeros(unit.ncols());
    let mut nonzero = 0usize;
    for &r in rows {
        let row = unit.row(r);
        if row.iter().any(|v| *v != 0.0) {
            nonzero += 1;
        }
        sum += &row;
    }
    let sq: f64 = sum.iter().map(|v| v * v).sum();
    Some((sq - nonzero as f64) / (n as f64 * (n as f64 - 1.0)))
}

/// p-value of `s` against an ascending null: fraction of null values >= s.
pub fn pvalue(sorted_null: &[f64], s: f64) -> f64 {
    let left = searchsorted_left(sorted_null, s);
    (sorted_null.len() - left) as f64 / sorted_null.len() as f64
}

/// `n_sets` avgsims of random sets of `size` rows drawn without replacement
/// from `pool`, sorted ascending. Set k uses its own seeded stream, so the
/// null is the same whatever the thread count.
pub fn permutation_null(
    unit: &Array2<f64>,
    pool: &[usize],
    size: usize,
    n_sets: usize,
    seed: u64,
) -> Result<Vec<f64>, KernelError> {
    if size < 2 || size > pool.len() {
        return Err(KernelError::NotEnough(format!(
            "cannot draw sets of {size} rows from a pool of {} non-control samples",
            pool.len()
        )));
    }
    let tag = format!("consistency-permutation-{size}");
    let mut null: Vec<f64> = (0..n_sets)
        .into_par_iter()
        .map(|k| {
            let mut rng = stream(seed, &tag, k as u64);
            let picked: Vec<usize> = sample(&mut rng, pool.len(), size)
                .into_iter()
                .map(|i| pool[i])
                .collect();
            avgsim(unit, &picked).expect("size >= 2")
        })
        .collect();
    null.sort_by(|a, b| a.total_cmp(b));
    Ok(null)
}

/// Fraction of p-values at or below `alpha`.
pub fn fraction_significant(pvalues: &[f64], alpha: f64) -> Option<f64> {
    if pvalues.is_empty() {
        return None;
    }
    Some(pvalues.iter().filter(|p| **p <= alpha).count() as f64 / pvalues.len() as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cosine::unit_rows;
    use ndarray::array;

    fn direct_mean_lower_triangle(x: &Array2<f64>, rows: &[usize]) -> f64 {
        let mut acc = 0.0;
        let mut count = 0.0;
        for (a, &i) in rows.iter().enumerate() {
            for &j in &rows[..a] {
                let (xi, xj) = (x.row(i), x.row(j));
                let (ni, nj) = (xi.dot(&xi).sqrt(), xj.dot(&xj).sqrt());
                acc += if ni == 0.0 || nj == 0.0 {
                    0.0
                } else {
                    xi.dot(&xj) / (ni * nj)
                };
                count += 1.0;
            }
        }
        acc / count
    }

    #[test]
    fn closed_form_equals_mean_pairwise_cosine() {
        let x = array![
            [1.0, 2.0, 0.5],
            [-1.0, 0.3, 2.0],
            [0.0, 0.0, 0.0],
            [3.0, 1.0, -1.0],
            [0.2, 0.1, 0.1]
        ];
        let u = unit_rows(&x);
        for rows in [vec![0, 1], vec![0, 1, 3], vec![0, 2, 3, 4], vec![1, 2]] {
            let got = avgsim(&u, &rows).unwrap();
            let want = direct_mean_lower_triangle(&x, &rows);
            assert!((got - want).abs() < 1e-12, "{rows:?}: {got} vs {want}");
        }
        assert_eq!(avgsim(&u, &[0]), None);
    }

    #[test]
    fn pvalue_counts_null_at_or_above() {
        let null = [0.1, 0.2, 0.2, 0.5];
        assert_eq!(pvalue(&null, 0.2), 0.75);
        assert_eq!(pvalue(&null, 0.6), 0.0);
        assert_eq!(pvalue(&null, 0.0), 1.0);
        assert_eq!(
            fraction_significant(&[0.01, 0.05, 0.2], 0.05),
            Some(2.0 / 3.0)
        );
    }

    #[test]
    fn permutation_null_is_seeded_and_sized() {
        let x = Array2::from_shape_fn((50, 4), |(i, j)| ((i * 31 + j * 17) % 13) as f64 - 6.0);
        let u = unit_rows(&x);
        let pool: Vec<usize> = (0..50).collect();
        let a = permutation_null(&u, &pool, 5, 100, 3).unwrap();
        let b = permutation_null(&u, &pool, 5, 100, 3).unwrap();
        let c = permutation_null(&u, &pool, 5, 100, 4).unwrap();
        assert_eq!(a.len(), 100);
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert!(a.windows(2).all(|w| w[0] <= w[1]));
        assert!(permutation_null(&u, &pool, 51, 10, 3).is_err());
    }
}
