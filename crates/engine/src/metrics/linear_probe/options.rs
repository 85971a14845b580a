//! The pipeline fields of `linear_probe`.

use super::DEFAULT_RIDGE_LAMBDA;
use crate::metrics::options::checks::{MAX_DRAWS, MAX_EPOCHS, MAX_STEPS};
use crate::metrics::options::metric_options;
use crate::metrics::DEFAULT_N_BOOTSTRAP;
use pertbench_kernels::models::softmax::SoftmaxOptions;
use serde::{Deserialize, Serialize};

metric_options! {
    /// The pipeline fields of `linear_probe`.
    pub struct LinearProbeOptions {
        /// logistic (softmax regression) | ridge (closed form; rows named linear_ridge)
        solver: ProbeSolver = { ProbeSolver::Logistic } "logistic";
        /// lbfgs (full batch, to the optimum, as scikit-learn) | adam (mini-batch, stopped at a
        /// plateau; for screens too large for full-batch passes)
        optimiser: ProbeOptimiser = { ProbeOptimiser::Lbfgs } "lbfgs";
        /// budget of L-BFGS iterations or Adam steps; a fit that reaches it has converged=false
        /// in `convention`
        max_steps: usize = "5000 (lbfgs) | 20000 (adam)", check count(1, MAX_STEPS);
        /// lbfgs: converged when the penalised loss decreases by at most tol relative to
        /// max(|f|, 1) in an iteration; adam: a smaller relative decrease between checks
        /// divides the learning rate by 10, and after 3 reductions counts as converged
        tol: f64 = "1e-12 (lbfgs) | 1e-4 (adam)", check finite, check nonnegative;
        /// lbfgs: also converged when no gradient entry exceeds this (scikit-learn's `tol`)
        gtol: f64 = { SoftmaxOptions::default().gtol } "1e-8", check finite, check nonnegative;
        /// adam: budget of passes over the training set
        epochs: usize = { SoftmaxOptions::default().max_epochs } "1000", check count(1, MAX_EPOCHS);
        /// adam: mini-batch size
        batch_size: usize = { SoftmaxOptions::default().batch_size } "512", check positive;
        /// adam: initial learning rate
        learning_rate: f64 = { SoftmaxOptions::default().learning_rate } "0.01", check finite, check positive;
        /// L2 penalty: the loss is mean cross-entropy + l2/2 ||W||^2 (bias not penalised);
        /// scikit-learn's C = 1 / (n_train l2)
        l2: f64 = { SoftmaxOptions::default().l2 } "1e-6", check finite, check nonnegative;
        /// ridge penalty (ridge)
        ridge_lambda: f64 = { DEFAULT_RIDGE_LAMBDA } "1.0", check finite, check positive;
        /// resamples of the 95% interval (cluster bootstrap over perturbations)
        n_bootstrap: usize = { DEFAULT_N_BOOTSTRAP } "1000", check count(1, MAX_DRAWS);
    }
}

/// How the softmax probe is trained (`optimiser`).
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ProbeOptimiser {
    /// Full-batch L-BFGS to the optimum, as scikit-learn's lbfgs.
    Lbfgs,
    /// Mini-batch Adam, stopped at a plateau (for screens too large for
    /// full-batch passes).
    Adam,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ProbeSolver {
    /// Multinomial logistic regression (softmax).
    Logistic,
    /// Closed-form one-hot ridge (`linear_ridge`).
    Ridge,
}

/// Rules between fields, for [`crate::metrics::Metric::validate`].
pub(super) fn check(o: &LinearProbeOptions) -> Result<(), String> {
    let ridge = o.solver() == ProbeSolver::Ridge;
    if !ridge && o.ridge_lambda.is_some() {
        return Err("`ridge_lambda` needs `solver: ridge`".into());
    }
    let logistic_only = [
        o.optimiser.is_some(),
        o.max_steps.is_some(),
        o.tol.is_some(),
        o.gtol.is_some(),
        o.epochs.is_some(),
        o.batch_size.is_some(),
        o.learning_rate.is_some(),
        o.l2.is_some(),
    ];
    if ridge && logistic_only.contains(&true) {
        return Err("`optimiser`, `max_steps`, `tol`, `gtol`, `epochs`, `batch_size`, `learning_rate` and `l2` apply to `solver: logistic` only".into());
    }
    let adam = o.optimiser() == ProbeOptimiser::Adam;
    if !adam
        && [
            o.epochs.is_some(),
            o.batch_size.is_some(),
            o.learning_rate.is_some(),
        ]
        .contains(&true)
    {
        return Err("`epochs`, `batch_size` and `learning_rate` apply to `optimiser: adam` only (the default, lbfgs, uses every training sample in each step)".into());
    }
    if adam && o.gtol.is_some() {
        return Err("`gtol` applies to `optimiser: lbfgs` only".into());
    }
    Ok(())
}
