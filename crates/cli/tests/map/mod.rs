//! mAP suite (issue 24): pertbench's `map` metric and copairs 0.5.2 on the
//! same Cell Painting-style plates, written by pandas/pyarrow at test time
//! (`make_plate.py`). pertbench runs first; `compare_map.py` runs copairs'
//! recipe for every `map` row (reference index on the DMSO wells, the
//! row's controls rule, similarity, null size, threshold and seed) and
//! prints one JSON line per comparison. This test fails on a line over its
//! tolerance and on a check that compared nothing. Per-compound mAP to
//! 1e-12 under every similarity and controls rule; with `pvalue: copairs`,
//! p-values exactly (copairs' null drawn from numpy's generator is
//! reproduced draw for draw), BH to 1e-12, the active calls exactly; on a
//! plate without effects the default permutation test's p-values are
//! uniform (copairs' are not: see `explain map`). `map_consistency` the
//! same way against copairs' consistency recipe (active compounds by
//! copairs' activity, median consensus profiles, multilabel and
//! single-label AP on Metadata_target): labels, mAP, p-values, BH, the
//! consistent calls; its permutation test uniform on the null plate.

use super::Project;
use std::collections::BTreeMap;
use std::path::Path;

const ENV: &str = "reference-tools";

const CHECKS: &[&str] = &[
    "compounds",
    "mean_average_precision",
    "p_value",
    "corrected_p_value",
    "below_corrected_p",
    "below_p",
    "fraction_active",
    "fraction_active_of_details",
    "mean_map",
    "calibration p<=0.05",
    "calibration p<=0.25",
    "calibration p<=0.5",
    "active_compounds",
    "labels",
    "consistency mean_average_precision",
    "consistency mean_map",
    "consistency p_value",
    "consistency corrected_p_value",
    "consistency below_corrected_p",
    "fraction_consistent",
    "consistency calibration p<=0.05",
    "consistency calibration p<=0.25",
    "consistency calibration p<=0.5",
    "consistency labels (permutation)",
    "consistency mean_average_precision (permutation)",
];

fn run_script(python: &Path, name: &str, args: &[&Path]) -> String {
    super::differential::run_suite_script(python, "map", name, args)
}

#[test]
fn map_equals_copairs_on_generated_plates() {
    let Some(venvs) = super::conformance::venvs_holding(&[ENV]) else {
        return;
    };
    let python = venvs.join(ENV).join("bin/python");
    let p = Project::new();
    run_script(&python, "make_plate.py", &[&p.path("mirror")]);
    for plate in ["plate", "null_plate"] {
        let sha = pertbench_data::fetch::sha256_file(&p.path(&format!("mirror/{plate}.parquet")))
            .unwrap();
        p.write(
            &format!("manifests/{plate}.yaml"),
            &format!("name: {plate}\nformat: parquet\nsource: {{file: {plate}.parquet}}\nsha256: {sha}\nfeatures: {{}}\ncolumns: {{perturbation: Metadata_broad_sample, batch: Metadata_Plate, sample_id: Metadata_Well, control: {{column: Metadata_control}}, annotation: Metadata_target}}\n"),
        );
    }
    p.write(
        "pipelines/map.yaml",
        "name: map\ndatasets: [plate, null_plate]\nseeds: [0, 3]\nrepresentations:\n  - {name: profiles, kind: features}\npostprocessing: [raw]\nmetrics:\n  - {kind: map, name: map_copairs, pvalue: copairs, null_size: 2000, n_bootstrap: 20}\n  - {kind: map, name: map_copairs_plate_euclidean, pvalue: copairs, controls: same_batch, similarity: euclidean, null_size: 1000, n_bootstrap: 20}\n  - {kind: map, name: map_copairs_correlation, pvalue: copairs, similarity: correlation, threshold: 0.1, null_size: 500, n_bootstrap: 20}\n  - {kind: map, null_size: 300, n_bootstrap: 20}\n  - {kind: map, name: map_plate, controls: same_batch, null_size: 300, n_bootstrap: 20}\n  - {kind: map_consistency, name: consistency_copairs, activity_pvalue: copairs, pvalue: copairs, null_size: 2000, n_bootstrap: 20}\n  - {kind: map_consistency, name: consistency_copairs_single, separator: '', activity_pvalue: copairs, pvalue: copairs, similarity: correlation, null_size: 1000, n_bootstrap: 20}\n  - {kind: map_consistency, name: consistency_copairs_all, perturbations: all, pvalue: copairs, null_size: 1000, n_bootstrap: 20}\n  - {kind: map_consistency, name: consistency, activity_pvalue: copairs, null_size: 300, n_bootstrap: 20}\n  - {kind: map_consistency, name: consistency_all, perturbations: all, null_size: 300, n_bootstrap: 20}\n",
    );
    p.ok(&["run", "pipelines/map.yaml", "--quiet"]);
    let out = run_script(
        &python,
        "compare_map.py",
        &[&p.path("work"), Path::new("map"), &p.path("mirror")],
    );
    super::differential::assert_comparison_lines("map", &out, CHECKS);
}

