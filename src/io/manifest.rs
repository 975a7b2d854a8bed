//! The manifest beside every results file (SPEC.md section 3): which
//! program, book and rules made it, so anyone can check a figure's origin
//! and rerun it. It is written after the outputs it lists, atomically like
//! them, and committed with them.

use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::io::atomic::{AtomicFile, Finished};
use crate::io::source::Digest;
use crate::policy::Policy;

/// `out/results.csv` -> `out/results.manifest.json`.
pub fn path_for(results: &Path) -> PathBuf {
    let stem = results
        .file_stem()
        .map_or_else(|| "results".into(), |s| s.to_string_lossy().into_owned());
    results.with_file_name(format!("{stem}.manifest.json"))
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub arrears_version: String,
    pub command: String,
    /// The command line, to rerun it.
    pub arguments: Vec<String>,
    /// The valuation date, ISO.
    pub as_of: String,
    /// When the run ended (UTC, RFC 3339); the one field a rerun changes.
    pub created: String,
    pub policy: PolicyRecord,
    pub inputs: Vec<Digest>,
    /// The payments files (`--repayments`), hashed whole after the run.
    #[serde(default)]
    pub repayments: Vec<Digest>,
    pub rows: Rows,
    pub outputs: Vec<Output>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PolicyRecord {
    pub name: String,
    /// The preset it is laid over (its own name for a preset).
    pub base: String,
    /// The policy file, when it came from one.
    pub file: Option<String>,
    /// The policy as resolved, as TOML: `arrears run --policy` takes it.
    pub resolved: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rows {
    pub read: u64,
    pub written: u64,
    pub rejected: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Output {
    /// What the file is: results, rejects, summary, ...
    pub role: String,
    pub name: String,
    pub size: u64,
    pub blake3: String,
}

impl Manifest {
    /// A manifest of a command's finished outputs (each with its role).
    pub fn new(
        command: &str,
        as_of: NaiveDate,
        policy: &Policy,
        inputs: Vec<Digest>,
        rows: Rows,
        outputs: &[(&str, &Finished)],
    ) -> Manifest {
        Manifest {
            arrears_version: env!("CARGO_PKG_VERSION").to_string(),
            command: command.to_string(),
            arguments: std::env::args().collect(),
            as_of: as_of.to_string(),
            created: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            policy: PolicyRecord {
                name: policy.name.clone(),
                base: policy.base.clone(),
                file: policy.file.clone(),
                resolved: policy.resolved.clone(),
            },
            inputs,
            repayments: Vec::new(),
            rows,
            outputs: outputs
                .iter()
                .map(|(role, f)| Output {
                    role: role.to_string(),
                    name: f.path().display().to_string(),
                    size: f.size,
                    blake3: f.blake3.clone(),
                })
                .collect(),
        }
    }

    /// Writes the manifest to `path`, finished but not yet committed.
    pub fn write(&self, path: &Path) -> Result<Finished, Error> {
        let mut file = AtomicFile::create(path)?;
        let mut text = serde_json::to_vec_pretty(self).map_err(|e| Error::Header {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        text.push(b'\n');
        std::io::Write::write_all(&mut file, &text).map_err(|e| Error::io(path.display(), e))?;
        file.finish()
    }

    /// The manifest beside a results file, if there is one.
    pub fn beside(results: &Path) -> Result<Option<Manifest>, Error> {
        let path = path_for(results);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io(path.display(), e)),
        };
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| Error::Header {
                path: path.display().to_string(),
                message: format!("not a manifest of arrears: {e}"),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifests_sit_beside_their_results() {
        assert_eq!(
            path_for(Path::new("out/r.csv")),
            PathBuf::from("out/r.manifest.json")
        );
        assert_eq!(
            path_for(Path::new("r.parquet")),
            PathBuf::from("r.manifest.json")
        );
    }
}
