//! Aggregate statistics (SPEC.md section 3, Summary): exact decimal sums and
//! exact day percentiles per group, folded per batch and merged, so the
//! result never depends on thread count or batch size.

use std::collections::{BTreeMap, HashMap};
use std::str::FromStr;

use crate::compute::{Figures, Status};
use crate::money::Money;
use crate::output::{money, ratio6};
use crate::policy::{Component, Policy};
use crate::record::{Col, Layout, Loan};

/// Classes whose unpaid outstanding counts as non-performing.
pub const NPL_CLASSES: [&str; 3] = ["substandard", "doubtful", "loss"];

/// A column the summary can group by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupKey {
    Currency,
    Product,
    AccountId,
    Region,
    Bucket,
    Status,
    Classification,
}

impl GroupKey {
    pub const ALL: [GroupKey; 7] = [
        GroupKey::Currency,
        GroupKey::Product,
        GroupKey::AccountId,
        GroupKey::Region,
        GroupKey::Bucket,
        GroupKey::Status,
        GroupKey::Classification,
    ];

    pub fn name(self) -> &'static str {
        match self {
            GroupKey::Currency => "currency",
            GroupKey::Product => "product",
            GroupKey::AccountId => "account_id",
            GroupKey::Region => "region",
            GroupKey::Bucket => "bucket",
            GroupKey::Status => "status",
            GroupKey::Classification => "classification",
        }
    }
}

impl FromStr for GroupKey {
    type Err = String;

    fn from_str(s: &str) -> Result<GroupKey, String> {
        GroupKey::ALL
            .into_iter()
            .find(|k| k.name() == s.trim())
            .ok_or_else(|| {
                let names: Vec<_> = GroupKey::ALL.iter().map(|k| k.name()).collect();
                format!(
                    "unknown group-by column {s:?}; choose from {}",
                    names.join(", ")
                )
            })
    }
}

/// The group keys of a run: currency always first (amounts are never added
/// across currencies), then the others as given, without repeats.
pub fn normalize_keys(keys: &[GroupKey]) -> Vec<GroupKey> {
    let mut out = vec![GroupKey::Currency];
    for &k in keys {
        if !out.contains(&k) {
            out.push(k);
        }
    }
    out
}

pub use crate::money::SumOverflow;

/// Adds `value` to the exact sum `sum` (integer cents: a `Decimal` sum past
/// 28 digits would drop its cents; this one stops with `SumOverflow`).
fn add(sum: &mut Money, value: Money) -> Result<(), SumOverflow> {
    *sum = sum.checked_add(value).ok_or(SumOverflow)?;
    Ok(())
}

/// Running totals of one group, kept small (a summary by account has a
/// group for nearly every few loans): 64-bit cent sums that widen to 128
/// bits only when one would pass 2^63 cents, the breach counts of up to
/// two caps and the days of up to two distinct day counts inline, the
/// repayment sums only in runs with payments. `size_of::<Tally>()` is
/// checked in the tests and stated in the README.
#[derive(Debug, Clone, Default)]
pub struct Tally {
    pub loans: u64,
    pub overdue_loans: u64,
    pub breached_loans: u64,
    /// principal, outstanding, the four raw amounts, total_raw,
    /// total_capped, excess, provision, written_off_principal,
    /// unpaid_outstanding, npl_outstanding: `Sum` indexes them.
    pub(crate) sums: Sums,
    /// Loans breaching each cap, in policy order.
    pub breaches: smallvec::SmallVec<[u64; 2]>,
    /// How many loans have each days_overdue, for loans with
    /// days_overdue > 0.
    pub days: Days,
    /// With repayments: the sums of the results' repayment columns
    /// (`output::REPAY_COLUMNS` order).
    repaid: Option<Box<[Money; 8]>>,
}

/// The sums of a tally, by index.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Sum {
    Principal = 0,
    Outstanding = 1,
    /// The raw amounts: `Amounts + Component as usize`.
    Amounts = 2,
    TotalRaw = 6,
    TotalCapped = 7,
    Excess = 8,
    Provision = 9,
    WrittenOffPrincipal = 10,
    UnpaidOutstanding = 11,
    NplOutstanding = 12,
}

const SUMS: usize = 13;

