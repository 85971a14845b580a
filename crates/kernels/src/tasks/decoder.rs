//! Task 6: a ridge decoder from a representation to `lognorm` expression,
//! scored gene by gene (Spearman, Pearson, MSE, MAE, R^2) and by
//! Structural Integrity (METRICS.md "Task 6").
//!
//! The decoder is fitted by the normal equations with an unpenalised
//! intercept: W = (Xc'Xc + lambda I)^-1 Xc'Y, where Xc is the centred
//! training representation. Xc'Y is accumulated from the sparse expression,
//! one chunk of rows at a time: the chunk is regrouped by column straight
//! from the counts where that pays ([`ColumnBlocks::refill`]; else copied
//! to CSR for the CSR product), each gene's row of Y'Xc summed in
//! registers and its value sum beside it; chunks are added in order, so
//! the sums do not depend on the thread count. Predictions and truth are
//! formed one block of genes at a time (test samples x block), never test
//! samples x all genes, and the expression is read from the (possibly
//! memory-mapped) counts without a copy.

use crate::runtime::parallel::for_each_chunk_mut;
use crate::runtime::work::{Kernel, Work};
use crate::sparse::column_blocks::{ColumnBlocks, SparseProducts};
use crate::sparse::csr::CsrMatrix;
use crate::sparse::expression_rows::{ExpressionRows, Target};
use crate::sparse::spmm::{Panels, PANEL};
use crate::stats::ranks::average_ranks_sparse;
use crate::KernelError;
use faer::linalg::matmul::matmul;
use faer::linalg::solvers::Solve;
use faer::{Accum, Mat, MatRef, Par, Side};
use ndarray::{Array2, ArrayView2};
use rayon::prelude::*;

const GENE_BLOCK: usize = 256;

/// Which rows of a test batch Structural Integrity compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SiRows {
    /// Perturbed (non-control) rows, as paper 004 describes.
    Perturbed,
    /// Every row of the batch, controls included.
    All,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Reconstruction {
    pub spearman: Option<f64>,
    pub pearson: Option<f64>,
    pub mse: f64,
    pub mae: f64,
    pub r2: Option<f64>,
    pub structural_integrity: Option<f64>,
    /// Genes with a non-constant truth over the test samples.
    pub n_genes_scored: usize,
    /// Genes constant in the test set (skipped by the per-gene scores).
    pub n_genes_constant: usize,
    /// Scored genes whose prediction is constant: correlation counted as 0.
    pub n_prediction_constant: usize,
    /// Test batches that entered Structural Integrity.
    pub si_batches: usize,
    /// Test batch codes left out of Structural Integrity, with the reason.
    pub si_excluded: Vec<(u32, &'static str)>,
    /// Per scored gene: Spearman, Pearson, R^2 (for intervals over genes).
    pub per_gene: Vec<[f64; 3]>,
    /// Per gene (all genes): mean squared and mean absolute error over samples.
    pub per_gene_errors: Vec<[f64; 2]>,
    /// Structural Integrity's parts: per gene, per batch used, the sums of
    /// squared centred differences and truths; and each used batch's rows.
    si_diff: Vec<Vec<f64>>,
    si_truth: Vec<Vec<f64>>,
    si_rows: Vec<usize>,
}

impl Reconstruction {
    /// Structural Integrity over a multiset of genes (indices, repeats
    /// allowed: a bootstrap resample); over all genes it equals
    /// `structural_integrity`.
    pub fn structural_integrity_over(&self, genes: &[usize]) -> Option<f64> {
        let used = self.si_rows.len();
        if used == 0 {
            return None;
        }
        // Each gene's parts times its multiplicity, genes in index order
        // (a pass over contiguous per-gene rows, not a gather per batch).
        let mut times = vec![0u32; self.n_genes()];
        for &g in genes {
            times[g] += 1;
        }
        let (mut diff, mut truth) = (vec![0f64; used], vec![0f64; used]);
        for (g, &t) in times.iter().enumerate() {
            if t == 0 {
                continue;
            }
            let t = t as f64;
            for b in 0..used {
                diff[b] += t * self.si_diff[g][b];
                truth[b] += t * self.si_truth[g][b];
            }
        }
        let (mut dsum, mut msum) = (0.0, 0.0);
        for b in 0..used {
            dsum += diff[b].sqrt() / self.si_rows[b] as f64;
            msum += truth[b].sqrt() / self.si_rows[b] as f64;
        }
        (msum > 0.0).then(|| 1.0 - (dsum / used as f64) / (2.0 * msum / used as f64))
    }

    pub fn n_genes(&self) -> usize {
        self.si_diff.len()
    }
}

/// Test samples: their rows' batch code and control flag.
pub struct TestLayout<'a> {
    pub batch: &'a [u32],
    pub is_control: &'a [bool],
    pub n_batches: usize,
}

