//! Post-processings of a representation (METRICS.md "Post-processing").
//! One transform per file, each implementing [`PostProcess`]; [`registry`] is
//! the one place that lists them.

mod center;
mod center_scale;
mod raw;
mod stats;
mod tvn;

#[cfg(test)]
mod tests;

pub use center::Center;
pub use center_scale::CenterScale;
pub use raw::Raw;
pub use tvn::Tvn;

use crate::{KernelError, Matrix};

/// Which batch each row belongs to and whether it is a control.
#[derive(Debug, Clone)]
pub struct BatchLayout<'a> {
    pub batch: &'a [String],
    pub is_control: &'a [bool],
}

/// A batch dropped by a transform, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct ExcludedBatch {
    pub batch: String,
    pub rows: usize,
    pub reason: String,
}

/// A transformed representation: rows are the input rows listed in `kept_rows`.
#[derive(Debug, Clone)]
pub struct Transformed {
    pub matrix: Matrix,
    pub kept_rows: Vec<usize>,
    pub excluded: Vec<ExcludedBatch>,
    /// How the data shaped this transform where it is not its plain
    /// definition (TVN truncated to the controls' rank), for each result
    /// row's `convention`; empty otherwise.
    pub convention: String,
}

pub trait PostProcess: Send + Sync {
    /// The name used in pipelines and result rows.
    fn name(&self) -> &'static str;
    /// What it does, for `pertbench explain` (METRICS.md "Post-processing"
    /// and the public convention it matches).
    fn description(&self) -> &'static str;
    /// Bumped whenever the arithmetic changes, so cached outputs are recomputed.
    fn version(&self) -> u32;
    /// Controls a batch needs to be transformed (fewer: the batch is
    /// excluded); a dataset where no batch has them cannot take it, and the
    /// planner skips it with the reason.
    fn min_controls_per_batch(&self) -> usize {
        0
    }
    fn apply(&self, x: &Matrix, layout: &BatchLayout) -> Result<Transformed, KernelError>;
}

/// Every post-processing pertbench knows, in the paper's order.
pub fn registry() -> Vec<Box<dyn PostProcess>> {
    vec![
        Box::new(Raw),
        Box::new(Center),
        Box::new(CenterScale),
        Box::new(Tvn),
    ]
}

pub fn by_name(name: &str) -> Option<Box<dyn PostProcess>> {
    registry().into_iter().find(|p| p.name() == name)
}

/// Why `pp` cannot run on a dataset with these controls per batch: every
/// batch has fewer than it needs. None when some batch qualifies.
pub fn inapplicable(
    pp: &dyn PostProcess,
    controls_per_batch: &std::collections::BTreeMap<String, usize>,
) -> Option<String> {
    let need = pp.min_controls_per_batch();
    if need == 0 || controls_per_batch.values().any(|&c| c >= need) {
        return None;
    }
    let most = controls_per_batch.values().max().copied().unwrap_or(0);
    Some(format!(
        "no batch has {need} or more control samples (it is fitted on each batch's controls; the {} batches have at most {most})",
        controls_per_batch.len()
    ))
}

pub fn names() -> Vec<&'static str> {
    registry().iter().map(|p| p.name()).collect()
}
