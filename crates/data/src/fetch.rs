//! Resolving a manifest's artefact to a verified local file.
//!
//! Order: the data directory (already verified), then each mirror directory
//! (by file name), then the network (PyPI through `pip download`, a URL
//! through `curl`). Every artefact's sha256 is checked before it is used;
//! every write goes to a temporary file in the destination directory and is
//! renamed into place, so an interrupted fetch never leaves a partial file.

use crate::error::{DataError, Result};
use crate::manifest::{Manifest, Source};
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

#[derive(Debug, Clone)]
pub struct FetchOptions {
    pub mirrors: Vec<PathBuf>,
    /// Where verified artefacts and extracted members are kept.
    pub data_dir: PathBuf,
    pub allow_network: bool,
    /// Accept manifests whose sha256 is `unpinned` (prints the computed hash).
    pub allow_unpinned: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Origin {
    DataDir,
    Mirror(PathBuf),
    Network(String),
}

#[derive(Debug, Clone)]
pub struct Fetched {
    /// The file to read: the artefact, or the member extracted from it.
    pub path: PathBuf,
    pub origin: Origin,
    pub sha256: String,
}

/// sha256 of a file, streamed.
pub fn sha256_file(path: &Path) -> Result<String> {
    let mut h = Sha256::new();
    stream_file(path, |chunk| h.update(chunk))?;
    Ok(hex::encode(h.finalize()))
}

/// Feeds a file to `consume` in 1 MiB chunks.
fn stream_file(path: &Path, mut consume: impl FnMut(&[u8])) -> Result<()> {
    let mut f = File::open(path).map_err(|e| DataError::io(path, e))?;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).map_err(|e| DataError::io(path, e))?;
        if n == 0 {
            return Ok(());
        }
        consume(&buf[..n]);
    }
}

/// (sha256, md5) of a file in one pass.
fn sha256_md5_file(path: &Path) -> Result<(String, String)> {
    use md5::Md5;
    let (mut h, mut m) = (Sha256::new(), Md5::new());
    stream_file(path, |chunk| {
        h.update(chunk);
        m.update(chunk);
    })?;
    Ok((hex::encode(h.finalize()), hex::encode(m.finalize())))
}

fn check(path: &Path, expected: &str, md5: Option<&str>, opts: &FetchOptions) -> Result<String> {
    if let (true, Some(want)) = (expected == "unpinned", md5) {
        let (sha, got) = sha256_md5_file(path)?;
        if !got.eq_ignore_ascii_case(want) {
            return Err(DataError::file(
                path,
                format!("md5 mismatch: the manifest pins {want}, the file hashes to {got}"),
            ));
        }
        eprintln!(
            "{}: md5 verified ({got}); its sha256, to pin in the manifest, is {sha}",
            path.display()
        );
        return Ok(sha);
    }
    let actual = sha256_file(path)?;
    if expected == "unpinned" {
        if !opts.allow_unpinned {
            return Err(DataError::file(
                path,
                format!(
                    "the manifest pins no sha256; this file hashes to {actual}. Re-run with \
                     --allow-unpinned to accept it, or write that hash into the manifest"
                ),
            ));
        }
        eprintln!(
            "warning: {} is unpinned; its sha256 is {actual}",
            path.display()
        );
        return Ok(actual);
    }
    if !actual.eq_ignore_ascii_case(expected) {
        return Err(DataError::Checksum {
            path: path.to_path_buf(),
            expected: expected.to_string(),
            actual,
        });
    }
    Ok(actual)
}

/// Copies `src` to `dst` atomically (temporary file beside `dst`, then rename).
pub fn atomic_copy(src: &Path, dst: &Path) -> Result<()> {
    let mut input = File::open(src).map_err(|e| DataError::io(src, e))?;
    atomic_write_with(dst, |out| std::io::copy(&mut input, out).map(|_| ()))
}

