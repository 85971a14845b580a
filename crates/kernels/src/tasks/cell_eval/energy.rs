//! Energy distances of many groups of cells to one set of control cells,
//! at the speed of sparse x dense products (cell-eval's
//! `pearson_edistance`).
//!
//! E(X, C) = 2 mean d(x, c) - mean d(x, x') - mean d(c, c'), Euclidean,
//! means over all pairs (self-pairs included). Squared distances come from
//! |x|^2 + |c|^2 - 2 x.c. The products x.c are sparse x dense: each cell of
//! the right-hand set is laid out dense, [`PANEL`] cells at a time,
//! gene-major ("panels": one 64-byte cache line of f32 per gene, 8,000
//! genes = 512 KB, within L2 cache), and each left-hand cell adds its
//! non-zeros' lines of a panel, so the cost is (non-zeros of the left) x
//! (cells of the right) multiply-adds, not (cells x cells x genes): an
//! eighth at the sparsity of a single-cell screen. Values are f32 (cell-eval
//! reads float32 matrices; pertbench's scaled values are f32), products
//! and sums f64, so every product is exact and only the sums round. On this
//! 2-core machine (8,000 genes, 1,000 non-zeros per cell, 2,000 right-hand
//! cells, one thread): 8 f64 cells per panel 5.1-5.7 G multiply-adds/s,
//! 16 f32 cells 6.7-7.0, 32 f32 cells 6.9-7.5 (1 MB panels), 4 f64 cells
//! 2.9-3.0; panels streamed a gene block at a time through L1 cache were
//! slower (2.7-4.2). A pair whose squared distance is small against
//! |x|^2 + |c|^2 (where the formula loses digits) is recomputed as the
//! sum of squared differences, so equal cells are exactly 0 apart. Equal
//! rows within a set (a prediction that gives every cell of a perturbation
//! one profile) are counted once with their multiplicity.
//!
//! Groups are taken in batches of about [`BATCH_ROWS`] rows, so that each
//! control panel, once in cache, serves a batch's rows (the control set
//! streams from memory once per batch, not once per group). Every cell's
//! sum of distances is a fixed chain (panels in order, cells in order) and
//! a set's sum adds its cells in order: the result does not depend on the
//! number of threads or on the batching.

use super::expression_metrics::EnergyDistances;
use crate::linalg::simd::avx2_dispatch;
use crate::runtime::parallel::{map_indices, ranges_by_size};
use crate::Par;
use std::collections::HashMap;
use std::hash::{DefaultHasher, Hasher};
use std::ops::Range;

/// Squared distances below this share of |x|^2 + |c|^2 are recomputed
/// exactly (the product formula's rounding is about 1e-16 of it).
const RECOMPUTE_BELOW: f64 = 1e-6;
/// Cells per panel: one cache line of f32 per gene.
pub const PANEL: usize = 16;
/// Chains of multiply-adds per panel product (non-zeros taken in turn).
const CHAINS: usize = 2;
/// Rows of the left-hand set per batch.
const BATCH_ROWS: usize = 1024;

/// Cells as sparse rows: one row per cell, (gene, value) entries.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SparseCells {
    n_genes: usize,
    starts: Vec<usize>,
    genes: Vec<u32>,
    values: Vec<f32>,
}

impl SparseCells {
    /// No cells yet, over `n_genes` genes.
    pub fn new(n_genes: usize) -> SparseCells {
        SparseCells {
            n_genes,
            starts: vec![0],
            genes: Vec::new(),
            values: Vec::new(),
        }
    }

