//! PCA of a sparse count matrix by randomized SVD (Halko, Martinsson & Tropp
//! 2011), centred implicitly: A_c = A - 1 mu^T is never formed, so the counts
//! stay sparse. Conventions follow scikit-learn `PCA(svd_solver="randomized")`:
//! oversampling 10, power iterations 7 when k < 0.1 min(n, g) else 4, QR
//! normalisation between iterations, and signs fixed so that each component's
//! largest-magnitude loading is positive.

use crate::linalg::dense::{from_faer, orthonormalize, to_faer};
use crate::runtime::work::Work;
use crate::sparse::column_blocks::SparseProducts;
use crate::sparse::csr::{ColumnIndex, CsrMatrix, RowParts};
use crate::stats::rng::stream;
use crate::{KernelError, Matrix};
use faer::Par;
use ndarray::{Array1, Array2, Axis};
use rand_distr::{Distribution, StandardNormal};

#[derive(Debug, Clone)]
pub struct PcaOptions {
    pub n_components: usize,
    pub oversamples: usize,
    /// None: scikit-learn's "auto" rule.
    pub power_iterations: Option<usize>,
    pub seed: u64,
    /// Largest copy of the counts regrouped by column (bytes, see
    /// [`crate::sparse::column_blocks::ColumnBlocks`]) that PCA builds for its
    /// products. Above it, or where the counts are too sparse for
    /// regrouping to pay, the products read the CSR matrix directly: slower,
    /// but with no memory beyond the matrix.
    pub regrouped_copy_limit: usize,
}

/// Default [`PcaOptions::regrouped_copy_limit`]: 4 GiB, about 800 million
/// non-zeros at 5 bytes each.
pub const REGROUPED_COPY_LIMIT: usize = 4 << 30;

impl PcaOptions {
    pub fn new(n_components: usize, seed: u64) -> Self {
        Self {
            n_components,
            oversamples: 10,
            power_iterations: None,
            seed,
            regrouped_copy_limit: REGROUPED_COPY_LIMIT,
        }
    }
}

pub struct PcaResult {
    /// n x k scores (A_c V).
    pub scores: Matrix,
    /// k x g loadings.
    pub components: Array2<f64>,
    /// Variance of each component (S^2 / (n - 1)).
    pub explained_variance: Vec<f64>,
}

pub use crate::sparse::spmm::{csr_dot, csr_t_dot};

fn column_means(a: &CsrMatrix) -> Array1<f64> {
    fn sums<I: ColumnIndex>(p: &RowParts<'_, I>, ncols: usize) -> Array1<f64> {
        let mut mu = Array1::<f64>::zeros(ncols);
        for (c, v) in p.indices.iter().zip(p.data) {
            mu[c.at()] += *v as f64;
        }
        mu
    }
    crate::with_rows!(a, p => sums(&p, a.ncols)) / a.nrows.max(1) as f64
}

/// A_c M = A M - 1 (mu^T M).
fn centred_dot(
    a: &SparseProducts<'_>,
    mu: &Array1<f64>,
    m: &Array2<f64>,
    par: Par,
    work: &Work,
) -> Array2<f64> {
    let shift = mu.dot(m);
    a.dot(m, par, work) - &shift
}

/// A_c^T M = A^T M - mu (1^T M).
fn centred_t_dot(
    a: &SparseProducts<'_>,
    mu: &Array1<f64>,
    m: &Array2<f64>,
    par: Par,
    work: &Work,
) -> Array2<f64> {
    let colsum = m.sum_axis(Axis(0));
    let outer = mu
        .view()
        .insert_axis(Axis(1))
        .dot(&colsum.view().insert_axis(Axis(0)));
    a.t_dot(m, par, work) - &outer
}

