use super::{stats, BatchLayout, PostProcess, Transformed};
use crate::{KernelError, Matrix};

/// `center_scale`: per batch, (x - mean_ctrl) / std_ctrl with the population
/// std (ddof 0); a std below 1e-12 is replaced by 1.
pub struct CenterScale;

impl PostProcess for CenterScale {
    fn name(&self) -> &'static str {
        "center_scale"
    }
    fn version(&self) -> u32 {
        1
    }
    fn apply(&self, x: &Matrix, layout: &BatchLayout) -> Result<Transformed, KernelError> {
        stats::per_batch_standardise(x, layout, true)
    }
}
