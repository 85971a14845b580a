//! The multidimensional perturbation value (mp-value; Hutz et al. 2013),
//! cytominer-eval's `mp_value`: a perturbation's samples and the control
//! samples are projected on the principal components that explain a share
//! of their variance (sklearn's PCA, full SVD), optionally scaled by the
//! share each explains; the statistic is the squared Mahalanobis distance
//! of the perturbation's mean from the controls (their mean and their
//! population covariance, pseudo-inverted as scipy's pinvh); the p-value
//! compares it with the statistic of random relabellings of the pooled
//! samples (the projection kept).

use crate::linalg::dense::to_faer;
use crate::KernelError;
use faer::linalg::solvers::Solve;
use faer::Side;
use ndarray::{Array2, ArrayView2, Axis};

#[derive(Debug, Clone, Copy)]
pub struct MpValueOptions {
    /// The share of variance the kept components explain beyond (sklearn's
    /// `n_components=0.9`: the fewest whose cumulative share exceeds it).
    pub variance: f64,
    /// Scale each component by its share of the variance
    /// (cytominer-eval's `rescale_pca`).
    pub rescale: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MpValue {
    /// The squared Mahalanobis distance of the perturbation's mean.
    pub statistic: f64,
    pub n_components: usize,
    /// Relabellings whose statistic is at least the observed one.
    pub n_at_least: usize,
    pub n_draws: usize,
}

/// The pooled rows on the kept components, with their sums and scatter:
/// a relabelling's control mean and covariance follow by subtracting its
/// perturbed rows (a few) instead of summing its controls (many).
struct Pooled {
    y: Array2<f64>,
    total: Vec<f64>,
    scatter: faer::Mat<f64>,
}

/// Above this Cholesky diagonal ratio squared (a lower bound of the
/// condition number) the covariance is pseudo-inverted as scipy's pinvh
/// does, by its eigenvalues; below it a Cholesky solve gives the same
/// distance to about 1e-10.
const CHOLESKY_CONDITION: f64 = 1e6;

impl Pooled {
    fn new(y: Array2<f64>) -> Pooled {
        let k = y.ncols();
        let total: Vec<f64> = (0..k).map(|j| y.column(j).sum()).collect();
        let f = to_faer(&y);
        let scatter = f.transpose() * &f;
        Pooled { y, total, scatter }
    }

    /// The squared Mahalanobis distance of the mean of the `perturbed`
    /// rows from the other rows' mean, under their population covariance
    /// (pseudo-inverted with scipy's cutoff: eigenvalues above size x eps x
    /// the largest).
    fn statistic(&self, perturbed: &[u32]) -> Result<f64, KernelError> {
        self.statistic_by(perturbed, false)
    }

