//! Prediction evaluation as cell-eval does it (REFERENCE_TOOLS.md section
//! 2): a predicted and a real h5ad of the same genes and perturbations
//! (controls included in each), their DE tables (computed as cell-eval
//! computes them, or precomputed), the metric set of a profile per
//! perturbation, its aggregates, and the score against a baseline.

pub mod aggregate;
pub mod de_tables;
pub mod files;
pub mod metric_set;

use crate::differential_expression::input::{GroupedCells, Scale};
use crate::differential_expression::{self as de, DeConvention};
use crate::error::{EngineError, Result};
use metric_set::{MetricName, Profile, Reads};
use ndarray::{Array1, Array2};
use pertbench_kernels::sparse::csr::CsrMatrix;
use pertbench_kernels::tasks::cell_eval::de_comparison::{self as dec, Curve, DeSide, OverlapKind};
use pertbench_kernels::tasks::cell_eval::energy;
use pertbench_kernels::tasks::cell_eval::expression_metrics::{self as em, Distance, Pseudobulks};
use pertbench_kernels::tasks::cell_eval::score::Best;
use pertbench_kernels::tasks::cell_eval::MetricRules;
use pertbench_kernels::Par;

/// One result column: a metric's value per perturbation (None where
/// cell-eval leaves the perturbation out, e.g. `de_direction_match` for a
/// perturbation without real significant genes).
#[derive(Debug, Clone, PartialEq)]
pub struct MetricColumn {
    pub name: String,
    pub best: Option<Best>,
    pub values: Vec<Option<f64>>,
}

/// A prediction's metrics: one column per metric, one value per
/// perturbation (sorted, the control excluded).
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    pub perturbations: Vec<String>,
    pub columns: Vec<MetricColumn>,
}

/// Where the DE tables come from.
pub enum DeSource {
    /// Computed from the cells in the evaluation's convention.
    Compute,
    /// Precomputed tables (pdex's columns), real then predicted.
    Tables(DeSide, DeSide),
}

/// The cell-eval release whose metric definitions a convention follows.
pub fn metric_rules(convention: DeConvention) -> MetricRules {
    match convention {
        DeConvention::Pdex02 => MetricRules::CellEval08,
        DeConvention::CellEval05 => MetricRules::CellEval05,
    }
}

/// Checks that `pred` can be scored against `real`, as cell-eval does: the
/// same genes in the same order, the same perturbations, the same control.
pub fn check_pair(real: &GroupedCells, pred: &GroupedCells) -> Result<()> {
    let (r, p) = (real.path.display(), pred.path.display());
    if real.genes != pred.genes {
        if real.genes.len() != pred.genes.len() {
            return Err(EngineError::msg(format!(
                "the real data ({r}) has {} genes, the prediction ({p}) {}: they must be the same genes in the same order",
                real.genes.len(),
                pred.genes.len()
            )));
        }
        let j = (0..real.genes.len())
            .find(|&j| real.genes[j] != pred.genes[j])
            .expect("differ");
        return Err(EngineError::msg(format!(
            "gene order differs at column {j}: the real data ({r}) has `{}`, the prediction ({p}) `{}`; they must be the same genes in the same order",
            real.genes[j], pred.genes[j]
        )));
    }
    if real.perturbations != pred.perturbations {
        let only = |a: &GroupedCells, b: &GroupedCells| -> Vec<String> {
            a.perturbations
                .iter()
                .filter(|x| b.perturbations.binary_search(x).is_err())
                .take(10)
                .cloned()
                .collect()
        };
        return Err(EngineError::msg(format!(
            "the perturbations differ: only in the real data ({r}): {:?}; only in the prediction ({p}): {:?}",
            only(real, pred),
            only(pred, real)
        )));
    }
    Ok(())
}

/// Mean tested value per gene (a pseudobulk) of the rows `rows` of `x`,
/// stored values scaled by `scale`, in f64.
pub(crate) fn pseudobulk(x: &CsrMatrix, scale: &Scale, rows: &[usize]) -> Array1<f64> {
    let mut sum = Array1::<f64>::zeros(x.ncols);
    for &r in rows {
        for (j, v) in x.row(r) {
            sum[j] += scale.value(r, v) as f64;
        }
    }
    sum / rows.len() as f64
}

