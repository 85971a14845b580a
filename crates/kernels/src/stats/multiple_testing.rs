//! Adjusted p-values: Benjamini-Hochberg (step-up false discovery rate), as
//! R's `p.adjust(method = "BH")` and scipy's `false_discovery_control`; and
//! Holm-Sidak (step-down family-wise error), as statsmodels'
//! `multipletests(method="holm-sidak")`, pertpy's `DistanceTest` default.

/// q_(i) = min over j >= i of p_(j) m / j (1-based ranks of the sorted
/// p-values), capped at 1, returned in the input order.
pub fn benjamini_hochberg(p: &[f64]) -> Vec<f64> {
    let m = p.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&a, &b| p[a].total_cmp(&p[b]));
    let mut q = vec![0.0; m];
    let mut running = 1.0f64;
    for (rank0, &i) in order.iter().enumerate().rev() {
        running = running.min(p[i] * (m as f64 / (rank0 + 1) as f64));
        q[i] = running.min(1.0);
    }
    q
}

/// Holm-Sidak: with the p-values sorted ascending, p_(i) becomes
/// 1 - (1 - p_(i))^(m - i + 1) (1-based i), then the running maximum from
/// the smallest, capped at 1, returned in the input order. statsmodels'
/// arithmetic: -expm1((m - i + 1) log1p(-p_(i))).
pub fn holm_sidak(p: &[f64]) -> Vec<f64> {
    let m = p.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&a, &b| p[a].total_cmp(&p[b]));
    let mut q = vec![0.0; m];
    let mut running = f64::NEG_INFINITY;
    for (rank0, &i) in order.iter().enumerate() {
        let raw = -(((m - rank0) as f64) * (-p[i]).ln_1p()).exp_m1();
        running = running.max(raw);
        q[i] = running.min(1.0);
    }
    q
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holm_sidak_by_hand() {
        // Sorted .01 .02 .04 (m = 3): 1 - .99^3, 1 - .98^2, 1 - .96^1, then
        // the running maximum.
        let q = holm_sidak(&[0.04, 0.01, 0.02]);
        let want = [0.04, 1.0 - 0.99f64.powi(3), 1.0 - 0.98f64.powi(2)];
        let want = [
            want[1].max(want[2]).max(0.04),
            want[1],
            want[1].max(want[2]),
        ];
        for (a, b) in q.iter().zip(want) {
            assert!((a - b).abs() < 1e-15, "{q:?}");
        }
        // A p-value of 1 stays 1; a smaller p after a larger adjusted one
        // takes the running maximum.
        assert_eq!(holm_sidak(&[1.0]), vec![1.0]);
        let q = holm_sidak(&[0.3, 0.31]);
        assert!((q[0] - (1.0 - 0.7f64 * 0.7)).abs() < 1e-15);
        assert_eq!(q[1], q[0]);
        assert!(holm_sidak(&[]).is_empty());
    }

    #[test]
    fn by_hand() {
        // Sorted .01 .03 .04 .20 -> p m / rank: .04 .06 .0533 .20; running
        // minimum from the top: .04 .0533 .0533 .20.
        let q = benjamini_hochberg(&[0.01, 0.04, 0.03, 0.20]);
        let want = [0.04, 0.04 * 4.0 / 3.0, 0.04 * 4.0 / 3.0, 0.20];
        for (a, b) in q.iter().zip(want) {
            assert!((a - b).abs() < 1e-12, "{q:?}");
        }
        // Capped at 1; ties share a value; empty input.
        assert_eq!(benjamini_hochberg(&[0.9, 0.9]), vec![0.9, 0.9]);
        assert_eq!(
            benjamini_hochberg(&[0.6, 0.8, 0.99]),
            vec![0.99, 0.99, 0.99]
        );
        assert_eq!(benjamini_hochberg(&[0.5]), vec![0.5]);
        assert!(benjamini_hochberg(&[]).is_empty());
    }
}
