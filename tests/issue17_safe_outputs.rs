//! Issue 17: a user's file is never destroyed, a command's outputs appear
//! all or none, and messages say how to fix what went wrong. Each test
//! failed before the change it names.

mod util;

use std::path::Path;

use util::{run_in, run_with_stdin, scratch, testdata};

fn book_in(dir: &Path) -> String {
    let book = dir.join("book.csv");
    std::fs::copy(testdata().join("seed_example/input.csv"), &book).unwrap();
    book.display().to_string()
}

fn files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn an_output_that_is_an_input_or_another_output_is_refused_and_the_book_survives() {
    let dir = scratch("clash");
    let book = book_in(&dir);
    let before = std::fs::read(&book).unwrap();
    let forms: [&[&str]; 5] = [
        &["-o", "out.csv", "--rejects", "book.csv"],
        &["-o", "book.csv"],
        &["-o", "./book.csv"],
        &["-o", "same.csv", "--summary", "same.csv"],
        &["-o", "out.csv", "--summary", "out.rejects.csv"],
    ];
    for form in forms {
        let mut args = vec!["run", "book.csv", "--as-of", "2025-06-30"];
        args.extend(form);
        let run = run_in(&dir, &args);
        run.expect_code(2);
        assert!(run.stderr().contains("usage error"), "{}", run.dump());
        assert_eq!(std::fs::read(&book).unwrap(), before, "{}", run.dump());
        assert_eq!(files(&dir), vec!["book.csv"], "{}", run.dump());
    }
    // A symlink to the book is the book.
    std::os::unix::fs::symlink(&book, dir.join("link.csv")).unwrap();
    run_in(
        &dir,
        &["run", "book.csv", "--as-of", "2025-06-30", "-o", "link.csv"],
    )
    .expect_code(2);
    assert_eq!(std::fs::read(&book).unwrap(), before);
}

#[test]
fn the_same_input_twice_is_refused() {
    let dir = scratch("twice");
    book_in(&dir);
    let run = run_in(
        &dir,
        &["run", "book.csv", "./book.csv", "--as-of", "2025-06-30"],
    );
    run.expect_code(2);
    assert!(run.stderr().contains("counted twice"), "{}", run.dump());
}

#[test]
fn a_late_failure_leaves_no_output_at_all() {
    let dir = scratch("late");
    book_in(&dir);
    // The summary's directory is missing: refused before any work.
    let run = run_in(
        &dir,
        &[
            "run",
            "book.csv",
            "--as-of",
            "2025-06-30",
            "-o",
            "res.csv",
            "--summary",
            "nowhere/s.csv",
        ],
    );
    run.expect_code(1);
    assert!(run.stderr().contains("does not exist"), "{}", run.dump());
    assert_eq!(files(&dir), vec!["book.csv"]);
    // The summary cannot be written at the end (its name is a directory
    // holding a file): results, rejects and manifest are not left either.
    std::fs::create_dir_all(dir.join("s.csv/inside")).unwrap();
    let run = run_in(
        &dir,
        &[
            "run",
            "book.csv",
            "--as-of",
            "2025-06-30",
            "-o",
            "res.csv",
            "--summary",
            "s.csv",
        ],
    );
    run.expect_code(1);
    assert_eq!(files(&dir), vec!["book.csv", "s.csv"], "{}", run.dump());
}

