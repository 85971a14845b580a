//! Metric fixtures as data: each kind's `<kind>/fixtures.yaml` lists cases
//! (a metric entry as a pipeline writes it), and `<kind>/fixtures.snap`
//! holds the rows they give, rounded, on one small synthetic screen
//! ([`SCREEN`]) through the real DAG (ingest, a PCA, `center`).
//! `PERTBENCH_SNAPSHOT_UPDATE=1` rewrites the snapshots; review their diff.
//! An expected error is a row too (`error: ...`). Every kind must have at
//! least one case.

use super::MetricKind;
use crate::exec::observer::Silent;
use crate::exec::run::{run_pipeline, Workspace};
use pertbench_data::dataset::DataContext;
use pertbench_data::fetch::FetchOptions;
use pertbench_schema::ResultRow;
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// The screen every fixture runs on: 3 batches with their own controls,
/// knock-outs of members of 6 CORUM complexes and of 20 unexpressed genes.
const SCREEN: &str = "name: synthetic_fixture
description: The metric fixtures' screen (crates/engine/src/metrics/fixtures.rs).
format: h5ad
source:
  synthetic:
    seed: 0
    n_batches: 3
    n_genes: 120
    cells_per_perturbation: 12
    controls_per_batch: 30
    n_complexes: 6
    n_unexpressed: 20
    clusters: corum_clusters
sha256: unpinned
";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FixtureFile {
    cases: Vec<Case>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    /// The rows' metric name (unique in the file).
    name: String,
    /// The metric entry, as in a pipeline (without `name`).
    metric: serde_yaml_ng::Mapping,
}

fn folder(kind: MetricKind) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("src/metrics")
        .join(super::module_of(kind))
}

fn number(v: Option<f64>) -> String {
    match v {
        None => "-".into(),
        Some(v) => format!("{v:.6}"),
    }
}

/// One line per result row: what a reviewer reads in the snapshot.
fn line(r: &ResultRow) -> String {
    let source = r
        .source
        .as_deref()
        .map(|s| format!("[{s}] "))
        .unwrap_or_default();
    let mut s = format!(
        "  {source}{} = {} (n {}, null {}",
        r.variant,
        number(r.value),
        r.n_items.unwrap_or(0),
        r.null_size.unwrap_or(0)
    );
    if r.ci_low.is_some() || r.ci_high.is_some() {
        s += &format!(", ci [{}, {}]", number(r.ci_low), number(r.ci_high));
    }
    if r.p_value.is_some() {
        s += &format!(
            ", null mean {}, p {}",
            number(r.null_mean),
            number(r.p_value)
        );
    }
    s + ")"
}

/// The snapshot text of one kind's cases.
fn run_kind(kind: MetricKind, data: &DataContext, ws: &Workspace, dir: &Path) -> String {
    let path = folder(kind).join("fixtures.yaml");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (every metric kind needs fixtures)", path.display()));
    let file: FixtureFile =
        serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(!file.cases.is_empty(), "{}: no cases", path.display());
    let mut metrics = String::new();
    for c in &file.cases {
        let mut m = c.metric.clone();
        m.insert("name".into(), c.name.clone().into());
        // Block style, indented under `metrics:`.
        let entry = serde_yaml_ng::to_string(&m).unwrap();
        for (i, l) in entry.lines().enumerate() {
            metrics += if i == 0 { "  - " } else { "    " };
            metrics += l;
            metrics.push('\n');
        }
    }
    let pipeline = format!(
        "name: fixtures_{kind}\ndatasets: [synthetic_fixture]\nseeds: [0]\nrepresentations:\n  - {{name: pca, kind: pca, n_components: 8}}\npostprocessing: [center]\nmetrics:\n{metrics}",
        kind = kind.name()
    );
    let pfile = dir.join(format!("fixtures_{}.yaml", kind.name()));
    std::fs::write(&pfile, pipeline).unwrap();
    let report = run_pipeline(&pfile, data, ws, &Silent)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let rows = ResultRow::from_batches(std::slice::from_ref(&report.results)).unwrap();
    let mut out = format!(
        "# {}: the rows of each case of fixtures.yaml (PERTBENCH_SNAPSHOT_UPDATE=1 rewrites this file)\n",
        kind.name()
    );
    for c in &file.cases {
        out += &format!("case {}\n", c.name);
        let failed: Vec<&(String, String, String)> = report
            .failures
            .iter()
            .filter(|(_, node, _)| {
                node.contains(&format!("/{}@", c.name)) || node.ends_with(&format!("/{}", c.name))
            })
            .collect();
        for (_, _, error) in failed {
            // The error without the path of this run's temporary pipeline.
            out += &format!(
                "  error: {}\n",
                error.replace(&dir.display().to_string(), "<dir>")
            );
        }
        let mut lines: Vec<String> = rows
            .iter()
            .filter(|r| r.metric == c.name)
            .map(line)
            .collect();
        lines.sort();
        for l in lines {
            out += &l;
            out.push('\n');
        }
    }
    out
}

#[test]
fn every_metric_kind_gives_the_rows_of_its_fixtures() {
    let Some(shared) = super::calibration::shared() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let manifests = dir.path().join("manifests");
    std::fs::create_dir_all(&manifests).unwrap();
    std::fs::write(manifests.join("synthetic_fixture.yaml"), SCREEN).unwrap();
    let data = DataContext {
        manifest_dirs: vec![
            manifests,
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data_manifests"),
        ],
        fetch: FetchOptions {
            mirrors: vec![shared.join("mirror")],
            data_dir: dir.path().join("data"),
            allow_network: false,
            allow_unpinned: true,
        },
    };
    let ws = Workspace {
        workdir: dir.path().join("work"),
    };
    let update = std::env::var_os("PERTBENCH_SNAPSHOT_UPDATE").is_some();
    let mut stale = Vec::new();
    for kind in MetricKind::ALL {
        let now = run_kind(kind, &data, &ws, dir.path());
        let snap = folder(kind).join("fixtures.snap");
        if update {
            std::fs::write(&snap, &now).unwrap();
            continue;
        }
        let want = std::fs::read_to_string(&snap).unwrap_or_default();
        if want != now {
            let first = want
                .lines()
                .zip(now.lines())
                .find(|(a, b)| a != b)
                .map(|(a, b)| format!("\n    want {a}\n    got  {b}"))
                .unwrap_or_else(|| {
                    format!(
                        "\n    {} lines wanted, {} got",
                        want.lines().count(),
                        now.lines().count()
                    )
                });
            stale.push(format!("{}{first}", snap.display()));
        }
    }
    assert!(
        stale.is_empty(),
        "fixture rows changed (PERTBENCH_SNAPSHOT_UPDATE=1 rewrites the snapshots; a change that moves a number bumps the metric's version):\n{}",
        stale.join("\n")
    );
}
