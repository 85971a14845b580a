//! Phenotypic consistency by mean average precision, copairs 0.5's recipe
//! (Kalinin et al. 2025): do the consensus profiles of perturbations that
//! share an annotation (mechanism of action, target) retrieve each other
//! before those that share none?

mod options;

pub use options::*;

use super::map::{activity, pvalue_name, Activity, MapControls, MapPValue, MapSummary};
use super::{code_book, Explanation, Metric, MetricContext, MetricInfo, MetricOutput};
use crate::error::{EngineError, Result};
use pertbench_kernels::tasks::mean_average_precision::consistency::{
    consensus_medians, multilabel_average_precisions, permutation_test,
};
use pertbench_kernels::tasks::mean_average_precision::{
    correct_p_values, mean_average_precision, GroupMap,
};
use std::collections::BTreeMap;

pub struct MapConsistency;

static EXPLANATION: Explanation = Explanation {
    summary: r#"Phenotypic consistency by mean average precision (copairs): do perturbations that share an annotation (mechanism of action, target gene) have consensus profiles that retrieve each other before those of perturbations sharing none, and is that significant?"#,
    definition: r#"The perturbations ranked are the annotated ones that `map`'s activity finds active (corrected p < threshold; `perturbations: all` takes every annotated perturbation). Each is one consensus profile: the median of its samples, feature by feature (pandas' median, rounded to float32). Its annotation (the dataset's `columns.annotation`) is split at `separator` into labels. For each label L of a perturbation, the perturbation ranks its positives (the other perturbations holding L) and its negatives (those sharing no label with it) by similarity, as `map` ranks (copairs' key 1 - similarity in float32, positives first on ties), and scores the ranking by average precision. A label's mAP is the mean AP of its holders; a label held by one perturbation has no positive and is left out. `pvalue: permutation` (the default) permutes the label sets among the annotated consensus profiles: each of null_size draws places the sets uniformly at random, scores the label exactly as the observed one is scored, and p = (1 + #(draw mAP >= mAP)) / (1 + null_size); valid when, without consistency, label sets are exchangeable among perturbations. `pvalue: copairs` is copairs' null of random rank lists (see `map`), which is equal to copairs' p-values. corrected_p_value: Benjamini-Hochberg over the labels. fraction_consistent is the share of labels with corrected_p_value < threshold (copairs' below_corrected_p)."#,
    variants: &[
        (r#"mean_map"#, r#"mean over labels of their mAP"#),
        (
            r#"fraction_consistent"#,
            r#"share of labels with BH-corrected p < threshold"#,
        ),
        (
            r#"fraction_below_p"#,
            r#"share of labels with p < threshold (uncorrected)"#,
        ),
    ],
    conventions: r#"copairs 0.5.2's phenotypic consistency example: the active perturbations (activity's below_corrected_p) aggregated by `groupby([perturbation, annotation]).median()`, the annotation split at `|` (`str.split`), then `map.multilabel.average_precision(meta, feats, pos_sameby=[annotation], pos_diffby=[], neg_sameby=[], neg_diffby=[annotation], multilabel_col=annotation)` and `mean_average_precision(ap, [annotation], null_size, threshold, seed)`: with `pvalue: copairs` (and the activity selection copairs made) its APs and p-values are pertbench's, compared in crates/cli/tests/map on plates with single and multiple labels. A perturbation's samples must agree on its annotation (an error names the perturbation otherwise); perturbations without one (NA) are counted and left out; labels are trimmed, and a label repeated within one annotation counts once. copairs' null is not calibrated for consistency either (a label's holders rank each other), hence the permutation default. Consensus medians are rounded to float32, the representation's precision; similarities are computed in f64 as for `map`. Details hold per label: n_perturbations, mean_average_precision, p_value, corrected_p_value, below_p, below_corrected_p."#,
    references: &[
        r#"Kalinin et al. 2025, A versatile information retrieval framework for evaluating profile strength and similarity (Nature Communications): phenotypic consistency."#,
        r#"copairs (cytomining), copairs.map.multilabel.average_precision, docs/examples/phenotypic_consistency.ipynb."#,
    ],
};

impl MetricInfo for MapConsistency {
    fn explanation(&self) -> &'static Explanation {
        &EXPLANATION
    }
    fn version(&self) -> u32 {
        1
    }
    fn task(&self) -> pertbench_schema::Task {
        pertbench_schema::Task::KnownRelationshipRecall
    }
}

impl Metric for MapConsistency {
    type Options = MapConsistencyOptions;

    fn seeded(&self, _o: &MapConsistencyOptions) -> bool {
        true
    }

