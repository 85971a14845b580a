//! Phenotypic activity by mean average precision, copairs 0.5's recipe
//! (Kalinin et al. 2025): can a perturbation's replicate samples be
//! retrieved against the control samples?

mod options;

pub use options::*;

use super::{code_book, rows_of, Explanation, Metric, MetricContext, MetricInfo, MetricOutput};
use crate::error::{EngineError, Result};
use arrow::array::{BooleanArray, Float64Array, RecordBatch, StringArray, UInt64Array};
use arrow::datatypes::{DataType, Field, Schema};
use pertbench_kernels::stats::bootstrap::mean_interval;
use pertbench_kernels::tasks::mean_average_precision::permutation::{
    permutation_test, PermutationTest,
};
use pertbench_kernels::tasks::mean_average_precision::{
    average_precisions, correct_p_values, mean_average_precision, GroupMap, PairRule, Similarity,
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
    conventions: r#"copairs 0.5.2's `average_precision(meta, feats, pos_sameby=[perturbation, reference_index], pos_diffby=[], neg_sameby=[] (or [batch] for `controls: same_batch`), neg_diffby=[perturbation, reference_index])` after `assign_reference_index` on the controls, then `mean_average_precision(ap, sameby=[perturbation], null_size, threshold, seed)`: `pvalue: copairs` gives its p-values exactly. The CLI test crates/cli/tests/map runs copairs itself on the same plates and compares every per-perturbation mAP (to 1e-16 measured), p-value (equal) and corrected p-value. copairs' null scores each sample's rank list independently, but a perturbation's samples rank each other: on plates where every well is exchangeable its p-values are not uniform (measured with 4 replicates: 0.3-0.7% of p <= 0.05, 64-66% of p <= 0.5), hence the permutation default, whose p-values are uniform on the same plates. Both tests assume the perturbation's samples and the controls are exchangeable without an effect; a post-processing fitted on the controls (center_scale, tvn) makes the controls unlike the other samples when they are few against the features (measured on pipelines/profiles.yaml: TVN fitted on 128 DMSO wells in 120 features calls 94% of compounds active where half have an effect; 36% after per-plate centring), so read activity after such a post-processing with care. Deliberate differences: similarities are computed in f64 from the representation's float32 values (copairs computes in the features' dtype: on float32 features its similarities can differ in the last float32 bit, which can swap near-tied ranks); a sample whose similarity is undefined (a zero profile for cosine, a constant one for correlation) is an error, not NaN; copairs caches nulls in ~/.copairs keyed by configuration but not by the configuration's own seed, so its p-values can depend on earlier runs, pertbench's never do. copairs' per-profile p-values (`copairs.map.average_precision.p_values`) are not written. Details hold per perturbation: n_samples, mean_average_precision, p_value, corrected_p_value, below_p, below_corrected_p."#,
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
        // 3: perturbations and batches are coded in sorted order, not in
        // order of first appearance, so the permutation draws (seeded by a
        // perturbation's position) no longer depend on the order of the rows.
        3
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
        let what = format!("metric `{label}`");
        let same_batch = o.controls() == MapControls::SameBatch;
        let null_size = o.null_size();
        let pvalue = o.pvalue();
        let Activity {
            maps,
            names: name_of,
            without_positive,
            n_controls,
            ..
        } = activity(
            ctx,
            &what,
            o.similarity().kernel(),
            same_batch,
            pvalue,
            null_size,
        )?;
        let n = ctx.rows.len();
        let threshold = o.threshold();
        let perturbed = n - n_controls;
        let n_boot = o.n_bootstrap();
        let convention = format!(
            "copairs=0.5;similarity={};controls={};pvalue={};null_size={null_size};seed={};threshold={threshold};bh=perturbations;perturbations_of_one_sample={without_positive} (left out);perturbed_samples={perturbed};bootstrap={n_boot}",
            o.similarity().kernel().name(),
            if same_batch { "same_batch" } else { "all" },
            pvalue_name(pvalue),
            ctx.seed,
        );
        let names: Vec<&str> = maps.iter().map(|m| name_of[&m.group]).collect();
        let out = MapSummary {
            label,
            what: &what,
            variants: ["mean_map", "fraction_active", "fraction_below_p"],
            group_column: "perturbation",
            count_column: "n_samples",
            threshold,
            null_size,
            n_bootstrap: n_boot,
            seed: ctx.seed,
            convention: &convention,
        }
        .output(&maps, &names)?;
        Ok(out)
    }
}

/// Each perturbation's activity (its samples against the controls), as the
/// `map` metric defines it; `map_consistency` selects active perturbations
/// with it.
pub(crate) struct Activity<'a> {
    /// Perturbations with two samples or more, in code order.
    pub maps: Vec<GroupMap>,
    /// Perturbation names by code.
    pub names: BTreeMap<u32, &'a str>,
    /// Each perturbation's positions in the metric's matrix, by code.
    pub members: BTreeMap<u32, Vec<usize>>,
    /// Perturbations of one sample (no positive: left out).
    pub without_positive: usize,
    pub n_controls: usize,
}

