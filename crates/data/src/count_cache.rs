//! The on-disk count cache: a CSR matrix as three raw little-endian arrays
//! that later passes memory-map instead of loading.
//!
//! A cache is a directory holding
//!
//! - `indptr.u64`: nrows + 1 row offsets;
//! - `indices.u16` or `indices.u32`: column indices in the narrowest type
//!   that fits the number of columns;
//! - `values.f32`: the values;
//! - `counts.json`: shape, non-zeros and index width, written last.
//!
//! [`CountCacheWriter`] takes rows in order (a block at a time, so memory is
//! bounded by the block), checks each one, and writes into a temporary
//! sibling directory that is renamed into place only when every file has
//! been flushed and synced. An error (an index out of range, a NaN, a full
//! disk) or a writer dropped before [`CountCacheWriter::finish`] removes the
//! temporary directory: a cache directory exists whole or not at all.

use crate::error::{DataError, Result};
use memmap2::{Mmap, UncheckedAdvice};
use pertbench_kernels::sparse::buffer::{as_bytes, Buf, MappedBytes, SharedBytes};
use pertbench_kernels::sparse::csr::{ColumnIndex, CsrMatrix, Indices};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

const META: &str = "counts.json";
const FORMAT: &str = "pertbench-counts";
const VERSION: u64 = 1;
const WRITE_BUFFER: usize = 1 << 20;

/// Opens one output file of a cache (a hook so tests can simulate a full disk).
pub type OpenSink = dyn Fn(&Path) -> std::io::Result<Box<dyn Write + Send>>;

fn open_file(p: &Path) -> std::io::Result<Box<dyn Write + Send>> {
    Ok(Box::new(File::create(p)?))
}

struct Sink {
    path: PathBuf,
    out: BufWriter<Box<dyn Write + Send>>,
}

impl Sink {
    fn new(path: PathBuf, open: &OpenSink) -> Result<Sink> {
        let f = open(&path).map_err(|e| DataError::write(&path, e))?;
        Ok(Sink {
            out: BufWriter::with_capacity(WRITE_BUFFER, f),
            path,
        })
    }
    fn put(&mut self, bytes: &[u8]) -> Result<()> {
        self.out
            .write_all(bytes)
            .map_err(|e| DataError::write(&self.path, e))
    }
    fn close(self) -> Result<()> {
        let path = self.path;
        let mut f = self
            .out
            .into_inner()
            .map_err(|e| DataError::write(&path, e.into_error()))?;
        f.flush().map_err(|e| DataError::write(&path, e))?;
        drop(f);
        // Sync through a fresh handle: the sink may be any writer.
        File::open(&path)
            .and_then(|f| f.sync_all())
            .map_err(|e| DataError::write(&path, e))
    }
}

/// Facts about a written cache.
#[derive(Debug, Clone, PartialEq)]
pub struct CountCacheInfo {
    pub nrows: usize,
    pub ncols: usize,
    pub nnz: u64,
    /// Bytes per stored column index (2 or 4).
    pub index_bytes: usize,
}

impl CountCacheInfo {
    /// Bytes of the three arrays.
    pub fn bytes(&self) -> u64 {
        8 * (self.nrows as u64 + 1) + (self.index_bytes as u64 + 4) * self.nnz
    }
}

/// Bytes per column index for `ncols` columns.
pub fn index_bytes_for(ncols: usize) -> usize {
    if ncols <= 1 << 16 {
        2
    } else {
        4
    }
}

/// Writes a count cache row by row; see the module documentation.
pub struct CountCacheWriter {
    dest: PathBuf,
    tmp: PathBuf,
    ncols: usize,
    index_bytes: usize,
    indptr: Option<Sink>,
    indices: Option<Sink>,
    values: Option<Sink>,
    nrows: usize,
    nnz: u64,
    narrow: Vec<u16>,
    wide: Vec<u32>,
    finished: bool,
}

impl CountCacheWriter {
    /// Starts a cache that will appear at `dest` when finished.
    pub fn create(dest: &Path, ncols: usize) -> Result<Self> {
        Self::create_with(dest, ncols, &open_file)
    }

