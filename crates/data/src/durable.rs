//! Files that survive crashes, power loss and concurrent writers.
//!
//! * **Temporaries carry their owner.** Every temporary file or directory
//!   pertbench creates is named `.tmp-<tag>-p<pid>-h<host>-<random>` (host: the
//!   first 8 hex digits of the sha256 of the host name). A later process
//!   removes those whose owner is gone ([`recover_stale_temporaries`]); it
//!   never touches a live process's, nor another host's on a shared file
//!   system.
//! * **Durable publication.** [`sync_file`] and [`sync_dir`] flush a file's
//!   data and a directory's entries (a rename is durable only once its
//!   directory is synced, as SQLite and Git do).
//! * **Checksummed files.** [`write_checksum`] writes `.<name>.sha256` beside a
//!   file, in `sha256sum` format (so `sha256sum -c` checks it too);
//!   [`verify_checksum`] says whether the file still matches.
//! * **Locks.** [`Lock`] is an advisory lock on a file (`flock`), shared or
//!   exclusive, released when dropped or when the process dies.

use crate::error::{DataError, Result};
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The first 8 hex digits of the sha256 of this machine's host name.
fn host_tag() -> &'static str {
    static TAG: OnceLock<String> = OnceLock::new();
    TAG.get_or_init(|| {
        let name = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .or_else(|| std::env::var("HOSTNAME").ok())
            .unwrap_or_default();
        hex::encode(&Sha256::digest(name.trim().as_bytes())[..4])
    })
}

/// The name prefix of a temporary owned by this process, for `tag` (a short
/// word saying what it is: `node`, `counts`, `results`, `download`...).
pub fn temp_prefix(tag: &str) -> String {
    temp_prefix_of(tag, std::process::id())
}

/// The name prefix of a temporary owned by process `pid` on this host.
pub fn temp_prefix_of(tag: &str, pid: u32) -> String {
    format!(".tmp-{tag}-p{pid}-h{}-", host_tag())
}

/// The owner (pid, host tag) of a temporary named by [`temp_prefix`].
fn temp_owner(name: &str) -> Option<(u32, &str)> {
    let rest = name.strip_prefix(".tmp-")?;
    // The tag is a word without `-p<digits>-h`; find the owner fields.
    let mut search = 0;
    while let Some(at) = rest[search..].find("-p") {
        let start = search + at + 2;
        let tail = &rest[start..];
        let digits = tail.bytes().take_while(u8::is_ascii_digit).count();
        if digits > 0 && tail[digits..].starts_with("-h") && tail.len() >= digits + 2 + 8 {
            let host = &tail[digits + 2..digits + 10];
            if host.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Some((tail[..digits].parse().ok()?, host));
            }
        }
        search = start;
    }
    None
}

/// Whether process `pid` is alive on this machine.
fn process_alive(pid: u32) -> bool {
    if pid == std::process::id() {
        return true;
    }
    #[cfg(unix)]
    {
        let Ok(pid) = i32::try_from(pid) else {
            return false;
        };
        // Signal 0 checks existence; EPERM means it exists but is not ours.
        // SAFETY: kill with signal 0 sends nothing.
        let r = unsafe { libc::kill(pid, 0) };
        r == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
    }
    #[cfg(not(unix))]
    {
        true
    }
}

/// What a directory entry named `name` is, as a temporary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Temporary {
    /// Not a pertbench temporary.
    No,
    /// Its owner runs (or runs on another host, which cannot be checked).
    Live,
    /// Its owner is gone: safe to remove.
    Stale,
}

pub fn classify_temporary(name: &str) -> Temporary {
    if !name.starts_with(".tmp-") {
        return Temporary::No;
    }
    match temp_owner(name) {
        Some((pid, host)) if host == host_tag() => {
            if process_alive(pid) {
                Temporary::Live
            } else {
                Temporary::Stale
            }
        }
        Some(_) => Temporary::Live,
        // A temporary from before owners were recorded, or from tempfile's
        // default naming: its owner cannot be known, so it is kept.
        None => Temporary::Live,
    }
}

/// Removes every stale temporary directly in `dir` (files and directories,
/// never following a symlink). Returns what was removed with its size.
pub fn recover_stale_temporaries(dir: &Path) -> Vec<(PathBuf, u64)> {
    let mut removed = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return removed;
    };
    for e in rd.flatten() {
        let name = e.file_name();
        let Some(name) = name.to_str() else { continue };
        if classify_temporary(name) != Temporary::Stale {
            continue;
        }
        let Ok(ft) = e.file_type() else { continue };
        let p = e.path();
        let size = if ft.is_dir() {
            tree_size(&p)
        } else {
            e.metadata().map(|m| m.len()).unwrap_or(0)
        };
        let ok = if ft.is_dir() {
            std::fs::remove_dir_all(&p).is_ok()
        } else {
            std::fs::remove_file(&p).is_ok()
        };
        if ok {
            removed.push((p, size));
        }
    }
    removed
}