/// The repository's `pipelines/profiles.yaml` on its built-in plates, run
/// by the real binary: every representation and post-processing gives the
/// three mAP metrics; the baselines call nothing active while the profiles
/// call some (the plates' compounds are half active); `sql/profiles.sql`
/// and `sql/replicates.sql` run; cytominer-eval's metrics rank the profiles
/// above the random baseline; the report's mAP section plots the rows.
#[test]
fn profiles_pipeline_runs_on_the_built_in_plates() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let p = Project::new();
    for (from, to) in [
        (
            "data_manifests/synthetic_plate.yaml",
            "manifests/synthetic_plate.yaml",
        ),
        ("pipelines/profiles.yaml", "pipelines/profiles.yaml"),
    ] {
        std::fs::copy(repo.join(from), p.path(to)).unwrap();
    }
    std::fs::create_dir_all(p.path("sql")).unwrap();
    for sql in ["sql/profiles.sql", "sql/replicates.sql"] {
        std::fs::copy(repo.join(sql), p.path(sql)).unwrap();
    }
    let out = p.ok(&["run", "pipelines/profiles.yaml"]);
    assert!(out.contains("sql/profiles.sql"), "{out}");
    assert!(out.contains("sql/replicates.sql"), "{out}");
    let table = p.ok(&[
        "sql",
        "SELECT representation, postprocessing, metric, variant, value FROM results WHERE variant IN ('fraction_active', 'fraction_consistent', 'mean_map') ORDER BY 1, 2, 3, 4",
    ]);
    let mut active: BTreeMap<(String, String, String), f64> = BTreeMap::new();
    let mut n = 0;
    for line in table
        .lines()
        .filter(|l| l.starts_with("| ") && !l.contains("representation"))
    {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        n += 1;
        if cells[4] == "fraction_active" {
            active.insert(
                (cells[1].into(), cells[2].into(), cells[3].into()),
                cells[5].parse().unwrap(),
            );
        }
    }
    // 4 representations x 4 post-processings x (2 map entries x 2 + 2).
    assert_eq!(n, 4 * 4 * 6, "{table}");
    for ((rep, pp, metric), v) in &active {
        if rep == "random" || rep == "shuffled" {
            assert_eq!(*v, 0.0, "{rep} {pp} {metric}: baselines call nothing");
        }
    }
    let profiles_raw = active[&("profiles".into(), "raw".into(), "map".into())];
    assert!(
        profiles_raw > 0.2 && profiles_raw < 0.6,
        "profiles raw fraction active {profiles_raw}"
    );
    // cytominer-eval's metrics: the profiles' replicates replicate and
    // their targets' compounds correlate (grit); the baselines' do not.
    let replicates = p.ok(&[
        "sql",
        "SELECT representation, variant, value FROM results WHERE postprocessing = 'raw' AND variant IN ('fraction_replicating', 'mean_grit', 'precision_at_10') ORDER BY 1, 2",
    ]);
    let mut value: BTreeMap<(String, String), f64> = BTreeMap::new();
    for line in replicates
        .lines()
        .filter(|l| l.starts_with("| ") && !l.contains("representation"))
    {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        value.insert(
            (cells[1].into(), cells[2].into()),
            cells[3].parse().unwrap(),
        );
    }
    assert_eq!(value.len(), 4 * 3, "{replicates}");
    let at = |rep: &str, variant: &str| value[&(rep.to_string(), variant.to_string())];
    // Percent replicating at the 0.95 quantile: 5% for a representation
    // that carries nothing.
    let random = at("random", "fraction_replicating");
    assert!(
        (0.02..0.08).contains(&random),
        "random percent replicating {random}"
    );
    assert!(
        at("profiles", "fraction_replicating") > 0.15,
        "{replicates}"
    );
    assert!(at("random", "mean_grit").abs() < 0.1, "{replicates}");
    assert!(at("profiles", "mean_grit") > 0.1, "{replicates}");
    assert!(
        at("profiles", "precision_at_10") > 10.0 * at("random", "precision_at_10"),
        "{replicates}"
    );
    p.ok(&["report", "-o", "report.html"]);
    let html = std::fs::read_to_string(p.path("report.html")).unwrap();
    let section = &html[html.find("<section id=\"map\">").unwrap()..];
    let section = &section[..section.find("</section>").unwrap()];
    assert!(section.contains("<svg"), "the mAP section has no chart");
    assert!(section.contains("map_consistency"), "no consistency chart");
}
