//! The record model: where each input column sits in a file (`Layout`), one
//! parsed input row (`Loan`), and a row that could not be read (`Reject`).

use chrono::NaiveDate;
use rust_decimal::Decimal;

use crate::error::Error;
use crate::parse;
use crate::policy::{Policy, CANONICAL_COLUMNS};

/// Dimension columns copied to the results when the input has them.
pub const DIMENSIONS: [Col; 3] = [Col::Product, Col::AccountId, Col::Region];

/// The canonical input columns, in `CANONICAL_COLUMNS` order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Col {
    LoanId,
    Principal,
    DueDate,
    AnnualRate,
    DailyRate,
    PaidDate,
    PenaltyRate,
    UnpaidInterest,
    Fees,
    Outstanding,
    Currency,
    Product,
    AccountId,
    Region,
    ContractDate,
}

/// What an input column holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColKind {
    Text,
    /// Money or a rate.
    Number,
    Date,
}

impl Col {
    pub const ALL: [Col; CANONICAL_COLUMNS.len()] = [
        Col::LoanId,
        Col::Principal,
        Col::DueDate,
        Col::AnnualRate,
        Col::DailyRate,
        Col::PaidDate,
        Col::PenaltyRate,
        Col::UnpaidInterest,
        Col::Fees,
        Col::Outstanding,
        Col::Currency,
        Col::Product,
        Col::AccountId,
        Col::Region,
        Col::ContractDate,
    ];

    pub fn name(self) -> &'static str {
        CANONICAL_COLUMNS[self as usize]
    }

    pub fn kind(self) -> ColKind {
        match self {
            Col::LoanId | Col::Currency | Col::Product | Col::AccountId | Col::Region => {
                ColKind::Text
            }
            Col::DueDate | Col::PaidDate | Col::ContractDate => ColKind::Date,
            _ => ColKind::Number,
        }
    }
}

/// Where each canonical column sits in a file's header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    index: [Option<usize>; CANONICAL_COLUMNS.len()],
    /// The dimension columns present, in `DIMENSIONS` order.
    pub dimensions: Vec<Col>,
    /// Number of fields in the header: every row must have as many.
    pub width: usize,
}

impl Layout {
    /// The field index of a canonical column, when the file has it.
    pub fn column(&self, col: Col) -> Option<usize> {
        self.index[col as usize]
    }

    /// The columns the file has, with their field index.
    pub fn columns(&self) -> impl Iterator<Item = (Col, usize)> + '_ {
        Col::ALL
            .into_iter()
            .filter_map(|c| self.column(c).map(|i| (c, i)))
    }

    /// Finds the columns in a header. Names match case-insensitively after
    /// trimming, through the policy's `[columns]` mapping.
    pub fn from_header(header: &impl Fields, policy: &Policy, path: &str) -> Result<Layout, Error> {
        let names: Vec<String> = header
            .iter()
            .map(|f| String::from_utf8_lossy(f).trim().to_lowercase())
            .collect();
        let mut index = [None; CANONICAL_COLUMNS.len()];
        for (slot, canonical) in index.iter_mut().zip(CANONICAL_COLUMNS) {
            let wanted = policy
                .columns
                .get(*canonical)
                .map_or_else(|| canonical.to_string(), |h| h.trim().to_lowercase());
            let mut found = names.iter().enumerate().filter(|(_, n)| **n == wanted);
            *slot = found.next().map(|(i, _)| i);
            if let Some((second, _)) = found.next() {
                return Err(Error::Header {
                    path: path.to_string(),
                    message: format!(
                        "column {wanted:?} ({canonical}) appears twice in the header, fields {} and {}",
                        slot.unwrap_or(0) + 1,
                        second + 1
                    ),
                });
            }
        }
        let has = |c: Col| index[c as usize].is_some();
        let mut missing: Vec<String> = [Col::LoanId, Col::Principal, Col::DueDate]
            .into_iter()
            .filter(|&c| !has(c))
            .map(|c| header_name(policy, c))
            .collect();
        if !has(Col::AnnualRate) && !has(Col::DailyRate) {
            missing.push(format!(
                "{} or {}",
                header_name(policy, Col::AnnualRate),
                header_name(policy, Col::DailyRate)
            ));
        }
        if !missing.is_empty() {
            let found: Vec<String> = header
                .iter()
                .map(|f| format!("{:?}", String::from_utf8_lossy(f)))
                .collect();
            let hint = header_hint(header);
            let mut found = if found.is_empty() {
                "none".into()
            } else {
                found.join(", ")
            };
            if !hint.is_empty() && found.len() > 120 {
                let cut = (0..=120)
                    .rev()
                    .find(|&i| found.is_char_boundary(i))
                    .unwrap_or(0);
                found = format!("{}...", &found[..cut]);
            }
            return Err(Error::MissingColumns {
                path: path.to_string(),
                missing: missing.join(", "),
                found: format!("{found}{hint}"),
            });
        }
        let dimensions = DIMENSIONS.into_iter().filter(|&c| has(c)).collect();
        Ok(Layout {
            index,
            dimensions,
            width: header.len(),
        })
    }
}

