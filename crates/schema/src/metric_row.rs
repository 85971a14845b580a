//! [`MetricRow`]: one number a metric node computes, before the results
//! table adds where it comes from; its codec is the node's cached rows.

use crate::SchemaError;
use arrow::array::{Array, AsArray, Float64Array, RecordBatch, StringArray, UInt64Array};
use arrow::datatypes::{DataType, Field, Float64Type, Schema, UInt64Type};
use std::sync::Arc;

/// One number a metric reports.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricRow {
    pub metric: String,
    /// Sub-population the value is about (a relationship source), if any.
    pub source: Option<String>,
    pub variant: String,
    /// None when the metric is undefined here (e.g. no pair present); the
    /// reason is in `convention`.
    pub value: Option<f64>,
    /// Items the value averages over (perturbations tested, pairs used).
    pub n_items: u64,
    pub null_size: u64,
    pub convention: String,
    /// Seeded bootstrap 95% interval of an aggregate over items (None where
    /// the metric gives none, e.g. a value that is undefined).
    pub ci_low: Option<f64>,
    pub ci_high: Option<f64>,
    /// Mean of the same computation on shuffled labels, and the empirical
    /// p-value (1 + #{null >= value}) / (1 + draws) (None where the metric
    /// has no label-shuffle null).
    pub null_mean: Option<f64>,
    pub p_value: Option<f64>,
}

impl MetricRow {
    pub fn with_interval(mut self, (lo, hi): (f64, f64)) -> Self {
        self.ci_low = Some(lo);
        self.ci_high = Some(hi);
        self
    }
    pub fn with_null(mut self, null_mean: f64, p_value: f64) -> Self {
        self.null_mean = Some(null_mean);
        self.p_value = Some(p_value);
        self
    }
}

impl MetricRow {
    /// The rows as a metric node caches them.
    pub fn to_batch(rows: &[MetricRow]) -> RecordBatch {
        let schema = Schema::new(vec![
            Field::new("metric", DataType::Utf8, false),
            Field::new("source", DataType::Utf8, true),
            Field::new("variant", DataType::Utf8, false),
            Field::new("value", DataType::Float64, true),
            Field::new("n_items", DataType::UInt64, false),
            Field::new("null_size", DataType::UInt64, false),
            Field::new("convention", DataType::Utf8, false),
            Field::new("ci_low", DataType::Float64, true),
            Field::new("ci_high", DataType::Float64, true),
            Field::new("null_mean", DataType::Float64, true),
            Field::new("p_value", DataType::Float64, true),
        ]);
        RecordBatch::try_new(
            Arc::new(schema),
            vec![
                Arc::new(StringArray::from(
                    rows.iter().map(|r| r.metric.clone()).collect::<Vec<_>>(),
                )),
                Arc::new(StringArray::from(
                    rows.iter().map(|r| r.source.clone()).collect::<Vec<_>>(),
                )),
                Arc::new(StringArray::from(
                    rows.iter().map(|r| r.variant.clone()).collect::<Vec<_>>(),
                )),
                Arc::new(Float64Array::from(
                    rows.iter().map(|r| r.value).collect::<Vec<_>>(),
                )),
                Arc::new(UInt64Array::from(
                    rows.iter().map(|r| r.n_items).collect::<Vec<_>>(),
                )),
                Arc::new(UInt64Array::from(
                    rows.iter().map(|r| r.null_size).collect::<Vec<_>>(),
                )),
                Arc::new(StringArray::from(
                    rows.iter()
                        .map(|r| r.convention.clone())
                        .collect::<Vec<_>>(),
                )),
                Arc::new(Float64Array::from(
                    rows.iter().map(|r| r.ci_low).collect::<Vec<_>>(),
                )),
                Arc::new(Float64Array::from(
                    rows.iter().map(|r| r.ci_high).collect::<Vec<_>>(),
                )),
                Arc::new(Float64Array::from(
                    rows.iter().map(|r| r.null_mean).collect::<Vec<_>>(),
                )),
                Arc::new(Float64Array::from(
                    rows.iter().map(|r| r.p_value).collect::<Vec<_>>(),
                )),
            ],
        )
        .expect("schema matches")
    }

    /// A metric node's cached rows (rows cached before intervals and
    /// nulls existed lack them: None).
    pub fn from_batch(b: &RecordBatch) -> Result<Vec<MetricRow>, SchemaError> {
        let get = |n: &str| {
            b.column_by_name(n)
                .ok_or_else(|| SchemaError(format!("metric rows lack `{n}`")))
        };
        let wrong = |n: &str| SchemaError(format!("metric rows: `{n}` has the wrong type"));
        let text = |n: &str| get(n)?.as_string_opt::<i32>().ok_or_else(|| wrong(n));
        let real = |n: &str| {
            get(n)?
                .as_primitive_opt::<Float64Type>()
                .ok_or_else(|| wrong(n))
        };
        let count = |n: &str| {
            get(n)?
                .as_primitive_opt::<UInt64Type>()
                .ok_or_else(|| wrong(n))
        };
        let metric = text("metric")?;
        let source = text("source")?;
        let variant = text("variant")?;
        let value = real("value")?;
        let n_items = count("n_items")?;
        let null_size = count("null_size")?;
        let convention = text("convention")?;
        // Rows cached before intervals and nulls existed lack those columns: None.
        let ci = |n: &str| -> Result<Option<Float64Array>, SchemaError> {
            match b.column_by_name(n) {
                None => Ok(None),
                Some(c) => Ok(Some(
                    c.as_primitive_opt::<Float64Type>()
                        .ok_or_else(|| wrong(n))?
                        .clone(),
                )),
            }
        };
        let (ci_low, ci_high) = (ci("ci_low")?, ci("ci_high")?);
        let (null_mean, p_value) = (ci("null_mean")?, ci("p_value")?);
        let at = |c: &Option<Float64Array>, i: usize| {
            c.as_ref().and_then(|c| c.is_valid(i).then(|| c.value(i)))
        };
        Ok((0..b.num_rows())
            .map(|i| MetricRow {
                metric: metric.value(i).to_string(),
                source: source.is_valid(i).then(|| source.value(i).to_string()),
                variant: variant.value(i).to_string(),
                value: value.is_valid(i).then(|| value.value(i)),
                n_items: n_items.value(i),
                null_size: null_size.value(i),
                convention: convention.value(i).to_string(),
                ci_low: at(&ci_low, i),
                ci_high: at(&ci_high, i),
                null_mean: at(&null_mean, i),
                p_value: at(&p_value, i),
            })
            .collect())
    }
}
