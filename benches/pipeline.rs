//! Criterion benchmarks of each stage: field parsing, one record's compute,
//! output formatting, and the whole pipeline on a generated book. Each
//! reports throughput and checks its result inside the loop.

use std::path::PathBuf;

use chrono::NaiveDate;
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};

use arrears::cmd::generate::{write_book, GenerateConfig};
use arrears::cmd::run::{run, RunConfig};
use arrears::compute::compute;
use arrears::io::output::{write_result, CsvRows};
use arrears::io::pipeline::{Input, PipelineConfig};
use arrears::io::split::Quoted;
use arrears::parse;
use arrears::policy::Policy;
use arrears::record::{parse_loan, Layout, Record};
use arrears::summary::GroupKey;

const ROWS: u64 = 50_000;

fn as_of() -> NaiveDate {
    NaiveDate::from_ymd_opt(2025, 6, 30).unwrap()
}

/// A generated book, written once per bench process.
fn book() -> PathBuf {
    let path = std::env::temp_dir().join(format!("arrears-bench-{ROWS}.csv"));
    if !path.exists() {
        write_book(
            &GenerateConfig {
                rows: ROWS,
                seed: 1,
                as_of: as_of(),
            },
            &path,
        )
        .unwrap();
    }
    path
}

fn records() -> (Layout, Vec<Record>, u64) {
    let path = book();
    let bytes = std::fs::metadata(&path).unwrap().len();
    let mut reader = csv::Reader::from_path(&path).unwrap();
    let layout = Layout::from_header(
        &Quoted(reader.byte_headers().unwrap()),
        &Policy::load("cn-bank").unwrap(),
        "bench",
    )
    .unwrap();
    let records = reader
        .byte_records()
        .enumerate()
        .map(|(i, r)| Record::of(r.unwrap().iter(), i as u64 + 2))
        .collect();
    (layout, records, bytes)
}

fn fields(c: &mut Criterion) {
    let mut g = c.benchmark_group("fields");
    let money = ["26,000.50", "176255.13", "15", "1,000"];
    let rates = ["0.05%", "0.000108", "0.167‰", "5‱"];
    let dates = [
        "2025-04-10",
        "2025/04/10",
        "20250410",
        "2025-04-10 08:30:00",
    ];
    g.throughput(Throughput::Elements(4));
    g.bench_function("money", |b| {
        b.iter(|| money.iter().all(|m| parse::money(black_box(m)).is_ok()))
    });
    g.bench_function("rate", |b| {
        b.iter(|| rates.iter().all(|r| parse::rate(black_box(r)).is_ok()))
    });
    g.bench_function("date", |b| {
        b.iter(|| dates.iter().all(|d| parse::date(black_box(d)).is_ok()))
    });
    g.finish();
}

fn record_stages(c: &mut Criterion) {
    let policy = Policy::load("cn-bank").unwrap();
    let (layout, records, bytes) = records();
    let loans: Vec<_> = records
        .iter()
        .map(|r| parse_loan(r, &layout, &policy).unwrap())
        .collect();
    let figures: Vec<_> = loans
        .iter()
        .map(|l| compute(l, &policy, as_of()).unwrap())
        .collect();
    let buckets = policy.bucket_labels();

    let mut g = c.benchmark_group("record");
    g.throughput(Throughput::Elements(records.len() as u64));
    g.bench_function("parse", |b| {
        b.iter(|| {
            assert!(records
                .iter()
                .all(|r| parse_loan(r, &layout, &policy).is_ok()))
        })
    });
    g.bench_function("compute", |b| {
        b.iter(|| assert!(loans.iter().all(|l| compute(l, &policy, as_of()).is_ok())))
    });
    g.bench_function("format", |b| {
        b.iter(|| {
            let mut out = CsvRows::with_capacity(bytes as usize * 2);
            for (loan, f) in loans.iter().zip(&figures) {
                write_result(&mut out, loan, f, &policy, &buckets, false);
            }
            assert!(out.bytes.len() as u64 > bytes);
        })
    });
    g.finish();
}

fn whole_pipeline(c: &mut Criterion) {
    let path = book();
    let bytes = std::fs::metadata(&path).unwrap().len();
    let out = std::env::temp_dir().join("arrears-bench-out");
    std::fs::create_dir_all(&out).unwrap();
    let mut g = c.benchmark_group("pipeline");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(bytes));
    for threads in [1, 2] {
        let config = RunConfig {
            pipeline: PipelineConfig {
                inputs: vec![Input::File(path.clone())],
                as_of: as_of(),
                policy: Policy::load("cn-bank").unwrap(),
                output: Some(out.join("results.csv")),
                rejects: Some(out.join("rejects.csv")),
                threads,
                batch_size: 16_384,
                progress: false,
                encoding: None,
                unique_ids: false,
                stdin_compression: Default::default(),
                format: Default::default(),
                repayments: Vec::new(),
                unmatched: None,
                trace: false,
            },
            summary: Some(out.join("summary.csv")),
            group_by: vec![GroupKey::Currency, GroupKey::Product, GroupKey::Bucket],
            summary_format: None,
            manifest: None,
        };
        g.bench_function(format!("run-{threads}-threads"), |b| {
            b.iter(|| assert_eq!(run(&config).unwrap().report.rows_accepted, ROWS))
        });
    }
    g.finish();
}

criterion_group!(benches, fields, record_stages, whole_pipeline);
criterion_main!(benches);
