//! Parquet through polars, on both ends (cargo feature `parquet`).
//!
//! In: a Parquet loan book is read in slices of rows; each value becomes the
//! text a CSV book would hold, so the rows go through the same validation,
//! rejects and arithmetic as CSV and give byte-identical results.
//!
//! Out: the CSV text the jobs format is turned into typed columns (`Kind`):
//! exact decimals, date32 dates, int64 counts, strings; an empty field is
//! null. Frames are built by the workers and written in row groups with
//! statistics and zstd, so memory stays flat on a book of any size.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDate};
use csv::{ByteRecord, Position};
use polars::io::parquet::read::ParquetReader;
use polars::io::parquet::write::{BatchedWriter, ParquetCompression, ParquetWriter, StatisticsOptions};
use polars::io::SerReader;
use polars::prelude::*;

use crate::atomic::AtomicFile;
use crate::error::Error;
use crate::output::Kind;
use crate::record::{ColKind, Layout};

/// Precision of every decimal column: money can reach 2^96 units (29
/// digits), so 18 digits would not hold every valid book.
pub const PRECISION: usize = 38;

/// Rows a Parquet book is read in at a time.
const READ_ROWS: usize = 65_536;

/// Rows per row group written.
pub const ROW_GROUP: usize = 131_072;

const EPOCH: NaiveDate = NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid date");

fn polars_error(name: impl std::fmt::Display, e: PolarsError) -> Error {
    Error::Header {
        path: name.to_string(),
        message: e.to_string(),
    }
}

/// One column of a slice, as the text of each row's field.
#[derive(Default)]
struct TextColumn {
    bytes: Vec<u8>,
    ends: Vec<usize>,
}

impl TextColumn {
    fn field(&self, row: usize) -> &[u8] {
        let start = if row == 0 { 0 } else { self.ends[row - 1] };
        &self.bytes[start..self.ends[row]]
    }

    fn end(&mut self) {
        self.ends.push(self.bytes.len());
    }
}

/// A Parquet loan book, read slice by slice.
pub struct BookReader {
    path: PathBuf,
    metadata: polars::io::parquet::metadata::FileMetadataRef,
    names: Vec<String>,
    dtypes: Vec<DataType>,
    rows: usize,
    next_row: usize,
    /// The columns read (the layout's), by index in the file.
    selected: Vec<usize>,
    texts: Vec<TextColumn>,
    at: usize,
    len: usize,
}

impl BookReader {
    pub fn open(path: &Path) -> Result<BookReader, Error> {
        let name = path.display().to_string();
        let file = File::open(path).map_err(|e| Error::io(&name, e))?;
        let mut reader = ParquetReader::new(file);
        let metadata = reader
            .get_metadata()
            .map_err(|e| polars_error(&name, e))?
            .clone();
        // An empty slice gives the schema as polars reads it.
        let empty = reader
            .with_slice(Some((0, 0)))
            .finish()
            .map_err(|e| polars_error(&name, e))?;
        let names = empty
            .get_column_names()
            .iter()
            .map(|n| n.to_string())
            .collect();
        let dtypes = empty.dtypes();
        Ok(BookReader {
            path: path.to_path_buf(),
            rows: metadata.num_rows,
            metadata,
            names,
            dtypes,
            next_row: 0,
            selected: Vec::new(),
            texts: Vec::new(),
            at: 0,
            len: 0,
        })
    }

    pub fn header(&self) -> ByteRecord {
        ByteRecord::from(self.names.clone())
    }

    /// Checks the types of the layout's columns: a wrong type is an error
    /// naming the column, before any output is written.
    pub fn check(&self, layout: &Layout) -> Result<(), Error> {
        for (col, index) in layout.columns() {
            let dtype = &self.dtypes[index];
            if !accepts(col.kind(), dtype) {
                let wanted = match col.kind() {
                    ColKind::Text => "text or integers",
                    ColKind::Number => "text, decimals, integers or floats",
                    ColKind::Date => "dates, naive timestamps or text",
                };
                return Err(Error::Header {
                    path: self.path.display().to_string(),
                    message: format!(
                        "column {:?} ({}) has type {dtype}; expected {wanted}",
                        self.names[index],
                        col.name()
                    ),
                });
            }
        }
        Ok(())
    }

