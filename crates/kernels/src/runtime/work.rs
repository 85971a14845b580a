//! A process-wide count of the floating-point operations the kernels'
//! dense and sparse products perform, so a benchmark can report the rate a
//! node achieved from the work it actually did (not from a model). Counting
//! is one relaxed atomic add per product block.
//!
//! The heavy kernels (dense and sparse products, the neighbour search, the
//! softmax probe) also record their own wall time and the
//! operations counted while they ran ([`timed`]), so the bench can print each
//! kernel's rate against its floor apart from the work around it (sorting,
//! ranks, reading data).

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Instant;

static FLOPS: AtomicU64 = AtomicU64::new(0);

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
static KERNEL_NANOS: [AtomicU64; KERNELS] = [const { AtomicU64::new(0) }; KERNELS];
static KERNEL_FLOPS: [AtomicU64; KERNELS] = [const { AtomicU64::new(0) }; KERNELS];
static KERNEL_CALLS: [AtomicU64; KERNELS] = [const { AtomicU64::new(0) }; KERNELS];
/// Kernels running now, in any thread.
static ACTIVE: AtomicU32 = AtomicU32::new(0);

/// Runs a heavy kernel, recording its wall time and the operations counted
/// meanwhile under `kernel`. Only a kernel entered while no other runs is
/// recorded: one called inside another (a timed product within a caller's
/// own timed block, say) or alongside it from another thread is
/// part of the first one's time and operations, so nothing is counted
/// twice.
#[inline]
pub fn timed<R>(kernel: Kernel, f: impl FnOnce() -> R) -> R {
    if ACTIVE.fetch_add(1, Ordering::SeqCst) != 0 {
        let r = f();
        ACTIVE.fetch_sub(1, Ordering::SeqCst);
        return r;
    }
    let (f0, t) = (flops(), Instant::now());
    let r = f();
    let nanos = t.elapsed().as_nanos() as u64;
    let k = kernel.index();
    KERNEL_NANOS[k].fetch_add(nanos, Ordering::Relaxed);
    KERNEL_FLOPS[k].fetch_add(flops().saturating_sub(f0), Ordering::Relaxed);
    KERNEL_CALLS[k].fetch_add(1, Ordering::Relaxed);
    ACTIVE.fetch_sub(1, Ordering::SeqCst);
    r
}

/// One kernel's recorded work since the last [`reset`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KernelWork {
    pub kernel: Kernel,
    pub calls: u64,
    pub seconds: f64,
    pub flops: u64,
}

/// The kernels that ran since the last [`reset`], in [`Kernel::ALL`] order.
pub fn kernels() -> Vec<KernelWork> {
    Kernel::ALL
        .iter()
        .filter_map(|&kernel| {
            let k = kernel.index();
            let calls = KERNEL_CALLS[k].load(Ordering::Relaxed);
            (calls > 0).then(|| KernelWork {
                kernel,
                calls,
                seconds: KERNEL_NANOS[k].load(Ordering::Relaxed) as f64 / 1e9,
                flops: KERNEL_FLOPS[k].load(Ordering::Relaxed),
            })
        })
        .collect()
}

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

/// Clears the operation count and every kernel's record.
pub fn reset() {
    FLOPS.store(0, Ordering::Relaxed);
    for k in 0..KERNELS {
        KERNEL_NANOS[k].store(0, Ordering::Relaxed);
        KERNEL_FLOPS[k].store(0, Ordering::Relaxed);
        KERNEL_CALLS[k].store(0, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHILD: &str = "PERTBENCH_WORK_TEST_CHILD";

    /// The counters are process-wide and other tests run products in
    /// parallel, so the check runs in a process of its own.
    #[test]
    fn kernels_record_their_own_time_and_operations_once() {
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "runtime::work::tests::recording_alone",
                "--exact",
                "--ignored",
                "--test-threads=1",
                "--nocapture",
            ])
            .env(CHILD, "1")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{text}");
        assert!(text.contains("1 passed"), "{text}");
        assert!(text.contains("recorded alone"), "{text}");
    }

    #[test]
    #[ignore = "run in a process of its own by kernels_record_their_own_time_and_operations_once"]
    fn recording_alone() {
        if std::env::var_os(CHILD).is_none() {
            return;
        }
        reset();
        add_flops(5);
        let r = timed(Kernel::SparseProduct, || {
            add_flops(100);
            // Nested: counted in the outer kernel, not again.
            timed(Kernel::DenseProduct, || add_flops(10));
            std::thread::sleep(std::time::Duration::from_millis(2));
            7
        });
        assert_eq!(r, 7);
        timed(Kernel::SparseProduct, || add_flops(1));
        let k = kernels();
        assert_eq!(k.len(), 1);
        assert_eq!(k[0].kernel, Kernel::SparseProduct);
        assert_eq!((k[0].calls, k[0].flops), (2, 111));
        assert!(k[0].seconds >= 0.002, "{}", k[0].seconds);
        assert_eq!(flops(), 116);
        reset();
        assert!(kernels().is_empty());
        assert_eq!(flops(), 0);
        println!("recorded alone");
    }
}
