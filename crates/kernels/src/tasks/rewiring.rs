//! Neighbourhood rewiring (paper 000's "Mondrian neighbourhood graphs"):
//! each entity's k nearest other entities under one condition against
//! another; rewiring = 1 - Jaccard of the two neighbour sets.

use crate::KernelError;
use ndarray::ArrayView2;

/// The k nearest other rows of each row by cosine similarity (ties broken by
/// the lower index). Rows of zero norm have cosine 0 with everything.
pub fn cosine_neighbours(x: ArrayView2<f64>, k: usize) -> Result<Vec<Vec<usize>>, KernelError> {
    let n = x.nrows();
    if k == 0 || k >= n {
        return Err(KernelError::NotEnough(format!(
            "k = {k} neighbours need at least k + 1 = {} entities, got {n}",
            k + 1
        )));
    }
    let norms: Vec<f64> = x.rows().into_iter().map(|r| r.dot(&r).sqrt()).collect();
    Ok((0..n)
        .map(|i| {
            let mut sims: Vec<(f64, usize)> = (0..n)
                .filter(|&j| j != i)
                .map(|j| {
                    let d = norms[i] * norms[j];
                    (
                        if d > 0.0 {
                            x.row(i).dot(&x.row(j)) / d
                        } else {
                            0.0
                        },
                        j,
                    )
                })
                .collect();
            sims.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            let mut top: Vec<usize> = sims[..k].iter().map(|s| s.1).collect();
            top.sort_unstable();
            top
        })
        .collect())
}

/// 1 - |A n B| / |A u B| of two sorted index sets (0 for two empty sets).
pub fn rewiring(a: &[usize], b: &[usize]) -> f64 {
    let (mut i, mut j, mut common) = (0, 0, 0usize);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                common += 1;
                i += 1;
                j += 1;
            }
        }
    }
    let union = a.len() + b.len() - common;
    if union == 0 {
        0.0
    } else {
        1.0 - common as f64 / union as f64
    }
}

/// Per entity: rewiring between the neighbourhoods of `reference` and
/// `condition` (rows are the same entities in the same order).
pub fn rewiring_per_entity(
    reference: ArrayView2<f64>,
    condition: ArrayView2<f64>,
    k: usize,
) -> Result<Vec<f64>, KernelError> {
    if reference.dim() != condition.dim() {
        return Err(KernelError::Shape(format!(
            "reference {:?} and condition {:?} centroids differ in shape",
            reference.dim(),
            condition.dim()
        )));
    }
    let a = cosine_neighbours(reference, k)?;
    let b = cosine_neighbours(condition, k)?;
    Ok(a.iter().zip(&b).map(|(x, y)| rewiring(x, y)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn jaccard_by_hand() {
        assert_eq!(rewiring(&[1, 2], &[1, 2]), 0.0);
        assert_eq!(rewiring(&[1, 2], &[3, 4]), 1.0);
        // {1,2} vs {2,3}: 1 common of 3.
        assert!((rewiring(&[1, 2], &[2, 3]) - 2.0 / 3.0).abs() < 1e-15);
    }

    #[test]
    fn neighbours_and_rewiring_by_hand() {
        // Four entities on the unit circle at 0, 10, 90 and 100 degrees.
        let d = |deg: f64| [deg.to_radians().cos(), deg.to_radians().sin()];
        let r = [d(0.0), d(10.0), d(90.0), d(100.0)];
        let reference = ndarray::Array2::from_shape_fn((4, 2), |(i, j)| r[i][j]);
        assert_eq!(
            cosine_neighbours(reference.view(), 1).unwrap(),
            vec![vec![1], vec![0], vec![3], vec![2]]
        );
        // Under the condition entity 1 moves to 85 degrees: its neighbour is
        // now 2, and 2's is 1 (85 is closer to 90 than 100 is).
        let c = [d(0.0), d(85.0), d(90.0), d(100.0)];
        let condition = ndarray::Array2::from_shape_fn((4, 2), |(i, j)| c[i][j]);
        let w = rewiring_per_entity(reference.view(), condition.view(), 1).unwrap();
        assert_eq!(w, vec![0.0, 1.0, 1.0, 0.0]);
        assert!(cosine_neighbours(reference.view(), 4).is_err());
        let bad = array![[1.0, 0.0]];
        assert!(rewiring_per_entity(reference.view(), bad.view(), 1).is_err());
    }
}
