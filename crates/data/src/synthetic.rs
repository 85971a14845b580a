//! The built-in synthetic CRISPR screen of the quickstart.
//!
//! Deterministic in its seed. Knock-outs act through real protein complexes:
//! each chosen CORUM complex owns a sparse expression programme, and knocking
//! out a member shifts expression by the programmes of its complexes, plus
//! lowering the target's own expression. Targets that are not expressed have
//! no effect (the `unexpressed` null of Task 3). Every batch has its own
//! gene-wise effects and library sizes, and its own non-targeting controls.
//! Counts are Poisson draws around the resulting rates.

use crate::samples::Samples;
use pertbench_kernels::sparse::csr::CsrMatrix;
use pertbench_kernels::stats::rng::stream;
use rand::seq::SliceRandom;
use rand::Rng;
use rand_distr::{Distribution, LogNormal, Normal, Poisson};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};

fn d_seed() -> u64 {
    0
}
fn d_batches() -> usize {
    3
}
fn d_genes() -> usize {
    400
}
fn d_cells() -> usize {
    24
}
fn d_controls() -> usize {
    150
}
fn d_complexes() -> usize {
    30
}
fn d_unexpressed() -> usize {
    24
}
fn d_library() -> f64 {
    3000.0
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SyntheticSpec {
    #[serde(default = "d_seed")]
    pub seed: u64,
    #[serde(default = "d_batches")]
    pub n_batches: usize,
    /// Measured genes (targets included).
    #[serde(default = "d_genes")]
    pub n_genes: usize,
    /// Cells per knock-out, over all batches.
    #[serde(default = "d_cells")]
    pub cells_per_perturbation: usize,
    #[serde(default = "d_controls")]
    pub controls_per_batch: usize,
    /// CORUM complexes whose members are knocked out.
    #[serde(default = "d_complexes")]
    pub n_complexes: usize,
    /// Knock-outs of genes with no expression (no effect).
    #[serde(default = "d_unexpressed")]
    pub n_unexpressed: usize,
    #[serde(default = "d_library")]
    pub mean_library_size: f64,
    /// Name of the clusters dataset whose complexes drive the effects.
    pub clusters: String,
}

impl SyntheticSpec {
    /// Why the spec cannot be generated (a size out of range), or None.
    /// Bounds keep a typo (`n_batches: 4294967296`) from aborting on
    /// allocation: the screen may hold at most 20 million cells and 100,000
    /// genes.
    pub fn invalid(&self) -> Option<String> {
        for (field, v, min, max) in [
            ("n_batches", self.n_batches, 1, 10_000),
            ("n_genes", self.n_genes, 1, 100_000),
            (
                "cells_per_perturbation",
                self.cells_per_perturbation,
                1,
                100_000,
            ),
            ("controls_per_batch", self.controls_per_batch, 0, 1_000_000),
            ("n_complexes", self.n_complexes, 0, 100_000),
            ("n_unexpressed", self.n_unexpressed, 0, 100_000),
        ] {
            if v < min || v > max {
                return Some(format!(
                    "field `source.synthetic.{field}` must lie between {min} and {max}, got {v}"
                ));
            }
        }
        let cells = (self.n_complexes * 8 + self.n_unexpressed)
            .saturating_mul(self.cells_per_perturbation)
            .saturating_add(self.n_batches.saturating_mul(self.controls_per_batch));
        if cells > 20_000_000 {
            return Some(format!(
                "the synthetic screen would hold about {cells} cells (at most 20,000,000)"
            ));
        }
        if !(self.mean_library_size.is_finite() && self.mean_library_size > 0.0) {
            return Some(format!(
                "field `source.synthetic.mean_library_size` must be a positive number, got {}",
                self.mean_library_size
            ));
        }
        None
    }
}

pub struct SyntheticScreen {
    pub samples: Samples,
    pub counts: CsrMatrix,
    pub genes: Vec<String>,
    /// Complexes used, with their knocked-out members.
    pub complexes: Vec<(String, Vec<String>)>,
}

pub const CONTROL_LABEL: &str = "non-targeting";

pub fn generate(
    spec: &SyntheticSpec,
    clusters: &[(String, Vec<String>)],
) -> Result<SyntheticScreen, String> {
    let mut rng = stream(spec.seed, "synthetic-screen", 0);
    // 1. Complexes of 3 to 8 members, drawn in a seeded order; members are kept
    //    at most once so each knock-out has a clear programme.
    let mut candidates: Vec<&(String, Vec<String>)> = clusters
        .iter()
        .filter(|(_, g)| (3..=8).contains(&g.len()))
        .collect();
    candidates.sort_by(|a, b| a.0.cmp(&b.0));
    candidates.shuffle(&mut rng);
    let mut used: BTreeSet<String> = BTreeSet::new();
    let mut complexes = Vec::new();
    for (name, genes) in candidates {
        if complexes.len() == spec.n_complexes {
            break;
        }
        let fresh: Vec<String> = genes
            .iter()
            .filter(|g| !used.contains(*g))
            .cloned()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        if fresh.len() >= 3 {
            used.extend(fresh.iter().cloned());
            complexes.push((name.clone(), fresh));
        }
    }
    if complexes.len() < spec.n_complexes {
        return Err(format!(
            "only {} usable complexes for {} requested",
            complexes.len(),
            spec.n_complexes
        ));
    }
    // 2. Unexpressed targets and filler genes: real gene names from other complexes.
    let mut others: Vec<String> = clusters
        .iter()
        .flat_map(|(_, g)| g.iter().cloned())
        .filter(|g| !used.contains(g))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    others.shuffle(&mut rng);
    let expressed_targets: Vec<String> =
        complexes.iter().flat_map(|c| c.1.iter().cloned()).collect();
    let n_fill = spec
        .n_genes
        .checked_sub(expressed_targets.len() + spec.n_unexpressed)
        .ok_or_else(|| {
            format!(
                "n_genes = {} is smaller than the {} targets",
                spec.n_genes,
                expressed_targets.len() + spec.n_unexpressed
            )
        })?;
    if others.len() < spec.n_unexpressed + n_fill {
        return Err("not enough distinct gene names in the clusters".into());
    }
    let unexpressed: Vec<String> = others[..spec.n_unexpressed].to_vec();
    let filler: Vec<String> = others[spec.n_unexpressed..spec.n_unexpressed + n_fill].to_vec();
    let mut genes: Vec<String> = expressed_targets
        .iter()
        .chain(&unexpressed)
        .chain(&filler)
        .cloned()
        .collect();
    genes.sort();
    let gidx: BTreeMap<&str, usize> = genes
        .iter()
        .enumerate()
        .map(|(i, g)| (g.as_str(), i))
        .collect();
    let g = genes.len();

    // 3. Baseline log-rates; unexpressed genes sit far below everything else.
    let normal = |s: f64| Normal::new(0.0, s).expect("valid sd");
    let mut base: Vec<f64> = (0..g).map(|_| normal(1.0).sample(&mut rng)).collect();
    for u in &unexpressed {
        base[gidx[u.as_str()]] = -14.0;
    }
    // 4. One sparse programme per complex (20% of genes, log-fold sd 0.9).
    let programmes: Vec<Vec<f64>> = complexes
        .iter()
        .map(|_| {
            (0..g)
                .map(|_| {
                    if rng.random::<f64>() < 0.2 {
                        normal(0.9).sample(&mut rng)
                    } else {
                        0.0
                    }
                })
                .collect()
        })
        .collect();
    // 5. Batch effects: gene-wise log-folds and library-size factors.
    let batch_fx: Vec<Vec<f64>> = (0..spec.n_batches)
        .map(|_| (0..g).map(|_| normal(0.35).sample(&mut rng)).collect())
        .collect();
    let batch_lib: Vec<f64> = (0..spec.n_batches)
        .map(|_| LogNormal::new(0.0, 0.25).unwrap().sample(&mut rng))
        .collect();

    // Perturbation effects.
    let mut effects: Vec<(String, Vec<f64>)> = Vec::new();
    for (c, (_, members)) in complexes.iter().enumerate() {
        for m in members {
            let mut e = programmes[c].clone();
            for v in e.iter_mut() {
                if rng.random::<f64>() < 0.05 {
                    *v += normal(0.3).sample(&mut rng);
                }
            }
            e[gidx[m.as_str()]] -= 2.0;
            effects.push((m.clone(), e));
        }
    }
    for u in &unexpressed {
        effects.push((u.clone(), vec![0.0; g]));
    }

    // 6. Cells: controls per batch, then each knock-out spread over batches.
    let mut cells: Vec<(String, usize, bool, Option<usize>)> = Vec::new();
    for b in 0..spec.n_batches {
        for _ in 0..spec.controls_per_batch {
            cells.push((CONTROL_LABEL.to_string(), b, true, None));
        }
    }
    for (p, (name, _)) in effects.iter().enumerate() {
        for k in 0..spec.cells_per_perturbation {
            cells.push((name.clone(), k % spec.n_batches, false, Some(p)));
        }
    }
    let lib = LogNormal::new(spec.mean_library_size.ln(), 0.3).unwrap();
    let cell_noise = normal(0.15);
    let mut indptr = vec![0u64];
    let (mut indices, mut data) = (Vec::new(), Vec::new());
    let mut samples = Samples::default();
    let mut logits = vec![0.0f64; g];
    for (i, (pert, b, ctrl, p)) in cells.iter().enumerate() {
        for j in 0..g {
            let eff = p.map(|p| effects[p].1[j]).unwrap_or(0.0);
            logits[j] = base[j] + batch_fx[*b][j] + eff + cell_noise.sample(&mut rng);
        }
        let mx = logits.iter().cloned().fold(f64::MIN, f64::max);
        let z: f64 = logits.iter().map(|l| (l - mx).exp()).sum();
        let size = lib.sample(&mut rng) * batch_lib[*b];
        for j in 0..g {
            let rate = (logits[j] - mx).exp() / z * size;
            if rate <= 0.0 {
                continue;
            }
            let c: f64 = Poisson::new(rate)
                .map(|d| d.sample(&mut rng))
                .unwrap_or(0.0);
            if c > 0.0 {
                indices.push(j as u32);
                data.push(c as f32);
            }
        }
        indptr.push(data.len() as u64);
        samples.sample_id.push(format!("cell{i:06}"));
        samples.perturbation.push(pert.clone());
        samples.batch.push(format!("batch{}", b + 1));
        samples.is_control.push(*ctrl);
    }
    let counts =
        CsrMatrix::new(cells.len(), g, indptr, indices, data).map_err(|e| e.to_string())?;
    Ok(SyntheticScreen {
        samples,
        counts,
        genes,
        complexes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clusters() -> Vec<(String, Vec<String>)> {
        (0..40)
            .map(|c| {
                (
                    format!("complex{c:02}"),
                    (0..(3 + c % 4)).map(|k| format!("G{c}_{k}")).collect(),
                )
            })
            .collect()
    }

    fn spec() -> SyntheticSpec {
        SyntheticSpec {
            seed: 1,
            n_batches: 3,
            n_genes: 120,
            cells_per_perturbation: 6,
            controls_per_batch: 10,
            n_complexes: 5,
            n_unexpressed: 4,
            mean_library_size: 2000.0,
            clusters: "x".into(),
        }
    }

    #[test]
    fn deterministic_with_controls_in_every_batch() {
        let a = generate(&spec(), &clusters()).unwrap();
        let b = generate(&spec(), &clusters()).unwrap();
        assert_eq!(a.counts, b.counts);
        assert_eq!(a.samples, b.samples);
        let ctrl = a.samples.controls_per_batch();
        assert_eq!(ctrl.len(), 3);
        assert!(ctrl.values().all(|n| *n == 10));
        assert_eq!(a.genes.len(), 120);
        let other = generate(&SyntheticSpec { seed: 2, ..spec() }, &clusters()).unwrap();
        assert_ne!(a.counts, other.counts);
    }

    #[test]
    fn unexpressed_targets_have_no_counts() {
        let s = generate(&spec(), &clusters()).unwrap();
        let means = s.counts.lognorm_column_means();
        let targets: BTreeSet<&String> = s
            .samples
            .perturbation
            .iter()
            .filter(|p| *p != CONTROL_LABEL)
            .collect();
        let low = s
            .genes
            .iter()
            .zip(&means)
            .filter(|(g, m)| targets.contains(g) && **m < 0.15)
            .count();
        assert_eq!(low, 4);
    }
}
