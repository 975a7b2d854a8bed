//! The integration harness: runs the real binary in a scratch directory and,
//! on failure, dumps the command, status, stdout and stderr.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_arrears"))
}

pub fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata")
}

/// A scratch directory, unique to one test, emptied on creation.
pub fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("arrears-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A finished run of the binary.
pub struct Run {
    pub command: String,
    pub output: Output,
}

impl Run {
    pub fn code(&self) -> i32 {
        self.output.status.code().unwrap_or(-1)
    }

    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.output.stdout).into_owned()
    }

    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }

    /// Everything needed to see why a test failed.
    pub fn dump(&self) -> String {
        format!(
            "\ncommand: {}\nstatus: {}\n--- stdout\n{}\n--- stderr\n{}\n",
            self.command,
            self.output.status,
            self.stdout(),
            self.stderr()
        )
    }

    pub fn expect_code(&self, code: i32) -> &Run {
        assert_eq!(self.code(), code, "unexpected exit code{}", self.dump());
        self
    }
}

/// Runs `arrears ARGS` in `dir`.
pub fn run_in(dir: &Path, args: &[&str]) -> Run {
    run_with_stdin(dir, args, None)
}

pub fn run_with_stdin(dir: &Path, args: &[&str], stdin: Option<&[u8]>) -> Run {
    use std::io::Write;
    use std::process::Stdio;
    let mut cmd = Command::new(bin());
    cmd.args(args)
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    });
    let mut child = cmd.spawn().expect("the arrears binary runs");
    if let Some(bytes) = stdin {
        let mut pipe = child.stdin.take().unwrap();
        // A run that stops early (a bad header) closes its stdin unread.
        if let Err(e) = pipe.write_all(bytes) {
            assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "{e}");
        }
    }
    let output = child.wait_with_output().unwrap();
    Run {
        command: format!("(cd {} && arrears {})", dir.display(), args.join(" ")),
        output,
    }
}

/// Asserts two files are byte-identical, showing the first differing line.
pub fn assert_same_file(actual: &Path, expected: &Path, context: &str) {
    let a = std::fs::read(actual).unwrap_or_else(|e| panic!("{}: {e}{context}", actual.display()));
    let b = std::fs::read(expected).unwrap_or_else(|e| panic!("{}: {e}", expected.display()));
    if a != b {
        let (a, b) = (String::from_utf8_lossy(&a), String::from_utf8_lossy(&b));
        let line = a
            .lines()
            .zip(b.lines())
            .position(|(x, y)| x != y)
            .unwrap_or(a.lines().count().min(b.lines().count()));
        panic!(
            "{} differs from {} at line {}:\n  got:  {:?}\n  want: {:?}{context}",
            actual.display(),
            expected.display(),
            line + 1,
            a.lines().nth(line),
            b.lines().nth(line)
        );
    }
}
