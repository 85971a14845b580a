//! Energy distance and MMD^2 of many perturbations against one shared set of
//! controls (METRICS.md "Distribution and prediction metrics"), without
//! recomputing the control block for each perturbation: the controls'
//! pairwise distances, their sums and their sorted values are computed once,
//! and a perturbation adds only its own rows.
//!
//! Values equal those of [`crate::stats::distribution`] on the pooled sample
//! (tested). The bandwidth (median pooled distance) is the k-th element of
//! the union of the sorted control distances and the perturbation's new
//! distances, found by binary search. The permutation test relabels a random
//! subset of the pooled rows as the perturbation (group sizes fixed) and
//! scores it from row sums in O(n^2), n the perturbation's size.

use crate::stats::distribution::EnergyConvention;
use crate::KernelError;
use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, Par};
use ndarray::ArrayView2;
use rayon::prelude::*;

pub struct ControlReference {
    /// Controls, C x d.
    y: Mat<f64>,
    y_norms: Vec<f64>,
    /// Squared distances between controls (C x C, zero diagonal).
    sq_yy: Mat<f64>,
    /// Sum over ordered pairs i != j of the distance, and of its square.
    sum_dist_yy: f64,
    sum_sq_yy: f64,
    /// Distances of the C (C - 1) / 2 unordered control pairs, ascending.
    sorted_dist_yy: Vec<f64>,
    /// Largest squared control distance.
    max_sq_yy: f64,
    /// Expansion centres of the control kernel sum (see [`Self::kernel_sum_yy`]).
    centres: std::sync::Mutex<Vec<KernelMoments>>,
    /// Where the loops over control pairs run (the same result either way).
    par: Par,
}

/// Moments m_k = sum over control pairs of s^k exp(-gamma0 s), s the squared
/// distance, k = 0..=MOMENTS, for the Taylor expansion of the RBF kernel sum
/// at a nearby gamma: sum exp(-gamma s) = sum_k (gamma0 - gamma)^k / k! m_k.
struct KernelMoments {
    gamma0: f64,
    m: [f64; MOMENTS + 1],
}

const MOMENTS: usize = 12;
/// A centre serves gammas with |gamma - gamma0| * max s <= this: the
/// truncation error is then below 0.05^13 / 13! (< 1e-26) of the sum.
const MAX_STEP: f64 = 0.05;

/// One perturbation against the controls.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Comparison {
    pub n: usize,
    pub energy: f64,
    /// None when MMD was not asked for.
    pub mmd2: Option<f64>,
    pub sigma: Option<f64>,
}

fn to_mat(x: ArrayView2<f64>) -> Mat<f64> {
    Mat::from_fn(x.nrows(), x.ncols(), |i, j| x[(i, j)])
}

/// Squared distances between the rows of `a` (with squared norms `na`) and
/// of `b` (norms `nb`), through one Gram product, clamped at zero.
fn cross_sq(a: &Mat<f64>, na: &[f64], b: &Mat<f64>, nb: &[f64]) -> Mat<f64> {
    let mut g = Mat::<f64>::zeros(a.nrows(), b.nrows());
    matmul(
        g.as_mut(),
        Accum::Replace,
        a.as_ref(),
        b.transpose(),
        1.0,
        crate::runtime::parallel::par(),
    );
    Mat::from_fn(a.nrows(), b.nrows(), |i, j| {
        (na[i] + nb[j] - 2.0 * g[(i, j)]).max(0.0)
    })
}

fn row_norms(a: &Mat<f64>) -> Vec<f64> {
    (0..a.nrows())
        .map(|i| (0..a.ncols()).map(|j| a[(i, j)] * a[(i, j)]).sum())
        .collect()
}

/// The k-th smallest (0-based) of the union of two ascending slices: the
/// first k + 1 elements of the merge are a[..i] and b[..k + 1 - i] for the
/// one split i that is consistent with both orders, found by bisection.
fn kth_of_union(a: &[f64], b: &[f64], k: usize) -> f64 {
    debug_assert!(k < a.len() + b.len());
    let (mut lo, mut hi) = ((k + 1).saturating_sub(b.len()), (k + 1).min(a.len()));
    loop {
        let i = (lo + hi) / 2;
        let j = k + 1 - i;
        if i < a.len() && j > 0 && b[j - 1] > a[i] {
            lo = i + 1; // a[i] belongs in the prefix too
        } else if i > 0 && j < b.len() && a[i - 1] > b[j] {
            hi = i - 1; // b[j] belongs in the prefix instead
        } else {
            let from_a = if i > 0 { a[i - 1] } else { f64::NEG_INFINITY };
            let from_b = if j > 0 { b[j - 1] } else { f64::NEG_INFINITY };
            return from_a.max(from_b);
        }
    }
}

