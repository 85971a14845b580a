//! Task 3, perturbation consistency (METRICS.md "Task 3").
//!
//! avgsim_g = mean over pairs i < j of cos(x_i, x_j)
//!          = (||sum_i u_i||^2 - m) / (n (n - 1)),
//! with u_i the unit rows and m the number of non-zero rows (a zero row has
//! cosine 0 with everything, so it adds no self term).
//! p_g = #(null >= avgsim_g) / |null| (the efaar-benchmarking convention
//! `1 - searchsorted(null, s, "left") / |null|`).

use crate::linalg::simd::axpy_f32_into_f64;
use crate::runtime::parallel::map_indices;
use crate::stats::rng::stream;
use crate::stats::search::searchsorted_left;
use crate::KernelError;
use faer::Par;
use ndarray::ArrayView2;
use rand::seq::index::sample;
use rand::seq::SliceRandom;
use rayon::prelude::*;

/// Rows of a representation with their reciprocal norms: u_i = x_i / ||x_i||
/// is formed on the fly (in f64), so no unit copy of the matrix is held.
pub struct UnitRows<'a> {
    x: ArrayView2<'a, f32>,
    /// 1 / ||x_i|| (f64), 0 for a zero row.
    inv_norm: Vec<f64>,
}

impl<'a> UnitRows<'a> {
    pub fn new(x: ArrayView2<'a, f32>) -> Self {
        let inv_norm = x
            .outer_iter()
            .into_par_iter()
            .map(|r| {
                let norm = r.iter().map(|v| *v as f64 * *v as f64).sum::<f64>().sqrt();
                if norm > 0.0 {
                    1.0 / norm
                } else {
                    0.0
                }
            })
            .collect();
        UnitRows { x, inv_norm }
    }

    pub fn dim(&self) -> usize {
        self.x.ncols()
    }

    /// sum += u_r; returns whether u_r is non-zero.
    #[inline]
    fn add_into(&self, sum: &mut [f64], r: usize) -> bool {
        let inv = self.inv_norm[r];
        if inv == 0.0 {
            return false;
        }
        let row = self.x.row(r);
        match row.as_slice() {
            Some(v) => axpy_f32_into_f64(sum, inv, v),
            None => {
                for (s, v) in sum.iter_mut().zip(row.iter()) {
                    *s = (*v as f64).mul_add(inv, *s);
                }
            }
        }
        true
    }
}

/// avgsim of a group from its unit-row sum and non-zero row count.
#[inline]
fn avgsim_of_sum(sum: &[f64], nonzero: usize, n: usize) -> f64 {
    let sq: f64 = sum.iter().map(|v| v * v).sum();
    (sq - nonzero as f64) / (n as f64 * (n as f64 - 1.0))
}

/// Mean pairwise cosine of the rows listed. None below 2 rows.
pub fn avgsim(unit: &UnitRows, rows: &[usize]) -> Option<f64> {
    let n = rows.len();
    if n < 2 {
        return None;
    }
    let mut sum = vec![0f64; unit.dim()];
    let nonzero = rows.iter().filter(|&&r| unit.add_into(&mut sum, r)).count();
    Some(avgsim_of_sum(&sum, nonzero, n))
}

/// p-value of `s` against an ascending null: fraction of null values >= s.
pub fn pvalue(sorted_null: &[f64], s: f64) -> f64 {
    let left = searchsorted_left(sorted_null, s);
    (sorted_null.len() - left) as f64 / sorted_null.len() as f64
}

/// p-value of `s` against an ascending null counting the observation
/// itself: (1 + #(null >= s)) / (1 + |null|). Under the null it is valid,
/// P(p <= a) <= a, where [`pvalue`] (efaar's) reaches 1 / (|null| + 1) at 0.
pub fn pvalue_plus_one(sorted_null: &[f64], s: f64) -> f64 {
    let left = searchsorted_left(sorted_null, s);
    (1 + sorted_null.len() - left) as f64 / (1 + sorted_null.len()) as f64
}

