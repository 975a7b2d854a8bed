//! Output formats: the results and rejects CSV rows and how numbers print.

use chrono::{Datelike, NaiveDate};
use rust_decimal::{Decimal, RoundingStrategy};

use crate::compute::Figures;
use crate::money::Money;
use crate::policy::{Component, Policy};
use crate::record::{Layout, Loan};

/// Money: exactly 2 decimals.
pub fn money(value: impl Into<Decimal>) -> String {
    format!("{:.2}", value.into())
}

/// A daily rate: half-up to 10 decimals, trailing zeros removed.
pub fn daily_rate(value: Decimal) -> String {
    let mut out = Vec::new();
    push_daily_rate(&mut out, value);
    String::from_utf8(out).expect("digits are ASCII")
}

/// Appends a daily rate as `daily_rate` prints it.
pub fn push_daily_rate(out: &mut Vec<u8>, value: Decimal) {
    let rounded = match value.scale() <= 10 {
        true => value,
        false => value.round_dp_with_strategy(10, RoundingStrategy::MidpointAwayFromZero),
    };
    // The trailing zeros dropped from the number, not from its digits.
    let (mut units, mut places) = match u64::try_from(rounded.mantissa()) {
        Ok(units) => (units, rounded.scale()),
        Err(_) => return push_daily_rate_slow(out, rounded),
    };
    if units == 0 {
        out.push(b'0');
        return;
    }
    while places > 0 && units % 10 == 0 {
        units /= 10;
        places -= 1;
    }
    push_units(out, i128::from(units), places);
}

/// `push_daily_rate` for a negative rate or one of more than 19 digits.
fn push_daily_rate_slow(out: &mut Vec<u8>, value: Decimal) {
    let start = out.len();
    push_fixed(out, value, 10);
    let kept = out[start..]
        .iter()
        .rposition(|&b| b != b'0')
        .map_or(0, |last| match out[start + last] {
            b'.' => last,
            _ => last + 1,
        });
    out.truncate(start + kept);
    if out[start..].is_empty() || out[start..] == *b"-" {
        out.truncate(start);
        out.push(b'0');
    }
}

/// A ratio: exactly 6 decimals, half-up.
pub fn ratio6(value: Decimal) -> String {
    let rounded = value.round_dp_with_strategy(6, RoundingStrategy::MidpointAwayFromZero);
    format!("{rounded:.6}")
}

/// The type of an output column, for typed formats (Parquet). CSV prints
/// each the way the functions above do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Text,
    /// Exactly 2 decimals.
    Money,
    /// A daily rate: up to 10 decimals.
    Rate,
    /// A ratio: 6 decimals.
    Ratio,
    Date,
    /// Day counts, loan counts.
    Count,
}

impl Kind {
    /// A table's columns with their types: `Kind::of` each name, but the
    /// first `keys` (a summary's group keys) are text.
    pub fn columns(header: &[String], keys: usize) -> Vec<(String, Kind)> {
        header
            .iter()
            .enumerate()
            .map(|(i, name)| {
                let kind = if i < keys { Kind::Text } else { Kind::of(name) };
                (name.clone(), kind)
            })
            .collect()
    }

    /// Decimal places of a decimal kind.
    pub fn scale(self) -> Option<u32> {
        match self {
            Kind::Money => Some(2),
            Kind::Rate => Some(10),
            Kind::Ratio => Some(6),
            _ => None,
        }
    }

