//! Errors that stop a run. Each names the file and, where there is one, the
//! line, column and value. A bad row is not an error: it is a reject (see
//! `record::Reject`) and the run goes on.

use std::io;

#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("policy {path}: {message}")]
    Read { path: String, message: String },
    #[error("policy {path}: {message}")]
    Syntax { path: String, message: String },
    #[error("policy {path}: field `{field}`: {reason}")]
    Invalid {
        path: String,
        field: String,
        reason: String,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Policy(#[from] PolicyError),
    /// The cause is printed here and not chained as a `source`, so that
    /// `{:#}` prints it once.
    #[error("{path}: {cause}")]
    Io { path: String, cause: io::Error },
    #[error("{path}: line {line}: {message}")]
    Csv {
        path: String,
        line: u64,
        message: String,
    },
    #[error("{path}: missing required column(s): {missing}; columns found: {found}")]
    MissingColumns {
        path: String,
        missing: String,
        found: String,
    },
    #[error("{path}: {message}")]
    Header { path: String, message: String },
    /// A Parquet file that could not be read or written.
    #[error("{path}: Parquet: {message}")]
    Parquet { path: String, message: String },
    #[error(transparent)]
    Overflow(#[from] crate::money::SumOverflow),
}

impl Error {
    pub fn io(path: impl std::fmt::Display, source: io::Error) -> Error {
        Error::Io {
            path: path.to_string(),
            cause: source,
        }
    }
}
