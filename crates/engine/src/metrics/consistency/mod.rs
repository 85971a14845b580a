//! Task 3, perturbation consistency (METRICS.md "Task 3").
//!
//! Beyond paper 004 (issue 4): per-perturbation p-values are also
//! Benjamini-Hochberg adjusted (`qvalue` in the details;
//! `fraction_significant_bh` = share with q <= alpha, the same inclusive
//! rule as `fraction_significant`). `mean_avgsim` and both fractions get a
//! seeded bootstrap 95% interval over perturbations and a label-shuffle
//! null: the perturbation labels of all non-control samples are permuted
//! within batches (each group's count in each batch kept, `n_label_shuffles` draws, by default `n_permutations`) and the score recomputed,
//! against the same per-size nulls; rows report the null mean and the
//! empirical p-value (1 + #{null >= score}) / (1 + draws).

mod options;

pub use options::*;

use super::{
    perturbation_groups, rows_of, Explanation, Metric, MetricContext, MetricInfo, MetricOutput,
};
use crate::error::{EngineError, Result};
use arrow::array::{Float64Array, RecordBatch, StringArray, UInt64Array};
use arrow::datatypes::{DataType, Field, Schema};
use pertbench_kernels::stats::bootstrap::mean_interval;
use pertbench_kernels::stats::multiple_testing::benjamini_hochberg;
use pertbench_kernels::tasks::consistency::{
    avgsim, fraction_significant, label_shuffle_avgsims_within, permutation_null_within, pvalue,
    pvalue_plus_one, UnitRows,
};
use rayon::prelude::*;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

pub struct Consistency;

/// The null a perturbation's avgsim is tested against.
enum NullOf {
    Unexpressed(Vec<f64>),
    /// Keyed by the perturbation's count of samples in each batch.
    ByComposition(BTreeMap<Vec<usize>, Vec<f64>>),
}

static EXPLANATION: Explanation = Explanation {
    summary: r#"Task 3, perturbation consistency: are a perturbation's replicate samples more similar to each other than chance?"#,
    definition: r#"For each perturbation g with n_g >= 2 samples, avgsim_g = mean over pairs i < j of cos(x_i, x_j) = (||sum_i u_i||^2 - n_g) / (n_g (n_g - 1)) with u_i = x_i / ||x_i||. Its p-value p_g = (1 + #(null >= avgsim_g)) / (1 + |null|) (`pvalue: efaar`: #(null >= avgsim_g) / |null|) against a null: the avgsim of perturbations whose target gene is unexpressed (mean lognorm below `expression_threshold`), or that of random sets of non-control samples with the perturbation's own count of samples in each batch (drawn within batches: a post-processing fitted per batch, or a batch effect, makes samples of one batch alike). The score is the share of perturbations with p_g <= alpha. Beyond paper 004, p-values are also Benjamini-Hochberg adjusted, and each score has a seeded bootstrap interval over perturbations and a label-shuffle null (perturbation labels of non-control samples permuted within batches, each group's count in each batch kept)."#,
    variants: &[
        (
            r#"fraction_significant"#,
            r#"share of perturbations with p <= alpha"#,
        ),
        (
            r#"fraction_significant_bh"#,
            r#"share with BH-adjusted q <= alpha"#,
        ),
        (r#"mean_avgsim"#, r#"mean avgsim over tested perturbations"#),
    ],
    conventions: r#"efaar-benchmarking 1.0's `pert_signal_consistency_benchmark` takes its null from negative-control perturbations, typically unexpressed genes, pooled over group sizes, with p = #(null >= avgsim) / |null|: `null: unexpressed` (the default when at least `min_unexpressed` qualify) with `pvalue: efaar`. That p is 0 for a perturbation above the whole null, which a null perturbation is with probability 1 / (|null| + 1): with 20 unexpressed genes, 9.5% of null perturbations get p <= 0.05. pertbench's default counts the observation itself, (1 + #(null >= avgsim)) / (1 + |null|), which is valid. `null: permutation` draws random sample sets of each perturbation's own size instead, for screens without enough unexpressed targets. The row's `convention` names the null used and its size."#,
    references: &[
        r#"Paper 004: Bendidi et al., Benchmarking Transcriptomics Foundation Models for Perturbation Analysis: one PCA still rules them all (../shared/papers/004), Task 3."#,
        r#"efaar-benchmarking 1.0 (Recursion), perturbation consistency."#,
        r#"Benjamini & Hochberg 1995, Controlling the false discovery rate (JRSS B)."#,
        r#"METRICS.md, Task 3."#,
    ],
};

impl MetricInfo for Consistency {
    fn explanation(&self) -> &'static Explanation {
        &EXPLANATION
    }
    fn version(&self) -> u32 {
        // 3: unit rows formed on the fly; the pool in row order; the label
        // shuffle deals labels to rows (label_shuffle_avgsims).
        // 4: the permutation null and the label shuffle draw within batches
        // (issue 20); one batch draws as before.
        // 5: p = (1 + #null >= s) / (1 + |null|) by default (issue 20;
        // efaar's #null >= s / |null| is `pvalue: efaar`).
        5
    }
    fn task(&self) -> pertbench_schema::Task {
        pertbench_schema::Task::PerturbationConsistency
    }
}

