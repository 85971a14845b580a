//! A calibrated test of a group's mAP against the controls: a permutation
//! test of "the group's samples are exchangeable with the control samples".
//!
//! copairs' null scores random rank lists, one per sample, independently:
//! the samples of a group rank each other, so their APs are not
//! independent, and under no effect its p-values are not uniform (measured
//! on exchangeable plates: 65% of p <= 0.5 for 4 replicates, 0.3% of
//! p <= 0.05). Here the pool is the group's samples and the controls (per
//! stratum: with negatives from the sample's own batch, the batch's); a
//! draw labels as many pool samples of each stratum as the group has there
//! as the group, and scores them exactly as the group is scored (positives
//! the other drawn samples, negatives the undrawn pool of the sample's
//! stratum). p = (1 + #(draw mAP >= observed)) / (1 + draws): valid under
//! exchangeability, whatever the dependence between samples.
//!
//! Keys of control pairs within a stratum come from one product of the
//! stratum's controls (computed once), keys involving the groups' samples
//! from products of a batch of groups' samples against their pools;
//! control pairs across strata (positives only) are computed when drawn.
//! Each pair has one key however it is reached (the lower index's row), so
//! the observed mAP and the draws rank by the same numbers. A drawn control
//! ranks its positives by binary search in its sorted row of keys to the
//! stratum's controls (corrected for the drawn ones and the group's
//! samples), so a draw costs (samples x positives x log controls), not
//! (samples x pool).

use super::{
    average_precision_of, average_precision_of_ranks, distance_similarity, key_of, mean_of_sorted,
    prepare, Prepared, Similarity,
};
use crate::error::KernelError;
use crate::runtime::parallel::map_indices;
use crate::runtime::work::Work;
use crate::stats::rng::stream;
use crate::Par;
use ndarray::ArrayView2;
use rand::Rng;
use std::collections::BTreeMap;

/// Tests set this to score every drawn sample the slow way (its keys to
/// the whole negative pool), to compare with the sorted-row path.
#[cfg(test)]
pub(super) static SLOW_PATH: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

/// Whether tests asked for the slow path.
fn slow_path() -> bool {
    #[cfg(test)]
    return SLOW_PATH.load(std::sync::atomic::Ordering::Relaxed);
    #[cfg(not(test))]
    false
}

/// Largest control-pair key store (bytes) the test builds.
const MAX_CONTROL_KEYS_BYTES: usize = 4 << 30;

/// What the permutation test needs besides the groups.
pub struct PermutationTest<'a> {
    pub x: ArrayView2<'a, f32>,
    pub similarity: Similarity,
    /// The control samples.
    pub controls: &'a [usize],
    /// A stratum code per sample (all equal: one stratum).
    pub stratum: &'a [u32],
    /// Negatives are the controls of the sample's own stratum (else all
    /// controls, and `stratum` must be one code).
    pub negatives_within_stratum: bool,
}

/// Keys of every row of `a` against every row of `b` (sample indices),
/// row-major.
pub(super) fn keys(
    x: ArrayView2<f32>,
    prepared: &Option<Prepared>,
    similarity: Similarity,
    a: &[usize],
    b: &[usize],
    work: &Work,
) -> Vec<f32> {
    match prepared {
        Some(m) => {
            let prod = m.products(a, b, work);
            let mut out = Vec::with_capacity(a.len() * b.len());
            for r in 0..a.len() {
                for c in 0..b.len() {
                    out.push(key_of(prod[(r, c)], similarity));
                }
            }
            out
        }
        None => {
            let mut out = Vec::with_capacity(a.len() * b.len());
            for &i in a {
                for &j in b {
                    out.push(key_of(
                        distance_similarity(x.row(i), x.row(j), similarity),
                        similarity,
                    ));
                }
            }
            out
        }
    }
}

/// One pair's key computed on its own (control pairs across strata).
fn pair_key(
    x: ArrayView2<f32>,
    prepared: &Option<Prepared>,
    similarity: Similarity,
    i: usize,
    j: usize,
) -> f32 {
    let (i, j) = (i.min(j), i.max(j));
    let s = match prepared {
        Some(m) => m.product(i, j),
        None => distance_similarity(x.row(i), x.row(j), similarity),
    };
    key_of(s, similarity)
}

/// A group's observed mAP (its samples scored against the controls, as the
/// draws are) and permutation p-value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GroupTest {
    pub mean_average_precision: f64,
    pub p_value: f64,
}

