//! One call that plans, runs and records a pipeline.

use crate::error::Result;
use crate::exec::cache::{Cache, CacheState};
use crate::exec::observer::Observer;
use crate::exec::results;
use crate::exec::scheduler::{RunSummary, Runner};
use crate::pipeline::Pipeline;
use crate::plan::{self, Dag};
use pertbench_data::dataset::DataContext;
use std::path::{Path, PathBuf};

/// Where a project's state lives: `<workdir>/cache` and `<workdir>/results`.
#[derive(Debug, Clone)]
pub struct Workspace {
    pub workdir: PathBuf,
}

impl Workspace {
    pub fn cache(&self) -> Cache {
        Cache::new(self.workdir.join("cache"))
    }
    pub fn results_dir(&self) -> PathBuf {
        self.workdir.join("results")
    }
    /// The failed nodes of each pipeline's last run (SQL table `failures`).
    pub fn failures_dir(&self) -> PathBuf {
        self.workdir.join("failures")
    }
}

pub struct RunReport {
    /// The pipeline's name (its rows' `pipeline` column).
    pub pipeline: String,
    pub summary: RunSummary,
    /// Wall time of the run, planning to the results file, in seconds.
    pub seconds: f64,
    /// Peak resident memory of the process during the run, in bytes
    /// (Linux; the largest of the per-node peaks and the process's own).
    pub peak_rss: Option<u64>,
    pub results_file: PathBuf,
    /// Temporaries of killed runs removed at the start: (entries, bytes).
    pub recovered_temporaries: (usize, u64),
    /// The result rows written to `results_file`.
    pub results: arrow::array::RecordBatch,
    /// (kind, label) of every node, in the order of `summary.outcomes`.
    pub nodes: Vec<(String, String)>,
    /// The pipeline's `report` queries, as the run read the pipeline file
    /// (so a file edited meanwhile cannot report another pipeline's).
    pub report_queries: Vec<PathBuf>,
    /// What a dataset could not give, with why ([`Dag::skipped`]).
    pub skipped: Vec<String>,
    /// Nodes whose computation failed: (kind, label, error). Their
    /// dependants did not run; every other node did, and its rows are in
    /// the results. Also written to `failures/<pipeline>.parquet`.
    pub failures: Vec<(String, String, String)>,
}

pub fn plan(pipeline: &Path, data: &DataContext) -> Result<Dag> {
    plan::build(&Pipeline::load(pipeline)?, data)
}

/// Rows of `pertbench plan`: state, kind, label, key prefix, input labels.
pub fn plan_lines(dag: &Dag, cache: &Cache) -> Vec<String> {
    dag.nodes
        .iter()
        .map(|n| {
            let state = match cache.state(n.kind, &n.key) {
                CacheState::Valid(_) => "cached",
                CacheState::Missing => "missing",
                CacheState::Corrupt(_) => "corrupt",
            };
            let inputs: Vec<&str> = n
                .inputs
                .iter()
                .map(|&i| dag.nodes[i].label.as_str())
                .collect();
            format!(
                "{state:<8} {:<14} {:<12} {}{}",
                n.kind,
                &n.key[..12],
                n.label,
                if inputs.is_empty() {
                    String::new()
                } else {
                    format!("  <- {}", inputs.join(", "))
                }
            )
        })
        .collect()
}

pub fn run_pipeline(
    pipeline: &Path,
    data: &DataContext,
    ws: &Workspace,
    observer: &dyn Observer,
) -> Result<RunReport> {
    run_pipeline_with(pipeline, data, ws, observer, false)
}

/// [`run_pipeline`]; `sequential` runs one node at a time and records each
/// node's peak memory (for benchmarks).
pub fn run_pipeline_with(
    pipeline: &Path,
    data: &DataContext,
    ws: &Workspace,
    observer: &dyn Observer,
    sequential: bool,
) -> Result<RunReport> {
    let started = std::time::Instant::now();
    let p = Pipeline::load(pipeline)?;
    let cache = ws.cache();
    // Shared with other runs; `cache gc` waits for none and refuses.
    let _cache_in_use = cache.run_lock()?;
    // What killed runs left behind (their owner process is gone).
    let in_cache = cache.recover();
    let elsewhere = pertbench_data::durable::recover_stale_temporaries_in([
        ws.results_dir(),
        ws.failures_dir(),
        data.fetch.data_dir.join("artefacts"),
    ]);
    let recovered = (in_cache.0 + elsewhere.0, in_cache.1 + elsewhere.1);
    // Fetch (verify, copy from a mirror) each dataset's file first, as its
    // ingestion would, so planning knows what the data can give (a dataset
    // of one batch cannot be split by batch). Failures are left to
    // ingestion, which names them in context.
    for d in &p.datasets {
        if let Ok((_, m)) = data.manifest(d) {
            if matches!(m.source, pertbench_data::manifest::Source::File { .. }) {
                let _ = pertbench_data::fetch::fetch(&m, &data.fetch);
            }
        }
    }
    let dag = plan::build(&p, data)?;
    let (summary, outputs) = Runner {
        dag: &dag,
        cache: &cache,
        data,
        observer,
        sequential,
    }
    .run()?;
    // One read of each post-processing node's record per cell.
    let postprocess_notes = |node: usize| {
        let n = &dag.nodes[node];
        let meta = cache.record(n.kind, &n.key).map(|r| r.meta);
        let meta = meta.as_ref();
        results::PostprocessNotes {
            excluded: meta
                .and_then(|m| m.get("excluded"))
                .and_then(|v| v.as_array())
                .map(|a| {
                    a.iter()
                        .filter_map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join("; ")
                })
                .unwrap_or_default(),
            convention: meta
                .and_then(|m| m.get("convention"))
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_string(),
        }
    };
    let batch = results::build(&dag, &outputs, postprocess_notes)?;
    let file = results::results_path(&ws.results_dir(), &dag.pipeline.name)?;
    crate::exec::table::write_checksummed_parquet(&file, &batch)?;
    let failures: Vec<(String, String, String)> = summary
        .failed()
        .into_iter()
        .map(|(i, e)| {
            let n = &dag.nodes[i];
            (n.kind.to_string(), n.label.clone(), e.to_string())
        })
        .collect();
    // Written every run (empty when none failed), so the table holds each
    // pipeline's last run.
    crate::exec::table::write_checksummed_parquet(
        &results::results_path(&ws.failures_dir(), &dag.pipeline.name)?,
        &results::failures_batch(&dag.pipeline.name, &failures, summary.not_run()),
    )?;
    let peak_rss = summary
        .peak_rss
        .iter()
        .flatten()
        .copied()
        .chain(pertbench_kernels::runtime::machine::peak_rss_bytes())
        .max();
    Ok(RunReport {
        pipeline: dag.pipeline.name.clone(),
        seconds: started.elapsed().as_secs_f64(),
        peak_rss,
        summary,
        results_file: file,
        recovered_temporaries: recovered,
        results: batch,
        nodes: dag
            .nodes
            .iter()
            .map(|n| (n.kind.to_string(), n.label.clone()))
            .collect(),
        report_queries: dag.pipeline.report.clone(),
        skipped: dag.skipped.clone(),
        failures,
    })
}
