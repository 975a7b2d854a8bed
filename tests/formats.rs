//! Input and output formats: Parquet results and summaries as analysts
//! open them (polars, DuckDB, pandas), Parquet and compressed CSV books,
//! and `arrears summarize` over results files.

mod util;

use std::io::Write;
use std::path::{Path, PathBuf};

use util::{assert_same_file, run_in, run_with_stdin, scratch, testdata};

const AS_OF: &str = "2025-06-30";

/// Runs the sample book (or `book`) into `dir`: results, summary and
/// rejects named `stem.*`, with extra flags.
fn run_book(dir: &Path, book: &Path, stem: &str, ext: &str, extra: &[&str]) -> util::Run {
    let results = format!("{stem}.{ext}");
    let summary = format!("{stem}.summary.{ext}");
    let rejects = format!("{stem}.rejects.csv");
    let book = book.display().to_string();
    let mut args = vec![
        "run",
        &book,
        "--as-of",
        AS_OF,
        "-o",
        &results,
        "--summary",
        &summary,
        "--rejects",
        &rejects,
    ];
    args.extend(extra);
    let run = run_in(dir, &args);
    run.expect_code(0);
    run
}

fn sample() -> PathBuf {
    testdata().join("loanbook.csv")
}

#[cfg(feature = "parquet")]
fn python(script: &str, args: &[&Path]) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/python")
        .join(script);
    let output = std::process::Command::new("python3")
        .arg(path)
        .args(args)
        .output()
        .expect("python3 runs (CI installs tests/python/requirements.txt)");
    assert!(
        output.status.success(),
        "{script} failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[cfg(feature = "parquet")]
#[test]
fn parquet_outputs_read_back_in_polars_duckdb_and_pandas() {
    let dir = scratch("parquet_outputs");
    // `--with-outstanding` is a no-op kept for old scripts: the column is always there.
    for extra in [&[][..], &["--with-outstanding"][..]] {
        run_book(&dir, &sample(), "csv", "csv", extra);
        run_book(&dir, &sample(), "pq", "parquet", extra);
        // The Parquet files are Parquet, and the rejects stay CSV.
        let head = std::fs::read(dir.join("pq.parquet")).unwrap();
        assert_eq!(&head[..4], b"PAR1");
        assert_same_file(
            &dir.join("pq.rejects.csv"),
            &dir.join("csv.rejects.csv"),
            "",
        );
        python(
            "check_parquet.py",
            &[
                &dir.join("pq.parquet"),
                &dir.join("csv.csv"),
                &dir.join("pq.summary.parquet"),
                &dir.join("csv.summary.csv"),
            ],
        );
    }
}

#[cfg(feature = "parquet")]
#[test]
fn parquet_bytes_do_not_depend_on_threads_or_batches() {
    let dir = scratch("parquet_threads");
    // Several row groups (32,768 rows each), cut mid-batch.
    let book = dir.join("book.csv");
    let book_name = book.display().to_string();
    run_in(
        &dir,
        &[
            "generate", "--rows", "140000", "--seed", "7", "-o", &book_name,
        ],
    )
    .expect_code(0);
    let mut first: Option<Vec<u8>> = None;
    for (threads, batch) in [("1", "100"), ("2", "16384"), ("0", "999")] {
        run_book(
            &dir,
            &book,
            "r",
            "parquet",
            &["--threads", threads, "--batch-size", batch],
        );
        let bytes = std::fs::read(dir.join("r.parquet")).unwrap();
        match &first {
            None => first = Some(bytes),
            Some(want) => assert!(*want == bytes, "threads {threads}, batch {batch}"),
        }
    }
    let check = "import pyarrow.parquet as pq\n\
        m = pq.ParquetFile('r.parquet').metadata\n\
        assert [m.row_group(i).num_rows for i in range(m.num_row_groups)] == [32768] * 4 + [8928], m\n\
        s = m.row_group(0).column(5).statistics\n\
        assert s is not None and s.has_min_max, s\n\
        assert m.row_group(0).column(5).compression == 'ZSTD'\n";
    let ok = std::process::Command::new("python3")
        .args(["-c", check])
        .current_dir(&dir)
        .status()
        .unwrap();
    assert!(ok.success(), "row groups, statistics and zstd");
}

#[cfg(feature = "parquet")]
#[test]
fn broken_parquet_books_fail_cleanly() {
    let dir = scratch("broken_parquet");
    let good = std::fs::read(testdata().join("parquet/loanbook_typed.parquet")).unwrap();
    let mut flipped = good.clone();
    flipped[2000..2016].fill(0xff);
    for (name, bytes) in [
        ("cut.parquet", &good[..good.len() / 2]),
        ("text.parquet", &b"loan_id,principal\n"[..]),
        ("empty.parquet", &b""[..]),
        ("flipped.parquet", &flipped[..]),
    ] {
        std::fs::write(dir.join(name), bytes).unwrap();
        let run = run_in(
            &dir,
            &["run", name, "--as-of", AS_OF, "-o", "out.csv", "-q"],
        );
        run.expect_code(1);
        assert!(
            run.stderr().contains(&format!("{name}: Parquet: ")),
            "{}",
            run.dump()
        );
        assert!(!dir.join("out.csv").exists(), "{}", run.dump());
        assert!(!dir.join("out.rejects.csv").exists(), "{}", run.dump());
    }
}

#[cfg(feature = "parquet")]
#[test]
fn format_flag_overrides_the_extension() {
    let dir = scratch("format_flag");
    run_book(&dir, &sample(), "out", "dat", &["--format", "parquet"]);
    for file in ["out.dat", "out.summary.dat"] {
        let bytes = std::fs::read(dir.join(file)).unwrap();
        assert_eq!(&bytes[..4], b"PAR1", "{file}");
    }
    // Rejects are always CSV: a .parquet rejects name is a usage error.
    run_in(&dir, &["run", "x.csv", "--rejects", "r.parquet"]).expect_code(2);
}

#[cfg(feature = "parquet")]
#[test]
fn parquet_books_give_the_same_bytes_as_csv() {
    let dir = scratch("parquet_books");
    run_book(&dir, &sample(), "csv", "csv", &[]);
    // Typed columns: decimals, floats, dates, timestamps, nulls.
    let typed = testdata().join("parquet/loanbook_typed.parquet");
    run_book(&dir, &typed, "typed", "csv", &[]);
    for (a, b) in [
        ("typed.csv", "csv.csv"),
        ("typed.summary.csv", "csv.summary.csv"),
        ("typed.rejects.csv", "csv.rejects.csv"),
    ] {
        assert_same_file(&dir.join(a), &dir.join(b), "");
    }
    // The same book with every column text (small row groups), and with the
    // dimensions as categories (what pandas writes for `category`).
    let script = "import sys, polars as pl\n\
        book = pl.read_csv(sys.argv[1], infer_schema=False)\n\
        book.write_parquet(sys.argv[2] + '/text.parquet', row_group_size=700)\n\
        cats = pl.col('product', 'region', 'currency').cast(pl.Categorical)\n\
        book.with_columns(cats).write_parquet(sys.argv[2] + '/categories.parquet')\n";
    let written = std::process::Command::new("python3")
        .args(["-c", script])
        .arg(sample())
        .arg(&dir)
        .status()
        .unwrap();
    assert!(written.success(), "polars writes the books");
    run_book(
        &dir,
        &dir.join("categories.parquet"),
        "categories",
        "csv",
        &[],
    );
    assert_same_file(&dir.join("categories.csv"), &dir.join("csv.csv"), "");
    let text = dir.join("text.parquet");
    let single = ["--threads", "1", "--batch-size", "100"];
    run_book(&dir, &text, "text", "csv", &single);
    assert_same_file(&dir.join("text.csv"), &dir.join("csv.csv"), "");
    assert_same_file(
        &dir.join("text.summary.csv"),
        &dir.join("csv.summary.csv"),
        "",
    );
}

#[test]
fn compressed_books_give_the_same_bytes() {
    let dir = scratch("compressed_books");
    run_book(&dir, &sample(), "plain", "csv", &[]);
    let raw = std::fs::read(sample()).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&raw).unwrap();
    let gz = gz.finish().unwrap();
    let zst = zstd::encode_all(&raw[..], 3).unwrap();
    std::fs::write(dir.join("book.csv.gz"), &gz).unwrap();
    std::fs::write(dir.join("book.csv.zst"), &zst).unwrap();
    for book in ["book.csv.gz", "book.csv.zst"] {
        run_book(&dir, &dir.join(book), book, "csv", &[]);
        assert_same_file(
            &dir.join(format!("{book}.csv")),
            &dir.join("plain.csv"),
            book,
        );
    }
    for (kind, bytes) in [("gzip", &gz), ("zstd", &zst)] {
        let run = run_with_stdin(
            &dir,
            &[
                "run",
                "-",
                "--as-of",
                AS_OF,
                "--compression",
                kind,
                "-o",
                "stdin.csv",
                "-q",
            ],
            Some(bytes),
        );
        run.expect_code(0);
        assert_same_file(&dir.join("stdin.csv"), &dir.join("plain.csv"), kind);
    }
    // A gzip book read as plain CSV is not silently accepted.
    let run = run_with_stdin(&dir, &["run", "-", "--as-of", AS_OF, "-q"], Some(&gz));
    assert_ne!(run.code(), 0, "{}", run.dump());
    // A truncated gzip book fails and writes nothing.
    std::fs::write(dir.join("cut.csv.gz"), &gz[..gz.len() / 2]).unwrap();
    let run = run_in(
        &dir,
        &["run", "cut.csv.gz", "--as-of", AS_OF, "-o", "cut.csv", "-q"],
    );
    run.expect_code(1);
    assert!(!dir.join("cut.csv").exists(), "{}", run.dump());
}

