//! `arrears run`: per-loan results and the summary. Its `Job` writes one
//! results row per accepted record and folds the summary's tallies.

use std::path::{Path, PathBuf};

use crate::cli::{all_rejects, check_rejects, print_table, report_text, Exit, RunArgs};
use crate::compute::Figures;
use crate::error::Error;
use crate::io::atomic::{commit_all, Finished, Written};
use crate::io::manifest::{Manifest, Rows};
use crate::io::output::{results_header, write_result, Format, RowSink};
use crate::io::pipeline::{self, Job, Origin, PipelineConfig, Report};
use crate::policy::Policy;
use crate::record::{Layout, Loan};
use crate::summary::{GroupKey, Grouping, SumOverflow, Summary};
use std::io::Write as _;

/// Everything `arrears run` needs, validated.
#[derive(Debug, Clone)]
pub struct RunConfig {
    /// Inputs, policy and the results (`output`) and rejects files.
    pub pipeline: PipelineConfig,
    /// `None`: the caller prints `RunOutcome::summary_rows` itself.
    pub summary: Option<PathBuf>,
    pub group_by: Vec<GroupKey>,
    /// The summary's format; `None`: by its extension.
    pub summary_format: Option<Format>,
    /// Where the manifest goes; `None`: no manifest (no results file).
    pub manifest: Option<PathBuf>,
}

/// What `arrears run` did.
#[derive(Debug)]
pub struct RunOutcome {
    pub report: Report<Summary>,
    pub summary_header: Vec<String>,
    pub summary_rows: Vec<Vec<String>>,
    /// How many leading columns of the summary are group keys.
    pub group_keys: usize,
}

struct ResultsJob<'a> {
    policy: &'a Policy,
    header: Vec<String>,
    buckets: Vec<String>,
    grouping: Grouping,
    repayments: bool,
}

impl Job for ResultsJob<'_> {
    type Stats = Summary;

    fn header(&self) -> Vec<String> {
        self.header.clone()
    }

    fn write(&self, out: &mut impl RowSink, loan: &Loan, f: &Figures) -> u64 {
        write_result(out, loan, f, self.policy, &self.buckets, self.repayments);
        1
    }

    fn fold(
        &self,
        stats: &mut Summary,
        _: Origin,
        loan: &Loan,
        f: &Figures,
    ) -> Result<(), SumOverflow> {
        stats.add(&self.grouping, loan, f, self.policy)
    }

    fn merge(&self, into: &mut Summary, other: Summary) -> Result<(), SumOverflow> {
        into.merge_owned(other)
    }
}

/// Runs the book: writes results and rejects, then the summary, each
/// complete or not at all.
pub fn run(config: &RunConfig) -> Result<RunOutcome, Error> {
    let policy = &config.pipeline.policy;
    let repayments = !config.pipeline.repayments.is_empty();
    let make_job = |layout: &Layout| ResultsJob {
        policy,
        header: results_header(layout, repayments),
        repayments,
        buckets: policy.bucket_labels(),
        grouping: Grouping::new(&config.group_by, layout, policy, repayments),
    };
    let (job, mut report) = pipeline::run(&config.pipeline, make_job)?;
    let names = job.grouping.names();
    let summary_header = crate::summary::header(&names, policy, job.repayments);
    let keys = job.grouping.keys.len();
    let mut files = Vec::new();
    files.extend(report.output_file.take().map(|f| ("results", f)));
    files.extend(report.rejects_file.take().map(|f| ("rejects", f)));
    files.extend(report.unmatched_file.take().map(|f| ("unmatched", f)));
    // A summary file is written row by row (a summary by account has
    // nearly as many rows as the book); only a summary printed on stdout
    // is kept as rows, for the caller.
    let mut summary_rows = Vec::new();
    match &config.summary {
        Some(path) => {
            let format = Format::of(path, config.summary_format);
            let stats = &report.stats;
            let file = crate::io::table::write_file_with(
                path,
                format,
                &summary_header,
                keys,
                &mut |each| stats.rows(&names, policy, job.repayments, &mut *each),
            )?;
            files.push(("summary", file));
        }
        None => summary_rows = report.stats.table(&names, policy, job.repayments)?.1,
    }
    report.outputs = commit_with_manifest(
        "run",
        &config.pipeline,
        &report,
        files,
        config.manifest.as_deref(),
    )?;
    Ok(RunOutcome {
        report,
        summary_header,
        summary_rows,
        group_keys: keys,
    })
}

/// Commits a command's outputs as one set, with the manifest (when asked
/// for) written after them and listing them: all appear, or none.
pub fn commit_with_manifest<S>(
    command: &str,
    config: &PipelineConfig,
    report: &Report<S>,
    files: Vec<(&str, Finished)>,
    manifest: Option<&Path>,
) -> Result<Vec<Written>, Error> {
    let mut files = files;
    if let Some(path) = manifest {
        let inputs = report
            .inputs
            .iter()
            .map(|h| h.digest())
            .collect::<Result<Vec<_>, _>>()?;
        let rows = Rows {
            read: report.rows_read,
            written: report.rows_output,
            rejected: report.rows_rejected,
        };
        let listed: Vec<(&str, &Finished)> = files.iter().map(|(r, f)| (*r, f)).collect();
        let mut manifest =
            Manifest::new(command, config.as_of, &config.policy, inputs, rows, &listed);
        manifest.repayments = config
            .repayments
            .iter()
            .map(|p| crate::io::source::digest_file(p))
            .collect::<Result<_, _>>()?;
        let file = manifest.write(path)?;
        files.push(("manifest", file));
    }
    commit_all(files.into_iter().map(|(_, f)| f).collect())
}

pub fn command(args: &RunArgs) -> anyhow::Result<Exit> {
    let config = args.config()?;
    let outcome = run(&config)?;
    if !args.book.quiet {
        eprint!(
            "{}",
            report_text(&config.pipeline, &outcome.report, "written")
        );
    }
    if config.summary.is_none() {
        let table = (
            &outcome.summary_header,
            &outcome.summary_rows,
            outcome.group_keys,
        );
        print_table_beside(table, &[&args.results], args.book.quiet)?;
    }
    Ok(check_rejects(
        all_rejects(&outcome.report),
        args.report.max_rejects,
    ))
}

/// Prints a table on stdout, or on stderr when one of `outputs` is
/// standard output (`-`) already (and then not at all with --quiet).
pub(crate) fn print_table_beside(
    (header, rows, keys): (&Vec<String>, &Vec<Vec<String>>, usize),
    outputs: &[&Option<PathBuf>],
    quiet: bool,
) -> anyhow::Result<Exit> {
    let taken = outputs
        .iter()
        .any(|p| p.as_deref().is_some_and(crate::io::atomic::is_stdout));
    if !taken {
        return print_table(header, rows, keys);
    }
    if !quiet {
        let mut table = Vec::new();
        crate::io::table::write_table(&mut table, header, rows, keys)?;
        let _ = std::io::stderr().write_all(&table);
    }
    Ok(Exit::Done)
}
