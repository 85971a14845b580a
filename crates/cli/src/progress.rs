//! Progress on stderr while a run goes: one line per node as it finishes
//! (`[  k/n] kind label what happened`), and the run's own messages.

use pertbench_engine::exec::observer::{NodeFinished, Observer, Silent};
use pertbench_engine::exec::scheduler::NodeOutcome;

/// Prints one line per node on stderr.
pub struct ProgressLines;

impl Observer for ProgressLines {
    fn node_finished(&self, e: &NodeFinished<'_>) {
        let what = match e.outcome {
            NodeOutcome::Reused => "reused".to_string(),
            NodeOutcome::Computed { seconds } => format!("computed in {seconds:.2}s"),
            NodeOutcome::Repaired { seconds, reason } => {
                format!("recomputed in {seconds:.2}s (cached copy was corrupt: {reason})")
            }
            NodeOutcome::Failed { error } => format!("FAILED: {error}"),
            NodeOutcome::NotRun { failed_input } => {
                format!("not run: its input {failed_input} failed")
            }
        };
        eprintln!(
            "[{:>4}/{}] {:<14} {} {what}",
            e.finished, e.total, e.node.kind, e.node.label
        );
    }

    fn message(&self, text: &str) {
        eprint!("{text}");
    }
}

/// Progress lines unless `quiet`.
pub fn observer(quiet: bool) -> &'static dyn Observer {
    if quiet {
        &Silent
    } else {
        &ProgressLines
    }
}
