//! Conversions between ndarray (the storage type) and faer (the solver type).

use faer::Mat;
use ndarray::Array2;

pub fn to_faer(x: &Array2<f64>) -> Mat<f64> {
    Mat::from_fn(x.nrows(), x.ncols(), |i, j| x[(i, j)])
}

pub fn from_faer(m: faer::MatRef<'_, f64>) -> Array2<f64> {
    Array2::from_shape_fn((m.nrows(), m.ncols()), |(i, j)| m[(i, j)])
}

/// Orthonormal basis of the columns of `y` (thin Q of a QR decomposition).
pub fn orthonormalize(y: &Array2<f64>) -> Array2<f64> {
    let q = to_faer(y).qr().compute_thin_Q();
    from_faer(q.as_ref())
}
