//! `.npy` (NumPy format 1.0 to 3.0) 2-D float arrays, C or Fortran order,
//! little-endian f4 or f8.

use crate::error::{DataError, Result};
use ndarray::{CowArray, Ix2};
use pertbench_kernels::Matrix;
use std::io::Write;
use std::path::Path;

fn header_field<'a>(header: &'a str, key: &str) -> Option<&'a str> {
    let at = header.find(&format!("'{key}'"))? + key.len() + 2;
    let rest = header[at..].trim_start().strip_prefix(':')?.trim_start();
    Some(rest)
}

pub fn read(path: &Path) -> Result<Matrix> {
    let bytes = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
    let bad = |m: &str| DataError::file(path, format!("not a valid .npy file: {m}"));
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err(bad("missing magic"));
    }
    let (hlen, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
        v => return Err(bad(&format!("version {v}"))),
    };
    let header = std::str::from_utf8(
        bytes
            .get(start..start + hlen)
            .ok_or_else(|| bad("truncated header"))?,
    )
    .map_err(|_| bad("header is not text"))?;
    let descr = header_field(header, "descr").ok_or_else(|| bad("no descr"))?;
    let width = if descr.starts_with("'<f4'") {
        4
    } else if descr.starts_with("'<f8'") {
        8
    } else {
        return Err(DataError::file(
            path,
            format!(
                "dtype {} is not supported; save float32 or float64",
                descr.split(',').next().unwrap_or("")
            ),
        ));
    };
    let fortran = header_field(header, "fortran_order")
        .ok_or_else(|| bad("no fortran_order"))?
        .starts_with("True");
    let shape_txt = header_field(header, "shape").ok_or_else(|| bad("no shape"))?;
    let inner = shape_txt
        .strip_prefix('(')
        .and_then(|s| s.split(')').next())
        .ok_or_else(|| bad("shape"))?;
    let dims: Vec<usize> = inner
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().map_err(|_| bad("shape")))
        .collect::<Result<_>>()?;
    if dims.len() != 2 {
        return Err(DataError::file(
            path,
            format!("expected a 2-D array, found shape {dims:?}"),
        ));
    }
    let (n, d) = (dims[0], dims[1]);
    let body = &bytes[start + hlen..];
    if body.len() != n * d * width {
        return Err(DataError::file(
            path,
            format!(
                "truncated: {n} x {d} x {width} bytes expected, {} present",
                body.len()
            ),
        ));
    }
    let vals: Vec<f32> = if width == 4 {
        body.chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect()
    } else {
        body.chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().unwrap()) as f32)
            .collect()
    };
    let m = if fortran {
        Matrix::from_shape_vec((d, n), vals)
            .map(|m| m.reversed_axes().as_standard_layout().to_owned())
    } else {
        Matrix::from_shape_vec((n, d), vals)
    };
    m.map_err(|e| DataError::file(path, e.to_string()))
}

/// Writes a C-order little-endian f32 `.npy` (version 1.0), atomically.
pub fn write(path: &Path, m: &Matrix) -> Result<()> {
    let mut once = Some(m.view());
    write_blocks(path, m.nrows(), m.ncols(), &mut || {
        Ok(once.take().map(CowArray::from))
    })
}

/// Writes an `nrows` x `ncols` f32 `.npy` from blocks of rows that `next`
/// yields in order (None when done), atomically; memory is bounded by a
/// block, and a borrowed block is written without a copy.
pub fn write_blocks<'a>(
    path: &Path,
    nrows: usize,
    ncols: usize,
    next: &mut dyn FnMut() -> Result<Option<CowArray<'a, f32, Ix2>>>,
) -> Result<()> {
    let mut header =
        format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({nrows}, {ncols}), }}");
    let total = 10 + header.len() + 1;
    header.push_str(&" ".repeat((64 - total % 64) % 64));
    header.push('\n');
    let mut failure = None;
    let mut written = 0usize;
    crate::fetch::atomic_write_with(path, |f| {
        let mut f = std::io::BufWriter::with_capacity(1 << 20, f);
        f.write_all(b"\x93NUMPY\x01\x00")?;
        f.write_all(&(header.len() as u16).to_le_bytes())?;
        f.write_all(header.as_bytes())?;
        loop {
            let block = match next() {
                Ok(Some(b)) => b,
                Ok(None) => break,
                Err(e) => {
                    failure = Some(e);
                    return Err(std::io::Error::other("block generation failed"));
                }
            };
            if block.ncols() != ncols || written + block.nrows() > nrows {
                return Err(std::io::Error::other(format!(
                    "a block of {} x {} after {written} of {nrows} x {ncols} rows",
                    block.nrows(),
                    block.ncols()
                )));
            }
            written += block.nrows();
            let block = block.as_standard_layout();
            let values = block.as_slice().expect("standard layout");
            f.write_all(pertbench_kernels::sparse::buffer::as_bytes(values))?;
        }
        if written != nrows {
            return Err(std::io::Error::other(format!(
                "{written} rows written of {nrows}"
            )));
        }
        f.flush()
    })
    .map_err(|e| failure.unwrap_or(e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_errors() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("e.npy");
        let m = Matrix::from_shape_fn((3, 2), |(i, j)| (i * 10 + j) as f32);
        write(&p, &m).unwrap();
        assert_eq!(read(&p).unwrap(), m);
        let bytes = std::fs::read(&p).unwrap();
        std::fs::write(&p, &bytes[..bytes.len() - 4]).unwrap();
        let e = read(&p).unwrap_err().to_string();
        assert!(e.contains("e.npy") && e.contains("truncated"), "{e}");
    }
}