    /// The type of an output column by its name, for every table arrears
    /// writes: results, audit rows, summaries. Group-key columns of a summary
    /// are always text (their total rows hold `*`); the caller says so.
    pub fn of(column: &str) -> Kind {
        match column {
            "principal"
            | "outstanding"
            | "interest"
            | "penalty"
            | "compound"
            | "fees"
            | "total_raw"
            | "total_capped"
            | "excess"
            | "provision"
            | "written_off_principal"
            | "total_excess"
            | "largest_excess"
            | "repaid"
            | "repaid_principal"
            | "repaid_unpaid_interest"
            | "repaid_charges"
            | "principal_due"
            | "balance_due"
            | "collected_over_cap"
            | "overpaid"
            // movement's tables
            | "outstanding_previous"
            | "outstanding_current"
            | "provision_before"
            | "provision_after"
            | "opening"
            | "charge"
            | "release"
            | "write_offs"
            | "closing"
            | "recoveries_outstanding"
            | "amount" => Kind::Money,
            "roll_forward_rate" | "cure_rate" => Kind::Ratio,
            "date" => Kind::Date,
            "recoveries" => Kind::Count,
            "daily_rate" | "penalty_daily_rate" => Kind::Rate,
            "annualized_rate" | "npl_ratio" | "coverage" | "highest_annualized_rate" => Kind::Ratio,
            "due_date" | "end_date" => Kind::Date,
            "days_overdue" | "chargeable_days" | "loans" | "overdue_loans" | "breached_loans"
            | "days_p50" | "days_p90" | "days_p99" | "days_max" | "accounts_checked"
            | "accounts_breaching" => Kind::Count,
            // An audit row's per-cap figures and a summary's per-cap counts.
            c if c.ends_with("_limit") || c.ends_with("_excess") => Kind::Money,
            c if c.starts_with("breaches_") => Kind::Count,
            _ => Kind::Text,
        }
    }
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

/// The columns results add with repayments, after provision (SPEC.md
/// section 5).
pub const REPAY_COLUMNS: [&str; 8] = [
    "repaid",
    "repaid_principal",
    "repaid_unpaid_interest",
    "repaid_charges",
    "principal_due",
    "balance_due",
    "collected_over_cap",
    "overpaid",
];

/// The results header for a file laid out as `layout`: `outstanding`
/// follows principal (SPEC.md section 3); with `repayments`, the
/// repayment columns follow provision.
pub fn results_header(layout: &Layout, repayments: bool) -> Vec<String> {
    let mut header = vec!["loan_id".to_string()];
    header.extend(layout.dimensions.iter().map(|c| c.name().to_string()));
    for column in RESULT_COLUMNS {
        header.push(column.to_string());
        if column == "principal" {
            header.push("outstanding".to_string());
        }
    }
    if repayments {
        header.extend(REPAY_COLUMNS.map(String::from));
    }
    header
}

/// A row's repayment columns in `REPAY_COLUMNS` order.
pub fn repay_figures(r: &crate::repay::Repaid) -> [Money; 8] {
    [
        r.repaid,
        r.principal,
        r.unpaid_interest,
        r.charges,
        r.principal_due,
        r.balance_due,
        r.collected_over_cap,
        r.overpaid,
    ]
}

pub use crate::csv_text::push_field;

/// Writes `n` / 10^places with exactly `places` decimals at the end of
/// `digits` (which must be long enough); returns where the text starts.
fn fill_digits<N>(digits: &mut [u8], mut n: N, places: u32) -> usize
where
    N: Copy + PartialEq + From<u8> + std::ops::Rem<Output = N> + std::ops::DivAssign,
    u8: TryFrom<N>,
{
    let (zero, ten) = (N::from(0), N::from(10));
    let mut at = digits.len();
    let mut put = |byte: u8| {
        at -= 1;
        digits[at] = byte;
    };
    let digit = |n: N| b'0' + u8::try_from(n % ten).unwrap_or(0);
    for _ in 0..places {
        put(digit(n));
        n /= ten;
    }
    if places > 0 {
        put(b'.');
    }
    loop {
        put(digit(n));
        n /= ten;
        if n == zero {
            break;
        }
    }
    at
}

/// "00" to "99".
const PAIRS: [[u8; 2]; 100] = {
    let mut pairs = [[0u8; 2]; 100];
    let mut i = 0;
    while i < 100 {
        pairs[i] = [b'0' + (i / 10) as u8, b'0' + (i % 10) as u8];
        i += 1;
    }
    pairs
};

/// `fill_digits` for 64-bit numbers, two digits per division (the digits
/// of every amount go through here).
fn fill_digits_u64(digits: &mut [u8], mut n: u64, places: u32) -> usize {
    let mut at = digits.len();
    let pair = |digits: &mut [u8], at: &mut usize, n: u64| {
        *at -= 2;
        digits[*at..*at + 2].copy_from_slice(&PAIRS[n as usize]);
    };
    for _ in 0..places / 2 {
        pair(digits, &mut at, n % 100);
        n /= 100;
    }
    if places % 2 == 1 {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
    }
    if places > 0 {
        at -= 1;
        digits[at] = b'.';
    }
    while n >= 10 {
        pair(digits, &mut at, n % 100);
        n /= 100;
    }
    // The leading digit, unless the last pair wrote it.
    if n > 0 || at == digits.len() || digits[at] == b'.' {
        at -= 1;
        digits[at] = b'0' + n as u8;
    }
    at
}

/// Appends a decimal with exactly `places` decimals, rounded half-up, as
/// `format!("{:.places$}")` would print it, without allocating or going
/// through `fmt` (this runs ten times a row).
pub fn push_fixed(out: &mut Vec<u8>, value: Decimal, places: u32) {
    // Amounts arrive rounded already; rounding again would cost a division.
    let rounded = match value.scale() <= places {
        true => value,
        false => value.round_dp_with_strategy(places, RoundingStrategy::MidpointAwayFromZero),
    };
    push_units(
        out,
        rounded.mantissa() * 10i128.pow(places - rounded.scale()),
        places,
    );
}

/// Appends `units` / 10^places with exactly `places` decimals.
fn push_units(out: &mut Vec<u8>, units: i128, places: u32) {
    // Most rows have several amounts of nothing (interest off, no compound,
    // no fees, no cap biting).
    if units == 0 && places == 2 {
        out.extend_from_slice(b"0.00");
        return;
    }
    let magnitude = units.unsigned_abs();
    let sign = usize::from(units < 0);
    match u64::try_from(magnitude) {
        // Every amount below 1.8e19 units: 64-bit division, several times
        // cheaper than 128-bit, and the digits written straight into the
        // output after a fixed-size extension (written into a buffer and
        // copied, they would be read back before the CPU has stored them).
        Ok(n) if places <= 10 => {
            let digits = n.checked_ilog10().map_or(1, |d| d + 1).max(places + 1) as usize;
            let len = sign + digits + usize::from(places > 0);
            let start = out.len();
            out.extend_from_slice(&[b'-'; 32]);
            fill_digits_u64(&mut out[start..start + len], n, places);
            out.truncate(start + len);
        }
        _ => {
            let mut digits = [b'-'; 48];
            let at = fill_digits(&mut digits, magnitude, places);
            out.extend_from_slice(&digits[at - sign..]);
        }
    }
}

/// Appends an ISO date, `YYYY-MM-DD` (years 1900-2199 here, so always
/// four digits).
fn push_date(out: &mut Vec<u8>, date: NaiveDate) {
    let (y, m, d) = (date.year() as u32, date.month(), date.day());
    let two = |n: u32| [b'0' + (n / 10) as u8, b'0' + (n % 10) as u8];
    out.extend_from_slice(&two(y / 100));
    out.extend_from_slice(&two(y % 100));
    out.push(b'-');
    out.extend_from_slice(&two(m));
    out.push(b'-');
    out.extend_from_slice(&two(d));
}

/// Where a job writes the fields of its output rows, in column order: CSV
/// text (`CsvRows`), or typed columns for Parquet (`parquet::Columns`).
/// Each method writes one field; `end` closes the row.
pub trait RowSink {
    fn text(&mut self, value: &str);
    /// Text parts joined by `separator` (the breached caps).
    fn joined<'a>(&mut self, parts: impl Iterator<Item = &'a str>, separator: u8);
    /// Exactly `places` decimals, half-up: a ratio (6).
    fn fixed(&mut self, value: Decimal, places: u32);
    /// An amount: exactly 2 decimals.
    fn money(&mut self, value: Money);
    /// Half-up to 10 decimals, trailing zeros removed in text.
    fn daily_rate(&mut self, value: Decimal);
    fn date(&mut self, value: NaiveDate);
    fn count(&mut self, value: i64);
    /// An empty field (null in Parquet).
    fn empty(&mut self);
    fn end(&mut self);
}

