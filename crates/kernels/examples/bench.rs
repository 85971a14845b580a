//! Benchmarks (not timed tests): wall time and peak memory of the kernels at
//! the sizes issue 2 names. Each case runs in its own process so the peak
//! resident set (VmHWM) is that case's alone.
//!
//!   cargo run --release -p pertbench-kernels --example bench            # every case
//!   cargo run --release -p pertbench-kernels --example bench -- recall  # one case

use pertbench_kernels::linalg::cosine::{pair_cosines, sorted_upper_triangle, unit_rows};
use pertbench_kernels::linalg::pca::{randomized_pca, PcaOptions};
use pertbench_kernels::runtime::work::Work;
use pertbench_kernels::sparse::csr::CsrMatrix;
use pertbench_kernels::stats::rng::stream;
use pertbench_kernels::tasks::recall::{recall, Tails};
use pertbench_kernels::Par;
use rand::Rng;
use rayon::prelude::*;
use std::time::Instant;

fn peak_rss_mb() -> f64 {
    pertbench_kernels::runtime::machine::peak_rss_bytes()
        .map(|b| b as f64 / (1024.0 * 1024.0))
        .unwrap_or(f64::NAN)
}

/// Task 5 on 10,000 perturbations x 256 dimensions, 100,000 query pairs.
fn recall_case() {
    let (p, d) = (10_000, 256);
    let mut rng = stream(1, "bench", 0);
    let agg = ndarray::Array2::from_shape_simple_fn((p, d), || rng.random::<f64>() - 0.5);
    let pairs: Vec<(usize, usize)> = (0..100_000)
        .map(|_| (rng.random_range(0..p), rng.random_range(0..p)))
        .collect();
    let t = Instant::now();
    let u = unit_rows(&agg);
    let null = sorted_upper_triangle(&u, &Work::new());
    let q = pair_cosines(&u, &pairs);
    let r = recall(&null, &q, Tails::Two { lo: 0.05, hi: 0.95 }).unwrap();
    println!(
        "recall      10,000 perturbations x 256 dims ({} null values, 100,000 pairs): {:.2} s, peak RSS {:.0} MB (recall {r:.4})",
        null.len(),
        t.elapsed().as_secs_f64(),
        peak_rss_mb()
    );
}

/// A generated n x g CSR matrix with `per_row` non-zeros in every row
/// (counts 1 to 20), rows built in parallel, each from its own seeded
/// stream.
fn random_csr(n: usize, g: usize, per_row: usize, seed: u64, label: &str) -> CsrMatrix {
    let rows: Vec<(Vec<u32>, Vec<f32>)> = (0..n)
        .into_par_iter()
        .map(|i| {
            let mut rng = stream(seed, label, i as u64);
            let mut cols: Vec<u32> = rand::seq::index::sample(&mut rng, g, per_row)
                .into_iter()
                .map(|c| c as u32)
                .collect();
            cols.sort_unstable();
            let vals = cols
                .iter()
                .map(|_| 1.0 + rng.random_range(0..20) as f32)
                .collect();
            (cols, vals)
        })
        .collect();
    let mut indptr = Vec::with_capacity(n + 1);
    indptr.push(0u64);
    let mut indices = Vec::with_capacity(n * per_row);
    let mut data = Vec::with_capacity(n * per_row);
    for (c, v) in rows {
        indices.extend_from_slice(&c);
        data.extend_from_slice(&v);
        indptr.push(indices.len() as u64);
    }
    CsrMatrix::new(n, g, indptr, indices, data).unwrap()
}

