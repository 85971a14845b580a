//! Task 5, known relationship recall (METRICS.md "Task 5"), following
//! efaar-benchmarking 1.0 `compute_recall`:
//! left = searchsorted(null, s, "left") / |null|,
//! right = searchsorted(null, s, "right") / |null|;
//! two-tailed recall(lo, hi) = fraction of pairs with right <= lo or left >= hi;
//! upper-only recall(hi) = fraction with left >= hi.

use crate::stats::search::{searchsorted_left, searchsorted_right};

/// Which tails count as a recalled relationship.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Tails {
    Two { lo: f64, hi: f64 },
    UpperOnly { hi: f64 },
}

impl Tails {
    /// The variant name recorded in result rows, e.g. `recall_0.05_0.95`.
    pub fn variant(&self) -> String {
        match self {
            Tails::Two { lo, hi } => format!("recall_{lo}_{hi}"),
            Tails::UpperOnly { hi } => format!("upper_only_{hi}"),
        }
    }
}

/// Recall of `query` similarities against an ascending null. None when there
/// is no query or no null.
pub fn recall(sorted_null: &[f64], query: &[f64], tails: Tails) -> Option<f64> {
    if query.is_empty() || sorted_null.is_empty() {
        return None;
    }
    let cut = Cutoffs::new(sorted_null, tails);
    let hits = query.iter().filter(|&&s| cut.hit(sorted_null, s)).count();
    Some(hits as f64 / query.len() as f64)
}

/// The largest c in 0..=n passing `test`, a test that holds for every count
/// up to some point and for none after it (c / N compared with a fraction):
/// found by bisection, without a scan of the null.
fn last_passing(n: usize, test: impl Fn(usize) -> bool) -> Option<usize> {
    if !test(0) {
        return None;
    }
    // Invariant: test(lo) holds; test(hi) fails or hi = n + 1.
    let (mut lo, mut hi) = (0usize, n + 1);
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if test(mid) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    Some(lo)
}

/// A tail test reduced to comparisons with two null values, so that each
/// similarity costs O(1) instead of two binary searches over a null of
/// every pair (tens of millions of values for thousands of perturbations).
///
/// With N null values, `right / N <= lo` holds exactly for `right <= k_lo`,
/// the largest count passing that same floating-point test; and
/// `right = #{null <= s} <= k_lo` exactly when `null[k_lo] > s` (or k_lo = N).
/// Likewise `left / N >= hi` holds for `left >= k_hi`, and
/// `left = #{null < s} >= k_hi` exactly when `null[k_hi - 1] < s` (or k_hi = 0).
#[derive(Debug, Clone, Copy)]
struct Cutoffs {
    tails: Tails,
    /// Largest count c with c / N <= lo; None when no count passes.
    k_lo: Option<usize>,
    /// Smallest count c with c / N >= hi; None when no count passes.
    k_hi: Option<usize>,
}

impl Cutoffs {
    fn new(sorted_null: &[f64], tails: Tails) -> Self {
        let n = sorted_null.len();
        let len = n as f64;
        let (lo, hi) = match tails {
            Tails::Two { lo, hi } => (Some(lo.min(hi)), lo.max(hi)),
            Tails::UpperOnly { hi } => (None, hi),
        };
        let k_lo = lo.and_then(|lo| last_passing(n, |c| c as f64 / len <= lo));
        let k_hi = last_passing(n, |c| c as f64 / len < hi).map_or(Some(0), |c| {
            // c is the largest failing count; the next one passes, if any.
            (c < n).then_some(c + 1)
        });
        Cutoffs { tails, k_lo, k_hi }
    }

