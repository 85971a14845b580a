//! Distribution distances between two samples X (n x d) and Y (m x d)
//! (METRICS.md "Distribution and prediction metrics"): energy distance and
//! MMD^2, with a seeded permutation test. Pairwise distances of the pooled
//! sample are computed once (faer Gram product), so each permutation only
//! re-labels rows.

use crate::KernelError;
use faer::linalg::matmul::matmul;
use faer::{Accum, Mat};
use ndarray::ArrayView2;
use rand::seq::SliceRandom;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnergyConvention {
    /// Within-group means over i != j (unbiased), the default.
    UStatistic,
    /// Within-group means over all i, j (self-distances 0 included).
    VStatistic,
    /// V-statistic of squared Euclidean distances: equals 2 ||mean_x - mean_y||^2.
    Squared,
}

impl EnergyConvention {
    pub fn name(&self) -> &'static str {
        match self {
            EnergyConvention::UStatistic => "u_statistic",
            EnergyConvention::VStatistic => "v_statistic",
            EnergyConvention::Squared => "squared",
        }
    }
}

/// Squared Euclidean distances between all rows of the pooled sample.
pub struct PooledDistances {
    pub n_x: usize,
    pub sq: Mat<f64>,
}

pub fn pooled(x: ArrayView2<f64>, y: ArrayView2<f64>) -> Result<PooledDistances, KernelError> {
    if x.ncols() != y.ncols() {
        return Err(KernelError::Shape(format!(
            "X has {} columns, Y {}",
            x.ncols(),
            y.ncols()
        )));
    }
    if x.nrows() < 2 || y.nrows() < 2 {
        return Err(KernelError::NotEnough(format!(
            "distribution distances need at least 2 samples per side, got {} and {}",
            x.nrows(),
            y.nrows()
        )));
    }
    let (n, m, d) = (x.nrows(), y.nrows(), x.ncols());
    // The pooled rows and their (n + m)^2 Gram and distance matrices.
    let pooled = (n + m) as u128;
    crate::runtime::machine::reserve(
        8 * (pooled * d as u128 + 2 * pooled * pooled),
        &format!("distribution distances of {n} + {m} samples"),
    )?;
    let p = Mat::<f64>::from_fn(
        n + m,
        d,
        |i, j| if i < n { x[(i, j)] } else { y[(i - n, j)] },
    );
    let mut g = Mat::<f64>::zeros(n + m, n + m);
    matmul(
        g.as_mut(),
        Accum::Replace,
        p.as_ref(),
        p.transpose(),
        1.0,
        crate::runtime::parallel::par(),
    );
    let norms: Vec<f64> = (0..n + m).map(|i| g[(i, i)]).collect();
    let sq = Mat::<f64>::from_fn(n + m, n + m, |i, j| {
        if i == j {
            0.0
        } else {
            (norms[i] + norms[j] - 2.0 * g[(i, j)]).max(0.0)
        }
    });
    Ok(PooledDistances { n_x: n, sq })
}

/// Sums of a kernel over within-X (i != j), within-Y (i != j) and cross pairs,
/// for a labelling of the pooled rows (`in_x[i]`).
fn sums(p: &PooledDistances, in_x: &[bool], k: impl Fn(f64) -> f64) -> (f64, f64, f64) {
    let total = in_x.len();
    let (mut xx, mut yy, mut xy) = (0.0, 0.0, 0.0);
    for i in 0..total {
        for j in (i + 1)..total {
            let v = k(p.sq[(i, j)]);
            match (in_x[i], in_x[j]) {
                (true, true) => xx += 2.0 * v,
                (false, false) => yy += 2.0 * v,
                _ => xy += v,
            }
        }
    }
    (xx, yy, xy)
}

fn energy_of(p: &PooledDistances, in_x: &[bool], c: EnergyConvention) -> f64 {
    let n = in_x.iter().filter(|v| **v).count() as f64;
    let m = in_x.len() as f64 - n;
    let f = |s: f64| {
        if c == EnergyConvention::Squared {
            s
        } else {
            s.sqrt()
        }
    };
    let (xx, yy, xy) = sums(p, in_x, f);
    let (wx, wy) = match c {
        EnergyConvention::UStatistic => (n * (n - 1.0), m * (m - 1.0)),
        _ => (n * n, m * m),
    };
    2.0 * xy / (n * m) - xx / wx - yy / wy
}

