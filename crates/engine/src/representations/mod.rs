//! Representation kinds, one per file, each behind [`RepresentationKindImpl`];
//! [`implementation`] is the one place that maps a kind to its code.

mod external;
mod features;
mod pca;
mod random;
mod shuffled;

use crate::error::Result;
use crate::exec::outputs::{IngestOut, MatrixOut};
use crate::pipeline::{RepresentationKind, RepresentationSpec};
use pertbench_data::dataset::DataContext;

pub struct RepContext<'a> {
    pub dataset: &'a str,
    pub ingest: &'a IngestOut,
    /// For `shuffled`: the representation it permutes.
    pub base: Option<&'a MatrixOut>,
    pub seed: u64,
    pub data: &'a DataContext,
    /// How the representation's kernels run (see `MetricContext::par`).
    pub par: pertbench_kernels::Par,
    /// The node's record of its kernels' work.
    pub work: &'a pertbench_kernels::runtime::work::Work,
}

pub trait RepresentationKindImpl: Sync {
    /// Bumped when the output for the same parameters changes.
    fn version(&self) -> u32;
    /// Whether the seed changes the output (so seeds share a node if not).
    fn seeded(&self) -> bool;
    fn compute(&self, spec: &RepresentationSpec, ctx: &RepContext) -> Result<MatrixOut>;
}

pub fn implementation(kind: RepresentationKind) -> &'static dyn RepresentationKindImpl {
    match kind {
        RepresentationKind::Pca => &pca::Pca,
        RepresentationKind::Random => &random::Random,
        RepresentationKind::Shuffled => &shuffled::Shuffled,
        RepresentationKind::Features => &features::Features,
        RepresentationKind::Obsm | RepresentationKind::Table | RepresentationKind::Npy => {
            &external::External
        }
    }
}
