//! The command line: clap types mirroring the flags, their translation into
//! a validated `RunConfig`, the run report, and exit codes. The pipeline
//! never sees clap types.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use chrono::NaiveDate;
use clap::{Args, Parser, Subcommand};
use encoding_rs::Encoding;

use crate::cmd;
use crate::cmd::run::RunConfig;

use crate::io::output::Format;
use crate::io::payments::default_unmatched_path;
use crate::io::pipeline::{Input, PipelineConfig, Report};
use crate::io::source::Compression;
use crate::parse;
use crate::policy::{self, Policy};
use crate::summary::GroupKey;

/// Exit codes a scheduler can act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Done: every output written.
    Done = 0,
    /// Failed: no output written (unreadable file, missing column, bad policy, I/O error).
    Failed = 1,
    /// Usage error: bad flags or arguments.
    Usage = 2,
    /// Done and outputs written, but more rows were rejected than --max-rejects allows.
    TooManyRejects = 3,
}

/// An error in how the command was called (exit 2), found after clap
/// parsed the flags: e.g. an output that is also an input.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// Checks a command's inputs and outputs before any work (see `paths`):
/// a clash is a usage error, an unwritable output a failure.
pub(crate) fn check_paths(inputs: &[PathBuf], outputs: &[(&str, &Path)]) -> anyhow::Result<()> {
    // Outputs are CSV or Parquet; a compressed name would hold plain CSV
    // that no reader (arrears included) takes for what it says.
    for (flag, path) in outputs {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        if matches!(ext.as_deref(), Some("gz" | "gzip" | "zst" | "zstd"))
            && !crate::io::atomic::is_direct(path)
        {
            return Err(UsageError(format!(
                "{flag} {}: outputs are CSV or Parquet, never compressed; name it .csv (compress it afterwards) or .parquet (compressed inside)",
                path.display()
            ))
            .into());
        }
    }
    check_any_paths(inputs, outputs)
}

/// `check_paths` without the check of compressed names (for `generate`,
/// which writes compressed books).
pub(crate) fn check_any_paths(inputs: &[PathBuf], outputs: &[(&str, &Path)]) -> anyhow::Result<()> {
    match crate::io::paths::check(inputs, outputs) {
        Ok(()) => Ok(()),
        Err(crate::io::paths::PathError::Clash(m)) => Err(UsageError(m).into()),
        Err(crate::io::paths::PathError::Unwritable(m)) => Err(anyhow::anyhow!(m)),
    }
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> ExitCode {
        ExitCode::from(e as u8)
    }
}

const EXIT_CODES: &str = "\
Exit codes:
  0  done: every output written
  1  failed, no output written (unreadable file, missing column, bad policy, I/O error)
  2  usage error
  3  done and outputs written, but more rows were rejected than --max-rejects allows
  129, 130, 143  stopped by SIGHUP, SIGINT or SIGTERM; unfinished outputs removed
  141  an output on standard output whose reader went away (`-o - | head`)";

#[derive(Debug, Parser)]
#[command(name = "arrears", version, about = "Overdue charges, cap audit, classification and provisions for loan books", after_help = EXIT_CODES)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Compute every loan's overdue charges, caps, status and provision; write results and a summary.
    #[command(after_help = EXIT_CODES)]
    Run(RunArgs),
    /// List only the rows that breach a cap, with each breached cap's limit and excess, and a summary per cap and currency.
    #[command(after_help = EXIT_CODES)]
    Audit(AuditArgs),
    /// Show every step from the raw fields to the final figures of the named loans.
    #[command(
        after_help = "Exit codes:\n  0  every named loan explained\n  1  failed, or a named loan was not found among the accepted rows\n  2  usage error"
    )]
    Explain(ExplainArgs),
    /// Rebuild the summary from results files (one or many, CSV or Parquet), grouped by any of their columns.
    #[command(after_help = SUMMARIZE_HELP)]
    Summarize(SummarizeArgs),
    /// Compare two nights' results: per-loan moves, the migration matrix with roll-forward and cure rates, the provision movement and its journal.
    #[command(after_help = MOVEMENT_HELP)]
    Movement(MovementArgs),
    /// Write one self-contained HTML page of the book's state per currency, with charts: aging, classes and provisions, days past due, the cap audit, and with --previous the migration matrix and the provision movement.
    #[command(after_help = REPORT_HELP)]
    Report(ReportPageArgs),
    /// Print a built-in policy preset as TOML, to copy and edit; or check a policy file and print it resolved.
    Policy(PolicyArgs),
    /// Write a realistic synthetic loan book, for tests and benchmarks.
    Generate(GenerateArgs),
}

