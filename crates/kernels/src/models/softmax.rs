//! Task 2: multinomial logistic regression (softmax) trained by mini-batch
//! Adam to a convergence criterion, and the closed-form one-hot ridge
//! classifier.
//!
//! Convergence: every few steps the penalised loss (mean cross-entropy plus
//! l2/2 ||W||^2) is computed on fixed check rows (all training rows, or a
//! seeded sample of [`MAX_CHECK_ROWS`]). When its relative decrease since the
//! last check is below `tol`, the learning rate is divided by 10; a plateau
//! after [`MAX_REDUCTIONS`] reductions is convergence. The step and pass
//! budgets bound the work; a fit that reaches them is reported as not
//! converged.
//!
//! Determinism: the seed fixes the mini-batch order; every product is a
//! sequential faer product over a fixed block of classes, and blocks are
//! spread over threads without changing any sum's order, so the weights do
//! not depend on the thread count. Memory is one mini-batch x classes block,
//! never samples x classes.

use crate::runtime::parallel::{for_each_mut_with, map_indices, map_slice, map_zip_mut};
use crate::runtime::work::{Kernel, Work};
use crate::KernelError;
use faer::linalg::matmul::matmul;
use faer::linalg::solvers::Solve;
use faer::{Accum, Mat, MatRef, Par};
use ndarray::ArrayView2;
use rand::seq::SliceRandom;
use rayon::prelude::*;

#[derive(Debug, Clone, PartialEq)]
pub struct SoftmaxOptions {
    pub optimiser: Optimiser,
    /// Budget: passes over the training rows (Adam).
    pub max_epochs: usize,
    /// Budget: Adam steps, or L-BFGS iterations.
    pub max_steps: usize,
    /// L-BFGS also stops when no gradient entry exceeds this
    /// (scikit-learn's `tol`).
    pub gtol: f64,
    /// Relative decrease of the penalised loss between checks below which
    /// the learning rate is reduced (and, after the last reduction, the fit
    /// has converged).
    pub tol: f64,
    pub batch_size: usize,
    /// Adam's initial learning rate.
    pub learning_rate: f64,
    /// Penalty l2/2 ||W||^2 added to the mean cross-entropy.
    pub l2: f64,
    pub seed: u64,
}

/// Defaults of the L-BFGS fit: iterations, relative loss decrease
/// (scipy's `ftol` form) and largest gradient entry (scikit-learn's `tol`).
pub const DEFAULT_LBFGS_STEPS: usize = 5_000;
pub const DEFAULT_LBFGS_TOL: f64 = 1e-12;
pub const DEFAULT_GTOL: f64 = 1e-8;
/// Defaults of the Adam fit: steps, and the relative decrease between
/// checks below which the learning rate is reduced.
pub const DEFAULT_ADAM_STEPS: usize = 20_000;
pub const DEFAULT_ADAM_TOL: f64 = 1e-4;

impl SoftmaxOptions {
    /// Mini-batch Adam with its defaults.
    pub fn adam() -> Self {
        SoftmaxOptions {
            optimiser: Optimiser::Adam,
            max_steps: DEFAULT_ADAM_STEPS,
            tol: DEFAULT_ADAM_TOL,
            ..Default::default()
        }
    }
}

impl Default for SoftmaxOptions {
    fn default() -> Self {
        SoftmaxOptions {
            optimiser: Optimiser::Lbfgs,
            max_epochs: 1_000,
            max_steps: DEFAULT_LBFGS_STEPS,
            tol: DEFAULT_LBFGS_TOL,
            gtol: DEFAULT_GTOL,
            batch_size: 512,
            learning_rate: 0.01,
            l2: 1e-6,
            seed: 0,
        }
    }
}

/// How the softmax probe is trained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Optimiser {
    /// Full-batch L-BFGS to the optimum (scikit-learn's lbfgs).
    Lbfgs,
    /// Mini-batch Adam with learning-rate reduction on plateaus.
    Adam,
}

/// How a softmax fit ended: steps taken, passes started, whether the
/// convergence criterion was met within the budget, and the last checked
/// penalised loss.
#[derive(Debug, Clone, PartialEq)]
pub struct Training {
    pub optimiser: Optimiser,
    /// Why it stopped: `tol`, `gtol`, `line_search`, `max_steps` or `max_epochs`.
    pub stop: &'static str,
    pub steps: usize,
    pub epochs: usize,
    pub converged: bool,
    /// Learning-rate reductions made (each divides it by 10).
    pub reductions: usize,
    /// Penalised loss on the check rows at the last check.
    pub loss: f64,
    /// L-BFGS: the largest absolute gradient entry at the end.
    pub max_gradient: Option<f64>,
    /// Training rows the loss is checked on (all, or a seeded sample).
    pub check_rows: usize,
}

/// The check rows: all training rows up to this many, else a seeded sample.
pub const MAX_CHECK_ROWS: usize = 20_000;
/// Learning-rate reductions before a plateau counts as convergence.
pub const MAX_REDUCTIONS: usize = 3;

