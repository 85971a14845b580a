//! Results independent of the number of threads.
//!
//! faer splits a product or a decomposition into as many parts as its `Par`
//! says and adds the parts' partial sums; `Par::rayon(0)` (faer's default)
//! means "one part per thread", so the rounding, and with it a tie in a
//! similarity ranking, changed with the thread count (issue 21: recall
//! p-values moved by 0.011 between 1 and 2 threads). Every faer call here
//! takes [`par`], a fixed number of parts whatever the number of threads,
//! and [`fix_faer_parallelism`] sets the same for faer's operators and
//! decompositions (`&a * &b`, `thin_svd`, `llt`...). Reductions of our own
//! add partial results in a fixed order, never in rayon's reduction tree
//! (whose shape follows the threads and work stealing).
//!
//! Two parts: the number of cores of the reference machine, so that every
//! result computed there before this fix keeps its bits.

use faer::Par;

/// Parts faer splits each parallel operation into.
pub const PARTS: usize = 2;

/// The parallelism to pass to faer: [`PARTS`] parts on rayon's pool.
pub fn par() -> Par {
    Par::rayon(PARTS)
}

/// Makes faer's global parallelism [`par`] (it is read by operators and
/// decompositions that take no `Par`). Idempotent; cheap.
pub fn fix_faer_parallelism() {
    faer::set_global_parallelism(par());
}

/// Sums in index order (the same bits whatever the threads that computed
/// the terms).
pub fn ordered_sum(terms: &[f64]) -> f64 {
    terms.iter().sum()
}
