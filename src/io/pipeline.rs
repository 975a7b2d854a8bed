//! The pipeline every command shares: read → parse → compute → (write
//! output rows, fold statistics).
//!
//! One reader thread splits CSV records into batches, reusing their buffers
//! (a plain line is kept as text and cut at its commas by the worker that
//! parses it; other records as `ByteRecord`s); rayon workers parse,
//! compute, format and fold each batch in chunks; one
//! writer thread writes the chunks in input order. The queues between the
//! stages are bounded, so memory stays flat whatever the size of the book.
//! What a command writes and folds for each record is its `Job`.

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::thread;
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use csv::ByteRecord;
use encoding_rs::Encoding;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rayon::prelude::*;

use crate::compute::{compute, Figures};
use crate::error::Error;
use crate::io::atomic::AtomicFile;
use crate::io::output::{write_reject, CsvRows, Format, Kind, RowSink, REJECTS_HEADER};
use crate::io::payments::{PaymentCounts, Payments};
pub use crate::io::source::Input;
use crate::io::source::{check_headers, Compression, Next, Source};
use crate::io::split::Quoted;
use crate::policy::Policy;
use crate::record::{
    duplicate_reject, id_hash, parse_loan, Col, Fields, Layout, Line, Loan, Reject, MAX_FIELD_BYTES,
};
use crate::summary::SumOverflow;

/// Where a record came from: the index of its input and its line there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Origin {
    pub source: usize,
    pub line: u64,
}

/// What a command does with each accepted record: the rows it writes and
/// the statistics it folds. Rows are written in input order; statistics are
/// folded over runs of consecutive records and merged in input order.
pub trait Job: Sync {
    type Stats: Default + Send;

    /// The header of the output file.
    fn header(&self) -> Vec<String>;

    /// Writes the record's output rows, if any; returns how many.
    fn write(&self, out: &mut impl RowSink, loan: &Loan, f: &Figures) -> u64;

    fn fold(
        &self,
        stats: &mut Self::Stats,
        origin: Origin,
        loan: &Loan,
        f: &Figures,
    ) -> Result<(), SumOverflow>;

    fn merge(&self, into: &mut Self::Stats, other: Self::Stats) -> Result<(), SumOverflow>;
}

/// What every command's pipeline needs, validated.
#[derive(Debug, Clone)]
pub struct PipelineConfig {
    pub inputs: Vec<Input>,
    pub as_of: NaiveDate,
    pub policy: Policy,
    /// The job's output rows; `None`: not written.
    pub output: Option<PathBuf>,
    /// Rejected rows; `None`: counted and reported only.
    pub rejects: Option<PathBuf>,
    /// 0: one per core.
    pub threads: usize,
    pub batch_size: usize,
    pub progress: bool,
    /// The input's character encoding; `None`: UTF-8, read as bytes.
    pub encoding: Option<&'static Encoding>,
    /// Reject every row whose loan_id came before (the first is kept).
    pub unique_ids: bool,
    /// How standard input is compressed (files say it by their extension).
    pub stdin_compression: Compression,
    /// The format of `output`.
    pub format: Format,
    /// Payments received (SPEC.md section 5); none: section 2 alone.
    pub repayments: Vec<PathBuf>,
    /// Where payments that match no accepted row go; `None`: counted only.
    pub unmatched: Option<PathBuf>,
    /// Keep every segment and payment step of rows with payments (explain).
    pub trace: bool,
}

