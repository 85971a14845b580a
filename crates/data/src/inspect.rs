//! What `pertbench init` learns from a user's h5ad: a profile of every obs
//! column (type, levels, most frequent values) and `obsm` key, and a
//! suggestion of the perturbation, batch, control and context columns, each
//! with its reason and the other candidates, so the user can check it.

use crate::error::Result;
use crate::h5ad::H5ad;
use crate::samples::RawColumn;
use std::collections::HashMap;

/// One obs column.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnProfile {
    pub name: String,
    /// `text` (strings or categories), `bool` or `number`.
    pub kind: &'static str,
    pub n_missing: usize,
    pub n_levels: usize,
    /// The most frequent values, most frequent first (ties by value).
    pub top: Vec<(String, usize)>,
    /// Every level with its count (text and bool columns with at most
    /// [`MAX_LEVELS_KEPT`] levels; empty otherwise).
    pub levels: Vec<(String, usize)>,
    /// Levels that are also gene names: a perturbation column has them.
    /// Set by [`profile`] (the best of the var index and the var's text
    /// columns); 0 from [`profile_column`] alone.
    pub gene_labels: usize,
    /// The var column whose names those levels match (None: the var index).
    pub gene_labels_by: Option<String>,
    /// How many of those matching levels look like Ensembl ids (`ENSG...`).
    pub ensembl_labels: usize,
}

/// Levels kept per column for the suggestions.
pub const MAX_LEVELS_KEPT: usize = 200_000;

#[derive(Debug, Clone, PartialEq)]
pub struct H5adProfile {
    pub n_obs: usize,
    pub n_vars: usize,
    pub columns: Vec<ColumnProfile>,
    /// (key, columns) of every obsm matrix.
    pub obsm: Vec<(String, usize)>,
    /// The first few gene names.
    pub genes_head: Vec<String>,
    /// Each matrix that may hold counts (`X`, `raw/X`, `layers/<key>`)
    /// with whether its first rows hold whole, non-negative values.
    pub count_sources: Vec<(String, bool)>,
    /// The file's format as a manifest names it: h5ad, gctx, gct, csv or
    /// parquet.
    pub format: &'static str,
    /// Numeric feature columns of a profile table (not `Metadata_`).
    pub n_features: usize,
}

impl H5adProfile {
    /// The matrix to read counts from: `X` when it holds counts, else
    /// `raw/X`, else the first layer that does; None when none does (the
    /// values are then normalised expression).
    pub fn counts_matrix(&self) -> Option<&str> {
        counts_matrix(&self.count_sources)
    }
}

/// [`H5adProfile::counts_matrix`] of the checked matrices.
fn counts_matrix(count_sources: &[(String, bool)]) -> Option<&str> {
    let counts = |name: &str| count_sources.iter().any(|(c, ok)| c == name && *ok);
    if counts("X") {
        return Some("X");
    }
    if counts("raw/X") {
        return Some("raw/X");
    }
    count_sources
        .iter()
        .find(|(c, ok)| *ok && c.starts_with("layers/"))
        .map(|(c, _)| c.as_str())
}

/// Whether a label looks like an Ensembl gene id (`ENSG00000141510`,
/// `ENSMUSG...`, with an optional version).
pub fn is_ensembl_id(label: &str) -> bool {
    let Some(rest) = label.strip_prefix("ENS") else {
        return false;
    };
    let digits = rest.trim_start_matches(|c: char| c.is_ascii_uppercase());
    rest.len() > digits.len()
        && digits.len() >= 6
        && digits
            .split('.')
            .next()
            .is_some_and(|d| d.chars().all(|c| c.is_ascii_digit()))
}

