//! Metrics, one folder per kind (`<kind>/mod.rs` computes, `<kind>/options.rs`
//! declares the pipeline fields), each behind [`Metric`]. [`registry!`] below
//! is the one list that maps a pipeline's metric kind to its code: adding a
//! metric is a folder and a line there (docs/ARCHITECTURE.md).

mod consistency;
mod distance;
mod distribution;
mod enrichment;
mod features;
mod grit;
mod ilisi;
mod interpretability;
mod knn;
mod linear_probe;
mod map;
mod map_consistency;
mod mp_value;
pub mod options;
mod precision_recall;
mod prediction;
mod recall;
mod replicate_pairs;
mod replicate_reproducibility;
mod rewiring;
mod silhouette;
mod transfer;
mod variants;
mod vcc;

pub use options::shared::{ControlPool, EvalSamples, FeatureSource};
pub use options::{MetricSpec, OptionDoc, OptionFields};
pub use pertbench_schema::{higher_is_better, MetricRow};
pub use variants::documents_variant;

use crate::error::{EngineError, Result};
use crate::exec::outputs::IngestOut;
use crate::splits::{SplitName, SplitOut};
use arrow::array::RecordBatch;
use pertbench_data::dataset::DataContext;
use pertbench_kernels::Matrix;
use std::collections::BTreeMap;

/// Every metric kind: `Variant = "pipeline name" => module::Type`, in the
/// order `pertbench explain` lists them (the tasks of paper 004 first).
/// Generates [`MetricKind`], [`MetricOptions`] (one variant holding each
/// kind's typed options) and the dispatch from one to the other.
macro_rules! registry {
    ($( $(#[doc = $doc:literal])* $variant:ident = $name:literal => $module:ident :: $ty:ident, )*) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Deserialize, serde::Serialize)]
        pub enum MetricKind {
            $( $(#[doc = $doc])* #[serde(rename = $name)] $variant, )*
        }

        impl MetricKind {
            pub const ALL: [MetricKind; [$($name),*].len()] = [$(MetricKind::$variant),*];

            /// The kind as pipelines spell it.
            pub fn name(self) -> &'static str {
                match self { $(MetricKind::$variant => $name,)* }
            }

            /// The pipeline fields this kind takes besides `kind` and `name`.
            pub fn fields(self) -> &'static [OptionDoc] {
                match self {
                    $(MetricKind::$variant => <<$module::$ty as Metric>::Options as OptionFields>::FIELDS,)*
                }
            }
        }

        /// A metric entry's options, typed by its kind.
        #[derive(Debug, Clone, PartialEq)]
        pub enum MetricOptions {
            $( $variant(<$module::$ty as Metric>::Options), )*
        }

        impl MetricOptions {
            pub fn kind(&self) -> MetricKind {
                match self { $(MetricOptions::$variant(_) => MetricKind::$variant,)* }
            }

            /// The rows' metric name when the entry gives none.
            pub fn default_name(&self) -> &'static str {
                match self {
                    $(MetricOptions::$variant(o) => $module::$ty.default_name(o).unwrap_or($name),)*
                }
            }

            /// `{"kind": .., <the options set>}`.
            pub fn to_json(&self) -> serde_json::Result<serde_json::Value> {
                let (kind, mut v) = match self {
                    $(MetricOptions::$variant(o) => ($name, serde_json::to_value(o)?),)*
                };
                if let Some(map) = v.as_object_mut() {
                    map.insert("kind".into(), kind.into());
                }
                Ok(v)
            }

            /// The declared checks of each field, then the kind's rules.
            pub fn validate(&self) -> std::result::Result<(), String> {
                match self {
                    $(MetricOptions::$variant(o) => {
                        o.check_fields()?;
                        $module::$ty.validate(o)
                    })*
                }
            }

            /// Files and datasets the entry reads besides the dataset it scores.
            pub fn inputs(&self) -> MetricInputs {
                match self { $(MetricOptions::$variant(o) => $module::$ty.inputs(o),)* }
            }

            /// Whether the seed changes the output.
            pub fn seeded(&self) -> bool {
                match self { $(MetricOptions::$variant(o) => $module::$ty.seeded(o),)* }
            }

            pub fn compute(&self, label: &str, ctx: &MetricContext) -> Result<MetricOutput> {
                match self {
                    $(MetricOptions::$variant(o) => $module::$ty.compute(label, o, ctx),)*
                }
            }

            /// Reads a kind's options from the rest of its entry.
            pub(crate) fn deserialize_kind<'de, A: serde::de::MapAccess<'de>>(
                kind: MetricKind,
                map: A,
            ) -> std::result::Result<Self, A::Error> {
                use serde::Deserialize;
                let d = serde::de::value::MapAccessDeserializer::new(map);
                Ok(match kind {
                    $(MetricKind::$variant => MetricOptions::$variant(Deserialize::deserialize(d)?),)*
                })
            }
        }

        /// The kind's folder under `metrics/`.
        #[cfg(test)]
        pub(crate) fn module_of(kind: MetricKind) -> &'static str {
            match kind { $(MetricKind::$variant => stringify!($module),)* }
        }

        /// What every kind shares: its documentation, version, task and needs.
        pub fn implementation(kind: MetricKind) -> &'static dyn MetricInfo {
            match kind { $(MetricKind::$variant => &$module::$ty,)* }
        }

        /// Whether each kind's documented defaults are the defaults in effect.
        #[cfg(test)]
        pub(crate) fn documented_defaults_agree() -> std::result::Result<(), String> {
            $(
                <<$module::$ty as Metric>::Options as OptionFields>::documented_defaults_agree()
                    .map_err(|e| format!("{}: {e}", $name))?;
            )*
            Ok(())
        }
    };
}

