//! Transfer probes (METRICS.md "Distribution and prediction metrics", paper
//! 000): how well a perturbation's shift (mean of its samples minus the mean
//! of its controls) is predicted, by cosine, from other data.
//!
//! - [`leave_one_out_means`]: a unit's shift predicted by the mean of the
//!   other units' shifts (the mean-shift baseline of leave-one-perturbation-
//!   out, and of leave-one-context-out over one perturbation's contexts).
//! - [`LooRidge`]: a unit's shift predicted by a ridge map from features,
//!   fitted on the other units. Exact leave-one-out through the hat matrix of
//!   penalised least squares with an unpenalised intercept:
//!   y_hat(-i) = (y_hat_i - H_ii y_i) / (1 - H_ii), checked against refits.

use crate::KernelError;
use faer::linalg::matmul::matmul;
use faer::linalg::solvers::Solve;
use faer::{Accum, Mat, Par, Side};
use ndarray::{Array2, ArrayView1, ArrayView2};

/// Cosine of two vectors; None when either has zero norm (or is not finite).
pub fn cosine(a: ArrayView1<f64>, b: ArrayView1<f64>) -> Option<f64> {
    let (mut ab, mut aa, mut bb) = (0.0, 0.0, 0.0);
    for (x, y) in a.iter().zip(b.iter()) {
        ab += x * y;
        aa += x * x;
        bb += y * y;
    }
    let c = ab / (aa.sqrt() * bb.sqrt());
    (aa > 0.0 && bb > 0.0 && c.is_finite()).then_some(c)
}

/// Row i = mean of the other rows of `y` (needs at least 2 rows).
pub fn leave_one_out_means(y: ArrayView2<f64>) -> Result<Array2<f64>, KernelError> {
    let n = y.nrows();
    if n < 2 {
        return Err(KernelError::NotEnough(format!(
            "leave-one-out needs at least 2 units, got {n}"
        )));
    }
    let total = y.sum_axis(ndarray::Axis(0));
    let mut out = Array2::zeros(y.dim());
    for (i, mut row) in out.rows_mut().into_iter().enumerate() {
        for ((o, t), v) in row.iter_mut().zip(total.iter()).zip(y.row(i)) {
            *o = (t - v) / (n - 1) as f64;
        }
    }
    Ok(out)
}

/// Exact leave-one-out ridge predictions for a fixed set of features: the
/// hat matrix depends on the features only, so many targets (shuffled
/// labels) reuse it.
#[derive(Debug)]
pub struct LooRidge {
    hat: Mat<f64>,
    /// The absolute penalty used (`lambda_relative` x mean eigenvalue of the
    /// centred feature Gram matrix).
    pub lambda: f64,
}

impl LooRidge {
    /// `features`: one row per unit. The penalty is relative, so it does not
    /// depend on the features' scale: lambda = lambda_relative x
    /// trace(Xc'Xc) / k, with Xc the centred features and k their number.
    pub fn new(features: ArrayView2<f64>, lambda_relative: f64) -> Result<LooRidge, KernelError> {
        let fit = Fitted::new(features, lambda_relative)?;
        let n = features.nrows();
        // H = 11'/n + Xc (Xc'Xc + lambda I)^-1 Xc'.
        let mut hat = Mat::<f64>::from_fn(n, n, |_, _| 1.0 / n as f64);
        matmul(
            hat.as_mut(),
            Accum::Add,
            fit.xc.as_ref(),
            fit.solved.as_ref(),
            1.0,
            Par::Seq,
        );
        Ok(LooRidge {
            hat,
            lambda: fit.lambda,
        })
    }

    pub fn n_units(&self) -> usize {
        self.hat.nrows()
    }

