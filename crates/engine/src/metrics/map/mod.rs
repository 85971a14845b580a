//! Phenotypic activity by mean average precision, copairs 0.5's recipe
//! (Kalinin et al. 2025): can a perturbation's replicate samples be
//! retrieved against the control samples?

mod options;

pub use options::*;

use super::{rows_of, Explanation, Metric, MetricContext, MetricInfo, MetricOutput};
use crate::error::{EngineError, Result};
use arrow::array::{BooleanArray, Float64Array, RecordBatch, StringArray, UInt64Array};
use arrow::datatypes::{DataType, Field, Schema};
use pertbench_kernels::stats::bootstrap::mean_interval;
use pertbench_kernels::stats::multiple_testing::benjamini_hochberg;
use pertbench_kernels::tasks::mean_average_precision::permutation::{
    permutation_test, PermutationTest,
};
use pertbench_kernels::tasks::mean_average_precision::{
    average_precisions, mean_average_precision, GroupMap, PairRule,
};
use std::collections::BTreeMap;
use std::sync::Arc;

pub struct Map;

static EXPLANATION: Explanation = Explanation {
    summary: r#"Phenotypic activity by mean average precision (copairs): are a perturbation's replicate samples retrieved before the control samples, and is that significant?"#,
    definition: r#"Each perturbed sample ranks its positives (the other samples of its perturbation) and its negatives (the control samples; with `controls: same_batch` those of its batch) by similarity, and scores the ranking by average precision AP = (1/P) sum over the positives of (positives at or above it) / (its rank). Ranks sort by copairs' key 1 - similarity rounded to float32, positives first among equal keys. A perturbation's mAP is the mean AP of its samples (samples without a positive are left out). `pvalue: permutation` (the default) tests whether the perturbation's samples are exchangeable with the controls: each of null_size draws labels as many samples of the pool (its samples and the controls, per batch with `same_batch`) as the perturbation has, scores them exactly as the perturbation is scored, and p = (1 + #(draw mAP >= mAP)) / (1 + null_size). `pvalue: copairs` is copairs' null: for each (positives, list length) configuration, null_size rank lists of P positives placed at random, scored in float32; the perturbation's null is the float32 mean of its samples' configuration nulls, drawn from numpy's default_rng as copairs draws them (the seed is the run's seed), and p = (1 + #(null > mAP in float32)) / (1 + null_size). corrected_p_value: Benjamini-Hochberg over the perturbations. fraction_active is the share of perturbations with corrected_p_value < threshold (copairs' below_corrected_p)."#,
    variants: &[
        (r#"mean_map"#, r#"mean over perturbations of their mAP"#),
        (
            r#"fraction_active"#,
            r#"share of perturbations with BH-corrected p < threshold"#,
        ),
        (
            r#"fraction_below_p"#,
            r#"share of perturbations with p < threshold (uncorrected)"#,
        ),
    ],
    conventions: r#"copairs 0.5.2's `average_precision(meta, feats, pos_sameby=[perturbation, reference_index], pos_diffby=[], neg_sameby=[] (or [batch] for `controls: same_batch`), neg_diffby=[perturbation, reference_index])` after `assign_reference_index` on the controls, then `mean_average_precision(ap, sameby=[perturbation], null_size, threshold, seed)`: `pvalue: copairs` gives its p-values exactly. The CLI test crates/cli/tests/map runs copairs itself on the same plates and compares every per-perturbation mAP (to 1e-16 measured), p-value (equal) and corrected p-value. copairs' null scores each sample's rank list independently, but a perturbation's samples rank each other: on plates where every well is exchangeable its p-values are not uniform (measured with 4 replicates: 0.3-0.7% of p <= 0.05, 64-66% of p <= 0.5), hence the permutation default, whose p-values are uniform on the same plates. Deliberate differences: similarities are computed in f64 from the representation's float32 values (copairs computes in the features' dtype: on float32 features its similarities can differ in the last float32 bit, which can swap near-tied ranks); a sample whose similarity is undefined (a zero profile for cosine, a constant one for correlation) is an error, not NaN; copairs caches nulls in ~/.copairs keyed by configuration but not by the configuration's own seed, so its p-values can depend on earlier runs, pertbench's never do. copairs' per-profile p-values (`copairs.map.average_precision.p_values`) are not written. Details hold per perturbation: n_samples, mean_average_precision, p_value, corrected_p_value, below_p, below_corrected_p."#,
    references: &[
        r#"Kalinin et al. 2025, A versatile information retrieval framework for evaluating profile strength and similarity (Nature Communications): mAP and its null."#,
        r#"copairs (cytomining), copairs.map.average_precision and mean_average_precision."#,
        r#"Benjamini & Hochberg 1995, Controlling the false discovery rate (JRSS B)."#,
    ],
};

impl MetricInfo for Map {
    fn explanation(&self) -> &'static Explanation {
        &EXPLANATION
    }
    fn version(&self) -> u32 {
        // 2: the permutation test's draws of controls only are shared by
        // the perturbations of one composition (each perturbation's draws
        // stay uniform and independent of its data), so its p-values move.
        2
    }
    fn task(&self) -> pertbench_schema::Task {
        pertbench_schema::Task::PerturbationConsistency
    }
}

