//! `arrears-core`: the arithmetic of `arrears`, with no command line and no
//! file formats. The binary, the Python module and any engine adapter call
//! this same code.
//!
//! ```text
//! fields (record, parse) → loan → compute / repay → figures
//!                                         ↘ output: one results row into any RowSink
//!                                         ↘ summary: mergeable tallies
//! ```
//!
//! `policy` holds every rule the computation follows (presets, caps,
//! classes, calendars); `payments` indexes repayments by loan_id; `exact`
//! and `money` keep every figure exact.

pub mod compute;
pub mod csv_text;
pub mod error;
pub mod exact;
pub mod explain;
pub mod money;
pub mod output;
pub mod parse;
pub mod payments;
pub mod policy;
pub mod record;
pub mod repay;
pub mod summary;
pub mod summary_bytes;
pub mod values;
