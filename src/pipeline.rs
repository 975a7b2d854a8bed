//! The run: read → parse → compute → (write results, fold statistics).
//!
//! One reader thread splits CSV records into batches, reusing their buffers;
//! rayon workers parse, compute and format each batch in chunks; one writer
//! thread writes the chunks in input order. The queues between the stages
//! are bounded, so memory stays flat whatever the size of the book.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::thread;
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use csv::ByteRecord;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rayon::prelude::*;

use crate::compute::compute;
use crate::error::Error;
use crate::output::{results_header, write_reject, write_result, AtomicFile, REJECTS_HEADER};
use crate::policy::Policy;
use crate::record::{parse_loan, Layout, Reject};
use crate::summary::{self, GroupKey, Grouping, Summary};

/// Where a loan book is read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    Stdin,
    File(PathBuf),
}

impl Input {
    pub fn name(&self) -> String {
        match self {
            Input::Stdin => "<stdin>".to_string(),
            Input::File(p) => p.display().to_string(),
        }
    }
}

/// Everything a run needs, validated.
#[derive(Debug, Clone)]
pub struct RunConfig {
    pub inputs: Vec<Input>,
    pub as_of: NaiveDate,
    pub policy: Policy,
    pub results: Option<PathBuf>,
    /// `None`: the caller prints `RunReport::summary` itself.
    pub summary: Option<PathBuf>,
    pub rejects: PathBuf,
    pub group_by: Vec<GroupKey>,
    /// 0: one per core.
    pub threads: usize,
    pub batch_size: usize,
    pub progress: bool,
}

/// What a run did.
#[derive(Debug)]
pub struct RunReport {
    pub rows_read: u64,
    pub rows_written: u64,
    pub rows_rejected: u64,
    /// The first few rejects, as `file:line: column: reason` messages.
    pub first_rejects: Vec<String>,
    pub elapsed: Duration,
    pub summary_header: Vec<String>,
    pub summary_rows: Vec<Vec<String>>,
    pub group_keys: usize,
    pub outputs: Vec<PathBuf>,
}

/// How many reject messages the report keeps.
const REPORTED_REJECTS: usize = 10;
/// Records per rayon task within a batch.
const CHUNK: usize = 512;
/// Batches in flight between two stages.
const QUEUE: usize = 4;

struct Source {
    name: String,
    reader: csv::Reader<Box<dyn Read + Send>>,
    size: Option<u64>,
}

struct Batch {
    source: usize,
    records: Vec<ByteRecord>,
    len: usize,
    /// Bytes of input read so far, over all sources.
    bytes_read: u64,
}

/// The formatted output of one chunk of records.
#[derive(Default)]
struct ChunkOut {
    results: Vec<u8>,
    rejects: Vec<u8>,
    written: u64,
    rejected: Vec<Reject>,
    summary: Summary,
}

