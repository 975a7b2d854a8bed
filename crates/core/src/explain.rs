//! `arrears explain`: for named loans, every step from the raw fields to the
//! final figures, as a person would check them by hand: the days and the
//! dates they run between, each rate and where it came from, each
//! component's formula with its numbers and unrounded value, each cap's
//! limit and whether it bit, and the status, bucket, class and provision.
//!
//! The figures are those of `compute` (the same ones `run` writes); the
//! formulas and unrounded values come from the same functions it uses.

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::Serialize;

use crate::compute::{limit_terms, limit_terms_pd, DayRate, Figures, Status, Terms};
use crate::exact::Factor;
use crate::money::Money;
use crate::output::{daily_rate, money, ratio6};
use crate::policy::{Component, GraceMode, Limit, Policy, Roll};
use crate::record::{ContractRate, Loan};

/// One figure: how it is reached, its unrounded value, and the figure.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Step {
    pub formula: String,
    pub exact: String,
    pub value: String,
}

/// A figure and why it is what it is.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Reasoned {
    pub value: String,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CapStep {
    pub name: String,
    pub applies_to: Vec<String>,
    pub limit: Step,
    /// Raw sum of the cap's components.
    pub charged: String,
    pub breached: bool,
    /// What this cap took off the running amounts.
    pub cut: String,
    pub bit: bool,
}

/// Every step of one loan's figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Explanation {
    pub loan_id: String,
    /// Input line of the row (in `source`).
    pub line: u64,
    pub source: String,
    pub currency: String,
    pub as_of: String,
    pub policy: String,
    pub principal: String,
    pub due_date: Reasoned,
    pub end_date: Reasoned,
    pub days_overdue: Reasoned,
    pub chargeable_days: Reasoned,
    pub daily_rate: Reasoned,
    pub penalty_daily_rate: Reasoned,
    pub interest: Step,
    pub penalty: Step,
    pub compound: Step,
    pub fees: Step,
    pub total_raw: Step,
    pub caps: Vec<CapStep>,
    pub total_capped: Step,
    pub excess: Step,
    pub binding_cap: String,
    pub annualized_rate: Step,
    pub status: Reasoned,
    pub bucket: Reasoned,
    pub classification: Reasoned,
    pub provision: Step,
    /// With repayments: the segments, each payment's allocation and the
    /// repayment figures.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repayments: Option<Repayments>,
}

/// Days charged on one balance, between two payment dates.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SegmentStep {
    pub from: String,
    pub to: String,
    pub days: i64,
    pub principal: String,
    pub unpaid_interest: String,
    /// principal x days, and unpaid_interest x days.
    pub principal_days: String,
    pub unpaid_interest_days: String,
}

/// One day's payments and where each cent went.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PaymentStep {
    pub date: String,
    pub amount: String,
    pub valued_at: String,
    pub note: String,
    /// Charges accrued to `valued_at`: interest, penalty, compound, fees.
    pub accrued: Vec<(String, String)>,
    /// In the policy's allocation order: what was due, what this paid.
    pub allocation: Vec<AllocationStep>,
    pub overpaid: String,
    pub settles: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AllocationStep {
    pub due: String,
    pub owed: String,
    pub paid: String,
}

/// The repayment side of an explanation (SPEC.md section 5).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Repayments {
    pub accrual_start: String,
    pub segments: Vec<SegmentStep>,
    /// Sum over segments of principal x days, and of unpaid interest x days.
    pub principal_days: String,
    pub unpaid_interest_days: String,
    pub payments: Vec<PaymentStep>,
    pub repaid: String,
    pub repaid_principal: String,
    pub repaid_unpaid_interest: String,
    pub repaid_charges: String,
    pub principal_due: Step,
    pub balance_due: Step,
    pub collected_over_cap: Step,
    pub overpaid: String,
    pub outstanding: Step,
}

/// cents x days as an amount x days: `2600000000` -> `26000000.00`.
fn cent_days(n: i128) -> String {
    money(Decimal::from_i128_with_scale(n, 2))
}

