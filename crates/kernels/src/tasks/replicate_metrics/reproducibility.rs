//! Replicate reproducibility (cytominer-eval's `replicate_reproducibility`,
//! "percent replicating"): the share of replicate pairs whose correlation
//! exceeds the `quantile` of the non-replicate pairs' correlations, each
//! unordered pair counted once.

use super::{median, replicates, Correlations};
use crate::stats::bootstrap::quantile_sorted;
use crate::KernelError;
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq)]
pub struct Reproducibility {
    /// #(replicate pairs with correlation > threshold) / #replicate pairs.
    pub fraction: f64,
    /// The quantile of the non-replicate correlations (linear interpolation).
    pub threshold: f64,
    pub n_replicate_pairs: usize,
    pub n_non_replicate_pairs: usize,
    /// (replicate group, its pairs, their median correlation), by group.
    pub group_medians: Vec<(u32, usize, f64)>,
}

/// `group[i]` is triangle position i's replicate group (None: replicate of
/// nothing); `quantile` in (0, 1].
pub fn replicate_reproducibility(
    c: &Correlations,
    group: &[Option<u32>],
    quantile: f64,
) -> Result<Reproducibility, KernelError> {
    let n = c.len();
    if group.len() != n {
        return Err(KernelError::Shape(format!(
            "{} replicate groups for {n} profiles",
            group.len()
        )));
    }
    if !(quantile > 0.0 && quantile <= 1.0) {
        return Err(KernelError::Shape(format!(
            "quantile {quantile} is not in (0, 1]"
        )));
    }
    let mut null = Vec::new();
    let mut by_group: BTreeMap<u32, Vec<f64>> = BTreeMap::new();
    for a in 0..n {
        for b in (a + 1)..n {
            let v = c.get(a, b);
            if replicates(group, a, b) {
                by_group.entry(group[a].unwrap_or(0)).or_default().push(v);
            } else {
                null.push(v);
            }
        }
    }
    let n_replicate_pairs: usize = by_group.values().map(Vec::len).sum();
    if n_replicate_pairs == 0 {
        return Err(KernelError::NotEnough(
            "no two profiles are replicates (share the replicate columns' values)".into(),
        ));
    }
    if null.is_empty() {
        return Err(KernelError::NotEnough(
            "every pair of profiles is a replicate pair: no non-replicate pair to compare with"
                .into(),
        ));
    }
    null.sort_unstable_by(f64::total_cmp);
    let threshold = quantile_sorted(&null, quantile);
    let above = by_group
        .values()
        .flatten()
        .filter(|&&v| v > threshold)
        .count();
    let group_medians = by_group
        .into_iter()
        .map(|(g, mut v)| (g, v.len(), median(&mut v)))
        .collect();
    Ok(Reproducibility {
        fraction: above as f64 / n_replicate_pairs as f64,
        threshold,
        n_replicate_pairs,
        n_non_replicate_pairs: null.len(),
        group_medians,
    })
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::super::ProfileCorrelation;
    use super::*;

    /// By hand on a brute-force list of pairs.
    #[test]
    fn reproducibility_by_hand() {
        let x = profiles(9, 6, 3);
        let c = correlations(&x, ProfileCorrelation::Pearson);
        let group = [
            Some(0),
            Some(0),
            Some(0),
            Some(1),
            Some(1),
            None,
            None,
            Some(2),
            Some(3),
        ];
        let r = replicate_reproducibility(&c, &group, 0.9).unwrap();
        let (mut rep, mut null) = (vec![], vec![]);
        for a in 0..9 {
            for b in (a + 1)..9 {
                let same = group[a].is_some() && group[a] == group[b];
                if same {
                    rep.push(c.get(a, b));
                } else {
                    null.push(c.get(a, b));
                }
            }
        }
        assert_eq!((rep.len(), null.len()), (4, 32));
        null.sort_by(f64::total_cmp);
        // pandas' quantile: position 0.9 * 31 = 27.9 between the 28th and 29th.
        let q = null[27] + 0.9 * (null[28] - null[27]);
        assert!((r.threshold - q).abs() < 1e-15);
        let want = rep.iter().filter(|&&v| v > q).count() as f64 / 4.0;
        assert_eq!(r.fraction, want);
        assert_eq!(r.group_medians.len(), 2);
        let mut g0 = vec![c.get(0, 1), c.get(0, 2), c.get(1, 2)];
        g0.sort_by(f64::total_cmp);
        assert_eq!(r.group_medians[0], (0, 3, g0[1]));
        assert_eq!(r.group_medians[1], (1, 1, c.get(3, 4)));
    }

    #[test]
    fn without_replicates_is_an_error() {
        let x = profiles(4, 5, 4);
        let c = correlations(&x, ProfileCorrelation::Pearson);
        let e = replicate_reproducibility(&c, &[Some(0), Some(1), None, Some(2)], 0.95);
        assert!(e.unwrap_err().to_string().contains("no two profiles"));
        let e = replicate_reproducibility(&c, &[Some(0); 4], 0.95);
        assert!(e.unwrap_err().to_string().contains("every pair"));
        let e = replicate_reproducibility(&c, &[Some(0); 4], 0.0);
        assert!(e.is_err());
    }
}
