//! Summaries of one metric over seeds: mean, standard deviation and a 95%
//! confidence interval of the mean.

/// Two-sided 95% quantiles of Student's t for 1 to 30 degrees of freedom.
const T_975: [f64; 30] = [
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
    2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
    2.052, 2.048, 2.045, 2.042,
];

/// Where a cell's interval comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntervalKind {
    /// Student's t interval of the mean over two or more seeds.
    OverSeeds,
    /// One seed: the metric's own interval (its bootstrap), from the row.
    FromRow,
    /// One seed and no interval in the row.
    None,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SeedSummary {
    pub n_seeds: usize,
    pub mean: f64,
    /// Population standard deviation over seeds (as SQL's
    /// `best_postprocessing` view: `STDDEV_POP`); 0 for one seed.
    pub sd: f64,
    pub ci: Option<(f64, f64)>,
    pub interval: IntervalKind,
}

/// `values` are one value per seed; `row_interval` is the row's own
/// interval, used when there is one seed. None when there are no values.
pub fn summarise(values: &[f64], row_interval: Option<(f64, f64)>) -> Option<SeedSummary> {
    let n = values.len();
    if n == 0 {
        return None;
    }
    let mean = values.iter().sum::<f64>() / n as f64;
    let ss = values.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>();
    let sd = (ss / n as f64).sqrt();
    let (ci, interval) = if n >= 2 {
        let t = T_975.get(n - 2).copied().unwrap_or(1.96);
        let half = t * (ss / (n - 1) as f64).sqrt() / (n as f64).sqrt();
        (Some((mean - half, mean + half)), IntervalKind::OverSeeds)
    } else if let Some(iv) = row_interval {
        (Some(iv), IntervalKind::FromRow)
    } else {
        (None, IntervalKind::None)
    };
    Some(SeedSummary {
        n_seeds: n,
        mean,
        sd,
        ci,
        interval,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_seeds_by_hand() {
        // mean 2; squares 1, 0, 1: population sd sqrt(2/3), sample sd 1;
        // half width t(2) * 1 / sqrt(3) = 4.303 / 1.7320508 = 2.48434.
        let s = summarise(&[1.0, 2.0, 3.0], Some((0.0, 9.0))).unwrap();
        assert_eq!(s.n_seeds, 3);
        assert!((s.mean - 2.0).abs() < 1e-15);
        assert!((s.sd - (2.0f64 / 3.0).sqrt()).abs() < 1e-15);
        let (lo, hi) = s.ci.unwrap();
        assert!((hi - 2.0 - 2.484338).abs() < 1e-6, "{hi}");
        assert!((2.0 - lo - 2.484338).abs() < 1e-6, "{lo}");
        assert_eq!(s.interval, IntervalKind::OverSeeds);
    }

    #[test]
    fn one_seed_keeps_the_rows_interval_or_none() {
        let s = summarise(&[0.5], Some((0.4, 0.7))).unwrap();
        assert_eq!((s.mean, s.sd, s.ci), (0.5, 0.0, Some((0.4, 0.7))));
        assert_eq!(s.interval, IntervalKind::FromRow);
        let s = summarise(&[0.5], None).unwrap();
        assert_eq!((s.ci, s.interval), (None, IntervalKind::None));
        assert!(summarise(&[], None).is_none());
    }

    #[test]
    fn many_seeds_use_the_normal_quantile() {
        let v: Vec<f64> = (0..40).map(|i| i as f64).collect();
        let s = summarise(&v, None).unwrap();
        // sample variance of 0..39 = 40 * 41 / 12 = 136.667
        let half = 1.96 * (40.0f64 * 41.0 / 12.0).sqrt() / 40f64.sqrt();
        assert!((s.ci.unwrap().1 - (19.5 + half)).abs() < 1e-12);
    }
}
