//! Precision and recall at k, cytominer-eval's `precision_recall`: among a
//! group's most correlated pairs, how many are replicate pairs?

mod options;

pub use options::*;

use super::replicate_pairs::{check_columns, column_codes, columns_name, pair_correlations};
use super::{rows_of, Explanation, Metric, MetricContext, MetricInfo, MetricOutput};
use crate::error::{EngineError, Result};
use arrow::array::{Float64Array, RecordBatch, StringArray, UInt64Array};
use arrow::datatypes::{DataType, Field, Schema};
use pertbench_kernels::tasks::replicate_metrics::precision_recall::precision_recall;
use std::sync::Arc;

pub struct PrecisionRecall;

static EXPLANATION: Explanation = Explanation {
    summary: r#"cytominer-eval's precision and recall at k: the samples of a group pool their pairs with every other sample, rank them by correlation, and count replicate pairs among the top k."#,
    definition: r#"Pairs are compared by the correlation of their profiles (`similarity`, pandas' corr). The samples sharing the values of `group_by` form a group; its pool is every ordered pair (a, b) with a in the group and b any other scored sample, ranked by correlation, highest first. A pair is relevant when a and b share every column of `replicate_groups`. For each k: precision = relevant pairs among the top k / k (k even when the pool is shorter), recall = relevant pairs among the top k / relevant pairs in the pool (undefined, NaN, when it has none). precision_at_<k> is the mean over groups, recall_at_<k> the mean over groups with a defined recall."#,
    variants: &[
        (
            r#"precision_at_<k>"#,
            r#"mean over groups of precision at k"#,
        ),
        (
            r#"recall_at_<k>"#,
            r#"mean over groups (with a replicate pair) of recall at k"#,
        ),
    ],
    conventions: r#"cytominer-eval 0.1 groups by `replicate_groups` (group_by equal to replicate_groups); its GitHub head adds `groupby_columns` and a list of k: pertbench's rows per (group, k) equal both (crates/cli/tests/replicate_metrics). cytominer-eval ranks with pandas' unstable sort, so pairs of equal correlation come in no defined order; pertbench ranks them by sample position. cytominer-eval returns per-group rows only: their means are pertbench's summary rows, the rows themselves its details (group, k, n_pairs, n_replicate_pairs, precision, recall). Controls are scored with everything else by default, as in cytominer-eval (`samples: treated` leaves them out); NA values share nothing (cytominer-eval's 'nan' strings match each other); samples with one value in every feature are left out and counted."#,
    references: &[
        r#"cytominer-eval (cytomining), operations/precision_recall.py and utils/precisionrecall_utils.py."#,
    ],
};

impl MetricInfo for PrecisionRecall {
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

impl Metric for PrecisionRecall {
    type Options = PrecisionRecallOptions;

    fn validate(&self, o: &Self::Options) -> std::result::Result<(), String> {
        if o.k().contains(&0) {
            return Err("every `k` must be at least 1".into());
        }
        Ok(())
    }

    fn seeded(&self, _o: &Self::Options) -> bool {
        false
    }

    fn compute(&self, label: &str, o: &Self::Options, ctx: &MetricContext) -> Result<MetricOutput> {
        let what = format!("metric `{label}`");
        let (replicate_columns, group_columns) = (o.replicate_groups(), o.group_by());
        check_columns(ctx, &what, &replicate_columns)?;
        check_columns(ctx, &what, &group_columns)?;
        let pairs = pair_correlations(ctx, &what, o.samples(), o.similarity())?;
        let (replicate, _) = column_codes(ctx, &pairs.rows, &replicate_columns);
        let (groups, group_names) = column_codes(ctx, &pairs.rows, &group_columns);
        // A sample with an NA group value belongs to no group.
        let ungrouped = groups.iter().filter(|g| g.is_none()).count();
        let no_group = group_names.len() as u32;
        let group: Vec<u32> = groups.iter().map(|g| g.unwrap_or(no_group)).collect();
        let ks = o.k();
        let rows_pr = precision_recall(&pairs.correlations, &replicate, &group, &ks, ctx.par)
            .map_err(EngineError::kernel(what.clone()))?;
        let rows_pr: Vec<_> = rows_pr
            .into_iter()
            .filter(|r| r.group != no_group)
            .collect();
        let n_groups = group_names.len();
        let convention = format!(
            "cytominer_eval=0.1;similarity={};replicate_groups={};group_by={};samples={};ties=by_position;groups={n_groups};samples_without_group={ungrouped} (left out of the groups);constant_samples={} (left out)",
            o.similarity().kernel().name(),
            columns_name(&replicate_columns),
            columns_name(&group_columns),
            o.samples().name(),
            pairs.constant.len(),
        );
        let mut rows = Vec::new();
        for &k in &ks {
            let at_k: Vec<_> = rows_pr.iter().filter(|r| r.k == k).collect();
            let precision = at_k.iter().map(|r| r.precision).sum::<f64>() / at_k.len() as f64;
            let recalls: Vec<f64> = at_k
                .iter()
                .map(|r| r.recall)
                .filter(|r| !r.is_nan())
                .collect();
            let recall =
                (!recalls.is_empty()).then(|| recalls.iter().sum::<f64>() / recalls.len() as f64);
            rows.extend(rows_of(
                label,
                at_k.len(),
                0,
                &convention,
                &[(
                    &format!("precision_at_{k}"),
                    (!at_k.is_empty()).then_some(precision),
                )],
            ));
            rows.extend(rows_of(
                label,
                recalls.len(),
                0,
                &convention,
                &[(&format!("recall_at_{k}"), recall)],
            ));
        }
        let schema = Schema::new(vec![
            Field::new("group", DataType::Utf8, false),
            Field::new("k", DataType::UInt64, false),
            Field::new("n_pairs", DataType::UInt64, false),
            Field::new("n_replicate_pairs", DataType::UInt64, false),
            Field::new("precision", DataType::Float64, false),
            Field::new("recall", DataType::Float64, true),
        ]);
        let details = RecordBatch::try_new(
            Arc::new(schema),
            vec![
                Arc::new(StringArray::from(
                    rows_pr
                        .iter()
                        .map(|r| group_names[r.group as usize].as_str())
                        .collect::<Vec<_>>(),
                )),
                Arc::new(UInt64Array::from(
                    rows_pr.iter().map(|r| r.k as u64).collect::<Vec<_>>(),
                )),
                Arc::new(UInt64Array::from(
                    rows_pr.iter().map(|r| r.n_pairs as u64).collect::<Vec<_>>(),
                )),
                Arc::new(UInt64Array::from(
                    rows_pr
                        .iter()
                        .map(|r| r.n_replicate_pairs as u64)
                        .collect::<Vec<_>>(),
                )),
                Arc::new(Float64Array::from(
                    rows_pr.iter().map(|r| r.precision).collect::<Vec<_>>(),
                )),
                Arc::new(Float64Array::from(
                    rows_pr
                        .iter()
                        .map(|r| (!r.recall.is_nan()).then_some(r.recall))
                        .collect::<Vec<_>>(),
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
