//! Task 5, known relationship recall (METRICS.md "Task 5"), following
//! efaar-benchmarking 1.0 `known_relationship_benchmark`.

use super::{perturbation_groups, Metric, MetricContext, MetricOutput, MetricRow};
use crate::error::{EngineError, Result};
use crate::pipeline::MetricSpec;
use ndarray::Array2;
use pertbench_data::relationships::read_pairs;
use pertbench_kernels::cosine::{pair_cosines, sorted_upper_triangle, unit_rows};
use pertbench_kernels::recall::{recall, Tails};
use std::collections::HashMap;

pub struct RelationshipRecall;

pub const DEFAULT_SOURCES: [&str; 5] = ["corum", "humap", "reactome", "signor", "stringdb"];

impl Metric for RelationshipRecall {
    fn version(&self) -> u32 {
        1
    }
    fn task(&self) -> &'static str {
        "5 known relationship recall"
    }
    fn seeded(&self, _spec: &MetricSpec) -> bool {
        false
    }
    fn compute(&self, spec: &MetricSpec, ctx: &MetricContext) -> Result<MetricOutput> {
        let label = spec.label();
        let groups = perturbation_groups(ctx);
        let names: Vec<&String> = groups.keys().collect();
        if names.len() < 2 {
            return Err(EngineError::msg(format!(
                "metric `{label}`: needs at least two perturbations, found {}",
                names.len()
            )));
        }
        // Mean of each perturbation's non-control samples, over all batches.
        let d = ctx.matrix.ncols();
        let mut agg = Array2::<f64>::zeros((names.len(), d));
        for (k, rows) in groups.values().enumerate() {
            for &r in rows {
                agg.row_mut(k)
                    .zip_mut_with(&ctx.matrix.row(r), |a, b| *a += *b as f64);
            }
            agg.row_mut(k).mapv_inplace(|v| v / rows.len() as f64);
        }
        let unit = unit_rows(&agg);
        let null = sorted_upper_triangle(&unit);
        let index: HashMap<&str, usize> = names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.as_str(), i))
            .collect();

        let mut tails: Vec<Tails> = spec
            .thresholds
            .clone()
            .unwrap_or(vec![[0.05, 0.95], [0.1, 0.9]])
            .into_iter()
            .map(|[lo, hi]| Tails::Two { lo, hi })
            .collect();
        if spec.upper_only.unwrap_or(true) {
            let his: Vec<f64> = tails
                .iter()
                .map(|t| match t {
                    Tails::Two { lo, hi } => lo.max(*hi),
                    Tails::UpperOnly { hi } => *hi,
                })
                .collect();
            tails.extend(his.into_iter().map(|hi| Tails::UpperOnly { hi }));
        }
        let default_sources: Vec<String> = DEFAULT_SOURCES.iter().map(|s| s.to_string()).collect();
        let mut rows = Vec::new();
        for source in spec.sources.as_ref().unwrap_or(&default_sources) {
            let file = ctx.data.file_of(source)?;
            let pairs: Vec<(usize, usize)> = read_pairs(&file)?
                .iter()
                .filter_map(|(a, b)| Some((*index.get(a.as_str())?, *index.get(b.as_str())?)))
                .collect();
            let query = pair_cosines(&unit, &pairs);
            for t in &tails {
                let value = recall(&null, &query, *t);
                rows.push(MetricRow {
                    metric: label.clone(),
                    source: Some(source.clone()),
                    variant: t.variant(),
                    value,
                    n_items: query.len() as u64,
                    null_size: null.len() as u64,
                    convention: if value.is_none() {
                        "efaar_compute_recall;no relationship pair has both genes among the perturbations".into()
                    } else {
                        "efaar_compute_recall".into()
                    },
                    ci_low: None,
                    ci_high: None,
                });
            }
        }
        Ok(MetricOutput {
            rows,
            details: None,
        })
    }
}
