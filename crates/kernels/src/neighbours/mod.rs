//! Exact k-nearest-neighbour search by blocked matrix products.

pub mod knn;
