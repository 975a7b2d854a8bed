//! `arrears summarize`: the run's summary rebuilt from results files (one
//! or many, CSV or Parquet), grouped by any of their columns. The same
//! tallies as the run's summary, so the same figures, exactly.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use csv::ByteRecord;
use rayon::prelude::*;
use rust_decimal::Decimal;

use crate::cli::{check_paths, print_table, Exit, SummarizeArgs};
use crate::compute::Status;
use crate::error::Error;
use crate::io::output::Format;
use crate::io::source::Source;
use crate::money::Money;
use crate::policy::{Component, Policy};
use crate::summary::{push_key_part, Contribution, Summary, NPL_CLASSES};

/// Group keys made from a date column: its year and month, `YYYY-MM`.
const MONTH_KEYS: [(&str, &str); 2] = [("due_month", "due_date"), ("end_month", "end_date")];

/// The results columns a summary is made of.
const NEEDED: [&str; 14] = [
    "currency",
    "principal",
    "interest",
    "penalty",
    "compound",
    "fees",
    "total_raw",
    "total_capped",
    "excess",
    "breaches",
    "provision",
    "status",
    "days_overdue",
    "classification",
];

/// The columns without which outstanding, npl_ratio and coverage are empty.
pub const NEEDS_OUTSTANDING: [&str; 3] = ["outstanding", "npl_ratio", "coverage"];

#[derive(Debug, Clone)]
pub struct SummarizeConfig {
    pub inputs: Vec<PathBuf>,
    /// Group keys as given; currency is always first.
    pub group_by: Vec<String>,
    pub policy: Policy,
}

#[derive(Debug)]
pub struct Summarized {
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
    /// How many leading columns are group keys.
    pub keys: usize,
    pub rows_read: u64,
    /// The inputs that have no `outstanding` column: with any, the
    /// outstanding, npl_ratio and coverage columns are left empty.
    pub without_outstanding: Vec<String>,
}

/// How a group key is read from a row.
#[derive(Debug, Clone, Copy)]
enum KeyRule {
    Text,
    /// Sorted in the policy's bucket order.
    Bucket,
    /// Sorted in SPEC.md's status order.
    Status,
    /// Sorted in the policy's class order, unclassified (settled) last.
    Class,
    /// Whole numbers, sorted by value.
    Number,
    /// `YYYY-MM` of a date.
    Month,
    /// The file's as-of date, from its manifest (empty when it has none).
    AsOf,
}

/// The group key read from each file's manifest, not from a column.
pub const AS_OF_KEY: &str = "as_of";

/// The group keys: currency first, then the others as given, no repeats.
fn key_names(group_by: &[String]) -> Vec<String> {
    let mut keys = vec!["currency".to_string()];
    for k in group_by {
        let k = k.trim().to_string();
        if !k.is_empty() && !keys.contains(&k) {
            keys.push(k);
        }
    }
    keys
}

pub fn summarize(config: &SummarizeConfig) -> Result<Summarized, Error> {
    let (mut done, _) = summarize_many(
        &config.inputs,
        std::slice::from_ref(&config.group_by),
        &config.policy,
        &[],
        || (),
    )?;
    Ok(done.remove(0))
}

/// What a caller sees of each row while the summaries are tallied (the
/// report's largest excesses and histogram), so that everything is read in
/// the same single pass. One observer per file, returned in input order.
pub trait Observer: Send {
    fn observe(
        &mut self,
        row: &RowView<'_>,
        c: &Contribution,
        breaches: &[usize],
    ) -> Result<(), Error>;
}

/// Sees nothing.
impl Observer for () {
    fn observe(&mut self, _: &RowView<'_>, _: &Contribution, _: &[usize]) -> Result<(), Error> {
        Ok(())
    }
}

/// A row as an observer sees it: the optional columns it asked for.
pub struct RowView<'a> {
    row: Row<'a>,
}

impl RowView<'_> {
    /// The `k`th column asked for (`extra` of `summarize_many`), or `None`
    /// when the file has no such column.
    pub fn get(&self, k: usize) -> Result<Option<&str>, Error> {
        match self.row.file.extra[k] {
            Some(field) => self.row.text(field).map(Some),
            None => Ok(None),
        }
    }

    /// An error naming the file, line and the `k`th extra column.
    pub fn error(&self, k: usize, why: &str) -> Error {
        self.row.error(self.row.file.extra[k].unwrap_or(0), why)
    }
}