#[test]
fn dash_and_devices_print_and_a_symlinks_target_is_written() {
    let dir = scratch("stdout");
    book_in(&dir);
    let run = run_in(
        &dir,
        &["run", "book.csv", "--as-of", "2025-06-30", "-o", "-", "-q"],
    );
    run.expect_code(0);
    assert!(run.stdout().starts_with("loan_id,"), "{}", run.dump());
    assert!(!dir.join("-").exists());
    let run = run_in(
        &dir,
        &[
            "run",
            "book.csv",
            "--as-of",
            "2025-06-30",
            "--summary",
            "-",
            "-q",
        ],
    );
    run.expect_code(0);
    assert!(
        run.stdout().starts_with("currency,product,bucket,loans"),
        "{}",
        run.dump()
    );
    assert!(!dir.join("-").exists());
    run_in(
        &dir,
        &[
            "run",
            "book.csv",
            "--as-of",
            "2025-06-30",
            "-o",
            "-",
            "--summary",
            "-",
        ],
    )
    .expect_code(2);
    // /dev/stdout is written, not replaced (it is a symlink to a pipe here).
    let run = run_in(
        &dir,
        &[
            "run",
            "book.csv",
            "--as-of",
            "2025-06-30",
            "-o",
            "/dev/stdout",
            "-q",
        ],
    );
    run.expect_code(0);
    assert!(run.stdout().starts_with("loan_id,"), "{}", run.dump());
    run_in(
        &dir,
        &[
            "run",
            "book.csv",
            "--as-of",
            "2025-06-30",
            "-o",
            "/dev/null",
            "--rejects",
            "/dev/null",
            "-q",
        ],
    )
    .expect_code(0);
    // Nothing is put beside an output written directly: its rejects go to
    // the working directory, and it has no manifest.
    run_in(
        &dir,
        &[
            "run",
            "book.csv",
            "--as-of",
            "2025-06-30",
            "-o",
            "/dev/null",
            "-q",
        ],
    )
    .expect_code(0);
    assert!(dir.join("rejects.csv").exists());
    assert!(
        !Path::new("/dev/null.rejects.csv").exists()
            && !Path::new("/dev/null.manifest.json").exists()
    );
    // Outputs are never compressed, so a compressed name is refused.
    let run = run_in(
        &dir,
        &["run", "book.csv", "--as-of", "2025-06-30", "-o", "r.csv.gz"],
    );
    run.expect_code(2);
    assert!(run.stderr().contains("never compressed"), "{}", run.dump());
    // A symlinked output: the target is updated, the link stays a link.
    std::fs::create_dir_all(dir.join("real")).unwrap();
    std::fs::write(dir.join("real/r.csv"), "old").unwrap();
    std::os::unix::fs::symlink("real/r.csv", dir.join("r.csv")).unwrap();
    run_in(
        &dir,
        &[
            "run",
            "book.csv",
            "--as-of",
            "2025-06-30",
            "-o",
            "r.csv",
            "-q",
        ],
    )
    .expect_code(0);
    assert!(std::fs::symlink_metadata(dir.join("r.csv"))
        .unwrap()
        .file_type()
        .is_symlink());
    let target = std::fs::read_to_string(dir.join("real/r.csv")).unwrap();
    assert!(target.starts_with("loan_id,"), "{target}");
}

#[test]
fn a_fifo_output_is_written_not_replaced() {
    let dir = scratch("fifo");
    book_in(&dir);
    let fifo = dir.join("pipe");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a plain system call with a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::read_to_string(fifo).unwrap())
    };
    run_in(
        &dir,
        &[
            "run",
            "book.csv",
            "--as-of",
            "2025-06-30",
            "-o",
            "pipe",
            "-q",
        ],
    )
    .expect_code(0);
    assert!(reader.join().unwrap().starts_with("loan_id,"));
    use std::os::unix::fs::FileTypeExt;
    assert!(std::fs::metadata(&fifo).unwrap().file_type().is_fifo());
}

#[test]
fn generate_writes_what_its_extension_says_and_run_reads_it_back() {
    let dir = scratch("generate");
    let mut results = Vec::new();
    for name in ["g.csv", "g.csv.gz", "g.csv.zst", "g.parquet"] {
        if name.ends_with(".parquet") && !cfg!(feature = "parquet") {
            continue;
        }
        run_in(
            &dir,
            &["generate", "--rows", "300", "--seed", "3", "-o", name],
        )
        .expect_code(0);
        let out = format!("{name}.results.csv");
        run_in(
            &dir,
            &["run", name, "--as-of", "2025-06-30", "-o", &out, "-q"],
        )
        .expect_code(0);
        results.push(std::fs::read(dir.join(&out)).unwrap());
    }
    assert!(results.windows(2).all(|w| w[0] == w[1]));
    let run = run_in(&dir, &["generate", "--rows", "3", "-o", "g.xlsx"]);
    run.expect_code(2);
    assert!(run.stderr().contains(".parquet"), "{}", run.dump());
}

#[test]
fn inputs_with_the_same_columns_in_another_order_are_read_by_their_own_headers() {
    let dir = scratch("order");
    let a = "loan_id,principal,due_date,daily_rate\nA1,1000,2025-06-01,0.0005\n";
    let b = "due_date,daily_rate,loan_id,principal\n2025-06-01,0.0005,A1,1000\n";
    std::fs::write(dir.join("a.csv"), a).unwrap();
    std::fs::write(dir.join("b.csv"), b).unwrap();
    run_in(
        &dir,
        &[
            "run",
            "a.csv",
            "b.csv",
            "--as-of",
            "2025-06-30",
            "-o",
            "r.csv",
            "-q",
        ],
    )
    .expect_code(0);
    let text = std::fs::read_to_string(dir.join("r.csv")).unwrap();
    let rows: Vec<&str> = text.lines().collect();
    assert_eq!(rows.len(), 3, "{text}");
    assert_eq!(rows[1], rows[2]);
    // Different columns are still refused.
    std::fs::write(
        dir.join("c.csv"),
        "loan_id,principal,due_date,daily_rate,fees\nA1,1000,2025-06-01,0.0005,1\n",
    )
    .unwrap();
    run_in(
        &dir,
        &["run", "a.csv", "c.csv", "--as-of", "2025-06-30", "-q"],
    )
    .expect_code(1);
}