impl Metric for Map {
    type Options = MapOptions;

    fn seeded(&self, _o: &MapOptions) -> bool {
        // copairs' null is drawn from the seed.
        true
    }

    fn compute(&self, label: &str, o: &MapOptions, ctx: &MetricContext) -> Result<MetricOutput> {
        let s = &ctx.ingest.samples;
        let what = format!("metric `{label}`");
        let n = ctx.rows.len();
        // Codes: perturbation (controls 0), a reference index (each control
        // its own, perturbed samples 0: copairs' assign_reference_index), the
        // batch.
        let mut book: BTreeMap<&str, u32> = BTreeMap::new();
        for &r in ctx.rows {
            if !s.is_control[r] {
                let next = book.len() as u32 + 1;
                book.entry(s.perturbation[r].as_str()).or_insert(next);
            }
        }
        let mut batches: BTreeMap<&str, u32> = BTreeMap::new();
        for &r in ctx.rows {
            let next = batches.len() as u32;
            batches.entry(s.batch[r].as_str()).or_insert(next);
        }
        let perturbation: Vec<u32> = ctx
            .rows
            .iter()
            .map(|&r| {
                if s.is_control[r] {
                    0
                } else {
                    book[s.perturbation[r].as_str()]
                }
            })
            .collect();
        let reference: Vec<u32> = ctx
            .rows
            .iter()
            .enumerate()
            .map(|(p, &r)| if s.is_control[r] { p as u32 + 1 } else { 0 })
            .collect();
        let batch: Vec<u32> = ctx
            .rows
            .iter()
            .map(|&r| batches[s.batch[r].as_str()])
            .collect();
        let n_controls = perturbation.iter().filter(|&&c| c == 0).count();
        if n_controls == 0 {
            return Err(EngineError::msg(format!(
                "{what}: no control samples; mAP activity ranks replicates against the controls"
            )));
        }
        let keys: [&[u32]; 2] = [&perturbation, &reference];
        let batch_only: [&[u32]; 1] = [&batch];
        let positive = PairRule {
            same: &keys,
            diff: &[],
        };
        let same_batch = o.controls() == MapControls::SameBatch;
        let negative = PairRule {
            same: if same_batch { &batch_only } else { &[] },
            diff: &keys,
        };
        let similarity = o.similarity().kernel();
        let null_size = o.null_size();
        let pvalue = o.pvalue();
        // Samples of each perturbation; one without another sample has no
        // positive and is left out (copairs: AP NaN).
        let mut members: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
        for (p, &c) in perturbation.iter().enumerate() {
            if c > 0 {
                members.entry(c).or_default().push(p);
            }
        }
        let without_positive = members.values().filter(|m| m.len() < 2).count();
        let maps: Vec<GroupMap> = match pvalue {
            MapPValue::Copairs => {
                let aps = average_precisions(
                    ctx.matrix.view(),
                    &positive,
                    &negative,
                    similarity,
                    ctx.par,
                    ctx.work,
                )
                .map_err(EngineError::kernel(what.clone()))?;
                let group: Vec<Option<u32>> =
                    perturbation.iter().map(|&c| (c > 0).then_some(c)).collect();
                mean_average_precision(&aps, &group, null_size, ctx.seed, ctx.par)
                    .map_err(EngineError::kernel(what.clone()))?
            }
            MapPValue::Permutation => {
                // The observed mAP comes from the test's own keys (the draws
                // rank by the same numbers).
                let controls: Vec<usize> = (0..n).filter(|&p| perturbation[p] == 0).collect();
                let one = vec![0u32; n];
                let tested_groups: Vec<(u32, &Vec<usize>)> = members
                    .iter()
                    .filter(|(_, m)| m.len() >= 2)
                    .map(|(&c, m)| (c, m))
                    .collect();
                let groups: Vec<Vec<usize>> =
                    tested_groups.iter().map(|(_, m)| (*m).clone()).collect();
                let test = PermutationTest {
                    x: ctx.matrix.view(),
                    similarity,
                    controls: &controls,
                    stratum: if same_batch { &batch } else { &one },
                    negatives_within_stratum: same_batch,
                };
                let tested =
                    permutation_test(&test, &groups, null_size, ctx.seed, ctx.par, ctx.work)
                        .map_err(EngineError::kernel(what.clone()))?;
                let p: Vec<f64> = tested.iter().map(|t| t.p_value).collect();
                tested_groups
                    .iter()
                    .zip(&tested)
                    .zip(benjamini_hochberg(&p))
                    .map(|(((c, m), t), q)| GroupMap {
                        group: *c,
                        mean_average_precision: t.mean_average_precision,
                        n_profiles: m.len(),
                        p_value: t.p_value,
                        corrected_p_value: q,
                    })
                    .collect()
            }
        };
        let name_of: BTreeMap<u32, &str> = book.iter().map(|(&k, &v)| (v, k)).collect();
        let threshold = o.threshold();
        let perturbed = n - n_controls;
        let n_boot = o.n_bootstrap();
        let convention = format!(
            "copairs=0.5;similarity={};controls={};pvalue={};null_size={null_size};seed={};threshold={threshold};bh=perturbations;perturbations_of_one_sample={without_positive} (left out);perturbed_samples={perturbed};bootstrap={n_boot}",
            o.similarity().kernel().name(),
            if same_batch { "same_batch" } else { "all" },
            match pvalue {
                MapPValue::Permutation => "permutation:(1+#draws>=map)/(1+null_size)",
                MapPValue::Copairs => "copairs:(1+#null>map)/(1+null_size)",
            },
            ctx.seed,
        );
        let map_values: Vec<f64> = maps.iter().map(|m| m.mean_average_precision).collect();
        let active: Vec<f64> = maps
            .iter()
            .map(|m| f64::from(u8::from(m.corrected_p_value < threshold)))
            .collect();
        let below: Vec<f64> = maps
            .iter()
            .map(|m| f64::from(u8::from(m.p_value < threshold)))
            .collect();
        let mut rows = Vec::new();
        for (k, (variant, items)) in [
            ("mean_map", &map_values),
            ("fraction_active", &active),
            ("fraction_below_p", &below),
        ]
        .into_iter()
        .enumerate()
        {
            let value = (!items.is_empty()).then(|| items.iter().sum::<f64>() / items.len() as f64);
            let mut row = rows_of(
                label,
                items.len(),
                null_size,
                &convention,
                &[(variant, value)],
            )
            .remove(0);
            if value.is_some() {
                row = row.with_interval(
                    mean_interval(items, n_boot, 0.95, ctx.seed ^ (k as u64 + 0x3a9))
                        .map_err(EngineError::kernel(what.clone()))?,
                );
            }
            rows.push(row);
        }
        let schema = Schema::new(vec![
            Field::new("perturbation", DataType::Utf8, false),
            Field::new("n_samples", DataType::UInt64, false),
            Field::new("mean_average_precision", DataType::Float64, false),
            Field::new("p_value", DataType::Float64, false),
            Field::new("corrected_p_value", DataType::Float64, false),
            Field::new("below_p", DataType::Boolean, false),
            Field::new("below_corrected_p", DataType::Boolean, false),
        ]);
        let details = RecordBatch::try_new(
            Arc::new(schema),
            vec![
                Arc::new(StringArray::from(
                    maps.iter().map(|m| name_of[&m.group]).collect::<Vec<_>>(),
                )),
                Arc::new(UInt64Array::from(
                    maps.iter().map(|m| m.n_profiles as u64).collect::<Vec<_>>(),
                )),
                Arc::new(Float64Array::from(map_values.clone())),
                Arc::new(Float64Array::from(
                    maps.iter().map(|m| m.p_value).collect::<Vec<_>>(),
                )),
                Arc::new(Float64Array::from(
                    maps.iter().map(|m| m.corrected_p_value).collect::<Vec<_>>(),
                )),
                Arc::new(BooleanArray::from(
                    maps.iter()
                        .map(|m| m.p_value < threshold)
                        .collect::<Vec<_>>(),
                )),
                Arc::new(BooleanArray::from(
                    maps.iter()
                        .map(|m| m.corrected_p_value < threshold)
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