/// Energy distance E(X, Y) = 2 E||x - y|| - E||x - x'|| - E||y - y'||.
pub fn energy_distance(p: &PooledDistances, c: EnergyConvention) -> f64 {
    energy_of(p, &labels(p), c)
}

fn labels(p: &PooledDistances) -> Vec<bool> {
    (0..p.sq.nrows()).map(|i| i < p.n_x).collect()
}

/// Median of the distances between distinct pooled rows (the RBF bandwidth).
pub fn median_distance(p: &PooledDistances) -> f64 {
    let t = p.sq.nrows();
    let mut d: Vec<f64> = Vec::with_capacity(t * (t - 1) / 2);
    for i in 0..t {
        for j in (i + 1)..t {
            d.push(p.sq[(i, j)].sqrt());
        }
    }
    d.sort_by(|a, b| a.total_cmp(b));
    let k = d.len();
    if k % 2 == 1 {
        d[k / 2]
    } else {
        (d[k / 2 - 1] + d[k / 2]) / 2.0
    }
}

fn mmd_of(p: &PooledDistances, in_x: &[bool], sigma: f64) -> f64 {
    let n = in_x.iter().filter(|v| **v).count() as f64;
    let m = in_x.len() as f64 - n;
    let gamma = if sigma > 0.0 {
        1.0 / (2.0 * sigma * sigma)
    } else {
        f64::INFINITY
    };
    let (xx, yy, xy) = sums(p, in_x, |s| if s == 0.0 { 1.0 } else { (-gamma * s).exp() });
    xx / (n * (n - 1.0)) + yy / (m * (m - 1.0)) - 2.0 * xy / (n * m)
}

/// Unbiased MMD^2 with k(a, b) = exp(-||a - b||^2 / (2 sigma^2)), sigma the
/// median pairwise distance of the pooled sample. Returns (mmd2, sigma).
pub fn mmd2_rbf(p: &PooledDistances) -> (f64, f64) {
    let sigma = median_distance(p);
    (mmd_of(p, &labels(p), sigma), sigma)
}

/// Seeded permutation test of a statistic: the pooled rows' labels are
/// shuffled `n_permutations` times; p = (1 + #(null >= observed)) / (1 + B).
pub fn permutation_test(
    p: &PooledDistances,
    n_permutations: usize,
    seed: u64,
    stat: impl Fn(&PooledDistances, &[bool]) -> f64,
) -> (f64, f64) {
    let mut lab = labels(p);
    let observed = stat(p, &lab);
    let mut rng = crate::stats::rng::stream(seed, "distribution/permutation", 0);
    let mut exceed = 0usize;
    for _ in 0..n_permutations {
        lab.shuffle(&mut rng);
        if stat(p, &lab) >= observed {
            exceed += 1;
        }
    }
    (observed, (1 + exceed) as f64 / (1 + n_permutations) as f64)
}

/// Energy distance with its permutation p-value.
pub fn energy_test(
    p: &PooledDistances,
    c: EnergyConvention,
    n_permutations: usize,
    seed: u64,
) -> (f64, f64) {
    permutation_test(p, n_permutations, seed, |p, l| energy_of(p, l, c))
}

