//! Prediction evaluation (METRICS.md "Distribution and prediction metrics",
//! papers 000 and 001): predicted samples of each perturbation against its
//! real samples.
//!
//! A unit is a perturbation within a context (the perturbation alone without
//! contexts or with `controls: all`), with 2 or more samples, in a context
//! with 2 or more controls. Shifts are taken against the context's controls:
//! real shift = mean(real) - mean(controls), predicted shift =
//! mean(predicted) - mean(controls).
//!
//! Predictors (each row's `source`):
//! - `control`: the controls themselves (a zero shift);
//! - `mean`: the controls moved by the mean treated shift of the context
//!   (all of its perturbations, the held-out one included), so every
//!   perturbation gets the same answer (paper 001's "average treated cell");
//! - `linear`: the controls moved by a ridge map from the perturbation's
//!   features to its shift, fitted on the other perturbations of the
//!   context (exact leave-one-out; features as in `transfer`);
//! - each `predictions` file: a model's predicted samples (h5ad or table, in
//!   `space: expression`). Its perturbations (and contexts) must be exactly
//!   those of the real data, and its genes the dataset's.
//!
//! Scores per unit, averaged over units with a seeded bootstrap 95% interval:
//! - `discrimination_score`: the predicted shift's distance to every real
//!   shift of the context ranks the truth at r (0-based; `ties: strict`
//!   counts only strictly closer perturbations, `pessimistic` equal ones
//!   too); score 1 - r / N with N the context's units; `top1_identified`
//!   the share with r = 0;
//! - `pearson_delta`: Pearson correlation of predicted and real shifts over
//!   dimensions (undefined for a constant shift such as `control`'s: the row
//!   is empty and says so);
//! - `mse`: mean over dimensions of (predicted - real shift)^2;
//! - `energy_to_real`: U-statistic energy distance between predicted and
//!   real samples, each side a seeded sample of at most `max_samples`
//!   (default 500).
//!
//! Space: the post-processed representation (default), or `space:
//! expression`: the dataset's expression (lognorm of counts, or as stored)
//! on the prediction files' genes, or else the `n_genes` (default 1,000)
//! genes of highest variance over the real samples.

mod options;
mod space;

pub use options::*;
use space::{top_variance_genes, Space};

use super::options::shared::feature_table_input;
use super::{
    context_units, rows_of, sample_queries, ContextUnits, Explanation, Metric, MetricContext,
    MetricInfo, MetricOutput, MetricRow,
};
use super::{InputFile, MetricInputs};
use crate::error::{EngineError, Result};
use arrow::array::{Float64Array, RecordBatch, StringArray, UInt64Array};
use arrow::datatypes::{DataType, Field, Schema};
use ndarray::{Array1, Array2};
use pertbench_kernels::stats::bootstrap::mean_interval;
use pertbench_kernels::stats::distribution::{energy_distance, pooled, EnergyConvention};
use pertbench_kernels::tasks::decoder::pearson;
use pertbench_kernels::tasks::discrimination::{discrimination, TieRule};
use rayon::prelude::*;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

pub struct Prediction;

pub const DEFAULT_N_GENES: usize = 1000;
pub const DEFAULT_MAX_SAMPLES: usize = 500;

struct Unit {
    perturbation: String,
    context: Option<String>,
    positions: Vec<usize>,
}

/// One predictor's answer for one unit.
struct Predicted {
    shift: Array1<f64>,
    /// Predicted samples for the energy distance.
    samples: Array2<f64>,
}

#[derive(Clone, Copy, Default)]
struct UnitScore {
    rank: usize,
    score: f64,
    pearson: Option<f64>,
    mse: f64,
    energy: f64,
}

fn load_file(
    f: &PredictionFile,
    label: &str,
) -> Result<pertbench_data::predictions::PredictedSamples> {
    pertbench_data::predictions::read_predictions(
        &f.path,
        &f.perturbation_column,
        f.context_column.as_deref(),
    )
    .map_err(|e| EngineError::msg(format!("metric `{label}`: predictions `{}`: {e}", f.name)))
}

