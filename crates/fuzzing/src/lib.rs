//! The bodies of pertbench's fuzz targets, one module each under
//! `targets/`, registered once in [`TARGETS`].
//!
//! Each target takes arbitrary bytes and drives one reader or parser of
//! untrusted input the way a user's command does: it may return an error (a
//! clear one is the point), never panic, hang or allocate without bound.
//! `fuzz/` wraps every target for libFuzzer (`bash scripts/fuzz.sh`); the
//! tests of this crate replay their seed corpora ([`seeds`]), mutations of
//! them, and every input a fuzzer ever found (`fuzz/regressions/<target>/`)
//! through the same functions, so a crash once found stays fixed.

pub mod scratch;
pub mod seeds;
pub mod targets;

/// A fuzz target: its name (the file name under `fuzz/fuzz_targets/`), what
/// it drives, and its body.
pub struct Target {
    pub name: &'static str,
    pub drives: &'static str,
    pub run: fn(&[u8]),
}

/// Every target, in one place: `fuzz/Cargo.toml` declares one binary each,
/// and a test checks that the two lists agree.
pub const TARGETS: &[Target] = &[
    Target {
        name: "pipeline",
        drives: "pipeline YAML: parsing, validation and planning (`pertbench plan`)",
        run: targets::pipeline::run,
    },
    Target {
        name: "manifest",
        drives: "data manifest YAML: parsing and validation",
        run: targets::manifest::run,
    },
    Target {
        name: "h5ad",
        drives: "h5ad files, bytes mutated: `inspect` and loading a screen with its embedding",
        run: targets::h5ad::run,
    },
    Target {
        name: "h5ad_layout",
        drives: "h5ad files built from the input: inconsistent groups, dtypes, codes, shapes and sparse arrays",
        run: targets::h5ad_layout::run,
    },
    Target {
        name: "gctx",
        drives: "CMap gctx files: ids, metadata and values",
        run: targets::gctx::run,
    },
    Target {
        name: "table",
        drives: "tables (csv, tsv, gzip, Parquet), GCT text and relationship pair files",
        run: targets::table::run,
    },
    Target {
        name: "npy",
        drives: "NumPy .npy representation files",
        run: targets::npy::run,
    },
    Target {
        name: "results",
        drives: "results Parquet files read by `sql` (verification, footer, schema)",
        run: targets::results::run,
    },
    Target {
        name: "sql",
        drives: "SQL statements through the read-only gate, within its time and memory limits",
        run: targets::sql::run,
    },
];

pub fn target(name: &str) -> Option<&'static Target> {
    TARGETS.iter().find(|t| t.name == name)
}

/// Runs target `name` on `data` as pertbench runs: with its panic hook, so
/// that a third-party reader's panic pertbench contains (and reports as an
/// error) is not a finding, and every other panic is.
pub fn run(name: &str, data: &[u8]) {
    pertbench_data::panics::install_hook();
    let t = target(name).unwrap_or_else(|| panic!("no fuzz target `{name}`"));
    (t.run)(data)
}

/// The repository root (seeds are its own files).
pub fn repo_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}
