//! Distances between the two groups' mean profiles (pertpy's pseudobulk
//! metrics with `agg_fct=np.mean`).

use super::GroupDistance;
use crate::stats::ranks::average_ranks;
use crate::KernelError;
use faer::linalg::solvers::Solve;
use ndarray::ArrayView2;

/// Column means, rows added in order and divided by n (numpy's
/// `mean(axis=0)` on a row-major array).
pub(super) fn column_means(x: ArrayView2<f64>) -> Vec<f64> {
    let mut sum = vec![0.0; x.ncols()];
    for row in x.outer_iter() {
        for (s, v) in sum.iter_mut().zip(row) {
            *s += v;
        }
    }
    let n = x.nrows() as f64;
    sum.iter_mut().for_each(|s| *s /= n);
    sum
}

/// A pseudobulk distance of the means `a` (X's) and `b` (Y's).
pub(super) fn of_means(metric: GroupDistance, a: &[f64], b: &[f64]) -> f64 {
    let g = a.len() as f64;
    let diff = || a.iter().zip(b).map(|(x, y)| x - y);
    match metric {
        GroupDistance::Euclidean => diff().map(|d| d * d).sum::<f64>().sqrt(),
        GroupDistance::MeanSquaredError => {
            // numpy: norm(...) ** 2 / G.
            diff().map(|d| d * d).sum::<f64>().sqrt().powi(2) / g
        }
        GroupDistance::MeanAbsoluteError => diff().map(f64::abs).sum::<f64>() / g,
        GroupDistance::PearsonDistance => 1.0 - pearson(a, b),
        GroupDistance::SpearmanDistance => 1.0 - pearson(&average_ranks(a), &average_ranks(b)),
        GroupDistance::KendallTauDistance => (1.0 - kendall_tau_b(a, b)) * g * (g - 1.0) / 4.0,
        GroupDistance::CosineDistance => {
            // scipy.spatial.distance.cosine: 1 - uv / sqrt(uu vv), clipped.
            let dot = |u: &[f64], v: &[f64]| u.iter().zip(v).map(|(p, q)| p * q).sum::<f64>();
            let d = 1.0 - dot(a, b) / (dot(a, a) * dot(b, b)).sqrt();
            if d.is_nan() {
                d
            } else {
                d.clamp(0.0, 2.0)
            }
        }
        GroupDistance::R2Distance => {
            // sklearn's r2_score(y_true = a, y_pred = b), force_finite.
            let mean = a.iter().sum::<f64>() / g;
            let numerator: f64 = diff().map(|d| d * d).sum();
            let denominator: f64 = a.iter().map(|v| (v - mean) * (v - mean)).sum();
            let r2 = if denominator != 0.0 {
                1.0 - numerator / denominator
            } else if numerator == 0.0 {
                1.0
            } else {
                0.0
            };
            1.0 - r2
        }
        other => unreachable!("{} is not a pseudobulk distance", other.name()),
    }
}

/// Pearson's r as scipy computes it (centred, scaled, clipped to [-1, 1]);
/// NaN when either vector is constant.
pub(super) fn pearson(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len() as f64;
    let ma = a.iter().sum::<f64>() / n;
    let mb = b.iter().sum::<f64>() / n;
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (x, y) in a.iter().zip(b) {
        let (u, v) = (x - ma, y - mb);
        sab += u * v;
        saa += u * u;
        sbb += v * v;
    }
    if saa == 0.0 || sbb == 0.0 {
        return f64::NAN;
    }
    (sab / (saa.sqrt() * sbb.sqrt())).clamp(-1.0, 1.0)
}

/// Kendall's tau-b with scipy's tie corrections: (concordant - discordant)
/// / sqrt((n0 - ties in a) (n0 - ties in b)), n0 = n (n - 1) / 2; NaN when
/// either vector is constant. Discordant pairs are counted by merge sort
/// (Knight's algorithm), O(n log n).
pub(super) fn kendall_tau_b(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len();
    if n < 2 {
        return f64::NAN;
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&i, &j| a[i].total_cmp(&a[j]).then(b[i].total_cmp(&b[j])));
    let tot = (n * (n - 1) / 2) as u64;
    let ties = |values: &mut dyn Iterator<Item = (f64, f64)>, both: bool| -> u64 {
        // Pairs tied in the key over runs of equal keys (keys come sorted).
        let mut count = 0u64;
        let mut run = 0u64;
        let mut last: Option<(f64, f64)> = None;
        for v in values {
            let same = match last {
                Some(l) => l.0 == v.0 && (!both || l.1 == v.1),
                None => false,
            };
            if same {
                run += 1;
            } else {
                count += run * (run + 1) / 2;
                run = 0;
            }
            last = Some(v);
        }
        count + run * (run + 1) / 2
    };
    let a_ties = ties(&mut order.iter().map(|&i| (a[i], 0.0)), false);
    let joint_ties = ties(&mut order.iter().map(|&i| (a[i], b[i])), true);
    let mut sorted_b: Vec<f64> = b.to_vec();
    sorted_b.sort_by(f64::total_cmp);
    let b_ties = ties(&mut sorted_b.iter().map(|&v| (v, 0.0)), false);
    if a_ties == tot || b_ties == tot {
        return f64::NAN;
    }
    // Discordant pairs: inversions (strict) of b in the (a, b) order.
    let mut seq: Vec<f64> = order.iter().map(|&i| b[i]).collect();
    let mut buffer = vec![0.0; n];
    let discordant = inversions(&mut seq, &mut buffer);
    let concordant_minus_discordant =
        tot as f64 - a_ties as f64 - b_ties as f64 + joint_ties as f64 - 2.0 * discordant as f64;
    let tau = concordant_minus_discordant
        / ((tot - a_ties) as f64).sqrt()
        / ((tot - b_ties) as f64).sqrt();
    tau.clamp(-1.0, 1.0)
}