    /// Adds one cell from its (gene, value) entries, in any order; zeros
    /// are dropped and, where a gene comes twice, its last value is kept
    /// (as when the entries are written into a dense row). Panics on a
    /// gene outside the set's genes (a caller's bug, not an input error).
    pub fn push_row(&mut self, entries: impl IntoIterator<Item = (usize, f32)>) {
        let start = self.genes.len();
        let mut row: Vec<(u32, f32)> = entries
            .into_iter()
            .map(|(g, v)| {
                assert!(g < self.n_genes, "gene {g} of {}", self.n_genes);
                (g as u32, v)
            })
            .collect();
        row.sort_by_key(|e| e.0);
        // Last of equal genes (the sort is stable).
        let mut kept: Vec<(u32, f32)> = Vec::with_capacity(row.len());
        for e in row {
            match kept.last_mut() {
                Some(last) if last.0 == e.0 => *last = e,
                _ => kept.push(e),
            }
        }
        for (g, v) in kept {
            if v != 0.0 {
                self.genes.push(g);
                self.values.push(v);
            }
        }
        debug_assert!(self.genes.len() >= start);
        self.starts.push(self.genes.len());
    }

    /// Cells from the rows of a dense matrix.
    pub fn from_dense(x: ndarray::ArrayView2<f32>) -> SparseCells {
        let mut s = SparseCells::new(x.ncols());
        for r in x.rows() {
            s.push_row(r.iter().copied().enumerate());
        }
        s
    }

    pub fn n_cells(&self) -> usize {
        self.starts.len() - 1
    }

    pub fn n_genes(&self) -> usize {
        self.n_genes
    }

    /// Stored non-zeros.
    pub fn nnz(&self) -> usize {
        self.genes.len()
    }

    fn row(&self, i: usize) -> (&[u32], &[f32]) {
        let r = self.starts[i]..self.starts[i + 1];
        (&self.genes[r.clone()], &self.values[r])
    }
}

/// The distinct rows of a set of cells, each with its multiplicity.
#[derive(Debug, Clone)]
struct Cells {
    rows: SparseCells,
    weights: Vec<f64>,
    norms: Vec<f64>,
    n: f64,
}

impl Cells {
    fn new(x: &SparseCells) -> Cells {
        // -0.0 and 0.0 are one value (zeros are not stored).
        let bits = |i: usize| {
            let (g, v) = x.row(i);
            g.iter().zip(v).map(|(&g, &v)| (g, (v + 0.0).to_bits()))
        };
        // Rows by a hash of their entries (distinct rows that collide are
        // told apart by comparing them), not by the entries themselves: a
        // key per row would copy the set.
        let mut by_hash: HashMap<u64, Vec<usize>> = HashMap::new();
        let mut first: Vec<usize> = Vec::new();
        let mut weights: Vec<f64> = Vec::new();
        for i in 0..x.n_cells() {
            let mut h = DefaultHasher::new();
            bits(i).for_each(|(g, b)| {
                h.write_u32(g);
                h.write_u32(b)
            });
            let same = by_hash.entry(h.finish()).or_default();
            match same.iter().find(|&&u| bits(first[u]).eq(bits(i))) {
                Some(&u) => weights[u] += 1.0,
                None => {
                    same.push(first.len());
                    first.push(i);
                    weights.push(1.0);
                }
            }
        }
        let mut rows = SparseCells::new(x.n_genes);
        for &i in &first {
            let (g, v) = x.row(i);
            rows.genes.extend_from_slice(g);
            rows.values.extend_from_slice(v);
            rows.starts.push(rows.genes.len());
        }
        let norms = (0..rows.n_cells())
            .map(|u| rows.row(u).1.iter().map(|&v| v as f64 * v as f64).sum())
            .collect();
        Cells {
            rows,
            weights,
            norms,
            n: x.n_cells() as f64,
        }
    }

    /// Distinct rows.
    fn n_distinct(&self) -> usize {
        self.weights.len()
    }

    /// The rows laid out dense, [`PANEL`] at a time, gene-major: panel p,
    /// gene g is `lines[p * n_genes + g]` (zeros past the last row).
    fn panels(&self) -> Vec<Line> {
        let g = self.rows.n_genes;
        let mut lines = vec![Line([0.0f32; PANEL]); self.n_distinct().div_ceil(PANEL) * g];
        for u in 0..self.n_distinct() {
            let (p, k) = (u / PANEL, u % PANEL);
            let (genes, values) = self.rows.row(u);
            for (&j, &v) in genes.iter().zip(values) {
                lines[p * g + j as usize].0[k] = v;
            }
        }
        lines
    }
}