registry! {
    /// Task 1.
    Ilisi = "ilisi" => ilisi::Ilisi,
    /// Task 2.
    LinearProbe = "linear_probe" => linear_probe::LinearProbe,
    /// Task 3.
    Consistency = "consistency" => consistency::Consistency,
    /// Task 4.
    Knn = "knn" => knn::Knn,
    /// Task 5.
    RelationshipRecall = "relationship_recall" => recall::RelationshipRecall,
    /// Task 6.
    Interpretability = "interpretability" => interpretability::Interpretability,
    /// Energy distance and MMD of each perturbation against its controls.
    Distribution = "distribution" => distribution::Distribution,
    /// pertpy's distance suite (edistance, pseudobulk distances, MMD,
    /// per-feature tests, Mahalanobis) with its permutation test.
    Distance = "distance" => distance::Distance,
    /// Cosine of predicted to real shifts: split-half, leave one
    /// perturbation out, leave one context out, with label-shuffle nulls.
    Transfer = "transfer" => transfer::Transfer,
    /// Predicted against real samples: discrimination, Pearson delta, MSE,
    /// energy distance, for built-in predictors and prediction files.
    Prediction = "prediction" => prediction::Prediction,
    /// Neighbourhoods of contexts under control against under each
    /// perturbation (1 - Jaccard), calibrated on control-only splits.
    Rewiring = "rewiring" => rewiring::Rewiring,
    /// scib-metrics' average silhouette widths: perturbations as labels,
    /// batches within each label.
    Silhouette = "silhouette" => silhouette::Silhouette,
    /// The Virtual Cell Challenge on a held-out split: built-in predictors
    /// scored with cell-eval's metric set and against a baseline.
    Vcc = "vcc" => vcc::Vcc,
    /// copairs' phenotypic activity: mean average precision of each
    /// perturbation's replicates against the controls, with copairs' null.
    Map = "map" => map::Map,
    /// copairs' phenotypic consistency: mean average precision of the
    /// consensus profiles of perturbations sharing an annotation label.
    MapConsistency = "map_consistency" => map_consistency::MapConsistency,
    /// cytominer-eval's replicate reproducibility: the share of replicate
    /// pairs correlating above a quantile of the non-replicate pairs.
    ReplicateReproducibility = "replicate_reproducibility" => replicate_reproducibility::ReplicateReproducibility,
    /// cytominer-eval's precision and recall at k of replicate pairs among
    /// a group's most correlated pairs.
    PrecisionRecall = "precision_recall" => precision_recall::PrecisionRecall,
    /// cytominer-eval's enrichment: Fisher's exact test of replicate pairs
    /// among the most correlated pairs.
    Enrichment = "enrichment" => enrichment::Enrichment,
    /// cytominer-eval's grit: correlations with a perturbation's group,
    /// z-scored against those with the controls.
    Grit = "grit" => grit::Grit,
    /// cytominer-eval's mp-value: the Mahalanobis distance of a
    /// perturbation's mean from the controls, tested by relabelling.
    MpValue = "mp_value" => mp_value::MpValue,
}

