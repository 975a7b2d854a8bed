//! `arrears movement`: two nights of the same book compared (SPEC.md
//! section 6): each loan's move between states, the migration matrix with
//! roll-forward and cure rates, the provision (allowance) movement and its
//! journal entries. Every figure is per currency, in integer cents.
//!
//! PREVIOUS is held compactly (an id and a few integers per loan, in file
//! order); CURRENT is streamed against it. What is computed from the two
//! nights (`Movement`) is pure; reading and writing are at the edges.

use std::path::Path;

use csv::ByteRecord;
use indexmap::map::Entry as MapEntry;
use indexmap::IndexMap;
use rust_decimal::{Decimal, RoundingStrategy};

use crate::cli::{
    check_paths, night_as_of, policy_of, print_quietly, Exit, MovementArgs, UsageError,
};
use crate::error::Error;
use crate::io::source::Source;
use crate::policy::{AccountingMethod, Policy};
use std::io::Write as _;

/// What a loan's state is read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum By {
    Bucket,
    Classification,
    Status,
}

/// The statuses in SPEC.md's order.
const STATUSES: [&str; 5] = ["current", "grace", "settled_late", "written_off", "overdue"];

/// The states of a loan by `by`: the policy's buckets, classes or the
/// statuses, in their order, then `settled`, `new` and `closed`.
pub fn states(by: By, policy: &Policy) -> Vec<String> {
    let mut states: Vec<String> = match by {
        By::Bucket => policy.bucket_labels(),
        By::Classification => policy.classes.iter().map(|c| c.name.clone()).collect(),
        By::Status => STATUSES.iter().map(|s| s.to_string()).collect(),
    };
    states.extend(["settled", "new", "closed"].map(String::from));
    states
}

/// One loan in one night.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Night {
    pub currency: [u8; 3],
    /// Index in `states`.
    pub state: u16,
    pub written_off: bool,
    /// Cents.
    pub outstanding: i128,
    pub provision: i128,
    /// Its line in its file (the header is line 1; a Parquet row number).
    pub line: u64,
}

/// PREVIOUS and CURRENT matched by loan_id: every loan of PREVIOUS in its
/// order, then the loans only in CURRENT in theirs.
#[derive(Debug, Default)]
pub struct Pairs {
    /// foldhash rather than SipHash: one hash per loan of each night.
    pub loans: IndexMap<Box<str>, (Option<Night>, Option<Night>), foldhash::fast::RandomState>,
    /// Loans whose currency changed: their CURRENT half, as new loans after
    /// all the others (in CURRENT's order).
    pub moved: Vec<(Box<str>, Night)>,
}

impl Pairs {
    pub fn add_previous(&mut self, id: &str, night: Night, file: &str) -> Result<(), Error> {
        match self.loans.entry(id.into()) {
            MapEntry::Occupied(e) => Err(duplicate(
                file,
                id,
                e.get().0.map_or(0, |n| n.line),
                night.line,
            )),
            MapEntry::Vacant(e) => {
                e.insert((Some(night), None));
                Ok(())
            }
        }
    }

    pub fn add_current(&mut self, id: &str, night: Night, file: &str) -> Result<(), Error> {
        let entry = self.loans.entry(id.into()).or_insert((None, None));
        if let Some(first) = entry.1 {
            return Err(duplicate(file, id, first.line, night.line));
        }
        if let Some(previous) = entry.0 {
            if previous.currency != night.currency {
                // Closed in its PREVIOUS currency, new in its CURRENT one;
                // the CURRENT half is kept here too, to catch duplicates.
                entry.1 = Some(Night {
                    state: u16::MAX,
                    ..night
                });
                self.moved.push((id.into(), night));
                return Ok(());
            }
        }
        entry.1 = Some(night);
        Ok(())
    }

    /// Every move: (loan_id, PREVIOUS half, CURRENT half), in output order.
    pub fn moves(&self) -> impl Iterator<Item = (&str, Option<&Night>, Option<&Night>)> {
        let paired = self.loans.iter().map(|(id, (p, c))| {
            let c = c.as_ref().filter(|c| c.state != u16::MAX);
            (&**id, p.as_ref(), c)
        });
        let moved = self.moved.iter().map(|(id, c)| (&**id, None, Some(c)));
        paired.chain(moved)
    }
}

fn duplicate(file: &str, id: &str, first: u64, again: u64) -> Error {
    Error::Header {
        path: file.to_string(),
        message: format!("loan_id {id:?} is on line {first} and again on line {again}: a results file holds each loan once"),
    }
}

