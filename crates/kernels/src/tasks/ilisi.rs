//! Task 1: the local inverse Simpson index of batch labels (METRICS.md
//! "Task 1"), with harmonypy's kernel: weights exp(-beta d) on plain
//! distances, beta found by bisection so the entropy is log(perplexity).

use crate::neighbours::knn::Neighbours;
use rayon::prelude::*;

/// Bisection tolerance on the entropy and the step limit (harmonypy's).
pub const TOLERANCE: f64 = 1e-5;
pub const MAX_STEPS: usize = 50;

/// Normalised weights p_j = exp(-beta d_j) / sum and their entropy.
///
/// Computed with distances shifted by the nearest one, exp(-beta (d_j -
/// d_min)): the weights and the entropy are the same to rounding, but they
/// never all underflow. harmonypy computes exp(-beta d_j) as is; where all of
/// those underflow to 0 (large distances and beta, or perplexity 1, whose
/// bisection drives beta up) it returns LISI = -1 as a sentinel, which then
/// enters the mean. pertbench returns the limit instead: all weight on the
/// nearest neighbours.
fn weights(d: &[f64], beta: f64, p: &mut [f64]) -> f64 {
    let d_min = d.iter().copied().fold(f64::INFINITY, f64::min);
    let mut sum = 0.0;
    let mut dot = 0.0;
    for (pj, dj) in p.iter_mut().zip(d) {
        let shifted = dj - d_min;
        *pj = (-shifted * beta).exp();
        sum += *pj;
        dot += shifted * *pj;
    }
    if sum == 0.0 || !sum.is_finite() {
        p.iter_mut().for_each(|v| *v = 0.0);
        return 0.0;
    }
    p.iter_mut().for_each(|v| *v /= sum);
    sum.ln() + beta * dot / sum
}

/// Bisection on beta from 1 until the entropy of the weights is
/// log(perplexity); writes the final weights into `p`, returns the entropy.
fn fit_weights(d: &[f64], perplexity: f64, p: &mut [f64]) -> f64 {
    let log_u = perplexity.ln();
    let (mut beta, mut lo, mut hi) = (1.0f64, f64::NEG_INFINITY, f64::INFINITY);
    let mut h = weights(d, beta, p);
    for _ in 0..MAX_STEPS {
        let diff = h - log_u;
        if diff.abs() < TOLERANCE {
            break;
        }
        if diff > 0.0 {
            lo = beta;
            beta = if hi.is_finite() {
                (beta + hi) / 2.0
            } else {
                beta * 2.0
            };
        } else {
            hi = beta;
            beta = if lo.is_finite() {
                (beta + lo) / 2.0
            } else {
                beta / 2.0
            };
        }
        h = weights(d, beta, p);
    }
    h
}

/// Simpson index of one sample from its neighbours' distances and labels.
pub fn simpson(
    d: &[f64],
    labels: impl Fn(usize) -> usize,
    n_labels: usize,
    perplexity: f64,
) -> f64 {
    let mut p = vec![0.0; d.len()];
    fit_weights(d, perplexity, &mut p);
    let mut per = vec![0.0; n_labels];
    for (j, pj) in p.iter().enumerate() {
        per[labels(j)] += pj;
    }
    per.iter().map(|s| s * s).sum()
}

/// LISI (1 / Simpson) of every query from its neighbours; `label[r]` is the
/// batch code of reference row r.
pub fn lisi(nb: &Neighbours, label: &[u32], n_labels: usize, perplexity: f64) -> Vec<f64> {
    (0..nb.n_queries())
        .into_par_iter()
        .map(|q| {
            let (idx, d) = nb.row(q);
            1.0 / simpson(d, |j| label[idx[j] as usize] as usize, n_labels, perplexity)
        })
        .collect()
}