/// `n_sets` avgsims of random sets of `size` rows drawn without replacement
/// from `pool`, sorted ascending. Set k uses its own seeded stream, so the
/// null is the same whatever the thread count.
pub fn permutation_null(
    unit: &UnitRows,
    pool: &[usize],
    size: usize,
    n_sets: usize,
    seed: u64,
    par: Par,
) -> Result<Vec<f64>, KernelError> {
    if size < 2 || size > pool.len() {
        return Err(KernelError::NotEnough(format!(
            "cannot draw sets of {size} rows from a pool of {} non-control samples",
            pool.len()
        )));
    }
    permutation_null_within(
        unit,
        &[(pool, size)],
        n_sets,
        seed,
        &format!("consistency-permutation-{size}"),
        par,
    )
}

/// `n_sets` avgsims of random sets that draw, from each (pool, count) of
/// `strata`, `count` rows without replacement (a perturbation's own count
/// of samples in each batch, from that batch's non-control samples), sorted
/// ascending; set k uses stream k of `tag`. One stratum gives the draws of
/// [`permutation_null`].
pub fn permutation_null_within(
    unit: &UnitRows,
    strata: &[(&[usize], usize)],
    n_sets: usize,
    seed: u64,
    tag: &str,
    par: Par,
) -> Result<Vec<f64>, KernelError> {
    let size: usize = strata.iter().map(|s| s.1).sum();
    if size < 2 {
        return Err(KernelError::NotEnough(format!(
            "a set of {size} rows has no pairs"
        )));
    }
    if let Some((pool, count)) = strata.iter().find(|(p, c)| *c > p.len()) {
        return Err(KernelError::NotEnough(format!(
            "cannot draw sets of {count} rows from a pool of {} non-control samples",
            pool.len()
        )));
    }
    let mut null: Vec<f64> = map_indices(par, n_sets, |k| {
        let mut rng = stream(seed, tag, k as u64);
        let mut picked: Vec<usize> = Vec::with_capacity(size);
        for (pool, count) in strata {
            picked.extend(
                sample(&mut rng, pool.len(), *count)
                    .into_iter()
                    .map(|i| pool[i]),
            );
        }
        // Summed in row order: the same set gives the same sum.
        picked.sort_unstable();
        avgsim(unit, &picked).expect("size >= 2")
    });
    null.sort_by(|a, b| a.total_cmp(b));
    Ok(null)
}

/// Draws of a label shuffle processed per pass over the pool: each pass
/// reads every pool row once and adds it into this many draws' group sums.
const DRAWS_PER_PASS: usize = 4;

/// Not dealt into any group.
const NONE: u32 = u32::MAX;

/// The label-shuffle null: in draw k (seeded stream k of `tag`) the pool's
/// rows are dealt at random into groups of `sizes` (rows beyond their sum
/// are left out), and each group's avgsim is returned: one vector per draw,
/// in the order of `sizes`.
///
/// Rows are read in pool order and added into their group's sum, so a pass
/// streams the matrix instead of gathering rows at random; each pass serves
/// [`DRAWS_PER_PASS`] draws. The result does not depend on the thread count.
pub fn label_shuffle_avgsims(
    unit: &UnitRows,
    pool: &[usize],
    sizes: &[usize],
    n_draws: usize,
    seed: u64,
    tag: &str,
    par: Par,
) -> Result<Vec<Vec<f64>>, KernelError> {
    let counts: Vec<Vec<usize>> = sizes.iter().map(|&n| vec![n]).collect();
    label_shuffle_avgsims_within(
        unit,
        pool,
        &vec![0; pool.len()],
        &counts,
        n_draws,
        seed,
        tag,
        par,
    )
}

