//! Mean average precision of profile retrieval, as copairs 0.5 defines it
//! (Kalinin et al. 2025).
//!
//! Every profile ranks the profiles it is paired with, positives and
//! negatives, by similarity, and scores the ranking by average precision:
//! AP = (1 / P) sum over the positives of (positives at or above it) /
//! (its rank). Pairs follow copairs' rules: two different profiles are a
//! positive pair when they share every `same` column and differ in every
//! `diff` column of the positive rule, a negative pair likewise under the
//! negative rule (a pair both rules accept is listed twice). Profiles rank
//! their pairs by copairs' key, 1 - similarity in float32 (copairs stores
//! similarities as float32), positives first among equal keys (copairs'
//! stable sort lists positives first). Similarities are computed in f64
//! and rounded to float32, as copairs computes float64 profiles.
//!
//! Profiles with equal codes in the rule columns have the same pairs, so
//! candidates are found once per distinct key; similarities are dense
//! products of a batch of profiles against the union of their candidates,
//! never an all-pairs matrix. Each profile's result is computed on its own,
//! so results do not depend on threads or batches.
//!
//! [`mean_average_precision`] groups the profiles' AP, and tests each
//! group's mean against copairs' null ([`null`]), with Benjamini-Hochberg
//! over the groups.

pub mod consistency;
pub mod null;
pub mod permutation;

use crate::error::KernelError;
use crate::runtime::parallel::map_indices;
use crate::runtime::work::{Kernel, Work};
use crate::stats::multiple_testing::benjamini_hochberg;
use crate::Par;
use faer::Mat;
use ndarray::ArrayView2;
use std::collections::{BTreeMap, HashMap};

/// Profiles scored together: their union of candidates is multiplied at
/// once.
const BATCH_PROFILES: usize = 256;

/// How two profiles' similarity is measured (copairs' `distance`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Similarity {
    /// Cosine similarity (copairs' default).
    Cosine,
    /// |cosine|.
    AbsCosine,
    /// Pearson correlation of the two profiles' features.
    Correlation,
    /// 1 / (1 + Euclidean distance).
    Euclidean,
    /// 1 / (1 + Manhattan distance).
    Manhattan,
    /// 1 / (1 + Chebyshev distance).
    Chebyshev,
}

impl Similarity {
    /// copairs' name of it.
    pub fn name(self) -> &'static str {
        match self {
            Similarity::Cosine => "cosine",
            Similarity::AbsCosine => "abs_cosine",
            Similarity::Correlation => "correlation",
            Similarity::Euclidean => "euclidean",
            Similarity::Manhattan => "manhattan",
            Similarity::Chebyshev => "chebyshev",
        }
    }

    /// Computed from products of prepared rows (unit rows, or centred unit
    /// rows), or directly from the features.
    fn by_products(self) -> bool {
        matches!(
            self,
            Similarity::Cosine | Similarity::AbsCosine | Similarity::Correlation
        )
    }
}

/// Which pairs a rule takes: profiles equal in every `same` column and
/// different in every `diff` column. Columns hold one code per profile.
#[derive(Debug, Clone, Copy)]
pub struct PairRule<'a> {
    pub same: &'a [&'a [u32]],
    pub diff: &'a [&'a [u32]],
}

impl PairRule<'_> {
    fn columns(&self) -> impl Iterator<Item = &[u32]> {
        self.same.iter().chain(self.diff.iter()).copied()
    }

    /// Whether the rule pairs profiles i and j (the tests' transcription of
    /// copairs).
    #[cfg(test)]
    fn accepts(&self, i: usize, j: usize) -> bool {
        i != j && self.same.iter().all(|c| c[i] == c[j]) && self.diff.iter().all(|c| c[i] != c[j])
    }

    /// The key that decides a profile's candidates under this rule.
    fn key(&self, i: usize) -> Vec<u32> {
        self.columns().map(|c| c[i]).collect()
    }
}

