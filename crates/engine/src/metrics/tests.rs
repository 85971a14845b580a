//! Metric nodes on hand-built inputs: the split-based tasks' bad-input
//! cases (an empty split, too few reference samples, a constant column, a
//! train perturbation missing from train batches) and their recorded counts.

use super::*;
use crate::exec::outputs::IngestOut;
use crate::pipeline::MetricSpec;
use crate::splits::SplitOut;
use arrow::array::{Array, AsArray};
use arrow::datatypes::Float64Type;
use pertbench_data::dataset::DataContext;
use pertbench_data::fetch::FetchOptions;
use pertbench_data::samples::Samples;
use pertbench_kernels::sparse::csr::CsrMatrix;

/// An ingested dataset of `samples` (all kept, counts as raw counts), with
/// counts of genes A, B, C when given.
fn ingest_of(samples: Samples, counts: Option<CsrMatrix>) -> IngestOut {
    let n = samples.len();
    let genes: Vec<String> = if counts.is_some() {
        vec!["A".into(), "B".into(), "C".into()]
    } else {
        vec![]
    };
    IngestOut {
        samples,
        source_rows: (0..n).collect(),
        n_file_rows: n,
        counts,
        expression_mean: vec![1.0; genes.len()],
        genes,
        values: pertbench_data::manifest::Values::Counts,
        streamed_counts: None,
        dropped: Default::default(),
    }
}

/// Two batches; b0 train with controls and perturbations A, B; b1 test.
fn fixture() -> (IngestOut, Matrix) {
    let mut s = Samples::default();
    let rows = [
        ("NT", "b0", true),
        ("NT", "b0", true),
        ("A", "b0", false),
        ("A", "b0", false),
        ("B", "b0", false),
        ("B", "b0", false),
        ("NT", "b1", true),
        ("A", "b1", false),
        ("B", "b1", false),
        ("C", "b1", false),
        ("C", "b1", false),
    ];
    for (i, (p, b, c)) in rows.iter().enumerate() {
        s.sample_id.push(format!("s{i}"));
        s.perturbation.push(p.to_string());
        s.batch.push(b.to_string());
        s.is_control.push(*c);
    }
    let n = rows.len();
    // Perturbation A high on column 0, B on column 1, C on column 2; column 3 constant.
    let m = Matrix::from_shape_fn((n, 4), |(i, j)| {
        let p = rows[i].0;
        let on = matches!((p, j), ("A", 0) | ("B", 1) | ("C", 2));
        if j == 3 {
            7.0
        } else {
            f32::from(u8::from(on)) * 5.0 + ((i % 2) as f32) * 0.01
        }
    });
    // Counts: gene j follows column j.
    let mut indptr = vec![0u64];
    let (mut idx, mut val) = (vec![], vec![]);
    for i in 0..n {
        for j in 0..3 {
            idx.push(j as u32);
            val.push(1.0 + m[(i, j)]);
        }
        indptr.push(val.len() as u64);
    }
    let counts = CsrMatrix::new(n, 3, indptr, idx, val).unwrap();
    let ingest = ingest_of(s, Some(counts));
    (ingest, m)
}

fn split() -> SplitOut {
    SplitOut {
        train: vec![0, 1, 2, 3, 4, 5],
        test_seen: vec![6, 7, 8],
        test_unseen: vec![6, 9, 10],
        unseen_train_perturbations: Default::default(),
    }
}

pub(super) fn data() -> DataContext {
    DataContext {
        manifest_dirs: vec![],
        fetch: FetchOptions {
            mirrors: vec![],
            data_dir: std::env::temp_dir(),
            allow_network: false,
            allow_unpinned: false,
        },
    }
}

fn spec(yaml: &str) -> MetricSpec {
    serde_yaml_ng::from_str(yaml).unwrap()
}

fn run(yaml: &str, sp: &SplitOut) -> Result<MetricOutput> {
    let (ingest, m) = fixture();
    let rows: Vec<usize> = (0..m.nrows()).collect();
    let data = data();
    let s = spec(yaml);
    let ctx = MetricContext {
        ingest: &ingest,
        matrix: &m,
        rows: &rows,
        seed: 0,
        data: &data,
        split: Some(sp),
        unprocessed: None,
        par: pertbench_kernels::Par::rayon(0),
        work: &pertbench_kernels::runtime::work::Work::new(),
    };
    documented(s.kind(), s.options.compute(&s.label(), &ctx))
}

/// Every row a metric writes has a variant its explanation documents
/// (`pertbench explain`), checked on every metric run of these tests.
fn documented(kind: MetricKind, out: Result<MetricOutput>) -> Result<MetricOutput> {
    if let Ok(o) = &out {
        for r in &o.rows {
            assert!(
                super::documents_variant(kind, &r.variant),
                "`{}` writes variant `{}`, which its explanation does not list",
                kind.name(),
                r.variant
            );
        }
    }
    out
}

fn value(out: &MetricOutput, variant: &str) -> f64 {
    out.rows
        .iter()
        .find(|r| r.variant == variant)
        .unwrap()
        .value
        .unwrap()
}

#[test]
fn knn_and_probes_classify_the_separable_fixture() {
    let sp = split();
    // Queries: A and B (the test control is not scored by default; with
    // `control_queries: include` it is). Reference: 2 controls, 2 A, 2 B;
    // k = 3 (odd floor sqrt 6 = 2 -> 3).
    let knn = run("{kind: knn, min_queries: 1}", &sp).unwrap();
    assert_eq!(value(&knn, "top1"), 1.0);
    assert!(knn.rows[0]
        .convention
        .contains("k=3 (odd floor sqrt n_reference)"));
    assert!(
        knn.rows[0]
            .convention
            .contains("queries=test_seen perturbed (2; 1 controls not scored)"),
        "{}",
        knn.rows[0].convention
    );
    assert_eq!(knn.rows[0].n_items, 2);
    let with_controls = run("{kind: knn, min_queries: 1, control_queries: include}", &sp).unwrap();
    assert_eq!(with_controls.rows[0].n_items, 3);
    // Every query is right, so every resample is too: a zero-width interval.
    assert_eq!(
        (knn.rows[0].ci_low, knn.rows[0].ci_high),
        (Some(1.0), Some(1.0))
    );
    for probe in [
        "{kind: linear_probe}",
        "{kind: linear_probe, optimiser: adam, epochs: 200, batch_size: 4}",
        "{kind: linear_probe, solver: ridge}",
    ] {
        let out = run(probe, &sp).unwrap();
        assert_eq!(value(&out, "top1"), 1.0, "{probe}");
        // Two classes: top-5 always holds the truth.
        assert_eq!(value(&out, "top5"), 1.0, "{probe}");
        // The constant column is counted.
        assert!(
            out.rows[0].convention.contains("constant_columns=1"),
            "{}",
            out.rows[0].convention
        );
        assert_eq!(out.rows[0].n_items, 2);
        assert_eq!(
            (out.rows[0].ci_low, out.rows[0].ci_high),
            (Some(1.0), Some(1.0))
        );
    }
}