fn median_of_union(a: &[f64], b: &[f64]) -> f64 {
    let k = a.len() + b.len();
    if k % 2 == 1 {
        kth_of_union(a, b, k / 2)
    } else {
        (kth_of_union(a, b, k / 2 - 1) + kth_of_union(a, b, k / 2)) / 2.0
    }
}

fn rbf(gamma: f64) -> impl Fn(f64) -> f64 + Sync {
    move |s: f64| if s == 0.0 { 1.0 } else { (-gamma * s).exp() }
}

fn gamma_of(sigma: f64) -> f64 {
    if sigma > 0.0 {
        1.0 / (2.0 * sigma * sigma)
    } else {
        f64::INFINITY
    }
}

impl ControlReference {
    /// The controls' pairwise sums, computed once; their loops and those of
    /// later kernel sums run as `par` says.
    pub fn new(y: ArrayView2<f64>, par: Par) -> Result<ControlReference, KernelError> {
        if y.nrows() < 2 {
            return Err(KernelError::NotEnough(format!(
                "distribution distances need at least 2 controls, got {}",
                y.nrows()
            )));
        }
        let y = to_mat(y);
        let y_norms = row_norms(&y);
        let mut sq_yy = cross_sq(&y, &y_norms, &y, &y_norms);
        let c = y.nrows();
        for i in 0..c {
            sq_yy[(i, i)] = 0.0;
        }
        let mut sorted_dist_yy: Vec<f64> = crate::runtime::parallel::map_indices(par, c, |i| {
            ((i + 1)..c)
                .map(|j| sq_yy[(i, j)].sqrt())
                .collect::<Vec<f64>>()
        })
        .concat();
        let sum_dist_yy = 2.0 * sorted_dist_yy.iter().sum::<f64>();
        let sum_sq_yy = 2.0
            * (0..c)
                .map(|i| ((i + 1)..c).map(|j| sq_yy[(i, j)]).sum::<f64>())
                .sum::<f64>();
        // Equal under total_cmp means equal bits: any sort gives one order.
        match par {
            Par::Seq => sorted_dist_yy.sort_unstable_by(|a, b| a.total_cmp(b)),
            Par::Rayon(_) => sorted_dist_yy.par_sort_unstable_by(|a, b| a.total_cmp(b)),
        }
        let max_sq_yy = sorted_dist_yy.last().map_or(0.0, |d| d * d);
        Ok(ControlReference {
            y,
            y_norms,
            sq_yy,
            sum_dist_yy,
            sum_sq_yy,
            sorted_dist_yy,
            max_sq_yy,
            centres: std::sync::Mutex::new(Vec::new()),
            par,
        })
    }

