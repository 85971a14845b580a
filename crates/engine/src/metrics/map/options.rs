//! The pipeline fields of `map`.

use crate::metrics::options::checks::MAX_DRAWS;
use crate::metrics::options::metric_options;
use crate::metrics::DEFAULT_N_BOOTSTRAP;
use pertbench_kernels::tasks::mean_average_precision::Similarity;
use serde::{Deserialize, Serialize};

metric_options! {
    /// The pipeline fields of `map`.
    pub struct MapOptions {
        /// cosine | abs_cosine | correlation | euclidean | manhattan | chebyshev (copairs'
        /// `distance`; the distances as 1 / (1 + d))
        similarity: MapSimilarity = { MapSimilarity::Cosine } "cosine";
        /// all (every control sample is a negative of every perturbed sample) |
        /// same_batch (only the controls of the sample's own batch: copairs'
        /// neg_sameby on the plate column)
        controls: MapControls = { MapControls::All } "all";
        /// permutation (the perturbation's samples exchangeable with the controls:
        /// random relabellings of samples and controls, scored as the perturbation is;
        /// calibrated) | copairs (copairs' null of random rank lists per sample, drawn
        /// as copairs draws it: equal to copairs' p-values, not uniform under no
        /// effect)
        pvalue: MapPValue = { MapPValue::Permutation } "permutation";
        /// draws of the null (relabellings, or copairs' rank lists per configuration)
        null_size: usize = { 1000 } "1000", check count(1, MAX_DRAWS);
        /// level of `fraction_active` (strict, as copairs' below_corrected_p: q < threshold)
        threshold: f64 = { 0.05 } "0.05", check finite, check level;
        /// resamples of the 95% intervals over perturbations
        n_bootstrap: usize = { DEFAULT_N_BOOTSTRAP } "1000", check count(1, MAX_DRAWS);
    }
}

/// copairs' similarity names.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum MapSimilarity {
    Cosine,
    AbsCosine,
    Correlation,
    Euclidean,
    Manhattan,
    Chebyshev,
}

impl MapSimilarity {
    pub fn kernel(self) -> Similarity {
        match self {
            MapSimilarity::Cosine => Similarity::Cosine,
            MapSimilarity::AbsCosine => Similarity::AbsCosine,
            MapSimilarity::Correlation => Similarity::Correlation,
            MapSimilarity::Euclidean => Similarity::Euclidean,
            MapSimilarity::Manhattan => Similarity::Manhattan,
            MapSimilarity::Chebyshev => Similarity::Chebyshev,
        }
    }
}

/// Which control samples are a perturbed sample's negatives.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum MapControls {
    All,
    SameBatch,
}

/// How a perturbation's mAP is tested.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum MapPValue {
    /// A permutation test of exchangeability with the controls.
    Permutation,
    /// copairs 0.5's null, draw for draw.
    Copairs,
}
