//! Repayments (SPEC.md section 5): every payment row read into a compact
//! index, matched to book rows by loan_id while the book streams.
//!
//! A payment is held as 32 bytes (a 128-bit hash of its loan_id, its date
//! as a day number, its amount in cents) plus one byte of match state:
//! the ids' text is not kept. Where the rows come from (files, Arrow
//! batches) is the caller's: it hands them to a `Builder`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU8, Ordering};

use chrono::NaiveDate;

use crate::compute::{self, Figures};
use crate::error::Error;
use crate::money::Money;
use crate::parse;
use crate::policy::Policy;
#[cfg(test)]
use crate::record::Record;
use crate::record::{id_hash, Col, Fields, Loan, Reject};
use crate::repay::Payment;

pub use crate::policy::PAYMENT_COLUMNS;

/// Where the payment columns sit in one file.
#[derive(Debug, Clone, Copy)]
pub struct PaymentLayout {
    /// Field index of loan_id, date, amount.
    pub index: [usize; 3],
    width: usize,
}

impl PaymentLayout {
    pub fn from_header(header: &impl Fields, policy: &Policy, path: &str) -> Result<Self, Error> {
        let names: Vec<String> = header
            .iter()
            .map(|f| String::from_utf8_lossy(f).trim().to_lowercase())
            .collect();
        let mut index = [0; 3];
        let mut missing = Vec::new();
        for (slot, canonical) in index.iter_mut().zip(PAYMENT_COLUMNS) {
            let wanted = policy
                .repayment_columns
                .get(canonical)
                .map_or_else(|| canonical.to_string(), |h| h.trim().to_lowercase());
            let found: Vec<usize> = (0..names.len()).filter(|&i| names[i] == wanted).collect();
            match found[..] {
                [i] => *slot = i,
                [] => missing.push(match policy.repayment_columns.get(canonical) {
                    Some(h) => format!("{canonical} (mapped to {h:?})"),
                    None => canonical.to_string(),
                }),
                [a, b, ..] => {
                    return Err(Error::Header {
                        path: path.to_string(),
                        message: format!(
                            "column {wanted:?} ({canonical}) appears twice in the header, fields {} and {}",
                            a + 1,
                            b + 1
                        ),
                    })
                }
            }
        }
        if !missing.is_empty() {
            let found: Vec<String> = header
                .iter()
                .map(|f| format!("{:?}", String::from_utf8_lossy(f)))
                .collect();
            return Err(Error::MissingColumns {
                path: path.to_string(),
                missing: missing.join(", "),
                found: if found.is_empty() {
                    "none".into()
                } else {
                    found.join(", ")
                },
            });
        }
        Ok(PaymentLayout {
            index,
            width: header.len(),
        })
    }
}

/// One payment row, read.
pub struct Read<'a> {
    pub loan_id: &'a str,
    pub date: NaiveDate,
    pub cents: u64,
}

