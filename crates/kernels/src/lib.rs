//! Numeric kernels of pertbench.
//!
//! This crate holds every piece of arithmetic the engine runs: cosine
//! similarities, the consistency and relationship-recall statistics,
//! post-processings, randomized PCA and the random baselines. It depends on
//! faer, rayon and ndarray only (no dataframe engine), so it compiles and tests
//! quickly. Definitions follow `shared/spec/METRICS.md`.

pub mod baselines;
pub mod consistency;
pub mod cosine;
pub mod csr;
pub mod dense;
pub mod error;
pub mod grouping;
pub mod pca;
pub mod postprocess;
pub mod recall;
pub mod rng;
pub mod search;

pub use error::KernelError;

/// A representation: n samples x d dimensions, row-major, f32.
pub type Matrix = ndarray::Array2<f32>;
