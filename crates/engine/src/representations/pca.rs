use super::{RepContext, RepresentationKindImpl};
use crate::error::{EngineError, Result};
use crate::exec::outputs::MatrixOut;
use crate::pipeline::{PcaInput, RepresentationSpec};
use pertbench_kernels::linalg::pca::{randomized_pca, PcaOptions};

/// `pca`: randomized PCA of the counts (default 128 components, raw counts
/// as METRICS.md; `input: lognorm` for the scanpy convention).
pub struct Pca;

impl RepresentationKindImpl for Pca {
    fn version(&self) -> u32 {
        // 2: sparse products by fused multiply-adds; power_iterations.
        // 3: products over a copy regrouped by column (A^T M sums each
        // column in row order, changing its last bits).
        3
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
            PcaInput::Lognorm => match ctx.ingest.values {
                pertbench_data::manifest::Values::Counts => std::borrow::Cow::Owned(counts.lognorm()),
                pertbench_data::manifest::Values::LogExpression => {
                    return Err(EngineError::msg(format!(
                        "representation `{}`: `input: lognorm` needs raw counts, but dataset `{}` holds log expression (values: log_expression); use `input: counts`",
                        spec.name, ctx.dataset
                    )))
                }
            },
        };
        let opts = PcaOptions {
            power_iterations: spec.power_iterations,
            ..PcaOptions::new(k, ctx.seed)
        };
        let res = randomized_pca(&input, &opts, ctx.par, ctx.work).map_err(EngineError::kernel(
            format!("representation `{}` (pca)", spec.name),
        ))?;
        Ok(MatrixOut {
            matrix: res.scores,
            rows: (0..counts.nrows).collect(),
            excluded: vec![],
            convention: String::new(),
        })
    }
}