#[test]
fn knn_gives_no_value_when_only_controls_are_queries() {
    // Each perturbation in one batch: test_seen holds the test batch's
    // control alone. Scoring it read top1 1.0 (knn version 2).
    let sp = SplitOut {
        test_seen: vec![6],
        ..split()
    };
    let out = run("{kind: knn}", &sp).unwrap();
    for r in &out.rows {
        assert_eq!((r.value, r.n_items), (None, 0), "{r:?}");
        assert!(
            r.convention
                .contains("no value: 0 scored queries, fewer than min_queries=10")
                && r.convention.contains("1 of them controls"),
            "{}",
            r.convention
        );
    }
    let old = run("{kind: knn, control_queries: include, min_queries: 1}", &sp).unwrap();
    assert_eq!((value(&old, "top1"), old.rows[0].n_items), (1.0, 1));
}

#[test]
fn ilisi_intervals_resample_perturbations() {
    let sp = split();
    let out = run("{kind: ilisi, perplexity: 1, on: all}", &sp).unwrap();
    for v in ["ilisi_mean", "ilisi_median", "ilisi_scaled"] {
        let r = row(&out, v);
        let (lo, hi) = (r.ci_low.unwrap(), r.ci_high.unwrap());
        assert!(lo <= hi && lo >= 0.0 && hi <= 2.0 + 1e-12, "{r:?}");
    }
    // Scaled is (median - 1) / (2 batches - 1): its value and its interval
    // are the median's, shifted, and the interval holds the value.
    let (m, sc) = (row(&out, "ilisi_median"), row(&out, "ilisi_scaled"));
    assert!((sc.value.unwrap() - (m.value.unwrap() - 1.0)).abs() < 1e-12);
    assert!((sc.ci_low.unwrap() - (m.ci_low.unwrap() - 1.0)).abs() < 1e-12);
    assert!((sc.ci_high.unwrap() - (m.ci_high.unwrap() - 1.0)).abs() < 1e-12);
    assert!(sc.ci_low.unwrap() <= sc.value.unwrap() && sc.value.unwrap() <= sc.ci_high.unwrap());
    // Not seeded (`on: all`, no sampling): the interval does not depend on the seed.
    assert!(!spec("{kind: ilisi, on: all}").options.seeded());
}

#[test]
fn too_few_reference_samples_is_a_clear_error() {
    let e = run("{kind: knn, k: 50, min_queries: 1}", &split())
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("metric `knn`")
            && e.contains("k = 50 neighbours requested but only 6 reference samples"),
        "{e}"
    );
}

#[test]
fn an_empty_split_is_a_clear_error() {
    let mut sp = split();
    // The test batch holds only its control: no non-control query.
    sp.test_seen = vec![6];
    let e = run("{kind: linear_probe}", &sp).err().unwrap().to_string();
    assert!(
        e.contains("the `test_seen` split (non-controls) is empty"),
        "{e}"
    );
    sp.test_unseen.clear();
    let e = run("{kind: interpretability}", &sp)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("the `test_unseen` split is empty"), "{e}");
}

#[test]
fn train_perturbations_missing_from_train_are_counted() {
    let mut sp = split();
    sp.unseen_train_perturbations.insert("D".into(), 4);
    let out = run("{kind: linear_probe, solver: ridge}", &sp).unwrap();
    assert!(
        out.rows[0]
            .convention
            .contains("excluded_test_samples_of_train_perturbations_absent_from_train=4"),
        "{}",
        out.rows[0].convention
    );
}

#[test]
fn interpretability_records_its_conventions() {
    let out = run("{kind: interpretability, ridge_lambda: 0.001}", &split()).unwrap();
    let c = &out.rows[0].convention;
    assert!(
        c.contains("genes_scored=3") && c.contains("si_batches=1"),
        "{c}"
    );
    // C is unseen in train: only the ranges are known here (the values are
    // checked by hand in the kernels' decoder tests).
    let rho = value(&out, "spearman");
    assert!((-1.0..=1.0).contains(&rho), "{rho}");
    assert!(value(&out, "mse") >= 0.0 && value(&out, "structural_integrity") <= 1.0);
    assert_eq!(out.rows.len(), 6);
    assert_eq!(out.rows[0].n_items, 3);
    // Intervals over genes bracket the per-gene averages; SI has none.
    for v in ["spearman", "pearson", "mse", "mae", "r2"] {
        let r = row(&out, v);
        assert!(
            r.ci_low.unwrap() <= r.value.unwrap() + 1e-12
                && r.value.unwrap() <= r.ci_high.unwrap() + 1e-12,
            "{r:?}"
        );
    }
    let si = row(&out, "structural_integrity");
    assert!(
        si.ci_low.unwrap() <= si.ci_high.unwrap() && si.ci_high.unwrap() <= 1.0,
        "{si:?}"
    );
}

#[test]
fn ilisi_needs_two_batches_for_its_scaled_value() {
    let out = run("{kind: ilisi, on: train, perplexity: 1}", &split()).unwrap();
    // train holds one batch: LISI is 1 everywhere, scaled undefined.
    assert_eq!(value(&out, "ilisi_mean"), 1.0);
    let scaled = out
        .rows
        .iter()
        .find(|r| r.variant == "ilisi_scaled")
        .unwrap();
    assert_eq!(scaled.value, None);
    assert!(scaled.convention.contains("one batch"));
    let all = run("{kind: ilisi, on: all, perplexity: 1}", &split()).unwrap();
    assert!(value(&all, "ilisi_mean") >= 1.0);
    assert!(all.rows[0].convention.contains("batches=2"));
}