/// The flags every command that reads a book shares.
#[derive(Debug, Args)]
pub struct BookArgs {
    /// Loan books, read in order as one book (all with the same columns):
    /// CSV, `.csv.gz` / `.csv.zst` compressed CSV, or `.parquet`. `-` or
    /// none: standard input (CSV; see --compression).
    #[arg(value_name = "INPUT")]
    pub inputs: Vec<PathBuf>,
    /// Valuation date for unpaid rows (YYYY-MM-DD). Default: today. The date
    /// used is always printed in the run report.
    #[arg(long, value_name = "DATE", value_parser = parse_date)]
    pub as_of: Option<NaiveDate>,
    /// A built-in preset's name (see `arrears policy --list`) or a TOML
    /// policy file laid over its `base` preset (default cn-bank).
    #[arg(long, value_name = "PRESET_OR_FILE", default_value = policy::DEFAULT_PRESET)]
    pub policy: String,
    /// Worker threads for parsing and computing; 0 = one per core. Never changes the output.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub threads: usize,
    /// Records per batch handed to the workers. Never changes the output.
    #[arg(long, value_name = "N", default_value_t = 16_384, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub batch_size: u64,
    /// No progress bar and no run report on stderr; errors still print.
    #[arg(short, long)]
    pub quiet: bool,
    /// The input's character encoding: utf-8, gbk or gb18030. Bytes that do
    /// not decode make their row a reject.
    #[arg(long, value_name = "NAME", default_value = "utf-8", value_parser = parse_encoding)]
    pub encoding: &'static Encoding,
    /// Reject every row whose loan_id came before (the first occurrence is
    /// kept). Memory grows with the number of distinct ids (see README).
    #[arg(long)]
    pub unique_ids: bool,
    /// How standard input is compressed. Files say it by their extension
    /// (.gz, .zst).
    #[arg(long, value_name = "KIND", value_enum, default_value_t = Compression::None)]
    pub compression: Compression,
    /// Payments received while overdue (SPEC.md section 5): files with
    /// loan_id, date, amount (CSV, .gz/.zst or .parquet; headers mapped by
    /// the policy's [repayment_columns]). Charges then accrue on what is
    /// still unpaid, the results gain the repayment columns, and the
    /// book's loan_ids must be unique (a repeated one is a reject).
    #[arg(long, value_name = "FILE", num_args = 1..)]
    pub repayments: Vec<PathBuf>,
}