/// One gene's values in one panel: a cache line.
#[derive(Debug, Clone, Copy)]
#[repr(C, align(64))]
struct Line([f32; PANEL]);

avx2_dispatch! {
    /// The dot products of one sparse row with a panel's [`PANEL`] cells,
    /// in f64: [`CHAINS`] chains of fused multiply-adds (non-zeros taken in
    /// turn), added in order at the end.
    fn panel_dots(genes: &[u32], values: &[f32], panel: &[Line]) -> [f64; PANEL] {
        let mut acc = [[0.0f64; PANEL]; CHAINS];
        let mut gs = genes.chunks_exact(CHAINS);
        let mut vs = values.chunks_exact(CHAINS);
        for (gc, vc) in (&mut gs).zip(&mut vs) {
            for s in 0..CHAINS {
                let line = &panel[gc[s] as usize].0;
                let v = vc[s] as f64;
                for k in 0..PANEL {
                    acc[s][k] = (line[k] as f64).mul_add(v, acc[s][k]);
                }
            }
        }
        for (&g, &v) in gs.remainder().iter().zip(vs.remainder()) {
            let line = &panel[g as usize].0;
            for k in 0..PANEL {
                acc[0][k] = (line[k] as f64).mul_add(v as f64, acc[0][k]);
            }
        }
        let mut out = [0.0; PANEL];
        for k in 0..PANEL {
            out[k] = acc.iter().map(|a| a[k]).sum();
        }
        out
    }
}

/// Sum of squared differences of two sorted sparse rows.
fn squared_distance(a: (&[u32], &[f32]), b: (&[u32], &[f32])) -> f64 {
    let (mut i, mut j, mut s) = (0, 0, 0.0);
    while i < a.0.len() || j < b.0.len() {
        let (ga, gb) = (
            a.0.get(i).copied().unwrap_or(u32::MAX),
            b.0.get(j).copied().unwrap_or(u32::MAX),
        );
        let e = if ga == gb {
            i += 1;
            j += 1;
            a.1[i - 1] as f64 - b.1[j - 1] as f64
        } else if ga < gb {
            i += 1;
            a.1[i - 1] as f64
        } else {
            j += 1;
            b.1[j - 1] as f64
        };
        s += e * e;
    }
    s
}

/// For each row u of each (set, rows) in `left`: sum over the distinct
/// rows v of `right` of w_v d(u, v), panel after panel of `right`.
fn row_sums(left: &[(&Cells, Range<usize>)], right: &Cells, panels: &[Line]) -> Vec<Vec<f64>> {
    let g = right.rows.n_genes;
    let n_right = right.n_distinct();
    let mut sums: Vec<Vec<f64>> = left.iter().map(|(_, r)| vec![0.0; r.len()]).collect();
    for p in 0..n_right.div_ceil(PANEL) {
        let panel = &panels[p * g..(p + 1) * g];
        let first = p * PANEL;
        let m = PANEL.min(n_right - first);
        for ((a, rows), out) in left.iter().zip(sums.iter_mut()) {
            for (u, s) in rows.clone().zip(out.iter_mut()) {
                let (genes, values) = a.rows.row(u);
                let dots = panel_dots(genes, values, panel);
                for k in 0..m {
                    let v = first + k;
                    let scale = a.norms[u] + right.norms[v];
                    let mut d2 = scale - 2.0 * dots[k];
                    if d2 <= RECOMPUTE_BELOW * scale {
                        d2 = squared_distance(a.rows.row(u), right.rows.row(v));
                    }
                    *s += right.weights[v] * d2.sqrt();
                }
            }
        }
    }
    sums
}

/// Sum over u of (w_u / n) s_u, in order: the mean over `a`'s cells of
/// their sums (a set of one repeated row gives its row's sum exactly).
fn weighted(a: &Cells, rows: Range<usize>, sums: &[f64]) -> f64 {
    rows.zip(sums).map(|(u, s)| a.weights[u] / a.n * s).sum()
}

