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

/// Running totals of one group.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tally {
    pub loans: u64,
    pub overdue_loans: u64,
    pub principal: Money,
    pub outstanding: Money,
    pub amounts: [Money; 4],
    pub total_raw: Money,
    pub total_capped: Money,
    pub excess: Money,
    pub breached_loans: u64,
    /// Loans breaching each cap, in policy order.
    pub breaches: Vec<u64>,
    pub provision: Money,
    pub written_off_principal: Money,
    /// How many loans have each days_overdue, for loans with
    /// days_overdue > 0.
    pub days: Days,
    pub unpaid_outstanding: Money,
    pub npl_outstanding: Money,
    /// With repayments: the sums of the results' repayment columns
    /// (`output::REPAY_COLUMNS` order).
    pub repaid: [Money; 8],
}

/// How many loans have each number of days overdue: in a map while a group
/// has few distinct days (most groups, when grouped by account), counted in
/// place for the first `DENSE_DAYS` days once it has many (one add per
/// loan, no search).
#[derive(Debug, Clone, Default)]
pub struct Days {
    /// Indexed by days; empty until the group has `DENSIFY_AT` distinct
    /// days, then `DENSE_DAYS` long.
    dense: Vec<u64>,
    /// The other days: all of them while `dense` is empty, else those past
    /// `DENSE_DAYS`.
    sparse: BTreeMap<i64, u64>,
}

const DENSE_DAYS: usize = 1024;
const DENSIFY_AT: usize = 16;

impl Days {
    pub fn add(&mut self, days: i64, n: u64) {
        match usize::try_from(days)
            .ok()
            .and_then(|d| self.dense.get_mut(d))
        {
            Some(count) => *count += n,
            None => {
                *self.sparse.entry(days).or_default() += n;
                if self.dense.is_empty() && self.sparse.len() >= DENSIFY_AT {
                    self.densify();
                }
            }
        }
    }

    /// Moves the days below `DENSE_DAYS` into the dense counts.
    fn densify(&mut self) {
        self.dense = vec![0; DENSE_DAYS];
        let high = self.sparse.split_off(&(DENSE_DAYS as i64));
        for (days, n) in std::mem::replace(&mut self.sparse, high) {
            self.dense[days as usize] += n;
        }
    }

    pub fn merge(&mut self, other: &Days) {
        if self.dense.is_empty() && !other.dense.is_empty() {
            self.densify();
        }
        for (mine, n) in self.dense.iter_mut().zip(&other.dense) {
            *mine += n;
        }
        for (&days, &n) in &other.sparse {
            self.add(days, n);
        }
    }

    /// `(days, loans)` in ascending days, days with loans only.
    pub fn iter(&self) -> impl Iterator<Item = (i64, u64)> + '_ {
        let dense = self.dense.iter().enumerate();
        dense
            .filter(|(_, &n)| n > 0)
            .map(|(d, &n)| (d as i64, n))
            .chain(self.sparse.iter().map(|(&d, &n)| (d, n)))
    }

    pub fn max(&self) -> Option<i64> {
        self.sparse
            .keys()
            .next_back()
            .copied()
            .or_else(|| self.dense.iter().rposition(|&n| n > 0).map(|d| d as i64))
    }
}

