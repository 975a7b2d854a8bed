//! The arithmetic of one record (SPEC.md section 2): days, charges, caps,
//! status, bucket, class and provision. Pure: no I/O, no allocation beyond
//! the result.
//!
//! Every amount is computed exactly and rounded once. A rate is kept as a
//! fraction `numerator / per` (per = 1, or year_days for an annual rate) so
//! that multiplication comes first and the division last.

use chrono::NaiveDate;
use rust_decimal::Decimal;

use crate::exact::{self, Factor};
use crate::money::Money;
use crate::policy::{Component, GraceMode, Limit, Policy, Roll, Rounding};
use crate::record::{ContractRate, Loan};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Status {
    Current,
    Grace,
    SettledLate,
    WrittenOff,
    Overdue,
}

impl Status {
    pub const ALL: [Status; 5] = [
        Status::Current,
        Status::Grace,
        Status::SettledLate,
        Status::WrittenOff,
        Status::Overdue,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Current => "current",
            Status::Grace => "grace",
            Status::SettledLate => "settled_late",
            Status::WrittenOff => "written_off",
            Status::Overdue => "overdue",
        }
    }
}

/// Charge amounts indexed by `Component as usize` (fees, compound, penalty,
/// interest).
pub type Amounts = [Money; 4];

/// One cap judged on one record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CapCheck {
    /// The limit, rounded down to the cent whatever the policy's rounding:
    /// a cap is a legal maximum, which a charge in whole cents may reach
    /// but never pass by a rounding (SPEC.md section 2, Caps).
    pub limit: Money,
    /// The raw (uncapped) sum of the cap's components.
    pub charged: Money,
    /// What this cap took off the running amounts.
    pub cut: Money,
}

impl CapCheck {
    pub fn breached(&self) -> bool {
        self.charged > self.limit
    }

    /// How far the raw amounts exceed the limit (0 when not breached).
    pub fn excess(&self) -> Money {
        match self.charged.checked_sub(self.limit) {
            Some(excess) if excess.is_positive() => excess,
            _ => Money::ZERO,
        }
    }
}

/// Every computed figure of one record.
#[derive(Debug, Clone, PartialEq)]
pub struct Figures {
    /// The due date days count from: the contractual one, rolled to the
    /// next working day when the policy says so.
    pub due_date: NaiveDate,
    pub end_date: NaiveDate,
    pub settled: bool,
    pub days_overdue: i64,
    pub chargeable_days: i64,
    /// Contract and penalty daily rates, rounded half-up to 10 decimals
    /// (as every output shows them).
    pub daily_rate: Decimal,
    pub penalty_daily_rate: Decimal,
    /// Rounded amounts before caps.
    pub raw: Amounts,
    /// Amounts after every cap.
    pub capped: Amounts,
    pub total_raw: Money,
    pub total_capped: Money,
    pub excess: Money,
    /// One check per policy cap, in policy order.
    /// Inline for up to 4 caps: no allocation per row.
    pub caps: smallvec::SmallVec<[CapCheck; 4]>,
    /// Index of the last cap that reduced anything.
    pub binding_cap: Option<usize>,
    pub annualized_rate: Option<Decimal>,
    pub status: Status,
    pub bucket: usize,
    /// Index into `policy.classes`; `None` for settled rows.
    pub class: Option<usize>,
    pub provision: Money,
    /// With repayments (SPEC.md section 5) and a payment on the row: what
    /// the payments did. `None` without one.
    pub repaid: Option<Box<crate::repay::Repaid>>,
}

impl Figures {
    pub fn amount(&self, c: Component) -> Money {
        self.raw[c as usize]
    }

    /// Indices of the caps the raw amounts breach, in policy order.
    pub fn breaches(&self) -> impl Iterator<Item = usize> + '_ {
        self.caps
            .iter()
            .enumerate()
            .filter(|(_, c)| c.breached())
            .map(|(i, _)| i)
    }

    pub fn breached(&self) -> bool {
        self.caps.iter().any(CapCheck::breached)
    }
}

/// A daily rate as the exact fraction `numerator / per`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DayRate {
    pub numerator: Decimal,
    pub per: u32,
}

impl DayRate {
    /// The contract daily rate: the daily rate as given, or the annual rate
    /// over the policy's year.
    pub fn contract(loan: &Loan, policy: &Policy) -> DayRate {
        match loan.rate {
            ContractRate::Daily(rate) => DayRate {
                numerator: rate,
                per: 1,
            },
            ContractRate::Annual(rate) => DayRate {
                numerator: rate,
                per: policy.year_days,
            },
        }
    }

