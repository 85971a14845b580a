//! End-to-end tests that run the real `pertbench` binary on a project built
//! in a temporary directory: generated relationship files in a mirror,
//! manifests pinning their sha256, a small synthetic screen, pipelines.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The conformance suite: real writers' layouts, read right or refused.
mod conformance;
mod differential;

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

#[test]
fn rerun_reuses_everything_and_a_new_representation_computes_only_its_nodes() {
    let p = Project::new();
    // ingest + 3 representations + 3 x 2 post-processings + 6 x 2 metrics.
    let first = p.ok(&["run", "pipelines/p.yaml", "--quiet"]);
    assert_eq!(counts(&first), (22, 22, 0), "{first}");
    let second = p.ok(&["run", "pipelines/p.yaml", "--quiet"]);
    assert_eq!(counts(&second), (22, 0, 22), "{second}");

    let plan = p.ok(&["plan", "pipelines/p.yaml"]);
    assert!(plan.contains("22 nodes: 22 cached, 0 to compute"), "{plan}");

    p.write(
        "pipelines/p.yaml",
        &PIPELINE.replace(
            "postprocessing:",
            "  - {name: pca_lognorm, kind: pca, n_components: 8, input: lognorm}\npostprocessing:",
        ),
    );
    let plan = p.ok(&["plan", "pipelines/p.yaml"]);
    assert!(plan.contains("29 nodes: 22 cached, 7 to compute"), "{plan}");
    let third = p.ok(&["run", "pipelines/p.yaml", "--quiet"]);
    // 1 representation + 2 post-processings + 4 metrics are new.
    assert_eq!(counts(&third), (29, 7, 22), "{third}");

    let q = p.ok(&[
        "sql",
        "SELECT COUNT(DISTINCT representation) AS n FROM results",
    ]);
    assert!(q.contains("| 4 "), "{q}");
    let rows = p.ok(&["sql", "SELECT COUNT(*) AS n FROM results WHERE metric = 'relationship_recall' AND source = 'pairs'"]);
    // 4 representations x 2 post-processings x 4 variants.
    assert!(rows.contains("| 32 "), "{rows}");
}