    /// As [`CountCacheWriter::create`], opening each file through `open`.
    pub fn create_with(dest: &Path, ncols: usize, open: &OpenSink) -> Result<Self> {
        let parent = crate::durable::parent_dir(dest);
        std::fs::create_dir_all(parent).map_err(|e| DataError::write(parent, e))?;
        let name = dest
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "counts".into());
        let tmp = tempfile::Builder::new()
            .prefix(&crate::durable::temp_prefix(&name))
            .tempdir_in(parent)
            .map_err(|e| DataError::write(parent, e))?
            .keep();
        let index_bytes = index_bytes_for(ncols);
        let mut w = CountCacheWriter {
            dest: dest.to_path_buf(),
            tmp: tmp.clone(),
            ncols,
            index_bytes,
            indptr: None,
            indices: None,
            values: None,
            nrows: 0,
            nnz: 0,
            narrow: Vec::new(),
            wide: Vec::new(),
            finished: false,
        };
        // From here on, Drop removes `tmp` if anything fails.
        w.indptr = Some(Sink::new(tmp.join("indptr.u64"), open)?);
        w.indices = Some(Sink::new(
            tmp.join(if index_bytes == 2 {
                "indices.u16"
            } else {
                "indices.u32"
            }),
            open,
        )?);
        w.values = Some(Sink::new(tmp.join("values.f32"), open)?);
        w.indptr.as_mut().expect("opened").put(as_bytes(&[0u64]))?;
        Ok(w)
    }

    pub fn nrows(&self) -> usize {
        self.nrows
    }

    /// Appends one row. Column indices must be below the number of columns
    /// and values finite; the error names the row (counted from 0 over every
    /// row written so far) and the offending entry.
    pub fn push_row<I: ColumnIndex>(&mut self, columns: &[I], values: &[f32]) -> Result<()> {
        let row = self.nrows;
        if columns.len() != values.len() {
            return Err(DataError::Other(format!(
                "row {row}: {} column indices for {} values",
                columns.len(),
                values.len()
            )));
        }
        if let Some(p) = columns.iter().position(|c| c.at() >= self.ncols) {
            return Err(DataError::Other(format!(
                "row {row}: column index {} is out of range for {} columns",
                columns[p].at(),
                self.ncols
            )));
        }
        if let Some(p) = values.iter().position(|v| !v.is_finite()) {
            return Err(DataError::Other(format!(
                "row {row}, column {}: value {} is not finite",
                columns[p].at(),
                values[p]
            )));
        }
        let bytes = if self.index_bytes == 2 {
            self.narrow.clear();
            self.narrow.extend(columns.iter().map(|c| c.at() as u16));
            as_bytes(&self.narrow)
        } else {
            self.wide.clear();
            self.wide.extend(columns.iter().map(|c| c.at() as u32));
            as_bytes(&self.wide)
        };
        self.indices.as_mut().expect("open").put(bytes)?;
        self.values.as_mut().expect("open").put(as_bytes(values))?;
        self.nnz += values.len() as u64;
        self.nrows += 1;
        self.indptr
            .as_mut()
            .expect("open")
            .put(as_bytes(&[self.nnz]))?;
        Ok(())
    }

    /// Appends every row of `block`.
    pub fn push_block(&mut self, block: &CsrMatrix) -> Result<()> {
        if block.ncols != self.ncols {
            return Err(DataError::Other(format!(
                "a block of {} columns cannot join a cache of {}",
                block.ncols, self.ncols
            )));
        }
        pertbench_kernels::with_rows!(block, p => {
            for i in 0..block.nrows {
                let (c, v) = p.row(i);
                self.push_row(c, v)?;
            }
        });
        Ok(())
    }

    /// Flushes and syncs every file, writes `counts.json`, and renames the
    /// directory to its destination (replacing an older cache there).
    pub fn finish(mut self) -> Result<CountCacheInfo> {
        for sink in [self.indptr.take(), self.indices.take(), self.values.take()]
            .into_iter()
            .flatten()
        {
            sink.close()?;
        }
        let info = CountCacheInfo {
            nrows: self.nrows,
            ncols: self.ncols,
            nnz: self.nnz,
            index_bytes: self.index_bytes,
        };
        let meta = serde_json::json!({
            "format": FORMAT,
            "version": VERSION,
            "nrows": info.nrows,
            "ncols": info.ncols,
            "nnz": info.nnz,
            "index_bytes": info.index_bytes,
        });
        let mpath = self.tmp.join(META);
        let mut f = File::create(&mpath).map_err(|e| DataError::write(&mpath, e))?;
        f.write_all(meta.to_string().as_bytes())
            .and_then(|_| f.sync_all())
            .map_err(|e| DataError::write(&mpath, e))?;
        if self.dest.exists() {
            std::fs::remove_dir_all(&self.dest).map_err(|e| DataError::write(&self.dest, e))?;
        }
        std::fs::rename(&self.tmp, &self.dest).map_err(|e| DataError::write(&self.dest, e))?;
        self.finished = true;
        Ok(info)
    }
}