/// Reads one payment row, or says why not. The error carries the loan_id
/// when it could be read.
pub fn read_row<'a, R: Fields>(
    record: &'a R,
    layout: &PaymentLayout,
    names: &[String; 3],
) -> Result<Read<'a>, (Option<&'a str>, String, String)> {
    let text = |i: usize| -> Result<&'a str, String> {
        let bytes = record.get(layout.index[i]).unwrap_or(b"");
        let text = std::str::from_utf8(bytes).map_err(|e| {
            format!(
                "invalid UTF-8 at byte {}: {:?}",
                e.valid_up_to(),
                String::from_utf8_lossy(bytes)
            )
        })?;
        if text.contains('\0') {
            return Err(format!("{text:?} holds a NUL byte"));
        }
        if text.contains('\u{FFFD}') {
            return Err(format!(
                "{text:?} holds U+FFFD: bytes that did not decode in the input's encoding"
            ));
        }
        Ok(text.trim())
    };
    let loan_id = match text(0) {
        Ok(id) if !id.is_empty() && id.len() <= 200 && !id.contains(['\n', '\r']) => Some(id),
        _ => None,
    };
    let fail = |column: usize, why: String| (loan_id, names[column].clone(), why);
    if record.len() != layout.width {
        return Err((
            loan_id,
            String::new(),
            format!(
                "expected {} fields as in the header, found {}",
                layout.width,
                record.len()
            ),
        ));
    }
    if let Some((i, f)) = record
        .iter()
        .enumerate()
        .find(|(_, f)| f.len() > crate::record::MAX_FIELD_BYTES)
    {
        return Err((
            loan_id,
            String::new(),
            format!("field {} is {} bytes long", i + 1, f.len()),
        ));
    }
    let id = text(0).map_err(|why| fail(0, why))?;
    if id.is_empty() {
        return Err(fail(0, "empty: every payment needs a loan_id".into()));
    }
    let date_text = text(1).map_err(|why| fail(1, why))?;
    if date_text.is_empty() {
        return Err(fail(1, "empty: required".into()));
    }
    let date = parse::date(date_text).map_err(|why| fail(1, format!("{date_text:?}: {why}")))?;
    let amount_text = text(2).map_err(|why| fail(2, why))?;
    if amount_text.is_empty() {
        return Err(fail(2, "empty: required".into()));
    }
    let amount =
        parse::money(amount_text).map_err(|why| fail(2, format!("{amount_text:?}: {why}")))?;
    let cents = Money::of(amount).map(Money::cents).unwrap_or(-1);
    if cents <= 0 {
        return Err(fail(
            2,
            format!("{amount_text:?}: a payment must be more than 0"),
        ));
    }
    let cents = u64::try_from(cents).map_err(|_| {
        fail(
            2,
            format!("{amount_text:?}: out of range: a payment is at most 184467440737095516.15"),
        )
    })?;
    Ok(Read {
        loan_id: id,
        date,
        cents,
    })
}

/// One payment as held in memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Entry {
    /// `id_hash` of the trimmed loan_id.
    hash: u128,
    /// Days since 1970-01-01.
    day: i32,
    /// Which record of the payment files it is (0 = the first file's first
    /// row after the header): how the unmatched ones are found again.
    ordinal: u32,
    cents: u64,
}

/// What happened to a loan_id's payments.
const UNSEEN: u8 = 0;
const MATCHED: u8 = 1;
const ROW_REJECTED: u8 = 2;

fn day_number(date: NaiveDate) -> i32 {
    (date - NaiveDate::default()).num_days() as i32
}

fn date_of(day: i32) -> NaiveDate {
    NaiveDate::default() + chrono::TimeDelta::days(day.into())
}

/// Where a loan_id's payments are in the index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Group {
    first: usize,
    len: usize,
}

/// How many payments went where (SPEC.md section 5: nothing lost).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PaymentCounts {
    pub read: u64,
    pub applied: u64,
    pub after_as_of: u64,
    pub unmatched: u64,
    pub rejected: u64,
}

/// Every readable payment, indexed by loan_id, and the rejects of the
/// others.
pub struct Payments {
    /// Sorted by loan_id hash, then date.
    entries: Vec<Entry>,
    /// The match state of each loan_id, kept on its first entry.
    state: Vec<AtomicU8>,
    /// Where each bucket of hashes starts in `entries`: the hashes are
    /// uniform, so their top `bits` bits find a loan_id's entries in two
    /// memory reads, where a binary search over millions of entries missed
    /// the cache at every step (4 bytes per bucket, about 2 buckets per
    /// payment).
    starts: Vec<u32>,
    bits: u32,
    /// Loan_ids with an unreadable payment: where the first one is.
    bad: HashMap<u128, String>,
    /// The rejected payment rows, in file order, and their source name.
    pub rejects: Vec<(String, Reject)>,
    as_of: NaiveDate,
}

impl std::fmt::Debug for Payments {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Payments({} entries)", self.entries.len())
    }
}

/// The header names the payment columns have in a file, for messages.
pub fn column_names(policy: &Policy) -> [String; 3] {
    PAYMENT_COLUMNS.map(|c| {
        policy
            .repayment_columns
            .get(c)
            .cloned()
            .unwrap_or_else(|| c.to_string())
    })
}

/// Builds the payments index one payment row at a time, from any source.
pub struct Builder<'p> {
    policy: &'p Policy,
    names: [String; 3],
    entries: Vec<Entry>,
    bad: HashMap<u128, String>,
    rejects: Vec<(String, Reject)>,
    ordinal: u32,
    as_of: NaiveDate,
}

