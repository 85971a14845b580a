//! The arithmetic of each task and probe: differential expression, consistency, recall, cytominer-eval's replicate metrics, pertpy's group distances, the kNN vote, iLISI, silhouette, the decoder, discrimination, transfer and rewiring.

pub mod cell_eval;
pub mod consistency;
pub mod decoder;
pub mod differential_expression;
pub mod discrimination;
pub mod group_distance;
pub mod ilisi;
pub mod mean_average_precision;
pub mod recall;
pub mod replicate_metrics;
pub mod rewiring;
pub mod silhouette;
pub mod transfer;
pub mod vote;