/// Runs the whole job. Headers and policy are checked before any output file
/// is created; outputs are committed only when everything succeeded.
pub fn run(config: &RunConfig) -> Result<RunReport, Error> {
    let started = Instant::now();
    let mut sources = config
        .inputs
        .iter()
        .map(open)
        .collect::<Result<Vec<_>, _>>()?;
    let layout = check_headers(&mut sources, &config.policy)?;
    let grouping = Grouping::new(&config.group_by, &layout, &config.policy);

    let mut results = config
        .results
        .as_deref()
        .map(AtomicFile::create)
        .transpose()?;
    if let Some(file) = results.as_mut() {
        write_header(file, &results_header(&layout))?;
    }
    let mut rejects = AtomicFile::create(&config.rejects)?;
    write_header(&mut rejects, &REJECTS_HEADER)?;

    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(config.threads)
        .build()
        .map_err(|e| Error::io("thread pool", io::Error::other(e)))?;
    let progress = progress_bar(config.progress, &sources);
    let names: Vec<String> = sources.iter().map(|s| s.name.clone()).collect();
    let mut totals = Totals::default();

    let outcome = thread::scope(|scope| {
        let (batch_tx, batch_rx) = sync_channel(QUEUE);
        let (spent_tx, spent_rx) = sync_channel(QUEUE + 2);
        let (out_tx, out_rx) = sync_channel::<Vec<ChunkOut>>(QUEUE);
        let batch_size = config.batch_size.max(1);
        let reader = scope.spawn(move || read_batches(sources, batch_size, batch_tx, spent_rx));
        let writer = scope.spawn(move || write_chunks(out_rx, results, rejects));

        let stage = (|| {
            for batch in batch_rx {
                let batch: Batch = batch?;
                let records = &batch.records[..batch.len];
                let chunks: Vec<ChunkOut> = pool.install(|| {
                    records
                        .par_chunks(CHUNK)
                        .map(|chunk| process(chunk, &layout, config, &grouping))
                        .collect::<Result<_, Error>>()
                })?;
                for chunk in &chunks {
                    totals.add(chunk, &names[batch.source])?;
                }
                progress.set_position(batch.bytes_read);
                let _ = spent_tx.try_send(batch.records);
                if out_tx.send(chunks).is_err() {
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
    let (results, rejects) = match outcome {
        Ok(files) => files,
        Err(e) => {
            progress.abandon();
            return Err(e);
        }
    };
    progress.finish_and_clear();

    let (summary_header, summary_rows) = totals.summary.table(&grouping, &config.policy)?;
    let mut outputs = Vec::new();
    if let Some(file) = results {
        outputs.push(file.path().to_path_buf());
        file.commit()?;
    }
    outputs.push(rejects.path().to_path_buf());
    rejects.commit()?;
    if let Some(path) = &config.summary {
        let mut file = AtomicFile::create(path)?;
        summary::write_csv(&mut file, &summary_header, &summary_rows)
            .map_err(|e| Error::csv(path.display(), e))?;
        file.commit()?;
        outputs.push(path.clone());
    }
    Ok(RunReport {
        rows_read: totals.written + totals.rejected,
        rows_written: totals.written,
        rows_rejected: totals.rejected,
        first_rejects: totals.first_rejects,
        elapsed: started.elapsed(),
        summary_header,
        summary_rows,
        group_keys: grouping.keys.len(),
        outputs,
    })
}

/// Counts and statistics merged from every chunk, in input order.
#[derive(Default)]
struct Totals {
    written: u64,
    rejected: u64,
    first_rejects: Vec<String>,
    summary: Summary,
}

impl Totals {
    fn add(&mut self, chunk: &ChunkOut, source: &str) -> Result<(), Error> {
        self.written += chunk.written;
        self.rejected += chunk.rejected.len() as u64;
        for r in &chunk.rejected {
            if self.first_rejects.len() < REPORTED_REJECTS {
                let column = if r.column.is_empty() {
                    String::new()
                } else {
                    format!(" column {}:", r.column)
                };
                self.first_rejects
                    .push(format!("{source}:{}:{column} {}", r.line, r.reason));
            }
        }
        self.summary.merge(&chunk.summary)?;
        Ok(())
    }
}

fn open(input: &Input) -> Result<Source, Error> {
    let name = input.name();
    let (read, size): (Box<dyn Read + Send>, _) = match input {
        Input::Stdin => (Box::new(io::stdin()), None),
        Input::File(path) => {
            let file = File::open(path).map_err(|e| Error::io(&name, e))?;
            let size = file.metadata().ok().map(|m| m.len());
            (Box::new(file), size)
        }
    };
    let reader = csv::ReaderBuilder::new()
        .flexible(true)
        .buffer_capacity(1 << 16)
        .from_reader(read);
    Ok(Source { name, reader, size })
}

/// Reads every source's header; all must lay out the columns alike.
fn check_headers(sources: &mut [Source], policy: &Policy) -> Result<Layout, Error> {
    let mut layout: Option<Layout> = None;
    for source in sources.iter_mut() {
        let header = source
            .reader
            .byte_headers()
            .map_err(|e| Error::csv(&source.name, e))?
            .clone();
        let this = Layout::from_header(&header, policy, &source.name)?;
        match &layout {
            Some(first) if *first != this => {
                return Err(Error::Header {
                    path: source.name.clone(),
                    message: format!(
                        "header differs from {}'s: all inputs of a run must share one header",
                        sources[0].name
                    ),
                });
            }
            Some(_) => {}
            None => layout = Some(this),
        }
    }
    layout.ok_or_else(|| Error::Header {
        path: "<none>".into(),
        message: "no input".into(),
    })
}

fn write_header(file: &mut AtomicFile, header: &[&str]) -> Result<(), Error> {
    let path = file.path().display().to_string();
    let mut w = csv::Writer::from_writer(file);
    w.write_record(header).map_err(|e| Error::csv(&path, e))?;
    w.flush().map_err(|e| Error::io(&path, e))
}

fn read_batches(
    sources: Vec<Source>,
    batch_size: usize,
    batches: SyncSender<Result<Batch, Error>>,
    spent: Receiver<Vec<ByteRecord>>,
) {
    let mut offset = 0;
    for (index, mut source) in sources.into_iter().enumerate() {
        loop {
            let mut records = spent
                .try_recv()
                .unwrap_or_else(|_| vec![ByteRecord::new(); batch_size]);
            let mut len = 0;
            while len < batch_size {
                match source.reader.read_byte_record(&mut records[len]) {
                    Ok(true) => len += 1,
                    Ok(false) => break,
                    Err(e) => {
                        let _ = batches.send(Err(Error::csv(&source.name, e)));
                        return;
                    }
                }
            }
            let bytes_read = offset + source.reader.position().byte();
            if len > 0 {
                let batch = Batch {
                    source: index,
                    records,
                    len,
                    bytes_read,
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

fn write_chunks(
    chunks: Receiver<Vec<ChunkOut>>,
    mut results: Option<AtomicFile>,
    mut rejects: AtomicFile,
) -> Result<(Option<AtomicFile>, AtomicFile), Error> {
    for batch in chunks {
        for chunk in batch {
            if let Some(file) = results.as_mut() {
                file.write_all(&chunk.results)
                    .map_err(|e| Error::io(file.path().display(), e))?;
            }
            rejects
                .write_all(&chunk.rejects)
                .map_err(|e| Error::io(rejects.path().display(), e))?;
        }
    }
    Ok((results, rejects))
}

/// Parses, computes and formats one chunk of records.
fn process(
    records: &[ByteRecord],
    layout: &Layout,
    config: &RunConfig,
    grouping: &Grouping,
) -> Result<ChunkOut, Error> {
    let policy = &config.policy;
    let buckets = policy.bucket_labels();
    let mut out = ChunkOut::default();
    let mut results = csv::Writer::from_writer(Vec::with_capacity(records.len() * 200));
    let mut rejects = csv::Writer::from_writer(Vec::new());
    for record in records {
        let computed = parse_loan(record, layout, policy).and_then(|loan| {
            match compute(&loan, policy, config.as_of) {
                Ok(figures) => Ok((loan, figures)),
                Err(why) => Err(Reject::new(record, &loan.loan_id, "", why.to_string())),
            }
        });
        match computed {
            Ok((loan, figures)) => {
                if config.results.is_some() {
                    write_result(&mut results, &loan, &figures, policy, &buckets)
                        .map_err(|e| Error::csv("results", e))?;
                }
                out.summary.add(grouping, &loan, &figures, policy)?;
                out.written += 1;
            }
            Err(reject) => {
                write_reject(&mut rejects, &reject).map_err(|e| Error::csv("rejects", e))?;
                out.rejected.push(reject);
            }
        }
    }
    out.results = results
        .into_inner()
        .map_err(|e| Error::io("results", e.into_error()))?;
    out.rejects = rejects
        .into_inner()
        .map_err(|e| Error::io("rejects", e.into_error()))?;
    Ok(out)
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
