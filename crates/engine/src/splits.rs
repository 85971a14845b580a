//! Train / test splits (METRICS.md "Splits"), deterministic in the seed.
//!
//! Controls are set aside; the sorted unique batches and the sorted unique
//! non-control perturbations are each shuffled with the seed, and the first
//! `round(fraction x n)` of each (at least one, and at least one left over)
//! are "train". `train` = train batches x train perturbations; `test_seen` =
//! test batches x train perturbations that occur in `train`; `test_unseen` =
//! test batches x the other perturbations. Each split also holds the
//! controls of its own batches. Train perturbations that never occur in a
//! train batch cannot be "seen"; their test samples are left out and counted.

use crate::error::{EngineError, Result};
use pertbench_data::samples::Samples;
use rand::seq::SliceRandom;
use std::collections::{BTreeMap, BTreeSet};

pub const DEFAULT_TRAIN_FRACTION: f64 = 0.7;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum SplitName {
    Train,
    TestSeen,
    TestUnseen,
}

impl SplitName {
    pub fn as_str(&self) -> &'static str {
        match self {
            SplitName::Train => "train",
            SplitName::TestSeen => "test_seen",
            SplitName::TestUnseen => "test_unseen",
        }
    }
    pub fn parse(s: &str) -> Option<SplitName> {
        match s {
            "train" => Some(SplitName::Train),
            "test_seen" => Some(SplitName::TestSeen),
            "test_unseen" => Some(SplitName::TestUnseen),
            _ => None,
        }
    }
}

/// Sample rows (indices into the samples table) of each split, ascending.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SplitOut {
    pub train: Vec<usize>,
    pub test_seen: Vec<usize>,
    pub test_unseen: Vec<usize>,
    /// Test-batch samples of train perturbations absent from every train
    /// batch (in no split), by perturbation.
    pub unseen_train_perturbations: BTreeMap<String, usize>,
}

impl SplitOut {
    pub fn rows(&self, s: SplitName) -> &[usize] {
        match s {
            SplitName::Train => &self.train,
            SplitName::TestSeen => &self.test_seen,
            SplitName::TestUnseen => &self.test_unseen,
        }
    }
}

fn n_train(n: usize, fraction: f64) -> usize {
    ((fraction * n as f64).round() as usize).clamp(1, n - 1)
}

