//! numpy.searchsorted on an ascending slice.

/// Index of the first element `>= v` (numpy `side="left"`).
pub fn searchsorted_left(sorted: &[f64], v: f64) -> usize {
    sorted.partition_point(|x| *x < v)
}

/// Index of the first element `> v` (numpy `side="right"`).
pub fn searchsorted_right(sorted: &[f64], v: f64) -> usize {
    sorted.partition_point(|x| *x <= v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_numpy_on_ties() {
        let s = [1.0, 2.0, 2.0, 3.0];
        assert_eq!(searchsorted_left(&s, 2.0), 1);
        assert_eq!(searchsorted_right(&s, 2.0), 3);
        assert_eq!(searchsorted_left(&s, 0.0), 0);
        assert_eq!(searchsorted_right(&s, 9.0), 4);
    }
}
