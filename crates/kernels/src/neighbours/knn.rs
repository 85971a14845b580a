//! Exact k-nearest-neighbour search by blocked matrix products.
//!
//! Distances come from `|q|^2 + |r|^2 - 2 q.r` with the products computed in
//! f32 by faer, one block of queries against one block of references at a
//! time, so memory stays at a block (never n x n). The k survivors of each
//! query are then re-measured exactly in f64 and sorted by (distance,
//! reference index), so ties resolve to the lower index. Work is split over
//! query blocks with rayon; every output element is computed by the same
//! sequential arithmetic whatever the thread count.

use crate::runtime::work::{Kernel, Work};
use crate::KernelError;
use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, MatRef, Par};
use ndarray::ArrayView2;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KnnMetric {
    /// Plain Euclidean distance.
    Euclidean,
    /// 1 - cosine similarity (zero rows have cosine 0 to everything).
    Cosine,
}

/// Neighbours of each query, row-major `n_queries x k`, nearest first.
#[derive(Debug, Clone, PartialEq)]
pub struct Neighbours {
    pub k: usize,
    pub index: Vec<u32>,
    /// Euclidean distance, or 1 - cosine for [`KnnMetric::Cosine`].
    pub distance: Vec<f64>,
}

impl Neighbours {
    pub fn n_queries(&self) -> usize {
        self.index.len().checked_div(self.k).unwrap_or(0)
    }
    pub fn row(&self, q: usize) -> (&[u32], &[f64]) {
        let s = q * self.k..(q + 1) * self.k;
        (&self.index[s.clone()], &self.distance[s])
    }
}

const QUERY_BLOCK: usize = 1024;
const REFERENCE_BLOCK: usize = 2048;

fn unit(x: ArrayView2<f32>) -> ndarray::Array2<f32> {
    let mut u = x.to_owned();
    for mut r in u.outer_iter_mut() {
        let n = r
            .iter()
            .map(|v| (*v as f64) * (*v as f64))
            .sum::<f64>()
            .sqrt();
        if n > 0.0 {
            r.mapv_inplace(|v| (v as f64 / n) as f32);
        }
    }
    u
}

fn exact(q: &[f32], r: &[f32], metric: KnnMetric, qn: f64, rn: f64) -> f64 {
    match metric {
        KnnMetric::Euclidean => squared_distance_f64(q, r).sqrt(),
        KnnMetric::Cosine => {
            if qn == 0.0 || rn == 0.0 {
                return 1.0;
            }
            let dot = dot_f64(q, r);
            1.0 - (dot / (qn * rn)).clamp(-1.0, 1.0)
        }
    }
}

/// sum (q - r)^2 (`SQUARES`) or sum q r, in f64, over four interleaved
/// partial sums (lane j sums elements j, j + 4, ...; lanes added as
/// (0 + 1) + (2 + 3)): a fixed order, the same on every machine, and one
/// that vectorises.
#[inline(always)]
fn interleaved_sum<const SQUARES: bool>(q: &[f32], r: &[f32]) -> f64 {
    #[inline(always)]
    fn term<const SQUARES: bool>(x: f32, y: f32) -> f64 {
        let (x, y) = (x as f64, y as f64);
        if SQUARES {
            (x - y) * (x - y)
        } else {
            x * y
        }
    }
    let mut acc = [0f64; 4];
    let (qc, rc) = (q.chunks_exact(4), r.chunks_exact(4));
    let (qt, rt) = (qc.remainder(), rc.remainder());
    for (a, b) in qc.zip(rc) {
        for j in 0..4 {
            acc[j] += term::<SQUARES>(a[j], b[j]);
        }
    }
    for (j, (x, y)) in qt.iter().zip(rt).enumerate() {
        acc[j] += term::<SQUARES>(*x, *y);
    }
    (acc[0] + acc[1]) + (acc[2] + acc[3])
}

crate::linalg::simd::avx2_dispatch! {
    /// sum (q - r)^2 in f64 (see [`interleaved_sum`]).
    fn squared_distance_f64(q: &[f32], r: &[f32]) -> f64 {
        interleaved_sum::<true>(q, r)
    }
}

crate::linalg::simd::avx2_dispatch! {
    /// sum q r in f64 (see [`interleaved_sum`]).
    fn dot_f64(q: &[f32], r: &[f32]) -> f64 {
        interleaved_sum::<false>(q, r)
    }
}

