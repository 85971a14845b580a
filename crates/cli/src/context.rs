//! What every subcommand shares: the global options, and the data context
//! and workspace they give.

use pertbench_data::dataset::DataContext;
use pertbench_data::fetch::FetchOptions;
use pertbench_engine::exec::run::Workspace;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Global {
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
}

/// Where a command reads data and keeps its state.
pub struct Context {
    pub data: DataContext,
    pub ws: Workspace,
}

impl Global {
    pub fn context(&self) -> Context {
        let workdir = self
            .workdir
            .clone()
            .or_else(|| std::env::var_os("PERTBENCH_HOME").map(PathBuf::from))
            .unwrap_or_else(|| PathBuf::from(".pertbench"));
        let mut mirrors = self.mirrors.clone();
        mirrors.extend(env_paths("PERTBENCH_MIRROR"));
        let mut manifest_dirs = self.manifests.clone();
        if manifest_dirs.is_empty() {
            manifest_dirs.push(PathBuf::from("data_manifests"));
        }
        let data = DataContext {
            manifest_dirs,
            fetch: FetchOptions {
                mirrors,
                data_dir: workdir.join("data"),
                allow_network: !self.offline,
                allow_unpinned: self.allow_unpinned,
            },
        };
        Context {
            data,
            ws: Workspace { workdir },
        }
    }
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

/// An error message with any run of more than 400 characters without a
/// space (an offending value quoted in full: a 100 KB name) cut to its
/// first and last 100, saying how much was left out.
pub fn elide_long_runs(message: &str) -> String {
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
