//! The pertbench engine: pipelines compile to a DAG of nodes (ingest ->
//! representation -> post-processing -> metric), each cached as Parquet
//! under a content-addressed key; a run computes only missing nodes and
//! writes a long-format results table.

pub mod cell_eval;
pub mod differential_expression;
pub mod error;
pub mod exec;
pub mod metrics;
pub mod pipeline;
pub mod plan;
pub mod representations;
pub mod splits;

pub use error::EngineError;

/// Recorded in every result row.
pub const PERTBENCH_VERSION: &str = env!("CARGO_PKG_VERSION");
