//! Full-batch L-BFGS for Task 2's softmax probe: the problem scikit-learn's
//! `LogisticRegression(solver="lbfgs")` solves (mean cross-entropy plus
//! l2/2 ||W||^2 on standardised features, bias not penalised; sklearn's C is
//! 1 / (n l2)), solved to the same optimum.
//!
//! Determinism: the loss and gradient are sums over fixed chunks of rows,
//! computed a fixed wave of chunks at a time and added in chunk order, so
//! they do not depend on the thread count.

use crate::runtime::parallel::map_slice;
use crate::runtime::work::Work;
use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, Par};
use ndarray::ArrayView2;

/// Chunks computed together (then added in order).
const WAVE: usize = 8;
/// Correction pairs kept (scipy's default).
const HISTORY: usize = 10;

/// Rows per chunk: at most 1024, fewer with many classes (a chunk's scores
/// are rows x classes in f64). Depends on the class count alone.
fn chunk_rows(n_classes: usize) -> usize {
    ((1usize << 20) / n_classes.max(1)).clamp(16, 1024)
}

pub(crate) struct Problem<'a> {
    pub x: ArrayView2<'a, f32>,
    pub rows: &'a [usize],
    pub label: &'a [u32],
    pub mean: &'a [f32],
    pub scale: &'a [f32],
    pub n_classes: usize,
    pub l2: f64,
    /// How the waves of row chunks run (the same sums either way).
    pub par: Par,
    pub work: &'a Work,
}

/// How an L-BFGS fit ended.
pub(crate) struct Outcome {
    pub theta: Vec<f64>,
    pub iterations: usize,
    pub evaluations: usize,
    pub converged: bool,
    pub loss: f64,
    /// Largest absolute gradient entry at the end.
    pub gradient: f64,
    /// Why it stopped: `tol`, `gtol`, `line_search` or `max_steps`.
    pub stop: &'static str,
}

impl Problem<'_> {
    fn dims(&self) -> usize {
        self.x.ncols()
    }

    /// Penalised loss and its gradient at theta (W d x C column-major, then
    /// b), in f64 throughout: near the optimum of a weakly penalised,
    /// separable problem the gradient entries that matter are below f32's
    /// resolution.
    pub fn loss_gradient(&self, theta: &[f64]) -> (f64, Vec<f64>) {
        let (d, c) = (self.dims(), self.n_classes);
        let w = Mat::<f64>::from_fn(d, c, |i, j| theta[j * d + i]);
        let b = &theta[d * c..];
        let n = self.rows.len();
        let inv = 1.0 / n as f64;
        let mut grad = vec![0f64; d * c + c];
        let mut loss = 0f64;
        let chunk = chunk_rows(c);
        let starts: Vec<usize> = (0..n).step_by(chunk).collect();
        for wave in starts.chunks(WAVE) {
            let parts: Vec<(f64, Mat<f64>, Vec<f64>)> = map_slice(self.par, wave, |&r0| {
                let r1 = (r0 + chunk).min(n);
                let rows = &self.rows[r0..r1];
                let xs = Mat::<f64>::from_fn(rows.len(), d, |i, j| {
                    (self.x[(rows[i], j)] as f64 - self.mean[j] as f64) / self.scale[j] as f64
                });
                // Scores transposed (classes x rows): each row's
                // scores are one contiguous column.
                let mut st = Mat::<f64>::zeros(c, rows.len());
                self.work.add_product(rows.len(), d, c);
                matmul(
                    st.as_mut(),
                    Accum::Replace,
                    w.transpose(),
                    xs.transpose(),
                    1.0,
                    Par::Seq,
                );
                let mut sum = 0f64;
                let mut gb = vec![0f64; c];
                for i in 0..rows.len() {
                    let col = st
                        .col_mut(i)
                        .try_as_col_major_mut()
                        .expect("contiguous")
                        .as_slice_mut();
                    col.iter_mut().zip(b).for_each(|(v, bj)| *v += bj);
                    let m = col.iter().fold(f64::NEG_INFINITY, |m, v| m.max(*v));
                    let l = self.label[r0 + i] as usize;
                    let own = col[l];
                    // exp(s - m), once. Below -40 it is taken as 0: under
                    // 5e-18 of the largest term (1), below f64's
                    // resolution of the sum.
                    let mut z = 0f64;
                    for v in col.iter_mut() {
                        let t = *v - m;
                        *v = if t < -40.0 { 0.0 } else { exp_neg(t) };
                        z += *v;
                    }
                    sum += m + z.ln() - own;
                    let scale = inv / z;
                    col.iter_mut().for_each(|v| *v *= scale);
                    col[l] -= inv;
                    gb.iter_mut().zip(col.iter()).for_each(|(g, v)| *g += v);
                }
                let mut g = Mat::<f64>::zeros(d, c);
                self.work.add_product(d, rows.len(), c);
                matmul(
                    g.as_mut(),
                    Accum::Replace,
                    xs.transpose(),
                    st.transpose(),
                    1.0,
                    Par::Seq,
                );
                (sum, g, gb)
            });
            for (sum, g, gb) in parts {
                loss += sum;
                for j in 0..c {
                    for (i, v) in g.col(j).iter().enumerate() {
                        grad[j * d + i] += v;
                    }
                    grad[d * c + j] += gb[j];
                }
            }
        }
        loss *= inv;
        let mut penalty = 0f64;
        for k in 0..d * c {
            penalty += theta[k] * theta[k];
            grad[k] += self.l2 * theta[k];
        }
        (loss + 0.5 * self.l2 * penalty, grad)
    }
}

