//! `arrears`: a batch processor for loan books.
//!
//! The data flows one way:
//!
//! ```text
//! read (pipeline) → parse (record, parse) → compute → write results (output)
//!                                                    ↘ fold statistics (summary)
//! ```
//!
//! `policy` holds every rule the computation follows; `cli` turns the
//! command line into a `pipeline::RunConfig`; `generate` writes synthetic
//! books for tests and benchmarks.

pub mod cli;
pub mod compute;
pub mod error;
pub mod generate;
pub mod output;
pub mod parse;
pub mod pipeline;
pub mod policy;
pub mod record;
pub mod summary;
