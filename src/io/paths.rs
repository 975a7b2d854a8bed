//! A command's file arguments checked before any work: no output may be an
//! input or another output (a loan book is never overwritten by a wrong
//! path), every output's directory must exist and be writable, no input is
//! read twice, and standard output carries one output at most.

use std::path::{Path, PathBuf};

use crate::io::atomic::{is_stdout, resolve};

/// Why the arguments cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum PathError {
    /// A usage error (exit 2): the arguments contradict each other.
    #[error("{0}")]
    Clash(String),
    /// The run cannot write an output (exit 1, nothing written).
    #[error("{0}")]
    Unwritable(String),
}

/// What identifies a file: its device and inode when it exists, else its
/// canonical path (the canonical directory and the name).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Identity {
    Inode(u64, u64),
    Path(PathBuf),
    /// Standard input or output.
    Std,
    /// An existing file that is not a regular file (a FIFO, a device):
    /// written or read directly, never replaced, so never compared.
    Special,
}

fn identity(path: &Path) -> Identity {
    use std::os::unix::fs::MetadataExt;
    if is_stdout(path) {
        return Identity::Std;
    }
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_file() => Identity::Inode(meta.dev(), meta.ino()),
        Ok(meta) if !meta.is_dir() => Identity::Special,
        _ => {
            let file = resolve(path).unwrap_or_else(|_| path.to_path_buf());
            let dir = match file.parent() {
                Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
                _ => PathBuf::from("."),
            };
            let dir = std::fs::canonicalize(&dir).unwrap_or(dir);
            Identity::Path(dir.join(file.file_name().unwrap_or_default()))
        }
    }
}

/// Checks inputs and outputs; `outputs` are (flag, path) pairs, the flag
/// naming the output in messages.
pub fn check(inputs: &[PathBuf], outputs: &[(&str, &Path)]) -> Result<(), PathError> {
    let ins: Vec<Identity> = inputs.iter().map(|p| identity(p)).collect();
    for (i, id) in ins.iter().enumerate() {
        if *id == Identity::Special {
            continue;
        }
        if let Some(j) = ins[..i].iter().position(|other| other == id) {
            let what = if *id == Identity::Std {
                "standard input (`-`) is given twice".to_string()
            } else {
                format!(
                    "input {} is the same file as input {}: a book given twice would be counted twice",
                    inputs[i].display(),
                    inputs[j].display()
                )
            };
            return Err(PathError::Clash(what));
        }
    }
    let outs: Vec<Identity> = outputs.iter().map(|(_, p)| identity(p)).collect();
    for (i, ((flag, path), id)) in outputs.iter().zip(&outs).enumerate() {
        if *id == Identity::Special {
            continue;
        }
        if *id != Identity::Std {
            if let Some(j) = ins.iter().position(|input| input == id) {
                return Err(PathError::Clash(format!(
                    "{flag} {} is the input {}: arrears never writes over its input",
                    path.display(),
                    inputs[j].display()
                )));
            }
        }
        if let Some(j) = outs[..i].iter().position(|other| other == id) {
            let (other, _) = outputs[j];
            return Err(PathError::Clash(if *id == Identity::Std {
                format!("{other} and {flag} both name standard output (`-`): one output at most may go there")
            } else {
                format!(
                    "{flag} {} is the same file as {other} {}: each output needs its own file",
                    path.display(),
                    outputs[j].1.display()
                )
            }));
        }
        if let Identity::Path(_) | Identity::Inode(..) = id {
            writable_directory(flag, path)?;
        }
    }
    Ok(())
}

/// The directory an output will be written in (where its temporary file
/// goes) exists and can be written.
fn writable_directory(flag: &str, path: &Path) -> Result<(), PathError> {
    let file = resolve(path).unwrap_or_else(|_| path.to_path_buf());
    let dir = match file.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let fail = |why: &str| {
        PathError::Unwritable(format!(
            "{flag} {}: {why}; nothing was written",
            path.display()
        ))
    };
    match std::fs::metadata(&dir) {
        Ok(meta) if meta.is_dir() => {}
        Ok(_) => return Err(fail(&format!("{} is not a directory", dir.display()))),
        Err(_) => {
            return Err(fail(&format!(
                "directory {} does not exist (create it first)",
                dir.display()
            )))
        }
    }
    if !access_writable(&dir) {
        return Err(fail(&format!(
            "directory {} is not writable",
            dir.display()
        )));
    }
    Ok(())
}

#[cfg(unix)]
fn access_writable(dir: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c) = std::ffi::CString::new(dir.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: a plain system call with a valid NUL-terminated path.
    unsafe { libc::access(c.as_ptr(), libc::W_OK | libc::X_OK) == 0 }
}

#[cfg(not(unix))]
fn access_writable(_: &Path) -> bool {
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("arrears-paths-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn an_output_may_not_be_an_input_or_another_output() {
        let dir = scratch("clash");
        let book = dir.join("book.csv");
        std::fs::write(&book, "x").unwrap();
        let other = dir.join("sub/../book.csv");
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        let ok = dir.join("out.csv");
        assert!(check(&[book.clone()], &[("-o", &ok)]).is_ok());
        let err = check(&[book.clone()], &[("-o", &ok), ("--rejects", &other)]).unwrap_err();
        assert!(matches!(err, PathError::Clash(_)), "{err}");
        assert!(err.to_string().contains("--rejects"), "{err}");
        // Two outputs not yet existing, by two spellings of one path.
        let err = check(
            &[book.clone()],
            &[("-o", &ok), ("--summary", &dir.join("./out.csv"))],
        )
        .unwrap_err();
        assert!(err.to_string().contains("--summary"), "{err}");
        // A symlink to the book is the book.
        let link = dir.join("link.csv");
        std::os::unix::fs::symlink(&book, &link).unwrap();
        assert!(check(&[book.clone()], &[("-o", &link)]).is_err());
        // The same book twice; stdout twice; /dev/null twice is fine.
        assert!(check(&[book.clone(), other.clone()], &[]).is_err());
        let dash = Path::new("-");
        assert!(check(&[], &[("-o", dash), ("--summary", dash)]).is_err());
        let null = Path::new("/dev/null");
        assert!(check(&[], &[("-o", null), ("--summary", null)]).is_ok());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_output_needs_an_existing_directory() {
        let dir = scratch("dir");
        let err = check(&[], &[("--summary", &dir.join("nowhere/s.csv"))]).unwrap_err();
        assert!(matches!(err, PathError::Unwritable(_)), "{err}");
        assert!(err.to_string().contains("does not exist"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