fn header_name(policy: &Policy, col: Col) -> String {
    match policy.columns.get(col.name()) {
        Some(h) => format!("{} (mapped to {h:?})", col.name()),
        None => col.name().to_string(),
    }
}

/// What a header that names none of the columns may really be: the bytes
/// of a compressed or Parquet file, or text in another encoding.
fn header_hint(header: &impl Fields) -> String {
    let bytes = header.bytes();
    if bytes.starts_with(&[0x1f, 0x8b]) {
        return ". Hint: this is gzip-compressed data: name the file .gz, or pass --compression gzip for standard input".into();
    }
    if bytes.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        return ". Hint: this is zstd-compressed data: name the file .zst, or pass --compression zstd for standard input".into();
    }
    if bytes.starts_with(b"PAR1") {
        return ". Hint: this is a Parquet file: name it .parquet (Parquet cannot be read from standard input)".into();
    }
    if std::str::from_utf8(bytes).is_err() || bytes.windows(3).any(|w| w == "\u{FFFD}".as_bytes()) {
        return ". Hint: the header is not UTF-8: a Chinese book saved as GBK or GB18030 reads with --encoding gbk (or gb18030)".into();
    }
    String::new()
}

/// The contract rate as given: daily, or annual to be divided by year_days.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContractRate {
    Daily(Decimal),
    Annual(Decimal),
}

/// A loan's text fields, borrowed from its record: the loan_id and the
/// values of `Layout::dimensions` in order; the currency code, upper-cased,
/// inline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoanText<'a> {
    loan_id: &'a str,
    dimensions: [&'a str; DIMENSIONS.len()],
    count: u8,
    /// ASCII letters (checked when read).
    currency: [u8; 3],
}

impl<'a> LoanText<'a> {
    /// `currency`: 3 ASCII letters, upper-case.
    pub fn new(
        loan_id: &'a str,
        dimensions: impl IntoIterator<Item = &'a str>,
        currency: [u8; 3],
    ) -> LoanText<'a> {
        let mut text = LoanText {
            loan_id,
            dimensions: [""; DIMENSIONS.len()],
            count: 0,
            currency,
        };
        for (slot, value) in text.dimensions.iter_mut().zip(dimensions) {
            *slot = value;
            text.count += 1;
        }
        text
    }
}

/// One accepted input row.
#[derive(Debug, Clone, PartialEq)]
pub struct Loan<'a> {
    /// loan_id, dimensions and currency: see the methods.
    pub text: LoanText<'a>,
    pub principal: Decimal,
    pub due_date: NaiveDate,
    pub rate: ContractRate,
    pub paid_date: Option<NaiveDate>,
    /// The day the contract was made; LPR caps read the LPR in force then.
    pub contract_date: Option<NaiveDate>,
    pub penalty_rate: Option<Decimal>,
    pub unpaid_interest: Decimal,
    pub fees: Decimal,
    pub outstanding: Decimal,
}

impl<'a> Loan<'a> {
    pub fn loan_id(&self) -> &'a str {
        self.text.loan_id
    }

    /// The value of the `i`th of `Layout::dimensions`.
    pub fn dimension(&self, i: usize) -> &'a str {
        self.text.dimensions[i]
    }

    /// The values of `Layout::dimensions`, in order.
    pub fn dimensions(&self) -> impl Iterator<Item = &'a str> + '_ {
        self.text.dimensions[..usize::from(self.text.count)]
            .iter()
            .copied()
    }

    /// The ISO 4217 code, upper-case.
    pub fn currency(&self) -> &str {
        std::str::from_utf8(&self.text.currency).unwrap_or("XXX")
    }
}