/// What a pipeline did.
#[derive(Debug)]
pub struct Report<S> {
    pub rows_read: u64,
    pub rows_accepted: u64,
    pub rows_rejected: u64,
    /// Rows the job wrote to its output.
    pub rows_output: u64,
    /// The first few rejects, as `file:line: column: reason` messages.
    pub first_rejects: Vec<String>,
    pub elapsed: Duration,
    pub stats: S,
    /// Input names, indexed by `Origin::source`.
    pub sources: Vec<String>,
    /// Each input's size and BLAKE3 hash, hashed as it was read.
    pub inputs: Vec<crate::io::source::Hashing>,
    /// The output and rejects files written whole, not yet under their
    /// final names: the command commits them with its other outputs
    /// (`atomic::commit_all`).
    pub output_file: Option<crate::io::atomic::Finished>,
    pub rejects_file: Option<crate::io::atomic::Finished>,
    /// Files written, in the order they were committed.
    pub outputs: Vec<crate::io::atomic::Written>,
    /// With repayments: where the payments went.
    pub payments: Option<PaymentCounts>,
    /// With repayments: the unmatched-payments file, written, not committed.
    pub unmatched_file: Option<crate::io::atomic::Finished>,
}

/// How many reject messages the report keeps.
const REPORTED_REJECTS: usize = 10;
/// Records per rayon task within a batch.
const CHUNK: usize = 512;
/// Batches in flight between two stages.
const QUEUE: usize = 4;

struct Batch {
    source: usize,
    rows: BatchRows,
    /// Bytes of input read so far, over all sources.
    bytes_read: u64,
    /// With `unique_ids`: the records (by index) whose loan_id came before,
    /// and where it was first seen.
    duplicates: Vec<(usize, String)>,
}

/// A batch's rows in input order: plain CSV lines as text, every other
/// record (quoted fields, Parquet rows) as a `ByteRecord`. The buffers are
/// reused from batch to batch.
#[derive(Default)]
struct BatchRows {
    items: Vec<Item>,
    /// The plain lines, back to back.
    text: Vec<u8>,
    /// The other records: `Item::Record(k)` is `records[k]`; the first
    /// `used` are this batch's.
    records: Vec<ByteRecord>,
    used: usize,
}

#[derive(Debug, Clone, Copy)]
enum Item {
    Line { start: usize, end: usize, line: u64 },
    Record(usize),
}

impl BatchRows {
    fn clear(&mut self) {
        self.items.clear();
        self.text.clear();
        self.used = 0;
    }

    /// Worth keeping for the next batch: no oversized record swelled it.
    fn reusable(&self) -> bool {
        self.text.capacity() <= 64 << 20
            && self.records[..self.used]
                .iter()
                .all(|r| r.as_slice().len() <= MAX_FIELD_BYTES)
    }

    /// Reads the next row of `source` in; false at its end.
    fn read(&mut self, source: &mut Source) -> Result<bool, Error> {
        if self.used == self.records.len() {
            // Sized for a typical row, so reading does not grow them field by field.
            self.records.push(ByteRecord::with_capacity(128, 16));
        }
        match source.next(&mut self.records[self.used])? {
            Next::Plain { line } => {
                let start = self.text.len();
                self.text.extend_from_slice(source.plain());
                let end = self.text.len();
                self.items.push(Item::Line { start, end, line });
            }
            Next::Record => {
                self.items.push(Item::Record(self.used));
                self.used += 1;
            }
            Next::End => return Ok(false),
        }
        Ok(true)
    }

    /// Field `column` of row `i`, and the row's line.
    fn field<'a>(
        &'a self,
        i: usize,
        column: usize,
        ends: &'a mut Vec<u32>,
    ) -> (Option<&'a [u8]>, u64) {
        match self.items[i] {
            Item::Line { start, end, line } => {
                let fields = Line::split(&self.text[start..end], line, ends);
                (fields.field(column), line)
            }
            Item::Record(k) => {
                let record = &self.records[k];
                (record.get(column), Fields::line(&Quoted(record)))
            }
        }
    }
}

/// The loan_ids seen so far, for `unique_ids`: a 128-bit hash of each
/// (collisions are vanishingly unlikely: about 1e-27 for 10 million ids)
/// and where it was first seen.
struct SeenIds {
    /// The loan_id column of each source.
    columns: Vec<usize>,
    first: HashMap<u128, (usize, u64)>,
    /// Field ends of the plain line being checked.
    ends: Vec<u32>,
}

