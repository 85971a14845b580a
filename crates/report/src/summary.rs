//! Paper 004's Table 2 from the rows: per dataset, task, metric, source and
//! variant, each representation's best post-processing (mean over seeds;
//! the largest, or the smallest for errors; ties to the first name, as the
//! SQL view `best_postprocessing`) and the best representation.

use crate::rows::ResultRow;
use crate::stats::{summarise, SeedSummary};
use std::collections::BTreeMap;

/// What one row of the hierarchy table is about.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MetricKey {
    pub dataset: String,
    pub task: String,
    pub metric: String,
    pub source: String,
    pub variant: String,
}

/// One representation under one post-processing.
#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    pub postprocessing: String,
    pub summary: SeedSummary,
    /// Mean of the rows' null means (Task 3's and others' null
    /// distributions), when they carry one.
    pub null_mean: Option<f64>,
}

/// One row of the hierarchy table.
#[derive(Debug, Clone)]
pub struct MetricRow {
    pub key: MetricKey,
    pub higher_is_better: bool,
    /// Every post-processing of every representation.
    pub all: BTreeMap<String, Vec<Cell>>,
    /// Each representation's best post-processing.
    pub best: BTreeMap<String, Cell>,
    /// The representation with the best cell.
    pub best_representation: Option<String>,
}

fn better(a: f64, b: f64, higher: bool) -> bool {
    if higher {
        a > b
    } else {
        a < b
    }
}

/// Each row's representation as the table names it: its name, followed by
/// the start of its definition key when another representation of the same
/// dataset shares the name but not the definition (two pipelines that
/// reuse `pca` for different settings).
pub fn representation_labels(rows: &[ResultRow]) -> Vec<String> {
    let mut definitions: BTreeMap<(&str, &str), std::collections::BTreeSet<&str>> = BTreeMap::new();
    for r in rows {
        definitions
            .entry((r.dataset.as_str(), r.representation.as_str()))
            .or_default()
            .insert(r.representation_definition.as_str());
    }
    rows.iter()
        .map(|r| {
            if definitions[&(r.dataset.as_str(), r.representation.as_str())].len() > 1 {
                let d = &r.representation_definition;
                format!("{} [{}]", r.representation, &d[..d.len().min(8)])
            } else {
                r.representation.clone()
            }
        })
        .collect()
}

/// Rows with a task and a direction, grouped; rows without either (older
/// files) are left to the caller. A computation several pipelines hold
/// (one `metric_key`) counts once; seeds are aggregated per representation
/// definition, never across same-named different ones
/// ([`representation_labels`]).
pub fn hierarchy(rows: &[ResultRow]) -> Vec<MetricRow> {
    let labels = representation_labels(rows);
    let mut seen = std::collections::HashSet::new();
    // key -> representation -> post-processing -> (values, row intervals, nulls, direction)
    type Acc = (Vec<f64>, Vec<(f64, f64)>, Vec<f64>);
    let mut groups: BTreeMap<MetricKey, (bool, BTreeMap<String, BTreeMap<String, Acc>>)> =
        BTreeMap::new();
    for (r, label) in rows.iter().zip(&labels) {
        let (Some(task), Some(higher), Some(value)) = (&r.task, r.higher_is_better, r.value) else {
            continue;
        };
        // The same computation in several pipelines: one row. (The key is
        // the node's; the names keep apart what a file labels differently.)
        let identity = (
            &r.metric_key,
            &r.dataset,
            &r.representation,
            &r.postprocessing,
            &r.source,
            &r.variant,
            r.seed,
        );
        if !r.metric_key.is_empty() && !seen.insert(identity) {
            continue;
        }
        let key = MetricKey {
            dataset: r.dataset.clone(),
            task: task.clone(),
            metric: r.metric.clone(),
            source: r.source.clone().unwrap_or_default(),
            variant: r.variant.clone(),
        };
        let g = groups
            .entry(key)
            .or_insert_with(|| (higher, BTreeMap::new()));
        let acc =
            g.1.entry(label.clone())
                .or_default()
                .entry(r.postprocessing.clone())
                .or_default();
        acc.0.push(value);
        if let (Some(lo), Some(hi)) = (r.ci_low, r.ci_high) {
            acc.1.push((lo, hi));
        }
        if let Some(n) = r.null_mean {
            acc.2.push(n);
        }
    }
    groups
        .into_iter()
        .map(|(key, (higher, reps))| {
            let mut all = BTreeMap::new();
            let mut best = BTreeMap::new();
            for (rep, pps) in reps {
                let cells: Vec<Cell> = pps
                    .into_iter()
                    .filter_map(|(pp, (values, intervals, nulls))| {
                        let row_interval =
                            (values.len() == 1 && intervals.len() == 1).then(|| intervals[0]);
                        summarise(&values, row_interval).map(|summary| Cell {
                            postprocessing: pp,
                            summary,
                            null_mean: (!nulls.is_empty())
                                .then(|| nulls.iter().sum::<f64>() / nulls.len() as f64),
                        })
                    })
                    .collect();
                // Cells are in post-processing name order: the first of
                // equal means wins.
                let mut top: Option<&Cell> = None;
                for c in &cells {
                    if top.is_none_or(|t| better(c.summary.mean, t.summary.mean, higher)) {
                        top = Some(c);
                    }
                }
                if let Some(t) = top {
                    best.insert(rep.clone(), t.clone());
                }
                all.insert(rep, cells);
            }
            let mut best_representation: Option<(&String, f64)> = None;
            for (rep, c) in &best {
                if best_representation.is_none_or(|(_, m)| better(c.summary.mean, m, higher)) {
                    best_representation = Some((rep, c.summary.mean));
                }
            }
            let best_representation = best_representation.map(|(r, _)| r.clone());
            MetricRow {
                key,
                higher_is_better: higher,
                all,
                best,
                best_representation,
            }
        })
        .collect()
}

