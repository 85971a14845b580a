//! Arrow record batches <-> Parquet files, and the engine's tables: samples,
//! CSR counts, genes and representation matrices.

use crate::error::{EngineError, Result};
#[cfg(test)]
use arrow::array::Float32Array;
use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Float64Array, RecordBatch, StringArray, UInt32Array,
};
use arrow::datatypes::{DataType, Field, Float32Type, Float64Type, Schema, UInt32Type};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use pertbench_data::samples::Samples;
use pertbench_kernels::sparse::csr::CsrMatrix;
use pertbench_kernels::Matrix;
use std::path::Path;
use std::sync::Arc;

/// Writes a batch to `path` directly (callers commit whole directories atomically).
pub fn write_parquet(path: &Path, batch: &RecordBatch) -> Result<()> {
    write_batches(path, batch.schema(), std::iter::once(batch.clone()))
}

/// Writes batches one after another into one Parquet file, then syncs it.
fn write_batches(
    path: &Path,
    schema: arrow::datatypes::SchemaRef,
    batches: impl Iterator<Item = RecordBatch>,
) -> Result<()> {
    let err = |e: &dyn std::fmt::Display| EngineError::msg(format!("{}: {e}", path.display()));
    let f = std::fs::File::create(path).map_err(|e| err(&e))?;
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .build();
    let mut w = ArrowWriter::try_new(f, schema, Some(props)).map_err(|e| err(&e))?;
    for batch in batches {
        w.write(&batch).map_err(|e| err(&e))?;
    }
    let f = w.into_inner().map_err(|e| err(&e))?;
    f.sync_all().map_err(|e| err(&e))?;
    Ok(())
}

/// Writes a batch atomically: temporary file beside `path`, then rename.
pub fn write_parquet_atomic(path: &Path, batch: &RecordBatch) -> Result<()> {
    let dir = pertbench_data::durable::parent_dir(path);
    std::fs::create_dir_all(dir)
        .map_err(|e| EngineError::msg(format!("{}: {e}", dir.display())))?;
    let tmp = tempfile::Builder::new()
        .prefix(&pertbench_data::durable::temp_prefix("parquet"))
        .tempfile_in(dir)
        .map_err(|e| EngineError::msg(format!("{}: {e}", dir.display())))?;
    write_parquet(tmp.path(), batch)?;
    pertbench_data::durable::sync_file(tmp.path())?;
    tmp.persist(path)
        .map_err(|e| EngineError::msg(format!("{}: {}", path.display(), e.error)))?;
    pertbench_data::durable::sync_dir(dir)?;
    Ok(())
}

/// [`write_parquet_atomic`], then its checksum beside it
/// (`.<name>.sha256`), which readers of results verify; both under the
/// file's exclusive pair lock (`durable::pair_lock_path`), so that
/// concurrent runs of one pipeline leave a file and its own checksum.
pub fn write_checksummed_parquet(path: &Path, batch: &RecordBatch) -> Result<()> {
    // Taking the lock creates the directory, as writing the file would.
    let _pair =
        pertbench_data::durable::Lock::exclusive(&pertbench_data::durable::pair_lock_path(path))?;
    write_parquet_atomic(path, batch)?;
    pertbench_data::durable::write_checksum(path)?;
    Ok(())
}

/// Reads every batch of a Parquet file and concatenates them.
pub fn read_parquet(path: &Path) -> Result<RecordBatch> {
    let err = |e: &dyn std::fmt::Display| {
        EngineError::msg(format!(
            "{}: not a readable Parquet file: {e}",
            path.display()
        ))
    };
    let f = std::fs::File::open(path).map_err(|e| err(&e))?;
    let b = ParquetRecordBatchReaderBuilder::try_new(f).map_err(|e| err(&e))?;
    let schema = b.schema().clone();
    let reader = b.with_batch_size(65536).build().map_err(|e| err(&e))?;
    let batches: Vec<RecordBatch> = reader
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| err(&e))?;
    arrow::compute::concat_batches(&schema, &batches).map_err(|e| err(&e))
}

