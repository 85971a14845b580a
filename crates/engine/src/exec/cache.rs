//! Content-addressed node store.
//!
//! A node's outputs live in `<cache>/<kind>/<key>/`: Parquet files plus
//! `node.json`, which lists every file with its sha256 and the node's
//! metadata, and `.node.json.sha256`, the record's own checksum (its `meta`
//! feeds later computation, so an edited record is corrupt too).
//!
//! * **Atomic and durable.** A node is written into a temporary directory
//!   named for its owner process, every file and the directory are synced,
//!   and it is renamed into place in one step, then the kind directory is
//!   synced: a crash or a power loss never leaves a half-written node.
//! * **Verified.** On load, the record and every file are re-hashed; a
//!   missing, truncated or altered file makes the node invalid and it is
//!   recomputed.
//! * **Idempotent publication.** A second writer of a node that is already
//!   valid keeps the first one and never fails; a corrupt node is moved aside
//!   and replaced.
//! * **Locked.** A run holds a shared lock on the cache for its duration and
//!   an exclusive lock on each node it computes (`.locks/`), so concurrent
//!   runs compute a node once; `cache gc` needs the cache to itself.
//! * **Self-cleaning.** Temporaries whose owner died (`kill -9`) are removed
//!   by the next run or `cache gc` ([`Cache::recover`]).

use crate::error::{EngineError, Result};
use crate::plan::NodeKind;
use pertbench_data::durable::{
    self, classify_temporary, temp_prefix, tree_size, Checked, Lock, Temporary,
};
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

/// Whether `key` has the shape of a node key (64 lowercase hex digits).
fn is_node_key(key: &str) -> bool {
    key.len() == 64 && key.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// One entry of the cache directory, as `cache ls` and `cache gc` see it.
#[derive(Debug, Clone, PartialEq)]
pub enum Entry {
    /// A node directory (`<kind>/<key>`) and its verification.
    Node(CacheState),
    /// A temporary of a running (or another host's) process: left alone.
    LiveTemporary,
    /// A temporary whose owner is gone: removable.
    StaleTemporary,
    /// Something pertbench did not write (a symlink, a stray file, an
    /// unknown name): never removed, never followed.
    Foreign(String),
}

/// What `cache gc` did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GcReport {
    pub nodes_removed: usize,
    pub temporaries_removed: usize,
    pub bytes_freed: u64,
    /// Entries left in place, with the reason (foreign or live).
    pub left: Vec<String>,
}

