//! An h5ad the way cell-eval users have one: `X` (cells x genes), genes in
//! `var`, each cell's perturbation in an `obs` column, the controls under
//! one label. Its cells grouped by perturbation, and its values on the
//! log1p scale cell-eval prepares (`_evaluator.py::_convert_to_normlog`).

use crate::error::{EngineError, Result};
use pertbench_data::h5ad::H5ad;
use pertbench_data::DataError;
use pertbench_kernels::sparse::csr::CsrMatrix;
use pertbench_kernels::tasks::differential_expression::ValuesAre;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Stored values per block when `X` is streamed into its contexts (a few
/// in this crate's tests, so that every file they read spans blocks).
#[cfg(not(test))]
const STREAM_VALUES: usize = 1 << 24;
#[cfg(test)]
const STREAM_VALUES: usize = 7;

/// cell-eval's `guess_is_lognorm`: a value whose fractional part exceeds
/// this is "a decimal".
const DECIMAL_EPSILON: f64 = 1e-3;
/// cell-eval's largest valid log1p value (exclusive).
const LOG1P_MAX: f32 = 15.0;

/// How stored values become the values tested.
#[derive(Debug, Clone, PartialEq)]
pub enum Scale {
    /// Stored log1p-normalised values (they have decimals, within [0, 15)).
    Log1p,
    /// Integer counts, normalised as scanpy's `normalize_total` (each cell
    /// to the median total) then log1p: log1p(x / divisor[cell]), the
    /// division in f32 as scanpy computes it on f32 data.
    MedianTotalLog1p { divisor: Vec<f32> },
    /// Integer counts kept as they are (cell-eval's `allow_discrete`).
    Counts,
    /// Integer counts already replaced by their [`Scale::MedianTotalLog1p`]
    /// values when read ([`GroupedCells`] holds them so: computed once,
    /// the same bits as computing them at each use).
    NormalisedLog1p,
}

impl Scale {
    /// The value tested for a stored value of `row`.
    #[inline]
    pub fn value(&self, row: usize, stored: f32) -> f32 {
        match self {
            Scale::Log1p | Scale::Counts | Scale::NormalisedLog1p => stored,
            // log1p in f64, rounded once: the same bits on every machine
            // (numpy's float32 log1p, which cell-eval's scanpy calls,
            // differs in the last bit between CPUs).
            Scale::MedianTotalLog1p { divisor } => ((stored / divisor[row]) as f64).ln_1p() as f32,
        }
    }

    pub fn describe(&self) -> &'static str {
        match self {
            Scale::Log1p => "log1p values as stored",
            Scale::MedianTotalLog1p { .. } | Scale::NormalisedLog1p => {
                "integer counts, normalised to the median total then log1p (as cell-eval does)"
            }
            Scale::Counts => "integer counts as stored (allow_discrete)",
        }
    }
}

/// An h5ad's cells grouped by perturbation.
#[derive(Debug)]
pub struct GroupedCells {
    pub path: PathBuf,
    pub genes: Vec<String>,
    pub x: CsrMatrix,
    pub scale: Scale,
    /// cell-eval's `allow_discrete`: integer values are kept as counts, and
    /// pdex is told the values are not log1p (`is_log1p=False`), whatever
    /// they are.
    pub allow_discrete: bool,
    /// Cells left out, by label (`drop_labels`).
    pub dropped: BTreeMap<String, usize>,
    pub control: String,
    pub control_rows: Vec<usize>,
    /// Perturbations other than the control, sorted (as cell-eval and pdex
    /// order them).
    pub perturbations: Vec<String>,
    /// `rows[k]`: the cells of `perturbations[k]`, in file order.
    pub rows: Vec<Vec<usize>>,
}

/// pdex 0.1's `guess_is_log`: data whose mean cell sum is below this are
/// taken as log1p (`UPPER_LIMIT_LOG`).
pub const PDEX_0_1_LOG_LIMIT: f64 = 15.0;