/// Mean expression (the tested values) of each perturbation's cells and of
/// the controls, in f64.
fn pseudobulks(cells: &GroupedCells) -> (Array2<f64>, Array1<f64>) {
    let mean = |rows: &[usize]| pseudobulk(&cells.x, &cells.scale, rows);
    let mut bulk = Array2::zeros((cells.perturbations.len(), cells.genes.len()));
    for (k, rows) in cells.rows.iter().enumerate() {
        bulk.row_mut(k).assign(&mean(rows));
    }
    (bulk, mean(&cells.control_rows))
}

/// The given rows' cells as sparse rows of scaled values.
fn sparse_cells(cells: &GroupedCells, rows: &[usize]) -> energy::SparseCells {
    let mut out = energy::SparseCells::new(cells.genes.len());
    for &r in rows {
        out.push_row(cells.x.row(r).map(|(j, v)| (j, cells.scale.value(r, v))));
    }
    out
}

/// The side of a computed DE table that cell-eval compares (f32 fold
/// changes and FDR).
pub fn de_side(t: &pertbench_kernels::tasks::differential_expression::DeTable) -> DeSide {
    DeSide {
        targets: (0..t.n_groups())
            .map(|k| {
                t.group_range(k)
                    .enumerate()
                    .map(|(j, i)| dec::DeRow {
                        gene: j as u32,
                        log2_fold_change: t.log2_fold_change[i] as f32,
                        fold_change: t.log2_fold_change[i].exp2() as f32,
                        fdr: t.fdr[i] as f32,
                    })
                    .collect()
            })
            .collect(),
    }
}

fn all(values: Vec<f64>) -> Vec<Option<f64>> {
    values.into_iter().map(Some).collect()
}

