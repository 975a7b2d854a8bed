//! The auditor's tools against `run`: `audit` lists exactly the breaching
//! rows with limits and excesses that add up, and `explain` shows the same
//! figures as `run`'s results, for every row of the sample book.

mod util;

use std::collections::HashMap;
use std::path::Path;

use rust_decimal::Decimal;
use serde_json::Value;

use util::{run_in, scratch, testdata};

fn book() -> String {
    testdata().join("loanbook.csv").display().to_string()
}

/// A CSV file as header and rows of named fields.
fn read_rows(path: &Path) -> Vec<HashMap<String, String>> {
    let mut reader = csv::Reader::from_path(path).unwrap();
    let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    reader
        .records()
        .map(|r| {
            header
                .iter()
                .cloned()
                .zip(r.unwrap().iter().map(String::from))
                .collect()
        })
        .collect()
}

fn d(s: &str) -> Decimal {
    s.parse().unwrap_or_else(|_| panic!("not a decimal: {s:?}"))
}

#[test]
fn audit_lists_exactly_the_breaching_rows_of_run() {
    let dir = scratch("audit");
    run_in(
        &dir,
        &[
            "run",
            &book(),
            "--as-of",
            "2025-06-30",
            "-o",
            "results.csv",
            "-q",
        ],
    )
    .expect_code(0);
    let run = run_in(
        &dir,
        &[
            "audit",
            &book(),
            "--as-of",
            "2025-06-30",
            "-o",
            "breaches.csv",
            "--summary",
            "audit.csv",
        ],
    );
    run.expect_code(0);
    let results = read_rows(&dir.join("results.csv"));
    let breaches = read_rows(&dir.join("breaches.csv"));
    let breaching: Vec<&HashMap<String, String>> = results
        .iter()
        .filter(|r| !r["breaches"].is_empty())
        .collect();
    assert!(
        breaching.len() > 100,
        "the sample book should breach caps often"
    );
    assert_eq!(breaches.len(), breaching.len());
    assert!(
        run.stderr()
            .contains(&format!("{} rows breach at least one cap", breaching.len())),
        "{}",
        run.dump()
    );
    for (b, r) in breaches.iter().zip(&breaching) {
        for column in [
            "loan_id",
            "currency",
            "total_raw",
            "total_capped",
            "excess",
            "breaches",
            "binding_cap",
            "annualized_rate",
        ] {
            assert_eq!(b[column], r[column], "{column} of {}", r["loan_id"]);
        }
        // The binding cap's excess is the run's excess (cn-bank's caps both
        // apply to every component, and the tighter one comes first).
        let binding = &r["binding_cap"];
        assert_eq!(
            d(&b[&format!("{binding}_excess")]),
            d(&r["excess"]),
            "{}",
            r["loan_id"]
        );
        for cap in ["annual-24", "annual-36"] {
            let breached = r["breaches"].split(';').any(|c| c == cap);
            let (limit, excess) = (&b[&format!("{cap}_limit")], &b[&format!("{cap}_excess")]);
            assert_eq!(!limit.is_empty(), breached, "{cap} of {}", r["loan_id"]);
            if breached {
                assert_eq!(
                    d(limit) + d(excess),
                    d(&r["total_raw"]),
                    "limit + excess = charged, {}",
                    r["loan_id"]
                );
                assert!(d(excess) > Decimal::ZERO);
            }
        }
    }
    // The audit summary adds up to the rows.
    for row in read_rows(&dir.join("audit.csv")) {
        let cap = &row["cap"];
        let mine: Vec<_> = breaches
            .iter()
            .filter(|b| {
                b["currency"] == row["currency"] && b["breaches"].split(';').any(|c| c == cap)
            })
            .collect();
        assert_eq!(
            row["accounts_breaching"],
            mine.len().to_string(),
            "{cap} {}",
            row["currency"]
        );
        let excesses: Vec<Decimal> = mine
            .iter()
            .map(|b| d(&b[&format!("{cap}_excess")]))
            .collect();
        assert_eq!(d(&row["total_excess"]), excesses.iter().sum::<Decimal>());
        assert_eq!(
            d(&row["largest_excess"]),
            excesses.iter().copied().max().unwrap_or_default()
        );
        let checked = results
            .iter()
            .filter(|r| r["currency"] == row["currency"])
            .count();
        assert_eq!(row["accounts_checked"], checked.to_string());
    }
}

