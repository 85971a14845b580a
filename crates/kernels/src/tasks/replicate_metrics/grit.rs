//! Grit (cytominer-eval's `grit`): how far a perturbation's profiles
//! correlate with those of other perturbations of its group (a gene's other
//! guides, a compound's other doses) beyond how they correlate with the
//! controls. The pairs of its profiles with control profiles are the
//! reference: each pair with a profile of another perturbation of the same
//! group is z-scored against them (sklearn's StandardScaler: population
//! standard deviation, 1 for a constant reference) and the z-scores are
//! summarised by their mean or median.

use super::{median, Correlations};
use crate::KernelError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GritSummary {
    Mean,
    Median,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Grit {
    pub perturbation: u32,
    /// Its group (None: no group, no grit).
    pub group: Option<u32>,
    /// NaN when no profile of another perturbation shares the group, or
    /// with fewer than two control pairs (which cytominer-eval refuses:
    /// callers check `n_control_pairs`).
    pub grit: f64,
    pub n_control_pairs: usize,
    pub n_group_pairs: usize,
}

/// sklearn's StandardScaler fit on one column: mean, and the scale (the
/// population standard deviation, or 1 where the values are constant up
/// to rounding).
fn standard_scaler(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let correction: f64 = values.iter().map(|v| v - mean).sum();
    let squares: f64 = values.iter().map(|v| (v - mean) * (v - mean)).sum();
    let var = (squares - correction * correction / n) / n;
    let eps = f64::EPSILON;
    let bound = n * eps * var + (n * mean * eps) * (n * mean * eps);
    let scale = if var <= bound { 1.0 } else { var.sqrt() };
    (mean, scale)
}

/// Grit of each perturbation that is not a control, by code. Position i has
/// perturbation `perturbation[i]`, is a control when `is_control[i]`, and
/// belongs to group `group[i]` (None: no group, no grit).
pub fn grit(
    c: &Correlations,
    perturbation: &[u32],
    is_control: &[bool],
    group: &[Option<u32>],
    summary: GritSummary,
) -> Result<Vec<Grit>, KernelError> {
    let n = c.len();
    if perturbation.len() != n || is_control.len() != n || group.len() != n {
        return Err(KernelError::Shape(format!(
            "{} perturbations, {} control flags and {} groups for {n} profiles",
            perturbation.len(),
            is_control.len(),
            group.len()
        )));
    }
    let mut codes: Vec<u32> = (0..n)
        .filter(|&i| !is_control[i])
        .map(|i| perturbation[i])
        .collect();
    codes.sort_unstable();
    codes.dedup();
    let mut out = Vec::with_capacity(codes.len());
    for &p in &codes {
        let members: Vec<usize> = (0..n)
            .filter(|&i| perturbation[i] == p && !is_control[i])
            .collect();
        let own_group = group[members[0]];
        let (mut controls, mut same) = (Vec::new(), Vec::new());
        for &a in &members {
            for b in (0..n).filter(|&b| b != a) {
                if is_control[b] {
                    controls.push(c.get(a, b));
                }
                if own_group.is_some() && group[b] == own_group && perturbation[b] != p {
                    same.push(c.get(a, b));
                }
            }
        }
        let value = if same.is_empty() || controls.len() < 2 {
            f64::NAN
        } else {
            let (mean, scale) = standard_scaler(&controls);
            let mut z: Vec<f64> = same.iter().map(|v| (v - mean) / scale).collect();
            match summary {
                GritSummary::Mean => z.iter().sum::<f64>() / z.len() as f64,
                GritSummary::Median => median(&mut z),
            }
        };
        out.push(Grit {
            perturbation: p,
            group: own_group,
            grit: value,
            n_control_pairs: controls.len(),
            n_group_pairs: same.len(),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::super::ProfileCorrelation;
    use super::*;

    #[test]
    fn grit_by_hand() {
        let x = profiles(10, 8, 9);
        let c = correlations(&x, ProfileCorrelation::Pearson);
        // Perturbations 0..4 two profiles each except 3 (one); 9 is a control
        // code held by rows 7, 8, 9; groups: {0, 1} share 10, 2 has 11, 3 none.
        let perturbation = [0, 0, 1, 1, 2, 2, 3, 9, 9, 9];
        let is_control = [
            false, false, false, false, false, false, false, true, true, true,
        ];
        let group = [
            Some(10),
            Some(10),
            Some(10),
            Some(10),
            Some(11),
            Some(11),
            None,
            Some(12),
            Some(12),
            Some(12),
        ];
        let g = grit(&c, &perturbation, &is_control, &group, GritSummary::Mean).unwrap();
        assert_eq!(g.len(), 4);
        let controls: Vec<f64> = [0, 1]
            .iter()
            .flat_map(|&a| [7, 8, 9].map(|b| c.get(a, b)))
            .collect();
        let mean = controls.iter().sum::<f64>() / 6.0;
        let sd = (controls.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / 6.0).sqrt();
        let same: Vec<f64> = [0, 1]
            .iter()
            .flat_map(|&a| [2, 3].map(|b| c.get(a, b)))
            .collect();
        let want = same.iter().map(|v| (v - mean) / sd).sum::<f64>() / 4.0;
        assert!((g[0].grit - want).abs() < 1e-13);
        assert_eq!((g[0].n_control_pairs, g[0].n_group_pairs), (6, 4));
        assert!(g[2].grit.is_nan() && g[3].grit.is_nan());
        let m = grit(&c, &perturbation, &is_control, &group, GritSummary::Median).unwrap();
        let mut z: Vec<f64> = same.iter().map(|v| (v - mean) / sd).collect();
        z.sort_by(f64::total_cmp);
        assert!((m[0].grit - (z[1] + z[2]) / 2.0).abs() < 1e-13);
    }

    #[test]
    fn constant_reference_scales_by_one_and_too_few_controls_give_no_grit() {
        assert_eq!(standard_scaler(&[0.3, 0.3, 0.3]).1, 1.0);
        let x = profiles(4, 5, 10);
        let c = correlations(&x, ProfileCorrelation::Pearson);
        let g = grit(
            &c,
            &[0, 0, 1, 2],
            &[false, false, false, true],
            &[Some(0); 4],
            GritSummary::Mean,
        )
        .unwrap();
        // Perturbation 0 has two pairs with the one control; 1 has one.
        assert_eq!((g[0].n_control_pairs, g[1].n_control_pairs), (2, 1));
        assert!(g[0].grit.is_finite() && g[1].grit.is_nan());
    }
}