#[cfg(feature = "parquet")]
/// Splits the sample book in two at row `at`.
fn split_sample(dir: &Path, at: usize) -> (PathBuf, PathBuf) {
    let text = std::fs::read_to_string(sample()).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    let rows: Vec<&str> = lines.collect();
    let mut paths = Vec::new();
    for (name, part) in [("book_a.csv", &rows[..at]), ("book_b.csv", &rows[at..])] {
        let mut body = format!("{header}\n");
        for row in part {
            body.push_str(row);
            body.push('\n');
        }
        std::fs::write(dir.join(name), body).unwrap();
        paths.push(dir.join(name));
    }
    (paths[0].clone(), paths[1].clone())
}

#[cfg(feature = "parquet")]
#[test]
fn summarize_reproduces_the_run_summary() {
    let dir = scratch("summarize");
    let (a, b) = split_sample(&dir, 1234);
    for group_by in [
        "currency,product,bucket",
        "region,classification",
        "status,bucket",
        "currency",
        "account_id",
    ] {
        // One run over both halves, and one run per half (two nightly outputs).
        let (a_name, b_name) = (a.display().to_string(), b.display().to_string());
        let whole = [
            "run",
            &a_name,
            &b_name,
            "--as-of",
            AS_OF,
            "--group-by",
            group_by,
            "--summary",
            "whole.csv",
            "-q",
        ];
        run_in(&dir, &whole).expect_code(0);
        for (book, stem, ext) in [(&a, "a", "csv"), (&b, "b", "parquet")] {
            run_book(&dir, book, stem, ext, &["--group-by", group_by]);
        }
        for out in ["again.csv", "again.parquet"] {
            let args = [
                "summarize",
                "a.csv",
                "b.parquet",
                "--group-by",
                group_by,
                "-o",
                out,
            ];
            let run = run_in(&dir, &args);
            run.expect_code(0);
            assert!(!run.stderr().contains("warning"), "{}", run.dump());
        }
        assert_same_file(&dir.join("again.csv"), &dir.join("whole.csv"), group_by);
        let head = std::fs::read(dir.join("again.parquet")).unwrap();
        assert_eq!(&head[..4], b"PAR1");
    }
}

