//! Compiling a pipeline into a DAG of content-addressed nodes.
//!
//! - [`build`]: pipeline -> [`Dag`] (what each dataset can give, the nodes
//!   of every dataset x seed x representation x post-processing x metric).
//! - [`keys`]: a node's key, the sha256 of (kind, code version, parameters,
//!   input keys). Identical nodes (e.g. an unseeded representation under
//!   several seeds) share one key and are computed once.
//! - [`NodeKind`]: the five kinds of node, each with its cache directory.

mod build;
mod keys;
mod node_kind;

pub use build::build;
pub use node_kind::NodeKind;

use crate::pipeline::{MetricSpec, Pipeline, RepresentationSpec};

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

impl Op {
    pub fn kind(&self) -> NodeKind {
        match self {
            Op::Ingest { .. } => NodeKind::Ingest,
            Op::Representation { .. } => NodeKind::Representation,
            Op::PostProcess { .. } => NodeKind::PostProcess,
            Op::Split { .. } => NodeKind::Split,
            Op::Metric { .. } => NodeKind::Metric,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Node {
    /// Always `op.kind()`.
    pub kind: NodeKind,
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