/// The flags of the files beside a command's main output.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Write the summary to this file (CSV, or Parquet by a .parquet name or
    /// --format). Without it, the summary prints as an aligned table on stdout.
    #[arg(long, value_name = "SUMMARY.csv")]
    pub summary: Option<PathBuf>,
    /// Write rejected rows here. Default: <output stem>.rejects.csv beside
    /// -o, or rejects.csv in the working directory without -o.
    #[arg(long, value_name = "REJECTS.csv", value_parser = csv_path)]
    pub rejects: Option<PathBuf>,
    /// Rejected rows allowed before the command exits 3 (outputs are written either way).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub max_rejects: u64,
    /// The format of -o and --summary. Default: by each file's extension,
    /// .parquet for Parquet, anything else CSV. Rejects are always CSV.
    #[arg(long, value_name = "FORMAT", value_enum)]
    pub format: Option<Format>,
    /// With --repayments: write the payments that belong to no accepted
    /// book row here (CSV: file, line, loan_id, date, amount, reason).
    /// Default: beside the rejects file, `rejects` in its name replaced by
    /// `unmatched` (out/r.rejects.csv -> out/r.unmatched.csv).
    #[arg(long, value_name = "UNMATCHED.csv", value_parser = csv_path)]
    pub unmatched: Option<PathBuf>,
    /// Parquet outputs: money, rates and ratios as decimal(38, s) (16
    /// bytes a value) instead of decimal(18, s) (an INT64 in the file).
    /// Without it, an amount of more than 18 digits (10^16 or more, in
    /// money) fails the run, naming the file, loan, column and value; with
    /// it, every amount a valid book can hold fits. CSV is the same either way.
    #[arg(long)]
    pub wide_decimals: bool,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub book: BookArgs,
    /// Write per-loan results to this file (CSV, or Parquet by a .parquet
    /// name or --format). Without it, no results are written.
    #[arg(short = 'o', long = "output", value_name = "RESULTS.csv")]
    pub results: Option<PathBuf>,
    #[command(flatten)]
    pub report: ReportArgs,
    /// Summary group keys, comma-separated, from: currency, product,
    /// account_id, region, bucket, status, classification. Currency is
    /// always the first key.
    #[arg(
        long,
        value_name = "COLS",
        value_delimiter = ',',
        default_value = "currency,product,bucket"
    )]
    pub group_by: Vec<GroupKey>,
    /// Accepted and ignored, so that existing scripts still run: the results
    /// always have the `outstanding` column after principal (SPEC.md
    /// section 3), which this flag used to add.
    #[arg(long)]
    pub with_outstanding: bool,
}

#[derive(Debug, Args)]
pub struct AuditArgs {
    #[command(flatten)]
    pub book: BookArgs,
    /// Write the breaching rows to this file (CSV, or Parquet by a .parquet
    /// name or --format). Without it, only the audit summary (per cap and
    /// currency) is produced.
    #[arg(short = 'o', long = "output", value_name = "BREACHES.csv")]
    pub breaches: Option<PathBuf>,
    #[command(flatten)]
    pub report: ReportArgs,
}

#[derive(Debug, Args)]
pub struct ExplainArgs {
    #[command(flatten)]
    pub book: BookArgs,
    /// A loan to explain; repeat for several. Every row with that loan_id is explained.
    #[arg(long = "loan-id", value_name = "ID", required = true)]
    pub loan_ids: Vec<String>,
    /// Print the explanations as JSON (an array), the same steps as data.
    #[arg(long)]
    pub json: bool,
}

const SUMMARIZE_HELP: &str = "\
The figures are the run's own summary, exactly, when the results are grouped
as the run was and the run's --policy is given. outstanding, npl_ratio and
coverage need the results' `outstanding` column (written by every run; results
of older versions lacked it unless run with --with-outstanding); without that
column they are left empty (with a warning).

Exit codes:
  0  done
  1  failed, nothing written (unreadable file, missing column, bad value)
  2  usage error";

#[derive(Debug, Args)]
pub struct SummarizeArgs {
    /// Results files written by `arrears run` (.csv, .csv.gz, .csv.zst or
    /// .parquet), tallied together.
    #[arg(value_name = "RESULTS", required = true)]
    pub inputs: Vec<PathBuf>,
    /// Group keys, comma-separated: any results column (currency, product,
    /// region, bucket, status, classification, days_overdue, ...), or
    /// due_month / end_month (YYYY-MM), or as_of (each file's as-of date,
    /// from its manifest; files of different dates need it). Currency is
    /// always the first key.
    #[arg(
        long,
        value_name = "COLS",
        value_delimiter = ',',
        default_value = "currency,product,bucket"
    )]
    pub group_by: Vec<String>,
    /// The policy of the run that wrote the results: its caps, buckets and
    /// classes name and order the summary's rows and columns.
    #[arg(long, value_name = "PRESET_OR_FILE", default_value = policy::DEFAULT_PRESET)]
    pub policy: String,
    /// Write the summary to this file (CSV, or Parquet by a .parquet name or
    /// --format). Without it, the summary prints as an aligned table.
    #[arg(short = 'o', long = "output", value_name = "SUMMARY.csv")]
    pub output: Option<PathBuf>,
    /// The format of -o. Default: by its extension.
    #[arg(long, value_name = "FORMAT", value_enum)]
    pub format: Option<Format>,
    /// Parquet outputs: money, rates and ratios as decimal(38, s) (16
    /// bytes a value) instead of decimal(18, s) (an INT64 in the file).
    /// Without it, an amount of more than 18 digits (10^16 or more, in
    /// money) fails the run, naming the file, loan, column and value; with
    /// it, every amount a valid book can hold fits. CSV is the same either way.
    #[arg(long)]
    pub wide_decimals: bool,
    /// No report on stderr; errors and warnings still print.
    #[arg(short, long)]
    pub quiet: bool,
}

