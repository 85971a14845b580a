//! The report page: sections in a fixed order, each saying what is missing
//! when the results do not have it.

use crate::charts::{grouped_bars, Bar, GroupedBars};
use crate::rows::{load, ResultRow};
use crate::stats::{IntervalKind, SeedSummary};
use crate::summary::{hierarchy, MetricRow, HEADLINE_VARIANTS};

/// The variants of `map` and `map_consistency` the mAP section plots.
const MAP_VARIANTS: [&str; 3] = ["fraction_active", "fraction_consistent", "mean_map"];
use crate::ReportError;
use pertbench_schema::Task;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::Path;

pub struct Report {
    pub html: String,
    /// What the results lack, as said in the report's first section.
    pub missing: Vec<String>,
    pub n_rows: usize,
    pub n_plots: usize,
}

/// The report's Content-Security-Policy: nothing may be fetched (inline
/// styles and inline SVG only), so a browser refuses, and reports, any
/// attempt to load a resource.
pub const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src data:";

/// Section ids, in page order.
pub const SECTIONS: [&str; 8] = [
    "missing",
    "hierarchy",
    "tasks",
    "recall",
    "map",
    "consistency",
    "transfer",
    "provenance",
];

pub fn escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

/// Three decimals, or three significant digits below 0.1 (0.00816), or
/// scientific notation outside 1e-4 to 1e5.
fn num(v: f64) -> String {
    let a = v.abs();
    if v == 0.0 {
        "0".into()
    } else if !(1e-4..1e5).contains(&a) {
        format!("{v:.2e}")
    } else {
        let decimals = (2 - a.log10().floor() as i64).max(3) as usize;
        format!("{v:.decimals$}")
    }
}

fn cell_text(s: &SeedSummary) -> String {
    let mut t = num(s.mean);
    if s.n_seeds > 1 {
        write!(t, " ± {}", num(s.sd)).ok();
    }
    if let Some((lo, hi)) = s.ci {
        write!(t, " [{}, {}]", num(lo), num(hi)).ok();
    }
    t
}

fn bar(s: &SeedSummary) -> Bar {
    Bar {
        value: s.mean,
        interval: s.ci,
    }
}

