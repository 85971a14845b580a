//! `pertbench init`: a dataset manifest and a commented starter pipeline
//! for a user's own h5ad, from the columns [`pertbench_data::inspect`]
//! suggests. Every guess is written with its reason and the other
//! candidates, so the files explain themselves.

use pertbench_data::inspect::{ControlGuess, H5adProfile, Pick, Suggestion};

/// What the starter files are written from.
pub struct StarterInput<'a> {
    /// Dataset (and pipeline) name.
    pub name: &'a str,
    /// The h5ad's file name (looked up in the mirror directories).
    pub file_name: &'a str,
    /// The directory holding it, for the run command in the comments.
    pub file_dir: &'a str,
    pub sha256: &'a str,
    pub size_bytes: u64,
    pub profile: &'a H5adProfile,
    pub suggestion: &'a Suggestion,
}

/// A name usable as a dataset, pipeline or representation name: lower
/// case letters, digits and `_`, starting with a letter.
pub fn identifier(raw: &str) -> String {
    let mut s: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    while s.contains("__") {
        s = s.replace("__", "_");
    }
    let s = s.trim_matches('_').to_string();
    if s.starts_with(|c: char| c.is_ascii_alphabetic()) {
        s
    } else {
        format!("d_{s}")
    }
}

/// `s` as a YAML scalar: bare when it is plainly a word, else double-quoted
/// (JSON escaping, which YAML reads).
pub fn yaml_str(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        && s.starts_with(|c: char| c.is_ascii_alphabetic())
        && !matches!(
            s.to_ascii_lowercase().as_str(),
            "true" | "false" | "yes" | "no" | "on" | "off" | "null" | "y" | "n"
        );
    if plain {
        s.to_string()
    } else {
        serde_json::to_string(s).expect("a string serialises")
    }
}

fn human_bytes(b: u64) -> String {
    let (v, unit) = match b {
        b if b >= 1 << 30 => (b as f64 / (1u64 << 30) as f64, "GB"),
        b if b >= 1 << 20 => (b as f64 / (1u64 << 20) as f64, "MB"),
        b => (b as f64 / 1024.0, "KB"),
    };
    format!("{v:.1} {unit}")
}

