//! Running a DAG: each level of independent nodes runs in parallel; a node
//! whose cached output verifies is reused without loading its inputs; a
//! missing or corrupt node is computed and committed atomically.

use crate::error::{EngineError, Result};
use crate::exec::cache::{Cache, CacheState};
use crate::exec::observer::{NodeFinished, Observer};
use crate::exec::outputs::{IngestOut, MatrixOut, Output};
use crate::metrics::{self, MetricContext};
use crate::plan::{Dag, Node, NodeKind, Op};
use crate::representations::{self, RepContext};
use pertbench_data::dataset::{self, DataContext};
use pertbench_kernels::postprocess::{by_name, BatchLayout};
use pertbench_kernels::runtime::work::Work;
use pertbench_kernels::Par;
use rayon::prelude::*;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

#[derive(Debug, Clone, PartialEq)]
pub enum NodeOutcome {
    Computed {
        seconds: f64,
    },
    Reused,
    /// The cached copy failed verification and was recomputed.
    Repaired {
        seconds: f64,
        reason: String,
    },
    /// Computing it failed; the other nodes ran on.
    Failed {
        error: String,
    },
    /// Not run: an input failed (named).
    NotRun {
        failed_input: String,
    },
}

#[derive(Debug, Clone)]
pub struct RunSummary {
    pub outcomes: Vec<NodeOutcome>,
    /// Peak resident memory while each computed node ran (sequential runs
    /// on Linux only: the peak is reset before each node).
    pub peak_rss: Vec<Option<u64>>,
    /// Floating-point operations the kernels counted in each computed node
    /// (sequential runs only).
    pub flops: Vec<Option<u64>>,
    /// The heavy kernels each computed node ran, with their own time and
    /// operations (sequential runs only; empty otherwise).
    pub kernels: Vec<Vec<pertbench_kernels::runtime::work::KernelWork>>,
}

impl RunSummary {
    pub fn computed(&self) -> usize {
        self.outcomes
            .iter()
            .filter(|o| {
                matches!(
                    o,
                    NodeOutcome::Computed { .. } | NodeOutcome::Repaired { .. }
                )
            })
            .count()
    }
    /// Nodes that failed, with their errors (in DAG order).
    pub fn failed(&self) -> Vec<(usize, &str)> {
        self.outcomes
            .iter()
            .enumerate()
            .filter_map(|(i, o)| match o {
                NodeOutcome::Failed { error } => Some((i, error.as_str())),
                _ => None,
            })
            .collect()
    }
    /// Nodes not run because an input failed.
    pub fn not_run(&self) -> usize {
        self.outcomes
            .iter()
            .filter(|o| matches!(o, NodeOutcome::NotRun { .. }))
            .count()
    }
    pub fn reused(&self) -> usize {
        self.outcomes
            .iter()
            .filter(|o| matches!(o, NodeOutcome::Reused))
            .count()
    }
    pub fn repaired(&self) -> usize {
        self.outcomes
            .iter()
            .filter(|o| matches!(o, NodeOutcome::Repaired { .. }))
            .count()
    }
}

pub struct Runner<'a> {
    pub dag: &'a Dag,
    pub cache: &'a Cache,
    pub data: &'a DataContext,
    /// Told of each node as it finishes.
    pub observer: &'a dyn Observer,
    /// Run one node at a time (for benchmarks: each node's time and peak
    /// memory are its own).
    pub sequential: bool,
}

/// How the heavy kernels of a level's nodes run. With at least two nodes
/// to compute per thread, the nodes keep every thread busy: each node's
/// kernels run on its own thread (`Par::Seq`), with no nested scheduling.
/// With fewer, the nodes' kernels spread over the pool (`Par::rayon(0)`).
/// Either way the results are the same bits: kernels split their work
/// into fixed blocks and add them in order.
pub fn kernel_par(nodes_to_compute: usize, threads: usize) -> Par {
    if nodes_to_compute >= 2 * threads.max(1) {
        Par::Seq
    } else {
        Par::rayon(0)
    }
}