/// Mean cross-entropy of the standardised rows `xs` plus l2/2 ||W||^2,
/// summed in a fixed order (thread-independent).
fn penalised_loss(
    blocks: &[ClassBlock],
    xs: MatRef<f32>,
    label: &[u32],
    l2: f64,
    par: Par,
    work: &Work,
) -> f64 {
    const ROWS: usize = 1024;
    let mut total = 0f64;
    for r0 in (0..xs.nrows()).step_by(ROWS) {
        let r1 = (r0 + ROWS).min(xs.nrows());
        let chunk = xs.subrows(r0, r1 - r0);
        let scores = block_scores(blocks, chunk, par, work);
        let lse = log_normalisers(&scores, par);
        for (i, &l) in label[r0..r1].iter().enumerate() {
            let c = l as usize;
            total += lse[i] - scores[c / CLASS_BLOCK][(i, c % CLASS_BLOCK)] as f64;
        }
    }
    let mut penalty = 0f64;
    for blk in blocks {
        for j in 0..blk.w.ncols() {
            for v in blk.w.col(j).iter() {
                penalty += (*v as f64) * (*v as f64);
            }
        }
    }
    total / xs.nrows() as f64 + 0.5 * l2 * penalty
}

/// A linear classifier: scores = standardise(x) W + b.
pub struct LinearClassifier {
    /// d x C, column-major (faer).
    pub weights: Mat<f32>,
    pub bias: Vec<f32>,
    pub mean: Vec<f32>,
    pub scale: Vec<f32>,
}

const CLASS_BLOCK: usize = 128;

/// Per-column mean and population std (std < 1e-12 -> 1).
fn standardiser(x: ArrayView2<f32>) -> (Vec<f32>, Vec<f32>) {
    let n = x.nrows() as f64;
    let mut mean = vec![0f64; x.ncols()];
    let mut sq = vec![0f64; x.ncols()];
    for r in x.outer_iter() {
        for (j, v) in r.iter().enumerate() {
            mean[j] += *v as f64;
        }
    }
    mean.iter_mut().for_each(|m| *m /= n);
    for r in x.outer_iter() {
        for (j, v) in r.iter().enumerate() {
            let d = *v as f64 - mean[j];
            sq[j] += d * d;
        }
    }
    let scale = sq
        .iter()
        .map(|s| {
            let sd = (s / n).sqrt();
            if sd < 1e-12 {
                1.0
            } else {
                sd as f32
            }
        })
        .collect();
    (mean.into_iter().map(|m| m as f32).collect(), scale)
}

fn standardise_rows(x: ArrayView2<f32>, rows: &[usize], mean: &[f32], scale: &[f32]) -> Mat<f32> {
    Mat::from_fn(rows.len(), x.ncols(), |i, j| {
        (x[(rows[i], j)] - mean[j]) / scale[j]
    })
}

/// Scores xs W + b of one block of classes, by a sequential product (so
/// the result does not depend on the thread count).
fn score_block(w: MatRef<f32>, b: &[f32], xs: MatRef<f32>, work: &Work) -> Mat<f32> {
    let mut s = Mat::<f32>::zeros(xs.nrows(), w.ncols());
    work.add_product(xs.nrows(), xs.ncols(), w.ncols());
    matmul(s.as_mut(), Accum::Replace, xs, w, 1.0, Par::Seq);
    for (j, bj) in b.iter().enumerate() {
        s.col_mut(j).iter_mut().for_each(|v| *v += bj);
    }
    s
}

/// Scores of every row of `xs` for all classes, per block of classes.
fn class_scores(
    weights: &Mat<f32>,
    bias: &[f32],
    xs: MatRef<f32>,
    par: Par,
    work: &Work,
) -> Mat<f32> {
    let c = weights.ncols();
    let blocks: Vec<(usize, Mat<f32>)> = map_indices(par, c.div_ceil(CLASS_BLOCK), |b| {
        let c0 = b * CLASS_BLOCK;
        let cb = (c0 + CLASS_BLOCK).min(c) - c0;
        (
            c0,
            score_block(
                weights.as_ref().subcols(c0, cb),
                &bias[c0..c0 + cb],
                xs,
                work,
            ),
        )
    });
    let mut out = Mat::<f32>::zeros(xs.nrows(), c);
    for (c0, s) in blocks {
        out.as_mut().subcols_mut(c0, s.ncols()).copy_from(&s);
    }
    out
}

impl LinearClassifier {
    /// Scores of `rows` of `x` for all classes, computed per block of classes.
    fn scores(&self, xs: MatRef<f32>, par: Par, work: &Work) -> Mat<f32> {
        class_scores(&self.weights, &self.bias, xs, par, work)
    }

    /// The `top` best classes of each of `rows`, best first (ties: lower
    /// class). Runs as `par` says (the same result either way); recorded in
    /// `work`.
    pub fn top_classes(
        &self,
        x: ArrayView2<f32>,
        rows: &[usize],
        top: usize,
        par: Par,
        work: &Work,
    ) -> Vec<Vec<u32>> {
        work.timed(Kernel::SoftmaxProbe, || {
            self.top_classes_untimed(x, rows, top, par, work)
        })
    }

    fn top_classes_untimed(
        &self,
        x: ArrayView2<f32>,
        rows: &[usize],
        top: usize,
        par: Par,
        work: &Work,
    ) -> Vec<Vec<u32>> {
        let mut out = Vec::with_capacity(rows.len());
        for chunk in rows.chunks(1024) {
            let xs = standardise_rows(x, chunk, &self.mean, &self.scale);
            let s = self.scores(xs.as_ref(), par, work);
            out.extend(
                (0..chunk.len())
                    .into_par_iter()
                    .map(|i| {
                        let mut best: Vec<(f32, u32)> = Vec::with_capacity(top + 1);
                        for c in 0..s.ncols() {
                            let v = s[(i, c)];
                            let pos = best.iter().position(|(b, _)| v > *b).unwrap_or(best.len());
                            if pos < top {
                                best.insert(pos, (v, c as u32));
                                best.truncate(top);
                            }
                        }
                        best.into_iter().map(|(_, c)| c).collect::<Vec<u32>>()
                    })
                    .collect::<Vec<_>>(),
            );
        }
        out
    }
}

