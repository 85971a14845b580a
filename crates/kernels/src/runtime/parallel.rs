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
//! Heavy kernels take a `par: Par` from their caller (the scheduler decides
//! whether nodes or kernels run in parallel): it governs the kernel's own
//! loops over fixed blocks, which give the same bits sequentially or on
//! any number of threads.
//!
//! Two parts: the number of cores of the reference machine, so that every
//! result computed there before this fix keeps its bits.

use faer::Par;

/// Parts faer splits each parallel operation into.
pub const PARTS: usize = 2;

/// The parallelism to pass to faer: [`PARTS`] parts on rayon's pool,
/// whatever `par` a kernel was given (faer's parts are the bits of its
/// sums; a kernel's `par` decides its own block loops, see
/// [`map_indices`]).
pub fn par() -> Par {
    Par::rayon(PARTS)
}

/// Maps `f` over `0..n`, results in index order: on rayon's pool when `par`
/// is [`Par::Rayon`], on the calling thread when [`Par::Seq`]. Each item is
/// computed on its own, so the results are the same bits either way; this
/// is how a kernel's own block loop follows the `par` its caller chose.
pub fn map_indices<T: Send>(par: Par, n: usize, f: impl Fn(usize) -> T + Sync + Send) -> Vec<T> {
    use rayon::prelude::*;
    match par {
        Par::Seq => (0..n).map(f).collect(),
        Par::Rayon(_) => (0..n).into_par_iter().map(f).collect(),
    }
}

/// Consecutive ranges of items whose `sizes` add up to at most `budget`
/// each (an item larger than the budget makes a range of its own): the
/// batches a kernel hands to [`map_indices`]. They depend on the sizes
/// only, never on the threads.
pub fn ranges_by_size(sizes: &[usize], budget: usize) -> Vec<std::ops::Range<usize>> {
    let mut ranges = Vec::new();
    let (mut first, mut total) = (0, 0);
    for (k, &size) in sizes.iter().enumerate() {
        if k > first && total + size > budget {
            ranges.push(first..k);
            (first, total) = (k, 0);
        }
        total += size;
    }
    if first < sizes.len() {
        ranges.push(first..sizes.len());
    }
    ranges
}

/// [`map_indices`] over the items of a slice.
pub fn map_slice<I: Sync, T: Send>(
    par: Par,
    items: &[I],
    f: impl Fn(&I) -> T + Sync + Send,
) -> Vec<T> {
    map_indices(par, items.len(), |i| f(&items[i]))
}

/// Runs `f(index, chunk)` on each `chunk`-long piece of `data`: on rayon's
/// pool or on the calling thread, as `par` says.
pub fn for_each_chunk_mut<T: Send>(
    par: Par,
    data: &mut [T],
    chunk: usize,
    f: impl Fn(usize, &mut [T]) + Sync + Send,
) {
    use rayon::prelude::*;
    match par {
        Par::Seq => data
            .chunks_mut(chunk)
            .enumerate()
            .for_each(|(i, c)| f(i, c)),
        Par::Rayon(_) => data
            .par_chunks_mut(chunk)
            .enumerate()
            .for_each(|(i, c)| f(i, c)),
    }
}

/// `f(a_i, b_i)` for each pair of items, results in order: on rayon's pool
/// or on the calling thread, as `par` says.
pub fn map_zip_mut<A: Sync, B: Send, T: Send>(
    par: Par,
    a: &[A],
    b: &mut [B],
    f: impl Fn(&A, &mut B) -> T + Sync + Send,
) -> Vec<T> {
    use rayon::prelude::*;
    match par {
        Par::Seq => a.iter().zip(b.iter_mut()).map(|(x, y)| f(x, y)).collect(),
        Par::Rayon(_) => a
            .par_iter()
            .zip(b.par_iter_mut())
            .map(|(x, y)| f(x, y))
            .collect(),
    }
}

/// `f(a_i, b_i)` for each item of `a` and the matching owned item of `b`.
pub fn for_each_mut_with<A: Send, B: Send>(
    par: Par,
    a: &mut [A],
    b: Vec<B>,
    f: impl Fn(&mut A, B) + Sync + Send,
) {
    use rayon::prelude::*;
    match par {
        Par::Seq => a.iter_mut().zip(b).for_each(|(x, y)| f(x, y)),
        Par::Rayon(_) => a.par_iter_mut().zip(b).for_each(|(x, y)| f(x, y)),
    }
}

/// Threads a kernel's loop may use under `par` (to size its tasks; never
/// to split a sum, whose bits must not depend on it).
pub fn threads(par: Par) -> usize {
    match par {
        Par::Seq => 1,
        Par::Rayon(_) => rayon::current_num_threads().max(1),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_by_size_fill_each_range_up_to_the_budget() {
        assert_eq!(ranges_by_size(&[], 10), vec![]);
        assert_eq!(
            ranges_by_size(&[4, 6, 1, 12, 3], 10),
            vec![0..2, 2..3, 3..4, 4..5]
        );
        assert_eq!(ranges_by_size(&[3, 3, 3], 10), vec![0..3]);
    }
}