    /// Sum over unordered control pairs of exp(-gamma s). Evaluated from the
    /// moments of the nearest expansion centre (computed once per centre, one
    /// pass over the pairs), so many perturbations with nearby bandwidths
    /// share one pass instead of C^2 / 2 exponentials each. Exact to
    /// rounding: the series' remainder is below 1e-26 of the sum.
    fn kernel_sum_yy(&self, gamma: f64) -> f64 {
        let c = self.y.nrows();
        // The centre serving `gamma` is a point of a fixed grid (spacing
        // MAX_STEP / max_sq_yy, so every gamma is within half a step of
        // one), never "the first centre computed that is near enough": the
        // value of a gamma then does not depend on which perturbation's
        // gamma was served first, a matter of thread scheduling.
        let spacing = MAX_STEP / self.max_sq_yy;
        let gamma0 = (gamma / spacing).round() * spacing;
        let on_grid = gamma.is_finite()
            && spacing.is_finite()
            && (gamma0 - gamma).abs() * self.max_sq_yy <= MAX_STEP;
        if !on_grid {
            // No usable centre (an infinite gamma, identical controls, or a
            // gamma too far out for the grid's precision): the direct sum.
            let k = rbf(gamma);
            let rows: Vec<f64> = crate::runtime::parallel::map_indices(self.par, c, |i| {
                ((i + 1)..c).map(|j| k(self.sq_yy[(i, j)])).sum::<f64>()
            });
            return crate::runtime::parallel::ordered_sum(&rows);
        }
        let serve = |m: &KernelMoments| -> Option<f64> {
            let step = m.gamma0 - gamma;
            if step.abs() * self.max_sq_yy > MAX_STEP {
                return None;
            }
            let (mut term, mut total) = (1.0, 0.0);
            for (k, mk) in m.m.iter().enumerate() {
                if k > 0 {
                    term *= step / k as f64;
                }
                total += term * mk;
            }
            Some(total)
        };
        if let Some(v) = self
            .centres
            .lock()
            .expect("centres")
            .iter()
            .filter(|m| m.gamma0 == gamma0)
            .find_map(serve)
        {
            return v;
        }
        let rows: Vec<[f64; MOMENTS + 1]> =
            crate::runtime::parallel::map_indices(self.par, c, |i| {
                let mut acc = [0.0f64; MOMENTS + 1];
                for j in (i + 1)..c {
                    let s = self.sq_yy[(i, j)];
                    let mut v = (-gamma0 * s).exp();
                    for a in acc.iter_mut() {
                        *a += v;
                        v *= s;
                    }
                }
                acc
            });
        // Rows added in order: the same bits on any number of threads.
        let mut moments = [0.0f64; MOMENTS + 1];
        for r in &rows {
            for (x, y) in moments.iter_mut().zip(r) {
                *x += y;
            }
        }
        let centre = KernelMoments { gamma0, m: moments };
        let v = serve(&centre).expect("on_grid: within MAX_STEP of its centre");
        let mut centres = self.centres.lock().expect("centres");
        if !centres.iter().any(|m| m.gamma0 == gamma0) {
            centres.push(centre);
        }
        v
    }

    pub fn n_controls(&self) -> usize {
        self.y.nrows()
    }

    fn check(&self, x: ArrayView2<f64>) -> Result<(), KernelError> {
        if x.ncols() != self.y.ncols() {
            return Err(KernelError::Shape(format!(
                "perturbation has {} dimensions, controls {}",
                x.ncols(),
                self.y.ncols()
            )));
        }
        if x.nrows() < 2 {
            return Err(KernelError::NotEnough(format!(
                "distribution distances need at least 2 samples per side, got {}",
                x.nrows()
            )));
        }
        Ok(())
    }

    /// Squared distances within the perturbation (n x n) and to the controls (n x C).
    fn blocks(&self, x: ArrayView2<f64>) -> (Mat<f64>, Mat<f64>) {
        let xm = to_mat(x);
        let xn = row_norms(&xm);
        let mut sq_xx = cross_sq(&xm, &xn, &xm, &xn);
        for i in 0..xm.nrows() {
            sq_xx[(i, i)] = 0.0;
        }
        (sq_xx, cross_sq(&xm, &xn, &self.y, &self.y_norms))
    }

    /// Energy distance (convention `c`) and, if `with_mmd`, unbiased MMD^2
    /// with the RBF bandwidth set to the median pooled distance.
    pub fn compare(
        &self,
        x: ArrayView2<f64>,
        c: EnergyConvention,
        with_mmd: bool,
    ) -> Result<Comparison, KernelError> {
        self.check(x)?;
        let (sq_xx, sq_xy) = self.blocks(x);
        Ok(self.compare_blocks(&sq_xx, &sq_xy, c, with_mmd))
    }

