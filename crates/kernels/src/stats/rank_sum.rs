//! The Mann-Whitney U (Wilcoxon rank-sum) test of a small sample against a
//! large reference, with scipy's tie correction and continuity correction.
//!
//! Definition (scipy `mannwhitneyu(x, y, use_continuity=True,
//! method="asymptotic")`, numba-mwu, pdex): rank the pooled values (average
//! ranks for ties); R1 is the rank sum of x; U1 = R1 - n1 (n1 + 1) / 2,
//! U2 = n1 n2 - U1, U = max(U1, U2); mu = n1 n2 / 2;
//! s^2 = n1 n2 / 12 ((n + 1) - T / (n (n - 1))) with T = sum over tie groups
//! of t^3 - t; z = (U - mu - 1/2) / s; p = 2 P(Z > z), clipped to [0, 1].
//! A pooled sample with every value equal (s^2 = 0) has p = 1. The reported
//! statistic is U1.
//!
//! Single-cell expression is mostly zeros, and the reference (the controls)
//! is the same for every perturbation, so the reference is summarised once
//! per gene as its distinct values with their counts ([`SortedSample`]),
//! and each test walks the sample's non-zero values only: a run of equal
//! values gets its pooled rank from two binary searches in the reference,
//! zeros form one run. A test costs O(nnz log d) (d distinct reference
//! values) instead of sorting n1 + n2 values. Rank sums are sums of
//! half-integers (exact in f64) and the tie term is summed in integers, so
//! the results do not depend on the order of the values.

/// t^3 - t, exactly.
#[inline]
fn tie_groups(t: u64) -> i128 {
    let t = t as i128;
    t * t * t - t
}

/// A sample's distinct values ascending, with their counts: what a rank test
/// needs of the reference side.
#[derive(Debug, Clone, PartialEq)]
pub struct SortedSample {
    values: Vec<f32>,
    counts: Vec<u32>,
    /// Values of the sample strictly below `values[i]`.
    below: Vec<u64>,
    n: u64,
    /// Sum over tie groups of t^3 - t.
    tie_term: i128,
}

impl SortedSample {
    /// From the sample's stored values (any order; stored zeros allowed) and
    /// its size `n` (the values not stored are zeros). None when a value is
    /// NaN or more values are given than `n`.
    pub fn from_stored(stored: &[f32], n: usize) -> Option<SortedSample> {
        if stored.len() > n || stored.iter().any(|v| v.is_nan()) {
            return None;
        }
        let mut sorted = stored.to_vec();
        sorted.sort_unstable_by(f32::total_cmp);
        Some(Self::from_sorted(&sorted, n))
    }

    /// From stored values sorted ascending (`total_cmp`, no NaN) and the size.
    fn from_sorted(sorted: &[f32], n: usize) -> SortedSample {
        let mut out = SortedSample {
            values: Vec::new(),
            counts: Vec::new(),
            below: Vec::new(),
            n: n as u64,
            tie_term: 0,
        };
        let mut seen = 0u64;
        let mut push = |out: &mut SortedSample, v: f32, c: u64| {
            if c == 0 {
                return;
            }
            // -0.0 and 0.0 are one value, as in a comparison sort.
            if out.values.last().is_some_and(|&last| last == v) {
                *out.counts.last_mut().unwrap() += c as u32;
            } else {
                out.values.push(if v == 0.0 { 0.0 } else { v });
                out.counts.push(c as u32);
                out.below.push(seen);
            }
            seen += c;
        };
        let unstored = (n - sorted.len()) as u64;
        let mut zeros_done = unstored == 0;
        let mut i = 0;
        while i < sorted.len() {
            let v = sorted[i];
            if !zeros_done && v >= 0.0 {
                push(&mut out, 0.0, unstored);
                zeros_done = true;
            }
            let mut j = i + 1;
            while j < sorted.len() && sorted[j] == v {
                j += 1;
            }
            push(&mut out, v, (j - i) as u64);
            i = j;
        }
        if !zeros_done {
            push(&mut out, 0.0, unstored);
        }
        out.tie_term = out.counts.iter().map(|&c| tie_groups(c as u64)).sum();
        out
    }

