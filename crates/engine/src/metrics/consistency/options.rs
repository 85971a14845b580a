//! The pipeline fields of `consistency` (Task 3).

use crate::metrics::options::checks::MAX_DRAWS;
use crate::metrics::options::metric_options;
use crate::metrics::DEFAULT_N_BOOTSTRAP;
use serde::{Deserialize, Serialize};

metric_options! {
    /// The pipeline fields of `consistency`.
    pub struct ConsistencyOptions {
        /// auto (unexpressed when at least min_unexpressed perturbations qualify, else
        /// permutation) | unexpressed | permutation
        null: ConsistencyNull = { ConsistencyNull::Auto } "auto";
        /// permutation: (1 + #(null >= avgsim)) / (1 + |null|), valid | efaar: #(null >=
        /// avgsim) / |null| (efaar-benchmarking 1.0)
        pvalue: ConsistencyPValue = { ConsistencyPValue::Permutation } "permutation";
        /// batch (the permutation null and the label shuffle draw within batches: a
        /// perturbation's own count of samples in each) | none (from all non-control samples,
        /// METRICS.md's definition; not valid when batches differ)
        null_strata: NullStrata = { NullStrata::Batch } "batch";
        /// random sets per group size and batch composition (permutation null)
        n_permutations: usize = { 1000 } "1000", check count(1, MAX_DRAWS);
        /// draws of the label-shuffle null of the score
        n_label_shuffles: usize = "n_permutations", check count(1, MAX_DRAWS);
        /// mean lognorm expression below which a target gene counts as unexpressed
        expression_threshold: f64 = { 0.15 } "0.15", check finite;
        /// perturbations needed for `auto` to choose the unexpressed null
        min_unexpressed: usize = { 20 } "20";
        /// significance level (inclusive: p <= alpha)
        alpha: f64 = { 0.05 } "0.05", check finite, check level;
        /// resamples of the 95% interval over perturbations
        n_bootstrap: usize = { DEFAULT_N_BOOTSTRAP } "1000", check count(1, MAX_DRAWS);
    }
}

/// What consistency's permutation null and label shuffle draw within.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum NullStrata {
    /// Each batch: a perturbation's own count of samples in each batch.
    Batch,
    /// All non-control samples (METRICS.md's definition).
    None,
}

/// How a consistency p-value is read off its null.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ConsistencyPValue {
    /// (1 + #(null >= avgsim)) / (1 + |null|): valid (P(p <= a) <= a).
    Permutation,
    /// efaar-benchmarking 1.0's #(null >= avgsim) / |null|.
    Efaar,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ConsistencyNull {
    /// `unexpressed` when at least 20 perturbations qualify, else `permutation`.
    Auto,
    Unexpressed,
    Permutation,
}
