//! Delimited and Parquet tables, GCT text and relationship pair files. The
//! first byte picks the file's kind (its extension decides how pertbench
//! reads it); the rest is the file.

use std::path::Path;

pub(crate) const KINDS: &[&str] = &[
    "csv",
    "tsv",
    "txt",
    "csv.gz",
    "parquet",
    "gct",
    "gct.gz",
    "pairs.tsv",
    "clusters.tsv",
];

pub fn run(data: &[u8]) {
    let Some((&first, body)) = data.split_first() else {
        return;
    };
    let kind = KINDS[first as usize % KINDS.len()];
    let dir = crate::scratch::fresh("table");
    let path = crate::scratch::file(&dir, &format!("t.{kind}"), body);
    read(&dir, &path, kind);
}

fn read(dir: &Path, path: &Path, kind: &str) {
    use pertbench_data::{relationships, tabular};
    match kind {
        "pairs.tsv" => {
            let _ = relationships::read_pairs(path);
        }
        "clusters.tsv" => {
            let _ = relationships::read_clusters(path);
        }
        "gct" | "gct.gz" => {
            crate::targets::inspect(path);
            crate::targets::load_screen(dir, path, "gct", crate::targets::gctx::FIELDS);
        }
        _ => {
            if let Ok(df) = tabular::read_frame(path) {
                let names: Vec<String> = df
                    .get_column_names()
                    .iter()
                    .map(|s| s.to_string())
                    .collect();
                for n in &names {
                    let _ = tabular::column(path, &df, n);
                }
                let _ = tabular::matrix(path, &df, &names);
                let _ = tabular::read_metadata_table(path, &names);
            }
            // A profile table (Cell Painting's layout), as `inspect` and a
            // profiles manifest read it.
            crate::targets::inspect(path);
            let format = if kind == "parquet" { "parquet" } else { "csv" };
            crate::targets::load_screen(dir, path, format, PROFILE_FIELDS);
        }
    }
}

const PROFILE_FIELDS: &str = "features: {missing: drop_samples}\ncolumns: {perturbation: Metadata_gene, batch: Metadata_Plate, control: {column: Metadata_gene, in: [non-targeting]}}";
