//! sqllogictest-style files (`tests/slt/*.slt`): queries, among them every
//! canned query of `sql/` (`include sql/<file>.sql`), run through
//! `pertbench_sql` over a committed results table (`fixtures/results.tsv`,
//! written to Parquet with the results schema's types), each with its
//! expected rows. `PERTBENCH_SLT_UPDATE=1` rewrites the expected rows (read
//! the diff before committing it).
//!
//! A record is a block of lines ended by a blank line:
//!
//! ```text
//! # what it checks
//! query
//! SELECT ... (or: include sql/leaderboard.sql)
//! ----
//! cell | cell | ...
//!
//! statement error <text the error contains>
//! COPY results TO 'x.csv'
//! ```

use arrow::array::{ArrayRef, BooleanArray, Float64Array, StringArray, UInt64Array};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use std::path::{Path, PathBuf};
use std::sync::Arc;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The committed table as a results file in `<work>/results/`.
fn write_fixture(work: &Path) -> PathBuf {
    let tsv = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/results.tsv"),
    )
    .expect("tests/fixtures/results.tsv");
    let mut lines = tsv.lines();
    let header: Vec<&str> = lines.next().expect("a header").split('\t').collect();
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split('\t').collect()).collect();
    let cell = |k: usize| {
        rows.iter()
            .map(move |r| r[k])
            .map(|v| (v != "NULL").then_some(v))
    };
    let mut fields = Vec::new();
    let mut columns: Vec<ArrayRef> = Vec::new();
    for (k, name) in header.iter().enumerate() {
        let (ty, array): (DataType, ArrayRef) = match *name {
            "seed" | "n_items" | "null_size" => (
                DataType::UInt64,
                Arc::new(
                    cell(k)
                        .map(|v| v.map(|v| v.parse::<u64>().unwrap()))
                        .collect::<UInt64Array>(),
                ),
            ),
            "value" | "ci_low" | "ci_high" | "null_mean" | "p_value" => (
                DataType::Float64,
                Arc::new(
                    cell(k)
                        .map(|v| v.map(|v| v.parse::<f64>().unwrap()))
                        .collect::<Float64Array>(),
                ),
            ),
            "higher_is_better" => (
                DataType::Boolean,
                Arc::new(
                    cell(k)
                        .map(|v| v.map(|v| v == "true"))
                        .collect::<BooleanArray>(),
                ),
            ),
            _ => (DataType::Utf8, Arc::new(cell(k).collect::<StringArray>())),
        };
        fields.push(Field::new(*name, ty, true));
        columns.push(array);
    }
    let schema = Arc::new(Schema::new(fields));
    let batch = RecordBatch::try_new(schema.clone(), columns).unwrap();
    let dir = work.join("results");
    std::fs::create_dir_all(&dir).unwrap();
    let f = std::fs::File::create(dir.join("fixture.parquet")).unwrap();
    let mut w = parquet::arrow::ArrowWriter::try_new(f, schema, None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    dir
}

enum Expect {
    Rows(Vec<String>),
    Error(String),
}

struct Record {
    comments: Vec<String>,
    sql_lines: Vec<String>,
    expect: Expect,
}

fn parse(text: &str, file: &Path) -> Vec<Record> {
    let mut out = Vec::new();
    for (k, block) in text.split("\n\n").enumerate() {
        let lines: Vec<&str> = block.lines().collect();
        if lines.iter().all(|l| l.trim().is_empty()) {
            continue;
        }
        let comments: Vec<String> = lines
            .iter()
            .take_while(|l| l.starts_with('#'))
            .map(|l| l.to_string())
            .collect();
        let rest = &lines[comments.len()..];
        let (head, body) = rest
            .split_first()
            .unwrap_or_else(|| panic!("{}: record {k} is only comments", file.display()));
        if *head == "query" {
            let sep = body
                .iter()
                .position(|l| *l == "----")
                .unwrap_or_else(|| panic!("{}: record {k}: no ----", file.display()));
            out.push(Record {
                comments,
                sql_lines: body[..sep].iter().map(|l| l.to_string()).collect(),
                expect: Expect::Rows(body[sep + 1..].iter().map(|l| l.to_string()).collect()),
            });
        } else if let Some(needle) = head.strip_prefix("statement error ") {
            out.push(Record {
                comments,
                sql_lines: body.iter().map(|l| l.to_string()).collect(),
                expect: Expect::Error(needle.to_string()),
            });
        } else {
            panic!(
                "{}: record {k}: starts with `{head}`, not `query` or `statement error`",
                file.display()
            );
        }
    }
    out
}

