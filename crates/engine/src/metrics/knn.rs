//! Task 4, local organisation (METRICS.md "Task 4"): weighted kNN vote of
//! `test_seen` queries against the `train` reference, controls a class.

use super::{
    code_book, gather, require_nonempty, rows_of, sample_queries, split_positions, Metric,
    MetricContext, MetricOutput,
};
use crate::error::{EngineError, Result};
use crate::pipeline::{EvalSamples, KnnWeights, MetricSpec};
use pertbench_kernels::knn::{default_k, knn, KnnMetric};
use pertbench_kernels::vote::{query_hits, VoteWeights};

pub struct Knn;

/// Class name of control samples.
pub const CONTROL_CLASS: &str = "<control>";

impl Metric for Knn {
    fn version(&self) -> u32 {
        // 2: bootstrap intervals over perturbations.
        2
    }
    fn task(&self) -> &'static str {
        "4 kNN organisation"
    }
    fn needs_split(&self) -> bool {
        true
    }
    fn seeded(&self, _spec: &MetricSpec) -> bool {
        true
    }
    fn compute(&self, spec: &MetricSpec, ctx: &MetricContext) -> Result<MetricOutput> {
        let label = spec.label();
        let s = &ctx.ingest.samples;
        let class_name = |p: usize| -> &str {
            let r = ctx.rows[p];
            if s.is_control[r] {
                CONTROL_CLASS
            } else {
                s.perturbation[r].as_str()
            }
        };
        let reference = split_positions(ctx, EvalSamples::Train)?;
        let test = split_positions(ctx, EvalSamples::TestSeen)?;
        require_nonempty(
            &label,
            "`train` split (the kNN reference)",
            reference.positions.len(),
        )?;
        require_nonempty(
            &label,
            "`test_seen` split (the kNN queries)",
            test.positions.len(),
        )?;
        let class = code_book(
            reference
                .positions
                .iter()
                .chain(&test.positions)
                .map(|&p| class_name(p)),
        );
        let ref_class: Vec<u32> = reference
            .positions
            .iter()
            .map(|&p| class[class_name(p)])
            .collect();
        let queries = sample_queries(&test.positions, spec.max_queries, ctx.seed, "knn/queries");
        let query_class: Vec<u32> = queries.iter().map(|&p| class[class_name(p)]).collect();
        let n_ref = reference.positions.len();
        let k = spec.k.unwrap_or_else(|| default_k(n_ref));
        let weights = spec.weights.unwrap_or(KnnWeights::Euclidean);
        let (metric, vote) = match weights {
            KnnWeights::Euclidean => (KnnMetric::Euclidean, VoteWeights::InverseDistance),
            KnnWeights::Cosine => (KnnMetric::Cosine, VoteWeights::CosineSoftmax),
        };
        let r = gather(ctx.matrix, &reference.positions);
        let q = gather(ctx.matrix, &queries);
        let nb = knn(r.view(), q.view(), k, metric, None)
            .map_err(EngineError::kernel(format!("metric `{label}`")))?;
        let hits = query_hits(&nb, &ref_class, &query_class, vote);
        let top1: Vec<f64> = hits.iter().map(|h| f64::from(u8::from(h.0))).collect();
        let top5: Vec<f64> = hits.iter().map(|h| f64::from(u8::from(h.1))).collect();
        let (t1, t5) = (
            top1.iter().sum::<f64>() as usize,
            top5.iter().sum::<f64>() as usize,
        );
        let mut convention = format!(
            "k={k}{};weights={};reference=train ({n_ref}, controls a class);queries=test_seen",
            if spec.k.is_some() {
                " (fixed)"
            } else {
                " (odd floor sqrt n_reference)"
            },
            match weights {
                KnnWeights::Euclidean => "1/(euclidean+1e-5)",
                KnnWeights::Cosine => "exp(cos/0.07)",
            }
        );
        if queries.len() < test.positions.len() {
            convention += &format!(
                ";queries=sampled {} of {} (seed {})",
                queries.len(),
                test.positions.len(),
                ctx.seed
            );
        }
        let dropped = reference.dropped + test.dropped;
        if dropped > 0 {
            convention += &format!(";dropped_by_postprocessing={dropped}");
        }
        let n = queries.len() as f64;
        let n_boot = spec.n_bootstrap.unwrap_or(super::DEFAULT_N_BOOTSTRAP);
        convention += &format!(";bootstrap={n_boot}_over_perturbations");
        let mut rows = rows_of(
            &label,
            queries.len(),
            0,
            &convention,
            &[("top1", Some(t1 as f64 / n)), ("top5", Some(t5 as f64 / n))],
        );
        let mean: fn(&[f64]) -> f64 = pertbench_kernels::bootstrap::mean;
        super::cluster_intervals(
            &label,
            &mut rows,
            &[("top1", &top1, mean), ("top5", &top5, mean)],
            &super::perturbation_codes(ctx, &queries),
            n_boot,
            ctx.seed,
        )?;
        Ok(MetricOutput {
            rows,
            details: None,
        })
    }
}
