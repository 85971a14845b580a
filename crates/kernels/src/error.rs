use thiserror::Error;

/// Errors raised by kernels. Messages name the quantity at fault so the engine
/// can prefix them with the file or node they came from.
#[derive(Debug, Error, PartialEq)]
pub enum KernelError {
    #[error("non-finite value (NaN or Inf) at row {row}, column {column}")]
    NonFinite { row: usize, column: usize },
    #[error("shape mismatch: {0}")]
    Shape(String),
    #[error("not enough data: {0}")]
    NotEnough(String),
    #[error("linear algebra failed: {0}")]
    LinAlg(String),
    /// The memory a computation would need, estimated before allocating,
    /// exceeds what the machine has available.
    #[error("{0}")]
    Memory(String),
}

/// Fails on the first NaN or infinite entry, naming its row and column.
pub fn check_finite(x: &crate::Matrix) -> Result<(), KernelError> {
    check_finite_rows(x.view())
}

/// [`check_finite`] of a view, f32 or f64.
pub fn check_finite_rows<T: Copy + Into<f64>>(
    x: ndarray::ArrayView2<'_, T>,
) -> Result<(), KernelError> {
    for (row, r) in x.outer_iter().enumerate() {
        if let Some(column) = r.iter().position(|v| !(*v).into().is_finite()) {
            return Err(KernelError::NonFinite { row, column });
        }
    }
    Ok(())
}
