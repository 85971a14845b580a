//! The Virtual Cell Challenge's evaluation on a held-out split of the
//! dataset (REFERENCE_TOOLS.md section 2, issue 23): perturbations are held
//! out, built-in predictors trained on the others predict their cells, and
//! cell-eval's metric set ([`crate::cell_eval`]) scores each predictor
//! against the held-out cells, then against a baseline predictor (the VCC
//! score).
//!
//! - Cells: the dataset's samples; values on the scale cell-eval prepares
//!   (integer counts normalised to the median total over all the cells then
//!   log1p, stored log1p values as they are; anything else is an error).
//! - Split: `test_perturbations`, or a seeded `test_fraction` of the
//!   perturbations (at least 2, leaving at least 1). The controls are shared:
//!   the real held-out data and every prediction carry all of them, as a VCC
//!   submission carries the controls.
//! - Predictors give each held-out perturbation as many cells as the real
//!   data has: `control` control cells (taken in turn, in dataset order,
//!   cyclically: no effect, with the controls' own variation; a predicted
//!   profile at the control mean would make every delta and fold change
//!   rounding noise); `mean` cell-eval's `build_base_mean_adata` (the mean
//!   of the training perturbations' and the controls' pseudobulks, for
//!   every cell); `linear` the control pseudobulk plus a ridge map from
//!   perturbation features to the training perturbations' deltas, for every
//!   cell (a perturbation without features gets the ridge's intercept, the
//!   mean training delta; counted in `convention`; values below 0 set to 0).
//! - Rows, per predictor (`source`): each metric's mean over the held-out
//!   perturbations with a bootstrap 95% interval; then, for every predictor
//!   but the baseline, `from_baseline_<metric>` and `avg_score` as cell-eval
//!   `score` computes them. `de_nsig_counts` (counts, not scores) is in the
//!   details only. Details: every (predictor, perturbation, metric) value.

mod options;

pub use options::*;