fn listed(v: &[String]) -> String {
    let mut s = v
        .iter()
        .take(5)
        .map(|x| format!("`{x}`"))
        .collect::<Vec<_>>()
        .join(", ");
    if v.len() > 5 {
        s.push_str(&format!(" and {} more", v.len() - 5));
    }
    s
}

static EXPLANATION: Explanation = Explanation {
    summary: r#"Prediction evaluation: predicted samples of each perturbation against its real samples (discrimination rank, Pearson delta, MSE, energy distance)."#,
    definition: r#"A unit is a perturbation within a context with 2 or more samples, in a context with 2 or more controls. Real shift = mean(real) - mean(controls); predicted shift = mean(predicted) - mean(controls). Predictors: control (a zero shift), mean (the context's mean treated shift for every perturbation: the 'average treated cell'), linear (a leave-one-out ridge map from perturbation features), and each prediction file. Per unit: discrimination ranks every real shift of the context by distance to the predicted shift; the truth's 0-based rank r gives 1 - r / N; pearson_delta correlates predicted and real shifts; mse averages their squared difference; energy_to_real is the U-statistic energy distance between predicted and real samples (at most max_samples each). Scores are averaged over units with a bootstrap interval; each row's `source` is the predictor."#,
    variants: &[
        (r#"discrimination_score"#, r#"mean of 1 - rank / N"#),
        (
            r#"top1_identified"#,
            r#"share of units whose own real shift is the closest"#,
        ),
        (
            r#"pearson_delta"#,
            r#"mean Pearson correlation of predicted and real shifts (empty for a constant shift)"#,
        ),
        (
            r#"mse"#,
            r#"mean squared error of the shifts (lower is better)"#,
        ),
        (
            r#"energy_to_real"#,
            r#"mean energy distance of predicted to real samples (lower is better)"#,
        ),
    ],
    conventions: r#"Discrimination ranks with ties counted as not closer (strict) by default; `ties: pessimistic` counts them against the prediction. Paper 001's point that the 'average treated cell' scores well on distribution distances is why `mean` is a built-in baseline."#,
    references: &[
        r#"Papers 000 and 001 (../shared/papers): prediction metrics and the average-treated-cell baseline."#,
        r#"METRICS.md, Distribution and prediction metrics."#,
    ],
};

impl MetricInfo for Prediction {
    fn explanation(&self) -> &'static Explanation {
        &EXPLANATION
    }
    fn version(&self) -> u32 {
        1
    }
    fn task(&self) -> pertbench_schema::Task {
        pertbench_schema::Task::Prediction
    }
}

impl Metric for Prediction {
    type Options = PredictionOptions;