/// PCA (50 components) of a generated 200,000 x 2,000 CSR matrix at 5% density.
/// Issue 5's PCA target: 200,000 x 8,000 CSR with 3,000 non-zeros per row,
/// 50 components, 2 power iterations (target: at most 3 minutes).
fn pca_target_case() {
    let (n, g, per_row) = (200_000usize, 8_000usize, 3_000usize);
    let t_build = Instant::now();
    let a = random_csr(n, g, per_row, 5, "bench-pca-target");
    let built = peak_rss_mb();
    println!(
        "pca_target  built {} non-zeros in {:.1} s",
        a.nnz(),
        t_build.elapsed().as_secs_f64()
    );
    let t = Instant::now();
    let mut opts = PcaOptions::new(50, 0);
    opts.power_iterations = Some(2);
    let res = randomized_pca(&a, &opts, Par::rayon(0), &Work::new()).unwrap();
    let secs = t.elapsed().as_secs_f64();
    // Sparse products: 2 per power iteration, plus the range finder's first
    // A Omega and the projection A^T Q: 2 flops per non-zero and column of
    // the (50 + 10)-column block.
    let products = 2.0 * 2.0 + 2.0;
    let gflop = products * 2.0 * a.nnz() as f64 * 60.0 / 1e9;
    println!(
        "pca_target  200,000 x 8,000 CSR, 3,000 non-zeros per row, 50 components, 2 power iterations: {secs:.1} s ({:.1} GFLOP/s over ~{gflop:.0} GFLOP of sparse products), peak RSS {:.0} MB ({built:.0} MB after building; top variance {:.1})",
        gflop / secs,
        peak_rss_mb(),
        res.explained_variance[0]
    );
}

/// The two sparse products inside PCA, alone: A M and A^T M for a CSR A of
/// 50,000 x 8,000 with 3,000 non-zeros per row (the PCA target's density)
/// and a 60-column M, against this machine's measured f64 product peak.
fn spmm_case() {
    use pertbench_kernels::linalg::pca::{csr_dot, csr_t_dot};
    use pertbench_kernels::sparse::column_blocks::ColumnBlocks;
    let (n, g, per_row, l) = (50_000usize, 8_000usize, 3_000usize, 60usize);
    let a = random_csr(n, g, per_row, 6, "bench-spmm");
    let peak = pertbench_kernels::runtime::machine::measure();
    let mut rng = stream(7, "bench-spmm", 0);
    let mg = ndarray::Array2::from_shape_simple_fn((g, l), || rng.random::<f64>() - 0.5);
    let mn = ndarray::Array2::from_shape_simple_fn((n, l), || rng.random::<f64>() - 0.5);
    let gflop = 2.0 * a.nnz() as f64 * l as f64 / 1e9;
    let floor = gflop / peak.matmul_f64_gflops;
    // The regrouped copy PCA builds once and makes all its products over.
    let t = Instant::now();
    let blocks = ColumnBlocks::from_csr(&a).unwrap();
    let build = t.elapsed().as_secs_f64();
    println!(
        "spmm        regroup by column in {}-row blocks (once per PCA, {:.0} MB): {build:.3} s, {:.0} MB/s of CSR read",
        pertbench_kernels::sparse::column_blocks::BLOCK_ROWS,
        ColumnBlocks::bytes_for(&a) as f64 / 1e6,
        a.nnz() as f64 * (a.indices().width() + 4) as f64 / 1e6 / build
    );
    let products: [(&str, &dyn Fn() -> f64); 4] = [
        ("A M   (CSR)     ", &|| {
            csr_dot(&a, &mg, Par::rayon(0), &Work::new())[[0, 0]]
        }),
        ("A^T M (CSR)     ", &|| {
            csr_t_dot(&a, &mn, Par::rayon(0), &Work::new())[[0, 0]]
        }),
        ("A M   (regrouped)", &|| {
            blocks.dot(&mg, Par::rayon(0), &Work::new())[[0, 0]]
        }),
        ("A^T M (regrouped)", &|| {
            blocks.t_dot(&mn, Par::rayon(0), &Work::new())[[0, 0]]
        }),
    ];
    for (name, f) in products {
        let mut best = f64::INFINITY;
        let mut check = 0.0;
        for _ in 0..3 {
            let t = Instant::now();
            check = f();
            best = best.min(t.elapsed().as_secs_f64());
        }
        println!(
            "spmm        {name} ({n} x {g} CSR, {per_row} non-zeros per row, {l} columns): {best:.3} s, {:.1} GFLOP/s, {:.1}x the f64 floor ({:.1} GFLOP/s peak; check {check:.6})",
            gflop / best,
            best / floor,
            peak.matmul_f64_gflops
        );
    }
}