    /// The penalty daily rate: the row's penalty_rate, or the policy's
    /// multiplier times the contract rate.
    pub fn penalty(loan: &Loan, policy: &Policy, contract: DayRate) -> Option<DayRate> {
        Some(match loan.penalty_rate {
            Some(rate) => DayRate {
                numerator: rate,
                per: 1,
            },
            None => DayRate {
                numerator: policy.penalty_multiplier.checked_mul(contract.numerator)?,
                per: contract.per,
            },
        })
    }

    /// The rate as a decimal, rounded half-up to 10 places as every output
    /// shows it.
    pub fn value(self) -> Option<Decimal> {
        Terms::new(&[self.numerator.into()], &[Factor::int(self.per.into())])
            .round(10, Rounding::HalfUp)
    }

    /// `base x rate x days`, multiplied first, divided last.
    pub fn charge(self, base: Decimal, days: i64) -> Terms {
        let days = Factor::int(days.unsigned_abs());
        Terms::new(
            &[base.into(), self.numerator.into(), days],
            &[Factor::int(self.per.into())],
        )
    }
}

/// A figure as a product of factors over a product of divisors, so that it
/// is rounded once, from its exact value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Terms {
    num: [Factor; 4],
    den: [Factor; 2],
    /// How many of `num` and `den` are given (the rest are 1).
    counts: (u8, u8),
}

impl Terms {
    /// Up to 4 factors over up to 2 divisors.
    #[inline]
    pub fn new(num: &[Factor], den: &[Factor]) -> Terms {
        let mut terms = Terms {
            num: [Factor::ONE; 4],
            den: [Factor::ONE; 2],
            counts: (num.len() as u8, den.len() as u8),
        };
        terms.num[..num.len()].copy_from_slice(num);
        terms.den[..den.len()].copy_from_slice(den);
        terms
    }

    /// The factors given, without the padding ones.
    fn factors(&self) -> (&[Factor], &[Factor]) {
        (
            &self.num[..usize::from(self.counts.0)],
            &self.den[..usize::from(self.counts.1)],
        )
    }

    /// The value through `Decimal`'s own steps (28 significant digits), as
    /// explanations show it.
    pub fn value(&self) -> Option<Decimal> {
        let product = self
            .num
            .iter()
            .try_fold(Decimal::ONE, |p, f| p.checked_mul(f.decimal()))?;
        self.den
            .iter()
            .try_fold(product, |q, f| q.checked_div(f.decimal()))
    }

    /// Rounded once to `places`, exactly, whatever the digits.
    pub fn round(&self, places: u32, rule: Rounding) -> Option<Decimal> {
        let (num, den) = self.factors();
        exact::round(num, den, places, rule)
    }

    /// Rounded once to cents by the policy's rule.
    pub fn cents(&self, policy: &Policy) -> Option<Money> {
        self.cents_by(policy.rounding)
    }

    /// Rounded once to cents by `rule`.
    pub fn cents_by(&self, rule: Rounding) -> Option<Money> {
        let (num, den) = self.factors();
        Money::new(exact::units(num, den, 2, rule)?)
    }
}

/// The reason a row's amounts cannot be computed (beyond Decimal's range).
pub const OUT_OF_RANGE: &str = "amounts out of range: too large to compute exactly";

/// The due date days count from: the contractual one, rolled to the next
/// working day when the policy says so.
pub fn due_date(loan: &Loan, policy: &Policy) -> NaiveDate {
    match policy.due_date_roll {
        Roll::None => loan.due_date,
        Roll::NextBusinessDay => policy.calendar.next_working_day(loan.due_date),
    }
}

/// Days overdue and chargeable days of a row due on `due_date` (rolled)
/// and valued to `end` (SPEC.md section 2).
#[inline]
pub fn day_counts(policy: &Policy, due_date: NaiveDate, end: NaiveDate) -> (i64, i64) {
    let elapsed = (end - due_date).num_days();
    let days_overdue = match elapsed {
        d if d <= 0 => 0,
        d if policy.count_both_ends => d + 1,
        d => d,
    };
    let grace = i64::from(policy.grace_days);
    let chargeable_days = match policy.grace_mode {
        _ if days_overdue <= grace => 0,
        GraceMode::ChargeAll => days_overdue,
        GraceMode::SkipGrace => days_overdue - grace,
    };
    (days_overdue, chargeable_days)
}