impl SeenIds {
    /// Where row `i`'s loan_id was first seen, or `None` (and remembers
    /// this one) when it is new. Empty ids are not tracked: they are
    /// rejects of their own.
    fn check(&mut self, rows: &BatchRows, i: usize, source: usize) -> Option<(usize, u64)> {
        let (bytes, line) = rows.field(i, self.columns[source], &mut self.ends);
        let bytes = bytes?;
        let id = std::str::from_utf8(bytes).map_or(bytes, |s| s.trim().as_bytes());
        if id.is_empty() {
            return None;
        }
        match self.first.entry(id_hash(id)) {
            Entry::Occupied(e) => Some(*e.get()),
            Entry::Vacant(e) => {
                e.insert((source, line));
                None
            }
        }
    }
}

/// The formatted output and counts of one chunk of records.
struct ChunkOut {
    bytes: ChunkBytes,
    accepted: u64,
    output: u64,
    rejected: Vec<Reject>,
}

/// What a chunk sends to the writer: its rows as CSV text or, for
/// Parquet output, as a typed frame.
struct ChunkBytes {
    rows: Vec<u8>,
    #[cfg(feature = "parquet")]
    frame: Option<crate::io::parquet::Columns>,
    rejects: Vec<u8>,
}

/// Runs a job over the inputs. Headers and policy are checked before any
/// output file is created; `make_job` sees the input's layout. Outputs are
/// committed only when everything succeeded.
pub fn run<J: Job>(
    config: &PipelineConfig,
    make_job: impl FnOnce(&Layout) -> J,
) -> Result<(J, Report<J::Stats>), Error> {
    let started = Instant::now();
    let mut sources = config
        .inputs
        .iter()
        .map(|input| Source::open(input, config.encoding, config.stdin_compression))
        .collect::<Result<Vec<_>, _>>()?;
    let layouts = check_headers(&mut sources, &config.policy)?;
    let layout = &layouts[0];
    let hashing: Vec<_> = sources.iter().map(|s| s.hashing.clone()).collect();
    let payments = match config.repayments.is_empty() {
        true => None,
        false => Some(crate::io::payments::load(
            &config.repayments,
            &config.policy,
            config.encoding,
            config.as_of,
        )?),
    };
    let payments = payments.as_ref();
    let job = make_job(layout);
    let header = job.header();
    let columns = Kind::columns(&header, 0);

    let mut output = config
        .output
        .as_deref()
        .map(AtomicFile::create)
        .transpose()?;
    if let (Some(file), Format::Csv) = (output.as_mut(), config.format) {
        write_header(file, &header)?;
    }
    let mut rejects = config
        .rejects
        .as_deref()
        .map(AtomicFile::create)
        .transpose()?;
    if let Some(file) = rejects.as_mut() {
        write_header(file, &REJECTS_HEADER.map(String::from))?;
    }
    let mut unmatched = match (payments, &config.unmatched) {
        (Some(_), Some(path)) => Some(AtomicFile::create(path)?),
        _ => None,
    };
    // Payments that could not be read come first in the rejects file.
    let mut first_rejects = Vec::new();
    if let Some(payments) = payments {
        let mut writer = csv::Writer::from_writer(Vec::new());
        for (source, reject) in &payments.rejects {
            write_reject(&mut writer, reject).map_err(|e| crate::error::csv("rejects", e))?;
            if first_rejects.len() < REPORTED_REJECTS {
                first_rejects.push(reject_message(source, reject));
            }
        }
        let bytes = writer
            .into_inner()
            .map_err(|e| Error::io("rejects", e.into_error()))?;
        if let Some(file) = rejects.as_mut() {
            file.write_all(&bytes)
                .map_err(|e| Error::io(file.path().display(), e))?;
        }
    }

    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(config.threads)
        .build()
        .map_err(|e| Error::io("thread pool", io::Error::other(e)))?;
    let progress = progress_bar(config.progress, &sources);
    let names: Vec<String> = sources.iter().map(|s| s.name.clone()).collect();
    let mut totals = Totals {
        stats: J::Stats::default(),
        first_rejects,
        ..Totals::default()
    };

    let outcome = thread::scope(|scope| {
        let (batch_tx, batch_rx) = sync_channel(QUEUE);
        let (spent_tx, spent_rx) = sync_channel(QUEUE + 2);
        // Typed Parquet chunks are twice the size of CSV text, and the
        // writer's encoding is the slow stage: a shorter queue keeps
        // memory down without slowing it.
        let out_queue = match config.format {
            Format::Csv => QUEUE,
            Format::Parquet => 1,
        };
        let (out_tx, out_rx) = sync_channel::<Vec<ChunkBytes>>(out_queue);
        let batch_size = config.batch_size.max(1);
        // With repayments, loan_ids must be unique (SPEC.md section 5).
        let unique = config.unique_ids || payments.is_some();
        let seen = unique.then(|| SeenIds {
            columns: layouts
                .iter()
                .map(|l| l.column(Col::LoanId).unwrap_or(0))
                .collect(),
            first: HashMap::new(),
            ends: Vec::new(),
        });
        let reader =
            scope.spawn(move || read_batches(sources, batch_size, seen, batch_tx, spent_rx));
        let format = config.format;
        let columns = &columns;
        let pool = &pool;
        let writer =
            scope.spawn(move || write_chunks(out_rx, output, format, columns, rejects, pool));

        let stage = (|| {
            for batch in batch_rx {
                let batch: Batch = batch?;
                let rows = &batch.rows;
                // Each rayon split folds its chunks into one set of
                // statistics; splits are merged in input order.
                let (chunks, stats) = pool.install(|| {
                    rows.items
                        .par_chunks(CHUNK)
                        .enumerate()
                        .try_fold(
                            || (Vec::new(), J::Stats::default()),
                            |(mut chunks, mut stats), (i, chunk)| {
                                let first = i * CHUNK;
                                let from = batch.duplicates.partition_point(|(d, _)| *d < first);
                                let to = batch
                                    .duplicates
                                    .partition_point(|(d, _)| *d < first + chunk.len());
                                let chunk = Chunk {
                                    items: chunk,
                                    rows,
                                    first,
                                    duplicates: &batch.duplicates[from..to],
                                    source: batch.source,
                                    layout: &layouts[batch.source],
                                    config,
                                    job: &job,
                                    payments,
                                };
                                chunks.push(process_chunk(&chunk, columns, &mut stats)?);
                                Ok::<_, Error>((chunks, stats))
                            },
                        )
                        .try_reduce(
                            || (Vec::new(), J::Stats::default()),
                            |(mut chunks, mut stats), (more, other)| {
                                chunks.extend(more);
                                job.merge(&mut stats, other)?;
                                Ok((chunks, stats))
                            },
                        )
                })?;
                let mut bytes = Vec::with_capacity(chunks.len());
                for chunk in chunks {
                    bytes.push(totals.add(chunk, &names[batch.source]));
                }
                job.merge(&mut totals.stats, stats)?;
                progress.set_position(batch.bytes_read);
                // A batch that held an oversized record is not reused, so
                // its buffers do not stay swollen.
                if batch.rows.reusable() {
                    let _ = spent_tx.try_send(batch.rows);
                }
                if out_tx.send(bytes).is_err() {
                    break; // the writer failed; its error is reported below
                }
            }
            Ok::<(), Error>(())
        })();
        drop(out_tx);
        drop(spent_tx);
        let written = writer.join().expect("writer thread panicked");
        // Stopping early dropped the batch receiver, so the reader ends too.
        reader.join().expect("reader thread panicked");
        stage?;
        written
    });
    let (output, rejects) = match outcome {
        Ok(files) => files,
        Err(e) => {
            progress.abandon();
            return Err(e);
        }
    };
    progress.finish_and_clear();

    if let (Some(payments), Some(file)) = (payments, unmatched.as_mut()) {
        crate::io::payments::write_unmatched(
            payments,
            &config.repayments,
            file,
            &config.policy,
            config.encoding,
        )?;
    }
    let output_file = output.map(AtomicFile::finish).transpose()?;
    let rejects_file = rejects.map(AtomicFile::finish).transpose()?;
    let unmatched_file = unmatched.map(AtomicFile::finish).transpose()?;
    let report = Report {
        rows_read: totals.accepted + totals.rejected,
        rows_accepted: totals.accepted,
        rows_rejected: totals.rejected,
        rows_output: totals.output,
        first_rejects: totals.first_rejects,
        elapsed: started.elapsed(),
        stats: totals.stats,
        sources: names,
        inputs: hashing,
        output_file,
        rejects_file,
        outputs: Vec::new(),
        payments: payments.map(Payments::counts),
        unmatched_file,
    };
    Ok((job, report))
}