/// Mean, median and (median - 1) / (B - 1) of LISI values over B batches.
pub fn summarise(values: &[f64], n_batches: usize) -> (f64, f64, Option<f64>) {
    let mean = values.iter().sum::<f64>() / values.len() as f64;
    let mut s = values.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    let n = s.len();
    let median = if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    };
    let scaled = (n_batches >= 2).then(|| (median - 1.0) / (n_batches as f64 - 1.0));
    (mean, median, scaled)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn underflowing_weights_give_the_nearest_neighbour_limit() {
        // Far neighbours and perplexity 1: exp(-beta d) underflows for every
        // neighbour (harmonypy's LISI = -1); the limit puts all weight on the
        // nearest neighbour, here of label 1: Simpson 1, LISI 1.
        let d = [900.0, 950.0, 1000.0];
        let s = simpson(&d, |j| usize::from(j > 0) * 1 + usize::from(j == 0), 2, 1.0);
        assert!((s - 1.0).abs() < 1e-9, "{s}");
        // Two nearest neighbours at the same distance with different labels.
        let d = [900.0, 900.0, 1000.0];
        let s = simpson(&d, |j| j.min(1), 2, 1.0);
        assert!((s - 0.5).abs() < 1e-6, "{s}");
    }
    use crate::neighbours::knn::{knn, KnnMetric};

    /// METRICS.md reference vector (harmonypy 2.1 `compute_lisi`, perplexity 5).
    #[test]
    fn equals_harmonypy_reference_vector() {
        let n = 30;
        let x = ndarray::Array2::from_shape_fn((n, 2), |(i, j)| {
            let i = i as f64;
            (if j == 0 {
                3.0 * (1.3 * i).sin() + 0.01 * i
            } else {
                2.0 * (0.7 * i).cos() + 0.02 * i
            }) as f32
        });
        let label: Vec<u32> = (0..n as u32).map(|i| i % 3).collect();
        let ex: Vec<usize> = (0..n).collect();
        let nb = knn(
            x.view(),
            x.view(),
            15,
            KnnMetric::Euclidean,
            Some(&ex),
            faer::Par::rayon(0),
            &crate::runtime::work::Work::new(),
        )
        .unwrap();
        let l = lisi(&nb, &label, 3, 5.0);
        let want = [1.882417, 1.952395, 1.995161, 2.037130, 2.602867, 1.665167];
        for (a, b) in l.iter().zip(want) {
            // The f32 input rounds coordinates by ~1e-7 relative.
            assert!((a - b).abs() < 2e-6, "{a} vs {b}");
        }
        let (mean, median, scaled) = summarise(&l, 3);
        assert!((mean - 2.087277).abs() < 2e-6, "{mean}");
        assert!((median - 2.004867).abs() < 2e-6, "{median}");
        assert!((scaled.unwrap() - (median - 1.0) / 2.0).abs() < 1e-12);
    }

    /// An independent computation by hand: with all distances equal, the
    /// weights are uniform whatever beta, so Simpson = sum of label shares^2.
    #[test]
    fn equal_distances_give_label_shares() {
        let d = [1.0; 4];
        let labels = [0usize, 0, 1, 2];
        let s = simpson(&d, |j| labels[j], 3, 3.0);
        assert!((s - (0.25 + 0.0625 + 0.0625)).abs() < 1e-12);
        let (mean, median, scaled) = summarise(&[1.0, 2.0, 3.0, 10.0], 1);
        assert_eq!((mean, median, scaled), (4.0, 2.5, None));
    }

    /// Entropy at the found beta equals log(perplexity) to the tolerance.
    #[test]
    fn bisection_reaches_target_entropy() {
        let d: Vec<f64> = (1..=15).map(|v| v as f64 * 0.37).collect();
        let mut p = vec![0.0; d.len()];
        let log_u = 5f64.ln();
        let h = fit_weights(&d, 5.0, &mut p);
        assert!((h - log_u).abs() < TOLERANCE);
        let direct: f64 = -p.iter().map(|v| v * v.ln()).sum::<f64>();
        assert!((direct - h).abs() < 1e-9);
    }
}
