//! A synthetic loan book generator, for tests and benchmarks: several
//! products and currencies, lognormal principals, about 60% unpaid, fees and
//! unpaid interest on some rows, annual and daily rates in every accepted
//! notation. The same seed always gives the same bytes.
//!
//! `write_payments` writes the payments received on a generated book's
//! rows (`generate --repayments`): partial payments, some settling their
//! row, some overpaying it, a few before the due date or after the
//! valuation date, and a few for loan_ids the book does not have. They come
//! from their own random stream over the book's rows as written, so the
//! book's bytes are the same with or without them.

use std::io::Write;
use std::path::Path;

use chrono::{Days, NaiveDate};

use crate::cli::{check_any_paths, Exit, GenerateArgs, UsageError};
use crate::cmd::generate;
use crate::error::Error;
use crate::io::atomic::AtomicFile;
use crate::io::source::{BookFormat, Compression};

pub struct GenerateConfig {
    pub rows: u64,
    pub seed: u64,
    /// Due dates are spread from about two years before this date to a
    /// month after it.
    pub as_of: NaiveDate,
}

/// SplitMix64: small, fast, and good enough for synthetic data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.unit();
        let u2 = self.unit();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
}

struct Product {
    name: &'static str,
    /// Median principal, in currency units.
    median: f64,
    /// Annual rates in basis points to pick from.
    rates_bp: &'static [u32],
}

const PRODUCTS: [Product; 5] = [
    Product {
        name: "mortgage",
        median: 60_000.0,
        rates_bp: &[390, 420, 455],
    },
    Product {
        name: "sme",
        median: 150_000.0,
        rates_bp: &[480, 600, 725],
    },
    Product {
        name: "auto",
        median: 25_000.0,
        rates_bp: &[600, 800, 995],
    },
    Product {
        name: "consumer",
        median: 8_000.0,
        rates_bp: &[1200, 1500, 1800],
    },
    Product {
        name: "card",
        median: 3_000.0,
        rates_bp: &[1800],
    },
];

const REGIONS: [&str; 6] = ["north", "east", "south", "west", "central", "overseas"];

pub const HEADER: [&str; 14] = [
    "loan_id",
    "account_id",
    "product",
    "region",
    "currency",
    "principal",
    "due_date",
    "annual_rate",
    "daily_rate",
    "penalty_rate",
    "paid_date",
    "unpaid_interest",
    "fees",
    "outstanding",
];

/// The extensions `generate` writes, as `run` reads them.
pub const EXTENSIONS: &str = ".csv (or none), .csv.gz, .csv.zst, .parquet";

/// Whether `generate` can write a book named `path`: a name `run` would
/// read as something else than what was written is refused.
pub fn writable_name(path: &Path) -> bool {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    matches!(
        ext.as_deref(),
        None | Some("csv" | "gz" | "gzip" | "zst" | "zstd" | "parquet")
    )
}

/// Writes a generated book to `path` (atomically), in the format its
/// extension says, as `run` reads it: CSV, gzip or zstd compressed CSV,
/// or Parquet (text columns: the values keep the notations of the CSV).
pub fn write_book(config: &GenerateConfig, path: &Path) -> Result<(), Error> {
    write_file(path, &|each| rows(config, each))
}