    fn validate(&self, o: &PredictionOptions) -> std::result::Result<(), String> {
        options::check(o)
    }
    fn inputs(&self, o: &PredictionOptions) -> MetricInputs {
        let mut files: Vec<InputFile> = feature_table_input(o.features.as_ref())
            .into_iter()
            .collect();
        for (k, f) in o.predictions.iter().flatten().enumerate() {
            files.push(InputFile {
                key: format!("predictions_sha256_{k}"),
                what: format!("predictions `{}`", f.name),
                path: f.path.clone(),
            });
        }
        MetricInputs {
            files,
            datasets: vec![],
        }
    }
    fn seeded(&self, _o: &PredictionOptions) -> bool {
        true
    }
    fn compute(
        &self,
        label: &str,
        o: &PredictionOptions,
        ctx: &MetricContext,
    ) -> Result<MetricOutput> {
        let label = label.to_string();
        let n_boot = o.n_bootstrap();
        let max_samples = o.max_samples();
        let rule = match o.ties() {
            TiesSpec::Strict => TieRule::Strict,
            TiesSpec::Pessimistic => TieRule::Pessimistic,
        };
        let predictors: Vec<Predictor> = match &o.predictors {
            Some(p) => {
                let mut p = p.clone();
                p.sort();
                p.dedup();
                p
            }
            None if o.features.is_some() => {
                vec![Predictor::Control, Predictor::Mean, Predictor::Linear]
            }
            None => vec![Predictor::Control, Predictor::Mean],
        };
        let ContextUnits {
            by_context,
            pools,
            units,
            too_small: small,
            without_controls,
        } = context_units(ctx, o.controls());
        let units: Vec<Unit> = units
            .into_iter()
            .map(|(perturbation, context, positions)| Unit {
                perturbation,
                context,
                positions,
            })
            .collect();
        if units.is_empty() {
            return Err(EngineError::msg(format!(
                "metric `{label}`: no perturbation has 2 or more samples in a context with 2 or more controls ({small} with fewer than 2 samples, {without_controls} without controls)"
            )));
        }
        // Prediction files, checked against the real data.
        let files: Vec<(String, pertbench_data::predictions::PredictedSamples)> = o
            .predictions
            .iter()
            .flatten()
            .map(|f| Ok((f.name.clone(), load_file(f, &label)?)))
            .collect::<Result<_>>()?;
        let gene_index: HashMap<&str, usize> = ctx
            .ingest
            .genes
            .iter()
            .enumerate()
            .map(|(i, g)| (g.as_str(), i))
            .collect();
        let mut file_genes: Option<Vec<usize>> = None;
        let mut file_rows: Vec<Vec<Vec<usize>>> = Vec::new();
        for (name, f) in &files {
            let unknown: Vec<String> = f
                .genes
                .iter()
                .filter(|g| !gene_index.contains_key(g.as_str()))
                .cloned()
                .collect();
            if !unknown.is_empty() {
                return Err(EngineError::msg(format!(
                    "metric `{label}`: predictions `{name}`: {} of its {} genes are not genes of the dataset: {}",
                    unknown.len(),
                    f.genes.len(),
                    listed(&unknown)
                )));
            }
            let idx: Vec<usize> = f.genes.iter().map(|g| gene_index[g.as_str()]).collect();
            match &file_genes {
                None => file_genes = Some(idx),
                Some(first) if *first != idx => {
                    return Err(EngineError::msg(format!(
                        "metric `{label}`: predictions `{name}` has other genes (or another gene order) than `{}`",
                        files[0].0
                    )))
                }
                _ => {}
            }
            let file_perturbations: std::collections::BTreeSet<&str> =
                f.perturbation.iter().map(String::as_str).collect();
            let real: std::collections::BTreeSet<&str> =
                units.iter().map(|u| u.perturbation.as_str()).collect();
            let extra: Vec<String> = file_perturbations
                .iter()
                .filter(|p| !real.contains(**p))
                .map(|p| p.to_string())
                .collect();
            if !extra.is_empty() {
                return Err(EngineError::msg(format!(
                    "metric `{label}`: predictions `{name}`: {} perturbation(s) not among the real data's evaluated perturbations: {}",
                    extra.len(),
                    listed(&extra)
                )));
            }
            // Each unit's predicted samples: the file's rows of its
            // perturbation, and of its context when both have contexts.
            let mut by_perturbation: HashMap<&str, Vec<usize>> = HashMap::new();
            for (r, p) in f.perturbation.iter().enumerate() {
                by_perturbation.entry(p.as_str()).or_default().push(r);
            }
            let rows: Vec<Vec<usize>> = units
                .iter()
                .map(|u| {
                    let all = by_perturbation
                        .get(u.perturbation.as_str())
                        .map_or(&[][..], Vec::as_slice);
                    match (&f.context, &u.context) {
                        (Some(fc), Some(c)) => {
                            all.iter().copied().filter(|&r| &fc[r] == c).collect()
                        }
                        _ => all.to_vec(),
                    }
                })
                .collect();
            let missing: Vec<String> = units
                .iter()
                .zip(&rows)
                .filter(|(_, r)| r.is_empty())
                .map(|(u, _)| match &u.context {
                    Some(c) => format!("{} in {c}", u.perturbation),
                    None => u.perturbation.clone(),
                })
                .collect();
            if !missing.is_empty() {
                return Err(EngineError::msg(format!(
                    "metric `{label}`: predictions `{name}` has no samples for {} real unit(s): {}",
                    missing.len(),
                    listed(&missing)
                )));
            }
            file_rows.push(rows);
        }
        let space = match o.space() {
            PredictionSpace::Representation => Space::Representation(ctx.matrix),
            PredictionSpace::Expression => {
                if ctx.ingest.counts.is_none() {
                    return Err(EngineError::msg(format!("metric `{label}`: `space: expression` needs the dataset's expression, but it has none")));
                }
                let all: Vec<usize> = (0..ctx.rows.len()).collect();
                let n = o.n_genes.unwrap_or(match &file_genes {
                    Some(g) => g.len(),
                    None => DEFAULT_N_GENES,
                });
                let columns =
                    top_variance_genes(ctx.ingest, &all, ctx.rows, n, file_genes.as_deref());
                Space::Expression {
                    ingest: ctx.ingest,
                    columns,
                }
            }
        };
        let space_note = match &space {
            Space::Representation(_) => "space=representation".to_string(),
            Space::Expression { columns, .. } => {
                format!("space=expression;genes={}", columns.len())
            }
        };
        // Controls per context: mean and a seeded sample.
        let mut control_mean: BTreeMap<Option<String>, Array1<f64>> = BTreeMap::new();
        let mut control_sample: BTreeMap<Option<String>, Array2<f64>> = BTreeMap::new();
        for (c, pos) in &pools {
            control_mean.insert(c.clone(), space.mean(pos, ctx.rows));
            let pick = sample_queries(
                pos,
                Some(max_samples),
                ctx.seed,
                &format!("prediction/controls/{c:?}"),
            );
            control_sample.insert(c.clone(), space.matrix(&pick, ctx.rows));
        }
        let real_shift: Vec<Array1<f64>> = units
            .par_iter()
            .map(|u| space.mean(&u.positions, ctx.rows) - &control_mean[&u.context])
            .collect();
        let real_sample: Vec<Array2<f64>> = units
            .par_iter()
            .enumerate()
            .map(|(i, u)| {
                space.matrix(
                    &sample_queries(
                        &u.positions,
                        Some(max_samples),
                        ctx.seed,
                        &format!("prediction/real/{i}"),
                    ),
                    ctx.rows,
                )
            })
            .collect();
        // Units per context, for discrimination, the mean and the ridge.
        let mut in_context: BTreeMap<Option<String>, Vec<usize>> = BTreeMap::new();
        for (i, u) in units.iter().enumerate() {
            in_context.entry(u.context.clone()).or_default().push(i);
        }
        let shifted = |c: &Option<String>, shift: &Array1<f64>| &control_sample[c] + shift;
        let mut answers: Vec<(String, Vec<Option<Predicted>>, String)> = Vec::new();
        for &p in &predictors {
            let mut out: Vec<Option<Predicted>> = (0..units.len()).map(|_| None).collect();
            let mut note = String::new();
            match p {
                Predictor::Control => {
                    for (i, u) in units.iter().enumerate() {
                        out[i] = Some(Predicted {
                            shift: Array1::zeros(space.dims()),
                            samples: control_sample[&u.context].clone(),
                        });
                    }
                }
                Predictor::Mean => {
                    for (c, members) in &in_context {
                        let treated: Vec<usize> = members
                            .iter()
                            .flat_map(|&i| units[i].positions.iter().copied())
                            .collect();
                        let shift = space.mean(&treated, ctx.rows) - &control_mean[c];
                        for &i in members {
                            out[i] = Some(Predicted {
                                shift: shift.clone(),
                                samples: shifted(c, &shift),
                            });
                        }
                    }
                }
                Predictor::Linear => {
                    let lambda = o.ridge_lambda();
                    let (features, feature_note) = super::features::perturbation_features(
                        o.features.as_ref(),
                        o.n_features(),
                        ctx,
                        &label,
                    )?;
                    let mut unscored = 0usize;
                    for (c, members) in &in_context {
                        let what = format!("metric `{label}` (linear)");
                        let name_of = |i: usize| units[i].perturbation.as_str();
                        let (with, ridge) = super::features::group_ridge(
                            members, name_of, &features, lambda, &what,
                        )?;
                        let Some(ridge) = ridge else {
                            unscored += members.len();
                            continue;
                        };
                        unscored += members.len() - with.len();
                        let y = Array2::from_shape_fn((with.len(), space.dims()), |(a, j)| {
                            real_shift[with[a]][j]
                        });
                        let pred = ridge
                            .predict_left_out(y.view())
                            .map_err(EngineError::kernel(what))?;
                        for (a, &i) in with.iter().enumerate() {
                            let shift = pred.row(a).to_owned();
                            out[i] = Some(Predicted {
                                samples: shifted(c, &shift),
                                shift,
                            });
                        }
                    }
                    note = format!(
                        ";{feature_note};ridge_lambda={lambda};units_not_predicted={unscored}"
                    );
                }
            }
            answers.push((p.name().to_string(), out, note));
        }
        for ((name, f), unit_rows) in files.iter().zip(&file_rows) {
            let mut out: Vec<Option<Predicted>> = (0..units.len()).map(|_| None).collect();
            let columns: Vec<usize> = match &space {
                Space::Expression { columns, .. } => {
                    let pos_in_file: HashMap<usize, usize> = f
                        .genes
                        .iter()
                        .enumerate()
                        .map(|(j, g)| (gene_index[g.as_str()], j))
                        .collect();
                    columns.iter().map(|g| pos_in_file[g]).collect()
                }
                Space::Representation(_) => unreachable!("validated: files need space: expression"),
            };
            for (i, u) in units.iter().enumerate() {
                let rows = sample_queries(
                    &unit_rows[i],
                    Some(max_samples),
                    ctx.seed,
                    &format!("prediction/file/{name}/{i}"),
                );
                let samples = Array2::from_shape_fn((rows.len(), columns.len()), |(a, j)| {
                    f.values[(rows[a], columns[j])] as f64
                });
                let shift = samples.mean_axis(ndarray::Axis(0)).expect("rows checked")
                    - &control_mean[&u.context];
                out[i] = Some(Predicted { shift, samples });
            }
            answers.push((name.clone(), out, format!(";file={}", name)));
        }

        // Scores.
        let err = |e| EngineError::kernel(format!("metric `{label}`"))(e);
        let mut rows: Vec<MetricRow> = Vec::new();
        let mut details: Vec<(String, usize, UnitScore)> = Vec::new();
        for (k, (name, answer, note)) in answers.iter().enumerate() {
            let mut scores: Vec<Option<UnitScore>> = vec![None; units.len()];
            for members in in_context.values() {
                // (row in the context's matrices, unit) of the units with an answer.
                let have: Vec<(usize, usize)> = members
                    .iter()
                    .copied()
                    .enumerate()
                    .filter(|&(_, i)| answer[i].is_some())
                    .collect();
                if have.is_empty() {
                    continue;
                }
                // Discrimination ranks against all real units of the context.
                let d = space.dims();
                let real =
                    Array2::from_shape_fn((members.len(), d), |(a, j)| real_shift[members[a]][j]);
                let mut predicted = real.clone();
                for (a, &i) in members.iter().enumerate() {
                    if let Some(p) = &answer[i] {
                        predicted.row_mut(a).assign(&p.shift);
                    }
                }
                let disc = discrimination(predicted.view(), real.view(), rule).map_err(err)?;
                let per: Vec<Result<(usize, UnitScore)>> = have
                    .par_iter()
                    .map(|&(a, i)| {
                        let p = answer[i].as_ref().expect("have");
                        let (rank, score) = disc.ranks[a];
                        let real_s = real_shift[i].as_slice().expect("contiguous");
                        let pred_s = p.shift.as_slice().expect("contiguous");
                        let mse = real_s
                            .iter()
                            .zip(pred_s)
                            .map(|(a, b)| (a - b) * (a - b))
                            .sum::<f64>()
                            / d as f64;
                        let energy = if p.samples.nrows() >= 2 {
                            energy_distance(
                                &pooled(p.samples.view(), real_sample[i].view()).map_err(err)?,
                                EnergyConvention::UStatistic,
                            )
                        } else {
                            f64::NAN
                        };
                        Ok((
                            i,
                            UnitScore {
                                rank,
                                score,
                                pearson: pearson(pred_s, real_s),
                                mse,
                                energy,
                            },
                        ))
                    })
                    .collect();
                for r in per {
                    let (i, sc) = r?;
                    scores[i] = Some(sc);
                }
            }
            let scored: Vec<usize> = (0..units.len()).filter(|&i| scores[i].is_some()).collect();
            let conv = format!(
                "{space_note};controls={};ties={};max_samples={max_samples};energy=u_statistic;bootstrap={n_boot};units_too_small={small};units_without_controls={without_controls}{note}",
                if by_context { "context" } else { "all" },
                if rule == TieRule::Strict { "strict" } else { "pessimistic" },
            );
            let stats: [(&str, Box<dyn Fn(&UnitScore) -> Option<f64>>); 5] = [
                (
                    "discrimination_score",
                    Box::new(|s: &UnitScore| Some(s.score)),
                ),
                (
                    "top1_identified",
                    Box::new(|s: &UnitScore| Some(f64::from(u8::from(s.rank == 0)))),
                ),
                ("pearson_delta", Box::new(|s: &UnitScore| s.pearson)),
                ("mse", Box::new(|s: &UnitScore| Some(s.mse))),
                (
                    "energy_to_real",
                    Box::new(|s: &UnitScore| s.energy.is_finite().then_some(s.energy)),
                ),
            ];
            for (t, (variant, get)) in stats.iter().enumerate() {
                let values: Vec<f64> = scored
                    .iter()
                    .filter_map(|&i| get(scores[i].as_ref().unwrap()))
                    .collect();
                let mut row = if values.is_empty() {
                    let why = if *variant == "pearson_delta" {
                        "the predicted shift is constant (e.g. zero) for every unit"
                    } else {
                        "no unit could be scored"
                    };
                    rows_of(&label, 0, 0, &format!("{conv};{why}"), &[(variant, None)]).remove(0)
                } else {
                    let v = values.iter().sum::<f64>() / values.len() as f64;
                    let seed = ctx.seed ^ ((k as u64) << 8 | t as u64 + 1);
                    rows_of(&label, values.len(), 0, &conv, &[(variant, Some(v))])
                        .remove(0)
                        .with_interval(mean_interval(&values, n_boot, 0.95, seed).map_err(err)?)
                };
                row.source = Some(name.clone());
                rows.push(row);
            }
            for &i in &scored {
                details.push((name.clone(), i, scores[i].unwrap()));
            }
        }
        let schema = Schema::new(vec![
            Field::new("predictor", DataType::Utf8, false),
            Field::new("perturbation", DataType::Utf8, false),
            Field::new("context", DataType::Utf8, true),
            Field::new("rank", DataType::UInt64, false),
            Field::new("discrimination_score", DataType::Float64, false),
            Field::new("pearson_delta", DataType::Float64, true),
            Field::new("mse", DataType::Float64, false),
            Field::new("energy_to_real", DataType::Float64, true),
        ]);
        let batch = RecordBatch::try_new(
            Arc::new(schema),
            vec![
                Arc::new(StringArray::from(
                    details.iter().map(|d| d.0.clone()).collect::<Vec<_>>(),
                )),
                Arc::new(StringArray::from(
                    details
                        .iter()
                        .map(|d| units[d.1].perturbation.clone())
                        .collect::<Vec<_>>(),
                )),
                Arc::new(StringArray::from(
                    details
                        .iter()
                        .map(|d| units[d.1].context.clone())
                        .collect::<Vec<_>>(),
                )),
                Arc::new(UInt64Array::from(
                    details.iter().map(|d| d.2.rank as u64).collect::<Vec<_>>(),
                )),
                Arc::new(Float64Array::from(
                    details.iter().map(|d| d.2.score).collect::<Vec<_>>(),
                )),
                Arc::new(Float64Array::from(
                    details.iter().map(|d| d.2.pearson).collect::<Vec<_>>(),
                )),
                Arc::new(Float64Array::from(
                    details.iter().map(|d| d.2.mse).collect::<Vec<_>>(),
                )),
                Arc::new(Float64Array::from(
                    details
                        .iter()
                        .map(|d| d.2.energy.is_finite().then_some(d.2.energy))
                        .collect::<Vec<_>>(),
                )),
            ],
        )
        .expect("schema matches");
        Ok(MetricOutput {
            rows,
            details: Some(batch),
        })
    }
}