/// Exact sums in cents: 64-bit while every sum fits (any real book), all
/// of them 128-bit (`Money`, up to `MAX_CENTS`) from the first that does
/// not. Either way the same exact figures and the same `SumOverflow`.
#[derive(Debug, Clone, Default)]
pub(crate) struct Sums {
    narrow: [i64; SUMS],
    wide: Option<Box<[Money; SUMS]>>,
}

impl Sums {
    pub(crate) fn get(&self, i: usize) -> Money {
        match &self.wide {
            Some(wide) => wide[i],
            None => Money::new(i128::from(self.narrow[i])).expect("64-bit cents are in range"),
        }
    }

    #[inline(always)]
    pub(crate) fn add(&mut self, i: usize, value: Money) -> Result<(), SumOverflow> {
        if self.wide.is_none() {
            let sum = i64::try_from(value.cents())
                .ok()
                .and_then(|v| self.narrow[i].checked_add(v));
            if let Some(sum) = sum {
                self.narrow[i] = sum;
                return Ok(());
            }
            let narrow = self.narrow;
            self.wide =
                Some(Box::new(narrow.map(|c| {
                    Money::new(i128::from(c)).expect("64-bit cents are in range")
                })));
        }
        match &mut self.wide {
            Some(wide) => add(&mut wide[i], value),
            None => unreachable!("widened above"),
        }
    }

    fn merge(&mut self, other: &Sums) -> Result<(), SumOverflow> {
        for i in 0..SUMS {
            self.add(i, other.get(i))?;
        }
        Ok(())
    }
}

impl PartialEq for Sums {
    fn eq(&self, other: &Sums) -> bool {
        (0..SUMS).all(|i| self.get(i) == other.get(i))
    }
}

/// Equal figures, however they are stored.
impl PartialEq for Tally {
    fn eq(&self, other: &Tally) -> bool {
        let breaches = |t: &Tally, i: usize| t.breaches.get(i).copied().unwrap_or(0);
        let caps = self.breaches.len().max(other.breaches.len());
        self.loans == other.loans
            && self.overdue_loans == other.overdue_loans
            && self.breached_loans == other.breached_loans
            && self.sums == other.sums
            && (0..caps).all(|i| breaches(self, i) == breaches(other, i))
            && self.days == other.days
            && self.repaid() == other.repaid()
    }
}

/// How many loans have each number of days overdue: up to `DENSIFY_AT` - 1
/// distinct days as sorted (days, loans) pairs (two of them inline: the
/// groups of a summary by account), then counted in place for the first
/// `DENSE_DAYS` days (one add per loan, no search) and in a map beyond.
#[derive(Debug, Clone, Default)]
pub struct Days {
    few: smallvec::SmallVec<[(u32, u32); 2]>,
    many: Option<Box<ManyDays>>,
}

#[derive(Debug, Clone)]
struct ManyDays {
    /// Indexed by days, `DENSE_DAYS` long.
    dense: Vec<u64>,
    /// The days outside `dense`.
    sparse: BTreeMap<i64, u64>,
}

impl ManyDays {
    fn add(&mut self, days: i64, n: u64) {
        match usize::try_from(days)
            .ok()
            .and_then(|d| self.dense.get_mut(d))
        {
            Some(count) => *count += n,
            None => *self.sparse.entry(days).or_default() += n,
        }
    }
}

const DENSE_DAYS: usize = 1024;
const DENSIFY_AT: usize = 16;

impl Days {
    pub fn add(&mut self, days: i64, n: u64) {
        if let Some(many) = &mut self.many {
            many.add(days, n);
            return;
        }
        if let (Ok(d), Ok(k)) = (u32::try_from(days), u32::try_from(n)) {
            match self.few.binary_search_by_key(&d, |&(d, _)| d) {
                Ok(i) => {
                    if let Some(sum) = self.few[i].1.checked_add(k) {
                        self.few[i].1 = sum;
                        return;
                    }
                }
                Err(i) if self.few.len() < DENSIFY_AT - 1 => {
                    self.few.insert(i, (d, k));
                    return;
                }
                Err(_) => {}
            }
        }
        self.densify();
        if let Some(many) = &mut self.many {
            many.add(days, n);
        }
    }

    /// Moves the days into counts in place and the map.
    fn densify(&mut self) {
        let mut many = ManyDays {
            dense: vec![0; DENSE_DAYS],
            sparse: BTreeMap::new(),
        };
        for (d, n) in std::mem::take(&mut self.few) {
            many.add(i64::from(d), u64::from(n));
        }
        self.many = Some(Box::new(many));
    }