/// CSV rows, LF-terminated, quoted as the `csv` crate quotes.
#[derive(Debug, Default)]
pub struct CsvRows {
    pub bytes: Vec<u8>,
    /// Fields written in the current row.
    fields: usize,
}

impl CsvRows {
    pub fn with_capacity(bytes: usize) -> CsvRows {
        CsvRows {
            bytes: Vec::with_capacity(bytes),
            fields: 0,
        }
    }

    fn next(&mut self) -> &mut Vec<u8> {
        if self.fields > 0 {
            self.bytes.push(b',');
        }
        self.fields += 1;
        &mut self.bytes
    }
}

impl RowSink for CsvRows {
    fn text(&mut self, value: &str) {
        push_field(self.next(), value.as_bytes());
    }

    fn joined<'a>(&mut self, parts: impl Iterator<Item = &'a str>, separator: u8) {
        let out = self.next();
        let start = out.len();
        for (n, part) in parts.enumerate() {
            if n > 0 {
                out.push(separator);
            }
            out.extend_from_slice(part.as_bytes());
        }
        // Quoted, like any field, if the parts need it.
        if out[start..]
            .iter()
            .any(|&b| matches!(b, b',' | b'"' | b'\r' | b'\n'))
        {
            let field = out.split_off(start);
            push_field(out, &field);
        }
    }

    fn fixed(&mut self, value: Decimal, places: u32) {
        push_fixed(self.next(), value, places);
    }

    fn money(&mut self, value: Money) {
        push_units(self.next(), value.cents(), 2);
    }

    fn daily_rate(&mut self, value: Decimal) {
        push_daily_rate(self.next(), value);
    }

    fn date(&mut self, value: NaiveDate) {
        push_date(self.next(), value);
    }

    fn count(&mut self, value: i64) {
        push_fixed(self.next(), Decimal::from(value), 0);
    }

    fn empty(&mut self) {
        self.next();
    }

    fn end(&mut self) {
        self.bytes.push(b'\n');
        self.fields = 0;
    }
}

