//! Reading CMap's GCT text files, versions 1.2 and 1.3 (plain or gzip), as
//! CMap ships level 3 to 5 plates and cmapPy's `write_gct` writes them.
//!
//! 1.2: `#1.2`, then `rows<TAB>columns`, then `Name<TAB>Description<TAB>`
//! sample ids, then one line per gene: id, description, values.
//! 1.3: `#1.3`, then `rows<TAB>columns<TAB>row fields<TAB>column fields`,
//! then `id<TAB>`row field names`<TAB>`sample ids, then one line per column
//! (sample) field: its name, a filler per row field, a value per sample;
//! then one line per gene: id, its row fields, its values.
//!
//! The table is genes x samples; pertbench holds it samples x genes. A GCT
//! file is one plate (hundreds of samples), so it is read whole. Metadata
//! that cmapPy reads as missing (`-666`, `NA`, `NaN`, `#N/A`, `NULL`, empty)
//! is missing here too.

use crate::error::{DataError, Result};
use crate::samples::RawColumn;
use pertbench_kernels::sparse::csr::{CsrBuilder, CsrMatrix};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

pub struct Gct {
    path: PathBuf,
    /// Gene ids (the table's rows).
    gene_ids: Vec<String>,
    /// Sample ids (the table's columns).
    sample_ids: Vec<String>,
    /// Per-gene fields (1.3; `Description` in 1.2).
    row_fields: Vec<(String, Vec<Option<String>>)>,
    /// Per-sample fields (1.3).
    col_fields: Vec<(String, Vec<Option<String>>)>,
    /// samples x genes, row-major.
    values: Vec<f32>,
}

/// Metadata values cmapPy's parser reads as missing.
pub(crate) fn missing(v: &str) -> bool {
    let t = v.trim();
    t.is_empty()
        || matches!(
            t,
            "NA" | "#NA" | "N/A" | "#N/A" | "NULL" | "NaN" | "-NaN" | "nan" | "-nan" | "null"
        )
        || (t.starts_with("-666") && t[4..].trim_start_matches('.').chars().all(|c| c == '0'))
}

