//! The process around the kernels: thread-count independence, the machine's measured peak, peak memory, and the work (operations) kernels count.

pub mod machine;
pub mod parallel;
pub mod work;
