//! The columns of the results table, declared once (in
//! [`crate::result_row`]'s `result_columns!`), listed here for readers that
//! need their names, types and meanings (the SQL layer, the docs).

use arrow::datatypes::{DataType, Field, Schema};

/// The kind of values a column holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    Text,
    Count,
    Real,
    Flag,
}

impl ColumnType {
    pub fn data_type(self) -> DataType {
        match self {
            ColumnType::Text => DataType::Utf8,
            ColumnType::Count => DataType::UInt64,
            ColumnType::Real => DataType::Float64,
            ColumnType::Flag => DataType::Boolean,
        }
    }
}

/// One column of the results table.
#[derive(Debug, Clone, Copy)]
pub struct Column {
    pub name: &'static str,
    pub kind: ColumnType,
    /// Whether a results file may hold nulls in it.
    pub nullable: bool,
    pub doc: &'static str,
}

pub use crate::result_row::RESULT_COLUMNS;

/// The Arrow schema of a results file.
pub fn results_schema() -> Schema {
    Schema::new(
        RESULT_COLUMNS
            .iter()
            .map(|c| Field::new(c.name, c.kind.data_type(), c.nullable))
            .collect::<Vec<_>>(),
    )
}
