use super::e_test::{permutation_test, PValueRule};
use super::*;
use crate::stats::rng::stream;
use crate::Par;
use ndarray::Array2;
use rand_distr::{Distribution, StandardNormal};

fn rows(n: usize, g: usize, shift: f64, seed: u64) -> Array2<f64> {
    let mut rng = stream(seed, "group_distance/test", 0);
    Array2::from_shape_fn((n, g), |(_, j)| {
        let z: f64 = StandardNormal.sample(&mut rng);
        z * (1.0 + 0.2 * j as f64) + shift * (j % 2) as f64
    })
}

fn euclid(a: ndarray::ArrayView1<f64>, b: ndarray::ArrayView1<f64>) -> f64 {
    a.iter()
        .zip(b)
        .map(|(p, q)| (p - q) * (p - q))
        .sum::<f64>()
        .sqrt()
}

/// Means over explicit pair lists, U and V.
#[test]
fn edistance_by_pairs() {
    let x = rows(5, 3, 1.0, 1);
    let y = rows(7, 3, 0.0, 2);
    let mean = |a: &Array2<f64>, b: &Array2<f64>, skip_self: bool| {
        let (mut s, mut k) = (0.0, 0.0);
        for i in 0..a.nrows() {
            for j in 0..b.nrows() {
                if skip_self && i == j {
                    continue;
                }
                s += euclid(a.row(i), b.row(j));
                k += 1.0;
            }
        }
        s / k
    };
    for (within, skip) in [
        (WithinPairs::ExcludeSelf, true),
        (WithinPairs::IncludeSelf, false),
    ] {
        let want = 2.0 * mean(&x, &y, false) - mean(&x, &x, skip) - mean(&y, &y, skip);
        let got = GroupDistance::Edistance {
            within,
            cell: CellMetric::Euclidean,
        }
        .distance(x.view(), y.view())
        .unwrap();
        assert!((got - want).abs() < 1e-12, "{within:?}: {got} {want}");
    }
    // A group of one sample has no within pair: 0 (pertpy).
    let one = x.slice(ndarray::s![0..1, ..]);
    let got = GroupDistance::Edistance {
        within: WithinPairs::ExcludeSelf,
        cell: CellMetric::Euclidean,
    }
    .distance(one, y.view())
    .unwrap();
    let want = 2.0 * mean(&one.to_owned(), &y, false) - mean(&y, &y, true);
    assert!((got - want).abs() < 1e-12);
    // Squared cell distances, V-statistic: 2 ||mean x - mean y||^2.
    let got = GroupDistance::Edistance {
        within: WithinPairs::IncludeSelf,
        cell: CellMetric::SqEuclidean,
    }
    .distance(x.view(), y.view())
    .unwrap();
    let means = GroupDistance::MeanSquaredError
        .distance(x.view(), y.view())
        .unwrap()
        * 3.0;
    assert!((got - 2.0 * means).abs() < 1e-12, "{got} {means}");
}

#[test]
fn pseudobulk_distances_by_hand() {
    // Means (1, 2, 4) and (2, 2, 0): difference (-1, 0, 4).
    let x = ndarray::array![[0.0, 1.0, 3.0], [2.0, 3.0, 5.0]];
    let y = ndarray::array![[2.0, 2.0, 0.0]];
    let d = |m: GroupDistance| m.distance(x.view(), y.view()).unwrap();
    assert!((d(GroupDistance::Euclidean) - 17f64.sqrt()).abs() < 1e-15);
    assert!((d(GroupDistance::MeanSquaredError) - 17.0 / 3.0).abs() < 1e-14);
    assert!((d(GroupDistance::MeanAbsoluteError) - 5.0 / 3.0).abs() < 1e-15);
    // cosine: 1 - (2 + 4 + 0) / (sqrt(21) sqrt(8)).
    let want = 1.0 - 6.0 / (21f64.sqrt() * 8f64.sqrt());
    assert!((d(GroupDistance::CosineDistance) - want).abs() < 1e-15);
    // r2_score(true (1, 2, 4), predicted (2, 2, 0)): SS_res 17, SS_tot
    // 14/3 about 7/3: 1 - r2 = 17 / (14/3).
    assert!((d(GroupDistance::R2Distance) - 17.0 * 3.0 / 14.0).abs() < 1e-14);
    // Pearson of (1, 2, 4) and (2, 2, 0): centred (-4/3, -1/3, 5/3) and
    // (2/3, 2/3, -4/3): r = -30/9 / sqrt(42/9 * 24/9).
    let r = -30.0 / (42f64 * 24.0).sqrt();
    assert!((d(GroupDistance::PearsonDistance) - (1.0 - r)).abs() < 1e-14);
    // Ranks (1, 2, 3) and (2.5, 2.5, 1): r = -0.866...
    let rho = pseudobulk::pearson(&[1.0, 2.0, 3.0], &[2.5, 2.5, 1.0]);
    assert!((d(GroupDistance::SpearmanDistance) - (1.0 - rho)).abs() < 1e-15);
    // Kendall: pairs (1,2): a up, b tie; (1,3): up, down; (2,3): up, down:
    // tau_b = -2 / sqrt(3 * 2); distance (1 - tau) 3 * 2 / 4.
    let tau = -2.0 / 6f64.sqrt();
    assert!((d(GroupDistance::KendallTauDistance) - (1.0 - tau) * 1.5).abs() < 1e-14);
    // A constant pseudobulk has no correlation.
    let flat = ndarray::array![[1.0, 1.0, 1.0]];
    assert!(GroupDistance::PearsonDistance
        .distance(flat.view(), y.view())
        .unwrap()
        .is_nan());
}