/// One profile's average precision: NaN when it has no positive pair.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProfileAp {
    pub average_precision: f64,
    pub n_pos_pairs: u32,
    pub n_total_pairs: u32,
}

/// One group's mean average precision and its test against copairs' null.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupMap {
    pub group: u32,
    pub mean_average_precision: f64,
    /// Profiles averaged (those with a positive pair).
    pub n_profiles: usize,
    pub p_value: f64,
    /// Benjamini-Hochberg over the groups tested.
    pub corrected_p_value: f64,
}

/// Each profile's AP under copairs' pair rules (see the module notes).
/// Fails on a rule with no column, on a column in both parts of a rule, on
/// columns or features of the wrong length, on a non-finite feature, and
/// on a profile whose similarity is undefined (a zero profile for cosine,
/// a constant one for correlation), naming the row.
pub fn average_precisions(
    x: ArrayView2<f32>,
    positive: &PairRule,
    negative: &PairRule,
    similarity: Similarity,
    par: Par,
    work: &Work,
) -> Result<Vec<ProfileAp>, KernelError> {
    let n = x.nrows();
    for (name, rule) in [("positive", positive), ("negative", negative)] {
        if rule.same.is_empty() && rule.diff.is_empty() {
            return Err(KernelError::Shape(format!(
                "the {name} pair rule names no column (copairs: at least one of sameby and diffby)"
            )));
        }
        for c in rule.columns() {
            if c.len() != n {
                return Err(KernelError::Shape(format!(
                    "a {name} rule column has {} values for {n} profiles",
                    c.len()
                )));
            }
        }
        for s in rule.same {
            if rule.diff.iter().any(|d| std::ptr::eq(*s, *d)) {
                return Err(KernelError::Shape(format!(
                    "a column is both `same` and `diff` in the {name} pair rule"
                )));
            }
        }
    }
    let prepared = prepare(x, similarity)?;

    // Profiles with the same keys have the same candidates: group them, in
    // order of first appearance.
    let mut groups: Vec<Vec<usize>> = Vec::new();
    let mut index: HashMap<(Vec<u32>, Vec<u32>), usize> = HashMap::new();
    for i in 0..n {
        let k = (positive.key(i), negative.key(i));
        let g = *index.entry(k).or_insert_with(|| {
            groups.push(Vec::new());
            groups.len() - 1
        });
        groups[g].push(i);
    }
    // Batches of whole groups, about BATCH_PROFILES profiles each.
    let sizes: Vec<usize> = groups.iter().map(Vec::len).collect();
    let batches = crate::runtime::parallel::ranges_by_size(&sizes, BATCH_PROFILES);
    let scored: Vec<Vec<(usize, ProfileAp)>> = map_indices(par, batches.len(), |b| {
        score_batch(
            &groups[batches[b].clone()],
            &prepared,
            x,
            positive,
            negative,
            similarity,
            work,
        )
    });
    let mut out = vec![
        ProfileAp {
            average_precision: f64::NAN,
            n_pos_pairs: 0,
            n_total_pairs: 0,
        };
        n
    ];
    for (i, ap) in scored.into_iter().flatten() {
        out[i] = ap;
    }
    Ok(out)
}

/// Rows ready for products, row-major: unit rows (cosine), centred unit
/// rows (correlation).
pub(super) struct Prepared {
    d: usize,
    data: Vec<f64>,
}

impl Prepared {
    fn row(&self, i: usize) -> &[f64] {
        &self.data[i * self.d..(i + 1) * self.d]
    }

    /// The rows `rows` as the columns of a d x rows matrix (each column a
    /// contiguous copy of its row).
    fn columns(&self, rows: &[usize]) -> Mat<f64> {
        Mat::from_fn(self.d, rows.len(), |k, c| self.data[rows[c] * self.d + k])
    }