pub use crate::stats::ranks::average_ranks;

/// Pearson correlation; None when either side is constant.
pub fn pearson(a: &[f64], b: &[f64]) -> Option<f64> {
    let n = a.len() as f64;
    let ma = a.iter().sum::<f64>() / n;
    let mb = b.iter().sum::<f64>() / n;
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (x, y) in a.iter().zip(b) {
        sab += (x - ma) * (y - mb);
        saa += (x - ma) * (x - ma);
        sbb += (y - mb) * (y - mb);
    }
    (saa > 0.0 && sbb > 0.0).then(|| sab / (saa * sbb).sqrt())
}

pub fn spearman(a: &[f64], b: &[f64]) -> Option<f64> {
    pearson(&average_ranks(a), &average_ranks(b))
}

/// Fitted decoder: prediction = (x - x_mean) W + y_mean.
pub struct Decoder {
    pub weights: Mat<f64>,
    pub x_mean: Vec<f64>,
    pub y_mean: Vec<f64>,
}

/// Fits the ridge decoder on representation rows `x` (n x d) and their
/// expression `y` (n x g, as stored).
pub fn fit(
    x: ArrayView2<f32>,
    y: &CsrMatrix,
    lambda: f64,
    par: Par,
    work: &Work,
) -> Result<Decoder, KernelError> {
    let rows: Vec<usize> = (0..y.nrows).collect();
    let x_rows: Vec<usize> = (0..x.nrows()).collect();
    let set = ExpressionRows {
        matrix: y,
        rows: &rows,
        target: Target::AsStored,
    };
    fit_expression(x, &x_rows, &set, lambda, par, work)
}

/// Training rows per chunk of the Xc'Y accumulation. The bench's
/// `decoder_fit` case (200,000 x 8,248 at 1,000 non-zeros per row, 256
/// dims): 5.24 s with 4,096 rows, 4.73-4.75 s with 16,384, 4.56-4.58 s with
/// 32,768 when each chunk was copied to CSR and then regrouped; 2.99-3.08 s
/// with 16,384 once each row's `lognorm` values of small counts were
/// computed once, the gene sums taken apart from the product and the chunk
/// regrouped straight from the counts into reused buffers. A chunk of
/// 16,384 such rows holds about 0.2 GB (the regrouped copy, Xc and the
/// partial Y'Xc).
const FIT_CHUNK: usize = 16384;