/// Tallies every input once for each of `groupings` (the observers see
/// every row), and makes each grouping's summary table; see `tally_many`.
pub fn summarize_many<O: Observer>(
    inputs: &[PathBuf],
    groupings: &[Vec<String>],
    policy: &Policy,
    extra: &[&str],
    make: impl Fn() -> O + Sync,
) -> Result<(Vec<Summarized>, Vec<O>), Error> {
    let (tallied, observers) = tally_many(inputs, groupings, policy, extra, make)?;
    let mut done = Vec::new();
    for t in &tallied {
        let mut rows = Vec::new();
        t.rows(policy, &mut |row| {
            rows.push(row);
            Ok(())
        })?;
        done.push(t.summarized(rows, policy));
    }
    Ok((done, observers))
}

/// Several summaries of the same results (one per grouping) tallied in one
/// pass, each exactly `summarize`'s, and one observer per file that sees
/// every row with the columns named in `extra` (those a file lacks are
/// `None`).
fn tally_many<O: Observer>(
    inputs: &[PathBuf],
    groupings: &[Vec<String>],
    policy: &Policy,
    extra: &[&str],
    make: impl Fn() -> O + Sync,
) -> Result<(Vec<Tallied>, Vec<O>), Error> {
    let names: Vec<Vec<String>> = groupings.iter().map(|g| key_names(g)).collect();
    let mut files = inputs
        .iter()
        .map(|path| ResultsFile::open(path, &names, extra))
        .collect::<Result<Vec<_>, _>>()?;
    let without_outstanding: Vec<String> = files
        .iter()
        .filter(|f| f.outstanding.is_none())
        .map(|f| f.name.clone())
        .collect();
    if !names.iter().all(|n| n.iter().any(|n| n == AS_OF_KEY)) {
        check_one_as_of(&files)?;
    }
    let parts = files
        .par_iter_mut()
        .map(|file| {
            let mut observer = make();
            file.tally(policy, &mut observer)
                .map(|(summaries, rows)| (summaries, rows, observer))
        })
        .collect::<Vec<_>>();
    let mut summaries = vec![Summary::default(); names.len()];
    let mut observers = Vec::new();
    let mut rows_read = 0;
    for part in parts {
        let (part, rows, observer) = part?;
        for (summary, part) in summaries.iter_mut().zip(part) {
            summary.merge_owned(part)?;
        }
        rows_read += rows;
        observers.push(observer);
    }
    // Repayment sums when every file has the repayment columns.
    let repayments = files.iter().all(|f| f.repaid.is_some());
    let tallied = summaries
        .into_iter()
        .zip(names)
        .map(|(summary, names)| Tallied {
            summary,
            names,
            rows_read,
            repayments,
            without_outstanding: without_outstanding.clone(),
        })
        .collect();
    Ok((tallied, observers))
}

/// One grouping's tallies, before they become rows.
struct Tallied {
    summary: Summary,
    names: Vec<String>,
    rows_read: u64,
    repayments: bool,
    without_outstanding: Vec<String>,
}

impl Tallied {
    fn header(&self, policy: &Policy) -> Vec<String> {
        let key_refs: Vec<&str> = self.names.iter().map(String::as_str).collect();
        crate::summary::header(&key_refs, policy, self.repayments)
    }

    /// The summary's rows, one at a time, with the columns that need
    /// outstanding left empty when an input lacks it.
    fn rows(
        &self,
        policy: &Policy,
        each: &mut dyn FnMut(Vec<String>) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let key_refs: Vec<&str> = self.names.iter().map(String::as_str).collect();
        let blank: Vec<usize> = match self.without_outstanding.is_empty() {
            true => Vec::new(),
            false => self
                .header(policy)
                .iter()
                .enumerate()
                .filter(|(_, h)| NEEDS_OUTSTANDING.contains(&h.as_str()))
                .map(|(i, _)| i)
                .collect(),
        };
        self.summary.rows(
            &key_refs,
            policy,
            self.repayments,
            |mut row: Vec<String>| {
                for &i in &blank {
                    row[i].clear();
                }
                each(row)
            },
        )
    }

    fn summarized(&self, rows: Vec<Vec<String>>, policy: &Policy) -> Summarized {
        Summarized {
            header: self.header(policy),
            rows,
            keys: self.names.len(),
            rows_read: self.rows_read,
            without_outstanding: self.without_outstanding.clone(),
        }
    }
}