/// Group samples multiplied against their pools at once.
const BATCH_SAMPLES: usize = 256;

/// Each group's observed mAP and its permutation p-value with `n_draws`
/// draws, seeded per group by `seed` and the group's position. Groups
/// need two samples or more; a group sample may not be a control.
pub fn permutation_test(
    t: &PermutationTest,
    groups: &[Vec<usize>],
    n_draws: usize,
    seed: u64,
    par: Par,
    work: &Work,
) -> Result<Vec<GroupTest>, KernelError> {
    let n = t.x.nrows();
    if t.stratum.len() != n {
        return Err(KernelError::Shape(format!(
            "{} stratum codes for {n} samples",
            t.stratum.len()
        )));
    }
    if t.controls.is_empty() {
        return Err(KernelError::NotEnough("no control samples".into()));
    }
    if !t.negatives_within_stratum
        && t.controls
            .iter()
            .chain(groups.iter().flatten())
            .any(|&c| t.stratum[c] != t.stratum[t.controls[0]])
    {
        return Err(KernelError::Shape(
            "negatives from all controls take one stratum".into(),
        ));
    }
    let prepared = prepare(t.x, t.similarity)?;
    // Controls by stratum, and each control's (stratum, position).
    let mut strata: Vec<u32> = t.controls.iter().map(|&c| t.stratum[c]).collect();
    strata.sort_unstable();
    strata.dedup();
    let stratum_index = |code: u32| strata.binary_search(&code).ok();
    let mut by_stratum: Vec<Vec<usize>> = vec![Vec::new(); strata.len()];
    let mut place = vec![(usize::MAX, usize::MAX); n];
    for &c in t.controls {
        let s = stratum_index(t.stratum[c]).expect("a control's stratum");
        if place[c].0 != usize::MAX {
            return Err(KernelError::Shape(format!(
                "control sample {c} is listed twice"
            )));
        }
        place[c] = (s, by_stratum[s].len());
        by_stratum[s].push(c);
    }
    for g in groups {
        if g.len() < 2 {
            return Err(KernelError::NotEnough(format!(
                "a group of {} sample(s) has no positive pair",
                g.len()
            )));
        }
        if let Some(&c) = g.iter().find(|&&i| place[i].0 != usize::MAX) {
            return Err(KernelError::Shape(format!(
                "sample {c} is both a control and in a group"
            )));
        }
    }
    // Every pair of controls of a stratum, and each control's sorted row.
    let bytes: usize = by_stratum.iter().map(|c| 8 * c.len() * c.len()).sum();
    if bytes > MAX_CONTROL_KEYS_BYTES {
        return Err(KernelError::Memory(format!(
            "the permutation test keeps every pair of controls of a stratum, twice ({:.1} GB for {} controls); use the copairs null, or negatives from the sample's batch",
            bytes as f64 / 1e9,
            t.controls.len()
        )));
    }
    let control_keys: Vec<Vec<f32>> = map_indices(par, by_stratum.len(), |s| {
        let c = &by_stratum[s];
        let full = keys(t.x, &prepared, t.similarity, c, c, work);
        // The lower position's row gives each pair its key.
        let m = c.len();
        let mut canonical = full;
        for u in 0..m {
            for v in 0..u {
                canonical[u * m + v] = canonical[v * m + u];
            }
        }
        canonical
    });
    let sorted_rows: Vec<Vec<f32>> = map_indices(par, by_stratum.len(), |s| {
        let m = by_stratum[s].len();
        let keys = &control_keys[s];
        let mut rows = Vec::with_capacity(m * m.saturating_sub(1));
        for u in 0..m {
            let start = rows.len();
            rows.extend((0..m).filter(|&v| v != u).map(|v| keys[u * m + v]));
            rows[start..].sort_unstable_by(f32::total_cmp);
        }
        rows
    });
    let shared = Shared {
        t,
        prepared: &prepared,
        by_stratum: &by_stratum,
        place: &place,
        stratum_index: &strata,
        control_keys: &control_keys,
        sorted_rows: &sorted_rows,
    };
    let mut compositions: Vec<Composition> = groups.iter().map(|g| composition_of(t, g)).collect();
    compositions.sort();
    compositions.dedup();
    let built: Vec<SharedDraws> = map_indices(par, compositions.len(), |c| {
        shared.shared_draws(&compositions[c], n_draws, seed)
    });
    let shared_draws: BTreeMap<Composition, SharedDraws> =
        compositions.into_iter().zip(built).collect();
    // Batches of whole groups.
    let sizes: Vec<usize> = groups.iter().map(Vec::len).collect();
    let batches = crate::runtime::parallel::ranges_by_size(&sizes, BATCH_SAMPLES);
    let done: Vec<Vec<GroupTest>> = map_indices(par, batches.len(), |b| {
        shared.batch(
            &groups[batches[b].clone()],
            batches[b].start,
            &shared_draws,
            n_draws,
            seed,
            work,
        )
    });
    Ok(done.into_iter().flatten().collect())
}

