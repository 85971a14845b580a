//! Numeric kernels of pertbench.
//!
//! This crate holds every piece of arithmetic the engine runs: cosine
//! similarities, the consistency and relationship-recall statistics,
//! post-processings, randomized PCA, the random baselines, exact kNN, iLISI,
//! the kNN vote, the linear probes and the expression decoder. It depends on
//! faer, rayon and ndarray only (no dataframe engine), so it compiles and tests
//! quickly. Definitions follow `shared/spec/METRICS.md`.

pub mod baselines;
pub mod bootstrap;
pub mod buffer;
pub mod column_blocks;
pub mod consistency;
pub mod control_reference;
pub mod cosine;
pub mod csr;
pub mod decoder;
pub mod dense;
pub mod discrimination;
pub mod distribution;
pub mod error;
pub mod expression_rows;
pub mod grouping;
pub mod ilisi;
pub mod knn;
pub mod machine;
pub mod multiple_testing;
pub mod parallel;
pub mod pca;
pub mod postprocess;
pub mod ranks;
pub mod recall;
pub mod rewiring;
pub mod rng;
pub mod search;
pub mod silhouette;
pub mod simd;
pub mod softmax;
mod softmax_lbfgs;
pub mod spmm;
pub mod transfer;
pub mod vote;
pub mod work;

pub use error::KernelError;

/// A representation: n samples x d dimensions, row-major, f32.
pub type Matrix = ndarray::Array2<f32>;
