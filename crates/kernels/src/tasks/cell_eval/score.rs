//! The Virtual Cell Challenge score (cell-eval `_score.py`): each metric's
//! aggregate (the mean over perturbations) normalised against a baseline
//! predictor's, then averaged.

/// Which value of a metric is best, deciding its normalisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Best {
    /// An error (MAE, MSE): 1 - user / base.
    Zero,
    /// A score in [0, 1]: (user - base) / (1 - base).
    One,
}

/// One metric normalised against the baseline: NaN becomes 0, and values
/// below 0 (worse than the baseline) become 0 (the clip keeps +inf, as
/// numpy's `clip(0, None)` does).
pub fn normalised(user: f64, base: f64, best: Best) -> f64 {
    let v = match best {
        Best::Zero => 1.0 - user / base,
        Best::One => (user - base) / (1.0 - base),
    };
    if v.is_nan() {
        0.0
    } else {
        v.max(0.0)
    }
}

/// The average of the normalised metrics (`avg_score`); NaN for none.
pub fn average(normalised: &[f64]) -> f64 {
    normalised.iter().sum::<f64>() / normalised.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn by_hand() {
        assert_eq!(normalised(0.5, 1.0, Best::Zero), 0.5);
        assert_eq!(normalised(2.0, 1.0, Best::Zero), 0.0);
        assert_eq!(normalised(0.75, 0.5, Best::One), 0.5);
        assert_eq!(normalised(0.25, 0.5, Best::One), 0.0);
        assert_eq!(normalised(f64::NAN, 0.5, Best::One), 0.0);
        assert_eq!(normalised(0.5, 1.0, Best::One), 0.0); // -0.5 / 0 = -inf
        assert_eq!(normalised(1.0, 1.0, Best::One), 0.0); // 0 / 0
        assert_eq!(normalised(1.5, 1.0, Best::One), f64::INFINITY);
        assert_eq!(average(&[0.5, 0.0, 1.0]), 0.5);
    }
}
