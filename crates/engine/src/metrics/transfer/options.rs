//! The pipeline fields of `transfer`.

use crate::metrics::features::DEFAULT_N_FEATURES;
use crate::metrics::options::checks::MAX_DRAWS;
use crate::metrics::options::metric_options;
use crate::metrics::{ControlPool, FeatureSource, DEFAULT_N_BOOTSTRAP};
use serde::{Deserialize, Serialize};

metric_options! {
    /// The pipeline fields of `transfer`.
    pub struct TransferOptions {
        /// which probes to run
        probes: Vec<TransferProbe> = "in_domain, lopo_mean_shift (+ lopo_ridge with features, + loco with contexts)", check nonempty;
        /// target_gene_loadings (the target gene's loadings in a PCA of the controls'
        /// expression) | {path, id_column, prefix or columns}: a table of perturbation features
        features: FeatureSource = "none";
        /// components of target_gene_loadings
        n_features: usize = { DEFAULT_N_FEATURES } "20", check positive;
        /// ridge penalty, relative to the mean eigenvalue of the centred feature Gram matrix
        ridge_lambda: f64 = { 1.0 } "1", check finite, check positive;
        /// context | all (ignore contexts)
        controls: ControlPool = { ControlPool::Context } "context";
        /// draws of the label-shuffle null
        n_permutations: usize = { 1000 } "1000", check count(0, MAX_DRAWS);
        /// BH level
        alpha: f64 = { 0.05 } "0.05", check finite, check level;
        /// resamples of the 95% intervals over units
        n_bootstrap: usize = { DEFAULT_N_BOOTSTRAP } "1000", check count(1, MAX_DRAWS);
    }
}

/// A transfer probe (METRICS.md "Distribution and prediction metrics").
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum TransferProbe {
    /// Split-half of a unit's samples: the ceiling.
    InDomain,
    /// Leave one perturbation out: the mean shift of the others in the context.
    LopoMeanShift,
    /// Leave one perturbation out: ridge from perturbation features.
    LopoRidge,
    /// Leave one context out: the mean of the perturbation's other contexts.
    Loco,
}

impl TransferProbe {
    pub fn name(self) -> &'static str {
        match self {
            TransferProbe::InDomain => "in_domain",
            TransferProbe::LopoMeanShift => "lopo_mean_shift",
            TransferProbe::LopoRidge => "lopo_ridge",
            TransferProbe::Loco => "loco",
        }
    }
}

/// Rules between fields, for [`crate::metrics::Metric::validate`].
pub(super) fn check(o: &TransferOptions) -> Result<(), String> {
    match &o.probes {
        Some(probes) if probes.contains(&TransferProbe::LopoRidge) != o.features.is_some() => {
            return Err(
                "probe `lopo_ridge` and `features` go together (features: target_gene_loadings)"
                    .into(),
            );
        }
        None if o.features.is_none() && (o.n_features.is_some() || o.ridge_lambda.is_some()) => {
            return Err("`n_features` and `ridge_lambda` need `features`".into());
        }
        _ => {}
    }
    crate::metrics::options::shared::check_feature_fields(o.features.as_ref(), o.n_features)
}
