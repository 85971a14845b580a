//! Replogle-shaped screens for `pertbench bench`: counts as an h5ad with a
//! gzip-compressed CSR `X` (8,248 genes by default, about 1,000 non-zeros
//! per cell), a perturbation and a gem-group column, and a 256-dimension
//! embedding as `.npy`. Replogle et al. 2022 (genome-wide K562) has 1.98M
//! cells, 9,866 knock-outs and 267 gem groups, with non-targeting controls
//! in every gem group; the tiers scale cells, knock-outs and gem groups
//! together.
//!
//! Knock-outs are named after CORUM complex members and grouped by complex
//! (a knock-out's embedding shift is its complex's programme plus its own
//! part), so Tasks 4 and 5 have structure to find; knock-outs beyond the
//! complex members get synthetic names and programmes of their own. Rows
//! are generated in parallel blocks, each row from its own seeded stream,
//! so the data are identical whatever the thread count.

use crate::error::{DataError, Result};
use crate::h5ad_writer::CsrH5adWriter;
use pertbench_kernels::sparse::csr::CsrBuilder;
use pertbench_kernels::stats::rng::stream;
use pertbench_kernels::Matrix;
use rand::Rng;
use rand_distr::{Distribution, Exp1, LogNormal, StandardNormal};
use rayon::prelude::*;
use std::path::Path;

pub const CONTROL_LABEL: &str = "non-targeting";

#[derive(Debug, Clone, PartialEq)]
pub struct BenchScreenSpec {
    pub n_cells: usize,
    pub n_perturbations: usize,
    pub n_batches: usize,
    pub n_genes: usize,
    pub nnz_per_row: usize,
    pub dims: usize,
    /// Share of cells that are non-targeting controls.
    pub control_fraction: f64,
    pub seed: u64,
}

impl BenchScreenSpec {
    /// The tier of `n_cells` cells: knock-outs and gem groups scale with the
    /// cells as in Replogle 2022 (about 200 cells per knock-out, 7,450 per
    /// gem group).
    pub fn replogle_shaped(n_cells: usize) -> Self {
        BenchScreenSpec {
            n_cells,
            n_perturbations: ((n_cells as f64 * 9_866.0 / 1_989_578.0).round() as usize).max(20),
            n_batches: ((n_cells as f64 * 267.0 / 1_989_578.0).round() as usize).max(3),
            n_genes: 8_248,
            nnz_per_row: 1_000,
            dims: 256,
            control_fraction: 0.04,
            seed: 0,
        }
    }

    /// The cell's knock-out (None for a control) and gem group.
    fn cell(&self, i: usize) -> (Option<usize>, usize) {
        let mut rng = stream(self.seed, "bench-screen/cell", i as u64);
        let batch = i * self.n_batches / self.n_cells;
        let p = if rng.random::<f64>() < self.control_fraction {
            None
        } else {
            Some(rng.random_range(0..self.n_perturbations))
        };
        (p, batch)
    }
}

/// Names and complex programmes of the knock-outs.
pub struct Perturbations {
    pub names: Vec<String>,
    /// Module of each knock-out (its complex, or its own).
    pub module: Vec<usize>,
    pub n_modules: usize,
}

/// Knock-outs named after members of `clusters` (complexes of 2 to 30
/// members, in name order), then synthetic names.
pub fn perturbations(n: usize, clusters: &[(String, Vec<String>)]) -> Perturbations {
    let mut sorted: Vec<&(String, Vec<String>)> = clusters
        .iter()
        .filter(|(_, g)| (2..=30).contains(&g.len()))
        .collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    let mut seen = std::collections::HashSet::new();
    let (mut names, mut module) = (vec![], vec![]);
    let mut n_modules = 0;
    for (_, genes) in sorted {
        let fresh: Vec<&String> = genes.iter().filter(|g| !seen.contains(*g)).collect();
        if fresh.len() < 2 {
            continue;
        }
        for g in fresh {
            if names.len() == n {
                break;
            }
            seen.insert(g.clone());
            names.push(g.clone());
            module.push(n_modules);
        }
        n_modules += 1;
        if names.len() == n {
            break;
        }
    }
    let mut k = 0;
    while names.len() < n {
        names.push(format!("SYNTH{k:05}"));
        module.push(n_modules);
        n_modules += 1;
        k += 1;
    }
    Perturbations {
        names,
        module,
        n_modules,
    }
}

