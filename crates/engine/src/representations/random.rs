use super::{RepContext, RepresentationKindImpl};
use crate::error::Result;
use crate::exec::outputs::MatrixOut;
use crate::pipeline::RepresentationSpec;

/// `random`: iid N(0, 1), `dim` columns (default 128), per seed.
pub struct Random;

impl RepresentationKindImpl for Random {
    fn version(&self) -> u32 {
        1
    }
    fn seeded(&self) -> bool {
        true
    }
    fn compute(&self, spec: &RepresentationSpec, ctx: &RepContext) -> Result<MatrixOut> {
        let n = ctx.ingest.samples.len();
        let dim = spec.dim.unwrap_or(128);
        pertbench_kernels::runtime::machine::check_allocation(
            n as u128 * dim as u128 * 8,
            &format!("representation `{}` ({n} samples x dim {dim})", spec.name),
        )
        .map_err(crate::error::EngineError::msg)?;
        let m = pertbench_kernels::models::baselines::random_normal(n, dim, ctx.seed);
        Ok(MatrixOut {
            matrix: m,
            rows: (0..n).collect(),
            excluded: vec![],
            convention: String::new(),
        })
    }
}
