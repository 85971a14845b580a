//! Average ranks (scipy's `rankdata`, method "average") in linear time.
//!
//! Task 6's Spearman correlation ranks every gene's predictions over all
//! test samples: thousands of rankings of up to millions of values. The
//! values are ordered by an LSD radix sort of their order-preserving bit
//! patterns (IEEE total order, as `f64::total_cmp`), which is stable, so the
//! order, and the ranks, are those of a stable comparison sort.

/// Bits of each radix digit.
const DIGIT_BITS: u32 = 11;
const BUCKETS: usize = 1 << DIGIT_BITS;
/// Below this many values a comparison sort is quicker than the radix passes.
const RADIX_FROM: usize = 4096;

/// The value's bit pattern, as an unsigned key in `f64::total_cmp` order.
#[inline]
fn order_key(x: f64) -> u64 {
    let b = x.to_bits();
    if b >> 63 == 1 {
        !b
    } else {
        b | (1 << 63)
    }
}

/// Positions of `keys` in ascending key order, ties in position order.
fn stable_order(keys: &[u64]) -> Vec<u32> {
    let n = keys.len();
    assert!(n <= u32::MAX as usize, "at most 2^32 values to rank");
    let mut order: Vec<u32> = (0..n as u32).collect();
    if n < RADIX_FROM {
        order.sort_by_key(|&i| keys[i as usize]);
        return order;
    }
    let passes = 64u32.div_ceil(DIGIT_BITS) as usize;
    let digit = |k: u64, pass: usize| ((k >> (pass as u32 * DIGIT_BITS)) as usize) & (BUCKETS - 1);
    let mut hist = vec![[0u32; BUCKETS]; passes];
    for &k in keys {
        for (pass, h) in hist.iter_mut().enumerate() {
            h[digit(k, pass)] += 1;
        }
    }
    let mut k_from: Vec<u64> = keys.to_vec();
    let mut k_to = vec![0u64; n];
    let mut o_to = vec![0u32; n];
    for (pass, h) in hist.iter().enumerate() {
        // A digit all values share leaves the order as it is.
        if h.iter().any(|&c| c as usize == n) {
            continue;
        }
        let mut start = [0u32; BUCKETS];
        let mut at = 0u32;
        for (s, &c) in start.iter_mut().zip(h.iter()) {
            *s = at;
            at += c;
        }
        for (&k, &o) in k_from.iter().zip(&order) {
            let b = digit(k, pass);
            let dst = start[b] as usize;
            start[b] += 1;
            k_to[dst] = k;
            o_to[dst] = o;
        }
        std::mem::swap(&mut k_from, &mut k_to);
        std::mem::swap(&mut order, &mut o_to);
    }
    order
}

/// Calls `group(i, j)` for each run `order[i..=j]` of values equal by `==`.
fn tie_groups(order: &[u32], value: impl Fn(u32) -> f64, mut group: impl FnMut(usize, usize)) {
    let mut i = 0;
    while i < order.len() {
        let vi = value(order[i]);
        let mut j = i;
        while j + 1 < order.len() && value(order[j + 1]) == vi {
            j += 1;
        }
        group(i, j);
        i = j + 1;
    }
}

/// Ranks 1..n, ties (values equal by `==`) given their average rank.
pub fn average_ranks(v: &[f64]) -> Vec<f64> {
    let keys: Vec<u64> = v.iter().map(|x| order_key(*x)).collect();
    let order = stable_order(&keys);
    let mut rank = vec![0.0; v.len()];
    tie_groups(
        &order,
        |o| v[o as usize],
        |i, j| {
            let r = (i + j) as f64 / 2.0 + 1.0;
            for &o in &order[i..=j] {
                rank[o as usize] = r;
            }
        },
    );
    rank
}

