//! cell-eval parity suite (issue 23): pertbench and cell-eval 0.8.1 (with
//! pdex 0.2.5), installed from PyPI in the pinned environment
//! `target/venvs/cell-eval`, on the same h5ad files; and, for the
//! `cell_eval_0_5` convention, cell-eval 0.5.45 with pdex 0.1.24 (the
//! challenge's scorer) in `target/venvs/cell-eval-0.5`. `make_pairs.py`
//! writes the files with anndata; `pertbench de` computes each file's DE
//! table in both conventions; `compare_de.py` computes each release's and
//! prints one JSON line per compared column. This test fails on any line
//! over its tolerance, and on a file or column that compared nothing.

use super::conformance::venvs_holding;
use std::path::{Path, PathBuf};
use std::process::Command;

const ENV: &str = "cell-eval";
/// cell-eval 0.5.45 and pdex 0.1.24, for the `cell_eval_0_5` convention.
const ENV_0_5: &str = "cell-eval-0.5";

/// The pinned environment whose cell-eval defines `convention`.
fn python_of(convention: &str) -> PathBuf {
    let env = if convention == "cell_eval_0_5" {
        ENV_0_5
    } else {
        ENV
    };
    venvs_holding(&[ENV, ENV_0_5])
        .expect("checked by generated_pairs")
        .join(env)
        .join("bin/python")
}
const FILES: [&str; 4] = [
    "real_log_csr_f32.h5ad",
    "real_log_dense_f64.h5ad",
    "real_counts_csr.h5ad",
    "pred_log_dense_f32.h5ad",
];
const COLUMNS: [&str; 7] = [
    "statistic",
    "p_value",
    "fdr",
    "target_mean",
    "ref_mean",
    "log2_fold_change",
    "rows",
];

fn script(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/cell_eval")
        .join(name)
}

