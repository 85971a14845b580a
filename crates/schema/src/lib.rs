//! The one owner of pertbench's results schema. The engine writes result
//! rows through [`ResultRow::to_batch`], the report and the run summary read
//! them through [`ResultRow::from_batches`], the SQL layer registers
//! [`Task`]s and headline variants from here, and a metric node's cached
//! rows use [`MetricRow`]'s codec. Nothing else lists the columns.

mod codec;
pub mod columns;
mod metric_row;
mod result_row;
mod task;

pub use columns::{Column, RESULT_COLUMNS};
pub use metric_row::MetricRow;
pub use result_row::ResultRow;
pub use task::{higher_is_better, Task, HEADLINE_VARIANTS};

/// An error of the row codecs: a column of the wrong type or a batch that
/// does not match its schema.
#[derive(Debug, Clone, PartialEq)]
pub struct SchemaError(pub String);

impl std::fmt::Display for SchemaError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SchemaError {}
