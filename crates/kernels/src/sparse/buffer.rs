//! Read-only arrays that are either owned vectors or views into shared bytes
//! (a memory-mapped cache file), so kernels run unchanged over both.

use crate::KernelError;
use std::marker::PhantomData;
use std::ops::Deref;
use std::sync::Arc;

/// Plain numbers whose every bit pattern is a valid value.
///
/// # Safety
/// Implementors must have no padding and no invalid bit patterns.
pub unsafe trait Plain: Copy + Send + Sync + 'static {}
unsafe impl Plain for u16 {}
unsafe impl Plain for u32 {}
unsafe impl Plain for u64 {}
unsafe impl Plain for f32 {}
unsafe impl Plain for f64 {}

/// `v` with length `len`: its own allocation where that holds `len`
/// (contents kept, any growth zeroed), else a new zeroed one, so a buffer
/// refilled chunk after chunk is allocated (and its pages faulted in) once.
pub(crate) fn reuse_zeroed<T: Copy + Default>(mut v: Vec<T>, len: usize) -> Vec<T> {
    if v.capacity() < len {
        return vec![T::default(); len];
    }
    v.resize(len, T::default());
    v
}

/// Bytes that arrays view, kept alive by whoever holds such an array.
pub trait MappedBytes: Send + Sync {
    fn bytes(&self) -> &[u8];
    /// Lets the process give back its resident pages of `len` bytes at
    /// `offset`, which stay readable with the same contents (a file mapping
    /// reads them again from the page cache on the next access). A pass
    /// over a mapped cache calls this behind itself, so that the pages it
    /// has finished with do not count as its memory. Owned bytes ignore it.
    fn release(&self, _offset: usize, _len: usize) {}
}

impl MappedBytes for Vec<u8> {
    fn bytes(&self) -> &[u8] {
        self
    }
}

/// Shared bytes (a memory map, or owned bytes in tests).
pub type SharedBytes = Arc<dyn MappedBytes>;

/// An array of `T`: owned, or `len` values at `offset` bytes of shared bytes
/// stored little-endian.
#[derive(Clone)]
pub enum Buf<T: Plain> {
    Owned(Vec<T>),
    Shared {
        bytes: SharedBytes,
        offset: usize,
        len: usize,
        _values: PhantomData<T>,
    },
}

impl<T: Plain> Buf<T> {
    /// Views `len` values at `offset` of `bytes`; refuses views that run past
    /// the end or are misaligned for `T`.
    pub fn shared(bytes: SharedBytes, offset: usize, len: usize) -> Result<Self, KernelError> {
        if cfg!(target_endian = "big") {
            return Err(KernelError::Shape(
                "memory-mapped arrays are little-endian; this machine is big-endian".into(),
            ));
        }
        let size = std::mem::size_of::<T>();
        let total = bytes.bytes().len();
        let end = len
            .checked_mul(size)
            .and_then(|b| b.checked_add(offset))
            .ok_or_else(|| {
                KernelError::Shape(format!("{len} values overflow the address space"))
            })?;
        if end > total {
            return Err(KernelError::Shape(format!(
                "{len} values of {size} bytes at byte {offset} run past the end of {total} bytes"
            )));
        }
        let ptr = bytes.bytes().as_ptr() as usize + offset;
        if len > 0 && ptr % std::mem::align_of::<T>() != 0 {
            return Err(KernelError::Shape(format!(
                "values at byte {offset} are not aligned to {} bytes",
                std::mem::align_of::<T>()
            )));
        }
        Ok(Buf::Shared {
            bytes,
            offset,
            len,
            _values: PhantomData,
        })
    }

    /// The values as a mutable vector (a shared view is copied first).
    pub fn make_mut(&mut self) -> &mut Vec<T> {
        if let Buf::Shared { .. } = self {
            *self = Buf::Owned(self.to_vec());
        }
        match self {
            Buf::Owned(v) => v,
            Buf::Shared { .. } => unreachable!("converted above"),
        }
    }

    pub fn is_shared(&self) -> bool {
        matches!(self, Buf::Shared { .. })
    }

    /// Gives back the resident pages of values `start..end` of a shared
    /// view (see [`MappedBytes::release`]); the values stay readable.
    pub fn release(&self, start: usize, end: usize) {
        if let Buf::Shared {
            bytes, offset, len, ..
        } = self
        {
            let end = end.min(*len);
            if start < end {
                let size = std::mem::size_of::<T>();
                bytes.release(offset + start * size, (end - start) * size);
            }
        }
    }
}

impl<T: Plain> Deref for Buf<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        match self {
            Buf::Owned(v) => v,
            Buf::Shared {
                bytes, offset, len, ..
            } => {
                if *len == 0 {
                    return &[];
                }
                let base = bytes.bytes();
                // SAFETY: `shared` checked bounds and alignment; `T: Plain`
                // accepts any bit pattern; `bytes` lives as long as `self`.
                unsafe { std::slice::from_raw_parts(base.as_ptr().add(*offset) as *const T, *len) }
            }
        }
    }
}

impl<T: Plain> From<Vec<T>> for Buf<T> {
    fn from(v: Vec<T>) -> Self {
        Buf::Owned(v)
    }
}

/// The raw little-endian bytes of a slice of plain values (for writing).
pub fn as_bytes<T: Plain>(values: &[T]) -> &[u8] {
    // SAFETY: `T: Plain` has no padding; the length is exact.
    unsafe {
        std::slice::from_raw_parts(values.as_ptr() as *const u8, std::mem::size_of_val(values))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_views_check_bounds_and_alignment() {
        let words: Vec<u64> = vec![1, 2, 3];
        let bytes: SharedBytes = Arc::new(as_bytes(&words).to_vec());
        let b = Buf::<u32>::shared(bytes.clone(), 8, 4).unwrap();
        assert_eq!(&*b, &[2, 0, 3, 0]);
        assert!(Buf::<u32>::shared(bytes.clone(), 8, 5).is_err());
        assert!(Buf::<u32>::shared(bytes.clone(), usize::MAX, 1).is_err());
        let mut m = b.clone();
        m.make_mut()[0] = 9;
        assert_eq!(&*m, &[9, 0, 3, 0]);
        assert_eq!(&*b, &[2, 0, 3, 0]);
    }
}
