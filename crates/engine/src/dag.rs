//! Compiling a pipeline into a DAG of content-addressed nodes.
//!
//! A node's key is the sha256 of (kind, code version, parameters, input
//! keys). Identical nodes (e.g. an unseeded representation under several
//! seeds) share one key and are computed once.

use crate::error::{EngineError, Result};
use crate::pipeline::{MetricSpec, Pipeline, RepresentationKind, RepresentationSpec};
use crate::{metrics, representations};
use pertbench_data::dataset::DataContext;
use serde_json::json;
use sha2::{Digest, Sha256};
use std::collections::HashMap;

#[derive(Debug, Clone)]
pub enum Op {
    Ingest {
        dataset: String,
    },
    Representation {
        dataset: String,
        spec: RepresentationSpec,
        seed: u64,
    },
    PostProcess {
        name: String,
    },
    Split {
        seed: u64,
        train_fraction: f64,
        split_by: crate::pipeline::SplitBy,
    },
    Metric {
        spec: MetricSpec,
        seed: u64,
    },
}

#[derive(Debug, Clone)]
pub struct Node {
    pub kind: &'static str,
    pub label: String,
    pub op: Op,
    /// Ingest: none. Representation: [ingest] or [ingest, base]. PostProcess:
    /// [ingest, representation]. Split: [ingest]. Metric: [ingest,
    /// postprocess] or [ingest, postprocess, split].
    pub inputs: Vec<usize>,
    pub key: String,
    /// The key without any seed (in this node's parameters or upstream):
    /// every seed of one definition shares it, so results aggregate over
    /// seeds of a definition, never over pipelines or same-named ones.
    pub definition: String,
    pub params: serde_json::Value,
}

/// One (dataset, representation, post-processing, metric, seed) of the sweep.
#[derive(Debug, Clone)]
pub struct Cell {
    pub dataset: String,
    pub representation: String,
    pub postprocessing: String,
    pub seed: u64,
    pub metric_node: usize,
    pub representation_node: usize,
    pub postprocess_node: usize,
}

pub struct Dag {
    pub pipeline: Pipeline,
    pub nodes: Vec<Node>,
    pub cells: Vec<Cell>,
    /// What the pipeline asks for that a dataset cannot give, each with
    /// why (e.g. a gene-level map has no controls for `center`).
    pub skipped: Vec<String>,
}

/// The metric kinds a gene-level map (one row per perturbation, no
/// samples, batches or controls) can be scored by.
const GENE_MAP_METRICS: &[crate::pipeline::MetricKind] =
    &[crate::pipeline::MetricKind::RelationshipRecall];

struct Builder {
    nodes: Vec<Node>,
    by_key: HashMap<String, usize>,
}

impl Builder {
    fn add(
        &mut self,
        kind: &'static str,
        label: String,
        op: Op,
        version: u32,
        params: serde_json::Value,
        inputs: Vec<usize>,
    ) -> usize {
        let input_keys: Vec<&str> = inputs.iter().map(|&i| self.nodes[i].key.as_str()).collect();
        let doc = json!({"kind": kind, "version": version, "params": params, "inputs": input_keys});
        let key = hex::encode(Sha256::digest(doc.to_string().as_bytes()));
        if let Some(&i) = self.by_key.get(&key) {
            return i;
        }
        let mut seedless = params.clone();
        if let Some(o) = seedless.as_object_mut() {
            o.remove("seed");
        }
        let input_definitions: Vec<&str> = inputs
            .iter()
            .map(|&i| self.nodes[i].definition.as_str())
            .collect();
        let definition_doc = json!({"kind": kind, "version": version, "params": seedless, "inputs": input_definitions});
        let definition = hex::encode(Sha256::digest(definition_doc.to_string().as_bytes()));
        self.nodes.push(Node {
            kind,
            label,
            op,
            inputs,
            key: key.clone(),
            definition,
            params,
        });
        self.by_key.insert(key, self.nodes.len() - 1);
        self.nodes.len() - 1
    }
}

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

/// sha256 of an input file named in the pipeline; an error names the entry.
/// Only a regular file is read (a device such as `/dev/zero` would be hashed
/// forever, a directory or a FIFO cannot be).
fn file_sha256(p: &Pipeline, what: &str, path: &std::path::Path) -> Result<String> {
    let err = |e: String| EngineError::msg(format!("{}: {what}: {e}", p.path.display()));
    match std::fs::metadata(path) {
        Ok(m) if m.is_file() => {}
        Ok(_) => return Err(err(format!("{} is not a regular file", path.display()))),
        Err(e) => return Err(err(format!("{}: {e}", path.display()))),
    }
    pertbench_data::fetch::sha256_file(path).map_err(|e| err(e.to_string()))
}

/// Key parameters from a metric's input files (a feature table, prediction
/// files): their content is part of the key. Hashed once per metric, not
/// once per dataset x seed x representation x post-processing.
fn metric_file_params(
    p: &Pipeline,
    m: &crate::pipeline::MetricSpec,
) -> Result<Vec<(String, serde_json::Value)>> {
    let what = format!("metric `{}`", m.label());
    m.options
        .inputs()
        .files
        .into_iter()
        .map(|f| {
            let sha = file_sha256(p, &format!("{what}: {}", f.what), &f.path)?;
            Ok((f.key, json!(sha)))
        })
        .collect()
}

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
            "ingest",
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
                    "split",
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
                    "representation",
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
                        "postprocess",
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
                            "metric",
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
