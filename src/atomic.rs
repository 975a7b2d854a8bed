//! Files that appear complete or not at all. An `AtomicFile` is written
//! under a temporary name in its directory and renamed to its final name
//! only when committed; dropped uncommitted, it is removed. Temporary files
//! are registered so that a signal (Ctrl-C, `kill`) removes them too before
//! the process exits; SIGKILL leaves them under their temporary names, never
//! under the final one.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use crate::error::Error;

/// Temporary files not yet committed or removed.
static TEMPORARIES: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

fn temporaries() -> MutexGuard<'static, Vec<PathBuf>> {
    TEMPORARIES
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Removes every uncommitted temporary file; for a process about to exit.
pub fn remove_temporaries() {
    for temp in temporaries().drain(..) {
        let _ = std::fs::remove_file(temp);
    }
}

/// Exit code for a run stopped by a signal: 128 + its number (130 for
/// SIGINT, 143 for SIGTERM, 129 for SIGHUP).
pub const SIGNAL_EXIT_BASE: i32 = 128;

/// On SIGINT, SIGTERM or SIGHUP: remove the temporary files, say so, and
/// exit with 128 + the signal's number. Works while the process is blocked
/// reading its input.
pub fn stop_cleanly_on_signals() -> io::Result<()> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP])?;
    std::thread::spawn(move || {
        if let Some(signal) = signals.forever().next() {
            remove_temporaries();
            eprintln!("arrears: stopped by signal {signal}; unfinished outputs removed");
            std::process::exit(SIGNAL_EXIT_BASE + signal);
        }
    });
    Ok(())
}

pub struct AtomicFile {
    path: PathBuf,
    temp: PathBuf,
    writer: Option<BufWriter<WriteBehind>>,
}

/// How much written data may wait before its write-back to disk is started.
const WRITE_BEHIND: u64 = 8 << 20;

/// A file whose written data starts going to disk as it is written (Linux:
/// `sync_file_range`, which starts the write-back and does not wait for it),
/// so the `fsync` of a commit waits for the last few megabytes instead of
/// the whole file: on a 180 MB results file that wait was about a tenth of
/// the run.
struct WriteBehind {
    file: File,
    written: u64,
    started: u64,
}

impl WriteBehind {
    fn start_write_back(&mut self) {
        #[cfg(target_os = "linux")]
        {
            use std::os::fd::AsRawFd;
            // SAFETY: a plain system call on an open descriptor; a failure
            // only means the fsync at commit has more to do.
            unsafe {
                libc::sync_file_range(
                    self.file.as_raw_fd(),
                    self.started as libc::off64_t,
                    (self.written - self.started) as libc::off64_t,
                    libc::SYNC_FILE_RANGE_WRITE,
                );
            }
        }
        self.started = self.written;
    }
}

impl Write for WriteBehind {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write(buf)?;
        self.written += n as u64;
        if self.written - self.started >= WRITE_BEHIND {
            self.start_write_back();
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

impl AtomicFile {
    pub fn create(path: &Path) -> Result<AtomicFile, Error> {
        let name = path
            .file_name()
            .map_or_else(|| "output".into(), |n| n.to_string_lossy().into_owned());
        let temp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
        let mut registry = temporaries();
        let file = File::create(&temp).map_err(|e| Error::io(path.display(), e))?;
        registry.push(temp.clone());
        Ok(AtomicFile {
            path: path.to_path_buf(),
            temp,
            // Smaller than a chunk of results rows, which then go to the
            // file directly instead of being copied into the buffer first.
            writer: Some(BufWriter::with_capacity(
                1 << 16,
                WriteBehind {
                    file,
                    written: 0,
                    started: 0,
                },
            )),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Flushes, syncs and renames the file to its final name. On failure the
    /// temporary file is removed.
    pub fn commit(mut self) -> Result<(), Error> {
        let fail = |e: io::Error| Error::io(self.path.display(), e);
        let writer = self.writer.take().expect("committed once");
        let file = writer.into_inner().map_err(|e| fail(e.into_error()))?.file;
        file.sync_all().map_err(fail)?;
        drop(file);
        // Renamed under the registry's lock, so a signal either removes the
        // temporary file first or finds it committed.
        let mut registry = temporaries();
        std::fs::rename(&self.temp, &self.path).map_err(fail)?;
        registry.retain(|t| *t != self.temp);
        self.temp = PathBuf::new();
        Ok(())
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.writer.as_mut().expect("not committed").write(buf)
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.writer.as_mut().expect("not committed").write_all(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.writer.as_mut().expect("not committed").flush()
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        // An empty temp path means committed.
        if self.temp.as_os_str().is_empty() {
            return;
        }
        self.writer.take();
        let mut registry = temporaries();
        let _ = std::fs::remove_file(&self.temp);
        registry.retain(|t| *t != self.temp);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_file_appears_only_on_commit() {
        let dir = std::env::temp_dir().join(format!("arrears-atomic-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("out.csv");
        let mut f = AtomicFile::create(&path).unwrap();
        f.write_all(b"a,b\n").unwrap();
        assert!(!path.exists());
        f.commit().unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"a,b\n");
        let mut g = AtomicFile::create(&dir.join("dropped.csv")).unwrap();
        g.write_all(b"partial").unwrap();
        drop(g);
        let left: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left, vec![std::ffi::OsString::from("out.csv")]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_file_past_several_write_behind_steps_commits_whole() {
        let dir = std::env::temp_dir().join(format!("arrears-atomic-big-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("big.csv");
        let piece: Vec<u8> = (0..=250u8).cycle().take(300_007).collect();
        let mut f = AtomicFile::create(&path).unwrap();
        let pieces = (3 * WRITE_BEHIND) as usize / piece.len() + 1;
        for _ in 0..pieces {
            f.write_all(&piece).unwrap();
        }
        f.commit().unwrap();
        let written = std::fs::read(&path).unwrap();
        assert_eq!(written.len(), pieces * piece.len());
        assert!(written.chunks(piece.len()).all(|c| c == piece));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_failed_commit_leaves_nothing() {
        let dir = std::env::temp_dir().join(format!("arrears-atomic-fail-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let target = dir.join("is-a-dir");
        std::fs::create_dir_all(target.join("inside")).unwrap();
        let mut f = AtomicFile::create(&target).unwrap();
        f.write_all(b"x").unwrap();
        assert!(
            f.commit().is_err(),
            "a file cannot replace a non-empty directory"
        );
        let left: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left, vec![std::ffi::OsString::from("is-a-dir")]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
