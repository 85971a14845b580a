//! The `pertbench` command line: a thin layer over the engine.

mod init;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use pertbench_data::dataset::DataContext;
use pertbench_data::fetch::{fetch, FetchOptions, Origin};
use pertbench_engine::cache::{CacheState, Entry};
use pertbench_engine::run::{plan, plan_lines, run_pipeline, Workspace};
use std::collections::BTreeSet;
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "pertbench",
    version,
    about = "Benchmark representations of cellular perturbation data"
)]
struct Cli {
    /// Project state (cache, results, fetched data) [env: PERTBENCH_HOME] [default: .pertbench]
    #[arg(long, global = true)]
    workdir: Option<PathBuf>,
    /// Directory searched for artefacts before the network; repeatable
    /// [env: PERTBENCH_MIRROR, ':'-separated]
    #[arg(long = "mirror", global = true)]
    mirrors: Vec<PathBuf>,
    /// Directory of dataset manifests; repeatable [default: data_manifests]
    #[arg(long = "manifests", global = true)]
    manifests: Vec<PathBuf>,
    /// Never download; use the data directory and mirrors only
    #[arg(long, global = true)]
    offline: bool,
    /// Accept artefacts whose manifest pins no sha256 (prints their hash)
    #[arg(long, global = true)]
    allow_unpinned: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a pipeline: compute what is not cached, write results, print its reports
    Run {
        pipeline: PathBuf,
        /// No per-node progress lines
        #[arg(long)]
        quiet: bool,
        /// Print the run summary as one JSON object (nodes, time, peak
        /// memory, headline metrics) instead of tables
        #[arg(long)]
        json: bool,
    },
    /// Print a pipeline's DAG with each node's cache state
    Plan { pipeline: PathBuf },
    /// Fetch and verify datasets (all manifests with --all)
    Fetch {
        datasets: Vec<String>,
        #[arg(long)]
        all: bool,
    },
    /// List the dataset manifests
    Datasets,
    /// Inspect or clean the node cache
    Cache {
        #[command(subcommand)]
        action: CacheAction,
    },
    /// Benchmark: generate a Replogle-shaped screen and run the six tasks
    /// under four post-processings, printing per-node time, peak memory and
    /// rate against this machine's measured peak
    Bench {
        /// Cells: 20k, 200k or 2m (or any count)
        #[arg(long, default_value = "20k")]
        tier: String,
        /// Mean non-zeros per cell of the generated counts
        #[arg(long, default_value_t = 1000)]
        nnz_per_row: usize,
        /// Queries sampled for iLISI and kNN
        #[arg(long, default_value_t = pertbench_engine::bench::DEFAULT_MAX_QUERIES)]
        max_queries: usize,
        /// Draws of Task 3's label-shuffle null
        #[arg(long, default_value_t = pertbench_engine::bench::DEFAULT_LABEL_SHUFFLES)]
        label_shuffles: usize,
        /// No per-node progress lines
        #[arg(long)]
        quiet: bool,
    },
    /// Write a self-contained HTML report (tables, inline SVG plots,
    /// provenance) of a results directory
    Report {
        /// Results directory [default: <workdir>/results]
        results: Option<PathBuf>,
        /// The HTML file to write
        #[arg(short, long, default_value = "report.html")]
        output: PathBuf,
    },
    /// What a metric, result variant or post-processing computes: the
    /// definition, its options and defaults, public conventions, references
    /// (no name: list them all)
    Explain { name: Option<String> },
    /// Inspect an h5ad's obs columns, suggest the perturbation, batch,
    /// control and context columns, and write a dataset manifest and a
    /// commented starter pipeline for it
    Init {
        h5ad: PathBuf,
        /// Dataset and pipeline name [default: from the file name]
        #[arg(long)]
        name: Option<String>,
        /// Overwrite an existing manifest or pipeline of that name
        #[arg(long)]
        force: bool,
        /// Directory of the starter pipeline
        #[arg(long, default_value = "pipelines")]
        pipelines: PathBuf,
    },
    /// Print a shell completion script (e.g. `pertbench completions bash >
    /// ~/.local/share/bash-completion/completions/pertbench`)
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Run read-only SQL over the results (table `results`)
    Sql {
        query: Option<String>,
        #[arg(long)]
        file: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum CacheAction {
    /// List cached nodes with size and state
    Ls,
    /// Remove nodes no listed pipeline uses (default: every pipelines/*.yaml),
    /// and temporaries of killed runs. Refuses while a run uses the cache;
    /// never follows a symlink; leaves what pertbench did not write.
    Gc {
        pipelines: Vec<PathBuf>,
        /// Remove every node when no pipeline is given or found (without
        /// it, gc refuses rather than empty the cache)
        #[arg(long)]
        all: bool,
    },
}

fn env_paths(var: &str) -> Vec<PathBuf> {
    std::env::var(var)
        .map(|v| {
            v.split(':')
                .filter(|s| !s.is_empty())
                .map(PathBuf::from)
                .collect()
        })
        .unwrap_or_default()
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
    if let Err(e) = real_main(cli) {
        eprintln!("error: {}", elide_long_runs(&format!("{e:#}")));
        std::process::exit(1);
    }
}

/// An error message with any run of more than 400 characters without a
/// space (an offending value quoted in full: a 100 KB name) cut to its
/// first and last 100, saying how much was left out.
fn elide_long_runs(message: &str) -> String {
    const LONG: usize = 400;
    const KEEP: usize = 100;
    let mut out = String::with_capacity(message.len().min(4096));
    for (i, word) in message.split(' ').enumerate() {
        if i > 0 {
            out.push(' ');
        }
        let n = word.chars().count();
        if n > LONG {
            let head: String = word.chars().take(KEEP).collect();
            let tail: String = word.chars().skip(n - KEEP).collect();
            out.push_str(&format!(
                "{head}[... {} characters left out ...]{tail}",
                n - 2 * KEEP
            ));
        } else {
            out.push_str(word);
        }
    }
    out
}

fn real_main(cli: Cli) -> Result<()> {
    let workdir = cli
        .workdir
        .clone()
        .or_else(|| std::env::var_os("PERTBENCH_HOME").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from(".pertbench"));
    let mut mirrors = cli.mirrors.clone();
    mirrors.extend(env_paths("PERTBENCH_MIRROR"));
    let mut manifest_dirs = cli.manifests.clone();
    if manifest_dirs.is_empty() {
        manifest_dirs.push(PathBuf::from("data_manifests"));
    }
    let data = DataContext {
        manifest_dirs,
        fetch: FetchOptions {
            mirrors,
            data_dir: workdir.join("data"),
            allow_network: !cli.offline,
            allow_unpinned: cli.allow_unpinned,
        },
    };
    let ws = Workspace { workdir };
    match cli.command {
        Command::Bench {
            tier,
            nnz_per_row,
            max_queries,
            label_shuffles,
            quiet,
        } => {
            use pertbench_data::bench_screen::BenchScreenSpec;
            let mut spec =
                BenchScreenSpec::replogle_shaped(pertbench_engine::bench::tier_cells(&tier)?);
            spec.nnz_per_row = nnz_per_row;
            let opts = pertbench_engine::bench::BenchOptions {
                dir: ws.workdir.join("bench").join(&tier),
                tier: tier.to_ascii_lowercase(),
                spec,
                max_queries,
                label_shuffles,
                progress: !quiet,
            };
            print!("{}", pertbench_engine::bench::run(&opts, &data)?);
        }
        Command::Run {
            pipeline,
            quiet,
            json,
        } => {
            let report = run_pipeline(&pipeline, &data, &ws, !quiet)?;
            // The rows just written, not a second read of every result file.
            let rows = pertbench_report::rows::from_batches(std::slice::from_ref(&report.results))?;
            let headline = pertbench_report::run_summary::headline(&rows);
            let s = &report.summary;
            if json {
                let v = serde_json::json!({
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
                    "headline": headline,
                    "skipped": report.skipped,
                    "failures": report.failures.iter().map(|(kind, node, error)| serde_json::json!({"kind": kind, "node": node, "error": error})).collect::<Vec<_>>(),
                    "dropped_at_ingest": pertbench_report::run_summary::dropped_at_ingest(&rows)
                        .into_iter()
                        .map(|(d, drops)| (d, drops.into_iter().collect::<std::collections::BTreeMap<_, _>>()))
                        .collect::<std::collections::BTreeMap<_, _>>(),
                });
                println!("{}", serde_json::to_string_pretty(&v)?);
                return failed_nodes(&report);
            }
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
            for (dataset, drops) in pertbench_report::run_summary::dropped_at_ingest(&rows) {
                let parts: Vec<String> = drops
                    .iter()
                    .map(|(why, n)| format!("{n} ({why})"))
                    .collect();
                println!("{dataset}: dropped at ingestion: {}", parts.join(", "));
            }
            if !headline.is_empty() {
                println!(
                    "\nHeadline metrics (best post-processing per representation; * best representation):"
                );
                print!(
                    "{}",
                    pertbench_report::run_summary::terminal_table(&headline)
                );
            }
            for sql_file in &report.report_queries {
                let q = std::fs::read_to_string(sql_file).with_context(|| {
                    format!("{}: report `{}`", pipeline.display(), sql_file.display())
                })?;
                println!("\n{}", sql_file.display());
                println!(
                    "{}",
                    pertbench_sql::format(&pertbench_sql::query(&ws.results_dir(), &q)?)
                );
            }
            failed_nodes(&report)?;
        }
        Command::Plan { pipeline } => {
            let dag = plan(&pipeline, &data)?;
            let cache = ws.cache();
            let lines = plan_lines(&dag, &cache);
            for l in &lines {
                println!("{l}");
            }
            for s in &dag.skipped {
                println!("skipped  {s}");
            }
            let cached = lines.iter().filter(|l| l.starts_with("cached")).count();
            println!(
                "{} nodes: {} cached, {} to compute",
                lines.len(),
                cached,
                lines.len() - cached
            );
        }
        Command::Fetch { datasets, all } => {
            let names: Vec<String> = if all {
                pertbench_data::manifest::list(&data.manifest_dirs)
                    .into_iter()
                    .map(|(_, m)| m.name)
                    .collect()
            } else if datasets.is_empty() {
                bail!("name the datasets to fetch, or pass --all");
            } else {
                datasets
            };
            // A dataset's parts (appended files, metadata table) are fetched with it.
            let mut queue: std::collections::VecDeque<String> = names.into();
            let mut seen = std::collections::BTreeSet::new();
            while let Some(name) = queue.pop_front() {
                if !seen.insert(name.clone()) {
                    continue;
                }
                let (_, m) = data.manifest(&name)?;
                queue.extend(m.parts().into_iter().map(String::from));
                if matches!(m.source, pertbench_data::manifest::Source::Synthetic(_)) {
                    println!("{name}: generated in code, nothing to fetch");
                    continue;
                }
                let f = fetch(&m, &data.fetch)?;
                let from = match f.origin {
                    Origin::DataDir => "already verified".to_string(),
                    Origin::Mirror(p) => format!("from mirror {}", p.display()),
                    Origin::Network(w) => format!("via {w}"),
                };
                println!(
                    "{name}: {} ({from}; artefact sha256 {})",
                    f.path.display(),
                    f.sha256
                );
            }
        }
        Command::Datasets => {
            // A manifest that does not parse is listed with its error, not
            // skipped: a typo must not make a dataset silently disappear.
            let mut broken = 0;
            for (p, m) in pertbench_data::manifest::list_all(&data.manifest_dirs) {
                match m {
                    Ok(m) => println!(
                        "{:<28} {:<18} {}  [{}]",
                        m.name,
                        format!("{:?}", m.format).to_lowercase(),
                        m.description,
                        p.display()
                    ),
                    Err(e) => {
                        broken += 1;
                        println!("{:<28} {:<18} {e}", "(does not parse)", "error");
                    }
                }
            }
            if broken > 0 {
                eprintln!("{broken} manifest(s) do not parse: see the lines marked `error`");
            }
        }
        Command::Cache { action } => {
            let cache = ws.cache();
            match action {
                CacheAction::Ls => {
                    let mut total = 0;
                    for (kind, key, size, entry) in cache.list() {
                        total += size;
                        let (st, label) = match &entry {
                            Entry::Node(CacheState::Valid(r)) => ("ok", r.label.clone()),
                            Entry::Node(CacheState::Missing) => ("missing", String::new()),
                            Entry::Node(CacheState::Corrupt(why)) => ("corrupt", why.clone()),
                            Entry::LiveTemporary => ("running", "a live run's temporary".into()),
                            Entry::StaleTemporary => (
                                "stale",
                                "a killed run's temporary (gc or the next run removes it)".into(),
                            ),
                            Entry::Foreign(why) => ("foreign", format!("{why}: left alone")),
                        };
                        let short: String = key.chars().take(12).collect();
                        println!("{st:<8} {kind:<14} {short:<12} {size:>10}  {label}");
                    }
                    println!("total {total} bytes in {}", cache.root.display());
                }
                CacheAction::Gc { pipelines, all } => {
                    let given = !pipelines.is_empty();
                    let pipelines = if given {
                        pipelines
                    } else {
                        let mut v: Vec<PathBuf> = std::fs::read_dir("pipelines")
                            .map(|rd| {
                                rd.flatten()
                                    .map(|e| e.path())
                                    .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
                                    .collect()
                            })
                            .unwrap_or_default();
                        v.sort();
                        v
                    };
                    if pipelines.is_empty() && !all {
                        anyhow::bail!(
                            "cache gc: no pipeline given and none in {}: every node of {} would be removed; \
                             name the pipelines whose nodes to keep, or pass --all to remove them all",
                            std::env::current_dir()
                                .map(|d| d.join("pipelines").display().to_string())
                                .unwrap_or_else(|_| "./pipelines".into()),
                            cache.root.display()
                        );
                    }
                    let mut keep = BTreeSet::new();
                    for p in &pipelines {
                        let dag = plan(p, &data)?;
                        keep.extend(dag.nodes.iter().map(|n| n.key.clone()));
                    }
                    let r = cache.gc(&keep)?;
                    println!(
                        "removed {} nodes and {} temporaries of killed runs ({} bytes); kept those of {} pipelines",
                        r.nodes_removed,
                        r.temporaries_removed,
                        r.bytes_freed,
                        pipelines.len()
                    );
                    for l in &r.left {
                        println!("left: {l}");
                    }
                }
            }
        }
        Command::Report { results, output } => {
            let dir = results.unwrap_or_else(|| ws.results_dir());
            let report = pertbench_report::render(&dir)?;
            pertbench_data::fetch::atomic_write_readable(&output, report.html.as_bytes())?;
            println!(
                "{} result rows, {} plots -> {}",
                report.n_rows,
                report.n_plots,
                output.display()
            );
            for m in &report.missing {
                println!("missing: {m}");
            }
        }
        Command::Explain { name } => match name {
            None => print!("{}", pertbench_engine::explain::index()),
            Some(name) => {
                let topics =
                    pertbench_engine::explain::lookup(&name).map_err(anyhow::Error::msg)?;
                if topics.len() > 1 {
                    println!("`{name}` is written by {} metrics:\n", topics.len());
                }
                let texts: Vec<String> = topics
                    .iter()
                    .map(pertbench_engine::explain::render)
                    .collect();
                print!("{}", texts.join("\n"));
            }
        },
        Command::Init {
            h5ad,
            name,
            force,
            pipelines,
        } => init::run(&init::InitOptions {
            h5ad,
            name,
            force,
            manifest_dir: data.manifest_dirs[0].clone(),
            pipeline_dir: pipelines,
            data: data.clone(),
        })?,
        Command::Completions { shell } => {
            use clap::CommandFactory;
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "pertbench",
                &mut std::io::stdout(),
            );
        }
        Command::Sql { query, file } => {
            let q = match (query, file) {
                (Some(q), None) => q,
                (None, Some(f)) => {
                    std::fs::read_to_string(&f).with_context(|| format!("{}", f.display()))?
                }
                _ => bail!("give a query or --file, not both"),
            };
            println!(
                "{}",
                pertbench_sql::format(&pertbench_sql::query(&ws.results_dir(), &q)?)
            );
        }
    }
    Ok(())
}

/// A run with failed nodes exits non-zero after its summary and results
/// (the other nodes ran; their rows are written).
fn failed_nodes(report: &pertbench_engine::run::RunReport) -> anyhow::Result<()> {
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
