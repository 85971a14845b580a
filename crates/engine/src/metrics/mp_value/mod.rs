//! The multidimensional perturbation value, cytominer-eval's `mp_value`
//! (Hutz et al. 2013): is a perturbation's mean profile farther from the
//! controls, in their covariance, than random relabellings of its samples
//! and the controls?

mod options;

pub use options::*;

use super::replicate_pairs::kernel_error;
use super::{rows_of, Explanation, Metric, MetricContext, MetricInfo, MetricOutput};
use crate::error::{EngineError, Result};
use arrow::array::{Float64Array, RecordBatch, StringArray, UInt64Array};
use arrow::datatypes::{DataType, Field, Schema};
use pertbench_kernels::runtime::parallel::map_indices;
use pertbench_kernels::stats::multiple_testing::benjamini_hochberg;
use pertbench_kernels::stats::numpy_random::LegacyRandomState;
use pertbench_kernels::tasks::replicate_metrics::median;
use pertbench_kernels::tasks::replicate_metrics::mp_value::{
    mp_value, relabelling, MpValueOptions as Kernel,
};
use std::collections::BTreeMap;
use std::sync::Arc;

pub struct MpValue;

static EXPLANATION: Explanation = Explanation {
    summary: r#"cytominer-eval's mp-value: the squared Mahalanobis distance of a perturbation's mean profile from the controls, on the principal components of its samples and the controls, tested by relabelling them."#,
    definition: r#"For each perturbation that is not a control: its samples and every control sample are pooled and projected on their principal components (centred, full SVD), keeping the fewest whose cumulative share of variance exceeds `variance` (sklearn's PCA(n_components=0.9)); with `rescale_pca` each component is multiplied by its share. The statistic is the squared Mahalanobis distance of the perturbation samples' mean from the control samples' mean under the controls' population covariance, pseudo-inverted as scipy's pinvh (eigenvalues above size x eps x the largest kept). Each of n_permutations relabellings shuffles which pooled samples are the perturbation's (as many as it has) and recomputes the statistic on the same components. p_value = (1 + #relabellings with statistic >= observed) / (1 + n_permutations) with `pvalue: permutation` (valid when, without an effect, the perturbation's samples and the controls are exchangeable), #/n_permutations with `pvalue: cytominer`. corrected_p_value: Benjamini-Hochberg over perturbations."#,
    variants: &[
        (
            r#"fraction_below_p"#,
            r#"share of perturbations with p < threshold (cytominer-eval's reading)"#,
        ),
        (
            r#"fraction_significant"#,
            r#"share of perturbations with BH-corrected p < threshold"#,
        ),
        (
            r#"median_statistic"#,
            r#"median squared Mahalanobis distance over perturbations"#,
        ),
    ],
    conventions: r#"cytominer-eval 0.1 and its GitHub head: `evaluate(profiles, features, meta_features, replicate_groups=<perturbation column>, operation='mp_value', grit_control_perts=<control labels>, mp_value_params={'rescale_pca', 'nb_permutations'})`. cytominer-eval draws its relabellings from numpy's legacy global generator (`np.random.permutation`); pertbench draws them from the same generator seeded with the run's seed (`np.random.seed(seed)`), group by group in cytominer-eval's order (every perturbation label sorted, the control labels included, whose draws are made and not used), so after `np.random.seed(seed)` cytominer-eval's mp-values equal pertbench's with `pvalue: cytominer` (compared in crates/cli/tests/replicate_metrics; numpy limits that seed to 2^32 - 1, and a larger run seed is an error). A relabelling that draws exactly the perturbation's own samples is as far as the observation and counts; cytominer-eval computes its statistic from a copy of the rows and can round it 1e-14 below the observed one and miss it, so its p-value can be 1/n_permutations lower (the suite checks every other draw exactly). cytominer-eval also scores each control label against the controls; pertbench writes perturbations only. cytominer-eval's #/n can be 0 and is not a valid p-value, hence the `permutation` default; its relabellings are the same. Measured (the calibration suite, null screens of 3 plates): on raw features the permutation p-values are uniform; after a post-processing fitted on each plate's controls (center, center_scale, tvn) the controls are shrunk towards their own mean and the perturbations' samples are no longer exchangeable with them, so null perturbations look active: with 8 controls per plate in 32 features, 18% (center), 39% (center_scale) and 53% (tvn) of null p-values fall below 0.05; with 40 controls in 8 features, 8-11%. This holds for cytominer-eval on plate-normalised profiles too; the convention column names such a post-processing. Score mp-values on raw (or externally normalised) profiles, or with many controls per plate. Cost: per relabelling, the controls' covariance from the pooled scatter less the relabelled rows, and a Cholesky solve (an eigendecomposition, scipy's pinvh, where the covariance is near singular or there are no more controls than components). Details hold per perturbation: n_samples, n_components, statistic, n_at_least, p_value, corrected_p_value."#,
    references: &[
        r#"Hutz et al. 2013, The multidimensional perturbation value: a single metric to measure similarity and activity of treatments in high-throughput multidimensional screens (J Biomol Screen)."#,
        r#"cytominer-eval (cytomining), operations/mp_value.py and utils/mpvalue_utils.py."#,
    ],
};