    pub fn len(&self) -> u64 {
        self.n
    }

    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// (values strictly below v, values equal to v).
    #[inline]
    fn below_and_equal(&self, v: f32) -> (u64, u64) {
        let at = self.values.partition_point(|&x| x < v);
        match self.values.get(at) {
            Some(&x) if x == v => (self.below[at], self.counts[at] as u64),
            Some(_) => (self.below[at], 0),
            None => (self.n, 0),
        }
    }

    /// Bytes held.
    pub fn heap_bytes(&self) -> usize {
        self.values.len() * (4 + 4 + 8)
    }
}

/// A rank-sum test's statistic and two-sided p-value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RankSum {
    /// U1, the Mann-Whitney U of the sample.
    pub statistic: f64,
    pub p_value: f64,
    /// Some pooled values are equal (a tie group of two or more).
    pub ties: bool,
}

/// Standard normal upper tail P(Z > z), as numba-mwu computes it
/// (0.5 erfc(z / sqrt 2)).
#[inline]
pub fn normal_upper_tail(z: f64) -> f64 {
    0.5 * libm::erfc(z / std::f64::consts::SQRT_2)
}

/// The two-sided Mann-Whitney U test of a sample against `reference`. The
/// sample is given by its non-zero values sorted ascending (`sorted_nonzero`,
/// no NaN; zeros already removed) and its size `n` (the rest are zeros).
/// `continuity`: subtract 1/2 from |U - mu| (scipy's default). None when
/// either side is empty.
pub fn rank_sum_test(
    sorted_nonzero: &[f32],
    n: usize,
    reference: &SortedSample,
    continuity: bool,
) -> Option<RankSum> {
    let (n1, n2) = (n as u64, reference.n);
    if n1 == 0 || n2 == 0 || sorted_nonzero.len() > n {
        return None;
    }
    let zeros = n1 - sorted_nonzero.len() as u64;
    let mut r1 = 0.0f64;
    let mut tie_term = reference.tie_term;
    // Sample values strictly below the run being ranked.
    let mut sample_below = 0u64;
    let mut run = |v: f32, a: u64| {
        let (ref_below, ref_equal) = reference.below_and_equal(v);
        let below = ref_below + sample_below;
        let equal = ref_equal + a;
        // Ranks below+1 ..= below+equal share their mean.
        r1 += a as f64 * (below as f64 + (equal as f64 + 1.0) / 2.0);
        tie_term += tie_groups(equal) - tie_groups(ref_equal);
        sample_below += a;
    };
    let mut zeros_done = zeros == 0;
    let mut i = 0;
    while i < sorted_nonzero.len() {
        let v = sorted_nonzero[i];
        if !zeros_done && v > 0.0 {
            run(0.0, zeros);
            zeros_done = true;
        }
        let mut j = i + 1;
        while j < sorted_nonzero.len() && sorted_nonzero[j] == v {
            j += 1;
        }
        run(v, (j - i) as u64);
        i = j;
    }
    if !zeros_done {
        run(0.0, zeros);
    }
    Some(u_test(r1, n1, n2, tie_term as f64, continuity))
}

/// U1 and the two-sided asymptotic p-value from the sample's rank sum.
fn u_test(r1: f64, n1: u64, n2: u64, tie_term: f64, continuity: bool) -> RankSum {
    let (a, b) = (n1 as f64, n2 as f64);
    let n = a + b;
    let u1 = r1 - a * (a + 1.0) / 2.0;
    let u2 = (n1 * n2) as f64 - u1;
    let mu = (n1 * n2) as f64 / 2.0;
    let var_inner = (n + 1.0) - tie_term / (n * (n - 1.0));
    let s_sq = (n1 * n2) as f64 / 12.0 * var_inner;
    let ties = tie_term != 0.0;
    if s_sq <= 0.0 || n < 2.0 {
        return RankSum {
            statistic: u1,
            p_value: 1.0,
            ties,
        };
    }
    let mut numerator = u1.max(u2) - mu;
    if continuity {
        numerator -= 0.5;
    }
    let z = numerator / s_sq.sqrt();
    let p = (normal_upper_tail(z) * 2.0).clamp(0.0, 1.0);
    RankSum {
        statistic: u1,
        p_value: p,
        ties,
    }
}

