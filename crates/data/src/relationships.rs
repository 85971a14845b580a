//! Known-relationship pair files (`entity1,entity2`) and complex clusters.

use crate::error::{DataError, Result};
use std::collections::BTreeSet;
use std::path::Path;

/// Pairs as in efaar-benchmarking `filter_relationships`: each pair sorted,
/// self pairs and duplicates dropped. Returned sorted.
pub fn read_pairs(path: &Path) -> Result<Vec<(String, String)>> {
    let text = std::fs::read_to_string(path).map_err(|e| DataError::io(path, e))?;
    let mut lines = text.lines().enumerate();
    match lines.next() {
        Some((_, h)) if h.trim() == "entity1,entity2" => {}
        other => {
            return Err(DataError::file(
                path,
                format!(
                    "line 1: expected header `entity1,entity2`, found `{}`",
                    other.map(|o| o.1).unwrap_or("")
                ),
            ))
        }
    }
    let mut set = BTreeSet::new();
    for (i, line) in lines {
        if line.trim().is_empty() {
            continue;
        }
        let mut parts = line.split(',');
        let (Some(a), Some(b), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(DataError::file(
                path,
                format!("line {}: expected two comma-separated genes", i + 1),
            ));
        };
        let (a, b) = (a.trim(), b.trim());
        if a == b {
            continue;
        }
        let pair = if a < b {
            (a.to_string(), b.to_string())
        } else {
            (b.to_string(), a.to_string())
        };
        set.insert(pair);
    }
    Ok(set.into_iter().collect())
}

/// `name<TAB>gene gene ...` clusters (CORUM_clusters.tsv).
pub fn read_clusters(path: &Path) -> Result<Vec<(String, Vec<String>)>> {
    let text = std::fs::read_to_string(path).map_err(|e| DataError::io(path, e))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            let (name, genes) = l.split_once('\t').ok_or_else(|| {
                DataError::file(path, format!("line {}: expected name<TAB>genes", i + 1))
            })?;
            Ok((
                name.to_string(),
                genes.split_whitespace().map(str::to_string).collect(),
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_are_sorted_deduplicated_without_self() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("r.txt");
        std::fs::write(&p, "entity1,entity2\nB,A\nA,B\nC,C\nA,C\n").unwrap();
        assert_eq!(
            read_pairs(&p).unwrap(),
            vec![("A".into(), "B".into()), ("A".into(), "C".into())]
        );
        std::fs::write(&p, "entity1,entity2\nA;B\n").unwrap();
        let e = read_pairs(&p).unwrap_err().to_string();
        assert!(e.contains("r.txt: line 2"), "{e}");
    }
}
