//! The pipeline fields of `rewiring`.

use super::{DEFAULT_DRAWS, DEFAULT_K};
use crate::metrics::options::checks::MAX_DRAWS;
use crate::metrics::options::metric_options;
use crate::metrics::DEFAULT_N_BOOTSTRAP;
use serde::{Deserialize, Serialize};

metric_options! {
    /// The pipeline fields of `rewiring`.
    pub struct RewiringOptions {
        /// neighbours per entity
        k: usize = { DEFAULT_K } "5", check positive;
        /// context | perturbation
        entity: RewiringEntity = { RewiringEntity::Context } "context";
        /// the context perturbation neighbourhoods are compared against (entity: perturbation)
        reference_context: String = "first context in sorted order";
        /// split_halves | size_matched
        calibration: Calibration = { Calibration::SplitHalves } "split_halves";
        /// calibration draws
        n_permutations: usize = { DEFAULT_DRAWS } "200", check count(0, MAX_DRAWS);
        /// BH level
        alpha: f64 = { 0.05 } "0.05", check finite, check level;
        /// resamples of the 95% interval
        n_bootstrap: usize = { DEFAULT_N_BOOTSTRAP } "1000", check count(1, MAX_DRAWS);
    }
}

/// What rewiring's neighbourhoods are made of.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RewiringEntity {
    /// Contexts (e.g. protein labels); conditions are perturbations.
    Context,
    /// Perturbations (by their shifts); conditions are contexts.
    Perturbation,
}

/// Control-only comparison that calibrates rewiring.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Calibration {
    /// Two random halves of each context's controls.
    SplitHalves,
    /// As many controls as the perturbation has samples, against the rest.
    SizeMatched,
}

/// Rules between fields, for [`crate::metrics::Metric::validate`].
pub(super) fn check(o: &RewiringOptions) -> Result<(), String> {
    if o.reference_context.is_some() && o.entity() != RewiringEntity::Perturbation {
        return Err("`reference_context` needs `entity: perturbation`".into());
    }
    Ok(())
}