/// Writes the next night of the book `config` generates, as of `next`
/// (`generate --next-night`): the same loans a month on, some repaid and
/// gone from the book (closed), some repaid on the way (settled, written-off
/// ones among them: recoveries), some rescheduled (cured, or back to an
/// earlier bucket), the rest older by the month (rolled forward, some newly
/// written off), and some new loans (ids `N...`).
pub fn write_next_night(
    config: &GenerateConfig,
    next: NaiveDate,
    path: &Path,
) -> Result<(), Error> {
    write_file(path, &|each| {
        let mut rng = Rng(config.seed ^ 0x0000_4E47_4854_0001);
        let days = (next - config.as_of).num_days().max(1) as u64;
        rows(config, |row| {
            let mut row = row.to_vec();
            let paid = !row[10].is_empty();
            let fate = rng.below(100);
            if paid {
                // Repaid loans leave the book, half of them by now.
                return if fate < 50 { Ok(()) } else { each(&row) };
            }
            match fate {
                0..=7 => return Ok(()), // repaid and off the book: closed
                8..=19 => {
                    // repaid during the month: settled
                    let day = shift(config.as_of, 1 + rng.below(days) as i64);
                    row[10] = day.format("%Y-%m-%d").to_string();
                }
                20..=24 => {
                    // rescheduled after next night: not yet due (cured)
                    row[6] = shift(next, 1 + rng.below(60) as i64)
                        .format("%Y-%m-%d")
                        .to_string();
                }
                25..=27 => {
                    // rescheduled, still a little late: back to 1-30
                    row[6] = shift(next, -(1 + rng.below(25) as i64))
                        .format("%Y-%m-%d")
                        .to_string();
                }
                _ => {}
            }
            each(&row)
        })?;
        let fresh = GenerateConfig {
            rows: config.rows / 20,
            seed: config.seed ^ 0x0000_4E45_5700_0002,
            as_of: next,
        };
        let mut n = 0;
        rows(&fresh, |row| {
            n += 1;
            let mut row = row.to_vec();
            row[0] = format!("N{n:08}");
            each(&row)
        })
    })
}

/// Where a book's CSV text goes: plain or compressed.
enum CsvOut<'a> {
    Plain(&'a mut AtomicFile),
    Gzip(flate2::write::GzEncoder<&'a mut AtomicFile>),
    Zstd(zstd::Encoder<'static, &'a mut AtomicFile>),
}

impl Write for CsvOut<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            CsvOut::Plain(f) => f.write(buf),
            CsvOut::Gzip(f) => f.write(buf),
            CsvOut::Zstd(f) => f.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            CsvOut::Plain(f) => f.flush(),
            CsvOut::Gzip(f) => f.flush(),
            CsvOut::Zstd(f) => f.flush(),
        }
    }
}

impl CsvOut<'_> {
    fn finish(self) -> std::io::Result<()> {
        match self {
            CsvOut::Plain(f) => f.flush(),
            CsvOut::Gzip(f) => f.finish().map(|_| ()),
            CsvOut::Zstd(f) => f.finish().map(|_| ()),
        }
    }
}

/// Hands each row to the writer it is given.
type Each<'a> = &'a mut dyn FnMut(&[String]) -> Result<(), Error>;

/// Writes the rows `make` makes to `path`, in the format its name says.
fn write_file(path: &Path, make: &dyn Fn(Each) -> Result<(), Error>) -> Result<(), Error> {
    let mut file = AtomicFile::create(path)?;
    let name = path.display().to_string();
    let io_error = |e| Error::io(&name, e);
    let compression = match BookFormat::of(path) {
        BookFormat::Parquet => {
            write_parquet(&mut file, make)?;
            return file.commit().map(|_| ());
        }
        BookFormat::Csv(c) => c,
    };
    let out = match compression {
        Compression::None => CsvOut::Plain(&mut file),
        Compression::Gzip => CsvOut::Gzip(flate2::write::GzEncoder::new(
            &mut file,
            flate2::Compression::default(),
        )),
        Compression::Zstd => CsvOut::Zstd(zstd::Encoder::new(&mut file, 3).map_err(io_error)?),
    };
    let mut w = csv::Writer::from_writer(out);
    w.write_record(HEADER)
        .map_err(|e| crate::error::csv(&name, e))?;
    make(&mut |row| w.write_record(row).map_err(|e| crate::error::csv(&name, e)))?;
    let out = w.into_inner().map_err(|e| io_error(e.into_error()))?;
    out.finish().map_err(io_error)?;
    file.commit().map(|_| ())
}

#[cfg(feature = "parquet")]
fn write_parquet(
    file: &mut AtomicFile,
    make: &dyn Fn(Each) -> Result<(), Error>,
) -> Result<(), Error> {
    use crate::io::output::Kind;
    use crate::io::parquet::{Columns, ParquetSink};
    let name = file.path().display().to_string();
    let columns: Vec<(String, Kind)> = HEADER.iter().map(|h| (h.to_string(), Kind::Text)).collect();
    let mut sink = ParquetSink::new(file, &columns, None)?;
    let mut chunk = Columns::new(&columns);
    make(&mut |row| {
        chunk
            .push(row.iter().map(|f| f.as_bytes()))
            .map_err(|message| Error::Parquet {
                path: name.clone(),
                message,
            })?;
        if chunk.rows() == 1 << 15 {
            sink.push(&chunk)?;
            chunk = Columns::new(&columns);
        }
        Ok(())
    })?;
    sink.push(&chunk)?;
    sink.finish()
}

