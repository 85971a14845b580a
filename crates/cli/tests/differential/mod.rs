//! Differential suite (issue 20): pertbench and the field's reference
//! implementations (efaar-benchmarking 1.0, scikit-learn) on the same
//! inputs. pertbench runs first; `differential.py` then reads the result
//! rows and the cached matrices and splits they came from, recomputes each
//! number with the reference, and prints one JSON line per comparison with
//! its tolerance. This test fails on any line over its tolerance, and on a
//! check that compared nothing.
//!
//! Inputs: screens `make_screens.py` generates in several shapes (fewer
//! controls than dimensions, many controls, one sample per perturbation and
//! batch, 200 to 50,000 samples), and the real Papalexi screen of
//! `../shared/data`. The reference tools run in the pinned environment
//! `target/venvs/reference-tools` (`scripts/venvs.sh`).

use super::{repo_pertbench, shared, Project};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

const ENV: &str = "reference-tools";

/// Checks a run must produce lines for: all of them on Papalexi; the
/// generated screens have no counts (no Task 6), all but the last; the
/// probe-only 50,000-sample screen the first three.
const CHECKS: &[&str] = &[
    "postprocessing",
    "linear_probe",
    "relationship_recall",
    "consistency",
    "knn",
    "ilisi",
    "distribution",
    "linear_ridge",
    "silhouette",
    "interpretability",
];

/// The metrics every differential pipeline runs besides its probe and
/// recall (their checks in `differential.py`).
const COMPARED_METRICS: &str = "  - {kind: linear_probe, solver: ridge}\n  - {kind: consistency, null: permutation, n_permutations: 20}\n  - {kind: knn}\n  - {kind: ilisi, on: all}\n  - {kind: distribution, controls: all, n_permutations: 20}\n  - {kind: distribution, name: distribution_v, controls: all, energy: v_statistic, mmd: false, n_permutations: 0}\n  - {kind: silhouette, n_bootstrap: 100}\n";

fn reference_python() -> Option<PathBuf> {
    super::conformance::venvs_holding(&[ENV]).map(|d| d.join(ENV).join("bin/python"))
}

/// Runs one of this suite's Python scripts with `args`; its standard output.
fn run_script(python: &Path, name: &str, args: &[&Path]) -> String {
    run_suite_script(python, "differential", name, args)
}

