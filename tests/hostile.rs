//! Hostile input, crashes and full disks: the run never panics, never loses
//! a row silently, never leaves an output that looks complete but is not,
//! and names what was wrong. Inputs live in `testdata/hostile/`; the large
//! ones are made here.

mod util;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use util::{assert_same_file, bin, run_in, run_with_stdin, scratch, testdata};

/// Runs `arrears run FILE` with results, summary and rejects in `dir`.
fn run_file(dir: &Path, input: &Path, extra: &[&str]) -> util::Run {
    let input = input.display().to_string();
    let mut args = vec![
        "run",
        &input,
        "--as-of",
        "2025-01-31",
        "-o",
        "r.csv",
        "--summary",
        "s.csv",
    ];
    args.extend(extra);
    run_in(dir, &args)
}

fn hostile(name: &str) -> PathBuf {
    testdata().join("hostile").join(name)
}

/// The rejects file as (line, loan_id, column, reason) rows.
fn rejects(dir: &Path) -> Vec<(String, String, String, String)> {
    csv::Reader::from_path(dir.join("r.rejects.csv"))
        .unwrap()
        .records()
        .map(|r| {
            let r = r.unwrap();
            (
                r[0].to_string(),
                r[1].to_string(),
                r[2].to_string(),
                r[3].to_string(),
            )
        })
        .collect()
}

fn results_ids(dir: &Path) -> Vec<String> {
    csv::Reader::from_path(dir.join("r.csv"))
        .unwrap()
        .records()
        .map(|r| r.unwrap()[0].to_string())
        .collect()
}

/// Every case of the suite: (file, exit code, accepted ids, rejects as
/// (line, column, words of the reason)).
#[test]
fn hostile_files_are_rejected_row_by_row() {
    type Case = (
        &'static str,
        i32,
        &'static [&'static str],
        &'static [(&'static str, &'static str, &'static str)],
    );
    let cases: &[Case] = &[
        (
            "ragged.csv",
            3,
            &["ok1", "ok2"],
            &[
                ("3", "", "expected 5 fields as in the header, found 3"),
                ("4", "", "expected 5 fields as in the header, found 7"),
            ],
        ),
        (
            "unbalanced_quote.csv",
            3,
            &["ok1"],
            &[(
                "3",
                "",
                "field 5 holds a line break (lines 3 to 6): is a quote unbalanced?",
            )],
        ),
        (
            "invalid_utf8.csv",
            3,
            &["ok1"],
            &[
                ("3", "loan_id", "invalid UTF-8"),
                ("4", "product", "invalid UTF-8"),
                ("5", "principal", "invalid UTF-8"),
            ],
        ),
        (
            "nul_bytes.csv",
            3,
            &["ok1"],
            &[("3", "loan_id", "NUL byte"), ("4", "principal", "NUL byte")],
        ),
        (
            "extreme_numbers.csv",
            3,
            &["tiny-rate-ok", "big-ok"],
            &[
                ("2", "principal", "out of range"),
                ("3", "", "amounts out of range"),
                ("4", "", "amounts out of range"),
                ("5", "daily_rate", "out of range"),
                ("7", "daily_rate", "not a rate"),
                ("8", "principal", "more than 2 decimals"),
            ],
        ),
        (
            "dates_out_of_range.csv",
            3,
            &["edge-low", "edge-high"],
            &[
                ("2", "due_date", "out of range: years 1900 to 2199"),
                ("3", "due_date", "not a date"),
                ("4", "due_date", "out of range"),
                ("5", "due_date", "out of range"),
            ],
        ),
        ("as_of_before_due.csv", 0, &["a", "b"], &[]),
        (
            "line_breaks.csv",
            3,
            &["ok1", "ok2"],
            &[("4", "", "field 1 holds a line break (lines 4 to 5)")],
        ),
    ];
    for (file, code, accepted, expected) in cases {
        let dir = scratch(&format!("hostile-{file}"));
        let run = run_file(&dir, &hostile(file), &[]);
        run.expect_code(*code);
        assert_eq!(results_ids(&dir), *accepted, "{file}{}", run.dump());
        let got = rejects(&dir);
        assert_eq!(got.len(), expected.len(), "{file}: {got:?}");
        for ((line, _, column, reason), (want_line, want_column, words)) in
            got.iter().zip(*expected)
        {
            assert_eq!(
                (line.as_str(), column.as_str()),
                (*want_line, *want_column),
                "{file}: {reason}"
            );
            assert!(
                reason.contains(words),
                "{file} line {line}: {reason:?} lacks {words:?}"
            );
        }
        let read = accepted.len() + expected.len();
        assert!(
            run.stderr().contains(&format!("{read} rows read")),
            "{file}{}",
            run.dump()
        );
    }
}