impl GroupedCells {
    /// How pdex 0.1 (cell-eval 0.5) takes the values it is handed, and the
    /// mean cell sum it decides by: log1p when the mean sum of a cell's
    /// tested values is below 15, linear (pseudobulks are plain means)
    /// otherwise, which is what log1p data of more than a few dozen
    /// expressed genes per cell get. pdex averages 500 cells drawn at
    /// random (unseeded); this averages every cell (controls and
    /// perturbations), so the two agree unless the mean is close to 15.
    pub fn pdex_0_1_values(&self) -> (ValuesAre, f64) {
        let mut total = 0.0f64;
        let mut n = 0usize;
        for rows in std::iter::once(&self.control_rows).chain(&self.rows) {
            for &r in rows {
                total += self
                    .x
                    .row(r)
                    .map(|(_, v)| self.scale.value(r, v) as f64)
                    .sum::<f64>();
                n += 1;
            }
        }
        let mean = total / n.max(1) as f64;
        let values = if mean < PDEX_0_1_LOG_LIMIT {
            ValuesAre::Log1p
        } else {
            ValuesAre::Linear
        };
        (values, mean)
    }

    /// The scale pdex is told the values are on.
    pub fn values_are(&self) -> ValuesAre {
        if self.allow_discrete {
            ValuesAre::Natural
        } else {
            ValuesAre::Log1p
        }
    }
}

/// Reads `path`, groups its cells by `perturbation_column` and decides its
/// scale as cell-eval does: values with decimals must lie in [0, 15) and are
/// taken as log1p; integer values are counts, normalised then log1p unless
/// `allow_discrete`. Every cell needs a label; the control must be present;
/// genes must be unique. Cells labelled one of `drop_labels` (e.g.
/// `unassigned`) are left out first, as if the file had been filtered (the
/// normalisation's median is over the cells kept); each such label must
/// occur (in the file; with contexts, in any of them).
pub fn read_grouped(
    path: &Path,
    perturbation_column: &str,
    control: &str,
    allow_discrete: bool,
    drop_labels: &[String],
) -> Result<GroupedCells> {
    let mut all = read_grouped_by_context(
        path,
        perturbation_column,
        None,
        control,
        allow_discrete,
        drop_labels,
    )?;
    Ok(all.pop().expect("one set of cells without a context").1)
}