/// [`average_ranks`] of a vector of `n` values that is zero except at
/// `rows` (values `values`; stored zeros count as zeros): only the non-zeros
/// are sorted, and the zeros share one average rank.
pub fn average_ranks_sparse(n: usize, rows: &[u32], values: &[f64]) -> Vec<f64> {
    assert_eq!(rows.len(), values.len(), "rows and values");
    let nz: Vec<(u32, f64)> = rows
        .iter()
        .zip(values)
        .filter(|(_, v)| **v != 0.0)
        .map(|(r, v)| (*r, *v))
        .collect();
    let keys: Vec<u64> = nz.iter().map(|(_, v)| order_key(*v)).collect();
    let order = stable_order(&keys);
    let zeros = n - nz.len();
    let negative = nz.iter().filter(|(_, v)| *v < 0.0).count();
    // 0-based position in the full order of the q-th sorted non-zero.
    let place = |q: usize| if q < negative { q } else { q + zeros };
    let zero_rank = negative as f64 + (zeros as f64 + 1.0) / 2.0;
    let mut rank = vec![zero_rank; n];
    tie_groups(
        &order,
        |o| nz[o as usize].1,
        |i, j| {
            let r = (place(i) + place(j)) as f64 / 2.0 + 1.0;
            for &o in &order[i..=j] {
                rank[nz[o as usize].0 as usize] = r;
            }
        },
    );
    rank
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng;

    /// The definition: a stable comparison sort, then tie groups.
    fn ranks_by_sort(v: &[f64]) -> Vec<f64> {
        let mut order: Vec<usize> = (0..v.len()).collect();
        order.sort_by(|&a, &b| v[a].total_cmp(&v[b]));
        let mut rank = vec![0.0; v.len()];
        let mut i = 0;
        while i < order.len() {
            let mut j = i;
            while j + 1 < order.len() && v[order[j + 1]] == v[order[i]] {
                j += 1;
            }
            for &o in &order[i..=j] {
                rank[o] = (i + j) as f64 / 2.0 + 1.0;
            }
            i = j + 1;
        }
        rank
    }

    #[test]
    fn ranks_by_hand() {
        assert_eq!(
            average_ranks(&[10.0, 20.0, 20.0, 5.0]),
            vec![2.0, 3.5, 3.5, 1.0]
        );
        // -0.0 and 0.0 are one tie group; negatives before them.
        assert_eq!(
            average_ranks(&[0.0, -1.0, -0.0, 2.0]),
            vec![2.5, 1.0, 2.5, 4.0]
        );
        assert_eq!(
            average_ranks_sparse(5, &[1, 3, 4], &[-1.0, 2.0, 0.0]),
            vec![3.0, 1.0, 3.0, 5.0, 3.0]
        );
        assert!(average_ranks(&[]).is_empty());
    }

    #[test]
    fn radix_ranks_equal_sorted_ranks_on_every_kind_of_value() {
        let mut rng = crate::stats::rng::stream(7, "ranks-test", 0);
        // Sizes on both sides of the radix threshold.
        for n in [1usize, 2, 17, 4095, 4096, 20_000] {
            for kind in 0..4 {
                let v: Vec<f64> = (0..n)
                    .map(|_| match kind {
                        // Continuous, both signs.
                        0 => rng.random_range(-3.0..3.0),
                        // Many ties, and zeros of both signs.
                        1 => [-0.0, 0.0, 1.5, -2.0, 7.0][rng.random_range(0..5)],
                        // Mostly zero, like a gene's expression.
                        2 => {
                            if rng.random_range(0.0..1.0) < 0.85 {
                                0.0
                            } else {
                                rng.random_range(0.0..5.0f64).round() / 2.0
                            }
                        }
                        // Huge and tiny magnitudes.
                        _ => rng.random_range(-1.0..1.0) * 10f64.powi(rng.random_range(-300..300)),
                    })
                    .collect();
                let want = ranks_by_sort(&v);
                assert_eq!(average_ranks(&v), want, "n={n} kind={kind}");
                let rows: Vec<u32> = (0..n as u32).filter(|&i| v[i as usize] != 0.0).collect();
                let vals: Vec<f64> = rows.iter().map(|&i| v[i as usize]).collect();
                assert_eq!(
                    average_ranks_sparse(n, &rows, &vals),
                    want,
                    "sparse n={n} kind={kind}"
                );
            }
        }
    }
}