pub fn split(samples: &Samples, seed: u64, fraction: f64) -> Result<SplitOut> {
    if !(fraction > 0.0 && fraction < 1.0) {
        return Err(EngineError::msg(format!(
            "train_fraction must lie strictly between 0 and 1, got {fraction}"
        )));
    }
    let mut batches: Vec<&str> = samples
        .batch
        .iter()
        .map(String::as_str)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut perts: Vec<&str> = (0..samples.len())
        .filter(|&i| !samples.is_control[i])
        .map(|i| samples.perturbation[i].as_str())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    if batches.len() < 2 {
        return Err(EngineError::msg(format!(
            "splits need at least 2 batches, the dataset has {}",
            batches.len()
        )));
    }
    if perts.len() < 2 {
        return Err(EngineError::msg(format!(
            "splits need at least 2 perturbations, the dataset has {}",
            perts.len()
        )));
    }
    batches.shuffle(&mut pertbench_kernels::rng::stream(
        seed,
        "split/batches",
        0,
    ));
    perts.shuffle(&mut pertbench_kernels::rng::stream(
        seed,
        "split/perturbations",
        0,
    ));
    let train_batches: BTreeSet<&str> = batches[..n_train(batches.len(), fraction)]
        .iter()
        .copied()
        .collect();
    let train_perts: BTreeSet<&str> = perts[..n_train(perts.len(), fraction)]
        .iter()
        .copied()
        .collect();
    let mut out = SplitOut::default();
    let mut in_train: BTreeSet<&str> = BTreeSet::new();
    for i in 0..samples.len() {
        let b = samples.batch[i].as_str();
        let p = samples.perturbation[i].as_str();
        if train_batches.contains(b) && !samples.is_control[i] && train_perts.contains(p) {
            in_train.insert(p);
        }
    }
    for i in 0..samples.len() {
        let b = samples.batch[i].as_str();
        let p = samples.perturbation[i].as_str();
        let train_batch = train_batches.contains(b);
        if samples.is_control[i] {
            if train_batch {
                out.train.push(i);
            } else {
                out.test_seen.push(i);
                out.test_unseen.push(i);
            }
        } else if train_batch {
            if train_perts.contains(p) {
                out.train.push(i);
            }
        } else if !train_perts.contains(p) {
            out.test_unseen.push(i);
        } else if in_train.contains(p) {
            out.test_seen.push(i);
        } else {
            *out.unseen_train_perturbations
                .entry(p.to_string())
                .or_default() += 1;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples(rows: &[(&str, &str, bool)]) -> Samples {
        let mut s = Samples::default();
        for (i, (p, b, c)) in rows.iter().enumerate() {
            s.sample_id.push(format!("s{i}"));
            s.perturbation.push(p.to_string());
            s.batch.push(b.to_string());
            s.is_control.push(*c);
        }
        s
    }

    fn grid() -> Samples {
        let mut rows = vec![];
        for b in ["b0", "b1", "b2", "b3"] {
            rows.push(("ctrl", b, true));
            for p in ["g0", "g1", "g2", "g3", "g4", "g5"] {
                rows.push((p, b, false));
            }
        }
        let leaked: Vec<(&str, &str, bool)> = rows.iter().map(|(p, b, c)| (*p, *b, *c)).collect();
        samples(&leaked)
    }

    #[test]
    fn splits_partition_by_batch_and_perturbation() {
        let s = grid();
        let out = split(&s, 3, 0.7).unwrap();
        // 4 batches -> 3 train (round 2.8); 6 perturbations -> 4 train (round 4.2).
        let tb: BTreeSet<&str> = out.train.iter().map(|&i| s.batch[i].as_str()).collect();
        assert_eq!(tb.len(), 3);
        let tp: BTreeSet<&str> = out
            .train
            .iter()
            .filter(|&&i| !s.is_control[i])
            .map(|&i| s.perturbation[i].as_str())
            .collect();
        assert_eq!(tp.len(), 4);
        // 3 controls + 3 x 4 perturbed in train; test batch: 1 control + 4 seen; 1 control + 2 unseen.
        assert_eq!(out.train.len(), 15);
        assert_eq!(out.test_seen.len(), 5);
        assert_eq!(out.test_unseen.len(), 3);
        for &i in out.test_seen.iter().chain(&out.test_unseen) {
            assert!(!tb.contains(s.batch[i].as_str()));
        }
        for &i in &out.test_unseen {
            assert!(s.is_control[i] || !tp.contains(s.perturbation[i].as_str()));
        }
        // Deterministic in the seed, different across seeds.
        assert_eq!(split(&s, 3, 0.7).unwrap(), out);
        let others: Vec<SplitOut> = (0..5).map(|k| split(&s, k, 0.7).unwrap()).collect();
        assert!(others.iter().any(|o| o.train != out.train));
    }

    #[test]
    fn train_perturbation_only_in_test_batches_is_counted() {
        // g9 is only in b1. With two batches one is train; run seeds until
        // g9 is a train perturbation while b1 is the test batch.
        let s = samples(&[
            ("ctrl", "b0", true),
            ("g0", "b0", false),
            ("g1", "b0", false),
            ("ctrl", "b1", true),
            ("g0", "b1", false),
            ("g1", "b1", false),
            ("g9", "b1", false),
            ("g9", "b1", false),
        ]);
        let found = (0..200)
            .map(|k| split(&s, k, 0.7).unwrap())
            .find(|o| !o.unseen_train_perturbations.is_empty());
        let o = found.expect("some seed makes g9 a train perturbation in a test batch");
        assert_eq!(o.unseen_train_perturbations.get("g9"), Some(&2));
        let total = o.train.len() + o.test_seen.len() + o.test_unseen.len();
        // g9's two samples and b0's non-train perturbation are in no split;
        // the test control is in both test splits: 8 - 2 - 1 + 1.
        assert_eq!(total, 6);
    }

    #[test]
    fn too_few_batches_is_an_error() {
        let s = samples(&[
            ("ctrl", "b0", true),
            ("g0", "b0", false),
            ("g1", "b0", false),
        ]);
        let e = split(&s, 0, 0.7).unwrap_err().to_string();
        assert!(e.contains("at least 2 batches"), "{e}");
    }
}
