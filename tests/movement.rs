//! `arrears movement` (SPEC.md section 6, issue 14): the hand-checked
//! nights of the reference's examples, byte for byte; generated pairs of
//! nights against the independent reference and the invariants; the
//! manifest's as-of and policy; duplicates and bad states.

mod util;

use std::path::{Path, PathBuf};
use std::process::Command;

use util::{assert_same_file, run_in, scratch};

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/reference/examples/movement")
}

fn reference() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/reference/arrears_ref.py")
}

/// The four outputs of one `movement` run, named `<what>.<by>.csv`.
fn movement(dir: &Path, previous: &str, current: &str, by: &str, extra: &[&str]) -> util::Run {
    let outputs = [
        format!("moves.{by}.csv"),
        format!("matrix.{by}.csv"),
        format!("provisions.{by}.csv"),
        format!("journal.{by}.csv"),
    ];
    let mut args = vec!["movement", previous, current, "--by", by, "-q"];
    for (flag, path) in ["-o", "--summary", "--provisions", "--journal"]
        .iter()
        .zip(&outputs)
    {
        args.extend([*flag, path.as_str()]);
    }
    args.extend(extra);
    run_in(dir, &args)
}

#[test]
fn the_hand_checked_nights_move_as_expected() {
    let dir = scratch("movement-examples");
    for name in ["previous.csv", "current.csv", "direct.toml"] {
        std::fs::copy(examples().join(name), dir.join(name)).unwrap();
    }
    for by in ["bucket", "classification", "status"] {
        let run = movement(
            &dir,
            "previous.csv",
            "current.csv",
            by,
            &["--as-of", "2025-06-30"],
        );
        run.expect_code(0);
        for what in ["moves", "matrix", "provisions", "journal"] {
            let file = format!("{what}.{by}.csv");
            assert_same_file(&dir.join(&file), &examples().join(&file), &run.dump());
        }
    }
    // The direct write-off method: write-offs only, Dr impairment loss.
    let run = movement(
        &dir,
        "previous.csv",
        "current.csv",
        "direct",
        &["--as-of", "2025-06-30", "--policy", "direct.toml"],
    );
    // `--by direct` is not a dimension: a usage error.
    run.expect_code(2);
    run_in(
        &dir,
        &[
            "movement",
            "previous.csv",
            "current.csv",
            "--as-of",
            "2025-06-30",
            "--policy",
            "direct.toml",
            "--provisions",
            "p.csv",
            "--journal",
            "j.csv",
            "-q",
        ],
    )
    .expect_code(0);
    assert_same_file(
        &dir.join("p.csv"),
        &examples().join("provisions.direct.csv"),
        "",
    );
    assert_same_file(
        &dir.join("j.csv"),
        &examples().join("journal.direct.csv"),
        "",
    );
}

/// Two generated nights valued by `run`, with their manifests.
fn nights(dir: &Path, rows: &str, policy: &str, format: &str) -> (String, String) {
    run_in(
        dir,
        &[
            "generate",
            "--rows",
            rows,
            "--seed",
            "9",
            "-o",
            "n1.csv",
            "--next-night",
            "n2.csv",
        ],
    )
    .expect_code(0);
    let (r1, r2) = (format!("r1.{format}"), format!("r2.{format}"));
    run_in(
        dir,
        &[
            "run",
            "n1.csv",
            "--as-of",
            "2025-06-30",
            "--policy",
            policy,
            "-o",
            &r1,
            "-q",
        ],
    )
    .expect_code(0);
    run_in(
        dir,
        &[
            "run",
            "n2.csv",
            "--as-of",
            "2025-07-30",
            "--policy",
            policy,
            "-o",
            &r2,
            "-q",
        ],
    )
    .expect_code(0);
    (r1, r2)
}

#[test]
fn generated_nights_agree_with_the_reference_byte_for_byte() {
    let dir = scratch("movement-reference");
    let (r1, r2) = nights(&dir, "4000", "cn-bank", "csv");
    for by in ["bucket", "classification", "status"] {
        movement(&dir, &r1, &r2, by, &[]).expect_code(0);
        let out = dir.join("ref");
        std::fs::create_dir_all(&out).unwrap();
        let status = Command::new("python3")
            .arg(reference())
            .args(["movement", &r1, &r2, "--by", by, "--as-of", "2025-07-30"])
            .arg("-o")
            .arg(out.join(format!("moves.{by}.csv")))
            .arg("--summary")
            .arg(out.join(format!("matrix.{by}.csv")))
            .arg("--provisions")
            .arg(out.join(format!("provisions.{by}.csv")))
            .arg("--journal")
            .arg(out.join(format!("journal.{by}.csv")))
            .current_dir(&dir)
            .status()
            .expect("python3 runs the reference");
        assert!(status.success());
        for what in ["moves", "matrix", "provisions", "journal"] {
            let file = format!("{what}.{by}.csv");
            assert_same_file(&dir.join(&file), &out.join(&file), &format!(" (by {by})"));
        }
    }
}

