//! `arrears audit`: only the rows that breach at least one cap, with each
//! breached cap's limit and excess, and a summary per cap and currency:
//! accounts checked and breaching, total and largest excess, highest
//! annualized rate. Breaches are judged on the raw amounts, as in `run`.

use std::collections::BTreeMap;

use rust_decimal::Decimal;

use crate::cli::{all_rejects, check_rejects, report_text, AuditArgs, Exit};
use crate::cmd::run::{self as run_book, print_table_beside};
use crate::compute::Figures;
use crate::io::output::Format;
use crate::io::output::{money, push_loan_key, push_result_field, ratio6, RowSink, RESULT_COLUMNS};
use crate::io::pipeline;
use crate::io::pipeline::{Job, Origin};
use crate::money::Money;
use crate::policy::Policy;
use crate::record::{Layout, Loan};
use crate::summary::SumOverflow;

/// The results columns an audit row repeats, after `loan_id` and the dimensions.
const AUDIT_COLUMNS: [&str; 15] = [
    "currency",
    "principal",
    "due_date",
    "days_overdue",
    "chargeable_days",
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
];

pub struct AuditJob<'a> {
    policy: &'a Policy,
    header: Vec<String>,
    buckets: Vec<String>,
    /// Index in `RESULT_COLUMNS` of each of `AUDIT_COLUMNS`.
    picks: Vec<usize>,
    /// With repayments: what was paid to the charges and collected above
    /// the caps close each row.
    repayments: bool,
}

impl<'a> AuditJob<'a> {
    pub fn new(policy: &'a Policy, layout: &Layout, repayments: bool) -> AuditJob<'a> {
        let mut header = vec!["loan_id".to_string()];
        header.extend(layout.dimensions.iter().map(|c| c.name().to_string()));
        header.extend(AUDIT_COLUMNS.map(String::from));
        for cap in &policy.caps {
            header.push(format!("{}_limit", cap.name));
            header.push(format!("{}_excess", cap.name));
        }
        if repayments {
            header.extend(["repaid_charges", "collected_over_cap"].map(String::from));
        }
        let picks = AUDIT_COLUMNS
            .iter()
            .filter_map(|c| RESULT_COLUMNS.iter().position(|r| r == c))
            .collect();
        AuditJob {
            policy,
            header,
            buckets: policy.bucket_labels(),
            picks,
            repayments,
        }
    }
}

/// One cap's findings in one currency.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CapFindings {
    pub breaching: u64,
    pub total_excess: Money,
    pub largest_excess: Money,
    /// Highest annualized rate among the breaching rows.
    pub highest_rate: Option<Decimal>,
}

/// Accounts checked and findings per cap, by currency.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AuditStats {
    pub currencies: BTreeMap<String, (u64, Vec<CapFindings>)>,
}