/// One loan's move and its provisions (SPEC.md section 6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Move {
    pub currency: [u8; 3],
    pub from: u16,
    pub to: u16,
    pub outstanding_previous: i128,
    pub outstanding_current: i128,
    pub before: i128,
    pub after: i128,
    pub written_off_previous: bool,
    pub written_off_current: bool,
    /// CURRENT's provision (0 when closed).
    pub current_provision: i128,
}

impl Move {
    /// `new` and `closed` are the last two states.
    pub fn of(previous: Option<&Night>, current: Option<&Night>, states: usize) -> Move {
        let (new, closed) = ((states - 2) as u16, (states - 1) as u16);
        let wo_p = previous.is_some_and(|p| p.written_off);
        let wo_c = current.is_some_and(|c| c.written_off);
        let before = match previous {
            Some(p) if !p.written_off => p.provision,
            _ => 0,
        };
        let after = match current {
            None => 0,
            Some(_) if wo_p && wo_c => 0,
            Some(c) if wo_c => c.outstanding,
            Some(c) => c.provision,
        };
        let currency = previous.or(current).map(|n| n.currency).unwrap_or(*b"XXX");
        Move {
            currency,
            from: previous.map_or(new, |p| p.state),
            to: current.map_or(closed, |c| c.state),
            outstanding_previous: previous.map_or(0, |p| p.outstanding),
            outstanding_current: current.map_or(0, |c| c.outstanding),
            before,
            after,
            written_off_previous: wo_p,
            written_off_current: wo_c,
            current_provision: current.map_or(0, |c| c.provision),
        }
    }

    pub fn charge(&self) -> i128 {
        (self.after - self.before).max(0)
    }

    pub fn release(&self) -> i128 {
        (self.before - self.after).max(0)
    }

    /// Written off in CURRENT but not in PREVIOUS: its CURRENT outstanding.
    pub fn write_off(&self) -> i128 {
        match self.written_off_current && !self.written_off_previous {
            true => self.outstanding_current,
            false => 0,
        }
    }
}

/// The tallies of one currency.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Book {
    /// (from, to) -> loans, outstanding previous, outstanding current.
    pub cells: std::collections::BTreeMap<(u16, u16), (u64, i128, i128)>,
    pub opening: i128,
    pub charge: i128,
    pub release: i128,
    pub write_offs: i128,
    pub closing: i128,
    pub recoveries: u64,
    pub recoveries_outstanding: i128,
    /// Loans with a positive charge, release, write-off.
    pub charged: u64,
    pub released: u64,
    pub written_off: u64,
    /// Per from-state: loans, rolled forward, cured.
    pub rates: std::collections::BTreeMap<u16, (u64, u64, u64)>,
}

/// The movement of a whole book, per currency (sorted).
#[derive(Debug, Default)]
pub struct Movement {
    pub books: std::collections::BTreeMap<[u8; 3], Book>,
}

impl Movement {
    /// Adds one move. `ranked`: the states that have an order (buckets or
    /// classes; 0 by status), which are the first `ranked` states.
    pub fn add(&mut self, m: &Move, ranked: u16, states: usize) {
        let settled = (states - 3) as u16;
        let closed = (states - 1) as u16;
        let book = self.books.entry(m.currency).or_default();
        let cell = book.cells.entry((m.from, m.to)).or_default();
        cell.0 += 1;
        cell.1 += m.outstanding_previous;
        cell.2 += m.outstanding_current;
        book.opening += m.before;
        book.charge += m.charge();
        book.release += m.release();
        book.write_offs += m.write_off();
        book.charged += u64::from(m.charge() > 0);
        book.released += u64::from(m.release() > 0);
        book.written_off += u64::from(m.write_off() > 0);
        if m.to != closed && !m.written_off_current {
            book.closing += m.current_provision;
        }
        if m.written_off_previous && m.to == settled {
            book.recoveries += 1;
            book.recoveries_outstanding += m.outstanding_previous;
        }
        if m.from < ranked {
            let rate = book.rates.entry(m.from).or_default();
            rate.0 += 1;
            rate.1 += u64::from(m.to < ranked && m.to > m.from);
            let cured = m.to == settled || m.to == closed || m.to == 0;
            rate.2 += u64::from(cured && !(m.written_off_previous && m.to == closed));
        }
    }

