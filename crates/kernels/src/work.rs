//! A process-wide count of the floating-point operations the kernels'
//! dense and sparse products perform, so a benchmark can report the rate a
//! node achieved from the work it actually did (not from a model). Counting
//! is one relaxed atomic add per product block.

use std::sync::atomic::{AtomicU64, Ordering};

static FLOPS: AtomicU64 = AtomicU64::new(0);

/// Records `n` floating-point operations.
#[inline]
pub fn add_flops(n: usize) {
    FLOPS.fetch_add(n as u64, Ordering::Relaxed);
}

/// Records the 2 m k n operations of an (m x k) (k x n) product.
#[inline]
pub fn add_product(m: usize, k: usize, n: usize) {
    add_flops(2 * m * k * n);
}

/// Operations recorded since the last [`reset`].
pub fn flops() -> u64 {
    FLOPS.load(Ordering::Relaxed)
}

pub fn reset() {
    FLOPS.store(0, Ordering::Relaxed);
}
