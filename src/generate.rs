//! A synthetic loan book generator, for tests and benchmarks: several
//! products and currencies, lognormal principals, about 60% unpaid, fees and
//! unpaid interest on some rows, annual and daily rates in every accepted
//! notation. The same seed always gives the same bytes.
//!
//! With a payments file (`generate --repayments`), the payments received on
//! the book's overdue rows: partial payments, some settling their row, some
//! overpaying it, a few before the due date or after the valuation date,
//! and a few for loan_ids the book does not have. They come from their own
//! random stream, so the book's bytes are the same with or without them.

use std::io::Write;
use std::path::Path;

use chrono::{Days, NaiveDate};

use crate::atomic::AtomicFile;
use crate::error::Error;

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

/// The payments file's columns.
pub const PAYMENTS_HEADER: [&str; 3] = ["loan_id", "date", "amount"];

/// Writes a generated book to `path`, and its payments to `repayments`
/// when given (each atomically).
pub fn write_book(
    config: &GenerateConfig,
    path: &Path,
    repayments: Option<&Path>,
) -> Result<(), Error> {
    let mut file = AtomicFile::create(path)?;
    let name = path.display().to_string();
    let payments = repayments.map(AtomicFile::create).transpose()?;
    let pay_name = repayments.map_or(String::new(), |p| p.display().to_string());
    let mut pay_writer = payments.map(csv::Writer::from_writer);
    write_rows(config, &mut file, pay_writer.as_mut()).map_err(|e| match e {
        Failed::Book(e) => Error::csv(&name, e),
        Failed::Payments(e) => Error::csv(&pay_name, e),
    })?;
    file.commit()?;
    match pay_writer {
        Some(w) => w
            .into_inner()
            .map_err(|e| Error::io(&pay_name, e.into_error()))?
            .commit(),
        None => Ok(()),
    }
}

/// Which file a write failed on.
enum Failed {
    Book(csv::Error),
    Payments(csv::Error),
}

/// Writes the payments received on one book row: its loan_id, principal
/// in cents, unpaid interest in cents, due date and days past due at the
/// valuation date.
fn write_payments<W: Write>(
    w: &mut csv::Writer<W>,
    rng: &mut Rng,
    loan_id: &str,
    cents: u64,
    unpaid: u64,
    due: NaiveDate,
    days_back: i64,
    as_of: NaiveDate,
) -> csv::Result<()> {
    let mut pay = |date: NaiveDate, cents: u64| {
        w.write_record([loan_id, &date.format("%Y-%m-%d").to_string(), &money(cents.max(1))])
    };
    // A date from a few days before the due date to a few after as_of.
    let span = days_back.max(0) as u64 + 10;
    let date = |rng: &mut Rng| shift(due, rng.below(span) as i64 - 3);
    match rng.below(100) {
        // Nothing paid.
        0..=44 => {}
        // One to three partial payments.
        45..=74 => {
            for _ in 0..1 + rng.below(3) {
                let part = cents * (5 + rng.below(30)) / 100;
                pay(date(rng), part)?;
            }
        }
        // Paid off in two payments: the principal, then enough for the
        // charges and unpaid interest.
        75..=84 => {
            let first = shift(due, rng.below(days_back.max(1) as u64) as i64);
            pay(first, cents / 2)?;
            let second = shift(first, 1 + rng.below(20) as i64);
            pay(second.min(as_of), cents - cents / 2 + unpaid + cents / 5)?;
        }
        // Overpaid in one payment.
        85..=89 => pay(date(rng), cents * 3 / 2 + unpaid)?,
        // Before the due date, or after the valuation date.
        90..=94 => pay(shift(due, -(1 + rng.below(10) as i64)), cents / 10)?,
        95..=98 => pay(shift(as_of, 1 + rng.below(30) as i64), cents / 4)?,
        // Two payments of a loan the book does not have.
        _ => {
            let stranger = format!("X{}", &loan_id[1..]);
            for _ in 0..2 {
                w.write_record([
                    stranger.as_str(),
                    &date(rng).format("%Y-%m-%d").to_string(),
                    &money(1 + cents / 7),
                ])?;
            }
        }
    }
    Ok(())
}

fn write_rows<W: Write, P: Write>(
    config: &GenerateConfig,
    out: W,
    mut payments: Option<&mut csv::Writer<P>>,
) -> Result<(), Failed> {
    let mut w = csv::Writer::from_writer(out);
    let mut pay_rng = Rng(config.seed ^ 0x0000_0BAD_DEB7_0000);
    if let Some(p) = payments.as_mut() {
        p.write_record(PAYMENTS_HEADER).map_err(Failed::Payments)?;
    }
    write_book_rows(config, &mut w, &mut |row: &[String], cents, unpaid, due, days_back| {
        match payments.as_mut() {
            Some(p) if days_back > 0 || pay_rng.chance(0.05) => write_payments(
                p,
                &mut pay_rng,
                &row[0],
                cents,
                unpaid,
                due,
                days_back,
                config.as_of,
            ),
            _ => Ok(()),
        }
    })
}

/// Writes the book rows; `paid` sees each row with its principal and
/// unpaid interest in cents, due date and days past due.
fn write_book_rows<W: Write>(
    config: &GenerateConfig,
    w: &mut csv::Writer<W>,
    paid: &mut dyn FnMut(&[String], u64, u64, NaiveDate, i64) -> csv::Result<()>,
) -> Result<(), Failed> {
    let book = |e| Failed::Book(e);
    w.write_record(HEADER).map_err(book)?;
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
        let paid_date = if days_back > 0 && rng.chance(0.4) {
            let late = 1 + rng.below(days_back.unsigned_abs() + 20) as i64;
            shift(due, late).format("%Y-%m-%d").to_string()
        } else {
            String::new()
        };
        let unpaid_cents = if rng.chance(0.3) {
            Some(cents / 100 * rng.below(30))
        } else {
            None
        };
        let unpaid_interest = unpaid_cents.map_or(String::new(), money);
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
            paid_date,
            unpaid_interest,
            fees,
            outstanding,
        ]);
        w.write_record(&row).map_err(book)?;
        paid(&row, cents, unpaid_cents.unwrap_or(0), due, days_back).map_err(Failed::Payments)?;
    }
    w.flush().map_err(|e| book(e.into()))?;
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
        let mut pay = csv::Writer::from_writer(Vec::new());
        assert!(write_rows::<_, Vec<u8>>(&config, &mut a, None).is_ok());
        assert!(write_rows(&config, &mut b, Some(&mut pay)).is_ok());
        // The payments do not change the book.
        assert_eq!(a, b);
        let pay = String::from_utf8(pay.into_inner().unwrap()).unwrap();
        assert!(pay.starts_with("loan_id,date,amount\n"));
        assert!(pay.lines().count() > 50, "{pay}");
        assert_eq!(String::from_utf8(a).unwrap().lines().count(), 201);
        assert_eq!(money_grouped(123456789), "1,234,567.89");
        assert_eq!(money_grouped(99), "0.99");
        assert!(crate::parse::money(&money_grouped(100000000)).is_ok());
    }
}
