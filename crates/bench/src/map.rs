//! `pertbench bench --suite map`: copairs' phenotypic activity at scale
//! (issue 24). A generated Cell Painting-shaped set of profiles (5% control
//! wells, perturbations of `replicates` wells, half of them with an
//! effect), then what the `map` metric does with it, stage by stage: every
//! sample's AP by copairs' ranking, copairs' null and mAP, and the
//! permutation test; then `map_consistency`'s on the active perturbations'
//! consensus profiles (generated target labels, some perturbations with
//! two): the consensus medians, multilabel AP with copairs' null, and the
//! label-permutation test. Each stage prints its wall time, peak resident memory
//! and its floor (the similarity products it must compute, at the measured
//! f64 product peak). With `anchor_python` (a Python with copairs), copairs
//! runs on a smaller set of the same shape, and pertbench on the same set,
//! timed side by side.

use pertbench_engine::error::{EngineError, Result};
use pertbench_kernels::runtime::machine::{self, MachinePeak};
use pertbench_kernels::runtime::work::Work;
use pertbench_kernels::stats::rng::stream;
use pertbench_kernels::tasks::mean_average_precision::consistency;
use pertbench_kernels::tasks::mean_average_precision::permutation::{
    permutation_test, PermutationTest,
};
use pertbench_kernels::tasks::mean_average_precision::{
    average_precisions, mean_average_precision, PairRule, Similarity,
};
use pertbench_kernels::{Matrix, Par};
use rand_distr::{Distribution, StandardNormal};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Instant;

pub struct MapBenchOptions {
    pub n_profiles: usize,
    pub n_features: usize,
    pub replicates: usize,
    pub control_fraction: f64,
    pub null_size: usize,
    /// Anchor files live here.
    pub dir: PathBuf,
    /// A Python with copairs installed, and the profiles of the set it runs.
    pub anchor_python: Option<PathBuf>,
    pub anchor_profiles: usize,
}

/// A generated set: profiles, perturbation codes (controls 0), reference
/// codes (each control its own).
struct Plate {
    x: Matrix,
    perturbation: Vec<u32>,
    reference: Vec<u32>,
}

fn plate(n: usize, d: usize, replicates: usize, control_fraction: f64) -> Plate {
    let controls = ((n as f64 * control_fraction).round() as usize).clamp(1, n);
    let groups = (n - controls) / replicates;
    let n = controls + groups * replicates;
    let mut rng = stream(0, "bench-map/directions", 0);
    let directions: Vec<Vec<f32>> = (0..groups)
        .map(|g| {
            let strength = if g % 2 == 0 { 0.3 } else { 0.0 };
            (0..d)
                .map(|_| {
                    let z: f64 = StandardNormal.sample(&mut rng);
                    strength * z as f32
                })
                .collect()
        })
        .collect();
    let mut x = Matrix::zeros((n, d));
    let mut perturbation = vec![0u32; n];
    let mut reference = vec![0u32; n];
    for i in 0..n {
        let mut r = stream(0, "bench-map/profile", i as u64);
        let g = (i >= controls).then(|| (i - controls) / replicates);
        for k in 0..d {
            let noise: f64 = StandardNormal.sample(&mut r);
            x[(i, k)] = noise as f32 + g.map_or(0.0, |g| directions[g][k]);
        }
        match g {
            Some(g) => perturbation[i] = g as u32 + 1,
            None => reference[i] = i as u32 + 1,
        }
    }
    Plate {
        x,
        perturbation,
        reference,
    }
}

/// Runs `f`, then its line: wall time, peak memory, floor of `flops` f64
/// operations at the machine's product peak.
pub(crate) fn stage<T>(
    out: &mut String,
    peak: &MachinePeak,
    name: &str,
    flops: f64,
    f: impl FnOnce() -> Result<T>,
) -> Result<(T, f64)> {
    machine::release_free_memory();
    machine::reset_peak_rss();
    let t = Instant::now();
    let v = f()?;
    let secs = t.elapsed().as_secs_f64();
    let rss = machine::peak_rss_bytes().unwrap_or(0) as f64 / 1e9;
    let floor = flops / (peak.matmul_f64_gflops * 1e9);
    let against = if flops > 0.0 {
        format!(
            "floor {floor:>6.2} s ({flops:.2e} flop at {:.1} GFLOP/s)  x floor {:.1}",
            peak.matmul_f64_gflops,
            secs / floor
        )
    } else {
        "no products".into()
    };
    writeln!(out, "{name:<40} {secs:>8.2} s {rss:>6.2} GB  {against}").ok();
    eprintln!("{}", out.lines().last().unwrap_or_default());
    Ok((v, secs))
}