impl Metric for Consistency {
    type Options = ConsistencyOptions;

    fn seeded(&self, _o: &ConsistencyOptions) -> bool {
        // The label-shuffle null and the intervals are seeded.
        true
    }
    fn compute(
        &self,
        label: &str,
        o: &ConsistencyOptions,
        ctx: &MetricContext,
    ) -> Result<MetricOutput> {
        let label = label.to_string();
        let threshold = o.expression_threshold();
        let min_unexpressed = o.min_unexpressed();
        let n_perm = o.n_permutations();
        let n_shuffles = o.n_label_shuffles.unwrap_or(n_perm);
        let alpha = o.alpha();
        let n_boot = o.n_bootstrap();
        let p_kind = o.pvalue();
        let pvalue = match p_kind {
            ConsistencyPValue::Permutation => pvalue_plus_one,
            ConsistencyPValue::Efaar => pvalue,
        };
        let p_name = format!(
            "pvalue={};null_strata={}",
            match p_kind {
                ConsistencyPValue::Permutation => "(1+#null>=s)/(1+|null|)",
                ConsistencyPValue::Efaar => "efaar:#null>=s/|null|",
            },
            match o.null_strata() {
                NullStrata::Batch => "batch",
                NullStrata::None => "none",
            }
        );
        let unit = UnitRows::new(ctx.matrix.view());
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
        let null_kind = match o.null() {
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
        // Every perturbed row, in row order (the label shuffle streams it).
        let mut pool: Vec<usize> = groups.values().flatten().copied().collect();
        pool.sort_unstable();
        // Nulls draw within batches: a post-processing fitted per batch (or a
        // batch effect) makes samples of one batch alike, and a perturbation
        // in one batch would beat random sets drawn across batches (issue 20).
        // `null_strata: none` draws from all non-control samples as one
        // stratum (METRICS.md's definition; the draws of version 3).
        let stratified = o.null_strata() == NullStrata::Batch;
        let batch_of = |pos: usize| {
            if stratified {
                ctx.ingest.samples.batch[ctx.rows[pos]].as_str()
            } else {
                ""
            }
        };
        let batch_ids: BTreeMap<&str, usize> = {
            let names: BTreeSet<&str> = pool.iter().map(|&p| batch_of(p)).collect();
            names.into_iter().enumerate().map(|(i, b)| (b, i)).collect()
        };
        let n_batches = batch_ids.len().max(1);
        let stratum: Vec<usize> = pool.iter().map(|&p| batch_ids[batch_of(p)]).collect();
        let mut pool_of_batch: Vec<Vec<usize>> = vec![Vec::new(); n_batches];
        for (&p, &b) in pool.iter().zip(&stratum) {
            pool_of_batch[b].push(p);
        }
        // A group's count of samples in each batch.
        let composition = |rows: &[usize]| -> Vec<usize> {
            let mut c = vec![0; n_batches];
            for &r in rows {
                c[batch_ids[batch_of(r)]] += 1;
            }
            c
        };
        // The tested groups' compositions, in the order of `tested` (and `per`).
        let counts: Vec<Vec<usize>> = tested.iter().map(|(_, r)| composition(r)).collect();
        let mut per: Vec<(String, usize, f64, f64)> = Vec::new();
        let null_kind_nulls: NullOf;
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
                let n = null.len();
                null_kind_nulls = NullOf::Unexpressed(null);
                (
                    format!("null=unexpressed;{p_name};expression_threshold={threshold};alpha={alpha};label_shuffle={n_shuffles};bootstrap={n_boot}"),
                    n,
                )
            }
            _ => {
                let compositions: BTreeSet<&Vec<usize>> = counts.iter().collect();
                let mut nulls = BTreeMap::new();
                for c in compositions {
                    let strata: Vec<(&[usize], usize)> = c
                        .iter()
                        .enumerate()
                        .filter(|(_, n)| **n > 0)
                        .map(|(b, n)| (pool_of_batch[b].as_slice(), *n))
                        .collect();
                    // One batch keeps the streams of `permutation_null` (the
                    // draws of version 3).
                    let tag = if n_batches == 1 {
                        format!("consistency-permutation-{}", c[0])
                    } else {
                        format!(
                            "consistency-permutation-within-{}",
                            c.iter()
                                .map(|n| n.to_string())
                                .collect::<Vec<_>>()
                                .join("-")
                        )
                    };
                    let null =
                        permutation_null_within(&unit, &strata, n_perm, ctx.seed, &tag, ctx.par)
                            .map_err(EngineError::kernel(format!("metric `{label}`")))?;
                    nulls.insert(c.clone(), null);
                }
                for ((p, rows), c) in tested.iter().zip(&counts) {
                    let s = avgsim(&unit, rows).expect("n >= 2");
                    per.push(((*p).clone(), rows.len(), s, pvalue(&nulls[c], s)));
                }
                null_kind_nulls = NullOf::ByComposition(nulls);
                (
                    format!("null=permutation;{p_name};n_permutations={n_perm};alpha={alpha};label_shuffle={n_shuffles};bootstrap={n_boot}"),
                    n_perm,
                )
            }
        };
        let pvals: Vec<f64> = per.iter().map(|r| r.3).collect();
        let qvals = benjamini_hochberg(&pvals);
        let frac = fraction_significant(&pvals, alpha);
        let frac_bh = fraction_significant(&qvals, alpha);
        let mean_avgsim =
            (!per.is_empty()).then(|| per.iter().map(|r| r.2).sum::<f64>() / per.len() as f64);
        // The p-value of a score against its null, under the metric's own null
        // kind (an unexpressed-gene null, or the per-composition permutation
        // nulls).
        let p_of = |c: &Vec<usize>, s: f64| -> f64 {
            match &null_kind_nulls {
                NullOf::Unexpressed(null) => pvalue(null, s),
                NullOf::ByComposition(nulls) => pvalue(&nulls[c], s),
            }
        };
        let shuffles = label_shuffle_avgsims_within(
            &unit,
            &pool,
            &stratum,
            &counts,
            n_shuffles,
            ctx.seed,
            "consistency/label-shuffle",
            ctx.par,
        )
        .map_err(EngineError::kernel(format!(
            "metric `{label}` (label shuffle)"
        )))?;
        let draws: Vec<[f64; 3]> = shuffles
            .par_iter()
            .map(|avgsims| {
                let (mut sum, mut sig) = (0.0, 0usize);
                let mut ps = Vec::with_capacity(counts.len());
                for (c, &v) in counts.iter().zip(avgsims) {
                    sum += v;
                    let p = p_of(c, v);
                    sig += usize::from(p <= alpha);
                    ps.push(p);
                }
                let q = benjamini_hochberg(&ps);
                let k = counts.len().max(1) as f64;
                [
                    sum / k,
                    sig as f64 / k,
                    q.iter().filter(|v| **v <= alpha).count() as f64 / k,
                ]
            })
            .collect();
        let mut rows = Vec::new();
        let scores = [
            ("fraction_significant", frac),
            ("fraction_significant_bh", frac_bh),
            ("mean_avgsim", mean_avgsim),
        ];
        for (k, (variant, value)) in scores.into_iter().enumerate() {
            let mut row = rows_of(
                &label,
                per.len(),
                null_size,
                &convention,
                &[(variant, value)],
            )
            .remove(0);
            if let Some(v) = value {
                let items: Vec<f64> = match k {
                    0 => pvals
                        .iter()
                        .map(|p| f64::from(u8::from(*p <= alpha)))
                        .collect(),
                    1 => qvals
                        .iter()
                        .map(|q| f64::from(u8::from(*q <= alpha)))
                        .collect(),
                    _ => per.iter().map(|r| r.2).collect(),
                };
                row = row.with_interval(
                    mean_interval(&items, n_boot, 0.95, ctx.seed ^ (k as u64 + 1))
                        .map_err(EngineError::kernel(format!("metric `{label}`")))?,
                );
                if n_shuffles > 0 {
                    let null: Vec<f64> = draws.iter().map(|d| d[[1, 2, 0][k]]).collect();
                    let above = null.iter().filter(|x| **x >= v).count();
                    row = row.with_null(
                        null.iter().sum::<f64>() / n_shuffles as f64,
                        (1 + above) as f64 / (1 + n_shuffles) as f64,
                    );
                }
            }
            rows.push(row);
        }
        let schema = Schema::new(vec![
            Field::new("perturbation", DataType::Utf8, false),
            Field::new("n_samples", DataType::UInt64, false),
            Field::new("avgsim", DataType::Float64, false),
            Field::new("pvalue", DataType::Float64, false),
            Field::new("qvalue", DataType::Float64, false),
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
                Arc::new(Float64Array::from(qvals)),
            ],
        )
        .expect("schema matches");
        Ok(MetricOutput {
            rows,
            details: Some(details),
        })
    }
}