    pub fn merge(&mut self, other: &Days) {
        match &other.many {
            None => {
                for &(d, n) in &other.few {
                    self.add(i64::from(d), u64::from(n));
                }
            }
            Some(theirs) => {
                if self.many.is_none() {
                    self.densify();
                }
                let Some(mine) = &mut self.many else {
                    unreachable!("densified above");
                };
                for (mine, n) in mine.dense.iter_mut().zip(&theirs.dense) {
                    *mine += n;
                }
                for (&days, &n) in &theirs.sparse {
                    mine.add(days, n);
                }
            }
        }
    }

    /// `(days, loans)` in ascending days, days with loans only.
    pub fn iter(&self) -> Box<dyn Iterator<Item = (i64, u64)> + '_> {
        match &self.many {
            None => Box::new(self.few.iter().map(|&(d, n)| (i64::from(d), u64::from(n)))),
            Some(many) => {
                let counts = |(&d, &n): (&i64, &u64)| (d, n);
                let dense = many.dense.iter().enumerate();
                Box::new(
                    many.sparse
                        .range(..0)
                        .map(counts)
                        .chain(dense.filter(|(_, &n)| n > 0).map(|(d, &n)| (d as i64, n)))
                        .chain(many.sparse.range(DENSE_DAYS as i64..).map(counts)),
                )
            }
        }
    }

    pub fn max(&self) -> Option<i64> {
        match &self.many {
            None => self.few.last().map(|&(d, _)| i64::from(d)),
            Some(_) => self.iter().last().map(|(d, _)| d),
        }
    }
}

/// Equal counts, however they are stored.
impl PartialEq for Days {
    fn eq(&self, other: &Days) -> bool {
        self.iter().eq(other.iter())
    }
}

/// What one loan adds to a tally: its figures from a run, or its row of a
/// results file (`arrears summarize`).
#[derive(Debug, Clone, PartialEq)]
pub struct Contribution {
    pub principal: Money,
    pub outstanding: Money,
    /// The raw amounts, indexed by `Component`.
    pub amounts: [Money; 4],
    pub total_raw: Money,
    pub total_capped: Money,
    pub excess: Money,
    pub provision: Money,
    pub written_off: bool,
    pub days_overdue: i64,
    /// Not settled: the loan has a class.
    pub unpaid: bool,
    /// Its class is non-performing (`NPL_CLASSES`).
    pub npl: bool,
    /// With repayments: its repayment columns (`output::REPAY_COLUMNS`).
    pub repaid: Option<[Money; 8]>,
}

impl Contribution {
    /// A loan's figures; `SumOverflow` for an input amount beyond what a
    /// sum holds.
    /// `repayments`: the run has payments, so the row has repayment columns.
    pub fn of(
        loan: &Loan,
        f: &Figures,
        npl: &[bool],
        repayments: bool,
    ) -> Result<Contribution, SumOverflow> {
        let outstanding = match &f.repaid {
            Some(r) => r.outstanding,
            None => Money::round(loan.outstanding).ok_or(SumOverflow)?,
        };
        let repaid = repayments.then(|| match &f.repaid {
            Some(r) => crate::output::repay_figures(r),
            None => crate::output::repay_figures(&crate::repay::Repaid::none(loan, f)),
        });
        Ok(Contribution {
            principal: Money::round(loan.principal).ok_or(SumOverflow)?,
            outstanding,
            repaid,
            amounts: f.raw,
            total_raw: f.total_raw,
            total_capped: f.total_capped,
            excess: f.excess,
            provision: f.provision,
            written_off: f.status == Status::WrittenOff,
            days_overdue: f.days_overdue,
            unpaid: f.class.is_some(),
            npl: f.class.is_some_and(|c| npl[c]),
        })
    }
}

impl Tally {
    pub(crate) fn sum(&self, which: Sum) -> Money {
        self.sums.get(which as usize)
    }

    /// The raw amount of `component`, summed.
    fn amount(&self, component: Component) -> Money {
        self.sums.get(Sum::Amounts as usize + component as usize)
    }