#[test]
fn summarize_without_outstanding_leaves_those_columns_empty() {
    let dir = scratch("summarize_no_outstanding");
    run_book(&dir, &sample(), "r", "csv", &[]);
    // Results as versions before SPEC.md's amended section 3 wrote them by
    // default: no outstanding column.
    let mut reader = csv::Reader::from_path(dir.join("r.csv")).unwrap();
    let at = reader
        .headers()
        .unwrap()
        .iter()
        .position(|h| h == "outstanding")
        .unwrap();
    let mut writer = csv::Writer::from_path(dir.join("old.csv")).unwrap();
    let without = |r: &csv::StringRecord| -> Vec<String> {
        r.iter()
            .enumerate()
            .filter(|&(i, _)| i != at)
            .map(|(_, f)| f.to_string())
            .collect()
    };
    writer
        .write_record(without(reader.headers().unwrap()))
        .unwrap();
    for record in reader.records() {
        writer.write_record(without(&record.unwrap())).unwrap();
    }
    writer.flush().unwrap();
    drop(writer);
    std::fs::rename(dir.join("old.csv"), dir.join("r.csv")).unwrap();
    let run = run_in(&dir, &["summarize", "r.csv", "-o", "again.csv"]);
    run.expect_code(0);
    assert!(
        run.stderr().contains("no outstanding column in r.csv"),
        "{}",
        run.dump()
    );
    let read = |name: &str| -> Vec<Vec<String>> {
        let mut reader = csv::Reader::from_path(dir.join(name)).unwrap();
        reader
            .records()
            .map(|r| r.unwrap().iter().map(String::from).collect())
            .collect()
    };
    let header: Vec<String> = csv::Reader::from_path(dir.join("r.summary.csv"))
        .unwrap()
        .headers()
        .unwrap()
        .iter()
        .map(String::from)
        .collect();
    let (want, got) = (read("r.summary.csv"), read("again.csv"));
    assert_eq!(want.len(), got.len());
    for (w, g) in want.iter().zip(&got) {
        for (i, name) in header.iter().enumerate() {
            if ["outstanding", "npl_ratio", "coverage"].contains(&name.as_str()) {
                assert_eq!(g[i], "", "{name}");
            } else {
                assert_eq!(g[i], w[i], "{name}");
            }
        }
    }
}