    /// Reads only these columns (by index); the others read as empty.
    pub fn select(&mut self, columns: &[usize]) {
        self.selected = columns.to_vec();
        self.selected.sort_unstable();
        self.selected.dedup();
    }

    /// Progress: the share of rows read, in bytes of the file.
    pub fn progress(&self, size: u64) -> u64 {
        match self.rows {
            0 => size,
            rows => (size as f64 * (self.next_row - self.len + self.at) as f64 / rows as f64) as u64,
        }
    }

    /// The next row as CSV fields (columns not read are empty), with its
    /// row number (1 = the first row) as its line.
    pub fn read(&mut self, record: &mut ByteRecord) -> Result<bool, Error> {
        if self.at == self.len && !self.fill()? {
            return Ok(false);
        }
        record.clear();
        let mut next = self.selected.iter().zip(&self.texts).peekable();
        for index in 0..self.names.len() {
            match next.next_if(|(&i, _)| i == index) {
                Some((_, text)) => record.push_field(text.field(self.at)),
                None => record.push_field(b""),
            }
        }
        let row = (self.next_row - self.len + self.at) as u64 + 1;
        let mut position = Position::new();
        position.set_line(row).set_record(row);
        record.set_position(Some(position));
        self.at += 1;
        Ok(true)
    }

    /// Reads the next slice of rows; false at the end of the file.
    fn fill(&mut self) -> Result<bool, Error> {
        if self.next_row >= self.rows {
            return Ok(false);
        }
        let name = self.path.display().to_string();
        let file = File::open(&self.path).map_err(|e| Error::io(&name, e))?;
        let mut reader = ParquetReader::new(file);
        reader.set_metadata(self.metadata.clone());
        let frame = reader
            .with_projection(Some(self.selected.clone()))
            .with_slice(Some((self.next_row, READ_ROWS)))
            .finish()
            .map_err(|e| polars_error(&name, e))?;
        self.texts = frame
            .columns()
            .iter()
            .map(|c| texts(c.as_materialized_series()))
            .collect::<PolarsResult<_>>()
            .map_err(|e| polars_error(&name, e))?;
        self.len = frame.height();
        self.at = 0;
        self.next_row += self.len;
        Ok(self.len > 0)
    }
}

/// Whether a column of type `dtype` can hold an input column of `kind`.
fn accepts(kind: ColKind, dtype: &DataType) -> bool {
    use DataType::*;
    let integer = dtype.is_integer();
    match kind {
        ColKind::Text => integer || matches!(dtype, String | Null),
        ColKind::Number => {
            integer || matches!(dtype, String | Null | Decimal(..) | Float32 | Float64)
        }
        ColKind::Date => matches!(dtype, String | Null | Date | Datetime(_, None)),
    }
}

/// A column's values as CSV field text: decimals without trailing zeros,
/// floats in their shortest exact form, dates ISO, timestamps as dates when
/// they fall at midnight (else with their time, which the date parser
/// ignores, as it does in a CSV book), nulls empty.
fn texts(series: &Series) -> PolarsResult<TextColumn> {
    let mut out = TextColumn::default();
    macro_rules! each {
        ($ca:expr, $push:expr) => {
            for value in $ca.iter() {
                if let Some(v) = value {
                    $push(&mut out.bytes, v);
                }
                out.end();
            }
        };
    }
    match series.dtype() {
        DataType::String => each!(series.str()?, |b: &mut Vec<u8>, v: &str| b
            .extend_from_slice(v.as_bytes())),
        DataType::Decimal(_, scale) => {
            let scale = *scale as u32;
            each!(series.decimal()?.physical(), |b: &mut Vec<u8>, v: i128| {
                push_decimal(b, v, scale)
            })
        }
        DataType::Float32 => each!(series.f32()?, |b: &mut Vec<u8>, v: f32| {
            let _ = write!(b, "{v}");
        }),
        DataType::Float64 => each!(series.f64()?, |b: &mut Vec<u8>, v: f64| {
            let _ = write!(b, "{v}");
        }),
        DataType::UInt64 => each!(series.u64()?, |b: &mut Vec<u8>, v: u64| {
            let _ = write!(b, "{v}");
        }),
        DataType::Date => each!(series.date()?.physical(), |b: &mut Vec<u8>, v: i32| {
            let date = EPOCH + chrono::Duration::days(i64::from(v));
            let _ = write!(b, "{date}");
        }),
        DataType::Datetime(unit, _) => {
            let per_second: i64 = match unit {
                TimeUnit::Milliseconds => 1_000,
                TimeUnit::Microseconds => 1_000_000,
                TimeUnit::Nanoseconds => 1_000_000_000,
            };
            each!(series.datetime()?.physical(), |b: &mut Vec<u8>, v: i64| {
                let seconds = v.div_euclid(per_second);
                let nanos = (v.rem_euclid(per_second) * (1_000_000_000 / per_second)) as u32;
                match DateTime::from_timestamp(seconds, nanos).map(|t| t.naive_utc()) {
                    Some(t) if t.time() == chrono::NaiveTime::MIN => {
                        let _ = write!(b, "{}", t.date());
                    }
                    Some(t) => {
                        let _ = write!(b, "{}", t.format("%Y-%m-%dT%H:%M:%S%.f"));
                    }
                    None => b.extend_from_slice(b"out of range"),
                }
            })
        }
        DataType::Null => (0..series.len()).for_each(|_| out.end()),
        dtype if dtype.is_integer() => {
            let wide = series.cast(&DataType::Int64)?;
            each!(wide.i64()?, |b: &mut Vec<u8>, v: i64| {
                let _ = write!(b, "{v}");
            })
        }
        dtype => polars_bail!(ComputeError: "unsupported type {dtype}"),
    }
    Ok(out)
}