    /// Products of every row of `a` with every row of `b`, recorded in
    /// `work`.
    pub(super) fn products(&self, a: &[usize], b: &[usize], work: &Work) -> Mat<f64> {
        let (left, right) = (self.columns(a), self.columns(b));
        work.timed(Kernel::DenseProduct, || {
            work.add_product(a.len(), self.d, b.len());
            let mut out = Mat::<f64>::zeros(a.len(), b.len());
            faer::linalg::matmul::matmul(
                out.as_mut(),
                faer::Accum::Replace,
                left.as_ref().transpose(),
                right.as_ref(),
                1.0,
                Par::Seq,
            );
            out
        })
    }

    /// One product, summed in feature order.
    pub(super) fn product(&self, i: usize, j: usize) -> f64 {
        self.row(i)
            .iter()
            .zip(self.row(j))
            .map(|(u, v)| u * v)
            .sum()
    }
}

/// Rows ready for products; None for the distances, computed from the
/// features. Fails on a non-finite feature, naming its row and column.
fn prepare(x: ArrayView2<f32>, similarity: Similarity) -> Result<Option<Prepared>, KernelError> {
    for (row, r) in x.outer_iter().enumerate() {
        if let Some(column) = r.iter().position(|v| !v.is_finite()) {
            return Err(KernelError::NonFinite { row, column });
        }
    }
    if !similarity.by_products() {
        return Ok(None);
    }
    let (n, d) = x.dim();
    let centre = similarity == Similarity::Correlation;
    let mut data = vec![0.0f64; n * d];
    for i in 0..n {
        let row = x.row(i);
        let mean = if centre {
            row.iter().map(|&v| f64::from(v)).sum::<f64>() / d as f64
        } else {
            0.0
        };
        let norm = row
            .iter()
            .map(|&v| (f64::from(v) - mean).powi(2))
            .sum::<f64>()
            .sqrt();
        if norm == 0.0 || !norm.is_finite() {
            return Err(KernelError::NotEnough(format!(
                "profile at row {i} is {}: its {} similarity is undefined",
                if centre { "constant" } else { "all zeros" },
                similarity.name()
            )));
        }
        for j in 0..d {
            data[i * d + j] = (f64::from(row[j]) - mean) / norm;
        }
    }
    Ok(Some(Prepared { d, data }))
}

/// The key of a similarity, as the AP ranks it: 1 - similarity (|cosine|
/// for abs_cosine) in float32, as copairs stores it.
fn key_of(s: f64, similarity: Similarity) -> f32 {
    let s = if similarity == Similarity::AbsCosine {
        s.abs()
    } else {
        s
    };
    1.0f32 - s as f32
}

fn distance_similarity(
    a: ndarray::ArrayView1<f32>,
    b: ndarray::ArrayView1<f32>,
    s: Similarity,
) -> f64 {
    let diffs = a
        .iter()
        .zip(b.iter())
        .map(|(&u, &v)| f64::from(u) - f64::from(v));
    let d = match s {
        Similarity::Euclidean => diffs.map(|t| t * t).sum::<f64>().sqrt(),
        Similarity::Manhattan => diffs.map(f64::abs).sum::<f64>(),
        Similarity::Chebyshev => diffs.map(f64::abs).fold(0.0, f64::max),
        _ => unreachable!("product similarities are not distances"),
    };
    1.0 / (1.0 + d)
}

