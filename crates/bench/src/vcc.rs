//! `pertbench bench --suite vcc`: the Virtual Cell Challenge's evaluation
//! at scale. A Replogle K562-essential-shaped screen (counts, CSR `X`; about
//! 150 cells per knock-out, 4% controls) and a prediction of the same shape
//! (the same generator with another seed: other cells, other effects), then
//! what `pertbench cell-eval` does with them, stage by stage: each file read
//! and scaled as cell-eval prepares it, DE of each against its controls,
//! cell-eval's metric set (a profile) from the two DE tables and the cells.
//! Each stage prints its wall time, the process's peak resident memory, and
//! its floor on this machine: the bytes it must stream at the measured
//! memory bandwidth, or the products it must compute at the measured matrix
//! product peak. With `anchor_python` (a Python with cell-eval installed),
//! cell-eval itself runs on the same two files, timed beside.

use pertbench_data::bench_screen::{self, BenchScreenSpec};
use pertbench_data::dataset::DataContext;
use pertbench_data::relationships;
use pertbench_engine::cell_eval::metric_set::Profile;
use pertbench_engine::cell_eval::{self, aggregate, DeSource};
use pertbench_engine::differential_expression::input::{read_grouped, GroupedCells};
use pertbench_engine::differential_expression::{self as de, DeConvention};
use pertbench_engine::error::{EngineError, Result};
use pertbench_kernels::runtime::machine::{self, MachinePeak};
use pertbench_kernels::tasks::cell_eval::energy;
use pertbench_kernels::Par;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

pub struct VccBenchOptions {
    pub spec: BenchScreenSpec,
    /// Generated files live here.
    pub dir: PathBuf,
    pub profile: Profile,
    pub convention: DeConvention,
    /// A Python with cell-eval installed: run it on the same files.
    pub anchor_python: Option<PathBuf>,
}

/// The screen of a tier: Replogle 2022's K562 essential screen has about
/// 310,000 cells for 2,057 knock-outs over 8,563 genes.
pub fn k562_essential_shaped(n_cells: usize) -> BenchScreenSpec {
    let mut spec = BenchScreenSpec::replogle_shaped(n_cells);
    spec.n_perturbations = (n_cells / 150).max(20);
    spec.n_genes = 8_000;
    spec.dims = 1;
    spec
}

fn describe(spec: &BenchScreenSpec) -> String {
    format!(
        "{} cells x {} genes (~{} non-zeros per cell), {} knock-outs, {:.0}% controls, seed {}",
        spec.n_cells,
        spec.n_genes,
        spec.nnz_per_row,
        spec.n_perturbations,
        spec.control_fraction * 100.0,
        spec.seed
    )
}

/// Writes the real and the predicted file unless the same specs were
/// written before; returns their paths and the seconds spent.
fn prepare(opts: &VccBenchOptions, base: &DataContext) -> Result<(PathBuf, PathBuf, f64)> {
    std::fs::create_dir_all(&opts.dir)
        .map_err(|e| EngineError::msg(format!("{}: {e}", opts.dir.display())))?;
    let real = opts.dir.join("real.h5ad");
    let pred = opts.dir.join("pred.h5ad");
    let mut pred_spec = opts.spec.clone();
    pred_spec.seed = opts.spec.seed + 1;
    let stamp = opts.dir.join("generated.txt");
    let wanted = format!("{}\n{}\n", describe(&opts.spec), describe(&pred_spec));
    if std::fs::read_to_string(&stamp).ok().as_deref() == Some(wanted.as_str())
        && real.exists()
        && pred.exists()
    {
        return Ok((real, pred, 0.0));
    }
    let _ = std::fs::remove_file(&stamp);
    let t = Instant::now();
    let clusters = relationships::read_clusters(&base.file_of("corum_clusters")?)?;
    let npy = opts.dir.join("unused_embedding.npy");
    bench_screen::write(&opts.spec, &clusters, &real, &npy)?;
    bench_screen::write(&pred_spec, &clusters, &pred, &npy)?;
    let _ = std::fs::remove_file(&npy);
    pertbench_data::fetch::atomic_write_with(&stamp, |f| {
        std::io::Write::write_all(f, wanted.as_bytes())
    })
    .map_err(|e| EngineError::msg(e.to_string()))?;
    Ok((real, pred, t.elapsed().as_secs_f64()))
}