#[test]
fn as_of_before_every_due_date_is_all_current() {
    let dir = scratch("hostile-as-of");
    run_file(&dir, &hostile("as_of_before_due.csv"), &[]).expect_code(0);
    let results = std::fs::read_to_string(dir.join("r.csv")).unwrap();
    for row in results.lines().skip(1) {
        assert!(
            row.contains(",0,0,") && row.contains(",current,current,normal,"),
            "{row}"
        );
    }
}

#[test]
fn broken_headers_stop_before_any_output() {
    for (file, words) in [
        ("empty.csv", "missing required column(s): loan_id, principal, due_date, annual_rate or daily_rate; columns found: none"),
        ("duplicate_header.csv", "column \"principal\" (principal) appears twice in the header, fields 2 and 5"),
    ] {
        let dir = scratch(&format!("hostile-{file}"));
        let run = run_file(&dir, &hostile(file), &[]);
        run.expect_code(1);
        assert!(run.stderr().contains(words), "{}", run.dump());
        assert!(std::fs::read_dir(&dir).unwrap().next().is_none(), "{file} left output");
    }
}

#[test]
fn a_100_mb_field_is_one_reject_and_memory_stays_sane() {
    let dir = scratch("hostile-huge-field");
    let path = dir.join("huge.csv");
    let mut f = std::fs::File::create(&path).unwrap();
    writeln!(
        f,
        "loan_id,principal,due_date,daily_rate,product\nok1,1000,2025-01-01,0.001,card"
    )
    .unwrap();
    write!(f, "huge,1000,2025-01-01,0.001,").unwrap();
    let block = vec![b'x'; 1 << 20];
    for _ in 0..100 {
        f.write_all(&block).unwrap();
    }
    writeln!(f, "\nok2,2000,2025-01-01,0.001,card").unwrap();
    drop(f);
    let run = run_file(&dir, &path, &[]);
    run.expect_code(3);
    assert_eq!(results_ids(&dir), ["ok1", "ok2"]);
    let got = rejects(&dir);
    assert_eq!(got.len(), 1);
    assert_eq!(
        got[0].3,
        "field 5 is 104857600 bytes long, more than the 65536 allowed"
    );
    let raw_len = std::fs::metadata(dir.join("r.rejects.csv")).unwrap().len();
    assert!(
        raw_len < 10_000,
        "the rejects file keeps only the start of the row: {raw_len} bytes"
    );
}

#[test]
fn stdin_closed_mid_row_rejects_the_cut_row() {
    let dir = scratch("hostile-stdin-cut");
    let input = b"loan_id,principal,due_date,daily_rate\nok1,1000,2025-01-01,0.001\nok2,2000,2025-01-01,0.001\ncut,3000,2025-0";
    let run = run_with_stdin(
        &dir,
        &["run", "-", "--as-of", "2025-01-31", "-o", "r.csv"],
        Some(input),
    );
    run.expect_code(3);
    assert_eq!(results_ids(&dir), ["ok1", "ok2"]);
    let got = rejects(&dir);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!((got[0].0.as_str(), got[0].1.as_str()), ("4", "cut"));
    assert!(got[0].3.contains("expected 4 fields"), "{got:?}");
}