/// Writes `dst` through `fill` into a temporary file, then renames it.
pub fn atomic_write_with(
    dst: &Path,
    fill: impl FnOnce(&mut File) -> std::io::Result<()>,
) -> Result<()> {
    let dir = crate::durable::parent_dir(dst);
    std::fs::create_dir_all(dir).map_err(|e| DataError::io(dir, e))?;
    let mut tmp = tempfile::Builder::new()
        .prefix(&crate::durable::temp_prefix("write"))
        .tempfile_in(dir)
        .map_err(|e| DataError::io(dir, e))?;
    fill(tmp.as_file_mut()).map_err(|e| DataError::io(dst, e))?;
    tmp.as_file_mut()
        .flush()
        .map_err(|e| DataError::io(dst, e))?;
    tmp.as_file()
        .sync_all()
        .map_err(|e| DataError::io(dst, e))?;
    tmp.persist(dst).map_err(|e| DataError::io(dst, e.error))?;
    crate::durable::sync_dir(dir)
}

/// Writes `bytes` to `dst` atomically as a file meant to be shared (a
/// report, a manifest, a pipeline): readable by others (0644), where the
/// temporary file it starts as is private.
pub fn atomic_write_readable(dst: &Path, bytes: &[u8]) -> Result<()> {
    atomic_write_with(dst, |f| {
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            f.set_permissions(std::fs::Permissions::from_mode(0o644))?;
        }
        f.write_all(bytes)
    })
}

/// Writes `dst` through `fill`, given the path of a temporary file beside it
/// (for writers that open files by path, such as HDF5), then renames it. On
/// an error the temporary file is removed.
pub fn atomic_write_at(
    dst: &Path,
    prefix: &str,
    fill: impl FnOnce(&Path) -> Result<()>,
) -> Result<()> {
    let dir = crate::durable::parent_dir(dst);
    let tmp = tempfile::Builder::new()
        .prefix(&crate::durable::temp_prefix(prefix))
        .tempfile_in(dir)
        .map_err(|e| DataError::io(dir, e))?
        .into_temp_path();
    fill(&tmp)?;
    crate::durable::sync_file(&tmp)?;
    tmp.persist(dst).map_err(|e| DataError::io(dst, e.error))?;
    crate::durable::sync_dir(dir)
}

/// A stamp beside a verified file records its hash, size and mtime, so large
/// files are not re-hashed on every run; any change forces a re-hash.
fn stamp_path(p: &Path) -> PathBuf {
    let mut s = p.as_os_str().to_owned();
    s.push(".verified");
    PathBuf::from(s)
}

fn stamp_of(p: &Path, sha: &str) -> Option<String> {
    let md = std::fs::metadata(p).ok()?;
    let mtime = md
        .modified()
        .ok()?
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_nanos();
    Some(format!("{sha} {} {mtime}\n", md.len()))
}

fn verified(p: &Path, expected: &str) -> bool {
    let Ok(stamp) = std::fs::read_to_string(stamp_path(p)) else {
        return false;
    };
    let sha = stamp.split_whitespace().next().unwrap_or("");
    (expected == "unpinned" || sha.eq_ignore_ascii_case(expected))
        && stamp_of(p, sha).as_deref() == Some(stamp.as_str())
}

/// Records that `p` (just written or verified) has sha256 `sha`.
pub fn write_stamp(p: &Path, sha: &str) -> Result<()> {
    if let Some(s) = stamp_of(p, sha) {
        atomic_write_with(&stamp_path(p), |f| f.write_all(s.as_bytes()))?;
    }
    Ok(())
}

/// Resolves the artefact of `m` (and extracts its member, if any).
/// The verified local copy of a dataset's file, when it is already in the
/// data directory (a file source, not a wheel member); None otherwise. Never
/// copies or downloads.
pub fn fetched_path(m: &Manifest, opts: &FetchOptions) -> Option<PathBuf> {
    let Source::File { file, .. } = &m.source else {
        return None;
    };
    let dst =
        crate::durable::join_plain(&opts.data_dir.join("artefacts"), file, "artefact").ok()?;
    (dst.exists() && verified(&dst, &m.sha256)).then_some(dst)
}

