//! Pipeline YAML (`pipelines/*.yaml`): a sweep over datasets x
//! representations x post-processings x metrics x seeds. Unknown keys and
//! wrong types are errors that name the file, line and column; parameters
//! that do not belong to an entry's kind are errors naming the entry.

use crate::error::{EngineError, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Largest `dim` / `n_components` of a representation.
pub const MAX_DIM: usize = 100_000;
/// Largest `power_iterations` of the PCA range finder.
pub const MAX_POWER_ITERATIONS: usize = 100;
/// Largest number of permutations, label shuffles or bootstrap draws.
pub const MAX_DRAWS: usize = 1_000_000;
/// Largest `epochs` (adam) and `max_steps` (lbfgs).
pub const MAX_EPOCHS: usize = 100_000;
pub const MAX_STEPS: usize = 1_000_000;

/// Why a count setting lies outside [min, max] (min 0 or 1), or None
/// (also when it is not set).
fn count_out_of_range(field: &str, value: Option<usize>, min: usize, max: usize) -> Option<String> {
    match value? {
        v if v < min => Some(format!("`{field}` must be positive")),
        v if v > max => Some(format!("`{field}` must be at most {max}, got {v}")),
        _ => None,
    }
}

/// The first entry that appears twice in `v`.
fn first_repeat<T: PartialEq>(v: &[T]) -> Option<&T> {
    v.iter()
        .enumerate()
        .find(|(i, x)| v[..*i].contains(x))
        .map(|(_, x)| x)
}

fn default_seeds() -> Vec<u64> {
    vec![0]
}
fn default_postprocessing() -> Vec<String> {
    pertbench_kernels::postprocess::names()
        .into_iter()
        .map(String::from)
        .collect()
}

/// What the train / test splits hold out.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum SplitBy {
    /// Whole batches (paper 004).
    #[default]
    Batch,
    /// Each perturbation's (and the controls') samples, seeded: for a
    /// dataset with a single batch (one plate).
    Samples,
    /// Whole groups of the dataset's `columns.split_group` (well position,
    /// dose slot), as batches are held out by default.
    Group,
}

