//! cell-eval's metric set (Arc Institute; the Virtual Cell Challenge's
//! scorer), by its definitions in cell-eval 0.8.1: expression metrics on
//! pseudobulks and cells ([`expression_metrics`], the energy distances by
//! matrix products in [`energy`]), metrics comparing the
//! real and predicted DE tables ([`de_comparison`]), and the score against
//! a baseline ([`score`]).

pub mod de_comparison;
pub mod energy;
pub mod expression_metrics;
pub mod score;
