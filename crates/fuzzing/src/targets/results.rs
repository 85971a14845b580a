//! A results Parquet file as `pertbench sql` and `report` find it in
//! `<workdir>/results`: verified (framing, footer, checksum), registered
//! and queried, with and without the view pertbench creates.

pub fn run(data: &[u8]) {
    let work = crate::scratch::fresh("results");
    let results = work.join("results");
    if std::fs::create_dir_all(&results).is_err() {
        return;
    }
    crate::scratch::file(&results, "fuzzed.parquet", data);
    let limits = crate::targets::sql::limits();
    for q in [
        "SELECT * FROM results",
        "SELECT task, COUNT(*), AVG(value) FROM results GROUP BY task",
        "SELECT * FROM best_postprocessing",
    ] {
        let _ = pertbench_sql::query_with_limits(&results, q, &limits);
    }
}