    /// Row i = the prediction for unit i of a ridge fitted on the other units.
    pub fn predict_left_out(&self, y: ArrayView2<f64>) -> Result<Array2<f64>, KernelError> {
        let n = self.hat.nrows();
        if y.nrows() != n {
            return Err(KernelError::Shape(format!(
                "{} targets for {n} units",
                y.nrows()
            )));
        }
        let d = y.ncols();
        let ym = Mat::<f64>::from_fn(n, d, |i, j| y[(i, j)]);
        let mut fitted = Mat::<f64>::zeros(n, d);
        matmul(
            fitted.as_mut(),
            Accum::Replace,
            self.hat.as_ref(),
            ym.as_ref(),
            1.0,
            Par::Seq,
        );
        Ok(Array2::from_shape_fn((n, d), |(i, j)| {
            let h = self.hat[(i, i)];
            (fitted[(i, j)] - h * y[(i, j)]) / (1.0 - h)
        }))
    }
}

/// Penalised least squares with an unpenalised intercept on fixed
/// features: the centred features and (Xc'Xc + lambda I)^-1 Xc'.
struct Fitted {
    means: Vec<f64>,
    xc: Mat<f64>,
    /// (Xc'Xc + lambda I)^-1 Xc' (k x n).
    solved: Mat<f64>,
    lambda: f64,
}

impl Fitted {
    fn new(features: ArrayView2<f64>, lambda_relative: f64) -> Result<Fitted, KernelError> {
        let (n, k) = features.dim();
        if n < 3 {
            return Err(KernelError::NotEnough(format!(
                "ridge needs at least 3 units, got {n}"
            )));
        }
        if k == 0 {
            return Err(KernelError::Shape(
                "ridge needs at least one feature".into(),
            ));
        }
        if !(lambda_relative > 0.0) {
            return Err(KernelError::Shape(format!(
                "ridge penalty must be positive, got {lambda_relative}"
            )));
        }
        check_finite(features)?;
        let means: Vec<f64> = (0..k)
            .map(|j| features.column(j).sum() / n as f64)
            .collect();
        let xc = Mat::<f64>::from_fn(n, k, |i, j| features[(i, j)] - means[j]);
        let mut gram = Mat::<f64>::zeros(k, k);
        matmul(
            gram.as_mut(),
            Accum::Replace,
            xc.transpose(),
            xc.as_ref(),
            1.0,
            Par::Seq,
        );
        let trace: f64 = (0..k).map(|j| gram[(j, j)]).sum();
        if trace <= 0.0 {
            return Err(KernelError::NotEnough(
                "every feature is constant across units".into(),
            ));
        }
        let lambda = lambda_relative * trace / k as f64;
        for j in 0..k {
            gram[(j, j)] += lambda;
        }
        let chol = gram.llt(Side::Lower).map_err(|e| {
            KernelError::LinAlg(format!("ridge system is not positive definite ({e:?})"))
        })?;
        let solved = chol.solve(xc.transpose());
        Ok(Fitted {
            means,
            xc,
            solved,
            lambda,
        })
    }
}

fn check_finite(features: ArrayView2<f64>) -> Result<(), KernelError> {
    match features.indexed_iter().find(|(_, v)| !v.is_finite()) {
        Some(((i, j), _)) => Err(KernelError::Shape(format!(
            "feature ({i}, {j}) is not finite"
        ))),
        None => Ok(()),
    }
}

/// A ridge map fitted on training units (features, penalty relative as in
/// [`LooRidge::new`]) and applied to new units: the prediction for a new
/// unit with features t is mean(y) + (t - mean(x))' (Xc'Xc + lambda I)^-1
/// Xc' y, a fixed weighting of the training targets.
#[derive(Debug)]
pub struct RidgeMap {
    /// m x n: the weight of each training unit in each new unit's prediction.
    weights: Mat<f64>,
    /// The absolute penalty used.
    pub lambda: f64,
}

