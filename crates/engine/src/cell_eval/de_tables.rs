//! Precomputed DE tables (cell-eval's `--de-real` / `--de-pred`): pdex's
//! columns `target`, `feature`, `log2_fold_change` and `fdr` (others are
//! ignored), as CSV or Parquet, read into the rows cell-eval compares. A
//! pdex 0.1 table (cell-eval 0.5's) has `fold_change`, the ratio, instead
//! of `log2_fold_change`: its log2 is taken, NaN becoming 0, as cell-eval
//! 0.5 derives it.

use crate::error::{EngineError, Result};
use pertbench_data::samples::RawColumn;
use pertbench_data::DataError;
use pertbench_kernels::tasks::cell_eval::de_comparison::{DeRow, DeSide};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// A DE table's rows by perturbation (sorted), features as indices into
/// `genes` (a feature not among them is an error).
pub fn read(path: &Path, genes: &[String]) -> Result<(Vec<String>, DeSide)> {
    let err = |m: String| EngineError::Data(DataError::file(path, m));
    let df = pertbench_data::tabular::read_frame(path)?;
    let col = |name: &str| -> Result<RawColumn> {
        pertbench_data::tabular::column(path, &df, name)?.ok_or_else(|| {
            err(format!(
                "no column `{name}` (a DE table needs target, feature, log2_fold_change (or pdex 0.1's fold_change) and fdr)"
            ))
        })
    };
    let text = |name: &str| -> Result<Vec<String>> {
        let c = col(name)?;
        (0..c.len())
            .map(|i| {
                c.text(i)
                    .ok_or_else(|| err(format!("column `{name}`, row {i}: missing value")))
            })
            .collect()
    };
    let number = |name: &str| -> Result<Vec<f64>> {
        match col(name)? {
            RawColumn::Num(v) => Ok(v),
            RawColumn::Str(v) => v
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    s.as_deref()
                        .and_then(|s| s.trim().parse::<f64>().ok())
                        .ok_or_else(|| {
                            err(format!("column `{name}`, row {i}: not a number ({s:?})"))
                        })
                })
                .collect(),
            RawColumn::Bool(_) => Err(err(format!("column `{name}` holds booleans, not numbers"))),
        }
    };
    let (target, feature) = (text("target")?, text("feature")?);
    // Whether a column is there, without converting it.
    let has = |name: &str| df.column(name).is_ok();
    // (log2 fold change, fold change) per row.
    let changes: Vec<(f64, f64)> = if !has("log2_fold_change") && has("fold_change") {
        number("fold_change")?
            .into_iter()
            .map(|fc| {
                let l = fc.log2();
                (if l.is_nan() { 0.0 } else { l }, fc)
            })
            .collect()
    } else {
        number("log2_fold_change")?
            .into_iter()
            .map(|l| (l, l.exp2()))
            .collect()
    };
    let fdr = number("fdr")?;
    let index: HashMap<&str, u32> = genes
        .iter()
        .enumerate()
        .map(|(j, g)| (g.as_str(), j as u32))
        .collect();
    let mut by_target: BTreeMap<String, Vec<DeRow>> = BTreeMap::new();
    for i in 0..target.len() {
        let gene = *index.get(feature[i].as_str()).ok_or_else(|| {
            err(format!(
                "row {i}: feature `{}` is not a gene of the expression data",
                feature[i]
            ))
        })?;
        by_target.entry(target[i].clone()).or_default().push(DeRow {
            gene,
            log2_fold_change: changes[i].0 as f32,
            fold_change: changes[i].1 as f32,
            fdr: fdr[i] as f32,
        });
    }
    if by_target.is_empty() {
        return Err(err("the DE table has no rows".into()));
    }
    let (names, targets) = by_target.into_iter().unzip();
    Ok((names, DeSide { targets }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_pdex_tables_and_names_what_is_wrong() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("de.csv");
        std::fs::write(
            &p,
            "target,feature,log2_fold_change,p_value,fdr,extra\nB,G1,inf,0.001,0.004,x\nA,G0,-0.5,0.2,0.3,y\nB,G0,NaN,1.0,1.0,z\n",
        )
        .unwrap();
        let genes = vec!["G0".to_string(), "G1".to_string()];
        let (names, side) = read(&p, &genes).unwrap();
        assert_eq!(names, ["A", "B"]);
        assert_eq!(
            side.targets[0],
            vec![DeRow {
                fold_change: (-0.5f64).exp2() as f32,
                gene: 0,
                log2_fold_change: -0.5,
                fdr: 0.3
            }]
        );
        assert_eq!(side.targets[1][0].log2_fold_change, f32::INFINITY);
        assert!(side.targets[1][1].log2_fold_change.is_nan());
        let e = read(&p, &genes[..1]).unwrap_err().to_string();
        assert!(e.contains("row 0: feature `G1` is not a gene"), "{e}");
        std::fs::write(&p, "target,feature,fdr\nA,G0,0.1\n").unwrap();
        let e = read(&p, &genes).unwrap_err().to_string();
        assert!(e.contains("no column `log2_fold_change`"), "{e}");
        // pdex 0.1's ratio: log2 taken, NaN (0 / 0 unclipped) becoming 0.
        std::fs::write(
            &p,
            "target,feature,fold_change,fdr\nA,G0,20.0,0.01\nA,G1,NaN,1.0\n",
        )
        .unwrap();
        let (_, side) = read(&p, &genes).unwrap();
        assert_eq!(side.targets[0][0].log2_fold_change, 20f64.log2() as f32);
        assert_eq!(side.targets[0][0].fold_change, 20.0);
        assert_eq!(side.targets[0][1].log2_fold_change, 0.0);
    }
}
