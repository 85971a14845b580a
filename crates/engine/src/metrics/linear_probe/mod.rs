//! Task 2, linear separability (METRICS.md "Task 2"): a softmax probe (or
//! the closed-form `linear_ridge` variant) trained on `train` non-controls,
//! scored on `test_seen` non-controls by top-1 and top-5 accuracy.

mod options;

pub use options::*;

use super::EvalSamples;
use super::{
    code_book, constant_columns, require_nonempty, split_positions, Explanation, Metric,
    MetricContext, MetricInfo, MetricOutput,
};
use crate::error::{EngineError, Result};
use pertbench_kernels::models::softmax::{
    fit_ridge_classifier, fit_softmax, row_hits, Optimiser, SoftmaxOptions, MAX_CHECK_ROWS,
    MAX_REDUCTIONS,
};

pub struct LinearProbe;

pub const DEFAULT_RIDGE_LAMBDA: f64 = 1.0;

static EXPLANATION: Explanation = Explanation {
    summary: r#"Task 2, linear separability: a linear classifier of perturbation labels, top-1 and top-5 accuracy on held-out batches."#,
    definition: r#"Multinomial logistic regression (softmax, L2 penalty) on the `train` split's non-control samples, label = perturbation, features standardised on train; evaluated on `test_seen` non-controls (held-out batches, perturbations seen in train). `top1` is the share of test samples whose highest-scoring class is their perturbation, `top5` the share with it among the five highest (micro averages). With `solver: ridge` the classifier is the closed-form one-hot ridge (X'X + lambda I) W = X'Y and the rows are named `linear_ridge`."#,
    variants: &[
        (
            r#"top1"#,
            r#"micro top-1 accuracy on test_seen non-controls"#,
        ),
        (r#"top5"#, r#"micro top-5 accuracy"#),
    ],
    conventions: r#"Paper 004 trains the softmax probe with L2 1e-6 and does not state its optimiser. By default the probe minimises the same objective as scikit-learn's LogisticRegression(solver="lbfgs", C = 1 / (n_train l2)) on features standardised on train, by full-batch L-BFGS to the optimum (gradient entries below gtol, or a relative loss decrease below tol), so top-1/top-5 equal scikit-learn's to a sample or two; each row's `convention` records the optimiser, iterations, whether it converged and why it stopped. `optimiser: adam` stops at a plateau of mini-batch training instead, which is not the optimum (on small screens its early stop acts as extra regularisation): its numbers are not comparable with scikit-learn's. `solver: ridge` is a deterministic closed form."#,
    references: &[
        r#"Paper 004: Bendidi et al., Benchmarking Transcriptomics Foundation Models for Perturbation Analysis: one PCA still rules them all (../shared/papers/004), Task 2."#,
        r#"METRICS.md, Task 2."#,
    ],
};

impl MetricInfo for LinearProbe {
    fn explanation(&self) -> &'static Explanation {
        &EXPLANATION
    }
    fn version(&self) -> u32 {
        // 2: block-parallel Adam, 10 epochs of 512, branch-free exp.
        // 3: bootstrap intervals over perturbations.
        // 4: default epochs by the step budget (auto_epochs).
        // 5: trained to convergence: full-batch L-BFGS by default (issue 20;
        //    a 384-sample plate got 10 Adam steps), adam stops at a plateau.
        5
    }
    fn task(&self) -> pertbench_schema::Task {
        pertbench_schema::Task::LinearSeparability
    }
    fn needs_split(&self) -> bool {
        true
    }
}

impl Metric for LinearProbe {
    type Options = LinearProbeOptions;