    /// SPEC.md's identity, on every currency: opening + charge - release -
    /// write_offs = closing. A run where it fails is a defect.
    pub fn check(&self) -> Result<(), String> {
        for (currency, b) in &self.books {
            if b.opening + b.charge - b.release - b.write_offs != b.closing {
                return Err(format!(
                    "{}: opening {} + charge {} - release {} - write_offs {} != closing {}: a defect of arrears, please report it",
                    String::from_utf8_lossy(currency),
                    cents(b.opening),
                    cents(b.charge),
                    cents(b.release),
                    cents(b.write_offs),
                    cents(b.closing)
                ));
            }
        }
        Ok(())
    }
}

/// Cents as money text, 2 decimals.
pub fn cents(value: i128) -> String {
    let sign = if value < 0 { "-" } else { "" };
    let v = value.unsigned_abs();
    format!("{sign}{}.{:02}", v / 100, v % 100)
}

/// Cents as money text, appended without allocating.
fn push_cents(out: &mut Vec<u8>, value: i128) {
    use std::io::Write;
    let sign = if value < 0 { "-" } else { "" };
    let v = value.unsigned_abs();
    let _ = write!(out, "{sign}{}.{:02}", v / 100, v % 100);
}

/// A share, half-up to 6 decimals.
pub fn rate(part: u64, whole: u64) -> String {
    let r = Decimal::from(part) / Decimal::from(whole);
    pad6(
        &r.round_dp_with_strategy(6, RoundingStrategy::MidpointAwayFromZero)
            .to_string(),
    )
}

fn pad6(s: &str) -> String {
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    format!("{int}.{frac:0<6}")
}

/// Money text as written by arrears (up to 2 decimals) to cents.
fn parse_cents(text: &str) -> Option<i128> {
    let (neg, t) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (int, frac) = t.split_once('.').unwrap_or((t, ""));
    if int.is_empty()
        || frac.len() > 2
        || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let units: i128 = int.parse().ok()?;
    let frac: i128 = format!("{frac:0<2}").parse().ok()?;
    let v = units.checked_mul(100)?.checked_add(frac)?;
    Some(if neg { -v } else { v })
}

/// Reads a results file of `run`, one `Night` per loan.
pub fn read_night(
    path: &Path,
    by: By,
    states: &[String],
    mut each: impl FnMut(&str, Night) -> Result<(), Error>,
) -> Result<u64, Error> {
    let (mut source, header) = Source::results(path)?;
    let name = source.name.clone();
    let state_column = match by {
        By::Bucket => "bucket",
        By::Classification => "classification",
        By::Status => "status",
    };
    let needed = [
        "loan_id",
        "currency",
        "outstanding",
        "provision",
        "status",
        "classification",
        state_column,
    ];
    let mut fields = Vec::new();
    for column in needed {
        let i = header
            .iter()
            .position(|h| h == column)
            .ok_or_else(|| Error::MissingColumns {
                path: name.clone(),
                missing: column.to_string(),
                found: header.join(", "),
            })?;
        fields.push(i);
    }
    source.select(&fields);
    let settled = (states.len() - 3) as u16;
    let ranked = states.len() - 3;
    let mut record = ByteRecord::new();
    let mut text = Vec::new();
    let mut ends = Vec::new();
    let mut rows = 0;
    loop {
        // A plain line (no quote) is cut at its commas here, as `run`
        // reads its books; any other record comes through csv_core.
        let line_holder;
        let row: &dyn FieldsDyn = match source.next(&mut record)? {
            crate::io::split::Next::End => break,
            crate::io::split::Next::Record => &record,
            crate::io::split::Next::Plain { line } => {
                text.clear();
                text.extend_from_slice(source.plain());
                line_holder = crate::record::Line::split(&text, line, &mut ends);
                &line_holder
            }
        };
        rows += 1;
        let line = row.line_number().unwrap_or(rows + 1);
        let field = |k: usize| -> Result<&str, Error> {
            let bytes = row.field(fields[k]).unwrap_or(b"");
            std::str::from_utf8(bytes)
                .map(str::trim)
                .map_err(|_| bad(&name, line, needed[k], bytes, "not UTF-8"))
        };
        let id = field(0)?;
        if id.is_empty() {
            return Err(bad(&name, line, "loan_id", b"", "empty"));
        }
        let currency = field(1)?;
        let currency: [u8; 3] = currency.as_bytes().try_into().map_err(|_| {
            bad(
                &name,
                line,
                "currency",
                currency.as_bytes(),
                "not a currency code",
            )
        })?;
        let money = |k: usize| -> Result<i128, Error> {
            let text = field(k)?;
            parse_cents(text)
                .ok_or_else(|| bad(&name, line, needed[k], text.as_bytes(), "not an amount"))
        };
        let (outstanding, provision) = (money(2)?, money(3)?);
        let status = field(4)?;
        let state = if field(5)?.is_empty() {
            settled
        } else {
            let value = field(6)?;
            let at = states[..ranked]
                .iter()
                .position(|s| s == value)
                .ok_or_else(|| {
                    bad(
                        &name,
                        line,
                        state_column,
                        value.as_bytes(),
                        &format!(
                            "not a {state_column} of the policy ({}); pass the run's --policy",
                            states[..ranked].join(", ")
                        ),
                    )
                })?;
            at as u16
        };
        let night = Night {
            currency,
            state,
            written_off: status == "written_off",
            outstanding,
            provision,
            line,
        };
        each(id, night)?;
    }
    Ok(rows)
}

