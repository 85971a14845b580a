//! Distribution metrics (METRICS.md "Distribution and prediction metrics"):
//! energy distance and MMD^2 (RBF, median-heuristic bandwidth, unbiased) of
//! each perturbation's samples against its controls, with a seeded
//! permutation test and Benjamini-Hochberg adjusted p-values.
//!
//! Units: a perturbation within a context (cell line, ...) when the samples
//! carry contexts and `controls: context` (the default), compared with the
//! controls of that context; otherwise a perturbation against all controls.
//! Units with fewer than 2 samples, and contexts with fewer than 2 controls,
//! are skipped and counted in `convention`.
//!
//! After a post-processing fitted on the data, the test refits it on each
//! unit's pooled sample and relabels within batches (issue 20; the
//! calibration suite in `calibration.rs` checks the p-values are uniform on
//! null screens after every post-processing).
//!
//! Rows: `mean_energy` and `mean_mmd2` over units, each with a seeded
//! bootstrap 95% interval over units (`ci_low`, `ci_high`); and
//! `fraction_significant_energy` / `_mmd2`, the fraction of tested units
//! whose BH-adjusted p-value is below `alpha` (its interval resamples those
//! units' indicators, with q-values held fixed). Per-unit values, p and q are in
//! the node's details table.

mod options;

pub use options::*;

use super::{
    context_units, rows_of, sample_queries, share_significant, ContextUnits, Explanation, Metric,
    MetricContext, MetricInfo, MetricOutput, MetricRow,
};
use crate::error::{EngineError, Result};
use arrow::array::{Float64Array, RecordBatch, StringArray, UInt64Array};
use arrow::datatypes::{DataType, Field, Schema};
use pertbench_kernels::stats::bootstrap::mean_interval;
use pertbench_kernels::stats::control_reference::{Comparison, ControlReference};
use pertbench_kernels::stats::distribution::EnergyConvention;
use pertbench_kernels::stats::multiple_testing::benjamini_hochberg;
use pertbench_kernels::Matrix;
use rayon::prelude::*;
use std::sync::Arc;

pub struct Distribution;

/// A unit and its controls after the transform refitted on them together,
/// with each row's batch (as a stratum number).
struct Refitted {
    x: ndarray::Array2<f64>,
    y: ndarray::Array2<f64>,
    strata_x: Vec<usize>,
    strata_y: Vec<usize>,
}

struct Unit {
    perturbation: String,
    context: Option<String>,
    positions: Vec<usize>,
    cmp: Option<Comparison>,
    p_energy: Option<f64>,
    p_mmd: Option<f64>,
}

