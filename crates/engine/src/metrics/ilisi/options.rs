//! The pipeline fields of `ilisi` (Task 1).

use super::DEFAULT_PERPLEXITY;
use crate::metrics::options::checks::MAX_DRAWS;
use crate::metrics::options::metric_options;
use crate::metrics::{EvalSamples, DEFAULT_N_BOOTSTRAP};

metric_options! {
    /// The pipeline fields of `ilisi`.
    pub struct IlisiOptions {
        /// effective neighbourhood size; k = floor(3 x perplexity) neighbours
        perplexity: f64 = { DEFAULT_PERPLEXITY } "30", check finite, check positive;
        /// samples evaluated: test_seen | test_unseen | train | all (each with its
        /// batches' controls)
        on: EvalSamples = { EvalSamples::TestSeen } "test_seen";
        /// a seeded sample of at most this many queries (neighbours are still searched
        /// among all samples)
        max_queries: usize = "all", check positive;
        /// resamples of the 95% interval (a cluster bootstrap over perturbations,
        /// controls one cluster)
        n_bootstrap: usize = { DEFAULT_N_BOOTSTRAP } "1000", check count(1, MAX_DRAWS);
    }
}
