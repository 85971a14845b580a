//! `pertbench run`: compute what is not cached, write results, print the
//! run summary and the pipeline's reports.

use crate::context::Context;
use crate::progress;
use anyhow::{Context as _, Result};
use pertbench_engine::exec::run::{run_pipeline, RunReport};
use pertbench_report::run_summary;
use std::collections::BTreeMap;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    pipeline: PathBuf,
    /// No per-node progress lines
    #[arg(long)]
    quiet: bool,
    /// Print the run summary as one JSON object (nodes, time, peak
    /// memory, headline metrics) instead of tables
    #[arg(long)]
    json: bool,
}

pub fn run(a: Args, ctx: &Context) -> Result<()> {
    let report = run_pipeline(&a.pipeline, &ctx.data, &ctx.ws, progress::observer(a.quiet))?;
    // The rows just written, not a second read of every result file.
    let rows = pertbench_report::rows::from_batches(std::slice::from_ref(&report.results))?;
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&summary_json(&report, &rows))?
        );
        return failed_nodes(&report);
    }
    print_summary(&report, &rows);
    for sql_file in &report.report_queries {
        let q = std::fs::read_to_string(sql_file).with_context(|| {
            format!("{}: report `{}`", a.pipeline.display(), sql_file.display())
        })?;
        println!("\n{}", sql_file.display());
        println!(
            "{}",
            pertbench_sql::format(&pertbench_sql::query(&ctx.ws.results_dir(), &q)?)
        );
    }
    failed_nodes(&report)
}

fn summary_json(
    report: &RunReport,
    rows: &[pertbench_report::rows::ResultRow],
) -> serde_json::Value {
    let s = &report.summary;
    serde_json::json!({
        "pipeline": report.pipeline,
        "results_file": report.results_file,
        "result_rows": report.results.num_rows(),
        "nodes": {
            "total": s.outcomes.len(),
            "computed": s.computed(),
            "reused": s.reused(),
            "repaired": s.repaired(),
            "failed": report.failures.len(),
            "not_run": s.not_run(),
        },
        "seconds": report.seconds,
        "peak_rss_bytes": report.peak_rss,
        "headline": run_summary::headline(rows),
        "skipped": report.skipped,
        "failures": report.failures.iter().map(|(kind, node, error)| serde_json::json!({"kind": kind, "node": node, "error": error})).collect::<Vec<_>>(),
        "dropped_at_ingest": run_summary::dropped_at_ingest(rows)
            .into_iter()
            .map(|(d, drops)| (d, drops.into_iter().collect::<BTreeMap<_, _>>()))
            .collect::<BTreeMap<_, _>>(),
    })
}

fn print_summary(report: &RunReport, rows: &[pertbench_report::rows::ResultRow]) {
    let s = &report.summary;
    println!(
        "{} nodes: {} computed, {} reused{}{} in {}s, peak memory {}",
        s.outcomes.len(),
        s.computed(),
        s.reused(),
        if s.repaired() > 0 {
            format!(" ({} repaired from a corrupt cache)", s.repaired())
        } else {
            String::new()
        },
        if report.failures.is_empty() {
            String::new()
        } else {
            format!(
                ", {} failed, {} not run",
                report.failures.len(),
                s.not_run()
            )
        },
        if report.seconds >= 1.0 {
            format!("{:.1}", report.seconds)
        } else {
            format!("{:.2}", report.seconds)
        },
        report.peak_rss.map_or("unknown".to_string(), |b| format!(
            "{:.0} MB",
            b as f64 / 1e6
        ))
    );
    println!(
        "{} result rows -> {}",
        report.results.num_rows(),
        report.results_file.display()
    );
    for s in &report.skipped {
        println!("skipped: {s}");
    }
    if report.recovered_temporaries.0 > 0 {
        println!(
            "removed {} temporaries of killed runs ({} bytes)",
            report.recovered_temporaries.0, report.recovered_temporaries.1
        );
    }
    for (kind, node, error) in &report.failures {
        println!("FAILED: {kind} {node}: {error}");
    }
    for (dataset, drops) in run_summary::dropped_at_ingest(rows) {
        let parts: Vec<String> = drops
            .iter()
            .map(|(why, n)| format!("{n} ({why})"))
            .collect();
        println!("{dataset}: dropped at ingestion: {}", parts.join(", "));
    }
    let headline = run_summary::headline(rows);
    if !headline.is_empty() {
        println!(
            "\nHeadline metrics (best post-processing per representation; * best representation):"
        );
        print!("{}", run_summary::terminal_table(&headline));
    }
}

/// A run with failed nodes exits non-zero after its summary and results
/// (the other nodes ran; their rows are written).
fn failed_nodes(report: &RunReport) -> Result<()> {
    if report.failures.is_empty() {
        return Ok(());
    }
    let each: Vec<String> = report
        .failures
        .iter()
        .map(|(_, _, error)| error.clone())
        .collect();
    anyhow::bail!(
        "{} node(s) failed and {} did not run because of them; the other nodes' results are in {} (`pertbench sql \"SELECT * FROM failures\"`):\n{}",
        report.failures.len(),
        report.summary.not_run(),
        report.results_file.display(),
        each.join("\n")
    )
}