/// [`recover_stale_temporaries`] in each of `dirs`: (entries removed, bytes
/// freed).
pub fn recover_stale_temporaries_in(dirs: impl IntoIterator<Item = PathBuf>) -> (usize, u64) {
    let mut out = (0, 0);
    for d in dirs {
        for (_, size) in recover_stale_temporaries(&d) {
            out.0 += 1;
            out.1 += size;
        }
    }
    out
}

/// Bytes under `p`, never following a symlink.
pub fn tree_size(p: &Path) -> u64 {
    std::fs::read_dir(p)
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| {
                    let ft = e.file_type().ok()?;
                    Some(if ft.is_dir() {
                        tree_size(&e.path())
                    } else if ft.is_file() {
                        e.metadata().ok()?.len()
                    } else {
                        0
                    })
                })
                .sum()
        })
        .unwrap_or(0)
}

/// `dir/name` when `name` is a plain file name (no directory, no `..`, not
/// absolute), so that what is written there stays inside `dir`; else an
/// error naming `what` it is. Every path pertbench writes under a directory
/// from a name it read (a pipeline's results, a fetched artefact) goes
/// through here.
pub fn join_plain(dir: &Path, name: &str, what: &str) -> Result<PathBuf> {
    match crate::manifest::not_plain_name(name) {
        None => Ok(dir.join(name)),
        Some(why) => Err(DataError::Other(format!(
            "{what} `{}` would be written outside {}: {why}",
            name.escape_debug(),
            dir.display()
        ))),
    }
}

/// The directory a file is in: `.` for a bare file name (whose
/// `Path::parent` is the empty path, which no system call accepts).
pub fn parent_dir(p: &Path) -> &Path {
    match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

/// Flushes a file's data to stable storage.
pub fn sync_file(p: &Path) -> Result<()> {
    File::open(p)
        .and_then(|f| f.sync_all())
        .map_err(|e| DataError::write(p, e))
}

/// Flushes a directory's entries (creations, renames) to stable storage.
pub fn sync_dir(p: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        File::open(p)
            .and_then(|f| f.sync_all())
            .map_err(|e| DataError::write(p, e))
    }
    #[cfg(not(unix))]
    {
        let _ = p;
        Ok(())
    }
}

/// `.<name>.<suffix>` beside `p` (a hidden companion file).
fn companion(p: &Path, suffix: &str) -> PathBuf {
    let name = p
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    p.with_file_name(format!(".{name}.{suffix}"))
}

/// `.<name>.sha256` beside `p`.
pub fn checksum_path(p: &Path) -> PathBuf {
    companion(p, "sha256")
}

/// `.<name>.lock` beside `p`: held exclusively while `p` and its checksum
/// are replaced together, shared while they are verified, so that two
/// processes writing `p` at once cannot leave one's file beside the
/// other's checksum, and a reader never sees the pair half-replaced.
pub fn pair_lock_path(p: &Path) -> PathBuf {
    companion(p, "lock")
}

/// Writes `p`'s checksum beside it, durably and atomically.
pub fn write_checksum(p: &Path) -> Result<String> {
    let sha = crate::fetch::sha256_file(p)?;
    let name = p
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    let line = format!("{sha}  {name}\n");
    crate::fetch::atomic_write_with(&checksum_path(p), |f| f.write_all(line.as_bytes()))?;
    Ok(sha)
}

/// What [`verify_checksum`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Checked {
    /// The file matches its recorded sha256.
    Verified,
    /// No checksum beside it (written by an older pertbench, or by hand).
    Unchecked,
    /// The file or its checksum was altered; the reason says how.
    Mismatch(String),
}

pub fn verify_checksum(p: &Path) -> Checked {
    let cp = checksum_path(p);
    let text = match std::fs::read_to_string(&cp) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Checked::Unchecked,
        Err(e) => return Checked::Mismatch(format!("cannot read {}: {e}", cp.display())),
    };
    let recorded = text.split_whitespace().next().unwrap_or("");
    if recorded.len() != 64 || !recorded.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Checked::Mismatch(format!("{} is not a sha256 line", cp.display()));
    }
    match crate::fetch::sha256_file(p) {
        Ok(actual) if actual.eq_ignore_ascii_case(recorded) => Checked::Verified,
        Ok(actual) => Checked::Mismatch(format!(
            "sha256 {actual} differs from the {recorded} recorded when it was written"
        )),
        Err(e) => Checked::Mismatch(e.to_string()),
    }
}

/// An advisory lock on a file, released when dropped (or when the process
/// dies, so a killed run never leaves a lock behind).
#[derive(Debug)]
pub struct Lock {
    _file: File,
}

fn open_lock_file(p: &Path) -> Result<File> {
    if let Some(dir) = p.parent() {
        std::fs::create_dir_all(dir).map_err(|e| DataError::write(dir, e))?;
    }
    std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(p)
        .map_err(|e| DataError::write(p, e))
}

impl Lock {
    /// Waits for an exclusive lock on `p` (created if missing).
    pub fn exclusive(p: &Path) -> Result<Lock> {
        let f = open_lock_file(p)?;
        f.lock().map_err(|e| DataError::write(p, e))?;
        Ok(Lock { _file: f })
    }