    /// [`Self::compare`] from the perturbation's squared-distance blocks.
    fn compare_blocks(
        &self,
        sq_xx: &Mat<f64>,
        sq_xy: &Mat<f64>,
        c: EnergyConvention,
        with_mmd: bool,
    ) -> Comparison {
        let (n, m) = (sq_xx.nrows(), self.y.nrows());
        let (nf, mf) = (n as f64, m as f64);
        let f = |s: f64| {
            if c == EnergyConvention::Squared {
                s
            } else {
                s.sqrt()
            }
        };
        let sum = |a: &Mat<f64>, k: &dyn Fn(f64) -> f64, skip_diag: bool| -> f64 {
            let mut t = 0.0;
            for j in 0..a.ncols() {
                for i in 0..a.nrows() {
                    if !(skip_diag && i == j) {
                        t += k(a[(i, j)]);
                    }
                }
            }
            t
        };
        let xx = sum(sq_xx, &f, true);
        let xy = sum(sq_xy, &f, false);
        let yy = if c == EnergyConvention::Squared {
            self.sum_sq_yy
        } else {
            self.sum_dist_yy
        };
        let (wx, wy) = match c {
            EnergyConvention::UStatistic => (nf * (nf - 1.0), mf * (mf - 1.0)),
            _ => (nf * nf, mf * mf),
        };
        let energy = 2.0 * xy / (nf * mf) - xx / wx - yy / wy;
        if !with_mmd {
            return Comparison {
                n,
                energy,
                mmd2: None,
                sigma: None,
            };
        }
        let mut new: Vec<f64> = Vec::with_capacity(n * m + n * (n - 1) / 2);
        for j in 0..m {
            for i in 0..n {
                new.push(sq_xy[(i, j)].sqrt());
            }
        }
        for i in 0..n {
            for j in (i + 1)..n {
                new.push(sq_xx[(i, j)].sqrt());
            }
        }
        new.sort_unstable_by(|a, b| a.total_cmp(b));
        let sigma = median_of_union(&self.sorted_dist_yy, &new);
        let gamma = gamma_of(sigma);
        let k = rbf(gamma);
        let kyy = 2.0 * self.kernel_sum_yy(gamma);
        let kxx = sum(sq_xx, &k, true);
        let kxy = sum(sq_xy, &k, false);
        let mmd2 = kxx / (nf * (nf - 1.0)) + kyy / (mf * (mf - 1.0)) - 2.0 * kxy / (nf * mf);
        Comparison {
            n,
            energy,
            mmd2: Some(mmd2),
            sigma: Some(sigma),
        }
    }

    /// [`Self::compare`] with MMD, and the permutation p-values of the
    /// energy distance (convention `c`) and of MMD^2 (bandwidth fixed at the
    /// observed one): `n_permutations` random relabellings of the pooled rows
    /// with the group sizes kept; p = (1 + #(null >= observed)) / (1 + B).
    /// The distance blocks are computed once for both. Memory: one pooled
    /// (n + C)^2 matrix of (distance, kernel) pairs.
    pub fn compare_and_test(
        &self,
        x: ArrayView2<f64>,
        c: EnergyConvention,
        n_permutations: usize,
        seed: u64,
    ) -> Result<(Comparison, (f64, f64)), KernelError> {
        self.compare_and_test_within(x, None, c, n_permutations, seed)
    }