/// Counts and statistics merged from every chunk, in input order.
#[derive(Default)]
struct Totals<S> {
    accepted: u64,
    rejected: u64,
    output: u64,
    first_rejects: Vec<String>,
    stats: S,
}

impl<S> Totals<S> {
    /// Takes in one chunk's counts; returns its bytes.
    fn add(&mut self, chunk: ChunkOut, source: &str) -> ChunkBytes {
        self.accepted += chunk.accepted;
        self.output += chunk.output;
        self.rejected += chunk.rejected.len() as u64;
        for r in &chunk.rejected {
            if self.first_rejects.len() < REPORTED_REJECTS {
                self.first_rejects.push(reject_message(source, r));
            }
        }
        chunk.bytes
    }
}

/// `file:line: column NAME: reason`, as the run report prints a reject.
fn reject_message(source: &str, r: &Reject) -> String {
    let column = if r.column.is_empty() {
        String::new()
    } else {
        format!(" column {}:", r.column)
    };
    format!("{source}:{}:{column} {}", r.line, r.reason)
}

fn write_header(file: &mut AtomicFile, header: &[String]) -> Result<(), Error> {
    let path = file.path().display().to_string();
    let mut w = csv::Writer::from_writer(file);
    w.write_record(header)
        .map_err(|e| crate::error::csv(&path, e))?;
    w.flush().map_err(|e| Error::io(&path, e))
}

