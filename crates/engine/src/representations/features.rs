use super::{RepContext, RepresentationKindImpl};
use crate::error::{EngineError, Result};
use crate::exec::outputs::MatrixOut;
use crate::pipeline::RepresentationSpec;

/// `features`: the dataset's own value matrix as it is stored, e.g. the
/// CellProfiler features of a profile table (`features:` in its manifest),
/// or an L1000 plate's log expression: the profiles every learned
/// representation is compared against.
pub struct Features;

impl RepresentationKindImpl for Features {
    fn version(&self) -> u32 {
        1
    }
    fn seeded(&self) -> bool {
        false
    }
    fn compute(&self, spec: &RepresentationSpec, ctx: &RepContext) -> Result<MatrixOut> {
        let counts = ctx.ingest.counts.as_ref().ok_or_else(|| {
            EngineError::msg(format!(
                "representation `{}`: dataset `{}` has no value matrix; for a profile table, name its feature columns with `features:` in the manifest",
                spec.name, ctx.dataset
            ))
        })?;
        let n = counts.nrows;
        let mut m = pertbench_kernels::Matrix::zeros((n, counts.ncols));
        for i in 0..n {
            for (c, v) in counts.row(i) {
                m[(i, c)] = v;
            }
        }
        Ok(MatrixOut {
            matrix: m,
            rows: (0..n).collect(),
            excluded: vec![],
            convention: String::new(),
        })
    }
}
