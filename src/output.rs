//! Output formats: the results and rejects CSV rows and how numbers print.

use std::io::Write;

use rust_decimal::{Decimal, RoundingStrategy};

use crate::compute::Figures;
use crate::policy::{Component, Policy};
use crate::record::{Layout, Loan, Reject};

/// Money: exactly 2 decimals.
pub fn money(value: Decimal) -> String {
    format!("{value:.2}")
}

/// A daily rate: half-up to 10 decimals, trailing zeros removed.
pub fn daily_rate(value: Decimal) -> String {
    value
        .round_dp_with_strategy(10, RoundingStrategy::MidpointAwayFromZero)
        .normalize()
        .to_string()
}

/// A ratio: exactly 6 decimals, half-up.
pub fn ratio6(value: Decimal) -> String {
    let rounded = value.round_dp_with_strategy(6, RoundingStrategy::MidpointAwayFromZero);
    format!("{rounded:.6}")
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

/// The results header for a file laid out as `layout`.
pub fn results_header(layout: &Layout) -> Vec<String> {
    let mut header = vec!["loan_id".to_string()];
    header.extend(layout.dimensions.iter().map(|c| c.name().to_string()));
    header.extend(RESULT_COLUMNS.map(String::from));
    header
}

/// The values of `RESULT_COLUMNS` for one loan, formatted.
pub fn result_values(
    loan: &Loan,
    f: &Figures,
    policy: &Policy,
    buckets: &[String],
) -> [String; 22] {
    let breaches: Vec<&str> = f.breaches().map(|i| policy.caps[i].name.as_str()).collect();
    [
        loan.currency.clone(),
        money(loan.principal),
        loan.due_date.to_string(),
        f.end_date.to_string(),
        f.days_overdue.to_string(),
        f.chargeable_days.to_string(),
        daily_rate(f.daily_rate),
        daily_rate(f.penalty_daily_rate),
        money(f.amount(Component::Interest)),
        money(f.amount(Component::Penalty)),
        money(f.amount(Component::Compound)),
        money(f.amount(Component::Fees)),
        money(f.total_raw),
        money(f.total_capped),
        money(f.excess),
        breaches.join(";"),
        f.binding_cap
            .map_or(String::new(), |i| policy.caps[i].name.clone()),
        f.annualized_rate.map_or(String::new(), ratio6),
        f.status.as_str().to_string(),
        buckets[f.bucket].clone(),
        f.class
            .map_or(String::new(), |c| policy.classes[c].name.clone()),
        money(f.provision),
    ]
}

/// Writes `loan_id` and the dimensions, the fields every row of a loan starts with.
pub fn write_loan_key<W: Write>(out: &mut csv::Writer<W>, loan: &Loan) -> csv::Result<()> {
    out.write_field(&loan.loan_id)?;
    for value in &loan.dimensions {
        out.write_field(value)?;
    }
    Ok(())
}

/// Writes one results row.
pub fn write_result<W: Write>(
    out: &mut csv::Writer<W>,
    loan: &Loan,
    f: &Figures,
    policy: &Policy,
    buckets: &[String],
) -> csv::Result<()> {
    write_loan_key(out, loan)?;
    for field in &result_values(loan, f, policy, buckets) {
        out.write_field(field)?;
    }
    out.write_record(None::<&[u8]>)
}

pub fn write_reject<W: Write>(out: &mut csv::Writer<W>, r: &Reject) -> csv::Result<()> {
    out.write_record([
        r.line.to_string().as_str(),
        &r.loan_id,
        &r.column,
        &r.reason,
        &r.raw,
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
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
        assert_eq!(ratio6(d("0.5475")), "0.547500");
        assert_eq!(ratio6(d("0.0000005")), "0.000001");
    }
}