    #[inline]
    fn hit(&self, sorted_null: &[f64], s: f64) -> bool {
        if s.is_nan() {
            // Comparisons with NaN are all false: keep the search's answer.
            let len = sorted_null.len() as f64;
            let left = searchsorted_left(sorted_null, s) as f64 / len;
            let right = searchsorted_right(sorted_null, s) as f64 / len;
            return match self.tails {
                Tails::Two { lo, hi } => right <= lo.min(hi) || left >= lo.max(hi),
                Tails::UpperOnly { hi } => left >= hi,
            };
        }
        let n = sorted_null.len();
        let low = matches!(self.tails, Tails::Two { .. })
            && self.k_lo.is_some_and(|k| k >= n || sorted_null[k] > s);
        let high = self.k_hi.is_some_and(|k| k == 0 || sorted_null[k - 1] < s);
        low || high
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The definition: two searches per similarity.
    fn recall_by_search(null: &[f64], query: &[f64], tails: Tails) -> f64 {
        let len = null.len() as f64;
        let hits = query
            .iter()
            .filter(|&&s| {
                let left = searchsorted_left(null, s) as f64 / len;
                let right = searchsorted_right(null, s) as f64 / len;
                match tails {
                    Tails::Two { lo, hi } => right <= lo.min(hi) || left >= lo.max(hi),
                    Tails::UpperOnly { hi } => left >= hi,
                }
            })
            .count();
        hits as f64 / query.len() as f64
    }

    #[test]
    fn cutoffs_agree_with_searching_at_every_boundary() {
        // Nulls with ties, of sizes where lo * N and hi * N are and are not
        // whole; queries at, between and beyond every null value.
        for n in [1usize, 2, 3, 7, 10, 20, 33, 100] {
            let null: Vec<f64> = (0..n).map(|i| (i / 2) as f64).collect();
            let mut q: Vec<f64> = vec![-1.0, f64::NAN, 1e9];
            for i in 0..=n / 2 + 1 {
                q.extend([i as f64, i as f64 - 0.5, i as f64 + 0.25]);
            }
            for (lo, hi) in [
                (0.05, 0.95),
                (0.1, 0.9),
                (0.0, 1.0),
                (0.5, 0.5),
                (0.3, 0.2),
                (-0.1, 1.1),
            ] {
                for tails in [Tails::Two { lo, hi }, Tails::UpperOnly { hi }] {
                    for s in &q {
                        assert_eq!(
                            recall(&null, std::slice::from_ref(s), tails).unwrap(),
                            recall_by_search(&null, std::slice::from_ref(s), tails),
                            "n={n} {tails:?} s={s}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn reference_vector_from_metrics_md() {
        // EFAAR compute_recall: null = [1..5], query = [1, 5].
        let null = [1.0, 2.0, 3.0, 4.0, 5.0];
        let q = [1.0, 5.0];
        assert_eq!(
            recall(&null, &q, Tails::Two { lo: 0.1, hi: 0.9 }),
            Some(0.0)
        );
        assert_eq!(
            recall(&null, &q, Tails::Two { lo: 0.2, hi: 0.8 }),
            Some(1.0)
        );
        assert_eq!(recall(&null, &q, Tails::UpperOnly { hi: 0.8 }), Some(0.5));
    }

    #[test]
    fn hand_computed_two_tailed_and_upper() {
        // null of 20 values 0..19; query 0 (right=1/20=0.05 <= 0.05: hit),
        // 19 (left=19/20=0.95 >= 0.95: hit), 10 (miss), 18 (left 0.9: hit only at 0.9).
        let null: Vec<f64> = (0..20).map(|v| v as f64).collect();
        let q = [0.0, 19.0, 10.0, 18.0];
        assert_eq!(
            recall(&null, &q, Tails::Two { lo: 0.05, hi: 0.95 }),
            Some(0.5)
        );
        assert_eq!(
            recall(&null, &q, Tails::Two { lo: 0.1, hi: 0.9 }),
            Some(0.75)
        );
        assert_eq!(recall(&null, &q, Tails::UpperOnly { hi: 0.9 }), Some(0.5));
        assert_eq!(recall(&null, &[], Tails::UpperOnly { hi: 0.9 }), None);
        assert_eq!(
            Tails::Two { lo: 0.05, hi: 0.95 }.variant(),
            "recall_0.05_0.95"
        );
    }
}
