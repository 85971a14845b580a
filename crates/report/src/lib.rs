//! `pertbench report`: one self-contained HTML file from a results
//! directory: the hierarchy table (paper 004's Table 2), per-task bar
//! charts with interval whiskers, known-relationship recall per source,
//! consistency against its null, transfer in-domain versus held-out, and
//! the provenance of every number. What the results lack is said in the
//! report, never drawn as an empty plot.

pub mod charts;
pub mod html;
pub mod rows;
pub mod run_summary;
pub mod stats;
pub mod summary;

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("results: {0}")]
    Results(String),
    #[error("plot: {0}")]
    Plot(String),
}

pub use html::{render, Report};