    /// The repayment sums (zero in a run without payments).
    pub(crate) fn repaid(&self) -> [Money; 8] {
        self.repaid.as_deref().copied().unwrap_or_default()
    }

    /// Sets the repayment sums (kept only when one is not zero).
    pub(crate) fn set_repaid(&mut self, repaid: [Money; 8]) {
        self.repaid = repaid
            .iter()
            .any(|m| *m != Money::ZERO)
            .then(|| Box::new(repaid));
    }

    /// Adds one loan, which breaches the caps `breaches` (by index in the
    /// policy).
    pub fn add(
        &mut self,
        c: &Contribution,
        breaches: impl Iterator<Item = usize>,
        policy: &Policy,
    ) -> Result<(), SumOverflow> {
        self.loans += 1;
        let sums = &mut self.sums;
        sums.add(Sum::Principal as usize, c.principal)?;
        sums.add(Sum::Outstanding as usize, c.outstanding)?;
        for (i, value) in c.amounts.into_iter().enumerate() {
            sums.add(Sum::Amounts as usize + i, value)?;
        }
        sums.add(Sum::TotalRaw as usize, c.total_raw)?;
        sums.add(Sum::TotalCapped as usize, c.total_capped)?;
        sums.add(Sum::Excess as usize, c.excess)?;
        if self.breaches.len() < policy.caps.len() {
            self.breaches.resize(policy.caps.len(), 0);
        }
        let mut breached = false;
        for i in breaches {
            self.breaches[i] += 1;
            breached = true;
        }
        if breached {
            self.breached_loans += 1;
        }
        sums.add(Sum::Provision as usize, c.provision)?;
        if c.written_off {
            sums.add(Sum::WrittenOffPrincipal as usize, c.principal)?;
        }
        if c.days_overdue > 0 {
            self.overdue_loans += 1;
            self.days.add(c.days_overdue, 1);
        }
        if c.unpaid {
            sums.add(Sum::UnpaidOutstanding as usize, c.outstanding)?;
        }
        if c.npl {
            sums.add(Sum::NplOutstanding as usize, c.outstanding)?;
        }
        if let Some(repaid) = &c.repaid {
            let sums = self.repaid.get_or_insert_with(Default::default);
            for (sum, value) in sums.iter_mut().zip(repaid) {
                add(sum, *value)?;
            }
        }
        Ok(())
    }

    pub fn merge(&mut self, other: &Tally) -> Result<(), SumOverflow> {
        self.loans += other.loans;
        self.overdue_loans += other.overdue_loans;
        self.sums.merge(&other.sums)?;
        self.breached_loans += other.breached_loans;
        if self.breaches.len() < other.breaches.len() {
            self.breaches.resize(other.breaches.len(), 0);
        }
        for (sum, n) in self.breaches.iter_mut().zip(&other.breaches) {
            *sum += n;
        }
        self.days.merge(&other.days);
        if let Some(theirs) = &other.repaid {
            let sums = self.repaid.get_or_insert_with(Default::default);
            for (sum, value) in sums.iter_mut().zip(theirs.iter()) {
                add(sum, *value)?;
            }
        }
        Ok(())
    }

    /// Exact nearest-rank percentile of days_overdue over overdue loans.
    pub fn days_percentile(&self, p: u64) -> Option<i64> {
        let rank = (p * self.overdue_loans).div_ceil(100).max(1);
        let mut seen = 0;
        for (days, n) in self.days.iter() {
            seen += n;
            if seen >= rank {
                return Some(days);
            }
        }
        None
    }
}

/// A group key, encoded so that byte order is key order: each part is its
/// order (the policy's order for buckets, statuses and classes, 0 for text
/// keys) as 8 big-endian bytes, then its text, then a NUL (no key text
/// holds one: NUL bytes make an input row a reject). So keys sort as
/// SPEC.md says, and a row's key is built in a reused buffer and looked up
/// without allocating.
pub fn push_key_part(key: &mut Vec<u8>, order: usize, text: &str) {
    key.extend_from_slice(&(order as u64).to_be_bytes());
    key.extend_from_slice(text.as_bytes());
    key.push(0);
}

/// The texts of an encoded group key.
fn key_texts(mut key: &[u8]) -> Vec<String> {
    let mut texts = Vec::new();
    while key.len() > 8 {
        let text = &key[8..];
        let end = text.iter().position(|&b| b == 0).unwrap_or(text.len());
        texts.push(String::from_utf8_lossy(&text[..end]).into_owned());
        key = &text[(end + 1).min(text.len())..];
    }
    texts
}

