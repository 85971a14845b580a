use super::{RepContext, RepresentationKindImpl};
use crate::error::{EngineError, Result};
use crate::nodes::MatrixOut;
use crate::pipeline::{PcaInput, RepresentationSpec};
use pertbench_kernels::pca::{randomized_pca, PcaOptions};

/// `pca`: randomized PCA of the counts (default 128 components, raw counts
/// as METRICS.md; `input: lognorm` for the scanpy convention).
pub struct Pca;

impl RepresentationKindImpl for Pca {
    fn version(&self) -> u32 {
        1
    }
    fn seeded(&self) -> bool {
        true
    }
    fn compute(&self, spec: &RepresentationSpec, ctx: &RepContext) -> Result<MatrixOut> {
        let counts = ctx.ingest.counts.as_ref().ok_or_else(|| {
            EngineError::msg(format!(
                "representation `{}`: dataset `{}` has no counts for PCA",
                spec.name, ctx.dataset
            ))
        })?;
        let k = spec
            .n_components
            .unwrap_or(128)
            .min(counts.nrows.min(counts.ncols));
        let input = match spec.input.unwrap_or(PcaInput::Counts) {
            PcaInput::Counts => std::borrow::Cow::Borrowed(counts),
            PcaInput::Lognorm => {
                let mut c = counts.clone();
                for i in 0..c.nrows {
                    let (a, b) = (c.indptr[i] as usize, c.indptr[i + 1] as usize);
                    let total: f32 = c.data[a..b].iter().sum();
                    if total > 0.0 {
                        for v in &mut c.data[a..b] {
                            *v = (*v / total * 1e4).ln_1p();
                        }
                    }
                }
                std::borrow::Cow::Owned(c)
            }
        };
        let res = randomized_pca(&input, &PcaOptions::new(k, ctx.seed)).map_err(
            EngineError::kernel(format!("representation `{}` (pca)", spec.name)),
        )?;
        Ok(MatrixOut {
            matrix: res.scores,
            rows: (0..counts.nrows).collect(),
            excluded: vec![],
        })
    }
}
