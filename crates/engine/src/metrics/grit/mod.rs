//! Grit, cytominer-eval's `grit`: do a perturbation's profiles correlate
//! with those of the other perturbations of its group (a gene's other
//! guides, a target's other compounds) more than with the controls?

mod options;

pub use options::*;

use super::replicate_pairs::{
    check_columns, column_codes, pair_correlations, ReplicateSamples, SampleColumn,
};
use super::{rows_of, Explanation, Metric, MetricContext, MetricInfo, MetricOutput};
use crate::error::{EngineError, Result};
use arrow::array::{Float64Array, RecordBatch, StringArray, UInt64Array};
use arrow::datatypes::{DataType, Field, Schema};
use pertbench_kernels::stats::bootstrap::mean_interval;
use pertbench_kernels::tasks::replicate_metrics::grit::{grit, GritSummary};
use std::sync::Arc;

pub struct Grit;

static EXPLANATION: Explanation = Explanation {
    summary: r#"cytominer-eval's grit: a perturbation's correlations with the other perturbations of its group (the dataset's annotation: target gene, mechanism), z-scored against its correlations with the controls."#,
    definition: r#"Samples are compared by the correlation of their profiles (`similarity`, pandas' corr); every sample is scored, controls included. For each perturbation P that is not a control, with group G (its annotation): the reference is the correlations of P's samples with every control sample; the scores are the correlations of P's samples with the samples of other perturbations of group G. Each score is z-scored by the reference's mean and population standard deviation (sklearn's StandardScaler; a constant reference scales by 1), and grit is their `summary` (mean or median). A perturbation without another perturbation in its group, or without an annotation, has no grit. mean_grit is the mean over perturbations with a grit, with a bootstrap interval over them."#,
    variants: &[(r#"mean_grit"#, r#"mean over perturbations of their grit"#)],
    conventions: r#"cytominer-eval 0.1 and its GitHub head: `evaluate(profiles, features, meta_features, replicate_groups={'profile_col': <perturbation column>, 'replicate_group_col': <annotation column>}, operation='grit', grit_control_perts=<the control labels>, grit_replicate_summary_method)` gives each perturbation's grit, equal to pertbench's details (crates/cli/tests/replicate_metrics). cytominer-eval also returns a row for each control label (NaN); pertbench writes rows for perturbations only. cytominer-eval reads an NA annotation as the string 'nan', so unannotated perturbations form one group there; here they have no grit and are counted. A perturbation with fewer than two pairs with control samples is an error (cytominer-eval's assertion). Samples with one value in every feature are left out and counted. Details hold per perturbation: group, n_control_pairs, n_group_pairs, grit (null where undefined)."#,
    references: &[
        r#"cytominer-eval (cytomining), operations/grit.py and utils/grit_utils.py; Cell Painting gallery's 'grit' for CRISPR screens (Way et al.)."#,
    ],
};

impl MetricInfo for Grit {
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

impl Metric for Grit {
    type Options = GritOptions;

    fn seeded(&self, _o: &Self::Options) -> bool {
        true
    }

    fn compute(&self, label: &str, o: &Self::Options, ctx: &MetricContext) -> Result<MetricOutput> {
        let what = format!("metric `{label}`");
        check_columns(ctx, &what, &[SampleColumn::Annotation]).map_err(|_| {
            EngineError::msg(format!(
                "{what}: grit scores a perturbation against the other perturbations of its group; map the dataset's `columns.annotation` (a column such as Metadata_gene or Metadata_moa) in its manifest"
            ))
        })?;
        let pairs = pair_correlations(ctx, &what, ReplicateSamples::All, o.similarity())?;
        let s = &ctx.ingest.samples;
        let is_control: Vec<bool> = pairs.rows.iter().map(|&r| s.is_control[r]).collect();
        let (perturbation, names) = column_codes(ctx, &pairs.rows, &[SampleColumn::Perturbation]);
        let perturbation: Vec<u32> = perturbation.into_iter().map(|c| c.unwrap_or(0)).collect();
        let (group, group_names) = column_codes(ctx, &pairs.rows, &[SampleColumn::Annotation]);
        let summary = match o.summary() {
            GritSummaryMethod::Mean => GritSummary::Mean,
            GritSummaryMethod::Median => GritSummary::Median,
        };
        let scored = grit(
            &pairs.correlations,
            &perturbation,
            &is_control,
            &group,
            summary,
        )
        .map_err(EngineError::kernel(what.clone()))?;
        if let Some(g) = scored.iter().find(|g| g.n_control_pairs < 2) {
            return Err(EngineError::msg(format!(
                "{what}: perturbation `{}` has {} pair(s) with control samples; grit z-scores against them and needs two or more (are the controls among the scored samples?)",
                names[g.perturbation as usize], g.n_control_pairs
            )));
        }
        let values: Vec<f64> = scored
            .iter()
            .map(|g| g.grit)
            .filter(|v| v.is_finite())
            .collect();
        let without_annotation = scored.iter().filter(|g| g.group.is_none()).count();
        let alone = scored.len() - values.len() - without_annotation;
        let n_boot = super::DEFAULT_N_BOOTSTRAP;
        let convention = format!(
            "cytominer_eval=0.1;similarity={};profile_col=perturbation;replicate_group_col=annotation;control_perts=controls;summary={};zscore=population_sd;perturbations_without_annotation={without_annotation} (no grit);perturbations_alone_in_group={alone} (no grit);constant_samples={} (left out);bootstrap={n_boot}_over_perturbations",
            o.similarity().kernel().name(),
            match o.summary() {
                GritSummaryMethod::Mean => "mean",
                GritSummaryMethod::Median => "median",
            },
            pairs.constant.len(),
        );
        let mean = (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64);
        let mut row =
            rows_of(label, values.len(), 0, &convention, &[("mean_grit", mean)]).remove(0);
        if mean.is_some() {
            row = row.with_interval(
                mean_interval(&values, n_boot, 0.95, ctx.seed ^ 0x9c1)
                    .map_err(EngineError::kernel(what.clone()))?,
            );
        }
        let schema = Schema::new(vec![
            Field::new("perturbation", DataType::Utf8, false),
            Field::new("group", DataType::Utf8, true),
            Field::new("n_control_pairs", DataType::UInt64, false),
            Field::new("n_group_pairs", DataType::UInt64, false),
            Field::new("grit", DataType::Float64, true),
        ]);
        let details = RecordBatch::try_new(
            Arc::new(schema),
            vec![
                Arc::new(StringArray::from(
                    scored
                        .iter()
                        .map(|g| names[g.perturbation as usize].as_str())
                        .collect::<Vec<_>>(),
                )),
                Arc::new(StringArray::from(
                    scored
                        .iter()
                        .map(|g| g.group.map(|c| group_names[c as usize].as_str()))
                        .collect::<Vec<_>>(),
                )),
                Arc::new(UInt64Array::from(
                    scored
                        .iter()
                        .map(|g| g.n_control_pairs as u64)
                        .collect::<Vec<_>>(),
                )),
                Arc::new(UInt64Array::from(
                    scored
                        .iter()
                        .map(|g| g.n_group_pairs as u64)
                        .collect::<Vec<_>>(),
                )),
                Arc::new(Float64Array::from(
                    scored
                        .iter()
                        .map(|g| g.grit.is_finite().then_some(g.grit))
                        .collect::<Vec<_>>(),
                )),
            ],
        )
        .expect("schema matches");
        Ok(MetricOutput {
            rows: vec![row],
            details: Some(details),
        })
    }
}