const MOVEMENT_HELP: &str = "\
Each file's as-of date and CURRENT's policy come from the manifests beside
them (written by `run`); --as-of / --previous-as-of / --policy stand in for
a file without one. Without --summary the matrix prints as a table per
currency; without --provisions the provision movement prints after it.

Exit codes:
  0  done: every output written
  1  failed, nothing written (unreadable file, missing column, a loan_id twice, an unknown bucket or class)
  2  usage error (an output that is an input or another output; PREVIOUS later than CURRENT)";

#[derive(Debug, Args)]
pub struct MovementArgs {
    /// The earlier night's results file (CSV, .csv.gz, .csv.zst or .parquet, as written by `run`).
    #[arg(value_name = "PREVIOUS")]
    pub previous: PathBuf,
    /// The later night's results file.
    #[arg(value_name = "CURRENT")]
    pub current: PathBuf,
    /// What a loan's state is: its bucket, its classification or its status.
    #[arg(long, value_enum, default_value_t = crate::cmd::movement::By::Bucket)]
    pub by: crate::cmd::movement::By,
    /// The policy (bucket and class order, accounting). Default: the one in
    /// CURRENT's manifest, else cn-bank.
    #[arg(long, value_name = "PRESET_OR_FILE")]
    pub policy: Option<String>,
    /// Write the per-loan moves here.
    #[arg(short = 'o', long = "output", value_name = "MOVES.csv")]
    pub moves: Option<PathBuf>,
    /// Write the migration matrix here (else it prints as tables on stdout).
    #[arg(long, value_name = "MATRIX.csv")]
    pub summary: Option<PathBuf>,
    /// Write the provision movement per currency here (else it prints on stdout).
    #[arg(long, value_name = "MOVEMENT.csv")]
    pub provisions: Option<PathBuf>,
    /// Write the journal entries here (dated CURRENT's as-of).
    #[arg(long, value_name = "JOURNAL.csv")]
    pub journal: Option<PathBuf>,
    /// The format of every output. Default: by each file's extension.
    #[arg(long, value_name = "FORMAT", value_enum)]
    pub format: Option<Format>,
    /// Parquet outputs: money, rates and ratios as decimal(38, s) (16
    /// bytes a value) instead of decimal(18, s) (an INT64 in the file).
    /// Without it, an amount of more than 18 digits (10^16 or more, in
    /// money) fails the run, naming the file, loan, column and value; with
    /// it, every amount a valid book can hold fits. CSV is the same either way.
    #[arg(long)]
    pub wide_decimals: bool,
    /// CURRENT's as-of date, for a file without a manifest.
    #[arg(long, value_name = "DATE", value_parser = parse_date)]
    pub as_of: Option<NaiveDate>,
    /// PREVIOUS's as-of date, for a file without a manifest.
    #[arg(long, value_name = "DATE", value_parser = parse_date)]
    pub previous_as_of: Option<NaiveDate>,
    /// No report on stderr.
    #[arg(short, long)]
    pub quiet: bool,
}

const REPORT_HELP: &str = "\
The page is one HTML file with inline CSS and SVG charts: no script, nothing
loaded from elsewhere; it opens offline and prints to PDF. Every figure is
`arrears summarize`'s (and with --previous `arrears movement`'s, by bucket),
in tables beside the charts. The results are read once, in flat memory.
The policy is --policy, else the one in the first results file's manifest,
else cn-bank; in a cn preset the labels carry the Chinese terms.

