//! A [`Work`] record of the floating-point operations the kernels' dense and
//! sparse products perform, so a benchmark can report the rate a node
//! achieved from the work it actually did (not from a model). Counting is
//! one relaxed atomic add per product block.
//!
//! The heavy kernels (dense and sparse products, the neighbour search, the
//! softmax probe) also record their own wall time and the operations
//! counted while they ran ([`Work::timed`]), so the bench can print each
//! kernel's rate against its floor apart from the work around it (sorting,
//! ranks, reading data).
//!
//! The record is passed to each kernel by its caller (the scheduler keeps
//! one per node), never a process-wide counter: nodes computed at the same
//! time each get their own counts.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Instant;

/// A heavy kernel whose time and operations [`timed`] records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kernel {
    /// Dense matrix products in f64 (faer).
    DenseProduct,
    /// Sparse (CSR or regrouped) times dense products, in f64.
    SparseProduct,
    /// Blocked exact k-nearest-neighbour search: f32 products and the
    /// selection of each query's k nearest.
    NeighbourSearch,
    /// The softmax probe: mini-batch training (f32 products, softmax and
    /// gradient steps) and scoring of held-out samples.
    SoftmaxProbe,
}

impl Kernel {
    pub const ALL: [Kernel; 4] = [
        Kernel::DenseProduct,
        Kernel::SparseProduct,
        Kernel::NeighbourSearch,
        Kernel::SoftmaxProbe,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Kernel::DenseProduct => "dense product (f64)",
            Kernel::SparseProduct => "sparse product (f64)",
            Kernel::NeighbourSearch => "neighbour search (f32)",
            Kernel::SoftmaxProbe => "softmax probe (f32)",
        }
    }

    /// Whether the kernel's products are in f32 (its floor is the f32 peak).
    pub fn single_precision(self) -> bool {
        matches!(self, Kernel::NeighbourSearch | Kernel::SoftmaxProbe)
    }

    fn index(self) -> usize {
        self as usize
    }
}

const KERNELS: usize = Kernel::ALL.len();

/// What the kernels given this record did: operations counted, and each
/// heavy kernel's calls, time and operations. Shared by reference across
/// the threads of one computation.
#[derive(Debug, Default)]
pub struct Work {
    flops: AtomicU64,
    kernel_nanos: [AtomicU64; KERNELS],
    kernel_flops: [AtomicU64; KERNELS],
    kernel_calls: [AtomicU64; KERNELS],
    /// Kernels of this record running now, in any thread.
    active: AtomicU32,
}

/// One kernel's recorded work.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KernelWork {
    pub kernel: Kernel,
    pub calls: u64,
    pub seconds: f64,
    pub flops: u64,
}

impl Work {
    pub fn new() -> Work {
        Work::default()
    }

    /// Runs a heavy kernel, recording its wall time and the operations
    /// counted meanwhile under `kernel`. Only a kernel entered while no
    /// other of this record runs is recorded: one called inside another (a
    /// timed product within a caller's own timed block, say) or alongside it
    /// from another thread is part of the first one's time and operations,
    /// so nothing is counted twice.
    #[inline]
    pub fn timed<R>(&self, kernel: Kernel, f: impl FnOnce() -> R) -> R {
        if self.active.fetch_add(1, Ordering::SeqCst) != 0 {
            let r = f();
            self.active.fetch_sub(1, Ordering::SeqCst);
            return r;
        }
        let (f0, t) = (self.flops(), Instant::now());
        let r = f();
        let nanos = t.elapsed().as_nanos() as u64;
        let k = kernel.index();
        self.kernel_nanos[k].fetch_add(nanos, Ordering::Relaxed);
        self.kernel_flops[k].fetch_add(self.flops().saturating_sub(f0), Ordering::Relaxed);
        self.kernel_calls[k].fetch_add(1, Ordering::Relaxed);
        self.active.fetch_sub(1, Ordering::SeqCst);
        r
    }

    /// The kernels that ran, in [`Kernel::ALL`] order.
    pub fn kernels(&self) -> Vec<KernelWork> {
        Kernel::ALL
            .iter()
            .filter_map(|&kernel| {
                let k = kernel.index();
                let calls = self.kernel_calls[k].load(Ordering::Relaxed);
                (calls > 0).then(|| KernelWork {
                    kernel,
                    calls,
                    seconds: self.kernel_nanos[k].load(Ordering::Relaxed) as f64 / 1e9,
                    flops: self.kernel_flops[k].load(Ordering::Relaxed),
                })
            })
            .collect()
    }

    /// Records `n` floating-point operations.
    #[inline]
    pub fn add_flops(&self, n: usize) {
        self.flops.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// Records the 2 m k n operations of an (m x k) (k x n) product.
    #[inline]
    pub fn add_product(&self, m: usize, k: usize, n: usize) {
        self.add_flops(2 * m * k * n);
    }

    /// Operations recorded.
    pub fn flops(&self) -> u64 {
        self.flops.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernels_record_their_own_time_and_operations_once() {
        let w = Work::new();
        w.add_flops(5);
        let r = w.timed(Kernel::SparseProduct, || {
            w.add_flops(100);
            // Nested: counted in the outer kernel, not again.
            w.timed(Kernel::DenseProduct, || w.add_flops(10));
            std::thread::sleep(std::time::Duration::from_millis(2));
            7
        });
        assert_eq!(r, 7);
        w.timed(Kernel::SparseProduct, || w.add_flops(1));
        let k = w.kernels();
        assert_eq!(k.len(), 1);
        assert_eq!(k[0].kernel, Kernel::SparseProduct);
        assert_eq!((k[0].calls, k[0].flops), (2, 111));
        assert!(k[0].seconds >= 0.002, "{}", k[0].seconds);
        assert_eq!(w.flops(), 116);
        // Another record, alongside: its own counts only.
        let other = Work::new();
        std::thread::scope(|s| {
            s.spawn(|| other.timed(Kernel::DenseProduct, || other.add_product(2, 3, 4)));
            s.spawn(|| w.timed(Kernel::DenseProduct, || w.add_flops(1)));
        });
        assert_eq!(other.flops(), 2 * 2 * 3 * 4);
        assert_eq!(other.kernels()[0].kernel, Kernel::DenseProduct);
        assert_eq!(w.flops(), 117);
        assert!(Work::new().kernels().is_empty());
    }
}