#[cfg(not(feature = "parquet"))]
fn write_parquet(
    file: &mut AtomicFile,
    _: &dyn Fn(Each) -> Result<(), Error>,
) -> Result<(), Error> {
    Err(Error::Header {
        path: file.path().display().to_string(),
        message: "this build of arrears has no Parquet support".into(),
    })
}

/// `arrears generate`: the names checked, then the book, its payments and
/// its next night written.
pub fn command(args: &GenerateArgs) -> anyhow::Result<Exit> {
    if !generate::writable_name(&args.output) {
        return Err(UsageError(format!(
            "{}: generate writes {}; `run` would not read this name as what was written",
            args.output.display(),
            generate::EXTENSIONS
        ))
        .into());
    }
    let mut outputs: Vec<(&str, &Path)> = vec![("-o", &args.output)];
    if let Some(path) = &args.repayments {
        let plain = crate::io::source::BookFormat::Csv(Compression::None);
        if crate::io::source::BookFormat::of(path) != plain {
            return Err(UsageError(format!(
                "--repayments {}: generate writes payments as plain CSV",
                path.display()
            ))
            .into());
        }
    }
    outputs.extend(args.repayments.as_deref().map(|p| ("--repayments", p)));
    outputs.extend(args.next_night.as_deref().map(|p| ("--next-night", p)));
    for (flag, path) in &outputs {
        if !generate::writable_name(path) {
            return Err(UsageError(format!(
                "{flag} {}: generate writes {}",
                path.display(),
                generate::EXTENSIONS
            ))
            .into());
        }
    }
    check_any_paths(&[], &outputs)?;
    let config = GenerateConfig {
        rows: args.rows,
        seed: args.seed,
        as_of: args.as_of,
    };
    generate::write_book(&config, &args.output)?;
    if let Some(path) = &args.repayments {
        generate::write_payments(&config, path)?;
    }
    if let Some(path) = &args.next_night {
        let next = args.next_as_of.unwrap_or_else(|| {
            args.as_of
                .checked_add_months(chrono::Months::new(1))
                .unwrap_or(args.as_of)
        });
        generate::write_next_night(&config, next, path)?;
    }
    Ok(Exit::Done)
}

#[cfg(test)]
fn write_rows<W: Write>(config: &GenerateConfig, out: W) -> csv::Result<()> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record(HEADER)?;
    rows(config, |row| w.write_record(row))?;
    w.flush()?;
    Ok(())
}

