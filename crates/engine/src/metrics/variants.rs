//! The result variants each metric kind documents (its [`Explanation`]'s
//! `variants`), matched against the variants it writes.

use super::implementation;
use crate::pipeline::MetricKind;

/// Whether `variant` is one a metric writes, each `<x>` in the documented
/// name standing for any non-empty text.
pub fn variant_matches(documented: &str, variant: &str) -> bool {
    match documented.find('<') {
        None => documented == variant,
        Some(a) => {
            let Some(b) = documented[a..].find('>').map(|b| a + b) else {
                return documented == variant;
            };
            let (prefix, rest) = (&documented[..a], &documented[b + 1..]);
            let Some(tail) = variant.strip_prefix(prefix) else {
                return false;
            };
            // The placeholder takes at least one character; try each split.
            tail.char_indices()
                .skip(1)
                .map(|(i, _)| i)
                .chain(std::iter::once(tail.len()))
                .filter(|&i| i > 0)
                .any(|i| variant_matches(rest, &tail[i..]))
        }
    }
}

/// Whether a metric kind documents the result variant `variant`.
pub fn documents_variant(kind: MetricKind, variant: &str) -> bool {
    implementation(kind)
        .explanation()
        .variants
        .iter()
        .any(|(v, _)| variant_matches(v, variant))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variants_with_a_placeholder_match_any_value() {
        assert!(variant_matches("recall_<lo>_<hi>", "recall_0.05_0.95"));
        assert!(variant_matches("drop_<probe>", "drop_lopo_ridge"));
        assert!(!variant_matches("drop_<probe>", "drop_"));
        assert!(variant_matches("upper_only_<hi>", "upper_only_0.95"));
        assert!(!variant_matches("recall_<lo>_<hi>", "recall_0.05"));
        assert!(variant_matches("top1", "top1"));
        assert!(!variant_matches("top1", "top5"));
    }

    #[test]
    fn every_kind_documents_itself_and_its_defaults() {
        super::super::documented_defaults_agree().unwrap();
        for kind in MetricKind::ALL {
            let e = implementation(kind).explanation();
            for f in kind.fields() {
                assert!(!f.text().is_empty() && !f.default.is_empty(), "{}", f.name);
            }
            assert!(!e.summary.is_empty() && !e.definition.is_empty());
            assert!(!e.variants.is_empty() && !e.references.is_empty());
            assert!(!e.conventions.is_empty(), "{}", kind.name());
        }
    }
}
