//! `arrears`: a batch processor for loan books.
//!
//! The data flows one way:
//!
//! ```text
//! read (pipeline) → parse (record, parse) → compute → write results (output)
//!                                                    ↘ fold statistics (summary)
//! ```
//!
//! `pipeline` runs that line for every command; what a command writes and
//! folds per record is its `pipeline::Job`: `run` (results and summary),
//! `audit` (cap breaches), `explain` (every step of named loans). `policy`
//! holds every rule the computation follows; `cli` turns the command line
//! into a validated configuration; `generate` writes synthetic books.
//! With repayments, `payments` reads and matches the payments and `repay`
//! computes a row with its payments.

// The core's modules, under the names the command line has always used.
pub use arrears_core::{compute, csv_text, exact, money, parse, policy, record, repay, summary};

pub mod atomic;
pub mod audit;
pub mod cli;
pub mod crlf;
pub mod error;
pub mod explain;
pub mod generate;
pub mod manifest;
pub mod movement;
pub mod output;
#[cfg(feature = "parquet")]
pub mod parquet;
pub mod paths;
pub mod payments;
pub mod pipeline;
pub mod report;
pub mod run;
pub mod source;
pub mod split;
pub mod summarize;
pub mod table;