fn col<'a>(b: &'a RecordBatch, name: &str) -> Result<&'a ArrayRef> {
    b.column_by_name(name)
        .ok_or_else(|| EngineError::msg(format!("table has no column `{name}`")))
}

/// The samples table; `context` is a column only when the samples have one.
pub fn samples_to_batch(s: &Samples, source_rows: &[usize]) -> RecordBatch {
    let mut fields = vec![
        Field::new("sample_id", DataType::Utf8, false),
        Field::new("perturbation", DataType::Utf8, false),
        Field::new("batch", DataType::Utf8, false),
        Field::new("is_control", DataType::Boolean, false),
        Field::new("source_row", DataType::UInt32, false),
    ];
    let mut arrays: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(s.sample_id.clone())),
        Arc::new(StringArray::from(s.perturbation.clone())),
        Arc::new(StringArray::from(s.batch.clone())),
        Arc::new(BooleanArray::from(s.is_control.clone())),
        Arc::new(UInt32Array::from(
            source_rows.iter().map(|&r| r as u32).collect::<Vec<_>>(),
        )),
    ];
    if let Some(c) = &s.context {
        fields.push(Field::new("context", DataType::Utf8, false));
        arrays.push(Arc::new(StringArray::from(c.clone())));
    }
    if let Some(g) = &s.split_group {
        fields.push(Field::new("split_group", DataType::Utf8, false));
        arrays.push(Arc::new(StringArray::from(g.clone())));
    }
    if let Some(a) = &s.annotation {
        fields.push(Field::new("annotation", DataType::Utf8, true));
        arrays.push(Arc::new(StringArray::from(a.clone())));
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays).expect("schema matches")
}

fn strings(b: &RecordBatch, name: &str) -> Result<Vec<String>> {
    Ok(col(b, name)?
        .as_string::<i32>()
        .iter()
        .map(|v| v.unwrap_or_default().to_string())
        .collect())
}

pub fn batch_to_samples(b: &RecordBatch) -> Result<(Samples, Vec<usize>)> {
    let s = Samples {
        sample_id: strings(b, "sample_id")?,
        perturbation: strings(b, "perturbation")?,
        batch: strings(b, "batch")?,
        is_control: col(b, "is_control")?
            .as_boolean()
            .iter()
            .map(|v| v.unwrap_or(false))
            .collect(),
        context: match b.column_by_name("context") {
            Some(_) => Some(strings(b, "context")?),
            None => None,
        },
        split_group: match b.column_by_name("split_group") {
            Some(_) => Some(strings(b, "split_group")?),
            None => None,
        },
        annotation: match b.column_by_name("annotation") {
            Some(_) => Some(
                col(b, "annotation")?
                    .as_string::<i32>()
                    .iter()
                    .map(|v| v.map(str::to_string))
                    .collect(),
            ),
            None => None,
        },
    };
    let rows = col(b, "source_row")?
        .as_primitive::<UInt32Type>()
        .values()
        .iter()
        .map(|&r| r as usize)
        .collect();
    Ok((s, rows))
}

/// CSR counts as (row, col, value) triplets sorted by row.
#[cfg(test)]
fn csr_schema() -> Arc<Schema> {
    Arc::new(Schema::new(vec![
        Field::new("row", DataType::UInt32, false),
        Field::new("col", DataType::UInt32, false),
        Field::new("value", DataType::Float32, false),
    ]))
}