/// The two kinds of rows `read_night` meets, read alike.
trait FieldsDyn {
    fn field(&self, i: usize) -> Option<&[u8]>;
    fn line_number(&self) -> Option<u64>;
}

impl FieldsDyn for ByteRecord {
    fn field(&self, i: usize) -> Option<&[u8]> {
        self.get(i)
    }

    fn line_number(&self) -> Option<u64> {
        self.position().map(|p| p.line())
    }
}

impl FieldsDyn for crate::record::Line<'_> {
    fn field(&self, i: usize) -> Option<&[u8]> {
        crate::record::Fields::get(self, i)
    }

    fn line_number(&self) -> Option<u64> {
        Some(crate::record::Fields::line(self))
    }
}

fn bad(file: &str, line: u64, column: &str, value: &[u8], why: &str) -> Error {
    Error::Csv {
        path: file.to_string(),
        line,
        message: format!(
            "column {column}: {:?}: {why}",
            String::from_utf8_lossy(value)
        ),
    }
}

/// The tables of section 6, as text rows.
pub struct Tables {
    pub matrix: (Vec<String>, Vec<Vec<String>>),
    pub provisions: (Vec<String>, Vec<Vec<String>>),
    pub journal: (Vec<String>, Vec<Vec<String>>),
}

fn header(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

pub const MOVES_HEADER: [&str; 8] = [
    "loan_id",
    "currency",
    "from",
    "to",
    "outstanding_previous",
    "outstanding_current",
    "provision_before",
    "provision_after",
];

/// A move as a row of the per-loan moves file.
pub fn move_row(id: &str, m: &Move, states: &[String]) -> [String; 8] {
    [
        id.to_string(),
        String::from_utf8_lossy(&m.currency).into_owned(),
        states[m.from as usize].clone(),
        states[m.to as usize].clone(),
        cents(m.outstanding_previous),
        cents(m.outstanding_current),
        cents(m.before),
        cents(m.after),
    ]
}

impl Movement {
    /// The matrix, provision movement and journal (dated `date`, ISO).
    pub fn tables(&self, states: &[String], ranked: u16, policy: &Policy, date: &str) -> Tables {
        let mut matrix = Vec::new();
        let mut provisions = Vec::new();
        let mut journal = Vec::new();
        let accounts = &policy.accounting;
        for (currency, b) in &self.books {
            let currency = String::from_utf8_lossy(currency).into_owned();
            for (&(from, to), &(loans, previous, current)) in &b.cells {
                let (roll, cure) = match b.rates.get(&from) {
                    Some(&(n, rolled, cured)) if from < ranked => (rate(rolled, n), rate(cured, n)),
                    _ => (String::new(), String::new()),
                };
                matrix.push(vec![
                    currency.clone(),
                    states[from as usize].clone(),
                    states[to as usize].clone(),
                    loans.to_string(),
                    cents(previous),
                    cents(current),
                    roll,
                    cure,
                ]);
            }
            provisions.push(vec![
                currency.clone(),
                cents(b.opening),
                cents(b.charge),
                cents(b.release),
                cents(b.write_offs),
                cents(b.closing),
                b.recoveries.to_string(),
                cents(b.recoveries_outstanding),
            ]);
            let entries: Vec<(&str, &str, &str, i128, u64)> = match accounts.method {
                AccountingMethod::Allowance => vec![
                    (
                        "charge",
                        &accounts.impairment_loss,
                        &accounts.allowance,
                        b.charge,
                        b.charged,
                    ),
                    (
                        "release",
                        &accounts.allowance,
                        &accounts.impairment_loss,
                        b.release,
                        b.released,
                    ),
                    (
                        "write_off",
                        &accounts.allowance,
                        &accounts.loans,
                        b.write_offs,
                        b.written_off,
                    ),
                ],
                AccountingMethod::DirectWriteOff => vec![(
                    "write_off",
                    &accounts.impairment_loss,
                    &accounts.loans,
                    b.write_offs,
                    b.written_off,
                )],
            };
            for (kind, debit, credit, amount, loans) in entries {
                if amount != 0 {
                    journal.push(vec![
                        date.to_string(),
                        currency.clone(),
                        kind.to_string(),
                        debit.to_string(),
                        credit.to_string(),
                        cents(amount),
                        loans.to_string(),
                    ]);
                }
            }
        }
        Tables {
            matrix: (
                header(&[
                    "currency",
                    "from",
                    "to",
                    "loans",
                    "outstanding_previous",
                    "outstanding_current",
                    "roll_forward_rate",
                    "cure_rate",
                ]),
                matrix,
            ),
            provisions: (
                header(&[
                    "currency",
                    "opening",
                    "charge",
                    "release",
                    "write_offs",
                    "closing",
                    "recoveries",
                    "recoveries_outstanding",
                ]),
                provisions,
            ),
            journal: (
                header(&[
                    "date", "currency", "kind", "debit", "credit", "amount", "loans",
                ]),
                journal,
            ),
        }
    }

    /// The matrix as a collections report reads it: per currency, a row
    /// per from-state, a column per to-state (loans), then the rates.
    pub fn readable(
        &self,
        states: &[String],
        ranked: u16,
    ) -> Vec<(String, Vec<String>, Vec<Vec<String>>)> {
        let mut blocks = Vec::new();
        for (currency, b) in &self.books {
            let froms: Vec<u16> = (0..states.len() as u16)
                .filter(|&s| b.cells.keys().any(|&(f, _)| f == s))
                .collect();
            let tos: Vec<u16> = (0..states.len() as u16)
                .filter(|&s| b.cells.keys().any(|&(_, t)| t == s))
                .collect();
            let mut head = vec!["from \\ to".to_string()];
            head.extend(tos.iter().map(|&s| states[s as usize].clone()));
            head.extend(["loans", "roll_forward", "cure"].map(String::from));
            let mut rows = Vec::new();
            for &from in &froms {
                let counts: Vec<u64> = tos
                    .iter()
                    .map(|&to| b.cells.get(&(from, to)).map_or(0, |c| c.0))
                    .collect();
                let total: u64 = counts.iter().sum();
                if total == 0 {
                    continue;
                }
                let mut row = vec![states[from as usize].clone()];
                row.extend(counts.iter().map(|c| c.to_string()));
                row.push(total.to_string());
                match b.rates.get(&from) {
                    Some(&(n, rolled, cured)) if from < ranked => {
                        row.push(rate(rolled, n));
                        row.push(rate(cured, n));
                    }
                    _ => row.extend([String::new(), String::new()]),
                }
                rows.push(row);
            }
            blocks.push((String::from_utf8_lossy(currency).into_owned(), head, rows));
        }
        blocks
    }
}

pub fn command(args: &MovementArgs) -> anyhow::Result<Exit> {
    let started = std::time::Instant::now();
    let mut outputs: Vec<(&str, &Path)> = Vec::new();
    outputs.extend(args.moves.as_deref().map(|p| ("-o", p)));
    outputs.extend(args.summary.as_deref().map(|p| ("--summary", p)));
    outputs.extend(args.provisions.as_deref().map(|p| ("--provisions", p)));
    outputs.extend(args.journal.as_deref().map(|p| ("--journal", p)));
    check_paths(&[args.previous.clone(), args.current.clone()], &outputs)?;
    let (previous_as_of, _) = night_as_of(&args.previous, args.previous_as_of, "PREVIOUS")?;
    let (as_of, manifest) = night_as_of(&args.current, args.as_of, "CURRENT")?;
    if let (Some(p), Some(c)) = (&previous_as_of, &as_of) {
        if p > c {
            return Err(UsageError(format!(
                "PREVIOUS is as of {p}, after CURRENT's {c}: are the two files swapped?"
            ))
            .into());
        }
    }
    if args.journal.is_some() && as_of.is_none() {
        return Err(UsageError(format!(
            "the journal is dated CURRENT's as-of, and {} has no manifest: pass --as-of",
            args.current.display()
        ))
        .into());
    }
    let policy = policy_of(args.policy.as_deref(), manifest.as_ref(), &args.current)?;
    let config = crate::cmd::movement::MovementConfig {
        previous: args.previous.clone(),
        current: args.current.clone(),
        by: args.by,
        policy,
        as_of: as_of.clone().unwrap_or_default(),
        moves: args.moves.clone(),
        matrix: args.summary.clone(),
        provisions: args.provisions.clone(),
        journal: args.journal.clone(),
        format: args.format,
    };
    let done = crate::cmd::movement::run(&config)?;
    if !args.quiet {
        let unknown = || "unknown: no manifest".to_string();
        eprintln!(
            "arrears: {} (as of {}) -> {} (as of {}), by {}, policy {}: {} moves in {:.2} s",
            args.previous.display(),
            previous_as_of.unwrap_or_else(unknown),
            args.current.display(),
            as_of.unwrap_or_else(unknown),
            format!("{:?}", args.by).to_lowercase(),
            config.policy.describe(),
            done.loans,
            started.elapsed().as_secs_f64()
        );
        if !done.outputs.is_empty() {
            let names: Vec<String> = done
                .outputs
                .iter()
                .map(|w| w.path.display().to_string())
                .collect();
            eprintln!("arrears: wrote {}", names.join(", "));
        }
    }
    let mut text = Vec::new();
    if args.summary.is_none() {
        for (currency, header, rows) in done.movement.readable(&done.states, done.ranked) {
            writeln!(
                text,
                "{currency}: loans from PREVIOUS's state (rows) to CURRENT's (columns)"
            )?;
            crate::io::table::write_table(&mut text, &header, &rows, 1)?;
            writeln!(text)?;
        }
    }
    if args.provisions.is_none() {
        let (header, rows) = &done.tables.provisions;
        writeln!(
            text,
            "provision movement (opening + charge - release - write_offs = closing)"
        )?;
        crate::io::table::write_table(&mut text, header, rows, 1)?;
    }
    print_quietly(&text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn night(state: u16, outstanding: i128, provision: i128, written_off: bool) -> Night {
        Night {
            currency: *b"CNY",
            state,
            written_off,
            outstanding,
            provision,
            line: 2,
        }
    }

    #[test]
    fn money_and_rates_print_exactly() {
        assert_eq!(parse_cents("1234.5"), Some(123_450));
        assert_eq!(parse_cents("0.07"), Some(7));
        assert_eq!(parse_cents("-3"), Some(-300));
        assert_eq!(parse_cents("1.234"), None);
        assert_eq!(parse_cents(""), None);
        assert_eq!(cents(-5), "-0.05");
        assert_eq!(rate(1, 3), "0.333333");
        assert_eq!(rate(2, 3), "0.666667");
        assert_eq!(rate(1, 1), "1.000000");
        assert_eq!(rate(0, 7), "0.000000");
        // 1/16 = 0.0625 exactly; 1/2000000 = 0.0000005 rounds half up.
        assert_eq!(rate(1, 2_000_000), "0.000001");
    }

    /// Buckets: current(0) 1-30(1) 31-60(2) 61-90(3) 91-180(4) 181+(5),
    /// then settled(6) new(7) closed(8).
    #[test]
    fn every_kind_of_move_keeps_the_identity() {
        let states = 9;
        let ranked = 6;
        let cases = [
            // new loan
            (None, Some(night(1, 10_000, 200, false))),
            // closed
            (Some(night(2, 5_000, 100, false)), None),
            // rolled forward
            (
                Some(night(1, 10_000, 200, false)),
                Some(night(2, 10_000, 2_500, false)),
            ),
            // cured
            (
                Some(night(3, 8_000, 2_000, false)),
                Some(night(0, 8_000, 80, false)),
            ),
            // newly written off
            (
                Some(night(4, 7_000, 1_750, false)),
                Some(night(5, 7_000, 7_000, true)),
            ),
            // written off both nights
            (
                Some(night(5, 3_000, 3_000, true)),
                Some(night(5, 3_000, 3_000, true)),
            ),
            // recovered
            (
                Some(night(5, 4_000, 4_000, true)),
                Some(night(6, 4_000, 0, false)),
            ),
            // written off, then closed: neither rolled nor cured
            (Some(night(5, 1_000, 1_000, true)), None),
        ];
        let mut movement = Movement::default();
        for (p, c) in &cases {
            movement.add(&Move::of(p.as_ref(), c.as_ref(), states), ranked, states);
        }
        movement.check().unwrap();
        let b = &movement.books[b"CNY"];
        assert_eq!(b.opening, 100 + 200 + 2_000 + 1_750);
        assert_eq!(b.write_offs, 7_000);
        assert_eq!(b.closing, 200 + 2_500 + 80);
        assert_eq!(b.charge, 200 + 2_300 + 5_250);
        assert_eq!(b.release, 100 + 1_920);
        assert_eq!((b.recoveries, b.recoveries_outstanding), (1, 4_000));
        // 181+: three loans; one recovered (settled: cured), one stayed,
        // one closed while written off (neither).
        assert_eq!(b.rates[&5], (3, 0, 1));
        assert_eq!(b.rates[&3], (1, 0, 1));
        assert_eq!(b.rates[&1], (1, 1, 0));
        assert_eq!(b.rates[&2], (1, 0, 1), "closed cures");
    }

    #[test]
    fn a_currency_change_is_closed_then_new_and_duplicates_name_both_lines() {
        let mut pairs = Pairs::default();
        pairs
            .add_previous("A", night(1, 100, 2, false), "p.csv")
            .unwrap();
        let usd = Night {
            currency: *b"USD",
            line: 7,
            ..night(1, 100, 2, false)
        };
        pairs.add_current("A", usd, "c.csv").unwrap();
        let moves: Vec<_> = pairs
            .moves()
            .map(|(id, p, c)| (id, p.is_some(), c.is_some()))
            .collect();
        assert_eq!(moves, vec![("A", true, false), ("A", false, true)]);
        let err = pairs
            .add_current("A", usd, "c.csv")
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 7 and again on line 7"), "{err}");
        let err = pairs
            .add_previous("A", night(1, 1, 1, false), "p.csv")
            .unwrap_err()
            .to_string();
        assert!(err.contains("p.csv") && err.contains("line 2"), "{err}");
    }
}

/// Everything `arrears movement` needs, validated.
#[derive(Debug, Clone)]
pub struct MovementConfig {
    pub previous: std::path::PathBuf,
    pub current: std::path::PathBuf,
    pub by: By,
    pub policy: Policy,
    /// CURRENT's as-of date (the journal's date), ISO; empty when unknown.
    pub as_of: String,
    pub moves: Option<std::path::PathBuf>,
    pub matrix: Option<std::path::PathBuf>,
    pub provisions: Option<std::path::PathBuf>,
    pub journal: Option<std::path::PathBuf>,
    pub format: Option<crate::io::output::Format>,
}

/// What `arrears movement` did.
pub struct Outcome {
    pub movement: Movement,
    pub tables: Tables,
    pub states: Vec<String>,
    pub ranked: u16,
    pub loans: u64,
    pub outputs: Vec<crate::io::atomic::Written>,
}

/// Where the per-loan moves go, row by row.
enum MovesSink<'a> {
    /// Written straight into a buffer (no allocation per row).
    Csv(&'a mut crate::io::atomic::AtomicFile, Vec<u8>),
    #[cfg(feature = "parquet")]
    Parquet {
        sink: Box<crate::io::parquet::ParquetSink<'a>>,
        chunk: crate::io::parquet::Columns,
        columns: Vec<(String, crate::io::output::Kind)>,
    },
}

impl MovesSink<'_> {
    fn push(&mut self, id: &str, m: &Move, states: &[String], path: &str) -> Result<(), Error> {
        match self {
            MovesSink::Csv(file, buf) => {
                use std::io::Write;
                crate::io::output::push_field(buf, id.as_bytes());
                buf.push(b',');
                buf.extend_from_slice(&m.currency);
                for state in [m.from, m.to] {
                    buf.push(b',');
                    crate::io::output::push_field(buf, states[state as usize].as_bytes());
                }
                for amount in [
                    m.outstanding_previous,
                    m.outstanding_current,
                    m.before,
                    m.after,
                ] {
                    buf.push(b',');
                    push_cents(buf, amount);
                }
                buf.push(b'\n');
                if buf.len() >= 1 << 16 {
                    file.write_all(buf).map_err(|e| Error::io(path, e))?;
                    buf.clear();
                }
                Ok(())
            }
            #[cfg(feature = "parquet")]
            MovesSink::Parquet {
                sink,
                chunk,
                columns,
            } => {
                let row = move_row(id, m, states);
                chunk
                    .push(row.iter().map(|f| f.as_bytes()))
                    .map_err(|message| Error::Parquet {
                        path: path.to_string(),
                        message,
                    })?;
                if chunk.rows() == 1 << 15 {
                    sink.push(chunk)?;
                    *chunk = crate::io::parquet::Columns::new(columns);
                }
                Ok(())
            }
        }
    }

    fn finish(self, path: &str) -> Result<(), Error> {
        match self {
            MovesSink::Csv(file, buf) => {
                use std::io::Write;
                file.write_all(&buf).map_err(|e| Error::io(path, e))
            }
            #[cfg(feature = "parquet")]
            MovesSink::Parquet {
                mut sink, chunk, ..
            } => {
                sink.push(&chunk)?;
                sink.finish()
            }
        }
    }
}

fn moves_sink<'a>(
    file: &'a mut crate::io::atomic::AtomicFile,
    format: crate::io::output::Format,
) -> Result<MovesSink<'a>, Error> {
    match format {
        crate::io::output::Format::Csv => {
            let mut buf = Vec::with_capacity(1 << 17);
            buf.extend_from_slice(MOVES_HEADER.join(",").as_bytes());
            buf.push(b'\n');
            Ok(MovesSink::Csv(file, buf))
        }
        #[cfg(feature = "parquet")]
        crate::io::output::Format::Parquet => {
            let header: Vec<String> = MOVES_HEADER.iter().map(|s| s.to_string()).collect();
            let columns = crate::io::output::Kind::columns(&header, 0);
            let sink = crate::io::parquet::ParquetSink::new(file, &columns, None)?;
            Ok(MovesSink::Parquet {
                sink: Box::new(sink),
                chunk: crate::io::parquet::Columns::new(&columns),
                columns,
            })
        }
        #[cfg(not(feature = "parquet"))]
        crate::io::output::Format::Parquet => Err(Error::Header {
            path: file.path().display().to_string(),
            message: "this build of arrears has no Parquet support".into(),
        }),
    }
}