/// What limits that run with days, and the annualized rate, run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exposure {
    /// principal x chargeable days (SPEC.md section 2).
    Days,
    /// The sum over segments of principal x days, in cents x days
    /// (section 5: a row with payments).
    PrincipalDays(i128),
}

/// A row's days and raw charges, before caps and classification.
pub struct Charged {
    pub due_date: NaiveDate,
    pub end_date: NaiveDate,
    pub settled: bool,
    pub days_overdue: i64,
    pub chargeable_days: i64,
    pub contract: DayRate,
    pub penalty_rate: DayRate,
    pub raw: Amounts,
    pub exposure: Exposure,
    /// The provision base.
    pub outstanding: Decimal,
}

/// Computes every figure of one loan valued at `as_of`.
pub fn compute(loan: &Loan, policy: &Policy, as_of: NaiveDate) -> Result<Figures, &'static str> {
    let settled = loan.paid_date.is_some_and(|paid| paid <= as_of);
    let end_date = if settled {
        loan.paid_date.unwrap_or(as_of)
    } else {
        as_of
    };
    let due_date = due_date(loan, policy);
    let (days_overdue, chargeable_days) = day_counts(policy, due_date, end_date);

    let contract = DayRate::contract(loan, policy);
    let penalty_rate = DayRate::penalty(loan, policy, contract).ok_or(OUT_OF_RANGE)?;

    // From here on the amounts are whole cents: the caps' arithmetic is
    // integer arithmetic, exact and cheap.
    let days = chargeable_days;
    let mut raw = [Money::ZERO; 4];
    if days > 0 {
        let charge = |on: bool, rate: DayRate, base: Decimal| match on {
            true => rate.charge(base, days).cents(policy).ok_or(OUT_OF_RANGE),
            false => Ok(Money::ZERO),
        };
        raw[Component::Interest as usize] =
            charge(policy.contract_interest, contract, loan.principal)?;
        raw[Component::Penalty as usize] = charge(policy.penalty, penalty_rate, loan.principal)?;
        raw[Component::Compound as usize] =
            charge(policy.compound, penalty_rate, loan.unpaid_interest)?;
        raw[Component::Fees as usize] = Money::of(loan.fees).ok_or(OUT_OF_RANGE)?;
    }
    finish(
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
            exposure: Exposure::Days,
            outstanding: loan.outstanding,
        },
    )
}