/// Pairs i < j with v[i] > v[j]; sorts `v`.
fn inversions(v: &mut [f64], buffer: &mut [f64]) -> u64 {
    let n = v.len();
    if n < 2 {
        return 0;
    }
    let mid = n / 2;
    let mut count = {
        let (left, right) = v.split_at_mut(mid);
        let (bl, br) = buffer.split_at_mut(mid);
        inversions(left, bl) + inversions(right, br)
    };
    let (mut i, mut j, mut k) = (0, mid, 0);
    while i < mid && j < n {
        if v[j] < v[i] {
            buffer[k] = v[j];
            count += (mid - i) as u64;
            j += 1;
        } else {
            buffer[k] = v[i];
            i += 1;
        }
        k += 1;
    }
    buffer[k..k + mid - i].copy_from_slice(&v[i..mid]);
    k += mid - i;
    buffer[k..k + n - j].copy_from_slice(&v[j..n]);
    v.copy_from_slice(&buffer[..n]);
    count
}

/// scipy's mahalanobis(mean X, mean Y, inv(cov(X))): sqrt(d' S^-1 d) with
/// S X's covariance (ddof 1), solved by Cholesky; NaN when S is singular
/// (fewer samples than features, or a constant feature), where numpy's
/// `inv` raises or returns a numerically meaningless inverse.
pub(super) fn mahalanobis(x: ArrayView2<f64>, mean_y: &[f64]) -> Result<f64, KernelError> {
    let (n, g) = x.dim();
    let mean_x = column_means(x);
    let mut cov = faer::Mat::<f64>::zeros(g, g);
    for row in x.outer_iter() {
        for i in 0..g {
            let di = row[i] - mean_x[i];
            for j in 0..=i {
                cov[(i, j)] += di * (row[j] - mean_x[j]);
            }
        }
    }
    let denominator = (n - 1) as f64;
    for i in 0..g {
        for j in 0..=i {
            let v = cov[(i, j)] / denominator;
            cov[(i, j)] = v;
            cov[(j, i)] = v;
        }
    }
    let Ok(chol) = cov.as_ref().llt(faer::Side::Lower) else {
        return Ok(f64::NAN);
    };
    // Refuse a covariance whose condition number exceeds 1e12 (the square
    // of the Cholesky factor's diagonal ratio bounds it from below).
    let l = chol.L();
    let (lo, hi) = (0..g).fold((f64::INFINITY, 0.0f64), |(lo, hi), i| {
        (lo.min(l[(i, i)]), hi.max(l[(i, i)]))
    });
    if !(lo > 0.0 && (hi / lo) * (hi / lo) < 1e12) {
        return Ok(f64::NAN);
    }
    let diff: Vec<f64> = mean_x.iter().zip(mean_y).map(|(a, b)| a - b).collect();
    let rhs = faer::Mat::<f64>::from_fn(g, 1, |i, _| diff[i]);
    let solved = chol.solve(&rhs);
    let m: f64 = (0..g).map(|i| diff[i] * solved[(i, 0)]).sum();
    Ok(m.sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kendall_tau_b_against_pairs() {
        // Brute force over pairs with ties in both vectors.
        let a = [1.0, 2.0, 2.0, 3.0, 5.0, 5.0, 4.0, 0.5];
        let b = [2.0, 1.0, 3.0, 3.0, 0.0, 4.0, 4.0, 1.0];
        let (mut c, mut d, mut ta, mut tb) = (0.0, 0.0, 0.0, 0.0);
        let n = a.len();
        for i in 0..n {
            for j in i + 1..n {
                let s = (a[i] - a[j]) * (b[i] - b[j]);
                if s > 0.0 {
                    c += 1.0;
                } else if s < 0.0 {
                    d += 1.0;
                }
                if a[i] == a[j] {
                    ta += 1.0;
                }
                if b[i] == b[j] {
                    tb += 1.0;
                }
            }
        }
        let n0 = (n * (n - 1) / 2) as f64;
        let want = (c - d) / ((n0 - ta) * (n0 - tb)).sqrt();
        assert!((kendall_tau_b(&a, &b) - want).abs() < 1e-15);
        assert!(kendall_tau_b(&[1.0, 1.0], &[1.0, 2.0]).is_nan());
        assert_eq!(kendall_tau_b(&[1.0, 2.0, 3.0], &[3.0, 2.0, 1.0]), -1.0);
    }
}