impl Job for AuditJob<'_> {
    type Stats = AuditStats;

    fn header(&self) -> Vec<String> {
        self.header.clone()
    }

    fn write(&self, out: &mut impl RowSink, loan: &Loan, f: &Figures) -> u64 {
        if !f.breached() {
            return 0;
        }
        push_loan_key(out, loan);
        for &column in &self.picks {
            push_result_field(out, column, loan, f, self.policy, &self.buckets);
        }
        for check in &f.caps {
            if check.breached() {
                out.money(check.limit);
                out.money(check.excess());
            } else {
                out.empty();
                out.empty();
            }
        }
        if self.repayments {
            let none;
            let r = match &f.repaid {
                Some(r) => r.as_ref(),
                None => {
                    none = crate::repay::Repaid::none(loan, f);
                    &none
                }
            };
            out.money(r.charges);
            out.money(r.collected_over_cap);
        }
        out.end();
        1
    }

    fn fold(
        &self,
        stats: &mut AuditStats,
        _: Origin,
        loan: &Loan,
        f: &Figures,
    ) -> Result<(), SumOverflow> {
        if !stats.currencies.contains_key(loan.currency()) {
            let findings = vec![CapFindings::default(); self.policy.caps.len()];
            stats
                .currencies
                .insert(loan.currency().to_string(), (0, findings));
        }
        let (checked, caps) = stats
            .currencies
            .get_mut(loan.currency())
            .expect("inserted above");
        *checked += 1;
        for (findings, check) in caps.iter_mut().zip(&f.caps).filter(|(_, c)| c.breached()) {
            let excess = check.excess();
            findings.breaching += 1;
            findings.total_excess = findings
                .total_excess
                .checked_add(excess)
                .ok_or(SumOverflow)?;
            findings.largest_excess = findings.largest_excess.max(excess);
            findings.highest_rate = findings.highest_rate.max(f.annualized_rate);
        }
        Ok(())
    }

    fn merge(&self, into: &mut AuditStats, other: AuditStats) -> Result<(), SumOverflow> {
        for (currency, (checked, caps)) in other.currencies {
            let Some((mine_checked, mine)) = into.currencies.get_mut(&currency) else {
                into.currencies.insert(currency, (checked, caps));
                continue;
            };
            *mine_checked += checked;
            for (a, b) in mine.iter_mut().zip(caps) {
                a.breaching += b.breaching;
                a.total_excess = a
                    .total_excess
                    .checked_add(b.total_excess)
                    .ok_or(SumOverflow)?;
                a.largest_excess = a.largest_excess.max(b.largest_excess);
                a.highest_rate = a.highest_rate.max(b.highest_rate);
            }
        }
        Ok(())
    }
}

impl AuditStats {
    /// The audit summary: one row per cap and currency, caps in policy order.
    pub fn table(&self, policy: &Policy) -> (Vec<String>, Vec<Vec<String>>) {
        let header = [
            "cap",
            "currency",
            "accounts_checked",
            "accounts_breaching",
            "total_excess",
            "largest_excess",
            "highest_annualized_rate",
        ]
        .map(String::from)
        .to_vec();
        let mut rows = Vec::new();
        for (i, cap) in policy.caps.iter().enumerate() {
            for (currency, (checked, caps)) in &self.currencies {
                let f = &caps[i];
                rows.push(vec![
                    cap.name.clone(),
                    currency.clone(),
                    checked.to_string(),
                    f.breaching.to_string(),
                    money(f.total_excess),
                    money(f.largest_excess),
                    f.highest_rate.map_or(String::new(), ratio6),
                ]);
            }
        }
        (header, rows)
    }
}

pub fn command(args: &AuditArgs) -> anyhow::Result<Exit> {
    let (rejects, unmatched, manifest) = args.report.checked(&args.breaches, &args.book)?;
    let config = args.book.pipeline(
        args.breaches.clone(),
        args.report.format,
        Some(rejects),
        unmatched,
    )?;
    let policy = &config.policy;
    let repayments = !config.repayments.is_empty();
    let (_, mut report) =
        pipeline::run(&config, |layout| AuditJob::new(policy, layout, repayments))?;
    let (header, rows) = report.stats.table(policy);
    let mut files = Vec::new();
    files.extend(report.output_file.take().map(|f| ("breaches", f)));
    files.extend(report.rejects_file.take().map(|f| ("rejects", f)));
    files.extend(report.unmatched_file.take().map(|f| ("unmatched", f)));
    if let Some(path) = &args.report.summary {
        let format = Format::of(path, args.report.format);
        files.push((
            "summary",
            crate::io::table::write_file(path, format, &header, &rows, 2)?,
        ));
    }
    report.outputs =
        run_book::commit_with_manifest("audit", &config, &report, files, manifest.as_deref())?;
    if !args.book.quiet {
        eprint!("{}", report_text(&config, &report, "checked"));
        eprintln!(
            "arrears: {} rows breach at least one cap",
            report.rows_output
        );
    }
    if args.report.summary.is_none() {
        print_table_beside((&header, &rows, 2), &[&args.breaches], args.book.quiet)?;
    }
    Ok(check_rejects(all_rejects(&report), args.report.max_rejects))
}
