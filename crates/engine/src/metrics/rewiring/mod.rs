//! Neighbourhood rewiring (issue 4; paper 000's neighbourhood graphs).
//!
//! `entity: context` (default): entities are the samples' contexts (in paper 000, the protein labels of
//! an imaging atlas; a cell line, a cell type). An entity's centroid under
//! control is the mean of its controls, under a perturbation the mean of
//! that perturbation's samples in it. For each perturbation, every entity's
//! `k` nearest other entities (cosine, default k = 5) under control are
//! compared with those under the perturbation: rewiring = 1 - Jaccard,
//! averaged over the entities the perturbation reaches (entities need 2 or
//! more controls; a perturbation needs k + 1 entities).
//!
//! Calibration, `n_permutations` seeded draws (default 200): the same
//! computation with control-only data.
//! - `calibration: split_halves` (default): each entity's controls split in
//!   two random halves; neighbourhoods of one half against the other.
//! - `size_matched`: as many random controls as the perturbation has
//!   samples in the entity (at most all but one) against the other
//!   controls, so both sides have the noise of the real comparison.
//! A split is seeded per draw and entity, so all perturbations share it.
//!
//! `entity: perturbation`: entities are perturbations, located by their
//! shifts (mean of samples minus the context's controls), and conditions
//! are contexts: each perturbation's k nearest perturbations in the
//! `reference_context` (default: the first context in sorted order) against
//! those in every other context, over the perturbations with 2 or more
//! samples in the reference and at least one in the other context. The
//! calibration splits each perturbation's reference samples: two halves
//! (`split_halves`), or as many as it has in the other context against the
//! rest (`size_matched`). Conditions are then the other contexts.
//!
//! Rows: `mean_rewiring` over perturbations (bootstrap 95% interval over
//! perturbations; `null_mean` and `p_value` from the per-draw mean over
//! perturbations), `excess_rewiring` = mean of (rewiring - its null mean),
//! and `fraction_significant`: the share of perturbations whose empirical
//! p-value (1 + #{null >= rewiring}) / (1 + draws), BH-adjusted, is below
//! `alpha`. Per-perturbation values are in the details.

mod options;

pub use options::*;

use super::{
    perturbation_groups, rows_of, Explanation, Metric, MetricContext, MetricInfo, MetricOutput,
};
use crate::error::{EngineError, Result};
use arrow::array::{Float64Array, RecordBatch, StringArray, UInt64Array};
use arrow::datatypes::{DataType, Field, Schema};
use ndarray::Array2;
use pertbench_kernels::stats::bootstrap::mean_interval;
use pertbench_kernels::stats::multiple_testing::benjamini_hochberg;
use pertbench_kernels::tasks::rewiring::rewiring_per_entity;
use rand::seq::SliceRandom;
use rayon::prelude::*;
use std::collections::BTreeMap;
use std::sync::Arc;

pub struct Rewiring;

pub const DEFAULT_K: usize = 5;
pub const DEFAULT_DRAWS: usize = 200;

struct Condition {
    /// The perturbation (entity: context) or context (entity: perturbation).
    name: String,
    /// Entities (indices) this condition reaches, and its positions in each.
    entities: Vec<usize>,
    positions: Vec<Vec<usize>>,
    rewiring: f64,
    null: Vec<f64>,
}

fn as_matrix(rows: &[Vec<f64>], d: usize) -> Array2<f64> {
    Array2::from_shape_fn((rows.len(), d), |(i, j)| rows[i][j])
}