impl<'p> Builder<'p> {
    pub fn new(policy: &'p Policy, as_of: NaiveDate) -> Builder<'p> {
        Builder {
            policy,
            names: column_names(policy),
            entries: Vec::new(),
            bad: HashMap::new(),
            rejects: Vec::new(),
            ordinal: 0,
            as_of,
        }
    }

    /// The payment columns of a source's header.
    pub fn layout(&self, header: &impl Fields, source: &str) -> Result<PaymentLayout, Error> {
        PaymentLayout::from_header(header, self.policy, source)
    }

    /// Adds the next payment row of `source` (rows are numbered in the
    /// order they are added: how the unmatched ones are found again).
    pub fn add(&mut self, record: &impl Fields, layout: &PaymentLayout, source: &str) {
        let this = self.ordinal;
        self.ordinal = self.ordinal.saturating_add(1);
        match read_row(record, layout, &self.names) {
            Ok(row) => self.entries.push(Entry {
                hash: id_hash(row.loan_id.as_bytes()),
                day: day_number(row.date),
                ordinal: this,
                cents: row.cents,
            }),
            Err((loan_id, column, why)) => {
                let line = record.line();
                if let Some(id) = loan_id {
                    self.bad
                        .entry(id_hash(id.as_bytes()))
                        .or_insert_with(|| format!("{source}:{line}"));
                }
                let reason = format!("repayments {source}: {why}");
                let reject = Reject::new(record, loan_id.unwrap_or(""), &column, reason);
                self.rejects.push((source.to_string(), reject));
            }
        }
    }

    pub fn finish(self) -> Payments {
        let Builder {
            mut entries,
            bad,
            rejects,
            as_of,
            ..
        } = self;
        entries.sort_unstable();
        let state = entries.iter().map(|_| AtomicU8::new(UNSEEN)).collect();
        let bits = (entries.len().max(1).next_power_of_two().trailing_zeros() + 1).min(31);
        let mut starts = Vec::with_capacity((1 << bits) + 1);
        let mut at = 0;
        for bucket in 0..=(1u128 << bits) {
            while at < entries.len() && entries[at].hash >> (128 - bits) < bucket {
                at += 1;
            }
            starts.push(at as u32);
        }
        Payments {
            entries,
            state,
            starts,
            bits,
            bad,
            rejects,
            as_of,
        }
    }
}

impl Payments {
    /// The entries of a loan_id, and the index of the first.
    fn find(&self, loan_id: &str) -> Option<(usize, &[Entry])> {
        if self.entries.is_empty() {
            return None;
        }
        self.find_hash(id_hash(loan_id.as_bytes()))
    }

    /// `find` by the loan_id's hash.
    fn find_hash(&self, hash: u128) -> Option<(usize, &[Entry])> {
        let bucket = (hash >> (128 - self.bits)) as usize;
        let (start, end) = (
            self.starts[bucket] as usize,
            self.starts[bucket + 1] as usize,
        );
        let within = &self.entries[start..end];
        let from = start + within.iter().position(|e| e.hash == hash)?;
        let to = from
            + self.entries[from..end]
                .iter()
                .take_while(|e| e.hash == hash)
                .count();
        Some((from, &self.entries[from..to]))
    }

    /// Where an unreadable payment of this loan_id is, if there is one.
    pub fn unreadable(&self, loan_id: &str) -> Option<&str> {
        if self.bad.is_empty() {
            return None;
        }
        self.bad
            .get(&id_hash(loan_id.as_bytes()))
            .map(String::as_str)
    }

    /// The payments of a loan_id, found once for `of` and `mark_group`.
    pub fn group(&self, loan_id: &str) -> Option<Group> {
        self.find(loan_id).map(|(first, entries)| Group {
            first,
            len: entries.len(),
        })
    }

