//! The pipeline fields of `vcc`.

use crate::cell_eval::metric_set::Profile;
use crate::differential_expression::DeConvention;
use crate::metrics::features::DEFAULT_N_FEATURES;
use crate::metrics::options::checks::MAX_DRAWS;
use crate::metrics::options::metric_options;
use crate::metrics::{FeatureSource, DEFAULT_N_BOOTSTRAP};
use serde::{Deserialize, Serialize};

/// Share of perturbations held out unless `test_perturbations` names them.
pub const DEFAULT_TEST_FRACTION: f64 = 0.2;

metric_options! {
    /// The pipeline fields of `vcc`.
    pub struct VccOptions {
        /// built-in predictors scored: control | mean | linear
        predictors: Vec<VccPredictor> = "control, mean (+ linear with features)", check nonempty_distinct;
        /// the predictor every other one is scored against (one of `predictors`)
        baseline: VccPredictor = { VccPredictor::Mean } "mean";
        /// the held-out perturbations, by name (as the Virtual Cell Challenge fixes its split)
        test_perturbations: Vec<String> = "a seeded share (test_fraction)", check nonempty_distinct;
        /// share of the perturbations held out (seeded) when test_perturbations is not given
        test_fraction: f64 = { DEFAULT_TEST_FRACTION } "0.2", check level;
        /// cell-eval's metric set: full | minimal | vcc | de | anndata | pds
        profile: Profile = { Profile::Full } "full";
        /// DE conventions: pdex_0_2 (cell-eval >= 0.6) | cell_eval_0_5 (pdex 0.1)
        convention: DeConvention = { DeConvention::Pdex02 } "pdex_0_2";
        /// perturbation features for linear, as prediction's
        features: FeatureSource = "none";
        /// components of target_gene_loadings
        n_features: usize = { DEFAULT_N_FEATURES } "20", check positive;
        /// ridge penalty of linear, relative to the mean Gram eigenvalue
        ridge_lambda: f64 = { 1.0 } "1", check finite, check positive;
        /// resamples of the 95% intervals over held-out perturbations
        n_bootstrap: usize = { DEFAULT_N_BOOTSTRAP } "1000", check count(1, MAX_DRAWS);
    }
}

/// A built-in predictor of the held-out perturbations' cells, trained on
/// the other perturbations.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum VccPredictor {
    /// Control cells, taken in turn: no effect.
    Control,
    /// cell-eval's baseline (`build_base_mean_adata`): the mean of the
    /// training perturbations' and the controls' pseudobulks, for every cell.
    Mean,
    /// The control pseudobulk plus a ridge map from perturbation features
    /// to the pseudobulk delta, fitted on the training perturbations.
    Linear,
}

impl VccPredictor {
    pub fn name(self) -> &'static str {
        match self {
            VccPredictor::Control => "control",
            VccPredictor::Mean => "mean",
            VccPredictor::Linear => "linear",
        }
    }
}

impl VccOptions {
    /// The predictors scored, sorted.
    pub fn predictor_list(&self) -> Vec<VccPredictor> {
        let mut p = match &self.predictors {
            Some(p) => p.clone(),
            None if self.features.is_some() => {
                vec![
                    VccPredictor::Control,
                    VccPredictor::Mean,
                    VccPredictor::Linear,
                ]
            }
            None => vec![VccPredictor::Control, VccPredictor::Mean],
        };
        p.sort();
        p
    }
}

/// Rules between fields, for [`crate::metrics::Metric::validate`].
pub(super) fn check(o: &VccOptions) -> Result<(), String> {
    let predictors = o.predictor_list();
    let linear = predictors.contains(&VccPredictor::Linear);
    if linear && o.features.is_none() {
        return Err("predictor `linear` needs `features` (features: target_gene_loadings)".into());
    }
    if !linear && o.features.is_some() {
        return Err("`features` is used by predictor `linear` only".into());
    }
    if !predictors.contains(&o.baseline()) {
        return Err(format!(
            "`baseline: {}` is not among the predictors ({})",
            o.baseline().name(),
            predictors
                .iter()
                .map(|p| p.name())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if o.test_perturbations.is_some() && o.test_fraction.is_some() {
        return Err("give `test_perturbations` or `test_fraction`, not both".into());
    }
    if o.test_perturbations.as_ref().is_some_and(|t| t.len() < 2) {
        return Err(
            "`test_perturbations` needs 2 or more perturbations (discrimination ranks among them)"
                .into(),
        );
    }
    crate::metrics::options::shared::check_feature_fields(o.features.as_ref(), o.n_features)
}