/// `entity: perturbation`: conditions are the contexts other than the
/// reference; see the module documentation.
fn by_context(
    ctx: &MetricContext,
    label: &str,
    k: usize,
    draws: usize,
    calibration: Calibration,
    reference: Option<&str>,
) -> Result<(Vec<Condition>, String)> {
    let s = &ctx.ingest.samples;
    let contexts = s.context.as_ref().expect("checked");
    let d = ctx.matrix.ncols();
    let mut controls: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    let mut samples: BTreeMap<&str, BTreeMap<&str, Vec<usize>>> = BTreeMap::new();
    for (pos, &r) in ctx.rows.iter().enumerate() {
        let c = contexts[r].as_str();
        if s.is_control[r] {
            controls.entry(c).or_default().push(pos);
        } else {
            samples
                .entry(c)
                .or_default()
                .entry(s.perturbation[r].as_str())
                .or_default()
                .push(pos);
        }
    }
    controls.retain(|_, v| v.len() >= 2);
    let reference = match reference {
        Some(r) if controls.contains_key(r) => r,
        Some(r) => {
            return Err(EngineError::msg(format!(
                "metric `{label}`: reference_context `{r}` is not a context with 2 or more controls; those are: {}",
                controls.keys().copied().collect::<Vec<_>>().join(", ")
            )))
        }
        None => *controls.keys().next().ok_or_else(|| EngineError::msg(format!("metric `{label}`: no context has 2 or more controls")))?,
    };
    let ref_ctrl = super::mean_of_rows(ctx.matrix, &controls[reference]);
    let empty = BTreeMap::new();
    let ref_samples = samples.get(reference).unwrap_or(&empty);
    let shift = |positions: &[usize], ctrl: &[f64]| -> Vec<f64> {
        super::mean_of_rows(ctx.matrix, positions)
            .iter()
            .zip(ctrl)
            .map(|(a, b)| a - b)
            .collect()
    };
    let mut conditions = Vec::new();
    let mut skipped = Vec::new();
    for (&c, ctrl_pos) in &controls {
        if c == reference {
            continue;
        }
        let ctrl = super::mean_of_rows(ctx.matrix, ctrl_pos);
        let common: Vec<(&str, &Vec<usize>, &Vec<usize>)> = samples
            .get(c)
            .map(|m| {
                m.iter()
                    .filter_map(|(p, pos)| {
                        ref_samples
                            .get(p)
                            .filter(|r| r.len() >= 2)
                            .map(|r| (*p, r, pos))
                    })
                    .collect()
            })
            .unwrap_or_default();
        if common.len() < k + 1 {
            skipped.push(c.to_string());
            continue;
        }
        let a: Vec<Vec<f64>> = common.iter().map(|(_, r, _)| shift(r, &ref_ctrl)).collect();
        let b: Vec<Vec<f64>> = common.iter().map(|(_, _, pos)| shift(pos, &ctrl)).collect();
        let w = rewiring_per_entity(as_matrix(&a, d).view(), as_matrix(&b, d).view(), k)
            .map_err(EngineError::kernel(format!("metric `{label}`")))?;
        let null: Vec<f64> = (0..draws)
            .into_par_iter()
            .map(|t| {
                let mut rng = pertbench_kernels::stats::rng::stream(
                    ctx.seed,
                    &format!("rewiring/{c}"),
                    t as u64,
                );
                let (mut a, mut b) = (Vec::new(), Vec::new());
                for (_, r, pos) in &common {
                    let mut o = (*r).clone();
                    o.shuffle(&mut rng);
                    let cut = match calibration {
                        Calibration::SplitHalves => o.len() / 2,
                        Calibration::SizeMatched => pos.len().min(o.len() - 1),
                    };
                    a.push(shift(&o[cut..], &ref_ctrl));
                    b.push(shift(&o[..cut], &ref_ctrl));
                }
                let w = rewiring_per_entity(as_matrix(&a, d).view(), as_matrix(&b, d).view(), k)
                    .expect("k checked");
                w.iter().sum::<f64>() / w.len() as f64
            })
            .collect();
        conditions.push(Condition {
            name: c.to_string(),
            entities: (0..common.len()).collect(),
            positions: vec![],
            rewiring: w.iter().sum::<f64>() / w.len() as f64,
            null,
        });
    }
    if conditions.is_empty() {
        return Err(EngineError::msg(format!(
            "metric `{label}`: no context shares k + 1 = {} perturbations with the reference context `{reference}` (perturbations need 2 or more samples there)",
            k + 1
        )));
    }
    let mut note = format!("entity=perturbation;reference_context={reference}");
    if !skipped.is_empty() {
        note += &format!(
            ";contexts_with_too_few_shared_perturbations={}",
            skipped.join(",")
        );
    }
    Ok((conditions, note))
}