/// A distance's bit pattern as an unsigned key in the float order (negative
/// cosine distances from rounding included), for vectorised comparisons.
#[inline(always)]
fn order_key(x: f32) -> u32 {
    let b = x.to_bits();
    b ^ ((((b as i32) >> 31) as u32) | 0x8000_0000)
}

/// Distances per chunk of a block's column before the heap is consulted.
const SCAN_CHUNK: usize = 16;

crate::linalg::simd::avx2_dispatch! {
    /// Offers the references `r0 + j` (products `col[j]`) to one query's heap.
    /// Each chunk's distances are formed and their smallest compared with the
    /// heap's largest first, so most chunks cost a few vector instructions.
    fn scan_column(
        heap: &mut Vec<(f32, u32)>,
        k: usize,
        col: &[f32],
        rn2: &[f32],
        qn: f32,
        r0: usize,
        metric: KnnMetric,
        skip: Option<usize>,
    ) {
        let mut dist = [0f32; SCAN_CHUNK];
        for (c, (pc, nc)) in col
            .chunks(SCAN_CHUNK)
            .zip(rn2.chunks(SCAN_CHUNK))
            .enumerate()
        {
            let dist = &mut dist[..pc.len()];
            match metric {
                KnnMetric::Euclidean => {
                    for ((d, p), rn) in dist.iter_mut().zip(pc).zip(nc) {
                        *d = (qn + rn - 2.0 * p).max(0.0);
                    }
                }
                KnnMetric::Cosine => {
                    for (d, p) in dist.iter_mut().zip(pc) {
                        *d = 1.0 - p;
                    }
                }
            }
            if heap.len() == k {
                let least = dist.iter().map(|d| order_key(*d)).min().unwrap_or(u32::MAX);
                if least > order_key(heap[0].0) {
                    continue;
                }
            }
            for (j, &dd) in dist.iter().enumerate() {
                if heap.len() == k && dd > heap[0].0 {
                    continue;
                }
                let r = r0 + c * SCAN_CHUNK + j;
                if skip == Some(r) {
                    continue;
                }
                push_bounded(heap, k, (dd, r as u32));
            }
        }
    }
}

/// Row `i` of a row-major slice with `d` columns.
fn row(x: &[f32], i: usize, d: usize) -> &[f32] {
    &x[i * d..(i + 1) * d]
}

/// The `k` nearest rows of `reference` for each row of `queries`.
/// `exclude[q]`, when given, is a reference row that query `q` may not
/// return (itself, when queries are drawn from the reference). Blocks of
/// queries run on rayon's pool or on this thread as `par` says, with the
/// same result; the search is recorded in `work`.
pub fn knn(
    reference: ArrayView2<f32>,
    queries: ArrayView2<f32>,
    k: usize,
    metric: KnnMetric,
    exclude: Option<&[usize]>,
    par: Par,
    work: &Work,
) -> Result<Neighbours, KernelError> {
    work.timed(Kernel::NeighbourSearch, || {
        search(reference, queries, k, metric, exclude, par, work)
    })
}

