//! Phenotypic consistency: do profiles that share an annotation (mechanism
//! of action, target gene) retrieve each other before profiles that share
//! none? copairs 0.5's `map.multilabel.average_precision` with
//! `pos_sameby = neg_diffby = [annotation]`.
//!
//! Each profile carries a set of labels (one for a single-label
//! annotation; none: not annotated, never paired). For each label L of a
//! profile i, i ranks its positives (the other profiles holding L) and its
//! negatives (the profiles sharing no label with i) by copairs' key, and
//! scores the ranking by AP; (i, L) has no score when no other profile
//! holds L. Keys and ranking are those of [`super::average_precisions`].
//!
//! [`permutation_test`] tests each label's mAP by permuting the label sets
//! among the annotated profiles: valid when, with no consistency, label
//! sets are exchangeable among profiles, whatever the dependence between a
//! label's members' APs (which makes copairs' null miscalibrated, as for
//! activity).

use super::permutation::keys;
use super::{
    average_precision_of, average_precision_of_ranks, mean_of_sorted, prepare, ProfileAp,
    Similarity,
};
use crate::error::KernelError;
use crate::runtime::parallel::{for_each_chunk_mut, map_indices, ranges_by_size};
use crate::runtime::work::Work;
use crate::stats::rng::stream;
use crate::Par;
use ndarray::ArrayView2;
use rand::Rng;
use std::collections::BTreeMap;

/// One profile's AP for one of its labels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LabelAp {
    pub profile: usize,
    pub label: u32,
    pub ap: ProfileAp,
}

/// Largest rank store (bytes) the permutation test builds: a rank for every
/// pair of annotated profiles.
const MAX_RANKS_BYTES: usize = 4 << 30;

/// Profiles multiplied against all at once.
const BATCH_PROFILES: usize = 256;

/// Checks the label sets: one per profile, each sorted without repeats.
fn check_labels(n: usize, labels: &[Vec<u32>]) -> Result<(), KernelError> {
    if labels.len() != n {
        return Err(KernelError::Shape(format!(
            "{} label sets for {n} profiles",
            labels.len()
        )));
    }
    if let Some(i) = labels
        .iter()
        .position(|l| l.windows(2).any(|w| w[0] >= w[1]))
    {
        return Err(KernelError::Shape(format!(
            "the label set of profile {i} is not sorted without repeats"
        )));
    }
    Ok(())
}

/// Each label's holders (the indices given with the label sets), in the
/// order given.
fn holders_of<'a>(sets: impl Iterator<Item = (usize, &'a [u32])>) -> BTreeMap<u32, Vec<usize>> {
    let mut holders: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
    for (i, set) in sets {
        for &l in set {
            holders.entry(l).or_default().push(i);
        }
    }
    holders
}

fn disjoint(a: &[u32], b: &[u32]) -> bool {
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => return false,
        }
    }
    true
}

/// Each annotated profile's AP for each of its labels that another profile
/// holds, in (profile, label) order (copairs' row order). `labels[i]` is
/// profile i's sorted label set (empty: not annotated). Fails as
/// [`super::average_precisions`] does on features, and on label sets that
/// are not sorted without repeats.
pub fn multilabel_average_precisions(
    x: ArrayView2<f32>,
    labels: &[Vec<u32>],
    similarity: Similarity,
    par: Par,
    work: &Work,
) -> Result<Vec<LabelAp>, KernelError> {
    let n = x.nrows();
    check_labels(n, labels)?;
    let prepared = prepare(x, similarity)?;
    let annotated: Vec<usize> = (0..n).filter(|&i| !labels[i].is_empty()).collect();
    let holders = holders_of(annotated.iter().map(|&i| (i, labels[i].as_slice())));
    let queries: Vec<usize> = annotated
        .iter()
        .copied()
        .filter(|&i| labels[i].iter().any(|l| holders[l].len() >= 2))
        .collect();
    let batches = ranges_by_size(&vec![1; queries.len()], BATCH_PROFILES);
    let done: Vec<Vec<LabelAp>> =
        map_indices(par, batches.len(), |b| {
            let rows = &queries[batches[b].clone()];
            let row_keys = keys(x, &prepared, similarity, rows, &annotated, work);
            let a = annotated.len();
            let mut out = Vec::new();
            let mut pos: Vec<f32> = Vec::new();
            for (r, &i) in rows.iter().enumerate() {
                let row = &row_keys[r * a..(r + 1) * a];
                let neg: Vec<f32> = annotated
                    .iter()
                    .zip(row)
                    .filter(|&(&j, _)| j != i && disjoint(&labels[i], &labels[j]))
                    .map(|(_, &k)| k)
                    .collect();
                for &l in &labels[i] {
                    let h = &holders[&l];
                    if h.len() < 2 {
                        continue;
                    }
                    pos.clear();
                    pos.extend(h.iter().filter(|&&j| j != i).map(|&j| {
                        row[annotated.binary_search(&j).expect("a holder is annotated")]
                    }));
                    out.push(LabelAp {
                        profile: i,
                        label: l,
                        ap: average_precision_of(&mut pos, &neg),
                    });
                }
            }
            out
        });
    Ok(done.into_iter().flatten().collect())
}