use super::options::shared::feature_table_input;
use super::{
    perturbation_groups, sample_queries, Explanation, Metric, MetricContext, MetricInfo,
    MetricInputs, MetricOutput, MetricRow,
};
use crate::cell_eval::aggregate::{self, Summary};
use crate::cell_eval::metric_set::Reads;
use crate::cell_eval::{self, DeSource, Evaluation};
use crate::differential_expression::input::{decide_scale, GroupedCells, Scale};
use crate::differential_expression::{self as de};
use crate::error::{EngineError, Result};
use arrow::array::{Float64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use ndarray::{Array1, Array2};
use pertbench_kernels::sparse::csr::{CsrBuilder, CsrMatrix};
use pertbench_kernels::tasks::transfer::RidgeMap;
use std::sync::Arc;

pub struct Vcc;

static EXPLANATION: Explanation = Explanation {
    summary: r#"The Virtual Cell Challenge's evaluation on a held-out split: built-in predictors (control, mean, linear) scored with cell-eval's metric set (DES, PDS, MAE and the rest) and against a baseline predictor (the VCC score)."#,
    definition: r#"Perturbations are split into held-out (test_perturbations, or a seeded test_fraction) and training ones; the controls are shared. Values are on cell-eval's scale: integer counts normalised to the median total over all cells then log1p, or stored log1p values. Each predictor gives each held-out perturbation as many cells as the real data: control = control cells taken in turn (dataset order, cyclically): no effect, with the controls' own variation; mean = cell-eval's baseline, the mean of the training perturbations' and the controls' pseudobulks, for every cell; linear = the control pseudobulk plus a ridge map from perturbation features to the pseudobulk delta fitted on the training perturbations, for every cell (negative values set to 0). The prediction (its cells and the real controls) is scored against the held-out cells as `pertbench cell-eval` does: DE per perturbation against the controls (Wilcoxon, Benjamini-Hochberg) on both sides, then the metrics of the profile per perturbation; each row is a metric's mean over held-out perturbations with a bootstrap 95% interval. For every predictor but the baseline, from_baseline_<metric> is 1 - user / base for an error and (user - base) / (1 - base) for a score, NaN as 0 and clipped at 0, and avg_score their mean (cell-eval score)."#,
    variants: &[
        (
            r#"overlap_at_N"#,
            r#"DES: top-k overlap of real and predicted significant genes (FDR < 0.05, by |log2FC|), k = real significant genes"#,
        ),
        (
            r#"overlap_at_50"#,
            r#"overlap_at_N with k = min(50, real significant)"#,
        ),
        (
            r#"overlap_at_100"#,
            r#"overlap_at_N with k = min(100, real significant)"#,
        ),
        (
            r#"overlap_at_200"#,
            r#"overlap_at_N with k = min(200, real significant)"#,
        ),
        (
            r#"overlap_at_500"#,
            r#"overlap_at_N with k = min(500, real significant)"#,
        ),
        (
            r#"precision_at_N"#,
            r#"top-k overlap / k, k = predicted significant genes"#,
        ),
        (
            r#"precision_at_50"#,
            r#"precision_at_N with k = min(50, predicted significant)"#,
        ),
        (
            r#"precision_at_100"#,
            r#"precision_at_N with k = min(100, predicted significant)"#,
        ),
        (
            r#"precision_at_200"#,
            r#"precision_at_N with k = min(200, predicted significant)"#,
        ),
        (
            r#"precision_at_500"#,
            r#"precision_at_N with k = min(500, predicted significant)"#,
        ),
        (
            r#"de_spearman_sig"#,
            r#"Spearman correlation across perturbations of real and predicted numbers of significant genes (one value)"#,
        ),
        (
            r#"de_direction_match"#,
            r#"share of real significant genes predicted with the same sign"#,
        ),
        (
            r#"de_spearman_lfc_sig"#,
            r#"Spearman correlation of log2 fold changes over the real significant genes"#,
        ),
        (
            r#"de_sig_genes_recall"#,
            r#"share of real significant genes significant in the prediction"#,
        ),
        (
            r#"pr_auc"#,
            r#"average precision of -log10(predicted FDR) for the real significant genes"#,
        ),
        (
            r#"roc_auc"#,
            r#"ROC AUC of -log10(predicted FDR) for the real significant genes"#,
        ),
        (
            r#"pearson_delta"#,
            r#"Pearson correlation of predicted and real pseudobulk deltas"#,
        ),
        (
            r#"mse"#,
            r#"mean squared error of the pseudobulks (lower is better)"#,
        ),
        (
            r#"mae"#,
            r#"mean absolute error of the pseudobulks, the VCC's MAE (lower is better)"#,
        ),
        (r#"mse_delta"#, r#"mse of the deltas (lower is better)"#),
        (r#"mae_delta"#, r#"mae of the deltas (lower is better)"#),
        (
            r#"discrimination_score_l1"#,
            r#"1 - r / P by L1 distance of deltas, target gene left out (the VCC's PDS)"#,
        ),
        (
            r#"discrimination_score_l2"#,
            r#"discrimination by Euclidean distance"#,
        ),
        (
            r#"discrimination_score_cosine"#,
            r#"discrimination by cosine distance"#,
        ),
        (
            r#"pearson_edistance"#,
            r#"Pearson correlation across perturbations of real and predicted energy distances to the controls (one value)"#,
        ),
        (
            r#"from_baseline_overlap_at_N"#,
            r#"overlap_at_N normalised against the baseline predictor (0 = no better; not written for the baseline itself)"#,
        ),
        (
            r#"from_baseline_overlap_at_50"#,
            r#"overlap_at_50 normalised against the baseline predictor (0 = no better; not written for the baseline itself)"#,
        ),
        (
            r#"from_baseline_overlap_at_100"#,
            r#"overlap_at_100 normalised against the baseline predictor (0 = no better; not written for the baseline itself)"#,
        ),
        (
            r#"from_baseline_overlap_at_200"#,
            r#"overlap_at_200 normalised against the baseline predictor (0 = no better; not written for the baseline itself)"#,
        ),
        (
            r#"from_baseline_overlap_at_500"#,
            r#"overlap_at_500 normalised against the baseline predictor (0 = no better; not written for the baseline itself)"#,
        ),
        (
            r#"from_baseline_precision_at_N"#,
            r#"precision_at_N normalised against the baseline predictor (0 = no better; not written for the baseline itself)"#,
        ),
        (
            r#"from_baseline_precision_at_50"#,
            r#"precision_at_50 normalised against the baseline predictor (0 = no better; not written for the baseline itself)"#,
        ),
        (
            r#"from_baseline_precision_at_100"#,
            r#"precision_at_100 normalised against the baseline predictor (0 = no better; not written for the baseline itself)"#,
        ),
        (
            r#"from_baseline_precision_at_200"#,
            r#"precision_at_200 normalised against the baseline predictor (0 = no better; not written for the baseline itself)"#,
        ),
        (
            r#"from_baseline_precision_at_500"#,
            r#"precision_at_500 normalised against the baseline predictor (0 = no better; not written for the baseline itself)"#,
        ),
        (
            r#"from_baseline_de_spearman_sig"#,
            r#"de_spearman_sig normalised against the baseline predictor (0 = no better; not written for the baseline itself)"#,
        ),
        (
            r#"from_baseline_de_direction_match"#,
            r#"de_direction_match normalised against the baseline predictor (0 = no better; not written for the baseline itself)"#,
        ),
        (
            r#"from_baseline_de_spearman_lfc_sig"#,
            r#"de_spearman_lfc_sig normalised against the baseline predictor (0 = no better; not written for the baseline itself)"#,
        ),
        (
            r#"from_baseline_de_sig_genes_recall"#,
            r#"de_sig_genes_recall normalised against the baseline predictor (0 = no better; not written for the baseline itself)"#,
        ),
        (
            r#"from_baseline_pr_auc"#,
            r#"pr_auc normalised against the baseline predictor (0 = no better; not written for the baseline itself)"#,
        ),
        (
            r#"from_baseline_roc_auc"#,
            r#"roc_auc normalised against the baseline predictor (0 = no better; not written for the baseline itself)"#,
        ),
        (
            r#"from_baseline_pearson_delta"#,
            r#"pearson_delta normalised against the baseline predictor (0 = no better; not written for the baseline itself)"#,
        ),
        (
            r#"from_baseline_mse"#,
            r#"mse normalised against the baseline predictor (0 = no better; not written for the baseline itself)"#,
        ),
        (
            r#"from_baseline_mae"#,
            r#"mae normalised against the baseline predictor (0 = no better; not written for the baseline itself)"#,
        ),
        (
            r#"from_baseline_mse_delta"#,
            r#"mse_delta normalised against the baseline predictor (0 = no better; not written for the baseline itself)"#,
        ),
        (
            r#"from_baseline_mae_delta"#,
            r#"mae_delta normalised against the baseline predictor (0 = no better; not written for the baseline itself)"#,
        ),
        (
            r#"from_baseline_discrimination_score_l1"#,
            r#"discrimination_score_l1 normalised against the baseline predictor (0 = no better; not written for the baseline itself)"#,
        ),
        (
            r#"from_baseline_discrimination_score_l2"#,
            r#"discrimination_score_l2 normalised against the baseline predictor (0 = no better; not written for the baseline itself)"#,
        ),
        (
            r#"from_baseline_discrimination_score_cosine"#,
            r#"discrimination_score_cosine normalised against the baseline predictor (0 = no better; not written for the baseline itself)"#,
        ),
        (
            r#"from_baseline_pearson_edistance"#,
            r#"pearson_edistance normalised against the baseline predictor (0 = no better; not written for the baseline itself)"#,
        ),
        (
            r#"avg_score"#,
            r#"the VCC score: mean of the from_baseline_ values (not written for the baseline itself)"#,
        ),
    ],
    conventions: r#"cell-eval 0.8.1 with pdex 0.2 (convention pdex_0_2, the default): BH over each perturbation's genes; cell_eval_0_5 follows cell-eval 0.5.45 with pdex 0.1.24 as they ran (the challenge's scorer): BH over every test, fold change t / r (20 when r = 0, 1/20 when t = 0), pseudobulks as pdex 0.1 guesses the scale (plain means when the mean cell sum is at least 15, as for any log1p data of more than a few dozen genes; expm1 of the mean below), scipy's exact U test where a side has at most 8 cells and nothing ties, discrimination on absolute deltas, pr_auc as the trapezoid area under the precision-recall curve, a predicted FDR of 0 taken as 1e-10 and genes a table lacks left out, de_spearman_lfc_sig on the fold changes (a CI test runs cell-eval 0.5.45 itself). The mean predictor is cell-eval's `baseline` command on the training cells (`build_base_mean_adata`, as_delta false). The profile chooses cell-eval's metric set (full by default; vcc is the challenge's three: overlap_at_N, mae, discrimination_score_l1). The parity suite runs cell-eval on the same split of the Papalexi screen (the mean predictor built by cell-eval's `build_base_mean_adata` itself) and compares every row and per-perturbation value to 1e-6; the deliberate differences are those of `pertbench cell-eval` (README): pearson_edistance is undefined (empty row) for a predictor that gives every perturbation the same cells (mean, linear without features), where cell-eval correlates rounding noise, and cell-eval's float32 distances move it by up to about 1e-5 elsewhere. The representation is not read: pair the metric with `kind: features` and `raw`."#,
    references: &[
        r#"Roohani et al. 2025, Virtual Cell Challenge (Cell): DES, PDS, MAE and the baseline-normalised score."#,
        r#"cell-eval (ArcInstitute), MetricsEvaluator, build_base_mean_adata and score_agg_metrics; pdex parallel_differential_expression."#,
        r#"REFERENCE_TOOLS.md section 2; papers 001 to 003 (../shared/papers)."#,
    ],
};

impl MetricInfo for Vcc {
    fn explanation(&self) -> &'static Explanation {
        &EXPLANATION
    }
    fn version(&self) -> u32 {
        // 2: pearson_edistance's distance sums by sparse products, added in
        // a different order (values move at rounding level).
        // 3: convention cell_eval_0_5 follows cell-eval 0.5.45 / pdex
        // 0.1.24 as run: pdex's log1p guess (plain means when the mean
        // cell sum is >= 15), scipy's exact test for small untied groups,
        // discrimination on absolute deltas, pr_auc by trapezoids, FDR and
        // join rules of 0.5 (pdex_0_2 results do not move).
        3
    }
    fn task(&self) -> pertbench_schema::Task {
        pertbench_schema::Task::Prediction
    }
}

/// The held-out perturbations (sorted) and the training ones, as positions
/// of the metric context's rows.
struct Split {
    test: Vec<(String, Vec<usize>)>,
    train: Vec<(String, Vec<usize>)>,
    controls: Vec<usize>,
}

fn split(label: &str, o: &VccOptions, ctx: &MetricContext) -> Result<Split> {
    let fail = |m: String| EngineError::msg(format!("metric `{label}`: {m}"));
    let s = &ctx.ingest.samples;
    let controls: Vec<usize> = (0..ctx.rows.len())
        .filter(|&p| s.is_control[ctx.rows[p]])
        .collect();
    if controls.len() < 2 {
        return Err(fail(format!(
            "the dataset has {} control samples; the DE tests need 2 or more",
            controls.len()
        )));
    }
    let groups = perturbation_groups(ctx);
    let names: Vec<&String> = groups.keys().collect();
    let test: Vec<String> = match &o.test_perturbations {
        Some(listed) => {
            let missing: Vec<&String> = listed
                .iter()
                .filter(|p| !groups.contains_key(p.as_str()))
                .collect();
            if !missing.is_empty() {
                let some: Vec<&&String> = names.iter().take(8).collect();
                return Err(fail(format!(
                    "test_perturbations {missing:?} are not perturbations of the dataset (it has {} perturbations, e.g. {some:?})",
                    names.len()
                )));
            }
            let mut t = listed.clone();
            t.sort();
            t
        }
        None => {
            let n = names.len();
            if n < 3 {
                return Err(fail(format!(
                    "the dataset has {n} perturbations; a split needs 3 or more (2 held out, 1 to train on)"
                )));
            }
            let k = ((o.test_fraction() * n as f64).round() as usize).clamp(2, n - 1);
            let all: Vec<usize> = (0..n).collect();
            sample_queries(&all, Some(k), ctx.seed, "vcc/test")
                .into_iter()
                .map(|i| names[i].clone())
                .collect()
        }
    };
    let mut test_groups = Vec::new();
    let mut train = Vec::new();
    for (name, positions) in groups {
        if test.binary_search(&name).is_ok() {
            test_groups.push((name, positions));
        } else {
            train.push((name, positions));
        }
    }
    if train.is_empty() {
        return Err(fail(
            "every perturbation is held out; the predictors need 1 or more to train on".into(),
        ));
    }
    Ok(Split {
        test: test_groups,
        train,
        controls,
    })
}

/// The dataset's cells on cell-eval's scale: `value(p, stored)` for the
/// cell at position `p`.
struct Cells<'a> {
    x: CsrMatrix,
    scale: Scale,
    genes: &'a [String],
}

impl Cells<'_> {
    fn push_row(&self, b: &mut CsrBuilder, p: usize) {
        for (j, v) in self.x.row(p) {
            let t = self.scale.value(p, v);
            if t != 0.0 {
                b.push(j as u32, t);
            }
        }
        b.finish_row();
    }
}

