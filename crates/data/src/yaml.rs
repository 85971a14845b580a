//! Strict YAML loading: unknown keys and wrong types are errors that name the
//! file, line and column.

use crate::error::{DataError, Result};
use serde::de::DeserializeOwned;
use std::path::Path;

/// Largest pipeline or manifest accepted, in bytes.
pub const MAX_BYTES: usize = 1 << 20;
/// Deepest nesting of flow collections (`[`, `{`) accepted: parse time grew
/// quadratically with it (100,000 levels took 20-43 s).
pub const MAX_DEPTH: usize = 64;

/// Why a file of `len` bytes is too large to read, or None.
fn too_long(len: u64) -> Option<String> {
    (len > MAX_BYTES as u64)
        .then(|| format!("{len} bytes: a pipeline or manifest may hold at most {MAX_BYTES}"))
}

/// Why `text` is too large or too deeply nested to parse, or None.
fn too_big(text: &str) -> Option<String> {
    if let Some(why) = too_long(text.len() as u64) {
        return Some(why);
    }
    let (mut depth, mut deepest) = (0usize, 0usize);
    let (mut line, mut deepest_line) = (1usize, 1usize);
    let mut quote: Option<char> = None;
    let mut comment = false;
    for c in text.chars() {
        if c == '\n' {
            line += 1;
            comment = false;
            continue;
        }
        if comment {
            continue;
        }
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, '#') => comment = true,
            (None, '[' | '{') => {
                depth += 1;
                if depth > deepest {
                    (deepest, deepest_line) = (depth, line);
                }
            }
            (None, ']' | '}') => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    (deepest > MAX_DEPTH).then(|| {
        format!("line {deepest_line}: collections nested {deepest} deep (at most {MAX_DEPTH})")
    })
}

pub fn from_str<T: DeserializeOwned>(path: &Path, text: &str) -> Result<T> {
    if let Some(why) = too_big(text) {
        return Err(DataError::file(path, why));
    }
    serde_yaml_ng::from_str(text).map_err(|e| {
        let loc = e
            .location()
            .map(|l| format!("line {}, column {}: ", l.line(), l.column()))
            .unwrap_or_default();
        DataError::file(path, format!("{loc}{e}"))
    })
}

pub fn from_file<T: DeserializeOwned>(path: &Path) -> Result<T> {
    // Checked before reading: a multi-gigabyte file (or a device) is not
    // read into memory.
    let len = std::fs::metadata(path).map_err(|e| DataError::io(path, e))?;
    if !len.is_file() {
        return Err(DataError::file(path, "not a regular file"));
    }
    if let Some(why) = too_long(len.len()) {
        return Err(DataError::file(path, why));
    }
    let text = std::fs::read_to_string(path).map_err(|e| DataError::io(path, e))?;
    from_str(path, &text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deep_nesting_and_huge_files_are_refused_before_parsing() {
        let p = Path::new("p.yaml");
        let deep = format!("a: {}{}", "[".repeat(100_000), "]".repeat(100_000));
        let started = std::time::Instant::now();
        let e = from_str::<serde_json::Value>(p, &deep)
            .unwrap_err()
            .to_string();
        assert!(e.contains("nested 100000 deep"), "{e}");
        assert!(started.elapsed().as_secs() < 2);
        let ok = format!(
            "a: {}1{}  # [[[[\nb: '{{{{{{'",
            "[".repeat(10),
            "]".repeat(10)
        );
        from_str::<serde_json::Value>(p, &ok).unwrap();
        let big = format!("a: '{}'", "x".repeat(MAX_BYTES));
        assert!(from_str::<serde_json::Value>(p, &big)
            .unwrap_err()
            .to_string()
            .contains("at most"));
    }
}
