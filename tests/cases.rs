//! One test per folder of `testdata/`: the real binary runs on `input.csv`
//! (or `input.parquet`) with the flags in `args`, and its outputs must equal the hand-checked
//! `expected_results.csv`, `expected_summary.csv` and `expected_rejects.csv`.
//! A folder with `payments.csv` runs with `--repayments payments.csv`, and
//! its `expected_unmatched.csv`, when there is one, is the unmatched-payments
//! file.
//! `expected_exit` (default 0) is the exit code; every line of
//! `expected_stderr` must appear in stderr. A run that fails (exit 1) must
//! leave no output file at all.

mod util;

use std::path::Path;

use util::{assert_same_file, run_in, scratch, testdata};

fn case(name: &str) {
    let dir = testdata().join(name);
    let out = scratch(name);
    let args_text = std::fs::read_to_string(dir.join("args")).unwrap();
    let path = |f: &str| out.join(f).display().to_string();
    let (results, summary, rejects, unmatched) = (
        path("results.csv"),
        path("summary.csv"),
        path("rejects.csv"),
        path("unmatched.csv"),
    );
    let input = match dir.join("input.parquet").exists() {
        true if !cfg!(feature = "parquet") => {
            eprintln!("{name}: not run: this build has no Parquet support");
            return;
        }
        true => "input.parquet",
        false => "input.csv",
    };
    let mut args: Vec<&str> = vec!["run", input];
    args.extend(args_text.split_whitespace());
    args.extend(["-o", &results, "--summary", &summary, "--rejects", &rejects]);
    let payments = dir.join("payments.csv").exists();
    if payments {
        args.extend(["--repayments", "payments.csv", "--unmatched", &unmatched]);
    }
    let run = run_in(&dir, &args);

    let expected_exit =
        std::fs::read_to_string(dir.join("expected_exit")).map_or(0, |s| s.trim().parse().unwrap());
    run.expect_code(expected_exit);
    if let Ok(expected) = std::fs::read_to_string(dir.join("expected_stderr")) {
        for line in expected.lines() {
            assert!(
                run.stderr().contains(line),
                "stderr lacks {line:?}{}",
                run.dump()
            );
        }
    }
    let mut files = vec![
        (&results, "expected_results.csv"),
        (&summary, "expected_summary.csv"),
        (&rejects, "expected_rejects.csv"),
    ];
    if payments && dir.join("expected_unmatched.csv").exists() {
        files.push((&unmatched, "expected_unmatched.csv"));
    }
    for (actual, expected) in files {
        let expected = dir.join(expected);
        if expected_exit == 1 {
            assert!(
                !Path::new(actual).exists(),
                "a failed run left {actual}{}",
                run.dump()
            );
        } else {
            assert_same_file(Path::new(actual), &expected, &run.dump());
        }
    }
    if expected_exit == 1 {
        let left: Vec<_> = std::fs::read_dir(&out).unwrap().collect();
        assert!(left.is_empty(), "a failed run left files: {left:?}");
    }
}

macro_rules! cases {
    ($($name:ident),* $(,)?) => {
        $( #[test] fn $name() { case(stringify!($name)); } )*

        #[test]
        fn every_testdata_folder_has_a_test() {
            let listed = [$(stringify!($name)),*];
            for entry in std::fs::read_dir(testdata()).unwrap() {
                let entry = entry.unwrap();
                if entry.path().join("args").exists() {
                    let name = entry.file_name().into_string().unwrap();
                    assert!(listed.contains(&name.as_str()), "testdata/{name} has no test");
                }
            }
        }
    };
}

cases!(
    seed_example,
    day_counting,
    day_counting_both_ends,
    grace_charge_all,
    grace_skip,
    grace_status,
    cap_fixed,
    cap_daily_rate,
    cap_annual_rate,
    cap_principal_ratio,
    cap_component_ratio,
    caps_in_order,
    rounding_half_up,
    rounding_half_even,
    rounding_down,
    leap_day,
    status_boundaries,
    currencies,
    chinese_headers,
    bom_crlf,
    bad_values,
    missing_column,
    bad_policy,
    header_only,
    preset_cn_bank,
    preset_cn_private_lending,
    preset_uk_hcstc,
    preset_us_mla,
    preset_cn_national_day,
    holiday_roll,
    gbk_headers,
    unique_ids,
    parquet_rejects,
    parquet_wrong_type,
    repay_segments,
    repay_grace_charge_all,
    repay_grace_skip,
    repay_both_ends,
    repay_half_even,
    repay_caps,
    repay_allocation,
    repay_unmatched,
    repay_chinese_headers,
);
