//! cell-eval's expression metrics (`metrics/_anndata.py`): per
//! perturbation, its predicted pseudobulk (mean expression of its cells)
//! against its real one, raw or as a delta from each side's own controls.
//!
//! Definitions (cell-eval 0.8.1):
//! - `mae`, `mse`: mean over genes of |pred - real| and (pred - real)^2 of
//!   the pseudobulks (not deltas);
//! - `mae_delta`, `mse_delta`: the same of the deltas pred - pred control
//!   and real - real control;
//! - `pearson_delta`: Pearson correlation of the two deltas over genes
//!   (NaN when either is constant);
//! - `discrimination_score_{l1,l2,cosine}`: the distance from p's predicted
//!   delta to every perturbation's real delta, the perturbation's own
//!   target gene left out (when it is a gene); r = how many real deltas
//!   are strictly closer than p's own; score 1 - r / P.
//! - `pearson_edistance`: Pearson correlation, over perturbations, of the
//!   energy distance of the perturbation's cells to the control cells in
//!   the real and in the predicted data (E = 2 mean d(x, y) - mean d(x, x')
//!   - mean d(y, y'), Euclidean, means over all pairs, self-pairs included).

use crate::runtime::parallel::map_indices;
use crate::tasks::decoder::pearson;
use crate::Par;
use ndarray::{ArrayView1, ArrayView2, Axis};

/// Pseudobulks of one side: perturbations x genes, and its controls' mean.
#[derive(Debug, Clone, Copy)]
pub struct Pseudobulks<'a> {
    pub perturbations: ArrayView2<'a, f64>,
    pub control: ArrayView1<'a, f64>,
}

/// Per-perturbation errors of the prediction.
#[derive(Debug, Clone, PartialEq)]
pub struct Errors {
    pub mae: Vec<f64>,
    pub mse: Vec<f64>,
    pub mae_delta: Vec<f64>,
    pub mse_delta: Vec<f64>,
    pub pearson_delta: Vec<f64>,
}

pub fn errors(real: Pseudobulks, pred: Pseudobulks) -> Errors {
    let n = real.perturbations.nrows();
    let mut out = Errors {
        mae: Vec::with_capacity(n),
        mse: Vec::with_capacity(n),
        mae_delta: Vec::with_capacity(n),
        mse_delta: Vec::with_capacity(n),
        pearson_delta: Vec::with_capacity(n),
    };
    let g = real.perturbations.ncols() as f64;
    for p in 0..n {
        let (r, q) = (real.perturbations.row(p), pred.perturbations.row(p));
        let dr: Vec<f64> = r.iter().zip(&real.control).map(|(a, c)| a - c).collect();
        let dq: Vec<f64> = q.iter().zip(&pred.control).map(|(a, c)| a - c).collect();
        let (mut ae, mut se, mut aed, mut sed) = (0.0, 0.0, 0.0, 0.0);
        for j in 0..r.len() {
            let e = q[j] - r[j];
            ae += e.abs();
            se += e * e;
            let d = dq[j] - dr[j];
            aed += d.abs();
            sed += d * d;
        }
        out.mae.push(ae / g);
        out.mse.push(se / g);
        out.mae_delta.push(aed / g);
        out.mse_delta.push(sed / g);
        out.pearson_delta
            .push(pearson(&dq, &dr).unwrap_or(f64::NAN));
    }
    out
}

/// The distance of a discrimination score.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Distance {
    L1,
    L2,
    Cosine,
}

impl Distance {
    pub const ALL: [Distance; 3] = [Distance::L1, Distance::L2, Distance::Cosine];

    pub fn name(self) -> &'static str {
        match self {
            Distance::L1 => "l1",
            Distance::L2 => "l2",
            Distance::Cosine => "cosine",
        }
    }

    /// The distance between a and b over the genes not `skip`.
    fn between(self, a: ArrayView1<f64>, b: &[f64], skip: Option<usize>) -> f64 {
        let pairs = a
            .iter()
            .zip(b)
            .enumerate()
            .filter(|(j, _)| Some(*j) != skip)
            .map(|(_, p)| p);
        match self {
            Distance::L1 => pairs.map(|(x, y)| (x - y).abs()).sum(),
            Distance::L2 => pairs.map(|(x, y)| (x - y) * (x - y)).sum::<f64>().sqrt(),
            Distance::Cosine => {
                let (mut xy, mut xx, mut yy) = (0.0, 0.0, 0.0);
                for (x, y) in pairs {
                    xy += x * y;
                    xx += x * x;
                    yy += y * y;
                }
                // scikit-learn normalises a zero vector to itself: similarity 0.
                let norm = xx.sqrt() * yy.sqrt();
                1.0 - if norm > 0.0 { xy / norm } else { 0.0 }
            }
        }
    }
}