/// Task 6's decoder fit at the 2M bench's shape, scaled to 200,000 training
/// rows: 8,248 genes at 1,000 non-zeros per row (log-normalised on the
/// fly), a 256-dimension representation.
fn decoder_fit_case() {
    use pertbench_kernels::sparse::expression_rows::{ExpressionRows, Target};
    use pertbench_kernels::tasks::decoder::fit_expression;
    let (n, g, per_row, d) = (200_000usize, 8_248usize, 1_000usize, 256usize);
    let y = random_csr(n, g, per_row, 8, "bench-decoder");
    let mut rng = stream(9, "bench-decoder", 0);
    let x = ndarray::Array2::from_shape_simple_fn((n, d), || rng.random::<f32>() - 0.5);
    let all: Vec<usize> = (0..n).collect();
    let set = ExpressionRows {
        matrix: &y,
        rows: &all,
        target: Target::Lognorm,
    };
    let work = Work::new();
    let t = Instant::now();
    let dec = fit_expression(x.view(), &all, &set, 1.0, Par::rayon(0), &work).unwrap();
    let secs = t.elapsed().as_secs_f64();
    let peak = pertbench_kernels::runtime::machine::measure().matmul_f64_gflops;
    for k in work.kernels() {
        let rate = k.flops as f64 / k.seconds / 1e9;
        println!(
            "decoder_fit   {}: {} calls, {:.2} s, {rate:.1} GFLOP/s, {:.1}x the f64 floor ({peak:.1} GFLOP/s)",
            k.kernel.name(),
            k.calls,
            k.seconds,
            peak / rate
        );
    }
    let gflop = (2.0 * y.nnz() as f64 * d as f64 + 2.0 * n as f64 * (d * d) as f64) / 1e9;
    println!(
        "decoder_fit {n} x {g} counts ({per_row} non-zeros per row, log-normalised), {d} dims: {secs:.2} s, {:.1} GFLOP/s in X'Y and X'X (weight[0,0] {:.6})",
        gflop / secs,
        dec.weights[(0, 0)]
    );
}

fn pca_case() {
    let (n, g, density) = (200_000usize, 2_000usize, 0.05);
    let mut rng = stream(2, "bench", 0);
    let per_row = (g as f64 * density) as usize;
    let mut indptr = vec![0u64];
    let mut indices = Vec::with_capacity(n * per_row);
    let mut data = Vec::with_capacity(n * per_row);
    for _ in 0..n {
        let mut cols: Vec<u32> = rand::seq::index::sample(&mut rng, g, per_row)
            .into_iter()
            .map(|c| c as u32)
            .collect();
        cols.sort_unstable();
        for c in cols {
            indices.push(c);
            data.push(1.0 + rng.random_range(0..20) as f32);
        }
        indptr.push(indices.len() as u64);
    }
    let a = CsrMatrix::new(n, g, indptr, indices, data).unwrap();
    let built = peak_rss_mb();
    // With the regrouped copy (the default at this density), then with the
    // CSR products alone.
    for (how, limit) in [
        (
            "regrouped copy",
            pertbench_kernels::linalg::pca::REGROUPED_COPY_LIMIT,
        ),
        ("CSR products  ", 0),
    ] {
        let opts = PcaOptions {
            regrouped_copy_limit: limit,
            ..PcaOptions::new(50, 0)
        };
        let t = Instant::now();
        let res = randomized_pca(&a, &opts, Par::rayon(0), &Work::new()).unwrap();
        println!(
            "pca         200,000 x 2,000 CSR, 5% density ({} non-zeros), 50 components, {how}: {:.2} s, peak RSS {:.0} MB ({:.0} MB after building the matrix; top variance {:.3})",
            a.nnz(),
            t.elapsed().as_secs_f64(),
            peak_rss_mb(),
            built,
            res.explained_variance[0]
        );
    }
}

