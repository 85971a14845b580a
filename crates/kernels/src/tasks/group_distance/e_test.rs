//! The permutation test of pertpy's `DistanceTest` (the E-test of
//! scPerturb when the distance is `edistance`): the labels of a
//! perturbation's samples and its controls are shuffled within their pool
//! `n_permutations` times and the distance recomputed each time.
//!
//! Pair-based distances (edistance, mean_pairwise, kernel MMD) keep the
//! pooled matrix of pair values, as pertpy's `test_precomputed` does, so a
//! relabelling costs O(n^2) for n perturbed samples; the others recompute
//! the distance from the relabelled rows (pertpy's `test_xy`). A
//! relabelling's statistic depends on the set of rows drawn only, so a draw
//! of the observed labelling gives the observed statistic to the bit.

use super::samplewise::{Pair, PooledPairs};
use super::{GroupDistance, MmdKernel, Reference, WithinPairs};
use crate::{KernelError, Par};
use ndarray::{concatenate, Array2, ArrayView2, Axis};
use rand::Rng;

/// How a p-value is read off the null draws.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PValueRule {
    /// pertpy's `DistanceTest`: max(1, #{null > observed}) / B.
    Pertpy,
    /// (1 + #{null >= observed}) / (1 + B): the observation counted among
    /// the draws, a valid p-value at every level.
    Permutation,
}

impl PValueRule {
    pub fn name(&self) -> &'static str {
        match self {
            PValueRule::Pertpy => "pertpy",
            PValueRule::Permutation => "permutation",
        }
    }

    /// The p-value of `observed` among `null`; NaN when `observed` is NaN
    /// (a NaN draw exceeds nothing, as pandas' comparison says).
    pub fn p_value(&self, observed: f64, null: &[f64]) -> f64 {
        if observed.is_nan() {
            return f64::NAN;
        }
        let b = null.len() as f64;
        match self {
            PValueRule::Pertpy => {
                let above = null.iter().filter(|&&v| v > observed).count();
                above.max(1) as f64 / b
            }
            PValueRule::Permutation => {
                let at_least = null.iter().filter(|&&v| v >= observed).count();
                (1 + at_least) as f64 / (1.0 + b)
            }
        }
    }
}

/// The pooled matrix a pair-based test keeps is refused above this size.
pub const MAX_POOLED_BYTES: usize = 4 << 30;

/// A test's observed statistic (computed as its draws are), p-value, and
/// draws.
#[derive(Debug, Clone)]
pub struct TestOutcome {
    pub statistic: f64,
    pub p_value: f64,
    pub null: Vec<f64>,
}

enum Pool {
    Pairs(PooledPairs),
    Rows(Array2<f64>),
}

/// The distance of `metric` between X and Y, tested by `n_permutations`
/// random relabellings of their pooled rows (group sizes kept).
pub fn permutation_test(
    metric: GroupDistance,
    x: ArrayView2<f64>,
    y: ArrayView2<f64>,
    n_permutations: usize,
    rule: PValueRule,
    rng: &mut impl Rng,
    par: Par,
) -> Result<TestOutcome, KernelError> {
    let (n, m) = (x.nrows(), y.nrows());
    let (min_x, min_y) = metric.min_samples();
    // Relabelled groups keep the sizes: both must meet both minimums.
    let need = min_x.max(min_y);
    if n < need || m < need {
        return Err(KernelError::NotEnough(format!(
            "a permutation test of {} needs at least {need} samples in each group, got {n} and {m}",
            metric.name()
        )));
    }
    if n_permutations == 0 {
        return Err(KernelError::NotEnough("no permutations".into()));
    }
    crate::error::check_finite_rows(x)?;
    crate::error::check_finite_rows(y)?;
    let pooled = concatenate(Axis(0), &[x, y]).map_err(|e| KernelError::Shape(e.to_string()))?;
    let pair = match metric {
        GroupDistance::Edistance { cell, .. } | GroupDistance::MeanPairwise { cell } => {
            Some(Pair::Cell(cell))
        }
        GroupDistance::Mmd { kernel } if kernel != MmdKernel::Linear => Some(Pair::Kernel(kernel)),
        _ => None,
    };
    let pool = match pair {
        Some(pair) => {
            let bytes = PooledPairs::bytes(n + m);
            if bytes > MAX_POOLED_BYTES {
                return Err(KernelError::Memory(format!(
                    "a permutation test of {} on {} pooled samples keeps their pair matrix, {:.1} GB, over the {:.0} GB allowed",
                    metric.name(),
                    n + m,
                    bytes as f64 / 1e9,
                    MAX_POOLED_BYTES as f64 / 1e9
                )));
            }
            Pool::Pairs(PooledPairs::new(pooled.view(), pair, par))
        }
        None => Pool::Rows(pooled),
    };
    let statistic_of = |in_x: &[usize]| -> Result<f64, KernelError> {
        match &pool {
            Pool::Pairs(p) => {
                let (xx, yy, between) = p.sums(in_x);
                let cross = between / (n * m) as f64;
                Ok(match metric {
                    GroupDistance::Edistance { within, .. } => {
                        2.0 * cross - xx.within_mean(within) - yy.within_mean(within)
                    }
                    GroupDistance::MeanPairwise { .. } => cross,
                    GroupDistance::Mmd { .. } => {
                        xx.within_mean(WithinPairs::IncludeSelf)
                            + yy.within_mean(WithinPairs::IncludeSelf)
                            - 2.0 * cross
                    }
                    _ => unreachable!("only pair-based distances keep pairs"),
                })
            }
            Pool::Rows(rows) => {
                let mut chosen = vec![false; n + m];
                for &i in in_x {
                    chosen[i] = true;
                }
                let rest: Vec<usize> = (0..n + m).filter(|&i| !chosen[i]).collect();
                let xs = rows.select(Axis(0), in_x);
                let ys = rows.select(Axis(0), &rest);
                Reference::new(metric, ys.view(), Par::Seq)?.distance(xs.view())
            }
        }
    };
    let observed: Vec<usize> = (0..n).collect();
    let statistic = statistic_of(&observed)?;
    let mut null = Vec::with_capacity(n_permutations);
    for _ in 0..n_permutations {
        let mut in_x = rand::seq::index::sample(rng, n + m, n).into_vec();
        in_x.sort_unstable();
        null.push(statistic_of(&in_x)?);
    }
    Ok(TestOutcome {
        statistic,
        p_value: rule.p_value(statistic, &null),
        null,
    })
}