/// Profiles the obs columns of an h5ad (reads obs, var and obsm shapes, not X).
pub fn profile(h: &H5ad) -> Result<H5adProfile> {
    let (n_obs, n_vars) = h.x_shape()?;
    let count_sources = crate::count_values::h5ad_count_sources(h);
    // Gene names of the matrix the counts come from: its var frame's index
    // and every text column of it (e.g. Replogle's `gene_name`).
    let frame = counts_matrix(&count_sources)
        .and_then(crate::manifest::CountsSource::from_matrix_path)
        .unwrap_or_default()
        .var_frame();
    let genes = h.index_of(frame)?;
    let mut namings: Namings = vec![(None, genes.iter().cloned().collect())];
    for c in h.frame_column_names(frame).unwrap_or_default() {
        if let Ok(Some(col @ RawColumn::Str(_))) = h.frame_column(frame, &c) {
            let names: std::collections::HashSet<String> =
                (0..col.len()).filter_map(|i| col.text(i)).collect();
            if names.len() * 2 > genes.len() {
                namings.push((Some(c), names));
            }
        }
    }
    let columns = profile_columns(&h.obs_column_names()?, &mut |n| h.obs_column(n), &namings)?;
    Ok(H5adProfile {
        n_obs,
        n_vars,
        columns,
        obsm: h.obsm_shapes()?,
        genes_head: genes.iter().take(5).cloned().collect(),
        count_sources,
        format: "h5ad",
        n_features: 0,
    })
}

/// A file `pertbench init` reads, opened once: its sample columns come
/// from obs (h5ad), the column metadata (gctx, gct) or the table itself.
pub enum Inspected {
    H5ad(H5ad),
    /// gctx or gct: sample columns from the column metadata, genes from
    /// the row ids and fields, values judged on the first samples.
    Cmap(crate::cmap::CmapFile),
    Table(std::path::PathBuf, polars::prelude::DataFrame),
}

impl Inspected {
    /// Opens `path` by its extension: .h5ad, .gctx, .gct (.gct.gz), or a
    /// table (.csv, .tsv, .txt, each also .gz; .parquet). A `.zarr` store
    /// is refused with its conversion.
    pub fn open(path: &std::path::Path) -> Result<Inspected> {
        let name = path
            .file_name()
            .and_then(|f| f.to_str())
            .unwrap_or("")
            .to_ascii_lowercase();
        let name = name.strip_suffix(".gz").unwrap_or(&name);
        use crate::manifest::Format;
        Ok(if name.ends_with(".gctx") {
            Inspected::Cmap(crate::cmap::CmapFile::open(path, Format::Gctx)?)
        } else if name.ends_with(".gct") {
            Inspected::Cmap(crate::cmap::CmapFile::open(path, Format::Gct)?)
        } else if [".csv", ".tsv", ".txt", ".parquet", ".pq"]
            .iter()
            .any(|e| name.ends_with(e))
        {
            Inspected::Table(path.to_path_buf(), crate::tabular::read_frame(path)?)
        } else {
            Inspected::H5ad(H5ad::open(path)?)
        })
    }

    /// A sample column by name; None if absent.
    pub fn column(&self, name: &str) -> Result<Option<RawColumn>> {
        match self {
            Inspected::H5ad(h) => h.obs_column(name),
            Inspected::Cmap(g) => g.column(name),
            Inspected::Table(p, df) => crate::tabular::column(p, df, name),
        }
    }

    /// The profile of the file's sample columns, genes and values.
    pub fn profile(&self) -> Result<H5adProfile> {
        match self {
            Inspected::H5ad(h) => profile(h),
            Inspected::Cmap(g) => {
                let ids = g.gene_ids()?;
                let mut namings = vec![(None, ids.iter().cloned().collect())];
                for f in g.row_column_names()? {
                    if let Some(col @ RawColumn::Str(_)) = g.row_column(&f)? {
                        namings.push((
                            Some(f),
                            (0..col.len()).filter_map(|i| col.text(i)).collect(),
                        ));
                    }
                }
                let rows: Vec<usize> =
                    (0..g.n_samples().min(crate::count_values::HEAD_ROWS)).collect();
                let head = g.read_rows(&rows, None)?;
                Ok(H5adProfile {
                    n_obs: g.n_samples(),
                    n_vars: ids.len(),
                    columns: profile_columns(&g.column_names()?, &mut |n| g.column(n), &namings)?,
                    obsm: vec![],
                    genes_head: ids.iter().take(5).cloned().collect(),
                    count_sources: vec![(
                        "X".into(),
                        crate::count_values::looks_like_counts(&head),
                    )],
                    format: g.format_name(),
                    n_features: 0,
                })
            }
            Inspected::Table(p, df) => table_profile(p, df),
        }
    }
}

