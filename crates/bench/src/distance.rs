//! `pertbench bench --suite distance`: pertpy's distances at scale (issue
//! 24). A generated single-cell embedding (`dims` principal components,
//! 10% control cells, perturbations of 100 cells, half with an effect),
//! then what the `distance` metric does with it: edistance of every
//! perturbation from the controls (pertpy's `onesided_distances`), MMD
//! with an RBF kernel, and the E-test (pertpy's `DistanceTest` on
//! edistance). Each stage prints its wall time, peak resident memory and
//! its floor (the pair distances it must compute, 3 flops per dimension, at
//! the measured f64 product peak). With `anchor_python` (a Python with
//! pertpy), pertpy runs on a smaller set of the same shape, and pertbench
//! on the same set, timed side by side.

use crate::map::{run_anchor, stage};
use ndarray::Array2;
use pertbench_engine::error::{EngineError, Result};
use pertbench_kernels::runtime::machine::{self, MachinePeak};
use pertbench_kernels::runtime::parallel::map_indices;
use pertbench_kernels::stats::rng::stream;
use pertbench_kernels::tasks::group_distance::e_test::{permutation_test, PValueRule};
use pertbench_kernels::tasks::group_distance::{
    CellMetric, GroupDistance, MmdKernel, Reference, WithinPairs,
};
use pertbench_kernels::Par;
use rand_distr::{Distribution, StandardNormal};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Instant;

pub struct DistanceBenchOptions {
    pub n_cells: usize,
    pub dims: usize,
    pub n_permutations: usize,
    /// Anchor files live here.
    pub dir: PathBuf,
    /// A Python with pertpy installed, and the cells of the set it runs.
    pub anchor_python: Option<PathBuf>,
    pub anchor_cells: usize,
}

const CELLS_PER_PERTURBATION: usize = 100;

/// Controls, then each perturbation's cells.
struct Cells {
    controls: Array2<f64>,
    groups: Vec<Array2<f64>>,
}

fn cells(n: usize, d: usize) -> Cells {
    let n_controls = (n / 10).max(2);
    let n_groups = ((n - n_controls) / CELLS_PER_PERTURBATION).max(1);
    let scale: Vec<f64> = (0..d).map(|k| 3.0 / (1.0 + k as f64).sqrt()).collect();
    let draw = |rows: usize, tag: u64, shift: &[f64]| {
        let mut r = stream(0, "bench-distance/cells", tag);
        Array2::from_shape_fn((rows, d), |(_, k)| {
            let z: f64 = StandardNormal.sample(&mut r);
            // float32 numbers, as pertbench holds representations.
            (shift[k] + scale[k] * z) as f32 as f64
        })
    };
    let zero = vec![0.0; d];
    let controls = draw(n_controls, 0, &zero);
    let mut directions = stream(0, "bench-distance/directions", 0);
    let groups = (0..n_groups)
        .map(|g| {
            let strength = if g % 2 == 0 { 0.5 } else { 0.0 };
            let shift: Vec<f64> = (0..d)
                .map(|_| {
                    let z: f64 = StandardNormal.sample(&mut directions);
                    strength * z
                })
                .collect();
            draw(CELLS_PER_PERTURBATION, g as u64 + 1, &shift)
        })
        .collect();
    Cells { controls, groups }
}

fn kernel_error(e: pertbench_kernels::KernelError) -> EngineError {
    EngineError::msg(e.to_string())
}

/// The distances of every group from the controls.
fn onesided(metric: GroupDistance, c: &Cells, par: Par) -> Result<Vec<f64>> {
    let reference = Reference::new(metric, c.controls.view(), par).map_err(kernel_error)?;
    map_indices(par, c.groups.len(), |g| {
        reference.distance(c.groups[g].view())
    })
    .into_iter()
    .collect::<std::result::Result<_, _>>()
    .map_err(kernel_error)
}

/// The stages on one set: seconds of (edistance, E-test).
fn run_set(
    out: &mut String,
    peak: &MachinePeak,
    c: &Cells,
    n_permutations: usize,
) -> Result<(f64, f64)> {
    let par = Par::rayon(0);
    let d = c.controls.ncols() as f64;
    let m = c.controls.nrows() as f64;
    let n = CELLS_PER_PERTURBATION as f64;
    let k = c.groups.len() as f64;
    let pair_flops = 3.0 * d;
    let edistance = GroupDistance::Edistance {
        within: WithinPairs::ExcludeSelf,
        cell: CellMetric::Euclidean,
    };
    let pairs = m * (m - 1.0) / 2.0 + k * (n * m + n * (n - 1.0) / 2.0);
    let (e, e_secs) = stage(
        out,
        peak,
        "edistance (onesided)",
        pairs * pair_flops,
        || onesided(edistance, c, par),
    )?;
    let rbf = GroupDistance::Mmd {
        kernel: MmdKernel::Rbf { gamma: 1.0 / d },
    };
    stage(
        out,
        peak,
        "mmd, rbf kernel (onesided)",
        pairs * pair_flops,
        || onesided(rbf, c, par),
    )?;
    let tested = GroupDistance::Edistance {
        within: WithinPairs::IncludeSelf,
        cell: CellMetric::Euclidean,
    };
    // Each pooled matrix, then n^2 lookups per relabelling.
    let pooled_pairs = k * (n + m) * (n + m + 1.0) / 2.0;
    let (p, t_secs) = stage(
        out,
        peak,
        &format!("E-test ({n_permutations} relabellings)"),
        pooled_pairs * pair_flops,
        || {
            map_indices(par, c.groups.len(), |g| {
                let mut rng = stream(0, "bench-distance/e_test", g as u64);
                permutation_test(
                    tested,
                    c.groups[g].view(),
                    c.controls.view(),
                    n_permutations,
                    PValueRule::Permutation,
                    &mut rng,
                    Par::Seq,
                )
                .map(|t| t.p_value)
            })
            .into_iter()
            .collect::<std::result::Result<Vec<f64>, _>>()
            .map_err(kernel_error)
        },
    )?;
    let q = pertbench_kernels::stats::multiple_testing::benjamini_hochberg(&p);
    writeln!(
        out,
        "  mean edistance {:.4}; E-test: {:.1}% of perturbations active (BH q < 0.05; half have an effect)",
        e.iter().sum::<f64>() / e.len() as f64,
        100.0 * q.iter().filter(|&&q| q < 0.05).count() as f64 / q.len() as f64
    )
    .ok();
    Ok((e_secs, t_secs))
}