Exit codes:
  0  done: the page written
  1  failed, nothing written (unreadable file, missing column, bad value, results of different nights)
  2  usage error (the page would overwrite an input; --previous with several results files)";

#[derive(Debug, Args)]
pub struct ReportPageArgs {
    /// Results files written by `arrears run` (.csv, .csv.gz, .csv.zst or
    /// .parquet) of one night, reported together.
    #[arg(value_name = "RESULTS", required = true)]
    pub inputs: Vec<PathBuf>,
    /// The previous night's results: adds the migration matrix (by bucket)
    /// and the provision movement. Needs a single RESULTS file.
    #[arg(long, value_name = "PREVIOUS_RESULTS")]
    pub previous: Option<PathBuf>,
    /// The policy of the run that wrote the results. Default: the one in
    /// the first results file's manifest, else cn-bank.
    #[arg(long, value_name = "PRESET_OR_FILE")]
    pub policy: Option<String>,
    /// The keys of the detailed summary table at the end of each currency
    /// (as `summarize --group-by`).
    #[arg(
        long,
        value_name = "COLS",
        value_delimiter = ',',
        default_value = "currency,product,bucket"
    )]
    pub group_by: Vec<String>,
    /// The HTML page to write.
    #[arg(short = 'o', long = "output", value_name = "REPORT.html")]
    pub output: PathBuf,
    /// No report on stderr.
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct PolicyArgs {
    /// The preset to print, or a policy file to check and print as
    /// resolved (its fields laid over its base preset).
    #[arg(value_name = "PRESET_OR_FILE", default_value = policy::DEFAULT_PRESET)]
    pub preset: String,
    /// List the built-in presets instead.
    #[arg(long)]
    pub list: bool,
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// Number of loan rows.
    #[arg(long, value_name = "N")]
    pub rows: u64,
    /// Random seed: the same seed gives the same book.
    #[arg(long, value_name = "S", default_value_t = 1)]
    pub seed: u64,
    /// Book valuation date the due dates are spread around.
    #[arg(long, value_name = "DATE", value_parser = parse_date, default_value = "2025-06-30")]
    pub as_of: NaiveDate,
    /// Output file, in the format its name says (as `run` reads it): CSV,
    /// .csv.gz or .csv.zst compressed CSV, or .parquet.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: PathBuf,
    /// Also write the payments received on the book's rows here (CSV:
    /// loan_id, date, amount), for `run --repayments`: partial payments,
    /// settling and overpaying ones, some before the due date or after the
    /// as-of date, a few for loan_ids the book lacks. The book's bytes do
    /// not change.
    #[arg(long, value_name = "FILE")]
    pub repayments: Option<PathBuf>,
    /// Also write the same book's next night here (for `arrears movement`):
    /// some loans closed, settled, cured or rescheduled, the rest a month
    /// older, some new.
    #[arg(long, value_name = "FILE")]
    pub next_night: Option<PathBuf>,
    /// The next night's valuation date. Default: a month after --as-of.
    #[arg(long, value_name = "DATE", value_parser = parse_date, requires = "next_night")]
    pub next_as_of: Option<NaiveDate>,
}

/// The rejects path: always CSV (a reject keeps its raw text), so a
/// `.parquet` name is refused rather than filled with CSV.
fn csv_path(text: &str) -> Result<PathBuf, String> {
    let path = PathBuf::from(text);
    match path.extension().and_then(|e| e.to_str()) {
        Some(ext) if ext.eq_ignore_ascii_case("parquet") => {
            Err("the rejects file is always CSV; name it .csv".into())
        }
        _ => Ok(path),
    }
}

fn parse_encoding(name: &str) -> Result<&'static Encoding, String> {
    match name.to_ascii_lowercase().as_str() {
        "utf-8" | "utf8" => Ok(encoding_rs::UTF_8),
        "gbk" => Ok(encoding_rs::GBK),
        "gb18030" => Ok(encoding_rs::GB18030),
        _ => Err(format!(
            "unknown encoding {name:?}; choose utf-8, gbk or gb18030"
        )),
    }
}

fn parse_date(text: &str) -> Result<NaiveDate, String> {
    parse::date(text)
}

