//! `arrears`: a batch processor for loan books, the command line over
//! `arrears_core`.
//!
//! ```text
//! arrears_core   record model, field parsing, policy and presets, compute
//!                (SPEC 2 and 5), exact arithmetic, results rows, tallies
//! io/            sources and the CSV splitter, the pipeline, CSV and
//!                Parquet sinks, payments files, summary tables, atomic
//!                outputs, the manifest
//! cmd/           one file per command: run, audit, explain, summarize,
//!                movement, report, generate
//! cli            the command line: arguments, checks, exit codes
//! ```
//!
//! The data flows one way: read (io::pipeline) → parse (record) → compute
//! → write results (output) and fold statistics (summary). What a command
//! writes and folds per record is its `io::pipeline::Job`.

// The core's modules, under the names the command line has always used.
pub use arrears_core::{compute, csv_text, exact, money, parse, policy, record, repay, summary};

pub mod cli;
pub mod error;

/// Reading and writing: everything that touches a file or a stream.
pub mod io {
    pub mod atomic;
    pub mod crlf;
    pub mod manifest;
    pub mod output;
    #[cfg(feature = "parquet")]
    pub mod parquet;
    pub mod paths;
    pub mod payments;
    pub mod pipeline;
    pub mod source;
    pub mod split;
    pub mod table;
}

/// The commands, one file each: what the command does, and `command`, its
/// command line (flags checked, the work run, the report printed).
pub mod cmd {
    pub mod audit;
    pub mod explain;
    pub mod generate;
    pub mod movement;
    pub mod policy;
    pub mod report;
    pub mod run;
    pub mod summarize;
}
