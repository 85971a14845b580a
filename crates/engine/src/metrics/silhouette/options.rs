//! The pipeline fields of `silhouette`.

use crate::metrics::options::checks::MAX_DRAWS;
use crate::metrics::options::metric_options;
use crate::metrics::DEFAULT_N_BOOTSTRAP;
use serde::{Deserialize, Serialize};

metric_options! {
    /// The pipeline fields of `silhouette`.
    pub struct SilhouetteOptions {
        /// include (control samples are one label, `<control>`, as every cell has a
        /// label in scib) | exclude (perturbed samples only)
        controls: ControlLabel = { ControlLabel::Include } "include";
        /// a seeded sample of at most this many samples (the cost grows with the
        /// square of the samples: scib-metrics computes every pair)
        max_samples: usize = "all", check count(3, usize::MAX);
        /// resamples of the 95% intervals (silhouette_label: a cluster bootstrap over
        /// perturbations; silhouette_batch: over label groups)
        n_bootstrap: usize = { DEFAULT_N_BOOTSTRAP } "1000", check count(1, MAX_DRAWS);
    }
}

/// Whether the control samples take part, as one label.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ControlLabel {
    Include,
    Exclude,
}
