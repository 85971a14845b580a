//! Transfer probes (METRICS.md "Distribution and prediction metrics", paper
//! 000): does a representation's perturbation shift transfer to data it was
//! not estimated from?
//!
//! A unit is a perturbation within a context (the perturbation alone when the
//! samples carry no context, or with `controls: all`). Its shift is
//! mean(unit's samples) - mean(controls of the context). Each probe predicts
//! a unit's shift and scores the prediction by cosine with the real shift:
//!
//! - `in_domain`: the unit's samples split in two halves (seeded); the shift
//!   of one half predicts the shift of the other. The ceiling.
//! - `lopo_mean_shift`: leave one perturbation out; the prediction is the
//!   mean shift of the other perturbations of the same context.
//! - `lopo_ridge`: leave one perturbation out; a ridge map from perturbation
//!   features to shifts, fitted on the other perturbations of the context
//!   (exact leave-one-out, unpenalised intercept). `features:
//!   target_gene_loadings` gives a perturbation the loadings of its target
//!   gene (the perturbation's name among the dataset's genes) in a PCA of the
//!   controls' expression (lognorm of counts, or log expression as stored):
//!   components x sqrt(explained variance), `n_features` of them (default
//!   20). Perturbations without a measured target gene are left out of this
//!   probe and counted. Or `features: {path, id_column, prefix | columns}`:
//!   a table with one row per perturbation (e.g. an embedding of its target
//!   gene). `ridge_lambda` (default 1) is relative to the mean eigenvalue of
//!   the centred feature Gram matrix.
//! - `loco`: leave one context out; the prediction is the mean of the
//!   perturbation's shifts in its other contexts.
//!
//! Each probe's value is the mean cosine over its units, with a seeded
//! bootstrap 95% interval over units. `drop_<probe>` is the mean over units
//! of in_domain - probe (units scored by both).
//!
//! Null calibration: the same computation on shuffled labels. Within each
//! context the perturbation labels of the non-control samples are permuted
//! (unit sizes kept; `n_permutations` draws, default 1,000, seeded). A
//! probe's row reports the null mean and the empirical p-value
//! (1 + #{null mean >= value}) / (1 + draws); each unit gets its own p-value
//! the same way, Benjamini-Hochberg adjusted across units, and
//! `fraction_significant_<probe>` is the share of units with q < `alpha`.
//! A unit whose cosine is undefined (a zero shift) in a draw counts as not
//! reaching the observed value.

mod options;

pub use options::*;

use super::options::shared::feature_table_input;
use super::MetricInputs;
use super::{rows_of, Explanation, Metric, MetricContext, MetricInfo, MetricOutput, MetricRow};
use crate::error::{EngineError, Result};
use arrow::array::{Float64Array, RecordBatch, StringArray, UInt64Array};
use arrow::datatypes::{DataType, Field, Schema};
use ndarray::Array2;
use pertbench_kernels::stats::bootstrap::mean_interval;
use pertbench_kernels::stats::multiple_testing::benjamini_hochberg;
use pertbench_kernels::tasks::transfer::{cosine, leave_one_out_means, LooRidge};
use rand::seq::SliceRandom;
use rayon::prelude::*;
use std::collections::BTreeMap;
use std::sync::Arc;

pub struct Transfer;

struct Unit {
    perturbation: String,
    context: usize,
    /// Range of this unit in the slot vector.
    start: usize,
    len: usize,
}

/// Everything the probes need that does not change when labels are shuffled.
struct Layout {
    units: Vec<Unit>,
    /// Slot vector: matrix positions; units of a context are contiguous.
    slots: Vec<usize>,
    /// Per context: range of its slots.
    context_slots: Vec<(usize, usize)>,
    context_names: Vec<Option<String>>,
    control_means: Array2<f64>,
    /// Per context: units in it (LOPO groups).
    lopo_groups: Vec<Vec<usize>>,
    /// Per perturbation with 2 or more contexts: its units (LOCO groups).
    loco_groups: Vec<Vec<usize>>,
    /// Per context: units with features and their leave-one-out ridge.
    ridges: Vec<(Vec<usize>, LooRidge)>,
}

/// Per probe, per unit: the cosine (None where undefined or not scored).
type Scores = BTreeMap<TransferProbe, Vec<Option<f64>>>;

