//! Invariants of the pipeline, over generated inputs:
//! - thread count and batch size never change a byte of any output;
//! - rows read = rows written + rows rejected, and both files hold them;
//! - with repayments (SPEC.md section 5): repaid = repaid_principal +
//!   repaid_unpaid_interest + repaid_charges + overpaid on every row; an
//!   empty payments file changes no byte of what exists without it; every
//!   payment read is applied, ignored, unmatched or rejected; threads and
//!   batch size change no byte either.

use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use proptest::prelude::*;

use arrears::cmd::run::{run, RunConfig};
use arrears::io::pipeline::{Input, PipelineConfig};
use arrears::policy::Policy;
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
            repayments: Vec::new(),
            unmatched: None,
            trace: false,
        },
        summary: Some(out.join("summary.csv")),
        group_by: vec![GroupKey::Currency, GroupKey::Product, GroupKey::Bucket],
        summary_format: None,
        manifest: None,
    }
}

/// `config` with payments, the unmatched-payments file beside the rejects.
fn with_payments(mut config: RunConfig, payments: &Path, out: &Path) -> RunConfig {
    config.pipeline.repayments = vec![payments.to_path_buf()];
    config.pipeline.unmatched = Some(out.join("unmatched.csv"));
    config
}

/// The sample book's payments, as `arrears generate --repayments` writes
/// them (seed 42, as the sample book), with a few unreadable rows.
fn sample_payments() -> PathBuf {
    let dir = scratch("payments");
    let book = dir.join("book.csv");
    let payments = dir.join("payments.csv");
    let generated = arrears::cmd::generate::GenerateConfig {
        rows: 3000,
        seed: 42,
        as_of: NaiveDate::from_ymd_opt(2025, 6, 30).unwrap(),
    };
    arrears::cmd::generate::write_book(&generated, &book).unwrap();
    arrears::cmd::generate::write_payments(&generated, &payments).unwrap();
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/loanbook.csv");
    assert_eq!(
        std::fs::read(&book).unwrap(),
        std::fs::read(sample).unwrap()
    );
    let mut text = std::fs::read_to_string(&payments).unwrap();
    text.push_str("L00000007,2025-13-01,5\nL00000011,2025-05-01,-3\n,2025-05-01,3\n");
    std::fs::write(&payments, text).unwrap();
    payments
}

fn sample_book() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/loanbook.csv")
}

/// Records of a CSV file, header first, each as its fields.
fn table(path: &Path) -> Vec<Vec<String>> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_path(path)
        .unwrap();
    reader
        .records()
        .map(|r| r.unwrap().iter().map(String::from).collect())
        .collect()
}

/// A table without the named columns.
fn without(table: &[Vec<String>], columns: &[&str]) -> Vec<Vec<String>> {
    let keep: Vec<usize> = (0..table[0].len())
        .filter(|&i| !columns.contains(&table[0][i].as_str()))
        .collect();
    table
        .iter()
        .map(|row| keep.iter().map(|&i| row[i].clone()).collect())
        .collect()
}

const REPAY_COLUMNS: [&str; 8] = [
    "repaid",
    "repaid_principal",
    "repaid_unpaid_interest",
    "repaid_charges",
    "principal_due",
    "balance_due",
    "collected_over_cap",
    "overpaid",
];

fn cents(text: &str) -> i128 {
    let (units, decimals) = text.split_once('.').unwrap();
    units.parse::<i128>().unwrap() * 100 + decimals.parse::<i128>().unwrap()
}

#[test]
fn an_empty_payments_file_changes_no_byte() {
    let plain_dir = scratch("no-payments");
    run(&config(&sample_book(), &plain_dir, 2, 1000)).unwrap();
    let dir = scratch("empty-payments");
    let empty = dir.join("empty.csv");
    std::fs::write(&empty, "loan_id,date,amount\n").unwrap();
    let report = run(&with_payments(
        config(&sample_book(), &dir, 2, 1000),
        &empty,
        &dir,
    ))
    .unwrap()
    .report;
    assert_eq!(report.payments.unwrap().read, 0);
    for name in ["results.csv", "summary.csv"] {
        let (plain, paid) = (table(&plain_dir.join(name)), table(&dir.join(name)));
        assert_eq!(
            &paid[0][paid[0].len() - 8..],
            REPAY_COLUMNS.map(String::from)
        );
        assert!(plain == without(&paid, &REPAY_COLUMNS), "{name} differs");
    }
    assert_eq!(
        std::fs::read(plain_dir.join("rejects.csv")).unwrap(),
        std::fs::read(dir.join("rejects.csv")).unwrap()
    );
}

#[test]
fn repaid_is_the_sum_of_where_it_went_and_no_payment_is_lost() {
    let payments = sample_payments();
    let dir = scratch("identity");
    let report = run(&with_payments(
        config(&sample_book(), &dir, 2, 700),
        &payments,
        &dir,
    ))
    .unwrap()
    .report;
    let counts = report.payments.unwrap();
    let lines = std::fs::read_to_string(&payments).unwrap().lines().count() as u64 - 1;
    assert_eq!(counts.read, lines);
    assert_eq!(
        counts.read,
        counts.applied + counts.after_as_of + counts.unmatched + counts.rejected
    );
    assert!(counts.applied > 500 && counts.after_as_of > 0 && counts.unmatched > 0);
    assert_eq!(counts.rejected, 3);
    assert_eq!(
        table(&dir.join("unmatched.csv")).len() as u64 - 1,
        counts.unmatched
    );
    // Two of the bad payments name book rows, which are rejected too.
    assert_eq!(report.rows_rejected, 2);
    assert_eq!(table(&dir.join("rejects.csv")).len(), 1 + 3 + 2);
    let results = table(&dir.join("results.csv"));
    let at = |name: &str| results[0].iter().position(|h| h == name).unwrap();
    let (mut settled, mut overpaid, mut collected) = (0, 0, 0);
    for row in &results[1..] {
        let f = |name: &str| cents(&row[at(name)]);
        assert_eq!(
            f("repaid"),
            f("repaid_principal")
                + f("repaid_unpaid_interest")
                + f("repaid_charges")
                + f("overpaid"),
            "{row:?}"
        );
        assert_eq!(f("principal_due"), f("principal") - f("repaid_principal"));
        assert!(f("balance_due") >= 0 && f("outstanding") >= 0);
        assert_eq!(
            f("collected_over_cap"),
            (f("repaid_charges") - f("total_capped")).max(0)
        );
        settled += usize::from(f("repaid") > 0 && row[at("classification")].is_empty());
        overpaid += usize::from(f("overpaid") > 0);
        collected += usize::from(f("collected_over_cap") > 0);
    }
    assert!(
        settled > 10 && overpaid > 10 && collected > 0,
        "{settled} {overpaid} {collected}"
    );
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
    fn threads_and_batch_size_never_change_output_with_payments(threads in 1usize..=4, batch_size in 1usize..=3000) {
        let payments = sample_payments();
        let base_dir = scratch("pay-base");
        run(&with_payments(config(&sample_book(), &base_dir, 1, 16_384), &payments, &base_dir)).unwrap();
        let dir = scratch(&format!("pay-t{threads}-b{batch_size}"));
        run(&with_payments(config(&sample_book(), &dir, threads, batch_size), &payments, &dir)).unwrap();
        let files = |d: &Path| {
            let mut all = outputs(d);
            all.push(std::fs::read(d.join("unmatched.csv")).unwrap());
            all
        };
        prop_assert!(files(&dir) == files(&base_dir), "outputs differ with {} threads, batch {}", threads, batch_size);
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
