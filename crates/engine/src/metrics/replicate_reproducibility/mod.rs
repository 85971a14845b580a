//! Replicate reproducibility ("percent replicating"), cytominer-eval's
//! `replicate_reproducibility`: do a perturbation's replicate profiles
//! correlate better than profiles that are not replicates?

mod options;

pub use options::*;

use super::replicate_pairs::{
    check_columns, column_codes, columns_name, pair_correlations, SampleColumn,
};
use super::{rows_of, Explanation, Metric, MetricContext, MetricInfo, MetricOutput};
use crate::error::{EngineError, Result};
use arrow::array::{Float64Array, RecordBatch, StringArray, UInt64Array};
use arrow::datatypes::{DataType, Field, Schema};
use pertbench_kernels::tasks::replicate_metrics::reproducibility::replicate_reproducibility;
use std::sync::Arc;

pub struct ReplicateReproducibility;

static EXPLANATION: Explanation = Explanation {
    summary: r#"cytominer-eval's replicate reproducibility (percent replicating): the share of replicate pairs whose correlation exceeds a high quantile of the non-replicate pairs' correlations."#,
    definition: r#"Every unordered pair of the scored samples (`samples`) is compared by the correlation of their profiles across features (`similarity`: pandas' corr, Pearson or Spearman). Two samples are replicates when they share the value of every column in `replicate_groups` (an NA annotation shares nothing). threshold = the `quantile` of the non-replicate pairs' correlations (linear interpolation, pandas' quantile); fraction_replicating = #(replicate pairs with correlation > threshold) / #replicate pairs. Details hold each replicate group's pair count and median pair correlation (cytominer-eval's return_median_correlations)."#,
    variants: &[
        (
            r#"fraction_replicating"#,
            r#"share of replicate pairs above the threshold"#,
        ),
        (
            r#"null_quantile"#,
            r#"the threshold: the quantile of non-replicate correlations"#,
        ),
    ],
    conventions: r#"cytominer-eval 0.1 (PyPI) and its GitHub head agree on this operation: `evaluate(profiles, features, meta_features, replicate_groups, operation='replicate_reproducibility', similarity_metric, replicate_reproducibility_quantile)` is pertbench's value with the same columns (compared in crates/cli/tests/replicate_metrics). cytominer-eval scores every profile it is given, controls included (`samples: all`); `treated` leaves controls out. A sample whose features are all equal has no correlation (pandas gives NaN, which cytominer-eval's melt drops with all its pairs): pertbench leaves it out and counts it in the convention column. cytominer-eval reads an NA value as the string 'nan', so NA annotations are replicates of each other there; here NA shares nothing. Correlations are computed in f64 from the representation's float32 values; pairs are kept as one triangle (4 GB at most: 32,768 samples), which cytominer-eval's melted frame reaches far earlier. No interval: the pairs are not independent."#,
    references: &[
        r#"Way et al. 2021, Predicting cell health phenotypes using image-based morphology profiling (MBoC); cytominer-eval (cytomining), operations/replicate_reproducibility.py."#,
    ],
};

impl MetricInfo for ReplicateReproducibility {
    fn explanation(&self) -> &'static Explanation {
        &EXPLANATION
    }
    fn version(&self) -> u32 {
        1
    }
    fn task(&self) -> pertbench_schema::Task {
        pertbench_schema::Task::PerturbationConsistency
    }
}

impl Metric for ReplicateReproducibility {
    type Options = ReplicateReproducibilityOptions;

    fn validate(&self, o: &Self::Options) -> std::result::Result<(), String> {
        let q = o.quantile();
        if !(q > 0.0 && q <= 1.0) {
            return Err(format!("`quantile` must be in (0, 1], got {q}"));
        }
        Ok(())
    }

    fn seeded(&self, _o: &Self::Options) -> bool {
        false
    }

    fn compute(&self, label: &str, o: &Self::Options, ctx: &MetricContext) -> Result<MetricOutput> {
        let what = format!("metric `{label}`");
        let columns: Vec<SampleColumn> = o.replicate_groups();
        check_columns(ctx, &what, &columns)?;
        let pairs = pair_correlations(ctx, &what, o.samples(), o.similarity())?;
        let (codes, names) = column_codes(ctx, &pairs.rows, &columns);
        let r = replicate_reproducibility(&pairs.correlations, &codes, o.quantile())
            .map_err(EngineError::kernel(what.clone()))?;
        let convention = format!(
            "cytominer_eval=0.1;similarity={};replicate_groups={};samples={};quantile={};pairs=unordered;replicate_pairs={};non_replicate_pairs={};constant_samples={} (left out)",
            o.similarity().kernel().name(),
            columns_name(&columns),
            o.samples().name(),
            o.quantile(),
            r.n_replicate_pairs,
            r.n_non_replicate_pairs,
            pairs.constant.len(),
        );
        let rows = rows_of(
            label,
            r.n_replicate_pairs,
            0,
            &convention,
            &[
                ("fraction_replicating", Some(r.fraction)),
                ("null_quantile", Some(r.threshold)),
            ],
        );
        let schema = Schema::new(vec![
            Field::new("replicate_group", DataType::Utf8, false),
            Field::new("n_pairs", DataType::UInt64, false),
            Field::new("median_correlation", DataType::Float64, false),
        ]);
        let details = RecordBatch::try_new(
            Arc::new(schema),
            vec![
                Arc::new(StringArray::from(
                    r.group_medians
                        .iter()
                        .map(|g| names[g.0 as usize].as_str())
                        .collect::<Vec<_>>(),
                )),
                Arc::new(UInt64Array::from(
                    r.group_medians
                        .iter()
                        .map(|g| g.1 as u64)
                        .collect::<Vec<_>>(),
                )),
                Arc::new(Float64Array::from(
                    r.group_medians.iter().map(|g| g.2).collect::<Vec<_>>(),
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