    /// The row's payments dated on or before as_of, one per date (a date's
    /// payments added together), in date order. Empty when it has none.
    pub fn of(&self, group: Option<Group>) -> Vec<Payment> {
        let Some(group) = group else {
            return Vec::new();
        };
        let entries = &self.entries[group.first..group.first + group.len];
        let as_of = day_number(self.as_of);
        let mut payments: Vec<Payment> = Vec::with_capacity(entries.len());
        for e in entries.iter().filter(|e| e.day <= as_of) {
            match payments.last_mut() {
                Some(last) if last.date == date_of(e.day) => last.cents += i128::from(e.cents),
                _ => payments.push(Payment {
                    date: date_of(e.day),
                    cents: i128::from(e.cents),
                }),
            }
        }
        payments
    }

    /// Records what became of the book row with this loan_id (its first
    /// occurrence): accepted, or rejected.
    pub fn mark(&self, loan_id: &str, accepted: bool) {
        self.mark_group(self.group(loan_id), accepted);
    }

    /// `mark` by the group `group` found.
    pub fn mark_group(&self, group: Option<Group>, accepted: bool) {
        if let Some(group) = group {
            let state = if accepted { MATCHED } else { ROW_REJECTED };
            let _ = self.state[group.first].compare_exchange(
                UNSEEN,
                state,
                Ordering::Relaxed,
                Ordering::Relaxed,
            );
        }
    }

    /// Where every payment went, once the book has been read.
    pub fn counts(&self) -> PaymentCounts {
        let as_of = day_number(self.as_of);
        let mut counts = PaymentCounts {
            rejected: self.rejects.len() as u64,
            ..PaymentCounts::default()
        };
        let mut state = UNSEEN;
        for (i, e) in self.entries.iter().enumerate() {
            if i == 0 || self.entries[i - 1].hash != e.hash {
                state = self.state[i].load(Ordering::Relaxed);
            }
            match (state, e.day <= as_of) {
                (MATCHED, true) => counts.applied += 1,
                (MATCHED, false) => counts.after_as_of += 1,
                _ => counts.unmatched += 1,
            }
        }
        counts.read = counts.applied + counts.after_as_of + counts.unmatched + counts.rejected;
        counts
    }

    /// The payments whose book row was seen, by the order they were added:
    /// (ordinal, whether the row was accepted). What a worker that saw part
    /// of the book (a Spark partition) sends, so that `mark_ordinal` on the
    /// whole index tells the unmatched payments of the whole book.
    pub fn seen(&self) -> Vec<(u32, bool)> {
        let mut seen: Vec<(u32, bool)> = Vec::new();
        let mut state = UNSEEN;
        for (i, e) in self.entries.iter().enumerate() {
            if i == 0 || self.entries[i - 1].hash != e.hash {
                state = self.state[i].load(Ordering::Relaxed);
            }
            if state != UNSEEN {
                seen.push((e.ordinal, state == MATCHED));
            }
        }
        seen.sort_unstable();
        seen
    }

    /// Marks what other workers' `seen` said: each listed payment's book
    /// row was accepted, or rejected (the first word about a loan_id
    /// stands, as with `mark`). Unknown ordinals are ignored.
    pub fn mark_seen(&self, seen: &[(u32, bool)]) {
        let seen: HashMap<u32, bool> = seen.iter().copied().collect();
        let mut first = 0;
        for (i, e) in self.entries.iter().enumerate() {
            if i == 0 || self.entries[i - 1].hash != e.hash {
                first = i;
            }
            if let Some(&accepted) = seen.get(&e.ordinal) {
                let state = if accepted { MATCHED } else { ROW_REJECTED };
                let _ = self.state[first].compare_exchange(
                    UNSEEN,
                    state,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                );
            }
        }
    }