fn check(
    x: ArrayView2<f32>,
    rows: &[usize],
    label: &[u32],
    n_classes: usize,
) -> Result<(), KernelError> {
    if rows.is_empty() {
        return Err(KernelError::NotEnough("no training samples".into()));
    }
    if rows.len() != label.len() {
        return Err(KernelError::Shape(format!(
            "{} training rows but {} labels",
            rows.len(),
            label.len()
        )));
    }
    if let Some(l) = label.iter().find(|l| **l as usize >= n_classes) {
        return Err(KernelError::Shape(format!(
            "label {l} >= {n_classes} classes"
        )));
    }
    if let Some(r) = rows.iter().find(|r| **r >= x.nrows()) {
        return Err(KernelError::Shape(format!(
            "row {r} beyond {} rows",
            x.nrows()
        )));
    }
    Ok(())
}

/// exp(x) for x <= 0 as 2^(x log2 e): the integer part goes into the
/// exponent bits, the fraction through a degree-6 polynomial (relative
/// error below 1e-5, from rounding x log2 e). Branch-free so it vectorises; libm's expf was the
/// probe's bottleneck. Below -80 it returns 0 (under 2e-35 of the largest
/// term, which is 1).
#[inline(always)]
fn exp_or_zero(x: f32) -> f32 {
    let t = x.max(-80.0) * std::f32::consts::LOG2_E;
    // floor(t) and 2^floor(t) with float operations only: the integer casts
    // (`as i32` saturates) and `f32::floor` (a libm call on baseline x86-64)
    // kept this loop from vectorising. Adding 1.5 * 2^23 rounds a float of
    // magnitude below 2^22 to an integer; the floor is one less when that
    // rounded up. Adding 2^23 + 127 leaves floor(t) + 127 (in 1..=254 here)
    // in the low mantissa bits, which a shift moves into the exponent.
    const ROUND: f32 = 12_582_912.0;
    let rounded = (t + ROUND) - ROUND;
    let i = if rounded > t { rounded - 1.0 } else { rounded };
    let f = t - i;
    let p = 1.0
        + f * (0.693_147_2
            + f * (0.240_226_5
                + f * (0.055_504_11
                    + f * (0.009_618_129 + f * (0.001_333_355 + f * 0.000_154_035_3)))));
    let scaled = p * f32::from_bits((i + 8_388_735.0).to_bits() << 23);
    if x < -80.0 {
        0.0
    } else {
        scaled
    }
}

crate::linalg::simd::avx2_dispatch! {
    /// `sum[i] += exp(col[i] - m[i])` (in f64), for the log normalisers.
    fn add_exps(sum: &mut [f64], col: &[f32], m: &[f32]) {
        for ((si, v), mi) in sum.iter_mut().zip(col).zip(m) {
            *si += exp_or_zero(v - mi) as f64;
        }
    }
}

crate::linalg::simd::avx2_dispatch! {
    /// `col[i] = exp(col[i] - lse[i]) * scale`: softmax probabilities, scaled.
    fn softmax_in_place(col: &mut [f32], lse: &[f32], scale: f32) {
        for (v, l) in col.iter_mut().zip(lse) {
            *v = exp_or_zero(*v - l) * scale;
        }
    }
}

/// One Adam step's constants (beta1 0.9, beta2 0.999, eps 1e-8).
struct AdamStep {
    lr: f64,
    /// Bias corrections 1 - beta^t.
    bc1: f64,
    bc2: f64,
    /// L2 penalty on weights (not biases).
    l2: f32,
}

impl AdamStep {
    const B1: f32 = 0.9;
    const B2: f32 = 0.999;
    const EPS: f64 = 1e-8;

    /// Updates one parameter from its gradient `g`.
    #[inline(always)]
    fn apply(&self, p: &mut f32, m: &mut f32, v: &mut f32, g: f32) {
        *m = Self::B1 * *m + (1.0 - Self::B1) * g;
        *v = Self::B2 * *v + (1.0 - Self::B2) * g * g;
        let step = self.lr * (*m as f64 / self.bc1) / ((*v as f64 / self.bc2).sqrt() + Self::EPS);
        *p -= step as f32;
    }

    /// Updates a column of weights, each gradient plus its L2 term.
    fn weights(&self, w: &mut [f32], m: &mut [f32], v: &mut [f32], g: &[f32]) {
        adam_column(self, w, m, v, g);
    }
}

crate::linalg::simd::avx2_dispatch! {
    fn adam_column(s: &AdamStep, w: &mut [f32], m: &mut [f32], v: &mut [f32], g: &[f32]) {
        for (((p, mi), vi), gi) in w.iter_mut().zip(m.iter_mut()).zip(v.iter_mut()).zip(g) {
            let gr = gi + s.l2 * *p;
            s.apply(p, mi, vi, gr);
        }
    }
}

