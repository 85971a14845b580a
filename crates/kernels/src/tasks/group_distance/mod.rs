//! pertpy's distances between two groups of samples (`pertpy.tl.Distance`,
//! pertpy 1.2.0, `tools/_distances/_distances.py`): X, a perturbation's
//! samples, against Y, its controls, in pertpy's arithmetic; and the
//! permutation test of `pertpy.tl.DistanceTest` ([`e_test`]).
//!
//! A [`Reference`] holds what the controls contribute once (their means,
//! per-feature moments and sorted columns, their within-group pair sums),
//! so that many perturbations are scored against one control pool without
//! recomputing it. Values pertpy leaves undefined (a correlation of a
//! constant pseudobulk, a singular covariance) are NaN; the caller counts
//! them.

pub mod e_test;
mod mean_var;
mod per_feature;
mod pseudobulk;
mod samplewise;

use crate::error::check_finite_rows;
use crate::KernelError;
use ndarray::{Array2, ArrayView2};

/// A distance of pertpy's `Distance(metric=...)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum GroupDistance {
    /// 2 mean d(X, Y) - mean d(X, X) - mean d(Y, Y).
    Edistance {
        within: WithinPairs,
        cell: CellMetric,
    },
    /// ||mean X - mean Y||_2 (pertpy's `euclidean` and
    /// `root_mean_squared_error`: neither divides by the feature count).
    Euclidean,
    /// ||mean X - mean Y||_2^2 / G.
    MeanSquaredError,
    /// ||mean X - mean Y||_1 / G.
    MeanAbsoluteError,
    /// 1 - Pearson r of the means.
    PearsonDistance,
    /// 1 - Spearman rho of the means.
    SpearmanDistance,
    /// (1 - Kendall tau-b of the means) G (G - 1) / 4.
    KendallTauDistance,
    /// scipy's cosine distance of the means, clipped to [0, 2].
    CosineDistance,
    /// 1 - R^2 (sklearn's r2_score, true = mean X, predicted = mean Y).
    R2Distance,
    /// mean d(X, Y) over all cross pairs.
    MeanPairwise { cell: CellMetric },
    /// mean K(X, X) + mean K(Y, Y) - 2 mean K(X, Y), every pair (i = j
    /// included).
    Mmd { kernel: MmdKernel },
    /// Mean over features of the symmetrised KL divergence of Gaussians
    /// fitted to each group (population standard deviations + epsilon).
    SymKlDiv { epsilon: f64 },
    /// Mean over features of |Welch's t| (sample variances + epsilon).
    TTest { epsilon: f64 },
    /// Mean over features of the two-sample Kolmogorov-Smirnov statistic.
    KsTest,
    /// Mahalanobis distance between the means under the inverse of X's
    /// covariance (ddof 1).
    Mahalanobis,
    /// Mean squared difference over a grid of the two groups' kernel
    /// density estimates of their features' (log mean, log variance).
    MeanVarDistribution,
}

/// Which pairs a within-group mean of [`GroupDistance::Edistance`] averages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WithinPairs {
    /// The n (n - 1) / 2 pairs i < j: `Distance("edistance")`,
    /// `onesided_distances`, `pairwise` (a group of one sample: 0).
    ExcludeSelf,
    /// All n^2 pairs, self-distances 0 included: `Edistance.from_precomputed`,
    /// which `DistanceTest` uses.
    IncludeSelf,
}

/// The distance between two samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CellMetric {
    Euclidean,
    /// Squared Euclidean (scPerturb's E-distance).
    SqEuclidean,
}

/// The kernel of [`GroupDistance::Mmd`] (sklearn's `rbf_kernel`,
/// `polynomial_kernel` with coef0 = 0, or the dot product).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MmdKernel {
    Linear,
    Rbf { gamma: f64 },
    Poly { gamma: f64, degree: u32 },
}

impl WithinPairs {
    pub fn name(&self) -> &'static str {
        match self {
            WithinPairs::ExcludeSelf => "exclude_self",
            WithinPairs::IncludeSelf => "include_self",
        }
    }
}