#[test]
fn structural_integrity_names_the_batch_it_leaves_out() {
    // b1 rows come first; b0 enters the test set with a perturbed row and no
    // control, so b0 (not b1) is left out of Structural Integrity.
    let mut sp = split();
    sp.test_unseen = vec![6, 9, 10, 2];
    let out = run("{kind: interpretability}", &sp).unwrap();
    let c = &out.rows[0].convention;
    assert!(
        c.contains("si_excluded_batches=b0 (no controls in the test set)"),
        "{c}"
    );
}

fn run_ingest(yaml: &str, ingest: &IngestOut, m: &Matrix) -> Result<MetricOutput> {
    let rows: Vec<usize> = (0..m.nrows()).collect();
    let data = data();
    let s = spec(yaml);
    let ctx = MetricContext {
        ingest,
        matrix: m,
        rows: &rows,
        seed: 3,
        data: &data,
        split: None,
        unprocessed: None,
        par: pertbench_kernels::Par::rayon(0),
        work: &pertbench_kernels::runtime::work::Work::new(),
    };
    documented(s.kind(), s.options.compute(&s.label(), &ctx))
}

#[test]
fn distribution_against_all_controls_by_hand() {
    let (ingest, m) = fixture();
    // `squared` energy is 2 ||mean(X) - mean(controls)||^2 (METRICS.md).
    let mean = |rows: &[usize]| -> Vec<f64> {
        (0..m.ncols())
            .map(|j| rows.iter().map(|&i| m[(i, j)] as f64).sum::<f64>() / rows.len() as f64)
            .collect()
    };
    let ctrl = mean(&[0, 1, 6]);
    let want: Vec<f64> = [&[2usize, 3, 7][..], &[4, 5, 8], &[9, 10]]
        .iter()
        .map(|rows| {
            2.0 * mean(rows)
                .iter()
                .zip(&ctrl)
                .map(|(a, b)| (a - b) * (a - b))
                .sum::<f64>()
        })
        .collect();
    let out = run_ingest(
        "{kind: distribution, energy: squared, mmd: false, n_permutations: 20}",
        &ingest,
        &m,
    )
    .unwrap();
    let mean_energy = out
        .rows
        .iter()
        .find(|r| r.variant == "mean_energy")
        .unwrap();
    let avg = want.iter().sum::<f64>() / 3.0;
    assert!(
        (mean_energy.value.unwrap() - avg).abs() < 1e-9,
        "{mean_energy:?} vs {avg}"
    );
    let (lo, hi) = (mean_energy.ci_low.unwrap(), mean_energy.ci_high.unwrap());
    assert!(
        lo <= avg && avg <= hi && lo >= want.iter().cloned().fold(f64::MAX, f64::min) - 1e-9,
        "{lo} {hi}"
    );
    assert_eq!(mean_energy.n_items, 3);
    assert!(
        mean_energy
            .convention
            .contains("energy=squared;mmd=off;controls=all"),
        "{}",
        mean_energy.convention
    );
    assert!(!out.rows.iter().any(|r| r.variant.contains("mmd")));
    // Details: one row per perturbation, p and BH q in [1/21, 1], q >= p.
    let d = out.details.as_ref().unwrap();
    assert_eq!(d.num_rows(), 3);
    let col = |n: &str| {
        d.column_by_name(n)
            .unwrap()
            .as_primitive::<Float64Type>()
            .clone()
    };
    let (energy, p, q) = (col("energy"), col("p_energy"), col("q_energy"));
    for i in 0..3 {
        assert!((energy.value(i) - want[i]).abs() < 1e-9);
        assert!(p.value(i) >= 1.0 / 21.0 && q.value(i) >= p.value(i) - 1e-15 && q.value(i) <= 1.0);
    }
}

#[test]
fn distribution_per_context_counts_what_it_skips() {
    let (mut ingest, m) = fixture();
    // b0 is cell line K562 (2 controls, A x2, B x2); b1 is HeLa (1 control).
    ingest.samples.context = Some(
        ingest
            .samples
            .batch
            .iter()
            .map(|b| {
                if b == "b0" {
                    "K562".into()
                } else {
                    "HeLa".into()
                }
            })
            .collect(),
    );
    let out = run_ingest(
        "{kind: distribution, n_permutations: 50, max_tested: 1}",
        &ingest,
        &m,
    )
    .unwrap();
    let r = out.rows.iter().find(|r| r.variant == "mean_mmd2").unwrap();
    assert_eq!(r.n_items, 2, "A and B in K562");
    // A and B in HeLa have 1 sample; C in HeLa has no pool of 2 controls.
    assert!(
        r.convention.contains("controls=context")
            && r.convention
                .contains("units_too_small=2;units_without_controls=1"),
        "{}",
        r.convention
    );
    assert!(r.convention.contains("tested=1;"), "{}", r.convention);
    let f = out
        .rows
        .iter()
        .find(|r| r.variant == "fraction_significant_mmd2")
        .unwrap();
    assert_eq!(f.n_items, 1);
    let d = out.details.as_ref().unwrap();
    let ctx = d.column_by_name("context").unwrap().as_string::<i32>();
    assert_eq!((ctx.value(0), ctx.value(1)), ("K562", "K562"));
    let p = d.column_by_name("p_energy").unwrap();
    assert_eq!(p.null_count(), 1, "one of two units is tested");
    // Every sample its own context: nothing to compare, a clear error.
    ingest.samples.context = Some(ingest.samples.sample_id.clone());
    let e = run_ingest("{kind: distribution}", &ingest, &m)
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("metric `distribution`: no perturbation has 2 or more samples")
            && e.contains("8 with fewer than 2 samples"),
        "{e}"
    );
}

