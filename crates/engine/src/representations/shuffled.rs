use super::{RepContext, RepresentationKindImpl};
use crate::error::{EngineError, Result};
use crate::exec::outputs::MatrixOut;
use crate::pipeline::RepresentationSpec;

/// `shuffled`: the rows of another representation permuted, so labels no
/// longer match samples (paper 004's "random labels" row).
pub struct Shuffled;

impl RepresentationKindImpl for Shuffled {
    fn version(&self) -> u32 {
        1
    }
    fn seeded(&self) -> bool {
        true
    }
    fn compute(&self, spec: &RepresentationSpec, ctx: &RepContext) -> Result<MatrixOut> {
        let base = ctx.base.ok_or_else(|| {
            EngineError::msg(format!(
                "representation `{}`: no base representation",
                spec.name
            ))
        })?;
        let m = pertbench_kernels::models::baselines::shuffled(&base.matrix, ctx.seed);
        Ok(MatrixOut {
            matrix: m,
            rows: base.rows.clone(),
            excluded: vec![],
            convention: String::new(),
        })
    }
}