/// An input row's fields: a `csv::ByteRecord`, or a plain line borrowed
/// from the read buffer (`Line`).
pub trait Fields {
    fn get(&self, i: usize) -> Option<&[u8]>;
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The fields' bytes in one slice (separators between them or not).
    fn bytes(&self) -> &[u8];
    /// The line the row starts on.
    fn line(&self) -> u64;
    fn iter(&self) -> impl Iterator<Item = &[u8]> {
        (0..self.len()).filter_map(|i| self.get(i))
    }
}

/// A row's fields held in one buffer (what `csv::ByteRecord` is to the
/// command line): the Python module's rows and the tests'.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Record {
    text: Vec<u8>,
    /// Where each field ends in `text`.
    ends: Vec<usize>,
    line: u64,
}

impl Record {
    pub fn new(line: u64) -> Record {
        Record {
            line,
            ..Record::default()
        }
    }

    /// A record of these fields.
    pub fn of<T: AsRef<[u8]>>(fields: impl IntoIterator<Item = T>, line: u64) -> Record {
        let mut record = Record::new(line);
        for field in fields {
            record.push(field.as_ref());
        }
        record
    }

    /// Empties the record for the row on `line`, keeping its buffers.
    pub fn clear(&mut self, line: u64) {
        self.text.clear();
        self.ends.clear();
        self.line = line;
    }

    pub fn push(&mut self, field: &[u8]) {
        self.text.extend_from_slice(field);
        self.ends.push(self.text.len());
    }

    /// Appends a field written in place by `write`.
    pub fn push_with(&mut self, write: impl FnOnce(&mut Vec<u8>)) {
        write(&mut self.text);
        self.ends.push(self.text.len());
    }
}

impl Fields for Record {
    fn get(&self, i: usize) -> Option<&[u8]> {
        let end = *self.ends.get(i)?;
        let start = match i {
            0 => 0,
            _ => self.ends[i - 1],
        };
        Some(&self.text[start..end])
    }

    fn len(&self) -> usize {
        self.ends.len()
    }

    fn bytes(&self) -> &[u8] {
        &self.text
    }

    fn line(&self) -> u64 {
        self.line
    }
}

/// The reject of a row whose loan_id came before (`seen`: where the first
/// one is), with `unique_ids` or repayments.
pub fn duplicate_reject(record: &impl Fields, layout: &Layout, seen: &str) -> Reject {
    let id = layout
        .column(Col::LoanId)
        .and_then(|i| record.get(i))
        .unwrap_or(b"");
    let id = String::from_utf8_lossy(id);
    let id = id.trim();
    Reject::new(
        record,
        id,
        Col::LoanId.name(),
        format!("duplicate loan_id {id:?}: first seen at {seen}"),
    )
}

/// The 128-bit hash loan_ids are known by (duplicates, payments).
pub fn id_hash(id: &[u8]) -> u128 {
    use std::hash::{DefaultHasher, Hasher};
    let mut high = DefaultHasher::new();
    high.write(id);
    let mut low = DefaultHasher::new();
    low.write_u8(0xA5);
    low.write(id);
    (u128::from(high.finish()) << 64) | u128::from(low.finish())
}

/// A line with no quote and no line break, cut at its commas: what most
/// rows of a book are, read without copying their fields.
#[derive(Debug)]
pub struct Line<'a> {
    text: &'a [u8],
    /// Where each field ends in `text`.
    ends: &'a [u32],
    line: u64,
}

impl<'a> Line<'a> {
    /// `text`: the line without its line feed; `ends`: scratch space.
    pub fn split(text: &'a [u8], line: u64, ends: &'a mut Vec<u32>) -> Line<'a> {
        ends.clear();
        ends.extend(memchr::memchr_iter(b',', text).map(|at| at as u32));
        ends.push(text.len() as u32);
        Line { text, ends, line }
    }

    /// Field `i`, borrowed from the line's text.
    pub fn field(&self, i: usize) -> Option<&'a [u8]> {
        let end = *self.ends.get(i)? as usize;
        let start = match i {
            0 => 0,
            _ => self.ends[i - 1] as usize + 1,
        };
        Some(&self.text[start..end])
    }
}

impl Fields for Line<'_> {
    fn get(&self, i: usize) -> Option<&[u8]> {
        self.field(i)
    }

    fn len(&self) -> usize {
        self.ends.len()
    }

    fn bytes(&self) -> &[u8] {
        self.text
    }

    fn line(&self) -> u64 {
        self.line
    }
}