impl Gct {
    pub fn open(path: &Path) -> Result<Gct> {
        let file = std::fs::File::open(path).map_err(|e| DataError::file(path, e.to_string()))?;
        let gz = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("gz"));
        let reader: Box<dyn Read> = if gz {
            Box::new(flate2::read::MultiGzDecoder::new(file))
        } else {
            Box::new(file)
        };
        Self::parse(path, BufReader::new(reader))
    }

    fn parse(path: &Path, reader: impl BufRead) -> Result<Gct> {
        let mut lines = reader.lines().enumerate();
        let mut next = |what: &str| -> Result<(usize, String)> {
            match lines.next() {
                Some((i, Ok(l))) => Ok((i + 1, l.trim_end_matches(['\r', '\n']).to_string())),
                Some((i, Err(e))) => Err(DataError::file(path, format!("line {}: {e}", i + 1))),
                None => Err(DataError::file(
                    path,
                    format!("ends before {what} (truncated?)"),
                )),
            }
        };
        let at = |line: usize, msg: String| DataError::file(path, format!("line {line}: {msg}"));
        let (_, version) = next("the version line")?;
        let v13 = match version.trim() {
            "#1.3" => true,
            "#1.2" => false,
            other => {
                return Err(at(
                    1,
                    format!("`{other}` is not a GCT version line (#1.2 or #1.3)"),
                ))
            }
        };
        let (l, dims) = next("the dimensions line")?;
        let dims: Vec<usize> = dims
            .split('\t')
            .filter(|s| !s.trim().is_empty())
            .map(|s| {
                s.trim()
                    .parse()
                    .map_err(|_| at(l, format!("dimension `{s}` is not a whole number")))
            })
            .collect::<Result<_>>()?;
        let want = if v13 { 4 } else { 2 };
        if dims.len() != want {
            return Err(at(
                l,
                format!(
                    "{} dimensions; GCT {} has {want}",
                    dims.len(),
                    version.trim()
                ),
            ));
        }
        let (n_genes, n_samples) = (dims[0], dims[1]);
        // A GCT text file is a plate; its whole table is held in memory.
        const MAX_VALUES: usize = 1 << 30;
        if n_genes
            .checked_mul(n_samples)
            .is_none_or(|v| v > MAX_VALUES)
        {
            return Err(at(
                l,
                format!(
                    "{n_genes} genes x {n_samples} samples is more than pertbench reads from GCT text ({MAX_VALUES} values): convert it to gctx (cmapPy's write_gctx)"
                ),
            ));
        }
        let (n_row_fields, n_col_fields) = if v13 { (dims[2], dims[3]) } else { (1, 0) };
        let (l, header) = next("the header line")?;
        let header: Vec<&str> = header.split('\t').collect();
        if header.len() != 1 + n_row_fields + n_samples {
            return Err(at(
                l,
                format!(
                    "the header has {} fields; the dimensions say 1 + {n_row_fields} row fields + {n_samples} samples",
                    header.len()
                ),
            ));
        }
        let sample_ids: Vec<String> = header[1 + n_row_fields..]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let mut row_fields: Vec<(String, Vec<Option<String>>)> = header[1..1 + n_row_fields]
            .iter()
            .map(|s| (s.to_string(), Vec::with_capacity(n_genes)))
            .collect();
        let fields_of = |l: usize, text: &str, what: &str| -> Result<Vec<String>> {
            let f: Vec<String> = text.split('\t').map(str::to_string).collect();
            if f.len() != 1 + n_row_fields + n_samples {
                return Err(at(
                    l,
                    format!(
                        "{what} has {} fields, expected {}",
                        f.len(),
                        1 + n_row_fields + n_samples
                    ),
                ));
            }
            Ok(f)
        };
        let mut col_fields = Vec::with_capacity(n_col_fields);
        for _ in 0..n_col_fields {
            let (l, text) = next("the column metadata")?;
            let f = fields_of(l, &text, "a column metadata line")?;
            let values = f[1 + n_row_fields..]
                .iter()
                .map(|v| (!missing(v)).then(|| v.clone()))
                .collect();
            col_fields.push((f[0].clone(), values));
        }
        let mut gene_ids = Vec::with_capacity(n_genes);
        // Read genes x samples, then transpose.
        let mut by_gene = vec![0f32; n_genes * n_samples];
        for g in 0..n_genes {
            let (l, text) = next(&format!("gene {} of {n_genes}", g + 1))?;
            let f = fields_of(l, &text, "a data line")?;
            gene_ids.push(f[0].clone());
            for (k, field) in row_fields.iter_mut().enumerate() {
                let v = &f[1 + k];
                field.1.push((!missing(v)).then(|| v.clone()));
            }
            for (j, v) in f[1 + n_row_fields..].iter().enumerate() {
                let t = v.trim();
                let x: f32 = if matches!(t, "NaN" | "nan" | "NA" | "") {
                    f32::NAN
                } else {
                    t.parse().map_err(|_| {
                        at(
                            l,
                            format!(
                                "gene `{}`, sample `{}`: `{t}` is not a number",
                                f[0], sample_ids[j]
                            ),
                        )
                    })?
                };
                by_gene[g * n_samples + j] = x;
            }
        }
        if let Some((Ok(l), i)) = next_nonempty(&mut lines) {
            return Err(at(
                i,
                format!(
                    "more lines than the {n_genes} genes the dimensions say: `{}`",
                    l.chars().take(40).collect::<String>()
                ),
            ));
        }
        let mut values = vec![0f32; n_genes * n_samples];
        for g in 0..n_genes {
            for j in 0..n_samples {
                values[j * n_genes + g] = by_gene[g * n_samples + j];
            }
        }
        Ok(Gct {
            path: path.to_path_buf(),
            gene_ids,
            sample_ids,
            row_fields,
            col_fields,
            values,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
    pub fn sample_ids(&self) -> Vec<String> {
        self.sample_ids.clone()
    }
    pub fn gene_ids(&self) -> Vec<String> {
        self.gene_ids.clone()
    }
    /// Names of the per-sample fields.
    pub fn column_names(&self) -> Vec<String> {
        self.col_fields.iter().map(|(n, _)| n.clone()).collect()
    }
    /// A per-sample field (`id` is the sample id); None if absent.
    pub fn column(&self, name: &str) -> Option<RawColumn> {
        if name == "id" {
            return Some(RawColumn::Str(
                self.sample_ids.iter().cloned().map(Some).collect(),
            ));
        }
        self.col_fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| RawColumn::Str(v.clone()))
    }
    /// A per-gene field (e.g. `pr_gene_symbol`); None if absent.
    pub fn row_column(&self, name: &str) -> Option<RawColumn> {
        if name == "id" {
            return Some(RawColumn::Str(
                self.gene_ids.iter().cloned().map(Some).collect(),
            ));
        }
        self.row_fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| RawColumn::Str(v.clone()))
    }
    /// Names of the per-gene fields.
    pub fn row_column_names(&self) -> Vec<String> {
        self.row_fields.iter().map(|(n, _)| n.clone()).collect()
    }

    /// The samples `rows` as CSR (exact zeros dropped), keeping the genes
    /// `genes` (all if None). A non-finite value is an error naming the
    /// sample and gene.
    pub fn read_rows(&self, rows: &[usize], genes: Option<&[usize]>) -> Result<CsrMatrix> {
        let m = self.gene_ids.len();
        let all: Vec<usize> = (0..m).collect();
        let genes = genes.unwrap_or(&all);
        let mut out = CsrBuilder::new(genes.len());
        for &r in rows {
            if r >= self.sample_ids.len() {
                return Err(DataError::file(
                    &self.path,
                    format!(
                        "sample row {r} is beyond the {} samples",
                        self.sample_ids.len()
                    ),
                ));
            }
            let row = &self.values[r * m..(r + 1) * m];
            for (j, &g) in genes.iter().enumerate() {
                let v = *row.get(g).ok_or_else(|| {
                    DataError::file(
                        &self.path,
                        format!("gene column {g} is beyond the {m} genes"),
                    )
                })?;
                if !v.is_finite() {
                    return Err(DataError::file(
                        &self.path,
                        format!(
                            "value {v} of sample `{}`, gene `{}` (missing values cannot be ingested: drop the gene or the sample)",
                            self.sample_ids[r], self.gene_ids[g]
                        ),
                    ));
                }
                if v != 0.0 {
                    out.push(j as u32, v);
                }
            }
            out.finish_row();
        }
        out.build()
            .map_err(|e| DataError::file(&self.path, e.to_string()))
    }
}

