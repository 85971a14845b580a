//! cell-eval's DE metrics (`metrics/_de.py`, `_types/_de.py`): the real and
//! the predicted DE tables of the same perturbations, compared.
//!
//! cell-eval casts `fdr` and `log2_fold_change` to float32 before it
//! compares anything, so significance is `f32(fdr) < 0.05` and genes are
//! ranked by `|f32(log2 fold change)|`; this module takes the f32 values for
//! the same reason (a gene whose f64 fold changes differ but whose f32 ones
//! tie is ranked as cell-eval ranks it: by its row in the table).

use super::MetricRules;
use crate::stats::ranks::average_ranks;
use crate::tasks::decoder::pearson;

/// cell-eval's significance threshold (`fdr_threshold=0.05`), in f32 as its
/// float32 column is compared.
pub const FDR_THRESHOLD: f32 = 0.05;

/// One row of a DE table.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DeRow {
    /// The gene, as an index into a gene list both sides share.
    pub gene: u32,
    pub log2_fold_change: f32,
    /// The fold change itself (pdex 0.1's `fold_change`; 2^log2 where a
    /// table gives only the log), ranked by cell-eval 0.5's
    /// `de_spearman_lfc_sig`.
    pub fold_change: f32,
    pub fdr: f32,
}

impl DeRow {
    fn significant(&self) -> bool {
        self.fdr < FDR_THRESHOLD
    }
}

/// One side's DE table: `targets[k]` holds perturbation k's rows in table
/// order (both sides list the same perturbations in the same order).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DeSide {
    pub targets: Vec<Vec<DeRow>>,
}

impl DeSide {
    /// Significant genes of perturbation k, by |log2 fold change|
    /// descending (NaN first, as polars sorts it), ties in table order
    /// (polars' ordinal rank).
    pub fn ranked_significant(&self, k: usize) -> Vec<u32> {
        let mut rows: Vec<&DeRow> = self.targets[k].iter().filter(|r| r.significant()).collect();
        // abs() clears NaN's sign bit too: total_cmp puts it above +inf.
        let key = |r: &DeRow| r.log2_fold_change.abs();
        rows.sort_by(|a, b| key(b).total_cmp(&key(a)));
        rows.into_iter().map(|r| r.gene).collect()
    }

    /// Significant genes per perturbation (`de_nsig_counts`).
    pub fn n_significant(&self) -> Vec<usize> {
        self.targets
            .iter()
            .map(|rows| rows.iter().filter(|r| r.significant()).count())
            .collect()
    }
}

/// Which list a top-k comparison sizes k by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OverlapKind {
    /// `overlap_at_*`: k is the real list's length (or a fixed k), at most
    /// the real list's length.
    Overlap,
    /// `precision_at_*`: k is the predicted list's length (or a fixed k), at
    /// most the predicted list's length.
    Precision,
}

/// `overlap_at_N` (k = None), `overlap_at_k`, `precision_at_N`,
/// `precision_at_k` per perturbation: |real[..k] ∩ pred[..k]| / k over the
/// ranked significant genes; 0 when k is 0, and 0 for every perturbation
/// when either side has no significant gene at all.
pub fn overlap(real: &DeSide, pred: &DeSide, k: Option<usize>, kind: OverlapKind) -> Vec<f64> {
    let n = real.targets.len();
    let lists = |s: &DeSide| (0..n).map(|t| s.ranked_significant(t)).collect::<Vec<_>>();
    let (r, p) = (lists(real), lists(pred));
    if r.iter().all(Vec::is_empty) || p.iter().all(Vec::is_empty) {
        return vec![0.0; n];
    }
    r.iter()
        .zip(&p)
        .map(|(r, p)| {
            let sized_by = match kind {
                OverlapKind::Overlap => r.len(),
                OverlapKind::Precision => p.len(),
            };
            let k = k.map_or(sized_by, |k| k.min(sized_by));
            if k == 0 {
                return 0.0;
            }
            let top: std::collections::HashSet<u32> = r.iter().take(k).copied().collect();
            let both = p.iter().take(k).filter(|g| top.contains(g)).count();
            both as f64 / k as f64
        })
        .collect()
}

