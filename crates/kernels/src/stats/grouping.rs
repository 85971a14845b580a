//! Row groupings (by perturbation, by batch) shared by metrics and transforms.

use std::collections::BTreeMap;

/// Row indices of each distinct label, labels in sorted order.
pub fn group_rows<'a, I>(labels: I) -> BTreeMap<String, Vec<usize>>
where
    I: IntoIterator<Item = &'a str>,
{
    let mut groups: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, l) in labels.into_iter().enumerate() {
        groups.entry(l.to_string()).or_default().push(i);
    }
    groups
}