/// The next line that is not blank, with its 1-based number.
fn next_nonempty(
    lines: &mut impl Iterator<Item = (usize, std::io::Result<String>)>,
) -> Option<(std::io::Result<String>, usize)> {
    for (i, l) in lines {
        match l {
            Ok(t) if t.trim().is_empty() => continue,
            other => return Some((other, i + 1)),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Gct> {
        Gct::parse(Path::new("p.gct"), std::io::Cursor::new(text.to_string()))
    }

    #[test]
    fn reads_1_3_with_metadata_and_1_2() {
        let g = parse(
            "#1.3\n2\t3\t1\t2\nid\tpr_gene_symbol\tS1\tS2\tS3\npert_type\t-666\tctl_vector\ttrt_xpr\t-666\ndet_plate\tna\tP1\tP1\tP2\n1000\tCDH2\t1.5\t0\t-2\n1001\t-666\t3\tNaN\t4.25\n",
        )
        .unwrap();
        assert_eq!(g.sample_ids(), ["S1", "S2", "S3"]);
        assert_eq!(g.gene_ids(), ["1000", "1001"]);
        assert_eq!(
            g.column("pert_type"),
            Some(RawColumn::Str(vec![
                Some("ctl_vector".into()),
                Some("trt_xpr".into()),
                None
            ]))
        );
        assert_eq!(
            g.row_column("pr_gene_symbol"),
            Some(RawColumn::Str(vec![Some("CDH2".into()), None]))
        );
        let m = g.read_rows(&[0, 2], None).unwrap();
        assert_eq!(m.row(0).collect::<Vec<_>>(), [(0, 1.5), (1, 3.0)]);
        assert_eq!(m.row(1).collect::<Vec<_>>(), [(0, -2.0), (1, 4.25)]);
        let e = g.read_rows(&[1], None).unwrap_err().to_string();
        assert!(e.contains("sample `S2`, gene `1001`"), "{e}");

        let g = parse("#1.2\n2\t2\nName\tDescription\tA\tB\ng1\tna\t1\t2\ng2\tx\t3\t4\n").unwrap();
        assert_eq!(
            (g.sample_ids(), g.gene_ids()),
            (
                vec!["A".to_string(), "B".into()],
                vec!["g1".to_string(), "g2".into()]
            )
        );
        assert_eq!(
            g.read_rows(&[1], None).unwrap().row(0).collect::<Vec<_>>(),
            [(0, 2.0), (1, 4.0)]
        );
    }

    #[test]
    fn malformed_files_name_the_line() {
        let e = parse("#1.3\n99999999\t99999999\t0\t0\n")
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.contains("line 2") && e.contains("convert it to gctx"),
            "{e}"
        );
        let e = parse("#1.4\n").err().unwrap().to_string();
        assert!(e.contains("line 1") && e.contains("#1.4"), "{e}");
        let e = parse("#1.2\n2\t2\nName\tDescription\tA\tB\ng1\tna\t1\n")
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.contains("line 4") && e.contains("3 fields, expected 4"),
            "{e}"
        );
        let e = parse("#1.2\n2\t2\nName\tDescription\tA\tB\ng1\tna\t1\t2\n")
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("ends before gene 2 of 2"), "{e}");
        let e = parse("#1.2\n1\t2\nName\tDescription\tA\tB\ng1\tna\t1\tx\n")
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.contains("line 4") && e.contains("`x` is not a number"),
            "{e}"
        );
        let e = parse("#1.2\n1\t2\nName\tDescription\tA\tB\ng1\tna\t1\t2\ng2\tna\t1\t2\n")
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("line 5") && e.contains("more lines"), "{e}");
    }
}