/// Counts in coordinate form (`row`, `col`, `value`), row-major, written in
/// batches of rows: how caches before the memory-mapped count cache stored
/// counts (kept to test that they still read).
#[cfg(test)]
fn write_csr_batched(path: &Path, m: &CsrMatrix, batch_nnz: usize) -> Result<()> {
    let mut r0 = 0;
    let batches = std::iter::from_fn(|| {
        if r0 >= m.nrows {
            return None;
        }
        // At least one row per batch, more while they fit.
        let start = m.indptr()[r0] as usize;
        let mut r1 = r0 + 1;
        while r1 < m.nrows && (m.indptr()[r1 + 1] as usize - start) <= batch_nnz {
            r1 += 1;
        }
        let end = m.indptr()[r1] as usize;
        let mut rows = Vec::with_capacity(end - start);
        for i in r0..r1 {
            rows.extend(std::iter::repeat_n(
                i as u32,
                (m.indptr()[i + 1] - m.indptr()[i]) as usize,
            ));
        }
        r0 = r1;
        Some(
            RecordBatch::try_new(
                csr_schema(),
                vec![
                    Arc::new(UInt32Array::from(rows)),
                    Arc::new(UInt32Array::from(
                        (start..end)
                            .map(|p| m.indices().get(p) as u32)
                            .collect::<Vec<_>>(),
                    )),
                    Arc::new(Float32Array::from(m.data()[start..end].to_vec())),
                ],
            )
            .expect("schema matches"),
        )
    });
    write_batches(path, csr_schema(), batches)
}

/// Reads counts written by [`write_csr_parquet`] batch by batch into CSR
/// (rows must be non-decreasing), holding one batch at a time.
pub fn read_csr_parquet(path: &Path, nrows: usize, ncols: usize) -> Result<CsrMatrix> {
    let err = |e: &dyn std::fmt::Display| {
        EngineError::msg(format!(
            "{}: not a readable counts file: {e}",
            path.display()
        ))
    };
    let f = std::fs::File::open(path).map_err(|e| err(&e))?;
    let b = ParquetRecordBatchReaderBuilder::try_new(f).map_err(|e| err(&e))?;
    let total = b.metadata().file_metadata().num_rows().max(0) as usize;
    let reader = b.with_batch_size(1 << 20).build().map_err(|e| err(&e))?;
    let mut indptr = vec![0u64; nrows + 1];
    let mut indices = Vec::with_capacity(total);
    let mut data = Vec::with_capacity(total);
    let mut last = 0usize;
    for batch in reader {
        let batch = batch.map_err(|e| err(&e))?;
        let rows = col(&batch, "row")?.as_primitive::<UInt32Type>();
        for r in rows.values() {
            let r = *r as usize;
            if r >= nrows || r < last {
                return Err(err(&format!(
                    "counts row {r} is out of order or beyond {nrows} samples"
                )));
            }
            last = r;
            indptr[r + 1] += 1;
        }
        indices.extend_from_slice(col(&batch, "col")?.as_primitive::<UInt32Type>().values());
        data.extend_from_slice(col(&batch, "value")?.as_primitive::<Float32Type>().values());
    }
    for i in 0..nrows {
        indptr[i + 1] += indptr[i];
    }
    CsrMatrix::new(nrows, ncols, indptr, indices, data)
        .map_err(|e| EngineError::msg(format!("cached counts: {e}")))
}

pub fn genes_to_batch(genes: &[String], expression_mean: &[f64]) -> RecordBatch {
    let schema = Schema::new(vec![
        Field::new("gene", DataType::Utf8, false),
        Field::new("expression_mean", DataType::Float64, false),
    ]);
    RecordBatch::try_new(
        Arc::new(schema),
        vec![
            Arc::new(StringArray::from(genes.to_vec())),
            Arc::new(Float64Array::from(expression_mean.to_vec())),
        ],
    )
    .expect("schema matches")
}

pub fn batch_to_genes(b: &RecordBatch) -> Result<(Vec<String>, Vec<f64>)> {
    Ok((
        strings(b, "gene")?,
        col(b, "expression_mean")?
            .as_primitive::<Float64Type>()
            .values()
            .to_vec(),
    ))
}

