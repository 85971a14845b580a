//! `explain` and `completions`.

use crate::*;

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