#[test]
fn summarize_errors_name_the_file_and_column() {
    let dir = scratch("summarize_errors");
    run_book(&dir, &sample(), "r", "csv", &[]);
    // Results of a policy with other caps need that policy.
    let run = run_in(&dir, &["summarize", "r.csv", "--policy", "us-mla"]);
    run.expect_code(1);
    assert!(
        run.stderr().contains("column breaches") && run.stderr().contains("--policy"),
        "{}",
        run.dump()
    );
    let run = run_in(&dir, &["summarize", "r.csv", "--group-by", "colour"]);
    run.expect_code(1);
    assert!(
        run.stderr().contains("no column \"colour\""),
        "{}",
        run.dump()
    );
    std::fs::write(dir.join("bad.csv"), "loan_id,principal\nx,1\n").unwrap();
    let run = run_in(&dir, &["summarize", "bad.csv", "-o", "s.csv"]);
    run.expect_code(1);
    assert!(
        run.stderr().contains("missing required column"),
        "{}",
        run.dump()
    );
    assert!(!dir.join("s.csv").exists());
    // A bad amount names the file, line, column and value.
    let mut reader = csv::Reader::from_path(dir.join("r.csv")).unwrap();
    let header = reader.headers().unwrap().clone();
    let principal = header.iter().position(|h| h == "principal").unwrap();
    let mut writer = csv::Writer::from_path(dir.join("edited.csv")).unwrap();
    writer.write_record(&header).unwrap();
    for (i, record) in reader.records().enumerate() {
        let mut fields: Vec<String> = record.unwrap().iter().map(String::from).collect();
        if i == 2 {
            fields[principal] = "12x".into();
        }
        writer.write_record(&fields).unwrap();
    }
    writer.flush().unwrap();
    let run = run_in(&dir, &["summarize", "edited.csv"]);
    run.expect_code(1);
    assert!(
        run.stderr()
            .contains("edited.csv: line 4: column principal: \"12x\""),
        "{}",
        run.dump()
    );
}

