//! Pipeline -> DAG: for each dataset, what it can give (post-processings
//! and metrics it cannot take are skipped with the reason), then the nodes
//! of every seed x representation x post-processing x metric.

use super::keys::{file_sha256, metric_file_params, Builder};
use super::{Cell, Dag, Op};
use crate::error::{EngineError, Result};
use crate::pipeline::{Pipeline, RepresentationKind};
use crate::{metrics, representations};
use pertbench_data::dataset::DataContext;
use serde_json::json;
use sha2::{Digest, Sha256};
use std::collections::HashMap;

/// The metric kinds a gene-level map (one row per perturbation, no
/// samples, batches or controls) can be scored by.
const GENE_MAP_METRICS: &[crate::pipeline::MetricKind] =
    &[crate::pipeline::MetricKind::RelationshipRecall];

/// Version of the ingest code; bump when ingestion changes its output.
// 2: genes carry `expression_mean`; gctx screens and log-expression values.
// 3: the cached samples table keeps `context`.
/// 4: NA in a nullable perturbation, batch, control or context column drops
/// the row (it was read as its stored value: batch "1", `False`); anndata
/// 0.7 categoricals read as their categories; counts are checked; what was
/// dropped is kept with the node.
const INGEST_VERSION: u32 = 4;
/// Version of the split code.
const SPLIT_VERSION: u32 = 1;

