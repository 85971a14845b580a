//! Task 4, local organisation (METRICS.md "Task 4"): weighted kNN vote of
//! `test_seen` queries against the `train` reference, controls a class.

mod options;

pub use options::*;

use super::EvalSamples;
use super::{
    code_book, gather, require_nonempty, sample_queries, split_positions, Explanation, Metric,
    MetricContext, MetricInfo, MetricOutput,
};
use crate::error::{EngineError, Result};
use pertbench_kernels::neighbours::knn::{default_k, knn, KnnMetric};
use pertbench_kernels::tasks::vote::{query_hits, VoteWeights};

pub struct Knn;

/// Class name of control samples.
pub const CONTROL_CLASS: &str = "<control>";

/// Fewer scored queries than this give no value.
pub const DEFAULT_MIN_QUERIES: usize = 10;

static EXPLANATION: Explanation = Explanation {
    summary: r#"Task 4, local organisation: weighted kNN vote of held-out samples against the training samples."#,
    definition: r#"Reference = the `train` split with its controls (controls form one class), queries = the perturbed samples of `test_seen` (its controls only with `control_queries: include`). With fewer scored queries than `min_queries` (10) there is no value, and the row says why: when each perturbation sits in one batch, `test_seen` holds only controls, and scoring them would read top1 1.0. For each query the k nearest reference samples (exact search) vote for their class with weight 1 / (euclidean distance + 1e-5), or exp(cos / 0.07) with cosine weights; k = floor(sqrt(n_reference)), made odd, unless fixed. `top1` is the share of queries whose best class is theirs, `top5` the share with theirs among the five best classes that got a vote (fewer than five when the k neighbours hold fewer classes; ranking classes of probability 0 too, as an argsort of scikit-learn's `predict_proba` does, would count a class no neighbour voted for)."#,
    variants: &[
        (
            r#"top1"#,
            r#"share of queries whose best-voted class is theirs"#,
        ),
        (r#"top5"#, r#"share with their class among the five best"#),
    ],
    conventions: r#"Paper 004 votes with inverse Euclidean distance (the default). The cosine softmax vote with temperature 0.07 is the convention of contrastive-embedding evaluations; `weights: cosine` gives it. scikit-learn's KNeighborsClassifier(weights='distance') uses 1 / d without the 1e-5 offset."#,
    references: &[
        r#"Paper 004: Bendidi et al., Benchmarking Transcriptomics Foundation Models for Perturbation Analysis: one PCA still rules them all (../shared/papers/004), Task 4."#,
        r#"METRICS.md, Task 4."#,
    ],
};

impl MetricInfo for Knn {
    fn explanation(&self) -> &'static Explanation {
        &EXPLANATION
    }
    fn version(&self) -> u32 {
        // 2: bootstrap intervals over perturbations.
        // 3: control queries are not scored by default (control_queries),
        //    and fewer than min_queries scored queries give no value.
        3
    }
    fn task(&self) -> pertbench_schema::Task {
        pertbench_schema::Task::KnnOrganisation
    }
    fn needs_split(&self) -> bool {
        true
    }
}

impl Metric for Knn {
    type Options = KnnOptions;

    fn seeded(&self, _o: &KnnOptions) -> bool {
        true
    }
    fn compute(&self, label: &str, o: &KnnOptions, ctx: &MetricContext) -> Result<MetricOutput> {
        let label = label.to_string();
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
        let include_controls = o.control_queries() == ControlQueries::Include;
        let scored: Vec<usize> = test
            .positions
            .iter()
            .copied()
            .filter(|&p| include_controls || !s.is_control[ctx.rows[p]])
            .collect();
        let controls_left_out = test.positions.len() - scored.len();
        let min_queries = o.min_queries();
        if scored.len() < min_queries.max(1) {
            let why = format!(
                "no value: {} scored queries, fewer than min_queries={min_queries}; test_seen holds {} samples, {controls_left_out} of them controls (not scored: control_queries=exclude); is each perturbation in one batch only?",
                scored.len(),
                test.positions.len()
            );
            return Ok(MetricOutput {
                rows: super::rows_of(
                    &label,
                    scored.len(),
                    0,
                    &why,
                    &[("top1", None), ("top5", None)],
                ),
                details: None,
            });
        }
        let queries = sample_queries(&scored, o.max_queries, ctx.seed, "knn/queries");
        let query_class: Vec<u32> = queries.iter().map(|&p| class[class_name(p)]).collect();
        let n_ref = reference.positions.len();
        let k = o.k.unwrap_or_else(|| default_k(n_ref));
        let weights = o.weights();
        let (metric, vote) = match weights {
            KnnWeights::Euclidean => (KnnMetric::Euclidean, VoteWeights::InverseDistance),
            KnnWeights::Cosine => (KnnMetric::Cosine, VoteWeights::CosineSoftmax),
        };
        let r = gather(ctx.matrix, &reference.positions);
        let q = gather(ctx.matrix, &queries);
        let nb = knn(r.view(), q.view(), k, metric, None, ctx.par, ctx.work)
            .map_err(EngineError::kernel(format!("metric `{label}`")))?;
        let hits = query_hits(&nb, &ref_class, &query_class, vote);
        let mut convention =
            format!(
            "k={k}{};weights={};reference=train ({n_ref}, controls a class);queries=test_seen {}",
            if o.k.is_some() {
                " (fixed)"
            } else {
                " (odd floor sqrt n_reference)"
            },
            match weights {
                KnnWeights::Euclidean => "1/(euclidean+1e-5)",
                KnnWeights::Cosine => "exp(cos/0.07)",
            },
            if include_controls {
                format!("({} with its controls)", scored.len())
            } else {
                format!("perturbed ({}; {controls_left_out} controls not scored)", scored.len())
            }
        );
        if queries.len() < scored.len() {
            convention += &format!(
                ";queries=sampled {} of {} (seed {})",
                queries.len(),
                scored.len(),
                ctx.seed
            );
        }
        let dropped = reference.dropped + test.dropped;
        if dropped > 0 {
            convention += &format!(";dropped_by_postprocessing={dropped}");
        }
        let rows = super::top_k_rows(
            &label,
            &hits,
            &convention,
            &super::perturbation_codes(ctx, &queries),
            o.n_bootstrap(),
            ctx.seed,
        )?;
        Ok(MetricOutput {
            rows,
            details: None,
        })
    }
}