/// One block of classes: its weights, biases and Adam moments.
struct ClassBlock {
    c0: usize,
    w: Mat<f32>,
    b: Vec<f32>,
    mw: Mat<f32>,
    vw: Mat<f32>,
    mb: Vec<f32>,
    vb: Vec<f32>,
}

fn blocks_from(w: &Mat<f32>, bias: &[f32]) -> Vec<ClassBlock> {
    let (d, c) = (w.nrows(), w.ncols());
    (0..c.div_ceil(CLASS_BLOCK))
        .map(|k| {
            let c0 = k * CLASS_BLOCK;
            let cb = (c0 + CLASS_BLOCK).min(c) - c0;
            ClassBlock {
                c0,
                w: w.as_ref().subcols(c0, cb).to_owned(),
                b: bias[c0..c0 + cb].to_vec(),
                mw: Mat::zeros(d, cb),
                vw: Mat::zeros(d, cb),
                mb: vec![0.0; cb],
                vb: vec![0.0; cb],
            }
        })
        .collect()
}

/// Scores of each block (rows x block classes), in parallel over blocks.
fn block_scores(blocks: &[ClassBlock], xs: MatRef<f32>, par: Par, work: &Work) -> Vec<Mat<f32>> {
    map_slice(par, blocks, |blk| {
        score_block(blk.w.as_ref(), &blk.b, xs, work)
    })
}

/// log sum_c exp(score_c) per row. Rows are split in fixed chunks; within a
/// row the sum runs over blocks and columns in order (thread-independent).
fn log_normalisers(scores: &[Mat<f32>], par: Par) -> Vec<f64> {
    let n = scores.first().map_or(0, |s| s.nrows());
    const ROWS: usize = 64;
    let chunks: Vec<Vec<f64>> = map_indices(par, n.div_ceil(ROWS), |c| {
        let (r0, r1) = (c * ROWS, ((c + 1) * ROWS).min(n));
        let mut m = vec![f32::NEG_INFINITY; r1 - r0];
        for s in scores {
            for j in 0..s.ncols() {
                let col = &s.col(j).try_as_col_major().expect("contiguous").as_slice()[r0..r1];
                m.iter_mut().zip(col).for_each(|(mi, v)| *mi = mi.max(*v));
            }
        }
        let mut sum = vec![0f64; r1 - r0];
        for s in scores {
            for j in 0..s.ncols() {
                let col = &s.col(j).try_as_col_major().expect("contiguous").as_slice()[r0..r1];
                add_exps(&mut sum, col, &m);
            }
        }
        m.iter()
            .zip(sum)
            .map(|(mi, si)| *mi as f64 + si.ln())
            .collect()
    });
    chunks.concat()
}

/// Turns block scores into dLoss/dscores in place (softmax minus one-hot,
/// over the batch size) and returns each block's (dW, db).
fn block_gradients(
    blocks: &[ClassBlock],
    scores: &mut [Mat<f32>],
    lse: &[f64],
    label: &[u32],
    xs: MatRef<f32>,
    inv: f32,
    par: Par,
    work: &Work,
) -> Vec<(Mat<f32>, Vec<f32>)> {
    let lse32: Vec<f32> = lse.iter().map(|v| *v as f32).collect();
    map_zip_mut(par, blocks, scores, |blk, s| {
        for j in 0..s.ncols() {
            let col = s
                .col_mut(j)
                .try_as_col_major_mut()
                .expect("contiguous")
                .as_slice_mut();
            softmax_in_place(col, &lse32, inv);
        }
        for (i, &l) in label.iter().enumerate() {
            let c = l as usize;
            if (blk.c0..blk.c0 + s.ncols()).contains(&c) {
                s[(i, c - blk.c0)] -= inv;
            }
        }
        let mut g = Mat::<f32>::zeros(xs.ncols(), s.ncols());
        work.add_product(xs.ncols(), xs.nrows(), s.ncols());
        matmul(
            g.as_mut(),
            Accum::Replace,
            xs.transpose(),
            s.as_ref(),
            1.0,
            Par::Seq,
        );
        let gb = (0..s.ncols()).map(|j| s.col(j).iter().sum()).collect();
        (g, gb)
    })
}

/// Mean cross-entropy of a mini-batch and its gradient, per block of
/// classes: (first class, dW block, db block).
#[cfg(test)]
#[allow(clippy::type_complexity)]
fn gradient(
    w: &Mat<f32>,
    bias: &[f32],
    xs: MatRef<f32>,
    label: &[u32],
) -> (Vec<(usize, Mat<f32>, Vec<f32>)>, f64) {
    let blocks = blocks_from(w, bias);
    let work = Work::new();
    let mut scores = block_scores(&blocks, xs, Par::rayon(0), &work);
    let lse = log_normalisers(&scores, Par::rayon(0));
    let loss = (0..xs.nrows())
        .map(|i| {
            let c = label[i] as usize;
            let s = &scores[c / CLASS_BLOCK];
            lse[i] - s[(i, c % CLASS_BLOCK)] as f64
        })
        .sum::<f64>()
        / xs.nrows() as f64;
    let grads = block_gradients(
        &blocks,
        &mut scores,
        &lse,
        label,
        xs,
        1.0 / xs.nrows() as f32,
        Par::rayon(0),
        &work,
    );
    (
        blocks
            .iter()
            .zip(grads)
            .map(|(b, (g, gb))| (b.c0, g, gb))
            .collect(),
        loss,
    )
}