impl Layout {
    fn scores(
        &self,
        matrix: &pertbench_kernels::Matrix,
        slots: &[usize],
        probes: &[TransferProbe],
    ) -> Scores {
        let d = matrix.ncols();
        let n = self.units.len();
        let mut shift = Array2::<f64>::zeros((n, d));
        let mut halves = Array2::<f64>::zeros((2 * n, d));
        for (u, unit) in self.units.iter().enumerate() {
            let rows = &slots[unit.start..unit.start + unit.len];
            let half = unit.len / 2;
            for (k, &pos) in rows.iter().enumerate() {
                let h = 2 * u + usize::from(k >= half);
                for (j, v) in matrix.row(pos).iter().enumerate() {
                    halves[(h, j)] += *v as f64;
                }
            }
            let control = self.control_means.row(unit.context);
            for j in 0..d {
                let (a, b) = (halves[(2 * u, j)], halves[(2 * u + 1, j)]);
                shift[(u, j)] = (a + b) / unit.len as f64 - control[j];
                halves[(2 * u, j)] = a / half as f64 - control[j];
                halves[(2 * u + 1, j)] = b / (unit.len - half) as f64 - control[j];
            }
        }
        let mut out = Scores::new();
        for &probe in probes {
            let mut cos = vec![None; n];
            match probe {
                TransferProbe::InDomain => {
                    for (u, c) in cos.iter_mut().enumerate() {
                        *c = cosine(halves.row(2 * u), halves.row(2 * u + 1));
                    }
                }
                TransferProbe::LopoMeanShift | TransferProbe::Loco => {
                    let groups = if probe == TransferProbe::Loco {
                        &self.loco_groups
                    } else {
                        &self.lopo_groups
                    };
                    for g in groups.iter().filter(|g| g.len() >= 2) {
                        let y = shift.select(ndarray::Axis(0), g);
                        let pred =
                            leave_one_out_means(y.view()).expect("groups have 2 or more units");
                        for (k, &u) in g.iter().enumerate() {
                            cos[u] = cosine(pred.row(k), shift.row(u));
                        }
                    }
                }
                TransferProbe::LopoRidge => {
                    for (g, ridge) in &self.ridges {
                        let y = shift.select(ndarray::Axis(0), g);
                        let pred = ridge
                            .predict_left_out(y.view())
                            .expect("one target per unit");
                        for (k, &u) in g.iter().enumerate() {
                            cos[u] = cosine(pred.row(k), shift.row(u));
                        }
                    }
                }
            }
            out.insert(probe, cos);
        }
        out
    }
}

fn mean_of(v: &[Option<f64>]) -> Option<f64> {
    let vals: Vec<f64> = v.iter().flatten().copied().collect();
    (!vals.is_empty()).then(|| vals.iter().sum::<f64>() / vals.len() as f64)
}

static EXPLANATION: Explanation = Explanation {
    summary: r#"Transfer probes: does a representation's perturbation shift carry over to data it was not estimated from?"#,
    definition: r#"A unit is a perturbation within a context; its shift is mean(unit's samples) - mean(the context's controls). Each probe predicts a unit's shift and scores it by cosine with the real shift: in_domain (one random half of the unit's samples predicts the other: the ceiling), lopo_mean_shift (leave one perturbation out: the mean shift of the context's other perturbations), lopo_ridge (leave one perturbation out: a ridge map from perturbation features to shifts, exact leave-one-out), loco (leave one context out: the perturbation's mean shift in its other contexts). Each probe's value is the mean cosine over units with a bootstrap interval; a label-shuffle null (labels permuted within contexts, sizes kept) gives the null mean and p-value, and per-unit p-values are BH adjusted."#,
    variants: &[
        (
            r#"in_domain"#,
            r#"mean cosine over units, one half of a unit's samples predicting the other (the ceiling)"#,
        ),
        (
            r#"lopo_mean_shift"#,
            r#"mean cosine, leave one perturbation out: the context's other perturbations' mean shift"#,
        ),
        (
            r#"lopo_ridge"#,
            r#"mean cosine, leave one perturbation out: a ridge map from perturbation features"#,
        ),
        (
            r#"loco"#,
            r#"mean cosine, leave one context out: the perturbation's shifts in its other contexts"#,
        ),
        (
            r#"fraction_significant_<probe>"#,
            r#"share of units with BH q < alpha"#,
        ),
        (
            r#"drop_<probe>"#,
            r#"mean over units of in_domain - probe (the generalisation gap)"#,
        ),
    ],
    conventions: r#"Paper 000 reports the cosine of predicted to real centroid shifts in-domain against leave-one-drug-out; in_domain and the lopo probes are those two settings and drop_<probe> is the gap between them. lopo_mean_shift uses no information about the held-out perturbation, so it is the baseline lopo_ridge must beat."#,
    references: &[
        r#"Paper 000 (../shared/papers/000): SVC-Probe, perturbation generalisation of embeddings."#,
        r#"METRICS.md, Distribution and prediction metrics."#,
    ],
};