/// The sparse products run as `par` says (the same bits either way) and are
/// recorded in `work`.
pub fn randomized_pca(
    a: &CsrMatrix,
    opts: &PcaOptions,
    par: Par,
    work: &Work,
) -> Result<PcaResult, KernelError> {
    let (n, g) = (a.nrows, a.ncols);
    let k = opts.n_components;
    if k == 0 || k > n.min(g) {
        return Err(KernelError::NotEnough(format!(
            "n_components = {k} must be between 1 and min(samples, genes) = {}",
            n.min(g)
        )));
    }
    let l = (k + opts.oversamples).min(n.min(g));
    let iters = opts
        .power_iterations
        .unwrap_or(if (k as f64) < 0.1 * n.min(g) as f64 {
            7
        } else {
            4
        });
    // omega (g x l), the sketch and its orthonormal basis (n x l, twice),
    // B^T (g x l) and the scores (n x k), in f64.
    crate::runtime::machine::reserve(
        8 * (2 * g as u128 * l as u128 + 2 * n as u128 * l as u128 + n as u128 * k as u128),
        &format!("PCA of {n} samples x {g} genes with {k} components"),
    )?;
    let mu = column_means(a);
    let products = SparseProducts::new(a, opts.regrouped_copy_limit)?;
    let a = &products;
    let mut rng = stream(opts.seed, "pca-omega", 0);
    let omega = Array2::from_shape_simple_fn((g, l), || StandardNormal.sample(&mut rng));
    let mut q = orthonormalize(&centred_dot(a, &mu, &omega, par, work));
    for _ in 0..iters {
        let z = orthonormalize(&centred_t_dot(a, &mu, &q, par, work));
        q = orthonormalize(&centred_dot(a, &mu, &z, par, work));
    }
    // B = Q^T A_c (l x g), computed as (A_c^T Q)^T.
    let bt = centred_t_dot(a, &mu, &q, par, work);
    let svd = to_faer(&bt.t().to_owned())
        .thin_svd()
        .map_err(|e| KernelError::LinAlg(format!("SVD of the projected matrix: {e:?}")))?;
    let ub = from_faer(svd.U());
    let v = from_faer(svd.V()); // g x l
    let s = svd.S().column_vector();
    let mut components = v.slice(ndarray::s![.., ..k]).t().to_owned();
    let mut uk = q.dot(&ub.slice(ndarray::s![.., ..k]));
    for c in 0..k {
        let row = components.row(c);
        let imax = row
            .iter()
            .enumerate()
            .fold((0, 0.0f64), |acc, (i, x)| {
                if x.abs() > acc.1 {
                    (i, x.abs())
                } else {
                    acc
                }
            })
            .0;
        let sign = if row[imax] < 0.0 { -1.0 } else { 1.0 };
        components.row_mut(c).mapv_inplace(|x| x * sign);
        uk.column_mut(c).mapv_inplace(|x| x * sign * s[c]);
    }
    let explained_variance = (0..k)
        .map(|c| s[c] * s[c] / (n as f64 - 1.0).max(1.0))
        .collect();
    Ok(PcaResult {
        scores: uk.mapv(|x| x as f32),
        components,
        explained_variance,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linalg::dense::to_faer;

    /// A PCA whose sketch no machine holds (10^7 x 10^7, 10^5 components;
    /// the matrix itself is empty) is refused before allocating.
    #[test]
    fn pca_refuses_what_memory_cannot_hold() {
        let n = 10_000_000;
        let a = CsrMatrix::from_parts(
            n,
            n,
            vec![0u64; n + 1].into(),
            crate::sparse::csr::Indices::U32(Vec::new().into()),
            Vec::new().into(),
        )
        .unwrap();
        let err = randomized_pca(
            &a,
            &PcaOptions::new(100_000, 0),
            Par::rayon(0),
            &Work::new(),
        )
        .err()
        .expect("refused");
        assert!(
            matches!(&err, KernelError::Memory(m) if m.contains("PCA of 10000000 samples")),
            "{err}"
        );
    }

    fn random_csr(n: usize, g: usize, seed: u64) -> CsrMatrix {
        use rand::Rng;
        let mut rng = stream(seed, "test-csr", 0);
        let mut indptr = vec![0u64];
        let (mut idx, mut data) = (vec![], vec![]);
        for i in 0..n {
            for c in 0..g {
                // Low-rank structure plus sparse noise.
                if rng.random::<f64>() < 0.3 {
                    idx.push(c as u32);
                    data.push(((i % 3) * (c % 4)) as f32 + rng.random_range(0..3) as f32);
                }
            }
            indptr.push(data.len() as u64);
        }
        CsrMatrix::new(n, g, indptr, idx, data).unwrap()
    }

    #[test]
    fn sparse_products_equal_dense() {
        let a = random_csr(30, 7, 1);
        let dense = Array2::from_shape_fn((30, 7), |(i, j)| {
            a.row(i)
                .find(|(c, _)| *c == j)
                .map(|(_, v)| v as f64)
                .unwrap_or(0.0)
        });
        let m = Array2::from_shape_fn((7, 3), |(i, j)| (i as f64 - j as f64) * 0.5);
        let mt = Array2::from_shape_fn((30, 2), |(i, j)| (i * j) as f64 * 0.1);
        assert!(
            (csr_dot(&a, &m, Par::rayon(0), &Work::new()) - dense.dot(&m))
                .iter()
                .all(|v| v.abs() < 1e-9)
        );
        assert!(
            (csr_t_dot(&a, &mt, Par::rayon(0), &Work::new()) - dense.t().dot(&mt))
                .iter()
                .all(|v| v.abs() < 1e-9)
        );
    }

    #[test]
    fn matches_exact_svd_of_centred_matrix() {
        let a = random_csr(200, 12, 2);
        let dense = Array2::from_shape_fn((200, 12), |(i, j)| {
            a.row(i)
                .find(|(c, _)| *c == j)
                .map(|(_, v)| v as f64)
                .unwrap_or(0.0)
        });
        let centred = &dense - &dense.mean_axis(Axis(0)).unwrap();
        let svd = to_faer(&centred).thin_svd().unwrap();
        let s = svd.S().column_vector();
        let res = randomized_pca(&a, &PcaOptions::new(3, 7), Par::rayon(0), &Work::new()).unwrap();
        for c in 0..3 {
            let want = s[c] * s[c] / 199.0;
            let got = res.explained_variance[c];
            assert!(
                (got - want).abs() / want < 1e-6,
                "component {c}: {got} vs {want}"
            );
            // Scores equal A_c v for the returned (sign-fixed) loading.
            let v = res.components.row(c);
            let proj = centred.dot(&v);
            let worst = proj
                .iter()
                .zip(res.scores.column(c))
                .map(|(p, s)| (p - *s as f64).abs())
                .fold(0.0, f64::max);
            assert!(worst < 1e-3, "scores of component {c} differ by {worst}");
        }
        // Again, with sequential products: the same bits.
        let again = randomized_pca(&a, &PcaOptions::new(3, 7), Par::Seq, &Work::new()).unwrap();
        assert_eq!(res.scores, again.scores);
    }

    /// The regrouped copy (dense enough, within the limit) and the CSR
    /// products (limit 0) give the same components up to rounding.
    #[test]
    fn regrouped_and_csr_products_agree() {
        use crate::sparse::column_blocks::ColumnBlocks;
        let a = random_csr(300, 40, 3);
        assert!(ColumnBlocks::pays_for(&a));
        assert!(ColumnBlocks::bytes_for(&a) <= REGROUPED_COPY_LIMIT);
        let regrouped =
            randomized_pca(&a, &PcaOptions::new(4, 1), Par::rayon(0), &Work::new()).unwrap();
        let csr = randomized_pca(
            &a,
            &PcaOptions {
                regrouped_copy_limit: 0,
                ..PcaOptions::new(4, 1)
            },
            Par::rayon(0),
            &Work::new(),
        )
        .unwrap();
        for (x, y) in regrouped
            .explained_variance
            .iter()
            .zip(&csr.explained_variance)
        {
            assert!((x - y).abs() <= 1e-9 * y, "{x} vs {y}");
        }
        let worst = (&regrouped.components - &csr.components)
            .iter()
            .fold(0.0f64, |m, x| m.max(x.abs()));
        assert!(worst < 1e-8, "components differ by {worst}");
    }
}