/// `de_spearman_sig`: Spearman correlation, over the perturbations with a
/// real significant gene, of the real and predicted counts of significant
/// genes; 1 when no perturbation has one; NaN when a side is constant.
pub fn spearman_n_significant(real: &DeSide, pred: &DeSide) -> f64 {
    let (r, p) = (real.n_significant(), pred.n_significant());
    let (a, b): (Vec<f64>, Vec<f64>) = r
        .iter()
        .zip(&p)
        .filter(|(r, _)| **r > 0)
        .map(|(&r, &p)| (r as f64, p as f64))
        .unzip();
    if a.is_empty() {
        return 1.0;
    }
    spearman_or_nan(&a, &b)
}

/// Spearman correlation (average ranks), NaN when undefined (fewer than 2
/// values or a constant side), as polars' `corr(method="spearman")`.
fn spearman_or_nan(a: &[f64], b: &[f64]) -> f64 {
    if a.len() < 2 {
        return f64::NAN;
    }
    pearson(&average_ranks(a), &average_ranks(b)).unwrap_or(f64::NAN)
}

/// polars' `sign` of a float: -1, 0 (for 0 and -0) or 1; NaN stays NaN.
fn sign(v: f32) -> f32 {
    if v > 0.0 {
        1.0
    } else if v < 0.0 {
        -1.0
    } else {
        v * 0.0
    }
}

/// The predicted rows of perturbation k by gene.
fn by_gene(rows: &[DeRow]) -> std::collections::HashMap<u32, &DeRow> {
    rows.iter().map(|r| (r.gene, r)).collect()
}

/// `de_direction_match` per perturbation: over its real significant genes
/// the prediction also lists, the share whose fold changes have the same
/// sign; None (absent from cell-eval's results) when there is no such gene.
pub fn direction_match(real: &DeSide, pred: &DeSide) -> Vec<Option<f64>> {
    real.targets
        .iter()
        .zip(&pred.targets)
        .map(|(r, p)| {
            let p = by_gene(p);
            let (mut same, mut n) = (0usize, 0usize);
            for row in r.iter().filter(|r| r.significant()) {
                if let Some(q) = p.get(&row.gene) {
                    n += 1;
                    let (a, b) = (sign(row.log2_fold_change), sign(q.log2_fold_change));
                    // polars' float equality holds for NaN == NaN.
                    same += (a == b || (a.is_nan() && b.is_nan())) as usize;
                }
            }
            (n > 0).then(|| same as f64 / n as f64)
        })
        .collect()
}

/// `de_spearman_lfc_sig` per perturbation: Spearman correlation of real and
/// predicted fold changes over the real significant genes; None when the
/// perturbation has no real significant gene (or, 0.5, none the prediction
/// lists); NaN when undefined. 0.8 ranks log2 fold changes and counts a
/// gene the prediction does not list as 0; 0.5 ranks the fold changes and
/// leaves such a gene out.
pub fn spearman_fold_change_significant(
    real: &DeSide,
    pred: &DeSide,
    rules: MetricRules,
) -> Vec<Option<f64>> {
    real.targets
        .iter()
        .zip(&pred.targets)
        .map(|(r, p)| {
            let p = by_gene(p);
            let (a, b): (Vec<f64>, Vec<f64>) = r
                .iter()
                .filter(|r| r.significant())
                .filter_map(|row| match rules {
                    MetricRules::CellEval08 => {
                        let q = p.get(&row.gene).map_or(0.0, |q| q.log2_fold_change);
                        Some((row.log2_fold_change as f64, q as f64))
                    }
                    MetricRules::CellEval05 => p
                        .get(&row.gene)
                        .map(|q| (row.fold_change as f64, q.fold_change as f64)),
                })
                .unzip();
            (!a.is_empty()).then(|| spearman_or_nan(&a, &b))
        })
        .collect()
}

