//! The pipeline fields of `distribution`.

use crate::metrics::options::checks::MAX_DRAWS;
use crate::metrics::options::metric_options;
use crate::metrics::{ControlPool, DEFAULT_N_BOOTSTRAP};
use serde::{Deserialize, Serialize};

metric_options! {
    /// The pipeline fields of `distribution`.
    pub struct DistributionOptions {
        /// u_statistic | v_statistic (within-group pairs include i = j) | squared
        energy: EnergySpec = { EnergySpec::UStatistic } "u_statistic";
        /// also compute MMD^2
        mmd: bool = { true } "true";
        /// context (each context's controls) | all
        controls: ControlPool = { ControlPool::Context } "context";
        /// draws of each unit's permutation test
        n_permutations: usize = { 1000 } "1000", check count(0, MAX_DRAWS);
        /// a seeded sample of at most this many units get the test
        max_tested: usize = "all", check positive;
        /// BH level
        alpha: f64 = { 0.05 } "0.05", check finite, check level;
        /// resamples of the 95% intervals over units
        n_bootstrap: usize = { DEFAULT_N_BOOTSTRAP } "1000", check count(1, MAX_DRAWS);
    }
}

/// Energy distance convention (METRICS.md), named in the result row.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum EnergySpec {
    UStatistic,
    VStatistic,
    Squared,
}