fn read_batches(
    sources: Vec<Source>,
    batch_size: usize,
    mut seen: Option<SeenIds>,
    batches: SyncSender<Result<Batch, Error>>,
    spent: Receiver<BatchRows>,
) {
    let names: Vec<String> = sources.iter().map(|s| s.name.clone()).collect();
    let mut offset = 0;
    for (index, mut source) in sources.into_iter().enumerate() {
        loop {
            let mut rows = spent.try_recv().unwrap_or_default();
            rows.clear();
            let mut duplicates = Vec::new();
            while rows.items.len() < batch_size {
                match rows.read(&mut source) {
                    Ok(true) => {
                        let i = rows.items.len() - 1;
                        if let Some((first_source, line)) =
                            seen.as_mut().and_then(|s| s.check(&rows, i, index))
                        {
                            duplicates.push((i, format!("{}:{line}", names[first_source])));
                        }
                    }
                    Ok(false) => break,
                    Err(e) => {
                        let _ = batches.send(Err(e));
                        return;
                    }
                }
            }
            let bytes_read = offset + source.progress();
            let len = rows.items.len();
            if len > 0 {
                let batch = Batch {
                    source: index,
                    rows,
                    bytes_read,
                    duplicates,
                };
                if batches.send(Ok(batch)).is_err() {
                    return; // the compute stage stopped; it reports why
                }
            }
            if len < batch_size {
                offset = bytes_read;
                break;
            }
        }
    }
}

