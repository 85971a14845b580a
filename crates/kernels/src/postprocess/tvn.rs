//! `tvn`, typical variation normalisation:
//! (1) centre-scale every sample on all controls (one global scaler);
//! (2) PCA with all components fitted on the controls, rotate all samples
//!     (as scikit-learn `PCA()`: min(n_controls, d) components, sorted by
//!     decreasing variance, sign fixed so each component's largest-magnitude
//!     loading is positive);
//! (3) global centre-scale on the controls again;
//! (4) per batch b, C_b = cov(controls_b, ddof 1) + 0.5 I, X_b <- X_b C_b^(-1/2).
//! A batch with fewer than two controls has no covariance and is excluded.

use super::stats::{batches, mean_std, to_f32, to_f64};
use super::{BatchLayout, PostProcess, Transformed};
use crate::dense::to_faer;
use crate::{KernelError, Matrix};
use faer::Side;
use ndarray::{Array2, Axis};

pub struct Tvn;

/// Global standardisation on the control rows.
fn scale_on(x: &mut Array2<f64>, ctrl: &[usize]) {
    let (mean, std) = mean_std(x, ctrl);
    for mut r in x.outer_iter_mut() {
        r -= &mean;
        r /= &std;
    }
}

/// Covariance (ddof 1) of the listed rows.
fn covariance(x: &Array2<f64>, rows: &[usize]) -> Array2<f64> {
    let sub = x.select(Axis(0), rows);
    let mean = sub.mean_axis(Axis(0)).expect("non-empty");
    let c = &sub - &mean;
    c.t().dot(&c) / (rows.len() as f64 - 1.0)
}

/// Eigenvectors of a symmetric matrix, eigenvalues descending.
fn sym_eigen(a: &Array2<f64>) -> Result<(Vec<f64>, Array2<f64>), KernelError> {
    let evd = to_faer(a)
        .self_adjoint_eigen(Side::Lower)
        .map_err(|e| KernelError::LinAlg(format!("eigendecomposition: {e:?}")))?;
    let s = evd.S().column_vector();
    let u = evd.U();
    let d = a.nrows();
    // faer sorts ascending; reverse.
    let vals: Vec<f64> = (0..d).rev().map(|i| s[i]).collect();
    let vecs = Array2::from_shape_fn((d, d), |(i, j)| u[(i, d - 1 - j)]);
    Ok((vals, vecs))
}

/// C^(-1/2) of a symmetric positive-definite matrix.
fn inverse_sqrt(c: &Array2<f64>) -> Result<Array2<f64>, KernelError> {
    let (vals, vecs) = sym_eigen(c)?;
    if let Some(v) = vals.iter().find(|v| **v <= 0.0) {
        return Err(KernelError::LinAlg(format!(
            "covariance + 0.5 I has eigenvalue {v}"
        )));
    }
    let scaled = &vecs * &ndarray::Array1::from_iter(vals.iter().map(|v| 1.0 / v.sqrt()));
    Ok(scaled.dot(&vecs.t()))
}

impl PostProcess for Tvn {
    fn name(&self) -> &'static str {
        "tvn"
    }
    fn version(&self) -> u32 {
        1
    }
    fn apply(&self, x: &Matrix, layout: &BatchLayout) -> Result<Transformed, KernelError> {
        crate::error::check_finite(x)?;
        let b = batches(x, layout, 2)?;
        let mut kept: Vec<usize> = b.groups.iter().flat_map(|g| g.1.iter().copied()).collect();
        kept.sort_unstable();
        let mut pos = vec![usize::MAX; x.nrows()];
        for (p, &r) in kept.iter().enumerate() {
            pos[r] = p;
        }
        let mut xs = to_f64(x).select(Axis(0), &kept);
        let mut ctrl: Vec<usize> = b
            .groups
            .iter()
            .flat_map(|g| g.2.iter().map(|&r| pos[r]))
            .collect();
        ctrl.sort_unstable();

        // (1) global centre-scale on controls.
        scale_on(&mut xs, &ctrl);
        // (2) PCA fitted on controls, all components (sklearn keeps min(n, d)).
        let n_comp = ctrl.len().min(xs.ncols());
        let cov = covariance(&xs, &ctrl);
        let (_, mut vecs) = sym_eigen(&cov)?;
        for mut col in vecs.columns_mut() {
            let (imax, _) = col.iter().enumerate().fold((0, 0.0f64), |acc, (i, v)| {
                if v.abs() > acc.1 {
                    (i, v.abs())
                } else {
                    acc
                }
            });
            if col[imax] < 0.0 {
                col.mapv_inplace(|v| -v);
            }
        }
        let comps = vecs.slice(ndarray::s![.., ..n_comp]).to_owned();
        let ctrl_mean = xs
            .select(Axis(0), &ctrl)
            .mean_axis(Axis(0))
            .expect("controls");
        xs = (&xs - &ctrl_mean).dot(&comps);
        // (3) global centre-scale on controls again.
        scale_on(&mut xs, &ctrl);
        // (4) per-batch whitening by the controls' covariance.
        let d = xs.ncols();
        let mut out = xs.clone();
        for (_, rows, bctrl) in &b.groups {
            let local: Vec<usize> = bctrl.iter().map(|&r| pos[r]).collect();
            let c = covariance(&xs, &local) + Array2::<f64>::eye(d) * 0.5;
            let w = inverse_sqrt(&c)?;
            let local_rows: Vec<usize> = rows.iter().map(|&r| pos[r]).collect();
            let block = xs.select(Axis(0), &local_rows).dot(&w);
            for (k, &r) in local_rows.iter().enumerate() {
                out.row_mut(r).assign(&block.row(k));
            }
        }
        Ok(Transformed {
            matrix: to_f32(&out),
            kept_rows: kept,
            excluded: b.excluded,
        })
    }
}
