//! `run` on bad or unusual input, failures, thread counts.

use crate::*;

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