/// pertpy's onesided edistance and DistanceTest on cells.npy and
/// groups.csv, timed.
const ANCHOR: &str = r#"
import sys, time, warnings
import numpy as np, pandas as pd, anndata as ad
warnings.filterwarnings("ignore")
import pertpy as pt
d = sys.argv[1]
x = np.load(d + "/cells.npy").astype(np.float64)
a = ad.AnnData(x)
a.obs["g"] = pd.read_csv(d + "/groups.csv")["group"].astype(str).to_numpy()
a.obsm["X_pca"] = x
dist = pt.tl.Distance("edistance", obsm_key="X_pca")
dist.onesided_distances(a, groupby="g", selected_group="control", show_progressbar=False)  # numba compilation
t = time.time()
e = dist.onesided_distances(a, groupby="g", selected_group="control", show_progressbar=False)
onesided = time.time() - t
t = time.time()
tab = pt.tl.DistanceTest("edistance", n_perms=int(sys.argv[2]), obsm_key="X_pca")(a, groupby="g", contrast="control", show_progressbar=False)
test = time.time() - t
print(f"{onesided:.3f} {e.drop('control').mean():.6f} {test:.3f}")
"#;

/// Runs the suite; returns the report's text.
pub fn run(opts: &DistanceBenchOptions) -> Result<String> {
    let mut out = String::new();
    let peak = machine::measure();
    writeln!(
        out,
        "machine: {} threads; f64 matrix product {:.1} GFLOP/s",
        peak.threads, peak.matmul_f64_gflops
    )
    .ok();
    let t = Instant::now();
    let c = cells(opts.n_cells, opts.dims);
    writeln!(
        out,
        "data: {} control cells and {} perturbations of {CELLS_PER_PERTURBATION} cells x {} dimensions; generated in {:.1} s; {} relabellings",
        c.controls.nrows(),
        c.groups.len(),
        opts.dims,
        t.elapsed().as_secs_f64(),
        opts.n_permutations
    )
    .ok();
    let total = Instant::now();
    run_set(&mut out, &peak, &c, opts.n_permutations)?;
    writeln!(
        out,
        "total {:.1} s; whole-run peak RSS {:.2} GB",
        total.elapsed().as_secs_f64(),
        machine::peak_rss_bytes().unwrap_or(0) as f64 / 1e9
    )
    .ok();
    drop(c);
    if let Some(python) = &opts.anchor_python {
        let a = cells(opts.anchor_cells, opts.dims);
        std::fs::create_dir_all(&opts.dir).map_err(|e| EngineError::msg(e.to_string()))?;
        let mut groups = String::from("group\n");
        groups.push_str(&"control\n".repeat(a.controls.nrows()));
        for (g, x) in a.groups.iter().enumerate() {
            groups.push_str(&format!("p{g:05}\n").repeat(x.nrows()));
        }
        // Controls, then each group, in one copy.
        let views: Vec<_> = std::iter::once(a.controls.view())
            .chain(a.groups.iter().map(|x| x.view()))
            .collect();
        let all = ndarray::concatenate(ndarray::Axis(0), &views)
            .map_err(|e| EngineError::msg(e.to_string()))?;
        pertbench_data::npy::write(&opts.dir.join("cells.npy"), &all.mapv(|v| v as f32))
            .map_err(|e| EngineError::msg(e.to_string()))?;
        std::fs::write(opts.dir.join("groups.csv"), groups)
            .map_err(|e| EngineError::msg(e.to_string()))?;
        writeln!(out, "anchor: {} cells, the same shape", all.nrows()).ok();
        let (e_ours, t_ours) = run_set(&mut out, &peak, &a, opts.n_permutations)?;
        let (ran, text) = run_anchor(python, ANCHOR, &opts.dir, opts.n_permutations)?;
        let fields: Vec<&str> = text.split_whitespace().collect();
        let secs = |k: usize| -> Option<f64> { fields.get(k).and_then(|s| s.parse().ok()) };
        match (secs(0), secs(2)) {
            (Some(s), Some(t)) if ran => writeln!(
                out,
                "pertpy 1.2.0 onesided edistance: {s:.2} s (mean {}); pertbench {e_ours:.2} s ({:.3} of pertpy)\npertpy 1.2.0 DistanceTest ({} relabellings): {t:.2} s; pertbench {t_ours:.2} s ({:.4} of pertpy)",
                fields[1],
                e_ours / s,
                opts.n_permutations,
                t_ours / t
            ),
            _ => writeln!(out, "pertpy anchor failed: {text}"),
        }
        .ok();
    }
    Ok(out)
}