/// The caps, totals, status, bucket, class and provision of a row whose
/// days and raw charges are known.
#[inline]
pub fn finish(loan: &Loan, policy: &Policy, c: Charged) -> Result<Figures, &'static str> {
    let Charged {
        due_date,
        end_date,
        settled,
        days_overdue,
        chargeable_days,
        contract,
        penalty_rate,
        raw,
        exposure,
        outstanding,
    } = c;
    let days = chargeable_days;
    let grace = i64::from(policy.grace_days);
    let total_raw = sum(&raw, &Component::REDUCTION_ORDER)?;

    let mut capped = raw;
    let mut caps = smallvec::SmallVec::new();
    let mut binding_cap = None;
    for (i, cap) in policy.caps.iter().enumerate() {
        let terms = match exposure {
            Exposure::Days => limit_terms(&cap.limit, loan, days, &raw, policy),
            Exposure::PrincipalDays(pd) => limit_terms_pd(&cap.limit, loan, pd, &raw, policy),
        };
        let limit = terms.and_then(|t| limit_cents(&t)).ok_or(OUT_OF_RANGE)?;
        let running = sum(&capped, &cap.applies_to)?;
        let mut over = running.cents() - limit.cents();
        for c in Component::REDUCTION_ORDER
            .into_iter()
            .filter(|c| cap.applies_to.contains(c))
        {
            if over <= 0 {
                break;
            }
            let amount = capped[c as usize].cents();
            let cut = over.min(amount);
            // Between 0 and the amount: always in range.
            capped[c as usize] = Money::new(amount - cut).unwrap_or(Money::ZERO);
            over -= cut;
        }
        let cut = running
            .checked_sub(sum(&capped, &cap.applies_to)?)
            .ok_or(OUT_OF_RANGE)?;
        if cut.is_positive() {
            binding_cap = Some(i);
        }
        caps.push(CapCheck {
            limit,
            charged: sum(&raw, &cap.applies_to)?,
            cut,
        });
    }
    let total_capped = sum(&capped, &Component::REDUCTION_ORDER)?;

    let annualized_rate = match exposure {
        _ if loan.principal.is_zero() || days == 0 => None,
        Exposure::PrincipalDays(pd) if pd == 0 => None,
        Exposure::Days => {
            let terms = Terms::new(
                &[total_raw.into(), Factor::int(365)],
                &[loan.principal.into(), Factor::int(days.unsigned_abs())],
            );
            Some(terms.round(6, Rounding::HalfUp).ok_or(OUT_OF_RANGE)?)
        }
        Exposure::PrincipalDays(pd) => {
            let terms = Terms::new(&[total_raw.into(), Factor::int(365)], &[Factor::new(pd, 2)]);
            Some(terms.round(6, Rounding::HalfUp).ok_or(OUT_OF_RANGE)?)
        }
    };

    let status = if days_overdue == 0 {
        Status::Current
    } else if days_overdue <= grace {
        Status::Grace
    } else if settled {
        Status::SettledLate
    } else if days_overdue > i64::from(policy.write_off_days) {
        Status::WrittenOff
    } else {
        Status::Overdue
    };
    let class = (!settled).then(|| policy.class_index(days_overdue));
    let provision = match (status, class) {
        (_, None) => Money::ZERO,
        (Status::WrittenOff, _) => Money::of(outstanding).ok_or(OUT_OF_RANGE)?,
        (_, Some(c)) => Terms::new(
            &[outstanding.into(), policy.classes[c].provision_rate.into()],
            &[],
        )
        .cents(policy)
        .ok_or(OUT_OF_RANGE)?,
    };

    Ok(Figures {
        due_date,
        end_date,
        settled,
        days_overdue,
        chargeable_days,
        daily_rate: contract.value().ok_or(OUT_OF_RANGE)?,
        penalty_daily_rate: penalty_rate.value().ok_or(OUT_OF_RANGE)?,
        raw,
        capped,
        total_raw,
        total_capped,
        excess: total_raw.checked_sub(total_capped).ok_or(OUT_OF_RANGE)?,
        caps,
        binding_cap,
        annualized_rate,
        status,
        bucket: policy.bucket_index(days_overdue),
        class,
        provision,
        repaid: None,
    })
}

/// A cap's limit rounded down to the cent (SPEC.md section 2: a charge in
/// whole cents may reach a legal maximum but never pass it by a rounding):
/// every limit, principal-days ones too, goes through here.
pub fn limit_cents(terms: &Terms) -> Option<Money> {
    terms.cents_by(Rounding::Down)
}

/// The sum of the components `of`.
fn sum(amounts: &Amounts, of: &[Component]) -> Result<Money, &'static str> {
    of.iter()
        .try_fold(Money::ZERO, |acc, &c| acc.checked_add(amounts[c as usize]))
        .ok_or(OUT_OF_RANGE)
}

/// A cap's limit for one loan before rounding (raw amounts feed
/// `component_ratio` caps); `None` past Decimal's range or without an LPR.
#[inline]
pub fn limit_terms(
    limit: &Limit,
    loan: &Loan,
    days: i64,
    raw: &Amounts,
    policy: &Policy,
) -> Option<Terms> {
    let principal = Factor::from(loan.principal);
    let days = Factor::int(days.unsigned_abs());
    let year = |days: u32| Factor::int(days.into());
    Some(match limit {
        Limit::AnnualRate { rate, year_days } => {
            Terms::new(&[principal, (*rate).into(), days], &[year(*year_days)])
        }
        Limit::DailyRate { rate } => Terms::new(&[principal, (*rate).into(), days], &[]),
        Limit::PrincipalRatio { ratio } => Terms::new(&[principal, (*ratio).into()], &[]),
        Limit::Fixed { amount } => Terms::new(&[(*amount).into()], &[]),
        Limit::ComponentRatio { ratio, of } => {
            Terms::new(&[(*ratio).into(), sum(raw, of).ok()?.into()], &[])
        }
        Limit::LprMultiple {
            multiple,
            year_days,
        } => {
            let lpr = policy.lpr_at(loan.contract_date.unwrap_or(loan.due_date))?;
            Terms::new(
                &[principal, (*multiple).into(), lpr.into(), days],
                &[year(*year_days)],
            )
        }
    })
}