/// Writes `screen.h5ad` (counts) and `embedding.npy` for `spec` into `dir`.
/// Rows go out in blocks of `block_rows`.
pub fn write(
    spec: &BenchScreenSpec,
    clusters: &[(String, Vec<String>)],
    h5ad: &Path,
    npy: &Path,
) -> Result<()> {
    let perts = perturbations(spec.n_perturbations, clusters);
    let (g, d) = (spec.n_genes, spec.dims);
    if spec.nnz_per_row == 0 || spec.nnz_per_row > g {
        return Err(DataError::Other(format!(
            "non-zeros per row must lie in 1..={g}, got {}",
            spec.nnz_per_row
        )));
    }
    let mut rng = stream(spec.seed, "bench-screen/effects", 0);
    let normal = |rng: &mut rand_chacha::ChaCha8Rng| -> f64 { StandardNormal.sample(rng) };
    // Embedding: module programmes (sd 1), own parts (sd 0.4), gem-group
    // offsets (sd 0.5) and cell noise (sd 1).
    let module_fx: Vec<Vec<f32>> = (0..perts.n_modules)
        .map(|_| (0..d).map(|_| normal(&mut rng) as f32).collect())
        .collect();
    let effect: Vec<Vec<f32>> = (0..spec.n_perturbations)
        .map(|p| {
            module_fx[perts.module[p]]
                .iter()
                .map(|m| m + 0.4 * normal(&mut rng) as f32)
                .collect()
        })
        .collect();
    let batch_fx: Vec<Vec<f32>> = (0..spec.n_batches)
        .map(|_| (0..d).map(|_| 0.5 * normal(&mut rng) as f32).collect())
        .collect();
    // Counts: gene levels, and each module up- or down-regulating 5% of genes.
    let level = LogNormal::new(0.0, 1.0).expect("valid");
    let gene_level: Vec<f32> = (0..g).map(|_| level.sample(&mut rng) as f32).collect();
    let module_genes: Vec<Vec<(u32, f32)>> = (0..perts.n_modules)
        .map(|_| {
            (0..g / 20)
                .map(|_| {
                    let fold = if rng.random::<bool>() { 2.0 } else { 0.5 };
                    (rng.random_range(0..g) as u32, fold)
                })
                .collect()
        })
        .collect();
    let genes: Vec<String> = perts
        .names
        .iter()
        .take(g)
        .cloned()
        .chain((perts.names.len().min(g)..g).map(|j| format!("GENE{j:05}")))
        .collect();
    // Each cell's knock-out and gem group, drawn once for the embedding,
    // the counts and obs.
    let cells: Vec<(Option<usize>, usize)> = (0..spec.n_cells)
        .into_par_iter()
        .map(|i| spec.cell(i))
        .collect();
    let block_rows = 1usize << 15;
    let blocks: Vec<usize> = (0..spec.n_cells).step_by(block_rows).collect();

    // Embedding, block by block.
    let mut next_block = 0usize;
    crate::npy::write_blocks(npy, spec.n_cells, d, &mut || {
        let Some(&first) = blocks.get(next_block) else {
            return Ok(None);
        };
        next_block += 1;
        let rows = block_rows.min(spec.n_cells - first);
        let mut m = Matrix::zeros((rows, d));
        m.outer_iter_mut()
            .into_par_iter()
            .enumerate()
            .for_each(|(k, mut row)| {
                let i = first + k;
                let (p, b) = cells[i];
                let mut r = stream(spec.seed, "bench-screen/embedding", i as u64);
                for (j, v) in row.iter_mut().enumerate() {
                    let noise: f64 = StandardNormal.sample(&mut r);
                    *v = batch_fx[b][j] + p.map(|p| effect[p][j]).unwrap_or(0.0) + noise as f32;
                }
            });
        Ok(Some(m.into()))
    })?;

    // Counts, block by block (rows generated in parallel, compressed serially).
    let mut w = CsrH5adWriter::create(h5ad, g, 1)?;
    let depth = LogNormal::new(0.0, 0.2).expect("valid");
    for &first in &blocks {
        let rows = block_rows.min(spec.n_cells - first);
        let made: Vec<(Vec<u32>, Vec<f32>)> = (first..first + rows)
            .into_par_iter()
            .map(|i| {
                let (p, _) = cells[i];
                let mut r = stream(spec.seed, "bench-screen/counts", i as u64);
                let k =
                    ((spec.nnz_per_row as f64 * depth.sample(&mut r)).round() as usize).clamp(1, g);
                let mut cols: Vec<u32> = rand::seq::index::sample(&mut r, g, k)
                    .into_iter()
                    .map(|c| c as u32)
                    .collect();
                cols.sort_unstable();
                let programme = p.map(|p| &module_genes[perts.module[p]]);
                let target = p.filter(|&p| p < g).map(|p| p as u32);
                let vals = cols
                    .iter()
                    .map(|&c| {
                        let mut scale = gene_level[c as usize];
                        if let Some(prog) = programme {
                            if let Some((_, f)) = prog.iter().find(|(gc, _)| *gc == c) {
                                scale *= f;
                            }
                        }
                        if target == Some(c) {
                            return 1.0;
                        }
                        let e: f64 = Exp1.sample(&mut r);
                        1.0 + (e * scale as f64).floor() as f32
                    })
                    .collect();
                (cols, vals)
            })
            .collect();
        let mut b = CsrBuilder::new(g);
        for (cols, vals) in made {
            for (c, v) in cols.into_iter().zip(vals) {
                b.push(c, v);
            }
            b.finish_row();
        }
        w.push_block(&b.build().map_err(|e| DataError::Other(e.to_string()))?)?;
    }
    let mut index = Vec::with_capacity(spec.n_cells);
    let mut label = Vec::with_capacity(spec.n_cells);
    let mut batch = Vec::with_capacity(spec.n_cells);
    for i in 0..spec.n_cells {
        let (p, b) = cells[i];
        index.push(format!("cell{i:07}"));
        label.push(
            p.map(|p| perts.names[p].clone())
                .unwrap_or_else(|| CONTROL_LABEL.to_string()),
        );
        batch.push(format!("gemgroup{:03}", b + 1));
    }
    w.finish(&index, &[("gene", &label), ("gem_group", &batch)], &genes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_tier_reads_back_with_controls_in_every_gem_group() {
        let dir = tempfile::tempdir().unwrap();
        let mut spec = BenchScreenSpec::replogle_shaped(3_000);
        spec.n_genes = 300;
        spec.nnz_per_row = 40;
        spec.dims = 8;
        let clusters = vec![
            (
                "C1".to_string(),
                vec!["A".to_string(), "B".to_string(), "C".to_string()],
            ),
            ("C2".to_string(), vec!["D".to_string(), "E".to_string()]),
        ];
        let (h, e) = (dir.path().join("s.h5ad"), dir.path().join("e.npy"));
        write(&spec, &clusters, &h, &e).unwrap();
        let emb = crate::npy::read(&e).unwrap();
        assert_eq!(emb.dim(), (3_000, 8));
        let x = crate::h5ad::H5ad::open(&h).unwrap();
        let counts = x.read_x(None).unwrap();
        assert_eq!((counts.nrows, counts.ncols), (3_000, 300));
        let mean_nnz = counts.nnz() as f64 / 3_000.0;
        assert!((mean_nnz - 40.0).abs() < 4.0, "{mean_nnz}");
        assert_eq!(spec.n_batches, 3);
        let label = x.obs_column("gene").unwrap().unwrap();
        let batch = x.obs_column("gem_group").unwrap().unwrap();
        for b in ["gemgroup001", "gemgroup002", "gemgroup003"] {
            let controls = (0..3_000)
                .filter(|&i| {
                    batch.text(i).as_deref() == Some(b)
                        && label.text(i).as_deref() == Some(CONTROL_LABEL)
                })
                .count();
            assert!(controls > 10, "{b}: {controls} controls");
        }
        let names = perturbations(7, &clusters);
        assert_eq!(
            names.names,
            vec!["A", "B", "C", "D", "E", "SYNTH00000", "SYNTH00001"]
        );
        assert_eq!(names.module, vec![0, 0, 0, 1, 1, 2, 3]);
        // Same seed, same bytes.
        let (h2, e2) = (dir.path().join("s2.h5ad"), dir.path().join("e2.npy"));
        write(&spec, &clusters, &h2, &e2).unwrap();
        assert_eq!(std::fs::read(&e).unwrap(), std::fs::read(&e2).unwrap());
        assert_eq!(
            crate::h5ad::H5ad::open(&h2).unwrap().read_x(None).unwrap(),
            counts
        );
    }
}