    /// [`Self::compare_and_test`] with the relabellings kept within strata:
    /// `strata` = (stratum of each row of `x`, of each control); a
    /// relabelling draws, from each stratum, as many pooled rows as `x` has
    /// there. Rows are exchangeable only within a batch when each batch was
    /// transformed on its own; there the unstratified test is not exact.
    /// `None` is one stratum (the same draws as [`Self::compare_and_test`]).
    pub fn compare_and_test_within(
        &self,
        x: ArrayView2<f64>,
        strata: Option<(&[usize], &[usize])>,
        c: EnergyConvention,
        n_permutations: usize,
        seed: u64,
    ) -> Result<(Comparison, (f64, f64)), KernelError> {
        self.check(x)?;
        // Pooled rows (x first, then the controls) of each stratum, and how
        // many rows of x each has.
        let mut groups: std::collections::BTreeMap<usize, (Vec<usize>, usize)> = Default::default();
        match strata {
            None => {
                groups.insert(0, ((0..x.nrows() + self.y.nrows()).collect(), x.nrows()));
            }
            Some((sx, sy)) => {
                if sx.len() != x.nrows() || sy.len() != self.y.nrows() {
                    return Err(KernelError::Shape(format!(
                        "strata for {} + {} rows, got {} + {}",
                        x.nrows(),
                        self.y.nrows(),
                        sx.len(),
                        sy.len()
                    )));
                }
                for (i, &g) in sx.iter().chain(sy).enumerate() {
                    let e = groups.entry(g).or_default();
                    e.0.push(i);
                    if i < x.nrows() {
                        e.1 += 1;
                    }
                }
            }
        }
        let (sq_xx, sq_xy) = self.blocks(x);
        let observed = self.compare_blocks(&sq_xx, &sq_xy, c, true);
        let (n, m) = (x.nrows(), self.y.nrows());
        let t = n + m;
        let sq = |i: usize, j: usize| -> f64 {
            match (i < n, j < n) {
                (true, true) => sq_xx[(i, j)],
                (true, false) => sq_xy[(i, j - n)],
                (false, true) => sq_xy[(j, i - n)],
                (false, false) => self.sq_yy[(i - n, j - n)],
            }
        };
        let f = |s: f64| {
            if c == EnergyConvention::Squared {
                s
            } else {
                s.sqrt()
            }
        };
        let k = rbf(gamma_of(observed.sigma.expect("asked for MMD")));
        // Pooled (distance, kernel) pairs, column-major with zero diagonal
        // (sums run over i != j), interleaved so one cache line serves both.
        let mut pooled = vec![[0.0f64; 2]; t * t];
        pooled.par_chunks_mut(t).enumerate().for_each(|(j, col)| {
            for (i, v) in col.iter_mut().enumerate() {
                if i != j {
                    let d2 = sq(i, j);
                    *v = [f(d2), k(d2)];
                }
            }
        });
        let mut row_sums = vec![[0.0f64; 2]; t];
        for (j, col) in pooled.chunks(t).enumerate() {
            row_sums[j] = col
                .iter()
                .fold([0.0, 0.0], |a, v| [a[0] + v[0], a[1] + v[1]]);
        }
        let (te, tk) = row_sums
            .iter()
            .fold((0.0, 0.0), |a, v| (a.0 + v[0], a.1 + v[1]));
        let (nf, mf) = (n as f64, m as f64);
        let (wx, wy) = match c {
            EnergyConvention::UStatistic => (nf * (nf - 1.0), mf * (mf - 1.0)),
            _ => (nf * nf, mf * mf),
        };
        // `pick` ascending: each column is read forwards, upper triangle only.
        let stats = |pick: &[usize]| -> (f64, f64) {
            let (mut sxx_e, mut sxx_k, mut sx_e, mut sx_k) = (0.0, 0.0, 0.0, 0.0);
            for (ia, &a) in pick.iter().enumerate() {
                sx_e += row_sums[a][0];
                sx_k += row_sums[a][1];
                let col = &pooled[a * t..(a + 1) * t];
                for &b in &pick[ia + 1..] {
                    let v = col[b];
                    sxx_e += v[0];
                    sxx_k += v[1];
                }
            }
            let (sxx_e, sxx_k) = (2.0 * sxx_e, 2.0 * sxx_k);
            let stat = |sxx: f64, sx: f64, total: f64, wx: f64, wy: f64| {
                let sxy = sx - sxx;
                let syy = total - sxx - 2.0 * sxy;
                2.0 * sxy / (nf * mf) - sxx / wx - syy / wy
            };
            (
                stat(sxx_e, sx_e, te, wx, wy),
                // MMD^2 = K_xx/(n(n-1)) + K_yy/(m(m-1)) - 2 K_xy/(nm) = -stat.
                -stat(sxx_k, sx_k, tk, nf * (nf - 1.0), mf * (mf - 1.0)),
            )
        };
        let identity: Vec<usize> = (0..n).collect();
        let (obs_e, obs_k) = stats(&identity);
        let mut rng = crate::stats::rng::stream(seed, "control_reference/permutation", 0);
        let (mut ge, mut gk) = (0usize, 0usize);
        // Ties with the observed value count as exceeding, so compare with a
        // relative tolerance for the rounding of the two summation orders.
        let tol = |v: f64| 1e-12 * v.abs().max(1e-300);
        let mut pick = Vec::with_capacity(n);
        for _ in 0..n_permutations {
            pick.clear();
            for (rows, k) in groups.values().filter(|g| g.1 > 0) {
                pick.extend(
                    rand::seq::index::sample(&mut rng, rows.len(), *k)
                        .into_iter()
                        .map(|i| rows[i]),
                );
            }
            pick.sort_unstable();
            let (e, k) = stats(&pick);
            if e >= obs_e - tol(obs_e) {
                ge += 1;
            }
            if k >= obs_k - tol(obs_k) {
                gk += 1;
            }
        }
        let b = (1 + n_permutations) as f64;
        Ok((observed, ((1 + ge) as f64 / b, (1 + gk) as f64 / b)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::distribution::{energy_distance, energy_test, mmd2_rbf, pooled};
    use ndarray::Array2;

    fn data(n: usize, d: usize, shift: f64, salt: usize) -> Array2<f64> {
        Array2::from_shape_fn((n, d), |(i, j)| {
            (((i * 31 + j * 17 + salt * 7) % 23) as f64 / 7.0).sin() + shift * (j % 2) as f64
        })
    }

    #[test]
    fn kth_of_union_matches_a_merge() {
        let a = [1.0, 3.0, 3.0, 8.0, 9.0];
        let b = [0.5, 3.0, 4.0];
        let mut all: Vec<f64> = a.iter().chain(&b).copied().collect();
        all.sort_by(|x, y| x.total_cmp(y));
        for (k, want) in all.iter().enumerate() {
            assert_eq!(kth_of_union(&a, &b, k), *want, "k {k}");
            assert_eq!(kth_of_union(&b, &a, k), *want, "k {k} swapped");
        }
        assert_eq!(kth_of_union(&[], &b, 2), 4.0);
        assert_eq!(kth_of_union(&a, &[], 0), 1.0);
        assert_eq!(median_of_union(&a, &b), (3.0 + 3.0) / 2.0);
    }

    #[test]
    fn equals_the_pooled_computation() {
        let y = data(40, 5, 0.0, 1);
        let reference = ControlReference::new(y.view(), Par::rayon(0)).unwrap();
        for (n, shift) in [(2, 0.0), (9, 0.7), (25, 2.0)] {
            let x = data(n, 5, shift, 2);
            let p = pooled(x.view(), y.view()).unwrap();
            for c in [
                EnergyConvention::UStatistic,
                EnergyConvention::VStatistic,
                EnergyConvention::Squared,
            ] {
                let got = reference.compare(x.view(), c, true).unwrap();
                let want = energy_distance(&p, c);
                assert!(
                    (got.energy - want).abs() < 1e-9 * want.abs().max(1.0),
                    "{c:?} n {n}: {} vs {want}",
                    got.energy
                );
            }
            let got = reference
                .compare(x.view(), EnergyConvention::UStatistic, true)
                .unwrap();
            let (mmd, sigma) = mmd2_rbf(&p);
            assert!((got.sigma.unwrap() - sigma).abs() < 1e-12, "n {n}");
            assert!(
                (got.mmd2.unwrap() - mmd).abs() < 1e-10,
                "n {n}: {:?} vs {mmd}",
                got.mmd2
            );
        }
    }

    #[test]
    fn permutation_pvalues_separate_shifted_from_null_and_are_seeded() {
        let y = data(60, 4, 0.0, 3);
        let reference = ControlReference::new(y.view(), Par::rayon(0)).unwrap();
        let shifted = data(20, 4, 3.0, 5);
        let (observed, (pe, pk)) = reference
            .compare_and_test(shifted.view(), EnergyConvention::UStatistic, 199, 1)
            .unwrap();
        assert_eq!((pe, pk), (1.0 / 200.0, 1.0 / 200.0));
        assert_eq!(
            observed,
            reference
                .compare(shifted.view(), EnergyConvention::UStatistic, true)
                .unwrap()
        );
        // Controls against themselves: no evidence; the pooled-sample test agrees.
        let same = y.slice(ndarray::s![..20, ..]).to_owned();
        let (_, (pe, _)) = reference
            .compare_and_test(same.view(), EnergyConvention::UStatistic, 199, 1)
            .unwrap();
        assert!(pe > 0.2, "{pe}");
        let (_, p_pooled) = energy_test(
            &pooled(shifted.view(), y.view()).unwrap(),
            EnergyConvention::UStatistic,
            199,
            1,
        );
        assert_eq!(p_pooled, 1.0 / 200.0);
        assert_eq!(
            reference
                .compare_and_test(same.view(), EnergyConvention::VStatistic, 50, 9)
                .unwrap(),
            reference
                .compare_and_test(same.view(), EnergyConvention::VStatistic, 50, 9)
                .unwrap()
        );
    }

    #[test]
    fn stratified_relabellings_stay_within_strata() {
        let y = data(30, 4, 0.0, 5);
        let x = data(4, 4, 2.0, 6);
        let r = ControlReference::new(y.view(), Par::rayon(0)).unwrap();
        let plain = r
            .compare_and_test(x.view(), EnergyConvention::UStatistic, 99, 1)
            .unwrap();
        let none = r
            .compare_and_test_within(x.view(), None, EnergyConvention::UStatistic, 99, 1)
            .unwrap();
        assert_eq!(plain, none);
        // x alone in stratum 0 (all controls in stratum 1): every relabelling
        // is x itself, so both p-values are 1.
        let (_, p) = r
            .compare_and_test_within(
                x.view(),
                Some((&[0; 4], &[1; 30])),
                EnergyConvention::UStatistic,
                99,
                1,
            )
            .unwrap();
        assert_eq!(p, (1.0, 1.0));
        // With its controls in one stratum, the shifted x is found.
        let (_, p) = r
            .compare_and_test_within(
                x.view(),
                Some((&[0; 4], &[0; 30])),
                EnergyConvention::UStatistic,
                99,
                1,
            )
            .unwrap();
        assert!(p.0 < 0.05 && p.1 < 0.05, "{p:?}");
        assert!(r
            .compare_and_test_within(
                x.view(),
                Some((&[0; 3], &[0; 30])),
                EnergyConvention::UStatistic,
                9,
                1
            )
            .is_err());
    }

    #[test]
    fn kernel_sum_from_moments_equals_direct_sums() {
        let y = data(50, 3, 0.0, 4);
        let r = ControlReference::new(y.view(), Par::rayon(0)).unwrap();
        let direct = |gamma: f64| -> f64 {
            let mut t = 0.0;
            for i in 0..50 {
                for j in (i + 1)..50 {
                    t += (-gamma * r.sq_yy[(i, j)]).exp();
                }
            }
            t
        };
        let g0 = 0.7;
        assert!((r.kernel_sum_yy(g0) - direct(g0)).abs() < 1e-12 * direct(g0));
        // Nearby gammas are served by the series of a grid centre, the same
        // centre whatever order they come in.
        let near: Vec<f64> = [-0.04, -0.01, 0.005, 0.03]
            .iter()
            .map(|step| g0 + step / r.max_sq_yy)
            .collect();
        let mut first = Vec::new();
        for &g in &near {
            let (got, want) = (r.kernel_sum_yy(g), direct(g));
            assert!((got - want).abs() < 1e-12 * want, "{g}: {got} vs {want}");
            first.push(got);
        }
        let centres = r.centres.lock().unwrap().len();
        assert!(centres <= 3, "{centres}");
        // A far gamma gets its own centre.
        let far = 3.0;
        assert!((r.kernel_sum_yy(far) - direct(far)).abs() < 1e-12 * direct(far));
        assert_eq!(r.centres.lock().unwrap().len(), centres + 1);
        // In reverse order, on a fresh reference run sequentially: the same
        // bits.
        let r2 = ControlReference::new(y.view(), Par::Seq).unwrap();
        r2.kernel_sum_yy(far);
        for (&g, &v) in near.iter().zip(&first).rev() {
            assert_eq!(r2.kernel_sum_yy(g).to_bits(), v.to_bits(), "{g}");
        }
    }

    #[test]
    fn bad_shapes_are_errors() {
        let y = data(10, 3, 0.0, 1);
        let r = ControlReference::new(y.view(), Par::rayon(0)).unwrap();
        assert!(r
            .compare(
                data(5, 4, 0.0, 1).view(),
                EnergyConvention::UStatistic,
                false
            )
            .is_err());
        assert!(r
            .compare(
                data(1, 3, 0.0, 1).view(),
                EnergyConvention::UStatistic,
                false
            )
            .is_err());
        assert!(ControlReference::new(data(1, 3, 0.0, 1).view(), Par::Seq).is_err());
    }
}