/// [`read_grouped`] for each context: the cells split by the labels of obs
/// column `context` (cell-eval's `--celltype-col`), in order of first
/// appearance, each split grouped and scaled on its own (cell-eval evaluates
/// each cell type as a file of its own: the median total that normalises
/// counts is the split's). Without a context, one split named "".
pub fn read_grouped_by_context(
    path: &Path,
    perturbation_column: &str,
    context: Option<&str>,
    control: &str,
    allow_discrete: bool,
    drop_labels: &[String],
) -> Result<Vec<(String, GroupedCells)>> {
    let err = |m: String| EngineError::Data(DataError::file(path, m));
    if !path.exists() {
        return Err(err("file not found".into()));
    }
    let h = H5ad::open(path)?;
    let column_labels = |name: &str, what: &str| -> Result<Vec<String>> {
        let column = h.obs_column(name)?.ok_or_else(|| {
            err(format!(
                "obs has no column `{name}`; it has: {}",
                h.obs_column_names().unwrap_or_default().join(", ")
            ))
        })?;
        (0..column.len())
            .map(|i| {
                column.text(i).filter(|s| !s.is_empty()).ok_or_else(|| {
                    err(format!(
                        "obs column `{name}`, cell {i}: missing {what} label"
                    ))
                })
            })
            .collect()
    };
    let labels = column_labels(perturbation_column, "perturbation")?;
    let contexts = context.map(|c| column_labels(c, "context")).transpose()?;
    let genes = h.var_names()?;
    let mut seen = std::collections::HashSet::new();
    if let Some(g) = genes.iter().find(|g| !seen.insert(g.as_str())) {
        return Err(err(format!("gene `{g}` appears twice in var")));
    }
    let csr = h.x_is_csr()?;
    let (nrows, ncols) = h.x_shape()?;
    if nrows != labels.len() {
        return Err(err(format!(
            "X has {nrows} rows but obs has {}",
            labels.len()
        )));
    }
    if ncols != genes.len() {
        return Err(err(format!(
            "X has {ncols} columns but var has {} genes",
            genes.len()
        )));
    }
    for label in drop_labels {
        if label == control {
            return Err(err(format!(
                "the control label `{control}` cannot be dropped"
            )));
        }
        if !labels.contains(label) {
            let mut some: Vec<&String> = labels.iter().collect();
            some.sort();
            some.dedup();
            some.truncate(8);
            return Err(err(format!(
                "no cell is labelled `{label}` (a label to drop) in obs column `{perturbation_column}` (labels include {some:?})"
            )));
        }
    }
    let spec = SplitSpec {
        path,
        genes: &genes,
        csr,
        control,
        allow_discrete,
        drop_labels,
        perturbation_column,
    };
    let Some(contexts) = contexts else {
        let cells = split(&spec, h.read_x(None)?, &labels).map_err(err)?;
        return Ok(vec![(String::new(), cells)]);
    };
    // Contexts in order of first appearance; X streamed once, each block's
    // rows appended to their context's matrix, so that the file's matrix
    // is never held beside its splits.
    let mut order: Vec<&String> = Vec::new();
    let mut index: std::collections::HashMap<&String, usize> = Default::default();
    let context_of: Vec<usize> = contexts
        .iter()
        .map(|c| {
            *index.entry(c).or_insert_with(|| {
                order.push(c);
                order.len() - 1
            })
        })
        .collect();
    let mut parts: Vec<Option<CsrMatrix>> = vec![None; order.len()];
    let mut start = 0usize;
    h.stream_x(None, STREAM_VALUES, &mut |block| {
        let mut rows: Vec<Vec<usize>> = vec![Vec::new(); order.len()];
        for r in 0..block.nrows {
            rows[context_of[start + r]].push(r);
        }
        start += block.nrows;
        for (k, rows) in rows.iter().enumerate().filter(|(_, r)| !r.is_empty()) {
            let sub = block.select_rows(rows);
            match &mut parts[k] {
                None => parts[k] = Some(sub),
                Some(m) => m
                    .append_rows(&sub)
                    .map_err(|e| DataError::file(path, e.to_string()))?,
            }
        }
        Ok(())
    })?;
    let mut context_labels: Vec<Vec<String>> = vec![Vec::new(); order.len()];
    for (&k, label) in context_of.iter().zip(&labels) {
        context_labels[k].push(label.clone());
    }
    let name = context.unwrap_or_default();
    order
        .into_iter()
        .zip(parts)
        .zip(context_labels)
        .map(|((c, x), labels)| {
            let x = x.expect("every context has a row");
            let cells = split(&spec, x, &labels)
                .map_err(|m| err(format!("obs column `{name}` = `{c}`: {m}")))?;
            Ok((c.clone(), cells))
        })
        .collect()
}

/// What every split of a file shares.
struct SplitSpec<'a> {
    path: &'a Path,
    genes: &'a [String],
    csr: bool,
    control: &'a str,
    allow_discrete: bool,
    drop_labels: &'a [String],
    perturbation_column: &'a str,
}

