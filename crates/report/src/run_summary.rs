//! The headline metrics of one run, for the terminal (`pertbench run`) and
//! for machines (`pertbench run --json`): per dataset, task and headline
//! metric, each representation under its best post-processing, the best
//! representation marked, as the report's hierarchy table.

use crate::rows::ResultRow;
use crate::summary::{hierarchy, HEADLINE_VARIANTS};
use serde::Serialize;

/// One representation's best post-processing for one headline metric.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HeadlineEntry {
    pub dataset: String,
    pub task: String,
    pub metric: String,
    pub variant: String,
    /// The relationship source (Task 5) or "" where the metric has none.
    pub source: String,
    pub higher_is_better: bool,
    pub representation: String,
    pub postprocessing: String,
    pub n_seeds: usize,
    pub mean: f64,
    /// Population standard deviation over seeds.
    pub sd: f64,
    pub ci_low: Option<f64>,
    pub ci_high: Option<f64>,
    /// This representation is the best for the metric.
    pub best: bool,
}

/// The headline entries of `rows` (rows without a task or direction, from
/// older files, are left out), in the hierarchy table's order.
pub fn headline(rows: &[ResultRow]) -> Vec<HeadlineEntry> {
    let mut out = Vec::new();
    for m in hierarchy(rows) {
        if !HEADLINE_VARIANTS.contains(&m.key.variant.as_str()) {
            continue;
        }
        for (rep, cell) in &m.best {
            out.push(HeadlineEntry {
                dataset: m.key.dataset.clone(),
                task: m.key.task.clone(),
                metric: m.key.metric.clone(),
                variant: m.key.variant.clone(),
                source: m.key.source.clone(),
                higher_is_better: m.higher_is_better,
                representation: rep.clone(),
                postprocessing: cell.postprocessing.clone(),
                n_seeds: cell.summary.n_seeds,
                mean: cell.summary.mean,
                sd: cell.summary.sd,
                ci_low: cell.summary.ci.map(|c| c.0),
                ci_high: cell.summary.ci.map(|c| c.1),
                best: m.best_representation.as_deref() == Some(rep.as_str()),
            });
        }
    }
    out
}

