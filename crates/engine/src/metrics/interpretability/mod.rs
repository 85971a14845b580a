//! Task 6, linear interpretability (METRICS.md "Task 6"): a ridge decoder
//! from the representation to lognorm expression (log expression as stored
//! for `values: log_expression` datasets such as L1000), fitted on `train`
//! (controls included), scored on every sample of `test_unseen`.

mod options;

pub use options::*;

use super::EvalSamples;
use super::{
    code_book, require_nonempty, rows_of, split_positions, Explanation, Metric, MetricContext,
    MetricInfo, MetricOutput,
};
use crate::error::{EngineError, Result};
use pertbench_data::manifest::Values;
use pertbench_kernels::sparse::expression_rows::{ExpressionRows, Target};
use pertbench_kernels::tasks::decoder::{evaluate, fit_expression, SiRows, TestLayout};
use rayon::prelude::*;

pub struct Interpretability;

pub const DEFAULT_RIDGE_LAMBDA: f64 = 1.0;

static EXPLANATION: Explanation = Explanation {
    summary: r#"Task 6, linear interpretability: how well a ridge decoder recovers expression from the representation, and Structural Integrity."#,
    definition: r#"A ridge regression from the representation to lognorm expression (log expression as stored for datasets such as L1000), fitted on the `train` split with its controls, predicts every sample of `test_unseen` (held-out batches and perturbations). `spearman` and `pearson` are correlations per gene across test samples, averaged over genes (genes constant in the test set are skipped and counted); `r2` is 1 - SSE/SST per gene, averaged; `mse` and `mae` are over all entries. Structural Integrity on the same predictions: per test batch b, prediction and truth are each centred by the mean of that batch's control rows; d_b = ||P_b - T_b||_F / n_b, m_b = ||T_b||_F / n_b over the compared rows, and SI = 1 - mean_b(d_b) / (2 mean_b(m_b)). Batches without controls are left out of SI and named."#,
    variants: &[
        (
            r#"spearman"#,
            r#"mean over genes of the Spearman correlation across test samples"#,
        ),
        (
            r#"pearson"#,
            r#"mean over genes of the Pearson correlation"#,
        ),
        (r#"r2"#, r#"mean over genes of 1 - SSE/SST"#),
        (
            r#"mse"#,
            r#"mean squared error over all entries (lower is better)"#,
        ),
        (r#"mae"#, r#"mean absolute error (lower is better)"#),
        (
            r#"structural_integrity"#,
            r#"1 - mean structural distance / (2 mean magnitude), per test batch"#,
        ),
    ],
    conventions: r#"Paper 004 does not state the decoder's penalty; the row's `convention` records lambda, the genes scored and skipped, and the batches SI used. `si_rows: all` includes the control rows in d_b and m_b."#,
    references: &[
        r#"Paper 004: Bendidi et al., Benchmarking Transcriptomics Foundation Models for Perturbation Analysis: one PCA still rules them all (../shared/papers/004), Task 6 and Structural Integrity."#,
        r#"METRICS.md, Task 6."#,
    ],
};

impl MetricInfo for Interpretability {
    fn explanation(&self) -> &'static Explanation {
        &EXPLANATION
    }
    fn version(&self) -> u32 {
        // 2: batch codes in sorted order, so excluded batches are named right.
        // 3: bootstrap intervals over genes.
        // 4: X'Y accumulated from the sparse expression, Structural
        // Integrity resamples summed gene by gene (sums in a new order).
        // 5: Xc'Y summed over chunks regrouped by column (a new order).
        5
    }
    fn task(&self) -> pertbench_schema::Task {
        pertbench_schema::Task::LinearInterpretability
    }
    fn needs_split(&self) -> bool {
        true
    }
}

impl Metric for Interpretability {
    type Options = InterpretabilityOptions;

    fn seeded(&self, _o: &InterpretabilityOptions) -> bool {
        true
    }
    fn compute(
        &self,
        label: &str,
        o: &InterpretabilityOptions,
        ctx: &MetricContext,
    ) -> Result<MetricOutput> {
        let label = label.to_string();
        let counts = ctx.ingest.counts.as_ref().ok_or_else(|| {
            EngineError::msg(format!(
                "metric `{label}`: Task 6 decodes expression, but this dataset has no count matrix"
            ))
        })?;
        let s = &ctx.ingest.samples;
        let train = split_positions(ctx, EvalSamples::Train)?;
        let test = split_positions(ctx, EvalSamples::TestUnseen)?;
        require_nonempty(&label, "`train` split", train.positions.len())?;
        require_nonempty(&label, "`test_unseen` split", test.positions.len())?;
        let lambda = o.ridge_lambda();
        let si_rows = match o.si_rows() {
            SiRowsSpec::Perturbed => SiRows::Perturbed,
            SiRowsSpec::All => SiRows::All,
        };
        let sample_rows =
            |pos: &[usize]| -> Vec<usize> { pos.iter().map(|&p| ctx.rows[p]).collect() };
        let ctxmsg = format!("metric `{label}`");
        // Expression is read from the (memory-mapped) counts, never copied.
        let values = ctx.ingest.values;
        let target = match values {
            Values::Counts => Target::Lognorm,
            Values::LogExpression => Target::AsStored,
        };
        let train_rows = sample_rows(&train.positions);
        let dec = fit_expression(
            ctx.matrix.view(),
            &train.positions,
            &ExpressionRows {
                matrix: counts,
                rows: &train_rows,
                target,
            },
            lambda,
            ctx.par,
            ctx.work,
        )
        .map_err(EngineError::kernel(ctxmsg.clone()))?;
        let code = code_book(
            test.positions
                .iter()
                .map(|&p| s.batch[ctx.rows[p]].as_str()),
        );
        let batch: Vec<u32> = test
            .positions
            .iter()
            .map(|&p| code[s.batch[ctx.rows[p]].as_str()])
            .collect();
        let is_control: Vec<bool> = test
            .positions
            .iter()
            .map(|&p| s.is_control[ctx.rows[p]])
            .collect();
        let layout = TestLayout {
            batch: &batch,
            is_control: &is_control,
            n_batches: code.len(),
        };
        let test_rows = sample_rows(&test.positions);
        let r = evaluate(
            &dec,
            ctx.matrix.view(),
            &test.positions,
            &ExpressionRows {
                matrix: counts,
                rows: &test_rows,
                target,
            },
            &layout,
            si_rows,
            ctx.par,
            ctx.work,
        )
        .map_err(EngineError::kernel(ctxmsg))?;
        let names: Vec<&str> = code.keys().copied().collect();
        let mut convention = format!(
            "decoder=ridge;ridge_lambda={lambda};target={};train=train+controls;test=test_unseen+controls;genes_scored={};genes_constant_skipped={};si_rows={};si_batches={}",
            match values {
                Values::Counts => "lognorm",
                Values::LogExpression => "log_expression",
            },
            r.n_genes_scored,
            r.n_genes_constant,
            match si_rows {
                SiRows::Perturbed => "perturbed",
                SiRows::All => "all",
            },
            r.si_batches
        );
        if r.n_prediction_constant > 0 {
            convention += &format!(
                ";constant_predictions_counted_as_0={}",
                r.n_prediction_constant
            );
        }
        if !r.si_excluded.is_empty() {
            let ex: Vec<String> = r
                .si_excluded
                .iter()
                .map(|(b, why)| format!("{} ({why})", names[*b as usize]))
                .collect();
            convention += &format!(";si_excluded_batches={}", ex.join(", "));
        }
        let dropped = train.dropped + test.dropped;
        if dropped > 0 {
            convention += &format!(";dropped_by_postprocessing={dropped}");
        }
        // Intervals resample genes: the scores are per-gene averages, and
        // Structural Integrity is recomputed on each resample of genes.
        let n_boot = o.n_bootstrap();
        convention += &format!(";bootstrap={n_boot}_over_genes");
        let mut rows = rows_of(
            &label,
            test.positions.len(),
            0,
            &convention,
            &[
                ("spearman", r.spearman),
                ("pearson", r.pearson),
                ("mse", Some(r.mse)),
                ("mae", Some(r.mae)),
                ("r2", r.r2),
                ("structural_integrity", r.structural_integrity),
            ],
        );
        let column = |v: &[[f64; 3]], k: usize| v.iter().map(|g| g[k]).collect::<Vec<f64>>();
        let errors = |k: usize| r.per_gene_errors.iter().map(|g| g[k]).collect::<Vec<f64>>();
        let per: [(&str, Vec<f64>); 5] = [
            ("spearman", column(&r.per_gene, 0)),
            ("pearson", column(&r.per_gene, 1)),
            ("r2", column(&r.per_gene, 2)),
            ("mse", errors(0)),
            ("mae", errors(1)),
        ];
        for (k, (variant, values)) in per.iter().enumerate() {
            if values.is_empty() {
                continue;
            }
            let ci = pertbench_kernels::stats::bootstrap::mean_interval(
                values,
                n_boot,
                0.95,
                ctx.seed ^ (k as u64 + 1),
            )
            .map_err(EngineError::kernel(format!("metric `{label}` (bootstrap)")))?;
            for row in rows.iter_mut().filter(|row| row.variant == *variant) {
                row.ci_low = Some(ci.0);
                row.ci_high = Some(ci.1);
            }
        }
        if r.structural_integrity.is_some() {
            use rand::Rng;
            let mut rng =
                pertbench_kernels::stats::rng::stream(ctx.seed, "interpretability/si-bootstrap", 0);
            let g = r.n_genes();
            // Resamples drawn in order from one stream, scored in parallel.
            let picks: Vec<Vec<usize>> = (0..n_boot)
                .map(|_| (0..g).map(|_| rng.random_range(0..g)).collect())
                .collect();
            let mut sis: Vec<f64> = picks
                .par_iter()
                .filter_map(|pick| r.structural_integrity_over(pick))
                .collect();
            sis.sort_by(|a, b| a.total_cmp(b));
            if !sis.is_empty() {
                use pertbench_kernels::stats::bootstrap::quantile_sorted;
                for row in rows
                    .iter_mut()
                    .filter(|row| row.variant == "structural_integrity")
                {
                    row.ci_low = Some(quantile_sorted(&sis, 0.025));
                    row.ci_high = Some(quantile_sorted(&sis, 0.975));
                }
            }
        }
        Ok(MetricOutput {
            rows,
            details: None,
        })
    }
}
