//! The command line as a user and a scheduler see it: the README's command,
//! exit codes, stdin and multi-file input, default paths, presets, and the
//! cross-check against the independent reference implementation.

mod util;

use std::path::Path;
use std::process::Command;

use util::{assert_same_file, run_in, run_with_stdin, scratch, testdata};

fn book() -> String {
    testdata().join("loanbook.csv").display().to_string()
}

#[test]
fn readme_command_prints_the_summary_and_exits_0() {
    let dir = scratch("readme");
    let run = run_in(&dir, &["run", &book(), "--as-of", "2025-06-30"]);
    run.expect_code(0);
    let stdout = run.stdout();
    assert!(stdout.starts_with("currency  product"), "{}", run.dump());
    assert!(stdout.contains("CNY       *"), "{}", run.dump());
    let stderr = run.stderr();
    assert!(
        stderr.contains("as of 2025-06-30, policy cn-bank"),
        "{}",
        run.dump()
    );
    assert!(
        stderr.contains("3000 rows read, 3000 written, 0 rejected"),
        "{}",
        run.dump()
    );
    // Without -o the rejects file lands in the working directory.
    assert_eq!(
        std::fs::read_to_string(dir.join("rejects.csv")).unwrap(),
        "line,loan_id,column,reason,raw\n"
    );
}

#[test]
fn sample_book_summary_is_stable() {
    let dir = scratch("sample-summary");
    let summary = dir.join("summary.csv").display().to_string();
    run_in(
        &dir,
        &[
            "run",
            &book(),
            "--as-of",
            "2025-06-30",
            "--summary",
            &summary,
            "-q",
        ],
    )
    .expect_code(0);
    assert_same_file(
        Path::new(&summary),
        &testdata().join("loanbook.summary.csv"),
        "",
    );
}

#[test]
fn usage_errors_exit_2() {
    let dir = scratch("usage");
    run_in(&dir, &["run", "--as-of", "31/12/2025", &book()]).expect_code(2);
    run_in(&dir, &["run", "--group-by", "colour", &book()]).expect_code(2);
    run_in(&dir, &["run", "--frobnicate"]).expect_code(2);
    run_in(&dir, &[]).expect_code(2);
    // Payments from standard input: a usage error, not a failed run.
    run_in(
        &dir,
        &["run", "--as-of", "2025-06-30", "--repayments", "-", &book()],
    )
    .expect_code(2);
}

#[test]
fn too_many_rejects_exit_3_but_outputs_are_written() {
    let dir = scratch("max-rejects");
    let input = testdata()
        .join("bad_values/input.csv")
        .display()
        .to_string();
    let results = dir.join("r.csv").display().to_string();
    let run = run_in(
        &dir,
        &[
            "run",
            &input,
            "--as-of",
            "2025-01-31",
            "-o",
            &results,
            "--max-rejects",
            "21",
        ],
    );
    run.expect_code(3);
    assert!(
        dir.join("r.csv").exists() && dir.join("r.rejects.csv").exists(),
        "{}",
        run.dump()
    );
    run_in(
        &dir,
        &[
            "run",
            &input,
            "--as-of",
            "2025-01-31",
            "-o",
            &results,
            "--max-rejects",
            "22",
            "-q",
        ],
    )
    .expect_code(0);
}