pub use pertbench_schema::HEADLINE_VARIANTS;

#[cfg(test)]
mod tests {
    use super::*;

    fn row(rep: &str, pp: &str, seed: u64, value: f64, higher: bool) -> ResultRow {
        ResultRow {
            dataset: "d".into(),
            representation: rep.into(),
            postprocessing: pp.into(),
            task: Some("4 kNN organisation".into()),
            metric: "knn".into(),
            variant: "top1".into(),
            seed,
            value: Some(value),
            higher_is_better: Some(higher),
            ..Default::default()
        }
    }

    /// pca: raw (0.2, 0.4) mean 0.3, tvn (0.5, 0.5) mean 0.5 -> tvn;
    /// random: center 0.1 and raw 0.1 tie -> center (first name). pca best.
    /// As an error (lower is better) the choices flip.
    #[test]
    fn best_postprocessing_and_representation_by_hand() {
        let mk = |higher| {
            vec![
                row("pca", "raw", 0, 0.2, higher),
                row("pca", "raw", 1, 0.4, higher),
                row("pca", "tvn", 0, 0.5, higher),
                row("pca", "tvn", 1, 0.5, higher),
                row("random", "raw", 0, 0.1, higher),
                row("random", "center", 0, 0.1, higher),
            ]
        };
        let h = hierarchy(&mk(true));
        assert_eq!(h.len(), 1);
        let m = &h[0];
        assert_eq!(m.best["pca"].postprocessing, "tvn");
        assert!((m.best["pca"].summary.mean - 0.5).abs() < 1e-15);
        assert_eq!(m.best["pca"].summary.n_seeds, 2);
        assert_eq!(m.best["random"].postprocessing, "center");
        assert_eq!(m.best_representation.as_deref(), Some("pca"));
        assert!((m.all["pca"][0].summary.sd - 0.1).abs() < 1e-12);
        let h = hierarchy(&mk(false));
        assert_eq!(h[0].best["pca"].postprocessing, "raw");
        assert_eq!(h[0].best_representation.as_deref(), Some("random"));
    }

    #[test]
    fn rows_without_task_or_direction_or_value_are_left_out() {
        let mut a = row("pca", "raw", 0, 0.2, true);
        a.task = None;
        let mut b = row("pca", "raw", 0, 0.2, true);
        b.higher_is_better = None;
        let mut c = row("pca", "raw", 0, 0.2, true);
        c.value = None;
        assert!(hierarchy(&[a, b, c]).is_empty());
    }

    /// Issue 20: pipeline `b` holds the same computation as `a` (one
    /// metric_key): one seed, not two. A `pca` of another definition is
    /// its own column.
    #[test]
    fn a_computation_in_two_pipelines_is_one_seed_and_definitions_stay_apart() {
        let with = |pipeline: &str, key: &str, definition: &str, value: f64| ResultRow {
            pipeline: pipeline.into(),
            metric_key: key.into(),
            representation_definition: definition.into(),
            ..row("pca", "raw", 0, value, true)
        };
        let rows = [
            with("a", "k1", "def00001aa", 0.5),
            with("b", "k1", "def00001aa", 0.5),
            with("c", "k2", "def00002bb", 0.9),
        ];
        let h = hierarchy(&rows);
        let m = &h[0];
        assert_eq!(m.best.len(), 2, "{:?}", m.best.keys());
        assert_eq!(m.best["pca [def00001]"].summary.n_seeds, 1);
        assert_eq!(m.best["pca [def00002]"].summary.mean, 0.9);
    }
}