/// Scores the profiles of `groups` (groups of profiles sharing their
/// candidates).
fn score_batch(
    groups: &[Vec<usize>],
    prepared: &Option<Prepared>,
    x: ArrayView2<f32>,
    positive: &PairRule,
    negative: &PairRule,
    similarity: Similarity,
    work: &Work,
) -> Vec<(usize, ProfileAp)> {
    let n = x.nrows();
    // Candidates of each group (found from its first member: members agree
    // on every rule column). A rule with a `diff` column never pairs a
    // profile with itself or with its group; a rule of `same` columns only
    // pairs the group's members with each other, and each member drops
    // itself when scored.
    let scan = |rule: &PairRule, i: usize| -> Vec<usize> {
        (0..n)
            .filter(|&j| {
                rule.same.iter().all(|c| c[i] == c[j]) && rule.diff.iter().all(|c| c[i] != c[j])
            })
            .collect()
    };
    let mut out = Vec::new();
    let mut scored: Vec<(&Vec<usize>, Vec<usize>, Vec<usize>)> = Vec::new();
    for members in groups {
        let i = members[0];
        let pos = scan(positive, i);
        let neg = scan(negative, i);
        if members.iter().all(|&m| pos.iter().all(|&j| j == m)) {
            // No positive pair: AP undefined, no similarity needed.
            for &m in members {
                out.push((
                    m,
                    ProfileAp {
                        average_precision: f64::NAN,
                        n_pos_pairs: 0,
                        n_total_pairs: (pos.len() + neg.len()
                            - usize::from(pos.contains(&m))
                            - usize::from(neg.contains(&m)))
                            as u32,
                    },
                ));
            }
            continue;
        }
        scored.push((members, pos, neg));
    }
    if scored.is_empty() {
        return out;
    }
    let mut union: Vec<usize> = scored
        .iter()
        .flat_map(|(_, p, q)| p.iter().chain(q.iter()).copied())
        .collect();
    union.sort_unstable();
    union.dedup();
    let column_of = |j: usize| {
        union
            .binary_search(&j)
            .expect("a candidate is in the union")
    };
    let queries: Vec<usize> = scored
        .iter()
        .flat_map(|(m, _, _)| m.iter().copied())
        .collect();
    let sims: Mat<f64> = match prepared {
        Some(m) => m.products(&queries, &union, work),
        None => Mat::from_fn(queries.len(), union.len(), |r, c| {
            distance_similarity(x.row(queries[r]), x.row(union[c]), similarity)
        }),
    };
    let key = |r: usize, c: usize| -> f32 { key_of(sims[(r, c)], similarity) };
    let mut r = 0;
    let mut pos_keys: Vec<f32> = Vec::new();
    let mut neg_keys: Vec<f32> = Vec::new();
    for (members, pos, neg) in &scored {
        let pos_cols: Vec<(usize, usize)> = pos.iter().map(|&j| (j, column_of(j))).collect();
        let neg_cols: Vec<(usize, usize)> = neg.iter().map(|&j| (j, column_of(j))).collect();
        for &i in members.iter() {
            pos_keys.clear();
            pos_keys.extend(
                pos_cols
                    .iter()
                    .filter(|&&(j, _)| j != i)
                    .map(|&(_, c)| key(r, c)),
            );
            neg_keys.clear();
            neg_keys.extend(
                neg_cols
                    .iter()
                    .filter(|&&(j, _)| j != i)
                    .map(|&(_, c)| key(r, c)),
            );
            out.push((i, average_precision_of(&mut pos_keys, &neg_keys)));
            r += 1;
        }
    }
    out
}

/// AP of a ranking by ascending key, positives before negatives of equal
/// key (copairs' order), from the positives' and negatives' keys: a
/// positive's rank is the positives up to it plus the negatives with a
/// smaller key.
fn average_precision_of(pos: &mut [f32], neg: &[f32]) -> ProfileAp {
    let total = (pos.len() + neg.len()) as u32;
    if pos.is_empty() {
        return ProfileAp {
            average_precision: f64::NAN,
            n_pos_pairs: 0,
            n_total_pairs: total,
        };
    }
    pos.sort_unstable_by(f32::total_cmp);
    // before[t]: negatives ranked before the t-th positive (a negative
    // precedes the positives whose key is strictly greater).
    let mut before = vec![0u32; pos.len() + 1];
    for &k in neg {
        let t = pos.partition_point(|&p| p.total_cmp(&k).is_le());
        before[t] += 1;
    }
    let below = before[..pos.len()].iter().scan(0u32, |negatives, &b| {
        *negatives += b;
        Some(*negatives)
    });
    ProfileAp {
        average_precision: average_precision_of_ranks(below),
        n_pos_pairs: pos.len() as u32,
        n_total_pairs: total,
    }
}

