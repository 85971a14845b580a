//! The `pertbench` command line: a thin layer over the engine. Each
//! subcommand lives in `commands/<name>.rs` with its arguments and its
//! `run`; this file parses the command line and dispatches.

mod commands;
mod context;
mod progress;

use clap::{Parser, Subcommand};
use commands::*;
use context::Global;

#[derive(Parser)]
#[command(
    name = "pertbench",
    version,
    about = "Benchmark representations of cellular perturbation data"
)]
pub(crate) struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a pipeline: compute what is not cached, write results, print its reports
    Run(run::Args),
    /// Print a pipeline's DAG with each node's cache state
    Plan(plan::Args),
    /// Fetch and verify datasets (all manifests with --all)
    Fetch(fetch::Args),
    /// List the dataset manifests
    Datasets,
    /// Inspect or clean the node cache
    Cache(cache::Args),
    /// Benchmark: generate a Replogle-shaped screen and run the six tasks
    /// under four post-processings, printing per-node time, peak memory and
    /// rate against this machine's measured peak
    Bench(bench::Args),
    /// Write a self-contained HTML report (tables, inline SVG plots,
    /// provenance) of a results directory
    Report(report::Args),
    /// What a metric, result variant or post-processing computes: the
    /// definition, its options and defaults, public conventions, references
    /// (no name: list them all)
    Explain(explain::Args),
    /// Inspect an h5ad's obs columns, suggest the perturbation, batch,
    /// control and context columns, and write a dataset manifest and a
    /// commented starter pipeline for it
    Init(init::Args),
    /// Print a shell completion script (e.g. `pertbench completions bash >
    /// ~/.local/share/bash-completion/completions/pertbench`)
    Completions(completions::Args),
    /// Run read-only SQL over the results (table `results`)
    Sql(sql::Args),
    /// Differential expression of every perturbation of an h5ad against its
    /// controls, as cell-eval computes it (pdex's Mann-Whitney U, BH, log2
    /// fold changes), written as pdex's table
    De(de::Args),
    /// Score a predicted h5ad against the real one with cell-eval's metrics
    /// (the Virtual Cell Challenge's scorer: DES, PDS, MAE and the rest),
    /// and against a baseline prediction for the VCC score
    CellEval(cell_eval::Args),
}

fn main() {
    // A third-party reader's panic that pertbench contains is reported as
    // an error naming the file; its raw message stays off stderr.
    pertbench_data::panics::install_hook();
    // Output piped into `head` ends quietly, as other Unix tools do, rather
    // than with a "Broken pipe" panic.
    #[cfg(unix)]
    // SAFETY: restoring the default disposition of SIGPIPE before any other
    // thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = Cli::parse();
    let ctx = cli.global.context();
    let outcome = match cli.command {
        Command::Run(a) => run::run(a, &ctx),
        Command::Plan(a) => plan::run(a, &ctx),
        Command::Fetch(a) => fetch::run(a, &ctx),
        Command::Datasets => datasets::run(&ctx),
        Command::Cache(a) => cache::run(a, &ctx),
        Command::Bench(a) => bench::run(a, &ctx),
        Command::Report(a) => report::run(a, &ctx),
        Command::Explain(a) => explain::run(a),
        Command::Init(a) => init::run(a, &ctx),
        Command::Completions(a) => completions::run(a),
        Command::Sql(a) => sql::run(a, &ctx),
        Command::De(a) => de::run(a),
        Command::CellEval(a) => cell_eval::run(a),
    };
    if let Err(e) = outcome {
        eprintln!("error: {}", context::elide_long_runs(&format!("{e:#}")));
        std::process::exit(1);
    }
}
