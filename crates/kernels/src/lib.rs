//! Numeric kernels of pertbench.
//!
//! This crate holds every piece of arithmetic the engine runs: cosine
//! similarities, the consistency and relationship-recall statistics,
//! post-processings, randomized PCA, the random baselines, exact kNN, iLISI,
//! the kNN vote, the linear probes and the expression decoder. It depends on
//! faer, rayon and ndarray only (no dataframe engine), so it compiles and tests
//! quickly. Definitions follow `shared/spec/METRICS.md`.
//!
//! Modules by layer, each using only the layers listed before it (a test,
//! `layers_use_only_the_layers_before_them`, checks the sources):
//! - [`runtime`]: threads, measured machine peak, memory, counted work;
//! - [`sparse`]: count matrices (owned or memory-mapped) and their products;
//! - [`stats`]: random streams, bootstrap, ranks, multiple testing,
//!   distribution distances;
//! - [`linalg`]: dense conversions, SIMD loops, cosine similarities, PCA;
//! - [`neighbours`]: exact kNN;
//! - [`models`]: the softmax probe and the random / shuffled baselines;
//! - [`postprocess`]: raw, centre, centre-scale, TVN;
//! - [`tasks`]: the arithmetic of each task and probe.

pub mod error;
pub mod linalg;
pub mod models;
pub mod neighbours;
pub mod postprocess;
pub mod runtime;
pub mod sparse;
pub mod stats;
pub mod tasks;

pub use error::KernelError;
/// How a heavy kernel runs its own loops: `Par::Seq` on the calling
/// thread, `Par::Rayon(_)` on rayon's pool (faer's type, re-exported so
/// callers need not depend on faer). Results do not depend on it.
pub use faer::Par;

/// A representation: n samples x d dimensions, row-major, f32.
pub type Matrix = ndarray::Array2<f32>;

#[cfg(test)]
mod layer_tests {
    /// The layers in order; a module may use only the layers before its own.
    const LAYERS: [&str; 8] = [
        "runtime",
        "sparse",
        "stats",
        "linalg",
        "neighbours",
        "models",
        "postprocess",
        "tasks",
    ];

    /// The source files under `dir`, folders included.
    fn sources(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                out.extend(sources(&path));
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
        out
    }

    #[test]
    fn layers_use_only_the_layers_before_them() {
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut checked = 0;
        for (rank, layer) in LAYERS.iter().enumerate() {
            for path in sources(&src.join(layer)) {
                let text = std::fs::read_to_string(&path).unwrap();
                // Tests may use anything.
                let code = text.split("#[cfg(test)]").next().unwrap();
                for (later, other) in LAYERS.iter().enumerate().skip(rank + 1) {
                    assert!(
                        !code.contains(&format!("crate::{other}::")),
                        "{} ({layer}, layer {rank}) uses {other} (layer {later})",
                        path.display()
                    );
                }
                checked += 1;
            }
        }
        assert!(checked > 30, "{checked} files");
    }
}
