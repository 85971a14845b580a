//! The pipeline fields of `enrichment`.

use crate::metrics::options::metric_options;
use crate::metrics::replicate_pairs::{CorrelationMethod, ReplicateSamples, SampleColumn};
use serde::{Deserialize, Serialize};

metric_options! {
    /// The pipeline fields of `enrichment`.
    pub struct EnrichmentOptions {
        /// pearson | spearman (cytominer-eval's `similarity_metric`)
        similarity: CorrelationMethod = { CorrelationMethod::Pearson } "pearson";
        /// the columns two replicates share, all of them (`replicate_groups`):
        /// perturbation, batch, annotation, sample
        replicate_groups: Vec<SampleColumn> = { vec![SampleColumn::Perturbation] } "[perturbation]", check nonempty_distinct;
        /// the quantiles of all pairs' correlations above which pairs are top
        /// connections, each in [0, 1] (`enrichment_percentile`)
        percentile: Vec<f64> = { vec![0.99] } "[0.99]", check nonempty_distinct;
        /// ordered (every pair counted twice, a-b and b-a, in the quantile and the
        /// table: cytominer-eval's full matrix) | unordered (each pair once)
        pairs: EnrichmentPairs = { EnrichmentPairs::Ordered } "ordered";
        /// all (controls included, as cytominer-eval scores every profile it is
        /// given) | treated
        samples: ReplicateSamples = { ReplicateSamples::All } "all";
    }
}

/// How pairs are counted.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum EnrichmentPairs {
    Ordered,
    Unordered,
}
