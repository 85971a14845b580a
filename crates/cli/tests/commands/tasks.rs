//! Metrics through real pipelines: the tasks on the quickstart, Papalexi and generated screens.

use crate::*;

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
    let work = tempfile::tempdir().unwrap();
    let best = run_repo_pipeline_in(work.path(), "pipelines/papalexi.yaml", &shared);
    for source in ["stringdb", "reactome", "signor"] {
        let pca = best[&(source.to_string(), "pca".to_string())];
        for b in ["random", "shuffled"] {
            let base = best[&(source.to_string(), b.to_string())];
            assert!(pca > base, "{source}: pca {pca} vs {b} {base}");
        }
    }
    // The E-test on raw features: the known knock-downs (STAT1, IFNGR1,
    // IFNGR2, JAK2, IRF1 in 3 replicates: 15 of 75 units) on PCA, about
    // nothing on the baselines.
    let sql = repo_pertbench(
        work.path(),
        &shared,
        &["sql", "SELECT representation, value FROM results WHERE metric = 'e_test' AND variant = 'fraction_significant' AND postprocessing = 'raw'"],
    );
    let share: std::collections::BTreeMap<String, f64> = table_rows(&sql, "representation")
        .iter()
        .map(|c| (c[0].to_string(), c[1].parse().unwrap()))
        .collect();
    assert!(share["pca"] >= 0.2, "{sql}");
    assert!(
        share["random"] <= 0.05 && share["shuffled"] <= 0.05,
        "{sql}"
    );
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
