//! Repayment files (SPEC.md section 5): read before the book into the
//! core's payments index, and what matched no accepted row written to the
//! unmatched-payments file from a second reading of the files, which gives
//! back each payment's text.

use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use csv::ByteRecord;
use encoding_rs::Encoding;

use crate::error::Error;
use crate::io::atomic::AtomicFile;
use crate::io::output::money;
use crate::io::source::{Compression, Input, Source};
use crate::io::split::Quoted;
use crate::money::Money;
use crate::policy::Policy;
use crate::record::{ColKind, Fields};
pub use arrears_core::payments::*;

/// The unmatched-payments file's columns.
pub const UNMATCHED_HEADER: [&str; 6] = ["file", "line", "loan_id", "date", "amount", "reason"];

/// Opens a payments file and finds its columns.
fn open(
    path: &Path,
    policy: &Policy,
    encoding: Option<&'static Encoding>,
) -> Result<(Source, PaymentLayout), Error> {
    let mut source = Source::open(
        &Input::File(path.to_path_buf()),
        encoding,
        Compression::None,
    )?;
    let header = source.header()?;
    let layout = PaymentLayout::from_header(&Quoted(&header), policy, &source.name)?;
    let kinds = [ColKind::Text, ColKind::Date, ColKind::Number];
    let columns: Vec<(ColKind, usize, &str)> = (0..3)
        .map(|i| (kinds[i], layout.index[i], PAYMENT_COLUMNS[i]))
        .collect();
    source.check_types(&columns)?;
    source.select(&layout.index);
    Ok((source, layout))
}

/// Reads every payments file (all before the book: a file that cannot be
/// read stops the run before any output).
pub fn load(
    files: &[PathBuf],
    policy: &Policy,
    encoding: Option<&'static Encoding>,
    as_of: NaiveDate,
) -> Result<Payments, Error> {
    let mut builder = Builder::new(policy, as_of);
    let mut record = ByteRecord::new();
    for path in files {
        let (mut source, layout) = open(path, policy, encoding)?;
        while source.read(&mut record)? {
            builder.add(&Quoted(&record), &layout, &source.name);
        }
    }
    Ok(builder.finish())
}

/// Writes the payments that belong to no accepted book row, in file
/// order, reading the files again for their text.
pub fn write_unmatched(
    payments: &Payments,
    files: &[PathBuf],
    file: &mut AtomicFile,
    policy: &Policy,
    encoding: Option<&'static Encoding>,
) -> Result<(), Error> {
    let path = file.path().display().to_string();
    let mut out = csv::Writer::from_writer(Vec::new());
    let csv_error = |e| crate::error::csv(&path, e);
    out.write_record(UNMATCHED_HEADER).map_err(csv_error)?;
    // The unmatched payments by their place in the files.
    let mut wanted = payments.unmatched().into_iter().peekable();
    let names = column_names(policy);
    let mut record = ByteRecord::new();
    let mut ordinal = 0u32;
    for name in files {
        if wanted.peek().is_none() {
            break;
        }
        let (mut source, layout) = open(name, policy, encoding)?;
        while source.read(&mut record)? {
            let this = ordinal;
            ordinal = ordinal.saturating_add(1);
            let Some(&(next, row_rejected)) = wanted.peek() else {
                break;
            };
            if next != this {
                continue;
            }
            wanted.next();
            let record = Quoted(&record);
            let Ok(row) = read_row(&record, &layout, &names) else {
                continue;
            };
            let reason = match row_rejected {
                true => "its book row was rejected",
                false => "no such loan_id",
            };
            let amount = Money::new(i128::from(row.cents)).unwrap_or(Money::ZERO);
            out.write_record([
                source.name.as_str(),
                &record.line().to_string(),
                row.loan_id,
                &row.date.to_string(),
                &money(amount),
                reason,
            ])
            .map_err(csv_error)?;
            if out.get_ref().len() > 1 << 20 {
                out.flush().map_err(|e| Error::io(&path, e))?;
                let full = std::mem::replace(&mut out, csv::Writer::from_writer(Vec::new()));
                let bytes = full
                    .into_inner()
                    .map_err(|e| Error::io(&path, e.into_error()))?;
                file.write_all(&bytes).map_err(|e| Error::io(&path, e))?;
            }
        }
    }
    let bytes = out
        .into_inner()
        .map_err(|e| Error::io(&path, e.into_error()))?;
    file.write_all(&bytes).map_err(|e| Error::io(&path, e))
}

/// The unmatched-payments file beside the rejects file: `rejects` in its
/// name becomes `unmatched` (`out/r.rejects.csv` -> `out/r.unmatched.csv`),
/// else `.unmatched` goes before the extension.
pub fn default_unmatched_path(rejects: &Path) -> PathBuf {
    let name = rejects.file_name().map_or_else(
        || "rejects.csv".into(),
        |n| n.to_string_lossy().into_owned(),
    );
    let name = match name.rfind("rejects") {
        Some(at) => format!("{}unmatched{}", &name[..at], &name[at + "rejects".len()..]),
        None => {
            let stem = rejects
                .file_stem()
                .map_or_else(String::new, |s| s.to_string_lossy().into_owned());
            format!("{stem}.unmatched.csv")
        }
    };
    rejects.with_file_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unmatched_sits_beside_the_rejects() {
        for (rejects, unmatched) in [
            ("out/r.rejects.csv", "out/r.unmatched.csv"),
            ("rejects.csv", "unmatched.csv"),
            ("bad.csv", "bad.unmatched.csv"),
        ] {
            assert_eq!(
                default_unmatched_path(Path::new(rejects)),
                PathBuf::from(unmatched)
            );
        }
    }
}