fn thousands(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn others(p: &Pick) -> String {
    if p.others.is_empty() {
        String::new()
    } else {
        format!(" Other candidates: {}.", p.others.join(", "))
    }
}

/// A manifest's `field:` line for a suggested column, after a comment
/// with the reason and the other candidates; without a suggestion, the
/// field's own name and what to put there.
fn column_field(field: &str, pick: &Option<Pick>, missing: &str) -> String {
    match pick {
        Some(p) => format!(
            "  # {field}: {}.{}\n  {field}: {}\n",
            p.why,
            others(p),
            yaml_str(&p.column)
        ),
        None => format!("  # No {field} column was found: {missing}\n  {field}: {field}\n"),
    }
}

/// The dataset manifest (`data_manifests/<name>.yaml`).
/// The manifest's `values`, `counts` and `gene_column` lines: where the
/// whole counts are (checked on the first rows of each matrix) and which
/// var column names genes as the perturbation labels do.
fn values_lines(p: &H5adProfile, s: &Suggestion) -> String {
    if matches!(p.format, "csv" | "parquet") {
        if s.gene_map.is_some() {
            return String::new();
        }
        return format!(
            "features: {{}}             # every numeric column not starting with Metadata_ ({} here); or {{prefix: ...}}, {{regex: ...}}; missing: error | drop_features | drop_samples | mean_impute\n",
            p.n_features
        );
    }
    if matches!(p.format, "gctx" | "gct") {
        let mut y = match p.counts_matrix() {
            Some(_) => "values: counts           # the values are whole counts (checked on the first samples)\n".to_string(),
            None => "values: log_expression   # the values are not whole counts (checked on the first samples): used as stored\n".to_string(),
        };
        if let Some(c) = &s.gene_column {
            y += &format!(
                "gene_column: {}      # the row field naming genes as the perturbation labels do\n",
                yaml_str(c)
            );
        }
        return y;
    }
    let checked: Vec<&str> = p.count_sources.iter().map(|(c, _)| c.as_str()).collect();
    let mut y = match p.counts_matrix() {
        Some("X") | None if checked.is_empty() => {
            "values: counts           # X holds raw counts; `log_expression` if it is already log-normalised\n".to_string()
        }
        Some("X") => "values: counts           # X holds whole counts (checked on its first rows)\n".to_string(),
        Some(m) => {
            let setting = pertbench_data::manifest::CountsSource::from_matrix_path(m)
                .map(|c| c.name())
                .unwrap_or_else(|| m.to_string());
            format!(
                "values: counts\ncounts: {setting}            # X is not whole counts; {m} is (checked on the first rows of: {})\n",
                checked.join(", ")
            )
        }
        None => format!(
            "values: log_expression   # no matrix holds whole counts (checked: {}): X is used as stored, never normalised again\n",
            checked.join(", ")
        ),
    };
    if let Some(c) = &s.gene_column {
        y += &format!(
            "gene_column: {}      # the var column naming genes as the perturbation labels do (the var index holds other ids)\n",
            yaml_str(c)
        );
    }
    y
}

pub fn manifest_yaml(i: &StarterInput) -> String {
    let p = i.profile;
    let s = i.suggestion;
    let columns: Vec<String> = p
        .columns
        .iter()
        .map(|c| format!("{} ({} levels)", c.name, c.n_levels))
        .collect();
    let mut y = format!(
        "# Dataset manifest for {file}, written by `pertbench init`.\n\
         # {cells} {rows} x {genes} {vars}. Sample columns: {cols}.\n\
         # The column choices below are guesses from the data: check them.\n\
         name: {name}\n\
         description: {desc}\n\
         citation: \"\"            # where the data comes from (paper, GEO accession)\n\
         license: \"\"\n\
         format: {format}\n\
         source:\n  \
           file: {file_yaml}       # found by name in a --mirror directory ({dir})\n\
         sha256: {sha}\n\
         size: {size}\n\
         {values}\
         columns:\n",
        file = i.file_name,
        cells = thousands(p.n_obs),
        genes = thousands(p.n_vars),
        cols = if columns.is_empty() {
            "none".to_string()
        } else {
            columns.join(", ")
        },
        name = i.name,
        desc = yaml_str(&format!(
            "{} ({} cells x {} genes)",
            i.file_name,
            thousands(p.n_obs),
            thousands(p.n_vars)
        )),
        file_yaml = yaml_str(i.file_name),
        dir = i.file_dir,
        sha = i.sha256,
        size = yaml_str(&human_bytes(i.size_bytes)),
        values = values_lines(p, s),
        format = p.format,
        rows = if s.gene_map.is_some() {
            "genes"
        } else if p.n_features > 0 {
            "rows"
        } else {
            "cells"
        },
        vars = if p.n_features > 0 {
            "numeric features"
        } else {
            "genes"
        },
    );
    if let Some(g) = &s.gene_map {
        y = y.replace("columns:\n", "");
        y += &format!(
            "# One row per gene and no batches or controls: a gene-level map. Pipelines\n# run relationship recall (Task 5) under `raw` on it and list the rest as skipped.\ngene_map: {{gene: {}}}\nfeatures: {{}}             # every numeric column ({} here); or {{prefix: ...}}, {{regex: ...}}; missing: error | drop_features | drop_samples | mean_impute\n",
            yaml_str(g),
            p.n_features
        );
        return y;
    }
    y += &column_field(
        "perturbation",
        &s.perturbation,
        "name the obs column holding each cell's target.",
    );
    y += &column_field(
        "batch",
        &s.batch,
        "name the obs column of batches (lanes, gem groups, plates).",
    );
    match &s.control {
        Some((ControlGuess::Column(c), why)) => {
            y += &format!("  # controls: {why}.\n");
            y += &format!("  control: {{column: {}}}\n", yaml_str(c));
        }
        Some((ControlGuess::Values(c, v), why)) => {
            y += &format!("  # controls: {why}.\n");
            let v: Vec<String> = v.iter().map(|x| yaml_str(x)).collect();
            y += &format!(
                "  control: {{column: {}, in: [{}]}}\n",
                yaml_str(c),
                v.join(", ")
            );
        }
        Some((ControlGuess::Label(l), why)) => {
            y += &format!(
                "  # controls: {why}. Other forms: {{column: NAME}} (a true/false column) or {{column: NAME, in: [VALUES]}}.\n"
            );
            y += &format!("  control: {{label: {}}}\n", yaml_str(l));
        }
        None => {
            y += "  # No controls were found: {label: LABEL}, {column: NAME} or {column: NAME, in: [VALUES]}.\n";
            y += "  control: {label: non-targeting}\n";
        }
    }
    let drops: Vec<String> = s.drop_labels.iter().map(|l| yaml_str(l)).collect();
    y += &format!(
        "  drop_labels: [{}]       # perturbation labels dropped at ingestion (no perturbation assigned)\n",
        drops.join(", ")
    );
    match &s.context {
        Some(c) => {
            y += &format!(
                "  # context: {}.{} Uncomment for distribution, transfer and prediction by context.\n",
                c.why,
                others(c)
            );
            y += &format!("  # context: {}\n", yaml_str(&c.column));
        }
        None => y +=
            "  # context: cell_line     # a cell line or type column, if the screen has several\n",
    }
    y
}

/// The starter pipeline (`pipelines/<name>.yaml`).
pub fn pipeline_yaml(i: &StarterInput) -> String {
    let p = i.profile;
    if i.suggestion.gene_map.is_some() {
        let n = 50
            .min(p.n_features.saturating_sub(1))
            .min(p.n_obs.saturating_sub(1))
            .max(2);
        return format!(
            "# Starter pipeline for the gene-level map {file}, written by `pertbench init`:\n\
             # its own features and their PCA against a random baseline, scored by\n\
             # known-relationship recall (Task 5), the task a map without samples supports.\n\
             # Run it:   pertbench --mirror {dir} run pipelines/{name}.yaml\n\
             name: {name}\n\
             datasets: [{name}]\n\
             seeds: [0]\n\
             representations:\n  \
               - {{name: features, kind: features}}   # the map as it is\n  \
               - {{name: pca, kind: pca, n_components: {n}}}\n  \
               - {{name: random, kind: random, dim: {n}}}\n\
             postprocessing: [raw]\n\
             metrics:\n  \
               - {{kind: relationship_recall, sources: [corum, humap, reactome, signor, stringdb]}}\n",
            file = i.file_name,
            dir = i.file_dir,
            name = i.name,
        );
    }
    let n_components = 50
        .min(p.n_vars.saturating_sub(1))
        .min(p.n_obs.saturating_sub(1))
        .max(2);
    let mut y = format!(
        "# Starter pipeline for {file}, written by `pertbench init`: PCA against the\n\
         # random and shuffled baselines (and the embeddings found in obsm), the four\n\
         # post-processings and the six tasks of paper 004.\n\
         # Run it:   pertbench --mirror {dir} run pipelines/{name}.yaml\n\
         # Then:     pertbench report -o {name}.html\n\
         # Each kind's options and defaults: pertbench explain <kind>\n\
         name: {name}\n\
         description: {desc}\n\
         datasets: [{name}]\n\
         seeds: [0]               # more seeds give intervals over seeds: [0, 1, 2]\n\
         representations:\n  \
           - {{name: pca, kind: pca, n_components: {n_components}}}    # PCA of the counts (the baseline to beat)\n  \
           - {{name: random, kind: random, dim: {n_components}}}        # iid N(0, 1)\n  \
           - {{name: shuffled, kind: shuffled, of: pca}}   # PCA with its rows permuted\n",
        file = i.file_name,
        dir = i.file_dir,
        name = i.name,
        desc = yaml_str(&format!("{}: PCA vs baselines; Tasks 1-6", i.file_name)),
    );
    let taken = ["pca", "random", "shuffled"];
    let mut used: Vec<String> = taken.iter().map(|s| s.to_string()).collect();
    for (key, cols) in &p.obsm {
        let base = identifier(key.strip_prefix("X_").unwrap_or(key));
        let mut rep = base.clone();
        if used.contains(&rep) {
            rep = format!("obsm_{base}");
        }
        let mut k = 2;
        while used.contains(&rep) {
            rep = format!("obsm_{base}_{k}");
            k += 1;
        }
        used.push(rep.clone());
        let line = format!("{{name: {rep}, kind: obsm, key: {}}}", yaml_str(key));
        if *cols >= 3 && key.starts_with("X_") {
            y += &format!("  - {line}    # obsm, {cols} columns\n");
        } else if *cols >= 3 {
            // Not named as an embedding (e.g. guide counts, which would
            // give away the perturbation): the user decides.
            y += &format!("  # - {line}    # obsm, {cols} columns: not named X_*; uncomment if it is an embedding of the cells\n");
        } else {
            y += &format!("  # - {line}    # obsm, {cols} columns: a 2-D layout (UMAP, t-SNE?), not an embedding to benchmark\n");
        }
    }
    if p.format != "h5ad" {
        y += "  - {name: features, kind: features}   # the file's own values (profiles, log expression), as stored\n";
    }
    y += "  # - {name: mymodel, kind: npy, path: embeddings/mymodel.npy}   # your model, row-aligned with the file\n";
    y += "postprocessing: [raw, center, center_scale, tvn]\n";
    y += "metrics:\n";
    let n_batches = i
        .suggestion
        .batch
        .as_ref()
        .and_then(|b| p.columns.iter().find(|c| c.name == b.column))
        .map_or(0, |c| c.n_levels);
    if n_batches <= 3 {
        // 70% of 3 batches are train: test_seen would hold one batch.
        y += &format!("  - {{kind: ilisi, on: all}}         # Task 1: batch mixing (over all samples: with {n_batches} batches the split leaves one test batch)\n");
    } else {
        y += "  - {kind: ilisi}                  # Task 1: batch mixing (on test_seen)\n";
    }
    y += "  - {kind: linear_probe}           # Task 2: linear separability\n";
    y += "  - {kind: consistency}            # Task 3: perturbation consistency\n";
    y += "  - {kind: knn}                    # Task 4: kNN organisation\n";
    y += "  - {kind: relationship_recall, sources: [corum, humap, reactome, signor, stringdb]}   # Task 5: needs gene-symbol perturbations\n";
    y += "  - {kind: interpretability}       # Task 6: decodes expression from X\n";
    y
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_and_yaml_strings() {
        assert_eq!(identifier("My Screen-2021.h5ad"), "my_screen_2021_h5ad");
        assert_eq!(identifier("2021 screen"), "d_2021_screen");
        assert_eq!(yaml_str("guide_target"), "guide_target");
        assert_eq!(yaml_str("non-targeting"), "non-targeting");
        assert_eq!(yaml_str("yes"), "\"yes\"");
        assert_eq!(yaml_str("a: b"), "\"a: b\"");
        assert_eq!(yaml_str(""), "\"\"");
        assert_eq!(thousands(1234567), "1,234,567");
        assert_eq!(thousands(12), "12");
    }

    fn profile() -> H5adProfile {
        use pertbench_data::inspect::profile_column;
        use pertbench_data::samples::RawColumn;
        let col = |name: &str, v: Vec<&str>| {
            profile_column(
                name,
                &RawColumn::Str(v.into_iter().map(|s| Some(s.to_string())).collect()),
            )
        };
        let mut target = vec!["TP53"; 6];
        target.extend(["MYC"; 6]);
        target.extend(["non targeting"; 6]);
        target.extend(["unassigned"; 2]);
        let mut guide = col("guide target", target);
        guide.gene_labels = 2;
        H5adProfile {
            n_obs: 20,
            n_vars: 30,
            columns: vec![
                guide,
                col(
                    "lane",
                    (0..20)
                        .map(|i| if i % 2 == 0 { "a" } else { "b" })
                        .collect(),
                ),
                col(
                    "cell_line",
                    (0..20)
                        .map(|i| if i < 10 { "K562" } else { "RPE1" })
                        .collect(),
                ),
            ],
            obsm: vec![
                ("X_scvi".into(), 10),
                ("X_umap".into(), 2),
                ("pca".into(), 8),
            ],
            genes_head: vec![],
            count_sources: vec![("X".into(), true)],
            format: "h5ad",
            n_features: 0,
        }
    }

    #[test]
    fn starter_files_parse_and_say_why() {
        let p = profile();
        let s = pertbench_data::inspect::suggest(&p);
        let input = StarterInput {
            name: "my_screen",
            file_name: "my screen.h5ad",
            file_dir: "/data",
            sha256: &"ab".repeat(32),
            size_bytes: 3 << 20,
            profile: &p,
            suggestion: &s,
        };
        let dir = tempfile::tempdir().unwrap();
        let mpath = dir.path().join("my_screen.yaml");
        let manifest = manifest_yaml(&input);
        std::fs::write(&mpath, &manifest).unwrap();
        let m = pertbench_data::manifest::Manifest::load(&mpath)
            .unwrap_or_else(|e| panic!("{e}\n{manifest}"));
        let c = m.columns.unwrap();
        assert_eq!(
            (c.perturbation.as_str(), c.batch.as_str()),
            ("guide target", "lane")
        );
        assert_eq!(
            c.control,
            pertbench_data::manifest::ControlRule::Label("non targeting".into())
        );
        assert_eq!(c.drop_labels, ["unassigned"]);
        assert!(c.context.is_none());
        assert!(manifest.contains("# context: cell_line"), "{manifest}");
        assert!(manifest.contains("2 labels are gene names"), "{manifest}");
        assert!(manifest.contains("size: \"3.0 MB\""), "{manifest}");

        let pipeline = pipeline_yaml(&input);
        let pl = pertbench_engine::pipeline::Pipeline::from_str(
            std::path::Path::new("p.yaml"),
            &pipeline,
        )
        .unwrap_or_else(|e| panic!("{e}\n{pipeline}"));
        let reps: Vec<&str> = pl.representations.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(reps, ["pca", "random", "shuffled", "scvi"], "{pipeline}");
        // A 2-D layout and an obsm matrix not named X_* are left commented;
        // `pca` in obsm does not clash with the PCA baseline.
        assert!(
            pipeline.contains("# - {name: umap, kind: obsm, key: X_umap}"),
            "{pipeline}"
        );
        assert!(
            pipeline.contains("# - {name: obsm_pca, kind: obsm, key: pca}"),
            "{pipeline}"
        );
        // Two batches: iLISI over all samples.
        assert!(matches!(
            &pl.metrics[0].options,
            pertbench_engine::metrics::MetricOptions::Ilisi(o) if o.on == Some(pertbench_engine::metrics::EvalSamples::All)
        ));
        assert_eq!(pl.metrics.len(), 6);
        assert!(pipeline.contains("pertbench --mirror /data run pipelines/my_screen.yaml"));
    }
}