/// Appends the decimal `units` / 10^scale, trailing fractional zeros removed.
fn push_decimal(out: &mut Vec<u8>, units: i128, scale: u32) {
    let mut units = units;
    let mut scale = scale;
    while scale > 0 && units % 10 == 0 {
        units /= 10;
        scale -= 1;
    }
    let digits = units.unsigned_abs().to_string();
    if units < 0 {
        out.push(b'-');
    }
    let scale = scale as usize;
    if digits.len() <= scale {
        out.extend_from_slice(b"0.");
        out.extend(std::iter::repeat_n(b'0', scale - digits.len()));
        out.extend_from_slice(digits.as_bytes());
    } else {
        let (int, frac) = digits.split_at(digits.len() - scale);
        out.extend_from_slice(int.as_bytes());
        if scale > 0 {
            out.push(b'.');
            out.extend_from_slice(frac.as_bytes());
        }
    }
}

/// The polars type of an output column.
fn dtype(kind: Kind) -> DataType {
    match kind {
        Kind::Text => DataType::String,
        Kind::Money | Kind::Rate | Kind::Ratio => {
            DataType::Decimal(PRECISION, kind.scale().unwrap_or(0) as usize)
        }
        Kind::Date => DataType::Date,
        Kind::Count => DataType::Int64,
    }
}

/// The schema of a table whose columns are `(name, kind)`.
pub fn schema(columns: &[(String, Kind)]) -> Schema {
    columns
        .iter()
        .map(|(name, kind)| Field::new(name.into(), dtype(*kind)))
        .collect()
}

enum Builder {
    Text(StringChunkedBuilder),
    Decimal(Vec<Option<i128>>, u32),
    Date(Vec<Option<i32>>),
    Count(Vec<Option<i64>>),
}

/// Builds a typed frame from rows of CSV field text.
pub struct FrameBuilder {
    names: Vec<String>,
    builders: Vec<Builder>,
    rows: usize,
}

impl FrameBuilder {
    pub fn new(columns: &[(String, Kind)]) -> FrameBuilder {
        let builders = columns
            .iter()
            .map(|(name, kind)| match kind {
                Kind::Text => Builder::Text(StringChunkedBuilder::new(name.into(), 1024)),
                Kind::Date => Builder::Date(Vec::new()),
                Kind::Count => Builder::Count(Vec::new()),
                decimal => Builder::Decimal(Vec::new(), decimal.scale().unwrap_or(0)),
            })
            .collect();
        FrameBuilder {
            names: columns.iter().map(|(n, _)| n.clone()).collect(),
            builders,
            rows: 0,
        }
    }

