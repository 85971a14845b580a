//! One file per subcommand: its arguments (`Args`) and what it does (`run`).

pub mod bench;
pub mod cache;
pub mod cell_eval;
pub mod completions;
pub mod datasets;
pub mod de;
pub mod explain;
pub mod fetch;
pub mod init;
pub mod plan;
pub mod report;
pub mod run;
pub mod sql;