/// Equal counts, however the dense part grew.
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
    /// Adds one loan, which breaches the caps `breaches` (by index in the
    /// policy).
    pub fn add(
        &mut self,
        c: &Contribution,
        breaches: impl Iterator<Item = usize>,
        policy: &Policy,
    ) -> Result<(), SumOverflow> {
        self.loans += 1;
        add(&mut self.principal, c.principal)?;
        add(&mut self.outstanding, c.outstanding)?;
        for (sum, value) in self.amounts.iter_mut().zip(c.amounts) {
            add(sum, value)?;
        }
        add(&mut self.total_raw, c.total_raw)?;
        add(&mut self.total_capped, c.total_capped)?;
        add(&mut self.excess, c.excess)?;
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
        add(&mut self.provision, c.provision)?;
        if c.written_off {
            add(&mut self.written_off_principal, c.principal)?;
        }
        if c.days_overdue > 0 {
            self.overdue_loans += 1;
            self.days.add(c.days_overdue, 1);
        }
        if c.unpaid {
            add(&mut self.unpaid_outstanding, c.outstanding)?;
        }
        if c.npl {
            add(&mut self.npl_outstanding, c.outstanding)?;
        }
        if let Some(repaid) = &c.repaid {
            for (sum, value) in self.repaid.iter_mut().zip(repaid) {
                add(sum, *value)?;
            }
        }
        Ok(())
    }

    pub fn merge(&mut self, other: &Tally) -> Result<(), SumOverflow> {
        self.loans += other.loans;
        self.overdue_loans += other.overdue_loans;
        add(&mut self.principal, other.principal)?;
        add(&mut self.outstanding, other.outstanding)?;
        for (sum, value) in self.amounts.iter_mut().zip(other.amounts) {
            add(sum, value)?;
        }
        add(&mut self.total_raw, other.total_raw)?;
        add(&mut self.total_capped, other.total_capped)?;
        add(&mut self.excess, other.excess)?;
        self.breached_loans += other.breached_loans;
        if self.breaches.len() < other.breaches.len() {
            self.breaches.resize(other.breaches.len(), 0);
        }
        for (sum, n) in self.breaches.iter_mut().zip(&other.breaches) {
            *sum += n;
        }
        add(&mut self.provision, other.provision)?;
        add(&mut self.written_off_principal, other.written_off_principal)?;
        self.days.merge(&other.days);
        add(&mut self.unpaid_outstanding, other.unpaid_outstanding)?;
        add(&mut self.npl_outstanding, other.npl_outstanding)?;
        for (sum, value) in self.repaid.iter_mut().zip(other.repaid) {
            add(sum, value)?;
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
    /// keys collide.
    pub groups: HashMap<Vec<u8>, Tally, foldhash::fast::RandomState>,
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
                .entry(key.to_vec())
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

        let mut rows = Vec::new();
        let mut groups: Vec<(&Vec<u8>, &Tally)> = self.groups.iter().collect();
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
                    rows.push(stat_row(key_texts(key), tally, policy, false, repayments));
                }
            }
            let mut keys = vec![currency];
            keys.resize(key_names.len(), "*".to_string());
            rows.push(stat_row(keys, &total, policy, true, repayments));
        }
        Ok((header, rows))
    }
}

fn stat_row(
    mut row: Vec<String>,
    t: &Tally,
    policy: &Policy,
    is_total: bool,
    repayments: bool,
) -> Vec<String> {
    let money = |m: Money| money(m.decimal());
    let amount = |c: Component| money(t.amounts[c as usize]);
    row.extend([
        t.loans.to_string(),
        t.overdue_loans.to_string(),
        money(t.principal),
        money(t.outstanding),
        amount(Component::Interest),
        amount(Component::Penalty),
        amount(Component::Compound),
        amount(Component::Fees),
        money(t.total_raw),
        money(t.total_capped),
        money(t.excess),
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
        money(t.provision),
        money(t.written_off_principal),
        days(t.days_percentile(50)),
        days(t.days_percentile(90)),
        days(t.days_percentile(99)),
        days(t.days.max()),
        ratio(t.npl_outstanding, t.unpaid_outstanding),
        ratio(t.provision, t.npl_outstanding),
    ]);
    if repayments {
        row.extend(t.repaid.map(money));
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
            add(&mut t.principal, Money::new(i128::from(d) * 100).unwrap()).unwrap();
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
            assert_eq!(counted.dense.is_empty(), days.len() < 16);
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
            breaches: vec![1, 2],
            ..Tally::default()
        };
        a.merge(&b).unwrap();
        a.merge(&b).unwrap();
        assert_eq!(a.breaches, vec![2, 4]);
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
    fn sums_beyond_decimal_range_are_an_error_not_a_panic() {
        let mut big = Tally::default();
        add(&mut big.principal, Money::new(MAX_CENTS).unwrap()).unwrap();
        let mut t = big.clone();
        assert_eq!(t.merge(&big), Err(SumOverflow));
        // Decimal::MAX has 0 decimals: 100 times too many cents to sum.
        assert_eq!(Money::round(rust_decimal::Decimal::MAX), None);
    }
}