fn sql_of(r: &Record) -> String {
    match r.sql_lines.as_slice() {
        [one] if one.starts_with("include ") => {
            let p = repo().join(one.trim_start_matches("include ").trim());
            std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        }
        lines => lines.join("\n"),
    }
}

fn render(batches: &[RecordBatch]) -> Vec<String> {
    let opts = FormatOptions::default().with_null("NULL");
    let mut out = Vec::new();
    for b in batches {
        let fmts: Vec<ArrayFormatter> = b
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &opts).unwrap())
            .collect();
        for i in 0..b.num_rows() {
            out.push(
                fmts.iter()
                    .map(|f| f.value(i).to_string())
                    .collect::<Vec<_>>()
                    .join(" | "),
            );
        }
    }
    out
}

#[test]
fn slt_files_give_their_expected_rows() {
    let work = tempfile::tempdir().unwrap();
    let results = write_fixture(work.path());
    let limits = pertbench_sql::Limits {
        timeout: std::time::Duration::from_secs(60),
        memory_bytes: 512 << 20,
    };
    let update = std::env::var("PERTBENCH_SLT_UPDATE").as_deref() == Ok("1");
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/slt");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    files.retain(|p| p.extension().is_some_and(|e| e == "slt"));
    files.sort();
    assert!(!files.is_empty(), "no .slt files in {}", dir.display());
    let mut failures = Vec::new();
    let mut included = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        let mut records = parse(&text, file);
        for (k, r) in records.iter_mut().enumerate() {
            if let [one] = r.sql_lines.as_slice() {
                if let Some(p) = one.strip_prefix("include ") {
                    included.push(p.trim().to_string());
                }
            }
            let answer = pertbench_sql::query_with_limits(&results, &sql_of(r), &limits);
            let at = format!("{} record {k} ({})", file.display(), r.comments.join(" "));
            match (&mut r.expect, answer) {
                (Expect::Rows(want), Ok(a)) => {
                    let got = render(&a.batches);
                    if *want != got {
                        if update {
                            *want = got;
                        } else {
                            failures.push(format!(
                                "{at}:\nexpected:\n{}\ngot:\n{}",
                                want.join("\n"),
                                got.join("\n")
                            ));
                        }
                    }
                }
                (Expect::Rows(_), Err(e)) => failures.push(format!("{at}: failed: {e}")),
                (Expect::Error(needle), Err(e)) => {
                    if !e.to_string().contains(needle.as_str()) {
                        failures.push(format!("{at}: error `{e}` lacks `{needle}`"));
                    }
                }
                (Expect::Error(needle), Ok(_)) => {
                    failures.push(format!("{at}: ran, expected an error with `{needle}`"))
                }
            }
        }
        if update {
            let mut text = String::new();
            for r in &records {
                for c in &r.comments {
                    text += &format!("{c}\n");
                }
                match &r.expect {
                    Expect::Rows(rows) => {
                        text += "query\n";
                        text += &r.sql_lines.join("\n");
                        text += "\n----\n";
                        for row in rows {
                            text += &format!("{row}\n");
                        }
                    }
                    Expect::Error(needle) => {
                        text += &format!("statement error {needle}\n{}\n", r.sql_lines.join("\n"));
                    }
                }
                text += "\n";
            }
            std::fs::write(file, text.trim_end().to_string() + "\n").unwrap();
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    // Every canned query of sql/ runs here.
    let mut canned: Vec<String> = std::fs::read_dir(repo().join("sql"))
        .unwrap()
        .flatten()
        .map(|e| format!("sql/{}", e.file_name().to_string_lossy()))
        .filter(|n| n.ends_with(".sql"))
        .collect();
    canned.sort();
    for c in canned {
        assert!(
            included.contains(&c),
            "{c} is not run by any .slt file (add `include {c}`)"
        );
    }
}
