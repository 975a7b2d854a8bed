//! Outputs that appear complete or not at all, and a command's outputs
//! committed as a set.
//!
//! An `AtomicFile` is written under a temporary name in the directory of
//! its final file (`.NAME.PID.tmp`), hashed (BLAKE3) and counted as it is
//! written. `finish` flushes and syncs it; `commit_all` then renames every
//! finished file of the command to its final name, one after the other
//! under one lock, and syncs their directories, so a failure before the
//! renames leaves none of them. Temporary files are registered so that a
//! signal (Ctrl-C, `kill`) removes them before the process exits; SIGKILL
//! leaves them under their temporary names, never a partial file under a
//! final one.
//!
//! What is replaced: a regular file, or nothing. A symlink is followed and
//! its target replaced (the temporary file sits in the target's directory).
//! An output that exists and is not a regular file (a FIFO, `/dev/null`, a
//! terminal) and `-` (standard output) are written directly: they cannot be
//! replaced, so they are not atomic.

use std::fs::{File, OpenOptions};
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

/// `-`: standard output, wherever a command takes an output file.
pub fn is_stdout(path: &Path) -> bool {
    path.as_os_str() == "-"
}

/// Written directly, never replaced: `-` (standard output), or an existing
/// file that is not a regular file (`/dev/null`, a FIFO, a terminal). No
/// file is put beside such an output (its rejects go to the working
/// directory, it has no manifest).
pub fn is_direct(path: &Path) -> bool {
    is_stdout(path) || std::fs::metadata(path).is_ok_and(|m| !m.is_file() && !m.is_dir())
}

/// Where an output's bytes end up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A regular file (or none yet): written under `temp`, renamed to `file`.
    Replace { file: PathBuf, temp: PathBuf },
    /// Standard output, or an existing file that is not a regular file.
    Direct,
}

/// The file an output path finally names when it does not exist yet: a
/// dangling symlink's target, followed through every link.
pub fn resolve(path: &Path) -> io::Result<PathBuf> {
    let mut path = path.to_path_buf();
    for _ in 0..40 {
        match std::fs::symlink_metadata(&path) {
            Ok(meta) if meta.file_type().is_symlink() => {
                let link = std::fs::read_link(&path)?;
                path = match path.parent() {
                    Some(dir) => dir.join(link),
                    None => link,
                };
            }
            _ => return Ok(path),
        }
    }
    Err(io::Error::other("too many levels of symbolic links"))
}

/// How an output path is written: replaced through a temporary file, or
/// written directly.
pub fn target(path: &Path) -> Result<Target, Error> {
    if is_stdout(path) {
        return Ok(Target::Direct);
    }
    let fail = |e| Error::io(path.display(), e);
    // Followed by the kernel, which also knows /proc's links
    // (/dev/stdout -> /proc/self/fd/1 -> a pipe).
    let file = match std::fs::metadata(path) {
        Ok(meta) if meta.is_dir() => return Err(fail(io::Error::other("is a directory"))),
        Ok(meta) if !meta.is_file() => return Ok(Target::Direct),
        Ok(_) => std::fs::canonicalize(path).map_err(fail)?,
        Err(_) => resolve(path).map_err(fail)?,
    };
    let name = file
        .file_name()
        .map_or_else(|| "output".into(), |n| n.to_string_lossy().into_owned());
    let temp = file.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    Ok(Target::Replace { file, temp })
}

/// An output being written.
pub struct AtomicFile {
    /// The path as the user named it (for messages and reports).
    path: PathBuf,
    target: Target,
    writer: Option<BufWriter<WriteBehind>>,
}

/// How much written data may wait before its write-back to disk is started.
const WRITE_BEHIND: u64 = 8 << 20;