impl Drop for CountCacheWriter {
    fn drop(&mut self) {
        if !self.finished {
            self.indptr.take();
            self.indices.take();
            self.values.take();
            let _ = std::fs::remove_dir_all(&self.tmp);
        }
    }
}

/// Reads `counts.json` of a cache.
pub fn info(dir: &Path) -> Result<CountCacheInfo> {
    let mpath = dir.join(META);
    let text = std::fs::read_to_string(&mpath).map_err(|e| DataError::io(&mpath, e))?;
    let meta: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| DataError::file(&mpath, format!("not a count cache description: {e}")))?;
    if meta.get("format").and_then(|v| v.as_str()) != Some(FORMAT) {
        return Err(DataError::file(
            &mpath,
            format!("`format` is not `{FORMAT}`"),
        ));
    }
    if meta.get("version").and_then(|v| v.as_u64()) != Some(VERSION) {
        return Err(DataError::file(
            &mpath,
            format!("unsupported count cache version (this pertbench reads {VERSION})"),
        ));
    }
    let field = |k: &str| {
        meta.get(k).and_then(|v| v.as_u64()).ok_or_else(|| {
            DataError::file(&mpath, format!("field `{k}` is missing or not a count"))
        })
    };
    let index_bytes = field("index_bytes")? as usize;
    if index_bytes != 2 && index_bytes != 4 {
        return Err(DataError::file(
            &mpath,
            format!("`index_bytes` is {index_bytes}, not 2 or 4"),
        ));
    }
    Ok(CountCacheInfo {
        nrows: field("nrows")? as usize,
        ncols: field("ncols")? as usize,
        nnz: field("nnz")?,
        index_bytes,
    })
}

struct Mapped(Mmap);

impl MappedBytes for Mapped {
    fn bytes(&self) -> &[u8] {
        &self.0
    }

    fn release(&self, offset: usize, len: usize) {
        // Whole pages inside the range only: the pages at its ends may hold
        // values still in use by a neighbouring pass.
        let page = 4096;
        let start = offset.div_ceil(page) * page;
        let end = (offset + len) / page * page;
        if start < end && end <= self.0.len() {
            // SAFETY: a read-only shared mapping of a file that is never
            // modified while mapped: dropping its pages loses nothing, and
            // the next access reads the same bytes back from the file.
            // Advice is best effort; a refusal leaves the pages resident.
            let _ = unsafe {
                self.0
                    .unchecked_advise_range(UncheckedAdvice::DontNeed, start, end - start)
            };
        }
    }
}

fn map<T: pertbench_kernels::sparse::buffer::Plain>(path: &Path, len: usize) -> Result<Buf<T>> {
    let f = File::open(path).map_err(|e| DataError::io(path, e))?;
    let size = f.metadata().map_err(|e| DataError::io(path, e))?.len();
    let want = (len * std::mem::size_of::<T>()) as u64;
    if size != want {
        return Err(DataError::file(
            path,
            format!("count cache file has {size} bytes, counts.json implies {want} (truncated or corrupt)"),
        ));
    }
    if len == 0 {
        return Ok(Buf::Owned(Vec::new()));
    }
    // SAFETY: cache files are written once and renamed into place; they are
    // never modified while mapped (a rewrite replaces the directory).
    let m = unsafe { Mmap::map(&f) }.map_err(|e| DataError::io(path, e))?;
    let bytes: SharedBytes = Arc::new(Mapped(m));
    Buf::shared(bytes, 0, len).map_err(|e| DataError::file(path, e.to_string()))
}

/// Memory-maps a cache as a CSR matrix. The offsets and column indices are
/// checked (a corrupt cache is an error naming the directory).
pub fn open(dir: &Path) -> Result<CsrMatrix> {
    let info = info(dir)?;
    let nnz = info.nnz as usize;
    let indptr = map::<u64>(&dir.join("indptr.u64"), info.nrows + 1)?;
    let indices = if info.index_bytes == 2 {
        Indices::U16(map::<u16>(&dir.join("indices.u16"), nnz)?)
    } else {
        Indices::U32(map::<u32>(&dir.join("indices.u32"), nnz)?)
    };
    let values = map::<f32>(&dir.join("values.f32"), nnz)?;
    CsrMatrix::from_parts(info.nrows, info.ncols, indptr, indices, values)
        .map_err(|e| DataError::file(dir, format!("corrupt count cache: {e}")))
}

