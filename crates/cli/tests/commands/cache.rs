//! `run` against its cache: reuse, corruption, temporaries, `cache gc`, concurrent and killed runs.

use crate::*;

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
