//! [`ResultRow`]: one row of the long-format results table (dataset x
//! representation x post-processing x metric x source x variant x seed),
//! and its codec. The columns are declared once, below.

use crate::codec::{Codec, Count, CountSince, FlagSince, OptText, Real, Text, TextSince};
use crate::columns::Column;
use crate::SchemaError;
use arrow::array::{ArrayRef, RecordBatch};
use arrow::compute::cast;
use std::sync::Arc;

macro_rules! result_columns {
    ($( $(#[doc = $doc:literal])* $name:ident : $codec:ident, )*) => {
        /// One row of the results table. Fields are the columns, in the
        /// order a results file holds them.
        #[derive(Debug, Clone, Default, PartialEq)]
        pub struct ResultRow {
            $( $(#[doc = $doc])* pub $name: <$codec as Codec>::Value, )*
        }

        /// Every column of the results table, in file order.
        pub const RESULT_COLUMNS: &[Column] = &[
            $(Column {
                name: stringify!($name),
                kind: <$codec as Codec>::KIND,
                nullable: <$codec as Codec>::NULLABLE,
                doc: concat!($($doc),*),
            },)*
        ];

        impl ResultRow {
            /// The rows as a batch of the results schema.
            pub fn to_batch(rows: &[ResultRow]) -> Result<RecordBatch, SchemaError> {
                let schema = Arc::new(crate::columns::results_schema());
                let columns: Vec<ArrayRef> = vec![
                    $(<$codec as Codec>::build(rows.iter().map(|r| r.$name.clone()).collect()),)*
                ];
                RecordBatch::try_new(schema, columns)
                    .map_err(|e| SchemaError(format!("results batch: {e}")))
            }

            /// The rows of result batches (a results file's, or a query's
            /// over several files). A column an older file lacks reads as
            /// its codec says (None, never a guess); a column of a type that
            /// cannot be cast is an error naming it.
            pub fn from_batches(batches: &[RecordBatch]) -> Result<Vec<ResultRow>, SchemaError> {
                let mut rows = Vec::new();
                for b in batches {
                    $(
                        let $name: Option<ArrayRef> = match b.column_by_name(stringify!($name)) {
                            None => None,
                            Some(c) => Some(cast(c, &<$codec as Codec>::DATA_TYPE).map_err(|e| {
                                SchemaError(format!("column `{}`: {e}", stringify!($name)))
                            })?),
                        };
                    )*
                    for i in 0..b.num_rows() {
                        rows.push(ResultRow {
                            $($name: <$codec as Codec>::read($name.as_ref(), i),)*
                        });
                    }
                }
                Ok(rows)
            }
        }
    };
}

result_columns! {
    /// The pipeline's name.
    pipeline: Text,
    dataset: Text,
    /// The representation's name in the pipeline.
    representation: Text,
    postprocessing: Text,
    /// Paper 004's task ("3 perturbation consistency"), or the metric's
    /// family beyond the six tasks ([`crate::Task::title`]); None in files
    /// written before results carried it.
    task: TextSince,
    /// The metric's name in the pipeline (its kind by default).
    metric: Text,
    /// The sub-population a value is about (a relationship source, a
    /// predictor), if any.
    source: OptText,
    /// Which number of the metric (`top1`, `fraction_significant`).
    variant: Text,
    seed: Count,
    /// None where the metric is undefined (the reason is in `convention`).
    value: Real,
    /// Seeded bootstrap 95% interval, where the metric gives one.
    ci_low: Real,
    ci_high: Real,
    /// Mean of the label-shuffle null, and the empirical p-value.
    null_mean: Real,
    p_value: Real,
    /// Items the value averages over (perturbations, pairs, queries).
    n_items: CountSince,
    /// Draws of the null.
    null_size: CountSince,
    /// Whether a larger value is better ([`crate::higher_is_better`]); None
    /// in files written before results carried it.
    higher_is_better: FlagSince,
    /// How the value was computed: every convention and count it depends on.
    convention: Text,
    /// Batches a post-processing excluded (a batch without controls).
    excluded_batches: Text,
    /// Cache keys of the metric, representation and post-processing nodes.
    metric_key: Text,
    representation_key: Text,
    postprocess_key: Text,
    pertbench_version: Text,
    computed_at: Text,
    /// The representation's key without its seed: seeds of one definition
    /// share it ("" in files written before it existed).
    representation_definition: Text,
    /// The metric node's key without its seed.
    metric_definition: Text,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_round_trip_and_missing_columns_read_as_absent() {
        let row = ResultRow {
            pipeline: "p".into(),
            task: Some("4 kNN organisation".into()),
            source: Some("corum".into()),
            variant: "top1".into(),
            seed: 3,
            value: Some(0.5),
            n_items: Some(10),
            null_size: Some(0),
            higher_is_better: Some(true),
            ..Default::default()
        };
        let b = ResultRow::to_batch(std::slice::from_ref(&row)).unwrap();
        assert_eq!(b.num_columns(), RESULT_COLUMNS.len());
        assert_eq!(ResultRow::from_batches(&[b.clone()]).unwrap(), vec![row]);
        // An older file without `task` and `higher_is_better`.
        let keep: Vec<usize> = (0..b.num_columns())
            .filter(|&i| {
                !["task", "higher_is_better"].contains(&b.schema().field(i).name().as_str())
            })
            .collect();
        let old = b.project(&keep).unwrap();
        let r = &ResultRow::from_batches(&[old]).unwrap()[0];
        assert_eq!((r.task.clone(), r.higher_is_better), (None, None));
        assert_eq!(r.seed, 3);
    }
}