fn csv_rows(path: &Path) -> Vec<Vec<String>> {
    let mut r = csv::Reader::from_path(path).unwrap();
    r.records()
        .map(|x| x.unwrap().iter().map(String::from).collect())
        .collect()
}

fn cents(text: &str) -> i128 {
    let (i, f) = text.split_once('.').unwrap();
    i.parse::<i128>().unwrap() * 100 + f.parse::<i128>().unwrap()
}

#[test]
fn the_matrix_adds_up_to_both_nights_and_the_identity_holds() {
    let dir = scratch("movement-invariants");
    let (r1, r2) = nights(&dir, "6000", "cn-bank", "csv");
    movement(&dir, &r1, &r2, "classification", &[]).expect_code(0);
    let matrix = csv_rows(&dir.join("matrix.classification.csv"));
    // Every loan of either night, once (a loan whose currency changed counts in both).
    let ids = |f: &str| -> std::collections::HashSet<String> {
        csv_rows(&dir.join(f))
            .into_iter()
            .map(|r| r[0].clone())
            .collect()
    };
    let union = ids(&r1).union(&ids(&r2)).count();
    let loans: usize = matrix.iter().map(|r| r[3].parse::<usize>().unwrap()).sum();
    assert_eq!(loans, union);
    // Outstanding per from-state equals PREVIOUS's per-class sums from summarize.
    run_in(
        &dir,
        &[
            "summarize",
            &r1,
            "--group-by",
            "classification",
            "-o",
            "s1.csv",
            "-q",
        ],
    )
    .expect_code(0);
    for row in csv_rows(&dir.join("s1.csv")) {
        if row[1] == "*" {
            continue;
        }
        let state = if row[1].is_empty() {
            "settled"
        } else {
            row[1].as_str()
        };
        let from: i128 = matrix
            .iter()
            .filter(|m| m[0] == row[0] && m[1] == state)
            .map(|m| cents(&m[4]))
            .sum();
        assert_eq!(from, cents(&row[5]), "{} {state}", row[0]);
    }
    for p in csv_rows(&dir.join("provisions.classification.csv")) {
        let [opening, charge, release, write_offs, closing] = [1, 2, 3, 4, 5].map(|i| cents(&p[i]));
        assert_eq!(opening + charge - release - write_offs, closing, "{}", p[0]);
    }
}

#[test]
fn as_of_and_policy_come_from_the_manifests_and_parquet_reads_alike() {
    let dir = scratch("movement-manifest");
    let (r1, r2) = nights(&dir, "1500", "uk-hcstc", "parquet");
    run_in(&dir, &["movement", &r1, &r2, "--journal", "j.csv", "-q"]).expect_code(0);
    let journal = std::fs::read_to_string(dir.join("j.csv")).unwrap();
    assert!(
        journal.contains("2025-07-30,") && journal.contains("impairment loss,loan loss allowance"),
        "{journal}"
    );
    // The same nights as CSV give the same journal.
    let (c1, c2) = nights(&dir, "1500", "uk-hcstc", "csv");
    run_in(&dir, &["movement", &c1, &c2, "--journal", "k.csv", "-q"]).expect_code(0);
    assert_same_file(&dir.join("j.csv"), &dir.join("k.csv"), "");
    // Swapped nights; a date contradicting the manifest.
    run_in(&dir, &["movement", &r2, &r1, "-q"]).expect_code(2);
    run_in(&dir, &["movement", &r1, &r2, "--as-of", "2025-08-01", "-q"]).expect_code(2);
    // No manifest and no --as-of: the journal cannot be dated.
    std::fs::copy(dir.join(&c2), dir.join("bare.csv")).unwrap();
    let run = run_in(
        &dir,
        &["movement", &c1, "bare.csv", "--journal", "x.csv", "-q"],
    );
    run.expect_code(2);
    assert!(run.stderr().contains("--as-of"), "{}", run.dump());
    // The cn presets name the accounts in Chinese.
    let (d1, d2) = nights(&dir, "300", "cn-bank", "csv");
    run_in(&dir, &["movement", &d1, &d2, "--journal", "cn.csv", "-q"]).expect_code(0);
    let journal = std::fs::read_to_string(dir.join("cn.csv")).unwrap();
    assert!(journal.contains("信用减值损失,贷款损失准备"), "{journal}");
}

