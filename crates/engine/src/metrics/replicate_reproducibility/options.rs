//! The pipeline fields of `replicate_reproducibility`.

use crate::metrics::options::metric_options;
use crate::metrics::replicate_pairs::{CorrelationMethod, ReplicateSamples, SampleColumn};

metric_options! {
    /// The pipeline fields of `replicate_reproducibility`.
    pub struct ReplicateReproducibilityOptions {
        /// pearson | spearman (cytominer-eval's `similarity_metric`)
        similarity: CorrelationMethod = { CorrelationMethod::Pearson } "pearson";
        /// the columns two replicates share, all of them (cytominer-eval's
        /// `replicate_groups`): perturbation, batch, annotation, sample
        replicate_groups: Vec<SampleColumn> = { vec![SampleColumn::Perturbation] } "[perturbation]", check nonempty_distinct;
        /// all (controls included: their wells are replicates of each other, as
        /// cytominer-eval scores every profile it is given) | treated
        samples: ReplicateSamples = { ReplicateSamples::All } "all";
        /// the quantile of the non-replicate correlations a replicate pair must
        /// exceed, in (0, 1] (`replicate_reproducibility_quantile`)
        quantile: f64 = { 0.95 } "0.95", check finite;
    }
}