/// A row that could not be read: it goes to the rejects file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reject {
    pub line: u64,
    pub loan_id: String,
    pub column: String,
    pub reason: String,
    pub raw: String,
}

impl Reject {
    pub fn new(record: &impl Fields, loan_id: &str, column: &str, reason: String) -> Reject {
        Reject {
            line: record.line(),
            loan_id: loan_id.to_string(),
            column: column.to_string(),
            reason,
            raw: raw_text(record),
        }
    }
}

/// The longest field accepted, in bytes: a longer one is surely not a loan's
/// data, and it would swell every buffer it passes through.
pub const MAX_FIELD_BYTES: usize = 65_536;

/// How much of a rejected row the rejects file keeps.
pub const MAX_RAW_BYTES: usize = 4_096;

/// The record as one CSV line, as it would have been written, cut after
/// `MAX_RAW_BYTES` with a note of the full length.
fn raw_text(record: &impl Fields) -> String {
    let mut bytes = Vec::new();
    for (n, field) in record.iter().enumerate() {
        if n > 0 {
            bytes.push(b',');
        }
        crate::csv_text::push_field(&mut bytes, field);
    }
    // The csv crate quotes a record's only field when it is empty.
    if record.len() == 1 && bytes.is_empty() {
        bytes.extend_from_slice(b"\"\"");
    }
    if bytes.len() > MAX_RAW_BYTES {
        let total = bytes.len();
        bytes.truncate(MAX_RAW_BYTES);
        let mut text = String::from_utf8_lossy(&bytes).into_owned();
        text.push_str(&format!("... [cut: {total} bytes in all]"));
        return text;
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Why a record's shape is wrong, if it is: the field count, a suspect line
/// break, or an oversized field. A quoted line break is fine in a text
/// dimension (RFC 4180), but not in any other column, nor next to a comma:
/// that is what an unbalanced quote makes of the rows it swallows.
fn shape_error(record: &impl Fields, layout: &Layout) -> Option<String> {
    let line = record.line();
    let newlines = |f: &[u8]| f.iter().filter(|&&b| b == b'\n').count() as u64;
    let dimension = |i: usize| DIMENSIONS.iter().any(|&c| layout.column(c) == Some(i));
    let suspect = |(i, f): (usize, &[u8])| {
        f.iter().any(|&b| b == b'\n' || b == b'\r') && (!dimension(i) || f.contains(&b','))
    };
    let spanning = record.iter().enumerate().position(suspect).map(|i| {
        let end = line + record.iter().take(i + 1).map(newlines).sum::<u64>();
        format!(
            "field {} holds a line break (lines {line} to {end}): is a quote unbalanced?",
            i + 1
        )
    });
    if record.len() != layout.width {
        let why = format!(
            "expected {} fields as in the header, found {}",
            layout.width,
            record.len()
        );
        return Some(match spanning {
            Some(hint) => format!("{why}; {hint}"),
            None => why,
        });
    }
    if spanning.is_some() {
        return spanning;
    }
    let (i, field) = record
        .iter()
        .enumerate()
        .find(|(_, f)| f.len() > MAX_FIELD_BYTES)?;
    Some(format!(
        "field {} is {} bytes long, more than the {MAX_FIELD_BYTES} allowed",
        i + 1,
        field.len()
    ))
}

/// Reads one row's fields, or says which field is wrong and why.
pub fn parse_loan<'a, R: Fields>(
    record: &'a R,
    layout: &'a Layout,
    policy: &'a Policy,
) -> Result<Loan<'a>, Reject> {
    // One pass over the whole record: plain (ASCII, no NUL) records need
    // no check per field, and records without a line break and of
    // moderate size have the right shape when they have the right width.
    let bytes = record.bytes();
    let (plain, breaks) = bytes.iter().fold((true, false), |(plain, breaks), &b| {
        (
            plain & (b.wrapping_sub(1) < 0x7F),
            breaks | (b == b'\n') | (b == b'\r'),
        )
    });
    let row = Row {
        record,
        layout,
        policy,
        loan_id: "",
        plain,
    };
    let simple = !breaks && bytes.len() <= MAX_FIELD_BYTES && record.len() == layout.width;
    if let Some(why) = (!simple).then(|| shape_error(record, layout)).flatten() {
        let id = row.text(Col::LoanId).ok().flatten().unwrap_or("");
        let id = if id.len() > 200 { "" } else { id };
        return Err(row.with_id(id).reject("", why));
    }
    let loan_id = row.text(Col::LoanId)?.unwrap_or("");
    let row = row.with_id(loan_id);
    if loan_id.is_empty() {
        return Err(row.reject(
            Col::LoanId.name(),
            "empty: every row needs a loan_id".into(),
        ));
    }
    let principal = row.required(Col::Principal, parse::money)?;
    let due_date = row.required(Col::DueDate, parse::date)?;
    let rate = match (
        row.optional(Col::DailyRate, parse::rate)?,
        row.optional(Col::AnnualRate, parse::rate)?,
    ) {
        (Some(daily), _) => ContractRate::Daily(daily),
        (None, Some(annual)) => ContractRate::Annual(annual),
        (None, None) => {
            let col = if layout.index[Col::DailyRate as usize].is_some() {
                Col::DailyRate
            } else {
                Col::AnnualRate
            };
            return Err(row.reject(
                col.name(),
                "empty: one of annual_rate and daily_rate is required".into(),
            ));
        }
    };
    match rate {
        ContractRate::Daily(daily) => row.plausible(Col::DailyRate, daily, true)?,
        ContractRate::Annual(annual) => row.plausible(Col::AnnualRate, annual, false)?,
    }
    let paid_date = row.optional(Col::PaidDate, parse::date)?;
    let contract_date = row.optional(Col::ContractDate, parse::date)?;
    for cap in &policy.caps {
        let Some(from) = cap.contracts_from else {
            continue;
        };
        let (made, col, what) = match contract_date {
            Some(date) => (date, Col::ContractDate, "contract made on"),
            None => (due_date, Col::DueDate, "no contract_date, and due on"),
        };
        if made < from {
            return Err(row.reject(
                col.name(),
                format!(
                    "{what} {made}, before {from}: cap {} covers contracts made from {from} on, \
                     and an earlier contract falls under another rule (see the policy's comments), \
                     which this policy does not value",
                    cap.name
                ),
            ));
        }
    }
    let penalty_rate = row.optional(Col::PenaltyRate, parse::rate)?;
    if let Some(rate) = penalty_rate {
        row.plausible(Col::PenaltyRate, rate, true)?;
    }
    let unpaid_interest = row
        .optional(Col::UnpaidInterest, parse::money)?
        .unwrap_or_default();
    let fees = row.optional(Col::Fees, parse::money)?.unwrap_or_default();
    let outstanding = row
        .optional(Col::Outstanding, parse::money)?
        .unwrap_or(principal);
    let currency = match row.text(Col::Currency)? {
        Some(code) if code.len() == 3 && code.bytes().all(|b| b.is_ascii_alphabetic()) => code,
        Some(code) => {
            return Err(row.reject(
                Col::Currency.name(),
                format!("{code:?} is not a 3-letter ISO 4217 code"),
            ))
        }
        None => policy.currency.as_str(),
    };
    let mut code = [0; 3];
    code.copy_from_slice(currency.as_bytes());
    code.make_ascii_uppercase();
    let mut dimensions = [""; DIMENSIONS.len()];
    for (value, &col) in dimensions.iter_mut().zip(&layout.dimensions) {
        *value = row.text(col)?.unwrap_or("");
    }
    let dimensions = dimensions[..layout.dimensions.len()].iter().copied();
    let text = LoanText::new(loan_id, dimensions, code);
    Ok(Loan {
        text,
        principal,
        due_date,
        rate,
        paid_date,
        contract_date,
        penalty_rate,
        unpaid_interest,
        fees,
        outstanding,
    })
}

