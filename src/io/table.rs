//! Summary tables written out: a CSV or Parquet file (committed with the
//! run's other outputs), or an aligned text table for the terminal. The
//! tallies themselves are `arrears_core::summary`'s.

use std::io::Write;
use std::path::Path;

use unicode_width::UnicodeWidthStr;

use crate::error::{self, Error};
use crate::io::atomic::{AtomicFile, Finished};
use crate::io::output::Format;

/// Writes a summary table to `path`, finished but not yet committed (see
/// `atomic::commit_all`). Its first `keys` columns are group keys: text,
/// whatever their name.
pub fn write_file(
    path: &Path,
    format: Format,
    header: &[String],
    rows: &[Vec<String>],
    keys: usize,
) -> Result<Finished, Error> {
    match format {
        Format::Csv => {
            let mut file = AtomicFile::create(path)?;
            write_csv(&mut file, header, rows).map_err(|e| error::csv(path.display(), e))?;
            file.finish()
        }
        #[cfg(feature = "parquet")]
        Format::Parquet => {
            let columns = crate::io::output::Kind::columns(header, keys);
            crate::io::parquet::write_table(path, &columns, rows)
        }
        #[cfg(not(feature = "parquet"))]
        Format::Parquet => {
            let _ = keys;
            Err(Error::Header {
                path: path.display().to_string(),
                message: "this build of arrears has no Parquet support".into(),
            })
        }
    }
}

/// Where `write_file_with` sends the rows: each one as it is made.
pub type RowFn<'a> = dyn FnMut(Vec<String>) -> Result<(), Error> + 'a;

/// `write_file` for rows made one at a time: `fill` hands each row to the
/// function it is given, and only the row being written is held (a
/// summary by account has a row for nearly every few loans).
pub fn write_file_with(
    path: &Path,
    format: Format,
    header: &[String],
    keys: usize,
    fill: &mut dyn FnMut(&mut RowFn<'_>) -> Result<(), Error>,
) -> Result<Finished, Error> {
    match format {
        Format::Csv => {
            let mut file = AtomicFile::create(path)?;
            {
                let fail = |e| error::csv(path.display(), e);
                let mut w = csv::Writer::from_writer(&mut file);
                w.write_record(header).map_err(fail)?;
                fill(&mut |row| w.write_record(&row).map_err(fail))?;
                w.flush().map_err(|e| fail(e.into()))?;
            }
            file.finish()
        }
        #[cfg(feature = "parquet")]
        Format::Parquet => {
            let columns = crate::io::output::Kind::columns(header, keys);
            crate::io::parquet::write_table_with(path, &columns, fill)
        }
        #[cfg(not(feature = "parquet"))]
        Format::Parquet => {
            let _ = (keys, fill);
            Err(Error::Header {
                path: path.display().to_string(),
                message: "this build of arrears has no Parquet support".into(),
            })
        }
    }
}

/// Writes the summary as CSV.
pub fn write_csv<W: Write>(out: W, header: &[String], rows: &[Vec<String>]) -> csv::Result<()> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record(header)?;
    for row in rows {
        w.write_record(row)?;
    }
    w.flush()?;
    Ok(())
}

/// Writes the summary as an aligned table: keys left, figures right,
/// aligned by display width (a Chinese character takes two columns). Line
/// breaks inside a key print as `\n`, so every group stays on one line.
pub fn write_table<W: Write>(
    mut out: W,
    header: &[String],
    rows: &[Vec<String>],
    keys: usize,
) -> std::io::Result<()> {
    let one_line = |cell: &String| cell.replace('\r', "\\r").replace('\n', "\\n");
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|row| row.iter().map(one_line).collect())
        .collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.width()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.width());
        }
    }
    for row in std::iter::once(header).chain(rows.iter().map(Vec::as_slice)) {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(i, (cell, &w))| {
                let pad = " ".repeat(w - cell.width());
                if i < keys {
                    format!("{cell}{pad}")
                } else {
                    format!("{pad}{cell}")
                }
            })
            .collect();
        writeln!(out, "{}", cells.join("  ").trim_end())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_aligns_and_keeps_each_row_on_one_line() {
        let header = vec!["product".to_string(), "loans".to_string()];
        let rows = vec![
            vec!["multi\nline".to_string(), "1".to_string()],
            vec!["a".to_string(), "12".to_string()],
        ];
        let mut out = Vec::new();
        write_table(&mut out, &header, &rows, 1).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "product      loans\nmulti\\nline      1\na               12\n"
        );
    }

    #[test]
    fn wide_characters_take_two_columns() {
        let header = vec!["product".to_string(), "loans".to_string()];
        let rows = vec![
            vec!["消费贷".to_string(), "1".to_string()],
            vec!["a".to_string(), "12".to_string()],
        ];
        let mut out = Vec::new();
        write_table(&mut out, &header, &rows, 1).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "product  loans\n消费贷       1\na           12\n"
        );
    }
}