/// The map metric's stages on one set, then map_consistency's: seconds of
/// (AP + copairs null, permutation test, consistency with copairs' null).
fn run_set(
    out: &mut String,
    peak: &MachinePeak,
    p: &Plate,
    null_size: usize,
) -> Result<(f64, f64, f64)> {
    let n = p.x.nrows();
    let d = p.x.ncols() as f64;
    let controls: Vec<usize> = (0..n).filter(|&i| p.perturbation[i] == 0).collect();
    let c = controls.len() as f64;
    let treated = (n - controls.len()) as f64;
    let replicates = treated / p.perturbation.iter().copied().max().unwrap_or(1).max(1) as f64;
    let work = Work::new();
    let par = Par::rayon(0);
    let keys: [&[u32]; 2] = [&p.perturbation, &p.reference];
    let pos = PairRule {
        same: &keys,
        diff: &[],
    };
    let neg = PairRule {
        same: &[],
        diff: &keys,
    };
    let products = 2.0 * treated * (c + replicates) * d;
    let (aps, ap_secs) = stage(out, peak, "AP (copairs' ranking)", products, || {
        average_precisions(p.x.view(), &pos, &neg, Similarity::Cosine, par, &work)
            .map_err(|e| EngineError::msg(e.to_string()))
    })?;
    let group: Vec<Option<u32>> = p
        .perturbation
        .iter()
        .map(|&g| (g > 0).then_some(g))
        .collect();
    let (maps, null_secs) = stage(out, peak, "copairs null + mAP + BH", 0.0, || {
        mean_average_precision(&aps, &group, null_size, 0, par)
            .map_err(|e| EngineError::msg(e.to_string()))
    })?;
    drop(aps);
    let active = maps.iter().filter(|m| m.corrected_p_value < 0.05).count();
    let mean_map = maps.iter().map(|m| m.mean_average_precision).sum::<f64>() / maps.len() as f64;
    writeln!(
        out,
        "  copairs null: {} perturbations, mean mAP {mean_map:.4}, {:.1}% active (BH q < 0.05)",
        maps.len(),
        100.0 * active as f64 / maps.len() as f64
    )
    .ok();
    let groups: Vec<Vec<usize>> = {
        let mut by = vec![Vec::new(); maps.len() + 1];
        for (i, &g) in p.perturbation.iter().enumerate() {
            if g > 0 {
                by[g as usize].push(i);
            }
        }
        by.into_iter().filter(|g| g.len() >= 2).collect()
    };
    let one = vec![0u32; n];
    let test = PermutationTest {
        x: p.x.view(),
        similarity: Similarity::Cosine,
        controls: &controls,
        stratum: &one,
        negatives_within_stratum: false,
    };
    let perm_products = products + 2.0 * c * c * d;
    let (tested, perm_secs) = stage(
        out,
        peak,
        &format!("permutation test ({null_size} draws)"),
        perm_products,
        || {
            permutation_test(&test, &groups, null_size, 0, par, &work)
                .map_err(|e| EngineError::msg(e.to_string()))
        },
    )?;
    let p_values: Vec<f64> = tested.iter().map(|t| t.p_value).collect();
    let q = pertbench_kernels::stats::multiple_testing::benjamini_hochberg(&p_values);
    writeln!(
        out,
        "  permutation: {:.1}% active (BH q < 0.05)",
        100.0 * q.iter().filter(|&&q| q < 0.05).count() as f64 / q.len().max(1) as f64
    )
    .ok();
    // Consistency: the active perturbations' consensus profiles, labelled
    // by target (`target_labels`).
    let active: Vec<(u32, Vec<usize>)> = groups
        .iter()
        .zip(&q)
        .filter(|(_, &q)| q < 0.05)
        .map(|(g, _)| (p.perturbation[g[0]], g.clone()))
        .collect();
    let a = active.len();
    let n_groups = p.perturbation.iter().copied().max().unwrap_or(0);
    let labels: Vec<Vec<u32>> = active
        .iter()
        .map(|(g, _)| target_labels(*g, n_groups))
        .collect();
    let active_groups: Vec<Vec<usize>> = active.into_iter().map(|(_, m)| m).collect();
    let (consensus, consensus_secs) = stage(
        out,
        peak,
        &format!("consistency: consensus of {a} active"),
        0.0,
        || {
            consistency::consensus_medians(p.x.view(), &active_groups)
                .map_err(|e| EngineError::msg(e.to_string()))
        },
    )?;
    let pairs = 2.0 * (a as f64).powi(2) * d;
    let (label_aps, label_ap_secs) = stage(
        out,
        peak,
        "consistency: multilabel AP + copairs null",
        pairs,
        || {
            let aps = consistency::multilabel_average_precisions(
                consensus.view(),
                &labels,
                Similarity::Cosine,
                par,
                &work,
            )
            .map_err(|e| EngineError::msg(e.to_string()))?;
            let profile: Vec<_> = aps.iter().map(|a| a.ap).collect();
            let group: Vec<Option<u32>> = aps.iter().map(|a| Some(a.label)).collect();
            mean_average_precision(&profile, &group, null_size, 0, par)
                .map_err(|e| EngineError::msg(e.to_string()))
        },
    )?;
    let (label_tests, label_perm_secs) = stage(
        out,
        peak,
        &format!("consistency: permutation test ({null_size} draws)"),
        pairs / 2.0,
        || {
            consistency::permutation_test(
                consensus.view(),
                &labels,
                Similarity::Cosine,
                null_size,
                0,
                par,
                &work,
            )
            .map_err(|e| EngineError::msg(e.to_string()))
        },
    )?;
    writeln!(
        out,
        "  consistency: {} labels tested (copairs null), {} (permutation)",
        label_aps.len(),
        label_tests.len()
    )
    .ok();
    writeln!(
        out,
        "  activity + consistency: {:.1} s with copairs' nulls, {:.1} s with the permutation tests",
        ap_secs + null_secs + consensus_secs + label_ap_secs,
        perm_secs + consensus_secs + label_perm_secs
    )
    .ok();
    Ok((
        ap_secs + null_secs,
        perm_secs,
        consensus_secs + label_ap_secs,
    ))
}

