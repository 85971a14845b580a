//! The kinds of node a DAG holds. A kind's name is its cache directory and
//! enters every key of its nodes, so names never change.

/// What a node computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NodeKind {
    /// A dataset read into samples, genes and expression.
    Ingest,
    /// Train / test splits of one seed.
    Split,
    /// An embedding of the samples (PCA, a file, random, shuffled...).
    Representation,
    /// A representation after one post-processing.
    PostProcess,
    /// A metric's rows on one post-processed representation.
    Metric,
}

impl NodeKind {
    pub const ALL: [NodeKind; 5] = [
        NodeKind::Ingest,
        NodeKind::Split,
        NodeKind::Representation,
        NodeKind::PostProcess,
        NodeKind::Metric,
    ];

    /// The name in keys, in the cache (`<cache>/<name>/<key>`) and in
    /// progress lines.
    pub const fn as_str(self) -> &'static str {
        match self {
            NodeKind::Ingest => "ingest",
            NodeKind::Split => "split",
            NodeKind::Representation => "representation",
            NodeKind::PostProcess => "postprocess",
            NodeKind::Metric => "metric",
        }
    }

    pub fn from_name(name: &str) -> Option<NodeKind> {
        NodeKind::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

impl std::fmt::Display for NodeKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_never_change() {
        // Cache directories and keys of existing nodes hold these names.
        let names: Vec<&str> = NodeKind::ALL.iter().map(|k| k.as_str()).collect();
        assert_eq!(
            names,
            ["ingest", "split", "representation", "postprocess", "metric"]
        );
        for k in NodeKind::ALL {
            assert_eq!(NodeKind::from_name(k.as_str()), Some(k));
        }
        assert_eq!(NodeKind::from_name("metrics"), None);
        assert_eq!(format!("{:<8}|", NodeKind::Split), "split   |");
    }
}