/// The pseudobulks the predictors are trained on: the controls' and each
/// training perturbation's (in `Split::train` order).
struct Training {
    control: Array1<f64>,
    train: Vec<Array1<f64>>,
}

impl Training {
    fn new(cells: &Cells, split: &Split) -> Training {
        let mean = |positions: &[usize]| cell_eval::pseudobulk(&cells.x, &cells.scale, positions);
        Training {
            control: mean(&split.controls),
            train: split.train.iter().map(|(_, p)| mean(p)).collect(),
        }
    }
}

/// A predictor's cells of the held-out perturbations.
enum Predicted {
    /// Row k: the profile of every cell of held-out perturbation k.
    Profiles(Array2<f64>),
    /// Control cells, taken in turn (dataset order, cyclically).
    ControlCells,
}

/// Held-out cells (real, or predicted when `predicted` is given) and the
/// controls as cell-eval reads them.
fn grouped(
    cells: &Cells,
    split: &Split,
    predicted: Option<&Predicted>,
    name: &str,
) -> Result<GroupedCells> {
    let mut b = CsrBuilder::new(cells.genes.len());
    let mut rows = Vec::with_capacity(split.test.len());
    let mut next = 0usize;
    for (k, (_, positions)) in split.test.iter().enumerate() {
        let mut r = Vec::with_capacity(positions.len());
        match predicted {
            None => {
                for &p in positions {
                    cells.push_row(&mut b, p);
                }
            }
            Some(Predicted::ControlCells) => {
                for i in next..next + positions.len() {
                    cells.push_row(&mut b, split.controls[i % split.controls.len()]);
                }
            }
            Some(Predicted::Profiles(m)) => {
                let profile: Vec<(u32, f32)> = m
                    .row(k)
                    .iter()
                    .enumerate()
                    .map(|(j, &v)| (j as u32, v.max(0.0) as f32))
                    .filter(|&(_, v)| v != 0.0)
                    .collect();
                for _ in positions {
                    for &(j, v) in &profile {
                        b.push(j, v);
                    }
                    b.finish_row();
                }
            }
        }
        r.extend(next..next + positions.len());
        next += positions.len();
        rows.push(r);
    }
    for &p in &split.controls {
        cells.push_row(&mut b, p);
    }
    let control_rows: Vec<usize> = (next..next + split.controls.len()).collect();
    let x = b
        .build()
        .map_err(EngineError::kernel(format!("the {name} cells")))?;
    Ok(GroupedCells {
        path: name.into(),
        genes: cells.genes.to_vec(),
        x,
        scale: Scale::Log1p,
        allow_discrete: false,
        dropped: Default::default(),
        control: "<control>".into(),
        control_rows,
        perturbations: split.test.iter().map(|(n, _)| n.clone()).collect(),
        rows,
    })
}

