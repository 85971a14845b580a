//! The space `prediction` scores in: the post-processed representation, or
//! the expression of chosen genes.

use crate::exec::outputs::IngestOut;
use ndarray::{Array1, Array2};

/// Reads sample vectors in the evaluation space.
pub(super) enum Space<'a> {
    Representation(&'a pertbench_kernels::Matrix),
    /// Expression of the genes at `columns` (indices into the dataset's genes).
    Expression {
        ingest: &'a IngestOut,
        columns: Vec<usize>,
    },
}

impl Space<'_> {
    pub(super) fn dims(&self) -> usize {
        match self {
            Space::Representation(m) => m.ncols(),
            Space::Expression { columns, .. } => columns.len(),
        }
    }
    /// The vector of the sample at matrix position `pos` (row `rows[pos]`).
    pub(super) fn row(&self, pos: usize, rows: &[usize], buf: &mut Vec<f64>) -> Array1<f64> {
        match self {
            Space::Representation(m) => m.row(pos).mapv(|v| v as f64),
            Space::Expression { ingest, columns } => {
                let counts = ingest.counts.as_ref().expect("checked");
                buf.clear();
                buf.resize(counts.ncols, 0.0);
                IngestOut::expression_row_into(counts, ingest.values, rows[pos], buf);
                columns.iter().map(|&g| buf[g]).collect()
            }
        }
    }
    pub(super) fn mean(&self, positions: &[usize], rows: &[usize]) -> Array1<f64> {
        let mut buf = Vec::new();
        let mut sum = Array1::<f64>::zeros(self.dims());
        for &p in positions {
            sum += &self.row(p, rows, &mut buf);
        }
        sum / positions.len().max(1) as f64
    }
    pub(super) fn matrix(&self, positions: &[usize], rows: &[usize]) -> Array2<f64> {
        let mut buf = Vec::new();
        let mut out = Array2::zeros((positions.len(), self.dims()));
        for (i, &p) in positions.iter().enumerate() {
            out.row_mut(i).assign(&self.row(p, rows, &mut buf));
        }
        out
    }
}

/// Genes of highest variance over the samples at `positions` (ties by index).
pub(super) fn top_variance_genes(
    ingest: &IngestOut,
    positions: &[usize],
    rows: &[usize],
    n: usize,
    among: Option<&[usize]>,
) -> Vec<usize> {
    let counts = ingest.counts.as_ref().expect("checked");
    let g = counts.ncols;
    let (mut s1, mut s2) = (vec![0.0f64; g], vec![0.0f64; g]);
    let mut buf = vec![0.0; g];
    for &p in positions {
        buf.iter_mut().for_each(|v| *v = 0.0);
        IngestOut::expression_row_into(counts, ingest.values, rows[p], &mut buf);
        for j in 0..g {
            s1[j] += buf[j];
            s2[j] += buf[j] * buf[j];
        }
    }
    let k = positions.len().max(1) as f64;
    let mut candidates: Vec<usize> = among
        .map(<[usize]>::to_vec)
        .unwrap_or_else(|| (0..g).collect());
    let var = |j: usize| s2[j] / k - (s1[j] / k).powi(2);
    candidates.sort_by(|&a, &b| var(b).total_cmp(&var(a)).then(a.cmp(&b)));
    candidates.truncate(n);
    candidates.sort_unstable();
    candidates
}