/// MMD^2 (bandwidth fixed on the observed pooled sample) with its p-value.
pub fn mmd_test(p: &PooledDistances, n_permutations: usize, seed: u64) -> (f64, f64) {
    let sigma = median_distance(p);
    permutation_test(p, n_permutations, seed, |p, l| mmd_of(p, l, sigma))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{array, Array2};

    /// (n + m)^2 distances that no machine holds: refused before allocating.
    #[test]
    fn pooled_refuses_what_memory_cannot_hold() {
        let x = Array2::<f64>::zeros((3_000_000, 1));
        let y = Array2::<f64>::zeros((2, 1));
        let err = pooled(x.view(), y.view()).err().expect("refused");
        assert!(
            matches!(&err, KernelError::Memory(m) if m.contains("3000000 + 2 samples")),
            "{err}"
        );
    }

    /// METRICS.md reference: five copies of [1..5] against five of [6..10].
    #[test]
    fn energy_reference_vector() {
        let x = Array2::from_shape_fn((5, 5), |(_, j)| (j + 1) as f64);
        let y = Array2::from_shape_fn((5, 5), |(_, j)| (j + 6) as f64);
        let p = pooled(x.view(), y.view()).unwrap();
        let v = energy_distance(&p, EnergyConvention::VStatistic);
        assert!((v - 22.360_679_774_997_9).abs() < 1e-9, "{v}");
        // Within-group distances are 0, so U equals V here.
        assert!((energy_distance(&p, EnergyConvention::UStatistic) - v).abs() < 1e-9);
    }

    #[test]
    fn energy_conventions_by_hand() {
        // 1-D: X = {0, 2}, Y = {3, 5}.
        // Cross |x - y|: 3, 5, 1, 3 -> mean 3. Within X: |0 - 2| = 2; within Y: 2.
        // U: 2*3 - 2 - 2 = 2. V: within means over 4 pairs = 1 -> 2*3 - 1 - 1 = 4.
        // Squared (V of d^2): cross mean (9+25+1+9)/4 = 11, within 4*2/4 = 2 each
        // -> 22 - 2 - 2 = 18 = 2 (mean_x - mean_y)^2 = 2 * 9.
        let x = array![[0.0], [2.0]];
        let y = array![[3.0], [5.0]];
        let p = pooled(x.view(), y.view()).unwrap();
        assert!((energy_distance(&p, EnergyConvention::UStatistic) - 2.0).abs() < 1e-12);
        assert!((energy_distance(&p, EnergyConvention::VStatistic) - 4.0).abs() < 1e-12);
        assert!((energy_distance(&p, EnergyConvention::Squared) - 18.0).abs() < 1e-12);
    }

    #[test]
    fn squared_energy_is_twice_the_squared_mean_difference() {
        let x = Array2::from_shape_fn((7, 3), |(i, j)| ((i * 5 + j * 3) % 7) as f64 * 0.4);
        let y = Array2::from_shape_fn((4, 3), |(i, j)| ((i * 2 + j) % 5) as f64 - 1.0);
        let p = pooled(x.view(), y.view()).unwrap();
        let mx = x.mean_axis(ndarray::Axis(0)).unwrap();
        let my = y.mean_axis(ndarray::Axis(0)).unwrap();
        let want = 2.0 * (&mx - &my).mapv(|v| v * v).sum();
        assert!((energy_distance(&p, EnergyConvention::Squared) - want).abs() < 1e-9);
    }

    #[test]
    fn mmd_by_hand_and_permutation_test() {
        // 1-D: X = {0, 1}, Y = {3, 4}. Pooled distances: 1, 3, 4, 2, 3, 1;
        // sorted 1, 1, 2, 3, 3, 4 -> median sigma = 2.5, gamma = 1 / 12.5.
        let x = array![[0.0], [1.0]];
        let y = array![[3.0], [4.0]];
        let p = pooled(x.view(), y.view()).unwrap();
        let (mmd, sigma) = mmd2_rbf(&p);
        assert!((sigma - 2.5).abs() < 1e-12);
        let k = |d: f64| (-d * d / 12.5).exp();
        let want = k(1.0) + k(1.0) - 2.0 * (k(3.0) + k(4.0) + k(2.0) + k(3.0)) / 4.0;
        assert!((mmd - want).abs() < 1e-12, "{mmd} vs {want}");
        // Two well-separated groups of 30: small p; two draws of one group: large p.
        let a = Array2::from_shape_fn((30, 2), |(i, j)| ((i * 7 + j) % 5) as f64 * 0.1);
        let b = a.mapv(|v| v + 3.0);
        let p = pooled(a.view(), b.view()).unwrap();
        let (e, pv) = energy_test(&p, EnergyConvention::UStatistic, 200, 1);
        assert!(e > 0.0 && pv < 0.01, "{e} {pv}");
        let (_, pm) = mmd_test(&p, 200, 1);
        assert!(pm < 0.01, "{pm}");
        let half = pooled(
            a.slice(ndarray::s![..15, ..]),
            a.slice(ndarray::s![15.., ..]),
        )
        .unwrap();
        let (_, pn) = energy_test(&half, EnergyConvention::UStatistic, 200, 1);
        assert!(pn > 0.05, "{pn}");
        // Seeded: the same seed gives the same p-value.
        assert_eq!(
            energy_test(&p, EnergyConvention::UStatistic, 50, 4),
            energy_test(&p, EnergyConvention::UStatistic, 50, 4)
        );
    }

    #[test]
    fn too_few_samples_is_an_error() {
        let x = array![[0.0]];
        let y = array![[3.0], [4.0]];
        assert!(pooled(x.view(), y.view()).is_err());
    }
}