/// `entity: context`: conditions are perturbations; see the module
/// documentation.
fn by_perturbation(
    ctx: &MetricContext,
    label: &str,
    contexts: &[String],
    k: usize,
    draws: usize,
    calibration: Calibration,
) -> Result<(Vec<Condition>, String)> {
    let s = &ctx.ingest.samples;
    // Entities: contexts with 2 or more controls.
    let mut controls: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (pos, &r) in ctx.rows.iter().enumerate() {
        if s.is_control[r] {
            controls.entry(contexts[r].as_str()).or_default().push(pos);
        }
    }
    controls.retain(|_, v| v.len() >= 2);
    let names: Vec<&str> = controls.keys().copied().collect();
    let index: BTreeMap<&str, usize> = names.iter().enumerate().map(|(i, n)| (*n, i)).collect();
    let control_pos: Vec<&Vec<usize>> = controls.values().collect();
    let d = ctx.matrix.ncols();
    let mean_of = |positions: &[usize]| super::mean_of_rows(ctx.matrix, positions);
    let control_means: Vec<Vec<f64>> = control_pos.iter().map(|p| mean_of(p)).collect();
    let mut conditions: Vec<Condition> = Vec::new();
    let mut too_few = 0usize;
    for (p, positions) in perturbation_groups(ctx) {
        let mut by: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
        for pos in positions {
            if let Some(&e) = index.get(contexts[ctx.rows[pos]].as_str()) {
                by.entry(e).or_default().push(pos);
            }
        }
        if by.len() < k + 1 {
            too_few += 1;
            continue;
        }
        let (entities, positions): (Vec<usize>, Vec<Vec<usize>>) = by.into_iter().unzip();
        conditions.push(Condition {
            name: p,
            entities,
            positions,
            rewiring: 0.0,
            null: vec![],
        });
    }
    if conditions.is_empty() {
        return Err(EngineError::msg(format!(
            "metric `{label}`: no perturbation reaches k + 1 = {} contexts with 2 or more controls ({} such contexts; {too_few} perturbations reach fewer)",
            k + 1,
            names.len()
        )));
    }
    let centroids = |rows: &[Vec<f64>]| as_matrix(rows, d);
    let err = |e| EngineError::kernel(format!("metric `{label}`"))(e);
    // Seeded control orders per draw and entity, shared by all conditions.
    let orders: Vec<Vec<Vec<usize>>> = (0..draws)
        .map(|t| {
            control_pos
                .iter()
                .enumerate()
                .map(|(e, pos)| {
                    let mut rng = pertbench_kernels::stats::rng::stream(
                        ctx.seed,
                        &format!("rewiring/{}", names[e]),
                        t as u64,
                    );
                    let mut o = (*pos).clone();
                    o.shuffle(&mut rng);
                    o
                })
                .collect()
        })
        .collect();
    conditions.par_iter_mut().try_for_each(|c| -> Result<()> {
        let reference: Vec<Vec<f64>> = c
            .entities
            .iter()
            .map(|&e| control_means[e].clone())
            .collect();
        let condition: Vec<Vec<f64>> = c.positions.iter().map(|p| mean_of(p)).collect();
        let w = rewiring_per_entity(
            centroids(&reference).view(),
            centroids(&condition).view(),
            k,
        )
        .map_err(err)?;
        c.rewiring = w.iter().sum::<f64>() / w.len() as f64;
        for order in &orders {
            let (mut a, mut b) = (Vec::new(), Vec::new());
            for (i, &e) in c.entities.iter().enumerate() {
                let o = &order[e];
                let cut = match calibration {
                    Calibration::SplitHalves => o.len() / 2,
                    Calibration::SizeMatched => c.positions[i].len().min(o.len() - 1),
                };
                // Reference: the rest; condition: the first `cut` controls.
                a.push(mean_of(&o[cut..]));
                b.push(mean_of(&o[..cut]));
            }
            let w =
                rewiring_per_entity(centroids(&a).view(), centroids(&b).view(), k).map_err(err)?;
            c.null.push(w.iter().sum::<f64>() / w.len() as f64);
        }
        Ok(())
    })?;
    let note = format!(
        "entity=context;entities={};perturbations_with_too_few_entities={too_few}",
        names.len()
    );
    Ok((conditions, note))
}

