//! SQL statements through `pertbench sql`'s read-only gate, over the
//! results of a small real run, within tight limits (2 s, 256 MB): a
//! statement may be refused or fail, never write, panic or run unbounded.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

pub(crate) fn limits() -> pertbench_sql::Limits {
    pertbench_sql::Limits {
        timeout: std::time::Duration::from_secs(2),
        memory_bytes: 256 << 20,
    }
}

/// The workdir of a small real run, made once per process, and its files
/// (path and size) after the run.
fn workdir() -> &'static (PathBuf, Vec<(PathBuf, u64)>) {
    static DIR: OnceLock<(PathBuf, Vec<(PathBuf, u64)>)> = OnceLock::new();
    DIR.get_or_init(|| {
        let work = crate::scratch::dir().join("sql-workdir");
        crate::seeds::small_run(&work).expect("the small run whose results the sql target queries");
        let files = files_under(&work);
        (work, files)
    })
}

fn files_under(dir: &Path) -> Vec<(PathBuf, u64)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            match e.file_type() {
                Ok(t) if t.is_dir() => stack.push(p),
                _ => out.push((p, e.metadata().map(|m| m.len()).unwrap_or(0))),
            }
        }
    }
    out.sort();
    out
}

pub fn run(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (work, before) = workdir();
    let _ = pertbench_sql::query_with_limits(&work.join("results"), text, &limits());
    // The gate is read-only: a statement that wrote, removed or grew a
    // file is a finding, as a crash is.
    let after = files_under(work);
    assert!(
        after == *before,
        "the statement changed the workdir: {text:?}"
    );
}