fn search(
    reference: ArrayView2<f32>,
    queries: ArrayView2<f32>,
    k: usize,
    metric: KnnMetric,
    exclude: Option<&[usize]>,
    par: Par,
    work: &Work,
) -> Result<Neighbours, KernelError> {
    let (nr, d) = reference.dim();
    if queries.ncols() != d {
        return Err(KernelError::Shape(format!(
            "queries have {} columns, the reference {d}",
            queries.ncols()
        )));
    }
    let nq = queries.nrows();
    if let Some(e) = exclude {
        if e.len() != nq {
            return Err(KernelError::Shape(format!(
                "{} exclusions for {nq} queries",
                e.len()
            )));
        }
    }
    let available = nr - usize::from(exclude.is_some());
    if k == 0 || k > available {
        return Err(KernelError::NotEnough(format!(
            "k = {k} neighbours requested but only {available} reference samples are available"
        )));
    }
    // The caller's rows (borrowed when already row-major), on which the
    // survivors are re-measured; cosine products run on unit copies.
    let raw_r = reference.as_standard_layout();
    let raw_q = queries.as_standard_layout();
    let raw_rs = raw_r.as_slice().expect("standard layout");
    let raw_qs = raw_q.as_slice().expect("standard layout");
    let units = (metric == KnnMetric::Cosine).then(|| (unit(reference), unit(queries)));
    let (rs, qs) = match &units {
        Some((ur, uq)) => (
            ur.as_slice().expect("owned standard layout"),
            uq.as_slice().expect("owned standard layout"),
        ),
        None => (raw_rs, raw_qs),
    };
    let sq = |x: &[f32], n: usize| -> Vec<f32> {
        (0..n)
            .map(|i| row(x, i, d).iter().map(|v| v * v).sum::<f32>())
            .collect()
    };
    let rn2 = sq(rs, nr);
    let qn2 = sq(qs, nq);
    let norm64 = |s: &[f32]| s.iter().map(|v| *v as f64 * *v as f64).sum::<f64>().sqrt();
    let raw_rn: Vec<f64> = (0..nr).map(|i| norm64(row(raw_rs, i, d))).collect();

    let blocks: Vec<(Vec<u32>, Vec<f64>)> =
        crate::runtime::parallel::map_indices(par, nq.div_ceil(QUERY_BLOCK), |b| {
            let q0 = b * QUERY_BLOCK;
            let q1 = (q0 + QUERY_BLOCK).min(nq);
            let bq = q1 - q0;
            let qblock = MatRef::from_row_major_slice(&qs[q0 * d..q1 * d], bq, d);
            let mut heaps: Vec<Vec<(f32, u32)>> = vec![Vec::with_capacity(k + 1); bq];
            // Reference x query products: each query's column is contiguous.
            let mut prod = Mat::<f32>::zeros(REFERENCE_BLOCK, bq);
            let mut r0 = 0;
            while r0 < nr {
                let r1 = (r0 + REFERENCE_BLOCK).min(nr);
                let br = r1 - r0;
                let rblock = MatRef::from_row_major_slice(&rs[r0 * d..r1 * d], br, d);
                let mut dst = prod.as_mut().subrows_mut(0, br);
                work.add_product(br, d, bq);
                matmul(
                    dst.as_mut(),
                    Accum::Replace,
                    rblock,
                    qblock.transpose(),
                    1.0f32,
                    Par::Seq,
                );
                let dst = dst.as_ref();
                for (i, heap) in heaps.iter_mut().enumerate() {
                    let skip = exclude.map(|e| e[q0 + i]);
                    let col = dst
                        .col(i)
                        .try_as_col_major()
                        .expect("contiguous column")
                        .as_slice();
                    scan_column(heap, k, col, &rn2[r0..r1], qn2[q0 + i], r0, metric, skip);
                }
                r0 = r1;
            }
            let mut index = Vec::with_capacity(bq * k);
            let mut distance = Vec::with_capacity(bq * k);
            for (i, heap) in heaps.into_iter().enumerate() {
                let q = row(raw_qs, q0 + i, d);
                let qn = norm64(q);
                let mut exact_row: Vec<(f64, u32)> = heap
                    .into_iter()
                    .map(|(_, r)| {
                        let r = r as usize;
                        (exact(q, row(raw_rs, r, d), metric, qn, raw_rn[r]), r as u32)
                    })
                    .collect();
                exact_row.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
                for (dd, r) in exact_row {
                    index.push(r);
                    distance.push(dd);
                }
            }
            (index, distance)
        });
    let mut index = Vec::with_capacity(nq * k);
    let mut distance = Vec::with_capacity(nq * k);
    for (i, dd) in blocks {
        index.extend(i);
        distance.extend(dd);
    }
    Ok(Neighbours { k, index, distance })
}

/// Keeps the k smallest (distance, index) pairs in a max-heap laid out in `heap`.
#[inline]
fn push_bounded(heap: &mut Vec<(f32, u32)>, k: usize, item: (f32, u32)) {
    let greater = |a: &(f32, u32), b: &(f32, u32)| a.0 > b.0 || (a.0 == b.0 && a.1 > b.1);
    if heap.len() < k {
        heap.push(item);
        let mut c = heap.len() - 1;
        while c > 0 {
            let p = (c - 1) / 2;
            if greater(&heap[c], &heap[p]) {
                heap.swap(c, p);
                c = p;
            } else {
                break;
            }
        }
        return;
    }
    if !greater(&heap[0], &item) {
        return;
    }
    heap[0] = item;
    let n = heap.len();
    let mut p = 0;
    loop {
        let l = 2 * p + 1;
        let r = l + 1;
        let mut m = p;
        if l < n && greater(&heap[l], &heap[m]) {
            m = l;
        }
        if r < n && greater(&heap[r], &heap[m]) {
            m = r;
        }
        if m == p {
            break;
        }
        heap.swap(p, m);
        p = m;
    }
}

