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

pub mod atomic;
pub mod audit;
pub mod cli;
pub mod compute;
pub mod crlf;
pub mod error;
pub mod exact;
pub mod explain;
pub mod generate;
pub mod manifest;
pub mod money;
pub mod movement;
pub mod output;
#[cfg(feature = "parquet")]
pub mod parquet;
pub mod parse;
pub mod paths;
pub mod payments;
pub mod pipeline;
pub mod policy;
pub mod record;
pub mod repay;
pub mod report;
pub mod run;
pub mod source;
pub mod split;
pub mod summarize;
pub mod summary;