impl BookArgs {
    /// With --repayments: the unmatched-payments file, as given or beside
    /// the rejects file.
    pub fn unmatched_path(&self, given: &Option<PathBuf>, rejects: &Path) -> Option<PathBuf> {
        match self.repayments.is_empty() {
            true => None,
            false => Some(
                given
                    .clone()
                    .unwrap_or_else(|| default_unmatched_path(rejects)),
            ),
        }
    }

    /// The books and the payment files: what no output may overwrite.
    pub fn all_inputs(&self) -> Vec<PathBuf> {
        let mut all = self.inputs.clone();
        all.extend(self.repayments.iter().cloned());
        all
    }

    /// The pipeline's configuration: loads the policy and names the inputs.
    pub fn pipeline(
        &self,
        output: Option<PathBuf>,
        format: Option<Format>,
        rejects: Option<PathBuf>,
        unmatched: Option<PathBuf>,
    ) -> anyhow::Result<PipelineConfig> {
        if self.repayments.iter().any(|p| p.as_os_str() == "-") {
            return Err(UsageError("--repayments takes files, not standard input".into()).into());
        }
        let format = output
            .as_deref()
            .map_or(Format::Csv, |path| Format::of(path, format));
        if format == Format::Parquet && !cfg!(feature = "parquet") {
            anyhow::bail!("this build of arrears has no Parquet support (cargo feature `parquet`)");
        }
        let policy = Policy::load(&self.policy)?;
        let inputs = if self.inputs.is_empty() {
            vec![Input::Stdin]
        } else {
            let input = |p: &PathBuf| {
                if p.as_os_str() == "-" {
                    Input::Stdin
                } else {
                    Input::File(p.clone())
                }
            };
            self.inputs.iter().map(input).collect()
        };
        Ok(PipelineConfig {
            inputs,
            as_of: self
                .as_of
                .unwrap_or_else(|| chrono::Local::now().date_naive()),
            policy,
            output,
            rejects,
            threads: self.threads,
            batch_size: self.batch_size as usize,
            progress: !self.quiet,
            encoding: Some(self.encoding),
            unique_ids: self.unique_ids,
            stdin_compression: self.compression,
            format,
            repayments: self.repayments.clone(),
            unmatched,
            trace: false,
        })
    }
}

impl RunArgs {
    pub fn config(&self) -> anyhow::Result<RunConfig> {
        let (rejects, unmatched, manifest) = self.report.checked(&self.results, &self.book)?;
        Ok(RunConfig {
            pipeline: self.book.pipeline(
                self.results.clone(),
                self.report.format,
                Some(rejects),
                unmatched,
            )?,
            summary: self.report.summary.clone(),
            group_by: self.group_by.clone(),
            summary_format: self.report.format,
            manifest,
        })
    }
}

impl ReportArgs {
    /// The rejects and manifest paths beside `output`, every output checked
    /// against the inputs and each other before any work.
    /// The rejects file, the unmatched-payments file (with --repayments)
    /// and the manifest, checked against the inputs (books and payment
    /// files) and each other.
    pub(crate) fn checked(
        &self,
        output: &Option<PathBuf>,
        book: &BookArgs,
    ) -> anyhow::Result<(PathBuf, Option<PathBuf>, Option<PathBuf>)> {
        let rejects = rejects_path(&self.rejects, output);
        let unmatched = book.unmatched_path(&self.unmatched, &rejects);
        let manifest = output
            .as_deref()
            .filter(|p| !crate::io::atomic::is_direct(p))
            .map(crate::io::manifest::path_for);
        let mut outputs: Vec<(&str, &Path)> = Vec::new();
        outputs.extend(output.as_deref().map(|p| ("-o", p)));
        outputs.push(("--rejects", &rejects));
        outputs.extend(unmatched.as_deref().map(|p| ("--unmatched", p)));
        outputs.extend(self.summary.as_deref().map(|p| ("--summary", p)));
        outputs.extend(manifest.as_deref().map(|p| ("the manifest", p)));
        check_paths(&book.all_inputs(), &outputs)?;
        Ok((rejects, unmatched, manifest))
    }
}