impl SplitBy {
    pub fn is_batch(&self) -> bool {
        *self == SplitBy::Batch
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pipeline {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub datasets: Vec<String>,
    #[serde(default = "default_seeds")]
    pub seeds: Vec<u64>,
    pub representations: Vec<RepresentationSpec>,
    #[serde(default = "default_postprocessing")]
    pub postprocessing: Vec<String>,
    pub metrics: Vec<MetricSpec>,
    /// Share of batches and of perturbations that are "train" in the splits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train_fraction: Option<f64>,
    /// What the splits hold out: whole `batch`es (default), or `samples`
    /// (a seeded split of each perturbation's samples: for a dataset of one
    /// plate or one batch).
    #[serde(default, skip_serializing_if = "SplitBy::is_batch")]
    pub split_by: SplitBy,
    /// SQL files printed after a run (e.g. `sql/leaderboard.sql`).
    #[serde(default)]
    pub report: Vec<PathBuf>,
    #[serde(skip)]
    pub path: PathBuf,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RepresentationKind {
    /// Randomized PCA of the counts.
    Pca,
    /// iid N(0, 1).
    Random,
    /// Rows of another representation permuted.
    Shuffled,
    /// A matrix in the dataset's h5ad `obsm`.
    Obsm,
    /// Columns of a Parquet or CSV file.
    Table,
    /// A 2-D `.npy` file.
    Npy,
    /// The dataset's own value matrix as stored (a profile table's
    /// features, log expression).
    Features,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum PcaInput {
    /// Raw counts, as paper 004 (appendix C.3) and METRICS.md.
    Counts,
    /// log1p(counts / rowsum * 1e4), as scanpy's usual recipe.
    Lognorm,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RepresentationSpec {
    pub name: String,
    pub kind: RepresentationKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n_components: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<PcaInput>,
    /// `pca`: power iterations of the range finder (default 7 when the
    /// components are under a tenth of the matrix's smaller side, else 4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub power_iterations: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dim: Option<usize>,
    /// `shuffled`: the representation whose rows are permuted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub of: Option<String>,
    /// `obsm`: the key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// `table`, `npy`: the file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
    /// `table`: the column holding sample ids (aligned to the samples table).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_column: Option<String>,
    /// `table`: representation columns by prefix...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// ...or by name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub columns: Option<Vec<String>>,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum MetricKind {
    /// Task 3.
    Consistency,
    /// Task 5.
    RelationshipRecall,
    /// Task 1.
    Ilisi,
    /// Task 2.
    LinearProbe,
    /// Task 4.
    Knn,
    /// Task 6.
    Interpretability,
    /// Energy distance and MMD of each perturbation against its controls.
    Distribution,
    /// Cosine of predicted to real shifts: split-half, leave one
    /// perturbation out, leave one context out, with label-shuffle nulls.
    Transfer,
    /// Predicted against real samples: discrimination, Pearson delta, MSE,
    /// energy distance, for built-in predictors and prediction files.
    Prediction,
    /// Neighbourhoods of contexts under control against under each
    /// perturbation (1 - Jaccard), calibrated on control-only splits.
    Rewiring,
}

impl MetricKind {
    /// Every kind, in the order `pertbench explain` lists them (the tasks
    /// of paper 004 first).
    pub const ALL: [MetricKind; 10] = [
        MetricKind::Ilisi,
        MetricKind::LinearProbe,
        MetricKind::Consistency,
        MetricKind::Knn,
        MetricKind::RelationshipRecall,
        MetricKind::Interpretability,
        MetricKind::Distribution,
        MetricKind::Transfer,
        MetricKind::Prediction,
        MetricKind::Rewiring,
    ];

    /// The kind as pipelines spell it.
    pub fn name(self) -> &'static str {
        match self {
            MetricKind::Consistency => "consistency",
            MetricKind::RelationshipRecall => "relationship_recall",
            MetricKind::Ilisi => "ilisi",
            MetricKind::LinearProbe => "linear_probe",
            MetricKind::Knn => "knn",
            MetricKind::Interpretability => "interpretability",
            MetricKind::Distribution => "distribution",
            MetricKind::Transfer => "transfer",
            MetricKind::Prediction => "prediction",
            MetricKind::Rewiring => "rewiring",
        }
    }

    /// The pipeline fields this kind takes besides `kind` and `name`.
    pub fn fields(self) -> &'static [&'static str] {
        match self {
            MetricKind::Consistency => &[
                "null",
                "pvalue",
                "null_strata",
                "n_permutations",
                "n_label_shuffles",
                "expression_threshold",
                "min_unexpressed",
                "alpha",
                "n_bootstrap",
            ],
            MetricKind::RelationshipRecall => &[
                "sources",
                "thresholds",
                "upper_only",
                "n_permutations",
                "n_bootstrap",
            ],
            MetricKind::Ilisi => &["perplexity", "on", "max_queries", "n_bootstrap"],
            MetricKind::LinearProbe => &[
                "solver",
                "optimiser",
                "max_steps",
                "tol",
                "gtol",
                "epochs",
                "batch_size",
                "learning_rate",
                "l2",
                "ridge_lambda",
                "n_bootstrap",
            ],
            MetricKind::Knn => &[
                "k",
                "weights",
                "max_queries",
                "control_queries",
                "min_queries",
                "n_bootstrap",
            ],
            MetricKind::Interpretability => &["ridge_lambda", "si_rows", "n_bootstrap"],
            MetricKind::Distribution => &[
                "energy",
                "mmd",
                "controls",
                "n_permutations",
                "max_tested",
                "alpha",
                "n_bootstrap",
            ],
            MetricKind::Rewiring => &[
                "k",
                "entity",
                "reference_context",
                "calibration",
                "n_permutations",
                "alpha",
                "n_bootstrap",
            ],
            MetricKind::Prediction => &[
                "predictors",
                "predictions",
                "space",
                "n_genes",
                "max_samples",
                "ties",
                "features",
                "n_features",
                "ridge_lambda",
                "controls",
                "n_bootstrap",
            ],
            MetricKind::Transfer => &[
                "probes",
                "features",
                "n_features",
                "ridge_lambda",
                "controls",
                "n_permutations",
                "alpha",
                "n_bootstrap",
            ],
        }
    }
}

/// What rewiring's neighbourhoods are made of.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RewiringEntity {
    /// Contexts (e.g. protein labels); conditions are perturbations.
    Context,
    /// Perturbations (by their shifts); conditions are contexts.
    Perturbation,
}

/// Control-only comparison that calibrates rewiring.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Calibration {
    /// Two random halves of each context's controls.
    SplitHalves,
    /// As many controls as the perturbation has samples, against the rest.
    SizeMatched,
}

/// A transfer probe (METRICS.md "Distribution and prediction metrics").
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum TransferProbe {
    /// Split-half of a unit's samples: the ceiling.
    InDomain,
    /// Leave one perturbation out: the mean shift of the others in the context.
    LopoMeanShift,
    /// Leave one perturbation out: ridge from perturbation features.
    LopoRidge,
    /// Leave one context out: the mean of the perturbation's other contexts.
    Loco,
}

impl TransferProbe {
    pub fn name(self) -> &'static str {
        match self {
            TransferProbe::InDomain => "in_domain",
            TransferProbe::LopoMeanShift => "lopo_mean_shift",
            TransferProbe::LopoRidge => "lopo_ridge",
            TransferProbe::Loco => "loco",
        }
    }
}

/// A built-in perturbation-response predictor (a baseline on every run).
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Predictor {
    /// The controls themselves: a zero shift.
    Control,
    /// The mean treated sample of the context: one shift for every perturbation.
    Mean,
    /// Ridge from perturbation features to the shift (leave one perturbation out).
    Linear,
}

impl Predictor {
    pub fn name(self) -> &'static str {
        match self {
            Predictor::Control => "control",
            Predictor::Mean => "mean",
            Predictor::Linear => "linear",
        }
    }
}

/// A model's predicted samples.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PredictionFile {
    /// The predictor's name in result rows (`source`).
    pub name: String,
    /// h5ad, Parquet, CSV or TSV.
    pub path: PathBuf,
    #[serde(default = "default_perturbation_column")]
    pub perturbation_column: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_column: Option<String>,
}

fn default_perturbation_column() -> String {
    "perturbation".into()
}

/// The space predictions are scored in.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum PredictionSpace {
    /// The post-processed representation.
    Representation,
    /// Expression of the dataset's genes (lognorm of counts, or as stored).
    Expression,
}

/// How real shifts at exactly the true shift's distance count in the
/// discrimination rank.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum TiesSpec {
    /// Only strictly closer perturbations count against the truth.
    Strict,
    /// Equally close perturbations count against the truth too.
    Pessimistic,
}