    fn validate(&self, o: &LinearProbeOptions) -> std::result::Result<(), String> {
        options::check(o)
    }
    fn default_name(&self, o: &LinearProbeOptions) -> Option<&'static str> {
        (o.solver() == ProbeSolver::Ridge).then_some("linear_ridge")
    }
    fn seeded(&self, _o: &LinearProbeOptions) -> bool {
        true
    }
    fn compute(
        &self,
        label: &str,
        o: &LinearProbeOptions,
        ctx: &MetricContext,
    ) -> Result<MetricOutput> {
        let label = label.to_string();
        let s = &ctx.ingest.samples;
        let non_control = |positions: Vec<usize>| -> Vec<usize> {
            positions
                .into_iter()
                .filter(|&p| !s.is_control[ctx.rows[p]])
                .collect()
        };
        let train_sp = split_positions(ctx, EvalSamples::Train)?;
        let test_sp = split_positions(ctx, EvalSamples::TestSeen)?;
        let train = non_control(train_sp.positions);
        let test = non_control(test_sp.positions);
        require_nonempty(&label, "`train` split (non-controls)", train.len())?;
        require_nonempty(&label, "`test_seen` split (non-controls)", test.len())?;
        // Sorted codes, so the class order does not depend on row order.
        let class = code_book(train.iter().map(|&p| s.perturbation[ctx.rows[p]].as_str()));
        let code = |p: usize| class.get(s.perturbation[ctx.rows[p]].as_str()).copied();
        let train_label: Vec<u32> = train
            .iter()
            .map(|&p| code(p).expect("from train"))
            .collect();
        let (test, test_label): (Vec<usize>, Vec<u32>) =
            test.iter().filter_map(|&p| code(p).map(|c| (p, c))).unzip();
        require_nonempty(
            &label,
            "`test_seen` split (perturbations seen in train)",
            test.len(),
        )?;
        let n_classes = class.len();
        let solver = o.solver();
        let ctxmsg = format!("metric `{label}`");
        let (model, mut convention) = match solver {
            ProbeSolver::Logistic => {
                let base = match o.optimiser() {
                    ProbeOptimiser::Lbfgs => SoftmaxOptions::default(),
                    ProbeOptimiser::Adam => SoftmaxOptions::adam(),
                };
                let opt = SoftmaxOptions {
                    max_steps: o.max_steps.unwrap_or(base.max_steps),
                    tol: o.tol.unwrap_or(base.tol),
                    gtol: o.gtol.unwrap_or(base.gtol),
                    max_epochs: o.epochs.unwrap_or(base.max_epochs),
                    batch_size: o.batch_size.unwrap_or(base.batch_size),
                    learning_rate: o.learning_rate.unwrap_or(base.learning_rate),
                    l2: o.l2.unwrap_or(base.l2),
                    seed: ctx.seed,
                    ..base
                };
                let (model, fit) = fit_softmax(
                    ctx.matrix.view(),
                    &train,
                    &train_label,
                    n_classes,
                    &opt,
                    ctx.par,
                    ctx.work,
                )
                .map_err(EngineError::kernel(ctxmsg))?;
                let conv = match opt.optimiser {
                    Optimiser::Lbfgs => format!(
                        "solver=logistic;optimiser=lbfgs;l2={};sklearn_C={:e};tol={:e};gtol={:e};max_steps={};steps={};converged={};stop={};loss={:.6e};max_gradient={:.1e};standardised=train",
                        opt.l2,
                        1.0 / (train.len() as f64 * opt.l2),
                        opt.tol,
                        opt.gtol,
                        opt.max_steps,
                        fit.steps,
                        fit.converged,
                        fit.stop,
                        fit.loss,
                        fit.max_gradient.unwrap_or(f64::NAN)
                    ),
                    Optimiser::Adam => format!(
                        "solver=logistic;optimiser=adam;l2={};batch_size={};learning_rate={};lr_reductions={}_of_{MAX_REDUCTIONS};tol={:e};max_steps={};max_epochs={};check_rows={}_max_{MAX_CHECK_ROWS};steps={};epochs={};converged={};stop={};loss={:.6e};standardised=train",
                        opt.l2,
                        opt.batch_size,
                        opt.learning_rate,
                        fit.reductions,
                        opt.tol,
                        opt.max_steps,
                        opt.max_epochs,
                        fit.check_rows,
                        fit.steps,
                        fit.epochs,
                        fit.converged,
                        fit.stop,
                        fit.loss
                    ),
                };
                (model, conv)
            }
            ProbeSolver::Ridge => {
                let lambda = o.ridge_lambda();
                (
                    fit_ridge_classifier(
                        ctx.matrix.view(),
                        &train,
                        &train_label,
                        n_classes,
                        lambda,
                    )
                    .map_err(EngineError::kernel(ctxmsg))?,
                    format!(
                        "solver=ridge;ridge_lambda={lambda};targets=one_hot;standardised=train"
                    ),
                )
            }
        };
        let hits = row_hits(
            &model,
            ctx.matrix.view(),
            &test,
            &test_label,
            ctx.par,
            ctx.work,
        );
        convention += &format!(";classes={n_classes};train_samples={}", train.len());
        let constant = constant_columns(ctx.matrix, &train);
        if constant > 0 {
            convention += &format!(";constant_columns={constant}");
        }
        let dropped = train_sp.dropped + test_sp.dropped;
        if dropped > 0 {
            convention += &format!(";dropped_by_postprocessing={dropped}");
        }
        if let Some(split) = ctx.split {
            let n: usize = split.unseen_train_perturbations.values().sum();
            if n > 0 {
                convention +=
                    &format!(";excluded_test_samples_of_train_perturbations_absent_from_train={n}");
            }
        }
        let rows = super::top_k_rows(
            &label,
            &hits,
            &convention,
            &test_label,
            o.n_bootstrap(),
            ctx.seed,
        )?;
        Ok(MetricOutput {
            rows,
            details: None,
        })
    }
}