/// A label's observed mAP and its permutation p-value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LabelTest {
    pub label: u32,
    pub n_profiles: usize,
    pub mean_average_precision: f64,
    pub p_value: f64,
}

/// Each label held by two profiles or more: its mAP (the mean AP of its
/// holders, ranked by the test's own keys) and a permutation p-value,
/// p = (1 + #(draw mAP >= observed)) / (1 + n_draws), where a draw
/// permutes the label sets among the annotated profiles uniformly and
/// scores the label as the observed one is scored. Draws are seeded per
/// label by `seed` and the label's code, so a label's p-value does not
/// depend on the other labels. Labels in code order.
pub fn permutation_test(
    x: ArrayView2<f32>,
    labels: &[Vec<u32>],
    similarity: Similarity,
    n_draws: usize,
    seed: u64,
    par: Par,
    work: &Work,
) -> Result<Vec<LabelTest>, KernelError> {
    let n = x.nrows();
    check_labels(n, labels)?;
    let prepared = prepare(x, similarity)?;
    // Annotated profiles are the test's positions 0..a.
    let annotated: Vec<usize> = (0..n).filter(|&i| !labels[i].is_empty()).collect();
    let a = annotated.len();
    let bytes = 4 * a * a;
    if bytes > MAX_RANKS_BYTES {
        return Err(KernelError::Memory(format!(
            "the consistency permutation test keeps a rank for every pair of annotated profiles ({:.1} GB for {a} profiles); use the copairs null",
            bytes as f64 / 1e9
        )));
    }
    let set: Vec<&[u32]> = annotated.iter().map(|&i| labels[i].as_slice()).collect();
    let holders = holders_of(set.iter().copied().enumerate());
    // below[p * a + q]: how many others p ranks strictly before q (p's
    // keys to the others, sorted). A rank is all a draw needs: q ranks
    // before r for p exactly when below[p][q] < below[p][r], and the
    // negatives before a positive are its rank less the non-negatives
    // before it. Rows are computed a block at a time, so no key matrix is
    // kept.
    let mut below = vec![0u32; a * a];
    if a > 0 {
        for_each_chunk_mut(par, &mut below, BATCH_PROFILES * a, |b, out| {
            let rows = &annotated[b * BATCH_PROFILES..(b * BATCH_PROFILES + out.len() / a)];
            let block = keys(x, &prepared, similarity, rows, &annotated, work);
            let mut order: Vec<u32> = Vec::with_capacity(a);
            for (r, row) in block.chunks(a).enumerate() {
                let p = b * BATCH_PROFILES + r;
                order.clear();
                order.extend((0..a as u32).filter(|&q| q as usize != p));
                order.sort_unstable_by(|&u, &v| row[u as usize].total_cmp(&row[v as usize]));
                let out_row = &mut out[r * a..(r + 1) * a];
                let mut rank = 0u32;
                for (k, &q) in order.iter().enumerate() {
                    if k > 0 && row[order[k - 1] as usize] != row[q as usize] {
                        rank = k as u32;
                    }
                    out_row[q as usize] = rank;
                }
            }
        });
    }
    let tested: Vec<u32> = holders
        .iter()
        .filter(|(_, h)| h.len() >= 2)
        .map(|(&l, _)| l)
        .collect();
    let test = Test {
        a,
        below: &below,
        set: &set,
        holders: &holders,
    };
    Ok(map_indices(par, tested.len(), |t| {
        test.label(tested[t], n_draws, seed)
    }))
}