/// Two contexts, two controls and three perturbations of two samples each.
/// Sample values are the control mean of the context plus a hand-chosen
/// offset, so every shift and cosine is known (see the transfer test).
fn transfer_fixture() -> (IngestOut, Matrix) {
    let c1_controls = [[0.0, 0.0, 1.0], [0.0, 0.0, -1.0]]; // mean 0
    let c2_controls = [[1.0, 0.0, 0.0], [1.0, 0.0, 0.0]]; // mean (1, 0, 0)
    let offsets: [(&str, &str, [[f32; 3]; 2]); 6] = [
        ("A", "c1", [[1.0, 1.0, 0.0], [1.0, -1.0, 0.0]]),
        ("B", "c1", [[0.0, 2.0, 0.0], [0.0, 2.0, 0.0]]),
        ("C", "c1", [[1.0, 1.0, 0.0], [1.0, 1.0, 0.0]]),
        ("A", "c2", [[2.0, 0.0, 0.0], [2.0, 0.0, 0.0]]),
        ("B", "c2", [[0.0, 1.0, 1.0], [0.0, 1.0, -1.0]]),
        ("C", "c2", [[0.0, 0.0, 3.0], [0.0, 0.0, 3.0]]),
    ];
    let mut s = Samples::default();
    let mut values: Vec<[f32; 3]> = Vec::new();
    let mut context = Vec::new();
    let mut push = |s: &mut Samples, p: &str, c: &str, v: [f32; 3], control: bool| {
        s.sample_id.push(format!("s{}", s.sample_id.len()));
        s.perturbation.push(p.into());
        s.batch.push(c.into());
        s.is_control.push(control);
        context.push(c.to_string());
        values.push(v);
    };
    for v in c1_controls {
        push(&mut s, "NT", "c1", v, true);
    }
    for v in c2_controls {
        push(&mut s, "NT", "c2", v, true);
    }
    for (p, c, vs) in offsets {
        let base = if c == "c1" {
            [0.0, 0.0, 0.0]
        } else {
            [1.0, 0.0, 0.0]
        };
        for v in vs {
            push(
                &mut s,
                p,
                c,
                [v[0] + base[0], v[1] + base[1], v[2] + base[2]],
                false,
            );
        }
    }
    s.context = Some(context);
    let n = values.len();
    let m = Matrix::from_shape_fn((n, 3), |(i, j)| values[i][j]);
    // Counts of genes A, B, C with variation among the controls, so the
    // target genes have PCA loadings.
    let mut indptr = vec![0u64];
    let (mut idx, mut val) = (vec![], vec![]);
    for i in 0..n {
        for j in 0..3 {
            idx.push(j as u32);
            val.push(1.0 + ((i * (j + 2)) % 5) as f32);
        }
        indptr.push(val.len() as u64);
    }
    let ingest = ingest_of(s, Some(CsrMatrix::new(n, 3, indptr, idx, val).unwrap()));
    (ingest, m)
}

fn row<'a>(out: &'a MetricOutput, variant: &str) -> &'a MetricRow {
    out.rows
        .iter()
        .find(|r| r.variant == variant)
        .unwrap_or_else(|| panic!("no row {variant}: {:?}", out.rows))
}

#[test]
fn transfer_probes_by_hand() {
    let (ingest, m) = transfer_fixture();
    let out = run_ingest("{kind: transfer, n_permutations: 200}", &ingest, &m).unwrap();
    // In-domain: A/c1 halves (1,1,0) and (1,-1,0) are orthogonal, B/c2
    // halves (0,1,1) and (0,1,-1) too; the other four units have equal halves.
    let in_domain = row(&out, "in_domain");
    assert!(
        (in_domain.value.unwrap() - 4.0 / 6.0).abs() < 1e-12,
        "{in_domain:?}"
    );
    assert_eq!(in_domain.n_items, 6);
    // LOPO mean shift, c1: A (1,0,0) from (0.5,1.5,0); B (0,2,0) from
    // (1,0.5,0); C (1,1,0) from (0.5,1,0). In c2 every prediction is
    // orthogonal to its shift.
    let s = |x: f64| x.sqrt();
    let lopo = (0.5 / s(2.5) + 0.5 / s(1.25) + 1.5 / (s(1.25) * s(2.0))) / 6.0;
    let r = row(&out, "lopo_mean_shift");
    assert!((r.value.unwrap() - lopo).abs() < 1e-12, "{r:?} vs {lopo}");
    // LOCO: A and B point the same way in both contexts, C does not.
    assert!((row(&out, "loco").value.unwrap() - 4.0 / 6.0).abs() < 1e-12);
    let drop = row(&out, "drop_lopo_mean_shift");
    assert!((drop.value.unwrap() - (4.0 / 6.0 - lopo)).abs() < 1e-12);
    assert!(row(&out, "drop_loco").value.unwrap().abs() < 1e-12);
    // Nulls: a mean and a p-value in [1/201, 1]; intervals bracket the value.
    for v in ["in_domain", "lopo_mean_shift", "loco"] {
        let r = row(&out, v);
        let p = r.p_value.unwrap();
        assert!(
            (1.0 / 201.0..=1.0).contains(&p) && r.null_mean.unwrap().is_finite(),
            "{r:?}"
        );
        assert!(
            r.ci_low.unwrap() <= r.value.unwrap() && r.value.unwrap() <= r.ci_high.unwrap(),
            "{r:?}"
        );
        let f = row(&out, &format!("fraction_significant_{v}"))
            .value
            .unwrap();
        assert!((0.0..=1.0).contains(&f));
    }
    assert!(
        in_domain
            .convention
            .contains("null=label_shuffle_within_context;n_permutations=200"),
        "{}",
        in_domain.convention
    );
    // Details: one row per unit and probe, with p and q.
    let d = out.details.as_ref().unwrap();
    assert_eq!(d.num_rows(), 18);
    // Same seed, same numbers.
    let again = run_ingest("{kind: transfer, n_permutations: 200}", &ingest, &m).unwrap();
    assert_eq!(out.rows, again.rows);
}