#[test]
fn explain_shows_the_seed_example_by_hand() {
    let dir = testdata().join("seed_example");
    let run = run_in(
        &dir,
        &[
            "explain",
            "input.csv",
            "--as-of",
            "2025-04-20",
            "--policy",
            "policy.toml",
            "--loan-id",
            "daily",
        ],
    );
    run.expect_code(0);
    let out = run.stdout();
    assert!(
        out.contains("principal 26000.00 x 0.0005 x 10 = 130.00"),
        "{}",
        run.dump()
    );
    assert!(
        out.contains("principal 26000.00 x 0.001 x 10 = 260.00"),
        "{}",
        run.dump()
    );
    assert!(
        out.contains("2025-04-20 - 2025-04-10 = 10"),
        "{}",
        run.dump()
    );
    assert!(out.contains("penalty_rate column 0.001"), "{}", run.dump());
}

/// Issue 13: a limit rounded down says so; a due date on a make-up working
/// day (调休) stays, one in the National Day holiday rolls past it.
#[test]
fn explain_shows_limits_rounded_down_and_make_up_working_days() {
    let dir = testdata().join("preset_cn_national_day");
    let run = run_in(
        &dir,
        &[
            "explain",
            "input.csv",
            "--as-of",
            "2025-10-20",
            "--policy",
            "policy.toml",
            "--loan-id",
            "makeup-sunday",
            "--loan-id",
            "national-day",
        ],
    );
    run.expect_code(0);
    let out = run.stdout();
    for line in [
        "a Sunday the calendar makes a working day (working_days): not rolled",
        "principal 1000.00 x 0.24 x 22 / 365 = 14.46 (unrounded 14.465753424657534246575342466, rounded down to the cent)",
        "contractual due date 2025-10-01 (Wednesday) is not a working day: rolled to the next business day",
        "2025-10-20 - 2025-10-09 = 11",
    ] {
        assert!(out.contains(line), "no {line:?}{}", run.dump());
    }
}

#[test]
fn explain_names_principal_days_once_in_a_limit_with_payments() {
    let dir = testdata().join("repay_caps");
    let run = run_in(
        &dir,
        &[
            "explain",
            "input.csv",
            "--as-of",
            "2025-03-31",
            "--policy",
            "policy.toml",
            "--repayments",
            "payments.csv",
            "--loan-id",
            "CA-collected-over-cap",
        ],
    );
    run.expect_code(0);
    let out = run.stdout();
    let line = "annual_rate: principal-days 29400.00 x 0.365 / 365 = 29.40";
    assert!(out.contains(line), "no {line:?}{}", run.dump());
    assert!(!out.contains("principal principal-days"), "{}", run.dump());

    let dir = testdata().join("preset_cn_private_lending");
    let run = run_in(
        &dir,
        &[
            "explain",
            "input.csv",
            "--as-of",
            "2025-06-10",
            "--policy",
            "cn-private-lending",
            "--loan-id",
            "under-new-lpr",
        ],
    );
    run.expect_code(0);
    let line = "lpr_multiple: principal 36500.00 x 4 x LPR 0.03 (in force on 2025-05-20, contract_date) x 10 / 365 = 120.00";
    assert!(run.stdout().contains(line), "no {line:?}{}", run.dump());
}