/// One split's cells (every row of `x`, labelled by `labels`) grouped, the
/// drop labels it holds left out, its scale decided.
fn split(
    spec: &SplitSpec,
    x: CsrMatrix,
    labels: &[String],
) -> std::result::Result<GroupedCells, String> {
    let (control, perturbation_column) = (spec.control, spec.perturbation_column);
    let mut groups: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, label) in labels.iter().enumerate() {
        groups.entry(label.clone()).or_default().push(i);
    }
    let mut dropped = BTreeMap::new();
    for label in spec.drop_labels {
        if let Some(rows) = groups.remove(label) {
            dropped.insert(label.clone(), rows.len());
        }
    }
    let (x, mut groups) = if dropped.is_empty() {
        (x, groups)
    } else {
        // Keep the other cells, in file order, and renumber them.
        let mut kept: Vec<usize> = groups.values().flatten().copied().collect();
        kept.sort_unstable();
        let mut position = vec![usize::MAX; x.nrows];
        for (p, &r) in kept.iter().enumerate() {
            position[r] = p;
        }
        let renumbered = groups
            .into_iter()
            .map(|(label, rows)| (label, rows.iter().map(|&r| position[r]).collect()))
            .collect();
        (x.select_rows(&kept), renumbered)
    };
    let control_rows = groups.remove(control).ok_or_else(|| {
        let some: Vec<&String> = groups.keys().take(8).collect();
        format!(
            "no cell has the control label `{control}` in obs column `{perturbation_column}` (labels include {some:?})"
        )
    })?;
    if groups.is_empty() {
        return Err(format!(
            "obs column `{perturbation_column}` has only the control label `{control}`"
        ));
    }
    let scale = decide_scale(&x, spec.csr, spec.allow_discrete)?;
    // Counts are normalised and logged once, here, not at every use.
    let (x, scale) = match scale {
        Scale::MedianTotalLog1p { .. } => (
            x.into_mapped(|row, v| scale.value(row, v)),
            Scale::NormalisedLog1p,
        ),
        other => (x, other),
    };
    let (perturbations, rows) = groups.into_iter().unzip();
    Ok(GroupedCells {
        path: spec.path.to_path_buf(),
        genes: spec.genes.to_vec(),
        x,
        scale,
        allow_discrete: spec.allow_discrete,
        dropped,
        control: control.to_string(),
        control_rows,
        perturbations,
        rows,
    })
}

/// cell-eval's decision (`guess_is_lognorm` and `_convert_to_normlog`).
pub(crate) fn decide_scale(
    x: &CsrMatrix,
    csr: bool,
    allow_discrete: bool,
) -> std::result::Result<Scale, String> {
    let data = x.data();
    if let Some(p) = data.iter().position(|v| !v.is_finite()) {
        let row = x.indptr().partition_point(|&o| o as usize <= p) - 1;
        return Err(format!(
            "X has a non-finite value (NaN or Inf) in cell {row}"
        ));
    }
    let decimals = data
        .iter()
        .any(|&v| (v as f64) - (v as f64).trunc() > DECIMAL_EPSILON);
    let min = data.iter().copied().fold(f32::INFINITY, f32::min);
    let max = data.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    if decimals {
        if min < 0.0 {
            return Err(format!(
                "X has decimals and a negative value ({min}); cell-eval expects log1p-normalised values in [0, {LOG1P_MAX})"
            ));
        }
        if !allow_discrete && max >= LOG1P_MAX {
            return Err(format!(
                "X has decimals and values up to {max}, at or above {LOG1P_MAX}: not log1p-normalised (mixed scales or normalised counts without log1p); give log1p values or integer counts"
            ));
        }
        return Ok(Scale::Log1p);
    }
    if min < 0.0 {
        return Err(format!(
            "X holds integers with a negative one ({min}): not counts"
        ));
    }
    if allow_discrete {
        return Ok(Scale::Counts);
    }
    Ok(Scale::MedianTotalLog1p {
        divisor: median_total_divisors(x, csr)?,
    })
}