/// Writes the field `RESULT_COLUMNS[column]` of one loan.
pub fn push_result_field(
    out: &mut impl RowSink,
    column: usize,
    loan: &Loan,
    f: &Figures,
    policy: &Policy,
    buckets: &[String],
) {
    let amount = |c: Component| f.amount(c);
    match column {
        0 => out.text(loan.currency()),
        1 => out.fixed(loan.principal, 2),
        2 => out.date(loan.due_date),
        3 => out.date(f.end_date),
        4 => out.count(f.days_overdue),
        5 => out.count(f.chargeable_days),
        6 => out.daily_rate(f.daily_rate),
        7 => out.daily_rate(f.penalty_daily_rate),
        8 => out.money(amount(Component::Interest)),
        9 => out.money(amount(Component::Penalty)),
        10 => out.money(amount(Component::Compound)),
        11 => out.money(amount(Component::Fees)),
        12 => out.money(f.total_raw),
        13 => out.money(f.total_capped),
        14 => out.money(f.excess),
        15 => out.joined(f.breaches().map(|i| policy.caps[i].name.as_str()), b';'),
        16 => match f.binding_cap {
            Some(i) => out.text(&policy.caps[i].name),
            None => out.empty(),
        },
        17 => match f.annualized_rate {
            Some(rate) => out.fixed(rate, 6),
            None => out.empty(),
        },
        18 => out.text(f.status.as_str()),
        19 => out.text(&buckets[f.bucket]),
        20 => match f.class {
            Some(c) => out.text(&policy.classes[c].name),
            None => out.empty(),
        },
        _ => out.money(f.provision),
    }
}

/// Writes `loan_id` and the dimensions, the fields every row of a loan
/// starts with.
pub fn push_loan_key(out: &mut impl RowSink, loan: &Loan) {
    out.text(loan.loan_id());
    for value in loan.dimensions() {
        out.text(value);
    }
}

