//! The pipeline fields of `interpretability`.

use super::DEFAULT_RIDGE_LAMBDA;
use crate::metrics::options::checks::MAX_DRAWS;
use crate::metrics::options::metric_options;
use crate::metrics::DEFAULT_N_BOOTSTRAP;
use serde::{Deserialize, Serialize};

metric_options! {
    /// The pipeline fields of `interpretability`.
    pub struct InterpretabilityOptions {
        /// ridge penalty of the decoder
        ridge_lambda: f64 = { DEFAULT_RIDGE_LAMBDA } "1.0", check finite, check positive;
        /// rows Structural Integrity compares: perturbed (non-controls, as paper 004) | all
        si_rows: SiRowsSpec = { SiRowsSpec::Perturbed } "perturbed";
        /// resamples of the 95% intervals (cluster bootstrap over perturbations)
        n_bootstrap: usize = { DEFAULT_N_BOOTSTRAP } "1000", check count(1, MAX_DRAWS);
    }
}

/// Rows Structural Integrity compares.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum SiRowsSpec {
    Perturbed,
    All,
}