#[test]
fn transfer_ridge_from_target_gene_loadings() {
    let (ingest, m) = transfer_fixture();
    let out = run_ingest(
        "{kind: transfer, features: target_gene_loadings, n_features: 2, n_permutations: 50}",
        &ingest,
        &m,
    )
    .unwrap();
    let r = row(&out, "lopo_ridge");
    assert_eq!(r.n_items, 6);
    assert!(r.value.unwrap().abs() <= 1.0 && r.p_value.is_some());
    assert!(
        r.convention.contains(
            "features=target_gene_loadings;n_features=2;ridge_lambda=1;units_without_features=0"
        ),
        "{}",
        r.convention
    );
    // A very strong penalty reduces the ridge to the mean-shift baseline.
    let strong = run_ingest(
        "{kind: transfer, features: target_gene_loadings, ridge_lambda: 1.0e12, n_permutations: 0}",
        &ingest,
        &m,
    )
    .unwrap();
    let (a, b) = (
        row(&strong, "lopo_ridge").value.unwrap(),
        row(&strong, "lopo_mean_shift").value.unwrap(),
    );
    assert!((a - b).abs() < 1e-6, "{a} vs {b}");
    assert!(
        row(&strong, "lopo_ridge").p_value.is_none(),
        "no draws, no null"
    );
}

#[test]
fn transfer_bad_input_is_named() {
    let (mut ingest, m) = transfer_fixture();
    let e = crate::pipeline::Pipeline::from_str(
        std::path::Path::new("p.yaml"),
        "name: t\ndatasets: [d]\nrepresentations: [{name: r, kind: random}]\nmetrics: [{kind: transfer, probes: [lopo_ridge]}]\n",
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("probe `lopo_ridge` and `features` go together"),
        "{e}"
    );
    ingest.samples.context = None;
    let e = run_ingest("{kind: transfer, probes: [loco]}", &ingest, &m)
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("probe `loco` needs samples with contexts"),
        "{e}"
    );
    // Without contexts the units are the perturbations against all controls.
    let out = run_ingest("{kind: transfer, n_permutations: 10}", &ingest, &m).unwrap();
    assert_eq!(row(&out, "in_domain").n_items, 3);
    assert!(!out.rows.iter().any(|r| r.variant == "loco"));
}

#[test]
fn transfer_null_is_calibrated_on_noise_and_detects_signal() {
    // 24 perturbations x 8 samples x 2 contexts in 6 dims; with `signal`,
    // each perturbation has its own direction, shared across contexts.
    let build = |signal: f32| {
        use rand::Rng;
        let mut rng = pertbench_kernels::stats::rng::stream(11, "transfer-test", 0);
        let mut s = Samples::default();
        let mut rows: Vec<Vec<f32>> = Vec::new();
        let dirs: Vec<Vec<f32>> = (0..24)
            .map(|_| (0..6).map(|_| rng.random_range(-1.0..1.0)).collect())
            .collect();
        let mut context = Vec::new();
        for c in ["c1", "c2"] {
            for p in 0..25 {
                for _ in 0..8 {
                    let control = p == 24;
                    s.sample_id.push(format!("s{}", s.sample_id.len()));
                    s.perturbation.push(if control {
                        "NT".into()
                    } else {
                        format!("P{p}")
                    });
                    s.batch.push(c.into());
                    s.is_control.push(control);
                    context.push(c.to_string());
                    rows.push(
                        (0..6)
                            .map(|j| {
                                rng.random_range(-1.0f32..1.0)
                                    + if control { 0.0 } else { signal * dirs[p][j] }
                            })
                            .collect(),
                    );
                }
            }
        }
        s.context = Some(context);
        let n = rows.len();
        let m = Matrix::from_shape_fn((n, 6), |(i, j)| rows[i][j]);
        let ingest = ingest_of(s, None);
        (ingest, m)
    };
    let (ingest, m) = build(0.0);
    let out = run_ingest("{kind: transfer, n_permutations: 200}", &ingest, &m).unwrap();
    for v in ["in_domain", "loco"] {
        let r = row(&out, v);
        assert!(
            r.p_value.unwrap() > 0.05,
            "noise must not look significant: {r:?}"
        );
        assert!(
            row(&out, &format!("fraction_significant_{v}"))
                .value
                .unwrap()
                < 0.1
        );
    }
    let (ingest, m) = build(1.5);
    let out = run_ingest("{kind: transfer, n_permutations: 200}", &ingest, &m).unwrap();
    for v in ["in_domain", "loco"] {
        let r = row(&out, v);
        assert!(
            r.p_value.unwrap() < 0.01 && r.value.unwrap() > r.null_mean.unwrap() + 0.3,
            "{r:?}"
        );
        assert!(
            row(&out, &format!("fraction_significant_{v}"))
                .value
                .unwrap()
                > 0.5
        );
    }
    // Directions are independent across perturbations: leaving one out
    // predicts nothing, so in-domain minus LOPO is large.
    assert!(row(&out, "drop_lopo_mean_shift").value.unwrap() > 0.5);
}

#[test]
fn consistency_reports_bh_intervals_and_a_label_shuffle_null() {
    let (ingest, m) = fixture();
    let out = run_ingest(
        "{kind: consistency, null: permutation, n_permutations: 100}",
        &ingest,
        &m,
    )
    .unwrap();
    let mean = row(&out, "mean_avgsim");
    // A, B and C each sit on their own axis: consistent beyond shuffled labels.
    // (The constant column 3 lifts every cosine, the null mean too.)
    assert!(
        mean.value.unwrap() > mean.null_mean.unwrap() + 0.2,
        "{mean:?}"
    );
    assert!(
        (1.0 / 101.0..=0.05).contains(&mean.p_value.unwrap()),
        "{mean:?}"
    );
    assert!(
        mean.ci_low.unwrap() <= mean.value.unwrap() && mean.value.unwrap() <= mean.ci_high.unwrap()
    );
    let (f, fb) = (
        row(&out, "fraction_significant"),
        row(&out, "fraction_significant_bh"),
    );
    assert!(fb.value.unwrap() <= f.value.unwrap());
    // Under shuffled labels about alpha of the perturbations reach p <= alpha.
    assert!(f.null_mean.unwrap() < 0.2, "{f:?}");
    let d = out.details.as_ref().unwrap();
    let col = |n: &str| {
        d.column_by_name(n)
            .unwrap()
            .as_primitive::<Float64Type>()
            .clone()
    };
    let (p, q) = (col("pvalue"), col("qvalue"));
    for i in 0..d.num_rows() {
        assert!(q.value(i) >= p.value(i) - 1e-15 && q.value(i) <= 1.0);
    }
}