type Namings = Vec<(Option<String>, std::collections::HashSet<String>)>;

/// Profiles `names` as sample columns, matching their levels against each
/// gene naming (None: the ids; Some: a field naming them).
fn profile_columns(
    names: &[String],
    get: &mut dyn FnMut(&str) -> Result<Option<RawColumn>>,
    namings: &Namings,
) -> Result<Vec<ColumnProfile>> {
    let mut columns = Vec::new();
    for name in names {
        let Some(col) = get(name)? else {
            continue;
        };
        let mut p = profile_column(name, &col);
        for (by, set) in namings {
            let n = p.levels.iter().filter(|(l, _)| set.contains(l)).count();
            if n > p.gene_labels {
                p.gene_labels = n;
                p.gene_labels_by = by.clone();
                p.ensembl_labels = p
                    .levels
                    .iter()
                    .filter(|(l, _)| set.contains(l) && is_ensembl_id(l))
                    .count();
            }
        }
        columns.push(p);
    }
    Ok(columns)
}

/// A table: one row per sample (a profile table) or per gene (a gene-level
/// map). Its sample columns are the text columns and the numeric ones
/// named `Metadata_*` or holding two values at most (flags); the other
/// numeric columns are features.
fn table_profile(path: &std::path::Path, df: &polars::prelude::DataFrame) -> Result<H5adProfile> {
    let mut names = Vec::new();
    let mut n_features = 0;
    for col in df.columns() {
        let name = col.name().to_string();
        let numeric = col.dtype().is_primitive_numeric();
        // A numeric flag or batch number (is_control 0/1, plate 1-3) is a
        // sample column; every other numeric column is a feature, as
        // `features: {}` reads them.
        let flag = numeric
            && col.n_unique().is_ok_and(|u| (2..=3).contains(&u))
            && name_has(
                &name,
                &[
                    "control", "ctrl", "batch", "plate", "lane", "rep", "well", "site", "is_",
                ],
            );
        if !numeric || name.starts_with("Metadata_") || flag {
            names.push(name);
        } else {
            n_features += 1;
        }
    }
    let mut get = |n: &str| crate::tabular::column(path, df, n);
    let format = if path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("parquet") || e.eq_ignore_ascii_case("pq"))
    {
        "parquet"
    } else {
        "csv"
    };
    Ok(H5adProfile {
        n_obs: df.height(),
        n_vars: n_features,
        columns: profile_columns(&names, &mut get, &Vec::new())?,
        obsm: vec![],
        genes_head: vec![],
        count_sources: vec![],
        format,
        n_features,
    })
}

/// The profile of one column.
pub fn profile_column(name: &str, col: &RawColumn) -> ColumnProfile {
    let kind = match col {
        RawColumn::Str(_) => "text",
        RawColumn::Bool(_) => "bool",
        RawColumn::Num(_) => "number",
    };
    let mut counts: HashMap<String, usize> = HashMap::new();
    let mut n_missing = 0;
    for i in 0..col.len() {
        match col.text(i) {
            Some(t) => *counts.entry(t).or_default() += 1,
            None => n_missing += 1,
        }
    }
    let mut levels: Vec<(String, usize)> = counts.into_iter().collect();
    levels.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let n_levels = levels.len();
    let top = levels.iter().take(5).cloned().collect();
    // Numbers keep their levels when there are two at most (a 0/1 flag,
    // e.g. a control flag of an anndata 0.7 file, stored as float with NaN).
    if (kind == "number" && n_levels > 2) || n_levels > MAX_LEVELS_KEPT {
        levels.clear();
    }
    ColumnProfile {
        name: name.to_string(),
        kind,
        n_missing,
        n_levels,
        top,
        levels,
        gene_labels: 0,
        gene_labels_by: None,
        ensembl_labels: 0,
    }
}

/// How controls would be found.
#[derive(Debug, Clone, PartialEq)]
pub enum ControlGuess {
    /// A boolean (or 0/1, true/false) column.
    Column(String),
    /// A column whose values name control types (CMap's `pert_type`:
    /// ctl_vector, ctl_untrt, ...): those values mark controls.
    Values(String, Vec<String>),
    /// A perturbation label (e.g. `non-targeting`).
    Label(String),
}

