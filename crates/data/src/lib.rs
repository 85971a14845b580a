//! Data manifests, fetching, and ingestion for pertbench.
//!
//! Everything that turns files (h5ad, Parquet, CSV, npy, relationship pair
//! files) or the built-in synthetic screen into the canonical data model of
//! METRICS.md: a samples table, an optional CSR count matrix and
//! representation matrices.

pub mod bench_screen;
pub mod cmap;
pub mod count_cache;
pub mod count_values;
pub mod dataset;
pub mod durable;
pub mod error;
pub mod fetch;
pub mod gct;
pub mod gctx;
pub mod h5ad;
pub mod h5ad_writer;
pub mod hdf5_values;
pub mod inspect;
pub mod manifest;
pub mod manifest_doc;
pub mod npy;
pub mod panics;
pub mod predictions;
pub mod relationships;
pub mod row_blocks;
pub mod samples;
pub mod synthetic;
pub mod synthetic_plate;
pub mod tabular;
pub mod yaml;

pub use error::DataError;
