//! Silhouette widths (Rousseeuw 1987) with euclidean distances, as
//! scikit-learn's `silhouette_samples` and scib-metrics' `silhouette_label`
//! and `silhouette_batch` compute them.

use crate::error::KernelError;
use faer::Par;
use ndarray::ArrayView2;

/// Rows handled per parallel task (each row's sums are added in row order,
/// so the result does not depend on the thread count).
const ROWS_PER_TASK: usize = 64;

/// The silhouette of each row of `x` (rows `rows` of it) by `labels[k]` of
/// row `rows[k]`, codes 0..n_labels: a = the mean distance to the other
/// members of its label, b = the smallest mean distance to the members of
/// another label, s = (b - a) / max(a, b). A member of a label of one gets
/// 0 (scikit-learn's convention), as does a row whose a and b are both 0.
/// Needs at least 2 labels among the rows and fewer labels than rows.
pub fn silhouette_samples(
    x: ArrayView2<f32>,
    rows: &[usize],
    labels: &[u32],
    n_labels: usize,
    par: Par,
) -> Result<Vec<f64>, KernelError> {
    if rows.len() != labels.len() {
        return Err(KernelError::Shape(format!(
            "{} rows but {} labels",
            rows.len(),
            labels.len()
        )));
    }
    if let Some(&r) = rows.iter().find(|&&r| r >= x.nrows()) {
        return Err(KernelError::Shape(format!(
            "row {r} of a matrix of {} rows",
            x.nrows()
        )));
    }
    if let Some(&l) = labels.iter().find(|&&l| l as usize >= n_labels) {
        return Err(KernelError::Shape(format!(
            "label code {l} of {n_labels} labels"
        )));
    }
    let mut size = vec![0usize; n_labels];
    for &l in labels {
        size[l as usize] += 1;
    }
    let present = size.iter().filter(|&&n| n > 0).count();
    if present < 2 || present >= rows.len() {
        return Err(KernelError::NotEnough(format!(
            "a silhouette needs 2 to n - 1 labels among n samples; {present} labels among {} samples",
            rows.len()
        )));
    }
    for (k, &r) in rows.iter().enumerate() {
        if let Some(j) = x.row(r).iter().position(|v| !v.is_finite()) {
            let _ = k;
            return Err(KernelError::NonFinite { row: r, column: j });
        }
    }
    let n = rows.len();
    let starts: Vec<usize> = (0..n).step_by(ROWS_PER_TASK).collect();
    let parts: Vec<Vec<f64>> = crate::runtime::parallel::map_slice(par, &starts, |&start| {
        let end = (start + ROWS_PER_TASK).min(n);
        let mut sums = vec![0.0f64; n_labels];
        let mut out = Vec::with_capacity(end - start);
        for i in start..end {
            sums.iter_mut().for_each(|s| *s = 0.0);
            let xi = x.row(rows[i]);
            for (j, &rj) in rows.iter().enumerate() {
                if j == i {
                    continue;
                }
                let xj = x.row(rj);
                let d2: f64 = xi
                    .iter()
                    .zip(xj.iter())
                    .map(|(a, b)| {
                        let d = f64::from(*a) - f64::from(*b);
                        d * d
                    })
                    .sum();
                sums[labels[j] as usize] += d2.sqrt();
            }
            let own = labels[i] as usize;
            if size[own] < 2 {
                out.push(0.0);
                continue;
            }
            let a = sums[own] / (size[own] - 1) as f64;
            let b = (0..n_labels)
                .filter(|&c| c != own && size[c] > 0)
                .map(|c| sums[c] / size[c] as f64)
                .fold(f64::INFINITY, f64::min);
            let m = a.max(b);
            out.push(if m > 0.0 { (b - a) / m } else { 0.0 });
        }
        out
    });
    Ok(parts.concat())
}

/// scib-metrics' `silhouette_label` per sample: (s + 1) / 2.
pub fn rescaled_label_widths(s: &[f64]) -> Vec<f64> {
    s.iter().map(|v| (v + 1.0) / 2.0).collect()
}

/// scib-metrics' `silhouette_batch` for one label group: 1 - |s| of each of
/// its samples by batch. None when the group cannot be scored (one batch,
/// or as many batches as samples), as scib-metrics skips it.
pub fn batch_widths_of_group(
    x: ArrayView2<f32>,
    rows: &[usize],
    batches: &[u32],
    n_batches: usize,
    par: Par,
) -> Result<Option<Vec<f64>>, KernelError> {
    let mut seen = vec![false; n_batches];
    for &b in batches {
        if let Some(s) = seen.get_mut(b as usize) {
            *s = true;
        }
    }
    let distinct = seen.iter().filter(|&&s| s).count();
    if distinct <= 1 || distinct == rows.len() {
        return Ok(None);
    }
    let s = silhouette_samples(x, rows, batches, n_batches, par)?;
    Ok(Some(s.iter().map(|v| 1.0 - v.abs()).collect()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    /// Two tight pairs far apart: a by hand.
    #[test]
    fn by_hand() {
        let x = array![[0.0f32, 0.0], [0.0, 1.0], [10.0, 0.0], [10.0, 1.0]];
        let s =
            silhouette_samples(x.view(), &[0, 1, 2, 3], &[0, 0, 1, 1], 2, Par::rayon(0)).unwrap();
        // Row 0: a = 1, b = (10 + sqrt(101)) / 2.
        let b = (10.0 + 101f64.sqrt()) / 2.0;
        assert!((s[0] - (b - 1.0) / b).abs() < 1e-12, "{s:?}");
        assert!((s[0] - s[3]).abs() < 1e-12);
        // A label of one scores 0; one label is refused.
        let s =
            silhouette_samples(x.view(), &[0, 1, 2, 3], &[0, 0, 0, 1], 2, Par::rayon(0)).unwrap();
        assert_eq!(s[3], 0.0);
        assert!(silhouette_samples(x.view(), &[0, 1], &[0, 0], 1, Par::rayon(0)).is_err());
        assert!(silhouette_samples(x.view(), &[0, 1], &[0, 1], 2, Par::rayon(0)).is_err());
        // A group of one batch, or of one sample per batch, is skipped.
        assert!(
            batch_widths_of_group(x.view(), &[0, 1], &[0, 0], 2, Par::Seq)
                .unwrap()
                .is_none()
        );
        assert!(
            batch_widths_of_group(x.view(), &[0, 1], &[0, 1], 2, Par::Seq)
                .unwrap()
                .is_none()
        );
        let w = batch_widths_of_group(x.view(), &[0, 1, 2, 3], &[0, 1, 0, 1], 2, Par::Seq)
            .unwrap()
            .unwrap();
        assert!(w.iter().all(|v| (0.0..=1.0).contains(v)));
    }
}