fn depth(dag: &Dag) -> Vec<usize> {
    let mut d = vec![0; dag.nodes.len()];
    for (i, n) in dag.nodes.iter().enumerate() {
        d[i] = n.inputs.iter().map(|&j| d[j] + 1).max().unwrap_or(0);
    }
    d
}

/// Every node once, each after its inputs, depth first: the metrics that
/// share an input (one post-processing) are run together, right after it,
/// so that its output can be dropped before the next one is computed.
/// Metrics are grouped by their last-built input, in the order of the DAG.
fn depth_first_order(dag: &Dag) -> Vec<usize> {
    let n = dag.nodes.len();
    let mut sinks: Vec<usize> = (0..n)
        .filter(|&i| matches!(dag.nodes[i].op, Op::Metric { .. }))
        .collect();
    sinks.sort_by_key(|&i| (dag.nodes[i].inputs.iter().max().copied(), i));
    let mut order = Vec::with_capacity(n);
    let mut seen = vec![false; n];
    fn visit(dag: &Dag, i: usize, seen: &mut [bool], order: &mut Vec<usize>) {
        if seen[i] {
            return;
        }
        seen[i] = true;
        for &j in &dag.nodes[i].inputs {
            visit(dag, j, seen, order);
        }
        order.push(i);
    }
    for i in sinks.into_iter().chain(0..n) {
        visit(dag, i, &mut seen, &mut order);
    }
    order
}

