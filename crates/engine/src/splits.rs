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
use crate::pipeline::SplitBy;
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

pub fn split(samples: &Samples, seed: u64, fraction: f64, by: SplitBy) -> Result<SplitOut> {
    if !(fraction > 0.0 && fraction < 1.0) {
        return Err(EngineError::msg(format!(
            "train_fraction must lie strictly between 0 and 1, got {fraction}"
        )));
    }
    let mut perts: Vec<&str> = (0..samples.len())
        .filter(|&i| !samples.is_control[i])
        .map(|i| samples.perturbation[i].as_str())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    // The units held out whole: batches, or the dataset's split groups.
    let units: Vec<String> = match by {
        SplitBy::Group => {
            let g = samples.split_group.as_ref().ok_or_else(|| {
                EngineError::msg(
                    "split_by: group needs the dataset's `columns.split_group` (a column such as the well position or dose slot) in its manifest",
                )
            })?;
            g.clone()
        }
        _ => samples.batch.clone(),
    };
    let mut batches: Vec<&str> = units
        .iter()
        .map(String::as_str)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    if batches.len() < 2 && by == SplitBy::Group {
        return Err(EngineError::msg(format!(
            "split_by: group needs at least 2 groups, `columns.split_group` has {}",
            batches.len()
        )));
    }
    if batches.len() < 2 && by == SplitBy::Batch {
        return Err(EngineError::msg(format!(
            "splits need at least 2 batches, the dataset has {} (one plate or one batch?): set `split_by: samples` in the pipeline for a seeded split of each perturbation's samples",
            batches.len()
        )));
    }
    if perts.len() < 2 {
        return Err(EngineError::msg(format!(
            "splits need at least 2 perturbations, the dataset has {}",
            perts.len()
        )));
    }
    batches.shuffle(&mut pertbench_kernels::stats::rng::stream(
        seed,
        "split/batches",
        0,
    ));
    perts.shuffle(&mut pertbench_kernels::stats::rng::stream(
        seed,
        "split/perturbations",
        0,
    ));
    // Whether each sample is on the train side: its batch is a train batch,
    // or (split_by: samples) it is among its perturbation's train samples.
    let train_side: Vec<bool> = match by {
        SplitBy::Batch | SplitBy::Group => {
            let train_batches: BTreeSet<&str> = batches[..n_train(batches.len(), fraction)]
                .iter()
                .copied()
                .collect();
            units
                .iter()
                .map(|b| train_batches.contains(b.as_str()))
                .collect()
        }
        SplitBy::Samples => samples_side(samples, seed, fraction)?,
    };
    let train_perts: BTreeSet<&str> = perts[..n_train(perts.len(), fraction)]
        .iter()
        .copied()
        .collect();
    let mut out = SplitOut::default();
    let mut in_train: BTreeSet<&str> = BTreeSet::new();
    for i in 0..samples.len() {
        let p = samples.perturbation[i].as_str();
        if train_side[i] && !samples.is_control[i] && train_perts.contains(p) {
            in_train.insert(p);
        }
    }
    for i in 0..samples.len() {
        let p = samples.perturbation[i].as_str();
        let train_batch = train_side[i];
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

/// The train side of `split_by: samples`: each perturbation's samples, and
/// the controls of each batch, are shuffled with the seed and the first
/// `round(fraction x n)` (at least one, at least one left, for n >= 2) are
/// train. A perturbation with one sample lands on one side.
fn samples_side(samples: &Samples, seed: u64, fraction: f64) -> Result<Vec<bool>> {
    let mut groups: BTreeMap<(bool, &str), Vec<usize>> = BTreeMap::new();
    for i in 0..samples.len() {
        let key = if samples.is_control[i] {
            (true, samples.batch[i].as_str())
        } else {
            (false, samples.perturbation[i].as_str())
        };
        groups.entry(key).or_default().push(i);
    }
    let mut side = vec![false; samples.len()];
    let mut rng = pertbench_kernels::stats::rng::stream(seed, "split/samples", 0);
    for rows in groups.values_mut() {
        rows.shuffle(&mut rng);
        let k = if rows.len() >= 2 {
            n_train(rows.len(), fraction)
        } else {
            usize::from(rand::Rng::random_bool(&mut rng, fraction))
        };
        for &r in &rows[..k] {
            side[r] = true;
        }
    }
    if !side.iter().zip(&samples.is_control).any(|(s, c)| *s && *c)
        || !side.iter().zip(&samples.is_control).any(|(s, c)| !*s && *c)
    {
        return Err(EngineError::msg(
            "split_by: samples needs at least 2 control samples, one for each side",
        ));
    }
    Ok(side)
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
        let out = split(&s, 3, 0.7, SplitBy::Batch).unwrap();
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
        assert_eq!(split(&s, 3, 0.7, SplitBy::Batch).unwrap(), out);
        let others: Vec<SplitOut> = (0..5)
            .map(|k| split(&s, k, 0.7, SplitBy::Batch).unwrap())
            .collect();
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
            .map(|k| split(&s, k, 0.7, SplitBy::Batch).unwrap())
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
        let e = split(&s, 0, 0.7, SplitBy::Batch).unwrap_err().to_string();
        assert!(
            e.contains("at least 2 batches") && e.contains("split_by: samples"),
            "{e}"
        );
    }

    #[test]
    fn split_by_group_holds_out_whole_groups() {
        // One plate, 6 well groups; every perturbation in every group.
        let mut rows = Vec::new();
        let mut groups = Vec::new();
        for w in 0..6 {
            rows.push(("ctrl".to_string(), true));
            groups.push(format!("W{w}"));
            for g in 0..4 {
                rows.push((format!("g{g}"), false));
                groups.push(format!("W{w}"));
            }
        }
        let rows: Vec<(&str, &str, bool)> = rows
            .iter()
            .map(|(p, c)| (p.as_str(), "plate1", *c))
            .collect();
        let mut s = samples(&rows);
        let e = split(&s, 1, 0.5, SplitBy::Group).unwrap_err().to_string();
        assert!(e.contains("columns.split_group"), "{e}");
        s.split_group = Some(groups.clone());
        let out = split(&s, 1, 0.5, SplitBy::Group).unwrap();
        let train_groups: BTreeSet<&str> = out.train.iter().map(|&r| groups[r].as_str()).collect();
        let test_groups: BTreeSet<&str> = out
            .test_seen
            .iter()
            .chain(&out.test_unseen)
            .map(|&r| groups[r].as_str())
            .collect();
        assert_eq!((train_groups.len(), test_groups.len()), (3, 3));
        assert!(train_groups.is_disjoint(&test_groups));
        assert!(!out.test_seen.is_empty() && !out.test_unseen.is_empty());
    }

    #[test]
    fn one_plate_splits_by_samples_within_each_perturbation() {
        // One plate: 8 controls, 10 perturbations x 4 wells.
        let mut rows: Vec<(String, bool)> = (0..8).map(|_| ("ctrl".to_string(), true)).collect();
        for g in 0..10 {
            rows.extend((0..4).map(|_| (format!("g{g}"), false)));
        }
        let rows: Vec<(&str, &str, bool)> = rows
            .iter()
            .map(|(p, c)| (p.as_str(), "plate1", *c))
            .collect();
        let s = samples(&rows);
        let out = split(&s, 5, 0.5, SplitBy::Samples).unwrap();
        assert_eq!(out, split(&s, 5, 0.5, SplitBy::Samples).unwrap(), "seeded");
        assert_ne!(out, split(&s, 6, 0.5, SplitBy::Samples).unwrap());
        let perts = |rows: &[usize]| -> BTreeSet<String> {
            rows.iter()
                .filter(|&&r| !s.is_control[r])
                .map(|&r| s.perturbation[r].clone())
                .collect()
        };
        // Half the perturbations train, each with 2 of its 4 wells; their
        // other 2 wells are test_seen; the other perturbations' test-side
        // wells are test_unseen.
        let train = perts(&out.train);
        assert_eq!(train.len(), 5);
        assert_eq!(perts(&out.test_seen), train);
        assert!(perts(&out.test_unseen).is_disjoint(&train));
        assert_eq!(out.train.iter().filter(|&&r| !s.is_control[r]).count(), 10);
        assert_eq!(
            out.test_seen.iter().filter(|&&r| !s.is_control[r]).count(),
            10
        );
        assert_eq!(
            out.test_unseen
                .iter()
                .filter(|&&r| !s.is_control[r])
                .count(),
            10
        );
        // Controls: 4 train, 4 on the test side (in both test splits).
        assert_eq!(out.train.iter().filter(|&&r| s.is_control[r]).count(), 4);
        assert_eq!(
            out.test_seen.iter().filter(|&&r| s.is_control[r]).count(),
            4
        );
        let train_rows: BTreeSet<usize> = out.train.iter().copied().collect();
        assert!(out.test_seen.iter().all(|r| !train_rows.contains(r)));
    }
}