impl CellMetric {
    pub fn name(&self) -> &'static str {
        match self {
            CellMetric::Euclidean => "euclidean",
            CellMetric::SqEuclidean => "sqeuclidean",
        }
    }
}

impl GroupDistance {
    /// pertpy's name of the metric.
    pub fn name(&self) -> &'static str {
        match self {
            GroupDistance::Edistance { .. } => "edistance",
            GroupDistance::Euclidean => "euclidean",
            GroupDistance::MeanSquaredError => "mse",
            GroupDistance::MeanAbsoluteError => "mean_absolute_error",
            GroupDistance::PearsonDistance => "pearson_distance",
            GroupDistance::SpearmanDistance => "spearman_distance",
            GroupDistance::KendallTauDistance => "kendalltau_distance",
            GroupDistance::CosineDistance => "cosine_distance",
            GroupDistance::R2Distance => "r2_distance",
            GroupDistance::MeanPairwise { .. } => "mean_pairwise",
            GroupDistance::Mmd { .. } => "mmd",
            GroupDistance::SymKlDiv { .. } => "sym_kldiv",
            GroupDistance::TTest { .. } => "t_test",
            GroupDistance::KsTest => "ks_test",
            GroupDistance::Mahalanobis => "mahalanobis",
            GroupDistance::MeanVarDistribution => "mean_var_distribution",
        }
    }

    /// The least number of samples each group needs for a defined value.
    pub fn min_samples(&self) -> (usize, usize) {
        match self {
            // Sample variances.
            GroupDistance::TTest { .. } => (2, 2),
            // A covariance of X.
            GroupDistance::Mahalanobis => (2, 1),
            _ => (1, 1),
        }
    }

    /// The distance of X from Y, computed from scratch (see [`Reference`]
    /// to score many X against one Y).
    pub fn distance(&self, x: ArrayView2<f64>, y: ArrayView2<f64>) -> Result<f64, KernelError> {
        Reference::new(*self, y, crate::Par::Seq)?.distance(x)
    }
}

/// The controls' side of a distance, computed once.
pub struct Reference {
    metric: GroupDistance,
    y: Array2<f64>,
    /// Column means of Y.
    mean: Vec<f64>,
    /// Per-feature statistics of Y (standard deviations, sorted columns)
    /// for the per-feature metrics.
    features: Option<per_feature::Columns>,
    /// Sum over ordered pairs (i, j) of Y, i != j, of the pair quantity (a
    /// cell distance or a kernel), and the sum of its diagonal.
    within: Option<samplewise::PairSums>,
    /// Y's (log mean, log variance) points for mean_var_distribution.
    mean_var: Vec<(f64, f64)>,
    par: crate::Par,
}

impl Reference {
    pub fn new(
        metric: GroupDistance,
        y: ArrayView2<f64>,
        par: crate::Par,
    ) -> Result<Reference, KernelError> {
        let (_, min_y) = metric.min_samples();
        if y.nrows() < min_y.max(1) {
            return Err(KernelError::NotEnough(format!(
                "{} needs at least {} reference samples, got {}",
                metric.name(),
                min_y.max(1),
                y.nrows()
            )));
        }
        if y.ncols() == 0 {
            return Err(KernelError::NotEnough("no features".into()));
        }
        check_finite_rows(y)?;
        let mean = pseudobulk::column_means(y);
        let features = match metric {
            GroupDistance::SymKlDiv { .. }
            | GroupDistance::TTest { .. }
            | GroupDistance::KsTest => Some(per_feature::Columns::new(
                y,
                matches!(metric, GroupDistance::KsTest),
            )),
            _ => None,
        };
        let within = match metric {
            GroupDistance::Edistance { cell, .. } => Some(samplewise::within_sums(
                y,
                samplewise::Pair::Cell(cell),
                par,
            )),
            GroupDistance::Mmd { kernel } if kernel != MmdKernel::Linear => Some(
                samplewise::within_sums(y, samplewise::Pair::Kernel(kernel), par),
            ),
            _ => None,
        };
        let mean_var = match metric {
            GroupDistance::MeanVarDistribution => mean_var::points(y),
            _ => Vec::new(),
        };
        Ok(Reference {
            metric,
            y: y.to_owned(),
            mean,
            features,
            within,
            mean_var,
            par,
        })
    }

