//! Fits Task 2's softmax probe on raw little-endian files, for comparing it
//! with scikit-learn by hand: `probe_fit DIR d n_classes [l2]` reads
//! DIR/{xtr,xte}.f32 (row-major, d columns) and DIR/{ytr,yte}.u32 and prints
//! top-1, top-5 and how the fit ended.
use pertbench_kernels::models::softmax::{fit_softmax, top1_top5, SoftmaxOptions};
use pertbench_kernels::runtime::work::Work;
use pertbench_kernels::Par;
use std::path::Path;

fn floats(p: &Path, d: usize) -> ndarray::Array2<f32> {
    let b = std::fs::read(p).unwrap();
    let v: Vec<f32> = b
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    ndarray::Array2::from_shape_vec((v.len() / d, d), v).unwrap()
}

fn codes(p: &Path) -> Vec<u32> {
    std::fs::read(p)
        .unwrap()
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

fn main() {
    let a: Vec<String> = std::env::args().collect();
    let dir = Path::new(&a[1]);
    let d: usize = a[2].parse().unwrap();
    let c: usize = a[3].parse().unwrap();
    let mut opt = SoftmaxOptions::default();
    if let Some(l2) = a.get(4) {
        opt.l2 = l2.parse().unwrap();
    }
    if let Some(tol) = a.get(5) {
        opt.tol = tol.parse().unwrap();
    }
    if let Some(g) = a.get(6) {
        opt.gtol = g.parse().unwrap();
    }
    if std::env::var("ADAM").is_ok() {
        opt.optimiser = pertbench_kernels::models::softmax::Optimiser::Adam;
    }
    let (xtr, xte) = (
        floats(&dir.join("xtr.f32"), d),
        floats(&dir.join("xte.f32"), d),
    );
    let (ytr, yte) = (codes(&dir.join("ytr.u32")), codes(&dir.join("yte.u32")));
    let t = std::time::Instant::now();
    let rows: Vec<usize> = (0..xtr.nrows()).collect();
    let (m, fit) = fit_softmax(
        xtr.view(),
        &rows,
        &ytr,
        c,
        &opt,
        Par::rayon(0),
        &Work::new(),
    )
    .unwrap();
    let trows: Vec<usize> = (0..xte.nrows()).collect();
    let (t1, t5) = top1_top5(&m, xte.view(), &trows, &yte, Par::rayon(0), &Work::new());
    println!(
        "top1 {:.4} top5 {:.4} steps {} epochs {} converged {} stop {} reductions {} loss {:.6} secs {:.2}",
        t1 as f64 / yte.len() as f64,
        t5 as f64 / yte.len() as f64,
        fit.steps,
        fit.epochs,
        fit.converged,
        fit.stop,
        fit.reductions,
        fit.loss,
        t.elapsed().as_secs_f64()
    );
}