pub fn fetch(m: &Manifest, opts: &FetchOptions) -> Result<Fetched> {
    let (file, member) = match &m.source {
        Source::File { file, .. } => (file.clone(), None),
        Source::Pypi { file, member, .. } => (file.clone(), member.clone()),
        Source::Synthetic(_) | Source::SyntheticPlate(_) => {
            return Err(DataError::Other(format!(
                "dataset `{}` is generated, not fetched",
                m.name
            )))
        }
    };
    let store = opts.data_dir.join("artefacts");
    let dst = crate::durable::join_plain(&store, &file, "artefact")?;
    let (origin, sha) = if dst.exists() && verified(&dst, &m.sha256) {
        (Origin::DataDir, m.sha256.clone())
    } else if let Some(src) = opts
        .mirrors
        .iter()
        .map(|d| d.join(&file))
        .find(|p| p.is_file())
    {
        let sha = check(&src, &m.sha256, m.md5.as_deref(), opts)?;
        atomic_copy(&src, &dst)?;
        write_stamp(&dst, &sha)?;
        (Origin::Mirror(src), sha)
    } else if opts.allow_network {
        let (tmp_dir, what) = download(m, &file, &store)?;
        let got = tmp_dir.path().join(&file);
        let sha = check(&got, &m.sha256, m.md5.as_deref(), opts)?;
        atomic_copy(&got, &dst)?;
        write_stamp(&dst, &sha)?;
        (Origin::Network(what), sha)
    } else {
        return Err(DataError::Other(format!(
            "dataset `{}`: `{file}` is in none of the mirror directories ({}) and the network is off",
            m.name,
            opts.mirrors.iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(", ")
        )));
    };
    let path = match member {
        None => dst,
        Some(member) => extract_member(m, &dst, &member, &opts.data_dir)?,
    };
    Ok(Fetched {
        path,
        origin,
        sha256: sha,
    })
}