/// Sample sizes up to which scipy's `method="auto"` takes the exact test
/// (when the smaller side has at most this many values and nothing ties).
pub const EXACT_AT_MOST: usize = 8;

/// The exact null distribution of U for sample sizes m and n (no ties),
/// scipy's `mannwhitneyu(method="exact")`: P(U <= k) for k up to m n / 2.
/// The counts of arrangements giving each U are the coefficients of the
/// Gaussian binomial [m + n choose m]_q, built as the product over
/// i = 1..=min(m, n) of (1 - q^(max + i)) / (1 - q^i), truncated at degree
/// m n / 2, in exact integers (i128; f64 if a count outgrows it, as scipy
/// then does too). The cost is min(m, n) x m n / 2 additions, paid once per
/// pair of sizes.
#[derive(Debug, Clone, PartialEq)]
pub struct ExactU {
    /// m n.
    mn: u64,
    /// `cdf[k]` = P(U <= k), k = 0 ..= m n / 2.
    cdf: Vec<f64>,
}

impl ExactU {
    pub fn new(m: usize, n: usize) -> ExactU {
        let (small, large) = (m.min(n), m.max(n));
        let total = binomial(small + large, small);
        let cdf = cdf::<i128>(small, large, total)
            .unwrap_or_else(|| cdf::<f64>(small, large, total).expect("floats do not overflow"));
        ExactU {
            mn: (m * n) as u64,
            cdf,
        }
    }

    /// The two-sided p-value of U1 = `u1`: 2 P(U >= max(U1, U2)), at most
    /// 1 (scipy: the statistic truncated to an integer, the upper tail
    /// taken as the lower one by symmetry).
    pub fn p_two_sided(&self, u1: f64) -> f64 {
        let mn = self.mn;
        let u = u1.max(mn as f64 - u1) as u64;
        let lower = (mn - u.min(mn)) as usize;
        let p = self.cdf[lower.min(self.cdf.len() - 1)];
        (2.0 * p).clamp(0.0, 1.0)
    }
}

/// A count of arrangements: exact integers, or floats once they outgrow
/// them.
trait Count: Copy {
    const ZERO: Self;
    const ONE: Self;
    /// None on overflow.
    fn add(self, other: Self) -> Option<Self>;
    fn sub(self, other: Self) -> Option<Self>;
    fn to_f64(self) -> f64;
}

impl Count for i128 {
    const ZERO: i128 = 0;
    const ONE: i128 = 1;
    fn add(self, other: i128) -> Option<i128> {
        self.checked_add(other)
    }
    fn sub(self, other: i128) -> Option<i128> {
        self.checked_sub(other)
    }
    fn to_f64(self) -> f64 {
        self as f64
    }
}

impl Count for f64 {
    const ZERO: f64 = 0.0;
    const ONE: f64 = 1.0;
    fn add(self, other: f64) -> Option<f64> {
        Some(self + other)
    }
    fn sub(self, other: f64) -> Option<f64> {
        Some(self - other)
    }
    fn to_f64(self) -> f64 {
        self
    }
}

/// P(U <= k) for k = 0 ..= small x large / 2 from the counts of each U,
/// their partial sums divided by `total` once each; None when a count or
/// a partial sum overflows `T`.
fn cdf<T: Count>(small: usize, large: usize, total: f64) -> Option<Vec<f64>> {
    let half = small * large / 2;
    let mut c = vec![T::ZERO; half + 1];
    c[0] = T::ONE;
    for i in 1..=small {
        let d = large + i;
        for k in (d..=half).rev() {
            c[k] = c[k].sub(c[k - d])?;
        }
        for k in i..=half {
            c[k] = c[k].add(c[k - i])?;
        }
    }
    let mut sum = T::ZERO;
    c.into_iter()
        .map(|v| {
            sum = sum.add(v)?;
            Some(sum.to_f64() / total)
        })
        .collect()
}

