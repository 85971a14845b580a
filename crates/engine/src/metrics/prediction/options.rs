//! The pipeline fields of `prediction`.

use super::DEFAULT_MAX_SAMPLES;
use crate::metrics::features::DEFAULT_N_FEATURES;
use crate::metrics::options::checks::MAX_DRAWS;
use crate::metrics::options::metric_options;
use crate::metrics::options::shared::default_perturbation_column;
use crate::metrics::{ControlPool, FeatureSource, DEFAULT_N_BOOTSTRAP};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

metric_options! {
    /// The pipeline fields of `prediction`.
    pub struct PredictionOptions {
        /// built-in predictors
        predictors: Vec<Predictor> = "control, mean (+ linear with features)", check nonempty_distinct;
        /// [{name, path, perturbation_column, context_column}]: predicted samples of a model
        /// (h5ad or table)
        predictions: Vec<PredictionFile> = "none";
        /// representation (post-processed) | expression
        space: PredictionSpace = { PredictionSpace::Representation } "representation";
        /// genes of highest variance scored in expression space
        n_genes: usize = "1000 (or the files' genes)", check positive;
        /// seeded sample per side for energy_to_real
        max_samples: usize = { DEFAULT_MAX_SAMPLES } "500", check count(2, usize::MAX);
        /// strict (only strictly closer perturbations count) | pessimistic (equal ones too)
        ties: TiesSpec = { TiesSpec::Strict } "strict";
        /// perturbation features for linear, as transfer's
        features: FeatureSource = "none";
        /// components of target_gene_loadings
        n_features: usize = { DEFAULT_N_FEATURES } "20", check positive;
        /// ridge penalty of linear, relative to the mean Gram eigenvalue
        ridge_lambda: f64 = { 1.0 } "1", check finite, check positive;
        /// context | all
        controls: ControlPool = { ControlPool::Context } "context";
        /// resamples of the 95% intervals over units
        n_bootstrap: usize = { DEFAULT_N_BOOTSTRAP } "1000", check count(1, MAX_DRAWS);
    }
}

/// A built-in perturbation-response predictor (a baseline on every run).
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Predictor {
    /// The controls themselves: a zero shift.
    Control,
    /// The mean treated sample of the context: one shift for every perturbation.
    Mean,
    /// Ridge from perturbation features to the shift (leave one perturbation out).
    Linear,
}

impl Predictor {
    pub const ALL: [Predictor; 3] = [Predictor::Control, Predictor::Mean, Predictor::Linear];

    pub fn name(self) -> &'static str {
        match self {
            Predictor::Control => "control",
            Predictor::Mean => "mean",
            Predictor::Linear => "linear",
        }
    }
}

/// A model's predicted samples.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PredictionFile {
    /// The predictor's name in result rows (`source`).
    pub name: String,
    /// h5ad, Parquet, CSV or TSV.
    pub path: PathBuf,
    #[serde(default = "default_perturbation_column")]
    pub perturbation_column: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_column: Option<String>,
}

/// The space predictions are scored in.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum PredictionSpace {
    /// The post-processed representation.
    Representation,
    /// Expression of the dataset's genes (lognorm of counts, or as stored).
    Expression,
}

/// How real shifts at exactly the true shift's distance count in the
/// discrimination rank.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum TiesSpec {
    /// Only strictly closer perturbations count against the truth.
    Strict,
    /// Equally close perturbations count against the truth too.
    Pessimistic,
}

/// Rules between fields, for [`crate::metrics::Metric::validate`].
pub(super) fn check(o: &PredictionOptions) -> Result<(), String> {
    let linear = o
        .predictors
        .as_ref()
        .is_none_or(|p| p.contains(&Predictor::Linear));
    if o.predictors
        .as_ref()
        .is_some_and(|p| p.contains(&Predictor::Linear))
        && o.features.is_none()
    {
        return Err("predictor `linear` needs `features` (features: target_gene_loadings)".into());
    }
    if !linear && o.features.is_some() {
        return Err("`features` is used by predictor `linear` only".into());
    }
    let expression = o.space() == PredictionSpace::Expression;
    if o.predictions.is_some() && !expression {
        return Err("`predictions` files hold genes: they need `space: expression`".into());
    }
    if o.n_genes.is_some() && !expression {
        return Err("`n_genes` needs `space: expression`".into());
    }
    let mut seen = std::collections::BTreeSet::new();
    for f in o.predictions.iter().flatten() {
        if Predictor::ALL.iter().any(|p| p.name() == f.name) || !seen.insert(f.name.clone()) {
            return Err(format!(
                "predictions name `{}` is taken (by a built-in predictor or another file)",
                f.name
            ));
        }
    }
    crate::metrics::options::shared::check_feature_fields(o.features.as_ref(), o.n_features)
}