#[test]
fn mahalanobis_against_an_inverse() {
    let x = rows(40, 3, 0.5, 3);
    let y = rows(10, 3, 0.0, 4);
    let got = GroupDistance::Mahalanobis
        .distance(x.view(), y.view())
        .unwrap();
    // 3 x 3 inverse by cofactors.
    let mx = x.mean_axis(Axis(0)).unwrap();
    let my = y.mean_axis(Axis(0)).unwrap();
    let c = x.t().dot(&(&x - &mx)) / 39.0;
    let det = c[(0, 0)] * (c[(1, 1)] * c[(2, 2)] - c[(1, 2)] * c[(2, 1)])
        - c[(0, 1)] * (c[(1, 0)] * c[(2, 2)] - c[(1, 2)] * c[(2, 0)])
        + c[(0, 2)] * (c[(1, 0)] * c[(2, 1)] - c[(1, 1)] * c[(2, 0)]);
    let cof = |i: usize, j: usize| {
        let r: Vec<usize> = (0..3).filter(|&k| k != j).collect();
        let s: Vec<usize> = (0..3).filter(|&k| k != i).collect();
        let m = c[(r[0], s[0])] * c[(r[1], s[1])] - c[(r[0], s[1])] * c[(r[1], s[0])];
        if (i + j) % 2 == 0 {
            m
        } else {
            -m
        }
    };
    let d = &mx - &my;
    let mut q = 0.0;
    for i in 0..3 {
        for j in 0..3 {
            q += d[i] * cof(i, j) / det * d[j];
        }
    }
    assert!((got - q.sqrt()).abs() < 1e-12, "{got} {}", q.sqrt());
    // Fewer samples than features: a singular covariance, no value.
    let few = rows(3, 5, 0.0, 5);
    let y5 = rows(4, 5, 0.0, 6);
    assert!(GroupDistance::Mahalanobis
        .distance(few.view(), y5.view())
        .unwrap()
        .is_nan());
}

use ndarray::Axis;

#[test]
fn mmd_kernels_by_pairs() {
    let x = rows(4, 3, 0.7, 7);
    let y = rows(6, 3, 0.0, 8);
    let mean_k = |a: &Array2<f64>, b: &Array2<f64>, k: &dyn Fn(f64, f64) -> f64| {
        let mut s = 0.0;
        for i in 0..a.nrows() {
            for j in 0..b.nrows() {
                let d2: f64 = a
                    .row(i)
                    .iter()
                    .zip(b.row(j))
                    .map(|(p, q)| (p - q) * (p - q))
                    .sum();
                let dot: f64 = a.row(i).dot(&b.row(j));
                s += k(d2, dot);
            }
        }
        s / (a.nrows() * b.nrows()) as f64
    };
    let cases: [(MmdKernel, &dyn Fn(f64, f64) -> f64); 3] = [
        (MmdKernel::Linear, &|_, dot| dot),
        (MmdKernel::Rbf { gamma: 0.3 }, &|d2, _| (-0.3 * d2).exp()),
        (
            MmdKernel::Poly {
                gamma: 0.5,
                degree: 3,
            },
            &|_, dot| (0.5 * dot).powi(3),
        ),
    ];
    for (kernel, k) in cases {
        let want = mean_k(&x, &x, k) + mean_k(&y, &y, k) - 2.0 * mean_k(&x, &y, k);
        let got = GroupDistance::Mmd { kernel }
            .distance(x.view(), y.view())
            .unwrap();
        assert!(
            (got - want).abs() < 1e-12 * want.abs().max(1.0),
            "{kernel:?} {got} {want}"
        );
    }
}