/// C(a, b) in f64 as scipy's `special.binom` gives it for integers.
fn binomial(a: usize, b: usize) -> f64 {
    let b = b.min(a - b);
    let mut r = 1.0f64;
    for i in 1..=b {
        r = r * (a - b + i) as f64 / i as f64;
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The textbook definition: sort everything, average ranks of ties.
    fn by_definition(x: &[f32], y: &[f32], continuity: bool) -> RankSum {
        let mut all: Vec<(f32, bool)> = x.iter().map(|&v| (v, true)).collect();
        all.extend(y.iter().map(|&v| (v, false)));
        all.sort_by(|a, b| a.0.total_cmp(&b.0));
        let (mut r1, mut ties) = (0.0, 0.0);
        let mut i = 0;
        while i < all.len() {
            let mut j = i;
            while j + 1 < all.len() && all[j + 1].0 == all[i].0 {
                j += 1;
            }
            let t = (j - i + 1) as f64;
            ties += t * t * t - t;
            let rank = (i + j) as f64 / 2.0 + 1.0;
            r1 += all[i..=j].iter().filter(|e| e.1).count() as f64 * rank;
            i = j + 1;
        }
        u_test(r1, x.len() as u64, y.len() as u64, ties, continuity)
    }

    fn test(x: &[f32], y: &[f32], continuity: bool) -> RankSum {
        let mut nz: Vec<f32> = x.iter().copied().filter(|&v| v != 0.0).collect();
        nz.sort_by(f32::total_cmp);
        let stored: Vec<f32> = y.iter().copied().filter(|&v| v != 0.0).collect();
        let reference = SortedSample::from_stored(&stored, y.len()).unwrap();
        rank_sum_test(&nz, x.len(), &reference, continuity).unwrap()
    }

    #[test]
    fn equals_the_definition_with_zeros_ties_and_negatives() {
        let mut rng = crate::stats::rng::stream(7, "rank_sum", 0);
        use rand::Rng;
        for case in 0..300 {
            let n1 = 1 + case % 17;
            let n2 = 1 + (case * 7) % 41;
            let draw = |rng: &mut rand_chacha::ChaCha8Rng| -> f32 {
                match rng.random_range(0..4) {
                    0 | 1 => 0.0,
                    2 => rng.random_range(0..4) as f32 * 0.5,
                    _ => rng.random_range(-3.0f32..3.0),
                }
            };
            let x: Vec<f32> = (0..n1).map(|_| draw(&mut rng)).collect();
            let y: Vec<f32> = (0..n2).map(|_| draw(&mut rng)).collect();
            for continuity in [true, false] {
                let (a, b) = (test(&x, &y, continuity), by_definition(&x, &y, continuity));
                assert_eq!(a.statistic, b.statistic, "{x:?} {y:?}");
                assert!(
                    (a.p_value - b.p_value).abs() <= 1e-14 * b.p_value.max(1e-300),
                    "{a:?} {b:?}"
                );
            }
        }
    }

    #[test]
    fn by_hand() {
        // x = [1, 2], y = [0, 0, 3]: pooled ranks 0 0 1 2 3 -> 1.5 1.5 3 4 5;
        // R1 = 7, U1 = 7 - 3 = 4, U2 = 2; mu = 3; T = 6; s^2 = 6/12 (6 - 6/20)
        // = 2.85; z = (4 - 3 - 0.5) / sqrt(2.85).
        let r = test(&[1.0, 2.0], &[0.0, 0.0, 3.0], true);
        assert_eq!(r.statistic, 4.0);
        let z = 0.5 / 2.85f64.sqrt();
        assert!((r.p_value - libm::erfc(z / std::f64::consts::SQRT_2)).abs() < 1e-15);
        // All values equal: p = 1; U1 = n1 n2 / 2.
        let r = test(&[0.0, 0.0], &[0.0; 5], true);
        assert_eq!((r.statistic, r.p_value), (5.0, 1.0));
        // Empty sides and bad input.
        let reference = SortedSample::from_stored(&[1.0], 3).unwrap();
        assert!(rank_sum_test(&[], 0, &reference, true).is_none());
        assert!(rank_sum_test(&[1.0, 2.0], 1, &reference, true).is_none());
        assert!(SortedSample::from_stored(&[f32::NAN], 3).is_none());
        assert!(SortedSample::from_stored(&[1.0, 2.0], 1).is_none());
    }

    #[test]
    fn stored_zeros_and_negative_zero_join_the_zeros() {
        let a = SortedSample::from_stored(&[0.0, -0.0, 2.0], 5).unwrap();
        let b = SortedSample::from_stored(&[2.0], 5).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.below_and_equal(0.0), (0, 4));
        assert_eq!(a.below_and_equal(1.0), (4, 0));
        assert_eq!(a.below_and_equal(9.0), (5, 0));
        assert_eq!(a.below_and_equal(-1.0), (0, 0));
    }

    /// U's distribution by enumerating every choice of the m ranks.
    fn enumerated_cdf(m: usize, n: usize) -> Vec<f64> {
        let total = m + n;
        let mut counts = vec![0u64; m * n + 1];
        let mut count = 0u64;
        for mask in 0u32..(1 << total) {
            if mask.count_ones() as usize != m {
                continue;
            }
            // U = sum of ranks of the m chosen - m (m + 1) / 2.
            let r: usize = (0..total)
                .filter(|i| mask >> i & 1 == 1)
                .map(|i| i + 1)
                .sum();
            counts[r - m * (m + 1) / 2] += 1;
            count += 1;
        }
        let mut acc = 0u64;
        counts
            .iter()
            .map(|c| {
                acc += c;
                acc as f64 / count as f64
            })
            .collect()
    }

    #[test]
    fn the_exact_distribution_equals_enumeration() {
        for (m, n) in [(1, 1), (1, 5), (3, 4), (4, 3), (2, 9), (5, 7), (6, 6)] {
            let e = ExactU::new(m, n);
            let want = enumerated_cdf(m, n);
            assert_eq!(e.cdf.len(), m * n / 2 + 1);
            for (k, &c) in e.cdf.iter().enumerate() {
                assert!(
                    (c - want[k]).abs() <= 1e-15,
                    "{m} {n} {k}: {c} vs {}",
                    want[k]
                );
            }
        }
    }

    #[test]
    fn exact_p_values_equal_scipys() {
        // scipy 1.17.1 mannwhitneyu(x, y) (method "auto" -> exact: no ties,
        // the smaller sample at most 8).
        let x = [0.5f32, 2.5, 3.1];
        let y = [1.0f32, 1.5, 2.0, 4.0, 5.0, 6.0, 7.0];
        let t = test(&x, &y, true);
        assert!(!t.ties);
        assert_eq!(t.statistic, 6.0);
        let p = ExactU::new(3, 7).p_two_sided(t.statistic);
        assert!((p - 0.3833333333333333).abs() <= 1e-15 * 0.38, "{p}");
        let x: Vec<f32> = (1..6).map(|i| i as f32 + 0.25).collect();
        let y: Vec<f32> = (1..201).map(|i| i as f32 * 0.1).collect();
        let t = test(&x, &y, true);
        assert_eq!(t.statistic, 160.0);
        let p = ExactU::new(5, 200).p_two_sided(t.statistic);
        assert!((p / 0.006460248993159415 - 1.0).abs() <= 1e-12, "{p}");
        // The reference side may be the small one; a separation this
        // complete is 2 / C(1008, 8).
        let p = ExactU::new(1000, 8).p_two_sided(8000.0);
        assert!((p / 7.779649466922164e-20 - 1.0).abs() <= 1e-12, "{p}");
        assert_eq!(ExactU::new(8, 1000).p_two_sided(0.0), p);
        // The middle of the distribution is p = 1.
        assert_eq!(ExactU::new(4, 6).p_two_sided(12.0), 1.0);
    }

    #[test]
    fn counts_too_large_for_integers_fall_back_to_floats() {
        // C(400_008, 8) ~ 1.6e40 outgrows i128 (1.7e38).
        let big = ExactU::new(8, 400_000);
        assert!(cdf::<i128>(8, 400_000, binomial(400_008, 8)).is_none());
        let mid = big.cdf[big.cdf.len() - 1];
        assert!(mid > 0.5 && mid < 0.51, "{mid}");
        assert!(big.cdf.windows(2).all(|w| w[0] <= w[1]));
    }

    #[test]
    fn extreme_separation_keeps_a_relative_precision() {
        // 500 zeros against 500 ones: z ~ 27, p ~ 1e-160, not 0.
        let x = vec![1.0f32; 500];
        let y = vec![0.0f32; 500];
        let r = test(&x, &y, true);
        assert!(r.p_value > 0.0 && r.p_value < 1e-100, "{r:?}");
        assert_eq!(r.statistic, 250000.0);
    }
}