/// [`label_shuffle_avgsims`] dealing within strata: `stratum[i]` is pool
/// row i's stratum (0..k, a batch) and `counts[g][s]` group g's rows in
/// stratum s; each stratum's rows are dealt among its own group slots, so
/// every group keeps its count in every batch. One stratum gives the draws
/// of [`label_shuffle_avgsims`].
pub fn label_shuffle_avgsims_within(
    unit: &UnitRows,
    pool: &[usize],
    stratum: &[usize],
    counts: &[Vec<usize>],
    n_draws: usize,
    seed: u64,
    tag: &str,
    par: Par,
) -> Result<Vec<Vec<f64>>, KernelError> {
    let n_strata = stratum.iter().max().map_or(0, |m| m + 1);
    if stratum.len() != pool.len() || counts.iter().any(|c| c.len() > n_strata.max(1)) {
        return Err(KernelError::Shape(format!(
            "strata of {} pool rows in {n_strata} strata, groups counted over up to {} strata",
            stratum.len(),
            counts.iter().map(Vec::len).max().unwrap_or(0)
        )));
    }
    let sizes: Vec<usize> = counts.iter().map(|c| c.iter().sum()).collect();
    if let Some(s) = sizes.iter().find(|s| **s < 2) {
        return Err(KernelError::NotEnough(format!(
            "a group of {s} row has no pairs"
        )));
    }
    // Positions of each stratum's rows in the pool, and its deck before
    // shuffling: group g's label counts[g][s] times, then NONE.
    let mut positions: Vec<Vec<usize>> = vec![Vec::new(); n_strata];
    for (pos, &s) in stratum.iter().enumerate() {
        positions[s].push(pos);
    }
    let mut decks: Vec<Vec<u32>> = Vec::with_capacity(n_strata);
    for (s, rows) in positions.iter().enumerate() {
        let mut deck = Vec::with_capacity(rows.len());
        for (g, c) in counts.iter().enumerate() {
            deck.extend(std::iter::repeat_n(
                g as u32,
                c.get(s).copied().unwrap_or(0),
            ));
        }
        if deck.len() > rows.len() {
            return Err(KernelError::NotEnough(format!(
                "cannot deal groups of {} rows in all from a pool of {} samples",
                deck.len(),
                rows.len()
            )));
        }
        deck.resize(rows.len(), NONE);
        decks.push(deck);
    }
    // Draw k: each stratum's deck shuffled in turn by stream k, laid onto
    // that stratum's positions.
    let deal = |k: usize| -> Vec<u32> {
        let mut rng = stream(seed, tag, k as u64);
        let mut labels = vec![NONE; pool.len()];
        for (deck, rows) in decks.iter().zip(&positions) {
            let mut l = deck.clone();
            l.shuffle(&mut rng);
            for (&pos, g) in rows.iter().zip(l) {
                labels[pos] = g;
            }
        }
        labels
    };
    let d = unit.dim();
    let n_groups = sizes.len();
    // The draws' statistics, and each pass's label decks and group sums.
    crate::runtime::machine::reserve(
        8 * n_draws as u128 * n_groups as u128
            + (crate::runtime::parallel::threads(par) * DRAWS_PER_PASS) as u128
                * (4 * pool.len() as u128 + 8 * (n_groups * d) as u128),
        &format!("the label-shuffle null ({n_draws} draws of {n_groups} groups)"),
    )?;
    let passes: Vec<Vec<Vec<f64>>> = map_indices(par, n_draws.div_ceil(DRAWS_PER_PASS), |pass| {
        let draws: Vec<usize> =
            (pass * DRAWS_PER_PASS..((pass + 1) * DRAWS_PER_PASS).min(n_draws)).collect();
        let labels: Vec<Vec<u32>> = draws.iter().map(|&k| deal(k)).collect();
        let mut sums = vec![vec![0f64; n_groups * d]; draws.len()];
        let mut nonzero = vec![vec![0usize; n_groups]; draws.len()];
        for (pos, &r) in pool.iter().enumerate() {
            for (j, l) in labels.iter().enumerate() {
                let g = l[pos];
                if g != NONE {
                    let g = g as usize;
                    let sum = &mut sums[j][g * d..(g + 1) * d];
                    nonzero[j][g] += usize::from(unit.add_into(sum, r));
                }
            }
        }
        sums.iter()
            .zip(&nonzero)
            .map(|(sum, nz)| {
                (0..n_groups)
                    .map(|g| avgsim_of_sum(&sum[g * d..(g + 1) * d], nz[g], sizes[g]))
                    .collect()
            })
            .collect()
    });
    Ok(passes.into_iter().flatten().collect())
}

