//! End-to-end tests that run the real `pertbench` binary on a project built
//! in a temporary directory: generated relationship files in a mirror,
//! manifests pinning their sha256, a small synthetic screen, pipelines.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod cell_eval;
/// The end-to-end tests, by subcommand.
mod commands;
/// The conformance suite: real writers' layouts, read right or refused.
mod conformance;
mod differential;
/// pertpy's distance suite against pertbench's `distance` (issue 24).
mod distance;
/// copairs' mAP against pertbench's `map` (issue 24).
mod map;
mod replicate_metrics;

struct Project {
    dir: tempfile::TempDir,
}

fn sha256(p: &Path) -> String {
    pertbench_data::fetch::sha256_file(p).unwrap()
}

const PIPELINE: &str = "name: p
datasets: [synth]
seeds: [0]
representations:
  - {name: pca, kind: pca, n_components: 8}
  - {name: random, kind: random, dim: 8}
  - {name: shuffled, kind: shuffled, of: pca}
postprocessing: [raw, center]
metrics:
  - {kind: consistency, null: permutation, n_permutations: 50}
  - {kind: relationship_recall, sources: [pairs]}
";

impl Project {
    fn new() -> Project {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        for d in ["mirror", "manifests", "pipelines"] {
            std::fs::create_dir_all(root.join(d)).unwrap();
        }
        // Complexes G<c>_<k>; pairs within complexes.
        let mut clusters = String::new();
        let mut pairs = String::from("entity1,entity2\n");
        for c in 0..30 {
            let genes: Vec<String> = (0..(3 + c % 3)).map(|k| format!("G{c}_{k}")).collect();
            clusters.push_str(&format!("complex{c}\t{}\n", genes.join(" ")));
            for a in 0..genes.len() {
                for b in (a + 1)..genes.len() {
                    pairs.push_str(&format!("{},{}\n", genes[a], genes[b]));
                }
            }
        }
        std::fs::write(root.join("mirror/clusters.tsv"), clusters).unwrap();
        std::fs::write(root.join("mirror/pairs.txt"), pairs).unwrap();
        let p = Project { dir };
        p.manifest("clusters", "clusters", "clusters.tsv");
        p.manifest("pairs", "relationship_pairs", "pairs.txt");
        std::fs::write(
            root.join("manifests/synth.yaml"),
            "name: synth\nformat: h5ad\nsha256: unpinned\nsource:\n  synthetic: {seed: 3, n_batches: 3, n_genes: 90, cells_per_perturbation: 9, controls_per_batch: 20, n_complexes: 8, n_unexpressed: 5, clusters: clusters}\n",
        )
        .unwrap();
        p.write("pipelines/p.yaml", PIPELINE);
        p
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn write(&self, rel: &str, text: &str) {
        std::fs::write(self.path(rel), text).unwrap();
    }

    fn manifest(&self, name: &str, format: &str, file: &str) {
        let sha = sha256(&self.path(&format!("mirror/{file}")));
        self.write(
            &format!("manifests/{name}.yaml"),
            &format!("name: {name}\nformat: {format}\nsource: {{file: {file}}}\nsha256: {sha}\n"),
        );
    }

    /// The binary, run in the project on its workdir, manifests and mirror.
    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_pertbench"));
        c.current_dir(self.dir.path())
            .args([
                "--workdir",
                "work",
                "--manifests",
                "manifests",
                "--mirror",
                "mirror",
                "--offline",
            ])
            .args(args);
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let o = self.run(args);
        let (out, err) = (
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr),
        );
        assert!(
            o.status.success(),
            "{args:?} failed\nstdout:\n{out}\nstderr:\n{err}"
        );
        out.to_string()
    }

    fn fails(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert!(!o.status.success(), "{args:?} should fail");
        String::from_utf8_lossy(&o.stderr).to_string()
    }
}

/// (nodes, computed, reused) from the run summary line.
fn counts(out: &str) -> (usize, usize, usize) {
    let line = out
        .lines()
        .find(|l| l.contains(" nodes: "))
        .expect("summary line");
    let nums: Vec<usize> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().unwrap())
        .collect();
    (nums[0], nums[1], nums[2])
}

/// A table dataset (CSV metadata) with an external `.npy` representation.
fn table_project(
    rows: &[(&str, &str, bool)],
    npy_rows: usize,
    nan_at: Option<(usize, usize)>,
) -> Project {
    let p = Project::new();
    let mut csv = String::from("cell,gene,batch,is_control\n");
    for (i, (g, b, c)) in rows.iter().enumerate() {
        csv.push_str(&format!("c{i},{g},{b},{c}\n"));
    }
    std::fs::write(p.path("mirror/meta.csv"), csv).unwrap();
    let sha = sha256(&p.path("mirror/meta.csv"));
    p.write(
        "manifests/tab.yaml",
        &format!("name: tab\nformat: csv\nsource: {{file: meta.csv}}\nsha256: {sha}\ncolumns: {{perturbation: gene, batch: batch, control: {{column: is_control}}, sample_id: cell}}\n"),
    );
    let mut m = pertbench_kernels::Matrix::from_shape_fn((npy_rows, 4), |(i, j)| {
        ((i * 7 + j * 3) % 11) as f32 - 5.0
    });
    if let Some(at) = nan_at {
        m[at] = f32::NAN;
    }
    pertbench_data::npy::write(&p.path("emb.npy"), &m).unwrap();
    p.write(
        "pipelines/t.yaml",
        "name: t\ndatasets: [tab]\nrepresentations:\n  - {name: model, kind: npy, path: emb.npy}\npostprocessing: [raw, center]\nmetrics:\n  - {kind: consistency, null: permutation, n_permutations: 20}\n",
    );
    p
}

