//! `sql`: the read-only gate.

use crate::*;

#[test]
fn sql_refuses_writes() {
    let p = Project::new();
    p.ok(&["run", "pipelines/p.yaml", "--quiet"]);
    let e = p.fails(&["sql", "COPY results TO 'out.csv'"]);
    assert!(e.contains("refused"), "{e}");
    assert!(!p.path("out.csv").exists());
    let e = p.fails(&[
        "sql",
        "CREATE EXTERNAL TABLE x STORED AS CSV LOCATION 'mirror/pairs.txt'",
    ]);
    assert!(e.contains("refused"), "{e}");
}
