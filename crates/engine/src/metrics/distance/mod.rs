//! pertpy's distance suite (`pertpy.tl.Distance`, pertpy 1.2.0): each
//! perturbation's samples against its controls under a named `metric`, as
//! `Distance.onesided_distances(adata, groupby, selected_group=<controls>)`
//! gives; with `n_permutations`, the permutation test of
//! `pertpy.tl.DistanceTest` (the E-test for `edistance`) and its
//! multiple-testing correction.

mod options;

pub use options::*;

use super::{
    context_units, rows_of, sample_queries, share_significant, ContextUnits, Explanation, Metric,
    MetricContext, MetricInfo, MetricOutput, MetricRow,
};
use crate::error::{EngineError, Result};
use arrow::array::{Float64Array, RecordBatch, StringArray, UInt64Array};
use arrow::datatypes::{DataType, Field, Schema};
use pertbench_kernels::runtime::parallel::map_indices;
use pertbench_kernels::stats::bootstrap::mean_interval;
use pertbench_kernels::stats::multiple_testing::{benjamini_hochberg, holm_sidak};
use pertbench_kernels::stats::rng::stream;
use pertbench_kernels::tasks::group_distance::e_test::{permutation_test, PValueRule};
use pertbench_kernels::tasks::group_distance::{
    CellMetric, GroupDistance, MmdKernel, Reference, WithinPairs,
};
use std::sync::Arc;

pub struct Distance;