/// Fraction of p-values at or below `alpha`.
pub fn fraction_significant(pvalues: &[f64], alpha: f64) -> Option<f64> {
    if pvalues.is_empty() {
        return None;
    }
    Some(pvalues.iter().filter(|p| **p <= alpha).count() as f64 / pvalues.len() as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{array, Array2};

    /// A null larger than any machine's memory is refused before anything
    /// is allocated (issue 21: `n_permutations: 1e9` aborted).
    #[test]
    fn label_shuffle_null_refuses_what_memory_cannot_hold() {
        let x = Array2::<f32>::from_shape_fn((4, 2), |(i, j)| (i + j) as f32 + 1.0);
        let unit = UnitRows::new(x.view());
        let err = label_shuffle_avgsims(
            &unit,
            &[0, 1, 2, 3],
            &[2, 2],
            10_000_000_000_000,
            0,
            "t",
            Par::rayon(0),
        )
        .unwrap_err();
        assert!(
            matches!(&err, KernelError::Memory(m) if m.contains("label-shuffle null") && m.contains("GB")),
            "{err}"
        );
    }

    fn direct_mean_lower_triangle(x: &Array2<f64>, rows: &[usize]) -> f64 {
        let mut acc = 0.0;
        let mut count = 0.0;
        for (a, &i) in rows.iter().enumerate() {
            for &j in &rows[..a] {
                let (xi, xj) = (x.row(i), x.row(j));
                let (ni, nj) = (xi.dot(&xi).sqrt(), xj.dot(&xj).sqrt());
                acc += if ni == 0.0 || nj == 0.0 {
                    0.0
                } else {
                    xi.dot(&xj) / (ni * nj)
                };
                count += 1.0;
            }
        }
        acc / count
    }

    #[test]
    fn closed_form_equals_mean_pairwise_cosine() {
        let x32 = array![
            [1.0f32, 2.0, 0.5],
            [-1.0, 0.3, 2.0],
            [0.0, 0.0, 0.0],
            [3.0, 1.0, -1.0],
            [0.2, 0.1, 0.1]
        ];
        let x = x32.mapv(|v| v as f64);
        let u = UnitRows::new(x32.view());
        for rows in [vec![0, 1], vec![0, 1, 3], vec![0, 2, 3, 4], vec![1, 2]] {
            let got = avgsim(&u, &rows).unwrap();
            let want = direct_mean_lower_triangle(&x, &rows);
            assert!((got - want).abs() < 1e-12, "{rows:?}: {got} vs {want}");
        }
        assert_eq!(avgsim(&u, &[0]), None);
    }

    #[test]
    fn pvalue_counts_null_at_or_above() {
        let null = [0.1, 0.2, 0.2, 0.5];
        assert_eq!(pvalue(&null, 0.2), 0.75);
        assert_eq!(pvalue(&null, 0.6), 0.0);
        assert_eq!(pvalue(&null, 0.0), 1.0);
        assert_eq!(
            fraction_significant(&[0.01, 0.05, 0.2], 0.05),
            Some(2.0 / 3.0)
        );
    }

    #[test]
    fn permutation_null_is_seeded_and_sized() {
        let x = Array2::from_shape_fn((50, 4), |(i, j)| ((i * 31 + j * 17) % 13) as f32 - 6.0);
        let u = UnitRows::new(x.view());
        let pool: Vec<usize> = (0..50).collect();
        let a = permutation_null(&u, &pool, 5, 100, 3, Par::rayon(0)).unwrap();
        let b = permutation_null(&u, &pool, 5, 100, 3, Par::rayon(0)).unwrap();
        let c = permutation_null(&u, &pool, 5, 100, 4, Par::rayon(0)).unwrap();
        assert_eq!(a.len(), 100);
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert!(a.windows(2).all(|w| w[0] <= w[1]));
        assert!(permutation_null(&u, &pool, 51, 10, 3, Par::rayon(0)).is_err());
    }

    /// Draw k of the one-stratum deal: the whole deck shuffled by stream k.
    fn deal(deck: &[u32], seed: u64, tag: &str, k: usize) -> Vec<u32> {
        let mut rng = stream(seed, tag, k as u64);
        let mut l = deck.to_vec();
        l.shuffle(&mut rng);
        l
    }

    #[test]
    fn within_batches_every_set_keeps_its_count_in_each_batch() {
        // 30 rows: rows 0-9 batch 0, 10-29 batch 1; the pool is all rows.
        let x = Array2::from_shape_fn((30, 4), |(i, j)| {
            ((i * 5 + j * 3) % 7) as f32 - 3.0 + j as f32 * 0.1
        });
        let u = UnitRows::new(x.view());
        let b0: Vec<usize> = (0..10).collect();
        let b1: Vec<usize> = (10..30).collect();
        let null =
            permutation_null_within(&u, &[(&b0, 2), (&b1, 3)], 50, 1, "w", Par::Seq).unwrap();
        assert_eq!(null.len(), 50);
        assert!(permutation_null_within(&u, &[(&b0, 11)], 5, 1, "w", Par::Seq).is_err());
        // One stratum draws exactly as the unstratified null.
        assert_eq!(
            permutation_null_within(
                &u,
                &[(&b1, 4)],
                20,
                3,
                "consistency-permutation-4",
                Par::Seq
            )
            .unwrap(),
            permutation_null(&u, &b1, 4, 20, 3, Par::rayon(0)).unwrap()
        );
        // Label shuffle: group 0 has 2 rows in batch 0 and 1 in batch 1,
        // group 1 has 0 and 4. Each draw's group avgsim is one of a set
        // with exactly those counts: check by recomputing every draw's deal.
        let pool: Vec<usize> = (0..30).collect();
        let stratum: Vec<usize> = pool.iter().map(|&r| usize::from(r >= 10)).collect();
        let counts = vec![vec![2, 1], vec![0, 4]];
        let draws = label_shuffle_avgsims_within(&u, &pool, &stratum, &counts, 6, 9, "t", Par::Seq)
            .unwrap();
        for (k, got) in draws.iter().enumerate() {
            let mut rng = stream(9, "t", k as u64);
            let mut d0 = vec![0u32, 0];
            d0.resize(10, NONE);
            let mut d1 = vec![0u32, 1, 1, 1, 1];
            d1.resize(20, NONE);
            d0.shuffle(&mut rng);
            d1.shuffle(&mut rng);
            let labels: Vec<u32> = d0.into_iter().chain(d1).collect();
            for g in 0..2u32 {
                let rows: Vec<usize> = (0..30).filter(|&r| labels[r] == g).collect();
                let in0 = rows.iter().filter(|&&r| r < 10).count();
                assert_eq!(
                    (in0, rows.len() - in0),
                    (counts[g as usize][0], counts[g as usize][1])
                );
                let want = direct_mean_lower_triangle(&x.mapv(|v| v as f64), &rows);
                assert!((got[g as usize] - want).abs() < 1e-12, "draw {k} group {g}");
            }
        }
        assert!(label_shuffle_avgsims_within(
            &u,
            &pool,
            &stratum,
            &[vec![11, 0]],
            1,
            9,
            "t",
            Par::Seq
        )
        .is_err());
    }

    #[test]
    fn label_shuffle_groups_are_the_dealt_partition() {
        // 40 rows, one of them zero; the pool leaves out rows 0-4 (controls)
        // and deals groups of 3, 5 and 2 (10 of the 35 pool rows).
        let mut x = Array2::from_shape_fn((40, 6), |(i, j)| {
            ((i * 7 + j * 13) % 11) as f32 - 5.0 + 0.25 * j as f32
        });
        x.row_mut(9).fill(0.0);
        let u = UnitRows::new(x.view());
        let pool: Vec<usize> = (5..40).collect();
        let sizes = [3usize, 5, 2];
        let draws = label_shuffle_avgsims(&u, &pool, &sizes, 7, 11, "t", Par::rayon(0)).unwrap();
        assert_eq!(draws.len(), 7);
        let mut deck = vec![0u32, 0, 0, 1, 1, 1, 1, 1, 2, 2];
        deck.resize(pool.len(), NONE);
        let mut distinct = std::collections::BTreeSet::new();
        for (k, got) in draws.iter().enumerate() {
            let labels = deal(&deck, 11, "t", k);
            distinct.insert(labels.clone());
            for (g, &n) in sizes.iter().enumerate() {
                let rows: Vec<usize> = pool
                    .iter()
                    .zip(&labels)
                    .filter(|(_, l)| **l == g as u32)
                    .map(|(r, _)| *r)
                    .collect();
                assert_eq!(rows.len(), n);
                let want = direct_mean_lower_triangle(&x.mapv(|v| v as f64), &rows);
                assert!((got[g] - want).abs() < 1e-12, "draw {k} group {g}");
            }
        }
        assert!(distinct.len() > 1, "draws differ");
        // Seeded, and the same whatever the pass layout (4 draws a pass).
        let again = label_shuffle_avgsims(&u, &pool, &sizes, 9, 11, "t", Par::rayon(0)).unwrap();
        assert_eq!(&again[..7], &draws[..]);
        assert!(label_shuffle_avgsims(&u, &pool[..9], &sizes, 1, 11, "t", Par::rayon(0)).is_err());
        assert!(label_shuffle_avgsims(&u, &pool, &[1], 1, 11, "t", Par::rayon(0)).is_err());
    }
}