/// `discrimination_score_<distance>` per perturbation. `target_gene[p]`:
/// the column of p's target gene, left out of p's distances. `absolute`:
/// compare |delta| (cell-eval 0.5) instead of the signed deltas.
pub fn discrimination(
    real: Pseudobulks,
    pred: Pseudobulks,
    target_gene: &[Option<usize>],
    distance: Distance,
    absolute: bool,
    par: Par,
) -> Vec<f64> {
    let n = real.perturbations.nrows();
    let mut real_delta = &real.perturbations - &real.control.insert_axis(Axis(0));
    let mut pred_delta = &pred.perturbations - &pred.control.insert_axis(Axis(0));
    if absolute {
        real_delta.mapv_inplace(f64::abs);
        pred_delta.mapv_inplace(f64::abs);
    }
    map_indices(par, n, |p| {
        let q: Vec<f64> = pred_delta.row(p).to_vec();
        let d: Vec<f64> = (0..n)
            .map(|k| distance.between(real_delta.row(k), &q, target_gene[p]))
            .collect();
        let rank = d.iter().filter(|&&x| x < d[p]).count();
        1.0 - rank as f64 / n as f64
    })
}

#[cfg(test)]
/// Mean Euclidean distance over all pairs (i, j) of rows of `a` and `b`:
/// the mean over rows of `a` of each row's mean distance to `b` (so equal
/// rows give equal terms, whatever their number).
fn mean_distance(a: ArrayView2<f64>, b: ArrayView2<f64>) -> f64 {
    let mut sum = 0.0;
    for x in a.rows() {
        let mut row = 0.0;
        for y in b.rows() {
            row += x
                .iter()
                .zip(y.iter())
                .map(|(u, v)| (u - v) * (u - v))
                .sum::<f64>()
                .sqrt();
        }
        sum += row / b.nrows() as f64;
    }
    sum / a.nrows() as f64
}

/// Each perturbation's energy distance to the controls, and the largest
/// mean distance they were computed from (the scale of their rounding).
#[derive(Debug, Clone, PartialEq)]
pub struct EnergyDistances {
    pub values: Vec<f64>,
    pub scale: f64,
}

impl EnergyDistances {
    /// From the controls' mean distance among themselves and each group's
    /// (mean distance to the controls, mean distance within the group).
    pub fn from_terms(within_control: f64, terms: &[(f64, f64)]) -> EnergyDistances {
        let scale = terms
            .iter()
            .fold(within_control, |m, &(a, b)| m.max(a).max(b));
        EnergyDistances {
            values: terms
                .iter()
                .map(|&(across, within)| 2.0 * across - within - within_control)
                .collect(),
            scale,
        }
    }
}

/// The energy distance of each perturbation's cells to the control cells:
/// 2 E|x - c| - E|x - x'| - E|c - c'|, summed pair by pair: the definition
/// [`super::energy::energy_distances`] (matrix products) is tested against.
#[cfg(test)]
pub(crate) fn energy_distances(
    perturbations: &[ArrayView2<f64>],
    control: ArrayView2<f64>,
    par: Par,
) -> EnergyDistances {
    let within_control = mean_distance(control, control);
    let terms = map_indices(par, perturbations.len(), |p| {
        let x = perturbations[p];
        (mean_distance(x, control), mean_distance(x, x))
    });
    EnergyDistances::from_terms(within_control, &terms)
}

/// Spread, relative to the mean distances they come from, below which
/// energy distances count as one value: they then differ by rounding only
/// (e.g. a prediction of the same cells for every perturbation, as the mean
/// baseline's). An energy distance is a small difference of large means,
/// so its rounding is relative to those means, not to itself.
pub const CONSTANT_SPREAD: f64 = 1e-9;

/// Whether the distances are constant up to rounding ([`CONSTANT_SPREAD`]).
fn constant(e: &EnergyDistances) -> bool {
    let (lo, hi) = e
        .values
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &x| {
            (a.min(x), b.max(x))
        });
    hi - lo <= CONSTANT_SPREAD * e.scale
}

