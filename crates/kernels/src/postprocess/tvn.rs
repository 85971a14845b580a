//! `tvn`, typical variation normalisation:
//! (1) centre-scale every sample on all controls (one global scaler);
//! (2) PCA fitted on the controls, rotate all samples (as scikit-learn
//!     `PCA()`: components sorted by decreasing variance, sign fixed so each
//!     component's largest-magnitude loading is positive). scikit-learn keeps
//!     min(n_controls, d) components; when the centred controls' rank r is
//!     lower (always when n_controls <= d: centring removes one), the
//!     components beyond r have zero control variance and an arbitrary
//!     direction, so every non-control sample differs from the controls
//!     there and a test against controls finds every perturbation
//!     (issue 20). Only the r components are kept, and the row's
//!     `convention` says so;
//! (3) global centre-scale on the controls again;
//! (4) per batch b, C_b = cov(controls_b, ddof 1) + 0.5 I, X_b <- X_b C_b^(-1/2).
//! A batch with fewer than two controls has no covariance and is excluded.

use super::stats::{batches, mean_std};
use super::{BatchLayout, PostProcess, Transformed};
use crate::linalg::dense::to_faer;
use crate::{KernelError, Matrix};
use faer::Side;
use ndarray::{Array1, Array2, Axis};

pub struct Tvn;

/// Global standardisation by the mean and std of the rows `on`.
fn scale_by(x: &mut Array2<f64>, mean: &Array1<f64>, std: &Array1<f64>) {
    for mut r in x.outer_iter_mut() {
        r -= mean;
        r /= std;
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
    fn description(&self) -> &'static str {
        r#"Typical variation normalisation: whiten each batch's control variation. As efaar-benchmarking 1.0's `tvn_on_controls`: (1) centre-scale every sample on all controls (one global scaler); (2) PCA fitted on the controls, all samples rotated, keeping the components of non-zero control variance (efaar keeps min(n_controls, d); with fewer controls than dimensions the extra ones have zero control variance and an arbitrary direction, and make every perturbation differ from the controls: pertbench keeps the controls' rank and says so in `convention`); (3) global centre-scale on the controls again; (4) per batch b, C_b = cov(controls of b, ddof 1) + 0.5 I and X_b <- X_b C_b^(-1/2). A batch with fewer than two controls has no covariance: it is left out and named in `excluded_batches`."#
    }
    fn version(&self) -> u32 {
        // 2: statistics from the control rows alone, the map applied in
        // blocks (products over fewer rows at a time).
        // 3: components truncated to the controls' rank (issue 20).
        3
    }
    fn min_controls_per_batch(&self) -> usize {
        // A covariance needs two.
        2
    }
    fn apply(&self, x: &Matrix, layout: &BatchLayout) -> Result<Transformed, KernelError> {
        crate::error::check_finite(x)?;
        let b = batches(x, layout, self.min_controls_per_batch())?;
        let mut kept: Vec<usize> = b.groups.iter().flat_map(|g| g.1.iter().copied()).collect();
        kept.sort_unstable();
        let mut pos = vec![usize::MAX; x.nrows()];
        for (p, &r) in kept.iter().enumerate() {
            pos[r] = p;
        }
        // Every statistic comes from the control rows: they are transformed
        // step by step here (in f64), and the other rows get the resulting
        // per-batch affine map one block at a time, so no f64 copy of the
        // whole matrix is made.
        let mut ctrl_rows: Vec<usize> = b.groups.iter().flat_map(|g| g.2.iter().copied()).collect();
        ctrl_rows.sort_unstable();
        let mut at = vec![usize::MAX; x.nrows()];
        for (i, &r) in ctrl_rows.iter().enumerate() {
            at[r] = i;
        }
        let d = x.ncols();
        let mut c =
            Array2::from_shape_fn((ctrl_rows.len(), d), |(i, j)| x[(ctrl_rows[i], j)] as f64);
        let all: Vec<usize> = (0..c.nrows()).collect();
        // (1) global centre-scale on controls.
        let (mean1, std1) = mean_std(&c, &all);
        scale_by(&mut c, &mean1, &std1);
        // (2) PCA fitted on controls: the components of non-zero control
        // variance (sklearn keeps min(n, d); see the module comment).
        let cov = covariance(&c, &all);
        let (vals, mut vecs) = sym_eigen(&cov)?;
        let largest = vals.first().copied().unwrap_or(0.0);
        let tol = largest * c.nrows().max(d) as f64 * f64::EPSILON;
        let rank = vals.iter().filter(|v| **v > tol).count();
        if rank == 0 {
            return Err(KernelError::NotEnough(
                "tvn: the controls have no variance (every control sample is the same)".into(),
            ));
        }
        let sklearn_components = c.nrows().min(d);
        let n_comp = rank.min(sklearn_components);
        let convention = if n_comp < sklearn_components {
            format!(
                "tvn_components={n_comp} (the {} controls' rank; scikit-learn's PCA() in efaar keeps {sklearn_components}, the other {} of zero control variance)",
                c.nrows(),
                sklearn_components - n_comp
            )
        } else {
            String::new()
        };
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
        let ctrl_mean = c.mean_axis(Axis(0)).expect("controls");
        let mut c = (&c - &ctrl_mean).dot(&comps);
        // (3) global centre-scale on controls again.
        let (mean3, std3) = mean_std(&c, &all);
        scale_by(&mut c, &mean3, &std3);
        // Steps (1)-(3) for any rows.
        let steps = |rows: &[usize]| -> Array2<f64> {
            let mut m = Array2::from_shape_fn((rows.len(), d), |(i, j)| x[(rows[i], j)] as f64);
            scale_by(&mut m, &mean1, &std1);
            let mut m = (&m - &ctrl_mean).dot(&comps);
            scale_by(&mut m, &mean3, &std3);
            m
        };
        // (4) per-batch whitening by the controls' covariance.
        let mut out = Matrix::zeros((kept.len(), n_comp));
        const BLOCK: usize = 4096;
        for (_, rows, bctrl) in &b.groups {
            let local: Vec<usize> = bctrl.iter().map(|&r| at[r]).collect();
            let cb = covariance(&c, &local) + Array2::<f64>::eye(n_comp) * 0.5;
            let w = inverse_sqrt(&cb)?;
            for chunk in rows.chunks(BLOCK) {
                let block = steps(chunk).dot(&w);
                for (k, &r) in chunk.iter().enumerate() {
                    out.row_mut(pos[r])
                        .iter_mut()
                        .zip(block.row(k))
                        .for_each(|(o, v)| *o = *v as f32);
                }
            }
        }
        Ok(Transformed {
            matrix: out,
            kept_rows: kept,
            excluded: b.excluded,
            convention,
        })
    }
}