fn source_row<'a>(out: &'a MetricOutput, source: &str, variant: &str) -> &'a MetricRow {
    out.rows
        .iter()
        .find(|r| r.source.as_deref() == Some(source) && r.variant == variant)
        .unwrap_or_else(|| panic!("no row {source}/{variant}"))
}

#[test]
fn prediction_baselines_by_hand() {
    let (ingest, m) = transfer_fixture();
    let out = run_ingest("{kind: prediction}", &ingest, &m).unwrap();
    // control: a zero shift. Squared norms of the real shifts are 1, 4, 2 in
    // c1 (A, B, C) and 4, 1, 9 in c2, so the strict ranks are 0, 2, 1 and
    // 1, 0, 2 out of N = 3.
    let r = source_row(&out, "control", "discrimination_score");
    assert!((r.value.unwrap() - 4.0 / 6.0).abs() < 1e-12, "{r:?}");
    assert!(
        (source_row(&out, "control", "top1_identified")
            .value
            .unwrap()
            - 2.0 / 6.0)
            .abs()
            < 1e-12
    );
    // MSE = mean over 3 dims of the squared shift: (1+4+2+4+1+9)/3 / 6 units.
    assert!((source_row(&out, "control", "mse").value.unwrap() - 7.0 / 6.0).abs() < 1e-12);
    let p = source_row(&out, "control", "pearson_delta");
    assert!(
        p.value.is_none() && p.convention.contains("constant"),
        "{p:?}"
    );
    assert!(source_row(&out, "control", "energy_to_real")
        .value
        .unwrap()
        .is_finite());
    // mean: one answer for every perturbation of a context, so the ranks are
    // 0..N-1 once each: score (N+1)/(2N) = 2/3 and top1 = 1/N (paper 001's
    // collapse of discrimination).
    assert!(
        (source_row(&out, "mean", "discrimination_score")
            .value
            .unwrap()
            - 2.0 / 3.0)
            .abs()
            < 1e-12
    );
    assert!((source_row(&out, "mean", "top1_identified").value.unwrap() - 1.0 / 3.0).abs() < 1e-12);
    // c1: the mean shift (2/3, 1, 0) against C's (1, 1, 0).
    let details = out.details.as_ref().unwrap();
    assert_eq!(details.num_rows(), 12);
    let mean_c = (0..12)
        .find(|&i| {
            details
                .column_by_name("predictor")
                .unwrap()
                .as_string::<i32>()
                .value(i)
                == "mean"
                && details
                    .column_by_name("perturbation")
                    .unwrap()
                    .as_string::<i32>()
                    .value(i)
                    == "C"
                && details
                    .column_by_name("context")
                    .unwrap()
                    .as_string::<i32>()
                    .value(i)
                    == "c1"
        })
        .unwrap();
    let mse = details
        .column_by_name("mse")
        .unwrap()
        .as_primitive::<Float64Type>()
        .value(mean_c);
    assert!((mse - (1.0 / 9.0) / 3.0).abs() < 1e-12, "{mse}");
    let pearson = details
        .column_by_name("pearson_delta")
        .unwrap()
        .as_primitive::<Float64Type>()
        .value(mean_c);
    let want = pertbench_kernels::tasks::decoder::pearson(&[2.0 / 3.0, 1.0, 0.0], &[1.0, 1.0, 0.0])
        .unwrap();
    assert!((pearson - want).abs() < 1e-12);
    // Lower is better for the errors.
    assert!(!higher_is_better("mse") && !higher_is_better("energy_to_real"));
    // linear, from the target genes' loadings, is scored on every unit.
    let out = run_ingest(
        "{kind: prediction, features: target_gene_loadings, n_features: 2}",
        &ingest,
        &m,
    )
    .unwrap();
    assert_eq!(source_row(&out, "linear", "mse").n_items, 6);
}

#[test]
fn prediction_files_are_checked_and_scored() {
    use pertbench_data::predictions::{write_predictions_parquet, PredictedSamples};
    let (ingest, m) = transfer_fixture();
    let dir = tempfile::tempdir().unwrap();
    // An oracle: the real treated samples' expression, as the file's values.
    let counts = ingest.counts.as_ref().unwrap();
    let treated: Vec<usize> = (0..ingest.samples.len())
        .filter(|&i| !ingest.samples.is_control[i])
        .collect();
    let lognorm = IngestOut::expression_rows(counts, ingest.values, &treated);
    let mut values = Matrix::zeros((treated.len(), 3));
    for i in 0..treated.len() {
        for (j, v) in lognorm.row(i) {
            values[(i, j)] = v;
        }
    }
    let oracle = PredictedSamples {
        perturbation: treated
            .iter()
            .map(|&i| ingest.samples.perturbation[i].clone())
            .collect(),
        context: Some(
            treated
                .iter()
                .map(|&i| ingest.samples.context.as_ref().unwrap()[i].clone())
                .collect(),
        ),
        genes: vec!["A".into(), "B".into(), "C".into()],
        values,
    };
    let path = dir.path().join("oracle.parquet");
    write_predictions_parquet(&path, &oracle, "gene").unwrap();
    let yaml = |p: &std::path::Path, extra: &str| {
        format!("{{kind: prediction, space: expression, predictors: [mean], predictions: [{{name: oracle, path: '{}', perturbation_column: gene, context_column: context}}]{extra}}}", p.display())
    };
    let out = run_ingest(&yaml(&path, ""), &ingest, &m).unwrap();
    let r = source_row(&out, "oracle", "mse");
    assert!(
        r.value.unwrap() < 1e-10 && r.convention.contains("space=expression;genes=3"),
        "{r:?}"
    );
    assert_eq!(
        source_row(&out, "oracle", "top1_identified").value.unwrap(),
        1.0
    );
    assert!((source_row(&out, "oracle", "pearson_delta").value.unwrap() - 1.0).abs() < 1e-6);
    assert!((source_row(&out, "mean", "top1_identified").value.unwrap() - 1.0 / 3.0).abs() < 1e-12);
    // A perturbation the real data does not have.
    let mut extra = oracle.clone_with(|p| p.perturbation[0] = "Z".into());
    let bad = dir.path().join("extra.parquet");
    write_predictions_parquet(&bad, &extra, "gene").unwrap();
    let e = run_ingest(&yaml(&bad, ""), &ingest, &m)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("predictions `oracle`: 1 perturbation(s) not among the real data's evaluated perturbations: `Z`"), "{e}");
    // A real unit without predictions.
    extra = oracle.clone_with(|p| {
        for v in p.perturbation.iter_mut() {
            if v == "C" {
                *v = "B".into();
            }
        }
    });
    write_predictions_parquet(&bad, &extra, "gene").unwrap();
    let e = run_ingest(&yaml(&bad, ""), &ingest, &m)
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("has no samples for 2 real unit(s): `C in c1`, `C in c2`"),
        "{e}"
    );
    // A gene the dataset lacks.
    extra = oracle.clone_with(|p| p.genes[2] = "NOTAGENE".into());
    write_predictions_parquet(&bad, &extra, "gene").unwrap();
    let e = run_ingest(&yaml(&bad, ""), &ingest, &m)
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("1 of its 3 genes are not genes of the dataset: `NOTAGENE`"),
        "{e}"
    );
    // A missing perturbation column.
    let e = run_ingest(
        &yaml(&path, "").replace("perturbation_column: gene", "perturbation_column: guide"),
        &ingest,
        &m,
    )
    .err()
    .unwrap()
    .to_string();
    assert!(e.contains("oracle.parquet: no column `guide`"), "{e}");
    // Files hold genes: representation space is refused when the pipeline loads.
    let e = crate::pipeline::Pipeline::from_str(
        std::path::Path::new("p.yaml"),
        &format!(
            "name: t\ndatasets: [d]\nrepresentations: [{{name: r, kind: random}}]\nmetrics: [{}]\n",
            yaml(&path, "").replace("space: expression, ", "")
        ),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("`predictions` files hold genes: they need `space: expression`"),
        "{e}"
    );
}

