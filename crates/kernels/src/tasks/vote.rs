//! Task 4: weighted kNN vote (METRICS.md "Task 4").

use crate::neighbours::knn::Neighbours;
use rayon::prelude::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VoteWeights {
    /// 1 / (euclidean distance + 1e-5).
    InverseDistance,
    /// exp(cos / 0.07); the neighbours' distance must be 1 - cos.
    CosineSoftmax,
}

pub const EPSILON: f64 = 1e-5;
pub const TEMPERATURE: f64 = 0.07;

/// Classes ranked by summed weight, best first (ties: lower class code
/// first), at most `top` of them; classes without a vote never appear.
pub fn ranked_classes(
    idx: &[u32],
    dist: &[f64],
    class: &[u32],
    weights: VoteWeights,
    top: usize,
) -> Vec<u32> {
    let mut score: Vec<(u32, f64)> = Vec::with_capacity(idx.len());
    for (r, d) in idx.iter().zip(dist) {
        let w = match weights {
            VoteWeights::InverseDistance => 1.0 / (d + EPSILON),
            VoteWeights::CosineSoftmax => ((1.0 - d) / TEMPERATURE).exp(),
        };
        let c = class[*r as usize];
        match score.iter_mut().find(|(k, _)| *k == c) {
            Some(s) => s.1 += w,
            None => score.push((c, w)),
        }
    }
    score.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    score.into_iter().take(top).map(|(c, _)| c).collect()
}

/// Top-1 and top-5 hit counts of the vote for every query.
pub fn top1_top5(
    nb: &Neighbours,
    reference_class: &[u32],
    query_class: &[u32],
    weights: VoteWeights,
) -> (usize, usize) {
    query_hits(nb, reference_class, query_class, weights)
        .into_iter()
        .fold((0, 0), |a, b| {
            (a.0 + usize::from(b.0), a.1 + usize::from(b.1))
        })
}

/// Per query: (top-1 hit, top-5 hit) of the vote.
pub fn query_hits(
    nb: &Neighbours,
    reference_class: &[u32],
    query_class: &[u32],
    weights: VoteWeights,
) -> Vec<(bool, bool)> {
    (0..nb.n_queries())
        .into_par_iter()
        .map(|q| {
            let (idx, d) = nb.row(q);
            let ranked = ranked_classes(idx, d, reference_class, weights, 5);
            let t = query_class[q];
            (ranked.first() == Some(&t), ranked.contains(&t))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_computed_votes() {
        // Neighbours: class 1 at d=1 (w ~ 1), class 2 at d=0.5 and d=4
        // (w ~ 2 + 0.25 = 2.25), class 3 at d=0.25 (w ~ 4).
        let class = [1u32, 2, 2, 3];
        let idx = [0u32, 1, 2, 3];
        let dist = [1.0, 0.5, 4.0, 0.25];
        let r = ranked_classes(&idx, &dist, &class, VoteWeights::InverseDistance, 5);
        assert_eq!(r, vec![3, 2, 1]);
        // Majority is not what counts: two class-2 votes lose to one close class-3.
        let r = ranked_classes(&idx, &dist, &class, VoteWeights::InverseDistance, 1);
        assert_eq!(r, vec![3]);
    }

    #[test]
    fn ties_go_to_the_lower_class() {
        let class = [7u32, 4];
        let r = ranked_classes(
            &[0, 1],
            &[1.0, 1.0],
            &class,
            VoteWeights::InverseDistance,
            5,
        );
        assert_eq!(r, vec![4, 7]);
    }

    #[test]
    fn cosine_weights_and_counts() {
        // cos 0.9 vs two at cos 0.8: exp(0.9/0.07) ~ 3.8e5 beats 2 exp(0.8/0.07) ~ 1.8e5.
        let class = [0u32, 1, 1];
        let dist = [0.1, 0.2, 0.2];
        let r = ranked_classes(&[0, 1, 2], &dist, &class, VoteWeights::CosineSoftmax, 5);
        assert_eq!(r, vec![0, 1]);
        // Inverse distance: 2 / (0.2 + 1e-5) = 9.99950 beats 1 / (0.1 + 1e-5) = 9.99900.
        let r = ranked_classes(&[0, 1, 2], &dist, &class, VoteWeights::InverseDistance, 5);
        assert_eq!(r, vec![1, 0]);
        let nb = Neighbours {
            k: 3,
            index: vec![0, 1, 2, 0, 1, 2],
            distance: vec![0.1, 0.2, 0.2, 0.1, 0.2, 0.2],
        };
        // Query 0 is class 0 (top1 hit), query 1 is class 5 (miss both).
        assert_eq!(
            top1_top5(&nb, &class, &[0, 5], VoteWeights::CosineSoftmax),
            (1, 1)
        );
        assert_eq!(
            top1_top5(&nb, &class, &[1, 5], VoteWeights::CosineSoftmax),
            (0, 1)
        );
    }
}