/// Task 4's kNN at the size of the 200,000-sample benchmark (about 42,000
/// test_seen queries against 98,000 train references, 256 dims, k = 313),
/// and the floating-point rate it reaches against a plain faer product.
fn knn_case() {
    use faer::linalg::matmul::matmul;
    use faer::{Accum, Mat, Par};
    use pertbench_kernels::neighbours::knn::{default_k, knn, KnnMetric};
    let (nq, nr, d) = (42_000usize, 98_000usize, 256usize);
    let mut rng = stream(3, "bench", 0);
    let r = ndarray::Array2::from_shape_simple_fn((nr, d), || rng.random::<f32>() - 0.5);
    let q = ndarray::Array2::from_shape_simple_fn((nq, d), || rng.random::<f32>() - 0.5);
    let k = default_k(nr);
    let t = Instant::now();
    let nb = knn(
        r.view(),
        q.view(),
        k,
        KnnMetric::Euclidean,
        None,
        Par::rayon(0),
        &Work::new(),
    )
    .unwrap();
    let secs = t.elapsed().as_secs_f64();
    let flops = 2.0 * nq as f64 * nr as f64 * d as f64;
    // A plain faer f32 product of the same inner size, all threads: 8,192 x 256 x 16,384 repeated.
    let a = Mat::<f32>::from_fn(8192, d, |i, j| ((i * 7 + j) % 13) as f32);
    let b = Mat::<f32>::from_fn(d, 16_384, |i, j| ((i + j * 3) % 11) as f32);
    let mut c = Mat::<f32>::zeros(8192, 16_384);
    let reps = 4;
    let t2 = Instant::now();
    for _ in 0..reps {
        matmul(
            c.as_mut(),
            Accum::Replace,
            a.as_ref(),
            b.as_ref(),
            1.0,
            Par::rayon(0),
        );
    }
    let mm = t2.elapsed().as_secs_f64();
    let mm_flops = reps as f64 * 2.0 * 8192.0 * 16_384.0 * d as f64;
    println!(
        "knn         {nq} queries x {nr} references x {d} dims, k = {k}: {secs:.2} s, {:.1} GFLOP/s in the distance products (plain faer f32 product: {:.1} GFLOP/s, ratio {:.2}), peak RSS {:.0} MB (first neighbour distance {:.3})",
        flops / secs / 1e9,
        mm_flops / mm / 1e9,
        (flops / secs) / (mm_flops / mm),
        peak_rss_mb(),
        nb.distance[0]
    );
}

/// Task 2's softmax probe at the benchmark's size: 100,000 training samples
/// x 256 dims, 1,440 classes, at most 10 epochs.
fn softmax_case() {
    softmax_at(100_000, 1_440, 10);
}

/// Issue 5's softmax case: 1,000,000 samples x 256 dims x 7,000 classes,
/// at most two passes.
fn softmax_target_case() {
    softmax_at(1_000_000, 7_000, 2);
}

fn softmax_at(n: usize, c: usize, max_epochs: usize) {
    use pertbench_kernels::models::softmax::{fit_softmax, SoftmaxOptions};
    let d = 256usize;
    let mut rng = stream(4, "bench", 0);
    let x = ndarray::Array2::from_shape_simple_fn((n, d), || rng.random::<f32>() - 0.5);
    let label: Vec<u32> = (0..n).map(|i| (i % c) as u32).collect();
    let rows: Vec<usize> = (0..n).collect();
    let opt = SoftmaxOptions {
        max_epochs,
        ..SoftmaxOptions::default()
    };
    let t = Instant::now();
    let (m, fit) = fit_softmax(
        x.view(),
        &rows,
        &label,
        c,
        &opt,
        Par::rayon(0),
        &Work::new(),
    )
    .unwrap();
    let secs = t.elapsed().as_secs_f64();
    // Two products a step, plus one for each check row.
    let rows_seen = (fit.steps * opt.batch_size).min(fit.epochs * n) as f64;
    let checks = (fit.steps / (4 * fit.check_rows).div_ceil(opt.batch_size).max(1)) as f64;
    let flops = (2.0 * rows_seen + checks * fit.check_rows as f64) * 2.0 * d as f64 * c as f64;
    println!(
        "softmax     {n} x {d}, {c} classes, {} steps ({} epochs, converged {}) of batch {}: {secs:.2} s, {:.1} GFLOP/s in the products, peak RSS {:.0} MB (bias[0] {:.4})",
        fit.steps,
        fit.epochs,
        fit.converged,
        opt.batch_size,
        flops / secs / 1e9,
        peak_rss_mb(),
        m.bias[0]
    );
}

