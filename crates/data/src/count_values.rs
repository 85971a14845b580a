//! Telling raw counts from normalised values: where a dataset declares
//! counts (`values: counts`, the default), every stored value must be a
//! whole, non-negative number. A log-normalised `X` read as counts would be
//! normalised twice and give wrong numbers without any error, so ingestion
//! checks every value it reads, and `init` and the error's advice look for
//! the matrix of an h5ad that does hold counts.

use crate::h5ad::H5ad;
use pertbench_kernels::sparse::csr::CsrMatrix;

/// Why a value is not a count.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum NotCount {
    Negative,
    Fractional,
}

impl NotCount {
    /// How an error says it: "the value {v} ... {describe()}".
    pub fn describe(self) -> &'static str {
        match self {
            NotCount::Negative => "is negative",
            NotCount::Fractional => "is not a whole number",
        }
    }
}

/// The first entry of `block` that is not a count: (row in the block,
/// column, value, why).
pub fn first_not_count(block: &CsrMatrix) -> Option<(usize, usize, f32, NotCount)> {
    let data = block.data();
    let bad = data.iter().position(|&v| v < 0.0 || !whole(v))?;
    let row = block.indptr().partition_point(|&o| o <= bad as u64) - 1;
    let (col, v) = block
        .row(row)
        .nth(bad - block.indptr()[row] as usize)
        .expect("the entry lies in its row");
    let why = if v < 0.0 {
        NotCount::Negative
    } else {
        NotCount::Fractional
    };
    Some((row, col, v, why))
}

/// Whether `v` is a whole number. Every f32 of magnitude 2^23 or more is
/// whole; below, a round trip through i32 (one conversion instruction, where
/// `fract` calls libm's `truncf` without SSE4.1) tells.
#[inline]
fn whole(v: f32) -> bool {
    v.abs() >= 8_388_608.0 || (v as i32) as f32 == v
}

/// Whether `m` holds counts: some non-zero values, all whole and
/// non-negative.
pub fn looks_like_counts(m: &CsrMatrix) -> bool {
    m.nnz() > 0 && first_not_count(m).is_none()
}

/// Rows of each matrix read to judge it.
pub const HEAD_ROWS: usize = 200;

/// The matrices of an h5ad that may hold counts (`X`, `raw/X`, each
/// layer), each with whether its first [`HEAD_ROWS`] rows hold counts.
/// Matrices that cannot be read (CSC, odd shapes) are left out.
pub fn h5ad_count_sources(h: &H5ad) -> Vec<(String, bool)> {
    let mut candidates = vec!["X".to_string()];
    if h.has_matrix("raw/X") {
        candidates.push("raw/X".into());
    }
    candidates.extend(h.layer_names().into_iter().map(|l| format!("layers/{l}")));
    candidates
        .into_iter()
        .filter_map(|c| {
            let head = h.matrix_head(&c, HEAD_ROWS).ok()?;
            Some((c.clone(), looks_like_counts(&head)))
        })
        .collect()
}

/// What to do when `source` of an h5ad does not hold counts: the matrices
/// that do, as manifest settings, or the `values` alternative.
pub fn h5ad_advice(h: &H5ad, source: &str) -> String {
    let with_counts: Vec<String> = h5ad_count_sources(h)
        .into_iter()
        .filter(|(c, counts)| *counts && c != source)
        .map(|(c, _)| {
            let setting = crate::manifest::CountsSource::from_matrix_path(&c)
                .map(|s| s.name())
                .unwrap_or(c.clone());
            format!("`counts: {setting}`")
        })
        .collect();
    let mut advice = String::new();
    if !with_counts.is_empty() {
        advice.push_str(&format!(
            "the file holds whole counts in {}: set {} in the manifest",
            with_counts
                .iter()
                .map(|s| s.trim_start_matches("`counts: ").trim_end_matches('`'))
                .collect::<Vec<_>>()
                .join(", "),
            with_counts.join(" or ")
        ));
        advice.push_str("; or, ");
    }
    advice.push_str(
        "if the values are already normalised and log-scaled, set `values: log_expression` (used as stored, never normalised again)",
    );
    advice
}

#[cfg(test)]
mod tests {
    use super::*;
    use pertbench_kernels::sparse::csr::CsrBuilder;

    fn csr(rows: &[&[(u32, f32)]]) -> CsrMatrix {
        let mut b = CsrBuilder::new(4);
        for r in rows {
            for &(c, v) in *r {
                b.push(c, v);
            }
            b.finish_row();
        }
        b.build().unwrap()
    }

    #[test]
    fn finds_the_first_fraction_or_negative_with_its_row_and_column() {
        let m = csr(&[&[(0, 1.0), (2, 3.0)], &[], &[(1, 2.0), (3, 0.693)]]);
        assert_eq!(
            first_not_count(&m),
            Some((2, 3, 0.693, NotCount::Fractional))
        );
        let m = csr(&[&[(0, 1.0)], &[(2, -2.0)]]);
        assert_eq!(first_not_count(&m), Some((1, 2, -2.0, NotCount::Negative)));
        let m = csr(&[&[(0, 1.0), (3, 7.0)], &[(2, 2.0)]]);
        assert_eq!(first_not_count(&m), None);
        assert!(looks_like_counts(&m));
        assert!(!looks_like_counts(&csr(&[&[], &[]])));
        for v in [0.0f32, 1.0, 63.0, 1e6, 8_388_607.0, 8_388_608.0, 3e9, -4.0] {
            assert!(whole(v), "{v}");
        }
        for v in [0.5f32, 1e-7, 8_388_606.5, -0.25, f32::NAN] {
            assert!(!whole(v), "{v}");
        }
    }
}
