//! Output: the results and rejects CSV rows, number formats, and files that
//! appear complete or not at all.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use rust_decimal::{Decimal, RoundingStrategy};

use crate::compute::Figures;
use crate::error::Error;
use crate::policy::{Component, Policy};
use crate::record::{Layout, Loan, Reject};

/// Money: exactly 2 decimals.
pub fn money(value: Decimal) -> String {
    format!("{value:.2}")
}

/// A daily rate: half-up to 10 decimals, trailing zeros removed.
pub fn daily_rate(value: Decimal) -> String {
    value
        .round_dp_with_strategy(10, RoundingStrategy::MidpointAwayFromZero)
        .normalize()
        .to_string()
}

/// A ratio: exactly 6 decimals, half-up.
pub fn ratio6(value: Decimal) -> String {
    let rounded = value.round_dp_with_strategy(6, RoundingStrategy::MidpointAwayFromZero);
    format!("{rounded:.6}")
}

pub const REJECTS_HEADER: [&str; 5] = ["line", "loan_id", "column", "reason", "raw"];

/// The results columns after `loan_id` and the dimensions.
pub const RESULT_COLUMNS: [&str; 22] = [
    "currency",
    "principal",
    "due_date",
    "end_date",
    "days_overdue",
    "chargeable_days",
    "daily_rate",
    "penalty_daily_rate",
    "interest",
    "penalty",
    "compound",
    "fees",
    "total_raw",
    "total_capped",
    "excess",
    "breaches",
    "binding_cap",
    "annualized_rate",
    "status",
    "bucket",
    "classification",
    "provision",
];

/// The results header for a file laid out as `layout`.
pub fn results_header(layout: &Layout) -> Vec<String> {
    let mut header = vec!["loan_id".to_string()];
    header.extend(layout.dimensions.iter().map(|c| c.name().to_string()));
    header.extend(RESULT_COLUMNS.map(String::from));
    header
}

/// The values of `RESULT_COLUMNS` for one loan, formatted.
pub fn result_values(
    loan: &Loan,
    f: &Figures,
    policy: &Policy,
    buckets: &[String],
) -> [String; 22] {
    let breaches: Vec<&str> = f.breaches().map(|i| policy.caps[i].name.as_str()).collect();
    [
        loan.currency.clone(),
        money(loan.principal),
        loan.due_date.to_string(),
        f.end_date.to_string(),
        f.days_overdue.to_string(),
        f.chargeable_days.to_string(),
        daily_rate(f.daily_rate),
        daily_rate(f.penalty_daily_rate),
        money(f.amount(Component::Interest)),
        money(f.amount(Component::Penalty)),
        money(f.amount(Component::Compound)),
        money(f.amount(Component::Fees)),
        money(f.total_raw),
        money(f.total_capped),
        money(f.excess),
        breaches.join(";"),
        f.binding_cap
            .map_or(String::new(), |i| policy.caps[i].name.clone()),
        f.annualized_rate.map_or(String::new(), ratio6),
        f.status.as_str().to_string(),
        buckets[f.bucket].clone(),
        f.class
            .map_or(String::new(), |c| policy.classes[c].name.clone()),
        money(f.provision),
    ]
}

/// Writes `loan_id` and the dimensions, the fields every row of a loan starts with.
pub fn write_loan_key<W: Write>(out: &mut csv::Writer<W>, loan: &Loan) -> csv::Result<()> {
    out.write_field(&loan.loan_id)?;
    for value in &loan.dimensions {
        out.write_field(value)?;
    }
    Ok(())
}

/// Writes one results row.
pub fn write_result<W: Write>(
    out: &mut csv::Writer<W>,
    loan: &Loan,
    f: &Figures,
    policy: &Policy,
    buckets: &[String],
) -> csv::Result<()> {
    write_loan_key(out, loan)?;
    for field in &result_values(loan, f, policy, buckets) {
        out.write_field(field)?;
    }
    out.write_record(None::<&[u8]>)
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

/// A file written under a temporary name in the same directory and renamed
/// to its final name only by `commit`; dropped uncommitted, it is removed.
pub struct AtomicFile {
    path: PathBuf,
    temp: PathBuf,
    writer: Option<BufWriter<File>>,
}

impl AtomicFile {
    pub fn create(path: &Path) -> Result<AtomicFile, Error> {
        let name = path
            .file_name()
            .map_or_else(|| "output".into(), |n| n.to_string_lossy().into_owned());
        let temp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
        let file = File::create(&temp).map_err(|e| Error::io(path.display(), e))?;
        Ok(AtomicFile {
            path: path.to_path_buf(),
            temp,
            writer: Some(BufWriter::with_capacity(1 << 20, file)),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Flushes, syncs and renames the file to its final name.
    pub fn commit(mut self) -> Result<(), Error> {
        let fail = |e: io::Error| Error::io(self.path.display(), e);
        let writer = self.writer.take().expect("committed once");
        let file = writer.into_inner().map_err(|e| fail(e.into_error()))?;
        file.sync_all().map_err(fail)?;
        drop(file);
        std::fs::rename(&self.temp, &self.path).map_err(fail)
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.writer.as_mut().expect("not committed").write(buf)
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.writer.as_mut().expect("not committed").write_all(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.writer.as_mut().expect("not committed").flush()
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if self.writer.take().is_some() {
            let _ = std::fs::remove_file(&self.temp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    #[test]
    fn number_formats() {
        assert_eq!(money(d("26000")), "26000.00");
        assert_eq!(money(d("0.5")), "0.50");
        assert_eq!(money(d("0")), "0.00");
        assert_eq!(daily_rate(d("0.000500")), "0.0005");
        assert_eq!(daily_rate(d("0.18") / d("365")), "0.0004931507");
        assert_eq!(
            daily_rate(d("0.00000000005")),
            "0.0000000001",
            "half up at the 10th decimal"
        );
        assert_eq!(daily_rate(d("0.00000000004999")), "0");
        assert_eq!(daily_rate(d("1.5")), "1.5");
        assert_eq!(ratio6(d("0.5475")), "0.547500");
        assert_eq!(ratio6(d("0.0000005")), "0.000001");
    }

    #[test]
    fn atomic_file_appears_only_on_commit() {
        let dir = std::env::temp_dir().join(format!("arrears-atomic-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("out.csv");
        let mut f = AtomicFile::create(&path).unwrap();
        f.write_all(b"a,b\n").unwrap();
        assert!(!path.exists());
        f.commit().unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"a,b\n");
        let mut g = AtomicFile::create(&dir.join("dropped.csv")).unwrap();
        g.write_all(b"partial").unwrap();
        drop(g);
        let left: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left, vec![std::ffi::OsString::from("out.csv")]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
