//! How each kind of column is written and read: its Arrow type, whether the
//! file may hold nulls, and what a reader makes of a null or of a column
//! that an older file lacks (never a guessed value: an empty text, a zero
//! count where the column always existed, or None).

use crate::columns::ColumnType;
use arrow::array::{Array, ArrayRef, BooleanArray, Float64Array, StringArray, UInt64Array};
use arrow::datatypes::DataType;
use std::sync::Arc;

pub trait Codec {
    type Value: Clone + Default;
    const KIND: ColumnType;
    const DATA_TYPE: DataType;
    const NULLABLE: bool;
    fn build(values: Vec<Self::Value>) -> ArrayRef;
    /// Row `i` of a column already cast to [`Self::DATA_TYPE`], or of a
    /// missing column (None).
    fn read(column: Option<&ArrayRef>, i: usize) -> Self::Value;
}

/// Text, never null (a missing column reads as "").
pub struct Text;
/// Text that may be null; "" reads as None.
pub struct OptText;
/// Text written on every row but missing from older files (None then, and
/// for "").
pub struct TextSince;
/// A count on every row (a missing column reads as 0).
pub struct Count;
/// A count written on every row but missing from older files (None then).
pub struct CountSince;
/// A real that may be null; a reader takes NaN and infinities as None.
pub struct Real;
/// A flag written on every row but missing from older files (None then).
pub struct FlagSince;

fn text_at(c: Option<&ArrayRef>, i: usize) -> Option<String> {
    let s = c?.as_any().downcast_ref::<StringArray>()?;
    (!s.is_null(i)).then(|| s.value(i).to_string())
}

impl Codec for Text {
    type Value = String;
    const KIND: ColumnType = ColumnType::Text;
    const DATA_TYPE: DataType = DataType::Utf8;
    const NULLABLE: bool = false;
    fn build(values: Vec<String>) -> ArrayRef {
        Arc::new(StringArray::from(values))
    }
    fn read(c: Option<&ArrayRef>, i: usize) -> String {
        text_at(c, i).unwrap_or_default()
    }
}

impl Codec for OptText {
    type Value = Option<String>;
    const KIND: ColumnType = ColumnType::Text;
    const DATA_TYPE: DataType = DataType::Utf8;
    const NULLABLE: bool = true;
    fn build(values: Vec<Option<String>>) -> ArrayRef {
        Arc::new(StringArray::from(values))
    }
    fn read(c: Option<&ArrayRef>, i: usize) -> Option<String> {
        text_at(c, i).filter(|t| !t.is_empty())
    }
}

impl Codec for TextSince {
    type Value = Option<String>;
    const KIND: ColumnType = ColumnType::Text;
    const DATA_TYPE: DataType = DataType::Utf8;
    const NULLABLE: bool = false;
    fn build(values: Vec<Option<String>>) -> ArrayRef {
        Arc::new(StringArray::from(
            values
                .into_iter()
                .map(Option::unwrap_or_default)
                .collect::<Vec<_>>(),
        ))
    }
    fn read(c: Option<&ArrayRef>, i: usize) -> Option<String> {
        text_at(c, i).filter(|t| !t.is_empty())
    }
}

fn count_at(c: Option<&ArrayRef>, i: usize) -> Option<u64> {
    let a = c?.as_any().downcast_ref::<UInt64Array>()?;
    (!a.is_null(i)).then(|| a.value(i))
}

impl Codec for Count {
    type Value = u64;
    const KIND: ColumnType = ColumnType::Count;
    const DATA_TYPE: DataType = DataType::UInt64;
    const NULLABLE: bool = false;
    fn build(values: Vec<u64>) -> ArrayRef {
        Arc::new(UInt64Array::from(values))
    }
    fn read(c: Option<&ArrayRef>, i: usize) -> u64 {
        count_at(c, i).unwrap_or(0)
    }
}

impl Codec for CountSince {
    type Value = Option<u64>;
    const KIND: ColumnType = ColumnType::Count;
    const DATA_TYPE: DataType = DataType::UInt64;
    const NULLABLE: bool = false;
    fn build(values: Vec<Option<u64>>) -> ArrayRef {
        Arc::new(UInt64Array::from(
            values
                .into_iter()
                .map(Option::unwrap_or_default)
                .collect::<Vec<_>>(),
        ))
    }
    fn read(c: Option<&ArrayRef>, i: usize) -> Option<u64> {
        count_at(c, i)
    }
}

impl Codec for Real {
    type Value = Option<f64>;
    const KIND: ColumnType = ColumnType::Real;
    const DATA_TYPE: DataType = DataType::Float64;
    const NULLABLE: bool = true;
    fn build(values: Vec<Option<f64>>) -> ArrayRef {
        Arc::new(Float64Array::from(values))
    }
    fn read(c: Option<&ArrayRef>, i: usize) -> Option<f64> {
        let a = c?.as_any().downcast_ref::<Float64Array>()?;
        (!a.is_null(i))
            .then(|| a.value(i))
            .filter(|v| v.is_finite())
    }
}

impl Codec for FlagSince {
    type Value = Option<bool>;
    const KIND: ColumnType = ColumnType::Flag;
    const DATA_TYPE: DataType = DataType::Boolean;
    const NULLABLE: bool = false;
    fn build(values: Vec<Option<bool>>) -> ArrayRef {
        Arc::new(BooleanArray::from(
            values
                .into_iter()
                .map(Option::unwrap_or_default)
                .collect::<Vec<_>>(),
        ))
    }
    fn read(c: Option<&ArrayRef>, i: usize) -> Option<bool> {
        let a = c?.as_any().downcast_ref::<BooleanArray>()?;
        (!a.is_null(i)).then(|| a.value(i))
    }
}
