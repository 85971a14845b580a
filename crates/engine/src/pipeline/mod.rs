//! Pipeline YAML (`pipelines/*.yaml`): a sweep over datasets x
//! representations x post-processings x metrics x seeds. Unknown keys and
//! wrong types are errors that name the file, line and column; parameters
//! that do not belong to an entry's kind are errors naming the entry.

use crate::error::{EngineError, Result};
use crate::metrics::options::checks::{self, first_repeat};
pub use crate::metrics::{MetricKind, MetricSpec};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Largest `dim` / `n_components` of a representation.
pub const MAX_DIM: usize = 100_000;
/// Largest `power_iterations` of the PCA range finder.
pub const MAX_POWER_ITERATIONS: usize = 100;

fn default_seeds() -> Vec<u64> {
    vec![0]
}
fn default_postprocessing() -> Vec<String> {
    pertbench_kernels::postprocess::names()
        .into_iter()
        .map(String::from)
        .collect()
}

/// What the train / test splits hold out.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum SplitBy {
    /// Whole batches (paper 004).
    #[default]
    Batch,
    /// Each perturbation's (and the controls') samples, seeded: for a
    /// dataset with a single batch (one plate).
    Samples,
    /// Whole groups of the dataset's `columns.split_group` (well position,
    /// dose slot), as batches are held out by default.
    Group,
}