/// The rejects file: as given, or beside the output, or in the working directory.
pub(crate) fn rejects_path(rejects: &Option<PathBuf>, output: &Option<PathBuf>) -> PathBuf {
    match (rejects, output) {
        (Some(path), _) => path.clone(),
        (None, Some(output)) if !crate::io::atomic::is_direct(output) => {
            default_rejects_path(output)
        }
        (None, _) => PathBuf::from("rejects.csv"),
    }
}

/// `out/results.csv` -> `out/results.rejects.csv`.
pub fn default_rejects_path(results: &Path) -> PathBuf {
    let stem = results
        .file_stem()
        .map_or_else(|| "results".into(), |s| s.to_string_lossy().into_owned());
    results.with_file_name(format!("{stem}.rejects.csv"))
}

/// Runs a parsed command line and says how it ended.
pub fn execute(cli: Cli) -> anyhow::Result<Exit> {
    // Decided before anything is written: the Parquet decimal width of
    // every output of the command.
    #[cfg(feature = "parquet")]
    crate::io::parquet::set_wide_decimals(match &cli.command {
        Command::Run(args) => args.report.wide_decimals,
        Command::Audit(args) => args.report.wide_decimals,
        Command::Summarize(args) => args.wide_decimals,
        Command::Movement(args) => args.wide_decimals,
        _ => false,
    });
    match cli.command {
        Command::Run(args) => cmd::run::command(&args),
        Command::Audit(args) => cmd::audit::command(&args),
        Command::Explain(args) => cmd::explain::command(&args),
        Command::Summarize(args) => cmd::summarize::command(&args),
        Command::Movement(args) => cmd::movement::command(&args),
        Command::Report(args) => cmd::report::command(&args),
        Command::Policy(args) => cmd::policy::command(&args),
        Command::Generate(args) => cmd::generate::command(&args),
    }
}

/// A file's as-of date: from its manifest, or the flag standing in for it;
/// both given and different is an error.
pub(crate) fn night_as_of(
    file: &Path,
    flag: Option<NaiveDate>,
    name: &str,
) -> anyhow::Result<(Option<String>, Option<crate::io::manifest::Manifest>)> {
    let manifest = crate::io::manifest::Manifest::beside(file)?;
    let from_manifest = manifest.as_ref().map(|m| m.as_of.clone());
    let given = flag.map(|d| d.to_string());
    match (&from_manifest, &given) {
        (Some(m), Some(g)) if m != g => Err(UsageError(format!(
            "{name} {}: its manifest says as of {m}, {g} was given",
            file.display()
        ))
        .into()),
        _ => Ok((from_manifest.or(given), manifest)),
    }
}

/// A policy given by flag, else the one in a results file's manifest, else
/// the default preset.
pub(crate) fn policy_of(
    flag: Option<&str>,
    manifest: Option<&crate::io::manifest::Manifest>,
    results: &Path,
) -> anyhow::Result<Policy> {
    Ok(match (flag, manifest) {
        (Some(spec), _) => Policy::load(spec)?,
        (None, Some(m)) => {
            let origin = crate::io::manifest::path_for(results).display().to_string();
            let mut policy = Policy::from_toml(&m.policy.resolved, &origin)?;
            policy.file = m.policy.file.clone();
            // The manifest names the preset it was laid over (the resolved
            // TOML alone would read as laid over the default).
            policy.base = m.policy.base.clone();
            policy
        }
        (None, None) => Policy::load(policy::DEFAULT_PRESET)?,
    })
}

/// Rejected book rows and payment rows: every row of the rejects file.
pub(crate) fn all_rejects<S>(report: &Report<S>) -> u64 {
    report.rows_rejected + report.payments.map_or(0, |p| p.rejected)
}

/// Exit 3 when more rows were rejected than allowed.
pub(crate) fn check_rejects(rejected: u64, allowed: u64) -> Exit {
    if rejected <= allowed {
        return Exit::Done;
    }
    eprintln!(
        "arrears: {rejected} rows rejected, more than --max-rejects {allowed} allows (exit 3)"
    );
    Exit::TooManyRejects
}

