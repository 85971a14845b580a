//! One CMap file, GCTX (HDF5, read in blocks of samples) or GCT text (read
//! whole), behind one interface: ingestion (`dataset`) appends several,
//! `init` (`inspect`) profiles one.

use crate::error::Result;
use crate::gct::Gct;
use crate::gctx::Gctx;
use crate::manifest::Format;
use crate::samples::RawColumn;
use pertbench_kernels::sparse::csr::CsrMatrix;

/// One CMap file: GCTX (HDF5, read in blocks) or GCT text (read whole).
pub enum CmapFile {
    Gctx(Gctx),
    Gct(Gct),
}

impl CmapFile {
    pub fn open(path: &std::path::Path, format: Format) -> Result<CmapFile> {
        Ok(match format {
            Format::Gct => CmapFile::Gct(Gct::open(path)?),
            _ => CmapFile::Gctx(Gctx::open(path)?),
        })
    }
    pub fn path(&self) -> &std::path::Path {
        match self {
            CmapFile::Gctx(g) => g.path(),
            CmapFile::Gct(g) => g.path(),
        }
    }
    pub fn gene_ids(&self) -> Result<Vec<String>> {
        match self {
            CmapFile::Gctx(g) => g.gene_ids(),
            CmapFile::Gct(g) => Ok(g.gene_ids()),
        }
    }
    pub fn sample_ids(&self) -> Result<Vec<String>> {
        match self {
            CmapFile::Gctx(g) => g.sample_ids(),
            CmapFile::Gct(g) => Ok(g.sample_ids()),
        }
    }
    /// A per-sample metadata field.
    pub fn column(&self, name: &str) -> Result<Option<RawColumn>> {
        match self {
            CmapFile::Gctx(g) => g.column(name),
            CmapFile::Gct(g) => Ok(g.column(name)),
        }
    }
    /// A per-gene metadata field.
    pub fn row_column(&self, name: &str) -> Result<Option<RawColumn>> {
        match self {
            CmapFile::Gctx(g) => g.row_column(name),
            CmapFile::Gct(g) => Ok(g.row_column(name)),
        }
    }
    /// Names of the per-sample metadata fields.
    pub fn column_names(&self) -> Result<Vec<String>> {
        match self {
            CmapFile::Gctx(g) => g.column_names(),
            CmapFile::Gct(g) => Ok(g.column_names()),
        }
    }
    pub fn n_samples(&self) -> usize {
        match self {
            CmapFile::Gctx(g) => g.n_samples(),
            CmapFile::Gct(g) => g.sample_ids().len(),
        }
    }
    /// The format as a manifest names it.
    pub fn format_name(&self) -> &'static str {
        match self {
            CmapFile::Gctx(_) => "gctx",
            CmapFile::Gct(_) => "gct",
        }
    }
    pub fn row_column_names(&self) -> Result<Vec<String>> {
        match self {
            CmapFile::Gctx(g) => g.row_column_names(),
            CmapFile::Gct(g) => Ok(g.row_column_names()),
        }
    }
    pub fn read_rows(&self, rows: &[usize], genes: Option<&[usize]>) -> Result<CsrMatrix> {
        match self {
            CmapFile::Gctx(g) => g.read_rows(rows, genes, crate::gctx::DEFAULT_BLOCK_VALUES),
            CmapFile::Gct(g) => g.read_rows(rows, genes),
        }
    }
}