static EXPLANATION: Explanation = Explanation {
    summary: r#"pertpy's distance suite: each perturbation's samples against its controls under a named metric (edistance, pseudobulk distances, MMD, per-feature tests, Mahalanobis), with pertpy's DistanceTest permutation test."#,
    definition: r#"Units are perturbations within a context compared with that context's controls (`controls: context`), or with all controls; a unit needs 2 samples and its pool 2 controls. X is the unit's samples, Y the controls, in the representation after post-processing (pertpy's `obsm_key`, X_pca by default there: score a PCA representation to match it). Metrics, as pertpy 1.2.0 computes them: edistance = 2 mean d(X, Y) - mean d(X, X) - mean d(Y, Y), within-group means over pairs i < j (a group of one sample: 0) or, with `within: include_self`, over all n^2 pairs; euclidean and root_mean_squared_error = ||mean X - mean Y||_2 (neither divides by the feature count G); mse = ||mean X - mean Y||^2 / G; mean_absolute_error = ||mean X - mean Y||_1 / G; pearson_distance, spearman_distance = 1 - r of the means (average ranks for Spearman); kendalltau_distance = (1 - tau_b) G (G - 1) / 4; cosine_distance = scipy's cosine of the means; r2_distance = 1 - r2_score(mean X, mean Y) (sklearn, true = mean X); mean_pairwise = mean d(X, Y); mmd = mean K(X, X) + mean K(Y, Y) - 2 mean K(X, Y) over all pairs (i = j included), K linear (then ||mean X - mean Y||^2), rbf exp(-gamma ||a - b||^2) or poly (gamma <a, b>)^degree; sym_kldiv = mean over features of KL(x||y) + KL(y||x) of Gaussians with the groups' means and population standard deviations + epsilon; t_test = mean over features of |Welch's t| with sample variances + epsilon; ks_test = mean over features of the two-sample KS statistic; mahalanobis = sqrt(d' S^-1 d), d = mean X - mean Y, S the covariance of X (ddof 1); mean_var_distribution = the mean over a grid of the squared difference of two kernel density estimates (sklearn's KernelDensity, exponential kernel, bandwidth n^(-1/6) for n points), one per group, of the points (log mean, log variance) of the features whose mean is positive (numpy's population variance; the grid is pertpy's: 100 points on each axis spanning both groups' points and one bin beyond; undefined when a group has no such feature or a positive-mean feature without variance). With `n_permutations` > 0 each tested unit's samples and controls are pooled and their labels shuffled that many times (group sizes kept), the distance recomputed each time (pair-based distances from the pooled pair matrix, as pertpy's precomputed path), p = max(1, #null > observed) / B (`pvalue: pertpy`) or (1 + #null >= observed) / (1 + B) (`pvalue: permutation`), adjusted by Holm-Sidak or Benjamini-Hochberg over the tested units. Rows: mean_distance over units with a defined value (bootstrap interval over units); with a test, fraction_significant = share of tested units with adjusted p < alpha (its interval resamples their indicators)."#,
    variants: &[
        (
            r#"mean_distance"#,
            r#"mean over perturbations of their distance from the controls"#,
        ),
        (
            r#"fraction_significant"#,
            r#"share of tested perturbations whose adjusted p-value is below alpha"#,
        ),
    ],
    conventions: r#"pertpy 1.2.0's `Distance(metric).onesided_distances(adata, groupby, selected_group)` scores each group X against the selected group Y with `Distance.__call__(X, Y)` (edistance by its within/between cache, the same values), which is what the details' `distance` holds (compared in crates/cli/tests/distance). `DistanceTest(metric, n_perms)` computes edistance from the pooled distance matrix (`Edistance.from_precomputed`, whose within-group means include the zero diagonal): `within: include_self` gives its statistic, and its cell distances come from `cell_wise_metric` (euclidean there; `cell_metric: sqeuclidean` is scPerturb's). Its p-value is max(1, #null > observed) / n_perms, and its correction (statsmodels' `multipletests`, holm-sidak by default) runs over every group, the contrast group included: that group's p-value is 1 / n_perms during the correction (its NaN comparisons count no exceedance) and is set to 1 afterwards, so the tests counted are the perturbations and one more with the smallest p; `pvalue: pertpy` reproduces this, and `pvalue: permutation` corrects over the perturbations only. With pertpy's defaults (1000 relabellings, Holm-Sidak) the smallest adjusted p-value is 1 - (1 - 1/1000)^(m + 1) for m tested perturbations, above 0.05 once m exceeds 50: on the Papalexi screen (75 units) nothing is significant that way, while `pvalue: permutation, correction: benjamini_hochberg` finds STAT1, IFNGR1, IFNGR2, JAK2, IRF1 and SMAD4 in every replicate (pipelines/papalexi.yaml). pertpy draws its relabellings from an unseeded generator, so its p-values change from run to run; pertbench's are seeded (run seed, unit). Measured on pertpy 1.2.0: `DistanceTest` assigns the p-values, computed in sorted group order, to the groups in their order of appearance in `adata.obs`, so unless the groups appear sorted, each p-value lands on another group (a null group can be reported significant and an active one not); pertbench keeps each p-value with its perturbation. Deliberate differences: a unit with one sample is left out and counted (pertpy scores it, its within term 0); mmd with the linear kernel is computed as ||mean X - mean Y||^2, the identity pertpy's three kernel means approximate with cancellation; mahalanobis is left undefined (NaN, counted) where X's covariance is singular or its condition number exceeds 1e12 (numpy's `inv` raises or returns a meaningless inverse); a correlation of a constant pseudobulk is undefined (NaN, counted), as scipy's warning and NaN say. Not provided: wasserstein (OTT-JAX's Sinkhorn, no maintained Rust equivalent), nb_ll (statsmodels' NB fit), classifier_proba and classifier_cp (unseeded split, sklearn's logistic regression). After a post-processing fitted on the controls (center, center_scale, tvn), relabelled samples are not exchangeable with the controls and the test is anti-conservative (as for `mp_value`; measured by the calibration suite, null screens of 3 plates with 8 controls each: on raw features 3.7-6.0% of null p-values fall below 0.05, after `center_scale` 69%); the convention column names such a post-processing: test on raw profiles, or use `distribution`, whose test refits the transform. Representations are held in float32: a float64 input that is not a float32 number is rounded on reading, which moves distances by up to 1e-7 relative (measured on the suite's embedding before it was written as float32 numbers; on float32 numbers every metric equals pertpy's within 1e-13). Details hold per perturbation: context, n_samples, n_controls, distance (null where undefined), p_value, adjusted_p_value."#,
    references: &[
        r#"pertpy (scverse), tools/_distances/_distances.py and _distance_tests.py, release 1.2.0."#,
        r#"Peidli et al. 2024, scPerturb (Nature Methods): E-distance and E-test."#,
        r#"Holm 1979; Sidak 1967: the Holm-Sidak step-down correction (statsmodels' multipletests)."#,
    ],
};