fn explain_repayments(loan: &Loan, f: &Figures, policy: &Policy) -> Option<Repayments> {
    let r = f.repaid.as_ref()?;
    let trace = r.trace.as_ref()?;
    let segments = trace
        .segments
        .iter()
        .map(|s| SegmentStep {
            from: s.from.to_string(),
            to: s.to.to_string(),
            days: s.days,
            principal: money(s.principal),
            unpaid_interest: money(s.unpaid_interest),
            principal_days: cent_days(s.principal.cents() * i128::from(s.days)),
            unpaid_interest_days: cent_days(s.unpaid_interest.cents() * i128::from(s.days)),
        })
        .collect();
    let payments = trace
        .steps
        .iter()
        .map(|p| {
            let note = if p.after_settlement {
                "the row was already settled by payments: all overpaid".to_string()
            } else if p.valued_at != p.date {
                format!(
                    "after the end date {}: pays the dues as they stand then",
                    p.valued_at
                )
            } else if p.settles {
                "leaves every due at 0: settles the row".to_string()
            } else {
                String::new()
            };
            PaymentStep {
                date: p.date.to_string(),
                amount: money(p.amount),
                valued_at: p.valued_at.to_string(),
                note,
                accrued: Component::REDUCTION_ORDER
                    .iter()
                    .rev()
                    .map(|&c| (component_name(c).to_string(), money(p.accrued[c as usize])))
                    .collect(),
                allocation: policy
                    .allocation
                    .iter()
                    .map(|&d| AllocationStep {
                        due: d.name().to_string(),
                        owed: money(p.due[d as usize]),
                        paid: money(p.paid[d as usize]),
                    })
                    .collect(),
                overpaid: money(p.overpaid),
                settles: p.settles,
            }
        })
        .collect();
    let p = Money::of(loan.principal).unwrap_or(Money::ZERO);
    let u = Money::of(loan.unpaid_interest).unwrap_or(Money::ZERO);
    let unpaid_due = u.checked_sub(r.unpaid_interest).unwrap_or(Money::ZERO);
    let balance_due = match f.settled && r.settled_on.is_none() {
        true => step(
            "settled by paid_date: nothing is due".into(),
            Decimal::ZERO,
            money(r.balance_due),
        ),
        false => step(
            format!(
                "principal_due {} + unpaid interest due {} + max(0, total_capped {} - repaid_charges {}) = {}",
                money(r.principal_due),
                money(unpaid_due),
                money(f.total_capped),
                money(r.charges),
                money(r.balance_due)
            ),
            r.balance_due,
            money(r.balance_due),
        ),
    };
    Some(Repayments {
        accrual_start: trace.start.map_or(String::new(), |d| d.to_string()),
        segments,
        principal_days: cent_days(trace.principal_days),
        unpaid_interest_days: cent_days(trace.unpaid_interest_days),
        payments,
        repaid: money(r.repaid),
        repaid_principal: money(r.principal),
        repaid_unpaid_interest: money(r.unpaid_interest),
        repaid_charges: money(r.charges),
        principal_due: step(
            format!(
                "principal {} - repaid principal {} = {}",
                money(p),
                money(r.principal),
                money(r.principal_due)
            ),
            r.principal_due,
            money(r.principal_due),
        ),
        balance_due,
        collected_over_cap: step(
            format!(
                "max(0, repaid_charges {} - total_capped {}) = {}",
                money(r.charges),
                money(f.total_capped),
                money(r.collected_over_cap)
            ),
            r.collected_over_cap,
            money(r.collected_over_cap),
        ),
        overpaid: money(r.overpaid),
        outstanding: step(
            format!(
                "max(0, book outstanding {} - repaid principal {}) = {}",
                money(loan.outstanding),
                money(r.principal),
                money(r.outstanding)
            ),
            r.outstanding,
            money(r.outstanding),
        ),
    })
}

fn step(formula: String, exact: impl Into<Decimal>, value: String) -> Step {
    Step {
        formula,
        exact: exact.into().normalize().to_string(),
        value,
    }
}

