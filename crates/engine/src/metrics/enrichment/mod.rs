//! Enrichment, cytominer-eval's `enrichment`: are replicate pairs
//! over-represented among the most correlated pairs (Fisher's exact test)?

mod options;

pub use options::*;

use super::replicate_pairs::{check_columns, column_codes, columns_name, pair_correlations};
use super::{Explanation, Metric, MetricContext, MetricInfo, MetricOutput, MetricRow};
use crate::error::{EngineError, Result};
use arrow::array::{Float64Array, RecordBatch, UInt64Array};
use arrow::datatypes::{DataType, Field, Schema};
use pertbench_kernels::tasks::replicate_metrics::enrichment::{enrichment, PairCounting};
use std::sync::Arc;

pub struct Enrichment;

static EXPLANATION: Explanation = Explanation {
    summary: r#"cytominer-eval's enrichment: the odds ratio of replicate pairs among the pairs above a high quantile of all pairs' correlations, with Fisher's exact test."#,
    definition: r#"Pairs of scored samples are compared by the correlation of their profiles (`similarity`, pandas' corr); a pair is a replicate pair when both samples share every column of `replicate_groups`. For each `percentile` p: threshold = the p quantile of all pairs' correlations (linear interpolation); the 2x2 table counts replicate and non-replicate pairs above the threshold (strictly) and at or below it; odds_ratio = (replicate above x non-replicate at or below) / (non-replicate above x replicate at or below), infinite when the denominator is 0, NaN when a margin is empty; p_value is Fisher's exact test, one-sided (more replicate pairs above than the margins predict), scipy's fisher_exact(alternative='greater'). With `pairs: ordered` (cytominer-eval's) every pair is counted twice, a-b and b-a, in the quantile and in the table."#,
    variants: &[
        (
            r#"odds_ratio_<p>"#,
            r#"odds ratio of replicate pairs above the p quantile"#,
        ),
        (
            r#"p_value_<p>"#,
            r#"Fisher's exact test, one-sided, greater"#,
        ),
        (
            r#"threshold_<p>"#,
            r#"the p quantile of all pairs' correlations"#,
        ),
    ],
    conventions: r#"The operation is on cytominer-eval's GitHub head (not in its only PyPI release, 0.1): `evaluate(..., operation='enrichment', enrichment_percentile=[...])` melts the full similarity matrix without its diagonal, so each pair is counted twice; its p-values therefore treat every pair as two independent observations and are smaller than the unordered count's (`pairs: unordered`). Pairs are not independent either way: read p_value as cytominer-eval's statistic, not a calibrated test. Compared with a scipy transcription of the operation in crates/cli/tests/replicate_metrics. The hypergeometric tail is summed from Loader's saddle-point probability (R's dhyper), accurate at the tens of millions of pairs of a large plate. Controls are scored by default (`samples: treated` leaves them out); NA values share nothing; samples with one value in every feature are left out and counted. Details hold the four table counts per percentile, and an infinite odds ratio (no replicate pair at or below the threshold, or no non-replicate pair above it), which a result row holds as null."#,
    references: &[
        r#"cytominer-eval (cytomining), operations/enrichment.py (GitHub head)."#,
        r#"Loader 2000, Fast and accurate computation of binomial probabilities."#,
    ],
};

impl MetricInfo for Enrichment {
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

impl Metric for Enrichment {
    type Options = EnrichmentOptions;

    fn validate(&self, o: &Self::Options) -> std::result::Result<(), String> {
        if let Some(p) = o.percentile().iter().find(|p| !(0.0..=1.0).contains(*p)) {
            return Err(format!("every `percentile` must be in [0, 1], got {p}"));
        }
        Ok(())
    }

    fn seeded(&self, _o: &Self::Options) -> bool {
        false
    }

    fn compute(&self, label: &str, o: &Self::Options, ctx: &MetricContext) -> Result<MetricOutput> {
        let what = format!("metric `{label}`");
        let columns = o.replicate_groups();
        check_columns(ctx, &what, &columns)?;
        let pairs = pair_correlations(ctx, &what, o.samples(), o.similarity())?;
        let (replicate, _) = column_codes(ctx, &pairs.rows, &columns);
        let counting = match o.pairs() {
            EnrichmentPairs::Ordered => PairCounting::Ordered,
            EnrichmentPairs::Unordered => PairCounting::Unordered,
        };
        let percentiles = o.percentile();
        let tables = enrichment(&pairs.correlations, &replicate, &percentiles, counting)
            .map_err(EngineError::kernel(what.clone()))?;
        let n = pairs.correlations.len();
        let n_pairs = n * n.saturating_sub(1) / 2;
        let convention = format!(
            "cytominer_eval=github_head;similarity={};replicate_groups={};samples={};pairs={};fisher=greater;constant_samples={} (left out)",
            o.similarity().kernel().name(),
            columns_name(&columns),
            o.samples().name(),
            match counting {
                PairCounting::Ordered => "ordered (each pair twice)",
                PairCounting::Unordered => "unordered",
            },
            pairs.constant.len(),
        );
        let mut rows = Vec::new();
        for t in &tables {
            let p = t.percentile;
            for (variant, value) in [
                (format!("odds_ratio_{p}"), t.odds_ratio),
                (format!("p_value_{p}"), t.p_value),
                (format!("threshold_{p}"), t.threshold),
            ] {
                rows.push(MetricRow {
                    metric: label.to_string(),
                    source: None,
                    variant,
                    value: value.is_finite().then_some(value),
                    n_items: n_pairs as u64,
                    null_size: 0,
                    convention: convention.clone(),
                    ci_low: None,
                    ci_high: None,
                    null_mean: None,
                    p_value: None,
                });
            }
        }
        let col = |f: &dyn Fn(
            &pertbench_kernels::tasks::replicate_metrics::enrichment::Enrichment,
        ) -> u64| {
            Arc::new(UInt64Array::from(tables.iter().map(f).collect::<Vec<_>>()))
        };
        let schema = Schema::new(vec![
            Field::new("percentile", DataType::Float64, false),
            Field::new("threshold", DataType::Float64, false),
            Field::new("replicate_above", DataType::UInt64, false),
            Field::new("non_replicate_above", DataType::UInt64, false),
            Field::new("replicate_below", DataType::UInt64, false),
            Field::new("non_replicate_below", DataType::UInt64, false),
            Field::new("odds_ratio", DataType::Float64, false),
            Field::new("p_value", DataType::Float64, false),
        ]);
        let details = RecordBatch::try_new(
            Arc::new(schema),
            vec![
                Arc::new(Float64Array::from(
                    tables.iter().map(|t| t.percentile).collect::<Vec<_>>(),
                )),
                Arc::new(Float64Array::from(
                    tables.iter().map(|t| t.threshold).collect::<Vec<_>>(),
                )),
                col(&|t| t.table[0][0]),
                col(&|t| t.table[0][1]),
                col(&|t| t.table[1][0]),
                col(&|t| t.table[1][1]),
                Arc::new(Float64Array::from(
                    tables.iter().map(|t| t.odds_ratio).collect::<Vec<_>>(),
                )),
                Arc::new(Float64Array::from(
                    tables.iter().map(|t| t.p_value).collect::<Vec<_>>(),
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
