//! The pertbench engine: pipelines compile to a DAG of nodes (ingest ->
//! representation -> post-processing -> metric), each cached as Parquet
//! under a content-addressed key; a run computes only missing nodes and
//! writes a long-format results table.

pub mod cache;
pub mod dag;
pub mod error;
pub mod explain;
pub mod metrics;
pub mod nodes;
pub mod pipeline;
pub mod representations;
pub mod results;
pub mod run;
pub mod scheduler;
pub mod splits;
pub mod starter;
pub mod table;

pub use error::EngineError;

/// Recorded in every result row.
pub const PERTBENCH_VERSION: &str = env!("CARGO_PKG_VERSION");