struct Stage<'a> {
    out: &'a mut String,
    peak: &'a MachinePeak,
    /// The largest peak resident memory of any stage so far, in GB: each
    /// stage resets the process's peak (and with it what getrusage, and so
    /// /usr/bin/time, reports as its maximum), so the run's peak is the
    /// largest of theirs.
    max_rss: f64,
}

impl Stage<'_> {
    /// Runs `f`, then prints its line: wall time, peak memory since the
    /// stage began, and the floor of `floor` (bytes streamed or f64
    /// products) with wall / floor.
    fn run<T>(&mut self, name: &str, floor: Floor, f: impl FnOnce() -> Result<T>) -> Result<T> {
        machine::release_free_memory();
        machine::reset_peak_rss();
        let t = Instant::now();
        let v = f()?;
        let secs = t.elapsed().as_secs_f64();
        let rss = machine::peak_rss_bytes().unwrap_or(0) as f64 / 1e9;
        self.max_rss = self.max_rss.max(rss);
        let (what, floor_secs) = match floor {
            Floor::Bytes(b) => (
                format!("{:.2} GB at {:.1} GB/s", b / 1e9, self.peak.triad_gbs),
                b / (self.peak.triad_gbs * 1e9),
            ),
            Floor::Products(flops) => (
                format!(
                    "{:.2e} flop at {:.1} GFLOP/s",
                    flops, self.peak.matmul_f64_gflops
                ),
                flops / (self.peak.matmul_f64_gflops * 1e9),
            ),
        };
        let ratio = if floor_secs > 0.0 {
            format!("{:.1}", secs / floor_secs)
        } else {
            "-".into()
        };
        writeln!(
            self.out,
            "{name:<34} {secs:>9.2} {rss:>8.2} GB  floor {floor_secs:>8.2} s ({what})  x floor {ratio}"
        )
        .ok();
        eprintln!("{}", self.out.lines().last().unwrap_or_default());
        Ok(v)
    }
}

enum Floor {
    Bytes(f64),
    Products(f64),
}

/// Bytes of a side's stored non-zeros (f32 value and u32 column each).
fn stored_bytes(c: &GroupedCells) -> f64 {
    8.0 * c.x.nnz() as f64 + 8.0 * c.x.nrows as f64
}

