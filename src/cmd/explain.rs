//! `arrears explain`'s job: the explanations (`arrears_core::explain`) of
//! the named loans, in input order.

use std::collections::HashSet;

use chrono::NaiveDate;

pub use arrears_core::explain::*;
use crate::compute::Figures;
use crate::io::output::RowSink;
use crate::io::pipeline::{Job, Origin};
use crate::policy::Policy;
use crate::record::Loan;
use crate::summary::SumOverflow;

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
