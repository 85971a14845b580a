//! Task 5, known relationship recall (METRICS.md "Task 5"), following
//! efaar-benchmarking 1.0 `known_relationship_benchmark`.
//!
//! Beyond EFAAR (issue 4): each recall gets a seeded bootstrap 95% interval
//! over the relationship pairs, and a label-shuffle null: the perturbation
//! labels of the aggregated embeddings are permuted (`n_permutations` draws,
//! default 1,000) and the recall recomputed; the row reports the null mean
//! and the empirical p-value (1 + #{null >= recall}) / (1 + draws).

mod options;

pub use options::*;

use super::MetricInputs;
use super::{
    perturbation_groups, Explanation, Metric, MetricContext, MetricInfo, MetricOutput, MetricRow,
};
use crate::error::{EngineError, Result};
use ndarray::Array2;
use pertbench_data::relationships::read_pairs;
use pertbench_kernels::linalg::cosine::{unit_rows, UpperTriangle};
use pertbench_kernels::stats::bootstrap::mean_interval;
use pertbench_kernels::tasks::recall::{recall, Tails};
use rand::seq::SliceRandom;
use rayon::prelude::*;
use std::collections::HashMap;

pub struct RelationshipRecall;

pub const DEFAULT_SOURCES: [&str; 5] = ["corum", "humap", "reactome", "signor", "stringdb"];
/// (lo, hi) quantile pairs of the two-tailed recall.
pub const DEFAULT_THRESHOLDS: [[f64; 2]; 2] = [[0.05, 0.95], [0.1, 0.9]];

static EXPLANATION: Explanation = Explanation {
    summary: r#"Task 5, known relationship recall: do pairs of genes known to interact have extreme cosine similarity between their aggregated perturbation embeddings?"#,
    definition: r#"Each perturbation's embedding is the mean of its non-control samples over all batches. The null is every upper-triangle cosine similarity between aggregated perturbations, sorted. For each source's pairs (sorted, self pairs and duplicates dropped, both genes present) with similarity s: left = searchsorted(null, s, left) / |null|, right = searchsorted(null, s, right) / |null|. Recall(lo, hi) is the share of pairs with right <= lo or left >= hi (two-tailed); the upper-only variant counts left >= hi alone. Beyond EFAAR, each recall has a seeded bootstrap interval over pairs and a label-shuffle null (perturbation labels of the aggregated rows permuted)."#,
    variants: &[
        (
            r#"recall_<lo>_<hi>"#,
            r#"two-tailed recall at the thresholds, e.g. recall_0.05_0.95 and recall_0.1_0.9"#,
        ),
        (
            r#"upper_only_<hi>"#,
            r#"share of pairs above the hi quantile only, e.g. upper_only_0.95"#,
        ),
    ],
    conventions: r#"efaar-benchmarking 1.0's `compute_recall` is two-tailed: recall_<lo>_<hi> (METRICS.md's reference vector is matched exactly). The upper_only_<hi> rows count only pairs that are more similar than chance; `upper_only: false` leaves them out."#,
    references: &[
        r#"Paper 004: Bendidi et al., Benchmarking Transcriptomics Foundation Models for Perturbation Analysis: one PCA still rules them all (../shared/papers/004), Task 5."#,
        r#"efaar-benchmarking 1.0 (Recursion), `known_relationship_benchmark` and `compute_recall`."#,
        r#"METRICS.md, Task 5."#,
    ],
};

impl MetricInfo for RelationshipRecall {
    fn explanation(&self) -> &'static Explanation {
        &EXPLANATION
    }
    fn version(&self) -> u32 {
        // 3: pair similarities read from the null's own values (ties at a
        // threshold resolve as efaar's; issue 20 item 5).
        3
    }
    fn task(&self) -> pertbench_schema::Task {
        pertbench_schema::Task::KnownRelationshipRecall
    }
}

impl Metric for RelationshipRecall {
    type Options = RelationshipRecallOptions;