/// AP from, for each positive in ascending key order, the negatives ranked
/// before it: the k-th positive (from 0) has rank k + 1 + below, precision
/// (k + 1) / rank, summed in that order. NaN without a positive.
pub(super) fn average_precision_of_ranks(below: impl Iterator<Item = u32>) -> f64 {
    let mut sum = 0.0f64;
    let mut positives = 0u32;
    for b in below {
        positives += 1;
        sum += f64::from(positives) / f64::from(positives + b);
    }
    sum / f64::from(positives)
}

/// Sum of APs in ascending order, so equal sets of APs give equal mAPs
/// whatever order their samples were drawn in.
pub(super) fn mean_of_sorted(aps: &mut [f64]) -> f64 {
    aps.sort_unstable_by(f64::total_cmp);
    aps.iter().sum::<f64>() / aps.len() as f64
}

/// Sets each group's corrected p-value: Benjamini-Hochberg over the
/// groups' p-values.
pub fn correct_p_values(groups: &mut [GroupMap]) {
    let p: Vec<f64> = groups.iter().map(|g| g.p_value).collect();
    for (g, q) in groups.iter_mut().zip(benjamini_hochberg(&p)) {
        g.corrected_p_value = q;
    }
}

/// copairs' `mean_average_precision`: the profiles with a positive pair,
/// grouped by `group` (None: left out), each group's mean AP, its p-value
/// against the mean of its members' copairs nulls (`null_size` draws,
/// `seed`), and Benjamini-Hochberg over the groups. Groups in code order.
pub fn mean_average_precision(
    aps: &[ProfileAp],
    group: &[Option<u32>],
    null_size: usize,
    seed: u64,
    par: Par,
) -> Result<Vec<GroupMap>, KernelError> {
    if aps.len() != group.len() {
        return Err(KernelError::Shape(format!(
            "{} profiles and {} group labels",
            aps.len(),
            group.len()
        )));
    }
    if null_size == 0 {
        return Err(KernelError::NotEnough(
            "null_size must be at least 1".into(),
        ));
    }
    let kept: Vec<usize> = (0..aps.len())
        .filter(|&i| {
            group[i].is_some() && aps[i].n_pos_pairs > 0 && !aps[i].average_precision.is_nan()
        })
        .collect();
    // Configurations, sorted as np.unique sorts rows; one null each.
    let confs: Vec<(u32, u32)> = {
        let mut c: Vec<(u32, u32)> = kept
            .iter()
            .map(|&i| (aps[i].n_pos_pairs, aps[i].n_total_pairs))
            .collect();
        c.sort_unstable();
        c.dedup();
        c
    };
    let seeds = null::configuration_seeds(confs.len(), seed);
    let nulls: Vec<Vec<f32>> = map_indices(par, confs.len(), |c| {
        let (k, m) = confs[c];
        null::random_average_precisions(null_size, k as usize, m as usize, seeds[c])
    });
    let conf_of: HashMap<(u32, u32), usize> =
        confs.iter().enumerate().map(|(c, &k)| (k, c)).collect();
    let mut members: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
    for &i in &kept {
        members.entry(group[i].expect("kept")).or_default().push(i);
    }
    let mut out: Vec<GroupMap> = members
        .iter()
        .map(|(&g, rows)| {
            let map =
                rows.iter().map(|&i| aps[i].average_precision).sum::<f64>() / rows.len() as f64;
            let member_nulls: Vec<&[f32]> = rows
                .iter()
                .map(|&i| nulls[conf_of[&(aps[i].n_pos_pairs, aps[i].n_total_pairs)]].as_slice())
                .collect();
            GroupMap {
                group: g,
                mean_average_precision: map,
                n_profiles: rows.len(),
                p_value: null::p_value(map, &null::group_null(&member_nulls)),
                corrected_p_value: f64::NAN,
            }
        })
        .collect();
    correct_p_values(&mut out);
    Ok(out)
}

#[cfg(test)]
mod tests;
