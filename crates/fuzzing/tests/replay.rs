//! Replays every fuzz target over its seed corpus, deterministic mutations
//! of each seed, and every input a fuzzer found (`fuzz/regressions/<target>/`):
//! no input may panic or take longer than 10 s. libFuzzer runs of the same
//! targets (`bash scripts/fuzz.sh`) search much further; this keeps what
//! they found fixed and runs in every `cargo test`.

use pertbench_fuzzing::{seeds, Target, TARGETS};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const SLOW: Duration = Duration::from_secs(10);

/// A small deterministic mutator: bit flips, boundary bytes, truncation,
/// repeated and removed spans, spliced ASCII digits.
struct Mutator(u64);

impl Mutator {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn mutate(&mut self, seed: &[u8]) -> Vec<u8> {
        let mut v = seed.to_vec();
        for _ in 0..1 + self.below(4) {
            if v.is_empty() {
                v.push(self.next() as u8);
                continue;
            }
            let at = self.below(v.len());
            match self.below(7) {
                0 => v[at] ^= 1 << self.below(8),
                1 => v[at] = [0u8, 0xff, 0x7f, 0x80, b'-', b'9', b'\n', b':'][self.below(8)],
                2 => v.truncate(at),
                3 => {
                    let end = (at + 1 + self.below(64)).min(v.len());
                    let span = v[at..end].to_vec();
                    v.splice(at..at, span);
                }
                4 => {
                    let end = (at + 1 + self.below(64)).min(v.len());
                    v.drain(at..end);
                }
                5 => {
                    let digits = format!("{}", self.next() % 100_000_000_000);
                    v.splice(at..at, digits.bytes());
                }
                _ => {
                    let k = self.below(v.len());
                    v.swap(at, k);
                }
            }
        }
        v
    }
}

fn repo() -> PathBuf {
    pertbench_fuzzing::repo_root()
}

/// Runs `input` through `t`: Err with what went wrong (a panic, or an input
/// slower than [`SLOW`]), after saving the input for `cargo fuzz run`.
fn check(t: &Target, what: &str, input: &[u8]) -> Result<(), String> {
    // An abort (a signal from C code, a stack overflow) ends the process
    // before it can report: the input in flight is on disk to reproduce.
    let dir = repo().join("target/fuzz-failures").join(t.name);
    let _ = std::fs::create_dir_all(&dir);
    let in_flight =
        dir.join(format!("in-flight-{:?}", std::thread::current().id()).replace(['(', ')'], ""));
    let _ = std::fs::write(&in_flight, input);
    let start = Instant::now();
    let outcome = std::panic::catch_unwind(|| pertbench_fuzzing::run(t.name, input));
    let _ = std::fs::remove_file(&in_flight);
    let took = start.elapsed();
    let failure = match outcome {
        Err(p) => Some(format!(
            "panicked: {}",
            pertbench_data::panics::message(p.as_ref())
        )),
        Ok(()) if took > SLOW => Some(format!("took {took:?}")),
        Ok(()) => None,
    };
    match failure {
        None => Ok(()),
        Some(f) => {
            let file = dir.join(format!("{:016x}", fnv(input)));
            let _ = std::fs::write(&file, input);
            Err(format!(
                "target `{}`, {what}: {f}; input saved to {} (reproduce with `bash scripts/fuzz.sh reproduce {} {}`)",
                t.name,
                file.display(),
                t.name,
                file.display()
            ))
        }
    }
}

fn fnv(b: &[u8]) -> u64 {
    b.iter().fold(0xcbf29ce484222325u64, |h, &x| {
        (h ^ u64::from(x)).wrapping_mul(0x100000001b3)
    })
}

fn regressions(name: &str) -> Vec<(String, Vec<u8>)> {
    let dir = repo().join("fuzz/regressions").join(name);
    let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.path().is_file())
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).expect("a regression input"),
            )
        })
        .collect();
    v.sort();
    v
}

/// Mutations per seed: the targets that read HDF5 or run queries are
/// slower per input, so get fewer.
fn mutations(name: &str) -> usize {
    match name {
        "pipeline" | "manifest" | "npy" | "table" | "h5ad_layout" => 60,
        _ => 12,
    }
}

fn replay(name: &str) {
    let t = pertbench_fuzzing::target(name).expect("a registered target");
    if seeds::venvs().is_none() {
        if std::env::var("PERTBENCH_REQUIRE_VENVS").as_deref() == Ok("1") {
            panic!("the pinned virtual environments are missing: run `bash scripts/venvs.sh`");
        }
        eprintln!("note: no virtual environments (scripts/venvs.sh): seeds from pertbench's own writers only");
    }
    let work = tempfile::tempdir().unwrap();
    let seeds = seeds::seeds(name, work.path()).unwrap_or_else(|e| panic!("{e}"));
    let mut failures = Vec::new();
    let mut ran = 0;
    for (file, bytes) in regressions(name) {
        failures.extend(check(t, &format!("regression {file}"), &bytes).err());
        ran += 1;
    }
    let mut m = Mutator(0x9e3779b97f4a7c15 ^ fnv(name.as_bytes()));
    for (file, bytes) in &seeds {
        failures.extend(check(t, &format!("seed {file}"), bytes).err());
        ran += 1;
        for k in 0..mutations(name) {
            let input = m.mutate(bytes);
            failures.extend(check(t, &format!("mutation {k} of seed {file}"), &input).err());
            ran += 1;
        }
    }
    eprintln!("{name}: {} seeds, {ran} inputs", seeds.len());
    assert!(
        failures.is_empty(),
        "{} of {ran} inputs failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn replay_pipeline() {
    replay("pipeline");
}
#[test]
fn replay_manifest() {
    replay("manifest");
}
#[test]
fn replay_h5ad() {
    replay("h5ad");
}
#[test]
fn replay_h5ad_layout() {
    replay("h5ad_layout");
}
#[test]
fn replay_gctx() {
    replay("gctx");
}
#[test]
fn replay_table() {
    replay("table");
}
#[test]
fn replay_npy() {
    replay("npy");
}
#[test]
fn replay_results() {
    replay("results");
}
#[test]
fn replay_sql() {
    replay("sql");
}

/// Every registered target has a libFuzzer binary in `fuzz/` and a replay
/// test here, and nothing else is there.
#[test]
fn targets_agree_with_fuzz_dir_and_replays() {
    let mut registered: Vec<&str> = TARGETS.iter().map(|t| t.name).collect();
    registered.sort();
    let mut files: Vec<String> = std::fs::read_dir(repo().join("fuzz/fuzz_targets"))
        .unwrap()
        .flatten()
        .map(|e| e.path().file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(registered, files, "fuzz/fuzz_targets/*.rs and TARGETS");
    let manifest = std::fs::read_to_string(repo().join("fuzz/Cargo.toml")).unwrap();
    let this =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/replay.rs"))
            .unwrap();
    for t in registered {
        assert!(
            manifest.contains(&format!("name = \"{t}\"")),
            "fuzz/Cargo.toml lacks [[bin]] {t}"
        );
        assert!(
            this.contains(&format!("fn replay_{t}()")),
            "no replay test for {t}"
        );
        let body =
            std::fs::read_to_string(repo().join(format!("fuzz/fuzz_targets/{t}.rs"))).unwrap();
        assert!(
            body.contains(&format!("pertbench_fuzzing::run(\"{t}\", data)")),
            "fuzz/fuzz_targets/{t}.rs runs another target"
        );
    }
}