#[cfg(feature = "parquet")]
#[test]
fn audit_writes_parquet_too() {
    let dir = scratch("audit_parquet");
    let book = sample().display().to_string();
    for ext in ["parquet", "csv"] {
        let (breaches, summary) = (format!("b.{ext}"), format!("a.{ext}"));
        let args = [
            "audit",
            &book,
            "--as-of",
            AS_OF,
            "-o",
            &breaches,
            "--summary",
            &summary,
            "-q",
        ];
        run_in(&dir, &args).expect_code(0);
    }
    run_in(
        &dir,
        &[
            "audit",
            &book,
            "--as-of",
            AS_OF,
            "-o",
            "b.csv",
            "--summary",
            "a.csv",
            "-q",
        ],
    )
    .expect_code(0);
    let check = "import sys, polars as pl\n\
        b = pl.read_parquet('b.parquet'); t = pl.read_csv('b.csv', infer_schema=False)\n\
        assert b.height == t.height > 0, (b.height, t.height)\n\
        assert str(b.schema['annual-24_limit']) == 'Decimal(precision=18, scale=2)', b.schema\n\
        assert [str(v) for v in b['annual-24_excess']] == t['annual-24_excess'].to_list()\n\
        a = pl.read_parquet('a.parquet'); assert a.schema['accounts_breaching'] == pl.Int64, a.schema\n";
    let ok = std::process::Command::new("python3")
        .args(["-c", check])
        .current_dir(&dir)
        .status()
        .unwrap();
    assert!(ok.success());
}

/// A Parquet output is committed like a CSV one: a run killed at any point
/// leaves either no file or the whole, identical file.
#[cfg(feature = "parquet")]
#[test]
fn killed_parquet_runs_leave_no_partial_file() {
    use std::process::{Command, Stdio};
    use std::time::Duration;
    let dir = scratch("parquet_kill");
    let book = dir.join("book.csv").display().to_string();
    run_in(
        &dir,
        &["generate", "--rows", "300000", "--seed", "5", "-o", &book],
    )
    .expect_code(0);
    let args = ["run", &book, "--as-of", AS_OF, "-o", "r.parquet", "-q"];
    run_in(&dir, &args).expect_code(0);
    let whole = std::fs::read(dir.join("r.parquet")).unwrap();
    for delay in [50, 200, 350, 500, 700] {
        std::fs::remove_file(dir.join("r.parquet")).unwrap();
        let mut child = Command::new(util::bin())
            .args(args)
            .current_dir(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay));
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        if let Ok(bytes) = std::fs::read(dir.join("r.parquet")) {
            assert!(bytes == whole, "killed after {delay} ms: a different file");
        }
        // Leave the next round a clean slate: a killed run's temporary file.
        for entry in std::fs::read_dir(&dir).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            if name.ends_with(".tmp") {
                std::fs::remove_file(dir.join(name)).unwrap();
            }
        }
        run_in(&dir, &args).expect_code(0);
    }
}