    pub fn n_samples(&self) -> usize {
        self.y.nrows()
    }

    /// The distance of X (a perturbation's samples) from the reference.
    pub fn distance(&self, x: ArrayView2<f64>) -> Result<f64, KernelError> {
        let (min_x, _) = self.metric.min_samples();
        if x.nrows() < min_x {
            return Err(KernelError::NotEnough(format!(
                "{} needs at least {min_x} samples in a group, got {}",
                self.metric.name(),
                x.nrows()
            )));
        }
        if x.ncols() != self.y.ncols() {
            return Err(KernelError::Shape(format!(
                "{} features against {} in the reference",
                x.ncols(),
                self.y.ncols()
            )));
        }
        if x.ncols() == 0 {
            return Err(KernelError::NotEnough("no features".into()));
        }
        check_finite_rows(x)?;
        let y = self.y.view();
        Ok(match self.metric {
            GroupDistance::Edistance { within, cell } => {
                let pair = samplewise::Pair::Cell(cell);
                let xx = samplewise::within_sums(x, pair, self.par);
                let yy = self.within.as_ref().expect("edistance keeps its pair sums");
                let between = samplewise::between_sum(x, y, pair, self.par);
                let (n, m) = (x.nrows() as f64, y.nrows() as f64);
                2.0 * between / (n * m) - xx.within_mean(within) - yy.within_mean(within)
            }
            GroupDistance::MeanPairwise { cell } => {
                let between = samplewise::between_sum(x, y, samplewise::Pair::Cell(cell), self.par);
                between / (x.nrows() * y.nrows()) as f64
            }
            GroupDistance::Mmd {
                kernel: MmdKernel::Linear,
            } => {
                // mean <x, x'> + mean <y, y'> - 2 mean <x, y> = ||mean x -
                // mean y||^2, computed as the latter (pertpy subtracts the
                // three means, losing digits when they are close).
                let mx = pseudobulk::column_means(x);
                mx.iter()
                    .zip(&self.mean)
                    .map(|(a, b)| (a - b) * (a - b))
                    .sum()
            }
            GroupDistance::Mmd { kernel } => {
                let pair = samplewise::Pair::Kernel(kernel);
                let xx = samplewise::within_sums(x, pair, self.par);
                let yy = self.within.as_ref().expect("mmd keeps its pair sums");
                let between = samplewise::between_sum(x, y, pair, self.par);
                let (n, m) = (x.nrows() as f64, y.nrows() as f64);
                xx.within_mean(WithinPairs::IncludeSelf) + yy.within_mean(WithinPairs::IncludeSelf)
                    - 2.0 * between / (n * m)
            }
            GroupDistance::SymKlDiv { epsilon } => {
                let cx = per_feature::Columns::new(x, false);
                per_feature::sym_kldiv(&cx, self.features.as_ref().unwrap(), epsilon)
            }
            GroupDistance::TTest { epsilon } => {
                let cx = per_feature::Columns::new(x, false);
                per_feature::t_test(&cx, self.features.as_ref().unwrap(), epsilon)
            }
            GroupDistance::KsTest => {
                let cx = per_feature::Columns::new(x, true);
                per_feature::ks_test(&cx, self.features.as_ref().unwrap())
            }
            GroupDistance::Mahalanobis => pseudobulk::mahalanobis(x, &self.mean)?,
            GroupDistance::MeanVarDistribution => {
                mean_var::distance(&mean_var::points(x), &self.mean_var)
            }
            pseudo => {
                let mx = pseudobulk::column_means(x);
                pseudobulk::of_means(pseudo, &mx, &self.mean)
            }
        })
    }
}

#[cfg(test)]
mod tests;
