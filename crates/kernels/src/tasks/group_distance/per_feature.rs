//! Distances averaged over features (pertpy's `sym_kldiv`, `t_test`,
//! `ks_test`): each feature compares the two groups' values on their own.

use ndarray::ArrayView2;

/// A group's per-feature moments (numpy's mean and population standard
/// deviation), and its sorted columns when a KS statistic needs them.
pub(super) struct Columns {
    n: usize,
    mean: Vec<f64>,
    std: Vec<f64>,
    sorted: Vec<Vec<f64>>,
}

impl Columns {
    pub(super) fn new(x: ArrayView2<f64>, keep_sorted: bool) -> Columns {
        let n = x.nrows();
        let g = x.ncols();
        let mut mean = Vec::with_capacity(g);
        let mut std = Vec::with_capacity(g);
        let mut sorted = Vec::new();
        for column in x.columns() {
            let m = column.sum() / n as f64;
            let v = column.iter().map(|a| (a - m) * (a - m)).sum::<f64>() / n as f64;
            mean.push(m);
            std.push(v.sqrt());
            if keep_sorted {
                let mut c = column.to_vec();
                c.sort_by(f64::total_cmp);
                sorted.push(c);
            }
        }
        Columns {
            n,
            mean,
            std,
            sorted,
        }
    }
}

/// Mean over features of KL(x || y) + KL(y || x) between Gaussians with
/// the groups' means and standard deviations + `epsilon` (pertpy's loop).
pub(super) fn sym_kldiv(x: &Columns, y: &Columns, epsilon: f64) -> f64 {
    let g = x.mean.len();
    let mut total = 0.0;
    for i in 0..g {
        let (mx, sx) = (x.mean[i], x.std[i] + epsilon);
        let (my, sy) = (y.mean[i], y.std[i] + epsilon);
        let kl = (sy / sx).ln() + (sx * sx + (mx - my) * (mx - my)) / (2.0 * sy * sy) - 0.5;
        let klr = (sx / sy).ln() + (sy * sy + (my - mx) * (my - mx)) / (2.0 * sx * sx) - 0.5;
        total += kl + klr;
    }
    total / g as f64
}

/// Mean over features of |Welch's t|, each group's sample variance plus
/// `epsilon` (pertpy's loop: std^2 n / (n - 1) + epsilon).
pub(super) fn t_test(x: &Columns, y: &Columns, epsilon: f64) -> f64 {
    let g = x.mean.len();
    let (n1, n2) = (x.n as f64, y.n as f64);
    let mut total = 0.0;
    for i in 0..g {
        let v1 = x.std[i].powi(2) * n1 / (n1 - 1.0) + epsilon;
        let v2 = y.std[i].powi(2) * n2 / (n2 - 1.0) + epsilon;
        let t = (x.mean[i] - y.mean[i]) / (v1 / n1 + v2 / n2).sqrt();
        total += t.abs();
    }
    total / g as f64
}

/// Mean over features of the two-sample KS statistic max_v |F_x(v) -
/// F_y(v)| (right-continuous empirical CDFs, as scipy's `ks_2samp`).
pub(super) fn ks_test(x: &Columns, y: &Columns) -> f64 {
    let g = x.sorted.len();
    let mut total = 0.0;
    for i in 0..g {
        total += ks_statistic(&x.sorted[i], &y.sorted[i]);
    }
    total / g as f64
}

/// KS statistic of two ascending samples.
pub(super) fn ks_statistic(a: &[f64], b: &[f64]) -> f64 {
    let (n1, n2) = (a.len() as f64, b.len() as f64);
    let (mut i, mut j) = (0, 0);
    let mut d = 0.0f64;
    while i < a.len() || j < b.len() {
        // The next distinct value of the merge; both CDFs step past it.
        let v = match (a.get(i), b.get(j)) {
            (Some(&p), Some(&q)) => p.min(q),
            (Some(&p), None) => p,
            (None, Some(&q)) => q,
            (None, None) => unreachable!(),
        };
        while i < a.len() && a[i] <= v {
            i += 1;
        }
        while j < b.len() && b[j] <= v {
            j += 1;
        }
        d = d.max((i as f64 / n1 - j as f64 / n2).abs());
    }
    d.min(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ks_statistic_by_hand() {
        // F_a and F_b after each value: 1 (1/3, 0), 2 (1/3, 1/2),
        // 3 (2/3, 1/2), 4 (1, 1): the largest gap is 1/3.
        assert!((ks_statistic(&[1.0, 3.0, 4.0], &[2.0, 4.0]) - 1.0 / 3.0).abs() < 1e-15);
        // Disjoint samples: 1; identical: 0; ties across the samples step
        // together.
        assert_eq!(ks_statistic(&[1.0, 2.0], &[3.0, 4.0]), 1.0);
        assert_eq!(ks_statistic(&[1.0, 2.0], &[1.0, 2.0]), 0.0);
        assert_eq!(ks_statistic(&[1.0, 1.0], &[1.0]), 0.0);
    }
}