/// A group's composition: its count of samples in each stratum code.
type Composition = Vec<(u32, usize)>;

/// Draws of controls only, shared by the groups of one composition: for
/// each draw, each drawn control's sample, stratum code, its positives'
/// keys ascending, and the controls of its negative pool ranked below each.
/// A group's draw that takes none of its own samples is a uniform draw of
/// controls, independent of the data: it takes the shared draw of the same
/// index, and adds its own samples to the negatives.
struct SharedDraws {
    draws: Vec<Vec<DrawnControl>>,
}

struct DrawnControl {
    sample: usize,
    code: u32,
    keys: Vec<f32>,
    below: Vec<u32>,
}

/// The stable index of a composition's shared stream.
fn composition_index(c: &Composition) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &(code, count) in c {
        for v in [u64::from(code), count as u64] {
            h ^= v;
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    h
}

/// A group's count of samples per stratum code (all one code when the
/// negatives are all controls).
fn composition_of(t: &PermutationTest, wells: &[usize]) -> Composition {
    let mut c: BTreeMap<u32, usize> = BTreeMap::new();
    for &i in wells {
        *c.entry(t.stratum[i]).or_default() += 1;
    }
    c.into_iter().collect()
}

/// What every batch reads.
struct Shared<'a, 'b> {
    t: &'a PermutationTest<'b>,
    prepared: &'a Option<Prepared>,
    by_stratum: &'a [Vec<usize>],
    place: &'a [(usize, usize)],
    /// Stratum codes with controls, sorted.
    stratum_index: &'a [u32],
    control_keys: &'a [Vec<f32>],
    sorted_rows: &'a [Vec<f32>],
}

impl Shared<'_, '_> {
    /// The key of two controls (sample indices).
    fn control_key(&self, i: usize, j: usize) -> f32 {
        let (si, pi) = self.place[i];
        let (sj, pj) = self.place[j];
        if si == sj {
            self.control_keys[si][pi * self.by_stratum[si].len() + pj]
        } else {
            pair_key(self.t.x, self.prepared, self.t.similarity, i, j)
        }
    }

    /// Control `d`'s negatives among the controls of its stratum with a key
    /// below `x`: its sorted row's, less the `drawn` controls (positives,
    /// not negatives; `d` itself and other strata's are skipped).
    fn controls_below(&self, d: usize, x: f32, drawn: impl Iterator<Item = usize>) -> usize {
        let (s, at) = self.place[d];
        let m = self.by_stratum[s].len();
        let sorted = &self.sorted_rows[s][at * (m - 1)..(at + 1) * (m - 1)];
        let mut below = sorted.partition_point(|&v| v < x);
        for q in drawn {
            if q != d && self.place[q].0 == s && self.control_key(d, q) < x {
                below -= 1;
            }
        }
        below
    }

    /// The shared draws of a composition (none when a stratum has fewer
    /// controls than the group has samples there: every draw then takes
    /// some of the group's own).
    fn shared_draws(&self, c: &Composition, n_draws: usize, seed: u64) -> SharedDraws {
        let pools: Option<Vec<(u32, usize, &Vec<usize>)>> = c
            .iter()
            .map(|&(code, count)| {
                let s = self.stratum_index.binary_search(&code).ok()?;
                (self.by_stratum[s].len() >= count).then_some((code, count, &self.by_stratum[s]))
            })
            .collect();
        let Some(pools) = pools else {
            return SharedDraws { draws: Vec::new() };
        };
        let mut rng = stream(seed, "map/permutation-shared", composition_index(c));
        let mut scratch: Vec<Vec<usize>> = pools.iter().map(|p| p.2.clone()).collect();
        let draws = (0..n_draws)
            .map(|_| {
                let mut set: Vec<(usize, u32)> = Vec::new();
                for (k, m) in scratch.iter_mut().enumerate() {
                    for slot in 0..pools[k].1 {
                        let j = rng.random_range(slot..m.len());
                        m.swap(slot, j);
                        set.push((m[slot], pools[k].0));
                    }
                }
                set.iter()
                    .map(|&(d, code)| {
                        let mut keys: Vec<f32> = set
                            .iter()
                            .filter(|&&(q, _)| q != d)
                            .map(|&(q, _)| self.control_key(d, q))
                            .collect();
                        keys.sort_unstable_by(f32::total_cmp);
                        let below = keys
                            .iter()
                            .map(|&x| self.controls_below(d, x, set.iter().map(|q| q.0)) as u32)
                            .collect();
                        DrawnControl {
                            sample: d,
                            code,
                            keys,
                            below,
                        }
                    })
                    .collect()
            })
            .collect();
        SharedDraws { draws }
    }

    fn strata_of(&self, wells: &[usize]) -> Vec<usize> {
        let mut s: Vec<usize> = wells
            .iter()
            .filter_map(|&i| self.stratum_index.binary_search(&self.t.stratum[i]).ok())
            .collect();
        s.sort_unstable();
        s.dedup();
        s
    }

    fn batch(
        &self,
        groups: &[Vec<usize>],
        first: usize,
        shared_draws: &BTreeMap<Composition, SharedDraws>,
        n_draws: usize,
        seed: u64,
        work: &Work,
    ) -> Vec<GroupTest> {
        let t = self.t;
        // The batch's samples against the union of their pools.
        let wells: Vec<usize> = groups.iter().flatten().copied().collect();
        let mut union: Vec<usize> = wells.clone();
        for s in self.strata_of(&wells) {
            union.extend_from_slice(&self.by_stratum[s]);
        }
        union.sort_unstable();
        let all_keys = keys(t.x, self.prepared, t.similarity, &wells, &union, work);
        let u = union.len();
        let mut row = 0;
        groups
            .iter()
            .enumerate()
            .map(|(k, g)| {
                let column = |i: usize| union.binary_search(&i).expect("in the union");
                let rows: Vec<&[f32]> = (0..g.len())
                    .map(|r| &all_keys[(row + r) * u..(row + r + 1) * u])
                    .collect();
                row += g.len();
                let shared = &shared_draws[&composition_of(t, g)];
                self.group(g, &rows, &column, shared, n_draws, seed, (first + k) as u64)
            })
            .collect()
    }

    /// One group's test; `rows[k]` are its k-th sample's keys, indexed by
    /// `column`.
    fn group(
        &self,
        wells: &[usize],
        rows: &[&[f32]],
        column: &dyn Fn(usize) -> usize,
        shared: &SharedDraws,
        n_draws: usize,
        seed: u64,
        tag: u64,
    ) -> GroupTest {
        let t = self.t;
        let w = wells.len();
        // The pool: the group's samples, then the controls of its strata.
        let strata = self.strata_of(wells);
        let mut pool: Vec<usize> = wells.to_vec();
        for &s in &strata {
            pool.extend_from_slice(&self.by_stratum[s]);
        }
        let p = pool.len();
        let pool_columns: Vec<usize> = pool.iter().map(|&i| column(i)).collect();
        let key = |a: usize, b: usize| -> f32 {
            let (lo, hi) = (a.min(b), a.max(b));
            if lo < w {
                return rows[lo][pool_columns[hi]];
            }
            self.control_key(pool[lo], pool[hi])
        };
        // Pool positions by stratum code, and the group's count in each.
        let code_of: Vec<u32> = pool.iter().map(|&i| t.stratum[i]).collect();
        let mut codes = code_of.clone();
        codes.sort_unstable();
        codes.dedup();
        let local: Vec<usize> = code_of
            .iter()
            .map(|c| codes.binary_search(c).expect("a code"))
            .collect();
        let members: Vec<Vec<usize>> = (0..codes.len())
            .map(|s| (0..p).filter(|&k| local[k] == s).collect())
            .collect();
        let counts: Vec<usize> = (0..codes.len())
            .map(|s| (0..w).filter(|&k| local[k] == s).count())
            .collect();
        // Negatives of a sample: its stratum's pool (within strata), or the
        // whole pool.
        let negatives_of = |d: usize| -> &[usize] {
            if t.negatives_within_stratum {
                &members[local[d]]
            } else {
                &members[0]
            }
        };
        let mut drawn = vec![false; p];
        let mut pos: Vec<f32> = Vec::new();
        let mut neg: Vec<f32> = Vec::new();
        let mut aps: Vec<f64> = Vec::with_capacity(w);
        let mut score = |set: &[usize], drawn: &[bool]| -> f64 {
            aps.clear();
            for &d in set {
                pos.clear();
                pos.extend(set.iter().filter(|&&q| q != d).map(|&q| key(d, q)));
                if d < w || slow_path() {
                    // A group sample: its keys to the whole negative pool.
                    neg.clear();
                    neg.extend(
                        negatives_of(d)
                            .iter()
                            .filter(|&&q| !drawn[q])
                            .map(|&q| key(d, q)),
                    );
                    aps.push(average_precision_of(&mut pos, &neg).average_precision);
                    continue;
                }
                // A control: negatives below each positive's key are its
                // sorted row's controls below it, plus the undrawn group
                // samples of its stratum below it, minus the drawn controls
                // of its stratum below it.
                pos.sort_unstable_by(f32::total_cmp);
                let drawn_controls = set.iter().filter(|&&q| q >= w).map(|&q| pool[q]);
                aps.push(average_precision_of_ranks(pos.iter().map(|&x| {
                    let mut below = self.controls_below(pool[d], x, drawn_controls.clone());
                    for q in 0..w {
                        let negative = !t.negatives_within_stratum || local[q] == local[d];
                        if negative && !drawn[q] && key(d, q) < x {
                            below += 1;
                        }
                    }
                    below as u32
                })));
            }
            mean_of_sorted(&mut aps)
        };
        let observed_set: Vec<usize> = (0..w).collect();
        for &k in &observed_set {
            drawn[k] = true;
        }
        let observed = score(&observed_set, &drawn);
        for &k in &observed_set {
            drawn[k] = false;
        }
        // A shared draw, with the group's own samples among the negatives.
        let mut shared_aps: Vec<f64> = Vec::with_capacity(w);
        let mut score_shared = |draw: &[DrawnControl]| -> f64 {
            shared_aps.clear();
            for dc in draw {
                let col = column(dc.sample);
                shared_aps.push(average_precision_of_ranks(
                    dc.keys.iter().zip(&dc.below).map(|(&x, &b)| {
                        let mut below = b;
                        for (g, row) in rows.iter().enumerate() {
                            let negative =
                                !t.negatives_within_stratum || t.stratum[wells[g]] == dc.code;
                            if negative && row[col] < x {
                                below += 1;
                            }
                        }
                        below
                    }),
                ));
            }
            mean_of_sorted(&mut shared_aps)
        };
        let mut rng = stream(seed, "map/permutation", tag);
        let mut scratch: Vec<Vec<usize>> = members.clone();
        let mut set: Vec<usize> = Vec::with_capacity(w);
        let mut at_least = 0usize;
        for draw in 0..n_draws {
            for &k in &set {
                drawn[k] = false;
            }
            set.clear();
            for (s, m) in scratch.iter_mut().enumerate() {
                // A partial Fisher-Yates: counts[s] of the stratum's pool,
                // drawn without replacement.
                for k in 0..counts[s] {
                    let j = rng.random_range(k..m.len());
                    m.swap(k, j);
                    set.push(m[k]);
                }
            }
            if !shared.draws.is_empty() && set.iter().all(|&k| k >= w) {
                // Controls only: uniform, as the shared draw is.
                let value = if slow_path() {
                    // Tests: the shared draw's controls scored the slow way.
                    set.clear();
                    set.extend(shared.draws[draw].iter().map(|dc| {
                        w + pool[w..]
                            .iter()
                            .position(|&i| i == dc.sample)
                            .expect("in the pool")
                    }));
                    for &k in &set {
                        drawn[k] = true;
                    }
                    score(&set, &drawn)
                } else {
                    set.clear();
                    score_shared(&shared.draws[draw])
                };
                if value >= observed {
                    at_least += 1;
                }
                continue;
            }
            for &k in &set {
                drawn[k] = true;
            }
            if score(&set, &drawn) >= observed {
                at_least += 1;
            }
        }
        GroupTest {
            mean_average_precision: observed,
            p_value: (1 + at_least) as f64 / (1 + n_draws) as f64,
        }
    }
}