/// Contexts as entities: `per_context` rows of (context, perturbation, x, y).
fn entity_fixture(rows: &[(String, String, f32, f32)]) -> (IngestOut, Matrix) {
    let mut s = Samples::default();
    for (i, (_, p, _, _)) in rows.iter().enumerate() {
        s.sample_id.push(format!("s{i}"));
        s.perturbation.push(p.clone());
        s.batch.push("b".into());
        s.is_control.push(p == "NT");
    }
    s.context = Some(rows.iter().map(|r| r.0.clone()).collect());
    let n = rows.len();
    let m = Matrix::from_shape_fn((n, 2), |(i, j)| if j == 0 { rows[i].2 } else { rows[i].3 });
    let ingest = ingest_of(s, None);
    (ingest, m)
}

#[test]
fn rewiring_by_hand() {
    // Four contexts at 0, 10, 90 and 100 degrees, two identical controls
    // each (so control-only splits never rewire). P moves context e1 to 85
    // degrees: e1's and e2's nearest neighbours change, e0's and e3's do not.
    let at = |deg: f32| (deg.to_radians().cos(), deg.to_radians().sin());
    let mut rows = Vec::new();
    for (e, deg, moved) in [
        ("e0", 0.0, 0.0),
        ("e1", 10.0, 85.0),
        ("e2", 90.0, 90.0),
        ("e3", 100.0, 100.0),
    ] {
        for _ in 0..2 {
            let (x, y) = at(deg);
            rows.push((e.to_string(), "NT".to_string(), x, y));
        }
        let (x, y) = at(moved);
        rows.push((e.to_string(), "P".to_string(), x, y));
        let (x, y) = at(deg);
        rows.push((e.to_string(), "Q".to_string(), x, y));
    }
    let (ingest, m) = entity_fixture(&rows);
    let out = run_ingest("{kind: rewiring, k: 1, n_permutations: 19}", &ingest, &m).unwrap();
    let mean = row(&out, "mean_rewiring");
    // P: (0 + 1 + 1 + 0) / 4; Q (no change): 0.
    assert!((mean.value.unwrap() - 0.25).abs() < 1e-12, "{mean:?}");
    assert_eq!(mean.null_mean, Some(0.0));
    let d = out.details.as_ref().unwrap();
    let col = |n: &str| {
        d.column_by_name(n)
            .unwrap()
            .as_primitive::<Float64Type>()
            .clone()
    };
    assert_eq!(col("rewiring").values().to_vec(), vec![0.5, 0.0]);
    // P beats all 19 null draws; Q ties all of them.
    assert_eq!(col("pvalue").values().to_vec(), vec![1.0 / 20.0, 1.0]);
    assert!(
        mean.convention.contains("entity=context;entities=4;")
            && mean
                .convention
                .contains(";k=1;similarity=cosine;calibration=split_halves"),
        "{}",
        mean.convention
    );
    // Too few contexts for k, and no contexts at all, are clear errors.
    let e = run_ingest("{kind: rewiring, k: 4}", &ingest, &m)
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("no perturbation reaches k + 1 = 5 contexts"),
        "{e}"
    );
    let (mut ingest, m) = entity_fixture(&rows);
    ingest.samples.context = None;
    let e = run_ingest("{kind: rewiring}", &ingest, &m)
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("rewiring compares neighbourhoods of contexts"),
        "{e}"
    );
}

