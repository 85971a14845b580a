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
//! stratum's controls (computed once), keys involving the group's samples
//! from one product of them against the pool; control pairs across strata
//! (positives only) are computed when drawn. Each pair has one key however
//! it is reached (the lower index's row), so the observed mAP and the draws
//! rank by the same numbers.

use super::{average_precision_of, distance_similarity, prepare, Similarity};
use crate::error::KernelError;
use crate::runtime::parallel::map_indices;
use crate::runtime::work::{Kernel, Work};
use crate::stats::rng::stream;
use crate::Par;
use faer::Mat;
use ndarray::ArrayView2;
use rand::Rng;

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

/// The key of a similarity, as the AP ranks it.
fn key_of(s: f64, similarity: Similarity) -> f32 {
    let s = if similarity == Similarity::AbsCosine {
        s.abs()
    } else {
        s
    };
    1.0f32 - s as f32
}

/// Keys of every row of `a` against every row of `b` (sample indices).
fn keys(
    x: ArrayView2<f32>,
    prepared: &Option<Mat<f64>>,
    similarity: Similarity,
    a: &[usize],
    b: &[usize],
    work: &Work,
) -> Vec<f32> {
    match prepared {
        Some(m) => {
            let d = m.ncols();
            let left = Mat::from_fn(a.len(), d, |r, k| m[(a[r], k)]);
            let right = Mat::from_fn(b.len(), d, |c, k| m[(b[c], k)]);
            let prod = work.timed(Kernel::DenseProduct, || {
                work.add_product(a.len(), d, b.len());
                let mut out = Mat::<f64>::zeros(a.len(), b.len());
                faer::linalg::matmul::matmul(
                    out.as_mut(),
                    faer::Accum::Replace,
                    left.as_ref(),
                    right.as_ref().transpose(),
                    1.0,
                    Par::Seq,
                );
                out
            });
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
    prepared: &Option<Mat<f64>>,
    similarity: Similarity,
    i: usize,
    j: usize,
) -> f32 {
    let (i, j) = (i.min(j), i.max(j));
    let s = match prepared {
        Some(m) => (0..m.ncols()).map(|k| m[(i, k)] * m[(j, k)]).sum::<f64>(),
        None => distance_similarity(x.row(i), x.row(j), similarity),
    };
    key_of(s, similarity)
}

/// Each group's observed mAP (samples scored against the controls, as in
/// the permutation draws) and its permutation p-value with `n_draws`
/// draws, seeded per group by `seed` and the group's position. Groups
/// need two samples or more; a group sample may not be a control.
pub fn permutation_p_values(
    t: &PermutationTest,
    groups: &[Vec<usize>],
    n_draws: usize,
    seed: u64,
    par: Par,
    work: &Work,
) -> Result<Vec<(f64, f64)>, KernelError> {
    let n = t.x.nrows();
    if t.stratum.len() != n {
        return Err(KernelError::Shape(format!(
            "{} stratum codes for {n} samples",
            t.stratum.len()
        )));
    }
    if !t.negatives_within_stratum
        && t.controls
            .iter()
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
        place[c] = (s, by_stratum[s].len());
        by_stratum[s].push(c);
    }
    let bytes: usize = by_stratum.iter().map(|c| c.len() * c.len() * 4).sum();
    if bytes > MAX_CONTROL_KEYS_BYTES {
        return Err(KernelError::Memory(format!(
            "the permutation test keeps every pair of controls of a stratum ({:.1} GB for {} controls); use the copairs null, or negatives from the sample's batch",
            bytes as f64 / 1e9,
            t.controls.len()
        )));
    }
    let control_keys: Vec<Vec<f32>> = map_indices(par, by_stratum.len(), |s| {
        keys(
            t.x,
            &prepared,
            t.similarity,
            &by_stratum[s],
            &by_stratum[s],
            work,
        )
    });
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
    let results = map_indices(par, groups.len(), |gi| {
        let wells = &groups[gi];
        let w = wells.len();
        // The pool: the group's samples, then the controls of the strata
        // its samples are in (all controls: the one stratum).
        let mut pool_strata: Vec<usize> = wells
            .iter()
            .filter_map(|&i| stratum_index(t.stratum[i]))
            .collect();
        pool_strata.sort_unstable();
        pool_strata.dedup();
        let mut pool: Vec<usize> = wells.clone();
        for &s in &pool_strata {
            pool.extend_from_slice(&by_stratum[s]);
        }
        let p = pool.len();
        // Local stratum of each pool member (a group sample in a stratum
        // without controls is its own stratum).
        let local_stratum: Vec<u32> = pool.iter().map(|&i| t.stratum[i]).collect();
        let group_keys = keys(t.x, &prepared, t.similarity, wells, &pool, work);
        let key = |a: usize, b: usize| -> f32 {
            // a, b: pool positions, a != b.
            let (lo, hi) = (a.min(b), a.max(b));
            if lo < w {
                return group_keys[lo * p + hi];
            }
            let (i, j) = (pool[lo], pool[hi]);
            let (si, pi) = place[i];
            let (sj, pj) = place[j];
            if si == sj {
                let c = by_stratum[si].len();
                let (u, v) = (pi.min(pj), pi.max(pj));
                control_keys[si][u * c + v]
            } else {
                pair_key(t.x, &prepared, t.similarity, i, j)
            }
        };
        // The pool positions of each stratum, and the group's count there.
        let mut codes: Vec<u32> = local_stratum.clone();
        codes.sort_unstable();
        codes.dedup();
        let members: Vec<Vec<usize>> = codes
            .iter()
            .map(|&c| (0..p).filter(|&k| local_stratum[k] == c).collect())
            .collect();
        let counts: Vec<usize> = codes
            .iter()
            .map(|&c| (0..w).filter(|&k| local_stratum[k] == c).count())
            .collect();
        let stratum_of: Vec<usize> = local_stratum
            .iter()
            .map(|c| codes.binary_search(c).expect("a code"))
            .collect();
        let mut drawn = vec![false; p];
        let mut pos: Vec<f32> = Vec::new();
        let mut neg: Vec<f32> = Vec::new();
        let mut score = |set: &[usize], drawn: &[bool]| -> f64 {
            let mut sum = 0.0;
            for &d in set {
                pos.clear();
                pos.extend(set.iter().filter(|&&q| q != d).map(|&q| key(d, q)));
                neg.clear();
                if t.negatives_within_stratum {
                    let candidates = &members[stratum_of[d]];
                    neg.extend(
                        candidates
                            .iter()
                            .filter(|&&q| !drawn[q])
                            .map(|&q| key(d, q)),
                    );
                } else {
                    neg.extend((0..p).filter(|&q| !drawn[q]).map(|q| key(d, q)));
                }
                sum += average_precision_of(&mut pos, &neg).average_precision;
            }
            sum / set.len() as f64
        };
        let observed_set: Vec<usize> = (0..w).collect();
        for &k in &observed_set {
            drawn[k] = true;
        }
        let observed = score(&observed_set, &drawn);
        let mut rng = stream(seed, "map/permutation", gi as u64);
        let mut scratch: Vec<Vec<usize>> = members.clone();
        let mut set: Vec<usize> = Vec::with_capacity(w);
        let mut at_least = 0usize;
        for _ in 0..n_draws {
            for &k in &set {
                drawn[k] = false;
            }
            for &k in &observed_set {
                drawn[k] = false;
            }
            set.clear();
            for (s, m) in scratch.iter_mut().enumerate() {
                // A partial Fisher-Yates: the first counts[s] of the
                // stratum's pool, drawn without replacement.
                for k in 0..counts[s] {
                    let j = rng.random_range(k..m.len());
                    m.swap(k, j);
                    set.push(m[k]);
                }
            }
            for &k in &set {
                drawn[k] = true;
            }
            if score(&set, &drawn) >= observed {
                at_least += 1;
            }
        }
        (observed, (1 + at_least) as f64 / (1 + n_draws) as f64)
    });
    Ok(results)
}