/// Where the writer puts result rows.
enum Rows<'a> {
    Csv(&'a mut AtomicFile),
    #[cfg(feature = "parquet")]
    Parquet(Box<crate::io::parquet::ParquetSink<'a>>),
}

fn write_chunks(
    chunks: Receiver<Vec<ChunkBytes>>,
    mut output: Option<AtomicFile>,
    format: Format,
    columns: &[(String, Kind)],
    mut rejects: Option<AtomicFile>,
    pool: &rayon::ThreadPool,
) -> Result<(Option<AtomicFile>, Option<AtomicFile>), Error> {
    let failed = |file: &AtomicFile, e| Error::io(file.path().display(), e);
    let mut rows = match (output.as_mut(), format) {
        (None, _) => None,
        (Some(file), Format::Csv) => Some(Rows::Csv(file)),
        #[cfg(feature = "parquet")]
        (Some(file), Format::Parquet) => Some(Rows::Parquet(Box::new(
            crate::io::parquet::ParquetSink::new(file, columns, Some(pool))?,
        ))),
        #[cfg(not(feature = "parquet"))]
        (Some(file), Format::Parquet) => {
            let _ = (columns, pool);
            return Err(Error::Header {
                path: file.path().display().to_string(),
                message: "this build of arrears has no Parquet support".into(),
            });
        }
    };
    for batch in chunks {
        for chunk in batch {
            match rows.as_mut() {
                None => {}
                Some(Rows::Csv(file)) => {
                    file.write_all(&chunk.rows).map_err(|e| failed(file, e))?
                }
                #[cfg(feature = "parquet")]
                Some(Rows::Parquet(sink)) => {
                    if let Some(frame) = &chunk.frame {
                        sink.push(frame)?;
                    }
                }
            }
            if let Some(file) = rejects.as_mut() {
                file.write_all(&chunk.rejects)
                    .map_err(|e| failed(file, e))?;
            }
        }
    }
    #[cfg(feature = "parquet")]
    if let Some(Rows::Parquet(sink)) = rows {
        sink.finish()?;
    }
    #[cfg(not(feature = "parquet"))]
    drop(rows);
    Ok((output, rejects))
}

/// One chunk of a batch and what processing it needs. `first` is the
/// index in its batch of the chunk's first record; the `duplicates` are
/// those of the chunk's records, by index in the batch.
struct Chunk<'a, J> {
    items: &'a [Item],
    rows: &'a BatchRows,
    first: usize,
    duplicates: &'a [(usize, String)],
    source: usize,
    layout: &'a Layout,
    config: &'a PipelineConfig,
    job: &'a J,
    payments: Option<&'a Payments>,
}

/// Parses, computes, formats and folds one chunk of records, its rows
/// written as the output's format wants them.
fn process_chunk<J: Job>(
    chunk: &Chunk<J>,
    columns: &[(String, Kind)],
    stats: &mut J::Stats,
) -> Result<ChunkOut, Error> {
    match chunk.config.format {
        Format::Csv => {
            let mut rows = CsvRows::with_capacity(chunk.items.len() * 320);
            let mut out = process(chunk, &mut rows, stats)?;
            out.bytes.rows = rows.bytes;
            Ok(out)
        }
        #[cfg(feature = "parquet")]
        Format::Parquet => {
            let mut rows = crate::io::parquet::Columns::with_capacity(columns, chunk.items.len());
            let mut out = process(chunk, &mut rows, stats)?;
            out.bytes.frame = Some(rows);
            Ok(out)
        }
        #[cfg(not(feature = "parquet"))]
        Format::Parquet => {
            let _ = columns;
            unreachable!("Parquet output is refused before the run without the feature")
        }
    }
}

