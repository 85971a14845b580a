//! The pipeline fields of `relationship_recall`.

use super::{DEFAULT_SOURCES, DEFAULT_THRESHOLDS};
use crate::metrics::options::checks::MAX_DRAWS;
use crate::metrics::options::metric_options;
use crate::metrics::DEFAULT_N_BOOTSTRAP;

metric_options! {
    /// The pipeline fields of `relationship_recall`.
    pub struct RelationshipRecallOptions {
        /// relationship sources (datasets of kind pairs, from the efaar-benchmarking 1.0 wheel)
        sources: Vec<String> = { DEFAULT_SOURCES.iter().map(|s| s.to_string()).collect() } "[corum, humap, reactome, signor, stringdb]", check nonempty_distinct;
        /// (lo, hi) quantile pairs
        thresholds: Vec<[f64; 2]> = { DEFAULT_THRESHOLDS.to_vec() } "[[0.05, 0.95], [0.1, 0.9]]", check nonempty_distinct;
        /// also report the upper tail alone for each hi
        upper_only: bool = { true } "true";
        /// draws of the label-shuffle null
        n_permutations: usize = { 1000 } "1000", check count(0, MAX_DRAWS);
        /// resamples of the 95% interval over pairs
        n_bootstrap: usize = { DEFAULT_N_BOOTSTRAP } "1000", check count(1, MAX_DRAWS);
    }
}

/// Rules between fields, for [`crate::metrics::Metric::validate`].
pub(super) fn check(o: &RelationshipRecallOptions) -> Result<(), String> {
    for [lo, hi] in o.thresholds.iter().flatten() {
        if !(lo < hi) {
            return Err(format!(
                "thresholds [{lo}, {hi}]: the lower must come first and be below the upper"
            ));
        }
        if !(0.0..=1.0).contains(lo) || !(0.0..=1.0).contains(hi) {
            return Err("thresholds must lie in [0, 1]".into());
        }
    }
    Ok(())
}