pub(crate) fn print_table(
    header: &[String],
    rows: &[Vec<String>],
    keys: usize,
) -> anyhow::Result<Exit> {
    let mut table = Vec::new();
    crate::io::table::write_table(&mut table, header, rows, keys)?;
    print_quietly(&table)
}

/// Writes to stdout; a closed pipe (`| head`) ends the output quietly.
pub(crate) fn print_quietly(bytes: &[u8]) -> anyhow::Result<Exit> {
    let mut out = io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Ok(()) => Ok(Exit::Done),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(Exit::Done),
        Err(e) => Err(e).context("writing to stdout"),
    }
}

/// The run report printed on stderr; `accepted` names what happened to the
/// rows that were not rejected.
pub fn report_text<S>(config: &PipelineConfig, report: &Report<S>, accepted: &str) -> String {
    let seconds = report.elapsed.as_secs_f64();
    let rate = if seconds > 0.0 {
        report.rows_read as f64 / seconds
    } else {
        0.0
    };
    let mut text = format!(
        "arrears: as of {}, policy {}\narrears: {} rows read, {} {accepted}, {} rejected in {:.2} s ({:.0} rows/s)\n",
        config.as_of,
        config.policy.describe(),
        report.rows_read,
        report.rows_accepted,
        report.rows_rejected,
        seconds,
        rate
    );
    if let Some(p) = &report.payments {
        text.push_str(&format!(
            "arrears: repayments: {} read, {} applied, {} after the as-of date (ignored), {} unmatched, {} rejected\n",
            p.read, p.applied, p.after_as_of, p.unmatched, p.rejected
        ));
    }
    for message in &report.first_rejects {
        text.push_str(&format!("arrears: rejected {message}\n"));
    }
    if all_rejects(report) > report.first_rejects.len() as u64 {
        text.push_str(&format!(
            "arrears: ... and {} more rejects\n",
            all_rejects(report) - report.first_rejects.len() as u64
        ));
    }
    let outputs: Vec<String> = report
        .outputs
        .iter()
        .map(|w| match w.path.as_os_str() == "-" {
            true => "standard output".to_string(),
            false => w.path.display().to_string(),
        })
        .collect();
    text.push_str(&format!("arrears: wrote {}\n", outputs.join(", ")));
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn default_rejects_sit_beside_results() {
        assert_eq!(
            default_rejects_path(Path::new("out/results.csv")),
            PathBuf::from("out/results.rejects.csv")
        );
        assert_eq!(
            default_rejects_path(Path::new("r")),
            PathBuf::from("r.rejects.csv")
        );
    }

    #[test]
    fn run_flags_build_a_config() {
        let cli = Cli::try_parse_from([
            "arrears",
            "run",
            "a.csv",
            "-",
            "--as-of",
            "2025/06/30",
            "-o",
            "src/r.csv", // an existing directory: outputs are checked
            "--group-by",
            "region,bucket",
        ])
        .unwrap();
        let Command::Run(args) = cli.command else {
            panic!("not run")
        };
        let config = args.config().unwrap();
        let pipeline = &config.pipeline;
        assert_eq!(
            pipeline.inputs,
            vec![Input::File("a.csv".into()), Input::Stdin]
        );
        assert_eq!(
            pipeline.as_of,
            NaiveDate::from_ymd_opt(2025, 6, 30).unwrap()
        );
        assert_eq!(pipeline.rejects, Some(PathBuf::from("src/r.rejects.csv")));
        assert_eq!(pipeline.output, Some(PathBuf::from("src/r.csv")));
        assert_eq!(config.manifest, Some(PathBuf::from("src/r.manifest.json")));
        assert_eq!(config.group_by, vec![GroupKey::Region, GroupKey::Bucket]);
        assert!(Cli::try_parse_from(["arrears", "run", "--as-of", "30/06/2025"]).is_err());
        assert!(Cli::try_parse_from(["arrears", "run", "--group-by", "colour"]).is_err());
        assert!(Cli::try_parse_from(["arrears", "run", "--rejects", "r.parquet"]).is_err());
        assert!(Cli::try_parse_from(["arrears", "audit", "--rejects", "s.PARQUET"]).is_err());
    }
}
