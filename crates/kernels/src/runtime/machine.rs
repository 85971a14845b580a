//! What this machine can do, measured: the floating-point rate of a large
//! dense matrix product (faer, every thread) and the memory bandwidth of a
//! parallel STREAM-style triad. `pertbench bench` compares every node's
//! achieved rate against these floors.

use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, Par};
use rayon::prelude::*;
use std::time::Instant;

#[derive(Debug, Clone, Copy)]
pub struct MachinePeak {
    /// GFLOP/s of an f32 product (m = 4,096, k = 256, n = 16,384, as kNN and
    /// the probes multiply).
    pub matmul_f32_gflops: f64,
    /// GFLOP/s of an f64 product of the same shape.
    pub matmul_f64_gflops: f64,
    /// GB/s of a[i] = b[i] + s c[i] over arrays far larger than cache
    /// (bytes counted: 2 reads and 1 write of 8 bytes per element).
    pub triad_gbs: f64,
    pub threads: usize,
}

fn best_of<F: FnMut()>(reps: usize, mut f: F) -> f64 {
    (0..reps)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

fn matmul_gflops<T: faer::traits::ComplexField + Copy>(one: T, zero: T) -> f64 {
    let (m, k, n) = (4096usize, 256usize, 16_384usize);
    let a = Mat::<T>::from_fn(m, k, |i, j| if (i + j) % 3 == 0 { one } else { zero });
    let b = Mat::<T>::from_fn(k, n, |i, j| if (i * 7 + j) % 5 == 0 { one } else { zero });
    let mut c = Mat::<T>::zeros(m, n);
    let secs = best_of(3, || {
        matmul(
            c.as_mut(),
            Accum::Replace,
            a.as_ref(),
            b.as_ref(),
            one,
            Par::rayon(0),
        );
    });
    2.0 * (m * k * n) as f64 / secs / 1e9
}

/// Measures the machine (a few seconds; about 1.2 GB of memory).
pub fn measure() -> MachinePeak {
    let matmul_f32_gflops = matmul_gflops::<f32>(1.0, 0.0);
    let matmul_f64_gflops = matmul_gflops::<f64>(1.0, 0.0);
    let n = 1usize << 25; // 32M f64 = 256 MB per array
    let b = vec![1.0f64; n];
    let c = vec![2.0f64; n];
    let mut a = vec![0.0f64; n];
    let chunk = 1 << 16;
    let secs = best_of(5, || {
        a.par_chunks_mut(chunk)
            .zip(b.par_chunks(chunk))
            .zip(c.par_chunks(chunk))
            .for_each(|((a, b), c)| {
                for ((a, b), c) in a.iter_mut().zip(b).zip(c) {
                    *a = b + 3.0 * c;
                }
            });
    });
    std::hint::black_box(&a);
    MachinePeak {
        matmul_f32_gflops,
        matmul_f64_gflops,
        triad_gbs: 24.0 * n as f64 / secs / 1e9,
        threads: rayon::current_num_threads(),
    }
}

/// Memory the system can give without swapping (MemAvailable), in bytes;
/// None where unknown (not Linux).
pub fn available_memory_bytes() -> Option<u64> {
    proc_kb("/proc/meminfo", "MemAvailable:").map(|kb| kb * 1024)
}

/// The value in kB of the line starting with `key` in a /proc file.
fn proc_kb(file: &str, key: &str) -> Option<u64> {
    std::fs::read_to_string(file)
        .ok()?
        .lines()
        .find(|l| l.starts_with(key))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// An error message when allocating `bytes` for `what` would exceed the
/// memory available (checked before allocating, so that a setting such as
/// `dim: 100000000` is an error, not an abort).
pub fn check_allocation(bytes: u128, what: &str) -> Result<(), String> {
    match available_memory_bytes() {
        Some(avail) if bytes > u128::from(avail) => Err(format!(
            "{what} needs {:.1} GB, more than the {:.1} GB of memory available",
            bytes as f64 / 1e9,
            avail as f64 / 1e9
        )),
        _ => Ok(()),
    }
}

/// [`check_allocation`] for a kernel: the estimate of `bytes` (f64 values
/// and the like, counted by the caller) as a [`crate::KernelError::Memory`].
pub fn reserve(bytes: u128, what: &str) -> Result<(), crate::KernelError> {
    check_allocation(bytes, what).map_err(crate::KernelError::Memory)
}

/// Peak resident set size of this process so far (VmHWM), in bytes.
pub fn peak_rss_bytes() -> Option<u64> {
    proc_kb("/proc/self/status", "VmHWM:").map(|kb| kb * 1024)
}

/// Returns freed heap memory to the operating system (glibc's
/// `malloc_trim`): after a node that allocated gigabytes in many threads,
/// the allocator otherwise keeps the freed pages resident for reuse, and the
/// next node starts from that high-water mark. No effect elsewhere.
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns unused memory; it takes the
    // allocator's own locks and is safe to call from any thread.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Resets the peak resident set size to the current one (Linux
/// `/proc/self/clear_refs` with 5), so a later [`peak_rss_bytes`] is the
/// peak since now. False where unsupported.
pub fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peak_rss_is_read_and_reset() {
        let Some(before) = peak_rss_bytes() else {
            return; // not Linux
        };
        assert!(before > 0);
        let big = vec![1u8; 64 << 20];
        std::hint::black_box(&big);
        let with = peak_rss_bytes().unwrap();
        assert!(with >= before);
        drop(big);
        if reset_peak_rss() {
            assert!(peak_rss_bytes().unwrap() <= with);
        }
    }
}