impl Cache {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Cache { root: root.into() }
    }

    pub fn dir(&self, kind: NodeKind, key: &str) -> PathBuf {
        self.root.join(kind.as_str()).join(key)
    }

    fn locks_dir(&self) -> PathBuf {
        self.root.join(".locks")
    }

    /// Shared by runs, exclusive for `cache gc`.
    fn cache_lock_path(&self) -> PathBuf {
        self.locks_dir().join("cache.lock")
    }

    fn node_lock_path(&self, kind: &str, key: &str) -> PathBuf {
        self.locks_dir().join(format!("{kind}-{key}.lock"))
    }

    pub fn state(&self, kind: NodeKind, key: &str) -> CacheState {
        let dir = self.dir(kind, key);
        if !dir.exists() {
            return CacheState::Missing;
        }
        let rec = match self.read_record(kind, key) {
            Ok(r) => r,
            Err(why) => return CacheState::Corrupt(why),
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

    /// The node's record, verified against its own checksum and its place
    /// (not its files); why not, when it is missing or altered.
    fn read_record(&self, kind: NodeKind, key: &str) -> std::result::Result<NodeRecord, String> {
        let rec_path = self.dir(kind, key).join("node.json");
        match durable::verify_checksum(&rec_path) {
            Checked::Verified => {}
            Checked::Unchecked => {
                return Err(format!(
                    "{}: no record checksum (written by an older pertbench, or altered)",
                    rec_path.display()
                ))
            }
            Checked::Mismatch(why) => return Err(format!("{}: {why}", rec_path.display())),
        }
        let rec: NodeRecord = std::fs::read(&rec_path)
            .map_err(|e| e.to_string())
            .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()))
            .map_err(|e| format!("{}: {e}", rec_path.display()))?;
        if rec.kind != kind.as_str() || rec.key != key {
            return Err(format!(
                "{}: records node {}/{}, not {kind}/{key}",
                rec_path.display(),
                rec.kind,
                rec.key
            ));
        }
        Ok(rec)
    }

    /// The node's record, verified (its own checksum, not its files'); None
    /// when it is missing or altered.
    pub fn record(&self, kind: NodeKind, key: &str) -> Option<NodeRecord> {
        self.read_record(kind, key).ok()
    }

    /// Holds a shared lock on the cache for a run's duration: `cache gc`
    /// waits for no run and refuses while one holds it.
    pub fn run_lock(&self) -> Result<Lock> {
        Lock::shared(&self.cache_lock_path()).map_err(EngineError::from)
    }

    /// An exclusive lock on one node, held while it is computed and
    /// published, so that two processes compute it once. `wait: false`
    /// returns None instead of waiting when another holds it.
    pub fn node_lock(&self, kind: NodeKind, key: &str, wait: bool) -> Result<Option<Lock>> {
        let p = self.node_lock_path(kind.as_str(), key);
        if wait {
            Lock::exclusive(&p).map(Some).map_err(EngineError::from)
        } else {
            Lock::try_exclusive(&p).map_err(EngineError::from)
        }
    }

    /// Removes the temporaries of dead processes (killed runs) in the cache.
    /// Returns (entries removed, bytes freed).
    pub fn recover(&self) -> (usize, u64) {
        let dirs = std::iter::once(self.root.clone())
            .chain(NodeKind::ALL.iter().map(|k| self.root.join(k.as_str())))
            // Never through a symlinked kind directory.
            .filter(|d| std::fs::symlink_metadata(d).is_ok_and(|m| m.is_dir()));
        durable::recover_stale_temporaries_in(dirs)
    }

    /// Writes a node: `fill` writes files into a fresh temporary directory and
    /// returns the node's metadata; then the record is written, everything is
    /// synced and the directory renamed into place. When a valid node is
    /// already there (another process published it meanwhile), that node is
    /// kept and its record returned.
    pub fn commit(
        &self,
        kind: NodeKind,
        key: &str,
        label: &str,
        fill: impl FnOnce(&Path) -> Result<serde_json::Value>,
    ) -> Result<NodeRecord> {
        let parent = self.root.join(kind.as_str());
        std::fs::create_dir_all(&parent)
            .map_err(|e| EngineError::msg(format!("{}: {e}", parent.display())))?;
        let tmp = tempfile::Builder::new()
            .prefix(&temp_prefix("node"))
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
        let rec_path = tmp.path().join("node.json");
        std::fs::write(&rec_path, json)
            .and_then(|()| std::fs::File::open(&rec_path)?.sync_all())
            .map_err(|e| EngineError::msg(format!("{}: {e}", rec_path.display())))?;
        durable::write_checksum(&rec_path)?;
        for sub in subdirectories(tmp.path())? {
            durable::sync_dir(&sub)?;
        }
        durable::sync_dir(tmp.path())?;
        let dst = self.dir(kind, key);
        // A temporary directory is removed when dropped, on any early return.
        let mut tmp = Some(tmp);
        for _attempt in 0..3 {
            let from = tmp.as_ref().expect("still held").path().to_path_buf();
            match std::fs::rename(&from, &dst) {
                Ok(()) => {
                    let _ = tmp.take().expect("still held").keep();
                    durable::sync_dir(&parent)?;
                    return Ok(rec);
                }
                Err(e) if dst.exists() => match self.state(kind, key) {
                    // Published by another process meanwhile: keep theirs.
                    CacheState::Valid(existing) => return Ok(existing),
                    // A corrupt node: move it aside (as a temporary of this
                    // process, recovered if we die now) and retry.
                    CacheState::Corrupt(_) => {
                        let aside = parent.join(format!("{}old-{key}", temp_prefix("node")));
                        match std::fs::rename(&dst, &aside) {
                            Ok(()) => {
                                let _ = std::fs::remove_dir_all(&aside);
                            }
                            Err(_) if !dst.exists() => {}
                            Err(e2) => {
                                return Err(EngineError::msg(format!(
                                    "{}: cannot replace a corrupt node ({e}; {e2})",
                                    dst.display()
                                )))
                            }
                        }
                    }
                    CacheState::Missing => {}
                },
                Err(e) => return Err(EngineError::msg(format!("{}: {e}", dst.display()))),
            }
        }
        Err(EngineError::msg(format!(
            "{}: could not publish the node after 3 attempts (another process keeps replacing it)",
            dst.display()
        )))
    }

    /// Every entry of the cache, never following a symlink:
    /// (kind, name, size in bytes, what it is).
    pub fn list(&self) -> Vec<(String, String, u64, Entry)> {
        let mut out = Vec::new();
        let Ok(kinds) = std::fs::read_dir(&self.root) else {
            return out;
        };
        let mut kinds: Vec<_> = kinds.flatten().collect();
        kinds.sort_by_key(|e| e.file_name());
        for k in kinds {
            let kind = k.file_name().to_string_lossy().to_string();
            let ft = k.file_type().ok();
            if kind == ".locks" && ft.is_some_and(|t| t.is_dir()) {
                continue;
            }
            let node_kind = NodeKind::from_name(&kind);
            let entry = outer_entry(&kind, ft).or_else(|| {
                node_kind
                    .is_none()
                    .then(|| Entry::Foreign("not a kind of node".into()))
            });
            let Some(node_kind) = node_kind.filter(|_| entry.is_none()) else {
                let entry = entry.expect("an entry when not a kind of node");
                out.push((kind, String::new(), entry_size(&entry, &k.path()), entry));
                continue;
            };
            let Ok(nodes) = std::fs::read_dir(k.path()) else {
                continue;
            };
            let mut nodes: Vec<_> = nodes.flatten().collect();
            nodes.sort_by_key(|e| e.file_name());
            for n in nodes {
                let key = n.file_name().to_string_lossy().to_string();
                let entry = outer_entry(&key, n.file_type().ok()).unwrap_or_else(|| {
                    if is_node_key(&key) {
                        Entry::Node(self.state(node_kind, &key))
                    } else {
                        Entry::Foreign("not a node key".into())
                    }
                });
                let size = entry_size(&entry, &n.path());
                out.push((kind.clone(), key, size, entry));
            }
        }
        out
    }

    /// Removes every node not in `keep` (valid or corrupt) and every stale
    /// temporary. It needs the cache to itself: while a run holds it, it
    /// refuses. It never follows a symlink and leaves anything pertbench did
    /// not write (listed in the report).
    pub fn gc(&self, keep: &std::collections::BTreeSet<String>) -> Result<GcReport> {
        let Some(_held) = Lock::try_exclusive(&self.cache_lock_path())? else {
            return Err(EngineError::msg(format!(
                "{}: a run is using this cache; run `cache gc` when it has finished",
                self.root.display()
            )));
        };
        let mut report = GcReport::default();
        for (kind, key, size, entry) in self.list() {
            let p = if key.is_empty() {
                self.root.join(&kind)
            } else {
                self.root.join(&kind).join(&key)
            };
            let remove = match &entry {
                Entry::Node(_) => !keep.contains(&key),
                Entry::StaleTemporary => true,
                Entry::LiveTemporary => {
                    report
                        .left
                        .push(format!("{}: a live run's temporary", p.display()));
                    false
                }
                Entry::Foreign(why) => {
                    report.left.push(format!("{}: {why}", p.display()));
                    false
                }
            };
            if !remove {
                continue;
            }
            let gone = if std::fs::symlink_metadata(&p).is_ok_and(|m| m.is_dir()) {
                std::fs::remove_dir_all(&p)
            } else {
                std::fs::remove_file(&p)
            };
            match gone {
                Ok(()) => {
                    if matches!(entry, Entry::Node(_)) {
                        report.nodes_removed += 1;
                        let _ = std::fs::remove_file(self.node_lock_path(&kind, &key));
                    } else {
                        report.temporaries_removed += 1;
                    }
                    report.bytes_freed += size;
                }
                // Gone meanwhile: nothing to do. Anything else: say so, go on.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => report
                    .left
                    .push(format!("{}: cannot remove: {e}", p.display())),
            }
        }
        Ok(report)
    }
}