/// A predictor's cells of each held-out perturbation, and a note for the
/// convention.
fn predict(
    predictor: VccPredictor,
    label: &str,
    o: &VccOptions,
    ctx: &MetricContext,
    split: &Split,
    training: &Training,
) -> Result<(Predicted, String)> {
    let Training { control, train } = training;
    let g = control.len();
    let n_test = split.test.len();
    let repeated = |v: &[f64]| Array2::from_shape_fn((n_test, g), |(_, j)| v[j]);
    match predictor {
        VccPredictor::Control => Ok((Predicted::ControlCells, String::new())),
        VccPredictor::Mean => {
            // cell-eval averages the pseudobulks of every group of the
            // training data, the controls' included.
            let mut mean = control.to_vec();
            for t in train {
                for (m, v) in mean.iter_mut().zip(t) {
                    *m += v;
                }
            }
            let groups = (train.len() + 1) as f64;
            mean.iter_mut().for_each(|m| *m /= groups);
            Ok((Predicted::Profiles(repeated(&mean)), String::new()))
        }
        VccPredictor::Linear => {
            let lambda = o.ridge_lambda();
            let (features, note) = super::features::perturbation_features(
                o.features.as_ref(),
                o.n_features(),
                ctx,
                label,
            )?;
            let with: Vec<usize> = (0..train.len())
                .filter(|&i| features.contains_key(&split.train[i].0))
                .collect();
            if with.len() < 3 {
                return Err(EngineError::msg(format!(
                    "metric `{label}` (linear): {} training perturbations have features; the ridge needs 3 or more",
                    with.len()
                )));
            }
            let k = features[&split.train[with[0]].0].len();
            let x = Array2::from_shape_fn((with.len(), k), |(a, j)| {
                features[&split.train[with[a]].0][j]
            });
            let y = Array2::from_shape_fn((with.len(), g), |(a, j)| train[with[a]][j] - control[j]);
            let test_with: Vec<usize> = (0..n_test)
                .filter(|&i| features.contains_key(&split.test[i].0))
                .collect();
            let t = Array2::from_shape_fn((test_with.len(), k), |(a, j)| {
                features[&split.test[test_with[a]].0][j]
            });
            let what = format!("metric `{label}` (linear)");
            let map = RidgeMap::new(x.view(), t.view(), lambda)
                .map_err(EngineError::kernel(what.clone()))?;
            let delta = map.predict(y.view()).map_err(EngineError::kernel(what))?;
            // Without features: the ridge's intercept, the mean training delta.
            let intercept: Vec<f64> = (0..g)
                .map(|j| y.column(j).sum() / with.len() as f64)
                .collect();
            let mut out = Array2::from_shape_fn((n_test, g), |(_, j)| control[j] + intercept[j]);
            for (a, &i) in test_with.iter().enumerate() {
                for j in 0..g {
                    out[(i, j)] = control[j] + delta[(a, j)];
                }
            }
            Ok((
                Predicted::Profiles(out),
                format!(
                    ";{note};ridge_lambda={lambda};training_with_features={};held_out_without_features={}",
                    with.len(),
                    n_test - test_with.len()
                ),
            ))
        }
    }
}

