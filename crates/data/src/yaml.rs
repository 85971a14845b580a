//! Strict YAML loading: unknown keys and wrong types are errors that name the
//! file, line and column.

use crate::error::{DataError, Result};
use serde::de::DeserializeOwned;
use std::path::Path;

pub fn from_str<T: DeserializeOwned>(path: &Path, text: &str) -> Result<T> {
    serde_yaml_ng::from_str(text).map_err(|e| {
        let loc = e
            .location()
            .map(|l| format!("line {}, column {}: ", l.line(), l.column()))
            .unwrap_or_default();
        DataError::file(path, format!("{loc}{e}"))
    })
}

pub fn from_file<T: DeserializeOwned>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path).map_err(|e| DataError::io(path, e))?;
    from_str(path, &text)
}