/// Field access for one record, making rejects that name the column.
struct Row<'a, R> {
    record: &'a R,
    layout: &'a Layout,
    policy: &'a Policy,
    loan_id: &'a str,
    /// Every byte of the record is ASCII and none is NUL.
    plain: bool,
}

/// Whether every byte is in 1..=127 (one pass the compiler vectorizes).
fn plain_ascii(bytes: &[u8]) -> bool {
    bytes
        .iter()
        .fold(true, |plain, &b| plain & (b.wrapping_sub(1) < 0x7F))
}

/// Trims what `str::trim` trims from ASCII text: tab, line feed, vertical
/// tab, form feed, carriage return and space.
fn trim_ascii(mut bytes: &[u8]) -> &[u8] {
    let space = |b: &u8| matches!(b, b'\t'..=b'\r' | b' ');
    while let [first, rest @ ..] = bytes {
        if !space(first) {
            break;
        }
        bytes = rest;
    }
    while let [rest @ .., last] = bytes {
        if !space(last) {
            break;
        }
        bytes = rest;
    }
    bytes
}

impl<'a, R: Fields> Row<'a, R> {
    fn with_id(self, loan_id: &'a str) -> Row<'a, R> {
        Row { loan_id, ..self }
    }

    fn reject(&self, column: &str, reason: String) -> Reject {
        Reject::new(self.record, self.loan_id, column, reason)
    }

    /// The column's header as the file spells it, for messages.
    fn column_name(&self, col: Col) -> String {
        match self.policy.columns.get(col.name()) {
            Some(header) => header.clone(),
            None => col.name().to_string(),
        }
    }

    /// The trimmed text of a column; `None` when absent or empty.
    fn text(&self, col: Col) -> Result<Option<&'a str>, Reject> {
        let Some(i) = self.layout.index[col as usize] else {
            return Ok(None);
        };
        let bytes = self.record.get(i).unwrap_or(b"");
        if self.plain || plain_ascii(bytes) {
            let text = trim_ascii(bytes);
            // SAFETY: ASCII bytes are valid UTF-8. (`from_utf8` would check
            // them again: a fifth of the cost of reading a field.)
            let text = unsafe { std::str::from_utf8_unchecked(text) };
            return Ok((!text.is_empty()).then_some(text));
        }
        let text = std::str::from_utf8(bytes).map_err(|e| {
            self.reject(
                &self.column_name(col),
                format!(
                    "invalid UTF-8 at byte {}: {:?} (a book saved as GBK or GB18030 reads with --encoding gbk)",
                    e.valid_up_to(),
                    String::from_utf8_lossy(bytes)
                ),
            )
        })?;
        if text.contains('\0') {
            return Err(self.reject(&self.column_name(col), format!("{text:?} holds a NUL byte")));
        }
        // U+FFFD is not ASCII: most fields need no search for it.
        if !text.is_ascii() && text.contains('\u{FFFD}') {
            return Err(self.reject(
                &self.column_name(col),
                format!("{text:?} holds U+FFFD: bytes that did not decode in the input's encoding"),
            ));
        }
        let text = text.trim();
        Ok((!text.is_empty()).then_some(text))
    }

