//! Task 2, linear separability (METRICS.md "Task 2"): a softmax probe (or
//! the closed-form `linear_ridge` variant) trained on `train` non-controls,
//! scored on `test_seen` non-controls by top-1 and top-5 accuracy.

use super::{
    code_book, constant_columns, require_nonempty, split_positions, Explanation, Metric,
    MetricContext, MetricOutput,
};
use crate::error::{EngineError, Result};
use crate::pipeline::{EvalSamples, MetricSpec, ProbeSolver};
use pertbench_kernels::softmax::{
    auto_epochs, fit_ridge_classifier, fit_softmax, row_hits, SoftmaxOptions, MAX_AUTO_EPOCHS,
    MIN_AUTO_STEPS,
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
            r#"logistic (softmax, mini-batch Adam, cosine learning-rate schedule) | ridge (closed form; rows named linear_ridge)"#,
        ),
        (
            r#"epochs"#,
            r#"fewest of 1-10 giving 2,000 Adam steps"#,
            r#"passes over the training set (logistic)"#,
        ),
        (r#"batch_size"#, r#"512"#, r#"mini-batch size (logistic)"#),
        (
            r#"learning_rate"#,
            r#"0.01"#,
            r#"Adam's initial learning rate (logistic)"#,
        ),
        (
            r#"l2"#,
            r#"1e-6"#,
            r#"L2 penalty on the weights (logistic)"#,
        ),
        (r#"ridge_lambda"#, r#"1.0"#, r#"ridge penalty (ridge)"#),
        (
            r#"n_bootstrap"#,
            r#"1000"#,
            r#"resamples of the 95% interval (cluster bootstrap over perturbations)"#,
        ),
    ],
    conventions: r#"Paper 004 trains the softmax probe with L2 1e-6 and does not state its optimiser or epochs, so the schedule used is recorded in each row's `convention`. scikit-learn's LogisticRegression solves the full-batch problem to convergence (lbfgs); this probe runs a fixed budget of mini-batch Adam steps, so values can differ slightly. `solver: ridge` is a deterministic closed form."#,
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
        4
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
                let d = SoftmaxOptions::default();
                let batch_size = spec.batch_size.unwrap_or(d.batch_size);
                let opt = SoftmaxOptions {
                    epochs: spec
                        .epochs
                        .unwrap_or_else(|| auto_epochs(train.len(), batch_size)),
                    batch_size,
                    learning_rate: spec.learning_rate.unwrap_or(d.learning_rate),
                    l2: spec.l2.unwrap_or(d.l2),
                    seed: ctx.seed,
                };
                let mut conv = format!(
                    "solver=logistic;optimiser=adam;epochs={};batch_size={};learning_rate={};schedule=cosine;l2={};standardised=train",
                    opt.epochs, opt.batch_size, opt.learning_rate, opt.l2
                );
                if spec.epochs.is_none() {
                    conv += &format!(
                        ";epochs_rule=fewest_of_1_to_{MAX_AUTO_EPOCHS}_with_{MIN_AUTO_STEPS}_steps"
                    );
                }
                (
                    fit_softmax(ctx.matrix.view(), &train, &train_label, n_classes, &opt)
                        .map_err(EngineError::kernel(ctxmsg))?,
                    conv,
                )
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
