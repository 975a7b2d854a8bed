//! The results row and its formatting are the core's
//! (`arrears_core::output`); here, what only files need: the output format
//! chosen by name or flag, and the rejects file's rows.

use std::io::Write;

pub use arrears_core::output::*;
use arrears_core::record::Reject;

/// The format of an output file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Format {
    #[default]
    Csv,
    Parquet,
}

impl Format {
    /// `chosen` when given, else by the extension: `.parquet` is Parquet,
    /// anything else CSV.
    pub fn of(path: &std::path::Path, chosen: Option<Format>) -> Format {
        chosen.unwrap_or_else(|| {
            let ext = path.extension().and_then(|e| e.to_str());
            match ext {
                Some(e) if e.eq_ignore_ascii_case("parquet") => Format::Parquet,
                _ => Format::Csv,
            }
        })
    }
}

pub fn write_reject<W: Write>(out: &mut csv::Writer<W>, r: &Reject) -> csv::Result<()> {
    out.write_record([
        r.line.to_string().as_str(),
        &r.loan_id,
        &r.column,
        &r.reason,
        &r.raw,
    ])
}
