//! pertpy's `mean_var_distribution`: the mean squared difference, over a
//! grid, of two kernel density estimates of the features' (log mean, log
//! variance) points, one per group (sklearn's `KernelDensity` with the
//! exponential kernel and its "silverman" bandwidth).

use ndarray::ArrayView2;

/// A group's (log mean, log variance) points of the features whose mean is
/// positive (numpy's mean and population variance).
pub(super) fn points(x: ArrayView2<f64>) -> Vec<(f64, f64)> {
    let n = x.nrows() as f64;
    x.columns()
        .into_iter()
        .filter_map(|c| {
            let m = c.sum() / n;
            let v = c.iter().map(|a| (a - m) * (a - m)).sum::<f64>() / n;
            (m > 0.0).then(|| (m.ln(), v.ln()))
        })
        .collect()
}

/// numpy's `np.arange(start, stop, step)`: ceil((stop - start) / step)
/// values start + i (second - start).
fn arange(start: f64, stop: f64, step: f64) -> Vec<f64> {
    let len = ((stop - start) / step).ceil().max(0.0) as usize;
    let delta = (start + step) - start;
    (0..len).map(|i| start + i as f64 * delta).collect()
}

/// pertpy's `_grid_points(d, n_points=100)`.
fn grid(values: impl Iterator<Item = f64> + Clone) -> Vec<f64> {
    let lo = values.clone().fold(f64::INFINITY, f64::min);
    let hi = values.fold(f64::NEG_INFINITY, f64::max);
    let bin = (hi - lo) / 98.0;
    let (lo, hi) = (lo - bin, hi + bin);
    arange(lo + 0.5 * bin, hi, bin)
}

/// sklearn's density at `at` of an exponential-kernel KDE on `points` in
/// two dimensions, bandwidth (n (d + 2) / 4)^(-1 / (d + 4)) = n^(-1/6):
/// sum exp(-||at - p|| / h) / (n 2 pi h^2).
fn density(points: &[(f64, f64)], h: f64, at: (f64, f64)) -> f64 {
    let sum: f64 = points
        .iter()
        .map(|p| (-((at.0 - p.0).powi(2) + (at.1 - p.1).powi(2)).sqrt() / h).exp())
        .sum();
    sum / (points.len() as f64 * 2.0 * std::f64::consts::PI * h * h)
}

/// The distance of the two groups' points; NaN when a group has no
/// feature with a positive mean, or a point is not finite (a feature with
/// a positive mean and no variance has log variance -inf).
pub(super) fn distance(x: &[(f64, f64)], y: &[(f64, f64)]) -> f64 {
    let finite = |p: &(f64, f64)| p.0.is_finite() && p.1.is_finite();
    if x.is_empty() || y.is_empty() || !x.iter().chain(y).all(finite) {
        return f64::NAN;
    }
    let both = || x.iter().chain(y);
    let means = grid(both().map(|p| p.0));
    let vars = grid(both().map(|p| p.1));
    let bandwidth = |n: usize| (n as f64).powf(-1.0 / 6.0);
    let (hx, hy) = (bandwidth(x.len()), bandwidth(y.len()));
    let mut total = 0.0;
    for &m in &means {
        for &v in &vars {
            let d = density(x, hx, (m, v)) - density(y, hy, (m, v));
            total += d * d;
        }
    }
    total / (means.len() * vars.len()) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arange_as_numpy() {
        // np.arange(0.0, 1.0, 0.1) has 10 values; np.arange(0, 0.3, 0.1) 3
        // (0.3 / 0.1 = 2.9999999999999996).
        assert_eq!(arange(0.0, 1.0, 0.1).len(), 10);
        assert_eq!(arange(0.0, 0.3, 0.1).len(), 3);
        assert_eq!(arange(1.0, 0.0, 0.1).len(), 0);
    }

    #[test]
    fn a_density_integrates_to_one() {
        // Riemann sum over a wide grid of one point's density.
        let p = [(0.0, 0.0)];
        let h = 0.5;
        let step = 0.02;
        let mut total = 0.0;
        for i in -500..500 {
            for j in -500..500 {
                total += density(&p, h, (i as f64 * step, j as f64 * step)) * step * step;
            }
        }
        assert!((total - 1.0).abs() < 1e-3, "{total}");
        // Equal point sets: distance 0.
        let a = [(0.1, 0.2), (0.5, -1.0)];
        assert_eq!(distance(&a, &a), 0.0);
        assert!(distance(&a, &[]).is_nan());
    }
}