impl RidgeMap {
    /// `train`: one row per training unit; `new`: one row per unit to
    /// predict, with the same features.
    pub fn new(
        train: ArrayView2<f64>,
        new: ArrayView2<f64>,
        lambda_relative: f64,
    ) -> Result<RidgeMap, KernelError> {
        if new.ncols() != train.ncols() {
            return Err(KernelError::Shape(format!(
                "{} features for new units, {} for training units",
                new.ncols(),
                train.ncols()
            )));
        }
        check_finite(new)?;
        let fit = Fitted::new(train, lambda_relative)?;
        let (n, m, k) = (train.nrows(), new.nrows(), train.ncols());
        let tc = Mat::<f64>::from_fn(m, k, |i, j| new[(i, j)] - fit.means[j]);
        let mut weights = Mat::<f64>::from_fn(m, n, |_, _| 1.0 / n as f64);
        matmul(
            weights.as_mut(),
            Accum::Add,
            tc.as_ref(),
            fit.solved.as_ref(),
            1.0,
            Par::Seq,
        );
        Ok(RidgeMap {
            weights,
            lambda: fit.lambda,
        })
    }

    /// Row i = the prediction for new unit i from the training targets `y`
    /// (one row per training unit).
    pub fn predict(&self, y: ArrayView2<f64>) -> Result<Array2<f64>, KernelError> {
        let (m, n) = (self.weights.nrows(), self.weights.ncols());
        if y.nrows() != n {
            return Err(KernelError::Shape(format!(
                "{} targets for {n} training units",
                y.nrows()
            )));
        }
        let d = y.ncols();
        let ym = Mat::<f64>::from_fn(n, d, |i, j| y[(i, j)]);
        let mut out = Mat::<f64>::zeros(m, d);
        matmul(
            out.as_mut(),
            Accum::Replace,
            self.weights.as_ref(),
            ym.as_ref(),
            1.0,
            Par::Seq,
        );
        Ok(Array2::from_shape_fn((m, d), |(i, j)| out[(i, j)]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{array, s, Array1};

    #[test]
    fn cosine_by_hand() {
        let a = array![1.0, 0.0, 1.0];
        let b = array![0.0, 2.0, 2.0];
        assert!((cosine(a.view(), b.view()).unwrap() - 0.5).abs() < 1e-15);
        assert_eq!(cosine(a.view(), Array1::zeros(3).view()), None);
    }

    #[test]
    fn leave_one_out_means_by_hand() {
        let y = array![[1.0, 0.0], [3.0, 2.0], [5.0, 4.0]];
        let m = leave_one_out_means(y.view()).unwrap();
        assert_eq!(m, array![[4.0, 3.0], [3.0, 2.0], [2.0, 1.0]]);
        assert!(leave_one_out_means(y.slice(s![..1, ..])).is_err());
    }

    /// Ridge with an unpenalised intercept fitted directly on the rows but i.
    fn refit_predict(x: &Array2<f64>, y: &Array2<f64>, lambda: f64, i: usize) -> Vec<f64> {
        let keep: Vec<usize> = (0..x.nrows()).filter(|&r| r != i).collect();
        let (n, k) = (keep.len(), x.ncols());
        let xm: Vec<f64> = (0..k)
            .map(|j| keep.iter().map(|&r| x[(r, j)]).sum::<f64>() / n as f64)
            .collect();
        let ym: Vec<f64> = (0..y.ncols())
            .map(|j| keep.iter().map(|&r| y[(r, j)]).sum::<f64>() / n as f64)
            .collect();
        let xc = Array2::from_shape_fn((n, k), |(a, j)| x[(keep[a], j)] - xm[j]);
        let yc = Array2::from_shape_fn((n, y.ncols()), |(a, j)| y[(keep[a], j)] - ym[j]);
        let mut g = xc.t().dot(&xc);
        for j in 0..k {
            g[(j, j)] += lambda;
        }
        let gm = Mat::<f64>::from_fn(k, k, |a, b| g[(a, b)]);
        let rhs = xc.t().dot(&yc);
        let rm = Mat::<f64>::from_fn(k, y.ncols(), |a, b| rhs[(a, b)]);
        let w = gm.llt(Side::Lower).unwrap().solve(&rm);
        (0..y.ncols())
            .map(|j| ym[j] + (0..k).map(|a| (x[(i, a)] - xm[a]) * w[(a, j)]).sum::<f64>())
            .collect()
    }

    #[test]
    fn hat_matrix_shortcut_equals_refits() {
        let x = array![
            [0.3, 1.0],
            [1.2, -0.5],
            [-0.7, 0.2],
            [2.0, 1.5],
            [0.1, -1.1],
            [-1.4, 0.8]
        ];
        let y = array![
            [1.0, 0.5, -1.0],
            [2.0, -0.3, 0.4],
            [-0.5, 1.1, 0.0],
            [3.1, 0.2, 1.0],
            [0.7, -0.8, -0.6],
            [-1.2, 0.9, 0.3]
        ];
        let ridge = LooRidge::new(x.view(), 0.5).unwrap();
        // lambda is relative to the mean eigenvalue of the centred Gram matrix.
        let xc = &x - &x.mean_axis(ndarray::Axis(0)).unwrap();
        let trace = xc.iter().map(|v| v * v).sum::<f64>();
        assert!((ridge.lambda - 0.5 * trace / 2.0).abs() < 1e-12);
        let pred = ridge.predict_left_out(y.view()).unwrap();
        for i in 0..x.nrows() {
            let direct = refit_predict(&x, &y, ridge.lambda, i);
            for j in 0..y.ncols() {
                assert!(
                    (pred[(i, j)] - direct[j]).abs() < 1e-10,
                    "unit {i} dim {j}: {} vs {}",
                    pred[(i, j)],
                    direct[j]
                );
            }
        }
    }

    #[test]
    fn strong_penalty_tends_to_the_mean_shift() {
        let x = array![[0.3, 1.0], [1.2, -0.5], [-0.7, 0.2], [2.0, 1.5]];
        let y = array![[1.0, 0.5], [2.0, -0.3], [-0.5, 1.1], [3.1, 0.2]];
        let pred = LooRidge::new(x.view(), 1e9)
            .unwrap()
            .predict_left_out(y.view())
            .unwrap();
        let mean = leave_one_out_means(y.view()).unwrap();
        assert!(pred
            .iter()
            .zip(mean.iter())
            .all(|(a, b)| (a - b).abs() < 1e-6));
    }

    #[test]
    fn ridge_map_equals_a_direct_fit() {
        let train = array![
            [0.3, 1.0],
            [1.2, -0.5],
            [-0.7, 0.2],
            [2.0, 1.5],
            [0.1, -1.1]
        ];
        let y = array![
            [1.0, 0.5, -1.0],
            [2.0, -0.3, 0.4],
            [-0.5, 1.1, 0.0],
            [3.1, 0.2, 1.0],
            [0.7, -0.8, -0.6]
        ];
        let new = array![[-1.4, 0.8], [0.5, 0.5]];
        let map = RidgeMap::new(train.view(), new.view(), 0.5).unwrap();
        let pred = map.predict(y.view()).unwrap();
        for i in 0..new.nrows() {
            // The new unit appended as a last row, left out of the fit.
            let mut x = train.clone();
            x.push_row(new.row(i)).unwrap();
            let mut yy = y.clone();
            yy.push_row(Array1::zeros(3).view()).unwrap();
            let direct = refit_predict(&x, &yy, map.lambda, x.nrows() - 1);
            for j in 0..3 {
                assert!((pred[(i, j)] - direct[j]).abs() < 1e-10);
            }
        }
        assert!(map.predict(y.slice(s![..4, ..])).is_err());
        assert!(RidgeMap::new(train.view(), array![[1.0]].view(), 0.5).is_err());
        assert!(RidgeMap::new(train.view(), array![[1.0, f64::NAN]].view(), 0.5).is_err());
    }

    #[test]
    fn bad_features_are_errors() {
        let x = array![[1.0], [1.0], [1.0]];
        assert!(LooRidge::new(x.view(), 1.0)
            .unwrap_err()
            .to_string()
            .contains("constant"));
        let x = array![[1.0], [f64::NAN], [2.0]];
        assert!(LooRidge::new(x.view(), 1.0)
            .unwrap_err()
            .to_string()
            .contains("(1, 0)"));
        let x = array![[1.0], [2.0]];
        assert!(LooRidge::new(x.view(), 1.0).is_err());
    }
}