#[test]
fn unreadable_input_and_unwritable_output_exit_1_without_output() {
    let dir = scratch("unreadable");
    let run = run_in(
        &dir,
        &[
            "run",
            "no-such-book.csv",
            "--as-of",
            "2025-01-31",
            "-o",
            "r.csv",
        ],
    );
    run.expect_code(1);
    assert!(run.stderr().contains("no-such-book.csv"), "{}", run.dump());
    let run = run_in(
        &dir,
        &[
            "run",
            &book(),
            "--as-of",
            "2025-01-31",
            "-o",
            "missing-dir/r.csv",
        ],
    );
    run.expect_code(1);
    assert!(run.stderr().contains("missing-dir/r.csv"), "{}", run.dump());
    let left: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[test]
fn stdin_and_split_files_give_the_same_results_as_one_file() {
    let dir = scratch("stdin");
    let whole = std::fs::read_to_string(book()).unwrap();
    let lines: Vec<&str> = whole.lines().collect();
    let (header, rows) = (lines[0], &lines[1..]);
    let half = rows.len() / 2;
    std::fs::write(
        dir.join("a.csv"),
        format!("{header}\n{}\n", rows[..half].join("\n")),
    )
    .unwrap();
    std::fs::write(
        dir.join("b.csv"),
        format!("{header}\n{}\n", rows[half..].join("\n")),
    )
    .unwrap();
    let book = book();
    let run = |inputs: &[&str], out: &str, stdin: Option<&[u8]>| {
        let mut args = vec!["run"];
        args.extend(inputs);
        args.extend(["--as-of", "2025-06-30", "-q", "-o", out]);
        run_with_stdin(&dir, &args, stdin).expect_code(0);
    };
    run(&[&book], "one.csv", None);
    run(&["a.csv", "b.csv"], "split.csv", None);
    run(&["-"], "stdin.csv", Some(whole.as_bytes()));
    run(&[], "implicit.csv", Some(whole.as_bytes()));
    for other in ["split.csv", "stdin.csv", "implicit.csv"] {
        assert_same_file(&dir.join(other), &dir.join("one.csv"), other);
    }
}

#[test]
fn inputs_with_different_columns_are_refused() {
    let dir = scratch("headers");
    std::fs::write(
        dir.join("a.csv"),
        "loan_id,principal,due_date,daily_rate\nA,1,2025-01-01,0.001\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("b.csv"),
        "loan_id,due_date,principal,annual_rate\nB,2025-01-01,1,0.36\n",
    )
    .unwrap();
    let run = run_in(
        &dir,
        &[
            "run",
            "a.csv",
            "b.csv",
            "--as-of",
            "2025-02-01",
            "-o",
            "r.csv",
        ],
    );
    run.expect_code(1);
    assert!(
        run.stderr()
            .contains("b.csv: its columns differ from a.csv's (lacks [\"daily_rate\"], has [\"annual_rate\"] besides)"),
        "{}",
        run.dump()
    );
    assert!(!dir.join("r.csv").exists());
}

#[test]
fn every_printed_preset_loads_back_as_the_same_policy() {
    let dir = scratch("preset");
    let list = run_in(&dir, &["policy", "--list"]);
    assert_eq!(
        list.stdout(),
        "cn-bank\ncn-private-lending\nuk-hcstc\nus-mla\n"
    );
    for name in list.stdout().lines() {
        let run = run_in(&dir, &["policy", name]);
        run.expect_code(0);
        assert!(run.stdout().contains(&format!("name = \"{name}\"")));
        let copy = dir.join(format!("{name}.toml"));
        std::fs::write(&copy, run.stdout()).unwrap();
        let a = arrears::policy::Policy::load(name).unwrap();
        let mut b = arrears::policy::Policy::load(&copy.display().to_string()).unwrap();
        assert_eq!(b.file.take(), Some(copy.display().to_string()));
        assert_eq!(a, b, "{name}");
        // `arrears policy FILE` prints it resolved; that text loads back too.
        let resolved = run_in(&dir, &["policy", &copy.display().to_string()]);
        resolved.expect_code(0);
        let again = dir.join(format!("{name}.resolved.toml"));
        std::fs::write(&again, resolved.stdout()).unwrap();
        let mut c = arrears::policy::Policy::load(&again.display().to_string()).unwrap();
        c.file = None;
        c.base = a.base.clone();
        c.resolved = a.resolved.clone();
        assert_eq!(a, c, "{name} resolved");
    }
    assert_eq!(
        run_in(&dir, &["policy"]).stdout(),
        run_in(&dir, &["policy", "cn-bank"]).stdout()
    );
    run_in(&dir, &["policy", "no-such-preset"]).expect_code(1);
}

#[test]
fn generator_is_deterministic_and_its_books_are_clean() {
    let dir = scratch("generate");
    run_in(
        &dir,
        &["generate", "--rows", "500", "--seed", "9", "-o", "a.csv"],
    )
    .expect_code(0);
    run_in(
        &dir,
        &["generate", "--rows", "500", "--seed", "9", "-o", "b.csv"],
    )
    .expect_code(0);
    assert_same_file(&dir.join("a.csv"), &dir.join("b.csv"), "");
    // The sample book is the generator's own output.
    run_in(
        &dir,
        &[
            "generate",
            "--rows",
            "3000",
            "--seed",
            "42",
            "-o",
            "sample.csv",
        ],
    )
    .expect_code(0);
    assert_same_file(
        &dir.join("sample.csv"),
        &testdata().join("loanbook.csv"),
        "",
    );
    let run = run_in(
        &dir,
        &["run", "a.csv", "--as-of", "2025-06-30", "-o", "r.csv"],
    );
    run.expect_code(0);
    assert!(
        run.stderr()
            .contains("500 rows read, 500 written, 0 rejected"),
        "{}",
        run.dump()
    );
}

/// The results and summary equal, byte for byte, those of an independent
/// implementation of SPEC.md (tests/reference/arrears_ref.py), over the
/// sample book under several policies and groupings.
#[test]
fn results_match_the_reference_implementation() {
    let dir = scratch("reference");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/reference/arrears_ref.py");
    let policies = [
        ("", "currency,product,bucket"),
        ("year_days = 365\ncount_both_ends = true\ngrace_days = 5\ngrace_mode = \"skip_grace\"\ncontract_interest = true\nrounding = \"half_even\"\npenalty_multiplier = 1.3\nwrite_off_days = 90\nbucket_edges = [15, 45, 400]\n[[caps]]\nname = \"fees-15\"\nkind = \"fixed\"\namount = 15\napplies_to = [\"fees\"]\n[[caps]]\nname = \"daily\"\nkind = \"daily_rate\"\nrate = \"0.0008\"\napplies_to = [\"interest\", \"fees\"]\n[[caps]]\nname = \"tcc\"\nkind = \"principal_ratio\"\nratio = \"0.01\"\n[[caps]]\nname = \"dmg\"\nkind = \"component_ratio\"\nratio = \"0.5\"\napplies_to = [\"penalty\", \"compound\"]\nof = [\"interest\"]\n", "region,classification"),
        ("grace_days = 3\ncompound = false\ncaps = []\n[[classes]]\nname = \"ok\"\nmin_days = 0\nprovision_rate = \"0.015\"\n[[classes]]\nname = \"substandard\"\nmin_days = 31\nprovision_rate = \"0.3\"\n", "status,bucket,product"),
        ("", "currency"),
    ];
    for (i, (policy, group_by)) in policies.iter().enumerate() {
        let policy_path = dir.join(format!("p{i}.toml"));
        std::fs::write(&policy_path, policy).unwrap();
        let p = policy_path.display().to_string();
        let run = run_in(
            &dir,
            &[
                "run",
                &book(),
                "--as-of",
                "2025-06-30",
                "--policy",
                &p,
                "--group-by",
                group_by,
                "-o",
                "r.csv",
                "--summary",
                "s.csv",
                "-q",
            ],
        );
        run.expect_code(0);
        let reference = Command::new("python3")
            .arg(&script)
            .args([
                &book(),
                "--as-of",
                "2025-06-30",
                "--policy",
                &p,
                "--group-by",
                group_by,
                "-o",
                "pr.csv",
                "--summary",
                "ps.csv",
            ])
            .current_dir(&dir)
            .status()
            .expect("python3 (3.11+) runs the reference implementation; .ci/run installs it");
        assert!(reference.success(), "reference failed on policy {i}");
        assert_same_file(
            &dir.join("r.csv"),
            &dir.join("pr.csv"),
            &format!("policy {i}"),
        );
        assert_same_file(
            &dir.join("s.csv"),
            &dir.join("ps.csv"),
            &format!("policy {i}"),
        );
    }
}

/// Issue 12: past 128 bits the arithmetic fell back to Decimal's 28-digit
/// steps, and this interest (exactly 253427424.65499999...) printed .66.
#[test]
fn issue_12_figures_past_128_bits_are_rounded_once() {
    let dir = scratch("issue-12-wide");
    std::fs::write(
        dir.join("book.csv"),
        "loan_id,principal,due_date,annual_rate\nW,999999999.99,2024-06-28,0.2520463487738419893732970030\n",
    )
    .unwrap();
    std::fs::write(dir.join("p.toml"), "base = \"us-mla\"\ncaps = []\n").unwrap();
    let run = run_in(
        &dir,
        &[
            "run",
            "book.csv",
            "--as-of",
            "2025-06-30",
            "--policy",
            "p.toml",
            "-o",
            "r.csv",
            "-q",
        ],
    );
    run.expect_code(0);
    let results = std::fs::read_to_string(dir.join("r.csv")).unwrap();
    let row = results.lines().nth(1).unwrap();
    assert!(
        row.contains(",367,367,") && row.contains(",253427424.65,"),
        "{row}"
    );
}

/// With repayments (SPEC.md section 5), results, summary and unmatched
/// payments equal, byte for byte, those of the independent reference
/// implementation, on a generated book and its payments (with unreadable
/// payments and a repeated loan_id mixed in) under several policies.
#[test]
fn results_with_repayments_match_the_reference_implementation() {
    let dir = scratch("reference-repayments");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/reference/arrears_ref.py");
    let generate = [
        "generate",
        "--rows",
        "2500",
        "--seed",
        "11",
        "-o",
        "book.csv",
        "--repayments",
        "pay.csv",
    ];
    run_in(&dir, &generate).expect_code(0);
    let mut book = std::fs::read_to_string(dir.join("book.csv")).unwrap();
    let second = book.lines().nth(2).unwrap().to_string();
    book.push_str(&second);
    book.push('\n');
    std::fs::write(dir.join("book.csv"), book).unwrap();
    let mut pay = std::fs::read_to_string(dir.join("pay.csv")).unwrap();
    pay.push_str(
        "L00000003,2025-02-30,10\nL00000004,2025-05-01,0\n,2025-05-01,3\nL00000005,2025-05-01\n",
    );
    std::fs::write(dir.join("pay.csv"), pay).unwrap();
    let policies = [
        "",
        "year_days = 365\ncount_both_ends = true\ngrace_days = 5\ngrace_mode = \"skip_grace\"\ncontract_interest = true\nrounding = \"half_even\"\npenalty_multiplier = 1.3\n[[caps]]\nname = \"fees-15\"\nkind = \"fixed\"\namount = 15\napplies_to = [\"fees\"]\n[[caps]]\nname = \"daily\"\nkind = \"daily_rate\"\nrate = \"0.0008\"\napplies_to = [\"interest\", \"fees\"]\n[[caps]]\nname = \"tcc\"\nkind = \"principal_ratio\"\nratio = \"0.01\"\n[[caps]]\nname = \"ann\"\nkind = \"annual_rate\"\nrate = \"0.2\"\n",
        "grace_days = 3\ncontract_interest = true\nrounding = \"down\"\nallocation = [\"principal\", \"interest\", \"unpaid_interest\", \"fees\", \"compound\", \"penalty\"]\n",
        "grace_days = 7\ncount_both_ends = true\ncompound = false\n[[caps]]\nname = \"d\"\nkind = \"component_ratio\"\nratio = \"0.5\"\napplies_to = [\"penalty\"]\nof = [\"fees\"]\n",
    ];
    for (i, policy) in policies.iter().enumerate() {
        let p = format!("p{i}.toml");
        std::fs::write(dir.join(&p), policy).unwrap();
        let common = [
            "book.csv",
            "--repayments",
            "pay.csv",
            "--as-of",
            "2025-06-30",
            "--policy",
            &p,
        ];
        let mut ours = vec!["run"];
        ours.extend(common);
        ours.extend([
            "-o",
            "r.csv",
            "--summary",
            "s.csv",
            "--unmatched",
            "u.csv",
            "--max-rejects",
            "99",
            "-q",
        ]);
        run_in(&dir, &ours).expect_code(0);
        let reference = Command::new("python3")
            .arg(&script)
            .args(common)
            .args([
                "-o",
                "pr.csv",
                "--summary",
                "ps.csv",
                "--unmatched",
                "pu.csv",
            ])
            .current_dir(&dir)
            .status()
            .expect("python3 (3.11+) runs the reference implementation; .ci/run installs it");
        assert!(reference.success(), "reference failed on policy {i}");
        for (a, b) in [
            ("r.csv", "pr.csv"),
            ("s.csv", "ps.csv"),
            ("u.csv", "pu.csv"),
        ] {
            assert_same_file(&dir.join(a), &dir.join(b), &format!("policy {i}"));
        }
    }
}