impl MetricInfo for Distance {
    fn explanation(&self) -> &'static Explanation {
        &EXPLANATION
    }
    fn version(&self) -> u32 {
        1
    }
    fn task(&self) -> pertbench_schema::Task {
        pertbench_schema::Task::Distribution
    }
    /// Only to name the post-processing in the convention column: one
    /// fitted on the controls breaks the relabelling test's premise.
    fn refits_postprocessing(&self) -> bool {
        true
    }
}

impl DistanceOptions {
    /// The kernel's distance with the options that apply to it.
    fn group_distance(&self) -> GroupDistance {
        let cell = match self.cell_metric() {
            CellMetricSpec::Euclidean => CellMetric::Euclidean,
            CellMetricSpec::Sqeuclidean => CellMetric::SqEuclidean,
        };
        match self.metric() {
            DistanceMetric::Edistance => GroupDistance::Edistance {
                within: match self.within() {
                    WithinSpec::ExcludeSelf => WithinPairs::ExcludeSelf,
                    WithinSpec::IncludeSelf => WithinPairs::IncludeSelf,
                },
                cell,
            },
            DistanceMetric::Euclidean | DistanceMetric::RootMeanSquaredError => {
                GroupDistance::Euclidean
            }
            DistanceMetric::Mse => GroupDistance::MeanSquaredError,
            DistanceMetric::MeanAbsoluteError => GroupDistance::MeanAbsoluteError,
            DistanceMetric::PearsonDistance => GroupDistance::PearsonDistance,
            DistanceMetric::SpearmanDistance => GroupDistance::SpearmanDistance,
            DistanceMetric::KendalltauDistance => GroupDistance::KendallTauDistance,
            DistanceMetric::CosineDistance => GroupDistance::CosineDistance,
            DistanceMetric::R2Distance => GroupDistance::R2Distance,
            DistanceMetric::MeanPairwise => GroupDistance::MeanPairwise { cell },
            DistanceMetric::Mmd => GroupDistance::Mmd {
                kernel: match self.kernel() {
                    KernelSpec::Linear => MmdKernel::Linear,
                    KernelSpec::Rbf => MmdKernel::Rbf {
                        gamma: self.gamma(),
                    },
                    KernelSpec::Poly => MmdKernel::Poly {
                        gamma: self.gamma(),
                        degree: self.degree(),
                    },
                },
            },
            DistanceMetric::SymKldiv => GroupDistance::SymKlDiv {
                epsilon: self.epsilon(),
            },
            DistanceMetric::TTest => GroupDistance::TTest {
                epsilon: self.epsilon(),
            },
            DistanceMetric::KsTest => GroupDistance::KsTest,
            DistanceMetric::Mahalanobis => GroupDistance::Mahalanobis,
            DistanceMetric::MeanVarDistribution => GroupDistance::MeanVarDistribution,
        }
    }

    /// pertpy's name of the metric as the entry spells it.
    fn metric_name(&self) -> String {
        serde_json::to_value(self.metric())
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default()
    }
}

struct Unit {
    perturbation: String,
    context: Option<String>,
    positions: Vec<usize>,
    n_controls: usize,
    distance: f64,
    p_value: Option<f64>,
}

impl Metric for Distance {
    type Options = DistanceOptions;