/// What a cache entry named `name` is before looking inside it: a
/// temporary, or foreign (a symlink, not a directory, unreadable); None for
/// a real directory.
fn outer_entry(name: &str, ft: Option<std::fs::FileType>) -> Option<Entry> {
    match classify_temporary(name) {
        Temporary::Live => return Some(Entry::LiveTemporary),
        Temporary::Stale => return Some(Entry::StaleTemporary),
        Temporary::No => {}
    }
    match ft {
        Some(t) if t.is_symlink() => Some(Entry::Foreign("a symlink (not followed)".into())),
        Some(t) if !t.is_dir() => Some(Entry::Foreign("not a directory".into())),
        None => Some(Entry::Foreign("unreadable".into())),
        _ => None,
    }
}

/// Bytes an entry holds (none counted for what pertbench did not write).
fn entry_size(entry: &Entry, path: &Path) -> u64 {
    if matches!(entry, Entry::Foreign(_)) {
        0
    } else {
        tree_size(path)
    }
}

/// The subdirectories of a node directory (a count cache).
fn subdirectories(dir: &Path) -> Result<Vec<PathBuf>> {
    let rd =
        std::fs::read_dir(dir).map_err(|e| EngineError::msg(format!("{}: {e}", dir.display())))?;
    Ok(rd
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path())
        .collect())
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
            durable::sync_file(&entry.path())?;
            files.insert(name, sha256_file(&entry.path())?);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    const KEY: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

    fn node(cache: &Cache, key: &str, payload: &[u8]) -> Result<NodeRecord> {
        cache.commit(NodeKind::Metric, key, "m", |dir| {
            std::fs::write(dir.join("rows.bin"), payload)
                .map_err(|e| EngineError::msg(e.to_string()))?;
            Ok(serde_json::json!({"values": 3}))
        })
    }

    #[test]
    fn an_edited_record_is_corrupt_and_an_unedited_one_valid() {
        let d = tempfile::tempdir().unwrap();
        let cache = Cache::new(d.path());
        node(&cache, KEY, b"abc").unwrap();
        assert!(matches!(
            cache.state(NodeKind::Metric, KEY),
            CacheState::Valid(_)
        ));
        assert!(cache.record(NodeKind::Metric, KEY).is_some());
        let rec = cache.dir(NodeKind::Metric, KEY).join("node.json");
        let text = std::fs::read_to_string(&rec).unwrap();
        std::fs::write(&rec, text.replace("\"values\": 3", "\"values\": 4")).unwrap();
        match cache.state(NodeKind::Metric, KEY) {
            CacheState::Corrupt(why) => assert!(why.contains("node.json"), "{why}"),
            s => panic!("{s:?}"),
        }
        assert!(cache.record(NodeKind::Metric, KEY).is_none());
        // A record moved under another key is corrupt too.
        let other = KEY.replace("00", "11");
        std::fs::create_dir_all(cache.root.join("metric")).unwrap();
        node(&cache, KEY, b"abc").unwrap();
        std::fs::rename(
            cache.dir(NodeKind::Metric, KEY),
            cache.dir(NodeKind::Metric, &other),
        )
        .unwrap();
        assert!(matches!(
            cache.state(NodeKind::Metric, &other),
            CacheState::Corrupt(_)
        ));
    }

    #[test]
    fn concurrent_writers_of_one_node_never_fail() {
        let d = tempfile::tempdir().unwrap();
        let cache = Cache::new(d.path());
        for round in 0..12 {
            let key = format!("{round:064x}");
            std::thread::scope(|s| {
                let handles: Vec<_> = (0..8)
                    .map(|_| s.spawn(|| node(&cache, &key, b"identical")))
                    .collect();
                for h in handles {
                    h.join().unwrap().unwrap();
                }
            });
            assert!(matches!(
                cache.state(NodeKind::Metric, &key),
                CacheState::Valid(_)
            ));
        }
        // Nothing left behind.
        let left: Vec<_> = std::fs::read_dir(cache.root.join("metric"))
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .filter(|n| n.to_string_lossy().starts_with('.'))
            .collect();
        assert!(left.is_empty(), "{left:?}");
    }

    #[test]
    fn a_corrupt_node_is_replaced() {
        let d = tempfile::tempdir().unwrap();
        let cache = Cache::new(d.path());
        node(&cache, KEY, b"abc").unwrap();
        std::fs::write(cache.dir(NodeKind::Metric, KEY).join("rows.bin"), b"abd").unwrap();
        assert!(matches!(
            cache.state(NodeKind::Metric, KEY),
            CacheState::Corrupt(_)
        ));
        node(&cache, KEY, b"abc").unwrap();
        assert!(matches!(
            cache.state(NodeKind::Metric, KEY),
            CacheState::Valid(_)
        ));
    }

    #[test]
    fn gc_never_follows_symlinks_leaves_foreign_entries_and_waits_for_no_run() {
        let d = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let cache = Cache::new(d.path().join("cache"));
        node(&cache, KEY, b"abc").unwrap();
        let kept = KEY.replace("00", "22");
        node(&cache, &kept, b"abc").unwrap();
        // Outside the cache: a node-shaped directory with a file.
        let victim = outside.path().join(KEY.replace("00", "33"));
        std::fs::create_dir_all(&victim).unwrap();
        std::fs::write(victim.join("precious"), b"x").unwrap();
        // A symlinked kind directory, a symlinked node, a stray file, a
        // directory that is not a node, an unknown kind.
        std::os::unix::fs::symlink(outside.path(), cache.root.join("representation")).unwrap();
        std::os::unix::fs::symlink(
            &victim,
            cache.root.join("metric").join(KEY.replace("00", "44")),
        )
        .unwrap();
        std::fs::write(cache.root.join("metric").join("stray.txt"), b"x").unwrap();
        std::fs::create_dir(cache.root.join("metric").join("notes")).unwrap();
        std::fs::create_dir(cache.root.join("elsewhere")).unwrap();

        // While a run holds the cache, gc refuses and removes nothing.
        let run = cache.run_lock().unwrap();
        let e = cache.gc(&BTreeSet::new()).unwrap_err();
        assert!(e.to_string().contains("a run is using this cache"), "{e}");
        assert!(cache.dir(NodeKind::Metric, KEY).exists());
        drop(run);

        let keep: BTreeSet<String> = [kept.clone()].into();
        let r = cache.gc(&keep).unwrap();
        assert_eq!(r.nodes_removed, 1, "{r:?}");
        assert!(!cache.dir(NodeKind::Metric, KEY).exists());
        assert!(matches!(
            cache.state(NodeKind::Metric, &kept),
            CacheState::Valid(_)
        ));
        assert!(victim.join("precious").exists());
        assert!(cache.root.join("metric").join("stray.txt").exists());
        assert!(cache.root.join("metric").join("notes").exists());
        assert!(cache.root.join("elsewhere").exists());
        assert_eq!(r.left.len(), 5, "{:?}", r.left);
        assert!(r.left.iter().any(|l| l.contains("symlink")), "{:?}", r.left);
    }
}