/// A file whose written data starts going to disk as it is written (Linux:
/// `sync_file_range`, which starts the write-back and does not wait for it),
/// so the `fsync` of a commit waits for the last few megabytes instead of
/// the whole file: on a 180 MB results file that wait was about a tenth of
/// the run. Every byte written is also hashed, for the manifest.
struct WriteBehind {
    file: File,
    written: u64,
    started: u64,
    hasher: blake3::Hasher,
    /// Only files that will be synced start their write-back early.
    behind: bool,
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
        self.hasher.update(&buf[..n]);
        self.written += n as u64;
        if self.behind && self.written - self.started >= WRITE_BEHIND {
            self.start_write_back();
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

/// An output written whole and synced, waiting for `commit_all`. Dropped
/// uncommitted, its temporary file is removed.
#[derive(Debug)]
pub struct Finished {
    path: PathBuf,
    target: Target,
    pub size: u64,
    pub blake3: String,
}

/// An output in place under its final name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    pub path: PathBuf,
    pub size: u64,
    pub blake3: String,
}

impl AtomicFile {
    pub fn create(path: &Path) -> Result<AtomicFile, Error> {
        let fail = |e| Error::io(path.display(), e);
        let target = target(path)?;
        let file = match &target {
            Target::Direct if is_stdout(path) => stdout_file().map_err(fail)?,
            Target::Direct => OpenOptions::new().write(true).open(path).map_err(fail)?,
            Target::Replace { file, temp } => {
                let mut registry = temporaries();
                let created = File::create(temp).map_err(fail)?;
                registry.push(temp.clone());
                // A replaced file keeps its permissions.
                if let Ok(meta) = std::fs::metadata(file) {
                    let _ = created.set_permissions(meta.permissions());
                }
                created
            }
        };
        let behind = matches!(target, Target::Replace { .. });
        Ok(AtomicFile {
            path: path.to_path_buf(),
            target,
            // Smaller than a chunk of results rows, which then go to the
            // file directly instead of being copied into the buffer first.
            writer: Some(BufWriter::with_capacity(
                1 << 16,
                WriteBehind {
                    file,
                    written: 0,
                    started: 0,
                    hasher: blake3::Hasher::new(),
                    behind,
                },
            )),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Flushes and syncs the file; it is renamed to its final name by
    /// `commit_all`. On failure the temporary file is removed.
    pub fn finish(mut self) -> Result<Finished, Error> {
        let fail = |e: io::Error| Error::io(self.path.display(), e);
        let writer = self.writer.take().expect("finished once");
        let inner = writer.into_inner().map_err(|e| fail(e.into_error()))?;
        if let Target::Replace { .. } = self.target {
            inner.file.sync_all().map_err(fail)?;
        }
        let target = std::mem::replace(&mut self.target, Target::Direct);
        Ok(Finished {
            path: std::mem::take(&mut self.path),
            target,
            size: inner.written,
            blake3: inner.hasher.finalize().to_hex().to_string(),
        })
    }

    /// Finishes and commits this one file alone.
    pub fn commit(self) -> Result<Written, Error> {
        self.finish()?.commit()
    }
}

/// Standard output as a file (a duplicate of descriptor 1), so outputs to
/// `-` go through the same writers as files.
fn stdout_file() -> io::Result<File> {
    use std::os::fd::AsFd;
    Ok(File::from(io::stdout().as_fd().try_clone_to_owned()?))
}

impl Finished {
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Commits this one file alone.
    pub fn commit(self) -> Result<Written, Error> {
        Ok(commit_all(vec![self])?.remove(0))
    }
}

/// Renames every finished output to its final name, then syncs the
/// directories that hold them, so a rename the caller reports cannot be
/// lost by a power cut. The renames are made under the registry's lock: a
/// signal either removes every temporary file first, or waits until all
/// are renamed. Only SIGKILL (or a power cut) during the renames can leave
/// some outputs renamed and the others under their temporary names.
pub fn commit_all(files: Vec<Finished>) -> Result<Vec<Written>, Error> {
    let mut files = files;
    let mut written = Vec::with_capacity(files.len());
    let mut directories: Vec<PathBuf> = Vec::new();
    {
        let mut registry = temporaries();
        for finished in files.iter_mut() {
            if let Target::Replace { file, temp } = &finished.target {
                std::fs::rename(temp, file).map_err(|e| Error::io(finished.path.display(), e))?;
                registry.retain(|t| t != temp);
                let dir = match file.parent() {
                    Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
                    _ => PathBuf::from("."),
                };
                if !directories.contains(&dir) {
                    directories.push(dir);
                }
            }
            finished.target = Target::Direct;
            written.push(Written {
                path: std::mem::take(&mut finished.path),
                size: finished.size,
                blake3: std::mem::take(&mut finished.blake3),
            });
        }
    }
    for dir in directories {
        File::open(&dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| Error::io(dir.display(), e))?;
    }
    Ok(written)
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.writer.as_mut().expect("not finished").write(buf)
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.writer.as_mut().expect("not finished").write_all(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.writer.as_mut().expect("not finished").flush()
    }
}

fn remove_temporary(target: &Target) {
    if let Target::Replace { temp, .. } = target {
        let mut registry = temporaries();
        let _ = std::fs::remove_file(temp);
        registry.retain(|t| t != temp);
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        self.writer.take();
        remove_temporary(&self.target);
    }
}

impl Drop for Finished {
    fn drop(&mut self) {
        remove_temporary(&self.target);
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
        assert!(
            AtomicFile::create(&target).is_err(),
            "a file cannot replace a directory"
        );
        // A set whose second file cannot be renamed: the first is not
        // renamed either when the failure comes before the renames.
        let good = AtomicFile::create(&dir.join("good.csv"))
            .unwrap()
            .finish()
            .unwrap();
        drop(good);
        let left: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left, vec![std::ffi::OsString::from("is-a-dir")]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_set_is_renamed_together_and_a_symlinks_target_is_replaced() {
        let dir = std::env::temp_dir().join(format!("arrears-atomic-set-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("real")).unwrap();
        std::fs::write(dir.join("real/b.csv"), "old").unwrap();
        std::os::unix::fs::symlink("real/b.csv", dir.join("b.csv")).unwrap();
        let mut a = AtomicFile::create(&dir.join("a.csv")).unwrap();
        a.write_all(b"a").unwrap();
        let mut b = AtomicFile::create(&dir.join("b.csv")).unwrap();
        b.write_all(b"bb").unwrap();
        let (a, b) = (a.finish().unwrap(), b.finish().unwrap());
        assert!(!dir.join("a.csv").exists(), "nothing before the renames");
        assert_eq!((a.size, b.size), (1, 2));
        assert_eq!(a.blake3, blake3::hash(b"a").to_hex().to_string());
        let written = commit_all(vec![a, b]).unwrap();
        assert_eq!(written.len(), 2);
        assert_eq!(std::fs::read(dir.join("a.csv")).unwrap(), b"a");
        assert_eq!(std::fs::read(dir.join("real/b.csv")).unwrap(), b"bb");
        assert!(std::fs::symlink_metadata(dir.join("b.csv"))
            .unwrap()
            .file_type()
            .is_symlink());
        // /dev/null exists and is not a regular file: written, not replaced.
        assert_eq!(target(Path::new("/dev/null")).unwrap(), Target::Direct);
        let mut null = AtomicFile::create(Path::new("/dev/null")).unwrap();
        null.write_all(b"x").unwrap();
        null.commit().unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
