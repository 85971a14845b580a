//! The pipeline fields of `grit`.

use crate::metrics::options::metric_options;
use crate::metrics::replicate_pairs::CorrelationMethod;
use serde::{Deserialize, Serialize};

metric_options! {
    /// The pipeline fields of `grit`.
    pub struct GritOptions {
        /// pearson | spearman (cytominer-eval's `similarity_metric`)
        similarity: CorrelationMethod = { CorrelationMethod::Pearson } "pearson";
        /// mean | median of a perturbation's z-scores
        /// (`grit_replicate_summary_method`)
        summary: GritSummaryMethod = { GritSummaryMethod::Mean } "mean";
    }
}

/// How a perturbation's z-scores are summarised.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum GritSummaryMethod {
    Mean,
    Median,
}