/// Makes the book's rows, one at a time, handing each to `each`.
fn rows<E>(
    config: &GenerateConfig,
    mut each: impl FnMut(&[String]) -> Result<(), E>,
) -> Result<(), E> {
    let mut rng = Rng(config.seed ^ 0x0005_EED0_FA22_EA25);
    let mut row: Vec<String> = Vec::with_capacity(HEADER.len());
    for i in 0..config.rows {
        row.clear();
        let product = &PRODUCTS[rng.below(PRODUCTS.len() as u64) as usize];
        let currency = match rng.below(20) {
            0..=15 => "CNY",
            16 | 17 => "USD",
            18 => "HKD",
            _ => "EUR",
        };
        let cents = (product.median * (0.9 * rng.normal()).exp() * 100.0)
            .round()
            .max(100.0) as u64;
        // Days past due at the valuation date: a few not yet due, most
        // recent, a long tail past write-off.
        let days_back: i64 = match rng.below(100) {
            0..=9 => -(rng.below(31) as i64),
            10..=59 => rng.below(31) as i64,
            60..=74 => 31 + rng.below(60) as i64,
            75..=89 => 91 + rng.below(90) as i64,
            _ => 181 + rng.below(540) as i64,
        };
        let due = shift(config.as_of, -days_back);
        let bp = product.rates_bp[rng.below(product.rates_bp.len() as u64) as usize];
        let (annual, daily) = match rng.below(6) {
            0 => (format!("{}.{:02}%", bp / 100, bp % 100), String::new()),
            1 => (format!("{}", bp as f64 / 10_000.0), String::new()),
            2 => (
                format!("{}.{:02}%", bp / 100, bp % 100),
                format!("{:.4}%", bp as f64 / 360.0 / 100.0),
            ),
            3 => (String::new(), format!("{:.2}‱", bp as f64 / 360.0)),
            4 => (String::new(), format!("{:.3}‰", bp as f64 / 360.0 / 10.0)),
            _ => (
                String::new(),
                format!("{:.6}", bp as f64 / 360.0 / 10_000.0),
            ),
        };
        let penalty = if rng.chance(0.1) {
            rng.pick(&["0.05%", "0.0007", "1‰"]).to_string()
        } else {
            String::new()
        };
        // About 40% repaid, most before the valuation date.
        let paid = if days_back > 0 && rng.chance(0.4) {
            let late = 1 + rng.below(days_back.unsigned_abs() + 20) as i64;
            shift(due, late).format("%Y-%m-%d").to_string()
        } else {
            String::new()
        };
        let unpaid_interest = if rng.chance(0.3) {
            money(cents / 100 * rng.below(30))
        } else {
            String::new()
        };
        let fees = if rng.chance(0.2) {
            rng.pick(&["15", "50", "100.00", "200", "1,000"])
                .to_string()
        } else {
            String::new()
        };
        let outstanding = if rng.chance(0.7) {
            money(cents * (1 + rng.below(8)))
        } else {
            String::new()
        };
        row.extend([
            format!("L{:08}", i + 1),
            format!("A{:07}", rng.below(1_000_000)),
            product.name.to_string(),
            REGIONS[rng.below(REGIONS.len() as u64) as usize].to_string(),
            currency.to_string(),
            if rng.chance(0.1) {
                money_grouped(cents)
            } else {
                money(cents)
            },
            due_text(due, &mut rng),
            annual,
            daily,
            penalty,
            paid,
            unpaid_interest,
            fees,
            outstanding,
        ]);
        each(&row)?;
    }
    Ok(())
}

/// The payments file's columns.
pub const PAYMENTS_HEADER: [&str; 3] = ["loan_id", "date", "amount"];

/// Writes the payments received on the rows of the book `config`
/// generates to `path` (CSV, atomically).
pub fn write_payments(config: &GenerateConfig, path: &Path) -> Result<(), Error> {
    let mut file = AtomicFile::create(path)?;
    let name = path.display().to_string();
    write_payment_rows(config, &mut file).map_err(|e| crate::error::csv(&name, e))?;
    file.commit().map(|_| ())
}

fn write_payment_rows<W: Write>(config: &GenerateConfig, out: W) -> csv::Result<()> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record(PAYMENTS_HEADER)?;
    let mut rng = Rng(config.seed ^ 0x0000_0BAD_DEB7_0000);
    let cents = |text: &str| {
        crate::parse::money(text).map_or(0, |m| {
            (m * rust_decimal::Decimal::ONE_HUNDRED)
                .try_into()
                .unwrap_or(0u64)
        })
    };
    rows(config, |row| {
        // The row as the book holds it: loan_id, principal, due date,
        // unpaid interest (HEADER order).
        let Ok(due) = crate::parse::date(&row[6]) else {
            return Ok(());
        };
        let days_back = (config.as_of - due).num_days();
        if days_back <= 0 && !rng.chance(0.05) {
            return Ok(());
        }
        let book = BookRow {
            loan_id: &row[0],
            cents: cents(&row[5]),
            unpaid: cents(&row[11]),
            due,
            days_back,
        };
        payments_of(&mut w, &mut rng, &book, config.as_of)
    })?;
    w.flush()?;
    Ok(())
}

/// What the payments of one book row are made from.
struct BookRow<'a> {
    loan_id: &'a str,
    /// Principal and unpaid interest, in cents.
    cents: u64,
    unpaid: u64,
    due: NaiveDate,
    /// Days past due at the valuation date.
    days_back: i64,
}

