//! Fixture tests: 12 samples in batches A and B (controls are i % 3 != 2),
//! plus batch C (rows 12, 13) with no controls. Reference values come from
//! efaar-benchmarking 1.0 `centerscale_on_controls` and `tvn_on_controls`
//! run on rows 0..12 (batch C cannot be aligned there either).

use super::*;
use crate::Matrix;

fn fixture() -> (Matrix, Vec<String>, Vec<bool>) {
    let n = 14;
    let x = Matrix::from_shape_fn((n, 3), |(i, j)| {
        let (i, j) = (i as f64, j as f64);
        ((0.9 * i + 1.7 * j).sin() * (j + 1.0) + 0.1 * i * j) as f32
    });
    let batch = (0..n)
        .map(|i| {
            if i < 6 {
                "A"
            } else if i < 12 {
                "B"
            } else {
                "C"
            }
            .to_string()
        })
        .collect();
    let ctrl = (0..n).map(|i| i < 12 && i % 3 != 2).collect();
    (x, batch, ctrl)
}

const ROWS: [usize; 5] = [0, 2, 5, 8, 11];

fn assert_rows(t: &Transformed, want: [[f64; 3]; 5], tol: f64) {
    for (k, &r) in ROWS.iter().enumerate() {
        let pos = t.kept_rows.iter().position(|&x| x == r).unwrap();
        for j in 0..3 {
            let got = t.matrix[(pos, j)] as f64;
            assert!(
                (got - want[k][j]).abs() < tol,
                "row {r} col {j}: {got} vs {}",
                want[k][j]
            );
        }
    }
}

fn excluded_c(t: &Transformed) {
    assert_eq!(t.kept_rows, (0..12).collect::<Vec<_>>());
    assert_eq!(t.excluded.len(), 1);
    assert_eq!(t.excluded[0].batch, "C");
    assert_eq!(t.excluded[0].rows, 2);
    assert!(t.matrix.iter().all(|v| v.is_finite()));
}

#[test]
fn center_scale_matches_efaar() {
    let (x, b, c) = fixture();
    let t = CenterScale
        .apply(
            &x,
            &BatchLayout {
                batch: &b,
                is_control: &c,
            },
        )
        .unwrap();
    excluded_c(&t);
    assert_rows(
        &t,
        [
            [
                -0.41794924850031195,
                1.2557813488236969,
                -0.33587679614699684,
            ],
            [
                1.7014265373286905,
                -0.36804991088285377,
                -1.1097652518834549,
            ],
            [-2.5453391969974075, 0.17785967164423472, 2.14863885819285],
            [1.0042980980996936, 0.5587257603084929, -1.615427903566287],
            [-0.9678823563164836, -1.0718840744608775, 2.2930528786807995],
        ],
        1e-5,
    );
}

#[test]
fn tvn_matches_efaar() {
    let (x, b, c) = fixture();
    let t = Tvn
        .apply(
            &x,
            &BatchLayout {
                batch: &b,
                is_control: &c,
            },
        )
        .unwrap();
    excluded_c(&t);
    assert_rows(
        &t,
        [
            [
                -0.027678884152527252,
                0.702865895283153,
                -1.6144580149010266,
            ],
            [1.3915701116310402, -0.642373156030618, -1.1810431375709585],
            [-1.686698541911333, 0.07839339430844693, -0.5325702130919633],
            [0.6530474410029354, 0.9289658390899826, 1.5666923914988433],
            [-1.7541373984849173, -0.8980936817257394, 1.9947141722123847],
        ],
        1e-5,
    );
}

#[test]
fn center_subtracts_batch_control_mean_by_hand() {
    // Batch A controls are rows 0, 1, 3, 4; row 2 is perturbed.
    let x = Matrix::from_shape_vec((6, 1), vec![1.0, 2.0, 10.0, 3.0, 6.0, 0.0]).unwrap();
    let b: Vec<String> = ["A", "A", "A", "A", "A", "B"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let c = vec![true, true, false, true, true, true];
    let t = Center
        .apply(
            &x,
            &BatchLayout {
                batch: &b,
                is_control: &c,
            },
        )
        .unwrap();
    // mean of A controls = 3; B's only control is itself.
    assert_eq!(
        t.matrix.column(0).to_vec(),
        vec![-2.0, -1.0, 7.0, 0.0, 3.0, 0.0]
    );
    let s = CenterScale
        .apply(
            &x,
            &BatchLayout {
                batch: &b,
                is_control: &c,
            },
        )
        .unwrap();
    // population std of [1, 2, 3, 6] = sqrt(3.5); B has std 0 -> 1.
    let sd = 3.5f32.sqrt();
    let want = [-2.0 / sd, -1.0 / sd, 7.0 / sd, 0.0, 3.0 / sd, 0.0];
    for (g, w) in s.matrix.column(0).iter().zip(want) {
        assert!((g - w).abs() < 1e-6);
    }
}

#[test]
fn raw_keeps_everything_and_rejects_nan() {
    let (mut x, b, c) = fixture();
    let t = Raw
        .apply(
            &x,
            &BatchLayout {
                batch: &b,
                is_control: &c,
            },
        )
        .unwrap();
    assert_eq!(t.kept_rows.len(), 14);
    x[(3, 1)] = f32::NAN;
    for p in registry() {
        let e = p
            .apply(
                &x,
                &BatchLayout {
                    batch: &b,
                    is_control: &c,
                },
            )
            .unwrap_err();
        assert_eq!(
            e,
            crate::KernelError::NonFinite { row: 3, column: 1 },
            "{}",
            p.name()
        );
    }
}

#[test]
fn no_controls_anywhere_is_an_error() {
    let (x, b, _) = fixture();
    let none = vec![false; 14];
    for name in ["center", "center_scale", "tvn"] {
        let e = by_name(name).unwrap().apply(
            &x,
            &BatchLayout {
                batch: &b,
                is_control: &none,
            },
        );
        assert!(matches!(e, Err(crate::KernelError::NotEnough(_))), "{name}");
    }
    assert_eq!(names(), vec!["raw", "center", "center_scale", "tvn"]);
}
