//! A scratch directory per process, reused by every input (a fuzzer runs
//! thousands per second), on tmpfs when the machine has one. Statics are
//! never dropped, so each process names its directory by its pid and
//! removes those of processes that have gone.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

static DIR: OnceLock<PathBuf> = OnceLock::new();
const PREFIX: &str = "pertbench-fuzz-";

fn base() -> PathBuf {
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    }
}

fn alive(pid: u32) -> bool {
    Path::new("/proc").join(pid.to_string()).exists()
}

pub fn dir() -> &'static Path {
    DIR.get_or_init(|| {
        let base = base();
        for e in std::fs::read_dir(&base).into_iter().flatten().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some(pid) = name
                .strip_prefix(PREFIX)
                .and_then(|p| p.parse::<u32>().ok())
            {
                if !alive(pid) {
                    let _ = std::fs::remove_dir_all(e.path());
                }
            }
        }
        let d = base.join(format!("{PREFIX}{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).expect("a scratch directory for the fuzz target");
        d
    })
}

std::thread_local! {
    static THREAD: usize = {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    };
}

/// A fresh, empty subdirectory `name` of the scratch directory, this
/// thread's own (tests replay targets on several threads).
pub fn fresh(name: &str) -> PathBuf {
    let d = dir().join(format!("{name}-t{}", THREAD.with(|t| *t)));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("a scratch subdirectory");
    d
}

/// Writes `bytes` to `dir/name` and returns its path.
pub fn file(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).expect("a scratch file");
    p
}
