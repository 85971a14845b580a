//! Task 3, perturbation consistency (METRICS.md "Task 3").

use super::{perturbation_groups, rows_of, Metric, MetricContext, MetricOutput};
use crate::error::{EngineError, Result};
use crate::pipeline::{ConsistencyNull, MetricSpec};
use arrow::array::{Float64Array, RecordBatch, StringArray, UInt64Array};
use arrow::datatypes::{DataType, Field, Schema};
use pertbench_kernels::consistency::{avgsim, fraction_significant, permutation_null, pvalue};
use pertbench_kernels::cosine::unit_rows;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

pub struct Consistency;

impl Metric for Consistency {
    fn version(&self) -> u32 {
        1
    }
    fn task(&self) -> &'static str {
        "3 perturbation consistency"
    }
    fn seeded(&self, spec: &MetricSpec) -> bool {
        spec.null != Some(ConsistencyNull::Unexpressed)
    }
    fn compute(&self, spec: &MetricSpec, ctx: &MetricContext) -> Result<MetricOutput> {
        let label = spec.label();
        let threshold = spec.expression_threshold.unwrap_or(0.15);
        let min_unexpressed = spec.min_unexpressed.unwrap_or(20);
        let n_perm = spec.n_permutations.unwrap_or(1000);
        let alpha = spec.alpha.unwrap_or(0.05);
        let unit = unit_rows(&ctx.matrix.mapv(|v| v as f64));
        let groups = perturbation_groups(ctx);

        // Perturbations whose target gene is measured and unexpressed.
        let mean_of: BTreeMap<&str, f64> = ctx
            .ingest
            .genes
            .iter()
            .map(String::as_str)
            .zip(ctx.ingest.expression_mean.iter().copied())
            .collect();
        let unexpressed: BTreeSet<&str> = groups
            .iter()
            .filter(|(p, rows)| {
                rows.len() >= 2 && mean_of.get(p.as_str()).is_some_and(|m| *m < threshold)
            })
            .map(|(p, _)| p.as_str())
            .collect();
        let null_kind = match spec.null.unwrap_or(ConsistencyNull::Auto) {
            ConsistencyNull::Auto if unexpressed.len() >= min_unexpressed => ConsistencyNull::Unexpressed,
            ConsistencyNull::Auto => ConsistencyNull::Permutation,
            ConsistencyNull::Unexpressed if unexpressed.is_empty() => {
                return Err(EngineError::msg(format!(
                    "metric `{label}`: null `unexpressed` needs perturbations whose target gene has mean expression < {threshold}; none qualify"
                )))
            }
            k => k,
        };

        let tested: Vec<(&String, &Vec<usize>)> = groups
            .iter()
            .filter(|(p, rows)| {
                rows.len() >= 2
                    && !(null_kind == ConsistencyNull::Unexpressed
                        && unexpressed.contains(p.as_str()))
            })
            .collect();
        let mut per: Vec<(String, usize, f64, f64)> = Vec::new();
        let (convention, null_size) = match null_kind {
            ConsistencyNull::Unexpressed => {
                let mut null: Vec<f64> = unexpressed
                    .iter()
                    .filter_map(|p| avgsim(&unit, &groups[*p]))
                    .collect();
                null.sort_by(|a, b| a.total_cmp(b));
                for (p, rows) in &tested {
                    let s = avgsim(&unit, rows).expect("n >= 2");
                    per.push(((*p).clone(), rows.len(), s, pvalue(&null, s)));
                }
                (
                    format!("null=unexpressed;expression_threshold={threshold};alpha={alpha}"),
                    null.len(),
                )
            }
            _ => {
                let pool: Vec<usize> = groups.values().flatten().copied().collect();
                let sizes: BTreeSet<usize> = tested.iter().map(|(_, r)| r.len()).collect();
                let mut nulls = BTreeMap::new();
                for size in sizes {
                    let null = permutation_null(&unit, &pool, size, n_perm, ctx.seed)
                        .map_err(EngineError::kernel(format!("metric `{label}`")))?;
                    nulls.insert(size, null);
                }
                for (p, rows) in &tested {
                    let s = avgsim(&unit, rows).expect("n >= 2");
                    per.push(((*p).clone(), rows.len(), s, pvalue(&nulls[&rows.len()], s)));
                }
                (
                    format!("null=permutation;n_permutations={n_perm};alpha={alpha}"),
                    n_perm,
                )
            }
        };
        let pvals: Vec<f64> = per.iter().map(|r| r.3).collect();
        let frac = fraction_significant(&pvals, alpha);
        let mean_avgsim =
            (!per.is_empty()).then(|| per.iter().map(|r| r.2).sum::<f64>() / per.len() as f64);
        let rows = rows_of(
            &label,
            per.len(),
            null_size,
            &convention,
            &[("fraction_significant", frac), ("mean_avgsim", mean_avgsim)],
        );
        let schema = Schema::new(vec![
            Field::new("perturbation", DataType::Utf8, false),
            Field::new("n_samples", DataType::UInt64, false),
            Field::new("avgsim", DataType::Float64, false),
            Field::new("pvalue", DataType::Float64, false),
        ]);
        let details = RecordBatch::try_new(
            Arc::new(schema),
            vec![
                Arc::new(StringArray::from(
                    per.iter().map(|r| r.0.clone()).collect::<Vec<_>>(),
                )),
                Arc::new(UInt64Array::from(
                    per.iter().map(|r| r.1 as u64).collect::<Vec<_>>(),
                )),
                Arc::new(Float64Array::from(
                    per.iter().map(|r| r.2).collect::<Vec<_>>(),
                )),
                Arc::new(Float64Array::from(
                    per.iter().map(|r| r.3).collect::<Vec<_>>(),
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