/// Writes the payments received on one book row.
fn payments_of<W: Write>(
    w: &mut csv::Writer<W>,
    rng: &mut Rng,
    row: &BookRow,
    as_of: NaiveDate,
) -> csv::Result<()> {
    let BookRow {
        loan_id,
        cents,
        unpaid,
        due,
        days_back,
    } = *row;
    let mut pay = |id: &str, date: NaiveDate, cents: u64| {
        w.write_record([
            id,
            &date.format("%Y-%m-%d").to_string(),
            &money(cents.max(1)),
        ])
    };
    // A date from a few days before the due date to a few after as_of.
    let span = days_back.max(0) as u64 + 10;
    let date = |rng: &mut Rng| shift(due, rng.below(span) as i64 - 3);
    match rng.below(100) {
        // Nothing paid.
        0..=39 => {}
        // One to three partial payments.
        40..=74 => {
            for _ in 0..1 + rng.below(3) {
                let part = cents * (5 + rng.below(30)) / 100;
                pay(loan_id, date(rng), part)?;
            }
        }
        // Paid off in two payments: half the principal, then the rest with
        // enough for the charges and unpaid interest.
        75..=84 => {
            let first = shift(due, rng.below(days_back.max(1) as u64) as i64);
            pay(loan_id, first, cents / 2)?;
            let second = shift(first, 1 + rng.below(20) as i64).min(as_of);
            pay(loan_id, second, cents - cents / 2 + unpaid + cents / 5)?;
        }
        // Overpaid in one payment.
        85..=89 => pay(loan_id, date(rng), cents * 3 / 2 + unpaid)?,
        // Before the due date, or after the valuation date.
        90..=94 => pay(loan_id, shift(due, -(1 + rng.below(10) as i64)), cents / 10)?,
        95..=98 => pay(loan_id, shift(as_of, 1 + rng.below(30) as i64), cents / 4)?,
        // Two payments of a loan the book does not have.
        _ => {
            let stranger = format!("X{}", &loan_id[1..]);
            for _ in 0..2 {
                pay(&stranger, date(rng), 1 + cents / 7)?;
            }
        }
    }
    Ok(())
}

fn shift(date: NaiveDate, days: i64) -> NaiveDate {
    if days >= 0 {
        date + Days::new(days as u64)
    } else {
        date - Days::new(days.unsigned_abs())
    }
}

fn due_text(date: NaiveDate, rng: &mut Rng) -> String {
    let format = match rng.below(10) {
        0 => "%Y/%m/%d",
        1 => "%Y%m%d",
        _ => "%Y-%m-%d",
    };
    date.format(format).to_string()
}

fn money(cents: u64) -> String {
    format!("{}.{:02}", cents / 100, cents % 100)
}

/// `1234567.89` as `1,234,567.89`.
fn money_grouped(cents: u64) -> String {
    let digits = (cents / 100).to_string();
    let mut grouped = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(c);
    }
    format!("{grouped}.{:02}", cents % 100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_bytes_and_valid_money() {
        let config = GenerateConfig {
            rows: 200,
            seed: 7,
            as_of: NaiveDate::from_ymd_opt(2025, 6, 30).unwrap(),
        };
        let mut a = Vec::new();
        let mut b = Vec::new();
        write_rows(&config, &mut a).unwrap();
        write_rows(&config, &mut b).unwrap();
        assert_eq!(a, b);
        assert_eq!(String::from_utf8(a).unwrap().lines().count(), 201);
        assert_eq!(money_grouped(123456789), "1,234,567.89");
        assert_eq!(money_grouped(99), "0.99");
        assert!(crate::parse::money(&money_grouped(100000000)).is_ok());
        let mut pay = Vec::new();
        write_payment_rows(&config, &mut pay).unwrap();
        let pay = String::from_utf8(pay).unwrap();
        assert!(pay.starts_with("loan_id,date,amount\n"));
        assert!(pay.lines().count() > 100, "{pay}");
        assert!(pay.contains("\nX0"), "payments of unknown loans");
    }
}