impl SplitBy {
    pub fn is_batch(&self) -> bool {
        *self == SplitBy::Batch
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pipeline {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub datasets: Vec<String>,
    #[serde(default = "default_seeds")]
    pub seeds: Vec<u64>,
    pub representations: Vec<RepresentationSpec>,
    #[serde(default = "default_postprocessing")]
    pub postprocessing: Vec<String>,
    pub metrics: Vec<MetricSpec>,
    /// Share of batches and of perturbations that are "train" in the splits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train_fraction: Option<f64>,
    /// What the splits hold out: whole `batch`es (default), or `samples`
    /// (a seeded split of each perturbation's samples: for a dataset of one
    /// plate or one batch).
    #[serde(default, skip_serializing_if = "SplitBy::is_batch")]
    pub split_by: SplitBy,
    /// SQL files printed after a run (e.g. `sql/leaderboard.sql`).
    #[serde(default)]
    pub report: Vec<PathBuf>,
    #[serde(skip)]
    pub path: PathBuf,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RepresentationKind {
    /// Randomized PCA of the counts.
    Pca,
    /// iid N(0, 1).
    Random,
    /// Rows of another representation permuted.
    Shuffled,
    /// A matrix in the dataset's h5ad `obsm`.
    Obsm,
    /// Columns of a Parquet or CSV file.
    Table,
    /// A 2-D `.npy` file.
    Npy,
    /// The dataset's own value matrix as stored (a profile table's
    /// features, log expression).
    Features,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum PcaInput {
    /// Raw counts, as paper 004 (appendix C.3) and METRICS.md.
    Counts,
    /// log1p(counts / rowsum * 1e4), as scanpy's usual recipe.
    Lognorm,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RepresentationSpec {
    pub name: String,
    pub kind: RepresentationKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n_components: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<PcaInput>,
    /// `pca`: power iterations of the range finder (default 7 when the
    /// components are under a tenth of the matrix's smaller side, else 4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub power_iterations: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dim: Option<usize>,
    /// `shuffled`: the representation whose rows are permuted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub of: Option<String>,
    /// `obsm`: the key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// `table`, `npy`: the file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
    /// `table`: the column holding sample ids (aligned to the samples table).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_column: Option<String>,
    /// `table`: representation columns by prefix...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// ...or by name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub columns: Option<Vec<String>>,
}

/// Fails on the first field that is set but not in `allowed` for this kind.
fn check_fields(
    path: &Path,
    what: &str,
    kind: impl Serialize,
    set: &[(&str, bool)],
    allowed: &[&str],
) -> Result<()> {
    let kind = serde_json::to_value(kind)
        .ok()
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_default();
    match set
        .iter()
        .find(|(field, is)| *is && !allowed.contains(field))
    {
        Some((field, _)) => Err(EngineError::msg(format!(
            "{}: {what}: `{field}` does not apply to kind `{kind}`",
            path.display()
        ))),
        None => Ok(()),
    }
}

impl Pipeline {
    pub fn load(path: &Path) -> Result<Pipeline> {
        let mut p: Pipeline = pertbench_data::yaml::from_file(path)?;
        p.path = path.to_path_buf();
        p.validate()?;
        Ok(p)
    }

    pub fn from_str(path: &Path, text: &str) -> Result<Pipeline> {
        let mut p: Pipeline = pertbench_data::yaml::from_str(path, text)?;
        p.path = path.to_path_buf();
        p.validate()?;
        Ok(p)
    }

    fn validate(&self) -> Result<()> {
        let path = &self.path;
        let fail = |m: String| Err(EngineError::msg(format!("{}: {m}", path.display())));
        // The name becomes `<workdir>/results/<name>.parquet` (issue 21:
        // `../../x` wrote outside the workdir, `sub/dir` rows SQL never read).
        if let Some(why) = pertbench_data::manifest::not_plain_name(&self.name) {
            return fail(format!("`name`: {why}"));
        }
        if self.name.starts_with('.') {
            return fail(format!(
                "`name`: `{}` starts with `.` (results files of hidden names are not read)",
                self.name
            ));
        }
        for d in &self.datasets {
            if let Some(why) = pertbench_data::manifest::not_plain_name(d) {
                return fail(format!("`datasets`: {why}"));
            }
        }
        if self.datasets.is_empty() {
            return fail("`datasets` is empty".into());
        }
        if self.seeds.is_empty() {
            return fail("`seeds` is empty".into());
        }
        // A repeated entry would write every row twice.
        if let Some(d) = first_repeat(&self.seeds) {
            return fail(format!("`seeds` lists {d} twice"));
        }
        if let Some(d) = first_repeat(&self.datasets) {
            return fail(format!("`datasets` lists `{d}` twice"));
        }
        if let Some(d) = first_repeat(&self.postprocessing) {
            return fail(format!("`postprocessing` lists `{d}` twice"));
        }
        if self.postprocessing.is_empty() {
            return fail("`postprocessing` is empty".into());
        }
        if let Some(f) = self.train_fraction {
            // Each side of the split must keep at least a 100th of the
            // batches' share (1e-300 left a training set of nothing).
            if !(0.01..=0.99).contains(&f) {
                return fail(format!(
                    "`train_fraction` must lie between 0.01 and 0.99, got {f}"
                ));
            }
        }
        let known = pertbench_kernels::postprocess::names();
        for p in &self.postprocessing {
            if !known.contains(&p.as_str()) {
                return fail(format!(
                    "postprocessing `{p}` is unknown; known: {}",
                    known.join(", ")
                ));
            }
        }
        let mut names = std::collections::BTreeSet::new();
        for r in &self.representations {
            if !names.insert(r.name.clone()) {
                return fail(format!("representation name `{}` is used twice", r.name));
            }
            let what = format!("representation `{}`", r.name);
            use RepresentationKind::*;
            let f = [
                ("n_components", r.n_components.is_some()),
                ("input", r.input.is_some()),
                ("power_iterations", r.power_iterations.is_some()),
                ("dim", r.dim.is_some()),
                ("of", r.of.is_some()),
                ("key", r.key.is_some()),
                ("path", r.path.is_some()),
                ("id_column", r.id_column.is_some()),
                ("prefix", r.prefix.is_some()),
                ("columns", r.columns.is_some()),
            ];
            let allowed: &[&str] = match r.kind {
                Pca => &["n_components", "input", "power_iterations"],
                Random => &["dim"],
                Shuffled => &["of"],
                Obsm => &["key"],
                Table => &["path", "id_column", "prefix", "columns"],
                Npy => &["path"],
                Features => &[],
            };
            check_fields(path, &what, r.kind, &f, allowed)?;
            for (field, value, min, max) in [
                ("n_components", r.n_components, 1, MAX_DIM),
                ("dim", r.dim, 1, MAX_DIM),
                (
                    "power_iterations",
                    r.power_iterations,
                    0,
                    MAX_POWER_ITERATIONS,
                ),
            ] {
                if let Some(Err(why)) = value.map(|v| checks::count(field, &v, min, max)) {
                    return fail(format!("{what}: {why}"));
                }
            }
            let kind = serde_json::to_value(r.kind)
                .ok()
                .and_then(|v| v.as_str().map(String::from))
                .unwrap_or_default();
            let missing = match r.kind {
                Shuffled if r.of.is_none() => Some("of"),
                Obsm if r.key.is_none() => Some("key"),
                Table | Npy if r.path.is_none() => Some("path"),
                Table if r.prefix.is_none() && r.columns.is_none() => Some("prefix` or `columns"),
                _ => None,
            };
            if let Some(m) = missing {
                return fail(format!("{what}: kind `{kind}` needs `{m}`"));
            }
            if let Some(of) = &r.of {
                if !self
                    .representations
                    .iter()
                    .any(|o| &o.name == of && o.kind != Shuffled)
                {
                    return fail(format!(
                        "{what}: `of: {of}` names no other (non-shuffled) representation"
                    ));
                }
            }
        }
        let mut labels = std::collections::BTreeSet::new();
        for m in &self.metrics {
            let what = format!("metric `{}`", m.label());
            if !labels.insert(m.label()) {
                return fail(format!("{what} appears twice; give one a different `name`"));
            }
            m.options
                .validate()
                .map_err(|why| EngineError::msg(format!("{}: {what}: {why}", path.display())))?;
        }
        Ok(())
    }
}

/// The JSON schema (draft 2020-12) of a pipeline file, generated from the
/// types the parser reads (pipelines, representations) and each metric
/// kind's declared options: editors and YAML language servers check and
/// complete pipelines with it (`pertbench explain --schema`).
pub fn json_schema() -> serde_json::Value {
    use crate::metrics::options::{entry_schema, schema};
    let mut top = schema::of::<Pipeline>();
    let metrics: Vec<serde_json::Value> = MetricKind::ALL
        .iter()
        .map(|k| entry_schema(k.name(), k.fields()))
        .collect();
    let mut representation = schema::of::<RepresentationSpec>();
    representation["additionalProperties"] = false.into();
    representation["required"] = serde_json::json!(["name", "kind"]);
    let props = &mut top["properties"];
    props["metrics"]["items"] = serde_json::json!({ "oneOf": metrics });
    props["representations"]["items"] = representation;
    props["postprocessing"]["items"] =
        serde_json::json!({ "enum": pertbench_kernels::postprocess::names() });
    top["additionalProperties"] = false.into();
    top["required"] = serde_json::json!(["name", "datasets", "representations", "metrics"]);
    top["$schema"] = "https://json-schema.org/draft/2020-12/schema".into();
    top["title"] = "pertbench pipeline".into();
    top
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The error message of a pipeline that must not parse.
    fn parse_error(yaml: &str) -> String {
        Pipeline::from_str(Path::new("p.yaml"), yaml)
            .unwrap_err()
            .to_string()
    }

    const OK: &str = "name: t\ndatasets: [d]\nrepresentations:\n  - {name: pca, kind: pca, n_components: 8}\n  - {name: shuf, kind: shuffled, of: pca}\nmetrics:\n  - {kind: consistency}\n";

    #[test]
    fn parses_and_defaults() {
        let p = Pipeline::from_str(Path::new("p.yaml"), OK).unwrap();
        assert_eq!(p.seeds, vec![0]);
        assert_eq!(
            p.postprocessing,
            vec!["raw", "center", "center_scale", "tvn"]
        );
    }

    #[test]
    fn names_that_would_leave_the_workdir_are_refused() {
        let name_line = OK.lines().find(|l| l.starts_with("name:")).unwrap();
        for bad in [
            "../../escaped_results",
            "/tmp/abs",
            "sub/dir",
            "..",
            ".hidden",
        ] {
            let e = parse_error(&OK.replace(name_line, &format!("name: '{bad}'")));
            assert!(e.contains("`name`"), "{bad}: {e}");
        }
        let datasets_line = OK.lines().find(|l| l.starts_with("datasets:")).unwrap();
        let e = parse_error(&OK.replace(datasets_line, "datasets: ['../x']"));
        assert!(e.contains("`datasets`"), "{e}");
    }

    #[test]
    fn invalid_values_and_repeats_are_errors_naming_the_field() {
        let rep = "  - {name: pca, kind: pca, n_components: 8}";
        let metric = "  - {kind: consistency}";
        let cases: &[(&str, &str, &str)] = &[
            (
                rep,
                "  - {name: r, kind: random, dim: 0}",
                "`dim` must be positive",
            ),
            (
                rep,
                "  - {name: r, kind: random, dim: 100000000}",
                "`dim` must be at most 100000",
            ),
            (
                rep,
                "  - {name: p, kind: pca, n_components: 0}",
                "`n_components` must be positive",
            ),
            (
                rep,
                "  - {name: p, kind: pca, n_components: 8, power_iterations: 1000000}",
                "`power_iterations` must be at most",
            ),
            (
                metric,
                "  - {kind: consistency, n_permutations: 0}",
                "`n_permutations` must be positive",
            ),
            (
                metric,
                "  - {kind: consistency, n_permutations: 1000000000}",
                "`n_permutations` must be at most 1000000",
            ),
            (
                metric,
                "  - {kind: consistency, n_label_shuffles: 0}",
                "`n_label_shuffles` must be positive",
            ),
            (
                metric,
                "  - {kind: consistency, alpha: -1}",
                "`alpha` must lie strictly between 0 and 1",
            ),
            (
                metric,
                "  - {kind: consistency, alpha: .nan}",
                "`alpha` must be a finite number",
            ),
            (
                metric,
                "  - {kind: consistency, n_bootstrap: 100000000}",
                "`n_bootstrap` must be at most",
            ),
            (
                metric,
                "  - {kind: linear_probe, optimiser: adam, learning_rate: .inf}",
                "`learning_rate` must be a finite number",
            ),
            (
                metric,
                "  - {kind: linear_probe, optimiser: adam, epochs: 100000000}",
                "`epochs` must be at most",
            ),
            (
                metric,
                "  - {kind: ilisi, perplexity: .nan}",
                "`perplexity` must be",
            ),
            (
                metric,
                "  - {kind: relationship_recall, thresholds: [[0.95, 0.05]]}",
                "the lower must come first",
            ),
            (
                metric,
                "  - {kind: relationship_recall, thresholds: []}",
                "`thresholds` is empty",
            ),
            (
                metric,
                "  - {kind: relationship_recall, thresholds: [[0.05, 0.95], [0.05, 0.95]]}",
                "`thresholds` lists [0.05, 0.95] twice",
            ),
            (
                metric,
                "  - {kind: relationship_recall, sources: []}",
                "`sources` is empty",
            ),
            (
                metric,
                "  - {kind: relationship_recall, sources: [corum, corum]}",
                "`sources` lists `corum` twice",
            ),
            (
                metric,
                "  - {kind: prediction, predictors: []}",
                "`predictors` is empty",
            ),
            (
                metric,
                "  - {kind: prediction, predictors: [mean, mean]}",
                "`predictors` lists `mean` twice",
            ),
            ("name: t", "name: t\nseeds: [0, 0]", "`seeds` lists 0 twice"),
            (
                "name: t",
                "name: t\npostprocessing: [raw, raw]",
                "`postprocessing` lists `raw` twice",
            ),
            (
                "name: t",
                "name: t\npostprocessing: []",
                "`postprocessing` is empty",
            ),
            (
                "datasets: [d]",
                "datasets: [d, d]",
                "`datasets` lists `d` twice",
            ),
            (
                "name: t",
                "name: t\ntrain_fraction: 1.0e-300",
                "`train_fraction` must lie between 0.01 and 0.99",
            ),
        ];
        for (from, to, want) in cases {
            let e = parse_error(&OK.replacen(from, to, 1));
            assert!(e.contains(want), "{to}: {e}");
        }
        // n_permutations: 0 still means "no null test" where a value does not
        // depend on it.
        Pipeline::from_str(
            Path::new("p.yaml"),
            &OK.replace(metric, "  - {kind: distribution, n_permutations: 0}"),
        )
        .unwrap();
    }

    #[test]
    fn typo_names_line_and_column() {
        let bad = OK.replace("n_components: 8", "n_component: 8");
        let e = parse_error(&bad);
        assert!(e.starts_with("p.yaml: line 4, column"), "{e}");
        assert!(e.contains("n_component"), "{e}");
        let bad = OK.replace("n_components: 8", "n_components: eight");
        let e = parse_error(&bad);
        assert!(e.starts_with("p.yaml: line 4"), "{e}");
    }

    #[test]
    fn misplaced_and_missing_parameters() {
        let bad = OK.replace("kind: shuffled, of: pca", "kind: shuffled, of: pca, dim: 3");
        let e = parse_error(&bad);
        assert_eq!(
            e,
            "p.yaml: representation `shuf`: `dim` does not apply to kind `shuffled`"
        );
        let bad = OK.replace("of: pca", "of: nothing");
        let e = parse_error(&bad);
        assert!(e.contains("`of: nothing` names no other"), "{e}");
        let bad = OK.replace("metrics:\n", "postprocessing: [raw, tvm]\nmetrics:\n");
        let e = parse_error(&bad);
        assert!(e.contains("postprocessing `tvm` is unknown"), "{e}");
    }

    #[test]
    fn metric_fields_are_typed_by_kind_and_errors_keep_their_place() {
        let with = |entry: &str| OK.replace("  - {kind: consistency}", entry);
        // A field of another kind: named, with the fields this kind takes.
        let e = parse_error(&with("  - {kind: knn, perplexity: 30}"));
        assert!(e.starts_with("p.yaml: line 7, column"), "{e}");
        assert!(
            e.contains("`perplexity` does not apply to kind `knn` (it takes: name, k, weights,"),
            "{e}"
        );
        // A wrong type keeps its line and column, on any line of a block map.
        let e = parse_error(&with("  - kind: knn\n    weights: euclidean\n    k: seven"));
        assert!(e.starts_with("p.yaml: line 9, column 8"), "{e}");
        // `kind` need not come first.
        let p = Pipeline::from_str(
            Path::new("p.yaml"),
            &with("  - {k: 7, name: k7, kind: knn}"),
        )
        .unwrap();
        assert_eq!(p.metrics[0].label(), "k7");
        assert!(
            matches!(&p.metrics[0].options, crate::metrics::MetricOptions::Knn(o) if o.k == Some(7))
        );
        let e = parse_error(&with("  - {k: 0, kind: knn}"));
        assert!(e.contains("`k` must be positive"), "{e}");
        let e = parse_error(&with("  - {perplexity: 3, kind: knn}"));
        assert!(
            e.contains("`perplexity` does not apply to kind `knn`"),
            "{e}"
        );
        for (entry, want) in [
            ("  - {n_permutations: 5}", "missing field `kind`"),
            ("  - {kind: knn, kind: knn}", "duplicate"),
            ("  - {kind: knn, k: 3, k: 4}", "duplicate"),
            ("  - {kind: nope}", "unknown variant `nope`"),
        ] {
            let e = parse_error(&with(entry));
            assert!(e.contains(want), "{entry}: {e}");
        }
        // The ridge probe is named linear_ridge.
        let p = Pipeline::from_str(
            Path::new("p.yaml"),
            &with("  - {kind: linear_probe, solver: ridge}"),
        )
        .unwrap();
        assert_eq!(p.metrics[0].label(), "linear_ridge");
    }

    #[test]
    fn the_json_schema_lists_every_kind_and_typed_fields() {
        let s = json_schema();
        let kinds = s["properties"]["metrics"]["items"]["oneOf"]
            .as_array()
            .unwrap();
        assert_eq!(kinds.len(), MetricKind::ALL.len());
        let knn = kinds
            .iter()
            .find(|k| k["properties"]["kind"]["const"] == "knn")
            .unwrap();
        assert_eq!(knn["properties"]["k"]["type"], "integer");
        assert_eq!(
            knn["properties"]["weights"]["enum"],
            serde_json::json!(["euclidean", "cosine"])
        );
        assert_eq!(knn["additionalProperties"], false);
        let rep = &s["properties"]["representations"]["items"];
        assert!(rep["properties"]["kind"]["enum"]
            .as_array()
            .unwrap()
            .contains(&"pca".into()));
        assert_eq!(s["properties"]["seeds"]["items"]["type"], "integer");
        // Every property of every kind has a type or a choice, except the
        // untagged `features` (a name or a table).
        for k in kinds {
            for (name, p) in k["properties"].as_object().unwrap() {
                let typed =
                    p.get("type").is_some() || p.get("enum").is_some() || p.get("const").is_some();
                assert!(typed || name == "features", "{name}: {p}");
            }
        }
    }

    #[test]
    fn pca_takes_power_iterations_and_consistency_label_shuffles() {
        let ok = OK
            .replace("n_components: 8}", "n_components: 8, power_iterations: 2}")
            .replace(
                "{kind: consistency}",
                "{kind: consistency, n_label_shuffles: 50}",
            );
        let p = Pipeline::from_str(Path::new("p.yaml"), &ok).unwrap();
        assert_eq!(p.representations[0].power_iterations, Some(2));
        assert!(matches!(
            &p.metrics[0].options,
            crate::metrics::MetricOptions::Consistency(o) if o.n_label_shuffles == Some(50)
        ));
        let bad = OK.replace("of: pca}", "of: pca, power_iterations: 2}");
        let e = parse_error(&bad);
        assert_eq!(
            e,
            "p.yaml: representation `shuf`: `power_iterations` does not apply to kind `shuffled`"
        );
        let bad = OK.replace(
            "metrics:\n  - {kind: consistency}",
            "metrics:\n  - {kind: knn, n_label_shuffles: 5}",
        );
        let e = parse_error(&bad);
        assert!(e.contains("`n_label_shuffles`"), "{e}");
    }
}

/// The parameters a metric node's cache key is made of must not change when
/// the options' code moves: every metric of the shipped pipelines and one
/// entry per option of every kind, serialised as the DAG serialises them,
/// against `snapshots/metric_keys.txt` (`PERTBENCH_SNAPSHOT_UPDATE=1`
/// rewrites it, on purpose only).
#[cfg(test)]
mod key_snapshot {
    use super::*;

    /// One entry per option of every kind (values not the defaults).
    const EVERY_OPTION: &str = r#"
- {kind: consistency, null: unexpressed, pvalue: efaar, null_strata: none, n_permutations: 10, n_label_shuffles: 5, expression_threshold: 0.2, min_unexpressed: 3, alpha: 0.1, n_bootstrap: 50}
- {kind: relationship_recall, sources: [corum], thresholds: [[0.1, 0.9]], upper_only: false, n_permutations: 5, n_bootstrap: 50}
- {kind: ilisi, perplexity: 10, on: all, max_queries: 100, n_bootstrap: 50}
- {kind: linear_probe, solver: logistic, optimiser: adam, max_steps: 10, tol: 0.001, epochs: 5, batch_size: 64, learning_rate: 0.1, l2: 0.01, n_bootstrap: 50}
- {kind: linear_probe, name: lp2, optimiser: lbfgs, gtol: 1.0e-6}
- {kind: linear_probe, solver: ridge, ridge_lambda: 2.5}
- {kind: knn, k: 7, weights: cosine, max_queries: 100, control_queries: include, min_queries: 3, n_bootstrap: 50}
- {kind: interpretability, ridge_lambda: 0.5, si_rows: all, n_bootstrap: 50}
- {kind: distribution, energy: squared, mmd: false, controls: all, n_permutations: 10, max_tested: 5, alpha: 0.1, n_bootstrap: 50}
- {kind: rewiring, k: 3, entity: perturbation, reference_context: a, calibration: size_matched, n_permutations: 10, alpha: 0.1, n_bootstrap: 50}
- {kind: prediction, predictors: [control, linear], predictions: [{name: m, path: p.h5ad, perturbation_column: g, context_column: c}], space: expression, n_genes: 10, max_samples: 20, ties: pessimistic, features: target_gene_loadings, n_features: 5, ridge_lambda: 2, controls: all, n_bootstrap: 50}
- {kind: prediction, name: pred2, predictors: [linear], features: {path: f.csv, id_column: gene, prefix: f_}}
- {kind: transfer, probes: [in_domain, lopo_ridge, loco], features: {path: f.csv, columns: [a, b]}, ridge_lambda: 3, controls: all, n_permutations: 10, alpha: 0.1, n_bootstrap: 50}
- {kind: transfer, name: t2, features: target_gene_loadings, n_features: 4}
- {kind: map, similarity: correlation, controls: same_batch, pvalue: copairs, null_size: 10, threshold: 0.1, n_bootstrap: 50}
- {kind: map_consistency, similarity: euclidean, separator: ';', perturbations: all, controls: same_batch, activity_pvalue: copairs, pvalue: copairs, null_size: 10, threshold: 0.1, n_bootstrap: 50}
- {kind: replicate_reproducibility, similarity: spearman, replicate_groups: [perturbation, batch], samples: treated, quantile: 0.9}
- {kind: precision_recall, similarity: spearman, replicate_groups: [annotation], group_by: [sample], k: [1, 5], samples: treated}
- {kind: enrichment, similarity: spearman, replicate_groups: [perturbation, annotation], percentile: [0.9, 0.99], pairs: unordered, samples: treated}
- {kind: grit, similarity: spearman, summary: median}
- {kind: mp_value, pvalue: cytominer, n_permutations: 10, rescale_pca: false, variance: 0.8, threshold: 0.1}
"#;

    fn lines() -> String {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../pipelines");
        let mut files: Vec<PathBuf> = std::fs::read_dir(&root)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
            .collect();
        files.sort();
        let mut out = String::new();
        for f in files {
            let p = Pipeline::load(&f).unwrap();
            for m in &p.metrics {
                let name = f.file_name().unwrap().to_string_lossy();
                out += &format!("{name}\t{}\n", serde_json::json!({ "spec": m }));
            }
        }
        let pipeline = format!(
            "name: t\ndatasets: [d]\nrepresentations: []\nmetrics:{}",
            EVERY_OPTION
        );
        let p = Pipeline::from_str(Path::new("every_option.yaml"), &pipeline).unwrap();
        for m in &p.metrics {
            out += &format!("every_option\t{}\n", serde_json::json!({ "spec": m }));
        }
        out
    }

    #[test]
    fn metric_key_parameters_are_unchanged() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/snapshots/metric_keys.txt");
        let now = lines();
        if std::env::var_os("PERTBENCH_SNAPSHOT_UPDATE").is_some() {
            std::fs::write(&path, &now).unwrap();
        }
        let want = std::fs::read_to_string(&path).unwrap();
        for (a, b) in want.lines().zip(now.lines()) {
            assert_eq!(a, b);
        }
        assert_eq!(want.lines().count(), now.lines().count());
    }
}