/// Runs `tests/<suite>/<name>` with `python` and `args`, failing with its
/// standard error; its standard output.
pub(super) fn run_suite_script(python: &Path, suite: &str, name: &str, args: &[&Path]) -> String {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join(suite)
        .join(name);
    let o = Command::new(python)
        .arg(&script)
        .args(args)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "{name} failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Reads a suite script's output, one JSON line per comparison (`check`,
/// `tolerance`, `diff` and what was compared), prints each and each
/// check's worst difference, and fails on a line over its tolerance or a
/// check in `checks` that compared nothing.
pub(super) fn assert_comparison_lines(suite: &str, out: &str, checks: &[&str]) {
    let mut worst: BTreeMap<String, (f64, f64, usize)> = BTreeMap::new();
    let mut over = Vec::new();
    for l in out.lines() {
        let v: serde_json::Value =
            serde_json::from_str(l).unwrap_or_else(|e| panic!("not a comparison line ({e}): {l}"));
        let check = v["check"].as_str().unwrap_or_default().to_string();
        let diff = v["diff"].as_f64().unwrap_or(f64::INFINITY);
        let tol = v["tolerance"].as_f64().unwrap_or(0.0);
        eprintln!("{suite}: {l}");
        let e = worst.entry(check).or_insert((0.0, tol, 0));
        e.0 = e.0.max(diff);
        e.2 += 1;
        if !(diff <= tol) {
            over.push(l.to_string());
        }
    }
    for (check, (d, tol, n)) in &worst {
        eprintln!("{suite}: {check}: {n} comparisons, max diff {d:.2e} (tolerance {tol:.1e})");
    }
    for check in checks {
        assert!(
            worst.contains_key(*check),
            "check `{check}` compared nothing"
        );
    }
    assert!(over.is_empty(), "over tolerance:\n{}", over.join("\n"));
}

/// One comparison line of `differential.py`.
#[derive(Debug)]
struct Compared {
    check: String,
    reference: String,
    dataset: String,
    postprocessing: String,
    variant: String,
    pertbench: f64,
    reference_value: f64,
    diff: f64,
    tolerance: f64,
    convention: String,
}

/// Runs the reference side on a workdir and returns its comparisons.
fn compare(python: &Path, workdir: &Path, pipeline: &str, relationships: &Path) -> Vec<Compared> {
    run_script(
        python,
        "differential.py",
        &[workdir, Path::new(pipeline), relationships],
    )
    .lines()
    .map(|l| {
        let v: serde_json::Value =
            serde_json::from_str(l).unwrap_or_else(|e| panic!("not a comparison line ({e}): {l}"));
        let s = |k: &str| v[k].as_str().unwrap_or_default().to_string();
        let f = |k: &str| v[k].as_f64().unwrap_or(f64::NAN);
        Compared {
            check: s("check"),
            reference: s("reference"),
            dataset: s("dataset"),
            postprocessing: s("postprocessing"),
            variant: s("variant"),
            pertbench: f("pertbench"),
            reference_value: f("reference_value"),
            diff: v["diff"].as_f64().unwrap_or(f64::INFINITY),
            tolerance: f("tolerance"),
            convention: s("convention"),
        }
    })
    .collect()
}

/// Fails on a comparison over its tolerance or a check with no line;
/// prints every line's difference and, per check, the largest.
fn assert_within_tolerance(what: &str, lines: &[Compared], checks: &[&str]) {
    let mut worst: BTreeMap<(&str, &str, &str), (f64, f64, usize)> = BTreeMap::new();
    let mut over = vec![];
    for c in lines {
        eprintln!(
            "{what}: {} {} {} {}: pertbench {:.6} reference {:.6} diff {:.2e} (tol {:.0e}) {}",
            c.check,
            c.dataset,
            c.postprocessing,
            c.variant,
            c.pertbench,
            c.reference_value,
            c.diff,
            c.tolerance,
            c.convention
        );
        // Accuracies and the loss ratio are reported apart.
        let kind = if c.check == "postprocessing" {
            ""
        } else {
            c.variant.as_str()
        };
        let e = worst
            .entry((c.check.as_str(), c.reference.as_str(), kind))
            .or_insert((0.0, c.tolerance, 0));
        e.0 = e.0.max(c.diff);
        e.2 += 1;
        if !(c.diff <= c.tolerance) {
            over.push(format!(
                "{} {} {} {}: pertbench {} vs {} {} (diff {:e} > {:e}; {})",
                c.check,
                c.dataset,
                c.postprocessing,
                c.variant,
                c.pertbench,
                c.reference,
                c.reference_value,
                c.diff,
                c.tolerance,
                c.convention
            ));
        }
    }
    for ((check, reference, kind), (d, tol, n)) in &worst {
        eprintln!("{what}: {check} {kind} vs {reference}: {n} comparisons, max diff {d:.2e} (tolerance {tol:.0e})");
    }
    for check in checks {
        assert!(
            worst.keys().any(|k| k.0 == *check),
            "{what}: check `{check}` compared nothing"
        );
    }
    assert!(
        over.is_empty(),
        "{what}: over tolerance:\n{}",
        over.join("\n")
    );
}

#[test]
fn generated_screens_equal_the_reference_tools() {
    let Some(python) = reference_python() else {
        return;
    };
    let p = Project::new();
    run_script(&python, "make_screens.py", &[&p.path("mirror")]);
    let screens = [
        "few_controls",
        "many_controls",
        "singletons",
        "probe_200",
        "probe_2000",
        "probe_50000",
    ];
    for s in screens {
        let sha = pertbench_data::fetch::sha256_file(&p.path(&format!("mirror/{s}.csv"))).unwrap();
        p.write(
            &format!("manifests/{s}.yaml"),
            &format!("name: {s}\nformat: csv\nsource: {{file: {s}.csv}}\nsha256: {sha}\nfeatures: {{}}\ncolumns: {{perturbation: Metadata_gene, batch: Metadata_Plate, sample_id: Metadata_Sample, control: {{column: Metadata_control}}}}\n"),
        );
    }
    p.manifest("complexes", "relationship_pairs", "complex_pairs.txt");
    // Every shape under every post-processing; the 50,000-sample screen
    // for the probe alone (its reference fit is the slow part).
    p.write(
        "pipelines/diff.yaml",
        &format!("name: diff\ndatasets: [few_controls, many_controls, singletons, probe_200, probe_2000]\nseeds: [0]\nrepresentations:\n  - {{name: profiles, kind: features}}\npostprocessing: [raw, center, center_scale, tvn]\nmetrics:\n  - {{kind: linear_probe}}\n  - {{kind: relationship_recall, sources: [complexes]}}\n{COMPARED_METRICS}"),
    );
    p.write(
        "pipelines/diff_large.yaml",
        "name: diff_large\ndatasets: [probe_50000]\nseeds: [0]\nrepresentations:\n  - {name: profiles, kind: features}\npostprocessing: [raw, tvn]\nmetrics:\n  - {kind: linear_probe}\n  - {kind: relationship_recall, sources: [complexes]}\n",
    );
    let rels = p.path("relationships");
    std::fs::create_dir_all(&rels).unwrap();
    std::fs::copy(
        p.path("mirror/complex_pairs.txt"),
        rels.join("complexes.txt"),
    )
    .unwrap();
    for pipeline in ["diff", "diff_large"] {
        p.ok(&["run", &format!("pipelines/{pipeline}.yaml"), "--quiet"]);
        let lines = compare(&python, &p.path("work"), pipeline, &rels);
        // Every post-processing of every screen was compared.
        let screens_compared: std::collections::BTreeSet<_> =
            lines.iter().map(|c| c.dataset.as_str()).collect();
        assert!(
            screens_compared.len() >= 1,
            "{pipeline}: no screen compared"
        );
        // The 50,000-sample screen runs the probe and recall alone.
        let checks = if pipeline == "diff" {
            &CHECKS[..CHECKS.len() - 1]
        } else {
            &CHECKS[..3]
        };
        assert_within_tolerance(pipeline, &lines, checks);
    }
}

#[test]
fn papalexi_equals_the_reference_tools() {
    let Some(shared) = shared() else { return };
    let Some(python) = reference_python() else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let pipeline = work.path().join("papalexi_diff.yaml");
    std::fs::write(
        &pipeline,
        "name: papalexi_diff\ndatasets: [papalexi2021]\nseeds: [0]\nrepresentations:\n  - {name: pca, kind: pca, n_components: 30}\npostprocessing: [raw, center, center_scale, tvn]\nmetrics:\n  - {kind: linear_probe}\n  - {kind: relationship_recall, sources: [stringdb, corum]}\n  - {kind: consistency}\n  - {kind: knn}\n  - {kind: ilisi, on: all}\n  - {kind: distribution, controls: all, n_permutations: 0}\n  - {kind: distribution, name: distribution_v, controls: all, energy: v_statistic, mmd: false, n_permutations: 0}\n  - {kind: interpretability}\n  - {kind: linear_probe, solver: ridge}\n  - {kind: silhouette, n_bootstrap: 100}\n",
    )
    .unwrap();
    let w = work.path().join("w");
    repo_pertbench(&w, &shared, &["run", pipeline.to_str().unwrap(), "--quiet"]);
    // Sources are efaar's own packaged files (no generated ones).
    let lines = compare(&python, &w, "papalexi_diff", work.path());
    assert_within_tolerance("papalexi", &lines, CHECKS);
}