/// Runs the suite; returns the report's text.
pub fn run(opts: &VccBenchOptions, base: &DataContext) -> Result<String> {
    let mut out = String::new();
    let peak = machine::measure();
    writeln!(
        out,
        "machine: {} threads; f64 matrix product {:.1} GFLOP/s; memory bandwidth (triad) {:.1} GB/s",
        peak.threads, peak.matmul_f64_gflops, peak.triad_gbs
    )
    .ok();
    let (real_path, pred_path, secs) = prepare(opts, base)?;
    writeln!(
        out,
        "data: real {}; prediction of the same shape (seed {}); {}",
        describe(&opts.spec),
        opts.spec.seed + 1,
        if secs > 0.0 {
            format!("generated in {secs:.1} s")
        } else {
            "generated earlier".into()
        }
    )
    .ok();
    writeln!(
        out,
        "profile {}, DE convention {}; stage, wall s, peak RSS, floor",
        opts.profile.name(),
        opts.convention.name()
    )
    .ok();
    let par = Par::rayon(0);
    let total = Instant::now();
    let column = "gene";
    let control = bench_screen::CONTROL_LABEL;
    let file_bytes = |p: &Path| std::fs::metadata(p).map(|m| m.len() as f64).unwrap_or(0.0);
    let mut stage = Stage {
        out: &mut out,
        peak: &peak,
        // Generating the data, if it ran, peaked before the first stage.
        max_rss: machine::peak_rss_bytes().unwrap_or(0) as f64 / 1e9,
    };
    let real = stage.run(
        "read + scale real",
        Floor::Bytes(file_bytes(&real_path)),
        || read_grouped(&real_path, column, control, false, &[]),
    )?;
    let pred = stage.run(
        "read + scale prediction",
        Floor::Bytes(file_bytes(&pred_path)),
        || read_grouped(&pred_path, column, control, false, &[]),
    )?;
    let real_de = stage.run("DE real", Floor::Bytes(stored_bytes(&real)), || {
        de::run(&real, opts.convention, par)
    })?;
    let pred_de = stage.run("DE prediction", Floor::Bytes(stored_bytes(&pred)), || {
        de::run(&pred, opts.convention, par)
    })?;
    let (real_side, pred_side) = (cell_eval::de_side(&real_de), cell_eval::de_side(&pred_de));
    drop((real_de, pred_de));
    let metrics = opts.profile.metrics();
    let edistance = metrics.iter().any(|m| m.name == "pearson_edistance");
    let g = real.genes.len();
    // Energy distances: each side's groups (cells, non-zeros) against its
    // controls.
    let shape = |c: &GroupedCells, rows: &[usize]| -> (usize, usize) {
        let offsets = c.x.indptr();
        let nnz = rows
            .iter()
            .map(|&r| (offsets[r + 1] - offsets[r]) as usize)
            .sum();
        (rows.len(), nnz)
    };
    let side = |c: &GroupedCells| -> f64 {
        let groups: Vec<(usize, usize)> = c.rows.iter().map(|r| shape(c, r)).collect();
        energy::products(&groups, shape(c, &c.control_rows))
    };
    let energy_flops = 2.0 * (side(&real) + side(&pred));
    let p = real.perturbations.len() as f64;
    // Discrimination: every predicted delta against every real one, three
    // distances; the pseudobulks stream both sides once.
    let floor = if edistance {
        Floor::Products(energy_flops + 3.0 * 2.0 * p * p * g as f64)
    } else {
        Floor::Bytes(stored_bytes(&real) + stored_bytes(&pred))
    };
    let e = stage.run(
        &format!("metrics ({} of the profile)", metrics.len()),
        floor,
        || {
            cell_eval::evaluate(
                &real,
                &pred,
                opts.profile,
                opts.convention,
                DeSource::Tables(real_side, pred_side),
                par,
            )
        },
    )?;
    let max_rss = stage.max_rss;
    let summaries = aggregate::summarise(&e, 1000, 0)?;
    let wall = total.elapsed().as_secs_f64();
    writeln!(
        out,
        "total: {wall:.1} s after generation ({} perturbations x {} metric columns); whole-run peak RSS {:.2} GB",
        e.perturbations.len(),
        e.columns.len(),
        max_rss.max(machine::peak_rss_bytes().unwrap_or(0) as f64 / 1e9)
    )
    .ok();
    for s in summaries.iter().filter(|s| s.best.is_some()) {
        writeln!(out, "  mean {:<28} {:.6}", s.name, s.values[2]).ok();
    }
    if let Some(python) = &opts.anchor_python {
        let t = Instant::now();
        let outdir = opts.dir.join("cell_eval_anchor");
        let status = std::process::Command::new(python)
            .args(["-m", "cell_eval", "run", "-ap"])
            .arg(&pred_path)
            .arg("-ar")
            .arg(&real_path)
            .args(["--control-pert", control, "--pert-col", column, "--profile"])
            .arg(opts.profile.name())
            .args(["--skip-metrics", "clustering_agreement"])
            .args(["--num-threads", &peak.threads.to_string(), "-o"])
            .arg(&outdir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .map_err(|e| EngineError::msg(format!("{}: {e}", python.display())))?;
        let secs = t.elapsed().as_secs_f64();
        if !status.success() {
            return Err(EngineError::msg(format!(
                "cell-eval ({}) failed on the bench files ({status})",
                python.display()
            )));
        }
        writeln!(
            out,
            "anchor: cell-eval run (same files, profile {} without clustering_agreement, {} threads) {secs:.1} s; pertbench / cell-eval = {:.3}",
            opts.profile.name(),
            peak.threads,
            wall / secs
        )
        .ok();
    }
    Ok(out)
}
