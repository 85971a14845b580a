//! The canonical samples table (METRICS.md "Data model") and the rules that
//! build it from a file's metadata columns.

use crate::error::{DataError, Result};
use crate::manifest::{BatchFilter, ColumnMapping, ControlRule};
use std::collections::BTreeMap;
use std::path::Path;

/// One metadata column as read from a file.
#[derive(Debug, Clone, PartialEq)]
pub enum RawColumn {
    /// Strings; None where missing (e.g. categorical code -1, a masked
    /// entry of a nullable string array).
    Str(Vec<Option<String>>),
    /// Booleans; None where missing (a masked entry of a nullable boolean).
    Bool(Vec<Option<bool>>),
    /// Numbers; NaN where missing (a masked entry of a nullable integer).
    Num(Vec<f64>),
}

impl RawColumn {
    pub fn len(&self) -> usize {
        match self {
            RawColumn::Str(v) => v.len(),
            RawColumn::Bool(v) => v.len(),
            RawColumn::Num(v) => v.len(),
        }
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The rows `rows` of the column, in that order.
    pub fn select(&self, rows: &[usize]) -> RawColumn {
        match self {
            RawColumn::Str(v) => RawColumn::Str(rows.iter().map(|&r| v[r].clone()).collect()),
            RawColumn::Bool(v) => RawColumn::Bool(rows.iter().map(|&r| v[r]).collect()),
            RawColumn::Num(v) => RawColumn::Num(rows.iter().map(|&r| v[r]).collect()),
        }
    }
    /// The column with the entries where `mask` is true made missing (the
    /// mask of anndata's nullable encodings). `mask` has one entry a row.
    pub fn masked(self, mask: &[bool]) -> RawColumn {
        let keep = |i: usize| !mask[i];
        match self {
            RawColumn::Str(v) => RawColumn::Str(
                v.into_iter()
                    .enumerate()
                    .map(|(i, x)| x.filter(|_| keep(i)))
                    .collect(),
            ),
            RawColumn::Bool(v) => RawColumn::Bool(
                v.into_iter()
                    .enumerate()
                    .map(|(i, x)| x.filter(|_| keep(i)))
                    .collect(),
            ),
            RawColumn::Num(v) => RawColumn::Num(
                v.into_iter()
                    .enumerate()
                    .map(|(i, x)| if keep(i) { x } else { f64::NAN })
                    .collect(),
            ),
        }
    }
    /// The value of row i as a string (None if missing).
    pub fn text(&self, i: usize) -> Option<String> {
        match self {
            RawColumn::Str(v) => v[i].clone(),
            RawColumn::Bool(v) => v[i].map(|b| b.to_string()),
            RawColumn::Num(v) if v[i].is_nan() => None,
            RawColumn::Num(v) => Some(if v[i].fract() == 0.0 {
                format!("{}", v[i] as i64)
            } else {
                v[i].to_string()
            }),
        }
    }
}

/// Samples table, row-aligned with the count matrix and representations.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Samples {
    pub sample_id: Vec<String>,
    pub perturbation: Vec<String>,
    pub batch: Vec<String>,
    pub is_control: Vec<bool>,
    pub context: Option<Vec<String>>,
    /// The groups `split_by: group` holds out (`columns.split_group`).
    pub split_group: Option<Vec<String>>,
    /// A perturbation's annotation (mechanism of action, target gene;
    /// `columns.annotation`), None where the file has none (NA).
    pub annotation: Option<Vec<Option<String>>>,
}

impl Samples {
    pub fn len(&self) -> usize {
        self.sample_id.len()
    }
    pub fn is_empty(&self) -> bool {
        self.sample_id.is_empty()
    }
    pub fn select(&self, rows: &[usize]) -> Samples {
        let pick = |v: &Vec<String>| rows.iter().map(|&r| v[r].clone()).collect();
        Samples {
            sample_id: pick(&self.sample_id),
            perturbation: pick(&self.perturbation),
            batch: pick(&self.batch),
            is_control: rows.iter().map(|&r| self.is_control[r]).collect(),
            context: self.context.as_ref().map(pick),
            split_group: self.split_group.as_ref().map(pick),
            annotation: self
                .annotation
                .as_ref()
                .map(|v| rows.iter().map(|&r| v[r].clone()).collect()),
        }
    }
    /// Control count per batch, batches sorted.
    pub fn controls_per_batch(&self) -> BTreeMap<String, usize> {
        let mut m = BTreeMap::new();
        for (b, c) in self.batch.iter().zip(&self.is_control) {
            *m.entry(b.clone()).or_insert(0) += *c as usize;
        }
        m
    }
}

