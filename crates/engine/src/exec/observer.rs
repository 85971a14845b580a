//! What a run tells its caller while it runs. The scheduler reports each
//! node as it finishes (its outcome holds the node's wall time); the caller
//! decides what to show (the CLI prints one progress line per node, tests
//! and libraries stay silent). Observers are called from the scheduler's
//! worker threads, in completion order.

use super::scheduler::NodeOutcome;
use crate::plan::Node;

/// One node done (computed, reused, failed or not run).
pub struct NodeFinished<'a> {
    pub node: &'a Node,
    pub outcome: &'a NodeOutcome,
    /// Nodes finished so far, this one included.
    pub finished: usize,
    /// Nodes in the DAG.
    pub total: usize,
}

pub trait Observer: Sync {
    /// Called once per node, when it is done.
    fn node_finished(&self, _event: &NodeFinished<'_>) {}
    /// A free-form line about the run (e.g. a benchmark's machine
    /// description before it starts).
    fn message(&self, _text: &str) {}
}

/// Reports nothing.
pub struct Silent;

impl Observer for Silent {}