    /// [`Pooled::statistic`]; `by_eigenvalues` skips the Cholesky solve.
    fn statistic_by(&self, perturbed: &[u32], by_eigenvalues: bool) -> Result<f64, KernelError> {
        let (m, k) = self.y.dim();
        let n_p = perturbed.len();
        let n_c = (m - n_p) as f64;
        let mut sum_p = vec![0.0; k];
        let mut cov = self.scatter.clone();
        for &r in perturbed {
            let row = self.y.row(r as usize);
            for (s, v) in sum_p.iter_mut().zip(row) {
                *s += v;
            }
            for j in 0..k {
                for i in 0..k {
                    cov[(i, j)] -= row[i] * row[j];
                }
            }
        }
        let p_mean: Vec<f64> = sum_p.iter().map(|s| s / n_p as f64).collect();
        let c_mean: Vec<f64> = self
            .total
            .iter()
            .zip(&sum_p)
            .map(|(t, s)| (t - s) / n_c)
            .collect();
        for j in 0..k {
            for i in 0..k {
                cov[(i, j)] = cov[(i, j)] / n_c - c_mean[i] * c_mean[j];
            }
        }
        let diff: Vec<f64> = p_mean.iter().zip(&c_mean).map(|(p, c)| p - c).collect();
        if n_c > k as f64 && !by_eigenvalues {
            if let Ok(chol) = cov.llt(Side::Lower) {
                let l = chol.L();
                let diag: Vec<f64> = (0..k).map(|i| l[(i, i)]).collect();
                let (lo, hi) = diag.iter().fold((f64::INFINITY, 0.0f64), |(lo, hi), &d| {
                    (lo.min(d), hi.max(d))
                });
                if lo > 0.0 && (hi / lo) * (hi / lo) < CHOLESKY_CONDITION {
                    let rhs = faer::Mat::from_fn(k, 1, |i, _| diff[i]);
                    let x = chol.solve(&rhs);
                    return Ok((0..k).map(|i| diff[i] * x[(i, 0)]).sum());
                }
            }
        }
        let evd = cov
            .self_adjoint_eigen(Side::Lower)
            .map_err(|e| KernelError::LinAlg(format!("eigendecomposition: {e:?}")))?;
        let s = evd.S().column_vector();
        let u = evd.U();
        let largest = (0..k).map(|i| s[i].abs()).fold(0.0, f64::max);
        let cutoff = largest * k as f64 * f64::EPSILON;
        let mut d2 = 0.0;
        for i in 0..k {
            if s[i].abs() > cutoff {
                let proj: f64 = (0..k).map(|r| u[(r, i)] * diff[r]).sum();
                d2 += proj * proj / s[i];
            }
        }
        Ok(d2)
    }
}

/// The mp-value's parts for one perturbation: `perturbed` and `controls`
/// are their samples' features; `draws` are relabellings of the pooled
/// rows (perturbed first, then controls), each the rows it calls
/// perturbed.
pub fn mp_value(
    perturbed: ArrayView2<'_, f64>,
    controls: ArrayView2<'_, f64>,
    draws: &[Vec<u32>],
    o: MpValueOptions,
) -> Result<MpValue, KernelError> {
    let (n_p, n_c) = (perturbed.nrows(), controls.nrows());
    if n_c < 2 {
        return Err(KernelError::NotEnough(format!(
            "{n_c} control sample(s); the mp-value needs two or more"
        )));
    }
    if n_p == 0 {
        return Err(KernelError::NotEnough("no perturbed sample".into()));
    }
    let m = n_p + n_c;
    if let Some(d) = draws
        .iter()
        .find(|d| d.len() != n_p || d.iter().any(|&i| i as usize >= m))
    {
        return Err(KernelError::Shape(format!(
            "a relabelling calling {} rows perturbed (or a row beyond {m}), for {n_p}",
            d.len()
        )));
    }
    let pooled = ndarray::concatenate(Axis(0), &[perturbed, controls])
        .map_err(|e| KernelError::Shape(e.to_string()))?;
    let mean = pooled.mean_axis(Axis(0)).expect("rows");
    let centred = &pooled - &mean;
    let svd = to_faer(&centred)
        .thin_svd()
        .map_err(|e| KernelError::LinAlg(format!("SVD: {e:?}")))?;
    let s = svd.S().column_vector();
    let v = svd.V();
    let r = s.nrows();
    let squares: Vec<f64> = (0..r).map(|i| s[i] * s[i]).collect();
    let total: f64 = squares.iter().sum();
    if !(total > 0.0) {
        return Err(KernelError::NotEnough(
            "the pooled samples do not vary".into(),
        ));
    }
    let ratio: Vec<f64> = squares.iter().map(|q| q / total).collect();
    let mut cumulative = 0.0;
    let mut at_most = 0;
    for q in &ratio {
        cumulative += q;
        if cumulative <= o.variance {
            at_most += 1;
        } else {
            break;
        }
    }
    let k = (at_most + 1).min(r);
    let d = centred.ncols();
    let mut y = Array2::<f64>::zeros((m, k));
    for i in 0..m {
        for j in 0..k {
            let mut acc = 0.0;
            for f in 0..d {
                acc += centred[(i, f)] * v[(f, j)];
            }
            y[(i, j)] = if o.rescale { acc * ratio[j] } else { acc };
        }
    }
    let pooled = Pooled::new(y);
    let observed: Vec<u32> = (0..n_p as u32).collect();
    let obs = pooled.statistic(&observed)?;
    let mut n_at_least = 0;
    for draw in draws {
        if pooled.statistic(draw)? >= obs {
            n_at_least += 1;
        }
    }
    Ok(MpValue {
        statistic: obs,
        n_components: k,
        n_at_least,
        n_draws: draws.len(),
    })
}

/// One relabelling as cytominer-eval draws it: `np.random.permutation` of
/// the mask (`n_perturbed` true, then false, `n_rows` long); the rows it
/// calls perturbed, ascending.
pub fn relabelling(
    rng: &mut crate::stats::numpy_random::LegacyRandomState,
    n_perturbed: usize,
    n_rows: usize,
) -> Vec<u32> {
    let mut mask: Vec<bool> = (0..n_rows).map(|i| i < n_perturbed).collect();
    rng.shuffle(&mut mask);
    (0..n_rows as u32).filter(|&i| mask[i as usize]).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::numpy_random::LegacyRandomState;

    fn rows(n: usize, d: usize, shift: f64, seed: u64) -> Array2<f64> {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        Array2::from_shape_fn((n, d), |(_, j)| {
            rng.random_range(-1.0..1.0) + if j == 0 { shift } else { 0.0 }
        })
    }

    fn masks(n_p: usize, m: usize, n: usize, seed: u32) -> Vec<Vec<u32>> {
        let mut r = LegacyRandomState::seed(seed);
        (0..n).map(|_| relabelling(&mut r, n_p, m)).collect()
    }

    /// Without a cutoff in play (more controls than components, every
    /// component kept at variance 1), the statistic is the textbook
    /// squared Mahalanobis distance in the original features, whatever the
    /// rotation and the rescaling.
    #[test]
    fn statistic_is_the_mahalanobis_distance_of_the_means() {
        let p = rows(4, 3, 1.0, 1);
        let c = rows(20, 3, 0.0, 2);
        for rescale in [false, true] {
            let got = mp_value(
                p.view(),
                c.view(),
                &[],
                MpValueOptions {
                    variance: 1.0,
                    rescale,
                },
            )
            .unwrap();
            assert_eq!(got.n_components, 3);
            let cm = c.mean_axis(Axis(0)).unwrap();
            let cc = &c - &cm;
            let cov = cc.t().dot(&cc) / 20.0;
            let diff = p.mean_axis(Axis(0)).unwrap() - &cm;
            // Solve cov x = diff by Cramer's rule (3 x 3).
            let det = |a: &Array2<f64>| {
                a[(0, 0)] * (a[(1, 1)] * a[(2, 2)] - a[(1, 2)] * a[(2, 1)])
                    - a[(0, 1)] * (a[(1, 0)] * a[(2, 2)] - a[(1, 2)] * a[(2, 0)])
                    + a[(0, 2)] * (a[(1, 0)] * a[(2, 1)] - a[(1, 1)] * a[(2, 0)])
            };
            let d0 = det(&cov);
            let x: Vec<f64> = (0..3)
                .map(|col| {
                    let mut a = cov.clone();
                    for r in 0..3 {
                        a[(r, col)] = diff[r];
                    }
                    det(&a) / d0
                })
                .collect();
            let want: f64 = (0..3).map(|i| diff[i] * x[i]).sum();
            assert!(
                (got.statistic - want).abs() < 1e-10 * want,
                "{} {want}",
                got.statistic
            );
        }
    }

    /// The Cholesky solve and scipy's pinvh by eigenvalues give one distance
    /// on a well-conditioned covariance; with no more controls than
    /// components the covariance is singular and pinvh's is the one used
    /// (finite, and at least the distance within the controls' span).
    #[test]
    fn cholesky_and_eigenvalue_paths_agree() {
        let y = rows(30, 5, 0.3, 8);
        let pooled = Pooled::new(&y - &y.mean_axis(Axis(0)).unwrap());
        let perturbed = [0u32, 4, 9];
        let a = pooled.statistic_by(&perturbed, false).unwrap();
        let b = pooled.statistic_by(&perturbed, true).unwrap();
        assert!((a - b).abs() < 1e-10 * a, "{a} {b}");
        let few = Pooled::new(rows(8, 5, 0.0, 9));
        let s = few.statistic(&[0, 1, 2, 3]).unwrap();
        assert!(s.is_finite() && s >= 0.0, "{s}");
    }

    /// sklearn's choice of components: the fewest whose cumulative share
    /// of variance exceeds the threshold.
    #[test]
    fn components_by_cumulative_share() {
        let mut c = rows(30, 4, 0.0, 3);
        for (j, scale) in [10.0, 3.0, 1.0, 0.1].iter().enumerate() {
            c.column_mut(j).mapv_inplace(|v| v * scale);
        }
        let p = rows(3, 4, 0.0, 4);
        let o = |variance| MpValueOptions {
            variance,
            rescale: true,
        };
        let k = |variance| {
            mp_value(p.view(), c.view(), &[], o(variance))
                .unwrap()
                .n_components
        };
        assert_eq!(k(0.5), 1);
        assert!(k(0.95) >= 2);
        assert_eq!(k(1.0), 4);
    }

    /// Relabellings of exchangeable samples: (1 + #draws >= observed) /
    /// (1 + draws) is uniform over perturbations (a coarse check: 200 null
    /// perturbations, the share with p <= 0.1 within 4 SE of 0.1).
    #[test]
    fn null_p_values_are_uniform() {
        let c = rows(24, 6, 0.0, 5);
        let mut below = 0;
        let n = 200;
        for t in 0..n {
            let p = rows(3, 6, 0.0, 100 + t);
            let draws = masks(3, 27, 99, t as u32);
            let r = mp_value(
                p.view(),
                c.view(),
                &draws,
                MpValueOptions {
                    variance: 0.9,
                    rescale: true,
                },
            )
            .unwrap();
            let pv = (1 + r.n_at_least) as f64 / (1 + r.n_draws) as f64;
            below += usize::from(pv <= 0.1);
        }
        let share = below as f64 / n as f64;
        let se = (0.1f64 * 0.9 / n as f64).sqrt();
        assert!((share - 0.1).abs() <= 4.0 * se, "{share}");
    }

    #[test]
    fn too_few_controls_or_bad_draws_are_errors() {
        let p = rows(3, 4, 0.0, 6);
        let c = rows(1, 4, 0.0, 7);
        let o = MpValueOptions {
            variance: 0.9,
            rescale: true,
        };
        assert!(mp_value(p.view(), c.view(), &[], o).is_err());
        let c = rows(5, 4, 0.0, 7);
        assert!(mp_value(p.view(), c.view(), &[vec![0, 1]], o).is_err());
        assert!(mp_value(p.view(), c.view(), &[vec![0, 1, 8]], o).is_err());
    }
}
