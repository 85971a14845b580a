//! cell-eval's metric names, which value of each is best, and its profiles
//! (`metrics/_impl.py`, `_pipeline/_runner.py`).

use pertbench_kernels::tasks::cell_eval::score::Best;

/// Whether a metric reads the DE tables or the expression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reads {
    De,
    Expression,
}

/// One metric of the set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetricName {
    pub name: &'static str,
    pub reads: Reads,
    /// None: not scored against a baseline.
    pub best: Option<Best>,
    pub definition: &'static str,
}

const fn de(name: &'static str, best: Option<Best>, definition: &'static str) -> MetricName {
    MetricName {
        name,
        reads: Reads::De,
        best,
        definition,
    }
}

const fn expression(name: &'static str, best: Best, definition: &'static str) -> MetricName {
    MetricName {
        name,
        reads: Reads::Expression,
        best: Some(best),
        definition,
    }
}

const ONE: Option<Best> = Some(Best::One);

/// Every metric, in cell-eval's registry order (DE metrics first, as its
/// `full` profile computes them). `de_nsig_counts` gives two result
/// columns, `de_nsig_counts_real` and `de_nsig_counts_pred`.
/// `clustering_agreement` (Leiden clusterings of the centroids) is not
/// computed.
pub const METRICS: &[MetricName] = &[
    de("overlap_at_N", ONE, "|top-k real ∩ top-k predicted| / k over the significant genes (FDR < 0.05) ranked by |log2 fold change|, k = the number of real significant genes (the VCC's DES)"),
    de("overlap_at_50", ONE, "overlap_at_N with k = min(50, real significant genes)"),
    de("overlap_at_100", ONE, "overlap_at_N with k = min(100, real significant genes)"),
    de("overlap_at_200", ONE, "overlap_at_N with k = min(200, real significant genes)"),
    de("overlap_at_500", ONE, "overlap_at_N with k = min(500, real significant genes)"),
    de("precision_at_N", ONE, "|top-k real ∩ top-k predicted| / k with k = the number of predicted significant genes"),
    de("precision_at_50", ONE, "precision_at_N with k = min(50, predicted significant genes)"),
    de("precision_at_100", ONE, "precision_at_N with k = min(100, predicted significant genes)"),
    de("precision_at_200", ONE, "precision_at_N with k = min(200, predicted significant genes)"),
    de("precision_at_500", ONE, "precision_at_N with k = min(500, predicted significant genes)"),
    de("de_spearman_sig", ONE, "Spearman correlation, across perturbations with a real significant gene, of the real and predicted numbers of significant genes (one value for all)"),
    de("de_direction_match", ONE, "share of the real significant genes whose predicted log2 fold change has the same sign"),
    de("de_spearman_lfc_sig", ONE, "Spearman correlation of real and predicted log2 fold changes over the real significant genes"),
    de("de_sig_genes_recall", ONE, "share of the real significant genes also significant in the prediction"),
    de("de_nsig_counts", None, "numbers of significant genes, real and predicted (not scored)"),
    de("pr_auc", ONE, "average precision of -log10(predicted FDR) for the real significant genes"),
    de("roc_auc", ONE, "ROC AUC of -log10(predicted FDR) for the real significant genes"),
    expression("pearson_delta", Best::One, "Pearson correlation over genes of the predicted and real deltas (pseudobulk minus that side's control pseudobulk)"),
    expression("mse", Best::Zero, "mean over genes of the squared difference of predicted and real pseudobulks"),
    expression("mae", Best::Zero, "mean over genes of the absolute difference of predicted and real pseudobulks (the VCC's MAE)"),
    expression("mse_delta", Best::Zero, "mse of the deltas"),
    expression("mae_delta", Best::Zero, "mae of the deltas"),
    expression("discrimination_score_l1", Best::One, "1 - r / P, r = real deltas closer (L1, the perturbation's target gene left out) to its predicted delta than its own real delta (the VCC's PDS)"),
    expression("discrimination_score_l2", Best::One, "discrimination_score_l1 with the Euclidean distance"),
    expression("discrimination_score_cosine", Best::One, "discrimination_score_l1 with the cosine distance"),
    expression("pearson_edistance", Best::One, "Pearson correlation across perturbations of the real and predicted energy distances of its cells to the control cells (one value for all; NaN when either side's distances are equal up to rounding, as for a prediction of the same cells for every perturbation)"),
];

pub fn metric(name: &str) -> Option<&'static MetricName> {
    METRICS.iter().find(|m| m.name == name)
}

/// A named set of metrics (cell-eval's `--profile`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
pub enum Profile {
    #[serde(rename = "full")]
    Full,
    #[serde(rename = "minimal")]
    Minimal,
    #[serde(rename = "vcc")]
    Vcc,
    #[serde(rename = "de")]
    De,
    #[serde(rename = "anndata")]
    Expression,
    #[serde(rename = "pds")]
    Pds,
}

impl Profile {
    pub const ALL: [Profile; 6] = [
        Profile::Full,
        Profile::Minimal,
        Profile::Vcc,
        Profile::De,
        Profile::Expression,
        Profile::Pds,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Profile::Full => "full",
            Profile::Minimal => "minimal",
            Profile::Vcc => "vcc",
            Profile::De => "de",
            Profile::Expression => "anndata",
            Profile::Pds => "pds",
        }
    }

    pub fn parse(s: &str) -> Option<Profile> {
        Self::ALL.into_iter().find(|p| p.name() == s)
    }

    /// [`Profile::parse`], or a message listing the profiles (for
    /// command-line parsers).
    pub fn from_arg(s: &str) -> Result<Profile, String> {
        Self::parse(s).ok_or_else(|| {
            format!(
                "`{s}`: expected one of {}",
                Self::ALL.map(|p| p.name()).join(", ")
            )
        })
    }

    /// The metrics, in the order cell-eval computes them (DE metrics, then
    /// expression metrics).
    pub fn metrics(self) -> Vec<&'static MetricName> {
        let named = |names: &[&str]| -> Vec<&'static MetricName> {
            let mut v: Vec<&'static MetricName> = names
                .iter()
                .map(|n| metric(n).expect("a known metric"))
                .collect();
            v.sort_by_key(|m| m.reads == Reads::Expression);
            v
        };
        match self {
            Profile::Full => METRICS.iter().collect(),
            Profile::De => METRICS.iter().filter(|m| m.reads == Reads::De).collect(),
            Profile::Expression => METRICS
                .iter()
                .filter(|m| m.reads == Reads::Expression)
                .collect(),
            Profile::Minimal => named(&[
                "pearson_delta",
                "mse",
                "mae",
                "discrimination_score_l1",
                "overlap_at_N",
                "precision_at_N",
                "de_nsig_counts",
            ]),
            Profile::Vcc => named(&["mae", "discrimination_score_l1", "overlap_at_N"]),
            Profile::Pds => named(&["discrimination_score_l1"]),
        }
    }
}