impl MetricInfo for MpValue {
    fn explanation(&self) -> &'static Explanation {
        &EXPLANATION
    }
    /// 2: each relabelling's control covariance from the pooled scatter
    /// less its perturbed rows, solved by Cholesky where well conditioned
    /// (the last bits of the statistic move).
    fn version(&self) -> u32 {
        2
    }
    fn task(&self) -> pertbench_schema::Task {
        pertbench_schema::Task::PerturbationConsistency
    }
    /// Only to name the post-processing in the convention column: one
    /// fitted on the controls breaks the relabelling test's premise.
    fn refits_postprocessing(&self) -> bool {
        true
    }
}

impl Metric for MpValue {
    type Options = MpValueOptions;

    fn validate(&self, o: &Self::Options) -> std::result::Result<(), String> {
        let v = o.variance();
        if !(v > 0.0 && v <= 1.0) {
            return Err(format!("`variance` must be in (0, 1], got {v}"));
        }
        Ok(())
    }

    fn seeded(&self, _o: &Self::Options) -> bool {
        true
    }

    fn compute(&self, label: &str, o: &Self::Options, ctx: &MetricContext) -> Result<MetricOutput> {
        let what = format!("metric `{label}`");
        let s = &ctx.ingest.samples;
        let seed = u32::try_from(ctx.seed).map_err(|_| {
            EngineError::msg(format!(
                "{what}: the mp-value's relabellings come from numpy's legacy generator seeded with the run's seed, which numpy limits to 2^32 - 1; the seed is {}",
                ctx.seed
            ))
        })?;
        let mut by_label: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        let mut controls = Vec::new();
        for (p, &r) in ctx.rows.iter().enumerate() {
            by_label
                .entry(s.perturbation[r].as_str())
                .or_default()
                .push(p);
            if s.is_control[r] {
                controls.push(p);
            }
        }
        if controls.len() < 2 {
            return Err(EngineError::msg(format!(
                "{what}: {} control sample(s) among the scored samples; the mp-value needs two or more",
                controls.len()
            )));
        }
        let all: Vec<usize> = (0..ctx.rows.len()).collect();
        pertbench_kernels::error::check_finite(ctx.matrix)
            .map_err(|e| kernel_error(ctx, &what, &all, e))?;
        let x = ctx.matrix.mapv(f64::from);
        // cytominer-eval's groupby order: every label, controls included,
        // each drawing n_permutations relabellings of its pooled rows.
        let n_perm = o.n_permutations();
        let mut rng = LegacyRandomState::seed(seed);
        let mut tested: Vec<(&str, &Vec<usize>, Vec<Vec<u32>>)> = Vec::new();
        for (name, positions) in &by_label {
            let n_controls = positions
                .iter()
                .filter(|&&p| s.is_control[ctx.rows[p]])
                .count();
            if n_controls > 0 && n_controls < positions.len() {
                return Err(EngineError::msg(format!(
                    "{what}: perturbation `{name}` has {n_controls} control and {} perturbed samples; the mp-value groups samples by perturbation, as cytominer-eval does, and needs each to be all control or all perturbed",
                    positions.len() - n_controls
                )));
            }
            let is_control = n_controls > 0;
            let n_rows = positions.len() + controls.len();
            let draws: Vec<Vec<u32>> = (0..n_perm)
                .map(|_| relabelling(&mut rng, positions.len(), n_rows))
                .collect();
            if !is_control {
                tested.push((name, positions, draws));
            }
        }
        let control_rows = x.select(ndarray::Axis(0), &controls);
        let kernel = Kernel {
            variance: o.variance(),
            rescale: o.rescale_pca(),
        };
        let results = map_indices(ctx.par, tested.len(), |t| {
            let (_, positions, draws) = &tested[t];
            mp_value(
                x.select(ndarray::Axis(0), positions).view(),
                control_rows.view(),
                draws,
                kernel,
            )
        });
        let mut values = Vec::with_capacity(results.len());
        for (r, (name, _, _)) in results.into_iter().zip(&tested) {
            values.push(r.map_err(EngineError::kernel(format!(
                "{what}: perturbation `{name}`"
            )))?);
        }
        let p_values: Vec<f64> = values
            .iter()
            .map(|v| match o.pvalue() {
                MpPValue::Permutation => (1 + v.n_at_least) as f64 / (1 + v.n_draws) as f64,
                MpPValue::Cytominer => v.n_at_least as f64 / v.n_draws as f64,
            })
            .collect();
        let corrected = benjamini_hochberg(&p_values);
        let threshold = o.threshold();
        let n = values.len();
        let share = |f: &dyn Fn(usize) -> bool| {
            (n > 0).then(|| (0..n).filter(|&i| f(i)).count() as f64 / n as f64)
        };
        let mut statistics: Vec<f64> = values.iter().map(|v| v.statistic).collect();
        let median = (n > 0).then(|| median(&mut statistics));
        let fitted = ctx.unprocessed.map_or(String::new(), |u| {
            format!(
                ";postprocessing={} (fitted on the controls: relabelled samples are not exchangeable with them, p-values anti-conservative; explain mp_value)",
                u.postprocessing
            )
        });
        let convention = format!(
            "cytominer_eval=0.1;pvalue={};n_permutations={n_perm};rescale_pca={};variance={};draws=numpy_legacy(np.random.seed({seed}));controls={};perturbations={n};bh=perturbations;threshold={threshold}{fitted}",
            match o.pvalue() {
                MpPValue::Permutation => "permutation:(1+#>=)/(1+n)",
                MpPValue::Cytominer => "cytominer:#>=/n",
            },
            o.rescale_pca(),
            o.variance(),
            controls.len(),
        );
        let rows = rows_of(
            label,
            n,
            n_perm,
            &convention,
            &[
                ("fraction_below_p", share(&|i| p_values[i] < threshold)),
                ("fraction_significant", share(&|i| corrected[i] < threshold)),
                ("median_statistic", median),
            ],
        );
        let schema = Schema::new(vec![
            Field::new("perturbation", DataType::Utf8, false),
            Field::new("n_samples", DataType::UInt64, false),
            Field::new("n_components", DataType::UInt64, false),
            Field::new("statistic", DataType::Float64, false),
            Field::new("n_at_least", DataType::UInt64, false),
            Field::new("p_value", DataType::Float64, false),
            Field::new("corrected_p_value", DataType::Float64, false),
        ]);
        let details = RecordBatch::try_new(
            Arc::new(schema),
            vec![
                Arc::new(StringArray::from(
                    tested.iter().map(|t| t.0).collect::<Vec<_>>(),
                )),
                Arc::new(UInt64Array::from(
                    tested.iter().map(|t| t.1.len() as u64).collect::<Vec<_>>(),
                )),
                Arc::new(UInt64Array::from(
                    values
                        .iter()
                        .map(|v| v.n_components as u64)
                        .collect::<Vec<_>>(),
                )),
                Arc::new(Float64Array::from(
                    values.iter().map(|v| v.statistic).collect::<Vec<_>>(),
                )),
                Arc::new(UInt64Array::from(
                    values
                        .iter()
                        .map(|v| v.n_at_least as u64)
                        .collect::<Vec<_>>(),
                )),
                Arc::new(Float64Array::from(p_values)),
                Arc::new(Float64Array::from(corrected)),
            ],
        )
        .expect("schema matches");
        Ok(MetricOutput {
            rows,
            details: Some(details),
        })
    }
}