/// `summarize` straight into the file `path` (finished, not yet
/// committed), row by row: a summary of a million groups is never held as
/// text. The `Summarized` it returns has no rows.
pub fn summarize_into(
    config: &SummarizeConfig,
    path: &Path,
    format: Format,
) -> Result<(Summarized, crate::io::atomic::Finished), Error> {
    let (mut tallied, _) = tally_many(
        &config.inputs,
        std::slice::from_ref(&config.group_by),
        &config.policy,
        &[],
        || (),
    )?;
    let tallied = tallied.remove(0);
    let policy = &config.policy;
    let header = tallied.header(policy);
    let file = crate::io::table::write_file_with(
        path,
        format,
        &header,
        tallied.names.len(),
        &mut |each| tallied.rows(policy, each),
    )?;
    Ok((tallied.summarized(Vec::new(), policy), file))
}

/// Results of different nights must not be added into one balance: every
/// file's as-of date (from its manifest) must be the same, a file without
/// a manifest counting as a date of its own.
fn check_one_as_of(files: &[ResultsFile]) -> Result<(), Error> {
    let Some(first) = files.first() else {
        return Ok(());
    };
    let date = |f: &ResultsFile| {
        f.as_of_text
            .clone()
            .unwrap_or_else(|| "unknown (no manifest)".into())
    };
    match files.iter().find(|f| f.as_of_text != first.as_of_text) {
        None => Ok(()),
        Some(other) => Err(Error::Header {
            path: other.name.clone(),
            message: format!(
                "as of {}, but {} is as of {}: adding results of different nights would count every loan once a night. \
                 Group by as_of (--group-by as_of,...) to see each night, or compare two nights with `arrears movement`",
                date(other),
                first.name,
                date(first)
            ),
        }),
    }
}

/// One results file being read.
struct ResultsFile {
    name: String,
    /// Its as-of date, from its manifest.
    as_of_text: Option<String>,
    source: Source,
    /// Field index of each of `NEEDED`.
    fields: Vec<usize>,
    outstanding: Option<usize>,
    /// Field index of each repayment column, when the results have them all.
    repaid: Option<Vec<usize>>,
    /// Field index and rule of each group key, per grouping.
    keys: Vec<Vec<(usize, KeyRule)>>,
    /// Field index of each extra column an observer asked for.
    extra: Vec<Option<usize>>,
    /// Column names by field index, for messages.
    header: Vec<String>,
}

impl ResultsFile {
    fn open(path: &Path, groupings: &[Vec<String>], extra: &[&str]) -> Result<ResultsFile, Error> {
        let (mut source, header) = Source::results(path)?;
        let name = source.name.clone();
        let find = |column: &str| header.iter().position(|h| h == column);
        let missing: Vec<&str> = NEEDED
            .iter()
            .copied()
            .filter(|c| find(c).is_none())
            .collect();
        if !missing.is_empty() {
            return Err(Error::MissingColumns {
                path: name,
                missing: missing.join(", "),
                found: header.join(", "),
            });
        }
        let fields: Vec<usize> = NEEDED.iter().filter_map(|c| find(c)).collect();
        let outstanding = find("outstanding");
        let repaid: Option<Vec<usize>> = crate::io::output::REPAY_COLUMNS
            .iter()
            .map(|c| find(c))
            .collect();
        let as_of_text = crate::io::manifest::Manifest::beside(path)?.map(|m| m.as_of);
        let mut all_rules = Vec::new();
        for keys in groupings {
            let mut rules = Vec::new();
            for key in keys {
                if key == AS_OF_KEY {
                    rules.push((usize::MAX, KeyRule::AsOf));
                    continue;
                }
                let month = MONTH_KEYS.iter().find(|(k, _)| k == key).map(|(_, c)| *c);
                let (column, rule) = match (key.as_str(), month) {
                    (_, Some(date)) => (date, KeyRule::Month),
                    ("bucket", _) => ("bucket", KeyRule::Bucket),
                    ("status", _) => ("status", KeyRule::Status),
                    ("classification", _) => ("classification", KeyRule::Class),
                    (k @ ("days_overdue" | "chargeable_days"), _) => (k, KeyRule::Number),
                    (k, _) => (k, KeyRule::Text),
                };
                let index = find(column).ok_or_else(|| Error::Header {
                path: name.clone(),
                message: format!(
                    "no column {column:?} to group by; columns: {} (and due_month, end_month, as_of)",
                    header.join(", ")
                ),
            })?;
                rules.push((index, rule));
            }
            all_rules.push(rules);
        }
        let extra: Vec<Option<usize>> = extra.iter().map(|c| find(c)).collect();
        let mut selected = fields.clone();
        selected.extend(outstanding);
        selected.extend(repaid.iter().flatten().copied());
        for rules in &all_rules {
            selected.extend(rules.iter().map(|(i, _)| *i).filter(|&i| i != usize::MAX));
        }
        selected.extend(extra.iter().flatten());
        selected.sort_unstable();
        selected.dedup();
        source.select(&selected);
        Ok(ResultsFile {
            name,
            as_of_text,
            source,
            fields,
            outstanding,
            repaid,
            keys: all_rules,
            extra,
            header,
        })
    }