    fn validate(&self, o: &DistanceOptions) -> std::result::Result<(), String> {
        let metric = o.metric();
        let only = |set: bool, field: &str, applies: bool, to: &str| {
            if set && !applies {
                Err(format!(
                    "`{field}` applies to {to} only, and this entry's metric is `{}`",
                    o.metric_name()
                ))
            } else {
                Ok(())
            }
        };
        only(
            o.within.is_some(),
            "within",
            metric == DistanceMetric::Edistance,
            "`metric: edistance`",
        )?;
        only(
            o.cell_metric.is_some(),
            "cell_metric",
            matches!(
                metric,
                DistanceMetric::Edistance | DistanceMetric::MeanPairwise
            ),
            "`metric: edistance` and `mean_pairwise`",
        )?;
        only(
            o.kernel.is_some(),
            "kernel",
            metric == DistanceMetric::Mmd,
            "`metric: mmd`",
        )?;
        let kernel_takes = |k: KernelSpec| metric == DistanceMetric::Mmd && o.kernel() == k;
        only(
            o.gamma.is_some(),
            "gamma",
            kernel_takes(KernelSpec::Rbf) || kernel_takes(KernelSpec::Poly),
            "`metric: mmd` with `kernel: rbf` or `poly`",
        )?;
        only(
            o.degree.is_some(),
            "degree",
            kernel_takes(KernelSpec::Poly),
            "`metric: mmd` with `kernel: poly`",
        )?;
        only(
            o.epsilon.is_some(),
            "epsilon",
            matches!(metric, DistanceMetric::SymKldiv | DistanceMetric::TTest),
            "`metric: sym_kldiv` and `t_test`",
        )?;
        if o.n_permutations() == 0 {
            for (set, field) in [
                (o.pvalue.is_some(), "pvalue"),
                (o.correction.is_some(), "correction"),
                (o.alpha.is_some(), "alpha"),
                (o.max_tested.is_some(), "max_tested"),
            ] {
                if set {
                    return Err(format!(
                        "`{field}` configures the permutation test, which runs only with `n_permutations` above 0"
                    ));
                }
            }
        }
        Ok(())
    }

    /// The bootstrap interval always; the test's draws when it runs.
    fn seeded(&self, _o: &DistanceOptions) -> bool {
        true
    }

