//! Task 6: a ridge decoder from a representation to `lognorm` expression,
//! scored gene by gene (Spearman, Pearson, MSE, MAE, R^2) and by
//! Structural Integrity (METRICS.md "Task 6").
//!
//! The decoder is fitted by the normal equations with an unpenalised
//! intercept: W = (Xc'Xc + lambda I)^-1 Xc'Y, where Xc is the centred
//! training representation; X'Y is accumulated from the sparse expression
//! column by column. Predictions and truth are materialised one block of
//! genes at a time (test samples x block), never test samples x all genes.

use crate::csr::CsrMatrix;
use crate::KernelError;
use faer::linalg::matmul::matmul;
use faer::linalg::solvers::Solve;
use faer::{Accum, Mat, Par, Side};
use ndarray::ArrayView2;
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
        let (mut dsum, mut msum) = (0.0, 0.0);
        for b in 0..used {
            let diff: f64 = genes.iter().map(|&g| self.si_diff[g][b]).sum();
            let truth: f64 = genes.iter().map(|&g| self.si_truth[g][b]).sum();
            dsum += diff.sqrt() / self.si_rows[b] as f64;
            msum += truth.sqrt() / self.si_rows[b] as f64;
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

/// Ranks 1..n with ties given their average rank (scipy's `rankdata`).
pub fn average_ranks(v: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..v.len()).collect();
    order.sort_by(|&a, &b| v[a].total_cmp(&v[b]));
    let mut rank = vec![0.0; v.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && v[order[j + 1]] == v[order[i]] {
            j += 1;
        }
        let r = (i + j) as f64 / 2.0 + 1.0;
        for &o in &order[i..=j] {
            rank[o] = r;
        }
        i = j + 1;
    }
    rank
}

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
/// expression `y` (n x g, lognorm).
pub fn fit(x: ArrayView2<f32>, y: &CsrMatrix, lambda: f64) -> Result<Decoder, KernelError> {
    if x.nrows() != y.nrows {
        return Err(KernelError::Shape(format!(
            "{} representation rows but {} expression rows",
            x.nrows(),
            y.nrows
        )));
    }
    fit_rows(x, y.ncols, lambda, |i, out| {
        for (j, v) in y.row(i) {
            out[j] = v as f64;
        }
    })
}

/// Rows of expression densified per chunk: at most this many values.
const CHUNK_VALUES: usize = 1 << 23;

