//! Reading HDF5 string and numeric datasets the way h5ad and gctx files
//! store them: variable-length strings (anndata), fixed-length byte strings
//! (numpy `S` dtype, written by cmapPy for gctx), booleans and numbers.

use crate::samples::RawColumn;
use hdf5::types::{FixedAscii, FixedUnicode, TypeDescriptor, VarLenAscii, VarLenUnicode};
use hdf5::Dataset;

/// Longest fixed-length string read; longer ones are refused by name.
const MAX_FIXED: usize = 1024;

/// The text of a string HDF5 read, checked: HDF5 never checks that a
/// string typed as ASCII or UTF-8 is (a damaged or hand-written file may hold
/// any bytes), and the hdf5 crate's `as_str` assumes it is, which is
/// undefined behaviour when it is not (found by the gctx fuzz target).
pub fn text(bytes: &[u8], entry: usize) -> Result<String, String> {
    std::str::from_utf8(bytes)
        .map(str::to_string)
        .map_err(|e| format!("entry {entry} is not valid UTF-8 text ({e})"))
}

fn texts<'a>(v: impl Iterator<Item = &'a [u8]>, trim: bool) -> Result<Vec<String>, String> {
    v.enumerate()
        .map(|(k, b)| text(b, k).map(|t| if trim { t.trim_end().to_string() } else { t }))
        .collect()
}

fn fixed_ascii<const N: usize>(ds: &Dataset) -> Result<Vec<String>, String> {
    let v = ds.read_raw::<FixedAscii<N>>().map_err(|e| e.to_string())?;
    texts(v.iter().map(|s| s.as_bytes()), true)
}

fn fixed_unicode<const N: usize>(ds: &Dataset) -> Result<Vec<String>, String> {
    let v = ds
        .read_raw::<FixedUnicode<N>>()
        .map_err(|e| e.to_string())?;
    texts(v.iter().map(|s| s.as_bytes()), true)
}

/// A 1-d string dataset, variable- or fixed-length. Fixed-length strings are
/// converted by HDF5 into the smallest of three buffer widths that holds them.
pub fn read_strings(ds: &Dataset) -> Result<Vec<String>, String> {
    let desc = ds
        .dtype()
        .and_then(|t| t.to_descriptor())
        .map_err(|e| e.to_string())?;
    match desc {
        TypeDescriptor::VarLenUnicode => {
            let v = ds.read_raw::<VarLenUnicode>().map_err(|e| e.to_string())?;
            texts(v.iter().map(|s| s.as_bytes()), false)
        }
        TypeDescriptor::VarLenAscii => {
            let v = ds.read_raw::<VarLenAscii>().map_err(|e| e.to_string())?;
            texts(v.iter().map(|s| s.as_bytes()), false)
        }
        TypeDescriptor::FixedAscii(n) if n <= 64 => fixed_ascii::<64>(ds),
        TypeDescriptor::FixedAscii(n) if n <= 256 => fixed_ascii::<256>(ds),
        TypeDescriptor::FixedAscii(n) if n <= MAX_FIXED => fixed_ascii::<MAX_FIXED>(ds),
        TypeDescriptor::FixedUnicode(n) if n <= 64 => fixed_unicode::<64>(ds),
        TypeDescriptor::FixedUnicode(n) if n <= 256 => fixed_unicode::<256>(ds),
        TypeDescriptor::FixedUnicode(n) if n <= MAX_FIXED => fixed_unicode::<MAX_FIXED>(ds),
        TypeDescriptor::FixedAscii(n) | TypeDescriptor::FixedUnicode(n) => Err(format!(
            "fixed-length strings of {n} bytes (pertbench reads up to {MAX_FIXED})"
        )),
        other => Err(format!("expected strings, found {other:?}")),
    }
}

/// A 1-d dataset as a metadata column: booleans, numbers or strings.
pub fn read_column(ds: &Dataset) -> Result<RawColumn, String> {
    let desc = ds
        .dtype()
        .and_then(|t| t.to_descriptor())
        .map_err(|e| e.to_string())?;
    match desc {
        TypeDescriptor::Boolean | TypeDescriptor::Enum(_) => ds
            .read_raw::<bool>()
            .map(|v| RawColumn::Bool(v.into_iter().map(Some).collect()))
            .map_err(|e| e.to_string()),
        TypeDescriptor::Integer(_) | TypeDescriptor::Unsigned(_) | TypeDescriptor::Float(_) => ds
            .read_raw::<f64>()
            .map(RawColumn::Num)
            .map_err(|e| e.to_string()),
        TypeDescriptor::VarLenUnicode
        | TypeDescriptor::VarLenAscii
        | TypeDescriptor::FixedAscii(_)
        | TypeDescriptor::FixedUnicode(_) => Ok(RawColumn::Str(
            read_strings(ds)?.into_iter().map(Some).collect(),
        )),
        other => Err(format!("unsupported column type {other:?}")),
    }
}