/// A book big enough that a run takes a while.
fn long_book(dir: &Path) -> PathBuf {
    let path = dir.join("book.csv");
    run_in(
        dir,
        &[
            "generate", "--rows", "300000", "--seed", "5", "-o", "book.csv",
        ],
    )
    .expect_code(0);
    path
}

fn outputs() -> [&'static str; 3] {
    ["r.csv", "s.csv", "r.rejects.csv"]
}

/// SIGKILL at many points of a long run: no output exists under its final
/// name unless it is complete (equal to a clean run's), and a rerun gives
/// the clean run's bytes.
#[test]
fn killed_runs_never_leave_a_partial_output() {
    let clean = scratch("kill-clean");
    let book = long_book(&clean);
    run_file(&clean, &book, &["-q"]).expect_code(0);
    let mut seed: u64 = 0x2545_F491_4F6C_DD1D;
    for point in 0..12 {
        let dir = scratch(&format!("kill-{point}"));
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let delay = Duration::from_millis(seed % 1500);
        let mut child = Command::new(bin())
            .args([
                "run",
                &book.display().to_string(),
                "--as-of",
                "2025-01-31",
                "-o",
                "r.csv",
                "--summary",
                "s.csv",
                "-q",
            ])
            .current_dir(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(delay);
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        for name in outputs() {
            let path = dir.join(name);
            if path.exists() {
                assert_same_file(&path, &clean.join(name), &format!("killed after {delay:?}"));
            }
        }
        run_file(&dir, &book, &["-q"]).expect_code(0);
        for name in outputs() {
            assert_same_file(
                &dir.join(name),
                &clean.join(name),
                &format!("rerun after a kill at {delay:?}"),
            );
        }
    }
}

/// SIGINT and SIGTERM stop a run cleanly, even one blocked reading stdin:
/// temporary files removed, exit 128 + the signal's number.
#[test]
fn sigint_and_sigterm_remove_temporary_files() {
    for (signal, code) in [("INT", 130), ("TERM", 143)] {
        let dir = scratch(&format!("signal-{signal}"));
        let mut child = Command::new(bin())
            .args([
                "run",
                "-",
                "--as-of",
                "2025-01-31",
                "-o",
                "r.csv",
                "--summary",
                "s.csv",
                "-q",
            ])
            .current_dir(&dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        stdin
            .write_all(b"loan_id,principal,due_date,daily_rate\nA,1000,2025-01-01,0.001\n")
            .unwrap();
        stdin.flush().unwrap();
        // Wait until the run has created its temporary files.
        for _ in 0..1000 {
            if std::fs::read_dir(&dir).unwrap().count() > 0 {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(
            std::fs::read_dir(&dir).unwrap().count() > 0,
            "no temporary file appeared"
        );
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let output = child.wait_with_output().unwrap();
        drop(stdin);
        assert_eq!(
            output.status.code(),
            Some(code),
            "SIG{signal}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let left: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert!(left.is_empty(), "SIG{signal} left {left:?}");
    }
}

/// A write that fails half-way (here: the file size limit, as on a full
/// disk) is a clear error, exit 1, and leaves no file under any name.
#[test]
fn a_failing_write_leaves_nothing() {
    let dir = scratch("full-disk");
    let book = testdata().join("loanbook.csv").display().to_string();
    let script = format!(
        "trap '' XFSZ; ulimit -f 64; exec '{}' run '{book}' --as-of 2025-06-30 -o r.csv --summary s.csv -q",
        bin().display()
    );
    let output = Command::new("sh")
        .arg("-c")
        .arg(&script)
        .current_dir(&dir)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("r.csv") && stderr.contains("too large"),
        "{stderr}"
    );
    let left: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(left.is_empty(), "left {left:?}");
}