#[test]
fn an_implausible_rate_is_a_reject_saying_how_to_write_a_percentage() {
    let dir = scratch("rate");
    std::fs::write(
        dir.join("pct.csv"),
        "loan_id,principal,due_date,annual_rate,daily_rate\nA,100,2025-06-01,18,\nB,100,2025-06-01,18%,\nC,100,2025-06-01,,0.5\nD,100,2025-06-01,10,\n",
    )
    .unwrap();
    run_in(
        &dir,
        &[
            "run",
            "pct.csv",
            "--as-of",
            "2025-06-30",
            "-o",
            "r.csv",
            "-q",
        ],
    )
    .expect_code(3);
    let rejects = std::fs::read_to_string(dir.join("r.rejects.csv")).unwrap();
    assert!(
        rejects.contains("\"18\"") && rejects.contains("1800% a year"),
        "{rejects}"
    );
    assert!(rejects.contains("\"\"18%\"\" or 0.18"), "{rejects}");
    assert!(rejects.contains(",C,daily_rate,"), "{rejects}");
    assert_eq!(rejects.lines().count(), 3, "A and C only: {rejects}");
    // A policy may allow more.
    std::fs::write(dir.join("p.toml"), "max_annual_rate = 200\n").unwrap();
    run_in(
        &dir,
        &[
            "run",
            "pct.csv",
            "--as-of",
            "2025-06-30",
            "--policy",
            "p.toml",
            "-o",
            "r.csv",
            "-q",
        ],
    )
    .expect_code(0);
}

#[test]
fn hints_name_the_flag_or_extension_and_causes_print_once() {
    let dir = scratch("hints");
    let run = run_in(&dir, &["run", "missing.csv", "--as-of", "2025-06-30"]);
    run.expect_code(1);
    assert_eq!(
        run.stderr().matches("No such file").count(),
        1,
        "{}",
        run.dump()
    );
    // A GBK book read as UTF-8.
    let gbk = testdata().join("gbk_headers/input.csv");
    let run = run_in(
        &dir,
        &["run", gbk.to_str().unwrap(), "--as-of", "2025-06-30"],
    );
    run.expect_code(1);
    assert!(run.stderr().contains("--encoding gbk"), "{}", run.dump());
    // Compressed bytes under a .csv name.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, b"loan_id,principal,due_date,daily_rate\n").unwrap();
    std::fs::write(dir.join("z.csv"), gz.finish().unwrap()).unwrap();
    let run = run_in(&dir, &["run", "z.csv", "--as-of", "2025-06-30"]);
    run.expect_code(1);
    assert!(
        run.stderr()
            .contains("gzip-compressed data: name the file .gz"),
        "{}",
        run.dump()
    );
    let zst = zstd::encode_all(&b"loan_id,principal,due_date,daily_rate\n"[..], 3).unwrap();
    let run = run_with_stdin(&dir, &["run", "-", "--as-of", "2025-06-30"], Some(&zst));
    run.expect_code(1);
    assert!(
        run.stderr().contains("--compression zstd"),
        "{}",
        run.dump()
    );
    // Plain text where zstd was announced.
    let run = run_with_stdin(
        &dir,
        &["run", "-", "--compression", "zstd", "--as-of", "2025-06-30"],
        Some(b"loan_id,principal,due_date,daily_rate\n"),
    );
    run.expect_code(1);
    assert!(
        run.stderr().contains("zstdcat x.zst | arrears run -"),
        "{}",
        run.dump()
    );
}