impl MetricInfo for Transfer {
    fn explanation(&self) -> &'static Explanation {
        &EXPLANATION
    }
    fn version(&self) -> u32 {
        // 2: intervals for the fractions significant.
        2
    }
    fn task(&self) -> pertbench_schema::Task {
        pertbench_schema::Task::Transfer
    }
}

impl Metric for Transfer {
    type Options = TransferOptions;

    fn validate(&self, o: &TransferOptions) -> std::result::Result<(), String> {
        options::check(o)
    }
    fn inputs(&self, o: &TransferOptions) -> MetricInputs {
        MetricInputs {
            files: feature_table_input(o.features.as_ref())
                .into_iter()
                .collect(),
            datasets: vec![],
        }
    }
    fn seeded(&self, _o: &TransferOptions) -> bool {
        true
    }
    fn compute(
        &self,
        label: &str,
        o: &TransferOptions,
        ctx: &MetricContext,
    ) -> Result<MetricOutput> {
        let label = label.to_string();
        let n_null = o.n_permutations();
        let alpha = o.alpha();
        let n_boot = o.n_bootstrap();
        let lambda = o.ridge_lambda();
        let by_context = super::per_context(ctx, o.controls());
        let probes: Vec<TransferProbe> = match &o.probes {
            Some(p) => {
                let mut p = p.clone();
                p.sort();
                p.dedup();
                p
            }
            None => {
                let mut p = vec![TransferProbe::InDomain, TransferProbe::LopoMeanShift];
                if o.features.is_some() {
                    p.push(TransferProbe::LopoRidge);
                }
                if by_context {
                    p.push(TransferProbe::Loco);
                }
                p
            }
        };
        if probes.contains(&TransferProbe::Loco) && !by_context {
            return Err(EngineError::msg(format!(
                "metric `{label}`: probe `loco` needs samples with contexts (a `context` column in the dataset's manifest) and `controls: context`"
            )));
        }
        // Controls per context.
        let controls = super::control_pools(ctx, by_context);
        // Units per context (contexts in sorted order, units by perturbation).
        let mut by_ctx: BTreeMap<Option<String>, Vec<(String, Vec<usize>)>> = BTreeMap::new();
        for (p, c, pos) in super::perturbation_context_parts(ctx, by_context) {
            by_ctx.entry(c).or_default().push((p, pos));
        }
        let (mut small, mut without_controls) = (0usize, 0usize);
        let d = ctx.matrix.ncols();
        let mut layout_units = Vec::new();
        let mut slots = Vec::new();
        let mut context_slots = Vec::new();
        let mut context_names = Vec::new();
        let mut control_rows: Vec<Vec<f64>> = Vec::new();
        for (c, units) in by_ctx {
            let Some(ctrl) = controls.get(&c) else {
                without_controls += units.len();
                continue;
            };
            let ci = context_names.len();
            let start = slots.len();
            for (p, mut pos) in units {
                if pos.len() < 2 {
                    small += 1;
                    continue;
                }
                // The observed split-half: a seeded order of the unit's samples.
                let mut rng = pertbench_kernels::stats::rng::stream(
                    ctx.seed,
                    &format!("transfer/split/{p}/{c:?}"),
                    0,
                );
                pos.shuffle(&mut rng);
                layout_units.push(Unit {
                    perturbation: p,
                    context: ci,
                    start: slots.len(),
                    len: pos.len(),
                });
                slots.extend(pos);
            }
            if slots.len() == start {
                continue;
            }
            context_slots.push((start, slots.len()));
            context_names.push(c);
            control_rows.push(super::mean_of_rows(ctx.matrix, ctrl));
        }
        if layout_units.is_empty() {
            return Err(EngineError::msg(format!(
                "metric `{label}`: no perturbation has 2 or more samples in a context with controls ({small} with fewer than 2 samples, {without_controls} in contexts without controls)"
            )));
        }
        let n_ctx = context_names.len();
        let control_means = Array2::from_shape_fn((n_ctx, d), |(c, j)| control_rows[c][j]);
        let mut lopo_groups = vec![Vec::new(); n_ctx];
        let mut per_perturbation: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for (u, unit) in layout_units.iter().enumerate() {
            lopo_groups[unit.context].push(u);
            per_perturbation
                .entry(unit.perturbation.as_str())
                .or_default()
                .push(u);
        }
        let loco_groups: Vec<Vec<usize>> = per_perturbation
            .into_values()
            .filter(|g| g.len() >= 2)
            .collect();
        let mut without_features = 0usize;
        let mut ridges = Vec::new();
        let mut feature_note = String::new();
        if probes.contains(&TransferProbe::LopoRidge) {
            let (features, note) = super::features::perturbation_features(
                o.features.as_ref(),
                o.n_features(),
                ctx,
                &label,
            )?;
            for g in &lopo_groups {
                let name_of = |u: usize| layout_units[u].perturbation.as_str();
                let what = format!("metric `{label}` (lopo_ridge)");
                let (with, ridge) =
                    super::features::group_ridge(g, name_of, &features, lambda, &what)?;
                without_features += g.len() - with.len();
                if let Some(ridge) = ridge {
                    ridges.push((with, ridge));
                }
            }
            feature_note =
                format!(";{note};ridge_lambda={lambda};units_without_features={without_features}");
        }
        let layout = Layout {
            units: layout_units,
            slots,
            context_slots,
            context_names,
            control_means,
            lopo_groups,
            loco_groups,
            ridges,
        };
        let observed = layout.scores(ctx.matrix, &layout.slots, &probes);

        // Label-shuffle nulls, one seeded stream per draw (parallel, and the
        // same whatever the thread count).
        let n_units = layout.units.len();
        let draws: Vec<Scores> = (0..n_null)
            .into_par_iter()
            .map(|draw| {
                let mut rng =
                    pertbench_kernels::stats::rng::stream(ctx.seed, "transfer/null", draw as u64);
                let mut shuffled = layout.slots.clone();
                for &(a, b) in &layout.context_slots {
                    shuffled[a..b].shuffle(&mut rng);
                }
                layout.scores(ctx.matrix, &shuffled, &probes)
            })
            .collect();

        let conv = format!(
            "cosine_of_shifts;controls={};null=label_shuffle_within_context;n_permutations={n_null};alpha={alpha};adjust=benjamini_hochberg;bootstrap={n_boot};units_too_small={small};units_without_controls={without_controls}{feature_note}",
            if by_context { "context" } else { "all" }
        );
        let err = |e| EngineError::kernel(format!("metric `{label}`"))(e);
        let mut rows: Vec<MetricRow> = Vec::new();
        let mut details: Vec<(usize, TransferProbe, f64, f64, f64)> = Vec::new();
        for (tag, &probe) in probes.iter().enumerate() {
            let obs = &observed[&probe];
            let scored: Vec<usize> = (0..n_units).filter(|&u| obs[u].is_some()).collect();
            let name = probe.name();
            if scored.is_empty() {
                rows.extend(rows_of(
                    &label,
                    0,
                    n_null,
                    &format!("{conv};no unit could be scored by {name}"),
                    &[(name, None)],
                ));
                continue;
            }
            let values: Vec<f64> = scored.iter().map(|&u| obs[u].unwrap()).collect();
            let value = values.iter().sum::<f64>() / values.len() as f64;
            let mut row =
                rows_of(&label, values.len(), n_null, &conv, &[(name, Some(value))]).remove(0);
            row = row.with_interval(
                mean_interval(&values, n_boot, 0.95, ctx.seed ^ (tag as u64 + 1)).map_err(err)?,
            );
            let mut pvals = Vec::with_capacity(scored.len());
            if n_null > 0 {
                let null_means: Vec<f64> =
                    draws.iter().filter_map(|d| mean_of(&d[&probe])).collect();
                let null_mean = null_means.iter().sum::<f64>() / null_means.len().max(1) as f64;
                let above = null_means.iter().filter(|v| **v >= value).count();
                row = row.with_null(null_mean, (1 + above) as f64 / (1 + n_null) as f64);
                for &u in &scored {
                    let o = obs[u].unwrap();
                    let hits = draws
                        .iter()
                        .filter(|d| d[&probe][u].is_some_and(|v| v >= o))
                        .count();
                    pvals.push((1 + hits) as f64 / (1 + n_null) as f64);
                }
            }
            rows.push(row);
            if n_null > 0 {
                let q = benjamini_hochberg(&pvals);
                let frac = q.iter().filter(|v| **v < alpha).count() as f64 / q.len() as f64;
                let hits: Vec<f64> = q.iter().map(|v| f64::from(u8::from(*v < alpha))).collect();
                let ci = mean_interval(&hits, n_boot, 0.95, ctx.seed ^ (200 + tag as u64))
                    .map_err(err)?;
                let row = rows_of(
                    &label,
                    scored.len(),
                    n_null,
                    &conv,
                    &[(&format!("fraction_significant_{name}"), Some(frac))],
                )
                .remove(0);
                rows.push(row.with_interval(ci));
                for (k, &u) in scored.iter().enumerate() {
                    details.push((u, probe, obs[u].unwrap(), pvals[k], q[k]));
                }
            } else {
                for &u in &scored {
                    details.push((u, probe, obs[u].unwrap(), f64::NAN, f64::NAN));
                }
            }
            if probe != TransferProbe::InDomain {
                if let Some(ceiling) = observed.get(&TransferProbe::InDomain) {
                    let diffs: Vec<f64> = (0..n_units)
                        .filter_map(|u| Some(ceiling[u]? - obs[u]?))
                        .collect();
                    let variant = format!("drop_{name}");
                    if diffs.is_empty() {
                        rows.extend(rows_of(
                            &label,
                            0,
                            0,
                            &format!("{conv};no unit scored by both in_domain and {name}"),
                            &[(&variant, None)],
                        ));
                    } else {
                        let v = diffs.iter().sum::<f64>() / diffs.len() as f64;
                        let row = rows_of(&label, diffs.len(), 0, &conv, &[(&variant, Some(v))])
                            .remove(0);
                        rows.push(
                            row.with_interval(
                                mean_interval(&diffs, n_boot, 0.95, ctx.seed ^ (100 + tag as u64))
                                    .map_err(err)?,
                            ),
                        );
                    }
                }
            }
        }
        let schema = Schema::new(vec![
            Field::new("perturbation", DataType::Utf8, false),
            Field::new("context", DataType::Utf8, true),
            Field::new("n_samples", DataType::UInt64, false),
            Field::new("probe", DataType::Utf8, false),
            Field::new("cosine", DataType::Float64, false),
            Field::new("pvalue", DataType::Float64, true),
            Field::new("qvalue", DataType::Float64, true),
        ]);
        let opt = |v: f64| (!v.is_nan()).then_some(v);
        let unit = |u: usize| &layout.units[u];
        let batch = RecordBatch::try_new(
            Arc::new(schema),
            vec![
                Arc::new(StringArray::from(
                    details
                        .iter()
                        .map(|r| unit(r.0).perturbation.clone())
                        .collect::<Vec<_>>(),
                )),
                Arc::new(StringArray::from(
                    details
                        .iter()
                        .map(|r| layout.context_names[unit(r.0).context].clone())
                        .collect::<Vec<_>>(),
                )),
                Arc::new(UInt64Array::from(
                    details
                        .iter()
                        .map(|r| unit(r.0).len as u64)
                        .collect::<Vec<_>>(),
                )),
                Arc::new(StringArray::from(
                    details.iter().map(|r| r.1.name()).collect::<Vec<_>>(),
                )),
                Arc::new(Float64Array::from(
                    details.iter().map(|r| r.2).collect::<Vec<_>>(),
                )),
                Arc::new(Float64Array::from(
                    details.iter().map(|r| opt(r.3)).collect::<Vec<_>>(),
                )),
                Arc::new(Float64Array::from(
                    details.iter().map(|r| opt(r.4)).collect::<Vec<_>>(),
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
