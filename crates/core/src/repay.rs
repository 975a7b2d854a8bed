//! Repayments (SPEC.md section 5): the arithmetic of one row with the
//! payments received on it. Pure: no I/O.
//!
//! Charges accrue on what is still unpaid, segment by segment between
//! payment dates. A segment's interest is (principal in it) x rate x days,
//! so a component's exact sum over segments is rate x (the sum over
//! segments of principal x days) / per: the row keeps that one integer sum
//! (cents x days, its principal-days) and rounds each component once from
//! it. With no payment it is principal x chargeable days, and every figure
//! is section 2's.

use chrono::NaiveDate;
use rust_decimal::Decimal;

use crate::compute::{self, Charged, DayRate, Exposure, Figures, Terms, OUT_OF_RANGE};
use crate::exact::Factor;
use crate::money::Money;
use crate::policy::{Component, Due, GraceMode, Policy};
use crate::record::Loan;

/// A row's payments of one day, summed: the date and the cents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Payment {
    pub date: NaiveDate,
    pub cents: i128,
}

/// What the payments did to one row: the results' repayment columns.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Repaid {
    /// Payments dated on or before as_of.
    pub repaid: Money,
    pub principal: Money,
    pub unpaid_interest: Money,
    /// Paid to interest, penalty, compound and fees.
    pub charges: Money,
    pub principal_due: Money,
    pub balance_due: Money,
    pub collected_over_cap: Money,
    pub overpaid: Money,
    /// The book's outstanding less the principal repaid, never below 0.
    pub outstanding: Money,
    /// The day a payment left every due at 0.
    pub settled_on: Option<NaiveDate>,
    /// Every step, for `explain`.
    pub trace: Option<Box<Trace>>,
}

/// How the figures of a row with payments were reached.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Trace {
    /// The accrual start: the (rolled) due date, plus grace_days under skip_grace.
    pub start: Option<NaiveDate>,
    pub segments: Vec<Segment>,
    pub steps: Vec<Step>,
    /// Sum over segments of principal x days, and of unpaid interest x days
    /// (in cents x days).
    pub principal_days: i128,
    pub unpaid_interest_days: i128,
}

/// Days charged on one balance.
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub days: i64,
    pub principal: Money,
    pub unpaid_interest: Money,
}

/// One day's payments and where they went.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub date: NaiveDate,
    pub amount: Money,
    /// The date the dues were valued at: the payment's, or `end` for a
    /// payment after it.
    pub valued_at: NaiveDate,
    /// Charges accrued to `valued_at`, by `Component`.
    pub accrued: [Money; 4],
    /// What was due before this payment, by `Due`.
    pub due: [Money; 6],
    /// What this payment paid, by `Due`.
    pub paid: [Money; 6],
    pub overpaid: Money,
    /// This payment left every due at 0.
    pub settles: bool,
    /// The row was settled by an earlier payment: all of it is overpaid.
    pub after_settlement: bool,
}

impl Repaid {
    /// The repayment columns of a row that received no payment.
    pub fn none(loan: &Loan, f: &Figures) -> Repaid {
        let principal = Money::of(loan.principal).unwrap_or(Money::ZERO);
        let unpaid = Money::of(loan.unpaid_interest).unwrap_or(Money::ZERO);
        let balance_due = match settled_by_paid_date(loan, f) {
            true => Money::ZERO,
            false => principal
                .checked_add(unpaid)
                .and_then(|m| m.checked_add(f.total_capped))
                .unwrap_or(Money::ZERO),
        };
        Repaid {
            principal_due: principal,
            balance_due,
            outstanding: Money::of(loan.outstanding).unwrap_or(Money::ZERO),
            ..Repaid::default()
        }
    }
}

/// The book says the row was repaid on or before the as-of date.
fn settled_by_paid_date(loan: &Loan, f: &Figures) -> bool {
    f.settled && loan.paid_date.is_some_and(|paid| paid >= f.end_date)
}

