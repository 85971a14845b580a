use super::{stats, BatchLayout, PostProcess, Transformed};
use crate::{KernelError, Matrix};

/// `center`: per batch, subtract the mean of that batch's controls.
pub struct Center;

impl PostProcess for Center {
    fn name(&self) -> &'static str {
        "center"
    }
    fn version(&self) -> u32 {
        1
    }
    fn apply(&self, x: &Matrix, layout: &BatchLayout) -> Result<Transformed, KernelError> {
        stats::per_batch_standardise(x, layout, false)
    }
}
