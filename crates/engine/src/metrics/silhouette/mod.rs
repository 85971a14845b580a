//! Average silhouette widths of scib-metrics (Luecken et al. 2022): do a
//! perturbation's samples sit together (`silhouette_label`), and are batches
//! mixed within each perturbation and within the controls
//! (`silhouette_batch`)?

mod options;

pub use options::*;

use super::{
    code_book, perturbation_codes, rows_of, sample_queries, Explanation, Metric, MetricContext,
    MetricInfo, MetricOutput,
};
use crate::error::{EngineError, Result};
use pertbench_kernels::stats::bootstrap::mean;
use pertbench_kernels::tasks::silhouette::{
    batch_widths_of_group, rescaled_label_widths, silhouette_samples,
};
use std::collections::BTreeMap;

pub struct Silhouette;

/// The label of control samples.
const CONTROL_LABEL: &str = "<control>";

static EXPLANATION: Explanation = Explanation {
    summary: r#"scib-metrics' average silhouette widths: perturbations as labels (silhouette_label) and batches within each label (silhouette_batch), on the post-processed representation."#,
    definition: r#"For a sample i of label L, a_i = the mean euclidean distance to the other samples of L, b_i = the smallest mean distance to the samples of another label, and s_i = (b_i - a_i) / max(a_i, b_i) (0 for a label of one sample). silhouette_label = mean over samples of (s_i + 1) / 2, labels = perturbations (with the controls as one label `<control>` unless `controls: exclude`). silhouette_batch: within each label, s_i is computed with batches as the labels, and 1 - |s_i| averaged over the label's samples; labels with one batch, or with as many batches as samples, are skipped; the score is the mean over the labels scored. Both lie in [0, 1]; higher is better (perturbations apart; batches mixed)."#,
    variants: &[
        (
            r#"silhouette_label"#,
            r#"mean of (s + 1) / 2 over samples, perturbations as labels"#,
        ),
        (
            r#"silhouette_batch"#,
            r#"mean over labels of the mean 1 - |s| by batch within the label"#,
        ),
    ],
    conventions: r#"scib-metrics 0.5 `silhouette_label(X, labels, rescale=True)` and `silhouette_batch(X, labels, batch, rescale=True)` with their defaults (euclidean, nearest other cluster), whose `silhouette_samples` equals scikit-learn's; the differential suite compares both with scikit-learn 1.9.1's `silhouette_samples` under scib-metrics' formulas to 1e-6. scib (the original package) computes the same numbers. scib-metrics gives every cell a label; pertbench's `controls: include` (the default) makes the controls one label, `exclude` scores perturbed samples only. scib-metrics computes every pair of samples; `max_samples` takes a seeded sample instead, named in `convention`."#,
    references: &[
        r#"Luecken et al. 2022, Benchmarking atlas-level data integration in single-cell genomics (Nature Methods): ASW label and ASW batch."#,
        r#"Rousseeuw 1987, Silhouettes: a graphical aid to the interpretation and validation of cluster analysis (J. Comput. Appl. Math.)."#,
        r#"scib-metrics (YosefLab), scib_metrics.silhouette_label and silhouette_batch."#,
    ],
};

impl MetricInfo for Silhouette {
    fn explanation(&self) -> &'static Explanation {
        &EXPLANATION
    }
    fn version(&self) -> u32 {
        1
    }
    fn task(&self) -> pertbench_schema::Task {
        pertbench_schema::Task::BatchCorrection
    }
}

impl Metric for Silhouette {
    type Options = SilhouetteOptions;

    fn seeded(&self, o: &SilhouetteOptions) -> bool {
        o.max_samples.is_some()
    }