/// Tallies by group.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    /// By encoded group key (`push_key_part`); `table` puts them in order.
    /// foldhash rather than SipHash: hashing the key of every row was 2% of
    /// a run; still seeded per process, so a crafted book cannot make the
    /// keys collide. Each tally is boxed: a table of a million groups then
    /// holds 24 bytes a slot (it keeps up to half its slots free), not a
    /// whole tally.
    pub groups: HashMap<Box<[u8]>, Box<Tally>, foldhash::fast::RandomState>,
    /// The key of the row being added.
    scratch: Vec<u8>,
}

impl PartialEq for Summary {
    fn eq(&self, other: &Summary) -> bool {
        self.groups == other.groups
    }
}

/// How to find each group key of a row.
#[derive(Debug, Clone)]
pub struct Grouping {
    pub keys: Vec<GroupKey>,
    /// For dimension keys, the index into `Loan::dimensions`.
    dimension_index: Vec<Option<usize>>,
    buckets: Vec<String>,
    /// Whether each of the policy's classes is non-performing.
    npl: Vec<bool>,
    /// The rows have repayment columns, summed too.
    pub repayments: bool,
}

/// Whether each of the policy's classes is non-performing.
pub fn npl_classes(policy: &Policy) -> Vec<bool> {
    policy
        .classes
        .iter()
        .map(|c| NPL_CLASSES.contains(&c.name.as_str()))
        .collect()
}

impl Grouping {
    pub fn new(keys: &[GroupKey], layout: &Layout, policy: &Policy, repayments: bool) -> Grouping {
        let keys = normalize_keys(keys);
        let dimension_index = keys
            .iter()
            .map(|k| {
                let col = match k {
                    GroupKey::Product => Col::Product,
                    GroupKey::AccountId => Col::AccountId,
                    GroupKey::Region => Col::Region,
                    _ => return None,
                };
                layout.dimensions.iter().position(|&c| c == col)
            })
            .collect();
        Grouping {
            keys,
            dimension_index,
            buckets: policy.bucket_labels(),
            npl: npl_classes(policy),
            repayments,
        }
    }

    pub fn names(&self) -> Vec<&'static str> {
        self.keys.iter().map(|k| k.name()).collect()
    }

    /// Writes the row's encoded group key into `key`.
    fn key(&self, key: &mut Vec<u8>, loan: &Loan, f: &Figures, policy: &Policy) {
        key.clear();
        for (group_key, dim) in self.keys.iter().zip(&self.dimension_index) {
            let (order, text) = match group_key {
                GroupKey::Currency => (0, loan.currency()),
                GroupKey::Product | GroupKey::AccountId | GroupKey::Region => {
                    (0, dim.map_or("", |i| loan.dimension(i)))
                }
                GroupKey::Bucket => (f.bucket, self.buckets[f.bucket].as_str()),
                GroupKey::Status => (f.status as usize, f.status.as_str()),
                GroupKey::Classification => match f.class {
                    Some(c) => (c, policy.classes[c].name.as_str()),
                    None => (policy.classes.len(), ""),
                },
            };
            push_key_part(key, order, text);
        }
    }
}

impl Summary {
    pub fn add(
        &mut self,
        grouping: &Grouping,
        loan: &Loan,
        f: &Figures,
        policy: &Policy,
    ) -> Result<(), SumOverflow> {
        let mut key = std::mem::take(&mut self.scratch);
        grouping.key(&mut key, loan, f, policy);
        let added = self.add_keyed(
            &key,
            &Contribution::of(loan, f, &grouping.npl, grouping.repayments)?,
            f.breaches(),
            policy,
        );
        self.scratch = key;
        added
    }

    /// Adds one loan to the group `key` (encoded, currency first).
    pub fn add_keyed(
        &mut self,
        key: &[u8],
        c: &Contribution,
        breaches: impl Iterator<Item = usize>,
        policy: &Policy,
    ) -> Result<(), SumOverflow> {
        match self.groups.get_mut(key) {
            Some(tally) => tally.add(c, breaches, policy),
            None => self
                .groups
                .entry(key.into())
                .or_default()
                .add(c, breaches, policy),
        }
    }