    /// Adds one row; a field that does not read as its column's type is an
    /// error naming the column and the value.
    pub fn push<'f>(&mut self, fields: impl IntoIterator<Item = &'f [u8]>) -> Result<(), String> {
        let mut count = 0;
        for (i, field) in fields.into_iter().enumerate() {
            let builder = self
                .builders
                .get_mut(i)
                .ok_or_else(|| format!("row has more than {} fields", self.names.len()))?;
            let text = std::str::from_utf8(field).map_err(|e| e.to_string())?;
            let bad = |why: &str| format!("column {}: {text:?}: {why}", self.names[i]);
            match builder {
                Builder::Text(b) if text.is_empty() => b.append_null(),
                Builder::Text(b) => b.append_value(text),
                _ if text.is_empty() => builder.push_null(),
                Builder::Decimal(values, scale) => {
                    values.push(Some(decimal_units(text, *scale).ok_or_else(|| bad("not a decimal"))?))
                }
                Builder::Date(values) => {
                    let date = NaiveDate::parse_from_str(text, "%Y-%m-%d")
                        .map_err(|_| bad("not a date"))?;
                    values.push(Some((date - EPOCH).num_days() as i32));
                }
                Builder::Count(values) => {
                    values.push(Some(text.parse().map_err(|_| bad("not an integer"))?))
                }
            }
            count += 1;
        }
        if count != self.names.len() {
            return Err(format!("row has {count} fields, not {}", self.names.len()));
        }
        self.rows += 1;
        Ok(())
    }

    /// Adds every row of a CSV text (no header).
    pub fn push_csv(&mut self, text: &[u8]) -> Result<(), String> {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .from_reader(text);
        let mut record = ByteRecord::new();
        while reader.read_byte_record(&mut record).map_err(|e| e.to_string())? {
            self.push(record.iter())?;
        }
        Ok(())
    }

    pub fn finish(self) -> DataFrame {
        let columns = self
            .names
            .iter()
            .zip(self.builders)
            .map(|(name, builder)| {
                let name: PlSmallStr = name.into();
                let series = match builder {
                    Builder::Text(b) => b.finish().into_series(),
                    Builder::Decimal(values, scale) => {
                        Int128Chunked::from_iter_options(name.clone(), values.into_iter())
                            .into_decimal_unchecked(PRECISION, scale as usize)
                            .into_series()
                    }
                    Builder::Date(values) => {
                        Int32Chunked::from_iter_options(name.clone(), values.into_iter())
                            .into_date()
                            .into_series()
                    }
                    Builder::Count(values) => {
                        Int64Chunked::from_iter_options(name.clone(), values.into_iter())
                            .into_series()
                    }
                };
                series.with_name(name).into_column()
            })
            .collect();
        DataFrame::new(self.rows, columns).expect("columns of one height")
    }
}

impl Builder {
    fn push_null(&mut self) {
        match self {
            Builder::Text(b) => b.append_null(),
            Builder::Decimal(values, _) => values.push(None),
            Builder::Date(values) => values.push(None),
            Builder::Count(values) => values.push(None),
        }
    }
}

/// `text` as an integer of `scale` decimals, when it has no more decimals
/// than that (what arrears prints always fits).
fn decimal_units(text: &str, scale: u32) -> Option<i128> {
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    if int.is_empty() || frac.len() > scale as usize {
        return None;
    }
    let mut units: i128 = 0;
    for b in int.bytes().chain(frac.bytes()) {
        if !b.is_ascii_digit() {
            return None;
        }
        units = units.checked_mul(10)?.checked_add(i128::from(b - b'0'))?;
    }
    units = units.checked_mul(10i128.checked_pow(scale - frac.len() as u32)?)?;
    Some(if negative { -units } else { units })
}

/// A Parquet output being written: frames gather into row groups of
/// `ROW_GROUP` rows, each written when full.
pub struct ParquetSink<'a> {
    writer: BatchedWriter<&'a mut AtomicFile>,
    pending: Vec<DataFrame>,
    rows: usize,
    path: String,
}

