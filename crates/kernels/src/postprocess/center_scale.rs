use super::{stats, BatchLayout, PostProcess, Transformed};
use crate::{KernelError, Matrix};

/// `center_scale`: per batch, (x - mean_ctrl) / std_ctrl with the population
/// std (ddof 0); a std below 1e-12 is replaced by 1.
pub struct CenterScale;

impl PostProcess for CenterScale {
    fn name(&self) -> &'static str {
        "center_scale"
    }
    fn description(&self) -> &'static str {
        r#"Per batch, centre and scale on the batch's controls. Each value becomes (x - mean of the batch's controls) / their standard deviation (population, ddof 0; a standard deviation below 1e-12 is replaced by 1), as efaar-benchmarking 1.0's `centerscale_on_controls` with a batch column (scikit-learn's StandardScaler fitted on the controls). A batch without controls is left out and named in `excluded_batches`."#
    }
    fn version(&self) -> u32 {
        1
    }
    fn min_controls_per_batch(&self) -> usize {
        stats::STANDARDISE_MIN_CONTROLS
    }
    fn apply(&self, x: &Matrix, layout: &BatchLayout) -> Result<Transformed, KernelError> {
        stats::per_batch_standardise(x, layout, true)
    }
}