/// One suggested column with why, and the runners-up.
#[derive(Debug, Clone, PartialEq)]
pub struct Pick {
    pub column: String,
    pub why: String,
    pub others: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Suggestion {
    pub perturbation: Option<Pick>,
    pub batch: Option<Pick>,
    pub control: Option<(ControlGuess, String)>,
    /// Perturbation labels that mean "no perturbation assigned".
    pub drop_labels: Vec<String>,
    pub context: Option<Pick>,
    /// The var column naming genes as the perturbation labels do (None:
    /// the var index).
    pub gene_column: Option<String>,
    /// For a table with one row per gene and no batches or controls: the
    /// column of genes of a gene-level map.
    pub gene_map: Option<String>,
    /// Things the user must check (batches without controls, ...).
    pub warnings: Vec<String>,
}

fn lower(s: &str) -> String {
    s.to_ascii_lowercase()
}

fn name_has(name: &str, words: &[&str]) -> bool {
    let n = lower(name);
    words.iter().any(|w| n.contains(w))
}

/// Whether a perturbation label marks a non-targeting or untreated control.
pub fn is_control_label(label: &str) -> bool {
    let l = lower(label).replace(['_', ' '], "-");
    [
        "non-targeting",
        "nontargeting",
        "non-target",
        "safe-targeting",
        "negative-control",
        "neg-ctrl",
        "control",
        "ctrl",
        "nt",
        "scramble",
        "untreated",
        "dmso",
        "vehicle",
        "ctl-vector",
        "ctl-untrt",
        "ctl-vehicle",
    ]
    .iter()
    .any(|c| l == *c || l.starts_with(&format!("{c}-")) || l.starts_with(&format!("{c}0")))
}

/// Whether a perturbation label means none was assigned.
pub fn is_unassigned_label(label: &str) -> bool {
    matches!(
        lower(label).trim(),
        "unassigned"
            | "na"
            | "nan"
            | "none"
            | ""
            | "multiple"
            | "multiplet"
            | "doublet"
            | "unknown"
    )
}

/// Perturbation columns: text with many levels, gene names among them, a
/// control label, and a name that says so.
fn perturbation_score(c: &ColumnProfile, p: &H5adProfile) -> Option<(i64, String)> {
    if c.kind != "text" || c.n_levels < 3 || c.n_levels * 2 > p.n_obs.max(4) {
        return None;
    }
    let mut score = 0i64;
    let mut why = Vec::new();
    if name_has(
        &c.name,
        &[
            "perturb", "target", "gene", "guide", "sgrna", "knock", "pert", "crispr",
        ],
    ) {
        score += 4;
        why.push("its name".to_string());
    }
    let genes = c.gene_labels;
    if genes > 0 {
        score += 3 + (genes.min(1000) as i64).ilog10() as i64;
        why.push(format!("{genes} labels are gene names"));
    }
    if c.ensembl_labels * 2 > genes && genes > 0 {
        // Relationship sources and target-gene lookups name genes by symbol.
        score -= 3;
        why.push("but they are Ensembl ids, not symbols".to_string());
    }
    if let Some((l, n)) = c.levels.iter().find(|(l, _)| is_control_label(l)) {
        score += 3;
        why.push(format!("a control label `{l}` ({n} samples)"));
    }
    if score == 0 {
        return None;
    }
    Some((score, format!("{} levels; {}", c.n_levels, why.join(", "))))
}

/// Batch columns: few levels, each with many samples, named like a batch.
fn batch_score(c: &ColumnProfile, p: &H5adProfile) -> Option<(i64, String)> {
    if c.n_levels < 2 || c.n_levels > 2_000 || c.n_levels * 5 > p.n_obs {
        return None;
    }
    let words = [
        "batch", "gem", "lane", "rep", "plate", "library", "channel", "run", "well", "donor",
        "sample", "pool",
    ];
    if !name_has(&c.name, &words) {
        return None;
    }
    let mut score = 4i64;
    if name_has(&c.name, &["batch", "gem_group", "gemgroup", "rep", "plate"]) {
        score += 2;
    }
    Some((score, format!("{} levels; its name", c.n_levels)))
}

/// Context columns: cell line or type, with 2 or more levels.
fn context_score(c: &ColumnProfile) -> Option<(i64, String)> {
    if c.kind != "text" || c.n_levels < 2 || c.n_levels > 1_000 {
        return None;
    }
    name_has(
        &c.name,
        &[
            "cell_line",
            "cell_type",
            "cellline",
            "celltype",
            "cell_iname",
            "tissue",
        ],
    )
    .then(|| (1, format!("{} levels; its name", c.n_levels)))
}

fn pick(
    p: &H5adProfile,
    score: impl Fn(&ColumnProfile) -> Option<(i64, String)>,
    exclude: &[&str],
) -> Option<Pick> {
    let mut scored: Vec<(i64, &ColumnProfile, String)> = p
        .columns
        .iter()
        .filter(|c| !exclude.contains(&c.name.as_str()))
        .filter_map(|c| score(c).map(|(s, w)| (s, c, w)))
        .collect();
    // Best score; then more levels; then name.
    scored.sort_by(|a, b| {
        b.0.cmp(&a.0)
            .then(b.1.n_levels.cmp(&a.1.n_levels))
            .then(a.1.name.cmp(&b.1.name))
    });
    let mut it = scored.into_iter();
    let (_, best, why) = it.next()?;
    Some(Pick {
        column: best.name.clone(),
        why,
        others: it.map(|(_, c, _)| c.name.clone()).collect(),
    })
}

/// Suggested columns for `p`, with reasons and warnings.
pub fn suggest(p: &H5adProfile) -> Suggestion {
    let perturbation = pick(p, |c| perturbation_score(c, p), &[]);
    let pert_name = perturbation.as_ref().map(|x| x.column.as_str());
    let batch = pick(p, |c| batch_score(c, p), pert_name.as_slice());
    let mut warnings = Vec::new();
    let pert_col = pert_name.and_then(|n| p.columns.iter().find(|c| c.name == n));
    // A boolean column named as a control flag wins over a label.
    let control_column = p.columns.iter().find(|c| {
        (c.kind == "bool"
            || (c.n_levels == 2
                && c.levels.iter().all(|(l, _)| {
                    ["0", "1", "true", "false", "True", "False"].contains(&l.as_str())
                })))
            && name_has(&c.name, &["control", "ctrl", "is_nt", "non_targeting"])
    });
    // CMap's convention: a type column whose levels include `ctl_*`.
    let control_values = p.columns.iter().find_map(|c| {
        let ctl: Vec<String> = c
            .levels
            .iter()
            .filter(|(l, _)| lower(l).starts_with("ctl_"))
            .map(|(l, _)| l.clone())
            .collect();
        (!ctl.is_empty() && ctl.len() < c.n_levels && name_has(&c.name, &["type"]))
            .then(|| (c.name.clone(), ctl))
    });
    let control = match (control_column, pert_col) {
        (None, _) if control_values.is_some() => {
            let (c, v) = control_values.expect("checked");
            let n: usize = p
                .columns
                .iter()
                .find(|x| x.name == c)
                .map(|x| {
                    x.levels
                        .iter()
                        .filter(|(l, _)| v.contains(l))
                        .map(|(_, n)| n)
                        .sum()
                })
                .unwrap_or(0);
            Some((
                ControlGuess::Values(c.clone(), v.clone()),
                format!(
                    "`{c}` values {} mark controls, CMap's convention ({n} samples)",
                    v.join(", ")
                ),
            ))
        }
        (Some(c), _) => {
            let n = c
                .levels
                .iter()
                .find(|(l, _)| l == "true" || l == "1" || l == "True")
                .map_or(0, |l| l.1);
            Some((
                ControlGuess::Column(c.name.clone()),
                format!("a true/false column named as a control flag ({n} true)"),
            ))
        }
        (None, Some(pc)) => pc
            .levels
            .iter()
            .filter(|(l, _)| is_control_label(l))
            .max_by(|a, b| a.1.cmp(&b.1).then_with(|| b.0.cmp(&a.0)))
            .map(|(l, n)| {
                (
                    ControlGuess::Label(l.clone()),
                    format!(
                        "the most frequent control-like label of `{}` ({n} samples)",
                        pc.name
                    ),
                )
            }),
        (None, None) => None,
    };
    if control.is_none() {
        warnings.push(
            "no control column or label found: set `control` by hand (every batch needs controls)"
                .to_string(),
        );
    }
    let drop_labels: Vec<String> = pert_col
        .map(|pc| {
            pc.levels
                .iter()
                .filter(|(l, _)| is_unassigned_label(l))
                .map(|(l, _)| l.clone())
                .collect()
        })
        .unwrap_or_default();
    if perturbation.is_none() {
        warnings.push("no perturbation column found: set `perturbation` by hand".to_string());
    }
    let gene_column = pert_col.and_then(|pc| pc.gene_labels_by.clone());
    if let Some(pc) = pert_col {
        let targets = pc
            .levels
            .iter()
            .filter(|(l, _)| !is_control_label(l) && !is_unassigned_label(l))
            .count();
        // Tables name no genes of their own to compare the labels with.
        if pc.gene_labels * 2 < targets && !matches!(p.format, "csv" | "parquet") {
            warnings.push(format!(
                "only {} of the {targets} perturbation labels of `{}` are genes measured in the file: target-gene lookups (Task 3's unexpressed null, target_gene_loadings, the linear predictor) skip the others",
                pc.gene_labels, pc.name
            ));
        }
    }
    if p.counts_matrix().is_none() && !p.count_sources.is_empty() && p.format == "h5ad" {
        warnings.push(format!(
            "no matrix holds whole counts ({} checked): the manifest declares `values: log_expression`, so X is used as stored",
            p.count_sources.iter().map(|(c, _)| c.as_str()).collect::<Vec<_>>().join(", ")
        ));
    }
    if batch.is_none() {
        warnings.push(
            "no batch column found: set `batch` by hand (one level works, but Tasks 1, 2, 4 and 6 split by batch)"
                .to_string(),
        );
    }
    let context = pick(
        p,
        context_score,
        &[
            pert_name.unwrap_or(""),
            batch.as_ref().map_or("", |b| b.column.as_str()),
        ],
    );
    // A table with a text column unique to each row and no controls is a
    // gene-level map (one row per gene), not a screen.
    let gene_map = (matches!(p.format, "csv" | "parquet") && control.is_none() && batch.is_none())
        .then(|| {
            p.columns
                .iter()
                .filter(|c| c.kind == "text" && c.n_levels == p.n_obs && c.n_missing == 0)
                .max_by_key(|c| (name_has(&c.name, &["gene", "symbol"]), c.name.clone()))
                .map(|c| c.name.clone())
        })
        .flatten();
    if gene_map.is_some() {
        warnings.clear();
    }
    Suggestion {
        perturbation,
        batch,
        control,
        drop_labels,
        context,
        gene_column,
        gene_map,
        warnings,
    }
}

/// Batches of `batch` without a control sample, given the two columns:
/// they would be dropped by every post-processing but `raw`.
pub fn batches_without_controls(batch: &RawColumn, is_control: &[bool]) -> Vec<String> {
    let mut has: std::collections::BTreeMap<String, bool> = Default::default();
    for (i, c) in is_control.iter().enumerate() {
        let b = batch.text(i).unwrap_or_default();
        *has.entry(b).or_default() |= *c;
    }
    has.into_iter()
        .filter(|(_, h)| !h)
        .map(|(b, _)| b)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(name: &str, values: &[&str]) -> ColumnProfile {
        profile_column(
            name,
            &RawColumn::Str(values.iter().map(|v| Some(v.to_string())).collect()),
        )
    }

    fn screen() -> H5adProfile {
        // 40 cells: 4 genes x 6, 10 non-targeting, 6 unassigned; 2 lanes.
        let mut target = Vec::new();
        for g in ["TP53", "MYC", "KRAS", "EGFR"] {
            target.extend(std::iter::repeat_n(g, 6));
        }
        target.extend(std::iter::repeat_n("non-targeting", 10));
        target.extend(std::iter::repeat_n("unassigned", 6));
        let lane: Vec<&str> = (0..40)
            .map(|i| if i % 2 == 0 { "L1" } else { "L2" })
            .collect();
        let barcode: Vec<String> = (0..40).map(|i| format!("AC{i}")).collect();
        let barcode: Vec<&str> = barcode.iter().map(String::as_str).collect();
        let mut guide_target = text("guide_target", &target);
        guide_target.gene_labels = 4;
        let columns = vec![
            text("cell_barcode", &barcode),
            text("gem_group", &lane),
            guide_target,
            text("phase", &std::iter::repeat_n("G1", 40).collect::<Vec<_>>()),
        ];
        H5adProfile {
            n_obs: 40,
            n_vars: 100,
            columns,
            obsm: vec![],
            genes_head: vec![],
            count_sources: vec![("X".into(), true)],
            format: "h5ad",
            n_features: 0,
        }
    }

    #[test]
    fn profiles_count_levels_and_missing_values() {
        let c = profile_column(
            "x",
            &RawColumn::Str(vec![
                Some("a".into()),
                None,
                Some("b".into()),
                Some("a".into()),
            ]),
        );
        assert_eq!((c.kind, c.n_missing, c.n_levels), ("text", 1, 2));
        assert_eq!(c.top, vec![("a".to_string(), 2), ("b".to_string(), 1)]);
        let n = profile_column("n", &RawColumn::Num(vec![1.0, f64::NAN, 2.5, 4.0]));
        assert_eq!((n.kind, n.n_missing, n.n_levels), ("number", 1, 3));
        assert!(n.levels.is_empty());
        // A 0/1 flag with NaN (anndata 0.7) keeps its two levels.
        let f = profile_column("f", &RawColumn::Num(vec![1.0, f64::NAN, 0.0, 0.0]));
        assert_eq!(f.levels, vec![("0".to_string(), 2), ("1".to_string(), 1)]);
    }

    #[test]
    fn suggests_the_screen_columns_with_reasons() {
        let s = suggest(&screen());
        let pert = s.perturbation.unwrap();
        assert_eq!(pert.column, "guide_target");
        assert!(pert.why.contains("4 labels are gene names"), "{}", pert.why);
        assert!(
            pert.why.contains("`non-targeting` (10 samples)"),
            "{}",
            pert.why
        );
        assert_eq!(s.batch.unwrap().column, "gem_group");
        assert_eq!(
            s.control.unwrap().0,
            ControlGuess::Label("non-targeting".into())
        );
        assert_eq!(s.drop_labels, ["unassigned"]);
        assert!(s.context.is_none());
        assert!(s.warnings.is_empty(), "{:?}", s.warnings);
    }

    #[test]
    fn a_control_flag_column_wins_and_missing_columns_are_warned() {
        let mut p = screen();
        p.columns.push(profile_column(
            "is_control",
            &RawColumn::Bool((0..40).map(|i| Some(i >= 24 && i < 34)).collect()),
        ));
        let s = suggest(&p);
        assert_eq!(
            s.control.unwrap().0,
            ControlGuess::Column("is_control".into())
        );

        let bare = H5adProfile {
            n_obs: 10,
            n_vars: 5,
            columns: vec![text("phase", &["G1"; 10])],
            obsm: vec![],
            genes_head: vec![],
            count_sources: vec![("X".into(), true)],
            format: "h5ad",
            n_features: 0,
        };
        let s = suggest(&bare);
        assert!(s.perturbation.is_none() && s.batch.is_none() && s.control.is_none());
        assert_eq!(s.warnings.len(), 3, "{:?}", s.warnings);
    }

    #[test]
    fn control_and_unassigned_labels() {
        for l in [
            "non-targeting",
            "Non_Targeting",
            "NT",
            "ctrl",
            "safe-targeting_3",
            "DMSO",
            "ctl_vector",
            "NT0001",
        ] {
            assert!(is_control_label(l), "{l}");
        }
        for l in ["NTRK1", "CTRC", "MYC", "controlled"] {
            assert!(!is_control_label(l), "{l}");
        }
        assert!(is_unassigned_label("Unassigned") && is_unassigned_label(""));
        assert!(!is_unassigned_label("TP53"));
    }

    #[test]
    fn batches_without_controls_are_named() {
        let batch = RawColumn::Str(
            ["a", "a", "b", "c"]
                .iter()
                .map(|s| Some(s.to_string()))
                .collect(),
        );
        assert_eq!(
            batches_without_controls(&batch, &[true, false, false, true]),
            ["b"]
        );
    }
}