/// Fits the decoder on rows `x_rows` of `x` and their expression `y` (set
/// row i belongs to representation row `x_rows[i]`). The expression is
/// read chunk by chunk and the chunk's pages given back after use. Its
/// loops run as `par` says (the same fit either way); its products are
/// recorded in `work`.
pub fn fit_expression(
    x: ArrayView2<f32>,
    x_rows: &[usize],
    y: &ExpressionRows,
    lambda: f64,
    par: Par,
    work: &Work,
) -> Result<Decoder, KernelError> {
    let (n, d) = (x_rows.len(), x.ncols());
    if n != y.len() {
        return Err(KernelError::Shape(format!(
            "{n} representation rows but {} expression rows",
            y.len()
        )));
    }
    if n == 0 {
        return Err(KernelError::NotEnough(
            "no training samples for the decoder".into(),
        ));
    }
    if let Some(r) = x_rows.iter().find(|r| **r >= x.nrows()) {
        return Err(KernelError::Shape(format!(
            "representation row {r} beyond {} rows",
            x.nrows()
        )));
    }
    let g = y.n_genes();
    let mut x_mean = vec![0f64; d];
    for &r in x_rows {
        for (m, v) in x_mean.iter_mut().zip(x.row(r)) {
            *m += *v as f64;
        }
    }
    x_mean.iter_mut().for_each(|m| *m /= n as f64);
    let mut gram = Mat::<f64>::zeros(d, d);
    // Y'Xc (g x d): Xc'Y transposed; and each gene's value sum.
    let mut ytx = Array2::<f64>::zeros((g, d));
    let mut y_sum = vec![0f64; g];
    let mut regrouped = ColumnBlocks::empty();
    let (mut packed, mut part) = (Panels::empty(), Panels::empty());
    let mut r0 = 0;
    while r0 < n {
        let r1 = (r0 + FIT_CHUNK).min(n);
        let rows = r1 - r0;
        // Xc rows of the chunk, row-major.
        let mut xc = Array2::<f64>::zeros((rows, d));
        for_each_chunk_mut(
            par,
            xc.as_slice_mut().expect("standard layout"),
            d.max(1),
            |i, out| {
                for ((o, v), m) in out.iter_mut().zip(x.row(x_rows[r0 + i])).zip(&x_mean) {
                    *o = *v as f64 - m;
                }
            },
        );
        let xc_mat = MatRef::from_row_major_slice(xc.as_slice().expect("standard layout"), rows, d);
        work.timed(Kernel::DenseProduct, || {
            work.add_product(d, rows, d);
            matmul(
                gram.as_mut(),
                Accum::Add,
                xc_mat.transpose(),
                xc_mat,
                1.0,
                crate::runtime::parallel::par(),
            )
        });
        // Y'Xc of the chunk, each gene's column summed in row order; the
        // chunks are added in order, so the sums do not depend on threads.
        // The chunk is regrouped by column straight from the expression
        // where that pays, into buffers reused from chunk to chunk (so
        // bounded by the chunk); else copied to CSR for the CSR product.
        let chunk = y.chunk(r0, r1);
        let sums = if ColumnBlocks::pays_for_counts(chunk.nnz(), rows, g) {
            regrouped.refill(&chunk)?;
            // Xc packed and the chunk's Y'Xc summed in panels reused from
            // chunk to chunk.
            packed.pack(xc.as_slice().expect("standard layout"), rows, d, PANEL);
            part.zero(g, d, PANEL);
            work.timed(Kernel::SparseProduct, || {
                regrouped.t_dot_panels(&packed, &mut part, par, work)
            });
            part.add_to(&mut ytx);
            regrouped.column_sums(par)
        } else {
            let csr = chunk.to_csr()?;
            y.release(r0, r1);
            let products = SparseProducts::Csr(&csr);
            ytx += &products.t_dot(&xc, par, work);
            products.column_sums(par)
        };
        for (total, s) in y_sum.iter_mut().zip(sums) {
            *total += s;
        }
        r0 = r1;
    }
    let mut xty = Mat::<f64>::zeros(d, g);
    for (gene, row) in ytx.outer_iter().enumerate() {
        for k in 0..d {
            xty[(k, gene)] = row[k];
        }
    }
    for j in 0..d {
        gram[(j, j)] += lambda;
    }
    let y_mean = y_sum.iter().map(|s| s / n as f64).collect();
    let chol = gram.llt(Side::Lower).map_err(|e| {
        KernelError::LinAlg(format!(
            "decoder system X'X + {lambda} I is not positive definite ({e:?}); use ridge_lambda > 0"
        ))
    })?;
    let weights = chol.solve(&xty);
    Ok(Decoder {
        weights,
        x_mean,
        y_mean,
    })
}

#[derive(Default, Clone)]
struct GeneStats {
    constant: bool,
    prediction_constant: bool,
    spearman: f64,
    pearson: f64,
    sse: f64,
    sae: f64,
    r2: f64,
    /// Per batch: sum of squared centred differences, sum of squared centred truth.
    si_diff: Vec<f64>,
    si_truth: Vec<f64>,
}