/// Writes one results row, laid out as `results_header`.
pub fn write_result(
    out: &mut impl RowSink,
    loan: &Loan,
    f: &Figures,
    policy: &Policy,
    buckets: &[String],
    repayments: bool,
) {
    push_loan_key(out, loan);
    for column in 0..RESULT_COLUMNS.len() {
        push_result_field(out, column, loan, f, policy, buckets);
        if column == 1 {
            match &f.repaid {
                Some(r) => out.money(r.outstanding),
                None => out.fixed(loan.outstanding, 2),
            }
        }
    }
    if repayments {
        let none;
        let r = match &f.repaid {
            Some(r) => r.as_ref(),
            None => {
                none = crate::repay::Repaid::none(loan, f);
                &none
            }
        };
        for amount in repay_figures(r) {
            out.money(amount);
        }
    }
    out.end();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    #[test]
    fn fields_quote_like_the_csv_crate() {
        for field in [
            "plain",
            "",
            "a,b",
            "say \"hi\"",
            "two\nlines",
            "cr\r",
            "中文",
            " spaced ",
        ] {
            let mut mine = Vec::new();
            push_field(&mut mine, field.as_bytes());
            mine.extend_from_slice(b",x\n");
            let mut theirs = csv::Writer::from_writer(Vec::new());
            theirs.write_record([field, "x"]).unwrap();
            assert_eq!(
                String::from_utf8(mine).unwrap(),
                String::from_utf8(theirs.into_inner().unwrap()).unwrap()
            );
        }
    }

    #[test]
    fn fixed_decimals_print_like_format() {
        for (value, places) in [
            ("26000", 2),
            ("0.5", 2),
            ("0", 2),
            ("123.456", 2),
            ("0.0000005", 6),
            ("7.25", 6),
            ("-1.5", 2),
            ("0.005", 2),
            // Beyond 64 bits of units: the 128-bit path.
            ("12345678901234567890.12", 2),
            ("-792281625142643375935439503.35", 2),
            ("18446744073709551615", 0),
            ("18446744073709551616", 0),
        ] {
            let mut out = Vec::new();
            push_fixed(&mut out, d(value), places);
            let want =
                d(value).round_dp_with_strategy(places, RoundingStrategy::MidpointAwayFromZero);
            assert_eq!(
                String::from_utf8(out).unwrap(),
                format!("{want:.prec$}", prec = places as usize),
                "{value}"
            );
        }
    }

    proptest::proptest! {
        /// Two digits at a time write what one at a time writes.
        #[test]
        fn digit_pairs_write_what_single_digits_write(
            n in proptest::num::u64::ANY,
            small in 0u64..100_000,
            places in 0u32..=10,
        ) {
            for n in [n, small] {
                let (mut a, mut b) = ([0u8; 48], [0u8; 48]);
                let at = fill_digits_u64(&mut a, n, places);
                let bt = fill_digits(&mut b, n, places);
                proptest::prop_assert_eq!(&a[at..], &b[bt..], "{} {}", n, places);
            }
        }
    }

    #[test]
    fn dates_print_iso() {
        for text in ["1900-01-01", "2025-04-10", "2199-12-31", "2024-02-29"] {
            let mut out = Vec::new();
            push_date(&mut out, text.parse().unwrap());
            assert_eq!(String::from_utf8(out).unwrap(), text);
        }
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
        assert_eq!(daily_rate(d("0")), "0");
        assert_eq!(daily_rate(d("10")), "10");
        assert_eq!(daily_rate(d("100.0000000000")), "100");
        assert_eq!(daily_rate(d("0.00000000004")), "0");
        assert_eq!(daily_rate(d("-0.0005")), "-0.0005", "through the slow path");
        // Trailing zeros dropped from the number print what dropping them
        // from the digits printed, on both sides of 64 bits.
        let mantissas = [
            0i128,
            1,
            5,
            10,
            700,
            123_456_789,
            10i128.pow(18),
            u64::MAX.into(),
        ];
        let mantissas = mantissas
            .into_iter()
            .chain([10i128.pow(20), 10i128.pow(25) + 7]);
        for m in mantissas.flat_map(|m| [m, -m]) {
            for scale in 0..=14 {
                let value = Decimal::from_i128_with_scale(m, scale);
                let (mut fast, mut slow) = (Vec::new(), Vec::new());
                push_daily_rate(&mut fast, value);
                push_daily_rate_slow(&mut slow, value);
                assert_eq!(fast, slow, "{value}");
            }
        }
        assert_eq!(ratio6(d("0.5475")), "0.547500");
        assert_eq!(ratio6(d("0.0000005")), "0.000001");
    }
}
