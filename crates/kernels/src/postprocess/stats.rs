//! Shared pieces of the control-based transforms: which batches can be
//! aligned, and column means / population stds of control rows.

use super::{BatchLayout, ExcludedBatch};
use crate::{KernelError, Matrix};
use ndarray::{Array1, Array2, Axis};
use std::collections::BTreeMap;

/// Rows grouped by batch (sorted by batch name) with their control rows.
pub(crate) struct Batches {
    pub groups: Vec<(String, Vec<usize>, Vec<usize>)>,
    pub excluded: Vec<ExcludedBatch>,
}

/// Splits rows into batches; batches with fewer than `min_controls` controls
/// are excluded and reported.
pub(crate) fn batches(
    x: &Matrix,
    layout: &BatchLayout,
    min_controls: usize,
) -> Result<Batches, KernelError> {
    if layout.batch.len() != x.nrows() || layout.is_control.len() != x.nrows() {
        return Err(KernelError::Shape(format!(
            "representation has {} rows but the samples table has {} batches / {} control flags",
            x.nrows(),
            layout.batch.len(),
            layout.is_control.len()
        )));
    }
    let mut by: BTreeMap<&str, (Vec<usize>, Vec<usize>)> = BTreeMap::new();
    for (i, b) in layout.batch.iter().enumerate() {
        let e = by.entry(b.as_str()).or_default();
        e.0.push(i);
        if layout.is_control[i] {
            e.1.push(i);
        }
    }
    let mut groups = Vec::new();
    let mut excluded = Vec::new();
    for (b, (rows, ctrl)) in by {
        if ctrl.len() < min_controls {
            excluded.push(ExcludedBatch {
                batch: b.to_string(),
                rows: rows.len(),
                reason: format!(
                    "batch has {} control samples; this transform needs at least {min_controls}",
                    ctrl.len()
                ),
            });
        } else {
            groups.push((b.to_string(), rows, ctrl));
        }
    }
    if groups.is_empty() {
        return Err(KernelError::NotEnough(format!(
            "no batch has at least {min_controls} control samples, so nothing can be aligned"
        )));
    }
    Ok(Batches { groups, excluded })
}

/// Column means and population (ddof 0) stds of the listed rows; a std below
/// 1e-12 is replaced by 1.
pub(crate) fn mean_std(x: &Array2<f64>, rows: &[usize]) -> (Array1<f64>, Array1<f64>) {
    let sub = x.select(Axis(0), rows);
    let mean = sub.mean_axis(Axis(0)).expect("rows is non-empty");
    let var = sub.var_axis(Axis(0), 0.0);
    let std = var.mapv(|v| {
        let s = v.sqrt();
        if s < 1e-12 {
            1.0
        } else {
            s
        }
    });
    (mean, std)
}

/// Controls a batch needs for [`per_batch_standardise`].
pub(crate) const STANDARDISE_MIN_CONTROLS: usize = 1;

/// Per-batch (x - mean_ctrl) / scale_ctrl over the kept batches; `scale` false
/// subtracts only. Rows come out in input order of the kept batches. Each
/// value is computed in f64 and stored in f32; only the controls are copied.
pub(crate) fn per_batch_standardise(
    x: &Matrix,
    layout: &BatchLayout,
    scale: bool,
) -> Result<super::Transformed, KernelError> {
    crate::error::check_finite(x)?;
    let b = batches(x, layout, STANDARDISE_MIN_CONTROLS)?;
    let mut kept: Vec<usize> = b.groups.iter().flat_map(|g| g.1.iter().copied()).collect();
    kept.sort_unstable();
    let mut position = vec![usize::MAX; x.nrows()];
    for (p, &r) in kept.iter().enumerate() {
        position[r] = p;
    }
    let mut out = Matrix::zeros((kept.len(), x.ncols()));
    for (_, rows, ctrl) in &b.groups {
        let controls =
            Array2::from_shape_fn((ctrl.len(), x.ncols()), |(i, j)| x[(ctrl[i], j)] as f64);
        let all: Vec<usize> = (0..ctrl.len()).collect();
        let (mean, std) = mean_std(&controls, &all);
        for &r in rows {
            let o = out.row_mut(position[r]);
            for (((o, v), m), s) in o.into_iter().zip(x.row(r)).zip(&mean).zip(&std) {
                let centred = *v as f64 - m;
                *o = if scale { centred / s } else { centred } as f32;
            }
        }
    }
    Ok(super::Transformed {
        matrix: out,
        kept_rows: kept,
        excluded: b.excluded,
        convention: String::new(),
    })
}