/// The metrics of `profile` for `pred` against `real` (checked with
/// [`check_pair`] first), by the definitions of `convention`'s cell-eval
/// release ([`metric_rules`]).
pub fn evaluate(
    real: &GroupedCells,
    pred: &GroupedCells,
    profile: Profile,
    convention: DeConvention,
    de_source: DeSource,
    par: Par,
) -> Result<Evaluation> {
    check_pair(real, pred)?;
    let rules = metric_rules(convention);
    let metrics = profile.metrics();
    let n = real.perturbations.len();
    let mut columns = Vec::new();
    let column = |m: &MetricName, values: Vec<Option<f64>>| MetricColumn {
        name: m.name.to_string(),
        best: m.best,
        values,
    };
    if metrics.iter().any(|m| m.reads == Reads::De) {
        let (dr, dp) = match de_source {
            DeSource::Compute => (
                de_side(&de::run(real, convention, par)?),
                de_side(&de::run(pred, convention, par)?),
            ),
            DeSource::Tables(r, p) => (r, p),
        };
        for m in metrics.iter().filter(|m| m.reads == Reads::De) {
            let overlap = |kind, k| all(dec::overlap(&dr, &dp, k, kind));
            let values = match m.name {
                "de_spearman_sig" => vec![Some(dec::spearman_n_significant(&dr, &dp)); n],
                "de_direction_match" => dec::direction_match(&dr, &dp),
                "de_spearman_lfc_sig" => dec::spearman_fold_change_significant(&dr, &dp, rules),
                "de_sig_genes_recall" => dec::significant_recall(&dr, &dp),
                "pr_auc" => all(dec::recovery_auc(&dr, &dp, Curve::PrecisionRecall, rules)),
                "roc_auc" => all(dec::recovery_auc(&dr, &dp, Curve::Roc, rules)),
                "de_nsig_counts" => {
                    for (suffix, side) in [("real", &dr), ("pred", &dp)] {
                        columns.push(MetricColumn {
                            name: format!("de_nsig_counts_{suffix}"),
                            best: None,
                            values: side
                                .n_significant()
                                .into_iter()
                                .map(|c| Some(c as f64))
                                .collect(),
                        });
                    }
                    continue;
                }
                name => {
                    let (kind, k) = name
                        .strip_prefix("overlap_at_")
                        .map(|k| (OverlapKind::Overlap, k))
                        .or_else(|| {
                            name.strip_prefix("precision_at_")
                                .map(|k| (OverlapKind::Precision, k))
                        })
                        .expect("an overlap metric");
                    overlap(kind, k.parse::<usize>().ok())
                }
            };
            columns.push(column(m, values));
        }
    }
    let expression: Vec<&&MetricName> = metrics
        .iter()
        .filter(|m| m.reads == Reads::Expression)
        .collect();
    if !expression.is_empty() {
        let (rb, rc) = pseudobulks(real);
        let (pb, pc) = pseudobulks(pred);
        let rs = Pseudobulks {
            perturbations: rb.view(),
            control: rc.view(),
        };
        let ps = Pseudobulks {
            perturbations: pb.view(),
            control: pc.view(),
        };
        let errors = em::errors(rs, ps);
        let target_gene: Vec<Option<usize>> = real
            .perturbations
            .iter()
            .map(|p| real.genes.iter().position(|g| g == p))
            .collect();
        for m in expression {
            let values = match m.name {
                "pearson_delta" => all(errors.pearson_delta.clone()),
                "mse" => all(errors.mse.clone()),
                "mae" => all(errors.mae.clone()),
                "mse_delta" => all(errors.mse_delta.clone()),
                "mae_delta" => all(errors.mae_delta.clone()),
                "pearson_edistance" => {
                    // Sparse rows of a batch of perturbations at a time.
                    let energy = |c: &GroupedCells| {
                        let sizes: Vec<usize> = c.rows.iter().map(Vec::len).collect();
                        energy::energy_distances(
                            &sizes,
                            |k| sparse_cells(c, &c.rows[k]),
                            &sparse_cells(c, &c.control_rows),
                            par,
                        )
                    };
                    vec![Some(em::pearson_energy(&energy(real), &energy(pred))); n]
                }
                name => {
                    let d = Distance::ALL
                        .into_iter()
                        .find(|d| name == format!("discrimination_score_{}", d.name()))
                        .expect("a discrimination metric");
                    let absolute = rules == MetricRules::CellEval05;
                    all(em::discrimination(rs, ps, &target_gene, d, absolute, par))
                }
            };
            columns.push(column(m, values));
        }
    }
    Ok(Evaluation {
        perturbations: real.perturbations.clone(),
        columns,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use pertbench_kernels::sparse::csr::CsrBuilder;

    /// 30 controls and 3 perturbations of 20 cells over 12 genes; each
    /// perturbation raises its own 3 genes. `shift` moves every value.
    fn cells(shift: f32, name: &str) -> GroupedCells {
        let genes: Vec<String> = (0..12).map(|j| format!("G{j}")).collect();
        let mut b = CsrBuilder::new(12);
        let mut rows = vec![vec![]; 3];
        let mut control_rows = vec![];
        let mut r = 0;
        for group in 0..4usize {
            let n = if group == 0 { 30 } else { 20 };
            for i in 0..n {
                for j in 0..12usize {
                    let mut v = ((i * 7 + j * 3) % 5) as f32 * 0.25 + shift;
                    if group > 0 && j / 3 == group - 1 {
                        v += 2.0;
                    }
                    if v != 0.0 {
                        b.push(j as u32, v);
                    }
                }
                b.finish_row();
                if group == 0 {
                    control_rows.push(r);
                } else {
                    rows[group - 1].push(r);
                }
                r += 1;
            }
        }
        GroupedCells {
            path: name.into(),
            genes,
            x: b.build().unwrap(),
            scale: Scale::Log1p,
            allow_discrete: false,
            dropped: Default::default(),
            control: "ctrl".into(),
            control_rows,
            perturbations: vec!["A".into(), "B".into(), "C".into()],
            rows,
        }
    }

    fn value(e: &Evaluation, name: &str) -> Vec<Option<f64>> {
        e.columns
            .iter()
            .find(|c| c.name == name)
            .unwrap()
            .values
            .clone()
    }

    #[test]
    fn the_truth_scores_perfectly_and_errors_are_errors() {
        let real = cells(0.0, "real.h5ad");
        let e = evaluate(
            &real,
            &real,
            Profile::Full,
            DeConvention::Pdex02,
            DeSource::Compute,
            Par::Seq,
        )
        .unwrap();
        let names: Vec<&str> = e.columns.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names.len(), 27, "{names:?}");
        assert_eq!(names[0], "overlap_at_N");
        assert_eq!(names.last(), Some(&"pearson_edistance"));
        for (metric, want) in [
            ("mae", 0.0),
            ("mse_delta", 0.0),
            ("overlap_at_N", 1.0),
            ("precision_at_N", 1.0),
            ("de_direction_match", 1.0),
            ("de_sig_genes_recall", 1.0),
            ("discrimination_score_l1", 1.0),
            ("discrimination_score_cosine", 1.0),
            ("pearson_delta", 1.0),
            ("roc_auc", 1.0),
        ] {
            for v in value(&e, metric) {
                let v = v.unwrap();
                assert!((v - want).abs() < 1e-12, "{metric}: {v}");
            }
        }
        assert_eq!(
            value(&e, "de_nsig_counts_real"),
            value(&e, "de_nsig_counts_pred")
        );
        // A uniform shift of the prediction: same deltas, different means.
        let shifted = cells(0.5, "pred.h5ad");
        let e = evaluate(
            &real,
            &shifted,
            Profile::Vcc,
            DeConvention::Pdex02,
            DeSource::Compute,
            Par::Seq,
        )
        .unwrap();
        assert_eq!(
            e.columns
                .iter()
                .map(|c| c.name.as_str())
                .collect::<Vec<_>>(),
            ["overlap_at_N", "mae", "discrimination_score_l1"]
        );
        assert!(value(&e, "mae")
            .iter()
            .all(|v| (v.unwrap() - 0.5).abs() < 1e-6));
        assert!(value(&e, "discrimination_score_l1")
            .iter()
            .all(|v| *v == Some(1.0)));
        // Sequential and parallel give the same bits.
        let par = evaluate(
            &real,
            &shifted,
            Profile::Full,
            DeConvention::Pdex02,
            DeSource::Compute,
            Par::rayon(0),
        )
        .unwrap();
        let seq = evaluate(
            &real,
            &shifted,
            Profile::Full,
            DeConvention::Pdex02,
            DeSource::Compute,
            Par::Seq,
        )
        .unwrap();
        assert_eq!(format!("{par:?}"), format!("{seq:?}"));

        let mut other = cells(0.0, "pred.h5ad");
        other.genes.swap(2, 3);
        let e = check_pair(&real, &other).unwrap_err().to_string();
        assert!(
            e.contains("gene order differs at column 2") && e.contains("`G2`"),
            "{e}"
        );
        let mut other = cells(0.0, "pred.h5ad");
        other.perturbations[2] = "D".into();
        let e = check_pair(&real, &other).unwrap_err().to_string();
        assert!(
            e.contains(r#"only in the real data (real.h5ad): ["C"]"#) && e.contains(r#"["D"]"#),
            "{e}"
        );
    }

    #[test]
    fn aggregates_and_scores() {
        let e = Evaluation {
            perturbations: vec!["A".into(), "B".into(), "C".into()],
            columns: vec![
                MetricColumn {
                    name: "mae".into(),
                    best: Some(Best::Zero),
                    values: vec![Some(1.0), Some(2.0), Some(3.0)],
                },
                MetricColumn {
                    name: "de_direction_match".into(),
                    best: Some(Best::One),
                    values: vec![Some(0.5), None, Some(1.0)],
                },
                MetricColumn {
                    name: "de_nsig_counts_real".into(),
                    best: None,
                    values: vec![Some(4.0); 3],
                },
            ],
        };
        let s = aggregate::summarise(&e, 200, 0).unwrap();
        assert_eq!(s[0].values[..4], [3.0, 0.0, 2.0, 1.0]);
        assert_eq!(s[1].values[..3], [2.0, 1.0, 0.75]);
        assert!(s[0].values[9] <= 2.0 && s[0].values[10] >= 2.0);
        let mut base = s.clone();
        base[0].values[2] = 4.0;
        base[1].values[2] = 0.5;
        let (rows, avg) = aggregate::score(&s, &base).unwrap();
        let got: Vec<(&str, f64)> = rows
            .iter()
            .map(|r| (r.metric.as_str(), r.from_baseline))
            .collect();
        assert_eq!(got, [("mae", 0.5), ("de_direction_match", 0.5)]);
        assert_eq!(avg, 0.5);
        assert!(aggregate::score(&s, &base[..2]).is_err());
    }
}