/// A perturbation's target labels: one of n_groups / 8 targets (so about
/// four active perturbations share one), every fifth perturbation a second.
fn target_labels(g: u32, n_groups: u32) -> Vec<u32> {
    let n_targets = (n_groups / 8).max(1);
    let mut l = vec![g % n_targets];
    if g % 5 == 0 {
        l.push((g / 5 + 1) % n_targets);
    }
    l.sort_unstable();
    l.dedup();
    l
}

/// copairs' activity recipe on features.npy and meta.csv, timed; then its
/// consistency recipe on the active perturbations (median consensus,
/// multilabel AP on `target`), timed apart.
const ANCHOR: &str = r#"
import sys, time, tempfile, warnings
import numpy as np, pandas as pd
warnings.filterwarnings("ignore")
from copairs import map as cm
from copairs.matching import assign_reference_index
d = sys.argv[1]
feats = np.load(d + "/features.npy").astype(np.float64)
meta = pd.read_csv(d + "/meta.csv")
t = time.time()
meta = assign_reference_index(meta, "control", reference_col="ref", default_value=-1)
ap = cm.average_precision(meta, feats, ["perturbation", "ref"], [], [], ["perturbation", "ref"], progress_bar=False)
ap = ap[~ap["control"]]
m = cm.mean_average_precision(ap, ["perturbation"], null_size=int(sys.argv[2]), threshold=0.05, seed=0,
                              progress_bar=True, cache_dir=tempfile.mkdtemp())
activity = time.time() - t
t = time.time()
active = m.loc[m["below_corrected_p"], "perturbation"]
keep = meta["perturbation"].isin(active).to_numpy()
df = pd.DataFrame(feats[keep])
df["perturbation"] = meta.loc[keep, "perturbation"].to_numpy()
df["target"] = meta.loc[keep, "target"].to_numpy()
cons = df.groupby(["perturbation", "target"], as_index=False).median()
cmeta = cons[["perturbation", "target"]].copy()
cmeta["target"] = cmeta["target"].str.split("|")
cfeats = cons.drop(columns=["perturbation", "target"]).to_numpy()
cap = cm.multilabel.average_precision(cmeta, cfeats, ["target"], [], [], ["target"], multilabel_col="target", progress_bar=False)
cmap = cm.mean_average_precision(cap, ["target"], null_size=int(sys.argv[2]), threshold=0.05, seed=0,
                                 progress_bar=True, cache_dir=tempfile.mkdtemp())
consistency = time.time() - t
print(f"{activity:.3f} {m['mean_average_precision'].mean():.6f} {m['below_corrected_p'].mean():.6f} {consistency:.3f} {len(cmap)}")
"#;

