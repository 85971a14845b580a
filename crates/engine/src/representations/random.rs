use super::{RepContext, RepresentationKindImpl};
use crate::error::Result;
use crate::nodes::MatrixOut;
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
        let m = pertbench_kernels::baselines::random_normal(n, spec.dim.unwrap_or(128), ctx.seed);
        Ok(MatrixOut {
            matrix: m,
            rows: (0..n).collect(),
            excluded: vec![],
            convention: String::new(),
        })
    }
}