/// A compact text table of `entries`: one line per metric, one column per
/// representation holding `mean postprocessing`, `*` on the best; the
/// arrow says whether higher or lower is better. With one dataset, its name
/// heads the table instead of filling a column.
pub fn terminal_table(entries: &[HeadlineEntry]) -> String {
    let one_dataset = entries
        .first()
        .map(|f| f.dataset.as_str())
        .filter(|d| entries.iter().all(|e| e.dataset == *d));
    let mut reps: Vec<&str> = entries.iter().map(|e| e.representation.as_str()).collect();
    reps.sort_unstable();
    reps.dedup();
    // Lines in first-seen order (the hierarchy's order).
    let mut lines: Vec<(Vec<String>, Vec<String>)> = Vec::new();
    let mut keys: Vec<(&str, &str, &str, &str, &str)> = Vec::new();
    for e in entries {
        let key = (
            e.dataset.as_str(),
            e.task.as_str(),
            e.metric.as_str(),
            e.variant.as_str(),
            e.source.as_str(),
        );
        let i = match keys.iter().position(|k| *k == key) {
            Some(i) => i,
            None => {
                keys.push(key);
                let metric = if e.source.is_empty() {
                    format!("{} {}", e.metric, e.variant)
                } else {
                    format!("{} {} [{}]", e.metric, e.variant, e.source)
                };
                let arrow = if e.higher_is_better { "↑" } else { "↓" };
                let mut key_cells = vec![e.task.clone(), format!("{metric} {arrow}")];
                if one_dataset.is_none() {
                    key_cells.insert(0, e.dataset.clone());
                }
                lines.push((key_cells, vec![String::new(); reps.len()]));
                keys.len() - 1
            }
        };
        let col = reps.binary_search(&e.representation.as_str()).unwrap_or(0);
        lines[i].1[col] = format!(
            "{} {}{}",
            fmt_value(e.mean),
            e.postprocessing,
            if e.best { " *" } else { "" }
        );
    }
    let key_columns: &[&str] = if one_dataset.is_some() {
        &["task", "metric"]
    } else {
        &["dataset", "task", "metric"]
    };
    let header: Vec<String> = key_columns
        .iter()
        .map(|s| s.to_string())
        .chain(reps.iter().map(|r| r.to_string()))
        .collect();
    let table: Vec<Vec<String>> = std::iter::once(header)
        .chain(
            lines
                .into_iter()
                .map(|(k, v)| k.into_iter().chain(v).collect()),
        )
        .collect();
    let widths: Vec<usize> = (0..table[0].len())
        .map(|c| {
            table
                .iter()
                .map(|r| r[c].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut s = one_dataset.map_or(String::new(), |d| format!("{d}\n"));
    for row in &table {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(c, &w)| format!("{c}{}", " ".repeat(w - c.chars().count())))
            .collect();
        s.push_str(cells.join("  ").trim_end());
        s.push('\n');
    }
    s
}

/// Four significant decimals for values near one, scientific beyond.
fn fmt_value(v: f64) -> String {
    if v != 0.0 && (v.abs() >= 1e4 || v.abs() < 1e-3) {
        format!("{v:.3e}")
    } else {
        format!("{v:.4}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(rep: &str, pp: &str, variant: &str, seed: u64, value: f64) -> ResultRow {
        ResultRow {
            pipeline: "p".into(),
            dataset: "d".into(),
            representation: rep.into(),
            postprocessing: pp.into(),
            task: Some("4 kNN organisation".into()),
            metric: "knn".into(),
            variant: variant.into(),
            seed,
            value: Some(value),
            higher_is_better: Some(true),
            ..Default::default()
        }
    }

    #[test]
    fn headline_takes_each_representations_best_postprocessing() {
        let rows = vec![
            row("pca", "raw", "top1", 0, 0.2),
            row("pca", "raw", "top1", 1, 0.4),
            row("pca", "tvn", "top1", 0, 0.5),
            row("pca", "tvn", "top1", 1, 0.6),
            row("model", "centre", "top1", 0, 0.45),
            row("model", "centre", "top1", 1, 0.55),
            // Not a headline variant.
            row("model", "centre", "top3", 0, 0.9),
        ];
        let h = headline(&rows);
        assert_eq!(h.len(), 2);
        let pca = h.iter().find(|e| e.representation == "pca").unwrap();
        assert_eq!(pca.postprocessing, "tvn");
        assert!((pca.mean - 0.55).abs() < 1e-12);
        // Population sd of {0.5, 0.6}; t interval with 1 df: 12.706 * 0.0707 / sqrt 2.
        assert!((pca.sd - 0.05).abs() < 1e-12);
        let half = 12.706 * (0.005f64).sqrt() / 2f64.sqrt();
        assert!((pca.ci_low.unwrap() - (0.55 - half)).abs() < 1e-12);
        assert!(pca.best);
        let model = h.iter().find(|e| e.representation == "model").unwrap();
        assert_eq!(model.postprocessing, "centre");
        assert!(!model.best);

        let t = terminal_table(&h);
        let lines: Vec<&str> = t.lines().skip(1).collect();
        assert!(t.starts_with("d\n"), "{t}");
        assert_eq!(lines.len(), 2, "{t}");
        assert!(lines[0].starts_with("task  "), "{t}");
        assert!(lines[0].contains("model") && lines[0].contains("pca"));
        assert!(lines[1].contains("knn top1 ↑"), "{t}");
        assert!(lines[1].contains("0.5000 centre"), "{t}");
        assert!(lines[1].ends_with("0.5500 tvn *"), "{t}");
        // Columns line up: every representation starts where its header does.
        let at = lines[0].find("pca").unwrap();
        assert_eq!(lines[1].chars().count() - "0.5500 tvn *".chars().count(), {
            lines[0][..at].chars().count()
        });
    }

    #[test]
    fn older_rows_and_empty_runs_give_no_entries() {
        let mut r = row("pca", "raw", "top1", 0, 0.2);
        r.task = None;
        assert!(headline(&[r]).is_empty());
        assert_eq!(terminal_table(&[]).trim(), "dataset  task  metric");
    }

    #[test]
    fn several_datasets_get_a_column() {
        let mut other = row("pca", "raw", "top1", 0, 0.3);
        other.dataset = "e".into();
        let t = terminal_table(&headline(&[row("pca", "raw", "top1", 0, 0.2), other]));
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 3, "{t}");
        assert!(lines[0].starts_with("dataset  task"), "{t}");
        assert!(
            lines[1].starts_with("d ") && lines[2].starts_with("e "),
            "{t}"
        );
        // Each dataset's only representation is its best.
        assert!(lines[1].ends_with("0.2000 raw *") && lines[2].ends_with("0.3000 raw *"));
    }
}

/// What ingestion dropped, per dataset, read from the rows' `convention`
/// (`dropped_at_ingest=<reason>:<n>|...`): (dataset, [(reason, n)]), for
/// datasets that dropped anything.
pub fn dropped_at_ingest(rows: &[ResultRow]) -> Vec<(String, Vec<(String, u64)>)> {
    let mut out: std::collections::BTreeMap<String, Vec<(String, u64)>> = Default::default();
    for r in rows {
        if out.contains_key(&r.dataset) {
            continue;
        }
        let Some(part) = r
            .convention
            .split(';')
            .find_map(|p| p.strip_prefix("dropped_at_ingest="))
        else {
            continue;
        };
        let drops = part
            .split('|')
            .filter_map(|d| {
                let (why, n) = d.rsplit_once(':')?;
                Some((why.to_string(), n.parse().ok()?))
            })
            .collect();
        out.insert(r.dataset.clone(), drops);
    }
    out.into_iter().collect()
}

#[cfg(test)]
mod dropped_tests {
    use super::*;

    #[test]
    fn reads_the_drops_of_each_dataset_once() {
        let row = |dataset: &str, convention: &str| ResultRow {
            dataset: dataset.into(),
            convention: convention.into(),
            ..Default::default()
        };
        let rows = vec![
            row(
                "a",
                "k=5;dropped_at_ingest=missing batch:12|perturbation `unassigned`:3",
            ),
            row(
                "a",
                "null=x;dropped_at_ingest=missing batch:12|perturbation `unassigned`:3",
            ),
            row("b", "k=5"),
        ];
        assert_eq!(
            dropped_at_ingest(&rows),
            vec![(
                "a".to_string(),
                vec![
                    ("missing batch".to_string(), 12),
                    ("perturbation `unassigned`".to_string(), 3)
                ]
            )]
        );
    }
}
