//! Statistics: seeded random streams (and numpy's, draw for draw), bootstrap intervals, ranks, the rank-sum (Mann-Whitney U) test, searchsorted, multiple testing, hypergeometric tails (Fisher's exact test), groupings, and distribution distances (energy, MMD) with their permutation tests.

pub mod bootstrap;
pub mod control_reference;
pub mod distribution;
pub mod grouping;
pub mod hypergeometric;
pub mod multiple_testing;
pub mod numpy_random;
pub mod rank_sum;
pub mod ranks;
pub mod rng;
pub mod search;