/// Fits the decoder with the expression of row i written by
/// `fill(i, out)` into a zeroed slice of g values (so the caller may
/// transform counts on the fly, without a copy of the training matrix).
/// X'Y is accumulated chunk by chunk as dense products, in a fixed order.
pub fn fit_rows(
    x: ArrayView2<f32>,
    g: usize,
    lambda: f64,
    fill: impl Fn(usize, &mut [f64]) + Sync,
) -> Result<Decoder, KernelError> {
    let (n, d) = x.dim();
    if n == 0 {
        return Err(KernelError::NotEnough(
            "no training samples for the decoder".into(),
        ));
    }
    let x_mean: Vec<f64> = (0..d)
        .map(|j| x.column(j).iter().map(|v| *v as f64).sum::<f64>() / n as f64)
        .collect();
    let xc = Mat::<f64>::from_fn(n, d, |i, j| x[(i, j)] as f64 - x_mean[j]);
    let mut gram = Mat::<f64>::zeros(d, d);
    crate::work::add_product(d, n, d);
    matmul(
        gram.as_mut(),
        Accum::Replace,
        xc.transpose(),
        xc.as_ref(),
        1.0,
        Par::rayon(0),
    );
    for j in 0..d {
        gram[(j, j)] += lambda;
    }
    let chunk = (CHUNK_VALUES / g.max(1)).clamp(64, 16_384);
    let mut xty = Mat::<f64>::zeros(d, g);
    let mut y_sum = vec![0.0f64; g];
    let mut dense = Mat::<f64>::zeros(chunk, g);
    let mut r0 = 0;
    while r0 < n {
        let r1 = (r0 + chunk).min(n);
        let rows = r1 - r0;
        // Fill the chunk's rows in parallel; each row is written by one task.
        let mut rowbuf: Vec<Vec<f64>> = (r0..r1)
            .into_par_iter()
            .map(|i| {
                let mut out = vec![0.0; g];
                fill(i, &mut out);
                out
            })
            .collect();
        for (k, row) in rowbuf.iter_mut().enumerate() {
            for (j, v) in row.iter().enumerate() {
                dense[(k, j)] = *v;
                y_sum[j] += *v;
            }
        }
        crate::work::add_product(d, rows, g);
        matmul(
            xty.as_mut(),
            Accum::Add,
            xc.as_ref().subrows(r0, rows).transpose(),
            dense.as_ref().subrows(0, rows),
            1.0,
            Par::rayon(0),
        );
        r0 = r1;
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

/// Scores the decoder's predictions of `y` (lognorm, test rows) from `x`.
pub fn evaluate(
    dec: &Decoder,
    x: ArrayView2<f32>,
    y: &CsrMatrix,
    layout: &TestLayout,
    si_rows: SiRows,
) -> Result<Reconstruction, KernelError> {
    let (n, d) = x.dim();
    if n != y.nrows || n != layout.batch.len() || n != layout.is_control.len() {
        return Err(KernelError::Shape(format!(
            "{n} test representation rows, {} expression rows, {} layout rows",
            y.nrows,
            layout.batch.len()
        )));
    }
    if n < 2 {
        return Err(KernelError::NotEnough(format!(
            "{n} test samples; per-gene correlations need at least 2"
        )));
    }
    let g = y.ncols;
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
    let xc = Mat::<f64>::from_fn(n, d, |i, j| x[(i, j)] as f64 - dec.x_mean[j]);
    let yt = y.transpose();
    let mut stats: Vec<GeneStats> = Vec::with_capacity(g);
    let mut g0 = 0;
    while g0 < g {
        let g1 = (g0 + GENE_BLOCK).min(g);
        let mut pred = Mat::<f64>::zeros(n, g1 - g0);
        crate::work::add_product(n, xc.ncols(), g1 - g0);
        matmul(
            pred.as_mut(),
            Accum::Replace,
            xc.as_ref(),
            dec.weights.as_ref().subcols(g0, g1 - g0),
            1.0,
            Par::rayon(0),
        );
        let pred = &pred;
        let block: Vec<GeneStats> = (g0..g1)
            .into_par_iter()
            .map(|gene| {
                let p: Vec<f64> = (0..n)
                    .map(|i| pred[(i, gene - g0)] + dec.y_mean[gene])
                    .collect();
                let mut t = vec![0.0; n];
                for (i, v) in yt.row(gene) {
                    t[i] = v as f64;
                }
                gene_stats(&p, &t, layout, &n_ctrl, si_rows)
            })
            .collect();
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
        match (pearson(p, t), spearman(p, t)) {
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
        let dec = fit(x.view(), &y, 2.0).unwrap();
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
        let r = evaluate(&dec, x.view(), &y, &layout, SiRows::Perturbed).unwrap();
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
        let all = evaluate(&dec, x.view(), &y, &layout, SiRows::All).unwrap();
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
        let dec = fit(x.view(), &y, 1e-9).unwrap();
        let layout = TestLayout {
            batch: &[0, 0, 0, 1, 1],
            is_control: &[true, false, false, true, false],
            n_batches: 2,
        };
        let r = evaluate(&dec, x.view(), &y, &layout, SiRows::Perturbed).unwrap();
        assert!((r.structural_integrity.unwrap() - 1.0).abs() < 1e-6);
        assert!((r.spearman.unwrap() - 1.0).abs() < 1e-9);
        assert!(r.mse < 1e-12);
    }
}