/// Parses, computes, formats into `rows` and folds one chunk of records.
fn process<J: Job>(
    chunk: &Chunk<J>,
    rows: &mut impl RowSink,
    stats: &mut J::Stats,
) -> Result<ChunkOut, Error> {
    let mut out = ChunkOut {
        bytes: ChunkBytes {
            rows: Vec::new(),
            #[cfg(feature = "parquet")]
            frame: None,
            rejects: Vec::new(),
        },
        accepted: 0,
        output: 0,
        rejected: Vec::new(),
    };
    let mut rejects = csv::Writer::from_writer(Vec::new());
    let mut ends = Vec::new();
    for (i, item) in chunk.items.iter().enumerate() {
        let one = One {
            chunk,
            index: chunk.first + i,
            rows: &mut *rows,
            stats: &mut *stats,
            out: &mut out,
            rejects: &mut rejects,
        };
        match *item {
            Item::Line { start, end, line } => {
                one.record(&Line::split(&chunk.rows.text[start..end], line, &mut ends))?
            }
            Item::Record(k) => one.record(&Quoted(&chunk.rows.records[k]))?,
        }
    }
    out.bytes.rejects = rejects
        .into_inner()
        .map_err(|e| Error::io("rejects", e.into_error()))?;
    Ok(out)
}

/// Where one record of a chunk goes.
struct One<'a, 'c, J: Job, S> {
    chunk: &'a Chunk<'c, J>,
    /// The record's index in its batch.
    index: usize,
    rows: &'a mut S,
    stats: &'a mut J::Stats,
    out: &'a mut ChunkOut,
    rejects: &'a mut csv::Writer<Vec<u8>>,
}

impl<J: Job, S: RowSink> One<'_, '_, J, S> {
    /// Parses, computes, writes and folds the record, or rejects it.
    fn record(self, record: &impl Fields) -> Result<(), Error> {
        let Chunk {
            duplicates,
            source,
            layout,
            config,
            job,
            payments,
            ..
        } = *self.chunk;
        let policy = &config.policy;
        // Plain matches rather than combinators: a loan and its figures
        // stay where they are made instead of being moved into tuples.
        let duplicate = duplicates.iter().find(|(d, _)| *d == self.index);
        let loan = match duplicate {
            Some((_, seen)) => Err(duplicate_reject(record, layout, seen)),
            None => parse_loan(record, layout, policy),
        };
        let outcome = loan.and_then(|loan| {
            let (figures, group) = match payments {
                None => (compute(&loan, policy, config.as_of), None),
                Some(payments) => crate::io::payments::figures(
                    &loan,
                    payments,
                    policy,
                    config.as_of,
                    config.trace,
                    record,
                )?,
            };
            let figures =
                figures.map_err(|why| Reject::new(record, loan.loan_id(), "", why.to_string()))?;
            if let Some(payments) = payments {
                payments.mark_group(group, true);
            }
            if config.output.is_some() {
                self.out.output += job.write(self.rows, &loan, &figures);
            }
            let origin = Origin {
                source,
                line: record.line(),
            };
            Ok(job.fold(self.stats, origin, &loan, &figures))
        });
        match outcome {
            Ok(folded) => {
                folded?;
                self.out.accepted += 1;
            }
            Err(reject) => {
                // A duplicate is not the row payments of its id belong to.
                if let (Some(payments), None) = (payments, duplicate) {
                    payments.mark(&reject.loan_id, false);
                }
                write_reject(self.rejects, &reject).map_err(|e| crate::error::csv("rejects", e))?;
                self.out.rejected.push(reject);
            }
        }
        Ok(())
    }
}

fn progress_bar(enabled: bool, sources: &[Source]) -> ProgressBar {
    use std::io::IsTerminal;
    if !enabled || !io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let total: Option<u64> = sources.iter().map(|s| s.size).sum();
    let bar = ProgressBar::with_draw_target(total, ProgressDrawTarget::stderr_with_hz(4));
    let template = match total {
        Some(_) => "{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        None => "{spinner} {bytes} read, {bytes_per_sec}",
    };
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style);
    }
    bar
}
