//! `bench`.

use crate::*;

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