#[test]
fn explain_names_missing_loans_and_exits_1() {
    let dir = testdata().join("seed_example");
    let run = run_in(
        &dir,
        &[
            "explain",
            "input.csv",
            "--as-of",
            "2025-04-20",
            "--loan-id",
            "daily",
            "--loan-id",
            "nope",
        ],
    );
    run.expect_code(1);
    assert!(run.stderr().contains("nope"), "{}", run.dump());
    assert!(run.stdout().contains("loan daily"), "{}", run.dump());
}

/// Every explained figure equals the same loan's figure in `run`'s results,
/// and every unrounded value rounds to its figure, for every row of the
/// sample book under two policies (the second on 3 threads, small batches).
#[test]
fn explain_agrees_with_run_on_every_row() {
    let dir = scratch("explain-all");
    for policy in ["cn-bank", "uk-hcstc"] {
        run_in(
            &dir,
            &[
                "run",
                &book(),
                "--as-of",
                "2025-06-30",
                "--policy",
                policy,
                "-o",
                "results.csv",
                "-q",
            ],
        )
        .expect_code(0);
        let results = read_rows(&dir.join("results.csv"));
        let mut args = vec![
            "explain".to_string(),
            book(),
            "--as-of".into(),
            "2025-06-30".into(),
            "--policy".into(),
            policy.into(),
            "--json".into(),
        ];
        for r in &results {
            args.extend(["--loan-id".to_string(), r["loan_id"].clone()]);
        }
        // Explanations come in input order however the rows are split
        // across threads, batches and chunks.
        if policy == "uk-hcstc" {
            args.extend(["--threads", "3", "--batch-size", "700"].map(String::from));
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let run = run_in(&dir, &args);
        run.expect_code(0);
        let explained: Vec<Value> = serde_json::from_str(&run.stdout()).unwrap();
        assert_eq!(explained.len(), results.len());
        for (e, r) in explained.iter().zip(&results) {
            let id = &r["loan_id"];
            let text = |path: &str| -> String {
                let v = e.pointer(path).unwrap_or_else(|| panic!("{path} missing"));
                v.as_str().map_or_else(|| v.to_string(), String::from)
            };
            let pairs = [
                ("/loan_id", "loan_id"),
                ("/principal", "principal"),
                ("/end_date/value", "end_date"),
                ("/days_overdue/value", "days_overdue"),
                ("/chargeable_days/value", "chargeable_days"),
                ("/daily_rate/value", "daily_rate"),
                ("/penalty_daily_rate/value", "penalty_daily_rate"),
                ("/interest/value", "interest"),
                ("/penalty/value", "penalty"),
                ("/compound/value", "compound"),
                ("/fees/value", "fees"),
                ("/total_raw/value", "total_raw"),
                ("/total_capped/value", "total_capped"),
                ("/excess/value", "excess"),
                ("/binding_cap", "binding_cap"),
                ("/annualized_rate/value", "annualized_rate"),
                ("/status/value", "status"),
                ("/bucket/value", "bucket"),
                ("/classification/value", "classification"),
                ("/provision/value", "provision"),
            ];
            for (path, column) in pairs {
                assert_eq!(text(path), r[column], "{column} of {id} under {policy}");
            }
            for c in ["interest", "penalty", "compound"] {
                let exact = d(&text(&format!("/{c}/exact")));
                let rounded = match policy {
                    "cn-bank" | "uk-hcstc" => exact.round_dp_with_strategy(
                        2,
                        rust_decimal::RoundingStrategy::MidpointAwayFromZero,
                    ),
                    _ => unreachable!(),
                };
                assert_eq!(rounded, d(&r[c]), "unrounded {c} of {id} under {policy}");
            }
            for cap in e["caps"].as_array().unwrap() {
                let exact = d(cap["limit"]["exact"].as_str().unwrap());
                let rounded =
                    exact.round_dp_with_strategy(2, rust_decimal::RoundingStrategy::ToZero);
                let value = d(cap["limit"]["value"].as_str().unwrap());
                assert_eq!(rounded, value, "limit of {} rounds down, {id}", cap["name"]);
            }
            let breached: Vec<String> = e["caps"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|c| c["breached"] == Value::Bool(true))
                .map(|c| c["name"].as_str().unwrap().to_string())
                .collect();
            assert_eq!(breached.join(";"), r["breaches"], "breaches of {id}");
        }
    }
}

/// With repayments, every explained figure (segments' principal-days, each
/// payment's allocation, the repayment columns) agrees with `run`'s
/// results, on every row of a generated book and its payments; each
/// payment's allocation adds up to its amount.
#[test]
fn explain_with_repayments_agrees_with_run_on_every_row() {
    let dir = scratch("explain-repayments");
    let generate = [
        "generate",
        "--rows",
        "1500",
        "--seed",
        "5",
        "-o",
        "book.csv",
        "--repayments",
        "pay.csv",
    ];
    run_in(&dir, &generate).expect_code(0);
    let common = [
        "book.csv",
        "--repayments",
        "pay.csv",
        "--as-of",
        "2025-06-30",
    ];
    let mut run = vec!["run"];
    run.extend(common);
    run.extend(["-o", "results.csv", "-q"]);
    run_in(&dir, &run).expect_code(0);
    let results = read_rows(&dir.join("results.csv"));
    let mut args: Vec<String> = ["explain", "--json", "--threads", "2", "--batch-size", "300"]
        .iter()
        .chain(common.iter())
        .map(|s| s.to_string())
        .collect();
    for r in &results {
        args.extend(["--loan-id".to_string(), r["loan_id"].clone()]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = run_in(&dir, &args);
    out.expect_code(0);
    let explained: Vec<Value> = serde_json::from_str(&out.stdout()).unwrap();
    assert_eq!(explained.len(), results.len());
    let mut with_payments = 0;
    for (e, r) in explained.iter().zip(&results) {
        let id = &r["loan_id"];
        let text = |path: &str| -> String {
            let v = e
                .pointer(path)
                .unwrap_or_else(|| panic!("{path} missing for {id}"));
            v.as_str().map_or_else(|| v.to_string(), String::from)
        };
        for (path, column) in [
            ("/end_date/value", "end_date"),
            ("/interest/value", "interest"),
            ("/penalty/value", "penalty"),
            ("/compound/value", "compound"),
            ("/fees/value", "fees"),
            ("/total_capped/value", "total_capped"),
            ("/annualized_rate/value", "annualized_rate"),
            ("/status/value", "status"),
            ("/provision/value", "provision"),
            ("/repayments/repaid", "repaid"),
            ("/repayments/repaid_principal", "repaid_principal"),
            (
                "/repayments/repaid_unpaid_interest",
                "repaid_unpaid_interest",
            ),
            ("/repayments/repaid_charges", "repaid_charges"),
            ("/repayments/principal_due/value", "principal_due"),
            ("/repayments/balance_due/value", "balance_due"),
            ("/repayments/collected_over_cap/value", "collected_over_cap"),
            ("/repayments/overpaid", "overpaid"),
            ("/repayments/outstanding/value", "outstanding"),
        ] {
            assert_eq!(text(path), r[column], "{column} of {id}");
        }
        // The segments' principal-days add up to the total shown.
        let segments = e["repayments"]["segments"].as_array().unwrap();
        let sum: Decimal = segments
            .iter()
            .map(|s| d(s["principal_days"].as_str().unwrap()))
            .sum();
        if r["chargeable_days"] != "0" {
            assert_eq!(
                sum,
                d(&text("/repayments/principal_days")),
                "principal-days of {id}"
            );
        }
        for p in e["repayments"]["payments"].as_array().unwrap() {
            with_payments += 1;
            let paid: Decimal = p["allocation"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| d(a["paid"].as_str().unwrap()))
                .sum();
            let overpaid = d(p["overpaid"].as_str().unwrap());
            assert_eq!(
                paid + overpaid,
                d(p["amount"].as_str().unwrap()),
                "a payment of {id}"
            );
        }
    }
    assert!(with_payments > 300, "{with_payments} payments explained");
}
