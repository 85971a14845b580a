//! cell-eval's output files: `results.csv` (one row per perturbation, one
//! column per metric), `agg_results.csv` (one row per statistic, a
//! `statistic` column first) and the score (`metric,from_baseline`, then
//! `avg_score`). Written atomically; numbers in shortest round-trip form,
//! an empty field where cell-eval has a null, `NaN` where it has a NaN.

use super::aggregate::{Scored, Summary, STATISTICS};
use super::Evaluation;
use crate::error::{EngineError, Result};
use pertbench_data::samples::RawColumn;
use pertbench_data::DataError;
use std::io::Write;
use std::path::Path;

use crate::differential_expression::table::{csv_number as number, csv_text};

fn text(s: &str) -> String {
    csv_text(s).into_owned()
}

fn write_lines(path: &Path, lines: impl Iterator<Item = String>) -> Result<()> {
    pertbench_data::fetch::atomic_write_with(path, |f| {
        let mut w = std::io::BufWriter::new(f);
        for l in lines {
            writeln!(w, "{l}")?;
        }
        w.flush()
    })
    .map_err(EngineError::from)
}

pub fn write_results(path: &Path, e: &Evaluation) -> Result<()> {
    let header = std::iter::once(
        std::iter::once("perturbation".to_string())
            .chain(e.columns.iter().map(|c| text(&c.name)))
            .collect::<Vec<_>>()
            .join(","),
    );
    let rows = e.perturbations.iter().enumerate().map(|(k, p)| {
        std::iter::once(text(p))
            .chain(
                e.columns
                    .iter()
                    .map(|c| c.values[k].map(number).unwrap_or_default()),
            )
            .collect::<Vec<_>>()
            .join(",")
    });
    write_lines(path, header.chain(rows))
}

pub fn write_aggregates(path: &Path, s: &[Summary]) -> Result<()> {
    let header = std::iter::once(
        std::iter::once("statistic".to_string())
            .chain(s.iter().map(|m| text(&m.name)))
            .collect::<Vec<_>>()
            .join(","),
    );
    let rows = STATISTICS.iter().enumerate().map(|(i, stat)| {
        std::iter::once(stat.to_string())
            .chain(s.iter().map(|m| number(m.values[i])))
            .collect::<Vec<_>>()
            .join(",")
    });
    write_lines(path, header.chain(rows))
}

pub fn write_score(path: &Path, rows: &[Scored], average: f64) -> Result<()> {
    let lines = std::iter::once("metric,from_baseline,user_mean,baseline_mean".to_string())
        .chain(rows.iter().map(|r| {
            format!(
                "{},{},{},{}",
                text(&r.metric),
                number(r.from_baseline),
                number(r.user),
                number(r.baseline)
            )
        }))
        .chain(std::iter::once(format!("avg_score,{},,", number(average))));
    write_lines(path, lines)
}

/// The `mean` row of an aggregate table (cell-eval's `agg_results.csv` or
/// this module's), as summaries holding only the mean, for scoring against
/// it. Metric columns keep their file order.
pub fn read_aggregate_means(path: &Path) -> Result<Vec<(String, f64)>> {
    let err = |m: String| EngineError::Data(DataError::file(path, m));
    let df = pertbench_data::tabular::read_frame(path)?;
    let stat = pertbench_data::tabular::column(path, &df, "statistic")?
        .ok_or_else(|| err("no `statistic` column: not an aggregate results table".into()))?;
    let row = (0..stat.len())
        .find(|&i| stat.text(i).as_deref() == Some("mean"))
        .ok_or_else(|| err("no `mean` row".into()))?;
    let mut out = Vec::new();
    for name in df.get_column_names() {
        if name.as_str() == "statistic" {
            continue;
        }
        let c = pertbench_data::tabular::column(path, &df, name.as_str())?.expect("listed");
        let v = match &c {
            RawColumn::Num(v) => v[row],
            RawColumn::Str(v) => v[row]
                .as_deref()
                .and_then(|s| s.trim().parse().ok())
                .unwrap_or(f64::NAN),
            RawColumn::Bool(_) => f64::NAN,
        };
        out.push((name.to_string(), v));
    }
    Ok(out)
}