/// Rows of a metric without a source: one per (variant, value), sharing
/// the item count, null size and convention.
pub(crate) fn rows_of(
    label: &str,
    n_items: usize,
    null_size: usize,
    convention: &str,
    values: &[(&str, Option<f64>)],
) -> Vec<MetricRow> {
    values
        .iter()
        .map(|(variant, value)| MetricRow {
            metric: label.to_string(),
            source: None,
            variant: variant.to_string(),
            value: *value,
            n_items: n_items as u64,
            null_size: null_size as u64,
            convention: convention.to_string(),
            ci_low: None,
            ci_high: None,
            null_mean: None,
            p_value: None,
        })
        .collect()
}

pub struct MetricOutput {
    pub rows: Vec<MetricRow>,
    /// Per-item statistics (e.g. per-perturbation avgsim and p-value).
    pub details: Option<RecordBatch>,
}

pub struct MetricContext<'a> {
    pub ingest: &'a IngestOut,
    /// The post-processed representation; `rows` index the samples table.
    pub matrix: &'a Matrix,
    pub rows: &'a [usize],
    pub seed: u64,
    pub data: &'a DataContext,
    /// The dataset's splits, for metrics whose [`Metric::needs_split`] is true.
    pub split: Option<&'a SplitOut>,
    /// The representation before a post-processing fitted on the data, for
    /// metrics whose [`Metric::refits_postprocessing`] is true; None after
    /// `raw`.
    pub unprocessed: Option<Unprocessed<'a>>,
    /// How the metric's heavy kernels run (on rayon's pool or on this
    /// thread): the scheduler's choice, see
    /// [`crate::exec::scheduler::kernel_par`]. Results do not depend on it.
    pub par: pertbench_kernels::Par,
    /// Where the metric's kernels record their work (operations, time per
    /// heavy kernel): the node's own record.
    pub work: &'a pertbench_kernels::runtime::work::Work,
}

/// A representation before its post-processing, and that post-processing's
/// name: a test whose reference group the transform was fitted on refits the
/// transform on the groups it compares (distribution).
#[derive(Clone, Copy)]
pub struct Unprocessed<'a> {
    pub matrix: &'a Matrix,
    /// Row of the samples table for each row of `matrix`.
    pub rows: &'a [usize],
    pub postprocessing: &'a str,
}

/// What `pertbench explain` says about a metric kind: the definition it
/// implements (METRICS.md), the rows it writes, its options, how public
/// tools' conventions map onto them, and where it comes from.
#[derive(Debug)]
pub struct Explanation {
    /// One line.
    pub summary: &'static str,
    /// The definition, as implemented.
    pub definition: &'static str,
    /// (variant, meaning) of every row it writes; `<x>` stands for a value
    /// of an option (a probe, a threshold).
    pub variants: &'static [(&'static str, &'static str)],
    /// Where public tools differ, and which option gives their convention.
    pub conventions: &'static str,
    pub references: &'static [&'static str],
}

/// What `pertbench explain`, the DAG and the results need of a metric kind,
/// whatever its options.
pub trait MetricInfo: Sync {
    /// What `pertbench explain` prints (the options table comes from the
    /// kind's options declaration).
    fn explanation(&self) -> &'static Explanation;
    fn version(&self) -> u32;
    /// Task of paper 004's hierarchy, or the family beyond it.
    fn task(&self) -> pertbench_schema::Task;
    /// Whether the metric reads the train / test splits.
    fn needs_split(&self) -> bool {
        false
    }
    /// Whether the metric reads the representation before a fitted
    /// post-processing ([`MetricContext::unprocessed`]).
    fn refits_postprocessing(&self) -> bool {
        false
    }
}

/// What a metric entry reads besides the dataset it scores: files whose
/// content joins its nodes' keys (hashed once per run), and other datasets
/// (relationship sources), checked when the DAG is planned.
#[derive(Debug, Default)]
pub struct MetricInputs {
    pub files: Vec<InputFile>,
    pub datasets: Vec<String>,
}

#[derive(Debug)]
pub struct InputFile {
    /// The key parameter its sha256 is stored under.
    pub key: String,
    /// What the pipeline calls it, for errors.
    pub what: String,
    pub path: std::path::PathBuf,
}