fn reasoned(value: impl ToString, reason: String) -> Reasoned {
    Reasoned {
        value: value.to_string(),
        reason,
    }
}

fn component_name(c: Component) -> &'static str {
    match c {
        Component::Interest => "interest",
        Component::Penalty => "penalty",
        Component::Compound => "compound",
        Component::Fees => "fees",
    }
}

/// `a x b x days / per`, as the rate's own terms.
fn rate_terms(rate: DayRate, loan: &Loan, policy: &Policy) -> (String, String) {
    let per = if rate.per == 1 {
        String::new()
    } else {
        format!(" / {}", rate.per)
    };
    let numerator = match (loan.penalty_rate, loan.rate) {
        // A multiplied rate shows both factors.
        (None, ContractRate::Daily(r) | ContractRate::Annual(r)) if rate.numerator != r => {
            format!(
                "{} x {}",
                policy.penalty_multiplier.normalize(),
                r.normalize()
            )
        }
        _ => rate.numerator.normalize().to_string(),
    };
    (numerator, per)
}

/// Explains one loan's figures `f`, computed by `compute` at `as_of`.
pub fn explain(
    loan: &Loan,
    f: &Figures,
    policy: &Policy,
    as_of: NaiveDate,
    source: &str,
    line: u64,
) -> Explanation {
    let days = f.chargeable_days;
    let contract = DayRate::contract(loan, policy);
    let penalty_rate = DayRate::penalty(loan, policy, contract).unwrap_or(contract);

    let due_date = match (policy.due_date_roll, f.due_date == loan.due_date) {
        (Roll::NextBusinessDay, false) => reasoned(
            f.due_date,
            format!(
                "contractual due date {} ({}) is not a working day: rolled to the next business day",
                loan.due_date,
                loan.due_date.format("%A")
            ),
        ),
        (Roll::NextBusinessDay, true) if policy.calendar.working_days.contains(&loan.due_date) => {
            reasoned(
                f.due_date,
                format!(
                    "due_date column; a {} the calendar makes a working day (working_days): not rolled",
                    loan.due_date.format("%A")
                ),
            )
        }
        _ => reasoned(f.due_date, "due_date column".into()),
    };
    let settled_on = f.repaid.as_ref().and_then(|r| r.settled_on);
    let end_date = match loan.paid_date {
        _ if settled_on.is_some() => reasoned(
            f.end_date,
            format!("settled by payments on {}: every due paid", f.end_date),
        ),
        Some(paid) if f.settled => reasoned(
            f.end_date,
            format!("repaid on {paid} (paid_date), on or before the as-of date"),
        ),
        Some(paid) => reasoned(
            f.end_date,
            format!("paid_date {paid} is after the as-of date: valued at the as-of date"),
        ),
        None => reasoned(f.end_date, "unpaid: valued at the as-of date".into()),
    };
    let elapsed = (f.end_date - f.due_date).num_days();
    let days_overdue = if elapsed <= 0 {
        reasoned(
            0,
            format!(
                "{} - {} = {elapsed} days: not overdue",
                f.end_date, f.due_date
            ),
        )
    } else if policy.count_both_ends {
        reasoned(
            f.days_overdue,
            format!(
                "{} - {} + 1 (count_both_ends) = {}",
                f.end_date, f.due_date, f.days_overdue
            ),
        )
    } else {
        reasoned(
            f.days_overdue,
            format!("{} - {} = {}", f.end_date, f.due_date, f.days_overdue),
        )
    };
    let grace = policy.grace_days;
    let chargeable_days = if f.days_overdue <= i64::from(grace) {
        reasoned(
            days,
            format!(
                "{} days overdue <= grace_days {grace}: no charges at all",
                f.days_overdue
            ),
        )
    } else {
        match policy.grace_mode {
            GraceMode::ChargeAll => reasoned(
                days,
                format!(
                    "all {} days overdue (grace_days {grace}, charge_all)",
                    f.days_overdue
                ),
            ),
            GraceMode::SkipGrace => reasoned(
                days,
                format!(
                    "{} - {grace} grace days (skip_grace) = {days}",
                    f.days_overdue
                ),
            ),
        }
    };
    let daily = match loan.rate {
        ContractRate::Daily(r) => format!("daily_rate column {}", r.normalize()),
        ContractRate::Annual(r) => format!(
            "annual_rate column {} / {} (policy year_days)",
            r.normalize(),
            policy.year_days
        ),
    };
    let penalty_source = match loan.penalty_rate {
        Some(r) => format!("penalty_rate column {}", r.normalize()),
        None => format!(
            "{} (policy penalty_multiplier) x contract daily rate",
            policy.penalty_multiplier.normalize()
        ),
    };

    let charge =
        |c: Component, on: bool, switch: &str, rate: DayRate, base: Decimal, base_name: &str| {
            let value = money(f.amount(c));
            if days == 0 {
                return step("no chargeable days".into(), Decimal::ZERO, value);
            }
            if !on {
                return step(
                    format!("off ({switch} = false in the policy)"),
                    Decimal::ZERO,
                    value,
                );
            }
            let (numerator, per) = rate_terms(rate, loan, policy);
            if let Some(trace) = f.repaid.as_ref().and_then(|r| r.trace.as_ref()) {
                let sum = match base_name {
                    "principal" => trace.principal_days,
                    _ => trace.unpaid_interest_days,
                };
                let terms = Terms::new(
                    &[Factor::new(sum, 2), rate.numerator.into()],
                    &[Factor::int(rate.per.into())],
                );
                let formula = format!(
                    "{base_name}-days {} (sum over segments) x {numerator}{per} = {value}",
                    cent_days(sum)
                );
                return step(formula, terms.value().unwrap_or_default(), value);
            }
            let exact = rate.charge(base, days).value().unwrap_or_default();
            let formula = format!(
                "{base_name} {} x {numerator} x {days}{per} = {value}",
                money(base)
            );
            step(formula, exact, value)
        };
    let interest = charge(
        Component::Interest,
        policy.contract_interest,
        "contract_interest",
        contract,
        loan.principal,
        "principal",
    );
    let penalty = charge(
        Component::Penalty,
        policy.penalty,
        "penalty",
        penalty_rate,
        loan.principal,
        "principal",
    );
    let compound = charge(
        Component::Compound,
        policy.compound,
        "compound",
        penalty_rate,
        loan.unpaid_interest,
        "unpaid_interest",
    );
    let fees = if days == 0 {
        step(
            "no chargeable days".into(),
            Decimal::ZERO,
            money(f.amount(Component::Fees)),
        )
    } else {
        step(
            format!("fees column {}", money(loan.fees)),
            loan.fees,
            money(f.amount(Component::Fees)),
        )
    };
    let parts = |amounts: &[Money; 4]| {
        Component::REDUCTION_ORDER
            .iter()
            .rev()
            .map(|&c| money(amounts[c as usize]))
            .collect::<Vec<_>>()
            .join(" + ")
    };
    let total_raw = step(
        format!(
            "interest + penalty + compound + fees = {} = {}",
            parts(&f.raw),
            money(f.total_raw)
        ),
        f.total_raw,
        money(f.total_raw),
    );

    let caps = policy
        .caps
        .iter()
        .zip(&f.caps)
        .map(|(cap, check)| {
            let pd = f.repaid.as_ref().and_then(|r| r.trace.as_ref()).map(|t| t.principal_days);
            let terms = match pd {
                Some(pd) => limit_terms_pd(&cap.limit, loan, pd, &f.raw, policy),
                None => limit_terms(&cap.limit, loan, days, &f.raw, policy),
            };
            let exact = terms.and_then(|t| t.value()).unwrap_or_default();
            // With payments, limits that run with days run on principal-days.
            let (p, days) = match pd {
                Some(pd) if !matches!(cap.limit, Limit::PrincipalRatio { .. }) => {
                    (format!("principal-days {}", cent_days(pd)), "1".to_string())
                }
                _ => (format!("principal {}", money(loan.principal)), days.to_string()),
            };
            let formula = match &cap.limit {
                Limit::AnnualRate { rate, year_days } => {
                    format!("annual_rate: {p} x {} x {days} / {year_days}", rate.normalize())
                }
                Limit::DailyRate { rate } => format!("daily_rate: {p} x {} x {days}", rate.normalize()),
                Limit::PrincipalRatio { ratio } => format!("principal_ratio: {p} x {}", ratio.normalize()),
                Limit::Fixed { amount } => format!("fixed: {}", amount.normalize()),
                Limit::ComponentRatio { ratio, of } => {
                    let names: Vec<&str> = of.iter().map(|&c| component_name(c)).collect();
                    let sum: Decimal = of.iter().map(|&c| f.amount(c).decimal()).sum();
                    format!("component_ratio: {} x ({}) {}", ratio.normalize(), names.join(" + "), money(sum))
                }
                Limit::LprMultiple { multiple, year_days } => {
                    let (date, column) = match loan.contract_date {
                        Some(d) => (d, "contract_date"),
                        None => (loan.due_date, "due_date, no contract_date"),
                    };
                    let lpr = policy.lpr_at(date).unwrap_or_default();
                    format!(
                        "lpr_multiple: principal {p} x {} x LPR {} (in force on {date}, {column}) x {days} / {year_days}",
                        multiple.normalize(),
                        lpr.normalize()
                    )
                }
            };
            let limit = money(check.limit);
            CapStep {
                name: cap.name.clone(),
                applies_to: cap.applies_to.iter().map(|&c| component_name(c).to_string()).collect(),
                limit: step(format!("{formula} = {limit}"), exact, limit),
                charged: money(check.charged),
                breached: check.breached(),
                cut: money(check.cut),
                bit: check.cut.is_positive(),
            }
        })
        .collect();
    let total_capped = step(
        format!(
            "after caps: {} = {}",
            parts(&f.capped),
            money(f.total_capped)
        ),
        f.total_capped,
        money(f.total_capped),
    );
    let excess = step(
        format!(
            "total_raw {} - total_capped {} = {}",
            money(f.total_raw),
            money(f.total_capped),
            money(f.excess)
        ),
        f.excess,
        money(f.excess),
    );
    let principal_days = f
        .repaid
        .as_ref()
        .and_then(|r| r.trace.as_ref())
        .map(|t| t.principal_days);
    let annualized_rate = match (f.annualized_rate, principal_days) {
        (Some(rate), Some(pd)) => {
            let exact =
                (f.total_raw.decimal() * Decimal::from(365)) / Decimal::from_i128_with_scale(pd, 2);
            step(
                format!(
                    "total_raw {} x 365 / principal-days {} = {}",
                    money(f.total_raw),
                    cent_days(pd),
                    ratio6(rate)
                ),
                exact,
                ratio6(rate),
            )
        }
        (Some(rate), None) => {
            let exact = (f.total_raw.decimal() * Decimal::from(365))
                / (loan.principal * Decimal::from(days));
            step(
                format!(
                    "total_raw {} x 365 / (principal {} x {days}) = {}",
                    money(f.total_raw),
                    money(loan.principal),
                    ratio6(rate)
                ),
                exact,
                ratio6(rate),
            )
        }
        (None, _) => step(
            "empty: principal or chargeable days is 0".into(),
            Decimal::ZERO,
            String::new(),
        ),
    };

    let d = f.days_overdue;
    let status_reason = match f.status {
        Status::Current => "0 days overdue".to_string(),
        Status::Grace => format!("{d} days overdue <= grace_days {grace}"),
        Status::SettledLate => format!("repaid {d} days late, on or before the as-of date"),
        Status::WrittenOff => format!(
            "unpaid and {d} days overdue > write_off_days {}",
            policy.write_off_days
        ),
        Status::Overdue => format!(
            "unpaid and {d} days overdue <= write_off_days {}",
            policy.write_off_days
        ),
    };
    let buckets = policy.bucket_labels();
    let edges: Vec<String> = policy.bucket_edges.iter().map(u32::to_string).collect();
    let bucket = reasoned(
        &buckets[f.bucket],
        format!("{d} days overdue; bucket edges {}", edges.join(", ")),
    );
    let classification = match f.class {
        None => reasoned("", "settled rows are not classified".into()),
        Some(c) => {
            let class = &policy.classes[c];
            let next = policy
                .classes
                .get(c + 1)
                .map_or(String::new(), |n| format!(" < {} ({})", n.min_days, n.name));
            reasoned(
                &class.name,
                format!("min_days {} <= {d} days{next}", class.min_days),
            )
        }
    };
    let provision_value = money(f.provision);
    let outstanding = f
        .repaid
        .as_ref()
        .map_or(loan.outstanding, |r| r.outstanding.decimal());
    let provision = match (f.class, f.status) {
        (None, _) => step(
            "settled: no provision".into(),
            Decimal::ZERO,
            provision_value,
        ),
        (Some(_), Status::WrittenOff) => step(
            format!(
                "written off: outstanding {} x 100% = {provision_value}",
                money(outstanding)
            ),
            outstanding,
            provision_value,
        ),
        (Some(c), _) => {
            let rate = policy.classes[c].provision_rate;
            step(
                format!(
                    "outstanding {} x {} ({}) = {provision_value}",
                    money(outstanding),
                    rate.normalize(),
                    policy.classes[c].name
                ),
                outstanding * rate,
                provision_value,
            )
        }
    };

    Explanation {
        loan_id: loan.loan_id().to_string(),
        line,
        source: source.to_string(),
        currency: loan.currency().to_string(),
        as_of: as_of.to_string(),
        policy: policy.describe(),
        principal: money(loan.principal),
        due_date,
        end_date,
        days_overdue,
        chargeable_days,
        daily_rate: reasoned(daily_rate(f.daily_rate), daily),
        penalty_daily_rate: reasoned(daily_rate(f.penalty_daily_rate), penalty_source),
        interest,
        penalty,
        compound,
        fees,
        total_raw,
        caps,
        total_capped,
        excess,
        binding_cap: f
            .binding_cap
            .map_or(String::new(), |i| policy.caps[i].name.clone()),
        annualized_rate,
        status: reasoned(f.status.as_str(), status_reason),
        bucket,
        classification,
        provision,
        repayments: explain_repayments(loan, f, policy),
    }
}