    /// The payments that belong to no accepted book row, by the order they
    /// were added: (ordinal, whether their book row was rejected).
    pub fn unmatched(&self) -> Vec<(u32, bool)> {
        let mut wanted: Vec<(u32, bool)> = Vec::new();
        let mut state = UNSEEN;
        for (i, e) in self.entries.iter().enumerate() {
            if i == 0 || self.entries[i - 1].hash != e.hash {
                state = self.state[i].load(Ordering::Relaxed);
            }
            if state != MATCHED {
                wanted.push((e.ordinal, state == ROW_REJECTED));
            }
        }
        wanted.sort_unstable();
        wanted
    }
}

/// A row's figures with its payments (section 5; section 2's when it has
/// none and no trace is asked for), and where its payments are, to mark
/// them once the row is accepted. A row one of whose payments could not be
/// read is a reject.
pub fn figures(
    loan: &Loan,
    payments: &Payments,
    policy: &Policy,
    as_of: NaiveDate,
    trace: bool,
    record: &impl Fields,
) -> Result<(Result<Figures, &'static str>, Option<Group>), Reject> {
    if let Some(at) = payments.unreadable(loan.loan_id()) {
        return Err(Reject::new(
            record,
            loan.loan_id(),
            Col::LoanId.name(),
            format!("a repayment of this loan could not be read: {at}"),
        ));
    }
    let group = payments.group(loan.loan_id());
    let paid = payments.of(group);
    let figures = match paid.is_empty() && !trace {
        true => compute::compute(loan, policy, as_of),
        false => crate::repay::compute(loan, policy, as_of, &paid, trace),
    };
    Ok((figures, group))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn day_numbers_round_trip() {
        for text in ["1900-01-01", "1970-01-01", "2025-06-30", "2199-12-31"] {
            let date: NaiveDate = text.parse().unwrap();
            assert_eq!(date_of(day_number(date)), date);
        }
    }

    #[test]
    fn what_parts_saw_marks_the_whole_index_as_one_pass_would() {
        let policy = Policy::load("cn-bank").unwrap();
        let as_of: NaiveDate = "2025-06-30".parse().unwrap();
        let build = || {
            let mut b = Builder::new(&policy, as_of);
            let header = Record::of(["loan_id", "date", "amount"], 1);
            let layout = b.layout(&header, "p").unwrap();
            for (n, id) in ["A", "B", "A", "C", "D"].iter().enumerate() {
                b.add(
                    &Record::of([id, "2025-05-01", "1"], n as u64 + 2),
                    &layout,
                    "p",
                );
            }
            b.finish()
        };
        // One pass: A accepted, B rejected, C and D never seen.
        let whole = build();
        whole.mark("A", true);
        whole.mark("B", false);
        // Two parts, each seeing some of the loans.
        let (one, two, merged) = (build(), build(), build());
        one.mark("A", true);
        two.mark("B", false);
        assert_eq!(one.seen(), vec![(0, true), (2, true)]);
        assert_eq!(two.seen(), vec![(1, false)]);
        merged.mark_seen(&one.seen());
        merged.mark_seen(&two.seen());
        assert_eq!(merged.unmatched(), whole.unmatched());
        assert_eq!(merged.unmatched(), vec![(1, true), (3, false), (4, false)]);
        assert_eq!(merged.counts(), whole.counts());
    }

    #[test]
    fn a_payment_is_held_in_32_bytes() {
        assert_eq!(std::mem::size_of::<Entry>(), 32);
    }

    #[test]
    fn payments_of_a_date_add_up_and_later_ones_wait() {
        let policy = Policy::load("cn-bank").unwrap();
        let as_of: NaiveDate = "2025-06-30".parse().unwrap();
        let mut b = Builder::new(&policy, as_of);
        let header = Record::of(["loan_id", "date", "amount"], 1);
        let layout = b.layout(&header, "p").unwrap();
        for (n, row) in [
            ["L1", "2025-05-01", "10.00"],
            ["L1", "2025-05-01", "2.50"],
            ["L1", "2025-07-01", "1.00"],
            ["L2", "2025-05-02", "-1"],
            ["L3", "2025-05-02", "3"],
        ]
        .iter()
        .enumerate()
        {
            b.add(&Record::of(row, n as u64 + 2), &layout, "p");
        }
        let p = b.finish();
        assert_eq!(p.rejects.len(), 1);
        assert_eq!(p.unreadable("L2"), Some("p:5"));
        let l1 = p.of(p.group("L1"));
        assert_eq!(l1.len(), 1);
        assert_eq!(l1[0].cents, 1250);
        p.mark("L1", true);
        let counts = p.counts();
        assert_eq!(
            (counts.applied, counts.after_as_of, counts.unmatched),
            (2, 1, 1)
        );
        assert_eq!(p.unmatched(), vec![(4, false)]);
    }
}