/// What ingestion kept and dropped.
#[derive(Debug, Clone, PartialEq)]
pub struct Ingested {
    pub samples: Samples,
    /// Row of the source file for each kept sample.
    pub source_rows: Vec<usize>,
    /// Dropped sample counts by reason.
    pub dropped: BTreeMap<String, usize>,
}

impl Ingested {
    pub fn summary(&self) -> String {
        let mut s = format!("{} samples kept", self.samples.len());
        for (why, n) in &self.dropped {
            s.push_str(&format!(", {n} dropped ({why})"));
        }
        let without: Vec<String> = self
            .samples
            .controls_per_batch()
            .into_iter()
            .filter(|(_, n)| *n == 0)
            .map(|(b, _)| b)
            .collect();
        if !without.is_empty() {
            s.push_str(&format!(
                "; batches without controls: {}",
                without.join(", ")
            ));
        }
        s
    }
}

/// A control flag; None where it is missing (NA, NaN or an empty string),
/// which drops the row instead of reading it as `false`.
fn truthy(path: &Path, field: &str, col: &RawColumn, i: usize) -> Result<Option<bool>> {
    match col {
        RawColumn::Bool(v) => Ok(v[i]),
        RawColumn::Num(v) if v[i].is_nan() => Ok(None),
        RawColumn::Num(v) => Ok(Some(v[i] != 0.0)),
        RawColumn::Str(v) => match v[i].as_deref().map(|s| s.trim().to_ascii_lowercase()) {
            None => Ok(None),
            Some(s) if s.is_empty() => Ok(None),
            Some(s) if ["true", "1", "yes", "t"].contains(&s.as_str()) => Ok(Some(true)),
            Some(s) if ["false", "0", "no", "f"].contains(&s.as_str()) => Ok(Some(false)),
            Some(other) => Err(DataError::file(
                path,
                format!("column `{field}` (control flag), row {i}: `{other}` is not a boolean"),
            )),
        },
    }
}

/// A label that is there: None for NA and for an empty or blank string.
fn present(label: Option<String>) -> Option<String> {
    label.filter(|l| !l.trim().is_empty())
}

