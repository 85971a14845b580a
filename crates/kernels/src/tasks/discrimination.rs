//! Discrimination of predicted perturbation shifts (METRICS.md
//! "Distribution and prediction metrics", papers 000 and 001): each
//! predicted shift is compared with every real shift by Euclidean distance;
//! the rank r (0-based) of its own perturbation gives score 1 - r / N.

use crate::KernelError;
use ndarray::ArrayView2;

/// How real shifts at exactly the true one's distance count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TieRule {
    /// r = number of other perturbations strictly closer (ties favour the truth).
    Strict,
    /// r = number of other perturbations closer or equally close.
    Pessimistic,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Discrimination {
    /// Per predicted perturbation: (rank r, score 1 - r / N).
    pub ranks: Vec<(usize, f64)>,
    pub mean_score: f64,
    /// Fraction of predictions whose own perturbation ranks first.
    pub top1_identified: f64,
}

/// `predicted[i]` and `real[i]` are the shifts of the same perturbation i.
pub fn discrimination(
    predicted: ArrayView2<f64>,
    real: ArrayView2<f64>,
    rule: TieRule,
) -> Result<Discrimination, KernelError> {
    if predicted.dim() != real.dim() {
        return Err(KernelError::Shape(format!(
            "{:?} predicted shifts but {:?} real shifts (perturbations x dims must match)",
            predicted.dim(),
            real.dim()
        )));
    }
    let n = real.nrows();
    if n == 0 {
        return Err(KernelError::NotEnough(
            "no perturbations to discriminate".into(),
        ));
    }
    let dist = |i: usize, j: usize| {
        predicted
            .row(i)
            .iter()
            .zip(real.row(j))
            .map(|(a, b)| (a - b) * (a - b))
            .sum::<f64>()
    };
    let ranks: Vec<(usize, f64)> = (0..n)
        .map(|i| {
            let own = dist(i, i);
            let r = (0..n)
                .filter(|&j| j != i)
                .filter(|&j| {
                    let d = dist(i, j);
                    match rule {
                        TieRule::Strict => d < own,
                        TieRule::Pessimistic => d <= own,
                    }
                })
                .count();
            (r, 1.0 - r as f64 / n as f64)
        })
        .collect();
    let mean_score = ranks.iter().map(|r| r.1).sum::<f64>() / n as f64;
    let top1_identified = ranks.iter().filter(|r| r.0 == 0).count() as f64 / n as f64;
    Ok(Discrimination {
        ranks,
        mean_score,
        top1_identified,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn ranks_by_hand_with_ties() {
        // Real shifts on a line: A = 0, B = 2, C = 4.
        let real = array![[0.0], [2.0], [4.0]];
        // Predicted A = 1 (A and B tie at distance 1), B = 2 (exact), C = 1
        // (B at 1 and A at 1 closer than C at 3).
        let pred = array![[1.0], [2.0], [1.0]];
        let s = discrimination(pred.view(), real.view(), TieRule::Strict).unwrap();
        assert_eq!(
            s.ranks.iter().map(|r| r.0).collect::<Vec<_>>(),
            vec![0, 0, 2]
        );
        assert!((s.mean_score - (1.0 + 1.0 + 1.0 / 3.0) / 3.0).abs() < 1e-12);
        assert!((s.top1_identified - 2.0 / 3.0).abs() < 1e-12);
        let p = discrimination(pred.view(), real.view(), TieRule::Pessimistic).unwrap();
        assert_eq!(
            p.ranks.iter().map(|r| r.0).collect::<Vec<_>>(),
            vec![1, 0, 2]
        );
    }

    #[test]
    fn the_mean_prediction_collapses_discrimination() {
        // Every perturbation predicted as the average shift (paper 001): the
        // truth ranks first only for the perturbation nearest the average.
        let real = array![[-3.0, 0.0], [0.5, 0.0], [3.0, 1.0], [0.0, -4.0]];
        let mean = real.mean_axis(ndarray::Axis(0)).unwrap();
        let pred = ndarray::Array2::from_shape_fn((4, 2), |(_, j)| mean[j]);
        let s = discrimination(pred.view(), real.view(), TieRule::Strict).unwrap();
        assert_eq!(s.top1_identified, 0.25);
        let exact = discrimination(real.view(), real.view(), TieRule::Strict).unwrap();
        assert_eq!((exact.mean_score, exact.top1_identified), (1.0, 1.0));
        assert!(s.mean_score < 0.7);
    }

    #[test]
    fn mismatched_shapes_are_errors() {
        let e = discrimination(
            array![[1.0]].view(),
            array![[1.0], [2.0]].view(),
            TieRule::Strict,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("must match"), "{e}");
    }
}
