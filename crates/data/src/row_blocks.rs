//! Reading a file's rows in blocks: which consecutive runs of the wanted
//! rows are read together.

use std::borrow::Cow;
use std::ops::Range;

/// The rows listed, or all `n` rows.
pub fn rows_or_all(rows: Option<&[usize]>, n: usize) -> Cow<'_, [usize]> {
    match rows {
        Some(r) => Cow::Borrowed(r),
        None => Cow::Owned((0..n).collect()),
    }
}

/// Splits `rows` (ascending) into runs, each read as one block: a run
/// starting at row `first` takes following rows `r` while `fits(first, r)`.
/// Yields index ranges into `rows`; every run holds at least one row.
pub fn spans<'a>(
    rows: &'a [usize],
    fits: impl Fn(usize, usize) -> bool + 'a,
) -> impl Iterator<Item = Range<usize>> + 'a {
    let mut k = 0;
    std::iter::from_fn(move || {
        if k >= rows.len() {
            return None;
        }
        let first = rows[k];
        let mut end = k + 1;
        while end < rows.len() && fits(first, rows[end]) {
            end += 1;
        }
        let span = k..end;
        k = end;
        Some(span)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_grow_while_rows_fit() {
        let rows = [0, 1, 2, 5, 6, 9];
        let by_three: Vec<_> = spans(&rows, |first, r| r < first + 3).collect();
        assert_eq!(by_three, vec![0..3, 3..5, 5..6]);
        // A row that never fits still makes a run of its own.
        let single: Vec<_> = spans(&rows, |_, _| false).collect();
        assert_eq!(single.len(), 6);
        assert_eq!(spans(&[], |_, _| true).count(), 0);
        assert_eq!(&*rows_or_all(None, 3), &[0, 1, 2]);
        assert_eq!(&*rows_or_all(Some(&rows[..2]), 3), &[0, 1]);
    }
}
