//! The pipeline fields of `precision_recall`.

use crate::metrics::options::metric_options;
use crate::metrics::replicate_pairs::{CorrelationMethod, ReplicateSamples, SampleColumn};

metric_options! {
    /// The pipeline fields of `precision_recall`.
    pub struct PrecisionRecallOptions {
        /// pearson | spearman (cytominer-eval's `similarity_metric`)
        similarity: CorrelationMethod = { CorrelationMethod::Pearson } "pearson";
        /// the columns two replicates share, all of them (`replicate_groups`):
        /// perturbation, batch, annotation, sample
        replicate_groups: Vec<SampleColumn> = { vec![SampleColumn::Perturbation] } "[perturbation]", check nonempty_distinct;
        /// the columns whose samples pool their pairs into one ranking
        /// (`groupby_columns`; cytominer-eval 0.1 groups by `replicate_groups`)
        group_by: Vec<SampleColumn> = { vec![SampleColumn::Perturbation] } "[perturbation]", check nonempty_distinct;
        /// the ranks precision and recall are read at (`precision_recall_k`)
        k: Vec<usize> = { vec![10] } "[10]", check nonempty_distinct;
        /// all (controls included, as cytominer-eval scores every profile it is
        /// given) | treated
        samples: ReplicateSamples = { ReplicateSamples::All } "all";
    }
}