/// Fits softmax regression on `rows` of `x` with class codes `label`. Its
/// blocks of classes and rows run as `par` says (the same fit either way);
/// the training is recorded in `work`.
pub fn fit_softmax(
    x: ArrayView2<f32>,
    rows: &[usize],
    label: &[u32],
    n_classes: usize,
    opt: &SoftmaxOptions,
    par: Par,
    work: &Work,
) -> Result<(LinearClassifier, Training), KernelError> {
    work.timed(Kernel::SoftmaxProbe, || {
        train_softmax(x, rows, label, n_classes, opt, par, work)
    })
}

fn train_softmax(
    x: ArrayView2<f32>,
    rows: &[usize],
    label: &[u32],
    n_classes: usize,
    opt: &SoftmaxOptions,
    par: Par,
    work: &Work,
) -> Result<(LinearClassifier, Training), KernelError> {
    check(x, rows, label, n_classes)?;
    if opt.batch_size == 0 || opt.max_epochs == 0 || opt.max_steps == 0 {
        return Err(KernelError::Shape(
            "batch_size, max_epochs and max_steps must be positive".into(),
        ));
    }
    if !(opt.tol.is_finite() && opt.tol >= 0.0) {
        return Err(KernelError::Shape(format!("tol {} is not >= 0", opt.tol)));
    }
    let d = x.ncols();
    let train = x.select(ndarray::Axis(0), rows);
    let (mean, scale) = standardiser(train.view());
    drop(train);
    if opt.optimiser == Optimiser::Lbfgs {
        let problem = crate::models::softmax_lbfgs::Problem {
            x,
            rows,
            label,
            mean: &mean,
            scale: &scale,
            n_classes,
            l2: opt.l2,
            par,
            work,
        };
        let o = crate::models::softmax_lbfgs::minimise(&problem, opt.tol, opt.gtol, opt.max_steps);
        let w = Mat::from_fn(d, n_classes, |i, j| o.theta[j * d + i] as f32);
        let bias = (0..n_classes)
            .map(|j| o.theta[d * n_classes + j] as f32)
            .collect();
        return Ok((
            LinearClassifier {
                weights: w,
                bias,
                mean,
                scale,
            },
            Training {
                optimiser: Optimiser::Lbfgs,
                stop: o.stop,
                steps: o.iterations,
                epochs: o.evaluations,
                converged: o.converged,
                reductions: 0,
                loss: o.loss,
                max_gradient: Some(o.gradient),
                check_rows: rows.len(),
            },
        ));
    }
    let mut blocks = blocks_from(&Mat::zeros(d, n_classes), &vec![0.0; n_classes]);
    // Bias corrections use the f64 betas (the moments, f32 ones).
    let (b1, b2) = (0.9f64, 0.999f64);
    let mut order: Vec<usize> = (0..rows.len()).collect();
    let mut rng = crate::stats::rng::stream(opt.seed, "softmax", 0);
    // Check rows: all, or a seeded sample (sorted, so the sum's order is fixed).
    let check_idx: Vec<usize> = if rows.len() <= MAX_CHECK_ROWS {
        (0..rows.len()).collect()
    } else {
        let mut crng = crate::stats::rng::stream(opt.seed, "softmax-check", 0);
        let mut all: Vec<usize> = (0..rows.len()).collect();
        all.shuffle(&mut crng);
        all.truncate(MAX_CHECK_ROWS);
        all.sort_unstable();
        all
    };
    let check_rows: Vec<usize> = check_idx.iter().map(|&i| rows[i]).collect();
    let check_label: Vec<u32> = check_idx.iter().map(|&i| label[i]).collect();
    let check_xs = standardise_rows(x, &check_rows, &mean, &scale);
    // A check costs about a quarter of the steps between checks.
    let steps_per_epoch = rows.len().div_ceil(opt.batch_size);
    let check_every = (4 * check_rows.len())
        .div_ceil(opt.batch_size)
        .clamp(1, steps_per_epoch);
    let mut last = penalised_loss(&blocks, check_xs.as_ref(), &check_label, opt.l2, par, work);
    let mut lr = opt.learning_rate;
    let mut done = Training {
        optimiser: Optimiser::Adam,
        stop: "max_epochs",
        steps: 0,
        epochs: 0,
        converged: false,
        reductions: 0,
        loss: last,
        max_gradient: None,
        check_rows: check_rows.len(),
    };
    let mut t = 0usize;
    'passes: for epoch in 0..opt.max_epochs {
        done.epochs = epoch + 1;
        order.shuffle(&mut rng);
        for batch in order.chunks(opt.batch_size) {
            t += 1;
            let brow: Vec<usize> = batch.iter().map(|&i| rows[i]).collect();
            let xs = standardise_rows(x, &brow, &mean, &scale);
            let blabel: Vec<u32> = batch.iter().map(|&i| label[i]).collect();
            let mut scores = block_scores(&blocks, xs.as_ref(), par, work);
            let lse = log_normalisers(&scores, par);
            let grads = block_gradients(
                &blocks,
                &mut scores,
                &lse,
                &blabel,
                xs.as_ref(),
                1.0 / xs.nrows() as f32,
                par,
                work,
            );
            // Adam, element by element within each block (blocks in parallel).
            let (bc1, bc2) = (1.0 - b1.powi(t as i32), 1.0 - b2.powi(t as i32));
            let l2 = opt.l2 as f32;
            let step = AdamStep { lr, bc1, bc2, l2 };
            for_each_mut_with(par, &mut blocks, grads, |blk, (g, gb)| {
                for j in 0..g.ncols() {
                    let gj = g.col(j).try_as_col_major().expect("contiguous").as_slice();
                    let w = blk
                        .w
                        .col_mut(j)
                        .try_as_col_major_mut()
                        .expect("contiguous")
                        .as_slice_mut();
                    let mw = blk
                        .mw
                        .col_mut(j)
                        .try_as_col_major_mut()
                        .expect("contiguous")
                        .as_slice_mut();
                    let vw = blk
                        .vw
                        .col_mut(j)
                        .try_as_col_major_mut()
                        .expect("contiguous")
                        .as_slice_mut();
                    step.weights(w, mw, vw, gj);
                    step.apply(&mut blk.b[j], &mut blk.mb[j], &mut blk.vb[j], gb[j]);
                }
            });
            done.steps = t;
            if t % check_every == 0 {
                let now =
                    penalised_loss(&blocks, check_xs.as_ref(), &check_label, opt.l2, par, work);
                let decrease = (last - now) / last.abs().max(f64::MIN_POSITIVE);
                last = now;
                done.loss = now;
                if decrease < opt.tol {
                    if done.reductions == MAX_REDUCTIONS {
                        done.converged = true;
                        done.stop = "tol";
                        break 'passes;
                    }
                    lr *= 0.1;
                    done.reductions += 1;
                }
            }
            if t >= opt.max_steps {
                done.stop = "max_steps";
                break 'passes;
            }
        }
    }
    let mut w = Mat::<f32>::zeros(d, n_classes);
    let mut bias = vec![0f32; n_classes];
    for blk in &blocks {
        for j in 0..blk.w.ncols() {
            for k in 0..d {
                w[(k, blk.c0 + j)] = blk.w[(k, j)];
            }
            bias[blk.c0 + j] = blk.b[j];
        }
    }
    Ok((
        LinearClassifier {
            weights: w,
            bias,
            mean,
            scale,
        },
        done,
    ))
}

