//! The end-to-end tests by subcommand (one test binary: `tests/cli.rs`).

mod bench;
mod cache;
mod datasets;
mod explain;
mod init;
mod report;
mod run;
mod sql;
mod tasks;