    fn compute(
        &self,
        label: &str,
        o: &DistanceOptions,
        ctx: &MetricContext,
    ) -> Result<MetricOutput> {
        let what = format!("metric `{label}`");
        let metric = o.group_distance();
        let n_perm = o.n_permutations();
        let alpha = o.alpha();
        let n_boot = o.n_bootstrap();
        let rule = match o.pvalue() {
            DistancePValue::Pertpy => PValueRule::Pertpy,
            DistancePValue::Permutation => PValueRule::Permutation,
        };
        let ContextUnits {
            by_context,
            pools,
            units,
            too_small,
            without_controls,
        } = context_units(ctx, o.controls());
        if units.is_empty() {
            return Err(EngineError::msg(format!(
                "{what}: no perturbation has 2 or more samples and a pool of 2 or more controls ({too_small} with fewer than 2 samples, {without_controls} without controls in their context)"
            )));
        }
        let tested: std::collections::BTreeSet<usize> = if n_perm > 0 {
            sample_queries(
                &(0..units.len()).collect::<Vec<_>>(),
                o.max_tested,
                ctx.seed,
                "distance/tested",
            )
            .into_iter()
            .collect()
        } else {
            Default::default()
        };
        let as_f64 = |positions: &[usize]| {
            ndarray::Array2::from_shape_fn((positions.len(), ctx.matrix.ncols()), |(i, j)| {
                ctx.matrix[(positions[i], j)] as f64
            })
        };
        let kernel_error = |e: pertbench_kernels::KernelError, whose: &str| {
            EngineError::msg(format!("{what} ({}, {whose}): {e}", metric.name()))
        };
        let mut units: Vec<Unit> = units
            .into_iter()
            .map(|(perturbation, context, positions)| Unit {
                perturbation,
                context,
                positions,
                n_controls: 0,
                distance: f64::NAN,
                p_value: None,
            })
            .collect();
        // One pool at a time: its controls' reference is built once.
        for (context, controls) in &pools {
            let members: Vec<usize> = (0..units.len())
                .filter(|&i| &units[i].context == context)
                .collect();
            if members.is_empty() {
                continue;
            }
            let y = as_f64(controls);
            let pool_name = context.as_deref().map_or("the controls".to_string(), |c| {
                format!("the controls of context `{c}`")
            });
            let reference = Reference::new(metric, y.view(), ctx.par)
                .map_err(|e| kernel_error(e, &pool_name))?;
            let results = map_indices(ctx.par, members.len(), |k| {
                let i = members[k];
                let x = as_f64(&units[i].positions);
                let distance = reference.distance(x.view())?;
                let p = if tested.contains(&i) {
                    let mut rng = stream(ctx.seed, "distance/e_test", i as u64);
                    let out = permutation_test(
                        metric,
                        x.view(),
                        y.view(),
                        n_perm,
                        rule,
                        &mut rng,
                        pertbench_kernels::Par::Seq,
                    )?;
                    Some(out.p_value)
                } else {
                    None
                };
                Ok::<_, pertbench_kernels::KernelError>((distance, p))
            });
            for (k, r) in results.into_iter().enumerate() {
                let i = members[k];
                let (distance, p) = r.map_err(|e| {
                    kernel_error(e, &format!("perturbation `{}`", units[i].perturbation))
                })?;
                units[i].distance = distance;
                units[i].p_value = p.filter(|p| !p.is_nan());
                units[i].n_controls = controls.len();
            }
        }
        // The correction over the tested units (and, pertpy's way, the
        // contrast group with p = 1 / B).
        let tested_idx: Vec<usize> = (0..units.len())
            .filter(|&i| units[i].p_value.is_some())
            .collect();
        let mut p_list: Vec<f64> = tested_idx
            .iter()
            .map(|&i| units[i].p_value.unwrap())
            .collect();
        let contrast_counted = rule == PValueRule::Pertpy && !p_list.is_empty();
        if contrast_counted {
            p_list.push(1.0 / n_perm as f64);
        }
        let adjusted_list = match o.correction() {
            Correction::HolmSidak => holm_sidak(&p_list),
            Correction::BenjaminiHochberg => benjamini_hochberg(&p_list),
        };
        let mut adjusted = vec![None; units.len()];
        for (k, &i) in tested_idx.iter().enumerate() {
            adjusted[i] = Some(adjusted_list[k]);
        }
        let defined: Vec<f64> = units
            .iter()
            .map(|u| u.distance)
            .filter(|d| !d.is_nan())
            .collect();
        let undefined = units.len() - defined.len();
        let untested_undefined = tested.len() - tested_idx.len();
        let fitted = ctx.unprocessed.map_or(String::new(), |u| {
            format!(
                ";postprocessing={} (fitted on the controls: relabelled samples are not exchangeable with them, p-values anti-conservative; explain distance)",
                u.postprocessing
            )
        });
        let metric_convention = match metric {
            GroupDistance::Edistance { within, cell } => {
                format!(";within={};cell_metric={}", within.name(), cell.name())
            }
            GroupDistance::MeanPairwise { cell } => format!(";cell_metric={}", cell.name()),
            GroupDistance::Mmd { kernel } => match kernel {
                MmdKernel::Linear => ";kernel=linear".into(),
                MmdKernel::Rbf { gamma } => format!(";kernel=rbf;gamma={gamma}"),
                MmdKernel::Poly { gamma, degree } => {
                    format!(";kernel=poly;gamma={gamma};degree={degree}")
                }
            },
            GroupDistance::SymKlDiv { epsilon } | GroupDistance::TTest { epsilon } => {
                format!(";epsilon={epsilon}")
            }
            _ => String::new(),
        };
        let test_convention = if n_perm > 0 {
            format!(
                ";n_permutations={n_perm};pvalue={};correction={}{};tested={};untested_undefined={untested_undefined};alpha={alpha}",
                rule.name(),
                match o.correction() {
                    Correction::HolmSidak => "holm_sidak",
                    Correction::BenjaminiHochberg => "benjamini_hochberg",
                },
                if contrast_counted { "+contrast" } else { "" },
                tested_idx.len(),
            )
        } else {
            String::new()
        };
        let conv = format!(
            "pertpy=1.2.0;metric={}{metric_convention};controls={};undefined={undefined};units_too_small={too_small};units_without_controls={without_controls};bootstrap={n_boot}{test_convention}{fitted}",
            o.metric_name(),
            if by_context { "context" } else { "all" },
        );
        let err = |e| EngineError::kernel(format!("{what} (bootstrap)"))(e);
        let mut rows: Vec<MetricRow> = Vec::new();
        if defined.is_empty() {
            rows.extend(rows_of(label, 0, 0, &conv, &[("mean_distance", None)]));
        } else {
            let (lo, hi) = mean_interval(&defined, n_boot, 0.95, ctx.seed ^ 1).map_err(err)?;
            let mean = defined.iter().sum::<f64>() / defined.len() as f64;
            let row = rows_of(
                label,
                defined.len(),
                0,
                &conv,
                &[("mean_distance", Some(mean))],
            )
            .remove(0)
            .with_interval((lo, hi));
            rows.push(row);
        }
        if n_perm > 0 {
            let share = share_significant(&adjusted, alpha, n_boot, ctx.seed ^ 2).map_err(err)?;
            let n_items = adjusted.iter().flatten().count();
            let mut row = rows_of(
                label,
                n_items,
                n_perm,
                &conv,
                &[("fraction_significant", share.map(|s| s.0))],
            )
            .remove(0);
            if let Some((_, ci)) = share {
                row = row.with_interval(ci);
            }
            rows.push(row);
        }
        let schema = Schema::new(vec![
            Field::new("perturbation", DataType::Utf8, false),
            Field::new("context", DataType::Utf8, true),
            Field::new("n_samples", DataType::UInt64, false),
            Field::new("n_controls", DataType::UInt64, false),
            Field::new("distance", DataType::Float64, true),
            Field::new("p_value", DataType::Float64, true),
            Field::new("adjusted_p_value", DataType::Float64, true),
        ]);
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
                Arc::new(UInt64Array::from(
                    units
                        .iter()
                        .map(|u| u.n_controls as u64)
                        .collect::<Vec<_>>(),
                )),
                Arc::new(Float64Array::from(
                    units
                        .iter()
                        .map(|u| (!u.distance.is_nan()).then_some(u.distance))
                        .collect::<Vec<_>>(),
                )),
                Arc::new(Float64Array::from(
                    units.iter().map(|u| u.p_value).collect::<Vec<_>>(),
                )),
                Arc::new(Float64Array::from(adjusted)),
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
    use super::*;

    fn options(yaml: &str) -> DistanceOptions {
        serde_yaml_ng::from_str(yaml).unwrap()
    }

    /// An option that does not apply to the entry's metric, or a test
    /// option without a test, is refused with a message naming it.
    #[test]
    fn options_that_do_not_apply_are_refused() {
        let refused = |yaml: &str, field: &str| {
            let e = Distance.validate(&options(yaml)).unwrap_err();
            assert!(e.contains(&format!("`{field}`")), "{yaml}: {e}");
        };
        refused("{metric: euclidean, kernel: rbf}", "kernel");
        refused("{metric: mmd, gamma: 2.0}", "gamma");
        refused("{metric: mmd, kernel: rbf, degree: 3}", "degree");
        refused("{metric: mse, within: include_self}", "within");
        refused("{metric: mse, cell_metric: sqeuclidean}", "cell_metric");
        refused("{metric: ks_test, epsilon: 0.1}", "epsilon");
        refused("{pvalue: permutation}", "pvalue");
        refused("{correction: benjamini_hochberg}", "correction");
        for fine in [
            "{}",
            "{metric: mmd, kernel: poly, gamma: 0.5, degree: 3}",
            "{metric: mean_pairwise, cell_metric: sqeuclidean}",
            "{metric: t_test, epsilon: 0.0, n_permutations: 10, pvalue: permutation}",
        ] {
            Distance.validate(&options(fine)).unwrap();
        }
        assert!(serde_yaml_ng::from_str::<DistanceOptions>("{metric: wasserstein}").is_err());
    }
}