/// Closed-form ridge classifier: one-hot targets, centred (unpenalised
/// intercept), solve (X'X + lambda I) W = X'Y on standardised features.
pub fn fit_ridge_classifier(
    x: ArrayView2<f32>,
    rows: &[usize],
    label: &[u32],
    n_classes: usize,
    lambda: f64,
) -> Result<LinearClassifier, KernelError> {
    check(x, rows, label, n_classes)?;
    let d = x.ncols();
    let train = x.select(ndarray::Axis(0), rows);
    let (mean, scale) = standardiser(train.view());
    let xs: Mat<f64> = Mat::from_fn(rows.len(), d, |i, j| {
        ((train[(i, j)] - mean[j]) / scale[j]) as f64
    });
    // X'Y: column c is the sum of the class-c rows; Y's column means are the class shares.
    let mut xty = Mat::<f64>::zeros(d, n_classes);
    let mut count = vec![0f64; n_classes];
    for (i, &l) in label.iter().enumerate() {
        count[l as usize] += 1.0;
        for j in 0..d {
            xty[(j, l as usize)] += xs[(i, j)];
        }
    }
    // Columns of xs are centred, so X'(Y - 1 ybar') = X'Y.
    let mut gram = xs.transpose() * &xs;
    for j in 0..d {
        gram[(j, j)] += lambda;
    }
    let chol = gram.llt(faer::Side::Lower).map_err(|e| {
        KernelError::LinAlg(format!("ridge system is not positive definite: {e:?}"))
    })?;
    let w = chol.solve(&xty);
    let n = rows.len() as f64;
    Ok(LinearClassifier {
        weights: Mat::from_fn(d, n_classes, |i, j| w[(i, j)] as f32),
        bias: count.iter().map(|c| (c / n) as f32).collect(),
        mean,
        scale,
    })
}

/// Top-1 and top-5 hits of a classifier on `rows` with true codes `label`
/// (scored as `par` says, recorded in `work`).
pub fn top1_top5(
    model: &LinearClassifier,
    x: ArrayView2<f32>,
    rows: &[usize],
    label: &[u32],
    par: Par,
    work: &Work,
) -> (usize, usize) {
    row_hits(model, x, rows, label, par, work)
        .into_iter()
        .fold((0, 0), |(a, b), (t1, t5)| {
            (a + usize::from(t1), b + usize::from(t5))
        })
}

