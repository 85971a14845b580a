//! Reading HDF5 string and numeric datasets the way h5ad and gctx files
//! store them: variable-length strings (anndata), fixed-length byte strings
//! (numpy `S` dtype, written by cmapPy for gctx), booleans and numbers.

use crate::samples::RawColumn;
use hdf5::types::{FixedAscii, FixedUnicode, TypeDescriptor, VarLenAscii, VarLenUnicode};
use hdf5::Dataset;

/// Longest fixed-length string read; longer ones are refused by name.
const MAX_FIXED: usize = 1024;

fn fixed_ascii<const N: usize>(ds: &Dataset) -> hdf5::Result<Vec<String>> {
    Ok(ds
        .read_raw::<FixedAscii<N>>()?
        .into_iter()
        .map(|s| s.as_str().trim_end().to_string())
        .collect())
}

fn fixed_unicode<const N: usize>(ds: &Dataset) -> hdf5::Result<Vec<String>> {
    Ok(ds
        .read_raw::<FixedUnicode<N>>()?
        .into_iter()
        .map(|s| s.as_str().trim_end().to_string())
        .collect())
}

/// A 1-d string dataset, variable- or fixed-length. Fixed-length strings are
/// converted by HDF5 into the smallest of three buffer widths that holds them.
pub fn read_strings(ds: &Dataset) -> Result<Vec<String>, String> {
    let desc = ds
        .dtype()
        .and_then(|t| t.to_descriptor())
        .map_err(|e| e.to_string())?;
    let r = match desc {
        TypeDescriptor::VarLenUnicode => ds
            .read_raw::<VarLenUnicode>()
            .map(|v| v.into_iter().map(|s| s.as_str().to_string()).collect()),
        TypeDescriptor::VarLenAscii => ds
            .read_raw::<VarLenAscii>()
            .map(|v| v.into_iter().map(|s| s.as_str().to_string()).collect()),
        TypeDescriptor::FixedAscii(n) if n <= 64 => fixed_ascii::<64>(ds),
        TypeDescriptor::FixedAscii(n) if n <= 256 => fixed_ascii::<256>(ds),
        TypeDescriptor::FixedAscii(n) if n <= MAX_FIXED => fixed_ascii::<MAX_FIXED>(ds),
        TypeDescriptor::FixedUnicode(n) if n <= 64 => fixed_unicode::<64>(ds),
        TypeDescriptor::FixedUnicode(n) if n <= 256 => fixed_unicode::<256>(ds),
        TypeDescriptor::FixedUnicode(n) if n <= MAX_FIXED => fixed_unicode::<MAX_FIXED>(ds),
        TypeDescriptor::FixedAscii(n) | TypeDescriptor::FixedUnicode(n) => {
            return Err(format!(
                "fixed-length strings of {n} bytes (pertbench reads up to {MAX_FIXED})"
            ))
        }
        other => return Err(format!("expected strings, found {other:?}")),
    };
    r.map_err(|e| e.to_string())
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