/// A metric kind: its typed options, the rules between them, and the
/// computation.
pub trait Metric: MetricInfo {
    /// Declared with [`options::metric_options!`] in the kind's `options.rs`.
    type Options: OptionFields;
    /// The rows' metric name when the entry sets none and it is not the
    /// kind's name (the ridge probe's `linear_ridge`).
    fn default_name(&self, _o: &Self::Options) -> Option<&'static str> {
        None
    }
    /// Rules between fields (each field's own range is declared with it).
    fn validate(&self, _o: &Self::Options) -> std::result::Result<(), String> {
        Ok(())
    }
    /// Files and datasets the metric reads besides the dataset it scores.
    fn inputs(&self, _o: &Self::Options) -> MetricInputs {
        MetricInputs::default()
    }
    /// Whether the seed changes the output.
    fn seeded(&self, o: &Self::Options) -> bool;
    fn compute(&self, label: &str, o: &Self::Options, ctx: &MetricContext) -> Result<MetricOutput>;
}

/// Bootstrap resamples of the intervals, unless the metric sets `n_bootstrap`.
pub const DEFAULT_N_BOOTSTRAP: usize = 1000;

/// Sets each row's interval from a cluster bootstrap over perturbations:
/// `items` pairs a row's variant with its per-item values and the statistic
/// (e.g. the mean); `cluster` gives each item's perturbation code (controls
/// one cluster). Rows whose variant is not listed are left as they are.
pub(crate) fn cluster_intervals(
    label: &str,
    rows: &mut [MetricRow],
    items: &[(&str, &[f64], fn(&[f64]) -> f64)],
    cluster: &[u32],
    n_boot: usize,
    seed: u64,
) -> Result<()> {
    for (k, (variant, values, stat)) in items.iter().enumerate() {
        if values.is_empty() {
            continue;
        }
        let ci = pertbench_kernels::stats::bootstrap::cluster_interval(
            values,
            cluster,
            n_boot,
            0.95,
            seed ^ (k as u64 + 1),
            stat,
        )
        .map_err(EngineError::kernel(format!("metric `{label}` (bootstrap)")))?;
        for r in rows.iter_mut().filter(|r| r.variant == *variant) {
            r.ci_low = Some(ci.0);
            r.ci_high = Some(ci.1);
        }
    }
    Ok(())
}

/// The `top1` and `top5` rows of a classification task (kNN, the linear
/// probe) from each query's (top-1 hit, top-5 hit), with cluster-bootstrap
/// intervals over the queries' perturbations (`cluster`); `convention` gains
/// the bootstrap's description.
pub(crate) fn top_k_rows(
    label: &str,
    hits: &[(bool, bool)],
    convention: &str,
    cluster: &[u32],
    n_boot: usize,
    seed: u64,
) -> Result<Vec<MetricRow>> {
    let top1: Vec<f64> = hits.iter().map(|h| f64::from(u8::from(h.0))).collect();
    let top5: Vec<f64> = hits.iter().map(|h| f64::from(u8::from(h.1))).collect();
    let n = hits.len() as f64;
    let (t1, t5) = (
        top1.iter().sum::<f64>() as usize,
        top5.iter().sum::<f64>() as usize,
    );
    let convention = format!("{convention};bootstrap={n_boot}_over_perturbations");
    let mut rows = rows_of(
        label,
        hits.len(),
        0,
        &convention,
        &[("top1", Some(t1 as f64 / n)), ("top5", Some(t5 as f64 / n))],
    );
    let mean: fn(&[f64]) -> f64 = pertbench_kernels::stats::bootstrap::mean;
    cluster_intervals(
        label,
        &mut rows,
        &[("top1", &top1, mean), ("top5", &top5, mean)],
        cluster,
        n_boot,
        seed,
    )?;
    Ok(rows)
}

/// The share of tested items whose adjusted p-value (`None`: untested) is
/// below `alpha`, with a seeded bootstrap 95% interval that resamples the
/// tested items' indicators (q-values held fixed); nothing when no item was
/// tested.
pub(crate) fn share_significant(
    adjusted: &[Option<f64>],
    alpha: f64,
    n_boot: usize,
    seed: u64,
) -> std::result::Result<Option<(f64, (f64, f64))>, pertbench_kernels::KernelError> {
    let hits: Vec<f64> = adjusted
        .iter()
        .flatten()
        .map(|q| f64::from(u8::from(*q < alpha)))
        .collect();
    if hits.is_empty() {
        return Ok(None);
    }
    let share = hits.iter().sum::<f64>() / hits.len() as f64;
    let interval = pertbench_kernels::stats::bootstrap::mean_interval(&hits, n_boot, 0.95, seed)?;
    Ok(Some((share, interval)))
}