/// Each scored metric's summary as a row (`de_nsig_counts_*` are counts,
/// not scores: details only).
fn summary_rows(
    label: &str,
    source: &str,
    e: &Evaluation,
    summaries: &[Summary],
    convention: &str,
) -> Vec<MetricRow> {
    summaries
        .iter()
        .zip(&e.columns)
        .filter(|(s, _)| s.best.is_some())
        .map(|(s, column)| {
            let [count, _, mean, ..] = s.values;
            let (lo, hi) = (s.values[9], s.values[10]);
            let mut convention = convention.to_string();
            let value = if mean.is_nan() {
                let nan = column.values.iter().flatten().filter(|v| v.is_nan()).count();
                convention += &if count == 0.0 {
                    ";undefined: no held-out perturbation has a value".to_string()
                } else {
                    format!(
                        ";undefined: NaN for {nan} of {count} held-out perturbations (e.g. a correlation of equal values, an AUC without real significant genes); the mean keeps NaN, as cell-eval's does"
                    )
                };
                None
            } else {
                Some(mean)
            };
            MetricRow {
                metric: label.to_string(),
                source: Some(source.to_string()),
                variant: s.name.clone(),
                value,
                n_items: count as u64,
                null_size: 0,
                convention,
                ci_low: (value.is_some() && lo.is_finite()).then_some(lo),
                ci_high: (value.is_some() && hi.is_finite()).then_some(hi),
                null_mean: None,
                p_value: None,
            }
        })
        .collect()
}