impl Explanation {
    /// The explanation as text, one figure a line.
    pub fn text(&self, rounding: &str) -> String {
        let mut t = format!(
            "loan {} ({} line {}), {}, principal {}, as of {}, policy {}\n",
            self.loan_id,
            self.source,
            self.line,
            self.currency,
            self.principal,
            self.as_of,
            self.policy
        );
        let mut line = |label: &str, value: &str, why: &str| {
            t.push_str(&format!("  {label:<19}{value:<15} {why}\n"));
        };
        line("due date", &self.due_date.value, &self.due_date.reason);
        line("end date", &self.end_date.value, &self.end_date.reason);
        line(
            "days overdue",
            &self.days_overdue.value,
            &self.days_overdue.reason,
        );
        line(
            "chargeable days",
            &self.chargeable_days.value,
            &self.chargeable_days.reason,
        );
        line(
            "daily rate",
            &self.daily_rate.value,
            &self.daily_rate.reason,
        );
        line(
            "penalty daily rate",
            &self.penalty_daily_rate.value,
            &self.penalty_daily_rate.reason,
        );
        for (label, s) in [
            ("interest", &self.interest),
            ("penalty", &self.penalty),
            ("compound", &self.compound),
            ("fees", &self.fees),
        ] {
            let why = match s.formula.contains(" x ") {
                true => format!("{}  (unrounded {}, {rounding})", s.formula, s.exact),
                false => s.formula.clone(),
            };
            line(label, &s.value, &why);
        }
        line("total_raw", &self.total_raw.value, &self.total_raw.formula);
        for cap in &self.caps {
            let verdict = match (cap.breached, cap.bit) {
                (true, true) => format!(
                    "breached: charged {} > limit; took {} off",
                    cap.charged, cap.cut
                ),
                (true, false) => format!(
                    "breached: charged {} > limit; earlier caps already brought it under",
                    cap.charged
                ),
                (false, true) => format!("not breached on raw amounts; took {} off", cap.cut),
                (false, false) => format!("charged {} <= limit: not breached", cap.charged),
            };
            line(
                &format!("cap {}", cap.name),
                &cap.limit.value,
                &format!(
                    "limit on {}: {} (unrounded {}, rounded down to the cent); {verdict}",
                    cap.applies_to.join(", "),
                    cap.limit.formula,
                    cap.limit.exact
                ),
            );
        }
        line(
            "total_capped",
            &self.total_capped.value,
            &self.total_capped.formula,
        );
        line("excess", &self.excess.value, &self.excess.formula);
        let binding = if self.binding_cap.is_empty() {
            "no cap reduced anything"
        } else {
            "the last cap that reduced anything"
        };
        line("binding cap", &self.binding_cap, binding);
        line(
            "annualized rate",
            &self.annualized_rate.value,
            &self.annualized_rate.formula,
        );
        line("status", &self.status.value, &self.status.reason);
        line("bucket", &self.bucket.value, &self.bucket.reason);
        line(
            "classification",
            &self.classification.value,
            &self.classification.reason,
        );
        line("provision", &self.provision.value, &self.provision.formula);
        if let Some(r) = &self.repayments {
            t.push_str(&r.text());
        }
        t
    }
}