/// The energy distance of each group to the controls; `group(k)` gives
/// group k's cells (the controls' genes) and `group_rows[k]` their number
/// (which sets the batches).
pub fn energy_distances(
    group_rows: &[usize],
    group: impl Fn(usize) -> SparseCells + Sync + Send,
    control: &SparseCells,
    par: Par,
) -> EnergyDistances {
    let control = Cells::new(control);
    let control_panels = control.panels();
    // The control set's own term, by fixed blocks of its rows.
    let blocks = control.n_distinct().div_ceil(BATCH_ROWS);
    let within_control = map_indices(par, blocks, |b| {
        let rows = b * BATCH_ROWS..((b + 1) * BATCH_ROWS).min(control.n_distinct());
        let sums = row_sums(&[(&control, rows.clone())], &control, &control_panels);
        weighted(&control, rows, &sums[0])
    })
    .iter()
    .sum::<f64>()
        / control.n;
    // Batches of consecutive groups of at most BATCH_ROWS rows (a larger
    // group alone).
    let batches = ranges_by_size(group_rows, BATCH_ROWS);
    let terms = map_indices(par, batches.len(), |b| {
        let cells: Vec<Cells> = batches[b].clone().map(|k| Cells::new(&group(k))).collect();
        let left: Vec<(&Cells, Range<usize>)> =
            cells.iter().map(|c| (c, 0..c.n_distinct())).collect();
        let across = row_sums(&left, &control, &control_panels);
        cells
            .iter()
            .zip(&across)
            .map(|(x, s)| {
                let to_control = weighted(x, 0..x.n_distinct(), s) / control.n;
                let own = row_sums(&[(x, 0..x.n_distinct())], x, &x.panels());
                let within = weighted(x, 0..x.n_distinct(), &own[0]) / x.n;
                (to_control, within)
            })
            .collect::<Vec<_>>()
    })
    .concat();
    EnergyDistances::from_terms(within_control, &terms)
}

/// Multiply-adds of the products [`energy_distances`] computes: each group
/// given as (cells, non-zeros) against the controls' (cells, non-zeros),
/// with every cell distinct and panels padded to [`PANEL`] cells (for
/// benchmarks).
pub fn products(groups: &[(usize, usize)], control: (usize, usize)) -> f64 {
    let pad = |n: usize| n.div_ceil(PANEL) as f64 * PANEL as f64;
    groups
        .iter()
        .map(|&(n, nnz)| nnz as f64 * (pad(control.0) + pad(n)))
        .sum::<f64>()
        + control.1 as f64 * pad(control.0)
}
#[cfg(test)]
mod tests {
    use super::*;
    use crate::tasks::cell_eval::expression_metrics::energy_distances as direct;
    use ndarray::Array2;

    /// Values of f32 (the kernel's input), held as f64 for the direct sums.
    fn cells(n: usize, g: usize, seed: usize) -> Array2<f64> {
        Array2::from_shape_fn((n, g), |(i, j)| {
            let v = ((i * 31 + j * 17 + seed * 7) % 13) as f64;
            if v < 6.0 {
                0.0
            } else {
                ((v * 0.37).ln_1p() + seed as f64 * 0.01) as f32 as f64
            }
        })
    }

    fn sparse(x: &Array2<f64>) -> SparseCells {
        SparseCells::from_dense(x.mapv(|v| v as f32).view())
    }

    fn sizes(groups: &[Array2<f64>]) -> Vec<usize> {
        groups.iter().map(|g| g.nrows()).collect()
    }

    fn run(groups: &[Array2<f64>], control: &Array2<f64>, par: Par) -> EnergyDistances {
        energy_distances(
            &sizes(groups),
            |k| sparse(&groups[k]),
            &sparse(control),
            par,
        )
    }

