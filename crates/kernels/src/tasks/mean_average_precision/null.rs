//! copairs' null of average precision, draw for draw: for each
//! configuration (positives k, list length m) a seed, and `null_size`
//! random rank lists of k positives among m, each scored as copairs scores
//! it (float32, numpy's sums). Equal to copairs 0.5's
//! `compute.get_null_dists` bit for bit (numpy 2 promotion rules).

use crate::stats::numpy_random::{pairwise_sum_f32, pairwise_sum_f64, Pcg64};

/// Seeds copairs draws for `n` configurations (sorted as `np.unique` sorts
/// them): `default_rng(seed).integers(8096, size=n)`.
pub fn configuration_seeds(n: usize, seed: u64) -> Vec<u64> {
    let mut g = Pcg64::default_rng(seed);
    (0..n).map(|_| g.integers_below(8096)).collect()
}

/// `compute.random_ap(null_size, k, m, seed)`: per draw, `arange(m)`
/// shuffled (numpy's `permuted`), its first k entries sorted as the
/// positives' 0-based ranks, and AP = sum_i (i / (rank_i + 1)) / k, in
/// float32 for m < 65,536 (numpy's uint16 ranks) and float64 rounded to
/// float32 above.
pub fn random_average_precisions(null_size: usize, k: usize, m: usize, seed: u64) -> Vec<f32> {
    assert!(k >= 1 && k <= m, "null of {k} positives among {m}");
    let mut g = Pcg64::default_rng(seed);
    let mut row: Vec<u32> = vec![0; m];
    let mut ranks: Vec<u32> = vec![0; k];
    let mut terms32: Vec<f32> = Vec::with_capacity(k);
    let mut terms64: Vec<f64> = Vec::with_capacity(k);
    let small = m < (1 << 16);
    (0..null_size)
        .map(|_| {
            for (i, r) in row.iter_mut().enumerate() {
                *r = i as u32;
            }
            g.shuffle(&mut row);
            ranks.copy_from_slice(&row[..k]);
            ranks.sort_unstable();
            if small {
                terms32.clear();
                terms32.extend(
                    ranks
                        .iter()
                        .enumerate()
                        .map(|(i, &r)| (i + 1) as f32 / (r + 1) as f32),
                );
                pairwise_sum_f32(&terms32) / k as f32
            } else {
                terms64.clear();
                terms64.extend(
                    ranks
                        .iter()
                        .enumerate()
                        .map(|(i, &r)| (i + 1) as f64 / (f64::from(r) + 1.0)),
                );
                (pairwise_sum_f64(&terms64) / k as f64) as f32
            }
        })
        .collect()
}

/// A group's null: the mean, over its members in order, of their
/// configurations' nulls, as numpy's float32 `mean(axis=0)` (float32 sums,
/// divided in float64 by the count).
pub fn group_null(members: &[&[f32]]) -> Vec<f32> {
    let Some(first) = members.first() else {
        return Vec::new();
    };
    let mut sum: Vec<f32> = first.to_vec();
    for m in &members[1..] {
        for (s, &v) in sum.iter_mut().zip(m.iter()) {
            *s += v;
        }
    }
    let n = members.len() as f64;
    sum.iter().map(|&s| (f64::from(s) / n) as f32).collect()
}

/// copairs' p-value of a mean average precision against its group's null:
/// (number of null values strictly above it + 1) / (null size + 1). The
/// comparison is in float32: copairs compares its float32 null with the mAP
/// as a Python float, which numpy 2 casts to float32 (so a null value equal
/// to the mAP in float32 is not above it, even when the float64 mAP is
/// smaller).
pub fn p_value(map: f64, null: &[f32]) -> f64 {
    let map = map as f32;
    let above = null.iter().filter(|&&v| v > map).count();
    (above + 1) as f64 / (null.len() + 1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    // compute.random_ap(3, k, m, 1234) from copairs 0.5.2 (numpy 2.4.6);
    // the last m takes the float64 path.
    #[test]
    fn random_average_precisions_are_copairs() {
        // Printed as float64 (exact); compared bit for bit.
        let cases: [(usize, usize, [f64; 3]); 4] = [
            (
                3,
                50,
                [0.04760318994522095, 0.2212301641702652, 0.06507246196269989],
            ),
            (
                2,
                400,
                [
                    0.004410450346767902,
                    0.005822968203574419,
                    0.004124116152524948,
                ],
            ),
            (
                130,
                1000,
                [
                    0.13275612890720367,
                    0.14437933266162872,
                    0.12743142247200012,
                ],
            ),
            (
                5,
                70000,
                [
                    0.0005492658237926662,
                    7.536156772403046e-05,
                    8.9970875706058e-05,
                ],
            ),
        ];
        for (k, m, want) in cases {
            let got = random_average_precisions(3, k, m, 1234);
            let want: Vec<f32> = want.iter().map(|&w| w as f32).collect();
            assert_eq!(got, want, "k {k} m {m}");
        }
        assert_eq!(
            random_average_precisions(3, 1, 2, 1234),
            vec![0.5, 1.0, 1.0]
        );
    }

    #[test]
    fn p_values_count_strictly_greater_null_values() {
        let null = [0.1f32, 0.5, 0.5, 0.9];
        assert_eq!(p_value(0.5, &null), 2.0 / 5.0);
        assert_eq!(p_value(0.95, &null), 1.0 / 5.0);
        assert_eq!(p_value(0.0, &null), 1.0);
        // 1/24 in float64 is below float32's 1/24, but equal once cast.
        let f32_twenty_fourth = 1.0f32 / 24.0;
        assert!(f64::from(f32_twenty_fourth) > 1.0 / 24.0);
        assert_eq!(p_value(1.0 / 24.0, &[f32_twenty_fourth]), 1.0 / 2.0);
    }

    #[test]
    fn group_nulls_average_members_in_float32() {
        let a = [1.0f32, 0.25];
        let b = [0.5f32, 0.75];
        assert_eq!(group_null(&[&a, &b]), vec![0.75, 0.5]);
        assert!(group_null(&[]).is_empty());
    }
}