/// A cap's limit for a row with payments: the limits that run with days
/// run on the principal-days `pd` (cents x days) instead of principal x
/// days; `principal_ratio` keeps the book's principal.
pub fn limit_terms_pd(
    limit: &Limit,
    loan: &Loan,
    pd: i128,
    raw: &Amounts,
    policy: &Policy,
) -> Option<Terms> {
    let pd = Factor::new(pd, 2);
    let year = |days: u32| Factor::int(days.into());
    Some(match limit {
        Limit::AnnualRate { rate, year_days } => {
            Terms::new(&[pd, (*rate).into()], &[year(*year_days)])
        }
        Limit::DailyRate { rate } => Terms::new(&[pd, (*rate).into()], &[]),
        Limit::LprMultiple {
            multiple,
            year_days,
        } => {
            let lpr = policy.lpr_at(loan.contract_date.unwrap_or(loan.due_date))?;
            Terms::new(&[pd, (*multiple).into(), lpr.into()], &[year(*year_days)])
        }
        _ => return limit_terms(limit, loan, 0, raw, policy),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Rounding;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    fn date(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn m(s: &str) -> Money {
        Money::of(d(s)).unwrap()
    }

    fn limits(f: &Figures) -> Vec<Money> {
        f.caps.iter().map(|c| c.limit).collect()
    }

    fn policy(extra: &str) -> Policy {
        Policy::from_toml(extra, "test").unwrap()
    }

    fn loan(principal: &str, rate: ContractRate, due: &str) -> Loan<'static> {
        Loan {
            text: crate::record::LoanText::new("L", [], *b"CNY"),
            principal: d(principal),
            due_date: date(due),
            rate,
            paid_date: None,
            contract_date: None,
            penalty_rate: None,
            unpaid_interest: Decimal::ZERO,
            fees: Decimal::ZERO,
            outstanding: d(principal),
        }
    }

    #[test]
    fn amounts_beyond_two_to_the_96_cents_are_out_of_range() {
        let p = policy("caps = []\npenalty = false");
        // (A principal as large, so that the annualized rate stays in range.)
        let big = "792281625142643375935439503";
        let mut l = loan(big, ContractRate::Daily(d("0.001")), "2025-01-01");
        // The largest amount in cents is 2^96 - 1: 792281625142643375935439503.35.
        l.fees = d("792281625142643375935439503.35");
        let f = compute(&l, &p, date("2025-01-11")).unwrap();
        assert_eq!(f.amount(Component::Fees).cents(), crate::money::MAX_CENTS);
        l.fees = d("792281625142643375935439504");
        assert_eq!(compute(&l, &p, date("2025-01-11")), Err(OUT_OF_RANGE));
        // A penalty past the range: 7.9e27 x 0.0015 x 1000 days.
        let principal = "7922816251426433759354395033";
        let mut l = loan(principal, ContractRate::Daily(d("0.001")), "2022-01-01");
        l.outstanding = d("0");
        let p = policy("caps = []");
        assert_eq!(compute(&l, &p, date("2024-09-27")), Err(OUT_OF_RANGE));
    }

    #[test]
    fn seed_worked_example() {
        let p = policy("contract_interest = true\ncaps = []");
        let mut l = loan("26000", ContractRate::Daily(d("0.0005")), "2025-04-10");
        l.penalty_rate = Some(d("0.001"));
        let f = compute(&l, &p, date("2025-04-20")).unwrap();
        assert_eq!(f.chargeable_days, 10);
        assert_eq!(f.amount(Component::Interest), m("130.00"));
        assert_eq!(f.amount(Component::Penalty), m("260.00"));
        // Annual 18% on a 360-day year is the same 0.05% a day.
        l.rate = ContractRate::Annual(d("0.18"));
        let g = compute(&l, &p, date("2025-04-20")).unwrap();
        assert_eq!(g.amount(Component::Interest), m("130.00"));
        assert_eq!(g.daily_rate, d("0.0005"));
    }

    #[test]
    fn day_counting() {
        let mut l = loan("1000", ContractRate::Daily(d("0.001")), "2025-04-10");
        l.paid_date = Some(date("2025-04-15"));
        let f = compute(&l, &policy(""), date("2025-05-01")).unwrap();
        assert_eq!(
            (f.days_overdue, f.end_date, f.settled),
            (5, date("2025-04-15"), true)
        );
        let f = compute(&l, &policy("count_both_ends = true"), date("2025-05-01")).unwrap();
        assert_eq!(f.days_overdue, 6);
        // Paid after the as-of date: still unpaid, valued at as-of.
        let f = compute(&l, &policy(""), date("2025-04-12")).unwrap();
        assert_eq!(
            (f.days_overdue, f.settled, f.status),
            (2, false, Status::Overdue)
        );
        // Not yet due: no days, even counting both ends.
        let f = compute(&l, &policy("count_both_ends = true"), date("2025-04-10")).unwrap();
        assert_eq!((f.days_overdue, f.status), (0, Status::Current));
        // Leap day: Feb 28 to Mar 1 2024 is 2 days.
        let l = loan("1000", ContractRate::Daily(d("0.001")), "2024-02-28");
        assert_eq!(
            compute(&l, &policy(""), date("2024-03-01"))
                .unwrap()
                .days_overdue,
            2
        );
    }

    #[test]
    fn grace_modes_zero_everything_inside_grace() {
        let mut l = loan("10000", ContractRate::Daily(d("0.001")), "2025-01-01");
        l.fees = d("50");
        let charge_all = policy("grace_days = 3\ncaps = []");
        let f = compute(&l, &charge_all, date("2025-01-04")).unwrap();
        assert_eq!(
            (f.chargeable_days, f.total_raw, f.status),
            (0, m("0"), Status::Grace)
        );
        let f = compute(&l, &charge_all, date("2025-01-05")).unwrap();
        assert_eq!(
            (f.chargeable_days, f.amount(Component::Penalty)),
            (4, m("60.00"))
        );
        assert_eq!(f.amount(Component::Fees), m("50"));
        let skip = policy("grace_days = 3\ngrace_mode = \"skip_grace\"\ncaps = []");
        let f = compute(&l, &skip, date("2025-01-05")).unwrap();
        assert_eq!(
            (f.chargeable_days, f.amount(Component::Penalty)),
            (1, m("15.00"))
        );
    }

    #[test]
    fn rounding_at_an_exact_half_cent() {
        // Penalty 0.10 x 0.05 x 1 day = 0.005 exactly; compound 0.30 x 0.05 = 0.015.
        let mut l = loan("0.10", ContractRate::Daily(d("0.05")), "2025-01-01");
        l.penalty_rate = Some(d("0.05"));
        l.unpaid_interest = d("0.30");
        let up = compute(&l, &policy("caps = []"), date("2025-01-02")).unwrap();
        assert_eq!(up.amount(Component::Penalty), m("0.01"), "0.005 half up");
        assert_eq!(up.amount(Component::Compound), m("0.02"), "0.015 half up");
        let even = compute(
            &l,
            &policy("caps = []\nrounding = \"half_even\""),
            date("2025-01-02"),
        )
        .unwrap();
        assert_eq!(
            even.amount(Component::Penalty),
            m("0.00"),
            "0.005 half even"
        );
        assert_eq!(
            even.amount(Component::Compound),
            m("0.02"),
            "0.015 half even"
        );
        assert_eq!(Rounding::HalfEven.cents(d("0.025")), d("0.02"));
        assert_eq!(Rounding::HalfUp.cents(d("0.025")), d("0.03"));
    }

    #[test]
    fn multiply_first_divide_last() {
        // The annual rate is divided by the year only after multiplying, so
        // no rounded daily rate leaks into the amounts.
        let l = loan("1000000", ContractRate::Annual(d("0.0365")), "2025-01-01");
        let f = compute(
            &l,
            &policy("caps = []\nyear_days = 365\npenalty_multiplier = 1"),
            date("2025-01-04"),
        )
        .unwrap();
        assert_eq!(f.amount(Component::Penalty), m("300.00"));
        assert_eq!(f.daily_rate, d("0.0001"));
        let l = loan("12345.67", ContractRate::Annual(d("0.18")), "2025-01-01");
        let f = compute(
            &l,
            &policy("caps = []\nyear_days = 365"),
            date("2025-01-08"),
        )
        .unwrap();
        // 12345.67 x 1.5 x 0.18 x 7 / 365 = 63.9255... -> 63.93
        assert_eq!(f.amount(Component::Penalty), m("63.93"));
    }

    #[test]
    fn caps_breach_and_bind_in_order() {
        // 1000 at 1% a day penalty for 10 days = 100; fees 50; total 150.
        let p = policy(concat!(
            "[[caps]]\nname = \"fees-20\"\nkind = \"fixed\"\namount = 20\napplies_to = [\"fees\"]\n",
            "[[caps]]\nname = \"ratio\"\nkind = \"principal_ratio\"\nratio = \"0.1\"\n",
            "[[caps]]\nname = \"loose\"\nkind = \"daily_rate\"\nrate = \"0.5\"\n",
        ));
        let mut l = loan("1000", ContractRate::Daily(d("0.01")), "2025-01-01");
        l.penalty_rate = Some(d("0.01"));
        l.fees = d("50");
        let f = compute(&l, &p, date("2025-01-11")).unwrap();
        assert_eq!(f.total_raw, m("150.00"));
        assert_eq!(f.breaches().collect::<Vec<_>>(), vec![0, 1]);
        assert_eq!(limits(&f), vec![m("20.00"), m("100.00"), m("5000.00")]);
        assert_eq!(
            f.caps.iter().map(|c| c.cut).collect::<Vec<_>>(),
            vec![m("30.00"), m("20.00"), m("0")]
        );
        // fees-20 cuts fees to 20 (running 120); ratio cuts 20 more from fees
        // (fees first), leaving fees 0 and penalty 100.
        assert_eq!(f.total_capped, m("100.00"));
        assert_eq!(f.excess, m("50.00"));
        assert_eq!(f.binding_cap, Some(1));
    }

    #[test]
    fn cap_reduction_never_goes_below_zero_and_moves_on() {
        let p = policy("[[caps]]\nname = \"tiny\"\nkind = \"fixed\"\namount = 10\n");
        let mut l = loan("1000", ContractRate::Daily(d("0.01")), "2025-01-01");
        l.fees = d("5");
        l.unpaid_interest = d("100");
        let f = compute(&l, &p, date("2025-01-11")).unwrap();
        // penalty 1000 x 0.015 x 10 = 150; compound 100 x 0.015 x 10 = 15; fees 5.
        assert_eq!(f.total_raw, m("170.00"));
        assert_eq!(f.total_capped, m("10.00"));
        assert_eq!(f.binding_cap, Some(0));
    }

    #[test]
    fn component_ratio_and_annual_caps() {
        let p = policy(concat!(
            "contract_interest = true\n",
            "[[caps]]\nname = \"damages\"\nkind = \"component_ratio\"\nratio = \"0.3\"\n",
            "applies_to = [\"penalty\"]\nof = [\"interest\"]\n",
        ));
        let l = loan("10000", ContractRate::Daily(d("0.001")), "2025-01-01");
        let f = compute(&l, &p, date("2025-01-11")).unwrap();
        // interest 100, penalty 150; limit 0.3 x 100 = 30.
        assert_eq!(limits(&f), vec![m("30.00")]);
        assert_eq!(f.total_capped, m("130.00"));
        let p = policy("");
        let l = loan("10000", ContractRate::Daily(d("0.001")), "2025-01-01");
        let f = compute(&l, &p, date("2025-01-11")).unwrap();
        // penalty 150 vs annual-24: 10000 x 0.24 x 10 / 365 = 65.75; annual-36: 98.63.
        assert_eq!(limits(&f), vec![m("65.75"), m("98.63")]);
        assert_eq!(f.breaches().collect::<Vec<_>>(), vec![0, 1]);
        assert_eq!(f.caps[0].excess(), m("84.25"));
        assert_eq!((f.total_capped, f.binding_cap), (m("65.75"), Some(0)));
        assert_eq!(f.annualized_rate, Some(d("0.547500")));
    }

    #[test]
    fn cap_limits_round_down_to_the_cent() {
        // issue 13: 123.45 at 0.8% a day for one day is an exact cap of
        // 0.9876; a charge of 0.99 passes it, so the limit is 0.98, not 0.99.
        let p = policy(concat!(
            "contract_interest = true\npenalty = false\ncompound = false\n",
            "[[caps]]\nname = \"daily\"\nkind = \"daily_rate\"\nrate = \"0.008\"\n",
        ));
        let l = loan("123.45", ContractRate::Daily(d("0.008")), "2025-01-01");
        let f = compute(&l, &p, date("2025-01-02")).unwrap();
        assert_eq!(f.amount(Component::Interest), m("0.99"), "0.9876 half up");
        assert_eq!(limits(&f), vec![m("0.98")]);
        assert_eq!(f.breaches().collect::<Vec<_>>(), vec![0]);
        assert_eq!((f.total_capped, f.caps[0].excess()), (m("0.98"), m("0.01")));
        // Interest rounded down as well: 0.98, at the limit, no breach.
        let down = policy(concat!(
            "contract_interest = true\npenalty = false\ncompound = false\nrounding = \"down\"\n",
            "[[caps]]\nname = \"daily\"\nkind = \"daily_rate\"\nrate = \"0.008\"\n",
        ));
        let f = compute(&l, &down, date("2025-01-02")).unwrap();
        assert_eq!(f.amount(Component::Interest), m("0.98"));
        assert!(!f.breached());
        // FSharp.Finance.Personal's interest-cap test: 499 x 123.45% = 616.0155 -> 616.01.
        let p =
            policy("[[caps]]\nname = \"total\"\nkind = \"principal_ratio\"\nratio = \"1.2345\"\n");
        let l = loan("499", ContractRate::Daily(d("0.008")), "2025-01-01");
        let f = compute(&l, &p, date("2025-01-02")).unwrap();
        assert_eq!(limits(&f), vec![m("616.01")]);
        // Every kind rounds down, whatever the policy's rounding.
        let kinds = concat!(
            "contract_interest = true\nrounding = \"half_even\"\n",
            "[[caps]]\nname = \"a\"\nkind = \"annual_rate\"\nrate = \"0.36\"\n",
            "[[caps]]\nname = \"b\"\nkind = \"daily_rate\"\nrate = \"0.0009999\"\n",
            "[[caps]]\nname = \"c\"\nkind = \"principal_ratio\"\nratio = \"0.0009999\"\n",
            "[[caps]]\nname = \"d\"\nkind = \"fixed\"\namount = \"1.999\"\n",
            "[[caps]]\nname = \"e\"\nkind = \"component_ratio\"\nratio = \"0.3333\"\nof = [\"interest\"]\n",
            "[[caps]]\nname = \"f\"\nkind = \"lpr_multiple\"\nmultiple = \"4\"\n",
            "[[lpr]]\nfrom = 2020-01-01\nrate = \"0.0385\"\n",
        );
        let l = loan("1000", ContractRate::Daily(d("0.001")), "2025-01-01");
        let f = compute(&l, &policy(kinds), date("2025-01-02")).unwrap();
        // 0.98630..., 0.9999, 0.9999, 1.999, 0.3333 x 1.00, 0.42191...
        assert_eq!(
            limits(&f),
            ["0.98", "0.99", "0.99", "1.99", "0.33", "0.42"]
                .map(m)
                .to_vec()
        );
    }

    #[test]
    fn status_class_and_provision() {
        let p = policy("");
        let l = loan("1000", ContractRate::Daily(d("0.001")), "2025-01-01");
        let at = |days: i64| {
            compute(&l, &p, date("2025-01-01") + chrono::Days::new(days as u64)).unwrap()
        };
        let cases = [
            (0, Status::Current, 0, "10.00"),
            (1, Status::Overdue, 1, "20.00"),
            (90, Status::Overdue, 1, "20.00"),
            (91, Status::Overdue, 2, "250.00"),
            (180, Status::Overdue, 2, "250.00"),
            (181, Status::WrittenOff, 2, "1000"),
            (271, Status::WrittenOff, 3, "1000"),
            (361, Status::WrittenOff, 4, "1000"),
        ];
        for (days, status, class, provision) in cases {
            let f = at(days);
            assert_eq!(
                (f.status, f.class, f.provision),
                (status, Some(class), m(provision)),
                "{days} days"
            );
        }
        let mut paid = l.clone();
        paid.paid_date = Some(date("2025-03-01"));
        let f = compute(&paid, &p, date("2025-06-01")).unwrap();
        assert_eq!(
            (f.status, f.class, f.provision),
            (Status::SettledLate, None, m("0"))
        );
        paid.paid_date = Some(date("2024-12-01"));
        let f = compute(&paid, &p, date("2025-06-01")).unwrap();
        assert_eq!(
            (f.status, f.class, f.days_overdue),
            (Status::Current, None, 0)
        );
    }

    #[test]
    fn zero_principal_and_zero_days_have_no_annualized_rate() {
        let p = policy("");
        let l = loan("0", ContractRate::Daily(d("0.001")), "2025-01-01");
        assert_eq!(
            compute(&l, &p, date("2025-02-01")).unwrap().annualized_rate,
            None
        );
        let l = loan("100", ContractRate::Daily(d("0.001")), "2025-01-01");
        assert_eq!(
            compute(&l, &p, date("2025-01-01")).unwrap().annualized_rate,
            None
        );
    }

    #[test]
    fn huge_amounts_are_an_error_not_a_panic() {
        let l = loan(
            "79228162514264337593543950",
            ContractRate::Daily(d("0.5")),
            "2000-01-01",
        );
        assert_eq!(
            compute(&l, &policy(""), date("2025-01-01")),
            Err(OUT_OF_RANGE)
        );
    }
}