/// Every hand-checked book of `testdata/` gives the same results, summary
/// and number of rejects when it comes as Parquet (every column text).
/// Books polars cannot read as CSV (bad bytes, GBK) are left out, and so is
/// the CRLF book: polars keeps a CR inside a quoted field, arrears reads
/// CRLF as LF everywhere, so the two books differ.
#[cfg(feature = "parquet")]
#[test]
fn every_case_reads_the_same_as_parquet() {
    let dir = scratch("cases_as_parquet");
    let script = "import sys, pathlib, polars as pl\n\
        out = pathlib.Path(sys.argv[2])\n\
        for case in sorted(pathlib.Path(sys.argv[1]).iterdir()):\n\
        \x20   book = case / 'input.csv'\n\
        \x20   if not (case / 'args').exists() or not book.exists() or case.name == 'bom_crlf':\n\
        \x20       continue\n\
        \x20   try:\n\
        \x20       frame = pl.read_csv(book, infer_schema=False)\n\
        \x20   except Exception:\n\
        \x20       continue\n\
        \x20   frame.write_parquet(out / (case.name + '.parquet'))\n\
        \x20   print(case.name)\n";
    let output = std::process::Command::new("python3")
        .args(["-c", script])
        .arg(testdata())
        .arg(&dir)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let cases: Vec<String> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    assert!(cases.len() >= 25, "{cases:?}");
    for case in &cases {
        let case_dir = testdata().join(case);
        let args = std::fs::read_to_string(case_dir.join("args")).unwrap();
        let parquet = dir.join(format!("{case}.parquet")).display().to_string();
        let mut outcomes = Vec::new();
        for (book, stem) in [("input.csv", "csv"), (parquet.as_str(), "pq")] {
            let out = |name: &str| {
                dir.join(format!("{case}.{stem}.{name}"))
                    .display()
                    .to_string()
            };
            let (results, summary, rejects) =
                (out("results.csv"), out("summary.csv"), out("rejects.csv"));
            let mut command = vec!["run", book];
            command.extend(args.split_whitespace());
            command.extend([
                "-o",
                &results,
                "--summary",
                &summary,
                "--rejects",
                &rejects,
                "-q",
            ]);
            let run = run_in(&case_dir, &command);
            let read = |path: &str| std::fs::read(path).ok();
            let reject_rows = read(&rejects).map(|r| r.iter().filter(|&&b| b == b'\n').count());
            outcomes.push((run.code(), read(&results), read(&summary), reject_rows));
        }
        assert!(
            outcomes[0] == outcomes[1],
            "{case}: Parquet differs from CSV"
        );
    }
}

/// With repayments, the Parquet results and summary carry the repayment
/// columns as money, equal to the CSV's (and the summary's sums to
/// DuckDB's), and `summarize` reproduces the run's summary, repayment sums
/// included, from CSV and Parquet results.
#[cfg(feature = "parquet")]
#[test]
fn repayment_columns_in_parquet_and_summarize() {
    let dir = scratch("parquet_repayments");
    let generate = [
        "generate",
        "--rows",
        "4000",
        "--seed",
        "3",
        "-o",
        "book.csv",
        "--repayments",
        "pay.csv",
    ];
    run_in(&dir, &generate).expect_code(0);
    let book = dir.join("book.csv");
    for (stem, ext) in [("csv", "csv"), ("pq", "parquet")] {
        run_book(&dir, &book, stem, ext, &["--repayments", "pay.csv"]);
    }
    python(
        "check_parquet.py",
        &[
            &dir.join("pq.parquet"),
            &dir.join("csv.csv"),
            &dir.join("pq.summary.parquet"),
            &dir.join("csv.summary.csv"),
        ],
    );
    let header = std::fs::read_to_string(dir.join("csv.summary.csv")).unwrap();
    assert!(header.lines().next().unwrap().ends_with(",coverage,repaid,repaid_principal,repaid_unpaid_interest,repaid_charges,principal_due,balance_due,collected_over_cap,overpaid"));
    for results in ["csv.csv", "pq.parquet"] {
        let run = run_in(&dir, &["summarize", results, "-o", "again.csv", "-q"]);
        run.expect_code(0);
        assert_same_file(
            &dir.join("again.csv"),
            &dir.join("csv.summary.csv"),
            results,
        );
    }
    // Payments read from gzip and from Parquet (dates typed, amounts as
    // decimals) give the same bytes.
    let text = std::fs::read(dir.join("pay.csv")).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&text).unwrap();
    std::fs::write(dir.join("pay.csv.gz"), gz.finish().unwrap()).unwrap();
    let script = "import polars as pl, sys\n\
        pl.read_csv(sys.argv[1], infer_schema=False).with_columns(\n\
            pl.col('date').str.to_date(), pl.col('amount').cast(pl.Decimal(18, 2))\n\
        ).write_parquet(sys.argv[2])";
    let status = std::process::Command::new("python3")
        .args(["-c", script, "pay.csv", "pay.parquet"])
        .current_dir(&dir)
        .status()
        .unwrap();
    assert!(status.success());
    for payments in ["pay.csv.gz", "pay.parquet"] {
        run_book(&dir, &book, "again", "csv", &["--repayments", payments]);
        assert_same_file(&dir.join("again.csv"), &dir.join("csv.csv"), payments);
    }
}