/// Builds the samples table from named metadata columns of `path`.
/// `get` returns a column by name (None if the file has no such column);
/// `index` is the file's row index, used when no sample id column is mapped.
pub fn ingest(
    path: &Path,
    map: &ColumnMapping,
    index: &[String],
    get: &mut dyn FnMut(&str) -> Result<Option<RawColumn>>,
) -> Result<Ingested> {
    let n = index.len();
    let mut need = |name: &str, field: &str| -> Result<RawColumn> {
        let col = get(name)?.ok_or_else(|| {
            DataError::file(
                path,
                format!("column `{name}` (mapped as `{field}`) is missing"),
            )
        })?;
        if col.len() != n {
            return Err(DataError::file(
                path,
                format!("column `{name}` has {} rows, the file has {n}", col.len()),
            ));
        }
        Ok(col)
    };
    let pert = need(&map.perturbation, "perturbation")?;
    let batch = need(&map.batch, "batch")?;
    let ctrl_col = match &map.control {
        ControlRule::Column(c) | ControlRule::Values { column: c, .. } => {
            Some(need(c, "control.column")?)
        }
        ControlRule::Label(_) => None,
    };
    let ids = match &map.sample_id {
        Some(c) => Some(need(c, "sample_id")?),
        None => None,
    };
    let context = match &map.context {
        Some(c) => Some(need(c, "context")?),
        None => None,
    };
    let group = match &map.split_group {
        Some(c) => Some(need(c, "split_group")?),
        None => None,
    };
    let annotation = match &map.annotation {
        Some(c) => Some(need(c, "annotation")?),
        None => None,
    };

    let mut out = Samples {
        context: context.as_ref().map(|_| Vec::new()),
        split_group: group.as_ref().map(|_| Vec::new()),
        annotation: annotation.as_ref().map(|_| Vec::new()),
        ..Default::default()
    };
    let mut source_rows: Vec<usize> = Vec::new();
    let mut dropped: BTreeMap<String, usize> = BTreeMap::new();
    for i in 0..n {
        let Some(p) = present(pert.text(i)) else {
            *dropped.entry("missing perturbation".into()).or_default() += 1;
            continue;
        };
        if map.drop_labels.iter().any(|d| d == &p) {
            *dropped.entry(format!("perturbation `{p}`")).or_default() += 1;
            continue;
        }
        let Some(b) = present(batch.text(i)) else {
            *dropped.entry("missing batch".into()).or_default() += 1;
            continue;
        };
        let is_control = match (&map.control, &ctrl_col) {
            (ControlRule::Label(l), _) => Some(&p == l),
            (ControlRule::Column(c), Some(col)) => truthy(path, c, col, i)?,
            (ControlRule::Values { values, .. }, Some(col)) => {
                col.text(i).map(|v| values.contains(&v))
            }
            (_, None) => unreachable!("a control column is read for every column rule"),
        };
        let Some(is_control) = is_control else {
            *dropped.entry("missing control flag".into()).or_default() += 1;
            continue;
        };
        let ctx_value = match &context {
            Some(col) => match present(col.text(i)) {
                Some(v) => Some(v),
                None => {
                    *dropped.entry("missing context".into()).or_default() += 1;
                    continue;
                }
            },
            None => None,
        };
        let group_value = match &group {
            Some(col) => match present(col.text(i)) {
                Some(v) => Some(v),
                None => {
                    *dropped.entry("missing split group".into()).or_default() += 1;
                    continue;
                }
            },
            None => None,
        };
        let id = match &ids {
            Some(col) => col.text(i).unwrap_or_else(|| index[i].clone()),
            None => index[i].clone(),
        };
        out.sample_id.push(id);
        out.perturbation.push(p);
        out.batch.push(b);
        out.is_control.push(is_control);
        if let (Some(ctx), Some(v)) = (out.context.as_mut(), ctx_value) {
            ctx.push(v);
        }
        if let (Some(g), Some(v)) = (out.split_group.as_mut(), group_value) {
            g.push(v);
        }
        if let (Some(a), Some(col)) = (out.annotation.as_mut(), &annotation) {
            // NA is kept as None: a metric that reads the annotation counts
            // the perturbations without one.
            a.push(present(col.text(i)));
        }
        source_rows.push(i);
    }
    if map.batches == BatchFilter::WithPerturbations {
        let perturbed: std::collections::BTreeSet<&String> = out
            .batch
            .iter()
            .zip(&out.is_control)
            .filter(|(_, c)| !**c)
            .map(|(b, _)| b)
            .collect();
        let keep: Vec<usize> = (0..out.len())
            .filter(|&i| perturbed.contains(&out.batch[i]))
            .collect();
        if keep.len() < out.len() {
            dropped.insert("batch without perturbations".into(), out.len() - keep.len());
            out = out.select(&keep);
            source_rows = keep.iter().map(|&i| source_rows[i]).collect();
        }
    }
    if out.is_empty() {
        return Err(DataError::file(
            path,
            "no samples left after dropping unassigned/missing rows",
        ));
    }
    if !out.is_control.iter().any(|c| *c) {
        return Err(DataError::file(
            path,
            format!(
                "no control samples: the control rule {:?} matched no row",
                map.control
            ),
        ));
    }
    Ok(Ingested {
        samples: out,
        source_rows,
        dropped,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> RawColumn {
        RawColumn::Str(
            v.iter()
                .map(|x| {
                    if x.is_empty() {
                        None
                    } else {
                        Some(x.to_string())
                    }
                })
                .collect(),
        )
    }

    #[test]
    fn drops_unassigned_and_flags_controls() {
        let map = ColumnMapping {
            perturbation: "pert".into(),
            batch: "rep".into(),
            control: ControlRule::Label("NT".into()),
            drop_labels: vec!["unassigned".into()],
            sample_id: None,
            context: None,
            split_group: None,
            annotation: None,
            batches: BatchFilter::All,
        };
        let index: Vec<String> = (0..5).map(|i| format!("c{i}")).collect();
        let mut get = |name: &str| -> Result<Option<RawColumn>> {
            Ok(match name {
                "pert" => Some(s(&["NT", "A", "unassigned", "", "B"])),
                "rep" => Some(s(&["r1", "r1", "r2", "r2", "r2"])),
                _ => None,
            })
        };
        let ing = ingest(Path::new("f.h5ad"), &map, &index, &mut get).unwrap();
        assert_eq!(ing.samples.sample_id, vec!["c0", "c1", "c4"]);
        assert_eq!(ing.samples.is_control, vec![true, false, false]);
        assert_eq!(ing.source_rows, vec![0, 1, 4]);
        assert_eq!(ing.dropped["perturbation `unassigned`"], 1);
        assert_eq!(ing.dropped["missing perturbation"], 1);
        assert!(
            ing.summary().contains("batches without controls: r2"),
            "{}",
            ing.summary()
        );
    }

    #[test]
    fn control_values_and_batches_with_perturbations() {
        // L1000-like: controls by pert_type; plate P3 holds only controls
        // (another screen's plate in the shared control file) and is dropped.
        let map = ColumnMapping {
            perturbation: "cmap_name".into(),
            batch: "det_plate".into(),
            control: ControlRule::Values {
                column: "pert_type".into(),
                values: vec![
                    "ctl_vector".into(),
                    "ctl_untrt".into(),
                    "ctl_vehicle".into(),
                ],
            },
            drop_labels: vec![],
            sample_id: None,
            context: None,
            split_group: None,
            annotation: None,
            batches: BatchFilter::WithPerturbations,
        };
        let index: Vec<String> = (0..6).map(|i| format!("c{i}")).collect();
        let mut get = |name: &str| -> Result<Option<RawColumn>> {
            Ok(match name {
                "cmap_name" => Some(s(&["LACZ", "TP53", "UnTrt", "KRAS", "LACZ", "DMSO"])),
                "det_plate" => Some(s(&["P1", "P1", "P2", "P2", "P3", "P3"])),
                "pert_type" => Some(s(&[
                    "ctl_vector",
                    "trt_xpr",
                    "ctl_untrt",
                    "trt_xpr",
                    "ctl_vector",
                    "ctl_vehicle",
                ])),
                _ => None,
            })
        };
        let ing = ingest(Path::new("f.gctx"), &map, &index, &mut get).unwrap();
        assert_eq!(ing.samples.sample_id, vec!["c0", "c1", "c2", "c3"]);
        assert_eq!(ing.samples.is_control, vec![true, false, true, false]);
        assert_eq!(ing.source_rows, vec![0, 1, 2, 3]);
        assert_eq!(ing.dropped["batch without perturbations"], 2);
    }

    #[test]
    fn na_labels_drop_their_rows_and_are_counted_never_coerced() {
        // A nullable batch (NaN), a nullable control flag (None), an NA
        // context and an empty perturbation: each row is dropped and counted.
        let map = ColumnMapping {
            perturbation: "pert".into(),
            batch: "batch".into(),
            control: ControlRule::Column("ctrl".into()),
            drop_labels: vec![],
            sample_id: None,
            context: Some("line".into()),
            split_group: None,
            annotation: Some("moa".into()),
            batches: BatchFilter::All,
        };
        let index: Vec<String> = (0..6).map(|i| format!("c{i}")).collect();
        let mut get = |name: &str| -> Result<Option<RawColumn>> {
            Ok(match name {
                "pert" => Some(s(&["NT", "A", "B", "A", "NT", " "])),
                "batch" => Some(RawColumn::Num(vec![1.0, f64::NAN, 2.0, 1.0, 2.0, 1.0])),
                "ctrl" => Some(RawColumn::Bool(vec![
                    Some(true),
                    Some(false),
                    None,
                    Some(false),
                    Some(true),
                    Some(false),
                ])),
                "line" => Some(s(&["K562", "K562", "K562", "", "K562", "K562"])),
                "moa" => Some(s(&["", "MEK", "MEK", "MEK", "MEK|ERK", "MEK"])),
                _ => None,
            })
        };
        let ing = ingest(Path::new("f.h5ad"), &map, &index, &mut get).unwrap();
        assert_eq!(ing.source_rows, vec![0, 4]);
        assert_eq!(ing.samples.batch, vec!["1", "2"]);
        assert_eq!(ing.dropped["missing batch"], 1);
        assert_eq!(ing.dropped["missing control flag"], 1);
        assert_eq!(ing.dropped["missing context"], 1);
        assert_eq!(ing.dropped["missing perturbation"], 1);
        // An NA annotation is kept as missing, not dropped.
        assert_eq!(
            ing.samples.annotation,
            Some(vec![None, Some("MEK|ERK".to_string())])
        );
        assert_eq!(ing.dropped.len(), 4);
        // A masked entry is missing whatever value it stores.
        let masked = RawColumn::Num(vec![1.0, 1.0]).masked(&[false, true]);
        assert_eq!((masked.text(0), masked.text(1)), (Some("1".into()), None));
    }

    #[test]
    fn missing_column_is_named() {
        let map = ColumnMapping {
            perturbation: "pert".into(),
            batch: "batchx".into(),
            control: ControlRule::Column("is_control".into()),
            drop_labels: vec![],
            sample_id: None,
            context: None,
            split_group: None,
            annotation: None,
            batches: BatchFilter::All,
        };
        let index = vec!["a".to_string()];
        let mut get = |name: &str| -> Result<Option<RawColumn>> {
            Ok(if name == "pert" {
                Some(s(&["A"]))
            } else {
                None
            })
        };
        let e = ingest(Path::new("f.h5ad"), &map, &index, &mut get)
            .unwrap_err()
            .to_string();
        assert_eq!(e, "f.h5ad: column `batchx` (mapped as `batch`) is missing");
    }
}