    /// Tallies every row, once per grouping; returns the tallies and the
    /// number of rows.
    fn tally(
        &mut self,
        policy: &Policy,
        observer: &mut dyn Observer,
    ) -> Result<(Vec<Summary>, u64), Error> {
        let buckets = policy.bucket_labels();
        let mut summaries = vec![Summary::default(); self.keys.len()];
        let mut record = ByteRecord::new();
        let mut rows = 0;
        let mut breaches = Vec::new();
        let mut key = Vec::new();
        while self.source.read(&mut record)? {
            rows += 1;
            let row = Row {
                file: self,
                record: &record,
            };
            let contribution = row.contribution(policy, &mut breaches)?;
            for (rules, summary) in self.keys.iter().zip(summaries.iter_mut()) {
                key.clear();
                for &(i, rule) in rules {
                    if let KeyRule::AsOf = rule {
                        push_key_part(&mut key, 0, self.as_of_text.as_deref().unwrap_or(""));
                        continue;
                    }
                    let (order, text) = row.key(i, rule, policy, &buckets)?;
                    push_key_part(&mut key, order, text);
                }
                summary.add_keyed(&key, &contribution, breaches.iter().copied(), policy)?;
            }
            observer.observe(&RowView { row }, &contribution, &breaches)?;
        }
        Ok((summaries, rows))
    }
}

/// One row of a results file, read field by field.
struct Row<'a> {
    file: &'a ResultsFile,
    record: &'a ByteRecord,
}