/// `floor(sqrt(n))`, made odd by adding one when even (METRICS.md Task 4).
pub fn default_k(n_reference: usize) -> usize {
    let k = (n_reference as f64).sqrt().floor() as usize;
    if k.is_multiple_of(2) {
        k + 1
    } else {
        k
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    fn brute(
        r: &Array2<f32>,
        q: &Array2<f32>,
        k: usize,
        metric: KnnMetric,
        self_ex: bool,
    ) -> Neighbours {
        let mut index = vec![];
        let mut distance = vec![];
        for (i, qr) in q.outer_iter().enumerate() {
            let qs = qr.to_vec();
            let qn = qs.iter().map(|v| (*v as f64).powi(2)).sum::<f64>().sqrt();
            let mut all: Vec<(f64, u32)> = r
                .outer_iter()
                .enumerate()
                .filter(|(j, _)| !(self_ex && *j == i))
                .map(|(j, rr)| {
                    let rs = rr.to_vec();
                    let rn = rs.iter().map(|v| (*v as f64).powi(2)).sum::<f64>().sqrt();
                    (exact(&qs, &rs, metric, qn, rn), j as u32)
                })
                .collect();
            all.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            for (d, j) in all.into_iter().take(k) {
                index.push(j);
                distance.push(d);
            }
        }
        Neighbours { k, index, distance }
    }

    fn data(n: usize, d: usize, salt: usize) -> Array2<f32> {
        Array2::from_shape_fn((n, d), |(i, j)| {
            (((i * 31 + j * 17 + salt) % 97) as f32 / 9.7 - 5.0) + (i as f32 * 1e-3)
        })
    }

    #[test]
    fn matches_brute_force_across_blocks() {
        // 2,300 references cross the 2,048 block; 300 queries cross 256.
        let r = data(2300, 7, 0);
        let q = data(300, 7, 5);
        for metric in [KnnMetric::Euclidean, KnnMetric::Cosine] {
            let got = knn(
                r.view(),
                q.view(),
                9,
                metric,
                None,
                Par::rayon(0),
                &Work::new(),
            )
            .unwrap();
            // Sequential blocks: the same bits.
            let seq = knn(r.view(), q.view(), 9, metric, None, Par::Seq, &Work::new()).unwrap();
            assert_eq!((&got.index, &got.distance), (&seq.index, &seq.distance));
            let want = brute(&r, &q, 9, metric, false);
            assert_eq!(got.index, want.index, "{metric:?}");
            for (a, b) in got.distance.iter().zip(&want.distance) {
                assert!((a - b).abs() < 1e-9);
            }
        }
    }

    #[test]
    fn self_exclusion_and_ties_prefer_lower_index() {
        // Points on a line: 0, 1, 1, 2 (two identical rows at 1).
        let x = Array2::from_shape_vec((4, 1), vec![0.0f32, 1.0, 1.0, 2.0]).unwrap();
        let ex: Vec<usize> = (0..4).collect();
        let nb = knn(
            x.view(),
            x.view(),
            2,
            KnnMetric::Euclidean,
            Some(&ex),
            Par::Seq,
            &Work::new(),
        )
        .unwrap();
        // Query 0: rows 1 and 2 both at distance 1: row 1 first.
        assert_eq!(nb.row(0).0, &[1, 2]);
        assert_eq!(nb.row(0).1, &[1.0, 1.0]);
        // Query 1: its twin (row 2) at 0, then row 0 and 3 tie at 1 -> row 0.
        assert_eq!(nb.row(1).0, &[2, 0]);
        assert_eq!(nb.row(3).0, &[1, 2]);
        let big = brute(&x, &x, 2, KnnMetric::Euclidean, true);
        assert_eq!(nb.index, big.index);
    }

    #[test]
    fn too_few_references_is_an_error() {
        let x = data(5, 2, 0);
        let ex: Vec<usize> = (0..5).collect();
        let e = knn(
            x.view(),
            x.view(),
            5,
            KnnMetric::Euclidean,
            Some(&ex),
            Par::Seq,
            &Work::new(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("only 4 reference samples"), "{e}");
    }

    #[test]
    fn default_k_is_odd_floor_sqrt() {
        assert_eq!(default_k(100), 11);
        assert_eq!(default_k(99), 9);
        assert_eq!(default_k(10), 3);
        assert_eq!(default_k(1), 1);
    }
}
