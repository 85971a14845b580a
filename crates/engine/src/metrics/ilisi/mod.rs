//! Task 1, batch mixing: iLISI (METRICS.md "Task 1").

mod options;

pub use options::*;

use super::EvalSamples;
use super::{
    code_book, gather, require_nonempty, rows_of, sample_queries, split_positions, Explanation,
    Metric, MetricContext, MetricInfo, MetricOutput,
};
use crate::error::{EngineError, Result};
use pertbench_kernels::neighbours::knn::{knn, KnnMetric};
use pertbench_kernels::tasks::ilisi::{lisi, summarise};

pub struct Ilisi;

pub const DEFAULT_PERPLEXITY: f64 = 30.0;

static EXPLANATION: Explanation = Explanation {
    summary: r#"Task 1, batch mixing: inverse Simpson's index of batch labels in each sample's neighbourhood (iLISI)."#,
    definition: r#"On the `test_seen` samples and their controls (option `on`), each query's k = floor(3 x perplexity) nearest neighbours (exact, Euclidean, self excluded) get weights p_j = exp(-beta d_j) on plain distances, beta found by bisection from 1 so that the weights' entropy equals log(perplexity) (tolerance 1e-5, at most 50 steps). Simpson_i = sum over batches of (weight in that batch)^2 and LISI_i = 1 / Simpson_i, between 1 (one batch) and B (all B batches equally mixed). Higher means batches are better mixed."#,
    variants: &[
        (r#"ilisi_mean"#, r#"mean LISI over queries, in [1, B]"#),
        (r#"ilisi_median"#, r#"median LISI over queries"#),
        (
            r#"ilisi_scaled"#,
            r#"(median - 1) / (B - 1), in [0, 1]; empty with one batch"#,
        ),
    ],
    conventions: r#"harmonypy `compute_lisi` and this metric agree to 1e-6 on METRICS.md's reference vector (perplexity 5). scib's `ilisi_graph` searches a kNN graph rather than exact distances and reports the scaled median (`ilisi_scaled` here); Harmony's paper reports the mean (`ilisi_mean`)."#,
    references: &[
        r#"Paper 004: Bendidi et al., Benchmarking Transcriptomics Foundation Models for Perturbation Analysis: one PCA still rules them all (../shared/papers/004), Task 1."#,
        r#"Korsunsky et al. 2019, Fast, sensitive and accurate integration of single-cell data with Harmony (Nature Methods): LISI."#,
        r#"METRICS.md, Task 1."#,
    ],
};

impl MetricInfo for Ilisi {
    fn explanation(&self) -> &'static Explanation {
        &EXPLANATION
    }
    fn version(&self) -> u32 {
        // 2: bootstrap intervals over perturbations. 3: `ilisi_scaled`'s
        // interval maps the median's (as its value does), not the mean's.
        3
    }
    fn task(&self) -> pertbench_schema::Task {
        pertbench_schema::Task::BatchMixing
    }
    fn needs_split(&self) -> bool {
        true
    }
}

impl Metric for Ilisi {
    type Options = IlisiOptions;

    fn seeded(&self, o: &IlisiOptions) -> bool {
        // The split (unless `on: all`) and any query sample depend on the seed.
        o.on() != EvalSamples::All || o.max_queries.is_some()
    }
    fn compute(&self, label: &str, o: &IlisiOptions, ctx: &MetricContext) -> Result<MetricOutput> {
        let label = label.to_string();
        let perplexity = o.perplexity();
        let on = o.on();
        let on_name = serde_json::to_value(on)
            .ok()
            .and_then(|v| v.as_str().map(String::from))
            .unwrap_or_default();
        let k = (3.0 * perplexity).floor() as usize;
        let sp = split_positions(ctx, on)?;
        require_nonempty(
            &label,
            &format!("`{on_name}` sample set"),
            sp.positions.len(),
        )?;
        let x = gather(ctx.matrix, &sp.positions);
        // Batch codes over the evaluated samples.
        let code = code_book(
            sp.positions
                .iter()
                .map(|&p| ctx.ingest.samples.batch[ctx.rows[p]].as_str()),
        );
        let label_of: Vec<u32> = sp
            .positions
            .iter()
            .map(|&p| code[ctx.ingest.samples.batch[ctx.rows[p]].as_str()])
            .collect();
        let n_batches = code.len();
        let local: Vec<usize> = (0..sp.positions.len()).collect();
        let queries = sample_queries(&local, o.max_queries, ctx.seed, "ilisi/queries");
        let q = gather(&x, &queries);
        let nb = knn(
            x.view(),
            q.view(),
            k,
            KnnMetric::Euclidean,
            Some(&queries),
            ctx.par,
            ctx.work,
        )
        .map_err(EngineError::kernel(format!(
            "metric `{label}` (k = 3 x perplexity = {k} neighbours)"
        )))?;
        let values = lisi(&nb, &label_of, n_batches, perplexity);
        let (mean, median, scaled) = summarise(&values, n_batches);
        let mut convention = format!(
            "perplexity={perplexity};k={k};on={on_name};batches={n_batches};distance=euclidean"
        );
        if queries.len() < local.len() {
            convention += &format!(
                ";queries=sampled {} of {} (seed {})",
                queries.len(),
                local.len(),
                ctx.seed
            );
        }
        if sp.dropped > 0 {
            convention += &format!(";dropped_by_postprocessing={}", sp.dropped);
        }
        if n_batches < 2 {
            convention += ";ilisi_scaled undefined: one batch";
        }
        let n_boot = o.n_bootstrap();
        convention += &format!(";bootstrap={n_boot}_over_perturbations");
        let mut rows = rows_of(
            &label,
            queries.len(),
            0,
            &convention,
            &[
                ("ilisi_mean", Some(mean)),
                ("ilisi_median", Some(median)),
                ("ilisi_scaled", scaled),
            ],
        );
        // A node without a seed in its key bootstraps with seed 0, so its
        // cached interval does not depend on which seed computed it.
        let boot_seed = if self.seeded(o) { ctx.seed } else { 0 };
        let matrix_positions: Vec<usize> = queries.iter().map(|&q| sp.positions[q]).collect();
        let median_of: fn(&[f64]) -> f64 = |v| {
            let mut s = v.to_vec();
            s.sort_by(|a, b| a.total_cmp(b));
            pertbench_kernels::stats::bootstrap::quantile_sorted(&s, 0.5)
        };
        super::cluster_intervals(
            &label,
            &mut rows,
            &[
                (
                    "ilisi_mean",
                    &values,
                    pertbench_kernels::stats::bootstrap::mean,
                ),
                ("ilisi_median", &values, median_of),
            ],
            &super::perturbation_codes(ctx, &matrix_positions),
            n_boot,
            boot_seed,
        )?;
        // Scaled = (median - 1) / (batches - 1), monotone in the median, so
        // its interval is the median's, mapped the same way.
        if n_batches >= 2 {
            let (lo, hi) = {
                let m = rows
                    .iter()
                    .find(|r| r.variant == "ilisi_median")
                    .expect("row");
                (m.ci_low, m.ci_high)
            };
            for r in rows.iter_mut().filter(|r| r.variant == "ilisi_scaled") {
                r.ci_low = lo.map(|v| (v - 1.0) / (n_batches as f64 - 1.0));
                r.ci_high = hi.map(|v| (v - 1.0) / (n_batches as f64 - 1.0));
            }
        }
        Ok(MetricOutput {
            rows,
            details: None,
        })
    }
}
