//! The command line: clap types mirroring the flags, their translation into
//! a validated `RunConfig`, the run report, and exit codes. The pipeline
//! never sees clap types.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use chrono::NaiveDate;
use clap::{Args, Parser, Subcommand};

use crate::generate::{self, GenerateConfig};
use crate::parse;
use crate::pipeline::{self, Input, RunConfig, RunReport};
use crate::policy::{self, Policy};
use crate::summary::{self, GroupKey};

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
  3  done and outputs written, but more rows were rejected than --max-rejects allows";

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
    /// Print a built-in policy preset as TOML, to copy and edit.
    Policy(PolicyArgs),
    /// Write a realistic synthetic loan book, for tests and benchmarks.
    Generate(GenerateArgs),
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Loan book CSV files, read in order as one book (all with the same
    /// header). `-` or none: standard input.
    #[arg(value_name = "INPUT")]
    pub inputs: Vec<PathBuf>,
    /// Valuation date for unpaid rows (YYYY-MM-DD). Default: today. The date
    /// used is always printed in the run report.
    #[arg(long, value_name = "DATE", value_parser = parse_date)]
    pub as_of: Option<NaiveDate>,
    /// A built-in preset's name or a TOML policy file laid over the default
    /// preset.
    #[arg(long, value_name = "PRESET_OR_FILE", default_value = policy::DEFAULT_PRESET)]
    pub policy: String,
    /// Write per-loan results to this CSV file. Without it, no results are written.
    #[arg(short = 'o', long = "output", value_name = "RESULTS.csv")]
    pub results: Option<PathBuf>,
    /// Write the summary to this CSV file. Without it, the summary prints as
    /// an aligned table on stdout.
    #[arg(long, value_name = "SUMMARY.csv")]
    pub summary: Option<PathBuf>,
    /// Write rejected rows here. Default: <results stem>.rejects.csv beside
    /// -o, or rejects.csv in the working directory without -o.
    #[arg(long, value_name = "REJECTS.csv")]
    pub rejects: Option<PathBuf>,
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
    /// Rejected rows allowed before the run exits 3 (outputs are written either way).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub max_rejects: u64,
    /// Worker threads for parsing and computing; 0 = one per core. Never changes the output.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub threads: usize,
    /// Records per batch handed to the workers. Never changes the output.
    #[arg(long, value_name = "N", default_value_t = 16_384, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub batch_size: u64,
    /// No progress bar and no run report on stderr; errors still print.
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct PolicyArgs {
    /// The preset to print.
    #[arg(default_value = policy::DEFAULT_PRESET)]
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
    /// Output CSV file.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: PathBuf,
}

fn parse_date(text: &str) -> Result<NaiveDate, String> {
    parse::date(text)
}

impl RunArgs {
    /// Builds the validated configuration: loads the policy, names the
    /// inputs and the default rejects path.
    pub fn config(&self) -> anyhow::Result<RunConfig> {
        let policy = Policy::load(&self.policy)?;
        let inputs = if self.inputs.is_empty() {
            vec![Input::Stdin]
        } else {
            self.inputs
                .iter()
                .map(|p| {
                    if p.as_os_str() == "-" {
                        Input::Stdin
                    } else {
                        Input::File(p.clone())
                    }
                })
                .collect()
        };
        let rejects = match (&self.rejects, &self.results) {
            (Some(path), _) => path.clone(),
            (None, Some(results)) => default_rejects_path(results),
            (None, None) => PathBuf::from("rejects.csv"),
        };
        Ok(RunConfig {
            inputs,
            as_of: self
                .as_of
                .unwrap_or_else(|| chrono::Local::now().date_naive()),
            policy,
            results: self.results.clone(),
            summary: self.summary.clone(),
            rejects,
            group_by: self.group_by.clone(),
            threads: self.threads,
            batch_size: self.batch_size as usize,
            progress: !self.quiet,
        })
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
    match cli.command {
        Command::Run(args) => run(&args),
        Command::Policy(args) => {
            if args.list {
                for name in policy::preset_names() {
                    println!("{name}");
                }
                return Ok(Exit::Done);
            }
            let text = policy::preset(&args.preset).with_context(|| {
                format!(
                    "no preset {:?}; presets: {}",
                    args.preset,
                    policy::preset_names().join(", ")
                )
            })?;
            print_quietly(text.as_bytes())
        }
        Command::Generate(args) => {
            generate::write_book(
                &GenerateConfig {
                    rows: args.rows,
                    seed: args.seed,
                    as_of: args.as_of,
                },
                &args.output,
            )?;
            Ok(Exit::Done)
        }
    }
}

fn run(args: &RunArgs) -> anyhow::Result<Exit> {
    let config = args.config()?;
    let report = pipeline::run(&config)?;
    if !args.quiet {
        eprint!("{}", report_text(&config, &report));
    }
    if config.summary.is_none() {
        let mut table = Vec::new();
        summary::write_table(
            &mut table,
            &report.summary_header,
            &report.summary_rows,
            report.group_keys,
        )?;
        print_quietly(&table)?;
    }
    if report.rows_rejected > args.max_rejects {
        eprintln!(
            "arrears: {} rows rejected, more than --max-rejects {} allows (exit 3)",
            report.rows_rejected, args.max_rejects
        );
        return Ok(Exit::TooManyRejects);
    }
    Ok(Exit::Done)
}

/// Writes to stdout; a closed pipe (`| head`) ends the output quietly.
fn print_quietly(bytes: &[u8]) -> anyhow::Result<Exit> {
    let mut out = io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Ok(()) => Ok(Exit::Done),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(Exit::Done),
        Err(e) => Err(e).context("writing to stdout"),
    }
}

/// The run report printed on stderr.
pub fn report_text(config: &RunConfig, report: &RunReport) -> String {
    let seconds = report.elapsed.as_secs_f64();
    let rate = if seconds > 0.0 {
        report.rows_read as f64 / seconds
    } else {
        0.0
    };
    let mut text = format!(
        "arrears: as of {}, policy {}\narrears: {} rows read, {} written, {} rejected in {:.2} s ({:.0} rows/s)\n",
        config.as_of,
        config.policy.name,
        report.rows_read,
        report.rows_written,
        report.rows_rejected,
        seconds,
        rate
    );
    for message in &report.first_rejects {
        text.push_str(&format!("arrears: rejected {message}\n"));
    }
    if report.rows_rejected > report.first_rejects.len() as u64 {
        text.push_str(&format!(
            "arrears: ... and {} more rejects\n",
            report.rows_rejected - report.first_rejects.len() as u64
        ));
    }
    let outputs: Vec<String> = report
        .outputs
        .iter()
        .map(|p| p.display().to_string())
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
            "x/r.csv",
            "--group-by",
            "region,bucket",
        ])
        .unwrap();
        let Command::Run(args) = cli.command else {
            panic!("not run")
        };
        let config = args.config().unwrap();
        assert_eq!(
            config.inputs,
            vec![Input::File("a.csv".into()), Input::Stdin]
        );
        assert_eq!(config.as_of, NaiveDate::from_ymd_opt(2025, 6, 30).unwrap());
        assert_eq!(config.rejects, PathBuf::from("x/r.rejects.csv"));
        assert_eq!(config.group_by, vec![GroupKey::Region, GroupKey::Bucket]);
        assert!(Cli::try_parse_from(["arrears", "run", "--as-of", "30/06/2025"]).is_err());
        assert!(Cli::try_parse_from(["arrears", "run", "--group-by", "colour"]).is_err());
    }
}