    pub fn merge(&mut self, other: &Summary) -> Result<(), SumOverflow> {
        for (key, tally) in &other.groups {
            match self.groups.get_mut(key) {
                Some(mine) => mine.merge(tally)?,
                None => {
                    self.groups.insert(key.clone(), tally.clone());
                }
            }
        }
        Ok(())
    }

    /// `merge`, taking `other`'s groups over instead of copying them.
    pub fn merge_owned(&mut self, other: Summary) -> Result<(), SumOverflow> {
        if self.groups.is_empty() {
            self.groups = other.groups;
            return Ok(());
        }
        for (key, tally) in other.groups {
            match self.groups.get_mut(&key) {
                Some(mine) => mine.merge(&tally)?,
                None => {
                    self.groups.insert(key, tally);
                }
            }
        }
        Ok(())
    }

    /// The header and rows of the summary table: each currency's groups in
    /// key order, then its total row (other keys `*`) with npl_ratio and
    /// coverage. Grouped by currency alone, the total row is the group row.
    /// With `repayments`, the sums of the repayment columns close each row.
    pub fn table(
        &self,
        key_names: &[&str],
        policy: &Policy,
        repayments: bool,
    ) -> Result<(Vec<String>, Vec<Vec<String>>), SumOverflow> {
        let mut rows = Vec::new();
        self.rows(key_names, policy, repayments, |row| {
            rows.push(row);
            Ok::<_, SumOverflow>(())
        })?;
        Ok((header(key_names, policy, repayments), rows))
    }

    /// The rows of `table`, one at a time, so that a summary of a million
    /// groups is written without holding its million rows of text.
    pub fn rows<E: From<SumOverflow>>(
        &self,
        key_names: &[&str],
        policy: &Policy,
        repayments: bool,
        mut each: impl FnMut(Vec<String>) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut groups: Vec<(&[u8], &Tally)> =
            self.groups.iter().map(|(k, t)| (&k[..], &**t)).collect();
        groups.sort_unstable_by(|a, b| a.0.cmp(b.0));
        let mut groups = groups.into_iter().peekable();
        while let Some((first_key, _)) = groups.peek() {
            // The currency part, order and NUL included, starts every key
            // of the currency.
            let prefix_len = 8 + first_key[8..].iter().position(|&b| b == 0).unwrap_or(0) + 1;
            let prefix = first_key[..prefix_len.min(first_key.len())].to_vec();
            let currency = key_texts(&prefix).remove(0);
            let mut total = Tally::default();
            while let Some((key, tally)) = groups.next_if(|(k, _)| k.starts_with(&prefix)) {
                total.merge(tally)?;
                if key_names.len() > 1 {
                    each(stat_row(key_texts(key), tally, policy, false, repayments))?;
                }
            }
            let mut keys = vec![currency];
            keys.resize(key_names.len(), "*".to_string());
            each(stat_row(keys, &total, policy, true, repayments))?;
        }
        Ok(())
    }
}

/// The header of the summary table (`Summary::table`).
pub fn header(key_names: &[&str], policy: &Policy, repayments: bool) -> Vec<String> {
    let mut header: Vec<String> = key_names.iter().map(|k| k.to_string()).collect();
    header.extend(
        [
            "loans",
            "overdue_loans",
            "principal",
            "outstanding",
            "interest",
            "penalty",
            "compound",
            "fees",
            "total_raw",
            "total_capped",
            "excess",
            "breached_loans",
        ]
        .map(String::from),
    );
    header.extend(policy.caps.iter().map(|c| format!("breaches_{}", c.name)));
    header.extend(
        [
            "provision",
            "written_off_principal",
            "days_p50",
            "days_p90",
            "days_p99",
            "days_max",
            "npl_ratio",
            "coverage",
        ]
        .map(String::from),
    );
    if repayments {
        header.extend(crate::output::REPAY_COLUMNS.map(String::from));
    }
    header
}