fn python(python: &Path, args: &[&std::ffi::OsStr]) -> String {
    let o = Command::new(python).args(args).output().unwrap();
    assert!(
        o.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn pertbench(args: &[&std::ffi::OsStr]) -> String {
    let o = Command::new(env!("CARGO_BIN_EXE_pertbench"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "pertbench {args:?} failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The JSON lines a comparison script printed: the key `key` takes from
/// each, and the lines whose `score` is missing or above their `tolerance`
/// (1 where a line has none: its score is already in tolerances).
fn comparisons<K: Ord>(
    printed: &str,
    label: &str,
    key: impl Fn(&serde_json::Value) -> K,
) -> (std::collections::BTreeSet<K>, Vec<String>) {
    let mut seen = std::collections::BTreeSet::new();
    let mut failures = Vec::new();
    for line in printed.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        seen.insert(key(&v));
        let tolerance = v["tolerance"].as_f64().unwrap_or(1.0);
        if v["score"].as_f64().is_none_or(|s| s > tolerance) {
            failures.push(line.to_string());
        }
        eprintln!("{label}: {line}");
    }
    (seen, failures)
}

/// The pinned environment's Python and a directory of the files
/// `make_pairs.py` writes; None (the test skips) without the environment.
fn generated_pairs() -> Option<(PathBuf, tempfile::TempDir)> {
    let py = venvs_holding(&[ENV, ENV_0_5])?.join(ENV).join("bin/python");
    let dir = tempfile::tempdir().unwrap();
    python(
        &py,
        &[script("make_pairs.py").as_os_str(), dir.path().as_os_str()],
    );
    Some((py, dir))
}

#[test]
fn de_tables_equal_cell_evals() {
    let Some((_, dir)) = generated_pairs() else {
        return;
    };
    let d = dir.path();
    for f in FILES {
        let stem = f.trim_end_matches(".h5ad");
        for convention in ["pdex_0_2", "cell_eval_0_5"] {
            let out = d.join(format!("{stem}.{convention}.csv"));
            let printed = pertbench(&[
                "de".as_ref(),
                d.join(f).as_os_str(),
                "--convention".as_ref(),
                convention.as_ref(),
                "-o".as_ref(),
                out.as_os_str(),
            ]);
            assert!(
                printed.contains("14 perturbations x 80 genes against 120 controls"),
                "{printed}"
            );
        }
    }
    let compare = script("compare_de.py");
    let mut printed = String::new();
    for convention in ["pdex_0_2", "cell_eval_0_5"] {
        let mut args: Vec<&std::ffi::OsStr> =
            vec![compare.as_os_str(), d.as_os_str(), convention.as_ref()];
        args.extend(FILES.iter().map(|f| std::ffi::OsStr::new(f)));
        printed += &python(&python_of(convention), &args);
    }
    let mut seen = std::collections::BTreeSet::new();
    let mut failures = Vec::new();
    for line in printed.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let (file, convention, column) = (
            v["file"].as_str().unwrap(),
            v["convention"].as_str().unwrap(),
            v["column"].as_str().unwrap(),
        );
        assert!(v["n"].as_u64().unwrap() > 0, "{line}");
        seen.insert((file.to_string(), convention.to_string(), column.to_string()));
        if v["score"].as_f64().unwrap() > v["tolerance"].as_f64().unwrap() {
            failures.push(line.to_string());
        }
        eprintln!("{line}");
    }
    for f in FILES {
        for convention in ["pdex_0_2", "cell_eval_0_5"] {
            for c in COLUMNS {
                assert!(
                    seen.contains(&(f.to_string(), convention.to_string(), c.to_string())),
                    "no comparison of {f} {convention} {c}"
                );
            }
        }
    }
    assert!(
        failures.is_empty(),
        "over tolerance:\n{}",
        failures.join("\n")
    );
}

#[test]
fn de_refuses_what_cell_eval_refuses_with_the_reason() {
    let Some((_, dir)) = generated_pairs() else {
        return;
    };
    let d = dir.path();
    let run = |args: &[&str]| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_pertbench"));
        c.arg("de").arg(d.join("real_log_csr_f32.h5ad")).args(args);
        c.arg("-o").arg(d.join("x.csv"));
        c.output().unwrap()
    };
    let o = run(&["--control", "NT"]);
    assert!(!o.status.success());
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(e.contains("no cell has the control label `NT`"), "{e}");
    let o = run(&["--perturbation-column", "guide"]);
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(
        e.contains("obs has no column `guide`") && e.contains("target_gene"),
        "{e}"
    );
    let o = run(&["--convention", "pdex_9"]);
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(
        e.contains("`pdex_9`: expected one of pdex_0_2, cell_eval_0_5"),
        "{e}"
    );
    assert!(!d.join("x.csv").exists());
}

/// Metrics whose lines `compare_metrics.py` must print for the full profile.
const FULL_METRICS: [&str; 27] = [
    "overlap_at_N",
    "overlap_at_50",
    "overlap_at_100",
    "overlap_at_200",
    "overlap_at_500",
    "precision_at_N",
    "precision_at_50",
    "precision_at_100",
    "precision_at_200",
    "precision_at_500",
    "de_spearman_sig",
    "de_direction_match",
    "de_spearman_lfc_sig",
    "de_sig_genes_recall",
    "de_nsig_counts_real",
    "de_nsig_counts_pred",
    "pr_auc",
    "roc_auc",
    "pearson_delta",
    "mse",
    "mae",
    "mse_delta",
    "mae_delta",
    "discrimination_score_l1",
    "discrimination_score_l2",
    "discrimination_score_cosine",
    "pearson_edistance",
];

#[test]
fn metrics_and_scores_equal_cell_evals() {
    let Some((_, dir)) = generated_pairs() else {
        return;
    };
    let d = dir.path();
    // (convention, profile, prediction); the last runs leave cell-eval
    // 0.8.1's DE tables of pred_log_dense_f32 in `ce/` for the check below.
    let cases = [
        ("cell_eval_0_5", "full", "pred_mixed_log_dense_f32.h5ad"),
        ("cell_eval_0_5", "vcc", "pred_log_dense_f32.h5ad"),
        ("pdex_0_2", "full", "pred_mixed_log_dense_f32.h5ad"),
        ("pdex_0_2", "vcc", "pred_log_dense_f32.h5ad"),
        ("pdex_0_2", "full", "pred_log_dense_f32.h5ad"),
    ];
    for (convention, profile, pred) in cases {
        let label = format!("{convention} {profile} {pred}");
        let out = if convention == "pdex_0_2" && pred == "pred_log_dense_f32.h5ad" {
            d.join(format!("pertbench_{profile}"))
        } else {
            d.join(format!("pertbench_{convention}_{profile}_{pred}"))
        };
        let printed = pertbench(&[
            "cell-eval".as_ref(),
            "--adata-pred".as_ref(),
            d.join(pred).as_os_str(),
            "--adata-real".as_ref(),
            d.join("real_log_csr_f32.h5ad").as_os_str(),
            "--baseline-pred".as_ref(),
            d.join("baseline.h5ad").as_os_str(),
            "--profile".as_ref(),
            profile.as_ref(),
            "--convention".as_ref(),
            convention.as_ref(),
            "-o".as_ref(),
            out.as_os_str(),
        ]);
        assert!(printed.contains("avg_score"), "{printed}");
        let printed = python(
            &python_of(convention),
            &[
                script("compare_metrics.py").as_os_str(),
                d.as_os_str(),
                profile.as_ref(),
                out.as_os_str(),
                pred.as_ref(),
            ],
        );
        let (seen, failures) = comparisons(&printed, &label, |v| {
            (
                v["check"].as_str().unwrap().to_string(),
                v["metric"].as_str().unwrap().to_string(),
            )
        });
        let wanted: Vec<&str> = if profile == "vcc" {
            vec!["overlap_at_N", "mae", "discrimination_score_l1"]
        } else {
            FULL_METRICS.to_vec()
        };
        for m in wanted {
            for check in ["per_perturbation", "mean"] {
                assert!(
                    seen.contains(&(check.to_string(), m.to_string())),
                    "{label}: no {check} comparison of {m}"
                );
            }
        }
        assert!(seen.contains(&("score".to_string(), "avg_score".to_string())));
        assert!(
            failures.is_empty(),
            "{label}: over tolerance:\n{}",
            failures.join("\n")
        );
        if convention == "cell_eval_0_5" && profile == "full" {
            // cell-eval 0.5's DE tables (pdex 0.1's columns: the fold
            // change as a ratio, no log2), kept for the check below.
            std::fs::create_dir_all(d.join("ce05")).unwrap();
            for f in ["real_de.csv", "pred_de.csv"] {
                std::fs::copy(d.join("ce").join(f), d.join("ce05").join(f)).unwrap();
            }
        }
    }
    // cell-eval's own DE tables (pdex's CSV, as its evaluator wrote them)
    // given as precomputed tables give the DE metrics computed above.
    // Given as precomputed tables, cell-eval's own DE tables (pdex's CSV,
    // as its evaluator wrote them; for 0.5, pdex 0.1's) give the DE
    // metrics computed above.
    let read = |p: &Path| -> Vec<Vec<String>> {
        std::fs::read_to_string(p)
            .unwrap()
            .lines()
            .map(|l| l.split(',').map(str::to_string).collect())
            .collect()
    };
    for (convention, tables_dir, pred, computed) in [
        (
            "pdex_0_2",
            "ce",
            "pred_log_dense_f32.h5ad",
            "pertbench_full",
        ),
        (
            "cell_eval_0_5",
            "ce05",
            "pred_mixed_log_dense_f32.h5ad",
            "pertbench_cell_eval_0_5_full_pred_mixed_log_dense_f32.h5ad",
        ),
    ] {
        let tables = d.join(format!("pertbench_tables_{convention}"));
        pertbench(&[
            "cell-eval".as_ref(),
            "--adata-pred".as_ref(),
            d.join(pred).as_os_str(),
            "--adata-real".as_ref(),
            d.join("real_log_csr_f32.h5ad").as_os_str(),
            "--de-real".as_ref(),
            d.join(tables_dir).join("real_de.csv").as_os_str(),
            "--de-pred".as_ref(),
            d.join(tables_dir).join("pred_de.csv").as_os_str(),
            "--convention".as_ref(),
            convention.as_ref(),
            "--profile".as_ref(),
            "de".as_ref(),
            "-o".as_ref(),
            tables.as_os_str(),
        ]);
        let from_tables = read(&tables.join("results.csv"));
        let computed = read(&d.join(computed).join("results.csv"));
        assert_eq!(from_tables.len(), computed.len());
        for (c, name) in from_tables[0].iter().enumerate().skip(1) {
            let k = computed[0].iter().position(|x| x == name).unwrap();
            for (a, b) in from_tables.iter().zip(&computed).skip(1) {
                assert_eq!(a[0], b[0]);
                let (x, y) = (a[c].parse::<f64>().ok(), b[k].parse::<f64>().ok());
                let close = match (x, y) {
                    (Some(x), Some(y)) => (x.is_nan() && y.is_nan()) || (x - y).abs() <= 1e-6,
                    (None, None) => true,
                    _ => false,
                };
                assert!(
                    close,
                    "{convention}: {name} for {}: from tables {:?}, computed {:?}",
                    a[0], a[c], b[k]
                );
            }
        }
    }
}

/// `pertbench de` on the real Papalexi screen (integer counts): its 1,110
/// `unassigned` cells dropped and counted, STAT1's knock-down found.
#[test]
fn de_on_papalexi_drops_unassigned_cells_and_finds_stat1() {
    let Some(shared) = super::shared() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("de.csv");
    let data = shared.join("data/papalexi2021_eccite_subset.h5ad");
    let printed = pertbench(&[
        "de".as_ref(),
        data.as_os_str(),
        "--perturbation-column".as_ref(),
        "perturbation".as_ref(),
        "--drop-label".as_ref(),
        "unassigned".as_ref(),
        "-o".as_ref(),
        out.as_os_str(),
    ]);
    assert!(
        printed.contains("25 perturbations x 299 genes against 2292 controls"),
        "{printed}"
    );
    assert!(
        printed.contains("dropped 1110 cells labelled `unassigned`"),
        "{printed}"
    );
    let table = std::fs::read_to_string(&out).unwrap();
    let stat1: Vec<&str> = table
        .lines()
        .find(|l| l.starts_with("STAT1,STAT1,"))
        .unwrap()
        .split(',')
        .collect();
    let (lfc, fdr): (f64, f64) = (stat1[6].parse().unwrap(), stat1[9].parse().unwrap());
    assert!(lfc < -2.0 && fdr < 1e-100, "{stat1:?}");
    assert!(!table.contains("\nunassigned,"));
    let o = Command::new(env!("CARGO_BIN_EXE_pertbench"))
        .arg("de")
        .arg(&data)
        .args([
            "--perturbation-column",
            "perturbation",
            "--drop-label",
            "unasigned",
        ])
        .arg("-o")
        .arg(dir.path().join("typo.csv"))
        .output()
        .unwrap();
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && e.contains("no cell is labelled `unasigned`"),
        "{e}"
    );
}

/// `../shared` and the pinned environment's Python; None (the test skips)
/// without either.
fn shared_and_python() -> Option<(PathBuf, PathBuf)> {
    let shared = super::shared()?;
    let py = venvs_holding(&[ENV])?.join(ENV).join("bin/python");
    Some((shared, py))
}

/// The held-out perturbations of the `vcc` parity case: target genes among
/// the measured genes (STAT1, NFKBIA: discrimination leaves them out) and
/// not (IRF1, CUL3, SPI1, CD86), small and large.
const VCC_TEST: [&str; 6] = ["CD86", "CUL3", "IRF1", "NFKBIA", "SPI1", "STAT1"];

/// The `vcc` metric kind on the real Papalexi screen equals cell-eval 0.8.1
/// run on the same split (`compare_vcc.py`): every metric's mean and count
/// per predictor, every per-perturbation value, and the score of `control`
/// against cell-eval's own mean baseline.
#[test]
fn vcc_metric_equals_cell_eval_on_a_papalexi_split() {
    let Some((shared, py)) = shared_and_python() else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let pipeline = work.path().join("vcc_parity.yaml");
    std::fs::write(
        &pipeline,
        format!(
            "name: vcc_parity\ndatasets: [papalexi2021]\nseeds: [0]\nrepresentations:\n  - {{name: expression, kind: features}}\npostprocessing: [raw]\nmetrics:\n  - {{kind: vcc, test_perturbations: [{}], n_bootstrap: 100}}\n",
            VCC_TEST.join(", ")
        ),
    )
    .unwrap();
    let w = work.path().join("w");
    super::repo_pertbench(&w, &shared, &["run", pipeline.to_str().unwrap(), "--quiet"]);
    let data = shared.join("data/papalexi2021_eccite_subset.h5ad");
    let printed = python(
        &py,
        &[
            script("compare_vcc.py").as_os_str(),
            data.as_os_str(),
            w.as_os_str(),
            "vcc_parity".as_ref(),
            VCC_TEST.join(",").as_ref(),
        ],
    );
    let mut seen = std::collections::BTreeSet::new();
    let mut failures = Vec::new();
    for line in printed.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let key = |k: &str| v[k].as_str().unwrap().to_string();
        seen.insert((key("check"), key("predictor"), key("metric")));
        if v["score"]
            .as_f64()
            .is_none_or(|s| s > v["tolerance"].as_f64().unwrap())
        {
            failures.push(line.to_string());
        }
        eprintln!("{line}");
    }
    for predictor in ["mean", "control"] {
        for metric in FULL_METRICS.iter().filter(|m| {
            !m.starts_with("de_nsig_counts")
                && (predictor == "control" || **m != "pearson_edistance")
        }) {
            for check in ["mean", "count", "per_perturbation"] {
                if check == "per_perturbation" && *metric == "pearson_edistance" {
                    continue;
                }
                assert!(
                    seen.contains(&(check.into(), predictor.into(), metric.to_string())),
                    "no {check} comparison of {predictor} {metric}"
                );
            }
        }
    }
    assert!(seen.contains(&(
        "edistance_undefined".into(),
        "mean".into(),
        "pearson_edistance".into()
    )));
    assert!(seen.contains(&(
        "edistance_float32".into(),
        "control".into(),
        "pearson_edistance".into()
    )));
    for metric in [
        "mae",
        "overlap_at_N",
        "discrimination_score_l1",
        "avg_score",
    ] {
        assert!(
            seen.contains(&("score".into(), "control".into(), metric.into())),
            "no score comparison of {metric}"
        );
    }
    assert!(
        failures.is_empty(),
        "over tolerance:\n{}",
        failures.join("\n")
    );
}