thread_local! {
    /// Whether this thread holds a node lock. Rayon may run another node on a
    /// thread that waits inside a kernel; such a nested node never waits for
    /// a lock (it computes and publishes idempotently instead), so two
    /// processes can never wait for each other in a cycle.
    static HOLDS_NODE_LOCK: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// A node's lock, held while it is computed and published.
struct NodeGuard {
    lock: Option<pertbench_data::durable::Lock>,
    waited: bool,
    outermost: bool,
}

impl NodeGuard {
    fn acquire(cache: &Cache, kind: NodeKind, key: &str) -> Result<NodeGuard> {
        let outermost = !HOLDS_NODE_LOCK.with(|h| h.get());
        if !outermost {
            let lock = cache.node_lock(kind, key, false)?;
            return Ok(NodeGuard {
                lock,
                waited: false,
                outermost,
            });
        }
        // Free at once: nobody else computes it.
        if let Some(lock) = cache.node_lock(kind, key, false)? {
            HOLDS_NODE_LOCK.with(|h| h.set(true));
            return Ok(NodeGuard {
                lock: Some(lock),
                waited: false,
                outermost,
            });
        }
        let lock = cache.node_lock(kind, key, true)?;
        HOLDS_NODE_LOCK.with(|h| h.set(true));
        Ok(NodeGuard {
            lock,
            waited: true,
            outermost,
        })
    }

    /// Whether another process held the node when this one asked for it.
    fn waited_for_another(&self) -> bool {
        self.waited
    }
}

impl Drop for NodeGuard {
    fn drop(&mut self) {
        drop(self.lock.take());
        if self.outermost {
            HOLDS_NODE_LOCK.with(|h| h.set(false));
        }
    }
}

impl Runner<'_> {
    /// Runs the DAG; returns the summary and every metric node's output.
    pub fn run(&self) -> Result<(RunSummary, Vec<Option<Output>>)> {
        // faer's products and decompositions in a fixed number of parts:
        // results independent of the thread count.
        pertbench_kernels::runtime::parallel::fix_faer_parallelism();
        let n = self.dag.nodes.len();
        let states: Vec<CacheState> = self
            .dag
            .nodes
            .par_iter()
            .map(|nd| self.cache.state(nd.kind, &nd.key))
            .collect();
        let slots: Vec<Mutex<Option<Output>>> = (0..n).map(|_| Mutex::new(None)).collect();
        let outcomes: Vec<Mutex<Option<NodeOutcome>>> = (0..n).map(|_| Mutex::new(None)).collect();
        let depths = depth(self.dag);
        let max_depth = depths.iter().copied().max().unwrap_or(0);
        let done = AtomicUsize::new(0);
        let peaks: Vec<Mutex<Option<u64>>> = (0..n).map(|_| Mutex::new(None)).collect();
        let flops: Vec<Mutex<Option<u64>>> = (0..n).map(|_| Mutex::new(None)).collect();
        let kernels: Vec<Mutex<Vec<pertbench_kernels::runtime::work::KernelWork>>> =
            (0..n).map(|_| Mutex::new(Vec::new())).collect();
        // Consumers still to compute, per node: an input's output is dropped
        // from memory once its last consumer has run (metric outputs are
        // small and kept for the results table).
        let pending: Vec<AtomicUsize> = (0..n).map(|_| AtomicUsize::new(0)).collect();
        for (i, nd) in self.dag.nodes.iter().enumerate() {
            if !matches!(states[i], CacheState::Valid(_)) {
                for &j in &nd.inputs {
                    pending[j].fetch_add(1, Ordering::SeqCst);
                }
            }
        }

        let get = |i: usize| -> Result<Output> {
            let mut slot = slots[i].lock().expect("slot lock");
            if let Some(o) = slot.as_ref() {
                return Ok(o.clone());
            }
            // Nodes computed this run are already in their slot; the rest were
            // verified when the run started, so their files are not re-hashed.
            let nd = &self.dag.nodes[i];
            let CacheState::Valid(rec) = &states[i] else {
                return Err(EngineError::msg(format!(
                    "internal: node {} has no valid output",
                    nd.label
                )));
            };
            let out = Output::read(nd.kind, &self.cache.dir(nd.kind, &nd.key), &rec.meta)?;
            *slot = Some(out.clone());
            Ok(out)
        };

        // A node that has run (or failed, or could not run) no longer needs
        // its inputs: each input's output is dropped from memory once its
        // last consumer is done (metric outputs are kept for the results).
        let release_inputs = |nd: &Node| {
            for &j in &nd.inputs {
                if pending[j].fetch_sub(1, Ordering::SeqCst) == 1
                    && !matches!(self.dag.nodes[j].op, Op::Metric { .. })
                {
                    *slots[j].lock().expect("slot lock") = None;
                }
            }
        };
        // A node whose computation fails is recorded, not fatal: the nodes
        // that do not depend on it run on (issue 20's run semantics).
        let failed: Vec<std::sync::atomic::AtomicBool> = (0..n)
            .map(|_| std::sync::atomic::AtomicBool::new(false))
            .collect();
        let run_node = |i: usize, par: Par| -> Result<()> {
            let nd = &self.dag.nodes[i];
            let failed_input = nd
                .inputs
                .iter()
                .find(|&&j| failed[j].load(Ordering::SeqCst))
                .map(|&j| self.dag.nodes[j].label.clone());
            let attempt = || -> Result<NodeOutcome> {
                Ok(match &states[i] {
                    CacheState::Valid(_) => NodeOutcome::Reused,
                    st => {
                        // Another process may be computing this node: wait
                        // for it, then use its result (a thread already
                        // holding a node lock does not wait, see NodeGuard).
                        let guard = NodeGuard::acquire(self.cache, nd.kind, &nd.key)?;
                        // Published by another process since the run began?
                        if guard.waited_for_another() || self.cache.dir(nd.kind, &nd.key).exists() {
                            if let CacheState::Valid(rec) = self.cache.state(nd.kind, &nd.key) {
                                let out = Output::read(
                                    nd.kind,
                                    &self.cache.dir(nd.kind, &nd.key),
                                    &rec.meta,
                                )?;
                                *slots[i].lock().expect("slot lock") = Some(out);
                                release_inputs(nd);
                                return Ok(NodeOutcome::Reused);
                            }
                        }
                        let measure = self.sequential
                            && pertbench_kernels::runtime::machine::reset_peak_rss();
                        // The node's own record of its kernels' work.
                        let work = Work::new();
                        let t = Instant::now();
                        let inputs: Vec<Output> =
                            nd.inputs.iter().map(|&j| get(j)).collect::<Result<_>>()?;
                        let out = self.compute(nd, &inputs, par, &work).map_err(|e| {
                            EngineError::msg(format!("node {} ({}): {e}", nd.label, nd.kind))
                        })?;
                        let o2 = out.clone();
                        self.cache
                            .commit(nd.kind, &nd.key, &nd.label, |dir| o2.write(dir))?;
                        *slots[i].lock().expect("slot lock") = Some(out);
                        let seconds = t.elapsed().as_secs_f64();
                        if measure {
                            *peaks[i].lock().expect("peak lock") =
                                pertbench_kernels::runtime::machine::peak_rss_bytes();
                        }
                        if self.sequential {
                            *flops[i].lock().expect("flops lock") = Some(work.flops());
                            *kernels[i].lock().expect("kernels lock") = work.kernels();
                        }
                        drop(guard);
                        release_inputs(nd);
                        pertbench_kernels::runtime::machine::release_free_memory();
                        match st {
                            CacheState::Corrupt(reason) => NodeOutcome::Repaired {
                                seconds,
                                reason: reason.clone(),
                            },
                            _ => NodeOutcome::Computed { seconds },
                        }
                    }
                })
            };
            let outcome = match failed_input {
                Some(failed_input) => NodeOutcome::NotRun { failed_input },
                None => attempt().unwrap_or_else(|e| NodeOutcome::Failed {
                    error: e.to_string(),
                }),
            };
            if matches!(
                outcome,
                NodeOutcome::Failed { .. } | NodeOutcome::NotRun { .. }
            ) {
                failed[i].store(true, Ordering::SeqCst);
                release_inputs(nd);
            }
            let finished = done.fetch_add(1, Ordering::SeqCst) + 1;
            self.observer.node_finished(&NodeFinished {
                node: nd,
                outcome: &outcome,
                finished,
                total: n,
            });
            *outcomes[i].lock().expect("outcome lock") = Some(outcome);
            Ok(())
        };
        if self.sequential {
            // One node at a time, its kernels on every thread.
            depth_first_order(self.dag)
                .into_iter()
                .try_for_each(|i| run_node(i, Par::rayon(0)))?;
        } else {
            for level in 0..=max_depth {
                let todo: Vec<usize> = (0..n).filter(|&i| depths[i] == level).collect();
                let to_compute = todo
                    .iter()
                    .filter(|&&i| !matches!(states[i], CacheState::Valid(_)))
                    .count();
                let par = kernel_par(to_compute, rayon::current_num_threads());
                todo.par_iter().try_for_each(|&i| run_node(i, par))?;
            }
        }
        let mut metric_outputs: Vec<Option<Output>> = vec![None; n];
        for c in &self.dag.cells {
            if metric_outputs[c.metric_node].is_none()
                && !failed[c.metric_node].load(Ordering::SeqCst)
            {
                metric_outputs[c.metric_node] = Some(get(c.metric_node)?);
            }
        }
        let outcomes = outcomes
            .into_iter()
            .map(|m| m.into_inner().unwrap().expect("every node ran"))
            .collect();
        let peak_rss = peaks.into_iter().map(|m| m.into_inner().unwrap()).collect();
        let flops = flops.into_iter().map(|m| m.into_inner().unwrap()).collect();
        let kernels = kernels
            .into_iter()
            .map(|m| m.into_inner().unwrap())
            .collect();
        Ok((
            RunSummary {
                outcomes,
                peak_rss,
                flops,
                kernels,
            },
            metric_outputs,
        ))
    }

    fn compute(&self, nd: &Node, inputs: &[Output], par: Par, work: &Work) -> Result<Output> {
        match &nd.op {
            Op::Ingest { dataset } => {
                // An h5ad's X streams into a count cache beside the node
                // store; committing the node links its files.
                let parent = self.cache.root.join("ingest");
                std::fs::create_dir_all(&parent)
                    .map_err(|e| EngineError::msg(format!("{}: {e}", parent.display())))?;
                let scratch = tempfile::Builder::new()
                    .prefix(&pertbench_data::durable::temp_prefix("counts"))
                    .tempdir_in(&parent)
                    .map_err(|e| EngineError::msg(format!("{}: {e}", parent.display())))?;
                let d = dataset::load_with(
                    dataset,
                    self.data,
                    &dataset::LoadOptions {
                        counts_to: Some(scratch.path().join("counts")),
                        block_values: 0,
                    },
                )?;
                let streamed = d.counts.as_ref().is_some_and(|c| c.is_mapped());
                let expression_mean = d
                    .counts
                    .as_ref()
                    .map(|c| IngestOut::expression_column_means(c, d.values))
                    .unwrap_or_default();
                Ok(Output::Ingest(Arc::new(IngestOut {
                    samples: d.samples,
                    source_rows: d.source_rows,
                    n_file_rows: d.n_file_rows,
                    counts: d.counts,
                    genes: d.genes,
                    expression_mean,
                    values: d.values,
                    dropped: d.dropped,
                    streamed_counts: streamed.then(|| Arc::new(scratch)),
                })))
            }
            Op::Representation {
                dataset,
                spec,
                seed,
            } => {
                let ingest = inputs[0].ingest()?;
                let base = inputs.get(1).map(|o| o.matrix()).transpose()?;
                let ctx = RepContext {
                    dataset,
                    ingest,
                    base: base.map(|b| b.as_ref()),
                    seed: *seed,
                    data: self.data,
                    par,
                    work,
                };
                let out = representations::implementation(spec.kind).compute(spec, &ctx)?;
                Ok(Output::Matrix(Arc::new(out)))
            }
            Op::PostProcess { name } => {
                let ingest = inputs[0].ingest()?;
                let rep = inputs[1].matrix()?;
                let s = &ingest.samples;
                let batch: Vec<String> = rep.rows.iter().map(|&r| s.batch[r].clone()).collect();
                let is_control: Vec<bool> = rep.rows.iter().map(|&r| s.is_control[r]).collect();
                let t = by_name(name)
                    .expect("validated")
                    .apply(
                        &rep.matrix,
                        &BatchLayout {
                            batch: &batch,
                            is_control: &is_control,
                        },
                    )
                    .map_err(EngineError::kernel(format!("post-processing `{name}`")))?;
                let excluded = t
                    .excluded
                    .iter()
                    .map(|e| format!("{} ({} samples): {}", e.batch, e.rows, e.reason))
                    .collect();
                let rows = t.kept_rows.iter().map(|&k| rep.rows[k]).collect();
                Ok(Output::Matrix(Arc::new(MatrixOut {
                    matrix: t.matrix,
                    rows,
                    excluded,
                    convention: t.convention,
                })))
            }
            Op::Split {
                seed,
                train_fraction,
                split_by,
            } => {
                let ingest = inputs[0].ingest()?;
                let out = crate::splits::split(&ingest.samples, *seed, *train_fraction, *split_by)
                    .map_err(|e| EngineError::msg(format!("splits: {e}")))?;
                Ok(Output::Split(Arc::new(out)))
            }
            Op::Metric { spec, seed } => {
                // Inputs as the DAG lays them out: [ingest, post-processed,
                // split if needed, representation if the metric refits].
                let imp = metrics::implementation(spec.kind());
                let ingest = inputs[0].ingest()?;
                let m = inputs[1].matrix()?;
                let mut rest = inputs[2..].iter();
                let split = if imp.needs_split() {
                    rest.next().map(|o| o.split()).transpose()?
                } else {
                    None
                };
                let rep = rest.next().map(|o| o.matrix()).transpose()?;
                let postprocessing = match &self.dag.nodes[nd.inputs[1]].op {
                    Op::PostProcess { name } => name.as_str(),
                    _ => "raw",
                };
                let ctx = MetricContext {
                    ingest,
                    matrix: &m.matrix,
                    rows: &m.rows,
                    seed: *seed,
                    data: self.data,
                    split: split.map(|s| s.as_ref()),
                    unprocessed: rep.map(|r| metrics::Unprocessed {
                        matrix: &r.matrix,
                        rows: &r.rows,
                        postprocessing,
                    }),
                    par,
                    work,
                };
                let mut out = spec.options.compute(&spec.label(), &ctx)?;
                // Every row says which rows of the file ingestion dropped.
                let dropped = ingest.dropped_convention();
                if !dropped.is_empty() {
                    for r in &mut out.rows {
                        if !r.convention.is_empty() {
                            r.convention.push(';');
                        }
                        r.convention.push_str(&dropped);
                    }
                }
                Ok(Output::Metric(Arc::new(out)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(op: Op, inputs: Vec<usize>) -> Node {
        Node {
            kind: op.kind(),
            label: String::new(),
            op,
            inputs,
            key: String::new(),
            definition: String::new(),
            params: serde_json::Value::Null,
        }
    }

    #[test]
    fn busy_levels_run_sequential_kernels() {
        // Two nodes per thread keep the pool busy: kernels on their thread.
        assert!(matches!(kernel_par(4, 2), Par::Seq));
        assert!(matches!(kernel_par(100, 2), Par::Seq));
        // Fewer: each node's kernels spread over the pool.
        assert!(matches!(kernel_par(3, 2), Par::Rayon(_)));
        assert!(matches!(kernel_par(1, 1), Par::Rayon(_)));
        assert!(matches!(kernel_par(0, 0), Par::Rayon(_)));
    }

    #[test]
    fn sequential_order_runs_each_post_processing_with_its_metrics() {
        // As the DAG builder lays a sweep out: ingest, split, representation,
        // every post-processing, then the metrics, metric by metric.
        let pipeline = crate::pipeline::Pipeline::from_str(
            std::path::Path::new("p.yaml"),
            "name: t\ndatasets: [d]\nrepresentations: [{name: r, kind: random}]\nmetrics: [{kind: knn}]\n",
        )
        .unwrap();
        let metric = || Op::Metric {
            spec: pipeline.metrics[0].clone(),
            seed: 0,
        };
        let pp = |name: &str| Op::PostProcess { name: name.into() };
        let mut nodes = vec![
            node(
                Op::Ingest {
                    dataset: "d".into(),
                },
                vec![],
            ),
            node(
                Op::Split {
                    seed: 0,
                    train_fraction: 0.7,
                    split_by: Default::default(),
                },
                vec![0],
            ),
            node(
                Op::Representation {
                    dataset: "d".into(),
                    spec: pipeline.representations[0].clone(),
                    seed: 0,
                },
                vec![0],
            ),
            node(pp("raw"), vec![0, 2]),
            node(pp("center"), vec![0, 2]),
        ];
        // Two metrics under each post-processing, metric-major.
        for _ in 0..2 {
            for p in [3, 4] {
                nodes.push(node(metric(), vec![0, p, 1]));
            }
        }
        let dag = Dag {
            pipeline,
            nodes,
            cells: vec![],
            skipped: vec![],
        };
        assert_eq!(depth_first_order(&dag), vec![0, 2, 3, 1, 5, 7, 4, 6, 8]);
    }
}
