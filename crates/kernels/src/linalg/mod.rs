//! Dense linear algebra: ndarray <-> faer conversions, SIMD inner loops, cosine similarities and randomized PCA of sparse counts.

pub mod cosine;
pub mod dense;
pub mod pca;
pub mod simd;