#[test]
fn a_policy_file_is_named_by_its_path_and_can_be_checked() {
    let dir = scratch("policy");
    book_in(&dir);
    std::fs::write(
        dir.join("my.toml"),
        "base = \"uk-hcstc\"\nname = \"mine\"\ngrace_days = 3\n",
    )
    .unwrap();
    let run = run_in(
        &dir,
        &[
            "run",
            "book.csv",
            "--as-of",
            "2025-06-30",
            "--policy",
            "my.toml",
            "-o",
            "r.csv",
        ],
    );
    run.expect_code(0);
    assert!(
        run.stderr()
            .contains("policy my.toml (\"mine\", over preset uk-hcstc)"),
        "{}",
        run.dump()
    );
    let run = run_in(&dir, &["policy", "my.toml"]);
    run.expect_code(0);
    assert!(run.stdout().contains("grace_days = 3"), "{}", run.dump());
    assert!(
        run.stdout().contains("daily-0.8pct") || run.stdout().contains("[[caps]]"),
        "{}",
        run.dump()
    );
    std::fs::write(dir.join("bad.toml"), "grace_days = -1\n").unwrap();
    run_in(&dir, &["policy", "bad.toml"]).expect_code(1);
    let run = run_in(
        &dir,
        &[
            "explain",
            "book.csv",
            "--as-of",
            "2025-06-30",
            "--policy",
            "my.toml",
            "--loan-id",
            "daily",
        ],
    );
    assert!(run.stdout().contains("my.toml"), "{}", run.dump());
}

#[test]
fn summarize_refuses_to_add_two_nights_unless_grouped_by_as_of() {
    let dir = scratch("nights");
    book_in(&dir);
    for night in ["2025-06-30", "2025-07-31"] {
        let out = format!("{night}.csv");
        run_in(
            &dir,
            &["run", "book.csv", "--as-of", night, "-o", &out, "-q"],
        )
        .expect_code(0);
    }
    let run = run_in(&dir, &["summarize", "2025-06-30.csv", "2025-07-31.csv"]);
    run.expect_code(1);
    assert!(run.stderr().contains("as_of"), "{}", run.dump());
    let run = run_in(
        &dir,
        &[
            "summarize",
            "2025-06-30.csv",
            "2025-07-31.csv",
            "--group-by",
            "as_of",
        ],
    );
    run.expect_code(0);
    assert!(
        run.stdout().contains("2025-06-30") && run.stdout().contains("2025-07-31"),
        "{}",
        run.dump()
    );
}

#[test]
fn the_manifest_hashes_every_input_and_output_and_a_rerun_gives_the_same() {
    let dir = scratch("manifest");
    book_in(&dir);
    let args = [
        "run",
        "book.csv",
        "--as-of",
        "2025-06-30",
        "-o",
        "r.csv",
        "--summary",
        "s.csv",
        "-q",
    ];
    run_in(&dir, &args).expect_code(0);
    let text = std::fs::read_to_string(dir.join("r.manifest.json")).unwrap();
    let manifest: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(manifest["as_of"], "2025-06-30");
    let hash = |name: &str| {
        blake3::hash(&std::fs::read(dir.join(name)).unwrap())
            .to_hex()
            .to_string()
    };
    assert_eq!(manifest["inputs"][0]["blake3"], hash("book.csv"));
    let outputs = manifest["outputs"].as_array().unwrap();
    let roles: Vec<&str> = outputs
        .iter()
        .map(|o| o["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["results", "rejects", "summary"]);
    for o in outputs {
        let name = o["name"].as_str().unwrap();
        assert_eq!(o["blake3"], hash(name), "{name}");
        assert_eq!(o["size"], std::fs::metadata(dir.join(name)).unwrap().len());
    }
    assert!(manifest["policy"]["resolved"]
        .as_str()
        .unwrap()
        .contains("annual-24"));
    run_in(&dir, &args).expect_code(0);
    let again: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("r.manifest.json")).unwrap())
            .unwrap();
    let strip = |mut v: serde_json::Value| {
        v["created"] = serde_json::Value::Null;
        v
    };
    assert_eq!(strip(manifest), strip(again));
}

#[test]
fn the_manifest_lists_the_payments_files() {
    let dir = scratch("manifest-payments");
    book_in(&dir);
    std::fs::write(
        dir.join("pay.csv"),
        "loan_id,date,amount\ndaily,2025-04-15,100\n",
    )
    .unwrap();
    run_in(
        &dir,
        &[
            "run",
            "book.csv",
            "--repayments",
            "pay.csv",
            "--as-of",
            "2025-06-30",
            "-o",
            "r.csv",
            "-q",
        ],
    )
    .expect_code(0);
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("r.manifest.json")).unwrap())
            .unwrap();
    let hash = blake3::hash(&std::fs::read(dir.join("pay.csv")).unwrap())
        .to_hex()
        .to_string();
    assert_eq!(manifest["repayments"][0]["name"], "pay.csv");
    assert_eq!(manifest["repayments"][0]["blake3"], hash);
    let roles: Vec<&str> = manifest["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["role"].as_str().unwrap())
        .collect();
    assert!(roles.contains(&"unmatched"), "{roles:?}");
}