impl Metric for Vcc {
    type Options = VccOptions;

    fn validate(&self, o: &VccOptions) -> std::result::Result<(), String> {
        options::check(o)
    }
    fn inputs(&self, o: &VccOptions) -> MetricInputs {
        MetricInputs {
            files: feature_table_input(o.features.as_ref())
                .into_iter()
                .collect(),
            datasets: vec![],
        }
    }
    fn seeded(&self, _o: &VccOptions) -> bool {
        true
    }
    fn compute(&self, label: &str, o: &VccOptions, ctx: &MetricContext) -> Result<MetricOutput> {
        let counts = ctx.ingest.counts.as_ref().ok_or_else(|| {
            EngineError::msg(format!(
                "metric `{label}`: needs the dataset's expression (counts or log1p values), but it has none"
            ))
        })?;
        let split = split(label, o, ctx)?;
        let x = counts.select_rows(ctx.rows);
        let scale = decide_scale(&x, true, false).map_err(|e| {
            EngineError::msg(format!("metric `{label}`: the dataset's expression: {e}"))
        })?;
        let scale_note = scale.describe();
        let cells = Cells {
            x,
            scale,
            genes: &ctx.ingest.genes,
        };
        let real = grouped(&cells, &split, None, "held-out real")?;
        let profile = o.profile();
        let convention = o.convention();
        let reads_de = profile.metrics().iter().any(|m| m.reads == Reads::De);
        let real_de = if reads_de {
            Some(cell_eval::de_side(&de::run(&real, convention, ctx.par)?))
        } else {
            None
        };
        let n_boot = o.n_bootstrap();
        let baseline = o.baseline();
        let split_note = match &o.test_perturbations {
            Some(_) => "listed".to_string(),
            None => format!("test_fraction={} (seed {})", o.test_fraction(), ctx.seed),
        };
        let base_convention = format!(
            "cell_eval;de={};profile={};values={scale_note};held_out={} of {} perturbations ({split_note});controls={} (shared);baseline={};bootstrap={n_boot}",
            convention.name(),
            profile.name(),
            split.test.len(),
            split.test.len() + split.train.len(),
            split.controls.len(),
            baseline.name(),
        );
        let training = Training::new(&cells, &split);
        let mut evaluated: Vec<(VccPredictor, Evaluation, Vec<Summary>, String)> = Vec::new();
        for predictor in o.predictor_list() {
            let (predicted, note) = predict(predictor, label, o, ctx, &split, &training)?;
            let pred = grouped(&cells, &split, Some(&predicted), predictor.name())?;
            let source = match &real_de {
                Some(r) => DeSource::Tables(
                    r.clone(),
                    cell_eval::de_side(&de::run(&pred, convention, ctx.par)?),
                ),
                None => DeSource::Compute,
            };
            let e = cell_eval::evaluate(&real, &pred, profile, convention, source, ctx.par)?;
            let summaries = aggregate::summarise(&e, n_boot, ctx.seed)?;
            evaluated.push((predictor, e, summaries, format!("{base_convention}{note}")));
        }
        let base = evaluated
            .iter()
            .find(|(p, ..)| *p == baseline)
            .map(|(_, _, s, _)| s.clone())
            .expect("validated: the baseline is a predictor");
        let mut rows = Vec::new();
        for (predictor, e, summaries, convention) in &evaluated {
            rows.extend(summary_rows(
                label,
                predictor.name(),
                e,
                summaries,
                convention,
            ));
            if *predictor == baseline {
                continue;
            }
            let (scored, average) = aggregate::score(summaries, &base)?;
            let n = split.test.len() as u64;
            let row = |variant: String, value: f64| MetricRow {
                metric: label.to_string(),
                source: Some(predictor.name().to_string()),
                variant,
                value: Some(value),
                n_items: n,
                null_size: 0,
                convention: format!("{convention};against={}", baseline.name()),
                ci_low: None,
                ci_high: None,
                null_mean: None,
                p_value: None,
            };
            for s in scored {
                rows.push(row(format!("from_baseline_{}", s.metric), s.from_baseline));
            }
            rows.push(row("avg_score".into(), average));
        }
        let (mut source, mut perturbation, mut metric, mut value) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for (predictor, e, ..) in &evaluated {
            for c in &e.columns {
                for (k, v) in c.values.iter().enumerate() {
                    source.push(predictor.name());
                    perturbation.push(e.perturbations[k].clone());
                    metric.push(c.name.clone());
                    value.push(*v);
                }
            }
        }
        let schema = Schema::new(vec![
            Field::new("predictor", DataType::Utf8, false),
            Field::new("perturbation", DataType::Utf8, false),
            Field::new("metric", DataType::Utf8, false),
            Field::new("value", DataType::Float64, true),
        ]);
        let details = RecordBatch::try_new(
            Arc::new(schema),
            vec![
                Arc::new(StringArray::from(source)),
                Arc::new(StringArray::from(perturbation)),
                Arc::new(StringArray::from(metric)),
                Arc::new(Float64Array::from(value)),
            ],
        )
        .expect("schema matches");
        Ok(MetricOutput {
            rows,
            details: Some(details),
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::cell_eval::metric_set::Profile;
    use crate::differential_expression::DeConvention;

    #[test]
    fn option_names_are_the_command_line_names() {
        for c in DeConvention::ALL {
            assert_eq!(serde_json::to_value(c).unwrap(), c.name());
        }
        for p in Profile::ALL {
            assert_eq!(serde_json::to_value(p).unwrap(), p.name());
        }
    }
}
