//! Fitted models and baselines: the softmax probe (Adam and L-BFGS) and the random and shuffled baselines.

pub mod baselines;
pub mod softmax;
pub(crate) mod softmax_lbfgs;