impl<'a> ParquetSink<'a> {
    pub fn new(file: &'a mut AtomicFile, columns: &[(String, Kind)]) -> Result<ParquetSink<'a>, Error> {
        let path = file.path().display().to_string();
        let writer = ParquetWriter::new(file)
            .with_compression(ParquetCompression::Zstd(None))
            .with_statistics(StatisticsOptions::full())
            .with_row_group_size(Some(ROW_GROUP))
            .batched(&schema(columns))
            .map_err(|e| polars_error(&path, e))?;
        Ok(ParquetSink {
            writer,
            pending: Vec::new(),
            rows: 0,
            path,
        })
    }

    pub fn push(&mut self, frame: DataFrame) -> Result<(), Error> {
        if frame.height() == 0 {
            return Ok(());
        }
        self.rows += frame.height();
        self.pending.push(frame);
        while self.rows >= ROW_GROUP {
            let group = self.take(ROW_GROUP)?;
            self.write(group)?;
        }
        Ok(())
    }

    /// The first `n` pending rows as one frame. Row groups are cut at
    /// exactly `ROW_GROUP` rows, so the file does not depend on how the
    /// rows were batched (thread count, batch size).
    fn take(&mut self, n: usize) -> Result<DataFrame, Error> {
        let mut frames = std::mem::take(&mut self.pending).into_iter();
        let mut group = frames.next().expect("rows are pending");
        for frame in frames {
            group
                .vstack_mut_owned(frame)
                .map_err(|e| polars_error(&self.path, e))?;
        }
        if group.height() > n {
            self.pending.push(group.slice(n as i64, group.height() - n));
            group = group.slice(0, n);
        }
        self.rows -= group.height();
        Ok(group)
    }

    fn write(&mut self, mut group: DataFrame) -> Result<(), Error> {
        group.rechunk_mut();
        self.writer
            .write_batch(&group)
            .map_err(|e| polars_error(&self.path, e))
    }

    /// Writes what is pending and the footer.
    pub fn finish(mut self) -> Result<(), Error> {
        if self.rows > 0 {
            let group = self.take(self.rows)?;
            self.write(group)?;
        }
        self.writer
            .finish()
            .map(|_| ())
            .map_err(|e| polars_error(&self.path, e))
    }
}

/// Writes a whole table (a summary) as Parquet, atomically.
pub fn write_table(path: &Path, columns: &[(String, Kind)], rows: &[Vec<String>]) -> Result<(), Error> {
    let name = path.display().to_string();
    let mut builder = FrameBuilder::new(columns);
    for row in rows {
        builder
            .push(row.iter().map(|f| f.as_bytes()))
            .map_err(|message| Error::Header {
                path: name.clone(),
                message,
            })?;
    }
    let mut file = AtomicFile::create(path)?;
    let mut sink = ParquetSink::new(&mut file, columns)?;
    sink.push(builder.finish())?;
    sink.finish()?;
    file.commit()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_print_without_trailing_zeros() {
        for (units, scale, text) in [
            (12340, 2, "123.4"),
            (12300, 2, "123"),
            (5, 4, "0.0005"),
            (-150, 2, "-1.5"),
            (0, 2, "0"),
            (7, 0, "7"),
        ] {
            let mut out = Vec::new();
            push_decimal(&mut out, units, scale);
            assert_eq!(String::from_utf8(out).unwrap(), text);
        }
    }

    #[test]
    fn decimal_text_reads_exactly() {
        assert_eq!(decimal_units("123.45", 2), Some(12345));
        assert_eq!(decimal_units("123.4", 2), Some(12340));
        assert_eq!(decimal_units("0.0004931507", 10), Some(4_931_507));
        assert_eq!(decimal_units("-0.50", 2), Some(-50));
        assert_eq!(decimal_units("1.005", 2), None, "never rounds");
        assert_eq!(decimal_units("1e3", 2), None);
        assert_eq!(decimal_units(".5", 2), None);
    }

    #[test]
    fn frames_are_typed_and_empty_is_null() {
        let columns: Vec<(String, Kind)> = ["loan_id", "principal", "due_date", "days_overdue"]
            .iter()
            .map(|n| (n.to_string(), Kind::of(n)))
            .collect();
        let mut b = FrameBuilder::new(&columns);
        b.push_csv(b"L1,100.50,2025-06-30,3\n\"L,2\",,,\n").unwrap();
        let df = b.finish();
        assert_eq!(df.height(), 2);
        assert_eq!(
            df.dtypes(),
            vec![
                DataType::String,
                DataType::Decimal(38, 2),
                DataType::Date,
                DataType::Int64
            ]
        );
        assert_eq!(df.column("loan_id").unwrap().str().unwrap().get(1), Some("L,2"));
        assert_eq!(df.column("principal").unwrap().null_count(), 1);
        let err = FrameBuilder::new(&columns)
            .push_csv(b"L1,abc,2025-06-30,3\n")
            .unwrap_err();
        assert!(err.contains("principal") && err.contains("abc"), "{err}");
    }
}