fn stat_row(
    mut row: Vec<String>,
    t: &Tally,
    policy: &Policy,
    is_total: bool,
    repayments: bool,
) -> Vec<String> {
    let money = |m: Money| money(m.decimal());
    let sum = |s: Sum| money(t.sum(s));
    let amount = |c: Component| money(t.amount(c));
    row.extend([
        t.loans.to_string(),
        t.overdue_loans.to_string(),
        sum(Sum::Principal),
        sum(Sum::Outstanding),
        amount(Component::Interest),
        amount(Component::Penalty),
        amount(Component::Compound),
        amount(Component::Fees),
        sum(Sum::TotalRaw),
        sum(Sum::TotalCapped),
        sum(Sum::Excess),
        t.breached_loans.to_string(),
    ]);
    row.extend((0..policy.caps.len()).map(|i| t.breaches.get(i).copied().unwrap_or(0).to_string()));
    let days = |d: Option<i64>| d.map_or_else(String::new, |d| d.to_string());
    let ratio = |num: Money, den: Money| match (is_total, den == Money::default()) {
        (true, false) => num
            .decimal()
            .checked_div(den.decimal())
            .map_or_else(String::new, ratio6),
        _ => String::new(),
    };
    row.extend([
        sum(Sum::Provision),
        sum(Sum::WrittenOffPrincipal),
        days(t.days_percentile(50)),
        days(t.days_percentile(90)),
        days(t.days_percentile(99)),
        days(t.days.max()),
        ratio(t.sum(Sum::NplOutstanding), t.sum(Sum::UnpaidOutstanding)),
        ratio(t.sum(Sum::Provision), t.sum(Sum::NplOutstanding)),
    ]);
    if repayments {
        row.extend(t.repaid().map(money));
    }
    row
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::money::MAX_CENTS;

    fn tally(days: &[i64]) -> Tally {
        let mut t = Tally::default();
        for &d in days {
            t.loans += 1;
            t.sums
                .add(
                    Sum::Principal as usize,
                    Money::new(i128::from(d) * 100).unwrap(),
                )
                .unwrap();
            if d > 0 {
                t.overdue_loans += 1;
                t.days.add(d, 1);
            }
        }
        t
    }

    #[test]
    fn days_counted_in_place_and_in_the_map_alike() {
        // Few distinct days stay in the map; many move to dense counts.
        let few = [1, 5, 5, 1023, 1024, 99_999, 3, 1024];
        let many: Vec<i64> = few
            .iter()
            .copied()
            .chain(100..140)
            .chain([1, 2000])
            .collect();
        for days in [&few[..], &many[..]] {
            let mut counted = Days::default();
            for &d in days {
                counted.add(d, 1);
            }
            let mut want: Vec<i64> = days.to_vec();
            want.sort();
            let flat: Vec<i64> = counted
                .iter()
                .flat_map(|(d, n)| std::iter::repeat_n(d, n as usize))
                .collect();
            assert_eq!(flat, want);
            assert_eq!(counted.max(), Some(99_999));
            assert_eq!(counted.many.is_none(), days.len() < 16);
            // Split anywhere, merged either way round: the same counts.
            for split in 0..=days.len() {
                let (left, right) = days.split_at(split);
                let tally = |part: &[i64]| {
                    let mut d = Days::default();
                    part.iter().for_each(|&x| d.add(x, 1));
                    d
                };
                let mut merged = tally(left);
                merged.merge(&tally(right));
                assert_eq!(merged, counted, "split at {split}");
                let mut merged = tally(right);
                merged.merge(&tally(left));
                assert_eq!(merged, counted, "split at {split}, reversed");
            }
        }
        assert_eq!(Days::default().max(), None);
        let mut small = Days::default();
        small.add(7, 2);
        assert_eq!(small.max(), Some(7));
    }

    #[test]
    fn nearest_rank_percentiles() {
        let t = tally(&[0, 5, 1, 3, 2, 4, 6, 7, 8, 9, 10]);
        assert_eq!(t.days_percentile(50), Some(5));
        assert_eq!(t.days_percentile(90), Some(9));
        assert_eq!(t.days_percentile(99), Some(10));
        let t = tally(&[7]);
        assert_eq!(
            (t.days_percentile(50), t.days_percentile(99)),
            (Some(7), Some(7))
        );
        let t = tally(&[0, 0]);
        assert_eq!(t.days_percentile(50), None);
        // 20 values 1..=20: p90 is rank 18.
        let t = tally(&(1..=20).collect::<Vec<_>>());
        assert_eq!(t.days_percentile(90), Some(18));
        assert_eq!(t.days_percentile(99), Some(20));
    }

    #[test]
    fn merge_into_empty_and_split_anywhere_equals_fold() {
        let all: Vec<i64> = vec![3, 0, 9, 9, 181, 45, 0, 1, 30, 31];
        let whole = tally(&all);
        for split in 0..=all.len() {
            let mut merged = Tally::default();
            merged.merge(&tally(&all[..split])).unwrap();
            merged.merge(&tally(&all[split..])).unwrap();
            assert_eq!(merged, whole, "split at {split}");
        }
        let mut empty_right = whole.clone();
        empty_right.merge(&Tally::default()).unwrap();
        assert_eq!(empty_right, whole);
    }

    #[test]
    fn breach_counts_merge_with_different_lengths() {
        let mut a = Tally::default();
        let b = Tally {
            breaches: smallvec::smallvec![1, 2],
            ..Tally::default()
        };
        a.merge(&b).unwrap();
        a.merge(&b).unwrap();
        assert_eq!(a.breaches.as_slice(), [2, 4]);
    }

    #[test]
    fn group_keys_parse_and_currency_comes_first() {
        let keys: Vec<GroupKey> = ["bucket", "product", "currency"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        assert_eq!(
            normalize_keys(&keys),
            [GroupKey::Currency, GroupKey::Bucket, GroupKey::Product]
        );
        assert!("colour".parse::<GroupKey>().unwrap_err().contains("colour"));
    }

    #[test]
    fn money_sums_are_exact_to_the_cent() {
        let mut sum = Money::default();
        for cents in [10, 20, 2_600_000, -30, 1234] {
            add(&mut sum, Money::new(cents).unwrap()).unwrap();
        }
        assert_eq!(sum.decimal().to_string(), "26012.34");
        // 27 digits and cents: a Decimal sum would keep them only while the
        // mantissa fits; the cents here stay exact up to MAX_CENTS.
        let mut big = Money::default();
        let half = Money::new(MAX_CENTS / 2).unwrap();
        add(&mut big, half).unwrap();
        add(&mut big, half).unwrap();
        assert_eq!(big.cents(), MAX_CENTS - 1);
        assert_eq!(add(&mut big, Money::new(2).unwrap()), Err(SumOverflow));
    }

    #[test]
    fn sums_widen_past_64_bits_and_stay_exact() {
        let mut t = Tally::default();
        let big = Money::new(i128::from(i64::MAX) - 5).unwrap();
        t.sums.add(Sum::Excess as usize, big).unwrap();
        t.sums
            .add(Sum::Principal as usize, Money::new(7).unwrap())
            .unwrap();
        assert!(t.sums.wide.is_none());
        t.sums
            .add(Sum::Excess as usize, Money::new(10).unwrap())
            .unwrap();
        assert!(t.sums.wide.is_some(), "past 2^63 cents: 128-bit sums");
        assert_eq!(t.sum(Sum::Excess).cents(), i128::from(i64::MAX) + 5);
        assert_eq!(t.sum(Sum::Principal).cents(), 7, "the others carried over");
        // A single amount past 64 bits widens too; equal figures compare
        // equal however they are stored.
        let mut u = Tally::default();
        u.sums
            .add(Sum::Principal as usize, Money::new(7).unwrap())
            .unwrap();
        u.sums
            .add(
                Sum::Excess as usize,
                Money::new(i128::from(i64::MAX) + 5).unwrap(),
            )
            .unwrap();
        assert_eq!(t, u);
        let mut merged = Tally::default();
        merged.merge(&t).unwrap();
        assert_eq!(merged, t);
    }

    /// The bytes a group costs (README, "Summary memory"): the boxed tally,
    /// its slot in the table and its key; a group with more than two
    /// distinct days overdue or more than two caps adds a small vector.
    #[test]
    fn a_tally_is_small() {
        assert_eq!(std::mem::size_of::<Tally>(), 216);
    }

    #[test]
    fn sums_beyond_decimal_range_are_an_error_not_a_panic() {
        let mut big = Tally::default();
        big.sums
            .add(Sum::Principal as usize, Money::new(MAX_CENTS).unwrap())
            .unwrap();
        let mut t = big.clone();
        assert_eq!(t.merge(&big), Err(SumOverflow));
        // Decimal::MAX has 0 decimals: 100 times too many cents to sum.
        assert_eq!(Money::round(rust_decimal::Decimal::MAX), None);
    }
}
