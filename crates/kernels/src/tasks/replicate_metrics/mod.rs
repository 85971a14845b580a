//! cytominer-eval's replicate metrics (Way et al.; cytomining/cytominer-eval):
//! every pair of profiles is compared by a correlation across features
//! (pandas' `DataFrame.corr`: Pearson, or Spearman on average ranks) and the
//! pairs are read as replicate or not. Replicate reproducibility (percent
//! replicating), precision and recall at k, enrichment (Fisher's exact test
//! of replicates among the top pairs) and grit (replicates of a group scored
//! against controls) all read one [`Correlations`] triangle.

pub mod enrichment;
pub mod grit;
pub mod mp_value;
pub mod precision_recall;
pub mod reproducibility;

use crate::linalg::cosine::UpperTriangle;
use crate::runtime::work::Work;
use crate::stats::ranks::average_ranks;
use crate::KernelError;
use ndarray::{Array2, ArrayView2};

/// How two profiles are compared (cytominer-eval's `similarity_metric`,
/// pandas' `corr(method=...)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProfileCorrelation {
    Pearson,
    /// Pearson on each profile's average ranks across features.
    Spearman,
}

impl ProfileCorrelation {
    pub fn name(self) -> &'static str {
        match self {
            ProfileCorrelation::Pearson => "pearson",
            ProfileCorrelation::Spearman => "spearman",
        }
    }
}

/// The largest triangle of pair correlations kept (f64 each): 4 GB, 32,768
/// profiles.
pub const MAX_TRIANGLE_BYTES: usize = 1 << 32;

/// The correlation of every pair of the profiles that vary: `kept[i]` is
/// the input row of triangle position i; a profile with one value in every
/// feature has no correlation with any other (pandas gives NaN, which
/// cytominer-eval's melt drops) and is left out, its row listed in
/// `constant`.
pub struct Correlations {
    pub triangle: UpperTriangle,
    pub kept: Vec<usize>,
    pub constant: Vec<usize>,
}

impl Correlations {
    /// Correlations of the rows of `x`; NaN or infinite values are an
    /// error naming the row and column.
    pub fn new(
        x: ArrayView2<'_, f32>,
        method: ProfileCorrelation,
        work: &Work,
    ) -> Result<Self, KernelError> {
        crate::error::check_finite_rows(x)?;
        let (kept, constant): (Vec<usize>, Vec<usize>) = (0..x.nrows()).partition(|&r| {
            let row = x.row(r);
            row.iter().any(|&v| v != row[0])
        });
        let n = kept.len();
        let bytes = n.saturating_mul(n.saturating_sub(1)) / 2 * 8;
        if bytes > MAX_TRIANGLE_BYTES {
            return Err(KernelError::Memory(format!(
                "the correlations of all {n} pairs of profiles would take {:.1} GB, above the {} GB this metric keeps; score a subset of the samples (a plate at a time) or use `map`, which ranks in blocks",
                bytes as f64 / 1e9,
                MAX_TRIANGLE_BYTES >> 30
            )));
        }
        let d = x.ncols();
        let mut centred = Array2::<f64>::zeros((n, d));
        for (i, &r) in kept.iter().enumerate() {
            let values: Vec<f64> = x.row(r).iter().map(|&v| f64::from(v)).collect();
            let values = match method {
                ProfileCorrelation::Pearson => values,
                ProfileCorrelation::Spearman => average_ranks(&values),
            };
            let mean = values.iter().sum::<f64>() / d as f64;
            for (j, v) in values.iter().enumerate() {
                centred[(i, j)] = v - mean;
            }
        }
        // pandas' arithmetic: the sum of products of centred values over the
        // square root of the product of the sums of squares. Spearman's
        // centred ranks are multiples of 1/2, so every sum is exact and
        // pairs whose correlations are equal get equal doubles, as in
        // pandas (a pair tying a quantile resolves as there).
        let squares: Vec<f64> = centred
            .outer_iter()
            .map(|r| r.iter().map(|v| v * v).sum())
            .collect();
        let triangle = UpperTriangle::of_products(&centred, work, |i, j, dot| {
            dot / (squares[i] * squares[j]).sqrt()
        });
        Ok(Correlations {
            triangle,
            kept,
            constant,
        })
    }

    pub fn len(&self) -> usize {
        self.kept.len()
    }

