//! The README's Tour runs as written: every command of its first `sh`
//! block, in order, in a scratch directory holding a `testdata` link, with
//! the built binary first on the PATH (issue 17).

mod util;

use std::process::Command;

use util::{bin, scratch, testdata};

/// The Tour's commands: the first ```sh block after `## Tour`.
fn tour() -> String {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let after = &readme[readme.find("## Tour").expect("a Tour section")..];
    let block = &after[after.find("```sh\n").expect("a sh block") + 6..];
    block[..block.find("```").unwrap()].to_string()
}

#[test]
fn every_tour_command_runs_as_written() {
    let dir = scratch("tour");
    std::os::unix::fs::symlink(testdata(), dir.join("testdata")).unwrap();
    let path = format!(
        "{}:{}",
        bin().parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let script = format!("set -euo pipefail -x\n{}", tour());
    let out = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .current_dir(&dir)
        .env("PATH", path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the Tour failed:\n{stderr}");
    // What the Tour says it leaves.
    for file in [
        "out/results.csv",
        "out/results.rejects.csv",
        "out/results.manifest.json",
        "out/summary.csv",
        "out/q1.csv",
        "out/results.parquet",
        "out/june-by-region.csv",
        "out/breaches.csv",
        "my-bank.toml",
    ] {
        assert!(dir.join(file).exists(), "no {file}:\n{stderr}");
    }
    assert_eq!(
        std::fs::read(dir.join("book.csv")).unwrap(),
        std::fs::read(testdata().join("loanbook.csv")).unwrap()
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("2025-05-31") && stdout.contains("2025-06-30"),
        "{stdout}"
    );
}