#[test]
fn a_duplicate_loan_id_or_an_unknown_bucket_stops_with_nothing_written() {
    let dir = scratch("movement-bad");
    let head = "loan_id,currency,principal,outstanding,status,bucket,classification,provision\n";
    std::fs::write(dir.join("p.csv"), format!("{head}A,CNY,1,1.00,overdue,1-30,special_mention,0.02\nA,CNY,1,1.00,overdue,1-30,special_mention,0.02\n")).unwrap();
    std::fs::write(
        dir.join("c.csv"),
        format!("{head}A,CNY,1,1.00,overdue,2-40,special_mention,0.02\n"),
    )
    .unwrap();
    let run = run_in(&dir, &["movement", "p.csv", "c.csv", "-o", "m.csv", "-q"]);
    run.expect_code(1);
    assert!(
        run.stderr().contains("p.csv") && run.stderr().contains("line 2 and again on line 3"),
        "{}",
        run.dump()
    );
    std::fs::write(
        dir.join("p.csv"),
        format!("{head}A,CNY,1,1.00,overdue,1-30,special_mention,0.02\n"),
    )
    .unwrap();
    let run = run_in(&dir, &["movement", "p.csv", "c.csv", "-o", "m.csv", "-q"]);
    run.expect_code(1);
    assert!(
        run.stderr()
            .contains("\"2-40\": not a bucket of the policy"),
        "{}",
        run.dump()
    );
    assert!(!dir.join("m.csv").exists());
    // Results without outstanding are refused, naming it.
    std::fs::write(
        dir.join("old.csv"),
        "loan_id,currency,principal,status,bucket,classification,provision\n",
    )
    .unwrap();
    let run = run_in(&dir, &["movement", "old.csv", "p.csv", "-q"]);
    run.expect_code(1);
    assert!(run.stderr().contains("outstanding"), "{}", run.dump());
}

/// testdata/movement_kinds: cured, rolled back, rolled forward, newly
/// written off, settled and new, in two currencies, checked by hand (its
/// README shows the sums).
#[test]
fn every_kind_of_move_checked_by_hand() {
    let case = util::testdata().join("movement_kinds");
    let dir = scratch("movement-kinds");
    let out = |f: &str| dir.join(f).display().to_string();
    let (moves, matrix, provisions, journal) = (
        out("moves.csv"),
        out("matrix.csv"),
        out("provisions.csv"),
        out("journal.csv"),
    );
    run_in(
        &case,
        &[
            "movement",
            "previous.csv",
            "current.csv",
            "--as-of",
            "2025-06-30",
            "-o",
            &moves,
            "--summary",
            &matrix,
            "--provisions",
            &provisions,
            "--journal",
            &journal,
            "-q",
        ],
    )
    .expect_code(0);
    for (actual, expected) in [
        (&moves, "expected_moves.csv"),
        (&matrix, "expected_matrix.csv"),
        (&provisions, "expected_provisions.csv"),
        (&journal, "expected_journal.csv"),
    ] {
        assert_same_file(Path::new(actual), &case.join(expected), "");
    }
    let by_class = out("by-class.csv");
    run_in(
        &case,
        &[
            "movement",
            "previous.csv",
            "current.csv",
            "--by",
            "classification",
            "--summary",
            &by_class,
            "-q",
        ],
    )
    .expect_code(0);
    assert_same_file(
        Path::new(&by_class),
        &case.join("expected_matrix_classification.csv"),
        "",
    );
    let direct = out("direct.csv");
    run_in(
        &case,
        &[
            "movement",
            "previous.csv",
            "current.csv",
            "--as-of",
            "2025-06-30",
            "--policy",
            "direct.toml",
            "--journal",
            &direct,
            "-q",
        ],
    )
    .expect_code(0);
    assert_same_file(
        Path::new(&direct),
        &case.join("expected_journal_direct.csv"),
        "",
    );
    // Parquet outputs carry the same figures, typed.
    if cfg!(feature = "parquet") {
        let pq = out("moves.parquet");
        run_in(
            &case,
            &["movement", "previous.csv", "current.csv", "-o", &pq, "-q"],
        )
        .expect_code(0);
        assert!(std::fs::metadata(&pq).unwrap().len() > 0);
    }
}

/// The reference implementation checks itself against the figures computed
/// by hand in tests/reference/selftest.py (repayments and movement), so the
/// independent side of every byte comparison is itself checked.
#[test]
fn the_reference_passes_its_hand_checked_self_test() {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/reference/selftest.py");
    let out = Command::new("python3")
        .arg(script)
        .output()
        .expect("python3 runs the self-test");
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
