//! Running a plan: the scheduler computes or reuses each node, the cache
//! stores node outputs under their keys, and the results table is built from
//! the metric nodes' rows.
//!
//! - [`scheduler`]: runs a [`crate::plan::Dag`] level by level (or one node
//!   at a time for benchmarks), reporting each node to an
//!   [`observer::Observer`] (progress and timings are the caller's to show).
//! - [`cache`]: the content-addressed node store (verify, lock, commit).
//! - [`outputs`]: what each node kind holds in memory and on disk.
//! - [`table`]: the Arrow/Parquet codecs of node outputs.
//! - [`results`]: the long-format results table of a run.
//! - [`run`]: a whole pipeline run (plan, execute, write results).

pub mod cache;
pub mod observer;
pub mod outputs;
pub mod results;
pub mod run;
pub mod scheduler;
pub mod table;