static EXPLANATION: Explanation = Explanation {
    summary: r#"Distribution metrics: energy distance and MMD of each perturbation's samples against its controls, with permutation tests."#,
    definition: r#"Units are perturbations within a context (cell line, ...) compared with that context's controls, or perturbations against all controls. Energy distance E(X, Y) = 2 E||x - y|| - E||x - x'|| - E||y - y'|| on plain Euclidean distances, U-statistic within groups by default. MMD^2 with an RBF kernel whose bandwidth is the median pairwise distance of the pooled sample (unbiased estimator). Each unit gets a seeded permutation test (labels of the pooled unit and controls permuted). After a post-processing fitted on the data (center, center_scale, tvn), the controls sit where the fit put them and the unit's samples do not, so the test refits that post-processing on the pooled unit and controls (all as the reference) and relabels rows within batches, which makes it exact; the reported energy and MMD stay those of the post-processed space, and a unit whose pool has a batch too small to refit on gets no p-value (counted in `untested_refit`). P-values are Benjamini-Hochberg adjusted, and means get a seeded bootstrap interval over units. Units with fewer than 2 samples and contexts with fewer than 2 controls are skipped and counted."#,
    variants: &[
        (r#"mean_energy"#, r#"mean energy distance over units"#),
        (
            r#"fraction_significant_energy"#,
            r#"share of tested units with BH q < alpha (energy)"#,
        ),
        (r#"mean_mmd2"#, r#"mean MMD^2 over units"#),
        (
            r#"fraction_significant_mmd2"#,
            r#"share of tested units with BH q < alpha (MMD^2)"#,
        ),
    ],
    conventions: r#"Szekely and Rizzo's energy distance uses plain Euclidean distances (the default, as an unbiased U-statistic). scPerturb's `etest` is run with `dist='sqeuclidean'` in PCA space: `energy: squared`. efaar-benchmarking 1.0's signal magnitude (geomloss `SamplesLoss('energy')` x 2) averages over all pairs, i = j included: `energy: v_statistic`."#,
    references: &[
        r#"Szekely & Rizzo 2013, Energy statistics: a class of statistics based on distances (J. Stat. Plan. Inference)."#,
        r#"Gretton et al. 2012, A kernel two-sample test (JMLR): MMD."#,
        r#"Peidli et al. 2024, scPerturb (Nature Methods): E-distance and E-test."#,
        r#"Papers 000 and 001 (../shared/papers): distribution metrics for perturbation responses."#,
        r#"METRICS.md, Distribution and prediction metrics."#,
    ],
};

impl MetricInfo for Distribution {
    fn explanation(&self) -> &'static Explanation {
        &EXPLANATION
    }
    fn version(&self) -> u32 {
        // 2: intervals for the fractions significant.
        // 3: after a fitted post-processing, the test refits it on each
        // unit's pooled sample (issue 20).
        // 4: MMD's control kernel sum is expanded about a centre on a fixed
        // grid and its moments are added in row order, so that it no longer
        // depends on which unit's bandwidth was served first (thread
        // scheduling) nor on the thread count (issue 21); MMD moves by
        // rounding only (relative 1e-12 at most), energy not at all.
        4
    }
    fn task(&self) -> pertbench_schema::Task {
        pertbench_schema::Task::Distribution
    }
    fn refits_postprocessing(&self) -> bool {
        true
    }
}

impl Metric for Distribution {
    type Options = DistributionOptions;

    fn seeded(&self, _o: &DistributionOptions) -> bool {
        true
    }
    fn compute(
        &self,
        label: &str,
        o: &DistributionOptions,
        ctx: &MetricContext,
    ) -> Result<MetricOutput> {
        let label = label.to_string();
        let convention = match o.energy() {
            EnergySpec::UStatistic => EnergyConvention::UStatistic,
            EnergySpec::VStatistic => EnergyConvention::VStatistic,
            EnergySpec::Squared => EnergyConvention::Squared,
        };
        let with_mmd = o.mmd();
        let n_perm = o.n_permutations();
        let alpha = o.alpha();
        let n_boot = o.n_bootstrap();
        let ContextUnits {
            by_context,
            pools,
            units,
            too_small: small_units,
            without_controls: no_control_units,
        } = context_units(ctx, o.controls());
        let mut units: Vec<Unit> = units
            .into_iter()
            .map(|(perturbation, context, positions)| Unit {
                perturbation,
                context,
                positions,
                cmp: None,
                p_energy: None,
                p_mmd: None,
            })
            .collect();
        if units.is_empty() {
            return Err(EngineError::msg(format!(
                "metric `{label}`: no perturbation has 2 or more samples and a pool of 2 or more controls ({small_units} with fewer than 2 samples, {no_control_units} without controls in their context)"
            )));
        }
        let tested: std::collections::BTreeSet<usize> = sample_queries(
            &(0..units.len()).collect::<Vec<_>>(),
            o.max_tested,
            ctx.seed,
            "distribution/tested",
        )
        .into_iter()
        .collect();
        let as_f64 = |positions: &[usize]| {
            ndarray::Array2::from_shape_fn((positions.len(), ctx.matrix.ncols()), |(i, j)| {
                ctx.matrix[(positions[i], j)] as f64
            })
        };
        let err = |e| EngineError::kernel(format!("metric `{label}`"))(e);
        // After a post-processing fitted on the controls, the controls sit
        // exactly where the fit put them and the perturbation's samples do
        // not, so a test in that space rejects null perturbations (issue 20).
        // The test refits the transform on each unit's pooled sample (its
        // samples and its controls, all treated as the reference), which
        // every permutation shares, and relabels rows within batches (each
        // batch is transformed on its own rows): the relabelled rows are then
        // exchangeable under the null and the test is exact. Values stay
        // those of the post-processed space.
        let refit = match ctx.unprocessed {
            Some(u) => {
                let transform = pertbench_kernels::postprocess::by_name(u.postprocessing)
                    .ok_or_else(|| {
                        EngineError::msg(format!(
                            "metric `{label}`: unknown post-processing `{}`",
                            u.postprocessing
                        ))
                    })?;
                let position: std::collections::HashMap<usize, usize> =
                    u.rows.iter().enumerate().map(|(i, &r)| (r, i)).collect();
                Some((u, transform, position))
            }
            None => None,
        };
        let refit_pool =
            |unit: &[usize],
             controls: &[usize]|
             -> std::result::Result<Option<Refitted>, pertbench_kernels::KernelError> {
                let Some((u, transform, position)) = &refit else {
                    return Ok(None);
                };
                let s = &ctx.ingest.samples;
                let samples: Vec<usize> =
                    unit.iter().chain(controls).map(|&p| ctx.rows[p]).collect();
                let raw = Matrix::from_shape_fn((samples.len(), u.matrix.ncols()), |(i, j)| {
                    u.matrix[(position[&samples[i]], j)]
                });
                let batch: Vec<String> = samples.iter().map(|&r| s.batch[r].clone()).collect();
                let reference = vec![true; samples.len()];
                let t = transform.apply(
                    &raw,
                    &pertbench_kernels::postprocess::BatchLayout {
                        batch: &batch,
                        is_control: &reference,
                    },
                )?;
                if t.kept_rows.len() < samples.len() {
                    // A batch of the pool too small to fit on: no exact test.
                    return Ok(None);
                }
                let mut at = vec![0; samples.len()];
                for (k, &r) in t.kept_rows.iter().enumerate() {
                    at[r] = k;
                }
                let block = |range: std::ops::Range<usize>| {
                    ndarray::Array2::from_shape_fn((range.len(), t.matrix.ncols()), |(i, j)| {
                        t.matrix[(at[range.start + i], j)] as f64
                    })
                };
                // Each batch was transformed on its own rows: the test relabels
                // within batches.
                let mut ids: std::collections::HashMap<&str, usize> = Default::default();
                let strata: Vec<usize> = batch
                    .iter()
                    .map(|b| {
                        let next = ids.len();
                        *ids.entry(b.as_str()).or_insert(next)
                    })
                    .collect();
                Ok(Some(Refitted {
                    x: block(0..unit.len()),
                    y: block(unit.len()..samples.len()),
                    strata_x: strata[..unit.len()].to_vec(),
                    strata_y: strata[unit.len()..].to_vec(),
                }))
            };
        let mut untested_refit = 0usize;
        // One pool at a time, so one control block is in memory.
        for (context, controls) in &pools {
            let members: Vec<usize> = (0..units.len())
                .filter(|&i| &units[i].context == context)
                .collect();
            if members.is_empty() {
                continue;
            }
            let reference = ControlReference::new(as_f64(controls).view(), ctx.par).map_err(err)?;
            let results: Vec<(usize, Comparison, Option<(f64, f64)>)> = members
                .par_iter()
                .with_max_len(1)
                .map(|&i| {
                    let x = as_f64(&units[i].positions);
                    if tested.contains(&i) && n_perm > 0 {
                        // A seed per unit, so a unit's p-value does not depend
                        // on which other units are tested.
                        let seed = ctx.seed ^ (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
                        let (cmp, p) = if refit.is_some() {
                            let cmp = reference.compare(x.view(), convention, with_mmd)?;
                            match refit_pool(&units[i].positions, controls)? {
                                Some(r) => {
                                    let pooled = ControlReference::new(
                                        r.y.view(),
                                        // Inside the loop over units.
                                        pertbench_kernels::Par::Seq,
                                    )?;
                                    let (_, p) = pooled.compare_and_test_within(
                                        r.x.view(),
                                        Some((&r.strata_x, &r.strata_y)),
                                        convention,
                                        n_perm,
                                        seed,
                                    )?;
                                    (cmp, Some(p))
                                }
                                None => (cmp, None),
                            }
                        } else {
                            let (cmp, p) =
                                reference.compare_and_test(x.view(), convention, n_perm, seed)?;
                            (cmp, Some(p))
                        };
                        // The plain test always computes MMD; report it only if asked.
                        let cmp = if with_mmd {
                            cmp
                        } else {
                            Comparison {
                                mmd2: None,
                                sigma: None,
                                ..cmp
                            }
                        };
                        Ok((i, cmp, p))
                    } else {
                        Ok((i, reference.compare(x.view(), convention, with_mmd)?, None))
                    }
                })
                .collect::<std::result::Result<_, pertbench_kernels::KernelError>>()
                .map_err(err)?;
            for (i, cmp, p) in results {
                units[i].cmp = Some(cmp);
                if let Some((pe, pk)) = p {
                    units[i].p_energy = Some(pe);
                    units[i].p_mmd = with_mmd.then_some(pk);
                } else if tested.contains(&i) && n_perm > 0 {
                    untested_refit += 1;
                }
            }
        }
        let adjust = |get: &dyn Fn(&Unit) -> Option<f64>| -> Vec<Option<f64>> {
            let idx: Vec<usize> = (0..units.len())
                .filter(|&i| get(&units[i]).is_some())
                .collect();
            let q = benjamini_hochberg(
                &idx.iter()
                    .map(|&i| get(&units[i]).unwrap())
                    .collect::<Vec<_>>(),
            );
            let mut out = vec![None; units.len()];
            for (k, &i) in idx.iter().enumerate() {
                out[i] = Some(q[k]);
            }
            out
        };
        let q_energy = adjust(&|u| u.p_energy);
        let q_mmd = adjust(&|u| u.p_mmd);
        let energies: Vec<f64> = units
            .iter()
            .map(|u| u.cmp.expect("every pool ran").energy)
            .collect();
        let mmds: Vec<f64> = units
            .iter()
            .filter_map(|u| u.cmp.and_then(|c| c.mmd2))
            .collect();
        let n_tested = tested.len() - untested_refit;
        let test_space = match ctx.unprocessed {
            Some(u) => format!(
                ";test=refit_{}_on_pool;untested_refit={untested_refit}",
                u.postprocessing
            ),
            None => String::new(),
        };
        let conv = format!(
            "energy={};mmd={};controls={};n_permutations={n_perm};tested={n_tested};alpha={alpha};adjust=benjamini_hochberg;bootstrap={n_boot};units_too_small={small_units};units_without_controls={no_control_units}{test_space}",
            convention.name(),
            if with_mmd { "rbf_median_unbiased" } else { "off" },
            if by_context { "context" } else { "all" },
        );
        let with_ci = |variant: &str, values: &[f64], tag: u64| -> Result<MetricRow> {
            let (lo, hi) = mean_interval(values, n_boot, 0.95, ctx.seed ^ tag).map_err(err)?;
            let row = rows_of(
                &label,
                values.len(),
                n_perm,
                &conv,
                &[(
                    variant,
                    Some(values.iter().sum::<f64>() / values.len() as f64),
                )],
            )
            .remove(0);
            Ok(row.with_interval((lo, hi)))
        };
        let mut rows = vec![with_ci("mean_energy", &energies, 1)?];
        let fraction_row = |variant: &str, q: &[Option<f64>], tag: u64| -> Result<Vec<MetricRow>> {
            let share = share_significant(q, alpha, n_boot, ctx.seed ^ tag).map_err(err)?;
            let mut rows = rows_of(
                &label,
                n_tested,
                n_perm,
                &conv,
                &[(variant, share.map(|s| s.0))],
            );
            if let Some((_, ci)) = share {
                rows[0] = rows[0].clone().with_interval(ci);
            }
            Ok(rows)
        };
        rows.extend(fraction_row("fraction_significant_energy", &q_energy, 3)?);
        if with_mmd {
            rows.push(with_ci("mean_mmd2", &mmds, 2)?);
            rows.extend(fraction_row("fraction_significant_mmd2", &q_mmd, 4)?);
        }
        let schema = Schema::new(vec![
            Field::new("perturbation", DataType::Utf8, false),
            Field::new("context", DataType::Utf8, true),
            Field::new("n_samples", DataType::UInt64, false),
            Field::new("energy", DataType::Float64, false),
            Field::new("mmd2", DataType::Float64, true),
            Field::new("sigma", DataType::Float64, true),
            Field::new("p_energy", DataType::Float64, true),
            Field::new("q_energy", DataType::Float64, true),
            Field::new("p_mmd2", DataType::Float64, true),
            Field::new("q_mmd2", DataType::Float64, true),
        ]);
        let f64s = |v: Vec<Option<f64>>| Arc::new(Float64Array::from(v));
        let details = RecordBatch::try_new(
            Arc::new(schema),
            vec![
                Arc::new(StringArray::from(
                    units
                        .iter()
                        .map(|u| u.perturbation.clone())
                        .collect::<Vec<_>>(),
                )),
                Arc::new(StringArray::from(
                    units.iter().map(|u| u.context.clone()).collect::<Vec<_>>(),
                )),
                Arc::new(UInt64Array::from(
                    units
                        .iter()
                        .map(|u| u.positions.len() as u64)
                        .collect::<Vec<_>>(),
                )),
                Arc::new(Float64Array::from(energies.clone())),
                f64s(units.iter().map(|u| u.cmp.and_then(|c| c.mmd2)).collect()),
                f64s(units.iter().map(|u| u.cmp.and_then(|c| c.sigma)).collect()),
                f64s(units.iter().map(|u| u.p_energy).collect()),
                f64s(q_energy),
                f64s(units.iter().map(|u| u.p_mmd).collect()),
                f64s(q_mmd),
            ],
        )
        .expect("schema matches");
        Ok(MetricOutput {
            rows,
            details: Some(details),
        })
    }
}