fn screen_rows() -> Vec<(&'static str, &'static str, bool)> {
    let mut v = Vec::new();
    for b in ["b1", "b2"] {
        for _ in 0..4 {
            v.push(("NT", b, true));
        }
        for g in ["A", "B", "C"] {
            for _ in 0..3 {
                v.push((g, b, false));
            }
        }
    }
    // b3 has no controls.
    for g in ["A", "B"] {
        v.push((g, "b3", false));
    }
    v
}

/// `../shared` beside the repository, or None (skip) unless CI requires it.
fn shared() -> Option<PathBuf> {
    let dir = std::env::var_os("PERTBENCH_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared"));
    if dir.join("mirror").is_dir() && dir.join("data").is_dir() {
        return Some(std::fs::canonicalize(dir).unwrap());
    }
    if std::env::var("PERTBENCH_REQUIRE_SHARED").as_deref() == Ok("1") {
        panic!(
            "PERTBENCH_REQUIRE_SHARED=1 but {} is missing",
            dir.display()
        );
    }
    eprintln!(
        "skipping: {} not found (set PERTBENCH_SHARED)",
        dir.display()
    );
    None
}

/// The binary, run from the repository root on the workspace `work`,
/// offline, with `../shared`'s mirror and data directories as mirrors.
fn repo_command(work: &Path, shared: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_pertbench"));
    c.current_dir(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.."))
        .arg("--workdir")
        .arg(work)
        .arg("--offline")
        .arg("--mirror")
        .arg(shared.join("mirror"))
        .arg("--mirror")
        .arg(shared.join("data"))
        .args(args);
    c
}

/// [`repo_command`]; asserts that it succeeds and returns its standard
/// output.
fn repo_pertbench(work: &Path, shared: &Path, args: &[&str]) -> String {
    let out = repo_command(work, shared, args).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs a pipeline of the repository with `../shared` as mirror; returns the
/// best-post-processing value per (source, representation) of the recall rows.
fn run_repo_pipeline(
    pipeline: &str,
    shared: &Path,
) -> std::collections::BTreeMap<(String, String), f64> {
    run_repo_pipeline_in(tempfile::tempdir().unwrap().path(), pipeline, shared)
}

/// [`run_repo_pipeline`] with its workdir in `work`, for further queries.
fn run_repo_pipeline_in(
    work: &Path,
    pipeline: &str,
    shared: &Path,
) -> std::collections::BTreeMap<(String, String), f64> {
    let stdout = repo_pertbench(work, shared, &["run", pipeline, "--quiet"]);
    assert!(
        stdout.contains("relationship_recall"),
        "report printed: {stdout}"
    );
    let q = "SELECT source, representation, MAX(value) AS best FROM results WHERE metric = 'relationship_recall' AND variant = 'recall_0.05_0.95' AND value IS NOT NULL GROUP BY source, representation";
    let sql = repo_pertbench(work, shared, &["sql", q]);
    let mut best = std::collections::BTreeMap::new();
    for cells in table_rows(&sql, "source") {
        best.insert(
            (cells[0].to_string(), cells[1].to_string()),
            cells[2].parse().unwrap(),
        );
    }
    best
}

const HIERARCHY: &str = "name: h
datasets: [synth]
seeds: [0, 1]
representations:
  - {name: pca, kind: pca, n_components: 8}
  - {name: random, kind: random, dim: 8}
postprocessing: [raw, center]
metrics:
  - {kind: ilisi, on: all, perplexity: 10}
  - {kind: linear_probe}
  - {kind: knn}
  - {kind: interpretability}
";

/// Best post-processing value per (metric, variant, representation), mean over seeds.
fn best_values(p: &Project) -> std::collections::BTreeMap<(String, String, String), f64> {
    let q = "SELECT metric, variant, representation, MAX(v) AS best FROM (SELECT metric, variant, representation, postprocessing, AVG(CASE WHEN higher_is_better THEN value ELSE -value END) AS v FROM results WHERE value IS NOT NULL GROUP BY 1, 2, 3, 4) GROUP BY 1, 2, 3";
    let out = p.ok(&["sql", q]);
    let mut best = std::collections::BTreeMap::new();
    for c in table_rows(&out, "variant") {
        best.insert(
            (c[0].clone(), c[1].clone(), c[2].clone()),
            c[3].parse().unwrap(),
        );
    }
    best
}

/// A one-seed pipeline on `dataset`: 8-dim PCA against an 8-dim random
/// embedding, centred, with the given metric lines.
/// The data rows of a `pertbench sql` text table (rows whose text contains
/// `header` are header rows), one cell per column; NULL is an empty cell.
fn table_rows(text: &str, header: &str) -> Vec<Vec<String>> {
    text.lines()
        .filter(|l| l.starts_with("| ") && !l.contains(header))
        .map(|l| {
            let cells: Vec<String> = l.split('|').map(|c| c.trim().to_string()).collect();
            cells[1..cells.len() - 1].to_vec()
        })
        .collect()
}

fn pca_vs_random(dataset: &str, metrics: &str) -> String {
    format!(
        "name: {dataset}_pca_vs_random
datasets: [{dataset}]
seeds: [0]
representations:
  - {{name: pca, kind: pca, n_components: 8}}
  - {{name: random, kind: random, dim: 8}}
postprocessing: [center]
metrics:
{metrics}"
    )
}
