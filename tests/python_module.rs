//! The Python module and the Spark adapter (python/): builds the wheel with
//! maturin, installs it into a scratch folder (no global side effect) and
//! runs python/tests with pytest: the module on every testdata case and on
//! the sample book from pyarrow, Polars, pandas and DuckDB against this
//! binary's outputs, and PySpark in local mode with 1, 3 and 8 partitions.
//!
//! It needs maturin, pytest, pyspark (and pyarrow, polars, pandas, duckdb)
//! and a Java runtime: `.ci/run` installs them. Without them it fails, it
//! does not skip.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Runs `program args`, failing the test with its output when it fails.
fn run(what: &str, command: &mut Command) {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot run {command:?}: {e}{}", HINT));
    if !output.status.success() {
        panic!(
            "{what} failed ({}): {command:?}\n--- stdout\n{}\n--- stderr\n{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

const HINT: &str = "\n(.ci/run installs what the Python tests need: \
    pip install -r python/requirements-test.txt, and a Java runtime for Spark)";

/// Fails with the list of what is missing.
fn require_tools() {
    let mut missing = Vec::new();
    let ok = |program: &str, args: &[&str]| {
        Command::new(program)
            .args(args)
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if !ok("python3", &["-m", "maturin", "--version"]) && !ok("maturin", &["--version"]) {
        missing.push("maturin");
    }
    for module in [
        "pytest", "pyspark", "pyarrow", "polars", "pandas", "duckdb", "mypy",
    ] {
        if !ok("python3", &["-c", &format!("import {module}")]) {
            missing.push(module);
        }
    }
    if !ok("java", &["-version"]) {
        missing.push("java (a Java runtime, for PySpark)");
    }
    assert!(
        missing.is_empty(),
        "the Python tests need: {}{HINT}",
        missing.join(", ")
    );
}

fn maturin() -> Command {
    let via_python = Command::new("python3")
        .args(["-m", "maturin", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    match via_python {
        true => {
            let mut c = Command::new("python3");
            c.args(["-m", "maturin"]);
            c
        }
        false => Command::new("maturin"),
    }
}

#[test]
fn python_module_and_spark_adapter_give_the_cli_numbers() {
    require_tools();
    let scratch: PathBuf =
        std::env::temp_dir().join(format!("arrears-python-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    let (wheels, site) = (scratch.join("wheels"), scratch.join("site"));
    std::fs::create_dir_all(&wheels).unwrap();

    run(
        "maturin build",
        maturin()
            .args(["build", "--release", "-m", "python/Cargo.toml", "-o"])
            .arg(&wheels)
            .current_dir(root()),
    );
    let wheel = std::fs::read_dir(&wheels)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "whl"))
        .expect("maturin wrote a wheel");
    run(
        "pip install --target",
        Command::new("python3")
            .args(["-m", "pip", "install", "--quiet", "--no-deps", "--target"])
            .arg(&site)
            .arg(&wheel),
    );
    run(
        "pytest python/tests",
        Command::new("python3")
            .args([
                "-m",
                "pytest",
                "-q",
                "-p",
                "no:cacheprovider",
                "python/tests",
            ])
            .current_dir(root())
            .env("PYTHONPATH", &site)
            .env("ARREARS_MODULE_DIR", site.join("arrears"))
            .env("ARREARS_BIN", env!("CARGO_BIN_EXE_arrears"))
            // Spark's workers run the same Python.
            .env("PYSPARK_PYTHON", "python3"),
    );
    let _ = std::fs::remove_dir_all(&scratch);
}