struct Test<'a> {
    a: usize,
    /// Each position's ranks of the others (see [`permutation_test`]).
    below: &'a [u32],
    /// Each position's own label set.
    set: &'a [&'a [u32]],
    holders: &'a BTreeMap<u32, Vec<usize>>,
}

impl Test<'_> {
    /// The label's mAP when the label set of position o sits at `at(o)`
    /// (the identity: the observed mAP). `at` is asked for the positions
    /// of the label's holders and of every holder of a label they share.
    fn score(&self, label: u32, at: &mut dyn FnMut(usize) -> usize) -> f64 {
        let members: Vec<usize> = self.holders[&label].iter().map(|&o| at(o)).collect();
        let mut aps: Vec<f64> = Vec::with_capacity(members.len());
        let mut pos: Vec<u32> = Vec::new();
        let mut near: Vec<usize> = Vec::new();
        for (k, &o) in self.holders[&label].iter().enumerate() {
            let p = members[k];
            let row = &self.below[p * self.a..(p + 1) * self.a];
            pos.clear();
            pos.extend(members.iter().filter(|&&q| q != p).map(|&q| row[q]));
            pos.sort_unstable();
            // Positions sharing a label with p (not negatives), then their
            // ranks in p's row.
            near.clear();
            for l in self.set[o] {
                near.extend(
                    self.holders[l]
                        .iter()
                        .filter(|&&o2| o2 != o)
                        .map(|&o2| at(o2)),
                );
            }
            near.sort_unstable();
            near.dedup();
            for q in near.iter_mut() {
                *q = row[*q] as usize;
            }
            near.sort_unstable();
            aps.push(average_precision_of_ranks(pos.iter().map(|&rank| {
                rank - near.partition_point(|&r| r < rank as usize) as u32
            })));
        }
        mean_of_sorted(&mut aps)
    }

    fn label(&self, label: u32, n_draws: usize, seed: u64) -> LabelTest {
        let observed = self.score(label, &mut |o| o);
        let mut rng = stream(seed, "map/consistency", u64::from(label));
        // A uniform injection of the revealed original positions into
        // positions, drawn as they are asked for (a partial Fisher-Yates
        // over `slots`; never reset: a uniform shuffle of any order is
        // uniform).
        let mut slots: Vec<usize> = (0..self.a).collect();
        let mut placed: Vec<usize> = vec![usize::MAX; self.a];
        let mut revealed: Vec<usize> = Vec::new();
        let mut at_least = 0usize;
        for _ in 0..n_draws {
            for &o in &revealed {
                placed[o] = usize::MAX;
            }
            revealed.clear();
            let value = self.score(label, &mut |o| {
                if placed[o] == usize::MAX {
                    let k = revealed.len();
                    let j = rng.random_range(k..slots.len());
                    slots.swap(k, j);
                    placed[o] = slots[k];
                    revealed.push(o);
                }
                placed[o]
            });
            if value >= observed {
                at_least += 1;
            }
        }
        LabelTest {
            label,
            n_profiles: self.holders[&label].len(),
            mean_average_precision: observed,
            p_value: (1 + at_least) as f64 / (1 + n_draws) as f64,
        }
    }
}

/// One consensus profile per group: each feature's median over the
/// group's profiles, as pandas' `groupby(...).median()` computes it (the
/// middle value, or the mean in f64 of the two middle values), rounded to
/// float32. Fails on an empty group or a non-finite feature.
pub fn consensus_medians(
    x: ArrayView2<f32>,
    groups: &[Vec<usize>],
) -> Result<ndarray::Array2<f32>, KernelError> {
    let d = x.ncols();
    let mut out = ndarray::Array2::<f32>::zeros((groups.len(), d));
    let mut column: Vec<f32> = Vec::new();
    for (g, rows) in groups.iter().enumerate() {
        if rows.is_empty() {
            return Err(KernelError::NotEnough(format!(
                "consensus group {g} has no profile"
            )));
        }
        for k in 0..d {
            column.clear();
            for &r in rows {
                let v = x[(r, k)];
                if !v.is_finite() {
                    return Err(KernelError::NonFinite { row: r, column: k });
                }
                column.push(v);
            }
            column.sort_unstable_by(f32::total_cmp);
            let m = column.len();
            out[(g, k)] = if m % 2 == 1 {
                column[m / 2]
            } else {
                ((f64::from(column[m / 2 - 1]) + f64::from(column[m / 2])) / 2.0) as f32
            };
        }
    }
    Ok(out)
}
