//! Benjamini-Hochberg adjusted p-values (step-up false discovery rate), as
//! R's `p.adjust(method = "BH")` and scipy's `false_discovery_control`.

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

#[cfg(test)]
mod tests {
    use super::*;

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