pub(crate) fn activity<'a>(
    ctx: &MetricContext<'a>,
    what: &str,
    similarity: Similarity,
    same_batch: bool,
    pvalue: MapPValue,
    null_size: usize,
) -> Result<Activity<'a>> {
    let s = &ctx.ingest.samples;
    let n = ctx.rows.len();
    // Codes: perturbation (controls 0), a reference index (each control
    // its own, perturbed samples 0: copairs' assign_reference_index), the
    // batch. Perturbations and batches are coded in sorted order
    // (code_book), so a perturbation's code, and with it the seed of its
    // permutation draws, does not depend on row order.
    let mut book = code_book(
        ctx.rows
            .iter()
            .filter(|&&r| !s.is_control[r])
            .map(|&r| s.perturbation[r].as_str()),
    );
    for code in book.values_mut() {
        *code += 1;
    }
    let batches = code_book(ctx.rows.iter().map(|&r| s.batch[r].as_str()));
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
    let negative = PairRule {
        same: if same_batch { &batch_only } else { &[] },
        diff: &keys,
    };
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
            .map_err(EngineError::kernel(what.to_string()))?;
            let group: Vec<Option<u32>> =
                perturbation.iter().map(|&c| (c > 0).then_some(c)).collect();
            mean_average_precision(&aps, &group, null_size, ctx.seed, ctx.par)
                .map_err(EngineError::kernel(what.to_string()))?
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
            let groups: Vec<Vec<usize>> = tested_groups.iter().map(|(_, m)| (*m).clone()).collect();
            let test = PermutationTest {
                x: ctx.matrix.view(),
                similarity,
                controls: &controls,
                stratum: if same_batch { &batch } else { &one },
                negatives_within_stratum: same_batch,
            };
            let tested = permutation_test(&test, &groups, null_size, ctx.seed, ctx.par, ctx.work)
                .map_err(EngineError::kernel(what.to_string()))?;
            let mut maps: Vec<GroupMap> = tested_groups
                .iter()
                .zip(&tested)
                .map(|((c, m), t)| GroupMap {
                    group: *c,
                    mean_average_precision: t.mean_average_precision,
                    n_profiles: m.len(),
                    p_value: t.p_value,
                    corrected_p_value: f64::NAN,
                })
                .collect();
            correct_p_values(&mut maps);
            maps
        }
    };
    let names: BTreeMap<u32, &'a str> = book.iter().map(|(&k, &v)| (v, k)).collect();
    Ok(Activity {
        maps,
        names,
        members,
        without_positive,
        n_controls,
    })
}

/// The rows and details of a set of tested groups (perturbations for
/// `map`, annotation labels for `map_consistency`): the mean mAP, the share
/// with corrected p < threshold and the share with p < threshold, each with
/// a bootstrap interval over the groups, and one detail row per group.
pub(crate) struct MapSummary<'a> {
    pub label: &'a str,
    pub what: &'a str,
    pub variants: [&'static str; 3],
    pub group_column: &'static str,
    pub count_column: &'static str,
    pub threshold: f64,
    pub null_size: usize,
    pub n_bootstrap: usize,
    pub seed: u64,
    pub convention: &'a str,
}

impl MapSummary<'_> {
    pub fn output(&self, maps: &[GroupMap], names: &[&str]) -> Result<MetricOutput> {
        let (label, threshold, null_size, n_boot) =
            (self.label, self.threshold, self.null_size, self.n_bootstrap);
        let map_values: Vec<f64> = maps.iter().map(|m| m.mean_average_precision).collect();
        let active: Vec<f64> = maps
            .iter()
            .map(|m| f64::from(u8::from(m.corrected_p_value < threshold)))
            .collect();
        let below: Vec<f64> = maps
            .iter()
            .map(|m| f64::from(u8::from(m.p_value < threshold)))
            .collect();
        let convention = self.convention;
        let mut rows = Vec::new();
        for (k, (variant, items)) in [
            (self.variants[0], &map_values),
            (self.variants[1], &active),
            (self.variants[2], &below),
        ]
        .into_iter()
        .enumerate()
        {
            let value = (!items.is_empty()).then(|| items.iter().sum::<f64>() / items.len() as f64);
            let mut row = rows_of(
                label,
                items.len(),
                null_size,
                convention,
                &[(variant, value)],
            )
            .remove(0);
            if value.is_some() {
                row = row.with_interval(
                    mean_interval(items, n_boot, 0.95, self.seed ^ (k as u64 + 0x3a9))
                        .map_err(EngineError::kernel(self.what.to_string()))?,
                );
            }
            rows.push(row);
        }
        let schema = Schema::new(vec![
            Field::new(self.group_column, DataType::Utf8, false),
            Field::new(self.count_column, DataType::UInt64, false),
            Field::new("mean_average_precision", DataType::Float64, false),
            Field::new("p_value", DataType::Float64, false),
            Field::new("corrected_p_value", DataType::Float64, false),
            Field::new("below_p", DataType::Boolean, false),
            Field::new("below_corrected_p", DataType::Boolean, false),
        ]);
        let details = RecordBatch::try_new(
            Arc::new(schema),
            vec![
                Arc::new(StringArray::from(names.to_vec())),
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

/// A p-value choice as the convention column writes it.
pub(crate) fn pvalue_name(p: MapPValue) -> &'static str {
    match p {
        MapPValue::Permutation => "permutation:(1+#draws>=map)/(1+null_size)",
        MapPValue::Copairs => "copairs:(1+#null>map)/(1+null_size)",
    }
}
