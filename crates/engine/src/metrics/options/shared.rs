//! Option types that several metric kinds take (the same field means the
//! same thing in each).

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Which controls a perturbation is compared with (`controls`).
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ControlPool {
    /// The controls of the perturbation's context (all controls without contexts).
    #[default]
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

pub(crate) fn default_perturbation_column() -> String {
    "perturbation".into()
}

/// Rules of `features` and `n_features` shared by the kinds that fit a
/// ridge map from perturbation features.
pub(crate) fn check_feature_fields(
    features: Option<&FeatureSource>,
    n_features: Option<usize>,
) -> Result<(), String> {
    if matches!(features, Some(FeatureSource::Table(_))) && n_features.is_some() {
        return Err("`n_features` applies to `features: target_gene_loadings` only".into());
    }
    Ok(())
}

/// A feature table's file, whose content joins the node's key.
pub(crate) fn feature_table_input(
    features: Option<&FeatureSource>,
) -> Option<super::super::InputFile> {
    match features {
        Some(FeatureSource::Table(t)) => Some(super::super::InputFile {
            key: "features_sha256".into(),
            what: "features".into(),
            path: t.path.clone(),
        }),
        _ => None,
    }
}
