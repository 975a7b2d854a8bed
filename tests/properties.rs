//! Invariants of the pipeline, over generated inputs:
//! - thread count and batch size never change a byte of any output;
//! - rows read = rows written + rows rejected, and both files hold them.

use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use proptest::prelude::*;

use arrears::pipeline::{Input, PipelineConfig};
use arrears::policy::Policy;
use arrears::run::{run, RunConfig};
use arrears::summary::GroupKey;

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("arrears-prop-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn config(input: &Path, out: &Path, threads: usize, batch_size: usize) -> RunConfig {
    RunConfig {
        pipeline: PipelineConfig {
            inputs: vec![Input::File(input.to_path_buf())],
            as_of: NaiveDate::from_ymd_opt(2025, 6, 30).unwrap(),
            policy: Policy::load("cn-bank").unwrap(),
            output: Some(out.join("results.csv")),
            rejects: Some(out.join("rejects.csv")),
            threads,
            batch_size,
            progress: false,
            encoding: None,
            unique_ids: false,
            stdin_compression: Default::default(),
            format: Default::default(),
        },
        summary: Some(out.join("summary.csv")),
        group_by: vec![GroupKey::Currency, GroupKey::Product, GroupKey::Bucket],
        summary_format: None,
        manifest: None,
    }
}

fn outputs(dir: &Path) -> Vec<Vec<u8>> {
    ["results.csv", "summary.csv", "rejects.csv"]
        .map(|f| std::fs::read(dir.join(f)).unwrap())
        .to_vec()
}

/// The sample book with bad rows mixed in, so rejects are ordered too.
fn mixed_book() -> PathBuf {
    let dir = scratch("mixed");
    let path = dir.join("book.csv");
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/loanbook.csv"),
    )
    .unwrap();
    let mut out = String::new();
    for (i, line) in text.lines().enumerate() {
        out.push_str(line);
        out.push('\n');
        if i > 0 && i % 97 == 0 {
            out.push_str(&format!("BAD{i},12.345,2025-01-01,,,,,,,,,,,\n"));
        }
        if i > 0 && i % 251 == 0 {
            out.push_str(&format!("SHORT{i},1\n"));
        }
    }
    std::fs::write(&path, out).unwrap();
    path
}

fn count_records(path: &Path) -> u64 {
    csv::Reader::from_path(path).unwrap().byte_records().count() as u64
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    #[test]
    fn threads_and_batch_size_never_change_output(threads in 1usize..=4, batch_size in 1usize..=3000) {
        let book = mixed_book();
        let base_dir = scratch("base");
        let base = run(&config(&book, &base_dir, 1, 16_384)).unwrap().report;
        prop_assert!(base.rows_rejected > 0);
        let dir = scratch(&format!("t{threads}-b{batch_size}"));
        let report = run(&config(&book, &dir, threads, batch_size)).unwrap().report;
        prop_assert_eq!(report.rows_accepted, base.rows_accepted);
        prop_assert!(outputs(&dir) == outputs(&base_dir), "outputs differ with {} threads, batch {}", threads, batch_size);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn rows_in_equal_rows_out_plus_rejects(rows in prop::collection::vec(row(), 0..120), batch_size in 1usize..50) {
        let dir = scratch(&format!("rows-{}-{batch_size}", rows.len()));
        let book = dir.join("book.csv");
        let mut text = String::from("loan_id,principal,due_date,annual_rate,daily_rate,paid_date,fees,currency\n");
        for r in &rows {
            text.push_str(r);
            text.push('\n');
        }
        std::fs::write(&book, text).unwrap();
        let report = run(&config(&book, &dir, 2, batch_size)).unwrap().report;
        prop_assert_eq!(report.rows_read, rows.len() as u64);
        prop_assert_eq!(report.rows_read, report.rows_accepted + report.rows_rejected);
        prop_assert_eq!(count_records(&dir.join("results.csv")), report.rows_accepted);
        prop_assert_eq!(count_records(&dir.join("rejects.csv")), report.rows_rejected);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

/// A CSV row mixing valid and invalid values in every column.
fn row() -> impl Strategy<Value = String> {
    let id = prop_oneof![Just(String::new()), "[A-Z][0-9]{1,6}"];
    let money = prop_oneof![
        "[0-9]{1,9}(\\.[0-9]{1,2})?",
        Just("1,234.5".to_string()),
        Just("12.345".to_string()),
        Just("-5".to_string()),
        Just("\"9,99\"".to_string()),
        Just(String::new()),
    ];
    let date = prop_oneof![
        (2015i32..2027, 1u32..13, 1u32..29).prop_map(|(y, m, d)| format!("{y}-{m:02}-{d:02}")),
        Just("2025/02/30".to_string()),
        Just("20240229".to_string()),
        Just(String::new()),
    ];
    let rate = prop_oneof![
        "0\\.[0-9]{1,5}",
        "[0-9]{1,2}(\\.[0-9])?%",
        "[0-9]\\.[0-9]‰",
        Just("x%".to_string()),
        Just(String::new()),
    ];
    let currency = prop_oneof![Just("CNY"), Just("usd"), Just(""), Just("EURO")];
    let short = prop::bool::weighted(0.1);
    (
        id,
        money.clone(),
        date.clone(),
        rate.clone(),
        rate,
        date,
        money,
        currency,
        short,
    )
        .prop_map(
            |(id, principal, due, annual, daily, paid, fees, cur, short)| match short {
                true => format!("{id},{principal},{due}"),
                false => format!("{id},{principal},{due},{annual},{daily},{paid},{fees},{cur}"),
            },
        )
}
