//! Perturbation features for the ridge maps of `transfer` (`lopo_ridge`)
//! and `prediction` (`linear`): the built-in target-gene loadings, or a
//! table with one row per perturbation.

use super::options::shared::{BuiltinFeatures, FeatureSource, FeatureTable};
use super::MetricContext;
use crate::error::{EngineError, Result};
use crate::exec::outputs::IngestOut;
use ndarray::Array2;
use pertbench_kernels::linalg::pca::{randomized_pca, PcaOptions};
use pertbench_kernels::tasks::transfer::LooRidge;
use std::collections::HashMap;

pub const DEFAULT_N_FEATURES: usize = 20;
/// Control samples the feature PCA uses at most (a seeded sample beyond).
pub const MAX_FEATURE_CONTROLS: usize = 50_000;

/// Of a group of units (indices, named by `name_of`), those whose
/// perturbation has features, and a leave-one-out ridge over them when there
/// are 3 or more.
pub(super) fn group_ridge<'a>(
    group: &[usize],
    name_of: impl Fn(usize) -> &'a str,
    features: &HashMap<String, Vec<f64>>,
    lambda: f64,
    what: &str,
) -> Result<(Vec<usize>, Option<LooRidge>)> {
    let with: Vec<usize> = group
        .iter()
        .copied()
        .filter(|&u| features.contains_key(name_of(u)))
        .collect();
    if with.len() < 3 {
        return Ok((with, None));
    }
    let k = features[name_of(with[0])].len();
    let x = Array2::from_shape_fn((with.len(), k), |(i, j)| features[name_of(with[i])][j]);
    let ridge = LooRidge::new(x.view(), lambda).map_err(EngineError::kernel(what.to_string()))?;
    Ok((with, Some(ridge)))
}

/// Perturbation name -> features, and a note for the row's convention.
pub(super) fn perturbation_features(
    features: Option<&FeatureSource>,
    n_features: usize,
    ctx: &MetricContext,
    label: &str,
) -> Result<(HashMap<String, Vec<f64>>, String)> {
    match features {
        Some(FeatureSource::Builtin(BuiltinFeatures::TargetGeneLoadings)) => {
            let n = n_features;
            Ok((
                target_gene_loadings(ctx, label, n)?,
                format!("features=target_gene_loadings;n_features={n}"),
            ))
        }
        Some(FeatureSource::Table(t)) => {
            let f = feature_table(t, label)?;
            let k = f.values().next().map_or(0, Vec::len);
            Ok((f, format!("features={};n_features={k}", t.path.display())))
        }
        None => Err(EngineError::msg(format!(
            "internal: metric `{label}` needs features"
        ))),
    }
}

fn feature_table(t: &FeatureTable, label: &str) -> Result<HashMap<String, Vec<f64>>> {
    use pertbench_data::tabular;
    let fail = |m: String| {
        EngineError::msg(format!(
            "metric `{label}`: features {}: {m}",
            t.path.display()
        ))
    };
    let df = tabular::read_frame(&t.path)?;
    let names: Vec<String> = df
        .get_column_names()
        .iter()
        .map(|s| s.to_string())
        .collect();
    let ids = tabular::column(&t.path, &df, &t.id_column)?.ok_or_else(|| {
        fail(format!(
            "no column `{}`; it has: {}",
            t.id_column,
            names.join(", ")
        ))
    })?;
    let columns: Vec<String> = match (&t.columns, &t.prefix) {
        (Some(c), _) => c.clone(),
        (None, Some(p)) => tabular::columns_with_prefix(&df, p),
        (None, None) => names
            .iter()
            .filter(|n| **n != t.id_column)
            .cloned()
            .collect(),
    };
    if columns.is_empty() {
        return Err(fail("no feature columns".into()));
    }
    let m = tabular::matrix(&t.path, &df, &columns)?;
    let mut out = HashMap::new();
    for i in 0..ids.len() {
        let id = ids.text(i).ok_or_else(|| {
            fail(format!(
                "column `{}`, row {i}: missing perturbation",
                t.id_column
            ))
        })?;
        let row: Vec<f64> = m.row(i).iter().map(|v| *v as f64).collect();
        if out.insert(id.clone(), row).is_some() {
            return Err(fail(format!("perturbation `{id}` has two rows")));
        }
    }
    Ok(out)
}

/// Target-gene loadings in a PCA of the controls' expression: perturbation
/// name -> feature vector (only perturbations whose name is a gene).
fn target_gene_loadings(
    ctx: &MetricContext,
    label: &str,
    n_features: usize,
) -> Result<HashMap<String, Vec<f64>>> {
    let ingest: &IngestOut = ctx.ingest;
    let counts = ingest.counts.as_ref().ok_or_else(|| {
        EngineError::msg(format!(
            "metric `{label}`: `features: target_gene_loadings` needs the dataset's expression, but it has none"
        ))
    })?;
    let s = &ingest.samples;
    let mut controls: Vec<usize> = ctx
        .rows
        .iter()
        .copied()
        .filter(|&r| s.is_control[r])
        .collect();
    if controls.len() > MAX_FEATURE_CONTROLS {
        controls = super::sample_queries(
            &controls,
            Some(MAX_FEATURE_CONTROLS),
            ctx.seed,
            "transfer/feature-controls",
        );
    }
    let expression = IngestOut::expression_rows(counts, ingest.values, &controls);
    let k = n_features
        .min(expression.nrows.saturating_sub(1))
        .min(expression.ncols);
    if k == 0 {
        return Err(EngineError::msg(format!(
            "metric `{label}`: the feature PCA needs at least 2 control samples, found {}",
            expression.nrows
        )));
    }
    let pca = randomized_pca(
        &expression,
        &PcaOptions::new(k, ctx.seed),
        ctx.par,
        ctx.work,
    )
    .map_err(EngineError::kernel(format!(
        "metric `{label}` (feature PCA)"
    )))?;
    let scale: Vec<f64> = pca.explained_variance.iter().map(|v| v.sqrt()).collect();
    Ok(ingest
        .genes
        .iter()
        .enumerate()
        .map(|(g, name)| {
            (
                name.clone(),
                (0..k).map(|c| pca.components[(c, g)] * scale[c]).collect(),
            )
        })
        .collect())
}
