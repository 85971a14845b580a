use super::{stats, BatchLayout, PostProcess, Transformed};
use crate::{KernelError, Matrix};

/// `center`: per batch, subtract the mean of that batch's controls.
pub struct Center;

impl PostProcess for Center {
    fn name(&self) -> &'static str {
        "center"
    }
    fn description(&self) -> &'static str {
        r#"Per batch, subtract the mean of that batch's controls. Each batch's controls then sit at the origin. A batch without controls cannot be aligned: it is left out of the output and named in the rows' `excluded_batches`."#
    }
    fn version(&self) -> u32 {
        1
    }
    fn min_controls_per_batch(&self) -> usize {
        stats::STANDARDISE_MIN_CONTROLS
    }
    fn apply(&self, x: &Matrix, layout: &BatchLayout) -> Result<Transformed, KernelError> {
        stats::per_batch_standardise(x, layout, false)
    }
}
