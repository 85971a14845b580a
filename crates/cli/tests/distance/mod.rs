//! Distance suite (issue 24): pertbench's `distance` against pertpy 1.2.0
//! on a small embedding written by pandas/pyarrow at test time
//! (`make_cells.py`: controls and twelve perturbations, some shifting the
//! mean, some the spread, some nothing). pertbench runs every metric of
//! pertpy's `Distance` that it provides, and two permutation tests;
//! `compare.py` runs pertpy with each entry's options and prints one JSON
//! line per comparison. This test fails on a line over its tolerance and on
//! a check that compared nothing.

use super::Project;
use std::path::Path;

const ENV: &str = "pertpy-1.2.0";

const CHECKS: &[&str] = &[
    "groups",
    "distance",
    "mean_distance",
    "test distance",
    "p_value within Monte Carlo error",
    "tested",
    "adjusted_p_value (statsmodels)",
    "fraction_significant",
];

/// Every metric pertbench provides, as pertpy names it, with the options
/// pertpy's kernels take.
const ENTRIES: &str = "  - {kind: distance}
  - {kind: distance, name: edistance_test, within: include_self, n_permutations: 500}
  - {kind: distance, name: edistance_sq, within: include_self, cell_metric: sqeuclidean}
  - {kind: distance, name: euclidean, metric: euclidean}
  - {kind: distance, name: rmse, metric: root_mean_squared_error}
  - {kind: distance, name: mse_test, metric: mse, n_permutations: 300, pvalue: permutation, correction: benjamini_hochberg}
  - {kind: distance, name: mae, metric: mean_absolute_error}
  - {kind: distance, name: pearson, metric: pearson_distance}
  - {kind: distance, name: spearman, metric: spearman_distance}
  - {kind: distance, name: kendall, metric: kendalltau_distance}
  - {kind: distance, name: cosine, metric: cosine_distance}
  - {kind: distance, name: r2, metric: r2_distance}
  - {kind: distance, name: mean_pairwise, metric: mean_pairwise}
  - {kind: distance, name: mmd_linear, metric: mmd}
  - {kind: distance, name: mmd_rbf, metric: mmd, kernel: rbf, gamma: 0.05}
  - {kind: distance, name: mmd_poly, metric: mmd, kernel: poly, gamma: 0.2, degree: 3}
  - {kind: distance, name: sym_kldiv, metric: sym_kldiv}
  - {kind: distance, name: t_test, metric: t_test}
  - {kind: distance, name: ks_test, metric: ks_test}
  - {kind: distance, name: mahalanobis, metric: mahalanobis}
  - {kind: distance, name: mean_var, metric: mean_var_distribution}
";

#[test]
fn distances_equal_pertpy() {
    let Some(venvs) = super::conformance::venvs_holding(&[ENV]) else {
        return;
    };
    let python = venvs.join(ENV).join("bin/python");
    let p = Project::new();
    super::differential::run_suite_script(
        &python,
        "distance",
        "make_cells.py",
        &[&p.path("mirror")],
    );
    let sha = pertbench_data::fetch::sha256_file(&p.path("mirror/cells.parquet")).unwrap();
    p.write(
        "manifests/cells.yaml",
        &format!("name: cells\nformat: parquet\nsource: {{file: cells.parquet}}\nsha256: {sha}\nfeatures: {{}}\ncolumns: {{perturbation: Metadata_perturbation, batch: Metadata_batch, sample_id: Metadata_cell, control: {{column: Metadata_control}}}}\n"),
    );
    p.write(
        "pipelines/distances.yaml",
        &format!("name: distances\ndatasets: [cells]\nseeds: [0]\nrepresentations:\n  - {{name: pcs, kind: features}}\npostprocessing: [raw]\nmetrics:\n{ENTRIES}"),
    );
    p.ok(&["run", "pipelines/distances.yaml", "--quiet"]);
    let out = super::differential::run_suite_script(
        &python,
        "distance",
        "compare.py",
        &[
            &p.path("work"),
            Path::new("distances"),
            &p.path("mirror/cells.parquet"),
        ],
    );
    super::differential::assert_comparison_lines("distance", &out, CHECKS);
}