/// Writes `m` as a cache at `dest`.
pub fn write(dest: &Path, m: &CsrMatrix) -> Result<CountCacheInfo> {
    let mut w = CountCacheWriter::create(dest, m.ncols)?;
    w.push_block(m)?;
    w.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> CsrMatrix {
        CsrMatrix::new(3, 3, vec![0, 2, 2, 3], vec![0, 2, 1], vec![1.0, 3.0, 2.0]).unwrap()
    }

    #[test]
    fn round_trip_maps_the_same_matrix_with_narrow_indices() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("c");
        let info = write(&dest, &small()).unwrap();
        assert_eq!(
            info,
            CountCacheInfo {
                nrows: 3,
                ncols: 3,
                nnz: 3,
                index_bytes: 2
            }
        );
        assert_eq!(
            std::fs::metadata(dest.join("indices.u16")).unwrap().len(),
            6
        );
        let m = open(&dest).unwrap();
        assert!(m.is_mapped());
        assert_eq!(m, small());
        assert_eq!(m.row(0).collect::<Vec<_>>(), vec![(0, 1.0), (2, 3.0)]);
        // Only the cache directory is left: no temporary sibling.
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("c")]);
        // Wide indices past 65,536 columns.
        let wide = CsrMatrix::new(1, 70_000, vec![0, 1], vec![69_999], vec![5.0]).unwrap();
        assert_eq!(write(&dest, &wide).unwrap().index_bytes, 4);
        assert_eq!(open(&dest).unwrap(), wide);
    }

    #[test]
    fn bad_rows_leave_no_cache() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("c");
        let mut w = CountCacheWriter::create(&dest, 3).unwrap();
        w.push_row(&[0u32, 1], &[1.0, 2.0]).unwrap();
        let e = w.push_row(&[0u32, 3], &[1.0, 2.0]).unwrap_err().to_string();
        assert!(
            e.contains("row 1") && e.contains("column index 3 is out of range for 3 columns"),
            "{e}"
        );
        let e = w.push_row(&[2u32], &[f32::NAN]).unwrap_err().to_string();
        assert!(
            e.contains("row 1, column 2") && e.contains("not finite"),
            "{e}"
        );
        drop(w);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    /// A writer that fails with "no space left on device" after `room` bytes.
    struct Full {
        room: usize,
        file: File,
    }
    impl Write for Full {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            if b.len() > self.room {
                return Err(std::io::Error::from_raw_os_error(28)); // ENOSPC
            }
            self.room -= b.len();
            self.file.write(b)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            self.file.flush()
        }
    }

    #[test]
    fn a_full_disk_is_an_error_naming_the_file_and_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("c");
        let open: &OpenSink = &|p: &Path| -> std::io::Result<Box<dyn Write + Send>> {
            Ok(Box::new(Full {
                room: 1 << 16,
                file: File::create(p)?,
            }))
        };
        let mut w = CountCacheWriter::create_with(&dest, 100, open).unwrap();
        let cols: Vec<u32> = (0..100).collect();
        let vals = vec![1.0f32; 100];
        let mut err = None;
        for _ in 0..100_000 {
            if let Err(e) = w.push_row(&cols, &vals) {
                err = Some(e);
                break;
            }
        }
        let err = match err {
            Some(e) => {
                drop(w); // as `?` would
                e
            }
            None => w.finish().unwrap_err(),
        };
        let msg = err.to_string();
        assert!(
            msg.contains("values.f32")
                && msg.contains("cannot write")
                && msg.contains("No space left"),
            "{msg}"
        );
        assert!(!dest.exists());
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            0,
            "temporary files left behind"
        );
    }

    #[test]
    fn corrupt_caches_are_named_errors() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("c");
        write(&dest, &small()).unwrap();
        // A truncated values file.
        let vals = dest.join("values.f32");
        let f = std::fs::OpenOptions::new().write(true).open(&vals).unwrap();
        f.set_len(8).unwrap();
        let e = open(&dest).unwrap_err().to_string();
        assert!(
            e.contains("values.f32") && e.contains("truncated or corrupt"),
            "{e}"
        );
        // An index out of range.
        write(&dest, &small()).unwrap();
        std::fs::write(dest.join("indices.u16"), as_bytes(&[0u16, 2, 9])).unwrap();
        let e = open(&dest).unwrap_err().to_string();
        assert!(
            e.contains("corrupt count cache")
                && e.contains("column index 9")
                && e.contains("row 2"),
            "{e}"
        );
        // A description that is not one.
        std::fs::write(dest.join("counts.json"), "{").unwrap();
        let e = open(&dest).unwrap_err().to_string();
        assert!(
            e.contains("counts.json") && e.contains("not a count cache description"),
            "{e}"
        );
    }
}
