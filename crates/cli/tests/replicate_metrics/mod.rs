//! Replicate-metric suite (issue 24): pertbench's `replicate_reproducibility`,
//! `precision_recall`, `enrichment`, `grit` and `mp_value` against
//! cytominer-eval 0.1 on
//! a Cell Painting-style CRISPR plate written by pandas/pyarrow at test
//! time (`make_plates.py`: genes with several guides, replicate wells over
//! two plates, control wells, one constant well). pertbench runs first;
//! `compare.py` runs cytominer-eval's `evaluate` (or, for what only its
//! GitHub head has, a transcription on 0.1's own melt) with every row's
//! options and prints one JSON line per comparison; mp-values after
//! `np.random.seed(seed)`, whose relabellings pertbench draws too, so
//! p-values are equal. This test fails on a
//! line over its tolerance and on a check that compared nothing.

use super::Project;
use std::path::Path;

const ENV: &str = "cytominer-eval-0.1";

const CHECKS: &[&str] = &[
    "constant samples",
    "fraction_replicating",
    "null_quantile",
    "median groups",
    "median_correlation",
    "precision groups",
    "precision",
    "recall",
    "precision_at_k",
    "recall_at_k",
    "enrichment table",
    "enrichment threshold",
    "odds_ratio",
    "enrichment p_value",
    "enrichment rows",
    "grit perturbations",
    "grit",
    "grit groups",
    "mean_grit",
    "mp_value perturbations",
    "mp_value p_value",
    "mp_value statistic",
    "mp_value components",
    "fraction_below_p",
];

#[test]
fn replicate_metrics_equal_cytominer_eval() {
    let Some(venvs) = super::conformance::venvs_holding(&[ENV]) else {
        return;
    };
    let python = venvs.join(ENV).join("bin/python");
    let p = Project::new();
    super::differential::run_suite_script(
        &python,
        "replicate_metrics",
        "make_plates.py",
        &[&p.path("mirror")],
    );
    let sha = pertbench_data::fetch::sha256_file(&p.path("mirror/plate.parquet")).unwrap();
    p.write(
        "manifests/plate.yaml",
        &format!("name: plate\nformat: parquet\nsource: {{file: plate.parquet}}\nsha256: {sha}\nfeatures: {{}}\ncolumns: {{perturbation: Metadata_broad_sample, batch: Metadata_Plate, sample_id: Metadata_Well, control: {{column: Metadata_control}}, annotation: Metadata_gene}}\n"),
    );
    p.write(
        "pipelines/replicates.yaml",
        "name: replicates\ndatasets: [plate]\nseeds: [0, 7]\nrepresentations:\n  - {name: profiles, kind: features}\npostprocessing: [raw]\nmetrics:\n  - {kind: replicate_reproducibility}\n  - {kind: replicate_reproducibility, name: rr_spearman_plate, similarity: spearman, replicate_groups: [perturbation, batch], quantile: 0.9}\n  - {kind: replicate_reproducibility, name: rr_gene_treated, replicate_groups: [annotation], samples: treated, quantile: 0.99}\n  - {kind: precision_recall, k: [1, 5, 40]}\n  - {kind: precision_recall, name: pr_gene_by_guide, replicate_groups: [annotation], group_by: [perturbation], k: [3, 10], samples: treated}\n  - {kind: precision_recall, name: pr_by_sample, group_by: [sample], similarity: spearman, k: [2]}\n  - {kind: enrichment, percentile: [0.5, 0.9, 0.99, 0.999]}\n  - {kind: enrichment, name: enrichment_gene_unordered, replicate_groups: [annotation], pairs: unordered, samples: treated, percentile: [0.95, 0.995]}\n  - {kind: grit}\n  - {kind: grit, name: grit_median_spearman, summary: median, similarity: spearman}\n  - {kind: mp_value, name: mp_cytominer, pvalue: cytominer, n_permutations: 200}\n  - {kind: mp_value, rescale_pca: false, n_permutations: 50}\n",
    );
    p.ok(&["run", "pipelines/replicates.yaml", "--quiet"]);
    let out = super::differential::run_suite_script(
        &python,
        "replicate_metrics",
        "compare.py",
        &[
            &p.path("work"),
            Path::new("replicates"),
            &p.path("mirror/plate.csv"),
        ],
    );
    super::differential::assert_comparison_lines("replicate_metrics", &out, CHECKS);
}