/// Compares the two nights and writes every output asked for, all or none.
pub fn run(config: &MovementConfig) -> Result<Outcome, Error> {
    use crate::io::atomic::AtomicFile;
    use crate::io::output::Format;
    let states = states(config.by, &config.policy);
    let ranked = match config.by {
        By::Status => 0,
        _ => (states.len() - 3) as u16,
    };
    let mut pairs = Pairs::default();
    let previous = config.previous.display().to_string();
    let current = config.current.display().to_string();
    read_night(&config.previous, config.by, &states, |id, n| {
        pairs.add_previous(id, n, &previous)
    })?;
    read_night(&config.current, config.by, &states, |id, n| {
        pairs.add_current(id, n, &current)
    })?;

    let mut moves_file = config
        .moves
        .as_deref()
        .map(AtomicFile::create)
        .transpose()?;
    let moves_name = config
        .moves
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let mut movement = Movement::default();
    let mut loans = 0;
    {
        let mut sink = match moves_file.as_mut() {
            Some(file) => {
                let path = config.moves.as_deref().unwrap_or(Path::new(""));
                Some(moves_sink(file, Format::of(path, config.format))?)
            }
            None => None,
        };
        for (id, p, c) in pairs.moves() {
            let m = Move::of(p, c, states.len());
            movement.add(&m, ranked, states.len());
            loans += 1;
            if let Some(sink) = sink.as_mut() {
                sink.push(id, &m, &states, &moves_name)?;
            }
        }
        if let Some(sink) = sink.take() {
            sink.finish(&moves_name)?;
        }
    }
    movement.check().map_err(|message| Error::Header {
        path: current.clone(),
        message,
    })?;
    let tables = movement.tables(&states, ranked, &config.policy, &config.as_of);
    let mut files = Vec::new();
    if let Some(file) = moves_file {
        files.push(file.finish()?);
    }
    for (path, (header, rows)) in [
        (&config.matrix, &tables.matrix),
        (&config.provisions, &tables.provisions),
        (&config.journal, &tables.journal),
    ] {
        if let Some(path) = path {
            let format = Format::of(path, config.format);
            files.push(crate::io::table::write_file(path, format, header, rows, 0)?);
        }
    }
    let outputs = crate::io::atomic::commit_all(files)?;
    Ok(Outcome {
        movement,
        tables,
        states,
        ranked,
        loans,
        outputs,
    })
}