/// Scores the decoder's predictions of `y` from rows `x_rows` of `x` (set
/// row i belongs to representation row `x_rows[i]`; `layout` describes the
/// set's rows). The expression is read a block of genes at a time.
pub fn evaluate(
    dec: &Decoder,
    x: ArrayView2<f32>,
    x_rows: &[usize],
    y: &ExpressionRows,
    layout: &TestLayout,
    si_rows: SiRows,
    par: Par,
    work: &Work,
) -> Result<Reconstruction, KernelError> {
    let (n, d) = (x_rows.len(), x.ncols());
    if n != y.len() || n != layout.batch.len() || n != layout.is_control.len() {
        return Err(KernelError::Shape(format!(
            "{n} test representation rows, {} expression rows, {} layout rows",
            y.len(),
            layout.batch.len()
        )));
    }
    if n < 2 {
        return Err(KernelError::NotEnough(format!(
            "{n} test samples; per-gene correlations need at least 2"
        )));
    }
    if let Some(r) = x_rows.iter().find(|r| **r >= x.nrows()) {
        return Err(KernelError::Shape(format!(
            "representation row {r} beyond {} rows",
            x.nrows()
        )));
    }
    let g = y.n_genes();
    let nb = layout.n_batches;
    // Batches: control rows and compared rows.
    let mut n_ctrl = vec![0usize; nb];
    let mut n_cmp = vec![0usize; nb];
    for i in 0..n {
        let b = layout.batch[i] as usize;
        if layout.is_control[i] {
            n_ctrl[b] += 1;
        }
        if !layout.is_control[i] || si_rows == SiRows::All {
            n_cmp[b] += 1;
        }
    }
    let xc = Mat::<f64>::from_fn(n, d, |i, j| x[(x_rows[i], j)] as f64 - dec.x_mean[j]);
    let mut blocks = y.gene_blocks();
    let mut stats: Vec<GeneStats> = Vec::with_capacity(g);
    let mut g0 = 0;
    while g0 < g {
        let g1 = (g0 + GENE_BLOCK).min(g);
        let mut pred = Mat::<f64>::zeros(n, g1 - g0);
        work.timed(Kernel::DenseProduct, || {
            work.add_product(n, xc.ncols(), g1 - g0);
            matmul(
                pred.as_mut(),
                Accum::Replace,
                xc.as_ref(),
                dec.weights.as_ref().subcols(g0, g1 - g0),
                1.0,
                crate::runtime::parallel::par(),
            )
        });
        let truth = blocks.block(g0, g1);
        let pred = &pred;
        // `t` is one gene's truth, dense, zeroed again after each gene.
        let score = |t: &mut Vec<f64>, gene: usize| -> GeneStats {
            let k = gene - g0;
            let p: Vec<f64> = pred.col(k).iter().map(|v| v + dec.y_mean[gene]).collect();
            let (rows, values) = truth.column(k);
            for (r, v) in rows.iter().zip(values) {
                t[*r as usize] += v;
            }
            // Ranks of the truth from its non-zeros (rows ascend;
            // a row stored twice counts once, with its sum).
            let mut nz_rows: Vec<u32> = rows.to_vec();
            nz_rows.dedup();
            let nz_values: Vec<f64> = nz_rows.iter().map(|r| t[*r as usize]).collect();
            let t_ranks = average_ranks_sparse(n, &nz_rows, &nz_values);
            let s = gene_stats(&p, t, &t_ranks, layout, &n_ctrl, si_rows);
            for r in rows {
                t[*r as usize] = 0.0;
            }
            s
        };
        let block: Vec<GeneStats> = match par {
            Par::Seq => {
                let mut t = vec![0.0f64; n];
                (g0..g1).map(|gene| score(&mut t, gene)).collect()
            }
            Par::Rayon(_) => (g0..g1)
                .into_par_iter()
                .map_init(|| vec![0.0f64; n], score)
                .collect(),
        };
        stats.extend(block);
        g0 = g1;
    }
    let scored: Vec<&GeneStats> = stats.iter().filter(|s| !s.constant).collect();
    let mean_of = |f: &dyn Fn(&GeneStats) -> f64| {
        (!scored.is_empty()).then(|| scored.iter().map(|s| f(s)).sum::<f64>() / scored.len() as f64)
    };
    let cells = (n * g) as f64;
    let mut si_excluded = vec![];
    let (mut dsum, mut msum, mut used) = (0.0, 0.0, 0usize);
    let mut used_batches = Vec::new();
    for b in 0..nb {
        if n_ctrl[b] == 0 && n_cmp[b] > 0 {
            si_excluded.push((b as u32, "no controls in the test set"));
            continue;
        }
        if n_cmp[b] == 0 {
            if n_ctrl[b] > 0 {
                si_excluded.push((b as u32, "no perturbed samples in the test set"));
            }
            continue;
        }
        let diff: f64 = stats.iter().map(|s| s.si_diff[b]).sum();
        let truth: f64 = stats.iter().map(|s| s.si_truth[b]).sum();
        dsum += diff.sqrt() / n_cmp[b] as f64;
        msum += truth.sqrt() / n_cmp[b] as f64;
        used += 1;
        used_batches.push(b);
    }
    let structural_integrity = (used > 0 && msum > 0.0).then(|| {
        let (dm, mm) = (dsum / used as f64, msum / used as f64);
        1.0 - dm / (2.0 * mm)
    });
    Ok(Reconstruction {
        spearman: mean_of(&|s| s.spearman),
        pearson: mean_of(&|s| s.pearson),
        mse: stats.iter().map(|s| s.sse).sum::<f64>() / cells,
        mae: stats.iter().map(|s| s.sae).sum::<f64>() / cells,
        r2: mean_of(&|s| s.r2),
        structural_integrity,
        n_genes_scored: scored.len(),
        n_genes_constant: stats.len() - scored.len(),
        n_prediction_constant: scored.iter().filter(|s| s.prediction_constant).count(),
        si_batches: used,
        si_excluded,
        per_gene: scored
            .iter()
            .map(|s| [s.spearman, s.pearson, s.r2])
            .collect(),
        per_gene_errors: stats
            .iter()
            .map(|s| [s.sse / n as f64, s.sae / n as f64])
            .collect(),
        si_diff: stats
            .iter()
            .map(|s| used_batches.iter().map(|&b| s.si_diff[b]).collect())
            .collect(),
        si_truth: stats
            .iter()
            .map(|s| used_batches.iter().map(|&b| s.si_truth[b]).collect())
            .collect(),
        si_rows: used_batches.iter().map(|&b| n_cmp[b]).collect(),
    })
}