/// exp(t) for -40 <= t <= 0, to about 2 ulp: t = k ln 2 + r with
/// |r| <= ln 2 / 2, e^r by its Taylor series to degree 13 (remainder below
/// 1e-17), times 2^k through the exponent bits. Branch-free, so the loop
/// over a row's classes vectorises (libm's exp was 90% of the fit's time).
#[inline(always)]
fn exp_neg(t: f64) -> f64 {
    const LN2_HI: f64 = 0.693_147_180_369_123_8;
    const LN2_LO: f64 = 1.908_214_929_270_587_7e-10;
    let k = (t * std::f64::consts::LOG2_E).round();
    let r = (t - k * LN2_HI) - k * LN2_LO;
    let mut p = 1.0 / 6_227_020_800.0;
    for f in [
        479_001_600.0,
        39_916_800.0,
        3_628_800.0,
        362_880.0,
        40_320.0,
        5_040.0,
        720.0,
        120.0,
        24.0,
        6.0,
        2.0,
        1.0,
        1.0,
    ] {
        p = p * r + 1.0 / f;
    }
    p * f64::from_bits(((k as i64 + 1023) as u64) << 52)
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn max_abs(a: &[f64]) -> f64 {
    a.iter().fold(0f64, |m, v| m.max(v.abs()))
}

/// Minimises the problem from theta = 0: L-BFGS with HISTORY pairs and a
/// backtracking (Armijo) line search. Stops when the relative decrease of
/// the loss, (f_k - f_k+1) / max(|f_k|, |f_k+1|, 1), is at most `tol`
/// (scipy's `ftol` rule), when the largest gradient entry is at most `gtol`
/// (scikit-learn's `tol`), or after `max_steps` iterations (not converged).
pub(crate) fn minimise(p: &Problem, tol: f64, gtol: f64, max_steps: usize) -> Outcome {
    let dim = p.dims() * p.n_classes + p.n_classes;
    let mut theta = vec![0f64; dim];
    let (mut f, mut g) = p.loss_gradient(&theta);
    let mut evaluations = 1;
    let mut pairs: std::collections::VecDeque<(Vec<f64>, Vec<f64>, f64)> = Default::default();
    let out = |theta, iterations, evaluations, converged, loss, g: &[f64], stop| Outcome {
        theta,
        iterations,
        evaluations,
        converged,
        loss,
        gradient: max_abs(g),
        stop,
    };
    if max_abs(&g) <= gtol {
        return out(theta, 0, evaluations, true, f, &g, "gtol");
    }
    for it in 1..=max_steps {
        // Two-loop recursion: direction = -H g.
        let mut q = g.clone();
        let mut alphas = Vec::with_capacity(pairs.len());
        for (s, y, rho) in pairs.iter().rev() {
            let a = rho * dot(s, &q);
            q.iter_mut().zip(y).for_each(|(qi, yi)| *qi -= a * yi);
            alphas.push(a);
        }
        let h0 = pairs
            .back()
            .map_or(1.0 / max_abs(&g).max(1e-300).max(1.0), |(s, y, _)| {
                dot(s, y) / dot(y, y)
            });
        q.iter_mut().for_each(|v| *v *= h0);
        for ((s, y, rho), a) in pairs.iter().zip(alphas.iter().rev()) {
            let b = rho * dot(y, &q);
            q.iter_mut().zip(s).for_each(|(qi, si)| *qi += (a - b) * si);
        }
        let dir: Vec<f64> = q.iter().map(|v| -v).collect();
        let mut slope = dot(&g, &dir);
        let dir = if slope >= 0.0 {
            // Not a descent direction (round-off): restart from -g.
            pairs.clear();
            slope = -dot(&g, &g);
            g.iter().map(|v| -v).collect()
        } else {
            dir
        };
        // Backtracking line search (Armijo, c1 = 1e-4).
        let mut step = 1.0;
        let mut accepted = None;
        for _ in 0..40 {
            let trial: Vec<f64> = theta.iter().zip(&dir).map(|(t, d)| t + step * d).collect();
            let (ft, gt) = p.loss_gradient(&trial);
            evaluations += 1;
            if ft.is_finite() && ft <= f + 1e-4 * step * slope {
                accepted = Some((trial, ft, gt));
                break;
            }
            step *= 0.5;
        }
        let Some((next, fn_, gn)) = accepted else {
            let small = max_abs(&g) <= gtol.max(1e-3);
            return out(theta, it - 1, evaluations, small, f, &g, "line_search");
        };
        let s: Vec<f64> = next.iter().zip(&theta).map(|(a, b)| a - b).collect();
        let y: Vec<f64> = gn.iter().zip(&g).map(|(a, b)| a - b).collect();
        let sy = dot(&s, &y);
        if sy > 1e-10 * dot(&y, &y) {
            if pairs.len() == HISTORY {
                pairs.pop_front();
            }
            pairs.push_back((s, y, 1.0 / sy));
        }
        let decrease = (f - fn_) / f.abs().max(fn_.abs()).max(1.0);
        theta = next;
        f = fn_;
        g = gn;
        if max_abs(&g) <= gtol {
            return out(theta, it, evaluations, true, f, &g, "gtol");
        }
        if decrease <= tol {
            return out(theta, it, evaluations, true, f, &g, "tol");
        }
    }
    out(theta, max_steps, evaluations, false, f, &g, "max_steps")
}

#[cfg(test)]
mod tests {
    #[test]
    fn exp_neg_is_accurate_to_a_few_ulp() {
        let mut worst = 0f64;
        let mut t = -40.0f64;
        while t <= 0.0 {
            let want = t.exp();
            worst = worst.max(((super::exp_neg(t) - want) / want).abs());
            t += 0.000_37;
        }
        assert!(worst < 1e-15, "{worst}");
        assert_eq!(super::exp_neg(0.0), 1.0);
    }
}
