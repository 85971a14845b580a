//! Node keys: the sha256 of (kind, code version, parameters, input keys),
//! and the definition key (the same without any seed). Input files named in
//! a pipeline enter the parameters by their content's sha256.

use super::{Node, Op};
use crate::error::{EngineError, Result};
use crate::pipeline::Pipeline;
use serde_json::json;
use sha2::{Digest, Sha256};
use std::collections::HashMap;

pub(super) struct Builder {
    pub(super) nodes: Vec<Node>,
    pub(super) by_key: HashMap<String, usize>,
}

impl Builder {
    /// Adds the node (or returns the identical one already added).
    pub(super) fn add(
        &mut self,
        label: String,
        op: Op,
        version: u32,
        params: serde_json::Value,
        inputs: Vec<usize>,
    ) -> usize {
        let kind = op.kind();
        let input_keys: Vec<&str> = inputs.iter().map(|&i| self.nodes[i].key.as_str()).collect();
        let doc = json!({"kind": kind.as_str(), "version": version, "params": params, "inputs": input_keys});
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
        let definition_doc = json!({"kind": kind.as_str(), "version": version, "params": seedless, "inputs": input_definitions});
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

/// sha256 of an input file named in the pipeline; an error names the entry.
/// Only a regular file is read (a device such as `/dev/zero` would be hashed
/// forever, a directory or a FIFO cannot be).
pub(super) fn file_sha256(p: &Pipeline, what: &str, path: &std::path::Path) -> Result<String> {
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
pub(super) fn metric_file_params(
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