/// The principal-days and unpaid-interest-days run up segment by segment.
struct Accrual {
    start: NaiveDate,
    /// The first segment has not begun yet.
    opened: bool,
    /// Days still to add to the first segment (count_both_ends).
    extra: i64,
    count_both_ends: bool,
    last: NaiveDate,
    principal: i128,
    unpaid: i128,
    principal_days: i128,
    unpaid_days: i128,
    segments: Option<Vec<Segment>>,
}

impl Accrual {
    /// Runs the days up to `date` on the current balances; returns the sums
    /// from the accrual start. `at_payment`: at or before the accrual start
    /// a payment finds no day charged yet.
    fn to(&mut self, date: NaiveDate, at_payment: bool) -> Result<(i128, i128), &'static str> {
        if date < self.start || (date == self.start && at_payment) {
            return Ok((0, 0));
        }
        if !self.opened {
            self.opened = true;
            self.extra = i64::from(self.count_both_ends);
            self.last = self.start;
        }
        let days = (date - self.last).num_days() + self.extra;
        if days > 0 {
            let add = |sum: i128, balance: i128| {
                balance
                    .checked_mul(i128::from(days))
                    .and_then(|x| sum.checked_add(x))
                    .ok_or(OUT_OF_RANGE)
            };
            self.principal_days = add(self.principal_days, self.principal)?;
            self.unpaid_days = add(self.unpaid_days, self.unpaid)?;
            if let Some(segments) = self.segments.as_mut() {
                segments.push(Segment {
                    from: self.last,
                    to: date,
                    days,
                    principal: Money::new(self.principal).unwrap_or(Money::ZERO),
                    unpaid_interest: Money::new(self.unpaid).unwrap_or(Money::ZERO),
                });
            }
            self.last = date;
            self.extra = 0;
        }
        Ok((self.principal_days, self.unpaid_days))
    }
}

/// `rate x (cents x days) / per`, rounded once to cents.
fn accrue(rate: DayRate, cent_days: i128, policy: &Policy) -> Result<i128, &'static str> {
    let terms = Terms::new(
        &[Factor::new(cent_days, 2), rate.numerator.into()],
        &[Factor::int(rate.per.into())],
    );
    terms.cents(policy).map(Money::cents).ok_or(OUT_OF_RANGE)
}

/// The charges accrued to a date whose chargeable days are `chargeable`,
/// by `Component`.
fn accrued(
    policy: &Policy,
    rates: (DayRate, DayRate),
    sums: (i128, i128),
    chargeable: i64,
    fees: i128,
) -> Result<[i128; 4], &'static str> {
    let mut amounts = [0i128; 4];
    if chargeable == 0 {
        return Ok(amounts);
    }
    let (contract, penalty) = rates;
    if policy.contract_interest {
        amounts[Component::Interest as usize] = accrue(contract, sums.0, policy)?;
    }
    if policy.penalty {
        amounts[Component::Penalty as usize] = accrue(penalty, sums.0, policy)?;
    }
    if policy.compound {
        amounts[Component::Compound as usize] = accrue(penalty, sums.1, policy)?;
    }
    amounts[Component::Fees as usize] = fees;
    Ok(amounts)
}

fn money(cents: i128) -> Result<Money, &'static str> {
    Money::new(cents).ok_or(OUT_OF_RANGE)
}

