//! Content-addressed node store.
//!
//! A node's outputs live in `<cache>/<kind>/<key>/`: Parquet files plus
//! `node.json`, which lists every file with its sha256 and the node's metadata.
//! A node is written into a temporary directory and renamed into place in one
//! step, so a crash never leaves a half-written node. On load, every file is
//! re-hashed; a missing, truncated or altered file makes the node invalid and
//! it is recomputed.

use crate::error::{EngineError, Result};
use pertbench_data::fetch::sha256_file;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct NodeRecord {
    pub kind: String,
    pub key: String,
    pub label: String,
    /// File name -> sha256.
    pub files: BTreeMap<String, String>,
    /// Free-form facts about the output (shapes, exclusions, timings).
    pub meta: serde_json::Value,
    pub created_at: String,
    pub pertbench_version: String,
}

#[derive(Debug, Clone)]
pub struct Cache {
    pub root: PathBuf,
}

/// What a look-up found.
#[derive(Debug, Clone, PartialEq)]
pub enum CacheState {
    Valid(NodeRecord),
    Missing,
    /// Present but failing verification; the reason says what was wrong.
    Corrupt(String),
}

impl Cache {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Cache { root: root.into() }
    }

    pub fn dir(&self, kind: &str, key: &str) -> PathBuf {
        self.root.join(kind).join(key)
    }

    pub fn state(&self, kind: &str, key: &str) -> CacheState {
        let dir = self.dir(kind, key);
        if !dir.exists() {
            return CacheState::Missing;
        }
        let rec_path = dir.join("node.json");
        let rec: NodeRecord = match std::fs::read(&rec_path)
            .map_err(|e| e.to_string())
            .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()))
        {
            Ok(r) => r,
            Err(e) => return CacheState::Corrupt(format!("{}: {e}", rec_path.display())),
        };
        for (file, sha) in &rec.files {
            let p = dir.join(file);
            match sha256_file(&p) {
                Ok(actual) if &actual == sha => {}
                Ok(actual) => {
                    return CacheState::Corrupt(format!(
                        "{}: sha256 {actual} differs from recorded {sha}",
                        p.display()
                    ))
                }
                Err(e) => return CacheState::Corrupt(e.to_string()),
            }
        }
        CacheState::Valid(rec)
    }

    /// The node's record without verifying its files (for reporting only).
    pub fn record(&self, kind: &str, key: &str) -> Option<NodeRecord> {
        let b = std::fs::read(self.dir(kind, key).join("node.json")).ok()?;
        serde_json::from_slice(&b).ok()
    }

    /// Writes a node: `fill` writes files into a fresh temporary directory and
    /// returns the node's metadata; then the record is written and the
    /// directory renamed into place.
    pub fn commit(
        &self,
        kind: &str,
        key: &str,
        label: &str,
        fill: impl FnOnce(&Path) -> Result<serde_json::Value>,
    ) -> Result<NodeRecord> {
        let parent = self.root.join(kind);
        std::fs::create_dir_all(&parent)
            .map_err(|e| EngineError::msg(format!("{}: {e}", parent.display())))?;
        let tmp = tempfile::Builder::new()
            .prefix(".tmp-")
            .tempdir_in(&parent)
            .map_err(|e| EngineError::msg(format!("{}: {e}", parent.display())))?;
        let meta = fill(tmp.path())?;
        let mut files = BTreeMap::new();
        hash_files(tmp.path(), "", &mut files)?;
        let rec = NodeRecord {
            kind: kind.to_string(),
            key: key.to_string(),
            label: label.to_string(),
            files,
            meta,
            created_at: chrono::Utc::now().to_rfc3339(),
            pertbench_version: crate::PERTBENCH_VERSION.to_string(),
        };
        let json = serde_json::to_vec_pretty(&rec).expect("record serialises");
        std::fs::write(tmp.path().join("node.json"), json)
            .map_err(|e| EngineError::msg(e.to_string()))?;
        let dst = self.dir(kind, key);
        if dst.exists() {
            // A corrupt node being replaced: move it aside first, then drop it.
            let old = parent.join(format!(".old-{key}-{}", std::process::id()));
            std::fs::rename(&dst, &old)
                .map_err(|e| EngineError::msg(format!("{}: {e}", dst.display())))?;
            let _ = std::fs::remove_dir_all(&old);
        }
        let path = tmp.keep();
        std::fs::rename(&path, &dst)
            .map_err(|e| EngineError::msg(format!("{}: {e}", dst.display())))?;
        Ok(rec)
    }

    /// Every node directory: (kind, key, size in bytes, state).
    pub fn list(&self) -> Vec<(String, String, u64, CacheState)> {
        let mut out = Vec::new();
        let Ok(kinds) = std::fs::read_dir(&self.root) else {
            return out;
        };
        let mut kinds: Vec<_> = kinds.flatten().filter(|e| e.path().is_dir()).collect();
        kinds.sort_by_key(|e| e.file_name());
        for k in kinds {
            let kind = k.file_name().to_string_lossy().to_string();
            let Ok(nodes) = std::fs::read_dir(k.path()) else {
                continue;
            };
            let mut nodes: Vec<_> = nodes.flatten().collect();
            nodes.sort_by_key(|e| e.file_name());
            for n in nodes {
                let key = n.file_name().to_string_lossy().to_string();
                let size = dir_size(&n.path());
                let state = if key.starts_with('.') {
                    CacheState::Corrupt("unfinished temporary directory".into())
                } else {
                    self.state(&kind, &key)
                };
                out.push((kind.clone(), key, size, state));
            }
        }
        out
    }

    /// Removes every node not in `keep` and every leftover temporary directory.
    /// Returns (nodes removed, bytes freed).
    pub fn gc(&self, keep: &std::collections::BTreeSet<String>) -> Result<(usize, u64)> {
        let mut removed = (0, 0);
        for (kind, key, size, _) in self.list() {
            if !keep.contains(&key) {
                let p = self.root.join(&kind).join(&key);
                std::fs::remove_dir_all(&p)
                    .map_err(|e| EngineError::msg(format!("{}: {e}", p.display())))?;
                removed.0 += 1;
                removed.1 += size;
            }
        }
        Ok(removed)
    }
}

/// sha256 of every file under `dir` (one level of subdirectories, such as a
/// count cache), keyed by its relative path.
fn hash_files(dir: &Path, prefix: &str, files: &mut BTreeMap<String, String>) -> Result<()> {
    for entry in
        std::fs::read_dir(dir).map_err(|e| EngineError::msg(format!("{}: {e}", dir.display())))?
    {
        let entry = entry.map_err(|e| EngineError::msg(e.to_string()))?;
        let name = format!("{prefix}{}", entry.file_name().to_string_lossy());
        if entry.path().is_dir() {
            if !prefix.is_empty() {
                return Err(EngineError::msg(format!(
                    "internal: nested directory {} in a node",
                    entry.path().display()
                )));
            }
            hash_files(&entry.path(), &format!("{name}/"), files)?;
        } else {
            files.insert(name, sha256_file(&entry.path())?);
        }
    }
    Ok(())
}

fn dir_size(p: &Path) -> u64 {
    std::fs::read_dir(p)
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| {
                    let m = e.metadata().ok()?;
                    Some(if m.is_dir() {
                        dir_size(&e.path())
                    } else {
                        m.len()
                    })
                })
                .sum()
        })
        .unwrap_or(0)
}