fn gene_stats(
    p: &[f64],
    t: &[f64],
    t_ranks: &[f64],
    layout: &TestLayout,
    n_ctrl: &[usize],
    si_rows: SiRows,
) -> GeneStats {
    let n = t.len();
    let nb = n_ctrl.len();
    let constant = t.iter().all(|v| *v == t[0]);
    let mut s = GeneStats {
        constant,
        si_diff: vec![0.0; nb],
        si_truth: vec![0.0; nb],
        ..Default::default()
    };
    for (pi, ti) in p.iter().zip(t) {
        s.sse += (pi - ti) * (pi - ti);
        s.sae += (pi - ti).abs();
    }
    if !constant {
        match (pearson(p, t), pearson(&average_ranks(p), t_ranks)) {
            (Some(r), Some(rho)) => {
                s.pearson = r;
                s.spearman = rho;
            }
            _ => s.prediction_constant = true,
        }
        let mt = t.iter().sum::<f64>() / n as f64;
        let sst: f64 = t.iter().map(|v| (v - mt) * (v - mt)).sum();
        s.r2 = 1.0 - s.sse / sst;
    }
    // Structural Integrity: centre by each batch's control mean.
    let mut cp = vec![0.0; nb];
    let mut ct = vec![0.0; nb];
    for i in 0..n {
        if layout.is_control[i] {
            let b = layout.batch[i] as usize;
            cp[b] += p[i];
            ct[b] += t[i];
        }
    }
    for b in 0..nb {
        if n_ctrl[b] > 0 {
            cp[b] /= n_ctrl[b] as f64;
            ct[b] /= n_ctrl[b] as f64;
        }
    }
    for i in 0..n {
        if layout.is_control[i] && si_rows == SiRows::Perturbed {
            continue;
        }
        let b = layout.batch[i] as usize;
        let pc = p[i] - cp[b];
        let tc = t[i] - ct[b];
        s.si_diff[b] += (pc - tc) * (pc - tc);
        s.si_truth[b] += tc * tc;
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_and_correlations_by_hand() {
        assert_eq!(
            average_ranks(&[10.0, 20.0, 20.0, 5.0]),
            vec![2.0, 3.5, 3.5, 1.0]
        );
        // Monotone but not linear: Spearman 1, Pearson below 1.
        let a = [1.0, 2.0, 3.0, 4.0];
        let b = [1.0, 4.0, 9.0, 100.0];
        assert!((spearman(&a, &b).unwrap() - 1.0).abs() < 1e-12);
        assert!(pearson(&a, &b).unwrap() < 0.9);
        // With ties: ranks a = [1, 2, 3, 4], b = [1.5, 1.5, 3, 4].
        // Centred: a = [-1.5, -0.5, 0.5, 1.5], b = [-1, -1, 0.5, 1.5];
        // sab = 1.5 + 0.5 + 0.25 + 2.25 = 4.5, saa = 5, sbb = 4.5.
        let rho = spearman(&a, &[7.0, 7.0, 8.0, 9.0]).unwrap();
        assert!((rho - 4.5 / (5.0f64 * 4.5).sqrt()).abs() < 1e-12);
        assert_eq!(pearson(&a, &[3.0; 4]), None);
    }

    /// Every row of `x` against every row of `y`, values as stored.
    fn evaluate_csr(
        dec: &Decoder,
        x: ArrayView2<f32>,
        y: &CsrMatrix,
        layout: &TestLayout,
        si_rows: SiRows,
    ) -> Result<Reconstruction, KernelError> {
        let rows: Vec<usize> = (0..y.nrows).collect();
        let set = ExpressionRows {
            matrix: y,
            rows: &rows,
            target: Target::AsStored,
        };
        evaluate(
            dec,
            x,
            &rows,
            &set,
            layout,
            si_rows,
            Par::rayon(0),
            &Work::new(),
        )
    }

    #[test]
    fn lognorm_rows_of_the_counts_score_as_their_lognorm_copy() {
        // 40 samples x 30 genes of counts; train on odd rows, test on even
        // rows, reading lognorm from the counts against a lognorm copy.
        let (n, g, d) = (40usize, 30usize, 3usize);
        let counts: Vec<Vec<f32>> = (0..n)
            .map(|i| {
                (0..g)
                    .map(|j| ((i * 7 + j * 11) % 9) as f32 * f32::from(u8::from((i + j) % 3 != 0)))
                    .collect()
            })
            .collect();
        let y = csr(&counts);
        let x = ndarray::Array2::from_shape_fn((n, d), |(i, j)| ((i * 5 + j * 3) % 7) as f32 - 3.0);
        let train: Vec<usize> = (1..n).step_by(2).collect();
        let test: Vec<usize> = (0..n).step_by(2).collect();
        let lognorm = y.lognorm();
        let train_copy = lognorm.select_rows(&train);
        let x_train = x.select(ndarray::Axis(0), &train);
        let want = fit(
            x_train.view(),
            &train_copy,
            0.5,
            Par::rayon(0),
            &Work::new(),
        )
        .unwrap();
        let fit_rows = |par: Par| {
            let set = ExpressionRows {
                matrix: &y,
                rows: &train,
                target: Target::Lognorm,
            };
            fit_expression(x.view(), &train, &set, 0.5, par, &Work::new()).unwrap()
        };
        // Sequential loops: the same bits.
        let (got, seq) = (fit_rows(Par::rayon(0)), fit_rows(Par::Seq));
        assert!(got.weights == seq.weights && got.y_mean == seq.y_mean);
        for (a, b) in got
            .weights
            .col_iter()
            .flat_map(|c| c.iter().copied().collect::<Vec<_>>())
            .zip(
                want.weights
                    .col_iter()
                    .flat_map(|c| c.iter().copied().collect::<Vec<_>>()),
            )
        {
            assert!((a - b).abs() < 1e-9, "{a} vs {b}");
        }
        let batch: Vec<u32> = (0..test.len()).map(|i| (i % 2) as u32).collect();
        let is_control: Vec<bool> = (0..test.len()).map(|i| i % 5 == 0).collect();
        let layout = TestLayout {
            batch: &batch,
            is_control: &is_control,
            n_batches: 2,
        };
        let x_test = x.select(ndarray::Axis(0), &test);
        let want = evaluate_csr(
            &got,
            x_test.view(),
            &lognorm.select_rows(&test),
            &layout,
            SiRows::Perturbed,
        )
        .unwrap();
        let got = evaluate(
            &got,
            x.view(),
            &test,
            &ExpressionRows {
                matrix: &y,
                rows: &test,
                target: Target::Lognorm,
            },
            &layout,
            SiRows::Perturbed,
            Par::rayon(0),
            &Work::new(),
        )
        .unwrap();
        assert_eq!(got, want);
        assert!(got.n_genes_scored > 20, "{}", got.n_genes_scored);
    }

    /// Past one row block, one gene block and one register panel (300
    /// rows, 600 genes, 70 dimensions): the weights equal the normal
    /// equations solved densely, (Xc'Xc + lambda I)^-1 Xc'Y.
    #[test]
    fn weights_equal_dense_normal_equations_across_blocks() {
        use rand::Rng;
        // Two chunks of rows.
        let (n, g, d, lambda) = (FIT_CHUNK + 300, 600usize, 70usize, 0.5);
        let mut rng = crate::stats::rng::stream(4, "decoder-test", 0);
        let counts: Vec<Vec<f32>> = (0..n)
            .map(|_| {
                (0..g)
                    .map(|_| {
                        if rng.random::<f64>() < 0.1 {
                            rng.random_range(1..20) as f32
                        } else {
                            0.0
                        }
                    })
                    .collect()
            })
            .collect();
        let y = csr(&counts);
        let x = ndarray::Array2::from_shape_simple_fn((n, d), || rng.random::<f32>() - 0.5);
        let dec = fit(x.view(), &y, lambda, Par::rayon(0), &Work::new()).unwrap();
        let xs = x.mapv(f64::from);
        let mean = xs.mean_axis(ndarray::Axis(0)).unwrap();
        let xc = &xs - &mean;
        let mut gram = xc.t().dot(&xc);
        for j in 0..d {
            gram[[j, j]] += lambda;
        }
        let yd = ndarray::Array2::from_shape_fn((n, g), |(i, j)| counts[i][j] as f64);
        let xty = xc.t().dot(&yd);
        let gram_f = Mat::<f64>::from_fn(d, d, |i, j| gram[[i, j]]);
        let xty_f = Mat::<f64>::from_fn(d, g, |i, j| xty[[i, j]]);
        let want = gram_f.llt(Side::Lower).unwrap().solve(&xty_f);
        let mut worst = 0.0f64;
        for i in 0..d {
            for j in 0..g {
                worst = worst.max((dec.weights[(i, j)] - want[(i, j)]).abs());
            }
        }
        assert!(worst < 1e-9, "largest weight difference {worst}");
        assert!((dec.y_mean[5] - yd.column(5).sum() / n as f64).abs() < 1e-12);
    }

    fn csr(rows: &[Vec<f32>]) -> CsrMatrix {
        let mut indptr = vec![0u64];
        let (mut idx, mut val) = (vec![], vec![]);
        for r in rows {
            for (j, v) in r.iter().enumerate() {
                if *v != 0.0 {
                    idx.push(j as u32);
                    val.push(*v);
                }
            }
            indptr.push(val.len() as u64);
        }
        CsrMatrix::new(rows.len(), rows[0].len(), indptr, idx, val).unwrap()
    }

    #[test]
    fn ridge_fit_by_hand() {
        // x = [0, 1, 2], y = 2x + 1 (one gene). Xc = [-1, 0, 1], Xc'Xc = 2,
        // Xc'Y = -1 + 5 = 4. lambda = 2: w = 4 / 4 = 1; y_mean = 3.
        let x = ndarray::array![[0.0f32], [1.0], [2.0]];
        let y = csr(&[vec![1.0], vec![3.0], vec![5.0]]);
        let dec = fit(x.view(), &y, 2.0, Par::rayon(0), &Work::new()).unwrap();
        assert!((dec.weights[(0, 0)] - 1.0).abs() < 1e-12);
        assert!((dec.y_mean[0] - 3.0).abs() < 1e-12);
        assert!((dec.x_mean[0] - 1.0).abs() < 1e-12);
    }

    #[test]
    fn structural_integrity_and_errors_by_hand() {
        // A decoder fixed by hand: prediction = x (one gene, w = 1, means 0).
        let dec = Decoder {
            weights: Mat::from_fn(1, 2, |_, j| if j == 0 { 1.0 } else { 0.0 }),
            x_mean: vec![0.0],
            y_mean: vec![0.0, 0.0],
        };
        // Batch 0: control (x 1, t 1), perturbed (x 3, t 2), perturbed (x 1, t 4).
        // Batch 1: perturbed only (x 0, t 1): no controls, excluded from SI.
        // Gene 1 is constant 0 in truth (prediction 0): skipped by correlations.
        let x = ndarray::array![[1.0f32], [3.0], [1.0], [0.0]];
        let y = csr(&[
            vec![1.0, 0.0],
            vec![2.0, 0.0],
            vec![4.0, 0.0],
            vec![1.0, 0.0],
        ]);
        let layout = TestLayout {
            batch: &[0, 0, 0, 1],
            is_control: &[true, false, false, false],
            n_batches: 2,
        };
        let r = evaluate_csr(&dec, x.view(), &y, &layout, SiRows::Perturbed).unwrap();
        // Centred batch 0 rows: p = [2, 0], t = [1, 3]; diff = [1, -3].
        // d_0 = sqrt(10) / 2, m_0 = sqrt(10) / 2, SI = 1 - 1/2 = 0.5.
        assert!((r.structural_integrity.unwrap() - 0.5).abs() < 1e-12);
        // Recomputed over all genes (the bootstrap's building block) it is the same.
        let all_genes: Vec<usize> = (0..r.n_genes()).collect();
        assert!((r.structural_integrity_over(&all_genes).unwrap() - 0.5).abs() < 1e-12);
        assert_eq!(r.si_batches, 1);
        assert_eq!(r.si_excluded, vec![(1, "no controls in the test set")]);
        // Errors over 4 x 2 cells: gene 0 residuals 0, 1, -3, -1.
        assert!((r.mse - 11.0 / 8.0).abs() < 1e-12);
        assert!((r.mae - 5.0 / 8.0).abs() < 1e-12);
        assert_eq!((r.n_genes_scored, r.n_genes_constant), (1, 1));
        let want_p = pearson(&[1.0, 3.0, 1.0, 0.0], &[1.0, 2.0, 4.0, 1.0]).unwrap();
        assert!((r.pearson.unwrap() - want_p).abs() < 1e-12);
        // Spearman: ranks p = [2.5, 4, 2.5, 1], t = [1.5, 3, 4, 1.5].
        let want_s = pearson(&[2.5, 4.0, 2.5, 1.0], &[1.5, 3.0, 4.0, 1.5]).unwrap();
        assert!((r.spearman.unwrap() - want_s).abs() < 1e-12);
        // R^2 = 1 - 11 / sst, t mean 2, sst = 1 + 0 + 4 + 1 = 6.
        assert!((r.r2.unwrap() - (1.0 - 11.0 / 6.0)).abs() < 1e-12);
        // All rows: the control (p 0, t 0 after centring) adds nothing: n_b = 3.
        let all = evaluate_csr(&dec, x.view(), &y, &layout, SiRows::All).unwrap();
        assert!((all.structural_integrity.unwrap() - 0.5).abs() < 1e-12);
    }

    #[test]
    fn a_perfect_decoder_has_integrity_one() {
        let x = ndarray::array![
            [0.0f32, 1.0],
            [1.0, 0.0],
            [2.0, 2.0],
            [3.0, 1.0],
            [4.0, 3.0]
        ];
        // y = x0 + 2 x1 and 3 x0 (exactly linear, no ties).
        let rows: Vec<Vec<f32>> = x
            .outer_iter()
            .map(|r| vec![r[0] + 2.0 * r[1], 3.0 * r[0]])
            .collect();
        let y = csr(&rows);
        let dec = fit(x.view(), &y, 1e-9, Par::rayon(0), &Work::new()).unwrap();
        let layout = TestLayout {
            batch: &[0, 0, 0, 1, 1],
            is_control: &[true, false, false, true, false],
            n_batches: 2,
        };
        let r = evaluate_csr(&dec, x.view(), &y, &layout, SiRows::Perturbed).unwrap();
        assert!((r.structural_integrity.unwrap() - 1.0).abs() < 1e-6);
        assert!((r.spearman.unwrap() - 1.0).abs() < 1e-9);
        assert!(r.mse < 1e-12);
    }
}
