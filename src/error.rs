//! The errors that stop a run are the core's (`arrears_core::error`); a csv
//! crate error becomes one here, with the line it names.

pub use arrears_core::error::*;

/// Converts a csv crate error, keeping the line it names.
pub fn csv(path: impl std::fmt::Display, err: csv::Error) -> Error {
    let line = err.position().map_or(0, |p| p.line());
    match err.into_kind() {
        csv::ErrorKind::Io(source) => Error::io(path, source),
        kind => Error::Csv {
            path: path.to_string(),
            line,
            message: format!("{kind:?}"),
        },
    }
}