/// A matrix output's sample rows (the matrix itself goes to `.npy`).
pub fn rows_to_batch(rows: &[usize]) -> RecordBatch {
    let schema = Schema::new(vec![Field::new("row", DataType::UInt32, false)]);
    RecordBatch::try_new(
        Arc::new(schema),
        vec![Arc::new(UInt32Array::from(
            rows.iter().map(|&r| r as u32).collect::<Vec<_>>(),
        ))],
    )
    .expect("schema matches")
}

pub fn batch_to_rows(b: &RecordBatch) -> Result<Vec<usize>> {
    Ok(col(b, "row")?
        .as_primitive::<UInt32Type>()
        .values()
        .iter()
        .map(|&r| r as usize)
        .collect())
}

/// A matrix and its rows from the Parquet layout of caches written before
/// matrices went to `.npy` (a `row` column, then `c0`, `c1`, ...).
pub fn batch_to_matrix(b: &RecordBatch) -> Result<(Matrix, Vec<usize>)> {
    let rows: Vec<usize> = col(b, "row")?
        .as_primitive::<UInt32Type>()
        .values()
        .iter()
        .map(|&r| r as usize)
        .collect();
    let d = b.num_columns() - 1;
    let mut m = Matrix::zeros((rows.len(), d));
    for j in 0..d {
        let c = col(b, &format!("c{j}"))?.as_primitive::<Float32Type>();
        if c.null_count() > 0 {
            return Err(EngineError::msg(format!("column c{j} has missing values")));
        }
        for (i, v) in c.values().iter().enumerate() {
            m[(i, j)] = *v;
        }
    }
    Ok((m, rows))
}

/// Splits in long form: `row` (index into the samples table) and `split`.
pub fn splits_to_batch(sp: &crate::splits::SplitOut) -> RecordBatch {
    use crate::splits::SplitName;
    let mut rows = vec![];
    let mut names = vec![];
    for name in [SplitName::Train, SplitName::TestSeen, SplitName::TestUnseen] {
        for &r in sp.rows(name) {
            rows.push(r as u32);
            names.push(name.as_str());
        }
    }
    let schema = Schema::new(vec![
        Field::new("row", DataType::UInt32, false),
        Field::new("split", DataType::Utf8, false),
    ]);
    RecordBatch::try_new(
        Arc::new(schema),
        vec![
            Arc::new(UInt32Array::from(rows)),
            Arc::new(StringArray::from(names)),
        ],
    )
    .expect("schema matches")
}

