//! Seeded percentile bootstrap of a mean over items (perturbations): the
//! items are resampled with replacement `n_resamples` times and the interval
//! is the (alpha/2, 1 - alpha/2) quantiles of the resampled means (linear
//! interpolation between order statistics, numpy's default).

use crate::KernelError;
use rand::Rng;

/// Quantile q in [0, 1] of sorted values, interpolated linearly.
pub fn quantile_sorted(sorted: &[f64], q: f64) -> f64 {
    let pos = q * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// Refuses a bootstrap without items or resamples, or a level outside [0, 1).
fn check_resampling(n_items: usize, n_resamples: usize, level: f64) -> Result<(), KernelError> {
    if n_items == 0 || n_resamples == 0 {
        return Err(KernelError::NotEnough(
            "a bootstrap needs at least one item and one resample".into(),
        ));
    }
    if !(0.0..1.0).contains(&level) {
        return Err(KernelError::Shape(format!(
            "level {level} is not in [0, 1)"
        )));
    }
    Ok(())
}

/// (low, high) of the `level` (e.g. 0.95) percentile interval of the mean.
pub fn mean_interval(
    values: &[f64],
    n_resamples: usize,
    level: f64,
    seed: u64,
) -> Result<(f64, f64), KernelError> {
    check_resampling(values.len(), n_resamples, level)?;
    let mut rng = crate::stats::rng::stream(seed, "bootstrap", 0);
    let n = values.len();
    let mut means: Vec<f64> = (0..n_resamples)
        .map(|_| (0..n).map(|_| values[rng.random_range(0..n)]).sum::<f64>() / n as f64)
        .collect();
    means.sort_by(|a, b| a.total_cmp(b));
    let alpha = 1.0 - level;
    Ok((
        quantile_sorted(&means, alpha / 2.0),
        quantile_sorted(&means, 1.0 - alpha / 2.0),
    ))
}

/// (low, high) of the `level` percentile interval of `stat` over items
/// grouped in clusters (e.g. the queries of each perturbation): clusters are
/// resampled with replacement, and a resample holds all items of its
/// clusters. `cluster[i]` is item i's cluster code.
pub fn cluster_interval(
    values: &[f64],
    cluster: &[u32],
    n_resamples: usize,
    level: f64,
    seed: u64,
    stat: impl Fn(&[f64]) -> f64,
) -> Result<(f64, f64), KernelError> {
    if values.len() != cluster.len() {
        return Err(KernelError::Shape(format!(
            "{} values but {} cluster codes",
            values.len(),
            cluster.len()
        )));
    }
    check_resampling(values.len(), n_resamples, level)?;
    let mut members: std::collections::BTreeMap<u32, Vec<f64>> = Default::default();
    for (v, c) in values.iter().zip(cluster) {
        members.entry(*c).or_default().push(*v);
    }
    let groups: Vec<Vec<f64>> = members.into_values().collect();
    let mut rng = crate::stats::rng::stream(seed, "cluster-bootstrap", 0);
    let g = groups.len();
    let mut buf = Vec::with_capacity(values.len());
    let mut stats: Vec<f64> = (0..n_resamples)
        .map(|_| {
            buf.clear();
            for _ in 0..g {
                buf.extend_from_slice(&groups[rng.random_range(0..g)]);
            }
            stat(&buf)
        })
        .collect();
    stats.sort_by(|a, b| a.total_cmp(b));
    let alpha = 1.0 - level;
    Ok((
        quantile_sorted(&stats, alpha / 2.0),
        quantile_sorted(&stats, 1.0 - alpha / 2.0),
    ))
}

/// The mean, for [`cluster_interval`].
pub fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_bootstrap_resamples_whole_clusters() {
        // Two clusters with constant values 0 (3 items) and 1 (1 item): a
        // resample is {0,0,0,0,0,0}, {1,1} or one of each, so the mean
        // takes only the values 0, 1/4 and 1.
        let values = [0.0, 0.0, 0.0, 1.0];
        let cluster = [7, 7, 7, 9];
        let (lo, hi) = cluster_interval(&values, &cluster, 2000, 0.95, 1, mean).unwrap();
        assert_eq!((lo, hi), (0.0, 1.0));
        let (lo, hi) = cluster_interval(&values, &cluster, 2000, 0.5, 1, mean).unwrap();
        assert!(
            [0.0, 0.25, 1.0].contains(&lo) && [0.0, 0.25, 1.0].contains(&hi),
            "{lo} {hi}"
        );
        assert!(cluster_interval(&values, &cluster[..3], 10, 0.95, 1, mean).is_err());
    }

    #[test]
    fn quantiles_by_hand() {
        let s = [1.0, 2.0, 3.0, 4.0, 5.0];
        assert_eq!(quantile_sorted(&s, 0.0), 1.0);
        assert_eq!(quantile_sorted(&s, 0.5), 3.0);
        assert_eq!(quantile_sorted(&s, 0.125), 1.5);
        assert_eq!(quantile_sorted(&s, 1.0), 5.0);
    }

    #[test]
    fn interval_brackets_the_mean_and_is_seeded() {
        // A constant sample has a zero-width interval.
        let (lo, hi) = mean_interval(&[0.7; 10], 100, 0.95, 0).unwrap();
        assert!(
            (lo - 0.7).abs() < 1e-12 && (hi - 0.7).abs() < 1e-12,
            "{lo} {hi}"
        );
        // 0/1 values with mean 0.5 over 100 items: the 95% interval is about
        // 0.5 +- 1.96 * 0.05, so [0.40, 0.60] within resampling noise.
        let v: Vec<f64> = (0..100).map(|i| (i % 2) as f64).collect();
        let (lo, hi) = mean_interval(&v, 2000, 0.95, 1).unwrap();
        assert!(lo < 0.5 && hi > 0.5, "{lo} {hi}");
        assert!(
            (lo - 0.402).abs() < 0.03 && (hi - 0.598).abs() < 0.03,
            "{lo} {hi}"
        );
        assert_eq!(
            mean_interval(&v, 200, 0.95, 3).unwrap(),
            mean_interval(&v, 200, 0.95, 3).unwrap()
        );
        assert!(mean_interval(&[], 10, 0.95, 0).is_err());
    }
}
