//! Enrichment (cytominer-eval's `enrichment`): the pairs whose correlation
//! is above the `percentile` quantile of all pairs' correlations are the
//! top connections; Fisher's exact test (one-sided, greater) asks whether
//! replicate pairs are over-represented among them.

use super::{replicates, Correlations};
use crate::stats::bootstrap::quantile_sorted;
use crate::stats::hypergeometric::fisher_exact_greater;
use crate::KernelError;

/// How pairs are counted: cytominer-eval melts the full similarity matrix,
/// so every pair is counted twice (a, b and b, a), in the quantile and in
/// the table; `Unordered` counts each once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PairCounting {
    Ordered,
    Unordered,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Enrichment {
    pub percentile: f64,
    pub threshold: f64,
    /// [[replicate & above, non-replicate & above], [replicate & at or
    /// below, non-replicate & at or below]].
    pub table: [[u64; 2]; 2],
    pub odds_ratio: f64,
    pub p_value: f64,
}

pub fn enrichment(
    c: &Correlations,
    replicate: &[Option<u32>],
    percentiles: &[f64],
    counting: PairCounting,
) -> Result<Vec<Enrichment>, KernelError> {
    let n = c.len();
    if replicate.len() != n {
        return Err(KernelError::Shape(format!(
            "{} replicate groups for {n} profiles",
            replicate.len()
        )));
    }
    if let Some(p) = percentiles.iter().find(|p| !(0.0..=1.0).contains(*p)) {
        return Err(KernelError::Shape(format!(
            "percentile {p} is not in [0, 1]"
        )));
    }
    if n < 2 {
        return Err(KernelError::NotEnough(
            "enrichment needs two profiles or more".into(),
        ));
    }
    let mut all = Vec::with_capacity(n * (n - 1) / 2);
    let mut reps = Vec::new();
    for a in 0..n {
        for b in (a + 1)..n {
            let v = c.get(a, b);
            all.push(v);
            if replicates(replicate, a, b) {
                reps.push(v);
            }
        }
    }
    all.sort_unstable_by(f64::total_cmp);
    let m = all.len();
    let times: u64 = match counting {
        PairCounting::Ordered => 2,
        PairCounting::Unordered => 1,
    };
    Ok(percentiles
        .iter()
        .map(|&p| {
            let threshold = match counting {
                PairCounting::Unordered => quantile_sorted(&all, p),
                PairCounting::Ordered => {
                    // The quantile of the list with every value twice.
                    let pos = p * (2 * m - 1) as f64;
                    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
                    let (x, y) = (all[lo / 2], all[hi / 2]);
                    x + (y - x) * (pos - lo as f64)
                }
            };
            let above = m - all.partition_point(|&v| v <= threshold);
            let rep_above = reps.iter().filter(|&&v| v > threshold).count();
            let table = [
                [rep_above as u64, (above - rep_above) as u64],
                [
                    (reps.len() - rep_above) as u64,
                    (m - above - (reps.len() - rep_above)) as u64,
                ],
            ]
            .map(|row| row.map(|v| v * times));
            let (odds_ratio, p_value) = fisher_exact_greater(table);
            Enrichment {
                percentile: p,
                threshold,
                table,
                odds_ratio,
                p_value,
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::super::ProfileCorrelation;
    use super::*;

    #[test]
    fn enrichment_by_hand() {
        let x = profiles(12, 6, 7);
        let c = correlations(&x, ProfileCorrelation::Pearson);
        let replicate: Vec<Option<u32>> = (0..12).map(|i| Some(i as u32 % 4)).collect();
        let ordered = enrichment(&c, &replicate, &[0.5, 0.9], PairCounting::Ordered).unwrap();
        let unordered = enrichment(&c, &replicate, &[0.5, 0.9], PairCounting::Unordered).unwrap();
        let mut full = vec![];
        for a in 0..12 {
            for b in 0..12 {
                if a != b {
                    full.push((c.get(a, b), a % 4 == b % 4));
                }
            }
        }
        let mut sorted: Vec<f64> = full.iter().map(|p| p.0).collect();
        sorted.sort_by(f64::total_cmp);
        for (e, u) in ordered.iter().zip(&unordered) {
            let t = quantile_sorted(&sorted, e.percentile);
            assert!((e.threshold - t).abs() < 1e-15);
            let count = |rep: bool, above: bool| {
                full.iter()
                    .filter(|p| p.1 == rep && (p.0 > t) == above)
                    .count() as u64
            };
            assert_eq!(
                e.table,
                [
                    [count(true, true), count(false, true)],
                    [count(true, false), count(false, false)]
                ]
            );
            assert_eq!(e.table.iter().flatten().sum::<u64>(), 132);
            assert_eq!(u.table.iter().flatten().sum::<u64>(), 66);
            assert_eq!((e.odds_ratio, e.p_value), fisher_exact_greater(e.table));
        }
    }
}