static EXPLANATION: Explanation = Explanation {
    summary: r#"Neighbourhood rewiring: how much a perturbation changes which entities neighbour each other, calibrated on control-only splits."#,
    definition: r#"With `entity: context`, entities are contexts (cell lines, protein labels): an entity's centroid under control is the mean of its controls, under a perturbation the mean of that perturbation's samples in it. For each perturbation, every entity's k nearest other entities (cosine) under control are compared with those under the perturbation: rewiring = 1 - Jaccard, averaged over the entities the perturbation reaches. The calibration repeats this on control-only data (split halves, or size-matched splits) for n_permutations seeded draws; p = (1 + #{null >= rewiring}) / (1 + draws), BH adjusted. With `entity: perturbation`, entities are perturbations located by their shifts, and the reference context's neighbourhoods are compared with every other context's."#,
    variants: &[
        (
            r#"mean_rewiring"#,
            r#"mean rewiring over perturbations (or conditions)"#,
        ),
        (
            r#"excess_rewiring"#,
            r#"mean of rewiring minus its calibration mean"#,
        ),
        (r#"fraction_significant"#, r#"share with BH q < alpha"#),
    ],
    conventions: r#"Paper 000 compares neighbourhood graphs of protein labels under control and under each drug but does not give their neighbourhood size or a calibration (its review asks for both), so k and the calibration are options and each row's `convention` records them."#,
    references: &[
        r#"Paper 000 (../shared/papers/000): neighbourhood graphs of spatial embeddings."#,
        r#"Benjamini & Hochberg 1995 (JRSS B)."#,
    ],
};

impl MetricInfo for Rewiring {
    fn explanation(&self) -> &'static Explanation {
        &EXPLANATION
    }
    fn version(&self) -> u32 {
        // 2: intervals for the fraction significant; entity: perturbation.
        2
    }
    fn task(&self) -> pertbench_schema::Task {
        pertbench_schema::Task::Rewiring
    }
}

impl Metric for Rewiring {
    type Options = RewiringOptions;