/// `pertbench bench --suite vcc` on a small tier: its generated files are
/// read by anndata 0.12 (cell-eval's), and cell-eval itself runs on them
/// beside pertbench.
#[test]
fn vcc_bench_suite_runs_beside_cell_eval() {
    let Some((shared, py)) = shared_and_python() else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let printed = super::repo_pertbench(
        work.path(),
        &shared,
        &[
            "bench",
            "--suite",
            "vcc",
            "--tier",
            "2k",
            "--nnz-per-row",
            "60",
            "--profile",
            "vcc",
            "--anchor-python",
            py.to_str().unwrap(),
        ],
    );
    for stage in [
        "read + scale real",
        "DE prediction",
        "metrics (3 of the profile)",
        "total:",
        "mean discrimination_score_l1",
        "anchor: cell-eval run (same files, profile vcc",
    ] {
        assert!(printed.contains(stage), "no `{stage}` in:\n{printed}");
    }
}

/// `--celltype-col`: each cell type scored on its own, as cell-eval's
/// command line does (its own normalisation of counts, DE and metrics),
/// into files of cell-eval's names; every value of both cell types'
/// results and aggregates equal to `cell-eval run --celltype-col`'s.
#[test]
fn celltypes_are_scored_apart_as_cell_eval_run_scores_them() {
    let Some(py) = venvs_holding(&[ENV]).map(|d| d.join(ENV).join("bin/python")) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let compare = script("compare_celltypes.py");
    python(&py, &[compare.as_os_str(), "make".as_ref(), d.as_os_str()]);
    let out = d.join("pertbench");
    let args = |extra: &[&std::ffi::OsStr]| -> Vec<std::ffi::OsString> {
        let mut v: Vec<std::ffi::OsString> = [
            "cell-eval".as_ref(),
            "--adata-pred".as_ref(),
            d.join("pred.h5ad").as_os_str(),
            "--adata-real".as_ref(),
            d.join("real.h5ad").as_os_str(),
            "-o".as_ref(),
            out.as_os_str(),
        ]
        .iter()
        .map(|s| s.to_os_string())
        .collect();
        v.extend(extra.iter().map(|s| s.to_os_string()));
        v
    };
    let run = |extra: &[&std::ffi::OsStr]| {
        Command::new(env!("CARGO_BIN_EXE_pertbench"))
            .args(args(extra))
            .output()
            .unwrap()
    };
    let o = run(&["--celltype-col".as_ref(), "celltype".as_ref()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let printed = String::from_utf8_lossy(&o.stdout);
    assert!(
        printed.contains("cell type `HepG2/C3A`") && printed.contains("cell type `K562`"),
        "{printed}"
    );
    let printed = python(
        &py,
        &[
            compare.as_os_str(),
            "compare".as_ref(),
            d.as_os_str(),
            out.as_os_str(),
        ],
    );
    let (seen, failures) = comparisons(&printed, "celltypes", |v| {
        (
            v["celltype"].as_str().unwrap().to_string(),
            v["file"].as_str().unwrap().to_string(),
            v["metric"].as_str().unwrap().to_string(),
        )
    });
    for (ct, prefix) in [("HepG2/C3A", "HepG2-C3A"), ("K562", "K562")] {
        for file in ["results.csv", "agg_results.csv"] {
            for m in FULL_METRICS {
                let key = (ct.to_string(), format!("{prefix}_{file}"), m.to_string());
                assert!(seen.contains(&key), "no comparison of {key:?}");
            }
        }
        for de in ["real_de.csv", "pred_de.csv"] {
            assert!(out.join(format!("{prefix}_{de}")).exists(), "{prefix}_{de}");
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");

    // A cell type column that is not there, and precomputed DE tables
    // (one table for every cell type), are refused.
    let o = run(&["--celltype-col".as_ref(), "cell_line".as_ref()]);
    let said = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && said.contains("obs has no column `cell_line`"),
        "{said}"
    );
    let table = d.join("table.csv");
    std::fs::write(&table, "target,feature\n").unwrap();
    let o = run(&[
        "--celltype-col".as_ref(),
        "celltype".as_ref(),
        "--de-real".as_ref(),
        table.as_os_str(),
        "--de-pred".as_ref(),
        table.as_os_str(),
    ]);
    let said = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && said.contains("cannot be used with"),
        "{said}"
    );
}