    /// An exclusive lock on `p` if nobody holds one, else None.
    pub fn try_exclusive(p: &Path) -> Result<Option<Lock>> {
        let f = open_lock_file(p)?;
        match f.try_lock() {
            Ok(()) => Ok(Some(Lock { _file: f })),
            Err(std::fs::TryLockError::WouldBlock) => Ok(None),
            Err(std::fs::TryLockError::Error(e)) => Err(DataError::write(p, e)),
        }
    }

    /// Waits for a shared lock on `p`.
    pub fn shared(p: &Path) -> Result<Lock> {
        let f = open_lock_file(p)?;
        f.lock_shared().map_err(|e| DataError::write(p, e))?;
        Ok(Lock { _file: f })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temporaries_name_their_owner_and_only_dead_owners_are_recovered() {
        let dir = tempfile::tempdir().unwrap();
        let mine = dir.path().join(format!("{}abc", temp_prefix("node")));
        std::fs::create_dir(&mine).unwrap();
        std::fs::write(mine.join("x"), b"12345").unwrap();
        // A dead owner: pid beyond pid_max on this host.
        let dead = dir
            .path()
            .join(format!(".tmp-node-p4294967294-h{}-xyz", host_tag()));
        std::fs::create_dir(&dead).unwrap();
        std::fs::write(dead.join("y"), b"123").unwrap();
        let dead_file = dir
            .path()
            .join(format!(".tmp-results-p4294967294-h{}-q", host_tag()));
        std::fs::write(&dead_file, b"1").unwrap();
        // Another host's: cannot be checked, kept.
        let other = dir.path().join(".tmp-node-p4294967294-h0badf00d-z");
        std::fs::create_dir(&other).unwrap();
        // Unknown owner (old naming): kept.
        let old = dir.path().join(".tmp-AbCdEf");
        std::fs::create_dir(&old).unwrap();
        assert_eq!(classify_temporary("node"), Temporary::No);
        assert_eq!(
            classify_temporary(&mine.file_name().unwrap().to_string_lossy()),
            Temporary::Live
        );
        let removed = recover_stale_temporaries(dir.path());
        let mut names: Vec<_> = removed
            .iter()
            .map(|(p, s)| (p.file_name().unwrap().to_string_lossy().into_owned(), *s))
            .collect();
        names.sort();
        assert_eq!(names.len(), 2, "{names:?}");
        assert!(names
            .iter()
            .any(|(n, s)| n.starts_with(".tmp-node-p4294967294") && *s == 3));
        assert!(!dead.exists() && !dead_file.exists());
        assert!(mine.exists() && other.exists() && old.exists());
    }

    #[test]
    fn only_plain_names_join_a_directory() {
        let d = Path::new("/w/results");
        assert_eq!(
            join_plain(d, "p.parquet", "f").unwrap(),
            d.join("p.parquet")
        );
        for bad in [
            "../p.parquet",
            "/etc/p",
            "a/b",
            "..",
            ".",
            "",
            "a\\b",
            "x\0y",
        ] {
            let e = join_plain(d, bad, "pipeline results file")
                .unwrap_err()
                .to_string();
            assert!(
                e.contains("pipeline results file") && e.contains("/w/results"),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn a_symlinked_stale_temporary_is_removed_as_a_link_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("keep"), b"precious").unwrap();
        let link = dir
            .path()
            .join(format!(".tmp-node-p4294967294-h{}-l", host_tag()));
        std::os::unix::fs::symlink(outside.path(), &link).unwrap();
        recover_stale_temporaries(dir.path());
        assert!(outside.path().join("keep").exists());
    }

    #[test]
    fn checksums_detect_a_flipped_bit_and_a_truncation() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("r.parquet");
        std::fs::write(&p, b"PAR1 some bytes PAR1").unwrap();
        assert_eq!(verify_checksum(&p), Checked::Unchecked);
        write_checksum(&p).unwrap();
        assert_eq!(verify_checksum(&p), Checked::Verified);
        let line = std::fs::read_to_string(checksum_path(&p)).unwrap();
        assert!(line.ends_with("  r.parquet\n"), "{line}");
        let mut b = std::fs::read(&p).unwrap();
        b[7] ^= 0x10;
        std::fs::write(&p, &b).unwrap();
        assert!(matches!(verify_checksum(&p), Checked::Mismatch(_)));
        std::fs::write(&p, b"").unwrap();
        assert!(matches!(verify_checksum(&p), Checked::Mismatch(_)));
        std::fs::write(checksum_path(&p), b"garbage").unwrap();
        assert!(matches!(verify_checksum(&p), Checked::Mismatch(_)));
    }

    #[test]
    fn an_exclusive_lock_excludes_a_second_holder_until_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("locks").join("a.lock");
        let held = Lock::exclusive(&p).unwrap();
        assert!(Lock::try_exclusive(&p).unwrap().is_none());
        drop(held);
        let s = Lock::shared(&p).unwrap();
        assert!(Lock::try_exclusive(&p).unwrap().is_none());
        drop(s);
        assert!(Lock::try_exclusive(&p).unwrap().is_some());
    }
}