/// Computes every figure of a row valued at `as_of` with its payments
/// (one per date, in date order, none after as_of); with `trace`, keeps
/// every segment and step for `explain`.
pub fn compute(
    loan: &Loan,
    policy: &Policy,
    as_of: NaiveDate,
    payments: &[Payment],
    trace: bool,
) -> Result<Figures, &'static str> {
    let due_date = compute::due_date(loan, policy);
    let start = match policy.grace_mode {
        GraceMode::ChargeAll => due_date,
        GraceMode::SkipGrace => due_date
            .checked_add_days(chrono::Days::new(policy.grace_days.into()))
            .unwrap_or(NaiveDate::MAX),
    };
    let contract = DayRate::contract(loan, policy);
    let penalty_rate = DayRate::penalty(loan, policy, contract).ok_or(OUT_OF_RANGE)?;
    let cents = |d: Decimal| Money::of(d).map(Money::cents).ok_or(OUT_OF_RANGE);
    let (principal, unpaid, fees) = (
        cents(loan.principal)?,
        cents(loan.unpaid_interest)?,
        cents(loan.fees)?,
    );
    let paid_date = loan.paid_date.filter(|&paid| paid <= as_of);
    // The latest date anything accrues to.
    let limit = paid_date.unwrap_or(as_of);
    let mut accrual = Accrual {
        start,
        opened: false,
        extra: 0,
        count_both_ends: policy.count_both_ends,
        last: start,
        principal,
        unpaid,
        principal_days: 0,
        unpaid_days: 0,
        segments: trace.then(Vec::new),
    };
    let rates = (contract, penalty_rate);
    let mut paid = [0i128; 6];
    let (mut repaid, mut overpaid) = (0i128, 0i128);
    let mut settled_on = None;
    let mut steps = Vec::new();
    for payment in payments.iter().filter(|p| p.date <= as_of) {
        repaid = repaid.checked_add(payment.cents).ok_or(OUT_OF_RANGE)?;
        if settled_on.is_some() {
            overpaid = overpaid.checked_add(payment.cents).ok_or(OUT_OF_RANGE)?;
            if trace {
                steps.push(Step {
                    date: payment.date,
                    amount: money(payment.cents)?,
                    valued_at: payment.date,
                    accrued: [Money::ZERO; 4],
                    due: [Money::ZERO; 6],
                    paid: [Money::ZERO; 6],
                    overpaid: money(payment.cents)?,
                    settles: false,
                    after_settlement: true,
                });
            }
            continue;
        }
        let after_end = payment.date > limit;
        let at = payment.date.min(limit);
        let sums = accrual.to(at, !after_end)?;
        let (_, chargeable) = compute::day_counts(policy, due_date, at);
        let charges = accrued(policy, rates, sums, chargeable, fees)?;
        let mut due = [0i128; 6];
        for d in Due::ALL {
            let owed = match d.component() {
                Some(c) => charges[c as usize],
                None if d == Due::UnpaidInterest => unpaid,
                None => principal,
            };
            due[d as usize] = (owed - paid[d as usize]).max(0);
        }
        let mut left = payment.cents;
        let mut pays = [0i128; 6];
        for &d in &policy.allocation {
            let x = left.min(due[d as usize]);
            pays[d as usize] = x;
            paid[d as usize] += x;
            left -= x;
        }
        overpaid = overpaid.checked_add(left).ok_or(OUT_OF_RANGE)?;
        accrual.principal = principal - paid[Due::Principal as usize];
        accrual.unpaid = unpaid - paid[Due::UnpaidInterest as usize];
        let settles = !after_end
            && Due::ALL
                .iter()
                .all(|&d| due[d as usize] == pays[d as usize]);
        if settles {
            settled_on = Some(payment.date);
        }
        if trace {
            let to_money = |a: &[i128]| -> Result<Vec<Money>, &'static str> {
                a.iter().map(|&c| money(c)).collect()
            };
            let four = |v: Vec<Money>| -> [Money; 4] { [v[0], v[1], v[2], v[3]] };
            let six = |v: Vec<Money>| -> [Money; 6] { [v[0], v[1], v[2], v[3], v[4], v[5]] };
            steps.push(Step {
                date: payment.date,
                amount: money(payment.cents)?,
                valued_at: at,
                accrued: four(to_money(&charges)?),
                due: six(to_money(&due)?),
                paid: six(to_money(&pays)?),
                overpaid: money(left)?,
                settles,
                after_settlement: false,
            });
        }
    }

    let end_date = settled_on.unwrap_or(limit);
    let settled = settled_on.is_some() || paid_date.is_some();
    let (days_overdue, chargeable_days) = compute::day_counts(policy, due_date, end_date);
    let sums = accrual.to(end_date, false)?;
    let sums = if chargeable_days == 0 { (0, 0) } else { sums };
    let charges = accrued(policy, rates, sums, chargeable_days, fees)?;
    let mut raw = [Money::ZERO; 4];
    for (amount, cents) in raw.iter_mut().zip(charges) {
        *amount = money(cents)?;
    }
    let repaid_principal = paid[Due::Principal as usize];
    let outstanding = (cents(loan.outstanding)? - repaid_principal).max(0);
    let mut f = compute::finish(
        loan,
        policy,
        Charged {
            due_date,
            end_date,
            settled,
            days_overdue,
            chargeable_days,
            contract,
            penalty_rate,
            raw,
            exposure: Exposure::PrincipalDays(sums.0),
            outstanding: Money::new(outstanding).ok_or(OUT_OF_RANGE)?.decimal(),
        },
    )?;
    let charges_paid: i128 = Due::ALL
        .iter()
        .filter(|d| d.component().is_some())
        .map(|&d| paid[d as usize])
        .sum();
    let principal_due = principal - repaid_principal;
    let unpaid_due = unpaid - paid[Due::UnpaidInterest as usize];
    let capped = f.total_capped.cents();
    let balance_due = match paid_date {
        Some(_) => 0,
        None => principal_due + unpaid_due + (capped - charges_paid).max(0),
    };
    f.repaid = Some(Box::new(Repaid {
        repaid: money(repaid)?,
        principal: money(repaid_principal)?,
        unpaid_interest: money(paid[Due::UnpaidInterest as usize])?,
        charges: money(charges_paid)?,
        principal_due: money(principal_due)?,
        balance_due: money(balance_due)?,
        collected_over_cap: money((charges_paid - capped).max(0))?,
        overpaid: money(overpaid)?,
        outstanding: money(outstanding)?,
        settled_on,
        trace: trace.then(|| {
            Box::new(Trace {
                start: Some(start),
                segments: accrual.segments.take().unwrap_or_default(),
                steps,
                principal_days: sums.0,
                unpaid_interest_days: sums.1,
            })
        }),
    }));
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{ContractRate, LoanText};

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    fn date(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn m(s: &str) -> Money {
        Money::of(d(s)).unwrap()
    }

    fn policy(extra: &str) -> Policy {
        Policy::from_toml(extra, "test").unwrap()
    }

    fn loan(principal: &str, due: &str) -> Loan<'static> {
        Loan {
            text: LoanText::new("L", [], *b"CNY"),
            principal: d(principal),
            due_date: date(due),
            rate: ContractRate::Daily(d("0.001")),
            paid_date: None,
            contract_date: None,
            penalty_rate: Some(d("0.001")),
            unpaid_interest: Decimal::ZERO,
            fees: Decimal::ZERO,
            outstanding: d(principal),
        }
    }

    fn pay(day: &str, amount: &str) -> Payment {
        Payment {
            date: date(day),
            cents: m(amount).cents(),
        }
    }

    /// Without payments, every figure is section 2's, whatever the policy.
    #[test]
    fn no_payment_is_section_two() {
        let policies = [
            "",
            "grace_days = 5\ncontract_interest = true",
            "grace_days = 5\ngrace_mode = \"skip_grace\"\ncount_both_ends = true",
            "rounding = \"half_even\"\nyear_days = 365",
            "count_both_ends = true\n[[caps]]\nname = \"d\"\nkind = \"daily_rate\"\nrate = \"0.0003\"\n[[caps]]\nname = \"p\"\nkind = \"principal_ratio\"\nratio = \"0.01\"",
        ];
        for text in policies {
            let p = policy(text);
            for (days, paid) in [
                (0, None),
                (3, None),
                (5, None),
                (6, None),
                (40, Some(20)),
                (400, None),
            ] {
                let mut l = loan("12345.67", "2025-01-01");
                l.unpaid_interest = d("321.09");
                l.fees = d("15");
                l.rate = ContractRate::Annual(d("0.1825"));
                l.paid_date = paid.map(|p| date("2025-01-01") + chrono::Days::new(p));
                let as_of = date("2025-01-01") + chrono::Days::new(days);
                let plain = compute::compute(&l, &p, as_of).unwrap();
                let mut repaid = compute(&l, &p, as_of, &[], true).unwrap();
                let r = repaid.repaid.take().unwrap();
                assert_eq!(repaid, plain, "{text:?} {days} days");
                assert_eq!(r.principal_due, m("12345.67"));
                assert_eq!(r.outstanding, m("12345.67"));
            }
        }
    }

    /// README's worked example (testdata/repay_segments, row C-same-date).
    #[test]
    fn worked_example() {
        let p = policy("caps = []\npenalty_multiplier = 1");
        let mut l = loan("1000", "2025-03-01");
        l.unpaid_interest = d("100");
        let f = compute(&l, &p, date("2025-03-31"), &[pay("2025-03-11", "50")], true).unwrap();
        assert_eq!(f.amount(Component::Penalty), m("30.00"));
        assert_eq!(f.amount(Component::Compound), m("2.22"));
        let r = f.repaid.as_ref().unwrap();
        assert_eq!(
            (r.principal, r.unpaid_interest, r.charges, r.overpaid),
            (m("0"), m("39"), m("11"), m("0"))
        );
        assert_eq!(r.balance_due, m("1082.22"));
        assert_eq!(f.annualized_rate, Some(d("0.392010")));
        let t = r.trace.as_ref().unwrap();
        assert_eq!(t.segments.len(), 2);
        assert_eq!(
            (t.principal_days, t.unpaid_interest_days),
            (3_000_000, 222_000)
        );
    }

    #[test]
    fn settling_and_overpaying() {
        let p = policy("caps = []\npenalty_multiplier = 1");
        let l = loan("200", "2025-03-01");
        let payments = [pay("2025-03-06", "201"), pay("2025-03-20", "50")];
        let f = compute(&l, &p, date("2025-03-31"), &payments, false).unwrap();
        let r = f.repaid.as_ref().unwrap();
        assert_eq!(r.settled_on, Some(date("2025-03-06")));
        assert_eq!(
            (f.end_date, f.days_overdue, f.status),
            (date("2025-03-06"), 5, crate::compute::Status::SettledLate)
        );
        assert_eq!(
            (r.repaid, r.charges, r.overpaid, r.balance_due),
            (m("251"), m("1"), m("50"), m("0"))
        );
        assert_eq!((f.class, f.provision), (None, Money::ZERO));
    }

    #[test]
    fn payments_after_a_paid_date_pay_the_dues_as_they_stand_then() {
        let p = policy("caps = []\npenalty_multiplier = 1");
        let mut l = loan("1000", "2025-03-01");
        l.paid_date = Some(date("2025-03-21"));
        let payments = [pay("2025-03-11", "300"), pay("2025-03-25", "100")];
        let f = compute(&l, &p, date("2025-03-31"), &payments, false).unwrap();
        let r = f.repaid.as_ref().unwrap();
        // 1,000 x 10 days + 710 x 10 days = 17,100 principal-days.
        assert_eq!(f.amount(Component::Penalty), m("17.10"));
        assert_eq!((r.principal, r.charges), (m("382.90"), m("17.10")));
        assert_eq!(
            (r.principal_due, r.balance_due, r.outstanding),
            (m("617.10"), m("0"), m("617.10"))
        );
    }
}
