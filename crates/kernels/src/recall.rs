//! Task 5, known relationship recall (METRICS.md "Task 5"), following
//! efaar-benchmarking 1.0 `compute_recall`:
//! left = searchsorted(null, s, "left") / |null|,
//! right = searchsorted(null, s, "right") / |null|;
//! two-tailed recall(lo, hi) = fraction of pairs with right <= lo or left >= hi;
//! upper-only recall(hi) = fraction with left >= hi.

use crate::search::{searchsorted_left, searchsorted_right};

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
    let len = sorted_null.len() as f64;
    let hits = query
        .iter()
        .filter(|&&s| {
            let left = searchsorted_left(sorted_null, s) as f64 / len;
            let right = searchsorted_right(sorted_null, s) as f64 / len;
            match tails {
                Tails::Two { lo, hi } => {
                    let (lo, hi) = (lo.min(hi), lo.max(hi));
                    right <= lo || left >= hi
                }
                Tails::UpperOnly { hi } => left >= hi,
            }
        })
        .count();
    Some(hits as f64 / query.len() as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

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