#[test]
fn rewiring_null_separates_noise_from_a_real_rewiring() {
    use rand::Rng;
    let mut rng = pertbench_kernels::stats::rng::stream(5, "rewiring-test", 0);
    let mut rows = Vec::new();
    let centres: Vec<(f32, f32)> = (0..12)
        .map(|_| (rng.random_range(-3.0..3.0), rng.random_range(-3.0..3.0)))
        .collect();
    let moved: Vec<(f32, f32)> = (0..12)
        .map(|_| (rng.random_range(-3.0..3.0), rng.random_range(-3.0..3.0)))
        .collect();
    for (e, c) in centres.iter().enumerate() {
        let mut push = |p: &str, (x, y): (f32, f32), rng: &mut dyn rand::RngCore| {
            rows.push((
                format!("e{e}"),
                p.to_string(),
                x + rng.random_range(-0.3..0.3),
                y + rng.random_range(-0.3..0.3),
            ));
        };
        for _ in 0..20 {
            push("NT", *c, &mut rng);
        }
        for _ in 0..6 {
            push("SAME", *c, &mut rng);
            push("MOVED", if e % 2 == 0 { moved[e] } else { *c }, &mut rng);
        }
    }
    let (ingest, m) = entity_fixture(&rows);
    let out = run_ingest(
        "{kind: rewiring, k: 3, calibration: size_matched, n_permutations: 99}",
        &ingest,
        &m,
    )
    .unwrap();
    let d = out.details.as_ref().unwrap();
    let names = d
        .column_by_name("condition")
        .unwrap()
        .as_string::<i32>()
        .clone();
    let p = d
        .column_by_name("pvalue")
        .unwrap()
        .as_primitive::<Float64Type>()
        .clone();
    let at = |n: &str| (0..2).find(|&i| names.value(i) == n).unwrap();
    assert!(p.value(at("MOVED")) < 0.05, "{:?}", p);
    assert!(p.value(at("SAME")) > 0.05, "{:?}", p);
    assert!(row(&out, "excess_rewiring").value.unwrap() > 0.0);
}

#[test]
fn rewiring_of_perturbation_neighbourhoods_across_contexts() {
    // Ten perturbations, each with its own direction in r1 and r2; in r3 the
    // directions are dealt out again in a scrambled order, so neighbourhoods
    // change although every context has the same geometry.
    use rand::Rng;
    let mut rng = pertbench_kernels::stats::rng::stream(9, "rewiring-perturbations", 0);
    let dirs: Vec<(f32, f32)> = (0..10)
        .map(|i| {
            let a = i as f32 * 0.6;
            (3.0 * a.cos(), 3.0 * a.sin())
        })
        .collect();
    let mut rows = Vec::new();
    for c in ["r1", "r2", "r3"] {
        for _ in 0..10 {
            rows.push((
                c.to_string(),
                "NT".to_string(),
                rng.random_range(-0.2..0.2),
                rng.random_range(-0.2..0.2),
            ));
        }
        for i in 0..10 {
            let scrambled = [3, 7, 1, 9, 0, 5, 2, 8, 4, 6];
            let (x, y) = if c == "r3" {
                dirs[scrambled[i]]
            } else {
                dirs[i]
            };
            for _ in 0..8 {
                rows.push((
                    c.to_string(),
                    format!("P{i}"),
                    x + rng.random_range(-0.2..0.2),
                    y + rng.random_range(-0.2..0.2),
                ));
            }
        }
    }
    let (ingest, m) = entity_fixture(&rows);
    let out = run_ingest(
        "{kind: rewiring, entity: perturbation, k: 2, n_permutations: 49}",
        &ingest,
        &m,
    )
    .unwrap();
    let d = out.details.as_ref().unwrap();
    let names = d
        .column_by_name("condition")
        .unwrap()
        .as_string::<i32>()
        .clone();
    let w = d
        .column_by_name("rewiring")
        .unwrap()
        .as_primitive::<Float64Type>()
        .clone();
    let p = d
        .column_by_name("pvalue")
        .unwrap()
        .as_primitive::<Float64Type>()
        .clone();
    assert_eq!(
        (names.value(0), names.value(1)),
        ("r2", "r3"),
        "r1 is the reference"
    );
    assert!(
        w.value(0) < 0.2 && p.value(0) > 0.05,
        "r2 keeps r1's neighbourhoods: {w:?} {p:?}"
    );
    assert!(
        w.value(1) > 0.5 && p.value(1) < 0.05,
        "r3 rewires them: {w:?} {p:?}"
    );
    let r = row(&out, "mean_rewiring");
    assert!(
        r.convention
            .contains("entity=perturbation;reference_context=r1;k=2"),
        "{}",
        r.convention
    );
    let e = run_ingest(
        "{kind: rewiring, entity: perturbation, reference_context: r9}",
        &ingest,
        &m,
    )
    .err()
    .unwrap()
    .to_string();
    assert!(e.contains("reference_context `r9` is not a context with 2 or more controls; those are: r1, r2, r3"), "{e}");
}

#[test]
fn ridge_features_from_a_table() {
    let (ingest, m) = transfer_fixture();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("features.csv");
    std::fs::write(
        &path,
        "gene,f1,f2\nA,1.0,0.5\nB,-0.3,2.0\nC,0.7,-1.2\nZ,0,0\n",
    )
    .unwrap();
    let yaml = format!(
        "{{kind: transfer, features: {{path: '{}', id_column: gene}}, n_permutations: 20}}",
        path.display()
    );
    let out = run_ingest(&yaml, &ingest, &m).unwrap();
    let r = row(&out, "lopo_ridge");
    assert_eq!(r.n_items, 6);
    assert!(
        r.convention
            .contains("features.csv;n_features=2;ridge_lambda=1;units_without_features=0"),
        "{}",
        r.convention
    );
    let out = run_ingest(
        &yaml
            .replace("kind: transfer", "kind: prediction")
            .replace(", n_permutations: 20", ""),
        &ingest,
        &m,
    )
    .unwrap();
    assert_eq!(source_row(&out, "linear", "mse").n_items, 6);
    // A perturbation listed twice, a missing id column and a bad value are named.
    std::fs::write(&path, "gene,f1\nA,1\nA,2\nB,3\n").unwrap();
    let e = run_ingest(&yaml, &ingest, &m).err().unwrap().to_string();
    assert!(
        e.contains("features.csv: perturbation `A` has two rows"),
        "{e}"
    );
    std::fs::write(&path, "target,f1\nA,1\n").unwrap();
    let e = run_ingest(&yaml, &ingest, &m).err().unwrap().to_string();
    assert!(e.contains("no column `gene`; it has: target, f1"), "{e}");
    std::fs::write(&path, "gene,f1\nA,1\nB,\nC,2\n").unwrap();
    let e = run_ingest(&yaml, &ingest, &m).err().unwrap().to_string();
    assert!(e.contains("column `f1`, row 1: missing value"), "{e}");
}