#[test]
fn corrupt_or_truncated_cache_files_are_detected_and_recomputed() {
    let p = Project::new();
    p.ok(&["run", "pipelines/p.yaml", "--quiet"]);
    let before = p.ok(&["sql", "SELECT representation, postprocessing, metric, variant, value FROM results ORDER BY 1, 2, 3, 4"]);
    // Truncate one post-processed matrix and flip a byte in one metric table.
    let pp_dir = std::fs::read_dir(p.path("work/cache/postprocess"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let f = pp_dir.join("matrix.npy");
    let bytes = std::fs::read(&f).unwrap();
    std::fs::write(&f, &bytes[..bytes.len() / 2]).unwrap();
    let m_dir = std::fs::read_dir(p.path("work/cache/metric"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let g = m_dir.join("rows.parquet");
    let mut bytes = std::fs::read(&g).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&g, &bytes).unwrap();

    let ls = p.ok(&["cache", "ls"]);
    assert_eq!(
        ls.lines().filter(|l| l.starts_with("corrupt")).count(),
        2,
        "{ls}"
    );
    let out = p.ok(&["run", "pipelines/p.yaml", "--quiet"]);
    assert_eq!(counts(&out), (22, 2, 20), "{out}");
    assert!(out.contains("2 repaired"), "{out}");
    let after = p.ok(&["sql", "SELECT representation, postprocessing, metric, variant, value FROM results ORDER BY 1, 2, 3, 4"]);
    assert_eq!(before, after);
}

#[test]
fn cache_gc_keeps_what_pipelines_use() {
    let p = Project::new();
    p.ok(&["run", "pipelines/p.yaml", "--quiet"]);
    p.write(
        "pipelines/p.yaml",
        &PIPELINE.replace("  - {name: random, kind: random, dim: 8}\n", ""),
    );
    let out = p.ok(&["cache", "gc"]);
    // The random representation, its 2 post-processings and 4 metrics go.
    assert!(out.starts_with("removed 7 nodes"), "{out}");
    let again = p.ok(&["run", "pipelines/p.yaml", "--quiet"]);
    assert_eq!(counts(&again), (15, 0, 15), "{again}");
}

/// Every entry under `dir` (never through a symlink) whose name starts with
/// `.tmp-`: what killed runs left behind.
fn leftover_temporaries(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if e.file_name().to_string_lossy().starts_with(".tmp-") {
            out.push(p);
        } else if e.file_type().is_ok_and(|t| t.is_dir()) {
            out.extend(leftover_temporaries(&p));
        }
    }
    out
}

#[test]
fn damaged_results_and_records_are_named_left_out_and_rebuilt_from_the_cache() {
    let p = Project::new();
    p.ok(&["run", "pipelines/p.yaml", "--quiet"]);
    p.write(
        "pipelines/p2.yaml",
        &PIPELINE.replace("name: p\n", "name: p2\n"),
    );
    let second = p.ok(&["run", "pipelines/p2.yaml", "--quiet"]);
    assert_eq!(counts(&second), (22, 0, 22), "{second}");
    let q = [
        "sql",
        "SELECT pipeline, COUNT(*) AS n FROM results GROUP BY pipeline ORDER BY pipeline",
    ];
    let both = p.ok(&q);
    assert!(both.contains("| p  ") && both.contains("| p2 "), "{both}");

    // One flipped bit in a results file: named, left out, never read.
    let file = p.path("work/results/p.parquet");
    let original = std::fs::read(&file).unwrap();
    let mut bytes = original.clone();
    bytes[original.len() / 2] ^= 0x01;
    std::fs::write(&file, &bytes).unwrap();
    let o = p.run(&q);
    let (out, err) = (
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr),
    );
    assert!(o.status.success(), "{err}");
    assert!(out.contains("| p2 ") && !out.contains("| p  "), "{out}");
    assert!(
        err.contains("p.parquet")
            && err.contains("fails its checksum")
            && err.contains("pertbench run pipelines/p.yaml"),
        "{err}"
    );
    let report = p.ok(&["report", "--output", "r.html"]);
    assert!(
        report.contains("p.parquet") && report.contains("fails its checksum"),
        "{report}"
    );

    // A malformed footer (its checksum rewritten to match): no panic.
    let n = original.len();
    let mut bytes = original.clone();
    bytes[n - 8..n - 4].copy_from_slice(&u32::MAX.to_le_bytes());
    std::fs::write(&file, &bytes).unwrap();
    std::fs::write(
        p.path("work/results/.p.parquet.sha256"),
        format!("{}  p.parquet\n", sha256(&file)),
    )
    .unwrap();
    for args in [&q[..], &["report", "--output", "r.html"][..]] {
        let o = p.run(args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(0), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
    let err = String::from_utf8_lossy(&p.run(&q).stderr).to_string();
    assert!(err.contains("malformed Parquet footer"), "{err}");

    // A 0-byte file is not an empty sweep.
    std::fs::write(&file, b"").unwrap();
    std::fs::remove_file(p.path("work/results/p2.parquet")).unwrap();
    let e = p.fails(&q);
    assert!(e.contains("p.parquet") && e.contains("0-byte"), "{e}");
    let report = p.ok(&["report", "--output", "r.html"]);
    assert!(
        report.contains("0-byte") && !report.contains("empty sweep"),
        "{report}"
    );

    // Rebuilt from the cache: nothing recomputed.
    let again = p.ok(&["run", "pipelines/p.yaml", "--quiet"]);
    assert_eq!(counts(&again), (22, 0, 22), "{again}");
    let o = p.run(&q);
    assert!(String::from_utf8_lossy(&o.stdout).contains("| p  "));
    assert!(!String::from_utf8_lossy(&o.stderr).contains("warning"));

    // An edited node record (its `meta` feeds later computation) is corrupt.
    let m_dir = std::fs::read_dir(p.path("work/cache/metric"))
        .unwrap()
        .flatten()
        .find(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .unwrap()
        .path();
    let rec = m_dir.join("node.json");
    let text = std::fs::read_to_string(&rec).unwrap();
    std::fs::write(&rec, text.replacen("\"label\": \"", "\"label\": \"x", 1)).unwrap();
    let ls = p.ok(&["cache", "ls"]);
    assert_eq!(
        ls.lines().filter(|l| l.starts_with("corrupt")).count(),
        1,
        "{ls}"
    );
    let out = p.ok(&["run", "pipelines/p.yaml", "--quiet"]);
    assert_eq!(counts(&out), (22, 1, 21), "{out}");
    assert!(out.contains("1 repaired"), "{out}");
}

#[test]
fn gc_refuses_without_pipelines_and_never_touches_what_it_does_not_own() {
    let p = Project::new();
    p.ok(&["run", "pipelines/p.yaml", "--quiet"]);
    let outside = tempfile::tempdir().unwrap();
    let victim = outside.path().join("a".repeat(64));
    std::fs::create_dir_all(&victim).unwrap();
    std::fs::write(victim.join("precious"), b"x").unwrap();
    let metric = p.path("work/cache/metric");
    std::os::unix::fs::symlink(&victim, metric.join("b".repeat(64))).unwrap();
    std::os::unix::fs::symlink(outside.path(), p.path("work/cache/representation/linked")).unwrap();
    std::fs::write(metric.join("stray.txt"), b"x").unwrap();
    let nodes = |p: &Project| {
        p.ok(&["cache", "ls"])
            .lines()
            .filter(|l| l.starts_with("ok "))
            .count()
    };
    assert_eq!(nodes(&p), 22);

    // No pipeline given and none found: refuse, remove nothing.
    std::fs::rename(p.path("pipelines"), p.path("pipelines.off")).unwrap();
    let e = p.fails(&["cache", "gc"]);
    assert!(e.contains("--all") && e.contains("would be removed"), "{e}");
    std::fs::rename(p.path("pipelines.off"), p.path("pipelines")).unwrap();
    assert_eq!(nodes(&p), 22);

    p.write(
        "pipelines/p.yaml",
        &PIPELINE.replace("  - {name: random, kind: random, dim: 8}\n", ""),
    );
    let out = p.ok(&["cache", "gc"]);
    assert!(out.starts_with("removed 7 nodes"), "{out}");
    assert_eq!(out.matches("\nleft: ").count(), 3, "{out}");
    assert!(victim.join("precious").exists() && outside.path().join("a".repeat(64)).exists());
    assert!(metric.join("stray.txt").exists());
    let ls = p.ok(&["cache", "ls"]);
    assert_eq!(
        ls.lines().filter(|l| l.starts_with("foreign")).count(),
        3,
        "{ls}"
    );
    assert_eq!(nodes(&p), 15);
}

#[test]
fn killed_runs_leave_nothing_behind_and_concurrent_runs_compute_each_node_once() {
    let p = Project::new();
    let spawn = |p: &Project| {
        p.command(&["run", "pipelines/p.yaml", "--quiet"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    // Three processes on one workdir: none fails, each node computed once.
    let runs: Vec<_> = (0..3).map(|_| spawn(&p)).collect();
    let mut computed = 0;
    for r in runs {
        let o = r.wait_with_output().unwrap();
        let (out, err) = (
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr),
        );
        assert!(o.status.success(), "{out}\n{err}");
        let (n, c, reused) = counts(&out);
        assert_eq!((n, c + reused), (22, 22), "{out}");
        computed += c;
    }
    assert_eq!(
        computed, 22,
        "every node computed exactly once across the three runs"
    );
    // Relationship recall does not depend on the consistency permutations
    // changed below: its rows stay.
    let relationship = "SELECT metric_key, variant, source, value, ci_low, ci_high, null_mean, p_value FROM results WHERE metric = 'relationship_recall' ORDER BY 1, 2, 3";
    let results = p.ok(&["sql", relationship]);

    // Runs killed at staggered moments; the next run recovers their
    // temporaries and repairs nothing it cannot verify.
    // A slower pipeline (more permutations), so that the kills land while
    // nodes are being computed and written.
    p.write(
        "pipelines/p.yaml",
        &PIPELINE.replace("n_permutations: 50}", "n_permutations: 3000}"),
    );
    let started = std::time::Instant::now();
    p.ok(&["run", "pipelines/p.yaml", "--quiet"]);
    let full_ms = started.elapsed().as_millis() as u64;
    std::fs::remove_dir_all(p.path("work/cache")).unwrap();
    let mut killed = 0;
    for k in 1..=6u64 {
        let delay_ms = full_ms * k / 10;
        let mut child = spawn(&p);
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        child.kill().unwrap();
        use std::os::unix::process::ExitStatusExt as _;
        killed += usize::from(child.wait().unwrap().signal() == Some(9));
    }
    // And what a kill in the middle of a write leaves, planted: temporaries
    // of a process that has exited, one of a live process (this test's).
    let mut dead = Command::new("true").spawn().unwrap();
    let dead_pid = dead.id();
    dead.wait().unwrap();
    let stale = pertbench_data::durable::temp_prefix_of("node", dead_pid);
    for dir in [
        "work/cache/metric",
        "work/cache/ingest",
        "work/results",
        "work/data/artefacts",
    ] {
        std::fs::create_dir_all(p.path(dir)).unwrap();
        std::fs::create_dir_all(p.path(&format!("{dir}/{stale}x/sub"))).unwrap();
        std::fs::write(
            p.path(&format!("{dir}/{stale}x/sub/partial.parquet")),
            b"PAR1",
        )
        .unwrap();
        std::fs::write(p.path(&format!("{dir}/{stale}file")), b"half").unwrap();
    }
    let live = p.path(&format!(
        "work/cache/metric/{}y",
        pertbench_data::durable::temp_prefix("node")
    ));
    std::fs::create_dir_all(&live).unwrap();
    let ls = p.ok(&["cache", "ls"]);
    assert!(
        ls.lines().any(|l| l.starts_with("stale")) && ls.lines().any(|l| l.starts_with("running")),
        "{ls}"
    );
    eprintln!(
        "a full run took {full_ms} ms; {killed} of 6 runs killed while running; {} temporaries before the next run",
        leftover_temporaries(p.dir.path()).len()
    );
    assert!(
        killed >= 2,
        "only {killed} of 6 runs were still running when killed"
    );
    let out = p.ok(&["run", "pipelines/p.yaml", "--quiet"]);
    assert_eq!(counts(&out).0, 22, "{out}");
    let removed: usize = out
        .lines()
        .find_map(|l| l.strip_prefix("removed ")?.split(' ').next()?.parse().ok())
        .unwrap_or(0);
    assert!(
        removed >= 8,
        "the 8 planted and whatever the kills left: {out}"
    );
    // Only the live process's temporary is left.
    let left = leftover_temporaries(p.dir.path());
    assert_eq!(left, vec![live.clone()]);
    std::fs::remove_dir(&live).unwrap();
    let ls = p.ok(&["cache", "ls"]);
    assert_eq!(
        ls.lines().filter(|l| l.starts_with("ok ")).count(),
        22,
        "{ls}"
    );
    assert_eq!(ls.lines().count(), 23, "{ls}");
    // Unchanged nodes give the rows they gave before the kills.
    assert_eq!(p.ok(&["sql", relationship]), results);
}

#[test]
fn pipeline_typos_name_file_line_and_column() {
    let p = Project::new();
    p.write(
        "pipelines/bad.yaml",
        &PIPELINE.replace("n_components: 8", "n_componets: 8"),
    );
    let e = p.fails(&["run", "pipelines/bad.yaml"]);
    assert!(
        e.contains("pipelines/bad.yaml: line 5, column") && e.contains("n_componets"),
        "{e}"
    );
    p.write(
        "pipelines/bad.yaml",
        &PIPELINE.replace("datasets: [synth]", "datasets: [nothere]"),
    );
    let e = p.fails(&["run", "pipelines/bad.yaml"]);
    assert!(
        e.contains("dataset `nothere`") && e.contains("known datasets"),
        "{e}"
    );
    assert!(!p.path("work/results/p.parquet").exists());
}

#[test]
fn checksum_mismatch_is_an_error_and_leaves_nothing_behind() {
    let p = Project::new();
    std::fs::write(p.path("mirror/pairs.txt"), "entity1,entity2\nA,B\n").unwrap();
    let e = p.fails(&["fetch", "pairs"]);
    assert!(
        e.contains("sha256 mismatch") && e.contains("pairs.txt"),
        "{e}"
    );
    let e = p.fails(&["run", "pipelines/p.yaml", "--quiet"]);
    assert!(e.contains("sha256 mismatch"), "{e}");
    // The recall nodes failed; the rest of the sweep ran (issue 20), and
    // no row of the unverified file was written.
    let n = p.ok(&[
        "sql",
        "SELECT COUNT(*) AS n_rows FROM results WHERE metric = 'relationship_recall'",
    ]);
    assert_eq!(table_rows(&n, "n_rows")[0][0], "0", "{n}");
    assert!(!p.path("work/data/artefacts/pairs.txt").exists());
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

#[test]
fn batch_without_controls_is_excluded_and_reported() {
    let rows = screen_rows();
    let p = table_project(&rows, rows.len(), None);
    p.ok(&["run", "pipelines/t.yaml", "--quiet"]);
    let q = p.ok(&["sql", "SELECT postprocessing, excluded_batches FROM results WHERE variant = 'fraction_significant' ORDER BY 1"]);
    assert!(
        q.contains("b3 (2 samples): batch has 0 control samples"),
        "{q}"
    );
    let raw_line = q.lines().find(|l| l.contains("| raw")).unwrap();
    assert!(!raw_line.contains("b3"), "{q}");
}

#[test]
fn nan_and_row_count_mismatch_in_a_representation_are_errors() {
    let rows = screen_rows();
    let p = table_project(&rows, rows.len(), Some((5, 2)));
    let e = p.fails(&["run", "pipelines/t.yaml", "--quiet"]);
    assert!(
        e.contains("emb.npy") && e.contains("row 5, column 2"),
        "{e}"
    );
    // Every cell failed: the run's results file holds no row.
    let n = p.ok(&["sql", "SELECT COUNT(*) AS n_rows FROM results"]);
    assert_eq!(table_rows(&n, "n_rows")[0][0], "0", "{n}");
    let p = table_project(&rows, rows.len() - 1, None);
    let e = p.fails(&["run", "pipelines/t.yaml", "--quiet"]);
    assert!(
        e.contains("emb.npy has 27 rows") && e.contains("28 samples"),
        "{e}"
    );
}

#[test]
fn missing_column_is_named() {
    let rows = screen_rows();
    let p = table_project(&rows, rows.len(), None);
    let m = std::fs::read_to_string(p.path("manifests/tab.yaml")).unwrap();
    p.write(
        "manifests/tab.yaml",
        &m.replace("batch: batch", "batch: plate"),
    );
    let e = p.fails(&["run", "pipelines/t.yaml", "--quiet"]);
    assert!(
        e.contains("meta.csv: column `plate` (mapped as `batch`) is missing"),
        "{e}"
    );
}

#[test]
fn datasets_lists_a_manifest_that_does_not_parse_with_its_error() {
    let p = Project::new();
    p.write(
        "manifests/broken.yaml",
        "name: broken\nformat: h5ad\nsource: {file: b.h5ad}\nsha256: unpinned\ncolums: {}\n",
    );
    let out = p.ok(&["datasets"]);
    assert!(out.contains("synth"), "{out}");
    let line = out
        .lines()
        .find(|l| l.contains("broken.yaml"))
        .unwrap_or_else(|| panic!("the broken manifest is not listed:\n{out}"));
    assert!(
        line.contains("error") && line.contains("line 5") && line.contains("colums"),
        "{line}"
    );
}

#[test]
fn init_warns_when_labels_name_no_gene_of_the_relationship_sources() {
    // A profile table whose perturbations are guide ids, not gene symbols.
    let p = Project::new();
    let mut csv = String::from("Metadata_guide,Metadata_plate,Metadata_control,f1,f2\n");
    for i in 0..60 {
        let guide = if i % 6 == 0 {
            "non-targeting".to_string()
        } else {
            format!("sg{}_{}", i % 5, i % 3)
        };
        csv += &format!(
            "{guide},P{},{},{}.5,{}\n",
            i % 3,
            (i % 6 == 0) as u8,
            i % 7,
            i % 11
        );
    }
    p.write("mirror/guides.csv", &csv);
    let out = p.ok(&["init", "mirror/guides.csv"]);
    assert!(
        out.contains("perturbation labels of `Metadata_guide` name a gene of the relationship sources (pairs)"),
        "{out}"
    );
    let manifest = std::fs::read_to_string(p.path("manifests/guides.yaml")).unwrap();
    assert!(
        manifest.contains("features: {}") && manifest.contains("perturbation: Metadata_guide"),
        "{manifest}"
    );
}

#[test]
fn sql_refuses_writes() {
    let p = Project::new();
    p.ok(&["run", "pipelines/p.yaml", "--quiet"]);
    let e = p.fails(&["sql", "COPY results TO 'out.csv'"]);
    assert!(e.contains("refused"), "{e}");
    assert!(!p.path("out.csv").exists());
    let e = p.fails(&[
        "sql",
        "CREATE EXTERNAL TABLE x STORED AS CSV LOCATION 'mirror/pairs.txt'",
    ]);
    assert!(e.contains("refused"), "{e}");
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
    let work = tempfile::tempdir().unwrap();
    let stdout = repo_pertbench(work.path(), shared, &["run", pipeline, "--quiet"]);
    assert!(
        stdout.contains("relationship_recall"),
        "report printed: {stdout}"
    );
    let q = "SELECT source, representation, MAX(value) AS best FROM results WHERE metric = 'relationship_recall' AND variant = 'recall_0.05_0.95' AND value IS NOT NULL GROUP BY source, representation";
    let sql = repo_pertbench(work.path(), shared, &["sql", q]);
    let mut best = std::collections::BTreeMap::new();
    for cells in table_rows(&sql, "source") {
        best.insert(
            (cells[0].to_string(), cells[1].to_string()),
            cells[2].parse().unwrap(),
        );
    }
    best
}

#[test]
fn quickstart_pca_beats_baselines_on_every_source() {
    let Some(shared) = shared() else { return };
    let best = run_repo_pipeline("pipelines/quickstart.yaml", &shared);
    for source in ["corum", "humap", "reactome", "signor", "stringdb"] {
        let pca = best[&(source.to_string(), "pca".to_string())];
        for b in ["random", "shuffled"] {
            let base = best[&(source.to_string(), b.to_string())];
            assert!(pca > base + 0.1, "{source}: pca {pca} vs {b} {base}");
        }
    }
}

#[test]
fn papalexi_pca_beats_baselines_on_stringdb_reactome_signor() {
    let Some(shared) = shared() else { return };
    let best = run_repo_pipeline("pipelines/papalexi.yaml", &shared);
    for source in ["stringdb", "reactome", "signor"] {
        let pca = best[&(source.to_string(), "pca".to_string())];
        for b in ["random", "shuffled"] {
            let base = best[&(source.to_string(), b.to_string())];
            assert!(pca > base, "{source}: pca {pca} vs {b} {base}");
        }
    }
}

#[test]
fn table_representation_aligns_by_sample_id() {
    let rows = screen_rows();
    let p = table_project(&rows, rows.len(), None);
    // The same embedding as emb.npy, written as CSV in reverse row order with ids.
    let m = pertbench_data::npy::read(&p.path("emb.npy")).unwrap();
    let mut csv = String::from("cell,e0,e1,e2,e3\n");
    for i in (0..m.nrows()).rev() {
        let r = m.row(i);
        csv.push_str(&format!("c{i},{},{},{},{}\n", r[0], r[1], r[2], r[3]));
    }
    p.write("emb.csv", &csv);
    p.write(
        "pipelines/t.yaml",
        "name: t\ndatasets: [tab]\nrepresentations:\n  - {name: model, kind: npy, path: emb.npy}\n  - {name: table, kind: table, path: emb.csv, id_column: cell, prefix: e}\npostprocessing: [raw, center]\nmetrics:\n  - {kind: consistency, null: permutation, n_permutations: 20}\n",
    );
    p.ok(&["run", "pipelines/t.yaml", "--quiet"]);
    let q = p.ok(&["sql", "SELECT COUNT(DISTINCT value) AS n, COUNT(*) AS rows FROM results WHERE variant = 'mean_avgsim' AND postprocessing = 'raw'"]);
    // Both representations give the same mean avgsim.
    assert!(q.contains("| 1 | 2    |"), "{q}");
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

#[test]
fn hierarchy_tasks_run_cache_their_splits_and_rank_pca_above_random() {
    let p = Project::new();
    p.write("pipelines/h.yaml", HIERARCHY);
    // ingest + 2 splits + (pca + random) x 2 seeds... pca is seeded too:
    // 4 representations, 8 post-processings, 8 x (1 unseeded-ilisi + 3) metrics.
    let first = p.ok(&["run", "pipelines/h.yaml", "--quiet"]);
    assert_eq!(counts(&first), (47, 47, 0), "{first}");
    let best = best_values(&p);
    let get = |m: &str, v: &str, r: &str| best[&(m.to_string(), v.to_string(), r.to_string())];
    // The run summary: peak memory and the headline metrics, one line each.
    assert!(first.contains(", peak memory "), "{first}");
    let summary_line = |metric: &str| {
        first
            .lines()
            .find(|l| l.contains(metric))
            .unwrap_or_else(|| panic!("{metric}: {first}"))
            .to_string()
    };
    // Cells are separated by two or more spaces: task, metric, pca, random.
    let cells = |line: &str| -> Vec<String> {
        line.split("  ")
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map(String::from)
            .collect()
    };
    let knn = cells(&summary_line("knn top1 ↑"));
    assert_eq!(knn.len(), 4, "{knn:?}");
    assert!(
        knn[2].starts_with(&format!("{:.4} ", get("knn", "top1", "pca"))) && knn[2].ends_with(" *"),
        "{knn:?}"
    );
    assert!(
        knn[3].starts_with(&format!("{:.4} ", get("knn", "top1", "random")))
            && !knn[3].ends_with('*'),
        "{knn:?}"
    );
    // Errors are summarised by their smallest mean.
    let mse = summary_line("interpretability mse ↓");
    assert!(
        mse.contains(&format!("{:.4} ", -get("interpretability", "mse", "pca"))),
        "{mse}"
    );
    for (m, v) in [
        ("linear_probe", "top1"),
        ("knn", "top1"),
        ("interpretability", "spearman"),
        ("interpretability", "structural_integrity"),
    ] {
        assert!(
            get(m, v, "pca") > get(m, v, "random"),
            "{m} {v}: pca {} random {}",
            get(m, v, "pca"),
            get(m, v, "random")
        );
    }
    // Random embeddings mix batches at least as well as PCA (paper 004, Task 1).
    assert!(get("ilisi", "ilisi_mean", "random") >= get("ilisi", "ilisi_mean", "pca") - 0.05);
    // Errors are flagged lower-is-better for the leaderboards.
    let flags = p.ok(&["sql", "SELECT DISTINCT variant, higher_is_better FROM results WHERE variant IN ('mse', 'mae', 'spearman') ORDER BY 1"]);
    assert!(
        flags.contains("| mae      | false")
            && flags.contains("| mse      | false")
            && flags.contains("| spearman | true"),
        "{flags}"
    );

    // A new metric reuses ingest, splits, representations and post-processings.
    p.write(
        "pipelines/h.yaml",
        &format!("{HIERARCHY}  - {{kind: knn, name: knn_cosine, weights: cosine}}\n"),
    );
    let second = p.ok(&["run", "pipelines/h.yaml", "--quiet"]);
    assert_eq!(counts(&second), (55, 8, 47), "{second}");

    // The same summary for machines: nothing left to compute.
    let json: serde_json::Value =
        serde_json::from_str(&p.ok(&["run", "pipelines/h.yaml", "--quiet", "--json"])).unwrap();
    assert_eq!(json["pipeline"], "h");
    assert_eq!(json["nodes"]["total"], 55);
    assert_eq!(json["nodes"]["computed"], 0);
    assert_eq!(json["nodes"]["reused"], 55);
    assert!(json["seconds"].as_f64().unwrap() > 0.0);
    assert!(json["peak_rss_bytes"].as_u64().unwrap() > 1_000_000);
    let headline = json["headline"].as_array().unwrap();
    // ilisi (2), linear_probe (2), knn and knn_cosine (2 each),
    // interpretability (4): 12 metrics x 2 representations.
    assert_eq!(headline.len(), 24, "{json}");
    let entry = |metric: &str, variant: &str, rep: &str| {
        headline
            .iter()
            .find(|e| {
                e["metric"] == metric && e["variant"] == variant && e["representation"] == rep
            })
            .unwrap_or_else(|| panic!("{metric} {variant} {rep}"))
    };
    let knn = entry("knn", "top1", "pca");
    assert!((knn["mean"].as_f64().unwrap() - get("knn", "top1", "pca")).abs() < 1e-12);
    assert_eq!(knn["n_seeds"], 2);
    assert_eq!(knn["best"], true);
    assert_eq!(entry("knn", "top1", "random")["best"], false);
    assert_eq!(
        entry("interpretability", "mse", "pca")["higher_is_better"],
        false
    );

    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let table = p.ok(&[
        "sql",
        "--file",
        repo.join("sql/hierarchy_table.sql").to_str().unwrap(),
    ]);
    for want in [
        "1 batch mixing",
        "2 linear separability",
        "4 kNN organisation",
        "6 linear interpretability",
        "structural_integrity",
        "| pca ",
    ] {
        assert!(table.contains(want), "{want}: {table}");
    }

    // The HTML report of the sweep: every section, a plot per headline
    // metric, and Tasks 3 and 5 said to be missing.
    let html_path = p.path("out/report.html");
    std::fs::create_dir_all(p.path("out")).unwrap();
    let said = p.ok(&["report", "-o", html_path.to_str().unwrap()]);
    assert!(said.contains("plots ->"), "{said}");
    assert!(
        said.contains("missing: Task 3 perturbation consistency: no rows")
            && said.contains("missing: Task 5 known relationship recall: no rows"),
        "{said}"
    );
    let html = std::fs::read_to_string(&html_path).unwrap();
    for id in pertbench_report::html::SECTIONS {
        assert!(html.contains(&format!("<section id=\"{id}\">")), "{id}");
    }
    // ilisi (2), linear_probe (2), knn and knn_cosine (2 each), and
    // interpretability (spearman, pearson, mse, structural_integrity).
    assert_eq!(html.matches("<svg").count(), 12, "{said}");
    assert!(html.contains("<td class=\"best\">"));
    assert!(!html.contains("<script") && !html.contains("<link"));
}

#[test]
fn papalexi_hierarchy_pca_beats_baselines_on_tasks_2_to_6() {
    let Some(shared) = shared() else { return };
    let work = tempfile::tempdir().unwrap();
    let pipeline = work.path().join("h.yaml");
    std::fs::write(
        &pipeline,
        "name: papalexi_h\ndatasets: [papalexi2021]\nseeds: [0]\nrepresentations:\n  - {name: pca, kind: pca, n_components: 50}\n  - {name: random, kind: random, dim: 50}\n  - {name: shuffled, kind: shuffled, of: pca}\npostprocessing: [raw, center_scale]\nmetrics:\n  - {kind: ilisi, on: all}\n  - {kind: linear_probe}\n  - {kind: consistency, null: permutation, n_permutations: 200}\n  - {kind: knn}\n  - {kind: relationship_recall, sources: [stringdb]}\n  - {kind: interpretability}\n",
    )
    .unwrap();
    let w = work.path().join("w");
    repo_pertbench(&w, &shared, &["run", pipeline.to_str().unwrap(), "--quiet"]);
    let q = "SELECT metric, variant, representation, MAX(CASE WHEN higher_is_better THEN value ELSE -value END) AS best FROM results WHERE pipeline = 'papalexi_h' AND value IS NOT NULL GROUP BY 1, 2, 3";
    let text = repo_pertbench(&w, &shared, &["sql", q]);
    let mut best = std::collections::BTreeMap::new();
    for c in table_rows(&text, "variant") {
        best.insert(
            (c[0].clone(), c[1].clone(), c[2].clone()),
            c[3].parse::<f64>().unwrap(),
        );
    }
    let get = |m: &str, v: &str, r: &str| best[&(m.to_string(), v.to_string(), r.to_string())];
    for (m, v) in [
        ("linear_probe", "top1"),
        ("consistency", "fraction_significant"),
        ("knn", "top1"),
        ("relationship_recall", "recall_0.05_0.95"),
        ("interpretability", "spearman"),
        ("interpretability", "structural_integrity"),
    ] {
        for b in ["random", "shuffled"] {
            assert!(
                get(m, v, "pca") > get(m, v, b),
                "{m} {v}: pca {} vs {b} {}",
                get(m, v, "pca"),
                get(m, v, b)
            );
        }
    }
    // Task 1: a baseline mixes batches at least as well as PCA.
    let base_mix = get("ilisi", "ilisi_mean", "random").max(get("ilisi", "ilisi_mean", "shuffled"));
    assert!(base_mix >= get("ilisi", "ilisi_mean", "pca"), "{text}");
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

/// An L1000-shaped screen (log expression in gctx files: treated plates, a
/// shared control file with another screen's plate, an instinfo table) runs
/// through `fetch` and a pipeline, and PCA beats a random embedding.
#[test]
fn gctx_log_expression_screen_fetches_its_parts_and_runs() {
    use pertbench_data::gctx;
    let p = Project::new();
    // splitmix64 noise in [-0.5, 0.5).
    let mut state = 7u64;
    let mut noise = move || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f32 / (1u64 << 53) as f32 - 0.5
    };
    let genes: Vec<String> = (0..30)
        .flat_map(|c| (0..(3 + c % 3)).map(move |k| format!("G{c}_{k}")))
        .collect();
    let perts: Vec<(usize, String)> = (0..12)
        .flat_map(|c| (0..3).map(move |k| (c, format!("G{c}_{k}"))))
        .collect();
    let n_genes = genes.len();
    // Complex c moves gene g by +-1.2 on a third of the genes.
    let effect = |c: usize, g: usize| -> f32 {
        match (c * 7 + g * 13) % 6 {
            0 => 1.2,
            1 => -1.2,
            _ => 0.0,
        }
    };
    let mut trt_ids = vec![];
    let mut ctl_ids = vec![];
    let mut trt = vec![];
    let mut ctl = vec![];
    let mut info = String::from("sample_id\tcmap_name\tpert_type\tdet_plate\tcell_iname\n");
    for plate in 0..6 {
        let cell = if plate < 3 { "A375" } else { "HT29" };
        let base = |g: usize| 8.0 + (g % 5) as f32 * 0.5 + ((plate * 3 + g) % 4) as f32 * 0.3;
        for (c, name) in &perts {
            let id = format!("P{plate}:{name}");
            trt.push(
                (0..n_genes)
                    .map(|g| base(g) + effect(*c, g) + noise())
                    .collect::<Vec<f32>>(),
            );
            info.push_str(&format!("{id}\t{name}\ttrt_xpr\tP{plate}\t{cell}\n"));
            trt_ids.push(id);
        }
        for k in 0..8 {
            let id = format!("P{plate}:ctl{k}");
            ctl.push(
                (0..n_genes)
                    .map(|g| base(g) + noise())
                    .collect::<Vec<f32>>(),
            );
            info.push_str(&format!("{id}\tLACZ\tctl_vector\tP{plate}\t{cell}\n"));
            ctl_ids.push(id);
        }
    }
    // Another screen's control plate, and a treated sample with no metadata.
    for k in 0..5 {
        let id = format!("P9:dmso{k}");
        ctl.push(vec![9.0; n_genes]);
        info.push_str(&format!("{id}\tDMSO\tctl_vehicle\tP9\tMCF7\n"));
        ctl_ids.push(id);
    }
    trt.push(vec![1.0; n_genes]);
    trt_ids.push("orphan".into());
    let write = |file: &str, ids: &[String], rows: &[Vec<f32>]| {
        gctx::write(
            &p.path(&format!("mirror/{file}")),
            ids,
            &genes,
            &[],
            16,
            &mut |first, b| {
                for ((i, g), v) in b.indexed_iter_mut() {
                    *v = rows[first + i][g];
                }
            },
        )
        .unwrap();
    };
    write("trt.gctx", &trt_ids, &trt);
    write("ctl.gctx", &ctl_ids, &ctl);
    p.write("mirror/instinfo.tsv", &info);
    p.manifest("instinfo", "table", "instinfo.tsv");
    let columns = "columns:\n  perturbation: cmap_name\n  batch: det_plate\n  context: cell_iname\n  batches: with_perturbations\n  control: {column: pert_type, in: [ctl_vector, ctl_untrt, ctl_vehicle]}\n";
    for (name, file, extra) in [
        ("l1000_ctl", "ctl.gctx", ""),
        (
            "l1000",
            "trt.gctx",
            "append: [l1000_ctl]\nmetadata: {dataset: instinfo, key: sample_id}\n",
        ),
    ] {
        let sha = sha256(&p.path(&format!("mirror/{file}")));
        p.write(
            &format!("manifests/{name}.yaml"),
            &format!("name: {name}\nformat: gctx\nsource: {{file: {file}}}\nsha256: {sha}\nvalues: log_expression\n{extra}{columns}"),
        );
    }
    let fetched = p.ok(&["fetch", "l1000"]);
    for name in ["l1000:", "l1000_ctl:", "instinfo:"] {
        assert!(fetched.contains(name), "{name}: {fetched}");
    }
    p.write(
        "pipelines/l1000.yaml",
        &pca_vs_random(
            "l1000",
            "  - {kind: consistency, null: permutation, n_permutations: 100}
  - {kind: relationship_recall, sources: [pairs]}
  - {kind: interpretability}
",
        ),
    );
    let out = p.ok(&["run", "pipelines/l1000.yaml", "--quiet"]);
    assert!(out.contains("nodes"), "{out}");
    let best = best_values(&p);
    let get = |m: &str, v: &str, r: &str| best[&(m.to_string(), v.to_string(), r.to_string())];
    for (m, v) in [
        ("consistency", "fraction_significant"),
        ("relationship_recall", "recall_0.1_0.9"),
        ("interpretability", "spearman"),
    ] {
        assert!(
            get(m, v, "pca") > get(m, v, "random") + 0.2,
            "{m} {v}: {best:?}"
        );
    }
    let conv = p.ok(&[
        "sql",
        "SELECT DISTINCT convention FROM results WHERE metric = 'interpretability'",
    ]);
    assert!(conv.contains("target=log_expression"), "{conv}");
}

/// The distribution metric end to end: results carry bootstrap intervals,
/// and PCA separates knock-outs from controls where a random embedding
/// does not.
#[test]
fn distribution_metric_reports_intervals_and_ranks_pca_above_random() {
    let p = Project::new();
    p.write(
        "pipelines/d.yaml",
        &pca_vs_random("synth", "  - {kind: distribution, n_permutations: 99}\n"),
    );
    p.ok(&["run", "pipelines/d.yaml", "--quiet"]);
    let out = p.ok(&["sql", "SELECT representation, variant, value, ci_low, ci_high, n_items FROM results ORDER BY representation, variant"]);
    let rows = table_rows(&out, "variant");
    let get = |r: &str, v: &str| {
        rows.iter()
            .find(|c| c[0] == r && c[1] == v)
            .unwrap_or_else(|| panic!("{r} {v}: {out}"))
            .clone()
    };
    for r in ["pca", "random"] {
        let e = get(r, "mean_energy");
        let (value, lo, hi): (f64, f64, f64) = (
            e[2].parse().unwrap(),
            e[3].parse().unwrap(),
            e[4].parse().unwrap(),
        );
        assert!(lo <= value && value <= hi, "{e:?}");
    }
    let frac = |r: &str| -> f64 { get(r, "fraction_significant_energy")[2].parse().unwrap() };
    assert!(frac("pca") > frac("random") + 0.3, "{out}");
}

/// Transfer probes and prediction baselines end to end: the results table
/// carries nulls and intervals, PCA's in-domain transfer beats its
/// shuffled-label null where a random embedding's does not, and the mean
/// predictor's discrimination collapses.
#[test]
fn transfer_and_prediction_run_through_a_pipeline() {
    let p = Project::new();
    p.write(
        "pipelines/t.yaml",
        &pca_vs_random(
            "synth",
            "  - {kind: transfer, n_permutations: 99}\n  - {kind: prediction}\n",
        ),
    );
    p.ok(&["run", "pipelines/t.yaml", "--quiet"]);
    let out = p.ok(&["sql", "SELECT representation, metric, COALESCE(source, '-') AS source, variant, value, ci_low, ci_high, null_mean, p_value, n_items FROM results ORDER BY 1, 2, 3, 4"]);
    let rows = table_rows(&out, "variant");
    let get = |r: &str, m: &str, s: &str, v: &str| -> Vec<String> {
        rows.iter()
            .find(|c| c[0] == r && c[1] == m && c[2] == s && c[3] == v)
            .unwrap_or_else(|| panic!("{r} {m} {s} {v}: {out}"))
            .clone()
    };
    let num = |c: &[String], k: usize| -> f64 { c[k].parse().unwrap_or_else(|_| panic!("{c:?}")) };
    let pca = get("pca", "transfer", "-", "in_domain");
    let random = get("random", "transfer", "-", "in_domain");
    assert!(
        num(&pca, 4) > num(&pca, 7) + 0.2 && num(&pca, 8) < 0.05,
        "{pca:?}"
    );
    assert!(num(&random, 8) > 0.05, "{random:?}");
    assert!(
        num(&pca, 5) <= num(&pca, 4) && num(&pca, 4) <= num(&pca, 6),
        "{pca:?}"
    );
    get("pca", "transfer", "-", "drop_lopo_mean_shift");
    // The mean predictor gives every perturbation one answer: top-1 is 1/N.
    let mean_top1 = get("pca", "prediction", "mean", "top1_identified");
    let n = num(&mean_top1, 9);
    assert!((num(&mean_top1, 4) - 1.0 / n).abs() < 1e-3, "{mean_top1:?}");
    let control = get("pca", "prediction", "control", "pearson_delta");
    assert_eq!(
        control[4], "",
        "a zero shift has no Pearson correlation: {control:?}"
    );
}

/// `pertbench bench` on a tiny tier: it measures the machine, generates the
/// screen (once), streams its counts into the count cache, and prints every
/// node of the six tasks x four post-processings with time, peak memory and
/// rate; the results are queryable in the bench's workspace.
#[test]
fn bench_prints_every_node_with_time_memory_and_rate() {
    let Some(shared) = shared() else { return };
    let work = tempfile::tempdir().unwrap();
    let bench = |extra: &[&str]| {
        let mut args = vec![
            "bench",
            "--tier",
            "1k",
            "--nnz-per-row",
            "40",
            "--max-queries",
            "300",
            "--quiet",
        ];
        args.extend(extra);
        repo_pertbench(work.path(), &shared, &args)
    };
    let out = bench(&[]);
    assert!(
        out.contains("machine: ") && out.contains("GFLOP/s") && out.contains("GB/s"),
        "{out}"
    );
    assert!(
        out.contains(
            "1000 cells x 8248 genes (~40 non-zeros per cell), 20 knock-outs, 3 gem groups"
        ) && out.contains("generated in"),
        "{out}"
    );
    let metric_lines: Vec<&str> = out.lines().filter(|l| l.starts_with("metric ")).collect();
    assert_eq!(metric_lines.len(), 24, "{out}");
    for pp in ["raw", "center", "center_scale", "tvn"] {
        for task in pertbench_schema::Task::PAPER.map(|t| t.paper_metric_kind().unwrap()) {
            let line = metric_lines
                .iter()
                .find(|l| l.contains(&format!("/embedding/{pp}/{task}")))
                .unwrap_or_else(|| panic!("no {pp}/{task} line in {out}"));
            // wall seconds and peak memory are printed for every node.
            assert!(line.contains(" GB "), "{line}");
        }
    }
    let knn = metric_lines
        .iter()
        .find(|l| l.contains("/raw/knn"))
        .unwrap();
    assert!(knn.contains("GFLOP/s"), "kNN counts its products: {knn}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("ingest ") && l.contains("GB/s")),
        "{out}"
    );
    assert!(out.contains("144 result rows"), "{out}");
    // The data are generated once; a second bench reuses them, with the
    // pipeline rewritten for its own options.
    assert!(bench(&["--label-shuffles", "7"]).contains("(generated earlier)"));
    let results = work.path().join("bench/1k/work");
    let sql = |q: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_pertbench"))
            .args(["--workdir", results.to_str().unwrap()])
            .args(["sql", q])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    // The kNN rows record their sampled queries, Task 3 its label shuffles.
    let text = sql("SELECT DISTINCT convention FROM results WHERE metric = 'knn'");
    assert!(text.contains("queries="), "{text}");
    let text = sql("SELECT DISTINCT convention FROM results WHERE metric = 'consistency'");
    assert!(text.contains("label_shuffle=7;"), "{text}");
}

#[test]
fn explain_prints_each_metric_and_names_typos() {
    let p = Project::new();
    let index = p.ok(&["explain"]);
    for kind in pertbench_engine::pipeline::MetricKind::ALL {
        assert!(index.contains(&format!("  {} ", kind.name())), "{index}");
    }
    // Words as printed, whatever the line wrapping.
    let knn = p
        .ok(&["explain", "knn"])
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    for want in [
        "knn (Task 4, kNN organisation)",
        "1 / (euclidean distance + 1e-5)",
        "[odd floor(sqrt(n_reference))]",
        "Conventions",
        "References",
    ] {
        assert!(knn.contains(want), "{want}: {knn}");
    }
    // A variant names every metric that writes it.
    let top1 = p.ok(&["explain", "top1"]);
    assert!(top1.contains("linear_probe (Task 2") && top1.contains("knn (Task 4"));
    let e = p.fails(&["explain", "knnn"]);
    assert!(e.contains("did you mean `knn`?"), "{e}");
}

#[test]
fn completions_cover_every_subcommand() {
    let p = Project::new();
    let bash = p.ok(&["completions", "bash"]);
    for sub in [
        "run",
        "plan",
        "report",
        "explain",
        "sql",
        "bench",
        "completions",
    ] {
        assert!(bash.contains(sub), "{sub}");
    }
    assert!(p.ok(&["completions", "zsh"]).contains("#compdef pertbench"));
    assert!(p.fails(&["completions", "tcsh"]).contains("invalid value"));
}

/// A synthetic screen written as a user's h5ad: `target_gene` (with
/// `non-targeting` controls and some `unassigned` cells), `lane` batches and
/// a barcode column, in 4 batches.
fn user_h5ad(p: &Project, file: &str) {
    use pertbench_data::synthetic::{generate, SyntheticSpec};
    let clusters: Vec<(String, Vec<String>)> = (0..30)
        .map(|c| {
            (
                format!("complex{c}"),
                (0..(3 + c % 3)).map(|k| format!("G{c}_{k}")).collect(),
            )
        })
        .collect();
    let spec = SyntheticSpec {
        seed: 5,
        n_batches: 4,
        n_genes: 90,
        cells_per_perturbation: 12,
        controls_per_batch: 15,
        n_complexes: 8,
        n_unexpressed: 5,
        mean_library_size: 2000.0,
        clusters: "clusters".into(),
    };
    let s = generate(&spec, &clusters).unwrap();
    let n = s.samples.perturbation.len();
    let target: Vec<String> = (0..n)
        .map(|i| {
            if i % 50 == 7 {
                "unassigned".to_string()
            } else {
                s.samples.perturbation[i].clone()
            }
        })
        .collect();
    let lane: Vec<String> = s
        .samples
        .batch
        .iter()
        .map(|b| format!("lane_{b}"))
        .collect();
    let barcode: Vec<String> = (0..n).map(|i| format!("AAAC{i:06}")).collect();
    let mut w = pertbench_data::h5ad_writer::CsrH5adWriter::create(&p.path(file), s.genes.len(), 4)
        .unwrap();
    w.push_block(&s.counts).unwrap();
    w.finish(
        &barcode,
        &[
            ("barcode", &barcode),
            ("lane", &lane),
            ("target_gene", &target),
        ],
        &s.genes,
    )
    .unwrap();
}

#[test]
fn init_suggests_columns_and_writes_a_starter_that_runs() {
    let p = Project::new();
    std::fs::create_dir_all(p.path("mydata")).unwrap();
    user_h5ad(&p, "mydata/My Screen.h5ad");
    let said = p.ok(&["init", "mydata/My Screen.h5ad"]);
    for want in [
        "perturbation  target_gene",
        "a control label `non-targeting`",
        "batch         lane  (4 levels; its name)",
        "control       label non-targeting",
        "drop_labels   unassigned",
        "pertbench --mirror ",
    ] {
        assert!(said.contains(want), "{want}: {said}");
    }
    let manifest = std::fs::read_to_string(p.path("manifests/my_screen.yaml")).unwrap();
    assert!(
        manifest.contains("perturbation: target_gene")
            && manifest.contains("control: {label: non-targeting}")
    );
    assert!(manifest.contains(&format!(
        "sha256: {}",
        sha256(&p.path("mydata/My Screen.h5ad"))
    )));
    let pipeline = std::fs::read_to_string(p.path("pipelines/my_screen.yaml")).unwrap();
    // Four batches: iLISI on the held-out batches.
    assert!(pipeline.contains("- {kind: ilisi}"), "{pipeline}");

    // Nothing is overwritten without --force, and the files are unchanged.
    let again = p.fails(&["init", "mydata/My Screen.h5ad"]);
    assert!(
        again.contains("my_screen.yaml exists; pass --force"),
        "{again}"
    );
    assert_eq!(
        std::fs::read_to_string(p.path("pipelines/my_screen.yaml")).unwrap(),
        pipeline
    );
    p.ok(&["init", "mydata/My Screen.h5ad", "--name", "second"]);
    assert!(p.path("pipelines/second.yaml").is_file());

    // The starter runs as written (recall against this project's pairs).
    p.write(
        "pipelines/my_screen.yaml",
        &pipeline.replace(
            "sources: [corum, humap, reactome, signor, stringdb]",
            "sources: [pairs]",
        ),
    );
    let run = p.ok(&[
        "--mirror",
        "mydata",
        "run",
        "pipelines/my_screen.yaml",
        "--quiet",
    ]);
    assert!(run.contains(" 0 reused"), "{run}");
    for task in pertbench_schema::Task::PAPER.map(|t| t.title()) {
        assert!(run.contains(task), "{task}: {run}");
    }

    // Not an h5ad: the error names the file.
    p.write("mydata/notes.h5ad", "not hdf5");
    let e = p.fails(&["init", "mydata/notes.h5ad"]);
    assert!(
        e.contains("notes.h5ad") && e.contains("not a readable HDF5/h5ad file"),
        "{e}"
    );
}

/// A headless Chromium (env `PERTBENCH_CHROMIUM`, else `chromium`,
/// `chromium-browser` or `google-chrome` on PATH). Missing: the test skips,
/// unless `PERTBENCH_REQUIRE_BROWSER=1` (CI, whose `.ci/run` installs it).
fn chromium() -> Option<PathBuf> {
    let found = std::env::var_os("PERTBENCH_CHROMIUM")
        .map(PathBuf::from)
        .filter(|p| p.is_file())
        .or_else(|| {
            let path = std::env::var_os("PATH")?;
            std::env::split_paths(&path).find_map(|d| {
                ["chromium", "chromium-browser", "google-chrome"]
                    .iter()
                    .map(|n| d.join(n))
                    .find(|p| p.is_file())
            })
        });
    if found.is_none() {
        if std::env::var("PERTBENCH_REQUIRE_BROWSER").as_deref() == Ok("1") {
            panic!("PERTBENCH_REQUIRE_BROWSER=1 but no chromium was found");
        }
        eprintln!(
            "skipping: no chromium on PATH (apt-get install chromium, or set PERTBENCH_CHROMIUM)"
        );
    }
    found
}

/// Runs headless Chromium on `page` with `mode` (e.g. `--dump-dom`);
/// returns (stdout, stderr). Console messages (CSP refusals among them)
/// are logged to stderr.
fn headless(browser: &Path, profile: &Path, mode: &[&str], page: &Path) -> (String, String) {
    let out = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--hide-scrollbars",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(mode)
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn quickstart_report_renders_in_headless_chromium() {
    let Some(shared) = shared() else { return };
    let Some(browser) = chromium() else { return };
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let pertbench = |args: &[&str]| repo_pertbench(w, &shared, args);
    pertbench(&["run", "pipelines/quickstart.yaml", "--quiet"]);
    let page = w.join("report.html");
    let said = pertbench(&["report", "-o", page.to_str().unwrap()]);
    let n_plots: usize = said
        .split(" plots ->")
        .next()
        .and_then(|s| s.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{said}"));
    assert!(n_plots >= 20, "{said}");

    // The DOM as the browser parsed it: every section, every plot.
    let profile = w.join("chromium-profile");
    let (dom, log) = headless(&browser, &profile, &["--dump-dom"], &page);
    for id in pertbench_report::html::SECTIONS {
        assert!(
            dom.contains(&format!("<section id=\"{id}\">")),
            "section {id}"
        );
    }
    assert_eq!(dom.matches("<svg").count(), n_plots);
    assert!(dom.contains("<title>pertbench report</title>"));
    // Nothing was fetched: the report's Content-Security-Policy refuses
    // every load, and the browser logs each refusal.
    assert!(!log.contains("Content Security Policy"), "{log}");

    // The check can fail: a page that loads an image is reported.
    let bad = w.join("bad.html");
    std::fs::write(
        &bad,
        std::fs::read_to_string(&page).unwrap().replacen(
            "<body>",
            "<body><img src=\"http://example.invalid/x.png\">",
            1,
        ),
    )
    .unwrap();
    let (_, bad_log) = headless(&browser, &profile, &["--dump-dom"], &bad);
    assert!(
        bad_log.contains("Content Security Policy") && bad_log.contains("example.invalid"),
        "{bad_log}"
    );

    // A screenshot, kept with the tests' output for a person to look at.
    let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("report");
    std::fs::create_dir_all(&shots).unwrap();
    let shot = shots.join("quickstart-report.png");
    let _ = std::fs::remove_file(&shot);
    headless(
        &browser,
        &profile,
        &[
            "--window-size=1280,6000",
            &format!("--screenshot={}", shot.display()),
        ],
        &page,
    );
    let png = std::fs::read(&shot).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    // A blank 1280 x 6000 page is about 35 KB as PNG; the quickstart's
    // tables and 22 charts about 600 KB.
    assert!(png.len() > 100_000, "{} bytes", png.len());
    eprintln!("screenshot: {}", shot.display());
}

/// Issue 20: the `best_postprocessing` view and the report counted a
/// computation that two pipelines hold as two seeds, and averaged two
/// different representations that share a name.
#[test]
fn aggregates_are_over_seeds_of_one_definition_never_over_pipelines() {
    let p = Project::new();
    let pipeline = |name: &str, seeds: &str, pca: usize| {
        format!("name: {name}\ndatasets: [synth]\nseeds: [{seeds}]\nrepresentations:\n  - {{name: pca, kind: pca, n_components: {pca}}}\n  - {{name: random, kind: random, dim: 8}}\npostprocessing: [raw, center]\nmetrics:\n  - {{kind: relationship_recall, sources: [pairs]}}\n")
    };
    // `a` and `b` are the same computation; `c` reuses the name `pca` for
    // another definition; `d` runs two seeds of `random`.
    p.write("pipelines/a.yaml", &pipeline("a", "0", 8));
    p.write("pipelines/b.yaml", &pipeline("b", "0", 8));
    p.write("pipelines/c.yaml", &pipeline("c", "0", 4));
    p.write("pipelines/d.yaml", &pipeline("d", "0, 1", 8));
    for f in ["a", "b", "c", "d"] {
        p.ok(&["run", &format!("pipelines/{f}.yaml"), "--quiet"]);
    }
    let out = p.ok(&[
        "sql",
        "SELECT representation, n_seeds, sd_value, representation_definition FROM best_postprocessing WHERE variant = 'recall_0.05_0.95' ORDER BY representation, n_seeds",
    ]);
    let rows = table_rows(&out, "n_seeds");
    let summary: Vec<(String, String)> =
        rows.iter().map(|c| (c[0].clone(), c[1].clone())).collect();
    // pca: two definitions (8 and 4 components), one seed each (pca is
    // seeded: d's seed 1 is a third row of the 8-component definition);
    // random: seeds 0 and 1 of one definition.
    assert_eq!(
        summary,
        [
            ("pca".to_string(), "1".to_string()),
            ("pca".to_string(), "2".to_string()),
            ("random".to_string(), "2".to_string()),
        ],
        "{out}"
    );
    assert_ne!(rows[0][3], rows[1][3], "{out}");
    // The report names the two pca definitions apart.
    let html_path = p.path("report.html");
    p.ok(&["report", "-o", html_path.to_str().unwrap()]);
    let html = std::fs::read_to_string(&html_path).unwrap();
    for c in &rows[..2] {
        let label = format!("pca [{}]", &c[3][..8]);
        assert!(html.contains(&label), "{label} not in the report");
    }
    // So does the hierarchy table: both pca cells, each with its key.
    let sql = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../sql/hierarchy_table.sql");
    let table = p.ok(&["sql", "--file", sql.to_str().unwrap()]);
    // Columns: dataset, task, metric, source, variant, pca, ...
    let pca_cell = &table_rows(&table, "n_seeds")[0][5];
    for c in &rows[..2] {
        assert!(pca_cell.contains(&format!("[{}]", &c[3][..8])), "{table}");
    }
}

/// Issue 20's run semantics: one failing node does not abort the sweep.
/// The other nodes finish and their rows are written, the failure is
/// listed (node, error) in the run's output and in the `failures` table,
/// and the exit status is non-zero. A clean rerun empties the table.
#[test]
fn a_failing_node_is_listed_and_the_rest_of_the_sweep_runs() {
    let p = Project::new();
    let with = |extra: &str| {
        format!("name: partly\ndatasets: [synth]\nseeds: [0]\nrepresentations:\n  - {{name: pca, kind: pca, n_components: 8}}\n{extra}postprocessing: [raw, center]\nmetrics:\n  - {{kind: relationship_recall, sources: [pairs]}}\n")
    };
    p.write(
        "pipelines/partly.yaml",
        &with("  - {name: emb, kind: obsm, key: X_not_there}\n"),
    );
    let o = p.run(&["run", "pipelines/partly.yaml", "--quiet"]);
    let (out, err) = (
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr),
    );
    assert!(!o.status.success(), "{out}");
    assert!(
        err.contains("1 node(s) failed and 4 did not run")
            && err.contains("node synth/emb (representation)"),
        "{err}"
    );
    assert!(
        out.contains(", 1 failed, 4 not run") && out.contains("FAILED: representation synth/emb"),
        "{out}"
    );
    // pca's cells ran: 2 post-processings x its recall rows.
    let n = p.ok(&[
        "sql",
        "SELECT COUNT(*) AS n_rows FROM results WHERE representation = 'pca'",
    ]);
    let rows = table_rows(&n, "n_rows");
    assert!(rows[0][0].parse::<usize>().unwrap() > 0, "{n}");
    let f = p.ok(&["sql", "SELECT kind, node, not_run_downstream FROM failures"]);
    assert_eq!(
        table_rows(&f, "kind"),
        [["representation", "synth/emb", "4"]
            .map(String::from)
            .to_vec()],
        "{f}"
    );
    // Fixed: the run succeeds and the table holds no failure of it.
    p.write("pipelines/partly.yaml", &with(""));
    p.ok(&["run", "pipelines/partly.yaml", "--quiet"]);
    let f = p.ok(&["sql", "SELECT COUNT(*) AS n_rows FROM failures"]);
    assert_eq!(table_rows(&f, "n_rows")[0][0], "0", "{f}");
}

#[test]
fn a_postprocessing_no_batch_can_take_is_skipped_with_the_reason() {
    // One control per batch: center runs, TVN (a covariance per batch needs
    // two) is skipped at planning, and the run succeeds.
    let mut rows = Vec::new();
    for b in ["b1", "b2"] {
        rows.push(("NT", b, true));
        for g in ["A", "B", "C"] {
            for _ in 0..3 {
                rows.push((g, b, false));
            }
        }
    }
    let p = table_project(&rows, rows.len(), None);
    p.write(
        "pipelines/t.yaml",
        "name: t\ndatasets: [tab]\nrepresentations:\n  - {name: model, kind: npy, path: emb.npy}\npostprocessing: [raw, center, tvn]\nmetrics:\n  - {kind: consistency, null: permutation, n_permutations: 20}\n",
    );
    let out = p.ok(&["run", "pipelines/t.yaml", "--quiet"]);
    let why = "post-processing `tvn`: no batch has 2 or more control samples";
    assert!(out.contains(&format!("skipped: tab: {why}")), "{out}");
    assert!(!out.contains("FAILED"), "{out}");
    let plan = p.ok(&["plan", "pipelines/t.yaml"]);
    assert!(plan.contains(&format!("skipped  tab: {why}")), "{plan}");
    let q = p.ok(&[
        "sql",
        "SELECT DISTINCT postprocessing FROM results ORDER BY 1",
    ]);
    let got: Vec<String> = table_rows(&q, "postprocessing")
        .into_iter()
        .map(|r| r[0].clone())
        .collect();
    assert_eq!(got, ["center", "raw"], "{q}");
}

#[test]
fn names_and_files_that_would_leave_the_workdir_are_refused() {
    // Issue 21: a pipeline name of `../../escaped_results` wrote the results
    // file outside the workdir, and a manifest's `file: ../...` read outside
    // the mirror and wrote outside the data directory.
    let rows = screen_rows();
    let p = table_project(&rows, rows.len(), None);
    let pipeline = std::fs::read_to_string(p.path("pipelines/t.yaml")).unwrap();
    for bad in ["../../escaped_results", "sub/dir"] {
        p.write(
            "pipelines/bad.yaml",
            &pipeline.replace("name: t\n", &format!("name: '{bad}'\n")),
        );
        let e = p.fails(&["run", "pipelines/bad.yaml", "--quiet"]);
        assert!(e.contains("`name`"), "{bad}: {e}");
    }
    let outside = p.path("..").join("escaped_results.parquet");
    assert!(!outside.exists(), "{} was written", outside.display());
    let manifest = std::fs::read_to_string(p.path("manifests/tab.yaml")).unwrap();
    p.write(
        "manifests/tab.yaml",
        &manifest.replace("{file: meta.csv}", "{file: ../mirror/meta.csv}"),
    );
    let e = p.fails(&["run", "pipelines/t.yaml", "--quiet"]);
    assert!(e.contains("field `source.file`"), "{e}");
}

#[test]
fn invalid_inputs_are_refused_at_planning_with_bounded_messages() {
    let p = Project::new();
    // An unknown relationship source fails `plan`, not the run midway.
    p.write(
        "pipelines/bad.yaml",
        &PIPELINE.replace("sources: [pairs]", "sources: [pairs, nosuch]"),
    );
    let e = p.fails(&["plan", "pipelines/bad.yaml"]);
    assert!(e.contains("`sources`") && e.contains("nosuch"), "{e}");
    // A device as a representation file is not hashed forever.
    p.write(
        "pipelines/bad.yaml",
        &PIPELINE.replace(
            "  - {name: random, kind: random, dim: 8}",
            "  - {name: dev, kind: npy, path: /dev/zero}",
        ),
    );
    let e = p.fails(&["plan", "pipelines/bad.yaml"]);
    assert!(e.contains("not a regular file"), "{e}");
    // A 100 KB offending value is not repeated in full.
    let huge = "x".repeat(100_000);
    p.write(
        "pipelines/bad.yaml",
        &PIPELINE.replace(
            "postprocessing: [raw, center]",
            &format!("postprocessing: [raw, {huge}]"),
        ),
    );
    let e = p.fails(&["plan", "pipelines/bad.yaml"]);
    assert!(
        e.len() < 2_000 && e.contains("characters left out"),
        "{} bytes",
        e.len()
    );
    // A synthetic screen too large to allocate is an error naming the field.
    let m = std::fs::read_to_string(p.path("manifests/synth.yaml")).unwrap();
    p.write(
        "manifests/synth.yaml",
        &m.replace("n_batches: 3", "n_batches: 4294967296"),
    );
    let e = p.fails(&["plan", "pipelines/p.yaml"]);
    assert!(e.contains("source.synthetic.n_batches"), "{e}");
    p.write("manifests/synth.yaml", &m);
    // `cache ls` with a multi-byte directory name in the cache.
    p.ok(&["run", "pipelines/p.yaml", "--quiet"]);
    std::fs::create_dir(p.path("work/cache/metric/ééééééééééééé")).unwrap();
    let ls = p.ok(&["cache", "ls"]);
    assert!(ls.contains("foreign") && ls.contains("éééé"), "{ls}");
}

#[test]
fn results_are_bit_identical_on_one_two_and_three_threads() {
    // Issue 21: between 1 and 2 threads the quickstart's PCA differed in its
    // last bits (faer split its products into one part per thread), and with
    // it 32 of 101 node files, iLISI and consistency values, and recall
    // p-values by up to 0.011. The quickstart's screen is large enough for
    // faer to split its work.
    let Some(shared) = shared() else { return };
    let dir = tempfile::tempdir().unwrap();
    let pipeline = dir.path().join("threads.yaml");
    std::fs::write(
        &pipeline,
        "name: threads\ndatasets: [synthetic_quickstart]\nseeds: [0]\nrepresentations:\n  - {name: pca, kind: pca, n_components: 32}\npostprocessing: [raw, tvn]\nmetrics:\n  - {kind: ilisi, on: all}\n  - {kind: consistency}\n",
    )
    .unwrap();
    let query = "SELECT metric_key, variant, value, ci_low, ci_high, null_mean, p_value FROM results ORDER BY 1, 2";
    let mut runs = Vec::new();
    for threads in ["1", "2", "3"] {
        let work = dir.path().join(format!("work{threads}"));
        let pipeline = pipeline.to_str().unwrap();
        let o = repo_command(&work, &shared, &["run", pipeline, "--quiet"])
            .env("RAYON_NUM_THREADS", threads)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let rows = repo_pertbench(&work, &shared, &["sql", query]);
        // Every node's files, by their sha256 in the node records.
        let mut files = std::collections::BTreeMap::new();
        for kind in std::fs::read_dir(work.join("cache")).unwrap().flatten() {
            for node in std::fs::read_dir(kind.path())
                .into_iter()
                .flatten()
                .flatten()
            {
                if let Ok(text) = std::fs::read_to_string(node.path().join("node.json")) {
                    let rec: serde_json::Value = serde_json::from_str(&text).unwrap();
                    files.insert(rec["label"].to_string(), rec["files"].to_string());
                }
            }
        }
        runs.push((threads, rows, files));
    }
    assert!(runs[0].1.lines().count() > 10, "{}", runs[0].1);
    assert_eq!(runs[0].2.len(), 9, "{:?}", runs[0].2.keys());
    for (threads, rows, files) in &runs[1..] {
        let differ: Vec<_> = files
            .iter()
            .filter(|(label, f)| runs[0].2.get(*label) != Some(f))
            .map(|(label, _)| label)
            .collect();
        assert!(
            differ.is_empty(),
            "{threads} threads: these nodes differ from 1 thread's: {differ:?}"
        );
        assert_eq!(rows, &runs[0].1, "{threads} threads");
    }
}