    fn validate(&self, o: &RelationshipRecallOptions) -> std::result::Result<(), String> {
        options::check(o)
    }
    fn inputs(&self, o: &RelationshipRecallOptions) -> MetricInputs {
        MetricInputs {
            files: vec![],
            datasets: o.sources(),
        }
    }
    fn seeded(&self, _o: &RelationshipRecallOptions) -> bool {
        true
    }
    fn compute(
        &self,
        label: &str,
        o: &RelationshipRecallOptions,
        ctx: &MetricContext,
    ) -> Result<MetricOutput> {
        let label = label.to_string();
        let n_null = o.n_permutations();
        let n_boot = o.n_bootstrap();
        let seed = ctx.seed;
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
        // Pairs read their similarity from the values the null is sorted
        // from (ties at a threshold resolve as efaar's).
        let similarities = UpperTriangle::new(&unit, ctx.work);
        let null = similarities.sorted();
        let index: HashMap<&str, usize> = names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.as_str(), i))
            .collect();

        let mut tails: Vec<Tails> = o
            .thresholds()
            .into_iter()
            .map(|[lo, hi]| Tails::Two { lo, hi })
            .collect();
        if o.upper_only() {
            let his: Vec<f64> = tails
                .iter()
                .map(|t| match t {
                    Tails::Two { lo, hi } => lo.max(*hi),
                    Tails::UpperOnly { hi } => *hi,
                })
                .collect();
            tails.extend(his.into_iter().map(|hi| Tails::UpperOnly { hi }));
        }
        let mut rows = Vec::new();
        for source in &o.sources() {
            let file = ctx.data.file_of(source)?;
            let pairs: Vec<(usize, usize)> = read_pairs(&file)?
                .iter()
                .filter_map(|(a, b)| Some((*index.get(a.as_str())?, *index.get(b.as_str())?)))
                .collect();
            let query = similarities.pairs(&pairs);
            // Label-shuffle null: the perturbation labels of the aggregated
            // rows permuted, so the pairs land on random rows. The null of
            // all pairs (the percentiles) does not change under relabelling.
            let null_draws: Vec<Vec<f64>> = (0..n_null)
                .into_par_iter()
                .map(|draw| {
                    let mut rng = pertbench_kernels::stats::rng::stream(
                        seed,
                        &format!("recall/null/{source}"),
                        draw as u64,
                    );
                    let mut perm: Vec<usize> = (0..names.len()).collect();
                    perm.shuffle(&mut rng);
                    let moved: Vec<(usize, usize)> =
                        pairs.iter().map(|&(a, b)| (perm[a], perm[b])).collect();
                    let q = similarities.pairs(&moved);
                    tails
                        .iter()
                        .map(|t| recall(&null, &q, *t).unwrap_or(f64::NAN))
                        .collect()
                })
                .collect();
            for (ti, t) in tails.iter().enumerate() {
                let value = recall(&null, &query, *t);
                let mut row = MetricRow {
                    metric: label.clone(),
                    source: Some(source.clone()),
                    variant: t.variant(),
                    value,
                    n_items: query.len() as u64,
                    null_size: null.len() as u64,
                    convention: if value.is_none() {
                        "efaar_compute_recall;no relationship pair has both genes among the perturbations".into()
                    } else {
                        format!("efaar_compute_recall;null=label_shuffle;n_permutations={n_null};bootstrap={n_boot}_over_pairs")
                    },
                    ci_low: None,
                    ci_high: None,
                    null_mean: None,
                    p_value: None,
                };
                if let Some(v) = value {
                    let hits: Vec<f64> = query
                        .iter()
                        .map(|q| recall(&null, std::slice::from_ref(q), *t).unwrap_or(0.0))
                        .collect();
                    let tag = (ti as u64 + 1) ^ (source.len() as u64) << 8;
                    row = row.with_interval(
                        mean_interval(&hits, n_boot, 0.95, seed ^ tag)
                            .map_err(EngineError::kernel(format!("metric `{label}`")))?,
                    );
                    if n_null > 0 {
                        let draws: Vec<f64> = null_draws.iter().map(|d| d[ti]).collect();
                        let mean = draws.iter().sum::<f64>() / n_null as f64;
                        let above = draws.iter().filter(|d| **d >= v).count();
                        row = row.with_null(mean, (1 + above) as f64 / (1 + n_null) as f64);
                    }
                }
                rows.push(row);
            }
        }
        Ok(MetricOutput {
            rows,
            details: None,
        })
    }
}
