use thiserror::Error;

#[derive(Debug, Error)]
pub enum EngineError {
    #[error(transparent)]
    Data(#[from] pertbench_data::DataError),
    #[error("{context}: {source}")]
    Kernel {
        context: String,
        source: pertbench_kernels::KernelError,
    },
    #[error("{0}")]
    Msg(String),
}

impl EngineError {
    pub fn msg(m: impl Into<String>) -> Self {
        EngineError::Msg(m.into())
    }
    pub fn kernel(
        context: impl Into<String>,
    ) -> impl FnOnce(pertbench_kernels::KernelError) -> Self {
        let context = context.into();
        move |source| EngineError::Kernel { context, source }
    }
}

pub type Result<T> = std::result::Result<T, EngineError>;
