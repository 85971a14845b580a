//! The pipeline fields of `knn`.

use super::DEFAULT_MIN_QUERIES;
use crate::metrics::options::checks::MAX_DRAWS;
use crate::metrics::options::metric_options;
use crate::metrics::DEFAULT_N_BOOTSTRAP;
use serde::{Deserialize, Serialize};

metric_options! {
    /// The pipeline fields of `knn`.
    pub struct KnnOptions {
        /// neighbours; fixed when given
        k: usize = "odd floor(sqrt(n_reference))", check positive;
        /// euclidean (1 / (d + 1e-5)) | cosine (exp(cos / 0.07))
        weights: KnnWeights = { KnnWeights::Euclidean } "euclidean";
        /// a seeded sample of at most this many queries, recorded in the row
        max_queries: usize = "all", check positive;
        /// exclude | include: whether test_seen's control samples are scored as queries
        control_queries: ControlQueries = { ControlQueries::Exclude } "exclude";
        /// fewer scored queries give no value, with the reason
        min_queries: usize = { DEFAULT_MIN_QUERIES } "10";
        /// resamples of the 95% interval (cluster bootstrap over perturbations)
        n_bootstrap: usize = { DEFAULT_N_BOOTSTRAP } "1000", check count(1, MAX_DRAWS);
    }
}

/// Whether Task 4's control samples among the queries are scored.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ControlQueries {
    /// Only perturbed queries are scored (controls stay a reference class).
    Exclude,
    /// Control queries are scored too (the behaviour before knn version 3).
    Include,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum KnnWeights {
    /// 1 / (euclidean + 1e-5).
    Euclidean,
    /// exp(cos / 0.07) over cosine neighbours.
    Cosine,
}