/// scanpy 1.11 `normalize_total(target_sum=None)` on f32 data: each cell's
/// total (summed in f64, stored as f32), the median of the totals (over all
/// cells for CSR `X`, over the cells with a non-zero total for dense `X`;
/// the mean of the two middle ones in f32 for an even count), and each
/// cell's divisor f32(total / median) (1 for a cell with total 0).
fn median_total_divisors(x: &CsrMatrix, csr: bool) -> std::result::Result<Vec<f32>, String> {
    let totals: Vec<f32> = (0..x.nrows)
        .map(|i| x.row(i).fold(0f64, |s, (_, v)| s + v as f64) as f32)
        .collect();
    let mut counted: Vec<f32> = totals.iter().copied().filter(|&t| csr || t > 0.0).collect();
    counted.sort_unstable_by(f32::total_cmp);
    let m = counted.len();
    let median = match m {
        0 => 0.0,
        _ if m % 2 == 1 => counted[m / 2],
        _ => (counted[m / 2 - 1] + counted[m / 2]) / 2.0,
    };
    if median <= 0.0 {
        return Err(format!(
            "X holds integer counts whose median cell total is 0 ({} of {} cells have no counts): they cannot be normalised to it",
            totals.iter().filter(|&&t| t == 0.0).count(),
            totals.len()
        ));
    }
    Ok(totals
        .iter()
        .map(|&t| {
            let d = t / median;
            if d == 0.0 {
                1.0
            } else {
                d
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn csr(rows: &[&[f32]]) -> CsrMatrix {
        CsrMatrix::from_dense_rows(rows[0].len(), rows).unwrap()
    }

    #[test]
    fn the_scale_is_decided_as_cell_eval_decides_it() {
        let log = csr(&[&[0.5, 0.0], &[1.25, 14.9]]);
        assert_eq!(decide_scale(&log, true, false), Ok(Scale::Log1p));
        let e = decide_scale(&csr(&[&[0.5, 15.0]]), true, false).unwrap_err();
        assert!(e.contains("at or above 15"), "{e}");
        // allow_discrete skips the range check (cell-eval's validate=False).
        assert_eq!(
            decide_scale(&csr(&[&[0.5, 15.0]]), true, true),
            Ok(Scale::Log1p)
        );
        let e = decide_scale(&csr(&[&[-0.5, 1.0]]), true, false).unwrap_err();
        assert!(e.contains("negative"), "{e}");
        let e = decide_scale(&csr(&[&[-1.0, 1.0]]), true, false).unwrap_err();
        assert!(e.contains("not counts"), "{e}");
        // A fraction of at most 1e-3 is not a decimal.
        assert!(matches!(
            decide_scale(&csr(&[&[2.0005, 1.0]]), true, false),
            Ok(Scale::MedianTotalLog1p { .. })
        ));
        assert_eq!(
            decide_scale(&csr(&[&[2.0, 1.0]]), true, true),
            Ok(Scale::Counts)
        );
    }

    #[test]
    fn counts_are_normalised_to_the_median_total_as_scanpy_does() {
        // Totals 3, 0, 5, 4: CSR takes the median of all cells (3.5, the
        // mean of the two middle ones), dense that of the non-zero ones (4).
        let x = csr(&[&[1.0, 2.0], &[0.0, 0.0], &[5.0, 0.0], &[2.0, 2.0]]);
        let Ok(Scale::MedianTotalLog1p { divisor }) = decide_scale(&x, true, false) else {
            panic!()
        };
        assert_eq!(divisor, vec![3.0 / 3.5, 1.0, 5.0 / 3.5, 4.0 / 3.5]);
        let Ok(Scale::MedianTotalLog1p { divisor }) = decide_scale(&x, false, false) else {
            panic!()
        };
        assert_eq!(divisor, vec![0.75, 1.0, 1.25, 1.0]);
        let s = Scale::MedianTotalLog1p { divisor };
        assert_eq!(s.value(0, 1.0), ((1.0f32 / 0.75) as f64).ln_1p() as f32);
        // Most cells empty: the median total is 0.
        let empty = csr(&[&[1.0, 0.0], &[0.0, 0.0], &[0.0, 0.0]]);
        let e = decide_scale(&empty, true, false).unwrap_err();
        assert!(e.contains("median cell total is 0 (2 of 3 cells"), "{e}");
    }

    #[test]
    fn contexts_streamed_in_blocks_are_the_rows_of_each_context() {
        // Cell types interleaved A, B, A, B..., streamed in blocks of a few
        // values (STREAM_VALUES in tests): each split is the file's rows of
        // its type, grouped.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.h5ad");
        let n = 40usize;
        let rows: Vec<Vec<f32>> = (0..n)
            .map(|i| (0..5).map(|j| ((i * 3 + j * 7) % 5) as f32 * 0.5).collect())
            .collect();
        let x = CsrMatrix::from_dense_rows(5, &rows).unwrap();
        let mut w = pertbench_data::h5ad_writer::CsrH5adWriter::create(&path, 5, 4).unwrap();
        w.push_block(&x).unwrap();
        let index: Vec<String> = (0..n).map(|i| format!("c{i}")).collect();
        let labels: Vec<String> = (0..n)
            .map(|i| ["NT", "G1", "G2", "NT"][i % 4].to_string())
            .collect();
        let types: Vec<String> = (0..n).map(|i| ["A", "B"][i % 2].to_string()).collect();
        let genes: Vec<String> = (0..5).map(|j| format!("G{j}")).collect();
        w.finish(
            &index,
            &[("target_gene", &labels), ("celltype", &types)],
            &genes,
        )
        .unwrap();
        let splits =
            read_grouped_by_context(&path, "target_gene", Some("celltype"), "NT", false, &[])
                .unwrap();
        assert!(x.nnz() > 3 * STREAM_VALUES, "spans several blocks");
        assert_eq!(splits.len(), 2);
        for (k, (name, cells)) in splits.iter().enumerate() {
            assert_eq!(name, ["A", "B"][k]);
            let want: Vec<usize> = (k..n).step_by(2).collect();
            assert_eq!(cells.x, x.select_rows(&want));
            // Within the split: NT at 0, 4, 8... of the file.
            let nt: Vec<usize> = (0..want.len())
                .filter(|&i| want[i] % 4 == 0 || want[i] % 4 == 3)
                .collect();
            assert_eq!(cells.control_rows, nt);
        }
    }

    #[test]
    fn counts_are_normalised_once_when_read() {
        // Integer counts: the matrix read holds log1p(x / divisor), the
        // values Scale::MedianTotalLog1p gives at each use, bit for bit.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.h5ad");
        let rows: Vec<Vec<f32>> = (0..12)
            .map(|i| (0..4).map(|j| ((i * 5 + j * 3) % 7) as f32).collect())
            .collect();
        let x = CsrMatrix::from_dense_rows(4, &rows).unwrap();
        let mut w = pertbench_data::h5ad_writer::CsrH5adWriter::create(&path, 4, 4).unwrap();
        w.push_block(&x).unwrap();
        let index: Vec<String> = (0..12).map(|i| format!("c{i}")).collect();
        let labels: Vec<String> = (0..12)
            .map(|i| ["NT", "G1", "G2"][i % 3].to_string())
            .collect();
        let genes: Vec<String> = (0..4).map(|j| format!("G{j}")).collect();
        w.finish(&index, &[("target_gene", &labels)], &genes)
            .unwrap();
        let cells = read_grouped(&path, "target_gene", "NT", false, &[]).unwrap();
        assert_eq!(cells.scale, Scale::NormalisedLog1p);
        let at_use = decide_scale(&x, true, false).unwrap();
        assert!(matches!(at_use, Scale::MedianTotalLog1p { .. }));
        for r in 0..12 {
            let want: Vec<(usize, u32)> = x
                .row(r)
                .map(|(j, v)| (j, at_use.value(r, v).to_bits()))
                .collect();
            let got: Vec<(usize, u32)> = cells.x.row(r).map(|(j, v)| (j, v.to_bits())).collect();
            assert_eq!(got, want, "row {r}");
        }
    }
}