    fn compute(
        &self,
        label: &str,
        o: &SilhouetteOptions,
        ctx: &MetricContext,
    ) -> Result<MetricOutput> {
        let s = &ctx.ingest.samples;
        let include_controls = o.controls() == ControlLabel::Include;
        let eligible: Vec<usize> = (0..ctx.rows.len())
            .filter(|&p| include_controls || !s.is_control[ctx.rows[p]])
            .collect();
        let positions = sample_queries(&eligible, o.max_samples, ctx.seed, "silhouette/samples");
        let name_of = |p: usize| {
            let r = ctx.rows[p];
            if s.is_control[r] {
                CONTROL_LABEL
            } else {
                s.perturbation[r].as_str()
            }
        };
        let labels_book = code_book(positions.iter().map(|&p| name_of(p)));
        let labels: Vec<u32> = positions.iter().map(|&p| labels_book[name_of(p)]).collect();
        let what = format!("metric `{label}`");
        let mut convention = format!(
            "distance=euclidean;labels=perturbation;controls={};samples={}",
            if include_controls {
                "include(one label)"
            } else {
                "exclude"
            },
            positions.len()
        );
        if positions.len() < eligible.len() {
            convention += &format!(" sampled of {} (seed {})", eligible.len(), ctx.seed);
        }

        // silhouette_label: (s + 1) / 2 over samples.
        let (label_value, label_widths) =
            if labels_book.len() >= 2 && labels_book.len() < positions.len() {
                let sil = silhouette_samples(
                    ctx.matrix.view(),
                    &positions,
                    &labels,
                    labels_book.len(),
                    ctx.par,
                )
                .map_err(EngineError::kernel(what.clone()))?;
                let w = rescaled_label_widths(&sil);
                (Some(mean(&w)), w)
            } else {
                convention += ";silhouette_label undefined: it needs 2 to n - 1 labels";
                (None, Vec::new())
            };

        // silhouette_batch: per label, 1 - |s| by batch; mean per label, then
        // over the labels scored.
        let mut by_label: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
        for (k, &l) in labels.iter().enumerate() {
            by_label.entry(l).or_default().push(k);
        }
        let mut group_means = Vec::new();
        let mut skipped = 0usize;
        for members in by_label.values() {
            let rows: Vec<usize> = members.iter().map(|&k| positions[k]).collect();
            let batch_book = code_book(rows.iter().map(|&p| s.batch[ctx.rows[p]].as_str()));
            let batches: Vec<u32> = rows
                .iter()
                .map(|&p| batch_book[s.batch[ctx.rows[p]].as_str()])
                .collect();
            match batch_widths_of_group(
                ctx.matrix.view(),
                &rows,
                &batches,
                batch_book.len(),
                ctx.par,
            )
            .map_err(EngineError::kernel(what.clone()))?
            {
                Some(w) => group_means.push(mean(&w)),
                None => skipped += 1,
            }
        }
        convention += &format!(
            ";labels={};labels_scored_by_batch={};labels_skipped_by_batch={skipped} (one batch, or one sample per batch)",
            labels_book.len(),
            group_means.len()
        );
        let batch_value = (!group_means.is_empty()).then(|| mean(&group_means));
        if batch_value.is_none() {
            convention += ";silhouette_batch undefined: no label has samples of 2 or more batches";
        }
        let n_boot = o.n_bootstrap();
        convention += &format!(";bootstrap={n_boot}");
        let mut out = rows_of(
            label,
            positions.len(),
            0,
            &convention,
            &[("silhouette_label", label_value)],
        );
        out.extend(rows_of(
            label,
            group_means.len(),
            0,
            &convention,
            &[("silhouette_batch", batch_value)],
        ));
        // A node without a seed in its key bootstraps with seed 0.
        let boot_seed = if self.seeded(o) { ctx.seed } else { 0 };
        let one_cluster_each: Vec<u32> = (0..group_means.len() as u32).collect();
        super::cluster_intervals(
            label,
            &mut out,
            &[("silhouette_label", &label_widths, mean)],
            &perturbation_codes(ctx, &positions),
            n_boot,
            boot_seed,
        )?;
        super::cluster_intervals(
            label,
            &mut out,
            &[("silhouette_batch", &group_means, mean)],
            &one_cluster_each,
            n_boot,
            boot_seed ^ 0x5111,
        )?;
        Ok(MetricOutput {
            rows: out,
            details: None,
        })
    }
}