pub fn batch_to_splits(b: &RecordBatch) -> Result<crate::splits::SplitOut> {
    use crate::splits::SplitName;
    let rows = col(b, "row")?
        .as_primitive::<UInt32Type>()
        .values()
        .to_vec();
    let names = strings(b, "split")?;
    let mut sp = crate::splits::SplitOut::default();
    for (r, n) in rows.into_iter().zip(names) {
        match SplitName::parse(&n) {
            Some(SplitName::Train) => sp.train.push(r as usize),
            Some(SplitName::TestSeen) => sp.test_seen.push(r as usize),
            Some(SplitName::TestUnseen) => sp.test_unseen.push(r as usize),
            None => return Err(EngineError::msg(format!("unknown split `{n}`"))),
        }
    }
    Ok(sp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_results_file_and_its_checksum_are_replaced_under_their_pair_lock() {
        // While another process holds the pair lock (verifying, or writing
        // its own pair), a writer waits: two runs of one pipeline cannot
        // leave one's file beside the other's checksum (seen in a CLI test
        // with three concurrent runs before the lock).
        use pertbench_data::durable::{pair_lock_path, verify_checksum, Checked, Lock};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.parquet");
        let schema = Arc::new(Schema::new(vec![Field::new("x", DataType::Float64, false)]));
        let batch = RecordBatch::try_new(
            schema,
            vec![Arc::new(Float64Array::from(vec![1.0, 2.0])) as ArrayRef],
        )
        .unwrap();
        let held = Lock::exclusive(&pair_lock_path(&path)).unwrap();
        std::thread::scope(|s| {
            let writer = s.spawn(|| write_checksummed_parquet(&path, &batch));
            std::thread::sleep(std::time::Duration::from_millis(300));
            assert!(!path.exists(), "the writer did not wait for the lock");
            drop(held);
            writer.join().unwrap().unwrap();
        });
        assert_eq!(verify_checksum(&path), Checked::Verified);
    }

    #[test]
    fn samples_round_trip_with_and_without_context() {
        let mut s = Samples {
            sample_id: vec!["a".into(), "b".into()],
            perturbation: vec!["NT".into(), "G1".into()],
            batch: vec!["r1".into(), "r2".into()],
            is_control: vec![true, false],
            context: None,
            split_group: None,
            annotation: None,
        };
        let (back, rows) = batch_to_samples(&samples_to_batch(&s, &[3, 7])).unwrap();
        assert_eq!((back, rows), (s.clone(), vec![3, 7]));
        s.context = Some(vec!["K562".into(), "HeLa".into()]);
        let (back, _) = batch_to_samples(&samples_to_batch(&s, &[3, 7])).unwrap();
        assert_eq!(back, s);
        s.split_group = Some(vec!["A01".into(), "B02".into()]);
        let (back, _) = batch_to_samples(&samples_to_batch(&s, &[3, 7])).unwrap();
        assert_eq!(back, s);
        s.annotation = Some(vec![None, Some("MEK|ERK".into())]);
        let (back, _) = batch_to_samples(&samples_to_batch(&s, &[3, 7])).unwrap();
        assert_eq!(back, s);
    }

    /// The Parquet layout matrices had before `.npy`.
    fn matrix_to_batch(m: &Matrix, rows: &[usize]) -> RecordBatch {
        let mut fields = vec![Field::new("row", DataType::UInt32, false)];
        let mut cols: Vec<ArrayRef> = vec![Arc::new(UInt32Array::from(
            rows.iter().map(|&r| r as u32).collect::<Vec<_>>(),
        ))];
        for j in 0..m.ncols() {
            fields.push(Field::new(format!("c{j}"), DataType::Float32, false));
            cols.push(Arc::new(Float32Array::from(m.column(j).to_vec())));
        }
        RecordBatch::try_new(Arc::new(Schema::new(fields)), cols).expect("schema matches")
    }

    #[test]
    fn legacy_matrix_tables_and_row_lists_read_back() {
        let m = Matrix::from_shape_fn((3, 2), |(i, j)| (i * 2 + j) as f32 - 1.5);
        let (back, rows) = batch_to_matrix(&matrix_to_batch(&m, &[4, 0, 9])).unwrap();
        assert_eq!((back, rows), (m, vec![4, 0, 9]));
        assert_eq!(
            batch_to_rows(&rows_to_batch(&[4, 0, 9])).unwrap(),
            vec![4, 0, 9]
        );
    }

    #[test]
    fn counts_round_trip_in_several_batches() {
        // Rows with 2, 0, 3 and 1 non-zeros; batches of at most 3 non-zeros.
        let m = CsrMatrix::new(
            4,
            5,
            vec![0, 2, 2, 5, 6],
            vec![0, 4, 1, 2, 3, 0],
            vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
        )
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.parquet");
        write_csr_batched(&p, &m, 3).unwrap();
        let meta =
            ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&p).unwrap()).unwrap();
        assert!(meta.metadata().num_row_groups() >= 1);
        assert_eq!(read_csr_parquet(&p, 4, 5).unwrap(), m);
        // A file whose rows go backwards is refused, not silently misread.
        let bad = CsrMatrix::new(2, 2, vec![0, 1, 2], vec![0, 1], vec![1.0, 2.0]).unwrap();
        write_csr_batched(&p, &bad, 1).unwrap();
        let e = read_csr_parquet(&p, 1, 2).unwrap_err().to_string();
        assert!(e.contains("out of order or beyond 1 samples"), "{e}");
    }
}
