//! A prediction's metrics summarised over perturbations (cell-eval's
//! `agg_results`, polars' `describe()`), with a bootstrap interval of each
//! mean, and the score against a baseline's (cell-eval `score`).

use super::Evaluation;
use crate::error::{EngineError, Result};
use pertbench_kernels::stats::bootstrap::mean_interval;
use pertbench_kernels::tasks::cell_eval::score::{self, Best};

/// The summary rows, in order: polars' `describe()` rows, then the 95%
/// bootstrap interval of the mean.
pub const STATISTICS: [&str; 11] = [
    "count",
    "null_count",
    "mean",
    "std",
    "min",
    "25%",
    "50%",
    "75%",
    "max",
    "mean_ci_low",
    "mean_ci_high",
];

/// One metric's summary.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub name: String,
    pub best: Option<Best>,
    /// In the order of [`STATISTICS`].
    pub values: [f64; 11],
}

/// polars' "nearest" quantile of sorted values.
fn nearest(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let pos = (q * (sorted.len() - 1) as f64).round() as usize;
    sorted[pos.min(sorted.len() - 1)]
}

/// Each metric's summary over its perturbations (values left out are not
/// counted; a NaN value makes the mean NaN, as in polars).
pub fn summarise(e: &Evaluation, n_bootstrap: usize, seed: u64) -> Result<Vec<Summary>> {
    e.columns
        .iter()
        .map(|c| {
            let present: Vec<f64> = c.values.iter().flatten().copied().collect();
            let n = present.len();
            let mean = present.iter().sum::<f64>() / n as f64;
            let std = if n > 1 {
                (present.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / (n - 1) as f64)
                    .sqrt()
            } else {
                f64::NAN
            };
            let mut sorted: Vec<f64> = present.iter().copied().filter(|v| !v.is_nan()).collect();
            sorted.sort_by(f64::total_cmp);
            let (low, high) = if n > 0 && !mean.is_nan() {
                mean_interval(&present, n_bootstrap, 0.95, seed)
                    .map_err(EngineError::kernel(format!("metric `{}`", c.name)))?
            } else {
                (f64::NAN, f64::NAN)
            };
            Ok(Summary {
                name: c.name.clone(),
                best: c.best,
                values: [
                    n as f64,
                    (c.values.len() - n) as f64,
                    mean,
                    std,
                    sorted.first().copied().unwrap_or(f64::NAN),
                    nearest(&sorted, 0.25),
                    nearest(&sorted, 0.5),
                    nearest(&sorted, 0.75),
                    sorted.last().copied().unwrap_or(f64::NAN),
                    low,
                    high,
                ],
            })
        })
        .collect()
}

/// One metric's score against the baseline.
#[derive(Debug, Clone, PartialEq)]
pub struct Scored {
    pub metric: String,
    pub user: f64,
    pub baseline: f64,
    pub from_baseline: f64,
}

/// The score of `user` against `baseline` (cell-eval `score_agg_metrics`
/// on the `mean` rows): the metrics best at 0 first, then those best at 1,
/// each normalised; `avg_score` is their mean. Both must hold the same
/// metrics.
pub fn score(user: &[Summary], baseline: &[Summary]) -> Result<(Vec<Scored>, f64)> {
    let names = |s: &[Summary]| s.iter().map(|m| m.name.clone()).collect::<Vec<_>>();
    if names(user) != names(baseline) {
        return Err(EngineError::msg(format!(
            "the prediction and the baseline have different metrics: {:?} vs {:?}",
            names(user),
            names(baseline)
        )));
    }
    let mut rows = Vec::new();
    for best in [Best::Zero, Best::One] {
        for (u, b) in user
            .iter()
            .zip(baseline)
            .filter(|(u, _)| u.best == Some(best))
        {
            rows.push(Scored {
                metric: u.name.clone(),
                user: u.values[2],
                baseline: b.values[2],
                from_baseline: score::normalised(u.values[2], b.values[2], best),
            });
        }
    }
    let avg = score::average(&rows.iter().map(|r| r.from_baseline).collect::<Vec<_>>());
    Ok((rows, avg))
}