    #[test]
    fn equals_the_direct_sums() {
        let control = cells(70, 40, 0);
        let groups: Vec<Array2<f64>> = (1..5).map(|s| cells(5 + 9 * s, 40, s)).collect();
        let views: Vec<_> = groups.iter().map(|g| g.view()).collect();
        let want = direct(&views, control.view(), Par::Seq);
        for par in [Par::Seq, Par::rayon(0)] {
            let got = run(&groups, &control, par);
            for (a, b) in got.values.iter().zip(&want.values) {
                assert!((a - b).abs() <= 1e-12 * want.scale, "{a} vs {b}");
            }
            assert!((got.scale - want.scale).abs() <= 1e-12 * want.scale);
        }
    }

    #[test]
    fn the_same_bits_on_any_number_of_threads_and_in_several_batches() {
        // 2,600 rows of groups: three batches; 1,100 controls: two blocks.
        let control = cells(1100, 23, 0);
        let groups: Vec<Array2<f64>> = (1..27).map(|s| cells(100, 23, s)).collect();
        let seq = run(&groups, &control, Par::Seq);
        assert_eq!(seq, run(&groups, &control, Par::rayon(0)));
        // A group's value does not depend on the batch it falls in.
        let alone = run(&groups[20..21], &control, Par::Seq);
        assert_eq!(alone.values[0].to_bits(), {
            let e = run(&groups, &control, Par::Seq);
            // from_terms subtracts the same control term from both.
            e.values[20].to_bits()
        });
        let views: Vec<_> = groups.iter().map(|g| g.view()).collect();
        let want = direct(&views, control.view(), Par::Seq);
        for (a, b) in seq.values.iter().zip(&want.values) {
            assert!((a - b).abs() <= 1e-12 * want.scale, "{a} vs {b}");
        }
    }

    #[test]
    fn repeated_rows_count_once_with_their_multiplicity_and_equal_cells_are_0_apart() {
        let control = cells(40, 12, 0);
        let profile = cells(1, 12, 3);
        let groups: Vec<Array2<f64>> = [1usize, 4, 300]
            .iter()
            .map(|&n| Array2::from_shape_fn((n, 12), |(_, j)| profile[(0, j)]))
            .collect();
        assert_eq!(Cells::new(&sparse(&groups[2])).n_distinct(), 1);
        let e = run(&groups, &control, Par::Seq);
        // Within each group every pair is 0 apart, so the three are equal.
        assert_eq!(e.values[0], e.values[1]);
        assert_eq!(e.values[0], e.values[2]);
        let views: Vec<_> = groups.iter().map(|g| g.view()).collect();
        let want = direct(&views, control.view(), Par::Seq);
        assert!((e.values[2] - want.values[2]).abs() <= 1e-12 * want.scale);
        // A group of the controls themselves is 0 from them.
        let same = run(std::slice::from_ref(&control), &control, Par::Seq);
        assert!(same.values[0].abs() <= 1e-12 * same.scale, "{:?}", same);
    }

    #[test]
    fn rows_are_their_values_whatever_the_entry_order_explicit_zeros_or_repeats() {
        let mut a = SparseCells::new(5);
        a.push_row([(3, 1.5), (0, 2.0), (4, 0.0), (3, -0.5)]);
        let mut b = SparseCells::new(5);
        b.push_row([(0, 2.0), (3, -0.5)]);
        assert_eq!(a, b);
        assert_eq!(a.nnz(), 2);
        let mut c = SparseCells::new(5);
        c.push_row([(0, -0.0), (1, 0.0)]);
        assert_eq!(c.nnz(), 0);
        assert_eq!(squared_distance(a.row(0), c.row(0)), 4.25);
        assert_eq!(squared_distance(c.row(0), c.row(0)), 0.0);
    }

    #[test]
    fn products_count_non_zeros_against_padded_panels() {
        // 2 groups: 3 cells (10 non-zeros) and 9 cells (20); 5 controls (7);
        // every set padded to one panel of 16.
        assert_eq!(
            products(&[(3, 10), (9, 20)], (5, 7)),
            10.0 * 32.0 + 20.0 * 32.0 + 7.0 * 16.0
        );
    }
}