/// Issue 4's size: energy distance and MMD^2 of 2,000 perturbations x 200
/// samples x 128 dims against 5,000 controls, with 1,000 permutations for
/// 100 of them. Perturbations are processed two at a time (one per core).
fn distribution_case() {
    use pertbench_kernels::stats::control_reference::ControlReference;
    use pertbench_kernels::stats::distribution::EnergyConvention;
    use rayon::prelude::*;
    let (n_pert, n, d, n_ctrl, n_tested, n_perm) = (
        2_000usize, 200usize, 128usize, 5_000usize, 100usize, 1_000usize,
    );
    let mut rng = stream(5, "bench", 0);
    let y = ndarray::Array2::from_shape_simple_fn((n_ctrl, d), || rng.random::<f64>() - 0.5);
    let t = Instant::now();
    let reference = ControlReference::new(y.view(), Par::rayon(0)).unwrap();
    let setup = t.elapsed().as_secs_f64();
    let pert = |p: usize| {
        let mut r = stream(6, "bench/pert", p as u64);
        let shift = (p % 10) as f64 * 0.02;
        ndarray::Array2::from_shape_simple_fn((n, d), || r.random::<f64>() - 0.5 + shift)
    };
    let t = Instant::now();
    // As the metric does: the untested perturbations are compared, the
    // tested ones compared and tested in one call.
    let stats: Vec<(f64, f64)> = (n_tested..n_pert)
        .into_par_iter()
        .with_max_len(1)
        .map(|p| {
            let c = reference
                .compare(pert(p).view(), EnergyConvention::UStatistic, true)
                .unwrap();
            (c.energy, c.mmd2.unwrap())
        })
        .collect();
    let compare = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let pvals: Vec<(f64, f64)> = (0..n_tested)
        .into_par_iter()
        .with_max_len(1)
        .map(|p| {
            reference
                .compare_and_test(
                    pert(p).view(),
                    EnergyConvention::UStatistic,
                    n_perm,
                    p as u64,
                )
                .unwrap()
                .1
        })
        .collect();
    let tests = t.elapsed().as_secs_f64();
    let significant = pvals.iter().filter(|(pe, _)| *pe < 0.05).count();
    println!(
        "distribution {n_pert} perturbations x {n} x {d} vs {n_ctrl} controls: controls {setup:.2} s, energy + MMD for the {} untested {compare:.2} s, energy + MMD with {n_perm} permutations for {n_tested}: {tests:.2} s; total {:.2} s, peak RSS {:.0} MB (energy[{}] {:.4}, mmd2 {:.5}, {significant}/{n_tested} energy p < 0.05)",
        n_pert - n_tested,
        setup + compare + tests,
        peak_rss_mb(),
        n_tested,
        stats[0].0,
        stats[0].1
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("recall") => recall_case(),
        Some("pca") => pca_case(),
        Some("pca_target") => pca_target_case(),
        Some("spmm") => spmm_case(),
        Some("decoder_fit") => decoder_fit_case(),
        Some("knn") => knn_case(),
        Some("softmax") => softmax_case(),
        Some("softmax_target") => softmax_target_case(),
        Some("distribution") => distribution_case(),
        None => {
            for case in ["recall", "pca", "knn", "softmax", "distribution"] {
                let st = std::process::Command::new(&args[0])
                    .arg(case)
                    .status()
                    .expect("spawn");
                assert!(st.success(), "case {case} failed");
            }
        }
        Some(other) => {
            panic!("unknown case `{other}` (recall, pca, pca_target, spmm, decoder_fit, knn, softmax, softmax_target, distribution)")
        }
    }
}