    fn compute(
        &self,
        label: &str,
        o: &MapConsistencyOptions,
        ctx: &MetricContext,
    ) -> Result<MetricOutput> {
        let s = &ctx.ingest.samples;
        let what = format!("metric `{label}`");
        let annotation = s.annotation.as_ref().ok_or_else(|| {
            EngineError::msg(format!(
                "{what}: map_consistency groups perturbations by their annotation; map the dataset's `columns.annotation` (a column such as Metadata_target or Metadata_moa) in its manifest"
            ))
        })?;
        // Each perturbation's annotation, the same on all its samples.
        let mut annotation_of: BTreeMap<&str, (Option<&str>, usize)> = BTreeMap::new();
        for &r in ctx.rows {
            if s.is_control[r] {
                continue;
            }
            let a = annotation[r].as_deref();
            let (first, at) = *annotation_of
                .entry(s.perturbation[r].as_str())
                .or_insert((a, r));
            if first != a {
                return Err(EngineError::msg(format!(
                    "{what}: perturbation `{}` has two annotations: {} (sample `{}`) and {} (sample `{}`)",
                    s.perturbation[r],
                    shown(first),
                    s.sample_id[at],
                    shown(a),
                    s.sample_id[r]
                )));
            }
        }
        let similarity = o.similarity().kernel();
        let same_batch = o.controls() == MapControls::SameBatch;
        let null_size = o.null_size();
        let threshold = o.threshold();
        // The perturbations ranked, in name order, with their positions.
        let (selected, selection): (Vec<(&str, Vec<usize>)>, String) = match o.perturbations() {
            ConsistencyPerturbations::Active => {
                let Activity {
                    maps,
                    names,
                    mut members,
                    ..
                } = activity(
                    ctx,
                    &what,
                    similarity,
                    same_batch,
                    o.activity_pvalue(),
                    null_size,
                )?;
                let active: Vec<(&str, Vec<usize>)> = maps
                    .iter()
                    .filter(|m| m.corrected_p_value < threshold)
                    .map(|m| {
                        (
                            names[&m.group],
                            members.remove(&m.group).unwrap_or_default(),
                        )
                    })
                    .collect();
                let note = format!(
                    "active:{}/{} (activity: controls={},pvalue={})",
                    active.len(),
                    maps.len(),
                    if same_batch { "same_batch" } else { "all" },
                    pvalue_name(o.activity_pvalue())
                );
                (active, note)
            }
            ConsistencyPerturbations::All => {
                let mut by: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
                for (p, &r) in ctx.rows.iter().enumerate() {
                    if !s.is_control[r] {
                        by.entry(s.perturbation[r].as_str()).or_default().push(p);
                    }
                }
                let n = by.len();
                (by.into_iter().collect(), format!("all:{n}"))
            }
        };
        let separator = o.separator();
        let labels_of = |a: &str| -> Vec<String> {
            let parts: Vec<&str> = if separator.is_empty() {
                vec![a]
            } else {
                a.split(separator.as_str()).collect()
            };
            parts
                .into_iter()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_string)
                .collect()
        };
        let mut without_annotation = 0usize;
        let mut ranked: Vec<(&str, Vec<usize>, Vec<String>)> = Vec::new();
        for (name, positions) in selected {
            let labels = annotation_of
                .get(name)
                .and_then(|(a, _)| *a)
                .map(labels_of)
                .unwrap_or_default();
            if labels.is_empty() {
                without_annotation += 1;
                continue;
            }
            ranked.push((name, positions, labels));
        }
        let book = code_book(ranked.iter().flat_map(|r| r.2.iter().map(String::as_str)));
        let label_sets: Vec<Vec<u32>> = ranked
            .iter()
            .map(|r| {
                let mut codes: Vec<u32> = r.2.iter().map(|l| book[l.as_str()]).collect();
                codes.sort_unstable();
                codes.dedup();
                codes
            })
            .collect();
        let groups: Vec<Vec<usize>> = ranked.iter().map(|r| r.1.clone()).collect();
        let consensus_what = format!(
            "{what}: consensus profiles (row k is the k-th ranked perturbation in name order)"
        );
        let consensus = consensus_medians(ctx.matrix.view(), &groups)
            .map_err(EngineError::kernel(what.clone()))?;
        let maps: Vec<GroupMap> = match o.pvalue() {
            MapPValue::Copairs => {
                let aps = multilabel_average_precisions(
                    consensus.view(),
                    &label_sets,
                    similarity,
                    ctx.par,
                    ctx.work,
                )
                .map_err(EngineError::kernel(consensus_what.clone()))?;
                let profile_aps: Vec<_> = aps.iter().map(|a| a.ap).collect();
                let group: Vec<Option<u32>> = aps.iter().map(|a| Some(a.label)).collect();
                mean_average_precision(&profile_aps, &group, null_size, ctx.seed, ctx.par)
                    .map_err(EngineError::kernel(consensus_what.clone()))?
            }
            MapPValue::Permutation => {
                let tested = permutation_test(
                    consensus.view(),
                    &label_sets,
                    similarity,
                    null_size,
                    ctx.seed,
                    ctx.par,
                    ctx.work,
                )
                .map_err(EngineError::kernel(consensus_what.clone()))?;
                let mut maps: Vec<GroupMap> = tested
                    .iter()
                    .map(|t| GroupMap {
                        group: t.label,
                        mean_average_precision: t.mean_average_precision,
                        n_profiles: t.n_profiles,
                        p_value: t.p_value,
                        corrected_p_value: f64::NAN,
                    })
                    .collect();
                correct_p_values(&mut maps);
                maps
            }
        };
        let label_names: BTreeMap<u32, &str> = book.iter().map(|(&k, &v)| (v, k)).collect();
        let single = book.len() - maps.len();
        let n_boot = o.n_bootstrap();
        let convention = format!(
            "copairs=0.5;similarity={};separator={separator};perturbations={selection};pvalue={};null_size={null_size};seed={};threshold={threshold};bh=labels;consensus=median(float32);perturbations_without_annotation={without_annotation} (left out);labels_of_one_perturbation={single} (left out);ranked_perturbations={};bootstrap={n_boot}",
            similarity.name(),
            pvalue_name(o.pvalue()),
            ctx.seed,
            ranked.len(),
        );
        let names: Vec<&str> = maps.iter().map(|m| label_names[&m.group]).collect();
        MapSummary {
            label,
            what: &what,
            variants: ["mean_map", "fraction_consistent", "fraction_below_p"],
            group_column: "label",
            count_column: "n_perturbations",
            threshold,
            null_size,
            n_bootstrap: n_boot,
            seed: ctx.seed,
            convention: &convention,
        }
        .output(&maps, &names)
    }
}

fn shown(a: Option<&str>) -> String {
    match a {
        Some(a) => format!("`{a}`"),
        None => "none (NA)".into(),
    }
}