impl Row<'_> {
    fn text(&self, field: usize) -> Result<&str, Error> {
        let bytes = self.record.get(field).unwrap_or(b"");
        std::str::from_utf8(bytes).map_err(|_| self.error(field, "not UTF-8"))
    }

    fn error(&self, field: usize, why: &str) -> Error {
        let value = String::from_utf8_lossy(self.record.get(field).unwrap_or(b""));
        Error::Csv {
            path: self.file.name.clone(),
            line: self.record.position().map_or(0, |p| p.line()),
            message: format!("column {}: {value:?}: {why}", self.file.header[field]),
        }
    }

    fn parse<T: FromStr>(&self, field: usize, what: &str) -> Result<T, Error> {
        self.text(field)?
            .parse()
            .map_err(|_| self.error(field, &format!("not {what}")))
    }

    fn money(&self, needed: usize) -> Result<Money, Error> {
        self.amount(self.file.fields[needed])
    }

    /// An amount of at most 2 decimals, as arrears writes them.
    fn amount(&self, field: usize) -> Result<Money, Error> {
        let value: Decimal = self.parse(field, "an amount")?;
        if value.scale() > 2 {
            return Err(self.error(field, "more than 2 decimals"));
        }
        Money::of(value).ok_or_else(|| self.error(field, "out of range"))
    }

    fn contribution(
        &self,
        policy: &Policy,
        breaches: &mut Vec<usize>,
    ) -> Result<Contribution, Error> {
        let field = |name: &str| {
            let at = NEEDED
                .iter()
                .position(|n| *n == name)
                .expect("a needed column");
            self.file.fields[at]
        };
        let status = self.text(field("status"))?;
        let status = Status::ALL
            .into_iter()
            .find(|s| s.as_str() == status)
            .ok_or_else(|| self.error(field("status"), "not a status"))?;
        let class = match self.text(field("classification"))? {
            "" => None,
            name => Some(
                policy
                    .classes
                    .iter()
                    .position(|c| c.name == name)
                    .ok_or_else(|| {
                        self.error(
                            field("classification"),
                            "not a class of the policy; pass the run's --policy",
                        )
                    })?,
            ),
        };
        breaches.clear();
        for name in self
            .text(field("breaches"))?
            .split(';')
            .filter(|n| !n.is_empty())
        {
            let cap = policy
                .caps
                .iter()
                .position(|c| c.name == name)
                .ok_or_else(|| {
                    self.error(
                        field("breaches"),
                        "names a cap the policy does not have; pass the run's --policy",
                    )
                })?;
            breaches.push(cap);
        }
        let principal = self.money(1)?;
        let outstanding = match self.file.outstanding {
            Some(i) => self.amount(i)?,
            None => Money::ZERO,
        };
        let mut amounts = [Money::ZERO; 4];
        for (component, needed) in [
            (Component::Interest, 2),
            (Component::Penalty, 3),
            (Component::Compound, 4),
            (Component::Fees, 5),
        ] {
            amounts[component as usize] = self.money(needed)?;
        }
        Ok(Contribution {
            principal,
            outstanding,
            amounts,
            total_raw: self.money(6)?,
            total_capped: self.money(7)?,
            excess: self.money(8)?,
            provision: self.money(10)?,
            written_off: status == Status::WrittenOff,
            days_overdue: self.parse(field("days_overdue"), "a whole number of days")?,
            unpaid: class.is_some(),
            npl: class.is_some_and(|c| NPL_CLASSES.contains(&policy.classes[c].name.as_str())),
            repaid: match &self.file.repaid {
                None => None,
                Some(fields) => {
                    let mut sums = [Money::ZERO; 8];
                    for (sum, &i) in sums.iter_mut().zip(fields) {
                        *sum = self.amount(i)?;
                    }
                    Some(sums)
                }
            },
        })
    }

    /// The order and text of a group key.
    fn key(
        &self,
        field: usize,
        rule: KeyRule,
        policy: &Policy,
        buckets: &[String],
    ) -> Result<(usize, &str), Error> {
        let text = self.text(field)?;
        if text.contains('\0') {
            return Err(self.error(field, "holds a NUL byte"));
        }
        let order = match rule {
            KeyRule::Text => 0,
            KeyRule::Bucket => buckets.iter().position(|b| b == text).ok_or_else(|| {
                self.error(field, "not a bucket of the policy; pass the run's --policy")
            })?,
            KeyRule::Status => Status::ALL
                .iter()
                .position(|s| s.as_str() == text)
                .ok_or_else(|| self.error(field, "not a status"))?,
            KeyRule::Class => match text {
                "" => policy.classes.len(),
                name => policy
                    .classes
                    .iter()
                    .position(|c| c.name == name)
                    .ok_or_else(|| {
                        self.error(field, "not a class of the policy; pass the run's --policy")
                    })?,
            },
            KeyRule::Number => self.parse(field, "a whole number")?,
            KeyRule::AsOf => 0,
            KeyRule::Month => {
                let month = text.get(..7).filter(|m| {
                    text.len() == 10 && m.as_bytes()[4] == b'-' && crate::parse::date(text).is_ok()
                });
                let month = month.ok_or_else(|| self.error(field, "not a date"))?;
                return Ok((0, month));
            }
        };
        Ok((order, text))
    }
}

pub fn command(args: &SummarizeArgs) -> anyhow::Result<Exit> {
    let started = std::time::Instant::now();
    let outputs: Vec<(&str, &Path)> = args
        .output
        .as_deref()
        .map(|p| ("-o", p))
        .into_iter()
        .collect();
    check_paths(&args.inputs, &outputs)?;
    let config = SummarizeConfig {
        inputs: args.inputs.clone(),
        group_by: args.group_by.clone(),
        policy: Policy::load(&args.policy)?,
    };
    // Into a file, row by row; on stdout, as a table.
    let (done, file) = match &args.output {
        Some(path) => {
            let format = Format::of(path, args.format);
            let (done, file) = summarize_into(&config, path, format)?;
            (done, Some(file))
        }
        None => (summarize(&config)?, None),
    };
    if !done.without_outstanding.is_empty() {
        eprintln!(
            "arrears: warning: no outstanding column in {}: {} left empty (results written before outstanding was always a column: run them again)",
            done.without_outstanding.join(", "),
            NEEDS_OUTSTANDING.join(", ")
        );
    }
    if let Some(file) = file {
        file.commit()?;
    }
    if !args.quiet {
        eprintln!(
            "arrears: {} results rows from {} files summarized in {:.2} s{}",
            done.rows_read,
            args.inputs.len(),
            started.elapsed().as_secs_f64(),
            args.output
                .as_ref()
                .map_or_else(String::new, |p| format!("; wrote {}", p.display()))
        );
    }
    if args.output.is_none() {
        return print_table(&done.header, &done.rows, done.keys);
    }
    Ok(Exit::Done)
}