/// Runs an anchor script with `python -c SCRIPT DIR DRAWS` (its standard
/// error discarded): whether it succeeded, and its trimmed standard output
/// (one line of fields).
pub(crate) fn run_anchor(
    python: &std::path::Path,
    script: &str,
    dir: &std::path::Path,
    draws: usize,
) -> Result<(bool, String)> {
    let o = std::process::Command::new(python)
        .arg("-c")
        .arg(script)
        .arg(dir)
        .arg(draws.to_string())
        .stderr(std::process::Stdio::null())
        .output()
        .map_err(|e| EngineError::msg(format!("{}: {e}", python.display())))?;
    Ok((
        o.status.success(),
        String::from_utf8_lossy(&o.stdout).trim().to_string(),
    ))
}

/// Runs the suite; returns the report's text.
pub fn run(opts: &MapBenchOptions) -> Result<String> {
    let mut out = String::new();
    let peak = machine::measure();
    writeln!(
        out,
        "machine: {} threads; f64 matrix product {:.1} GFLOP/s",
        peak.threads, peak.matmul_f64_gflops
    )
    .ok();
    let t = Instant::now();
    let p = plate(
        opts.n_profiles,
        opts.n_features,
        opts.replicates,
        opts.control_fraction,
    );
    let n_controls = p.perturbation.iter().filter(|&&g| g == 0).count();
    writeln!(
        out,
        "data: {} profiles x {} features, {} controls, {} perturbations of {} replicates (half with an effect); generated in {:.1} s; null_size {}",
        p.x.nrows(),
        p.x.ncols(),
        n_controls,
        p.perturbation.iter().copied().max().unwrap_or(0),
        opts.replicates,
        t.elapsed().as_secs_f64(),
        opts.null_size
    )
    .ok();
    let total = Instant::now();
    run_set(&mut out, &peak, &p, opts.null_size)?;
    writeln!(
        out,
        "total {:.1} s (both p-values); whole-run peak RSS {:.2} GB",
        total.elapsed().as_secs_f64(),
        machine::peak_rss_bytes().unwrap_or(0) as f64 / 1e9
    )
    .ok();
    drop(p);
    if let Some(python) = &opts.anchor_python {
        let a = plate(
            opts.anchor_profiles,
            opts.n_features,
            opts.replicates,
            opts.control_fraction,
        );
        std::fs::create_dir_all(&opts.dir).map_err(|e| EngineError::msg(e.to_string()))?;
        pertbench_data::npy::write(&opts.dir.join("features.npy"), &a.x)
            .map_err(|e| EngineError::msg(e.to_string()))?;
        let mut meta = String::from("perturbation,control,target\n");
        let n_groups = a.perturbation.iter().copied().max().unwrap_or(0);
        for &g in &a.perturbation {
            if g == 0 {
                meta.push_str("DMSO,True,\n");
            } else {
                let targets: Vec<String> = target_labels(g, n_groups)
                    .iter()
                    .map(|t| format!("T{t}"))
                    .collect();
                meta.push_str(&format!("P{g},False,{}\n", targets.join("|")));
            }
        }
        std::fs::write(opts.dir.join("meta.csv"), meta)
            .map_err(|e| EngineError::msg(e.to_string()))?;
        writeln!(out, "anchor: {} profiles, the same shape", a.x.nrows()).ok();
        let (ours, _, ours_consistency) = run_set(&mut out, &peak, &a, opts.null_size)?;
        let (ran, text) = run_anchor(python, ANCHOR, &opts.dir, opts.null_size)?;
        let fields: Vec<&str> = text.split_whitespace().collect();
        let secs = |k: usize| -> Option<f64> { fields.get(k).and_then(|s| s.parse().ok()) };
        match (secs(0), secs(3)) {
            (Some(s), Some(c)) if ran => writeln!(
                out,
                "copairs 0.5 activity (average_precision + mean_average_precision): {s:.2} s; pertbench AP + copairs null {ours:.2} s ({:.3} of copairs); copairs mean mAP and fraction active: {} {}\ncopairs 0.5 consistency (median consensus + multilabel average_precision + mean_average_precision, {} labels): {c:.2} s; pertbench {ours_consistency:.2} s ({:.3} of copairs)",
                ours / s,
                fields[1],
                fields[2],
                fields.get(4).unwrap_or(&"?"),
                ours_consistency / c
            ),
            _ => writeln!(out, "copairs anchor failed: {text}"),
        }
        .ok();
    }
    Ok(out)
}
