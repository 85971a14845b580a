//! The pipeline fields of `distance`.

use crate::metrics::options::checks::MAX_DRAWS;
use crate::metrics::options::metric_options;
use crate::metrics::{ControlPool, DEFAULT_N_BOOTSTRAP};
use serde::{Deserialize, Serialize};

metric_options! {
    /// The pipeline fields of `distance`.
    pub struct DistanceOptions {
        /// pertpy's `Distance(metric=...)`: edistance | euclidean |
        /// root_mean_squared_error | mse | mean_absolute_error | pearson_distance |
        /// spearman_distance | kendalltau_distance | cosine_distance | r2_distance |
        /// mean_pairwise | mmd | sym_kldiv | t_test | ks_test | mahalanobis |
        /// mean_var_distribution
        metric: DistanceMetric = { DistanceMetric::Edistance } "edistance";
        /// edistance's within-group means: exclude_self (pairs i < j, pertpy's
        /// `Distance`) | include_self (all n^2 pairs, `DistanceTest`'s precomputed path)
        within: WithinSpec = { WithinSpec::ExcludeSelf } "exclude_self";
        /// distance between two samples in edistance and mean_pairwise:
        /// euclidean | sqeuclidean (scPerturb's E-distance)
        cell_metric: CellMetricSpec = { CellMetricSpec::Euclidean } "euclidean";
        /// mmd's kernel: linear | rbf (exp(-gamma ||a - b||^2)) | poly ((gamma <a, b>)^degree)
        kernel: KernelSpec = { KernelSpec::Linear } "linear";
        /// gamma of the rbf and poly kernels
        gamma: f64 = { 1.0 } "1.0", check finite, check positive;
        /// degree of the poly kernel
        degree: u32 = { 2 } "2", check positive;
        /// added to the standard deviations (sym_kldiv) or variances (t_test)
        epsilon: f64 = { 1e-8 } "1e-8", check finite, check nonnegative;
        /// context (each context's controls) | all
        controls: ControlPool = { ControlPool::Context } "context";
        /// relabellings of each perturbation's permutation test (pertpy's
        /// `DistanceTest`, 1000 there); 0: distances only
        n_permutations: usize = { 0 } "0", check count(0, MAX_DRAWS);
        /// pertpy (max(1, #null > observed) / n_permutations, and the contrast group
        /// counted in the correction with p = 1 / n_permutations, as pertpy 1.2.0) |
        /// permutation ((1 + #null >= observed) / (1 + n_permutations), perturbations only)
        pvalue: DistancePValue = { DistancePValue::Pertpy } "pertpy";
        /// holm_sidak (pertpy's default) | benjamini_hochberg
        correction: Correction = { Correction::HolmSidak } "holm_sidak";
        /// level of `fraction_significant` (adjusted p < alpha, pertpy's `padj_threshold`)
        alpha: f64 = { 0.05 } "0.05", check finite, check level;
        /// a seeded sample of at most this many perturbations get the test
        max_tested: usize = "all", check positive;
        /// resamples of the 95% interval of the mean distance over perturbations
        n_bootstrap: usize = { DEFAULT_N_BOOTSTRAP } "1000", check count(1, MAX_DRAWS);
    }
}

/// pertpy's metric names.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum DistanceMetric {
    Edistance,
    Euclidean,
    RootMeanSquaredError,
    Mse,
    MeanAbsoluteError,
    PearsonDistance,
    SpearmanDistance,
    KendalltauDistance,
    CosineDistance,
    R2Distance,
    MeanPairwise,
    Mmd,
    SymKldiv,
    TTest,
    KsTest,
    Mahalanobis,
    MeanVarDistribution,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum WithinSpec {
    ExcludeSelf,
    IncludeSelf,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum CellMetricSpec {
    Euclidean,
    Sqeuclidean,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum KernelSpec {
    Linear,
    Rbf,
    Poly,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum DistancePValue {
    Pertpy,
    Permutation,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Correction {
    HolmSidak,
    BenjaminiHochberg,
}
