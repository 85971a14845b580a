//! The tasks results are grouped by, and which way each variant is better.

/// Paper 004's six tasks, then the metric families beyond them. A result
/// row's `task` column holds [`Task::title`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Task {
    BatchMixing,
    LinearSeparability,
    PerturbationConsistency,
    KnnOrganisation,
    KnownRelationshipRecall,
    LinearInterpretability,
    Distribution,
    Transfer,
    Prediction,
    Rewiring,
    /// scib-metrics' batch-correction suite (silhouettes, ...).
    BatchCorrection,
}

impl Task {
    /// Every task, paper 004's six first, in their order.
    pub const ALL: [Task; 11] = [
        Task::BatchMixing,
        Task::LinearSeparability,
        Task::PerturbationConsistency,
        Task::KnnOrganisation,
        Task::KnownRelationshipRecall,
        Task::LinearInterpretability,
        Task::Distribution,
        Task::Transfer,
        Task::Prediction,
        Task::Rewiring,
        Task::BatchCorrection,
    ];

    /// Paper 004's six tasks (the first six of [`Task::ALL`]).
    pub const PAPER: [Task; 6] = {
        let mut six = [Task::BatchMixing; 6];
        let mut i = 0;
        while i < 6 {
            six[i] = Task::ALL[i];
            i += 1;
        }
        six
    };

    /// As the results name it: "1 batch mixing" ... "6 linear
    /// interpretability", then "distribution", "transfer", ...
    pub fn title(self) -> &'static str {
        match self {
            Task::BatchMixing => "1 batch mixing",
            Task::LinearSeparability => "2 linear separability",
            Task::PerturbationConsistency => "3 perturbation consistency",
            Task::KnnOrganisation => "4 kNN organisation",
            Task::KnownRelationshipRecall => "5 known relationship recall",
            Task::LinearInterpretability => "6 linear interpretability",
            Task::Distribution => "distribution",
            Task::Transfer => "transfer",
            Task::Prediction => "prediction",
            Task::Rewiring => "rewiring",
            Task::BatchCorrection => "batch correction",
        }
    }

    pub fn from_title(title: &str) -> Option<Task> {
        Task::ALL.into_iter().find(|t| t.title() == title)
    }

    /// The task's number in paper 004 (1 to 6), if it is one of its six.
    pub fn number(self) -> Option<u8> {
        Task::PAPER
            .iter()
            .position(|t| *t == self)
            .map(|i| i as u8 + 1)
    }

    /// The metric kind a pipeline adds for one of paper 004's tasks.
    pub fn paper_metric_kind(self) -> Option<&'static str> {
        Some(match self {
            Task::BatchMixing => "ilisi",
            Task::LinearSeparability => "linear_probe",
            Task::PerturbationConsistency => "consistency",
            Task::KnnOrganisation => "knn",
            Task::KnownRelationshipRecall => "relationship_recall",
            Task::LinearInterpretability => "interpretability",
            _ => return None,
        })
    }
}

/// The variants paper 004's Table 2 shows for its tasks (the report's
/// hierarchy, the run summary and `sql/hierarchy_table.sql`, through the SQL
/// table `headline_variants`); other variants are in the full table.
pub const HEADLINE_VARIANTS: [&str; 10] = [
    "ilisi_scaled",
    "ilisi_mean",
    "top1",
    "top5",
    "fraction_significant",
    "recall_0.05_0.95",
    "spearman",
    "pearson",
    "mse",
    "structural_integrity",
];

/// Whether a larger value of this variant is better (errors, distances to
/// the truth and p-values are not).
pub fn higher_is_better(variant: &str) -> bool {
    !(matches!(
        variant,
        "mse" | "mae" | "mse_delta" | "mae_delta" | "energy_to_real"
    ) || variant.starts_with("p_value_"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_round_trip_and_number_the_paper_tasks() {
        for t in Task::ALL {
            assert_eq!(Task::from_title(t.title()), Some(t));
        }
        assert_eq!(Task::KnnOrganisation.number(), Some(4));
        assert_eq!(Task::Prediction.number(), None);
        for (i, t) in Task::PAPER.iter().enumerate() {
            assert!(t.title().starts_with(&(i + 1).to_string()));
            assert!(t.paper_metric_kind().is_some());
        }
    }
}