    /// A rate above the policy's `max_annual_rate` a year (a daily rate
    /// times year_days) is taken for a mistake, most often a percentage
    /// written without its `%`: a reject that says how to write it.
    fn plausible(&self, col: Col, rate: Decimal, daily: bool) -> Result<(), Reject> {
        let max = self.policy.max_annual_rate;
        let days = Decimal::from(self.policy.year_days);
        let yearly = if daily {
            rate.checked_mul(days)
        } else {
            Some(rate)
        };
        if yearly.is_some_and(|y| y <= max) {
            return Ok(());
        }
        let text = self.text(col)?.unwrap_or("");
        let percent = |r: Decimal| {
            r.checked_mul(Decimal::ONE_HUNDRED)
                .map_or_else(|| "an enormous".into(), |p| format!("{}%", p.normalize()))
        };
        let what = match (daily, yearly) {
            (false, _) => format!("{} a year", percent(rate)),
            (true, Some(y)) => format!("{} a day, {} a year (x {days})", percent(rate), percent(y)),
            (true, None) => format!("{} a day", percent(rate)),
        };
        let example = if daily {
            "\"0.05%\" or 0.0005"
        } else {
            "\"18%\" or 0.18"
        };
        Err(self.reject(
            &self.column_name(col),
            format!(
                "{text:?} is {what}, above the policy's max_annual_rate ({}): is it a percentage without its %? Write a rate as a percentage or a fraction, e.g. {example}",
                percent(max)
            ),
        ))
    }

