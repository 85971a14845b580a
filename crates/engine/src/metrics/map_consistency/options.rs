//! The pipeline fields of `map_consistency`.

use crate::metrics::map::{MapControls, MapPValue, MapSimilarity};
use crate::metrics::options::checks::MAX_DRAWS;
use crate::metrics::options::metric_options;
use crate::metrics::DEFAULT_N_BOOTSTRAP;
use serde::{Deserialize, Serialize};

metric_options! {
    /// The pipeline fields of `map_consistency`.
    pub struct MapConsistencyOptions {
        /// cosine | abs_cosine | correlation | euclidean | manhattan | chebyshev (copairs'
        /// `distance`, for activity and for consistency)
        similarity: MapSimilarity = { MapSimilarity::Cosine } "cosine";
        /// what splits an annotation into its labels (copairs' multilabel column: a
        /// perturbation holding several targets); an empty string: one label each
        separator: String = { String::from("|") } "\"|\"";
        /// active (only the perturbations `map` finds active, copairs' recipe) | all
        perturbations: ConsistencyPerturbations = { ConsistencyPerturbations::Active } "active";
        /// activity's negatives: all | same_batch (as `map`'s `controls`)
        controls: MapControls = { MapControls::All } "all";
        /// activity's test: permutation | copairs (as `map`'s `pvalue`)
        activity_pvalue: MapPValue = { MapPValue::Permutation } "permutation";
        /// permutation (label sets permuted among the annotated consensus profiles,
        /// each draw scored as the label is; calibrated) | copairs (copairs' null of
        /// random rank lists: equal to copairs' p-values, not uniform under no
        /// consistency)
        pvalue: MapPValue = { MapPValue::Permutation } "permutation";
        /// draws of each null (activity's and consistency's)
        null_size: usize = { 1000 } "1000", check count(1, MAX_DRAWS);
        /// level of activity's selection and of `fraction_consistent` (strict: q < threshold)
        threshold: f64 = { 0.05 } "0.05", check finite, check level;
        /// resamples of the 95% intervals over labels
        n_bootstrap: usize = { DEFAULT_N_BOOTSTRAP } "1000", check count(1, MAX_DRAWS);
    }
}

/// Which perturbations' consensus profiles are ranked.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ConsistencyPerturbations {
    /// Those whose activity's corrected p-value is below the threshold.
    Active,
    /// Every perturbation with an annotation.
    All,
}
