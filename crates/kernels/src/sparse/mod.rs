//! Sparse count matrices and their products: storage (owned or memory-mapped), the column-blocked layout, row and gene-block reads, and sparse x dense products.

pub mod buffer;
pub mod column_blocks;
pub mod csr;
pub mod expression_rows;
pub mod spmm;