#[test]
fn per_feature_distances_by_hand() {
    // One feature: x (0, 2) mean 1, population std 1; y (1, 1, 4) mean 2,
    // population std sqrt(2).
    let x = ndarray::array![[0.0], [2.0]];
    let y = ndarray::array![[1.0], [1.0], [4.0]];
    let eps = 1e-8;
    let (sx, sy) = (1.0 + eps, 2f64.sqrt() + eps);
    let kl = (sy / sx).ln() + (sx * sx + 1.0) / (2.0 * sy * sy) - 0.5;
    let klr = (sx / sy).ln() + (sy * sy + 1.0) / (2.0 * sx * sx) - 0.5;
    let got = GroupDistance::SymKlDiv { epsilon: eps }
        .distance(x.view(), y.view())
        .unwrap();
    assert!((got - (kl + klr)).abs() < 1e-14);
    // Welch: sample variances 2 and 3 (+ eps).
    let t = 1.0 / ((2.0 + eps) / 2.0 + (3.0 + eps) / 3.0f64).sqrt();
    let got = GroupDistance::TTest { epsilon: eps }
        .distance(x.view(), y.view())
        .unwrap();
    assert!((got - t).abs() < 1e-14);
    // KS: at 0 (1/2, 0), 1 (1/2, 2/3), 2 (1, 2/3), 4 (1, 1): 1/2.
    let got = GroupDistance::KsTest.distance(x.view(), y.view()).unwrap();
    assert!((got - 0.5).abs() < 1e-15);
}

/// One reference scoring many groups gives the bits of scoring each from
/// scratch, sequentially or on rayon's pool.
#[test]
fn reference_reuse_and_par_give_the_same_bits() {
    let y = rows(30, 4, 0.0, 9);
    let metrics = [
        GroupDistance::Edistance {
            within: WithinPairs::ExcludeSelf,
            cell: CellMetric::Euclidean,
        },
        GroupDistance::MeanPairwise {
            cell: CellMetric::Euclidean,
        },
        GroupDistance::Mmd {
            kernel: MmdKernel::Rbf { gamma: 1.0 },
        },
        GroupDistance::KsTest,
        GroupDistance::TTest { epsilon: 1e-8 },
        GroupDistance::KendallTauDistance,
    ];
    for metric in metrics {
        let seq = Reference::new(metric, y.view(), Par::Seq).unwrap();
        let par = Reference::new(metric, y.view(), Par::rayon(2)).unwrap();
        for k in 0..3 {
            let x = rows(5 + k, 4, 0.5, 10 + k as u64);
            let a = seq.distance(x.view()).unwrap();
            let b = par.distance(x.view()).unwrap();
            let c = metric.distance(x.view(), y.view()).unwrap();
            assert_eq!(a.to_bits(), b.to_bits(), "{metric:?}");
            assert_eq!(a.to_bits(), c.to_bits(), "{metric:?}");
        }
    }
}

#[test]
fn p_value_rules() {
    let null = [0.1, 0.5, 0.5, 0.9];
    // pertpy: max(1, #{> 0.5}) / 4 = 1/4; at 2.0 nothing exceeds: 1/4.
    assert_eq!(PValueRule::Pertpy.p_value(0.5, &null), 0.25);
    assert_eq!(PValueRule::Pertpy.p_value(2.0, &null), 0.25);
    assert_eq!(PValueRule::Pertpy.p_value(0.0, &null), 1.0);
    // (1 + #{>= 0.5}) / 5.
    assert_eq!(PValueRule::Permutation.p_value(0.5, &null), 0.8);
    assert!(PValueRule::Pertpy.p_value(f64::NAN, &null).is_nan());
}