impl Repayments {
    /// Segments, payments and the repayment figures, as text.
    fn text(&self) -> String {
        let mut t = format!(
            "  repayments (accrual starts {}; charges run on what is still unpaid):\n",
            self.accrual_start
        );
        for s in &self.segments {
            t.push_str(&format!(
                "    segment {} to {}: {} days on principal {} (x days = {}), unpaid interest {} (x days = {})\n",
                s.from, s.to, s.days, s.principal, s.principal_days, s.unpaid_interest, s.unpaid_interest_days
            ));
        }
        t.push_str(&format!(
            "    principal-days {} and unpaid-interest-days {} (sums over segments)\n",
            self.principal_days, self.unpaid_interest_days
        ));
        for p in &self.payments {
            let accrued: Vec<String> = p.accrued.iter().map(|(c, v)| format!("{c} {v}")).collect();
            t.push_str(&format!(
                "    payment {} of {}{}\n      accrued to {}: {}\n",
                p.date,
                p.amount,
                if p.note.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", p.note)
                },
                p.valued_at,
                accrued.join(", ")
            ));
            for a in &p.allocation {
                t.push_str(&format!(
                    "      {:<16} due {:>14}  paid {:>14}\n",
                    a.due, a.owed, a.paid
                ));
            }
            t.push_str(&format!("      overpaid {}\n", p.overpaid));
        }
        let mut line = |label: &str, value: &str, why: &str| {
            t.push_str(&format!("  {label:<19}{value:<15} {why}\n"));
        };
        line(
            "repaid",
            &self.repaid,
            "payments dated on or before the as-of date",
        );
        line(
            "repaid principal",
            &self.repaid_principal,
            "paid to principal",
        );
        line(
            "repaid unpaid int.",
            &self.repaid_unpaid_interest,
            "paid to unpaid_interest",
        );
        line(
            "repaid charges",
            &self.repaid_charges,
            "paid to interest, penalty, compound and fees",
        );
        line(
            "principal_due",
            &self.principal_due.value,
            &self.principal_due.formula,
        );
        line(
            "balance_due",
            &self.balance_due.value,
            &self.balance_due.formula,
        );
        line(
            "collected_over_cap",
            &self.collected_over_cap.value,
            &self.collected_over_cap.formula,
        );
        line("overpaid", &self.overpaid, "paid beyond every due");
        line(
            "outstanding",
            &self.outstanding.value,
            &self.outstanding.formula,
        );
        t
    }
}