/// Parquet decimals are decimal(18, s), INT64 in the file. An amount of
/// more digits fails the run before anything is written, naming the file,
/// row, loan, column and value and the flag that holds it; with
/// `--wide-decimals` every decimal column is decimal(38, s) and the amount
/// is kept to the cent. CSV is the same either way.
#[cfg(feature = "parquet")]
#[test]
fn amounts_past_18_digits_fail_loudly_or_go_wide() {
    let dir = scratch("parquet_wide");
    let book = dir.join("book.csv");
    std::fs::write(
        &book,
        "loan_id,principal,due_date,annual_rate\n\
         L1,100.00,2025-06-01,0.18\n\
         L2,12345678901234567.89,2025-06-01,0.18\n",
    )
    .unwrap();
    let book = book.display().to_string();
    let run = |extra: &[&str], stem: &str, ext: &str| {
        let results = format!("{stem}.{ext}");
        let summary = format!("{stem}.summary.{ext}");
        let mut args = vec![
            "run",
            &book,
            "--as-of",
            AS_OF,
            "-o",
            &results,
            "--summary",
            &summary,
            "-q",
        ];
        args.extend(extra);
        run_in(&dir, &args)
    };
    let failed = run(&[], "narrow", "parquet");
    failed.expect_code(1);
    let err = failed.stderr();
    for part in [
        "narrow.parquet",
        "row 2",
        "\"L2\"",
        "principal",
        "12345678901234567.89",
        "--wide-decimals",
    ] {
        assert!(
            err.contains(part),
            "{part:?} not in the error{}",
            failed.dump()
        );
    }
    for name in [
        "narrow.parquet",
        "narrow.summary.parquet",
        "narrow.manifest.json",
    ] {
        assert!(!dir.join(name).exists(), "{name} written by a failed run");
    }
    // The same run as CSV, and wide Parquet: every digit kept.
    run(&[], "text", "csv").expect_code(0);
    run(&["--wide-decimals"], "wide", "parquet").expect_code(0);
    let check = "import polars as pl\n\
        r = pl.read_parquet('wide.parquet'); t = pl.read_csv('text.csv', infer_schema=False)\n\
        assert r.schema['principal'] == pl.Decimal(38, 2), r.schema\n\
        assert r.schema['daily_rate'] == pl.Decimal(38, 10), r.schema\n\
        assert [str(v) for v in r['principal']] == t['principal'].to_list() == ['100.00', '12345678901234567.89']\n\
        assert [str(v) for v in r['total_raw']] == t['total_raw'].to_list(), (r['total_raw'], t['total_raw'])\n\
        s = pl.read_parquet('wide.summary.parquet'); st = pl.read_csv('text.summary.csv', infer_schema=False)\n\
        assert s.schema['principal'] == pl.Decimal(38, 2), s.schema\n\
        assert [str(v) for v in s['principal']] == st['principal'].to_list(), (s['principal'], st['principal'])\n";
    let ok = std::process::Command::new("python3")
        .args(["-c", check])
        .current_dir(&dir)
        .status()
        .unwrap();
    assert!(ok.success());
    // Amounts that fit: decimal(18, 2), the same values as the CSV.
    let fits = "import polars as pl\n\
        assert pl.read_parquet('fits.parquet').schema['principal'] == pl.Decimal(18, 2)\n";
    std::fs::write(
        dir.join("small.csv"),
        "loan_id,principal,due_date,annual_rate\nL1,9999999999999999.99,2025-06-01,0\n",
    )
    .unwrap();
    run_in(
        &dir,
        &[
            "run",
            "small.csv",
            "--as-of",
            AS_OF,
            "-o",
            "fits.parquet",
            "-q",
        ],
    )
    .expect_code(0);
    let ok = std::process::Command::new("python3")
        .args(["-c", fits])
        .current_dir(&dir)
        .status()
        .unwrap();
    assert!(ok.success());
}