/// Where a perturbation's features (for ridge maps) come from: a built-in
/// (`target_gene_loadings`) or a table (`{path, id_column, prefix | columns}`).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(untagged)]
pub enum FeatureSource {
    Builtin(BuiltinFeatures),
    Table(FeatureTable),
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum BuiltinFeatures {
    /// The target gene's PCA loadings in the controls' expression.
    TargetGeneLoadings,
}

/// One row per perturbation (e.g. a gene embedding of its target).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FeatureTable {
    /// Parquet, CSV or TSV.
    pub path: PathBuf,
    /// The column naming the perturbation (default `perturbation`).
    #[serde(default = "default_perturbation_column")]
    pub id_column: String,
    /// Feature columns by prefix (default: every other column)...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// ...or by name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub columns: Option<Vec<String>>,
}

/// Energy distance convention (METRICS.md), named in the result row.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum EnergySpec {
    UStatistic,
    VStatistic,
    Squared,
}

/// Which controls a perturbation is compared with.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ControlPool {
    /// The controls of the perturbation's context (all controls without contexts).
    Context,
    /// All controls.
    All,
}

/// Samples a metric is computed on.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum EvalSamples {
    TestSeen,
    TestUnseen,
    Train,
    All,
}

/// How the softmax probe is trained (`optimiser`).
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ProbeOptimiser {
    /// Full-batch L-BFGS to the optimum, as scikit-learn's lbfgs.
    Lbfgs,
    /// Mini-batch Adam, stopped at a plateau (for screens too large for
    /// full-batch passes).
    Adam,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ProbeSolver {
    /// Multinomial logistic regression (softmax).
    Logistic,
    /// Closed-form one-hot ridge (`linear_ridge`).
    Ridge,
}

/// Whether Task 4's control samples among the queries are scored.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ControlQueries {
    /// Only perturbed queries are scored (controls stay a reference class).
    Exclude,
    /// Control queries are scored too (the behaviour before knn version 3).
    Include,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum KnnWeights {
    /// 1 / (euclidean + 1e-5).
    Euclidean,
    /// exp(cos / 0.07) over cosine neighbours.
    Cosine,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum SiRowsSpec {
    Perturbed,
    All,
}

/// What consistency's permutation null and label shuffle draw within.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum NullStrata {
    /// Each batch: a perturbation's own count of samples in each batch.
    Batch,
    /// All non-control samples (METRICS.md's definition).
    None,
}

/// How a consistency p-value is read off its null.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ConsistencyPValue {
    /// (1 + #(null >= avgsim)) / (1 + |null|): valid (P(p <= a) <= a).
    Permutation,
    /// efaar-benchmarking 1.0's #(null >= avgsim) / |null|.
    Efaar,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ConsistencyNull {
    /// `unexpressed` when at least 20 perturbations qualify, else `permutation`.
    Auto,
    Unexpressed,
    Permutation,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MetricSpec {
    pub kind: MetricKind,
    /// Name in result rows; defaults to the kind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    // consistency
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub null: Option<ConsistencyNull>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pvalue: Option<ConsistencyPValue>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub null_strata: Option<NullStrata>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n_permutations: Option<usize>,
    /// consistency: draws of the label-shuffle null (default n_permutations).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n_label_shuffles: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expression_threshold: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_unexpressed: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alpha: Option<f64>,
    // relationship_recall
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sources: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thresholds: Option<Vec<[f64; 2]>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upper_only: Option<bool>,
    // ilisi
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub perplexity: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on: Option<EvalSamples>,
    /// ilisi, knn: a seeded sample of at most this many queries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_queries: Option<usize>,
    // linear_probe
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub solver: Option<ProbeSolver>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub optimiser: Option<ProbeOptimiser>,
    /// linear_probe: budget of L-BFGS iterations or Adam steps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_steps: Option<usize>,
    /// linear_probe: relative decrease of the penalised loss that counts as converged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tol: Option<f64>,
    /// linear_probe (lbfgs): largest gradient entry that counts as converged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gtol: Option<f64>,
    /// linear_probe (adam): budget of passes over the training set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epochs: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_size: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub learning_rate: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub l2: Option<f64>,
    /// linear_probe (ridge), interpretability.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ridge_lambda: Option<f64>,
    // knn
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub k: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weights: Option<KnnWeights>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control_queries: Option<ControlQueries>,
    /// knn: fewer scored queries than this give no value (with the reason).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_queries: Option<usize>,
    // interpretability
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub si_rows: Option<SiRowsSpec>,
    // distribution
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub energy: Option<EnergySpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mmd: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub controls: Option<ControlPool>,
    /// distribution: a seeded sample of at most this many perturbations get
    /// the permutation test (all by default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tested: Option<usize>,
    /// Bootstrap resamples of the confidence intervals (default 1,000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n_bootstrap: Option<usize>,
    // transfer
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probes: Option<Vec<TransferProbe>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub features: Option<FeatureSource>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n_features: Option<usize>,
    // prediction
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub predictors: Option<Vec<Predictor>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub predictions: Option<Vec<PredictionFile>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub space: Option<PredictionSpace>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n_genes: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_samples: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ties: Option<TiesSpec>,
    // rewiring
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calibration: Option<Calibration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entity: Option<RewiringEntity>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference_context: Option<String>,
}

impl MetricSpec {
    pub fn label(&self) -> String {
        self.name.clone().unwrap_or_else(|| {
            match self.kind {
                MetricKind::LinearProbe if self.solver == Some(ProbeSolver::Ridge) => {
                    "linear_ridge"
                }
                kind => kind.name(),
            }
            .to_string()
        })
    }
}

/// Fails on the first field that is set but not in `allowed` for this kind.
fn check_fields(
    path: &Path,
    what: &str,
    kind: impl Serialize,
    set: &[(&str, bool)],
    allowed: &[&str],
) -> Result<()> {
    let kind = serde_json::to_value(kind)
        .ok()
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_default();
    match set
        .iter()
        .find(|(field, is)| *is && !allowed.contains(field))
    {
        Some((field, _)) => Err(EngineError::msg(format!(
            "{}: {what}: `{field}` does not apply to kind `{kind}`",
            path.display()
        ))),
        None => Ok(()),
    }
}

impl Pipeline {
    pub fn load(path: &Path) -> Result<Pipeline> {
        let mut p: Pipeline = pertbench_data::yaml::from_file(path)?;
        p.path = path.to_path_buf();
        p.validate()?;
        Ok(p)
    }

    pub fn from_str(path: &Path, text: &str) -> Result<Pipeline> {
        let mut p: Pipeline = pertbench_data::yaml::from_str(path, text)?;
        p.path = path.to_path_buf();
        p.validate()?;
        Ok(p)
    }

    fn validate(&self) -> Result<()> {
        let path = &self.path;
        let fail = |m: String| Err(EngineError::msg(format!("{}: {m}", path.display())));
        // The name becomes `<workdir>/results/<name>.parquet` (issue 21:
        // `../../x` wrote outside the workdir, `sub/dir` rows SQL never read).
        if let Some(why) = pertbench_data::manifest::not_plain_name(&self.name) {
            return fail(format!("`name`: {why}"));
        }
        if self.name.starts_with('.') {
            return fail(format!(
                "`name`: `{}` starts with `.` (results files of hidden names are not read)",
                self.name
            ));
        }
        for d in &self.datasets {
            if let Some(why) = pertbench_data::manifest::not_plain_name(d) {
                return fail(format!("`datasets`: {why}"));
            }
        }
        if self.datasets.is_empty() {
            return fail("`datasets` is empty".into());
        }
        if self.seeds.is_empty() {
            return fail("`seeds` is empty".into());
        }
        // A repeated entry would write every row twice.
        if let Some(d) = first_repeat(&self.seeds) {
            return fail(format!("`seeds` lists {d} twice"));
        }
        if let Some(d) = first_repeat(&self.datasets) {
            return fail(format!("`datasets` lists `{d}` twice"));
        }
        if let Some(d) = first_repeat(&self.postprocessing) {
            return fail(format!("`postprocessing` lists `{d}` twice"));
        }
        if self.postprocessing.is_empty() {
            return fail("`postprocessing` is empty".into());
        }
        if let Some(f) = self.train_fraction {
            // Each side of the split must keep at least a 100th of the
            // batches' share (1e-300 left a training set of nothing).
            if !(0.01..=0.99).contains(&f) {
                return fail(format!(
                    "`train_fraction` must lie between 0.01 and 0.99, got {f}"
                ));
            }
        }
        let known = pertbench_kernels::postprocess::names();
        for p in &self.postprocessing {
            if !known.contains(&p.as_str()) {
                return fail(format!(
                    "postprocessing `{p}` is unknown; known: {}",
                    known.join(", ")
                ));
            }
        }
        let mut names = std::collections::BTreeSet::new();
        for r in &self.representations {
            if !names.insert(r.name.clone()) {
                return fail(format!("representation name `{}` is used twice", r.name));
            }
            let what = format!("representation `{}`", r.name);
            use RepresentationKind::*;
            let f = [
                ("n_components", r.n_components.is_some()),
                ("input", r.input.is_some()),
                ("power_iterations", r.power_iterations.is_some()),
                ("dim", r.dim.is_some()),
                ("of", r.of.is_some()),
                ("key", r.key.is_some()),
                ("path", r.path.is_some()),
                ("id_column", r.id_column.is_some()),
                ("prefix", r.prefix.is_some()),
                ("columns", r.columns.is_some()),
            ];
            let allowed: &[&str] = match r.kind {
                Pca => &["n_components", "input", "power_iterations"],
                Random => &["dim"],
                Shuffled => &["of"],
                Obsm => &["key"],
                Table => &["path", "id_column", "prefix", "columns"],
                Npy => &["path"],
                Features => &[],
            };
            check_fields(path, &what, r.kind, &f, allowed)?;
            for (field, value, min, max) in [
                ("n_components", r.n_components, 1, MAX_DIM),
                ("dim", r.dim, 1, MAX_DIM),
                (
                    "power_iterations",
                    r.power_iterations,
                    0,
                    MAX_POWER_ITERATIONS,
                ),
            ] {
                if let Some(why) = count_out_of_range(field, value, min, max) {
                    return fail(format!("{what}: {why}"));
                }
            }
            let kind = serde_json::to_value(r.kind)
                .ok()
                .and_then(|v| v.as_str().map(String::from))
                .unwrap_or_default();
            let missing = match r.kind {
                Shuffled if r.of.is_none() => Some("of"),
                Obsm if r.key.is_none() => Some("key"),
                Table | Npy if r.path.is_none() => Some("path"),
                Table if r.prefix.is_none() && r.columns.is_none() => Some("prefix` or `columns"),
                _ => None,
            };
            if let Some(m) = missing {
                return fail(format!("{what}: kind `{kind}` needs `{m}`"));
            }
            if let Some(of) = &r.of {
                if !self
                    .representations
                    .iter()
                    .any(|o| &o.name == of && o.kind != Shuffled)
                {
                    return fail(format!(
                        "{what}: `of: {of}` names no other (non-shuffled) representation"
                    ));
                }
            }
        }
        let mut labels = std::collections::BTreeSet::new();
        for m in &self.metrics {
            let what = format!("metric `{}`", m.label());
            if !labels.insert(m.label()) {
                return fail(format!("{what} appears twice; give one a different `name`"));
            }
            let f = [
                ("null", m.null.is_some()),
                ("n_permutations", m.n_permutations.is_some()),
                ("n_label_shuffles", m.n_label_shuffles.is_some()),
                ("expression_threshold", m.expression_threshold.is_some()),
                ("min_unexpressed", m.min_unexpressed.is_some()),
                ("alpha", m.alpha.is_some()),
                ("sources", m.sources.is_some()),
                ("thresholds", m.thresholds.is_some()),
                ("upper_only", m.upper_only.is_some()),
                ("perplexity", m.perplexity.is_some()),
                ("on", m.on.is_some()),
                ("max_queries", m.max_queries.is_some()),
                ("solver", m.solver.is_some()),
                ("optimiser", m.optimiser.is_some()),
                ("max_steps", m.max_steps.is_some()),
                ("tol", m.tol.is_some()),
                ("gtol", m.gtol.is_some()),
                ("epochs", m.epochs.is_some()),
                ("batch_size", m.batch_size.is_some()),
                ("learning_rate", m.learning_rate.is_some()),
                ("l2", m.l2.is_some()),
                ("ridge_lambda", m.ridge_lambda.is_some()),
                ("k", m.k.is_some()),
                ("weights", m.weights.is_some()),
                ("control_queries", m.control_queries.is_some()),
                ("min_queries", m.min_queries.is_some()),
                ("si_rows", m.si_rows.is_some()),
                ("energy", m.energy.is_some()),
                ("mmd", m.mmd.is_some()),
                ("controls", m.controls.is_some()),
                ("max_tested", m.max_tested.is_some()),
                ("n_bootstrap", m.n_bootstrap.is_some()),
                ("probes", m.probes.is_some()),
                ("features", m.features.is_some()),
                ("n_features", m.n_features.is_some()),
                ("predictors", m.predictors.is_some()),
                ("predictions", m.predictions.is_some()),
                ("space", m.space.is_some()),
                ("n_genes", m.n_genes.is_some()),
                ("max_samples", m.max_samples.is_some()),
                ("ties", m.ties.is_some()),
                ("calibration", m.calibration.is_some()),
                ("entity", m.entity.is_some()),
                ("reference_context", m.reference_context.is_some()),
            ];
            check_fields(path, &what, m.kind, &f, m.kind.fields())?;
            let positive = [
                ("perplexity", m.perplexity.map(|v| v > 0.0)),
                ("max_queries", m.max_queries.map(|v| v > 0)),
                ("epochs", m.epochs.map(|v| v > 0)),
                ("max_steps", m.max_steps.map(|v| v > 0)),
                ("tol", m.tol.map(|v| v >= 0.0)),
                ("gtol", m.gtol.map(|v| v >= 0.0)),
                ("batch_size", m.batch_size.map(|v| v > 0)),
                ("learning_rate", m.learning_rate.map(|v| v > 0.0)),
                ("l2", m.l2.map(|v| v >= 0.0)),
                ("ridge_lambda", m.ridge_lambda.map(|v| v > 0.0)),
                ("k", m.k.map(|v| v > 0)),
                ("max_tested", m.max_tested.map(|v| v > 0)),
                ("n_bootstrap", m.n_bootstrap.map(|v| v > 0)),
                ("n_features", m.n_features.map(|v| v > 0)),
                ("n_genes", m.n_genes.map(|v| v > 0)),
                ("max_samples", m.max_samples.map(|v| v > 1)),
            ];
            if let Some((f, _)) = positive.iter().find(|(_, ok)| *ok == Some(false)) {
                return fail(format!("{what}: `{f}` must be positive"));
            }
            // Real-valued settings: finite (NaN and .inf give numbers that
            // look plausible and mean nothing).
            for (f, v) in [
                ("perplexity", m.perplexity),
                ("tol", m.tol),
                ("gtol", m.gtol),
                ("learning_rate", m.learning_rate),
                ("l2", m.l2),
                ("ridge_lambda", m.ridge_lambda),
                ("expression_threshold", m.expression_threshold),
                ("alpha", m.alpha),
            ] {
                if v.is_some_and(|v| !v.is_finite()) {
                    return fail(format!("{what}: `{f}` must be a finite number"));
                }
            }
            if let Some(a) = m.alpha {
                if !(a > 0.0 && a < 1.0) {
                    return fail(format!(
                        "{what}: `alpha` must lie strictly between 0 and 1, got {a}"
                    ));
                }
            }
            // Counts of draws and steps: at most what a run can hold
            // (n_permutations: 1e9 aborted on allocation), and at least one
            // where the value is read from them (consistency's fraction
            // significant from its permutation null; elsewhere
            // `n_permutations: 0` means no null test, and the row says so).
            // (`n_bootstrap`, `epochs` and `max_steps` are positive: checked
            // above.)
            let draws_needed = usize::from(m.kind == MetricKind::Consistency);
            for (f, v, min, max) in [
                ("n_permutations", m.n_permutations, draws_needed, MAX_DRAWS),
                (
                    "n_label_shuffles",
                    m.n_label_shuffles,
                    draws_needed,
                    MAX_DRAWS,
                ),
                ("n_bootstrap", m.n_bootstrap, 0, MAX_DRAWS),
                ("epochs", m.epochs, 0, MAX_EPOCHS),
                ("max_steps", m.max_steps, 0, MAX_STEPS),
            ] {
                if let Some(why) = count_out_of_range(f, v, min, max) {
                    return fail(format!("{what}: {why}"));
                }
            }
            if let Some(s) = &m.sources {
                if s.is_empty() {
                    return fail(format!("{what}: `sources` is empty"));
                }
                if let Some(d) = first_repeat(s) {
                    return fail(format!("{what}: `sources` lists `{d}` twice"));
                }
            }
            if let Some(t) = &m.thresholds {
                if t.is_empty() {
                    return fail(format!("{what}: `thresholds` is empty"));
                }
                if let Some([a, b]) = t.iter().find(|[a, b]| !(a < b)) {
                    return fail(format!(
                        "{what}: thresholds [{a}, {b}]: the lower must come first and be below the upper"
                    ));
                }
                if let Some([a, b]) = first_repeat(t) {
                    return fail(format!("{what}: `thresholds` lists [{a}, {b}] twice"));
                }
            }
            if let Some(p) = &m.predictors {
                if p.is_empty() {
                    return fail(format!("{what}: `predictors` is empty"));
                }
                if let Some(d) = first_repeat(p) {
                    return fail(format!("{what}: `predictors` lists `{d:?}` twice"));
                }
            }
            if m.kind == MetricKind::LinearProbe
                && m.solver != Some(ProbeSolver::Ridge)
                && m.ridge_lambda.is_some()
            {
                return fail(format!("{what}: `ridge_lambda` needs `solver: ridge`"));
            }
            if m.solver == Some(ProbeSolver::Ridge)
                && [
                    m.optimiser.is_some(),
                    m.max_steps.is_some(),
                    m.tol.is_some(),
                    m.gtol.is_some(),
                    m.epochs.is_some(),
                    m.batch_size.is_some(),
                    m.learning_rate.is_some(),
                    m.l2.is_some(),
                ]
                .contains(&true)
            {
                return fail(format!(
                    "{what}: `optimiser`, `max_steps`, `tol`, `gtol`, `epochs`, `batch_size`, `learning_rate` and `l2` apply to `solver: logistic` only"
                ));
            }
            if m.optimiser != Some(ProbeOptimiser::Adam)
                && [
                    m.epochs.is_some(),
                    m.batch_size.is_some(),
                    m.learning_rate.is_some(),
                ]
                .contains(&true)
            {
                return fail(format!(
                    "{what}: `epochs`, `batch_size` and `learning_rate` apply to `optimiser: adam` only (the default, lbfgs, uses every training sample in each step)"
                ));
            }
            if m.optimiser == Some(ProbeOptimiser::Adam) && m.gtol.is_some() {
                return fail(format!("{what}: `gtol` applies to `optimiser: lbfgs` only"));
            }
            if m.reference_context.is_some() && m.entity != Some(RewiringEntity::Perturbation) {
                return fail(format!(
                    "{what}: `reference_context` needs `entity: perturbation`"
                ));
            }
            if m.kind == MetricKind::Prediction {
                let linear = m
                    .predictors
                    .as_ref()
                    .is_none_or(|p| p.contains(&Predictor::Linear));
                if m.predictors
                    .as_ref()
                    .is_some_and(|p| p.contains(&Predictor::Linear))
                    && m.features.is_none()
                {
                    return fail(format!("{what}: predictor `linear` needs `features` (features: target_gene_loadings)"));
                }
                if !linear && m.features.is_some() {
                    return fail(format!(
                        "{what}: `features` is used by predictor `linear` only"
                    ));
                }
                if m.predictions.is_some() && m.space != Some(PredictionSpace::Expression) {
                    return fail(format!(
                        "{what}: `predictions` files hold genes: they need `space: expression`"
                    ));
                }
                if m.n_genes.is_some() && m.space != Some(PredictionSpace::Expression) {
                    return fail(format!("{what}: `n_genes` needs `space: expression`"));
                }
                let mut seen = std::collections::BTreeSet::new();
                for f in m.predictions.iter().flatten() {
                    if ["control", "mean", "linear"].contains(&f.name.as_str())
                        || !seen.insert(f.name.clone())
                    {
                        return fail(format!("{what}: predictions name `{}` is taken (by a built-in predictor or another file)", f.name));
                    }
                }
            }
            if let Some(probes) = &m.probes {
                if probes.is_empty() {
                    return fail(format!("{what}: `probes` is empty"));
                }
                if probes.contains(&TransferProbe::LopoRidge) != m.features.is_some() {
                    return fail(format!(
                        "{what}: probe `lopo_ridge` and `features` go together (features: target_gene_loadings)"
                    ));
                }
            } else if m.features.is_none()
                && (m.n_features.is_some() || m.ridge_lambda.is_some())
                && m.kind == MetricKind::Transfer
            {
                return fail(format!(
                    "{what}: `n_features` and `ridge_lambda` need `features`"
                ));
            }
            if matches!(m.features, Some(FeatureSource::Table(_))) && m.n_features.is_some() {
                return fail(format!(
                    "{what}: `n_features` applies to `features: target_gene_loadings` only"
                ));
            }
            if let Some(t) = &m.thresholds {
                if t.iter()
                    .any(|[a, b]| !(0.0..=1.0).contains(a) || !(0.0..=1.0).contains(b))
                {
                    return fail(format!("{what}: thresholds must lie in [0, 1]"));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The error message of a pipeline that must not parse.
    fn parse_error(yaml: &str) -> String {
        Pipeline::from_str(Path::new("p.yaml"), yaml)
            .unwrap_err()
            .to_string()
    }

    const OK: &str = "name: t\ndatasets: [d]\nrepresentations:\n  - {name: pca, kind: pca, n_components: 8}\n  - {name: shuf, kind: shuffled, of: pca}\nmetrics:\n  - {kind: consistency}\n";

    #[test]
    fn parses_and_defaults() {
        let p = Pipeline::from_str(Path::new("p.yaml"), OK).unwrap();
        assert_eq!(p.seeds, vec![0]);
        assert_eq!(
            p.postprocessing,
            vec!["raw", "center", "center_scale", "tvn"]
        );
    }

    #[test]
    fn names_that_would_leave_the_workdir_are_refused() {
        let name_line = OK.lines().find(|l| l.starts_with("name:")).unwrap();
        for bad in [
            "../../escaped_results",
            "/tmp/abs",
            "sub/dir",
            "..",
            ".hidden",
        ] {
            let e = parse_error(&OK.replace(name_line, &format!("name: '{bad}'")));
            assert!(e.contains("`name`"), "{bad}: {e}");
        }
        let datasets_line = OK.lines().find(|l| l.starts_with("datasets:")).unwrap();
        let e = parse_error(&OK.replace(datasets_line, "datasets: ['../x']"));
        assert!(e.contains("`datasets`"), "{e}");
    }

    #[test]
    fn invalid_values_and_repeats_are_errors_naming_the_field() {
        let rep = "  - {name: pca, kind: pca, n_components: 8}";
        let metric = "  - {kind: consistency}";
        let cases: &[(&str, &str, &str)] = &[
            (
                rep,
                "  - {name: r, kind: random, dim: 0}",
                "`dim` must be positive",
            ),
            (
                rep,
                "  - {name: r, kind: random, dim: 100000000}",
                "`dim` must be at most 100000",
            ),
            (
                rep,
                "  - {name: p, kind: pca, n_components: 0}",
                "`n_components` must be positive",
            ),
            (
                rep,
                "  - {name: p, kind: pca, n_components: 8, power_iterations: 1000000}",
                "`power_iterations` must be at most",
            ),
            (
                metric,
                "  - {kind: consistency, n_permutations: 0}",
                "`n_permutations` must be positive",
            ),
            (
                metric,
                "  - {kind: consistency, n_permutations: 1000000000}",
                "`n_permutations` must be at most 1000000",
            ),
            (
                metric,
                "  - {kind: consistency, n_label_shuffles: 0}",
                "`n_label_shuffles` must be positive",
            ),
            (
                metric,
                "  - {kind: consistency, alpha: -1}",
                "`alpha` must lie strictly between 0 and 1",
            ),
            (
                metric,
                "  - {kind: consistency, alpha: .nan}",
                "`alpha` must be a finite number",
            ),
            (
                metric,
                "  - {kind: consistency, n_bootstrap: 100000000}",
                "`n_bootstrap` must be at most",
            ),
            (
                metric,
                "  - {kind: linear_probe, optimiser: adam, learning_rate: .inf}",
                "`learning_rate` must be a finite number",
            ),
            (
                metric,
                "  - {kind: linear_probe, optimiser: adam, epochs: 100000000}",
                "`epochs` must be at most",
            ),
            (
                metric,
                "  - {kind: ilisi, perplexity: .nan}",
                "`perplexity` must be",
            ),
            (
                metric,
                "  - {kind: relationship_recall, thresholds: [[0.95, 0.05]]}",
                "the lower must come first",
            ),
            (
                metric,
                "  - {kind: relationship_recall, thresholds: []}",
                "`thresholds` is empty",
            ),
            (
                metric,
                "  - {kind: relationship_recall, thresholds: [[0.05, 0.95], [0.05, 0.95]]}",
                "`thresholds` lists [0.05, 0.95] twice",
            ),
            (
                metric,
                "  - {kind: relationship_recall, sources: []}",
                "`sources` is empty",
            ),
            (
                metric,
                "  - {kind: relationship_recall, sources: [corum, corum]}",
                "`sources` lists `corum` twice",
            ),
            (
                metric,
                "  - {kind: prediction, predictors: []}",
                "`predictors` is empty",
            ),
            (
                metric,
                "  - {kind: prediction, predictors: [mean, mean]}",
                "`predictors` lists `Mean` twice",
            ),
            ("name: t", "name: t\nseeds: [0, 0]", "`seeds` lists 0 twice"),
            (
                "name: t",
                "name: t\npostprocessing: [raw, raw]",
                "`postprocessing` lists `raw` twice",
            ),
            (
                "name: t",
                "name: t\npostprocessing: []",
                "`postprocessing` is empty",
            ),
            (
                "datasets: [d]",
                "datasets: [d, d]",
                "`datasets` lists `d` twice",
            ),
            (
                "name: t",
                "name: t\ntrain_fraction: 1.0e-300",
                "`train_fraction` must lie between 0.01 and 0.99",
            ),
        ];
        for (from, to, want) in cases {
            let e = parse_error(&OK.replacen(from, to, 1));
            assert!(e.contains(want), "{to}: {e}");
        }
        // n_permutations: 0 still means "no null test" where a value does not
        // depend on it.
        Pipeline::from_str(
            Path::new("p.yaml"),
            &OK.replace(metric, "  - {kind: distribution, n_permutations: 0}"),
        )
        .unwrap();
    }

    #[test]
    fn typo_names_line_and_column() {
        let bad = OK.replace("n_components: 8", "n_component: 8");
        let e = parse_error(&bad);
        assert!(e.starts_with("p.yaml: line 4, column"), "{e}");
        assert!(e.contains("n_component"), "{e}");
        let bad = OK.replace("n_components: 8", "n_components: eight");
        let e = parse_error(&bad);
        assert!(e.starts_with("p.yaml: line 4"), "{e}");
    }

    #[test]
    fn misplaced_and_missing_parameters() {
        let bad = OK.replace("kind: shuffled, of: pca", "kind: shuffled, of: pca, dim: 3");
        let e = parse_error(&bad);
        assert_eq!(
            e,
            "p.yaml: representation `shuf`: `dim` does not apply to kind `shuffled`"
        );
        let bad = OK.replace("of: pca", "of: nothing");
        let e = parse_error(&bad);
        assert!(e.contains("`of: nothing` names no other"), "{e}");
        let bad = OK.replace("metrics:\n", "postprocessing: [raw, tvm]\nmetrics:\n");
        let e = parse_error(&bad);
        assert!(e.contains("postprocessing `tvm` is unknown"), "{e}");
    }

    #[test]
    fn pca_takes_power_iterations_and_consistency_label_shuffles() {
        let ok = OK
            .replace("n_components: 8}", "n_components: 8, power_iterations: 2}")
            .replace(
                "{kind: consistency}",
                "{kind: consistency, n_label_shuffles: 50}",
            );
        let p = Pipeline::from_str(Path::new("p.yaml"), &ok).unwrap();
        assert_eq!(p.representations[0].power_iterations, Some(2));
        assert_eq!(p.metrics[0].n_label_shuffles, Some(50));
        let bad = OK.replace("of: pca}", "of: pca, power_iterations: 2}");
        let e = parse_error(&bad);
        assert_eq!(
            e,
            "p.yaml: representation `shuf`: `power_iterations` does not apply to kind `shuffled`"
        );
        let bad = OK.replace(
            "metrics:\n  - {kind: consistency}",
            "metrics:\n  - {kind: knn, n_label_shuffles: 5}",
        );
        let e = parse_error(&bad);
        assert!(e.contains("`n_label_shuffles`"), "{e}");
    }
}

/// The parameters a metric node's cache key is made of must not change when
/// the options' code moves: every metric of the shipped pipelines and one
/// entry per option of every kind, serialised as the DAG serialises them,
/// against `snapshots/metric_keys.txt` (`PERTBENCH_SNAPSHOT_UPDATE=1`
/// rewrites it, on purpose only).
#[cfg(test)]
mod key_snapshot {
    use super::*;

    /// One entry per option of every kind (values not the defaults).
    const EVERY_OPTION: &str = r#"
- {kind: consistency, null: unexpressed, pvalue: efaar, null_strata: none, n_permutations: 10, n_label_shuffles: 5, expression_threshold: 0.2, min_unexpressed: 3, alpha: 0.1, n_bootstrap: 50}
- {kind: relationship_recall, sources: [corum], thresholds: [[0.1, 0.9]], upper_only: false, n_permutations: 5, n_bootstrap: 50}
- {kind: ilisi, perplexity: 10, on: all, max_queries: 100, n_bootstrap: 50}
- {kind: linear_probe, solver: logistic, optimiser: adam, max_steps: 10, tol: 0.001, epochs: 5, batch_size: 64, learning_rate: 0.1, l2: 0.01, n_bootstrap: 50}
- {kind: linear_probe, name: lp2, optimiser: lbfgs, gtol: 1.0e-6}
- {kind: linear_probe, solver: ridge, ridge_lambda: 2.5}
- {kind: knn, k: 7, weights: cosine, max_queries: 100, control_queries: include, min_queries: 3, n_bootstrap: 50}
- {kind: interpretability, ridge_lambda: 0.5, si_rows: all, n_bootstrap: 50}
- {kind: distribution, energy: squared, mmd: false, controls: all, n_permutations: 10, max_tested: 5, alpha: 0.1, n_bootstrap: 50}
- {kind: rewiring, k: 3, entity: perturbation, reference_context: a, calibration: size_matched, n_permutations: 10, alpha: 0.1, n_bootstrap: 50}
- {kind: prediction, predictors: [control, linear], predictions: [{name: m, path: p.h5ad, perturbation_column: g, context_column: c}], space: expression, n_genes: 10, max_samples: 20, ties: pessimistic, features: target_gene_loadings, n_features: 5, ridge_lambda: 2, controls: all, n_bootstrap: 50}
- {kind: prediction, name: pred2, predictors: [linear], features: {path: f.csv, id_column: gene, prefix: f_}}
- {kind: transfer, probes: [in_domain, lopo_ridge, loco], features: {path: f.csv, columns: [a, b]}, ridge_lambda: 3, controls: all, n_permutations: 10, alpha: 0.1, n_bootstrap: 50}
- {kind: transfer, name: t2, features: target_gene_loadings, n_features: 4}
"#;

    fn lines() -> String {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../pipelines");
        let mut files: Vec<PathBuf> = std::fs::read_dir(&root)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
            .collect();
        files.sort();
        let mut out = String::new();
        for f in files {
            let p = Pipeline::load(&f).unwrap();
            for m in &p.metrics {
                let name = f.file_name().unwrap().to_string_lossy();
                out += &format!("{name}\t{}\n", serde_json::json!({ "spec": m }));
            }
        }
        let pipeline = format!(
            "name: t\ndatasets: [d]\nrepresentations: []\nmetrics:{}",
            EVERY_OPTION
        );
        let p = Pipeline::from_str(Path::new("every_option.yaml"), &pipeline).unwrap();
        for m in &p.metrics {
            out += &format!("every_option\t{}\n", serde_json::json!({ "spec": m }));
        }
        out
    }

    #[test]
    fn metric_key_parameters_are_unchanged() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/snapshots/metric_keys.txt");
        let now = lines();
        if std::env::var_os("PERTBENCH_SNAPSHOT_UPDATE").is_some() {
            std::fs::write(&path, &now).unwrap();
        }
        let want = std::fs::read_to_string(&path).unwrap();
        for (a, b) in want.lines().zip(now.lines()) {
            assert_eq!(a, b);
        }
        assert_eq!(want.lines().count(), now.lines().count());
    }
}