/// `de_sig_genes_recall` per perturbation: the share of its real
/// significant genes that are significant in the prediction; None when it
/// has no real significant gene.
pub fn significant_recall(real: &DeSide, pred: &DeSide) -> Vec<Option<f64>> {
    real.targets
        .iter()
        .zip(&pred.targets)
        .map(|(r, p)| {
            let predicted: std::collections::HashSet<u32> = p
                .iter()
                .filter(|q| q.significant())
                .map(|q| q.gene)
                .collect();
            let sig: Vec<u32> = r
                .iter()
                .filter(|r| r.significant())
                .map(|r| r.gene)
                .collect();
            (!sig.is_empty()).then(|| {
                sig.iter().filter(|g| predicted.contains(g)).count() as f64 / sig.len() as f64
            })
        })
        .collect()
}

/// Which curve's area [`recovery_auc`] takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Curve {
    /// `pr_auc`: scikit-learn's `average_precision_score` (0.8), or the
    /// trapezoid area under `precision_recall_curve` (0.5).
    PrecisionRecall,
    /// Area under the ROC curve (`roc_auc`).
    Roc,
}

/// `pr_auc` / `roc_auc` per perturbation: how well the predicted FDR
/// recovers the real significant genes. Labels: real `fdr < 0.05`; scores:
/// -log10 of the predicted FDR, in f32 as cell-eval computes them: 0.8
/// clips the FDR to [1e-10, 1] and scores a gene the prediction does not
/// list as FDR 1; 0.5 raises an FDR of exactly 0 to 1e-10 and leaves such
/// a gene out. NaN when the perturbation has no rows or only one class.
pub fn recovery_auc(real: &DeSide, pred: &DeSide, curve: Curve, rules: MetricRules) -> Vec<f64> {
    real.targets
        .iter()
        .zip(&pred.targets)
        .map(|(r, p)| {
            let p = by_gene(p);
            let mut scored: Vec<(f32, bool)> = r
                .iter()
                .filter(|row| !row.fdr.is_nan())
                .filter_map(|row| {
                    let q = match rules {
                        MetricRules::CellEval08 => {
                            p.get(&row.gene).map_or(1.0, |q| q.fdr).clamp(1e-10, 1.0)
                        }
                        MetricRules::CellEval05 => {
                            let q = p.get(&row.gene)?.fdr;
                            if q == 0.0 {
                                1e-10
                            } else {
                                q
                            }
                        }
                    };
                    Some((-q.log10(), row.significant()))
                })
                .collect();
            let positives = scored.iter().filter(|s| s.1).count();
            if scored.is_empty() || positives == 0 || positives == scored.len() {
                return f64::NAN;
            }
            // Descending score; a threshold at each distinct score.
            scored.sort_by(|a, b| b.0.total_cmp(&a.0));
            let (total_p, total_n) = (positives as f64, (scored.len() - positives) as f64);
            let (mut tp, mut fp) = (0.0f64, 0.0f64);
            let (mut prev_recall, mut prev_fpr, mut prev_tpr) = (0.0f64, 0.0f64, 0.0f64);
            // The curve starts at (recall 0, precision 1).
            let mut prev_precision = 1.0f64;
            let mut area = 0.0f64;
            let mut i = 0;
            while i < scored.len() {
                let mut j = i;
                while j < scored.len() && scored[j].0 == scored[i].0 {
                    if scored[j].1 {
                        tp += 1.0;
                    } else {
                        fp += 1.0;
                    }
                    j += 1;
                }
                match curve {
                    Curve::PrecisionRecall => {
                        let recall = tp / total_p;
                        let precision = tp / (tp + fp);
                        area += match rules {
                            // Average precision: steps.
                            MetricRules::CellEval08 => (recall - prev_recall) * precision,
                            // Trapezoids between the curve's points.
                            MetricRules::CellEval05 => {
                                (recall - prev_recall) * (precision + prev_precision) / 2.0
                            }
                        };
                        prev_recall = recall;
                        prev_precision = precision;
                    }
                    Curve::Roc => {
                        let (fpr, tpr) = (fp / total_n, tp / total_p);
                        area += (fpr - prev_fpr) * (tpr + prev_tpr) / 2.0;
                        prev_fpr = fpr;
                        prev_tpr = tpr;
                    }
                }
                i = j;
            }
            area
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn side(targets: &[&[(u32, f32, f32)]]) -> DeSide {
        DeSide {
            targets: targets
                .iter()
                .map(|rows| {
                    rows.iter()
                        .map(|&(gene, log2_fold_change, fdr)| DeRow {
                            gene,
                            log2_fold_change,
                            fold_change: log2_fold_change.exp2(),
                            fdr,
                        })
                        .collect()
                })
                .collect(),
        }
    }

    #[test]
    fn ranked_lists_and_overlaps_by_hand() {
        // Real: genes 0 (|2|), 1 (|-3|), 2 (|2|, tie with 0, later row),
        // 3 (not significant). Pred: 2 (|5|), 0 (|1|), 4 (inf).
        let real = side(&[&[
            (0, 2.0, 0.01),
            (1, -3.0, 0.0),
            (2, 2.0, 0.04),
            (3, 9.0, 0.05),
        ]]);
        let pred = side(&[&[(2, 5.0, 0.001), (0, -1.0, 0.02), (4, f32::INFINITY, 0.0)]]);
        assert_eq!(real.ranked_significant(0), vec![1, 0, 2]);
        assert_eq!(pred.ranked_significant(0), vec![4, 2, 0]);
        // overlap_at_N: k = 3: {1,0,2} ∩ {4,2,0} = 2 -> 2/3.
        assert_eq!(
            overlap(&real, &pred, None, OverlapKind::Overlap),
            vec![2.0 / 3.0]
        );
        // overlap_at_2: {1,0} ∩ {4,2} = 0.
        assert_eq!(
            overlap(&real, &pred, Some(2), OverlapKind::Overlap),
            vec![0.0]
        );
        // overlap_at_50 caps k at 3.
        assert_eq!(
            overlap(&real, &pred, Some(50), OverlapKind::Overlap),
            vec![2.0 / 3.0]
        );
        assert_eq!(
            overlap(&real, &pred, None, OverlapKind::Precision),
            vec![2.0 / 3.0]
        );
        // Nothing significant in pred anywhere: all 0.
        let none = side(&[&[(0, 1.0, 0.5)]]);
        assert_eq!(overlap(&real, &none, None, OverlapKind::Overlap), vec![0.0]);
        assert_eq!(real.n_significant(), vec![3]);
        // Directions: 0 (+ vs -) no, 2 (+ vs +) yes, 1 absent from pred.
        assert_eq!(direction_match(&real, &pred), vec![Some(0.5)]);
        // Recall: real sig {0,1,2}, pred sig {2,0,4}: 2/3.
        assert_eq!(significant_recall(&real, &pred), vec![Some(2.0 / 3.0)]);
        assert_eq!(significant_recall(&none, &pred), vec![None]);
        // Spearman over real sig genes 0,1,2: real (2,-3,2), pred (-1,0,5).
        let want = pearson(&[2.5, 1.0, 2.5], &[1.0, 2.0, 3.0]).unwrap();
        assert_eq!(
            spearman_fold_change_significant(&real, &pred, MetricRules::CellEval08),
            vec![Some(want)]
        );
        // 0.5 leaves gene 1 (not predicted) out and ranks fold changes:
        // real (4, 4), pred (1/2, 32): a constant side, NaN.
        let s05 = spearman_fold_change_significant(&real, &pred, MetricRules::CellEval05);
        assert!(s05[0].unwrap().is_nan());
    }

    #[test]
    fn aucs_by_hand() {
        // Labels (real fdr < .05): genes 0, 1 positive, 2, 3 negative.
        // Scores -log10(pred fdr): 0: 2, 1: 0 (unlisted), 2: 1, 3: 0.
        let real = side(&[&[(0, 1.0, 0.01), (1, 1.0, 0.02), (2, 1.0, 0.5), (3, 1.0, 0.9)]]);
        let pred = side(&[&[(0, 1.0, 0.01), (2, 1.0, 0.1), (3, 1.0, 1.0)]]);
        // Thresholds: 2 -> tp 1 fp 0; 1 -> tp 1 fp 1; 0 -> tp 2 fp 2.
        // AP = .5 * 1 + 0 * .5 + .5 * .5 = .75.
        let ap = recovery_auc(
            &real,
            &pred,
            Curve::PrecisionRecall,
            MetricRules::CellEval08,
        )[0];
        assert!((ap - 0.75).abs() < 1e-7, "{ap}");
        // ROC points (0,.5), (.5,.5), (1,1): area .25 + .375 = .625.
        let roc = recovery_auc(&real, &pred, Curve::Roc, MetricRules::CellEval08)[0];
        assert!((roc - 0.625).abs() < 1e-12, "{roc}");
        // One class only: NaN.
        let one = side(&[&[(0, 1.0, 0.01)]]);
        assert!(recovery_auc(&one, &pred, Curve::Roc, MetricRules::CellEval08)[0].is_nan());
        // cell-eval 0.5: gene 1 (unlisted) is left out: labels 1, 0, 0 with
        // scores 2, 1, 0. PR points from (0, 1): (1, 1) at threshold 2,
        // then recall stays 1: trapezoids 1 x (1 + 1) / 2 = 1. ROC: 1.
        let r05 = MetricRules::CellEval05;
        let ap = recovery_auc(&real, &pred, Curve::PrecisionRecall, r05)[0];
        assert_eq!(ap, 1.0);
        assert_eq!(recovery_auc(&real, &pred, Curve::Roc, r05)[0], 1.0);
        // With gene 1 listed at FDR 0.5 (score 0.30): labels by score
        // 2 (+), 1 (-), 0.30 (+), 0 (-). PR points (0,1), (.5,1), (.5,.5),
        // (1,2/3), (1,.5): area .5 + 0 + .5 x (.5 + 2/3) / 2 + 0 = 0.7916...
        let listed = side(&[&[(0, 1.0, 0.01), (1, 1.0, 0.5), (2, 1.0, 0.1), (3, 1.0, 1.0)]]);
        let ap = recovery_auc(&real, &listed, Curve::PrecisionRecall, r05)[0];
        assert!(
            (ap - (0.5 + 0.5 * (0.5 + 2.0 / 3.0) / 2.0)).abs() < 1e-12,
            "{ap}"
        );
        // An FDR of 0 scores as 1e-10 in both; 0.5 does not clip 1e-12.
        let tiny = side(&[&[(0, 1.0, 1e-12), (2, 1.0, 0.0), (3, 1.0, 1.0)]]);
        let (a08, a05) = (
            recovery_auc(&real, &tiny, Curve::Roc, MetricRules::CellEval08)[0],
            recovery_auc(&real, &tiny, Curve::Roc, r05)[0],
        );
        // 0.8: genes 0 and 2 tie at 10 (+, -), gene 1 unlisted (+) at 0,
        // gene 3 (-) at 0. 0.5: gene 0 (12) above gene 2 (10): ROC 1.
        assert_eq!(a05, 1.0);
        assert!(a08 < 1.0, "{a08}");
    }

    #[test]
    fn spearman_of_counts() {
        let real = side(&[
            &[(0, 1.0, 0.01), (1, 1.0, 0.01)],
            &[(0, 1.0, 0.01)],
            &[(0, 1.0, 0.5)],
        ]);
        let pred = side(&[&[(0, 1.0, 0.01)], &[(0, 1.0, 0.01), (1, 1.0, 0.01)], &[]]);
        // Perturbations with a real sig gene: counts (2, 1) vs (1, 2): -1.
        assert_eq!(spearman_n_significant(&real, &pred), -1.0);
        let nothing = side(&[&[], &[], &[]]);
        assert_eq!(spearman_n_significant(&nothing, &pred), 1.0);
        assert_eq!(sign(-0.0), 0.0);
    }
}