/// Perturbation codes of matrix positions (controls share one code), for
/// [`cluster_intervals`].
pub(crate) fn perturbation_codes(ctx: &MetricContext, positions: &[usize]) -> Vec<u32> {
    let s = &ctx.ingest.samples;
    let name = |p: usize| {
        if s.is_control[ctx.rows[p]] {
            "\u{0}control"
        } else {
            s.perturbation[ctx.rows[p]].as_str()
        }
    };
    let book = code_book(positions.iter().map(|&p| name(p)));
    positions.iter().map(|&p| book[name(p)]).collect()
}

/// Codes 0..n for the distinct keys in sorted order, so a code never
/// depends on the order of the rows.
pub(crate) fn code_book<'a>(keys: impl IntoIterator<Item = &'a str>) -> BTreeMap<&'a str, u32> {
    let mut book: BTreeMap<&str, u32> = keys.into_iter().map(|k| (k, 0)).collect();
    for (i, v) in book.values_mut().enumerate() {
        *v = i as u32;
    }
    book
}

/// Positions in the metric's matrix of a split's sample rows. Rows a
/// post-processing dropped (a batch without controls) are counted, not kept.
pub(crate) struct SplitPositions {
    pub positions: Vec<usize>,
    pub dropped: usize,
}

pub(crate) fn split_positions(ctx: &MetricContext, on: EvalSamples) -> Result<SplitPositions> {
    let mut pos_of = vec![usize::MAX; ctx.ingest.samples.len()];
    for (p, &r) in ctx.rows.iter().enumerate() {
        pos_of[r] = p;
    }
    let sample_rows: Vec<usize> = match on {
        EvalSamples::All => (0..ctx.ingest.samples.len()).collect(),
        other => {
            let split = ctx
                .split
                .ok_or_else(|| EngineError::msg("internal: metric needs splits but has none"))?;
            let name = match other {
                EvalSamples::Train => SplitName::Train,
                EvalSamples::TestSeen => SplitName::TestSeen,
                _ => SplitName::TestUnseen,
            };
            split.rows(name).to_vec()
        }
    };
    let positions: Vec<usize> = sample_rows
        .iter()
        .map(|&r| pos_of[r])
        .filter(|&p| p != usize::MAX)
        .collect();
    Ok(SplitPositions {
        dropped: sample_rows.len() - positions.len(),
        positions,
    })
}

/// Fails with a message naming the split when it holds no samples.
pub(crate) fn require_nonempty(label: &str, what: &str, n: usize) -> Result<()> {
    if n == 0 {
        return Err(EngineError::msg(format!(
            "metric `{label}`: the {what} is empty (check the splits: batches and perturbations per split)"
        )));
    }
    Ok(())
}

/// A seeded sample of at most `max` of `positions` (kept in ascending order).
pub(crate) fn sample_queries(
    positions: &[usize],
    max: Option<usize>,
    seed: u64,
    tag: &str,
) -> Vec<usize> {
    match max {
        Some(m) if m < positions.len() => {
            use rand::seq::index::sample;
            let mut rng = pertbench_kernels::stats::rng::stream(seed, tag, 0);
            let mut pick: Vec<usize> = sample(&mut rng, positions.len(), m).into_vec();
            pick.sort_unstable();
            pick.into_iter().map(|i| positions[i]).collect()
        }
        _ => positions.to_vec(),
    }
}

/// Mean of the rows of `m` at `positions`, in f64.
pub(crate) fn mean_of_rows(m: &pertbench_kernels::Matrix, positions: &[usize]) -> Vec<f64> {
    let mut out = vec![0.0; m.ncols()];
    for &p in positions {
        for (o, v) in out.iter_mut().zip(m.row(p)) {
            *o += *v as f64;
        }
    }
    out.iter().map(|v| v / positions.len() as f64).collect()
}

/// Rows of `m` at `positions`, as a new matrix.
pub(crate) fn gather(
    m: &pertbench_kernels::Matrix,
    positions: &[usize],
) -> pertbench_kernels::Matrix {
    m.select(ndarray::Axis(0), positions)
}