/// Per row: (top-1 hit, top-5 hit) of a classifier.
pub fn row_hits(
    model: &LinearClassifier,
    x: ArrayView2<f32>,
    rows: &[usize],
    label: &[u32],
    par: Par,
    work: &Work,
) -> Vec<(bool, bool)> {
    let top = model.top_classes(x, rows, 5, par, work);
    top.iter()
        .zip(label)
        .map(|(t, l)| (t.first() == Some(l), t.contains(l)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;
    use rand_distr::{Distribution, Normal};

    fn as_array(m: &Mat<f32>) -> Array2<f32> {
        Array2::from_shape_fn((m.nrows(), m.ncols()), |(i, j)| m[(i, j)])
    }

    /// Three Gaussian blobs in 4-D, well separated.
    fn blobs(n_per: usize, seed: u64) -> (Array2<f32>, Vec<u32>) {
        let mut rng = crate::stats::rng::stream(seed, "test", 0);
        let noise = Normal::new(0.0, 0.5).unwrap();
        let centres = [
            [3.0, 0.0, 0.0, 1.0],
            [0.0, 3.0, 0.0, 1.0],
            [0.0, 0.0, 3.0, 1.0],
        ];
        let mut x = Array2::zeros((3 * n_per, 4));
        let mut y = vec![];
        for c in 0..3 {
            for i in 0..n_per {
                for j in 0..4 {
                    x[(c * n_per + i, j)] = centres[c][j] as f32 + noise.sample(&mut rng) as f32;
                }
                y.push(c as u32);
            }
        }
        (x, y)
    }

    #[test]
    fn separable_blobs_are_learned_and_runs_repeat_bit_for_bit() {
        let (x, y) = blobs(60, 1);
        let rows: Vec<usize> = (0..x.nrows()).collect();
        let (xt, yt) = blobs(30, 2);
        let trow: Vec<usize> = (0..xt.nrows()).collect();
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        // A penalty that keeps the separable optimum finite, so Adam's
        // plateau comes within its budget.
        for base in [SoftmaxOptions::default(), SoftmaxOptions::adam()] {
            let opt = SoftmaxOptions { l2: 1e-2, ..base };
            let (m, fit) =
                fit_softmax(x.view(), &rows, &y, 3, &opt, Par::rayon(0), &Work::new()).unwrap();
            assert!(fit.converged, "{fit:?}");
            assert!(fit.steps < opt.max_steps, "{fit:?}");
            let (t1, t5) = top1_top5(&m, xt.view(), &trow, &yt, Par::rayon(0), &Work::new());
            assert!(t1 >= 88, "{t1} of 90");
            assert_eq!(t5, 90);
            // Same seed on a one-thread pool, and with sequential blocks:
            // identical weights.
            let (m1, fit1) = pool.install(|| {
                fit_softmax(x.view(), &rows, &y, 3, &opt, Par::rayon(0), &Work::new()).unwrap()
            });
            let (ms, fits) =
                fit_softmax(x.view(), &rows, &y, 3, &opt, Par::Seq, &Work::new()).unwrap();
            assert_eq!(as_array(&m.weights), as_array(&ms.weights));
            assert_eq!(fit, fits);
            assert_eq!(as_array(&m.weights), as_array(&m1.weights));
            assert_eq!(fit, fit1);
            // Another seed: L-BFGS uses every row each step, so the seed
            // does not matter; Adam gets another mini-batch order.
            let (m2, _) = fit_softmax(
                x.view(),
                &rows,
                &y,
                3,
                &SoftmaxOptions {
                    seed: 9,
                    ..opt.clone()
                },
                Par::rayon(0),
                &Work::new(),
            )
            .unwrap();
            if opt.optimiser == Optimiser::Lbfgs {
                assert_eq!(as_array(&m.weights), as_array(&m2.weights));
            } else {
                assert_ne!(as_array(&m.weights), as_array(&m2.weights));
            }
        }
    }

    /// More rows than one chunk wave, more classes than one block: the
    /// thread count still does not change a bit, and the optimum is a
    /// stationary point of the penalised loss.
    #[test]
    fn lbfgs_reaches_a_stationary_point_independent_of_threads() {
        let mut rng = crate::stats::rng::stream(3, "test", 0);
        let noise = Normal::new(0.0, 1.0).unwrap();
        let (n, d, c) = (9_000, 6, 130);
        let x = Array2::from_shape_simple_fn((n, d), || noise.sample(&mut rng) as f32);
        let y: Vec<u32> = (0..n)
            .map(|i| {
                ((x[(i, 0)] > 0.0) as u32 * 7 + (i as u32 % 5) * 20 + (i as u32 % 3)) % c as u32
            })
            .collect();
        let rows: Vec<usize> = (0..n).collect();
        let opt = SoftmaxOptions {
            l2: 1e-3,
            ..Default::default()
        };
        let (m, fit) =
            fit_softmax(x.view(), &rows, &y, c, &opt, Par::rayon(0), &Work::new()).unwrap();
        assert!(fit.converged && fit.stop != "max_steps", "{fit:?}");
        assert!(fit.max_gradient.unwrap() <= 1e-3, "{fit:?}");
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        // One thread, sequential blocks: the same fit.
        let (m1, fit1) = pool
            .install(|| fit_softmax(x.view(), &rows, &y, c, &opt, Par::Seq, &Work::new()).unwrap());
        assert_eq!(as_array(&m.weights), as_array(&m1.weights));
        assert_eq!(m.bias, m1.bias);
        assert_eq!(fit, fit1);
    }

    #[test]
    fn lbfgs_gradient_matches_finite_differences() {
        let x = ndarray::array![
            [0.5f32, -1.0],
            [1.5, 0.2],
            [-0.3, 0.8],
            [2.0, -0.7],
            [0.1, 0.1]
        ];
        let rows = [0usize, 1, 2, 3, 4];
        let label = [0u32, 2, 1, 2, 0];
        let (mean, scale) = standardiser(x.view());
        let p = crate::models::softmax_lbfgs::Problem {
            x: x.view(),
            rows: &rows,
            label: &label,
            mean: &mean,
            scale: &scale,
            n_classes: 3,
            l2: 0.1,
            par: Par::rayon(0),
            work: &Work::new(),
        };
        let theta: Vec<f64> = (0..9).map(|i| (i as f64 * 0.37).sin() * 0.5).collect();
        let (_, g) = p.loss_gradient(&theta);
        let h = 1e-3;
        for k in 0..theta.len() {
            let (mut tp, mut tm) = (theta.clone(), theta.clone());
            tp[k] += h;
            tm[k] -= h;
            let fd = (p.loss_gradient(&tp).0 - p.loss_gradient(&tm).0) / (2.0 * h);
            assert!((fd - g[k]).abs() < 1e-4, "theta[{k}]: {fd} vs {}", g[k]);
        }
    }

    #[test]
    fn a_fit_stopped_by_its_budget_is_not_converged() {
        let (x, y) = blobs(20, 1);
        let rows: Vec<usize> = (0..x.nrows()).collect();
        for base in [SoftmaxOptions::default(), SoftmaxOptions::adam()] {
            let opt = SoftmaxOptions {
                max_steps: 2,
                ..base
            };
            let (_, fit) =
                fit_softmax(x.view(), &rows, &y, 3, &opt, Par::rayon(0), &Work::new()).unwrap();
            assert_eq!(
                (fit.steps, fit.converged, fit.stop),
                (2, false, "max_steps"),
                "{fit:?}"
            );
        }
    }

    #[test]
    fn fast_exp_is_accurate() {
        let mut worst = 0f64;
        let mut x = -80.0f32;
        while x <= 0.0 {
            let want = (x as f64).exp();
            let got = exp_or_zero(x) as f64;
            worst = worst.max(((got - want) / want).abs());
            x += 0.013;
        }
        assert!(worst < 2e-5, "{worst}");
        assert_eq!(exp_or_zero(0.0), 1.0);
        assert_eq!(exp_or_zero(-100.0), 0.0);
    }

    #[test]
    fn gradient_matches_finite_differences() {
        let xs = Mat::<f32>::from_fn(5, 3, |i, j| ((i * 3 + j * 7) % 5) as f32 * 0.3 - 0.6);
        let w = Mat::<f32>::from_fn(3, 4, |i, j| ((i + 2 * j) % 3) as f32 * 0.2 - 0.2);
        let bias = vec![0.1f32, -0.2, 0.0, 0.3];
        let label = [0u32, 3, 1, 1, 2];
        let (grads, _) = gradient(&w, &bias, xs.as_ref(), &label);
        let (c0, g, gb) = &grads[0];
        assert_eq!(*c0, 0);
        let h = 1e-2f32;
        for k in 0..3 {
            for c in 0..4 {
                let mut wp = w.clone();
                wp[(k, c)] += h;
                let mut wm = w.clone();
                wm[(k, c)] -= h;
                let fd = (gradient(&wp, &bias, xs.as_ref(), &label).1
                    - gradient(&wm, &bias, xs.as_ref(), &label).1)
                    / (2.0 * h as f64);
                assert!(
                    (fd - g[(k, c)] as f64).abs() < 1e-4,
                    "w[{k},{c}]: {fd} vs {}",
                    g[(k, c)]
                );
            }
        }
        for c in 0..4 {
            let mut bp = bias.clone();
            bp[c] += h;
            let mut bm = bias.clone();
            bm[c] -= h;
            let fd = (gradient(&w, &bp, xs.as_ref(), &label).1
                - gradient(&w, &bm, xs.as_ref(), &label).1)
                / (2.0 * h as f64);
            assert!(
                (fd - gb[c] as f64).abs() < 1e-4,
                "b[{c}]: {fd} vs {}",
                gb[c]
            );
        }
    }

    #[test]
    fn ridge_classifier_by_hand() {
        // One feature, two classes: x = -1, -1, 1, 1 for y = 0, 0, 1, 1.
        // Standardised x = x (mean 0, std 1). X'X = 4, X'Y = [-2, 2].
        // lambda = 4: W = [-0.25, 0.25]; bias = class shares [0.5, 0.5].
        let x = ndarray::array![[-1.0f32], [-1.0], [1.0], [1.0]];
        let m = fit_ridge_classifier(x.view(), &[0, 1, 2, 3], &[0, 0, 1, 1], 2, 4.0).unwrap();
        assert!((m.weights[(0, 0)] + 0.25).abs() < 1e-7);
        assert!((m.weights[(0, 1)] - 0.25).abs() < 1e-7);
        assert_eq!(m.bias, vec![0.5, 0.5]);
        let top = m.top_classes(x.view(), &[0, 3], 2, Par::rayon(0), &Work::new());
        assert_eq!(top, vec![vec![0, 1], vec![1, 0]]);
    }

    #[test]
    fn bad_labels_are_errors() {
        let x = ndarray::array![[1.0f32], [2.0]];
        let e = fit_softmax(
            x.view(),
            &[0, 1],
            &[0, 3],
            2,
            &SoftmaxOptions::default(),
            Par::rayon(0),
            &Work::new(),
        )
        .err()
        .unwrap();
        assert!(e.to_string().contains("label 3 >= 2 classes"));
        let e = fit_softmax(
            x.view(),
            &[],
            &[],
            2,
            &SoftmaxOptions::default(),
            Par::rayon(0),
            &Work::new(),
        )
        .err()
        .unwrap();
        assert!(e.to_string().contains("no training samples"));
    }
}