    fn optional<T>(
        &self,
        col: Col,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Result<Option<T>, Reject> {
        match self.text(col)? {
            None => Ok(None),
            Some(text) => parse(text)
                .map(Some)
                .map_err(|why| self.reject(&self.column_name(col), format!("{text:?}: {why}"))),
        }
    }

    fn required<T>(
        &self,
        col: Col,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Result<T, Reject> {
        self.optional(col, parse)?
            .ok_or_else(|| self.reject(&self.column_name(col), "empty: required".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> Policy {
        Policy::load("cn-bank").unwrap()
    }

    proptest::proptest! {
        /// Plain fields take a shortcut: it must trim what `str::trim`
        /// trims, and only fields of ASCII without NUL may take it.
        #[test]
        fn plain_fields_trim_as_str_trims(text in "[\\x00-\\x7f]{0,12}") {
            proptest::prop_assert_eq!(trim_ascii(text.as_bytes()), text.trim().as_bytes());
        }

        #[test]
        fn plain_means_ascii_without_nul(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..80)) {
            let plain = bytes.is_ascii() && !bytes.contains(&0);
            proptest::prop_assert_eq!(plain_ascii(&bytes), plain);
        }
    }

    fn record(fields: &[&str], line: u64) -> Record {
        Record::of(fields, line)
    }

    fn layout(fields: &[&str]) -> Layout {
        Layout::from_header(&Record::of(fields, 1), &policy(), "book.csv").unwrap()
    }

    #[test]
    fn header_matches_case_insensitively_after_trim() {
        let l = layout(&[
            " Loan_ID ",
            "PRINCIPAL",
            "due_date",
            "Daily_Rate",
            "region",
            "product",
        ]);
        assert_eq!(l.dimensions, [Col::Product, Col::Region]);
        assert_eq!(l.width, 6);
    }

    #[test]
    fn missing_columns_are_named() {
        let header = Record::of(["loan_id", "amount"], 1);
        let err = Layout::from_header(&header, &policy(), "book.csv")
            .unwrap_err()
            .to_string();
        assert!(err.contains("book.csv"), "{err}");
        assert!(
            err.contains("principal, due_date, annual_rate or daily_rate"),
            "{err}"
        );
        assert!(err.contains("\"amount\""), "{err}");
    }

    #[test]
    fn duplicate_header_is_an_error() {
        let header = Record::of(
            [
                "loan_id",
                "principal",
                "due_date",
                "daily_rate",
                "Principal",
            ],
            1,
        );
        let err = Layout::from_header(&header, &policy(), "b.csv")
            .unwrap_err()
            .to_string();
        assert!(err.contains("appears twice"), "{err}");
    }

    #[test]
    fn parses_a_full_row() {
        let l = layout(&[
            "loan_id",
            "principal",
            "due_date",
            "annual_rate",
            "daily_rate",
            "fees",
            "currency",
        ]);
        let p = policy();
        let r = record(&["L1", "26,000", "2025/04/10", "18%", "", "15", "usd"], 2);
        let loan = parse_loan(&r, &l, &p).unwrap();
        assert_eq!(loan.rate, ContractRate::Annual("0.18".parse().unwrap()));
        assert_eq!(loan.outstanding, "26000".parse().unwrap());
        assert_eq!(loan.currency(), "USD");
        let r = record(&["L1", "1", "20250410", "18%", "0.05%", "", ""], 2);
        let loan = parse_loan(&r, &l, &p).unwrap();
        assert_eq!(
            loan.rate,
            ContractRate::Daily("0.0005".parse().unwrap()),
            "daily wins"
        );
        assert_eq!(loan.currency(), "CNY");
    }

    #[test]
    fn rejects_name_line_column_and_value() {
        let l = layout(&["loan_id", "principal", "due_date", "daily_rate"]);
        let r = parse_loan(
            &record(&["L7", "1.234", "2025-01-01", "0.001"], 9),
            &l,
            &policy(),
        )
        .unwrap_err();
        assert_eq!(
            (r.line, r.loan_id.as_str(), r.column.as_str()),
            (9, "L7", "principal")
        );
        assert_eq!(r.reason, "\"1.234\": more than 2 decimals");
        assert_eq!(r.raw, "L7,1.234,2025-01-01,0.001");
        let r = parse_loan(&record(&["L8", "1", "2025-01-01"], 3), &l, &policy()).unwrap_err();
        assert_eq!(r.reason, "expected 4 fields as in the header, found 3");
        let r = parse_loan(&record(&["L9", "1", "2025-01-01", " "], 3), &l, &policy()).unwrap_err();
        assert_eq!(r.column, "daily_rate");
        let r =
            parse_loan(&record(&[" ", "1", "2025-01-01", "0.1"], 3), &l, &policy()).unwrap_err();
        assert_eq!(r.column, "loan_id");
    }
}