const STYLE: &str = "body{font-family:sans-serif;margin:2em;max-width:1200px;color:#222}
table{border-collapse:collapse;margin:0.5em 0 1.5em;font-size:13px}
th,td{border:1px solid #ccc;padding:3px 7px;text-align:left;vertical-align:top}
th{background:#f0f0f0}td.best{font-weight:bold;background:#e8f4ea}
.pp{color:#666;font-size:11px}.note{background:#fff6dd;border-left:4px solid #e69f00;padding:4px 10px;margin:4px 0}
figure{display:inline-block;margin:0 1em 1em 0;vertical-align:top}figcaption{font-size:12px;color:#555}
code{background:#f4f4f4;padding:0 3px}";

/// Builds the report of the results in `results_dir`.
pub fn render(results_dir: &Path) -> Result<Report, ReportError> {
    let loaded = load(results_dir)?;
    let rows = &loaded.rows;
    let mut missing: Vec<String> = Vec::new();
    let mut n_plots = 0usize;
    if loaded.files.is_empty() {
        missing.push(format!(
            "No result files (*.parquet) in {}: run `pertbench run <pipeline.yaml>` first.",
            results_dir.display()
        ));
    } else if rows.is_empty() && loaded.skipped.is_empty() {
        missing.push("The result files hold no rows (an empty sweep).".into());
    }
    missing.extend(loaded.skipped.iter().cloned());
    let old: Vec<&ResultRow> = rows
        .iter()
        .filter(|r| r.task.is_none() || r.higher_is_better.is_none())
        .collect();
    if !old.is_empty() {
        let pipelines: BTreeSet<&str> = old.iter().map(|r| r.pipeline.as_str()).collect();
        missing.push(format!(
            "{} rows (pipelines: {}) come from an older pertbench whose results lack {}: they are listed under \"Older results\" without best marks or plots. Re-run those pipelines to include them.",
            old.len(),
            pipelines.into_iter().collect::<Vec<_>>().join(", "),
            [
                old.iter().any(|r| r.task.is_none()).then_some("`task`"),
                old.iter()
                    .any(|r| r.higher_is_better.is_none())
                    .then_some("`higher_is_better`"),
            ]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" and ")
        ));
    }
    let table = hierarchy(rows);
    let tasks_present: BTreeSet<&str> = table.iter().map(|m| m.key.task.as_str()).collect();
    if !rows.is_empty() {
        for t in Task::PAPER {
            let (task, kind) = (t.title(), t.paper_metric_kind().unwrap_or_default());
            if !tasks_present.contains(task) {
                missing.push(format!(
                    "Task {task}: no rows; add `{{kind: {kind}}}` to a pipeline's metrics."
                ));
            }
        }
    }
    let representations: Vec<String> = table
        .iter()
        .flat_map(|m| m.all.keys().cloned())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();

    let mut body = String::new();
    // Hierarchy table.
    writeln!(body, "<section id=\"hierarchy\"><h2>Hierarchy table</h2>").ok();
    writeln!(body, "<p>Paper 004's Table 2: per task and metric, each representation's best post-processing (named under the value) by its mean over seeds; the best representation's cell is marked. Cells: mean ± standard deviation over seeds (population, as the SQL view <code>best_postprocessing</code>) [95% interval: Student's t over seeds, or with one seed the metric's own bootstrap interval].</p>").ok();
    let (headline, others): (Vec<&MetricRow>, Vec<&MetricRow>) = table.iter().partition(|m| {
        HEADLINE_VARIANTS.contains(&m.key.variant.as_str())
            && Task::from_title(&m.key.task).is_some_and(|t| t.number().is_some())
    });
    if headline.is_empty() {
        writeln!(
            body,
            "<p class=\"note\">No rows of the six tasks to tabulate.</p>"
        )
        .ok();
    } else {
        hierarchy_table(&mut body, &headline, &representations);
    }
    if !others.is_empty() {
        writeln!(
            body,
            "<details><summary>Every other metric and variant ({} rows)</summary>",
            others.len()
        )
        .ok();
        hierarchy_table(&mut body, &others, &representations);
        writeln!(body, "</details>").ok();
    }
    if !old.is_empty() {
        writeln!(body, "<h3>Older results</h3><table><tr><th>pipeline</th><th>dataset</th><th>metric</th><th>source</th><th>variant</th><th>representation</th><th>post-processing</th><th>seeds</th><th>mean</th></tr>").ok();
        let mut g: BTreeMap<(&str, &str, &str, &str, &str, &str, &str), Vec<f64>> = BTreeMap::new();
        for r in &old {
            if let Some(v) = r.value {
                g.entry((
                    &r.pipeline,
                    &r.dataset,
                    &r.metric,
                    r.source.as_deref().unwrap_or(""),
                    &r.variant,
                    &r.representation,
                    &r.postprocessing,
                ))
                .or_default()
                .push(v);
            }
        }
        for (k, v) in g {
            writeln!(body, "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(k.0), escape(k.1), escape(k.2), escape(k.3), escape(k.4), escape(k.5), escape(k.6), v.len(), num(v.iter().sum::<f64>() / v.len() as f64)).ok();
        }
        writeln!(body, "</table>").ok();
    }
    writeln!(body, "</section>").ok();

    // Per-task charts: post-processings of every representation.
    writeln!(body, "<section id=\"tasks\"><h2>Tasks</h2><p>Per task and headline metric: every representation under every post-processing (bars: mean over seeds; whiskers: the 95% interval).</p>").ok();
    let mut any = false;
    for task in Task::PAPER
        .iter()
        .filter(|t| **t != Task::KnownRelationshipRecall)
        .map(|t| t.title())
    {
        let rows_of: Vec<&MetricRow> = headline
            .iter()
            .copied()
            .filter(|m| m.key.task == task)
            .collect();
        if rows_of.is_empty() {
            continue;
        }
        writeln!(body, "<h3>{}</h3>", escape(task)).ok();
        for m in rows_of {
            n_plots += postprocessing_chart(&mut body, m)?;
            any = true;
        }
    }
    if !any {
        writeln!(body, "<p class=\"note\">No task rows to plot.</p>").ok();
    }
    writeln!(body, "</section>").ok();

    // Recall per source.
    writeln!(
        body,
        "<section id=\"recall\"><h2>Known-relationship recall per source</h2>"
    )
    .ok();
    let recall: Vec<&MetricRow> = table
        .iter()
        .filter(|m| m.key.task == Task::KnownRelationshipRecall.title() && !m.key.source.is_empty())
        .collect();
    if recall.is_empty() {
        writeln!(body, "<p class=\"note\">No known-relationship recall rows: add <code>{{kind: relationship_recall}}</code> to a pipeline.</p>").ok();
    } else {
        let mut by: BTreeMap<(&str, &str, &str), Vec<&MetricRow>> = BTreeMap::new();
        for m in &recall {
            by.entry((&m.key.dataset, &m.key.metric, &m.key.variant))
                .or_default()
                .push(m);
        }
        for ((dataset, metric, variant), ms) in by {
            let groups: Vec<String> = ms.iter().map(|m| m.key.source.clone()).collect();
            let bars: Vec<Vec<Option<Bar>>> = representations
                .iter()
                .map(|rep| {
                    ms.iter()
                        .map(|m| m.best.get(rep).map(|c| bar(&c.summary)))
                        .collect()
                })
                .collect();
            let title = format!("{metric} {variant} ({dataset}), best post-processing");
            let g = GroupedBars {
                title: &title,
                y_label: "recall",
                groups: &groups,
                series: &representations,
                bars: &bars,
                reference: None,
            };
            if variant == "recall_0.05_0.95" {
                n_plots += figure(&mut body, &g)?;
            } else {
                writeln!(body, "<details><summary>{}</summary>", escape(&title)).ok();
                n_plots += figure(&mut body, &g)?;
                writeln!(body, "</details>").ok();
            }
        }
    }
    writeln!(body, "</section>").ok();

    // Retrieval by mAP (copairs): activity and consistency.
    writeln!(
        body,
        "<section id=\"map\"><h2>Phenotypic activity and consistency (mAP)</h2><p>copairs' mean average precision: <code>map</code> (a perturbation's replicates retrieved against the controls; the share called active) and <code>map_consistency</code> (active perturbations' consensus profiles retrieved by shared annotation; the share of labels called consistent), every representation under every post-processing.</p>"
    )
    .ok();
    let map_rows: Vec<&MetricRow> = table
        .iter()
        .filter(|m| MAP_VARIANTS.contains(&m.key.variant.as_str()))
        .collect();
    if map_rows.is_empty() {
        writeln!(body, "<p class=\"note\">No mAP rows: add <code>{{kind: map}}</code> or <code>{{kind: map_consistency}}</code> to a pipeline (<code>pipelines/profiles.yaml</code>).</p>").ok();
    } else {
        for m in map_rows {
            n_plots += postprocessing_chart(&mut body, m)?;
        }
    }
    writeln!(body, "</section>").ok();

    // Consistency against its null.
    writeln!(
        body,
        "<section id=\"consistency\"><h2>Perturbation consistency against its null</h2>"
    )
    .ok();
    let consistency: Vec<&MetricRow> = table
        .iter()
        .filter(|m| {
            m.key.task == Task::PerturbationConsistency.title()
                && m.best.values().any(|c| c.null_mean.is_some())
        })
        .collect();
    if consistency.is_empty() {
        writeln!(body, "<p class=\"note\">No consistency rows with a null distribution: add <code>{{kind: consistency}}</code> to a pipeline.</p>").ok();
    } else {
        for m in consistency {
            let groups: Vec<String> = m.best.keys().cloned().collect();
            let series = vec![
                "observed (best post-processing)".to_string(),
                "null mean".to_string(),
            ];
            let observed: Vec<Option<Bar>> = groups
                .iter()
                .map(|r| Some(bar(&m.best[r].summary)))
                .collect();
            let null: Vec<Option<Bar>> = groups
                .iter()
                .map(|r| {
                    m.best[r].null_mean.map(|v| Bar {
                        value: v,
                        interval: None,
                    })
                })
                .collect();
            let title = format!("{} {} ({})", m.key.metric, m.key.variant, m.key.dataset);
            n_plots += figure(
                &mut body,
                &GroupedBars {
                    title: &title,
                    y_label: &m.key.variant,
                    groups: &groups,
                    series: &series,
                    bars: &[observed, null],
                    reference: None,
                },
            )?;
        }
    }
    writeln!(body, "</section>").ok();

    // Transfer: in-domain versus held-out.
    writeln!(
        body,
        "<section id=\"transfer\"><h2>Transfer: in-domain versus held-out</h2>"
    )
    .ok();
    let transfer: Vec<&MetricRow> = table
        .iter()
        .filter(|m| {
            m.key.task == "transfer"
                && matches!(
                    m.key.variant.as_str(),
                    "in_domain" | "loco" | "lopo_ridge" | "lopo_mean_shift"
                )
        })
        .collect();
    if transfer.is_empty() {
        writeln!(body, "<p class=\"note\">No transfer probes in these results: add <code>{{kind: transfer}}</code> to a pipeline (see <code>pipelines/generalisation.yaml</code>).</p>").ok();
    } else {
        let mut by: BTreeMap<(&str, &str), Vec<&MetricRow>> = BTreeMap::new();
        for m in &transfer {
            by.entry((&m.key.dataset, &m.key.metric))
                .or_default()
                .push(m);
        }
        for ((dataset, metric), ms) in by {
            let series: Vec<String> = ms.iter().map(|m| m.key.variant.clone()).collect();
            let groups: Vec<String> = ms
                .iter()
                .flat_map(|m| m.best.keys().cloned())
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect();
            let bars: Vec<Vec<Option<Bar>>> = ms
                .iter()
                .map(|m| {
                    groups
                        .iter()
                        .map(|r| m.best.get(r).map(|c| bar(&c.summary)))
                        .collect()
                })
                .collect();
            let title =
                format!("{metric} ({dataset}): in-domain vs held-out, best post-processing");
            n_plots += figure(
                &mut body,
                &GroupedBars {
                    title: &title,
                    y_label: "score",
                    groups: &groups,
                    series: &series,
                    bars: &bars,
                    reference: None,
                },
            )?;
        }
    }
    writeln!(body, "</section>").ok();

    // Provenance.
    writeln!(body, "<section id=\"provenance\"><h2>Provenance</h2>").ok();
    provenance(&mut body, rows, &loaded.files);
    writeln!(body, "</section>").ok();

    let mut html = String::new();
    writeln!(html, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta http-equiv=\"Content-Security-Policy\" content=\"{CSP}\"><title>pertbench report</title><style>{STYLE}</style></head><body>").ok();
    writeln!(
        html,
        "<h1>pertbench report</h1><p>{} result rows from {} in <code>{}</code>.</p>",
        rows.len(),
        loaded
            .files
            .iter()
            .map(|f| format!("<code>{}</code>", escape(f)))
            .collect::<Vec<_>>()
            .join(", "),
        escape(&results_dir.display().to_string())
    )
    .ok();
    writeln!(
        html,
        "<section id=\"missing\"><h2>What these results lack</h2>"
    )
    .ok();
    if missing.is_empty() {
        writeln!(
            html,
            "<p>Nothing: every task of the hierarchy has rows.</p>"
        )
        .ok();
    } else {
        for m in &missing {
            writeln!(html, "<p class=\"note\">{}</p>", escape(m)).ok();
        }
    }
    writeln!(html, "</section>").ok();
    html.push_str(&body);
    writeln!(html, "</body></html>").ok();
    Ok(Report {
        html,
        missing,
        n_rows: rows.len(),
        n_plots,
    })
}

/// Writes the chart in a figure, or a note when it has no values; returns
/// the number of plots drawn.
/// One metric's chart: every representation (groups) under every
/// post-processing (series).
fn postprocessing_chart(out: &mut String, m: &MetricRow) -> Result<usize, ReportError> {
    let pps: Vec<String> = m
        .all
        .values()
        .flatten()
        .map(|c| c.postprocessing.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let groups: Vec<String> = m.all.keys().cloned().collect();
    let bars: Vec<Vec<Option<Bar>>> = pps
        .iter()
        .map(|pp| {
            groups
                .iter()
                .map(|rep| {
                    m.all[rep]
                        .iter()
                        .find(|c| &c.postprocessing == pp)
                        .map(|c| bar(&c.summary))
                })
                .collect()
        })
        .collect();
    let title = format!("{} {} ({})", m.key.metric, m.key.variant, m.key.dataset);
    let y = if m.higher_is_better {
        "higher is better"
    } else {
        "lower is better"
    };
    figure(
        out,
        &GroupedBars {
            title: &title,
            y_label: y,
            groups: &groups,
            series: &pps,
            bars: &bars,
            reference: None,
        },
    )
}

fn figure(out: &mut String, c: &GroupedBars) -> Result<usize, ReportError> {
    match grouped_bars(c).map_err(ReportError::Plot)? {
        Some(svg) => {
            writeln!(
                out,
                "<figure class=\"plot\">{svg}<figcaption>{}</figcaption></figure>",
                escape(c.title)
            )
            .ok();
            Ok(1)
        }
        None => {
            writeln!(
                out,
                "<p class=\"note\">{}: no values to plot.</p>",
                escape(c.title)
            )
            .ok();
            Ok(0)
        }
    }
}

fn hierarchy_table(out: &mut String, rows: &[&MetricRow], representations: &[String]) {
    write!(
        out,
        "<table><tr><th>dataset</th><th>task</th><th>metric</th><th>source</th><th>variant</th>"
    )
    .ok();
    for r in representations {
        write!(out, "<th>{}</th>", escape(r)).ok();
    }
    writeln!(out, "<th>seeds</th></tr>").ok();
    for m in rows {
        write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}{}</td>",
            escape(&m.key.dataset),
            escape(&m.key.task),
            escape(&m.key.metric),
            escape(&m.key.source),
            escape(&m.key.variant),
            if m.higher_is_better { " ↑" } else { " ↓" }
        )
        .ok();
        for r in representations {
            match m.best.get(r) {
                Some(c) => {
                    let class = if m.best_representation.as_ref() == Some(r) {
                        " class=\"best\""
                    } else {
                        ""
                    };
                    let src = match c.summary.interval {
                        IntervalKind::FromRow => " (bootstrap)",
                        _ => "",
                    };
                    write!(
                        out,
                        "<td{class}>{}{src}<br><span class=\"pp\">{}</span></td>",
                        cell_text(&c.summary),
                        escape(&c.postprocessing)
                    )
                    .ok();
                }
                None => {
                    write!(out, "<td title=\"no rows\">—</td>").ok();
                }
            }
        }
        let seeds = m
            .best
            .values()
            .map(|c| c.summary.n_seeds)
            .max()
            .unwrap_or(0);
        writeln!(out, "<td>{seeds}</td></tr>").ok();
    }
    writeln!(out, "</table>").ok();
}

fn provenance(out: &mut String, rows: &[ResultRow], files: &[String]) {
    if rows.is_empty() {
        writeln!(out, "<p class=\"note\">No rows, so no provenance.</p>").ok();
        return;
    }
    writeln!(out, "<table><tr><th>pipeline</th><th>datasets</th><th>pertbench versions</th><th>computed</th><th>seeds</th><th>representations (cache key)</th></tr>").ok();
    let mut by: BTreeMap<&str, Vec<&ResultRow>> = BTreeMap::new();
    for r in rows {
        by.entry(&r.pipeline).or_default().push(r);
    }
    let join = |it: BTreeSet<String>| {
        it.into_iter()
            .map(|s| escape(&s))
            .collect::<Vec<_>>()
            .join(", ")
    };
    for (p, rs) in &by {
        let times: BTreeSet<String> = rs
            .iter()
            .map(|r| r.computed_at.clone())
            .filter(|s| !s.is_empty())
            .collect();
        let when = match (times.first(), times.last()) {
            (Some(a), Some(b)) if a != b => format!("{} to {}", escape(a), escape(b)),
            (Some(a), _) => escape(a),
            _ => "unknown (older results)".into(),
        };
        let versions: BTreeSet<String> = rs
            .iter()
            .map(|r| {
                if r.pertbench_version.is_empty() {
                    "unknown".into()
                } else {
                    r.pertbench_version.clone()
                }
            })
            .collect();
        writeln!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{when}</td><td>{}</td><td>{}</td></tr>",
            escape(p),
            join(rs.iter().map(|r| r.dataset.clone()).collect()),
            join(versions),
            join(rs.iter().map(|r| r.seed.to_string()).collect()),
            join(
                rs.iter()
                    .map(|r| format!("{} ({})", r.representation, short(&r.representation_key)))
                    .collect()
            )
        )
        .ok();
    }
    writeln!(out, "</table><h3>Conventions</h3><table><tr><th>pipeline</th><th>metric</th><th>convention</th><th>excluded batches</th><th>metric cache keys</th></tr>").ok();
    let mut conv: BTreeMap<(&str, &str), (BTreeSet<String>, BTreeSet<String>, BTreeSet<String>)> =
        BTreeMap::new();
    for r in rows {
        let e = conv.entry((&r.pipeline, &r.metric)).or_default();
        e.0.insert(r.convention.clone());
        if !r.excluded_batches.is_empty() {
            e.1.insert(format!(
                "{} ({}): {}",
                r.representation, r.postprocessing, r.excluded_batches
            ));
        }
        e.2.insert(short(&r.metric_key));
    }
    for ((p, m), (c, x, k)) in conv {
        writeln!(
            out,
            "<tr><td>{}</td><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td></tr>",
            escape(p),
            escape(m),
            c.into_iter()
                .map(|s| escape(&s))
                .collect::<Vec<_>>()
                .join("</code><br><code>"),
            if x.is_empty() { "none".into() } else { join(x) },
            join(k)
        )
        .ok();
    }
    writeln!(out, "</table><p>Result files: {}. Cache keys are content hashes of each node's definition and inputs (<code>pertbench cache ls</code>).</p>", files.iter().map(|f| escape(f)).collect::<Vec<_>>().join(", ")).ok();
}

fn short(key: &str) -> String {
    if key.is_empty() {
        "unknown".into()
    } else {
        key.chars().take(12).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{ArrayRef, BooleanArray, Float64Array, StringArray, UInt64Array};
    use arrow::record_batch::RecordBatch;
    use std::sync::Arc;

    struct Spec<'a> {
        task: Option<&'a str>,
        metric: &'a str,
        variant: &'a str,
        source: Option<&'a str>,
        rep: &'a str,
        pp: &'a str,
        seed: u64,
        value: f64,
        null_mean: Option<f64>,
    }

    /// A results file with the current columns, or without `task` and
    /// `higher_is_better` (as older pertbench wrote them).
    fn write(path: &Path, rows: &[Spec], old: bool) {
        let s = |f: &dyn Fn(&Spec) -> String| -> ArrayRef {
            Arc::new(StringArray::from(rows.iter().map(f).collect::<Vec<_>>()))
        };
        let mut cols: Vec<(&str, ArrayRef)> = vec![
            ("pipeline", s(&|_| "p".into())),
            ("dataset", s(&|_| "d".into())),
            ("representation", s(&|r| r.rep.into())),
            ("postprocessing", s(&|r| r.pp.into())),
            ("metric", s(&|r| r.metric.into())),
            ("variant", s(&|r| r.variant.into())),
            (
                "source",
                Arc::new(StringArray::from(
                    rows.iter().map(|r| r.source).collect::<Vec<_>>(),
                )),
            ),
            ("convention", s(&|_| "k=<3>".into())),
            ("excluded_batches", s(&|_| "".into())),
            (
                "seed",
                Arc::new(UInt64Array::from(
                    rows.iter().map(|r| r.seed).collect::<Vec<_>>(),
                )),
            ),
            (
                "value",
                Arc::new(Float64Array::from(
                    rows.iter().map(|r| r.value).collect::<Vec<_>>(),
                )),
            ),
            (
                "null_mean",
                Arc::new(Float64Array::from(
                    rows.iter().map(|r| r.null_mean).collect::<Vec<_>>(),
                )),
            ),
            ("pertbench_version", s(&|_| "0.1.0".into())),
            ("computed_at", s(&|_| "2026-11-22T00:00:00Z".into())),
            ("metric_key", s(&|_| "abcdef0123456789".into())),
            ("representation_key", s(&|_| "0123456789ab".into())),
        ];
        if !old {
            cols.push(("task", s(&|r| r.task.unwrap_or("").into())));
            cols.push((
                "higher_is_better",
                Arc::new(BooleanArray::from(
                    rows.iter().map(|r| r.variant != "mse").collect::<Vec<_>>(),
                )),
            ));
        }
        let batch = RecordBatch::try_from_iter(cols).unwrap();
        let f = std::fs::File::create(path).unwrap();
        let mut w = parquet::arrow::ArrowWriter::try_new(f, batch.schema(), None).unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
    }

    fn spec<'a>(
        task: &'a str,
        metric: &'a str,
        variant: &'a str,
        rep: &'a str,
        pp: &'a str,
        seed: u64,
        value: f64,
    ) -> Spec<'a> {
        Spec {
            task: Some(task),
            metric,
            variant,
            source: None,
            rep,
            pp,
            seed,
            value,
            null_mean: None,
        }
    }

    #[test]
    fn full_report_has_every_section_plot_and_best_mark() {
        let dir = tempfile::tempdir().unwrap();
        let mut rows = Vec::new();
        for (rep, base) in [("pca", 0.6), ("random", 0.1)] {
            for (pp, add) in [("raw", 0.0), ("tvn", 0.1)] {
                for seed in 0..3u64 {
                    let v = base + add + seed as f64 * 0.01;
                    rows.push(spec(
                        Task::KnnOrganisation.title(),
                        "knn",
                        "top1",
                        rep,
                        pp,
                        seed,
                        v,
                    ));
                    rows.push(spec(
                        Task::LinearInterpretability.title(),
                        "interpretability",
                        "mse",
                        rep,
                        pp,
                        seed,
                        1.0 - v,
                    ));
                    rows.push(Spec {
                        null_mean: Some(0.05),
                        ..spec(
                            Task::PerturbationConsistency.title(),
                            "consistency",
                            "mean_avgsim",
                            rep,
                            pp,
                            seed,
                            v,
                        )
                    });
                    rows.push(spec("transfer", "transfer", "in_domain", rep, pp, seed, v));
                    rows.push(spec("transfer", "transfer", "loco", rep, pp, seed, v / 2.0));
                    for src in ["corum", "humap"] {
                        rows.push(Spec {
                            source: Some(src),
                            ..spec(
                                Task::KnownRelationshipRecall.title(),
                                "relationship_recall",
                                "recall_0.05_0.95",
                                rep,
                                pp,
                                seed,
                                v,
                            )
                        });
                    }
                }
            }
        }
        write(&dir.path().join("p.parquet"), &rows, false);
        let r = render(dir.path()).unwrap();
        assert_eq!(r.n_rows, rows.len());
        for id in SECTIONS {
            assert!(
                r.html.contains(&format!("<section id=\"{id}\">")),
                "section {id}"
            );
        }
        // knn and mse charts (tasks), one recall chart, one consistency
        // chart, one transfer chart.
        assert_eq!(r.n_plots, 5, "{:?}", r.missing);
        assert_eq!(r.html.matches("<svg").count(), 5);
        // Tasks 1, 2 absent (3 to 6 present).
        assert_eq!(r.missing.len(), 2, "{:?}", r.missing);
        assert!(r.missing[0].contains("ilisi") && r.missing[1].contains("linear_probe"));
        // pca's tvn is best for knn top1: mean of 0.70, 0.71, 0.72 = 0.710;
        // population sd over seeds 0.00816; best cell marked.
        assert!(
            r.html
                .contains("<td class=\"best\">0.710 ± 0.00816 [0.685, 0.735]"),
            "{}",
            r.html
        );
        // For mse (lower is better, 1 - value) the best is pca's tvn too:
        // 1 - 0.71 = 0.290, random's best is its tvn, 1 - 0.21 = 0.790.
        assert!(r
            .html
            .contains("<td class=\"best\">0.290 ± 0.00816 [0.265, 0.315]"));
        assert!(r
            .html
            .contains("<td>0.790 ± 0.00816 [0.765, 0.815]<br><span class=\"pp\">tvn</span>"));
        // Escaped convention text, no external resources.
        assert!(r.html.contains("k=&lt;3&gt;"));
        assert!(
            !r.html.contains("<script") && !r.html.contains("<link") && !r.html.contains("<img")
        );
        // A browser refuses (and reports) any fetch: the policy is in the head.
        assert!(r.html.contains(&format!(
            "<head><meta charset=\"utf-8\"><meta http-equiv=\"Content-Security-Policy\" content=\"{CSP}\">"
        )));
        // Every "http" is the SVG namespace or the policy's meta name.
        let external = r.html.matches("http").count() - 1;
        assert_eq!(
            external,
            r.html
                .matches("xmlns=\"http://www.w3.org/2000/svg\"")
                .count()
        );
    }

    #[test]
    fn older_results_are_listed_and_said_to_lack_their_columns() {
        let dir = tempfile::tempdir().unwrap();
        let rows = vec![Spec {
            task: None,
            ..spec("", "knn", "top1", "pca", "raw", 0, 0.5)
        }];
        write(&dir.path().join("old.parquet"), &rows, true);
        let r = render(dir.path()).unwrap();
        assert_eq!(r.n_rows, 1);
        assert_eq!(r.n_plots, 0);
        assert!(
            r.missing[0].starts_with("1 rows (pipelines: p) come from an older pertbench"),
            "{:?}",
            r.missing
        );
        assert!(r.missing[0].contains("`task` and `higher_is_better`"));
        assert!(r.html.contains("<h3>Older results</h3>"));
        assert!(r.html.contains("No task rows to plot."));
    }

    #[test]
    fn empty_directory_and_empty_sweep_say_so() {
        let dir = tempfile::tempdir().unwrap();
        let r = render(dir.path()).unwrap();
        assert_eq!((r.n_rows, r.n_plots), (0, 0));
        assert!(r.missing[0].starts_with("No result files"));
        for id in SECTIONS {
            assert!(
                r.html.contains(&format!("<section id=\"{id}\">")),
                "section {id}"
            );
        }
        write(&dir.path().join("p.parquet"), &[], false);
        let r = render(dir.path()).unwrap();
        assert_eq!(
            r.missing,
            vec!["The result files hold no rows (an empty sweep).".to_string()]
        );
        assert!(render(&dir.path().join("absent")).is_err());
    }
}
