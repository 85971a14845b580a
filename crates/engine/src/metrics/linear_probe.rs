//! Task 2, linear separability (METRICS.md "Task 2"): a softmax probe (or
//! the closed-form `linear_ridge` variant) trained on `train` non-controls,
//! scored on `test_seen` non-controls by top-1 and top-5 accuracy.

use super::{
    code_book, constant_columns, require_nonempty, split_positions, Explanation, Metric,
    MetricContext, MetricOutput,
};
use crate::error::{EngineError, Result};
use crate::pipeline::{EvalSamples, MetricSpec, ProbeOptimiser, ProbeSolver};
use pertbench_kernels::softmax::{
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
    options: &[
        (
            r#"solver"#,
            r#"logistic"#,
            r#"logistic (softmax regression) | ridge (closed form; rows named linear_ridge)"#,
        ),
        (
            r#"optimiser"#,
            r#"lbfgs"#,
            r#"lbfgs (full batch, to the optimum, as scikit-learn) | adam (mini-batch, stopped at a plateau; for screens too large for full-batch passes)"#,
        ),
        (
            r#"max_steps"#,
            r#"5000 (lbfgs) | 20000 (adam)"#,
            r#"budget of L-BFGS iterations or Adam steps; a fit that reaches it has converged=false in `convention`"#,
        ),
        (
            r#"tol"#,
            r#"1e-12 (lbfgs) | 1e-4 (adam)"#,
            r#"lbfgs: converged when the penalised loss decreases by at most tol relative to max(|f|, 1) in an iteration; adam: a smaller relative decrease between checks divides the learning rate by 10, and after 3 reductions counts as converged"#,
        ),
        (
            r#"gtol"#,
            r#"1e-8"#,
            r#"lbfgs: also converged when no gradient entry exceeds this (scikit-learn's `tol`)"#,
        ),
        (
            r#"epochs"#,
            r#"1000"#,
            r#"adam: budget of passes over the training set"#,
        ),
        (r#"batch_size"#, r#"512"#, r#"adam: mini-batch size"#),
        (
            r#"learning_rate"#,
            r#"0.01"#,
            r#"adam: initial learning rate"#,
        ),
        (
            r#"l2"#,
            r#"1e-6"#,
            r#"L2 penalty: the loss is mean cross-entropy + l2/2 ||W||^2 (bias not penalised); scikit-learn's C = 1 / (n_train l2)"#,
        ),
        (r#"ridge_lambda"#, r#"1.0"#, r#"ridge penalty (ridge)"#),
        (
            r#"n_bootstrap"#,
            r#"1000"#,
            r#"resamples of the 95% interval (cluster bootstrap over perturbations)"#,
        ),
    ],
    conventions: r#"Paper 004 trains the softmax probe with L2 1e-6 and does not state its optimiser. By default the probe minimises the same objective as scikit-learn's LogisticRegression(solver="lbfgs", C = 1 / (n_train l2)) on features standardised on train, by full-batch L-BFGS to the optimum (gradient entries below gtol, or a relative loss decrease below tol), so top-1/top-5 equal scikit-learn's to a sample or two; each row's `convention` records the optimiser, iterations, whether it converged and why it stopped. `optimiser: adam` stops at a plateau of mini-batch training instead, which is not the optimum (on small screens its early stop acts as extra regularisation): its numbers are not comparable with scikit-learn's. `solver: ridge` is a deterministic closed form."#,
    references: &[
        r#"Paper 004: Bendidi et al., Benchmarking Transcriptomics Foundation Models for Perturbation Analysis: one PCA still rules them all (../shared/papers/004), Task 2."#,
        r#"METRICS.md, Task 2."#,
    ],
};

impl Metric for LinearProbe {
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
    fn task(&self) -> &'static str {
        "2 linear separability"
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
        let solver = spec.solver.unwrap_or(ProbeSolver::Logistic);
        let ctxmsg = format!("metric `{label}`");
        let (model, mut convention) = match solver {
            ProbeSolver::Logistic => {
                let base = match spec.optimiser.unwrap_or(ProbeOptimiser::Lbfgs) {
                    ProbeOptimiser::Lbfgs => SoftmaxOptions::default(),
                    ProbeOptimiser::Adam => SoftmaxOptions::adam(),
                };
                let opt = SoftmaxOptions {
                    max_steps: spec.max_steps.unwrap_or(base.max_steps),
                    tol: spec.tol.unwrap_or(base.tol),
                    gtol: spec.gtol.unwrap_or(base.gtol),
                    max_epochs: spec.epochs.unwrap_or(base.max_epochs),
                    batch_size: spec.batch_size.unwrap_or(base.batch_size),
                    learning_rate: spec.learning_rate.unwrap_or(base.learning_rate),
                    l2: spec.l2.unwrap_or(base.l2),
                    seed: ctx.seed,
                    ..base
                };
                let (model, fit) =
                    fit_softmax(ctx.matrix.view(), &train, &train_label, n_classes, &opt)
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
                let lambda = spec.ridge_lambda.unwrap_or(DEFAULT_RIDGE_LAMBDA);
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
        let hits = row_hits(&model, ctx.matrix.view(), &test, &test_label);
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
            spec.n_bootstrap.unwrap_or(super::DEFAULT_N_BOOTSTRAP),
            ctx.seed,
        )?;
        Ok(MetricOutput {
            rows,
            details: None,
        })
    }
}
