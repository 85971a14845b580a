//! cell-eval's metric set (Arc Institute; the Virtual Cell Challenge's
//! scorer), by its definitions in cell-eval 0.8.1 (and, where they differ,
//! in cell-eval 0.5.45: [`MetricRules`]): expression metrics on
//! pseudobulks and cells ([`expression_metrics`], the energy distances by
//! matrix products in [`energy`]), metrics comparing the
//! real and predicted DE tables ([`de_comparison`]), and the score against
//! a baseline ([`score`]).

pub mod de_comparison;
pub mod energy;
pub mod expression_metrics;
pub mod score;

/// Which cell-eval release's definitions a metric follows where releases
/// differ (the metrics themselves are otherwise the same code).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MetricRules {
    /// cell-eval 0.8.1 (>= 0.6): discrimination on signed deltas;
    /// `pr_auc` is scikit-learn's average precision; a predicted FDR is
    /// clipped to [1e-10, 1] and a gene the prediction lacks counts as
    /// FDR 1 (and fold change 0); `de_spearman_lfc_sig` ranks log2 fold
    /// changes.
    #[default]
    CellEval08,
    /// cell-eval 0.5.45, the Virtual Cell Challenge's scorer:
    /// discrimination on absolute deltas (|pert - control|, fixed in
    /// 0.6); `pr_auc` is the trapezoid area under scikit-learn's
    /// precision-recall curve (`auc(recall, precision)`); a predicted FDR
    /// of exactly 0 becomes 1e-10 (nothing else is clipped) and genes the
    /// prediction lacks are left out (inner joins); `de_spearman_lfc_sig`
    /// ranks the fold changes themselves (float32).
    CellEval05,
}