/// The pooled-pair statistic of a relabelling equals the distance of the
/// relabelled rows computed from scratch (edistance V and U, MMD).
#[test]
fn pooled_pairs_equal_recomputation() {
    let x = rows(6, 3, 1.0, 11);
    let y = rows(9, 3, 0.0, 12);
    let pooled = ndarray::concatenate(Axis(0), &[x.view(), y.view()]).unwrap();
    for metric in [
        GroupDistance::Edistance {
            within: WithinPairs::IncludeSelf,
            cell: CellMetric::Euclidean,
        },
        GroupDistance::Edistance {
            within: WithinPairs::ExcludeSelf,
            cell: CellMetric::SqEuclidean,
        },
        GroupDistance::Mmd {
            kernel: MmdKernel::Rbf { gamma: 0.5 },
        },
    ] {
        let mut rng = stream(1, "t", 0);
        let out = permutation_test(
            metric,
            x.view(),
            y.view(),
            20,
            PValueRule::Pertpy,
            &mut rng,
            Par::Seq,
        )
        .unwrap();
        let want = metric.distance(x.view(), y.view()).unwrap();
        assert!((out.statistic - want).abs() < 1e-12, "{metric:?}");
        // Replay the draws.
        let mut rng = stream(1, "t", 0);
        for v in &out.null {
            let mut in_x = rand::seq::index::sample(&mut rng, 15, 6).into_vec();
            in_x.sort_unstable();
            let rest: Vec<usize> = (0..15).filter(|i| !in_x.contains(i)).collect();
            let d = metric
                .distance(
                    pooled.select(Axis(0), &in_x).view(),
                    pooled.select(Axis(0), &rest).view(),
                )
                .unwrap();
            assert!((v - d).abs() < 1e-12, "{metric:?} {v} {d}");
        }
    }
}

/// Under the null (both groups from one distribution) the test's p-values
/// are uniform: of 300 tests, the share with p <= 0.1 is within 4 standard
/// errors of 0.1, for a pair-based and a recomputed distance, both rules.
#[test]
fn null_p_values_are_uniform() {
    for metric in [
        GroupDistance::Edistance {
            within: WithinPairs::IncludeSelf,
            cell: CellMetric::Euclidean,
        },
        GroupDistance::MeanSquaredError,
    ] {
        for rule in [PValueRule::Pertpy, PValueRule::Permutation] {
            let tests = 300;
            let mut low = 0;
            for t in 0..tests {
                let x = rows(6, 3, 0.0, 1000 + t);
                let y = rows(12, 3, 0.0, 5000 + t);
                let mut rng = stream(t, "null", 0);
                let out =
                    permutation_test(metric, x.view(), y.view(), 99, rule, &mut rng, Par::Seq)
                        .unwrap();
                low += usize::from(out.p_value <= 0.1);
            }
            let share = low as f64 / tests as f64;
            let se = (0.1f64 * 0.9 / tests as f64).sqrt();
            assert!(
                (share - 0.1).abs() < 4.0 * se,
                "{metric:?} {rule:?}: {share}"
            );
        }
    }
}

/// A shifted group is found: every p at the floor.
#[test]
fn a_shift_is_detected() {
    let x = rows(10, 3, 3.0, 21);
    let y = rows(20, 3, 0.0, 22);
    let mut rng = stream(0, "shift", 0);
    let metric = GroupDistance::Edistance {
        within: WithinPairs::IncludeSelf,
        cell: CellMetric::Euclidean,
    };
    let out = permutation_test(
        metric,
        x.view(),
        y.view(),
        100,
        PValueRule::Pertpy,
        &mut rng,
        Par::Seq,
    )
    .unwrap();
    assert_eq!(out.p_value, 0.01);
}

/// A pooled pair matrix over the limit is refused before it is allocated.
#[test]
fn a_pooled_matrix_too_large_is_refused() {
    let x = Array2::<f64>::zeros((10, 1));
    let y = Array2::<f64>::zeros((35_000, 1));
    let mut rng = stream(0, "big", 0);
    let metric = GroupDistance::MeanPairwise {
        cell: CellMetric::Euclidean,
    };
    let e = permutation_test(
        metric,
        x.view(),
        y.view(),
        10,
        PValueRule::Pertpy,
        &mut rng,
        Par::Seq,
    )
    .unwrap_err();
    assert!(matches!(e, crate::KernelError::Memory(_)), "{e}");
    assert!(e.to_string().contains("35010 pooled samples"), "{e}");
    // Too few samples, non-finite values, a shape mismatch: errors.
    let one = Array2::<f64>::zeros((1, 1));
    assert!(GroupDistance::TTest { epsilon: 0.0 }
        .distance(one.view(), y.view())
        .is_err());
    let mut nan = Array2::<f64>::zeros((3, 2));
    nan[(1, 1)] = f64::NAN;
    assert_eq!(
        GroupDistance::Euclidean.distance(nan.view(), nan.view()),
        Err(crate::KernelError::NonFinite { row: 1, column: 1 })
    );
    assert!(GroupDistance::Euclidean
        .distance(x.view(), nan.view())
        .is_err());
}