/// `pearson_edistance`: Pearson correlation over perturbations of the real
/// and predicted energy distances; NaN when either side is constant up to
/// rounding (cell-eval then correlates rounding noise).
pub fn pearson_energy(real: &EnergyDistances, pred: &EnergyDistances) -> f64 {
    if constant(real) || constant(pred) {
        return f64::NAN;
    }
    pearson(&real.values, &pred.values).unwrap_or(f64::NAN)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{array, Array1, Array2};

    #[test]
    fn errors_and_discrimination_by_hand() {
        let real = array![[1.0, 2.0, 0.0], [0.0, 0.0, 3.0]];
        let pred = array![[1.5, 2.0, 0.0], [0.0, 1.0, 2.0]];
        let rc: Array1<f64> = array![0.0, 1.0, 0.0];
        let pc: Array1<f64> = array![0.0, 0.0, 0.0];
        let (r, p) = (
            Pseudobulks {
                perturbations: real.view(),
                control: rc.view(),
            },
            Pseudobulks {
                perturbations: pred.view(),
                control: pc.view(),
            },
        );
        let e = errors(r, p);
        assert_eq!(e.mae, vec![0.5 / 3.0, 2.0 / 3.0]);
        assert_eq!(e.mse, vec![0.25 / 3.0, 2.0 / 3.0]);
        // Deltas: real (1,1,0), (0,-1,3); pred (1.5,2,0), (0,1,2).
        assert_eq!(e.mae_delta, vec![1.5 / 3.0, 3.0 / 3.0]);
        // Discrimination L1, no target gene: pred 0 (1.5,2,0) to real
        // deltas: 1.5 vs 7.5 -> rank 0; pred 1 (0,1,2): to real 0: 4,
        // to real 1: 3 -> rank 0.
        let s = discrimination(r, p, &[None, None], Distance::L1, false, Par::Seq);
        assert_eq!(s, vec![1.0, 1.0]);
        // Leaving out gene 2 for perturbation 1: to real 0 (1,1): 1; to
        // real 1 (0,-1): 2 -> rank 1 -> 1 - 1/2.
        let s = discrimination(r, p, &[None, Some(2)], Distance::L1, false, Par::Seq);
        assert_eq!(s, vec![1.0, 0.5]);
        // A constant delta has no Pearson correlation.
        let flat = array![[1.0, 1.0, 1.0], [0.0, 0.0, 3.0]];
        let f = Pseudobulks {
            perturbations: flat.view(),
            control: pc.view(),
        };
        assert!(errors(r, f).pearson_delta[0].is_nan());
    }

    #[test]
    fn a_correlation_of_rounding_noise_is_undefined() {
        let e = |values: &[f64], scale: f64| EnergyDistances {
            values: values.to_vec(),
            scale,
        };
        let real = e(&[1.0, 2.0, 3.0], 10.0);
        assert!((pearson_energy(&real, &e(&[2.0, 4.0, 6.5], 10.0)) - 0.9986).abs() < 1e-3);
        // Rounding of means of 20: constant, though not to 1e-12 of 0.5.
        let noise = e(&[0.5, 0.5 + 1e-12, 0.5 - 2e-12], 20.0);
        assert!(pearson_energy(&real, &noise).is_nan());
        assert!(pearson_energy(&noise, &real).is_nan());
    }

    #[test]
    fn the_same_cells_for_every_perturbation_give_equal_distances() {
        // One profile repeated 3, 7 and 1000 times; 50 varied controls.
        let profile = [0.3, 1.7, 0.01, 2.2];
        let control = Array2::from_shape_fn((50, 4), |(i, j)| ((i * 7 + j * 3) % 11) as f64 * 0.37);
        let groups: Vec<Array2<f64>> = [3usize, 7, 1000]
            .iter()
            .map(|&n| Array2::from_shape_fn((n, 4), |(_, j)| profile[j]))
            .collect();
        let views: Vec<_> = groups.iter().map(|g| g.view()).collect();
        let e = energy_distances(&views, control.view(), Par::Seq);
        assert!(constant(&e), "{e:?}");
        let real = EnergyDistances {
            values: vec![1.0, 2.0, 3.0],
            scale: 5.0,
        };
        assert!(pearson_energy(&real, &e).is_nan());
    }

    #[test]
    fn energy_distance_by_hand() {
        // x = {0, 2}, y = {0}: mean d(x,y) = 1; mean d(x,x) = (0+2+2+0)/4 = 1;
        // mean d(y,y) = 0: E = 2 - 1 - 0 = 1.
        let x = array![[0.0], [2.0]];
        let y = array![[0.0]];
        let e = energy_distances(&[x.view()], y.view(), Par::Seq);
        assert_eq!((e.values, e.scale), (vec![1.0], 1.0));
    }
}
