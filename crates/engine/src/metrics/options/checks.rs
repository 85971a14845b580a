//! Range checks a field declares in [`super::metric_options!`]
//! (`check name(args)`): each takes the field's name and its value, and
//! fails with a message naming the field.

use std::fmt::Debug;

/// Largest number of permutations, label shuffles or bootstrap draws.
pub const MAX_DRAWS: usize = 1_000_000;
/// Largest `epochs` (adam).
pub const MAX_EPOCHS: usize = 100_000;
/// Largest `max_steps` (L-BFGS iterations or Adam steps).
pub const MAX_STEPS: usize = 1_000_000;

pub type Checked = Result<(), String>;

/// A count in [min, max] (a min of 0 or 1 reads "must be positive").
pub fn count(field: &str, v: &usize, min: usize, max: usize) -> Checked {
    if *v < min {
        if min <= 1 {
            return Err(format!("`{field}` must be positive"));
        }
        return Err(format!("`{field}` must be at least {min}, got {v}"));
    }
    if *v > max {
        return Err(format!("`{field}` must be at most {max}, got {v}"));
    }
    Ok(())
}

/// Above zero (a count or a real).
pub fn positive<T: PartialOrd + Default>(field: &str, v: &T) -> Checked {
    if *v > T::default() {
        Ok(())
    } else {
        Err(format!("`{field}` must be positive"))
    }
}

/// Zero or above.
pub fn nonnegative(field: &str, v: &f64) -> Checked {
    if *v >= 0.0 {
        Ok(())
    } else {
        Err(format!("`{field}` must be positive"))
    }
}

/// Not NaN or infinite (they give numbers that look plausible and mean
/// nothing).
pub fn finite(field: &str, v: &f64) -> Checked {
    if v.is_finite() {
        Ok(())
    } else {
        Err(format!("`{field}` must be a finite number"))
    }
}

/// A significance level: strictly between 0 and 1.
pub fn level(field: &str, v: &f64) -> Checked {
    if *v > 0.0 && *v < 1.0 {
        Ok(())
    } else {
        Err(format!(
            "`{field}` must lie strictly between 0 and 1, got {v}"
        ))
    }
}

/// A list that is not empty and names nothing twice (a repeated entry
/// would write every row twice).
pub fn nonempty_distinct<T: PartialEq + serde::Serialize + Debug>(field: &str, v: &[T]) -> Checked {
    if v.is_empty() {
        return Err(format!("`{field}` is empty"));
    }
    if let Some(d) = first_repeat(v) {
        let shown = serde_json::to_value(d)
            .ok()
            .map(|j| match j {
                serde_json::Value::String(s) => format!("`{s}`"),
                serde_json::Value::Array(a) => format!(
                    "[{}]",
                    a.iter()
                        .map(|x| x.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                other => other.to_string(),
            })
            .unwrap_or_else(|| format!("{d:?}"));
        return Err(format!("`{field}` lists {shown} twice"));
    }
    Ok(())
}

/// The first entry that appears twice in `v`.
pub fn first_repeat<T: PartialEq>(v: &[T]) -> Option<&T> {
    v.iter()
        .enumerate()
        .find(|(i, x)| v[..*i].contains(x))
        .map(|(_, x)| x)
}

/// A list that is not empty.
pub fn nonempty<T>(field: &str, v: &[T]) -> Checked {
    if v.is_empty() {
        return Err(format!("`{field}` is empty"));
    }
    Ok(())
}
