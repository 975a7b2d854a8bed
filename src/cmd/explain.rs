//! `arrears explain`'s job: the explanations (`arrears_core::explain`) of
//! the named loans, in input order.

use std::collections::HashSet;

use chrono::NaiveDate;

use crate::cli::{print_quietly, Exit, ExplainArgs};
use crate::compute::Figures;
use crate::io::output::RowSink;
use crate::io::pipeline::{self, Input};
use crate::io::pipeline::{Job, Origin};
use crate::policy::Policy;
use crate::record::Loan;
use crate::summary::SumOverflow;
pub use arrears_core::explain::*;

/// Collects explanations of the named loans, in input order.
pub struct ExplainJob<'a> {
    pub policy: &'a Policy,
    pub as_of: NaiveDate,
    pub ids: HashSet<String>,
    pub sources: Vec<String>,
}

impl Job for ExplainJob<'_> {
    type Stats = Vec<Explanation>;

    fn header(&self) -> Vec<String> {
        Vec::new()
    }

    fn write(&self, _: &mut impl RowSink, _: &Loan, _: &Figures) -> u64 {
        0
    }

    fn fold(
        &self,
        found: &mut Vec<Explanation>,
        origin: Origin,
        loan: &Loan,
        f: &Figures,
    ) -> Result<(), SumOverflow> {
        if self.ids.contains(loan.loan_id()) {
            let source = self.sources.get(origin.source).map_or("", String::as_str);
            found.push(explain(
                loan,
                f,
                self.policy,
                self.as_of,
                source,
                origin.line,
            ));
        }
        Ok(())
    }

    fn merge(
        &self,
        into: &mut Vec<Explanation>,
        other: Vec<Explanation>,
    ) -> Result<(), SumOverflow> {
        into.extend(other);
        Ok(())
    }
}

pub fn command(args: &ExplainArgs) -> anyhow::Result<Exit> {
    let mut config = args.book.pipeline(None, None, None, None)?;
    config.trace = true;
    let job = ExplainJob {
        policy: &config.policy,
        as_of: config.as_of,
        ids: args.loan_ids.iter().cloned().collect(),
        sources: config.inputs.iter().map(Input::name).collect(),
    };
    let (_, report) = pipeline::run(&config, |_| job)?;
    let found = &report.stats;
    let text = if args.json {
        serde_json::to_string_pretty(found)? + "\n"
    } else {
        let rounding = config.policy.rounding.name();
        found
            .iter()
            .map(|e| e.text(rounding))
            .collect::<Vec<_>>()
            .join("\n")
    };
    print_quietly(text.as_bytes())?;
    let missing: Vec<&str> = args
        .loan_ids
        .iter()
        .filter(|id| !found.iter().any(|e| &e.loan_id == *id))
        .map(String::as_str)
        .collect();
    if missing.is_empty() {
        return Ok(Exit::Done);
    }
    eprintln!(
        "arrears: not found among the {} accepted rows ({} rows were rejected): {}",
        report.rows_accepted,
        report.rows_rejected,
        missing.join(", ")
    );
    Ok(Exit::Failed)
}