pub fn build(p: &Pipeline, data: &DataContext) -> Result<Dag> {
    // Input files are hashed once, not once per dataset x seed (x cell).
    let metric_files: Vec<Vec<(String, serde_json::Value)>> = p
        .metrics
        .iter()
        .map(|m| metric_file_params(p, m))
        .collect::<Result<_>>()?;
    let representation_files: HashMap<&str, String> = p
        .representations
        .iter()
        .filter_map(|r| r.path.as_ref().map(|path| (r, path)))
        .map(|(r, path)| {
            Ok((
                r.name.as_str(),
                file_sha256(p, &format!("representation `{}`", r.name), path)?,
            ))
        })
        .collect::<Result<_>>()?;
    // A relationship source that names no manifest fails here, at
    // planning, not after the nodes before it have run.
    for m in &p.metrics {
        for source in &m.options.inputs().datasets {
            data.manifest(source).map_err(|e| {
                EngineError::msg(format!(
                    "{}: metric `{}`: `sources`: `{source}`: {e}",
                    p.path.display(),
                    m.label()
                ))
            })?;
        }
    }
    let mut b = Builder {
        nodes: vec![],
        by_key: HashMap::new(),
    };
    let mut cells = Vec::new();
    let mut skipped = Vec::new();
    for dataset in &p.datasets {
        let (mpath, manifest) = data.manifest(dataset).map_err(|e| {
            EngineError::msg(format!("{}: dataset `{dataset}`: {e}", p.path.display()))
        })?;
        let gene_map = manifest.gene_map.is_some();
        let why_map =
            "a gene-level map has one row per perturbation and no samples, batches or controls";
        // Controls per batch, when the file is already fetched (`run`
        // fetches before planning): a post-processing no batch can take is
        // skipped with the reason instead of failing in the sweep.
        let needs_controls = |pp: &str| {
            pertbench_kernels::postprocess::by_name(pp)
                .is_some_and(|t| t.min_controls_per_batch() > 0)
        };
        let controls = (!gene_map && p.postprocessing.iter().any(|pp| needs_controls(pp)))
            .then(|| pertbench_data::dataset::fetched_controls_per_batch(dataset, data))
            .flatten();
        let postprocessing: Vec<&String> = p
            .postprocessing
            .iter()
            .filter(|pp| {
                let why = if gene_map && pp.as_str() != "raw" {
                    Some(format!("{why_map} (it needs controls)"))
                } else {
                    controls.as_ref().and_then(|c| {
                        pertbench_kernels::postprocess::inapplicable(
                            pertbench_kernels::postprocess::by_name(pp)
                                .expect("validated")
                                .as_ref(),
                            c,
                        )
                    })
                };
                if let Some(why) = &why {
                    skipped.push(format!("{dataset}: post-processing `{pp}`: {why}"));
                }
                why.is_none()
            })
            .collect();
        let text = std::fs::read(&mpath)
            .map_err(|e| EngineError::msg(format!("{}: {e}", mpath.display())))?;
        let ingest = b.add(
            dataset.clone(),
            Op::Ingest {
                dataset: dataset.clone(),
            },
            INGEST_VERSION,
            json!({"dataset": dataset, "manifest_sha256": hex::encode(Sha256::digest(&text))}),
            vec![],
        );
        // What each metric cannot run on: a gene-level map runs only
        // GENE_MAP_METRICS; a dataset of one batch cannot be split by batch
        // (known once its file is fetched; `run` fetches before planning),
        // so the metrics that need splits are skipped, saying what to set.
        let needs_split =
            |m: &crate::pipeline::MetricSpec| metrics::implementation(m.kind()).needs_split();
        let one_batch = !gene_map
            && p.split_by.is_batch()
            && p.metrics.iter().any(needs_split)
            && pertbench_data::dataset::fetched_batches(dataset, data) == Some(1);
        let metric_specs: Vec<(usize, &crate::pipeline::MetricSpec)> = p
            .metrics
            .iter()
            .enumerate()
            .filter(|(_, m)| {
                let why = if gene_map && !GENE_MAP_METRICS.contains(&m.kind()) {
                    Some(format!(
                        "{why_map} (it runs {})",
                        GENE_MAP_METRICS
                            .iter()
                            .map(|k| k.name())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ))
                } else if one_batch && needs_split(m) {
                    Some("the dataset has one batch (one plate?), and its train / test splits hold out whole batches: set `split_by: samples` in the pipeline to split each perturbation's samples".to_string())
                } else {
                    None
                };
                if let Some(why) = &why {
                    skipped.push(format!("{dataset}: metric `{}`: {why}", m.label()));
                }
                why.is_none()
            })
            .collect();
        let needs_split = metric_specs.iter().any(|(_, m)| needs_split(m));
        let train_fraction = p
            .train_fraction
            .unwrap_or(crate::splits::DEFAULT_TRAIN_FRACTION);
        for &seed in &p.seeds {
            let split = needs_split.then(|| {
                b.add(
                    format!("{dataset}/split@{seed}"),
                    Op::Split {
                        seed,
                        train_fraction,
                        split_by: p.split_by,
                    },
                    SPLIT_VERSION,
                    // `split_by` joins the key only when it is not the
                    // default, so batch splits keep their cached keys.
                    if p.split_by.is_batch() {
                        json!({"seed": seed, "train_fraction": train_fraction})
                    } else {
                        json!({"seed": seed, "train_fraction": train_fraction, "split_by": p.split_by})
                    },
                    vec![ingest],
                )
            });
            let mut rep_nodes: HashMap<&str, usize> = HashMap::new();
            // Bases first so `shuffled` can refer to them.
            let ordered = p
                .representations
                .iter()
                .filter(|r| r.kind != RepresentationKind::Shuffled)
                .chain(
                    p.representations
                        .iter()
                        .filter(|r| r.kind == RepresentationKind::Shuffled),
                );
            for r in ordered {
                let imp = representations::implementation(r.kind);
                let mut params = json!({"spec": r, "dataset": dataset});
                if imp.seeded() {
                    params["seed"] = json!(seed);
                }
                if let Some(sha) = representation_files.get(r.name.as_str()) {
                    params["file_sha256"] = json!(sha);
                }
                let mut inputs = vec![ingest];
                if let Some(of) = &r.of {
                    inputs.push(rep_nodes[of.as_str()]);
                }
                let label = format!(
                    "{dataset}/{}{}",
                    r.name,
                    if imp.seeded() {
                        format!("@{seed}")
                    } else {
                        String::new()
                    }
                );
                let id = b.add(
                    label,
                    Op::Representation {
                        dataset: dataset.clone(),
                        spec: r.clone(),
                        seed,
                    },
                    imp.version(),
                    params,
                    inputs,
                );
                rep_nodes.insert(&r.name, id);
            }
            for r in &p.representations {
                let rep = rep_nodes[r.name.as_str()];
                for &pp in &postprocessing {
                    let version = pertbench_kernels::postprocess::by_name(pp)
                        .expect("validated")
                        .version();
                    let label = format!("{}/{pp}", b.nodes[rep].label);
                    let ppn = b.add(
                        label,
                        Op::PostProcess { name: pp.clone() },
                        version,
                        json!({"name": pp}),
                        vec![ingest, rep],
                    );
                    for &(mi, m) in &metric_specs {
                        let imp = metrics::implementation(m.kind());
                        let mut params = json!({"spec": m});
                        if m.options.seeded() {
                            params["seed"] = json!(seed);
                        }
                        for (key, value) in &metric_files[mi] {
                            params[key.as_str()] = value.clone();
                        }
                        let label = format!(
                            "{}/{}{}",
                            b.nodes[ppn].label,
                            m.label(),
                            if m.options.seeded() {
                                format!("@{seed}")
                            } else {
                                String::new()
                            }
                        );
                        let mn = b.add(
                            label,
                            Op::Metric {
                                spec: m.clone(),
                                seed,
                            },
                            imp.version(),
                            params,
                            {
                                // [ingest, post-processed, split?, representation?]:
                                // the scheduler reads them in this order.
                                let mut inputs = vec![ingest, ppn];
                                if let Some(sp) = split.filter(|_| imp.needs_split()) {
                                    inputs.push(sp);
                                }
                                if imp.refits_postprocessing() && pp != "raw" {
                                    inputs.push(rep);
                                }
                                inputs
                            },
                        );
                        cells.push(Cell {
                            dataset: dataset.clone(),
                            representation: r.name.clone(),
                            postprocessing: pp.clone(),
                            seed,
                            metric_node: mn,
                            representation_node: rep,
                            postprocess_node: ppn,
                        });
                    }
                }
            }
        }
    }
    Ok(Dag {
        pipeline: p.clone(),
        nodes: b.nodes,
        cells,
        skipped,
    })
}