/// Downloads into a temporary directory in `store` (named for its owner, so
/// a killed download is recovered by a later run).
fn download(m: &Manifest, file: &str, store: &Path) -> Result<(tempfile::TempDir, String)> {
    std::fs::create_dir_all(store).map_err(|e| DataError::write(store, e))?;
    let tmp = tempfile::Builder::new()
        .prefix(&crate::durable::temp_prefix("download"))
        .tempdir_in(store)
        .map_err(|e| DataError::write(store, e))?;
    let (mut cmd, what) = match &m.source {
        Source::Pypi {
            package, version, ..
        } => {
            let spec = format!("{package}=={version}");
            let mut c = Command::new("python3");
            c.args([
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--quiet",
                "--disable-pip-version-check",
            ])
            .arg("--dest")
            .arg(tmp.path())
            .arg(&spec);
            (c, format!("pip download {spec}"))
        }
        Source::File { url: Some(url), .. } => {
            let mut c = Command::new("curl");
            c.args(["-fL", "--retry", "2", "-sS", "-o"])
                .arg(tmp.path().join(file))
                .arg(url);
            (c, url.clone())
        }
        _ => {
            return Err(DataError::Other(format!(
                "dataset `{}`: `{file}` is in no mirror and the manifest gives no URL",
                m.name
            )))
        }
    };
    let out = cmd
        .output()
        .map_err(|e| DataError::Other(format!("dataset `{}`: cannot run `{what}`: {e}", m.name)))?;
    if !out.status.success() {
        return Err(DataError::Other(format!(
            "dataset `{}`: `{what}` failed: {}",
            m.name,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    if !tmp.path().join(file).is_file() {
        return Err(DataError::Other(format!(
            "dataset `{}`: `{what}` did not produce `{file}`",
            m.name
        )));
    }
    Ok((tmp, what))
}

fn extract_member(m: &Manifest, archive: &Path, member: &str, data_dir: &Path) -> Result<PathBuf> {
    let base = Path::new(member)
        .file_name()
        .map(|s| s.to_os_string())
        .unwrap_or_default();
    let dst = data_dir.join("members").join(&m.name).join(base);
    let expected = m.member_sha256.clone().unwrap_or_else(|| "unpinned".into());
    if dst.exists() && verified(&dst, &expected) {
        return Ok(dst);
    }
    let f = File::open(archive).map_err(|e| DataError::io(archive, e))?;
    let mut zip = zip::ZipArchive::new(f)
        .map_err(|e| DataError::file(archive, format!("not a readable zip/wheel: {e}")))?;
    let mut entry = zip
        .by_name(member)
        .map_err(|e| DataError::file(archive, format!("member `{member}`: {e}")))?;
    atomic_write_with(&dst, |out| std::io::copy(&mut entry, out).map(|_| ()))?;
    let sha = sha256_file(&dst)?;
    if let Some(exp) = &m.member_sha256 {
        if !sha.eq_ignore_ascii_case(exp) {
            let _ = std::fs::remove_file(&dst);
            return Err(DataError::Checksum {
                path: dst,
                expected: exp.clone(),
                actual: sha,
            });
        }
    }
    write_stamp(&dst, &sha)?;
    Ok(dst)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::Format;

    fn manifest(file: &str, sha: &str) -> Manifest {
        Manifest {
            name: "t".into(),
            description: String::new(),
            citation: String::new(),
            license: String::new(),
            format: Format::RelationshipPairs,
            source: Source::File {
                file: file.into(),
                url: None,
            },
            sha256: sha.into(),
            md5: None,
            member_sha256: None,
            columns: None,
            size: None,
            values: Default::default(),
            counts: None,
            gene_column: None,
            features: None,
            gene_map: None,
            append: vec![],
            metadata: None,
            genes: None,
        }
    }

    #[test]
    fn mirror_then_data_dir_and_checksum_mismatch() {
        let mirror = tempfile::tempdir().unwrap();
        let data = tempfile::tempdir().unwrap();
        std::fs::write(mirror.path().join("a.txt"), b"entity1,entity2\nA,B\n").unwrap();
        let sha = sha256_file(&mirror.path().join("a.txt")).unwrap();
        let opts = FetchOptions {
            mirrors: vec![mirror.path().into()],
            data_dir: data.path().into(),
            allow_network: false,
            allow_unpinned: false,
        };
        let f = fetch(&manifest("a.txt", &sha), &opts).unwrap();
        assert!(matches!(f.origin, Origin::Mirror(_)));
        let again = fetch(&manifest("a.txt", &sha), &opts).unwrap();
        assert_eq!(again.origin, Origin::DataDir);

        let wrong = "0".repeat(64);
        let e = fetch(&manifest("a.txt", &wrong), &opts)
            .unwrap_err()
            .to_string();
        assert!(e.contains("sha256 mismatch") && e.contains("a.txt"), "{e}");
        // Nothing partial was left behind by the failed fetch.
        let names: Vec<_> = std::fs::read_dir(data.path().join("artefacts"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");

        let e = fetch(&manifest("missing.txt", &sha), &opts)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("missing.txt") && e.contains("network is off"),
            "{e}"
        );
        let e = fetch(
            &manifest("a.txt", "unpinned"),
            &FetchOptions {
                data_dir: tempfile::tempdir().unwrap().path().into(),
                ..opts.clone()
            },
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("--allow-unpinned") && e.contains(&sha), "{e}");
    }

    #[test]
    fn a_publisher_md5_verifies_an_unpinned_file() {
        let mirror = tempfile::tempdir().unwrap();
        std::fs::write(mirror.path().join("a.txt"), b"abc").unwrap();
        let opts = FetchOptions {
            mirrors: vec![mirror.path().into()],
            data_dir: tempfile::tempdir().unwrap().path().into(),
            allow_network: false,
            allow_unpinned: false,
        };
        // md5("abc"), RFC 1321's test vector.
        let mut m = manifest("a.txt", "unpinned");
        m.md5 = Some("900150983cd24fb0d6963f7d28e17f72".into());
        let f = fetch(&m, &opts).unwrap();
        assert_eq!(f.sha256, sha256_file(&mirror.path().join("a.txt")).unwrap());
        m.md5 = Some("0".repeat(32));
        let opts = FetchOptions {
            data_dir: tempfile::tempdir().unwrap().path().into(),
            ..opts
        };
        let e = fetch(&m, &opts).unwrap_err().to_string();
        assert!(
            e.contains("md5 mismatch") && e.contains("900150983cd24fb0d6963f7d28e17f72"),
            "{e}"
        );
    }
}