    fn validate(&self, o: &RewiringOptions) -> std::result::Result<(), String> {
        options::check(o)
    }
    fn seeded(&self, _o: &RewiringOptions) -> bool {
        true
    }
    fn compute(
        &self,
        label: &str,
        o: &RewiringOptions,
        ctx: &MetricContext,
    ) -> Result<MetricOutput> {
        let label = label.to_string();
        let s = &ctx.ingest.samples;
        let contexts = s.context.as_ref().ok_or_else(|| {
            EngineError::msg(format!(
                "metric `{label}`: rewiring compares neighbourhoods of contexts (entities), but the samples have none; add a `context` column to the dataset's manifest"
            ))
        })?;
        let k = o.k();
        let draws = o.n_permutations();
        let alpha = o.alpha();
        let n_boot = o.n_bootstrap();
        let calibration = o.calibration();
        let err = |e| EngineError::kernel(format!("metric `{label}`"))(e);
        let (conditions, note) = match o.entity() {
            RewiringEntity::Context => {
                by_perturbation(ctx, &label, contexts, k, draws, calibration)?
            }
            RewiringEntity::Perturbation => by_context(
                ctx,
                &label,
                k,
                draws,
                calibration,
                o.reference_context.as_deref(),
            )?,
        };
        let n = conditions.len();
        let pvals: Vec<f64> = conditions
            .iter()
            .map(|c| {
                (1 + c.null.iter().filter(|v| **v >= c.rewiring).count()) as f64
                    / (1 + draws) as f64
            })
            .collect();
        let qvals = benjamini_hochberg(&pvals);
        let null_mean_of = |c: &Condition| c.null.iter().sum::<f64>() / c.null.len().max(1) as f64;
        let conv = format!(
            "{note};k={k};similarity=cosine;calibration={};n_permutations={draws};alpha={alpha};adjust=benjamini_hochberg;bootstrap={n_boot}",
            match calibration {
                Calibration::SplitHalves => "split_halves",
                Calibration::SizeMatched => "size_matched",
            },
        );
        let values: Vec<f64> = conditions.iter().map(|c| c.rewiring).collect();
        let mean = values.iter().sum::<f64>() / n as f64;
        let mut mean_row = rows_of(&label, n, draws, &conv, &[("mean_rewiring", Some(mean))])
            .remove(0)
            .with_interval(mean_interval(&values, n_boot, 0.95, ctx.seed ^ 1).map_err(err)?);
        if draws > 0 {
            let per_draw: Vec<f64> = (0..draws)
                .map(|t| conditions.iter().map(|c| c.null[t]).sum::<f64>() / n as f64)
                .collect();
            let above = per_draw.iter().filter(|v| **v >= mean).count();
            mean_row = mean_row.with_null(
                per_draw.iter().sum::<f64>() / draws as f64,
                (1 + above) as f64 / (1 + draws) as f64,
            );
        }
        let mut rows = vec![mean_row];
        if draws > 0 {
            let excess: Vec<f64> = conditions
                .iter()
                .map(|c| c.rewiring - null_mean_of(c))
                .collect();
            let v = excess.iter().sum::<f64>() / n as f64;
            rows.push(
                rows_of(&label, n, draws, &conv, &[("excess_rewiring", Some(v))])
                    .remove(0)
                    .with_interval(
                        mean_interval(&excess, n_boot, 0.95, ctx.seed ^ 2).map_err(err)?,
                    ),
            );
            let frac = qvals.iter().filter(|q| **q < alpha).count() as f64 / n as f64;
            let hits: Vec<f64> = qvals
                .iter()
                .map(|q| f64::from(u8::from(*q < alpha)))
                .collect();
            let ci = mean_interval(&hits, n_boot, 0.95, ctx.seed ^ 3).map_err(err)?;
            rows.push(
                rows_of(
                    &label,
                    n,
                    draws,
                    &conv,
                    &[("fraction_significant", Some(frac))],
                )
                .remove(0)
                .with_interval(ci),
            );
        }
        let schema = Schema::new(vec![
            Field::new("condition", DataType::Utf8, false),
            Field::new("n_entities", DataType::UInt64, false),
            Field::new("rewiring", DataType::Float64, false),
            Field::new("null_mean", DataType::Float64, true),
            Field::new("pvalue", DataType::Float64, true),
            Field::new("qvalue", DataType::Float64, true),
        ]);
        let with_null = |v: f64| (draws > 0).then_some(v);
        let details = RecordBatch::try_new(
            Arc::new(schema),
            vec![
                Arc::new(StringArray::from(
                    conditions
                        .iter()
                        .map(|c| c.name.clone())
                        .collect::<Vec<_>>(),
                )),
                Arc::new(UInt64Array::from(
                    conditions
                        .iter()
                        .map(|c| c.entities.len() as u64)
                        .collect::<Vec<_>>(),
                )),
                Arc::new(Float64Array::from(values)),
                Arc::new(Float64Array::from(
                    conditions
                        .iter()
                        .map(|c| with_null(null_mean_of(c)))
                        .collect::<Vec<_>>(),
                )),
                Arc::new(Float64Array::from(
                    pvals.iter().map(|p| with_null(*p)).collect::<Vec<_>>(),
                )),
                Arc::new(Float64Array::from(
                    qvals.iter().map(|q| with_null(*q)).collect::<Vec<_>>(),
                )),
            ],
        )
        .expect("schema matches");
        Ok(MetricOutput {
            rows,
            details: Some(details),
        })
    }
}