/// Columns of `m` (restricted to `positions`) whose values are all equal.
pub(crate) fn constant_columns(m: &pertbench_kernels::Matrix, positions: &[usize]) -> usize {
    (0..m.ncols())
        .filter(|&j| {
            positions
                .first()
                .is_none_or(|&f| positions.iter().all(|&p| m[(p, j)] == m[(f, j)]))
        })
        .count()
}

/// Units of a perturbation within a context, as `distribution` and
/// `prediction` compare them with the controls of their context.
pub(crate) struct ContextUnits {
    /// Whether units are per context (`controls: context` and samples with
    /// contexts); otherwise one pool holds all controls (key None).
    pub by_context: bool,
    /// Control positions per pool.
    pub pools: BTreeMap<Option<String>, Vec<usize>>,
    /// (perturbation, context, positions): 2 or more samples and a pool of 2
    /// or more controls; by perturbation, then context.
    pub units: Vec<(String, Option<String>, Vec<usize>)>,
    /// Units left out with fewer than 2 samples...
    pub too_small: usize,
    /// ...and, of the rest, those whose pool has fewer than 2 controls.
    pub without_controls: usize,
}

/// The context of sample row `r` when units are per context, else None (one
/// pool).
pub(crate) fn context_of(ctx: &MetricContext, by_context: bool, r: usize) -> Option<String> {
    if by_context {
        ctx.ingest.samples.context.as_ref().map(|c| c[r].clone())
    } else {
        None
    }
}

/// Control positions of the matrix per context (one pool, key None, unless
/// `by_context`).
pub(crate) fn control_pools(
    ctx: &MetricContext,
    by_context: bool,
) -> BTreeMap<Option<String>, Vec<usize>> {
    let mut pools: BTreeMap<Option<String>, Vec<usize>> = BTreeMap::new();
    for (pos, &r) in ctx.rows.iter().enumerate() {
        if ctx.ingest.samples.is_control[r] {
            pools
                .entry(context_of(ctx, by_context, r))
                .or_default()
                .push(pos);
        }
    }
    pools
}

/// Whether units are per context: `controls: context` on samples that have
/// contexts.
pub(crate) fn per_context(ctx: &MetricContext, pool: ControlPool) -> bool {
    pool == ControlPool::Context && ctx.ingest.samples.context.is_some()
}

/// Each perturbation's samples split by context (one part, context None,
/// unless `by_context`): (perturbation, context, positions), by
/// perturbation, then context.
pub(crate) fn perturbation_context_parts(
    ctx: &MetricContext,
    by_context: bool,
) -> Vec<(String, Option<String>, Vec<usize>)> {
    let mut parts = Vec::new();
    for (p, positions) in perturbation_groups(ctx) {
        let mut split: BTreeMap<Option<String>, Vec<usize>> = BTreeMap::new();
        for pos in positions {
            split
                .entry(context_of(ctx, by_context, ctx.rows[pos]))
                .or_default()
                .push(pos);
        }
        parts.extend(split.into_iter().map(|(c, pos)| (p.clone(), c, pos)));
    }
    parts
}

pub(crate) fn context_units(ctx: &MetricContext, pool: ControlPool) -> ContextUnits {
    let by_context = per_context(ctx, pool);
    let pools = control_pools(ctx, by_context);
    let (mut too_small, mut without_controls) = (0, 0);
    let mut units = Vec::new();
    for (p, context, positions) in perturbation_context_parts(ctx, by_context) {
        if positions.len() < 2 {
            too_small += 1;
        } else if pools.get(&context).is_none_or(|c| c.len() < 2) {
            without_controls += 1;
        } else {
            units.push((p, context, positions));
        }
    }
    ContextUnits {
        by_context,
        pools,
        units,
        too_small,
        without_controls,
    }
}

/// Non-control rows of the matrix grouped by perturbation (sorted), as
/// positions in the matrix.
pub(crate) fn perturbation_groups(
    ctx: &MetricContext,
) -> std::collections::BTreeMap<String, Vec<usize>> {
    let s = &ctx.ingest.samples;
    let mut g: std::collections::BTreeMap<String, Vec<usize>> = Default::default();
    for (pos, &r) in ctx.rows.iter().enumerate() {
        if !s.is_control[r] {
            g.entry(s.perturbation[r].clone()).or_default().push(pos);
        }
    }
    g
}

#[cfg(test)]
mod calibration;
#[cfg(test)]
mod fixtures;
#[cfg(test)]
mod tests;