    pub fn is_empty(&self) -> bool {
        self.kept.is_empty()
    }

    /// The correlation of triangle positions a != b.
    pub fn get(&self, a: usize, b: usize) -> f64 {
        self.triangle.get(a, b)
    }
}

/// Whether two profiles are replicates: both have a replicate group (a
/// code of their replicate columns' values; None where one is NA) and it
/// is the same.
pub(crate) fn replicates(group: &[Option<u32>], a: usize, b: usize) -> bool {
    matches!((group[a], group[b]), (Some(x), Some(y)) if x == y)
}

/// pandas' median: the mean of the two middle values of an even count.
pub fn median(values: &mut [f64]) -> f64 {
    values.sort_unstable_by(f64::total_cmp);
    let n = values.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

#[cfg(test)]
pub(crate) mod test_support {
    use super::*;
    use ndarray::Array2;

    /// Pearson's correlation of two slices, computed directly.
    pub fn pearson(a: &[f64], b: &[f64]) -> f64 {
        let n = a.len() as f64;
        let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
        let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
        for (x, y) in a.iter().zip(b) {
            sab += (x - ma) * (y - mb);
            saa += (x - ma) * (x - ma);
            sbb += (y - mb) * (y - mb);
        }
        sab / (saa * sbb).sqrt()
    }

    /// A seeded matrix of `n` profiles in `d` features.
    pub fn profiles(n: usize, d: usize, seed: u64) -> Array2<f32> {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        Array2::from_shape_fn((n, d), |_| rng.random_range(-1.0f32..1.0))
    }

    pub fn correlations(x: &Array2<f32>, method: ProfileCorrelation) -> Correlations {
        Correlations::new(x.view(), method, &Work::new()).unwrap()
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::*;
    use super::*;

    #[test]
    fn pearson_and_spearman_as_defined() {
        let x = profiles(7, 9, 1);
        let c = correlations(&x, ProfileCorrelation::Pearson);
        let s = correlations(&x, ProfileCorrelation::Spearman);
        let row = |r: usize| x.row(r).iter().map(|&v| f64::from(v)).collect::<Vec<_>>();
        for a in 0..7 {
            for b in 0..7 {
                if a == b {
                    continue;
                }
                assert!((c.get(a, b) - pearson(&row(a), &row(b))).abs() < 1e-14);
                let rs = pearson(&average_ranks(&row(a)), &average_ranks(&row(b)));
                assert!((s.get(a, b) - rs).abs() < 1e-14);
            }
        }
    }

    #[test]
    fn constant_profiles_are_left_out_and_non_finite_values_named() {
        let mut x = profiles(5, 4, 2);
        x.row_mut(2).fill(0.25);
        let c = correlations(&x, ProfileCorrelation::Pearson);
        assert_eq!(c.kept, vec![0, 1, 3, 4]);
        assert_eq!(c.constant, vec![2]);
        x[(3, 1)] = f32::NAN;
        let e = Correlations::new(x.view(), ProfileCorrelation::Pearson, &Work::new())
            .err()
            .unwrap();
        assert!(e.to_string().contains("row 3, column 1"), "{e}");
    }

    /// Pairs with the same Spearman correlation get the same double, the
    /// correctly rounded one (pandas' arithmetic): 0.8 for one swap of
    /// neighbours in four.
    #[test]
    fn equal_spearman_correlations_are_equal_doubles() {
        let x = ndarray::array![
            [1.0f32, 2.0, 3.0, 4.0],
            [2.0, 1.0, 3.0, 4.0],
            [1.0, 2.0, 4.0, 3.0],
            [1.0, 3.0, 2.0, 4.0]
        ];
        let s = correlations(&x, ProfileCorrelation::Spearman);
        for b in 1..4 {
            assert_eq!(s.get(0, b), 0.8);
        }
    }

    #[test]
    fn spearman_ties_take_average_ranks() {
        let x = ndarray::array![[1.0f32, 1.0, 2.0, 3.0], [4.0, 3.0, 2.0, 1.0]];
        let s = correlations(&x, ProfileCorrelation::Spearman);
        // ranks (1.5, 1.5, 3, 4) against (4, 3, 2, 1): scipy.stats.spearmanr
        // gives -0.9486832980505139.
        assert!((s.get(0, 1) + 0.948_683_298_050_513_9).abs() < 1e-14);
    }
}
