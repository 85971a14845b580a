use super::{BatchLayout, PostProcess, Transformed};
use crate::{KernelError, Matrix};

/// `raw`: the representation unchanged.
pub struct Raw;

impl PostProcess for Raw {
    fn name(&self) -> &'static str {
        "raw"
    }
    fn description(&self) -> &'static str {
        r#"The representation unchanged: the baseline every other post-processing is compared with."#
    }
    fn version(&self) -> u32 {
        1
    }
    fn apply(&self, x: &Matrix, _layout: &BatchLayout) -> Result<Transformed, KernelError> {
        crate::error::check_finite(x)?;
        Ok(Transformed {
            matrix: x.clone(),
            kept_rows: (0..x.nrows()).collect(),
            excluded: vec![],
            convention: String::new(),
        })
    }
}
