//! The pipeline fields of `mp_value`.

use crate::metrics::options::checks::MAX_DRAWS;
use crate::metrics::options::metric_options;
use serde::{Deserialize, Serialize};

metric_options! {
    /// The pipeline fields of `mp_value`.
    pub struct MpValueOptions {
        /// permutation ((1 + #relabellings at least as far) / (1 + n_permutations):
        /// calibrated) | cytominer (#relabellings at least as far / n_permutations,
        /// cytominer-eval's, which can be 0)
        pvalue: MpPValue = { MpPValue::Permutation } "permutation";
        /// relabellings of each perturbation's samples and the controls
        /// (cytominer-eval's `nb_permutations`)
        n_permutations: usize = { 100 } "100", check count(1, MAX_DRAWS);
        /// scale each principal component by its share of the variance
        /// (cytominer-eval's `rescale_pca`)
        rescale_pca: bool = { true } "true";
        /// the share of variance the kept components explain beyond, in (0, 1]
        /// (cytominer-eval's PCA(n_components=0.9))
        variance: f64 = { 0.9 } "0.9", check finite;
        /// level of `fraction_below_p` and `fraction_significant` (strict: p < threshold)
        threshold: f64 = { 0.05 } "0.05", check finite, check level;
    }
}

/// How a perturbation's mp-value is read from its relabellings.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum MpPValue {
    Permutation,
    Cytominer,
}
