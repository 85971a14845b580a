//! Precision and recall at k (cytominer-eval's `precision_recall`): the
//! profiles of a group (`groupby_columns`) pool their pairs with every
//! other profile, rank the pool by correlation, highest first, and count
//! the replicate pairs among the top k: precision = hits / k (k even when
//! the pool is shorter), recall = hits / the pool's replicate pairs (NaN
//! when it has none).

use super::{replicates, Correlations};
use crate::runtime::parallel::map_indices;
use crate::KernelError;
use faer::Par;

#[derive(Debug, Clone, PartialEq)]
pub struct PrecisionRecall {
    pub group: u32,
    pub k: usize,
    pub precision: f64,
    pub recall: f64,
    /// Pairs in the group's pool, and the replicate pairs among them.
    pub n_pairs: usize,
    pub n_replicate_pairs: usize,
}

/// One row per (k, group), k in the order given, groups ascending.
/// `group[i]` is triangle position i's group, `replicate[i]` its replicate
/// group. Ties in correlation are ranked by position (the first profile of
/// the pair, then the second).
pub fn precision_recall(
    c: &Correlations,
    replicate: &[Option<u32>],
    group: &[u32],
    ks: &[usize],
    par: Par,
) -> Result<Vec<PrecisionRecall>, KernelError> {
    let n = c.len();
    if replicate.len() != n || group.len() != n {
        return Err(KernelError::Shape(format!(
            "{} replicate groups and {} groups for {n} profiles",
            replicate.len(),
            group.len()
        )));
    }
    if ks.is_empty() || ks.contains(&0) {
        return Err(KernelError::Shape(
            "precision at k needs one k or more, each at least 1".into(),
        ));
    }
    let mut codes: Vec<u32> = group.to_vec();
    codes.sort_unstable();
    codes.dedup();
    let k_max = *ks.iter().max().unwrap_or(&1);
    // Per group: the replicate flags of its top k_max pairs in rank order,
    // and its pool's sizes.
    let per_group = map_indices(par, codes.len(), |gi| {
        let g = codes[gi];
        let mut pool: Vec<(f64, u32, u32, bool)> = Vec::new();
        for a in (0..n).filter(|&a| group[a] == g) {
            for b in (0..n).filter(|&b| b != a) {
                pool.push((c.get(a, b), a as u32, b as u32, replicates(replicate, a, b)));
            }
        }
        let order = |x: &(f64, u32, u32, bool), y: &(f64, u32, u32, bool)| {
            y.0.total_cmp(&x.0).then(x.1.cmp(&y.1)).then(x.2.cmp(&y.2))
        };
        let n_replicate = pool.iter().filter(|p| p.3).count();
        let n_pairs = pool.len();
        if pool.len() > k_max {
            pool.select_nth_unstable_by(k_max - 1, order);
            pool.truncate(k_max);
        }
        pool.sort_unstable_by(order);
        let top: Vec<bool> = pool.iter().map(|p| p.3).collect();
        (top, n_pairs, n_replicate)
    });
    let mut out = Vec::with_capacity(ks.len() * codes.len());
    for &k in ks {
        for (gi, (top, n_pairs, n_replicate)) in per_group.iter().enumerate() {
            let hits = top.iter().take(k).filter(|&&r| r).count() as f64;
            out.push(PrecisionRecall {
                group: codes[gi],
                k,
                precision: hits / k as f64,
                recall: if *n_replicate == 0 {
                    f64::NAN
                } else {
                    hits / *n_replicate as f64
                },
                n_pairs: *n_pairs,
                n_replicate_pairs: *n_replicate,
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::super::ProfileCorrelation;
    use super::*;

    #[test]
    fn precision_recall_by_hand() {
        let x = profiles(10, 7, 5);
        let c = correlations(&x, ProfileCorrelation::Pearson);
        let replicate: Vec<Option<u32>> = (0..10).map(|i| Some(i as u32 / 3)).collect();
        let group: Vec<u32> = (0..10).map(|i| i as u32 / 3).collect();
        let rows = precision_recall(&c, &replicate, &group, &[2, 50], Par::Seq).unwrap();
        assert_eq!(rows.len(), 8);
        for r in &rows {
            let members: Vec<usize> = (0..10).filter(|&i| group[i] == r.group).collect();
            let mut pool: Vec<(f64, bool)> = vec![];
            for &a in &members {
                for b in (0..10).filter(|&b| b != a) {
                    pool.push((c.get(a, b), group[a] == group[b]));
                }
            }
            pool.sort_by(|x, y| y.0.total_cmp(&x.0));
            let hits = pool.iter().take(r.k).filter(|p| p.1).count() as f64;
            let relevant = pool.iter().filter(|p| p.1).count() as f64;
            assert_eq!(r.precision, hits / r.k as f64);
            if relevant == 0.0 {
                assert!(r.recall.is_nan());
            } else {
                assert_eq!(r.recall, hits / relevant);
            }
            assert_eq!(r.n_pairs, pool.len());
        }
        // The lone profile of group 3 has no replicate: recall NaN; k = 50
        // beyond every pool: recall 1 elsewhere.
        assert!(rows[3].recall.is_nan());
        assert!(rows[4..7].iter().all(|r| r.recall == 1.0));
        let seq = precision_recall(&c, &replicate, &group, &[2, 50], Par::rayon(2)).unwrap();
        assert_eq!(format!("{rows:?}"), format!("{seq:?}"));
    }

    #[test]
    fn bad_k_is_an_error() {
        let x = profiles(3, 4, 6);
        let c = correlations(&x, ProfileCorrelation::Pearson);
        let r = [Some(0); 3];
        assert!(precision_recall(&c, &r, &[0; 3], &[0], Par::Seq).is_err());
        assert!(precision_recall(&c, &r, &[0; 3], &[], Par::Seq).is_err());
        assert!(precision_recall(&c, &r, &[0; 2], &[1], Par::Seq).is_err());
    }
}
