//! Parquet through polars, on both ends (cargo feature `parquet`).
//!
//! In: a Parquet loan book is read in slices of rows; each value becomes the
//! text a CSV book would hold, so the rows go through the same validation,
//! rejects and arithmetic as CSV and give byte-identical results.
//!
//! Out: jobs write their rows through `RowSink` straight into typed
//! `Columns` (exact decimals, date32 dates, int64 counts, strings; an empty
//! field is null), the same values the CSV writer prints. The writer
//! gathers the workers' chunks into row groups of exactly `ROW_GROUP` rows,
//! written with statistics and zstd, so memory stays flat on a book of any
//! size and the file's bytes never depend on the thread count.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use csv::{ByteRecord, Position};
use polars::io::parquet::read::ParquetReader;
use polars::io::parquet::write::{
    get_encodings, BatchedWriter, KeyValueMetadata, ParquetCompression, ParquetWriter,
    StatisticsOptions,
};
use polars::io::SerReader;
use polars::prelude::*;
use polars_parquet::write::{
    array_to_columns, compress, schema_to_metadata_key, CompressedPage, Encoding, ParquetType,
    Version, WriteOptions, ZstdLevel,
};
use rayon::prelude::*;
use rust_decimal::Decimal;

use crate::error::Error;
use crate::io::atomic::AtomicFile;
use crate::io::output::{Kind, RowSink};
use crate::money::Money;
use crate::record::{ColKind, Layout};
use arrears_core::values::{self, decimal_units, push_decimal, units};

/// Precision of the decimal columns by default: 18 digits, stored as
/// INT64 in the file (8 bytes a value, integer statistics), as analysts'
/// tools write money. A value of more digits (money of 10^16 or more) fails
/// the run rather than lose a digit (`ParquetSink::write`), and the run can
/// be repeated with `--wide-decimals`.
pub const PRECISION: usize = 18;

/// Precision with `--wide-decimals`: money can reach 2^96 units (29
/// digits), and decimal(38, s) (16-byte values) holds every valid book.
pub const WIDE_PRECISION: usize = 38;

/// Whether this process writes wide decimals (`--wide-decimals`): decided
/// once, from the command line, before any output is written, so every
/// Parquet file of a run has one type per column whatever its values.
static WIDE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Chooses the decimal width of every Parquet output of this process.
pub fn set_wide_decimals(wide: bool) {
    WIDE.store(wide, std::sync::atomic::Ordering::Relaxed);
}

/// The precision of every decimal column written.
pub fn precision() -> usize {
    match WIDE.load(std::sync::atomic::Ordering::Relaxed) {
        true => WIDE_PRECISION,
        false => PRECISION,
    }
}

/// The largest magnitude `precision` digits hold, in units.
fn max_units(precision: usize) -> u128 {
    10u128.pow(precision as u32) - 1
}

/// Rows a Parquet book is read in at a time.
const READ_ROWS: usize = 32_768;

/// Rows per row group written.
pub const ROW_GROUP: usize = 32_768;

const EPOCH: NaiveDate = NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid date");

fn polars_error(name: impl std::fmt::Display, e: PolarsError) -> Error {
    Error::Parquet {
        path: name.to_string(),
        message: e.to_string(),
    }
}

/// A column of text fields, back to back: a slice of a Parquet book as
/// CSV field text, or a text column being written. Offsets are 32-bit: a
/// slice or row group holds far less than 4 GiB of text.
#[derive(Debug, Default)]
struct TextColumn {
    bytes: Vec<u8>,
    ends: Vec<u32>,
}

impl TextColumn {
    fn len(&self) -> usize {
        self.ends.len()
    }

    fn field(&self, row: usize) -> &[u8] {
        let start = if row == 0 { 0 } else { self.ends[row - 1] };
        &self.bytes[start as usize..self.ends[row] as usize]
    }

    /// Ends the field whose bytes were appended to `bytes`.
    fn end(&mut self) {
        self.ends.push(self.bytes.len() as u32);
    }

    /// Appends fields `from..to` of `other`: their bytes in one copy.
    fn append(&mut self, other: &TextColumn, from: usize, to: usize) {
        if from >= to {
            return;
        }
        let start = if from == 0 { 0 } else { other.ends[from - 1] };
        let base = self.bytes.len() as u32;
        self.bytes
            .extend_from_slice(&other.bytes[start as usize..other.ends[to - 1] as usize]);
        self.ends
            .extend(other.ends[from..to].iter().map(|&end| base + (end - start)));
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
        let columns: Vec<(ColKind, usize, &str)> = layout
            .columns()
            .map(|(col, index)| (col.kind(), index, col.name()))
            .collect();
        self.check_columns(&columns)
    }

    /// Checks the types of columns given as (kind, index, canonical name).
    pub fn check_columns(&self, columns: &[(ColKind, usize, &str)]) -> Result<(), Error> {
        for &(kind, index, name) in columns {
            let dtype = &self.dtypes[index];
            if !accepts(kind, dtype) {
                let wanted = match kind {
                    ColKind::Text => "text, categories or integers",
                    ColKind::Number => "text, decimals, integers or floats",
                    ColKind::Date => "dates, naive timestamps or text",
                };
                return Err(Error::Header {
                    path: self.path.display().to_string(),
                    message: format!(
                        "column {:?} ({name}) has type {dtype}; expected {wanted}",
                        self.names[index],
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

    /// Rows handed out so far.
    fn rows_read(&self) -> usize {
        self.next_row - self.len + self.at
    }

    /// Progress: the share of rows read, in bytes of the file.
    pub fn progress(&self, size: u64) -> u64 {
        match self.rows {
            0 => size,
            rows => (size as f64 * self.rows_read() as f64 / rows as f64) as u64,
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
        let row = self.rows_read() as u64 + 1;
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
        self.len = frame.height();
        // Each column is dropped once it is text, so the slice is not held
        // twice over.
        self.texts = frame
            .into_columns()
            .into_iter()
            .map(|c| texts(c.as_materialized_series()))
            .collect::<PolarsResult<_>>()
            .map_err(|e| polars_error(&name, e))?;
        self.at = 0;
        self.next_row += self.len;
        Ok(self.len > 0)
    }
}

/// A categorical or enum column (pandas' `category`): read as its text.
fn categorical(dtype: &DataType) -> bool {
    !dtype.is_nested() && (dtype.contains_categoricals() || dtype.contains_enums())
}

/// Whether a column of type `dtype` can hold an input column of `kind`.
fn accepts(kind: ColKind, dtype: &DataType) -> bool {
    use DataType::*;
    if categorical(dtype) {
        return true;
    }
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
        DataType::Float32 => each!(series.f32()?, values::push_f32),
        DataType::Float64 => each!(series.f64()?, values::push_f64),
        DataType::UInt64 => each!(series.u64()?, |b: &mut Vec<u8>, v: u64| {
            let _ = write!(b, "{v}");
        }),
        DataType::Date => each!(series.date()?.physical(), values::push_date32),
        DataType::Datetime(unit, _) => {
            let per_second: i64 = match unit {
                TimeUnit::Milliseconds => 1_000,
                TimeUnit::Microseconds => 1_000_000,
                TimeUnit::Nanoseconds => 1_000_000_000,
            };
            each!(series.datetime()?.physical(), |b: &mut Vec<u8>, v: i64| {
                values::push_timestamp(b, v, per_second)
            })
        }
        DataType::Null => (0..series.len()).for_each(|_| out.end()),
        dtype if categorical(dtype) => return texts(&series.cast(&DataType::String)?),
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

/// The polars type of an output column.
fn dtype(kind: Kind) -> DataType {
    match kind {
        Kind::Text => DataType::String,
        Kind::Money | Kind::Rate | Kind::Ratio => {
            DataType::Decimal(precision(), kind.scale().unwrap_or(0) as usize)
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

/// One column's values, compact and appendable.
enum Values {
    /// Valid UTF-8; an empty field is null.
    Text(TextColumn),
    Decimal {
        units: Vec<i128>,
        valid: Vec<bool>,
        scale: u32,
    },
    Date {
        days: Vec<i32>,
        valid: Vec<bool>,
    },
    Count {
        values: Vec<i64>,
        valid: Vec<bool>,
    },
}

impl Values {
    /// Room for `rows` values, so that filling a row group does not copy
    /// its columns again and again as they grow.
    fn new(kind: Kind, rows: usize) -> Values {
        match kind {
            Kind::Text => Values::Text(TextColumn {
                bytes: Vec::with_capacity(rows * 8),
                ends: Vec::with_capacity(rows),
            }),
            Kind::Date => Values::Date {
                days: Vec::with_capacity(rows),
                valid: Vec::with_capacity(rows),
            },
            Kind::Count => Values::Count {
                values: Vec::with_capacity(rows),
                valid: Vec::with_capacity(rows),
            },
            decimal => Values::Decimal {
                units: Vec::with_capacity(rows),
                valid: Vec::with_capacity(rows),
                scale: decimal.scale().unwrap_or(0),
            },
        }
    }

    /// Reads one field; `Err` says why it is not of the column's type.
    fn push(&mut self, text: &str) -> Result<(), &'static str> {
        fn put<T: Default>(values: &mut Vec<T>, valid: &mut Vec<bool>, value: Option<T>) {
            valid.push(value.is_some());
            values.push(value.unwrap_or_default());
        }
        match self {
            Values::Text(column) => {
                column.bytes.extend_from_slice(text.as_bytes());
                column.end();
            }
            Values::Decimal { units, valid, .. } if text.is_empty() => put(units, valid, None),
            Values::Decimal {
                units,
                valid,
                scale,
            } => {
                let value = decimal_units(text, *scale).ok_or("not a decimal")?;
                put(units, valid, Some(value));
            }
            Values::Date { days, valid } if text.is_empty() => put(days, valid, None),
            Values::Date { days, valid } => {
                let date = crate::parse::date(text).map_err(|_| "not a date")?;
                put(days, valid, Some((date - EPOCH).num_days() as i32));
            }
            Values::Count { values, valid } if text.is_empty() => put(values, valid, None),
            Values::Count { values, valid } => {
                let value = text.parse().map_err(|_| "not an integer")?;
                put(values, valid, Some(value));
            }
        }
        Ok(())
    }

    /// Appends rows `from..to` of `other`, a column of the same type.
    fn append(&mut self, other: &Values, from: usize, to: usize) {
        match (self, other) {
            (Values::Text(column), Values::Text(other)) => column.append(other, from, to),
            (
                Values::Decimal { units, valid, .. },
                Values::Decimal {
                    units: u, valid: v, ..
                },
            ) => {
                units.extend_from_slice(&u[from..to]);
                valid.extend_from_slice(&v[from..to]);
            }
            (Values::Date { days, valid }, Values::Date { days: d, valid: v }) => {
                days.extend_from_slice(&d[from..to]);
                valid.extend_from_slice(&v[from..to]);
            }
            (
                Values::Count { values, valid },
                Values::Count {
                    values: c,
                    valid: v,
                },
            ) => {
                values.extend_from_slice(&c[from..to]);
                valid.extend_from_slice(&v[from..to]);
            }
            _ => unreachable!("columns of one schema"),
        }
    }

    fn into_series(self, name: PlSmallStr) -> Series {
        let validity = |valid: Vec<bool>| {
            let bitmap = polars_arrow::bitmap::Bitmap::from_iter(valid);
            (bitmap.unset_bits() > 0).then_some(bitmap)
        };
        match self {
            Values::Text(column) => {
                let mut b = StringChunkedBuilder::new(name, column.len());
                // Every field was pushed as a whole `str`, so the bytes are
                // checked once, not field by field; `get` still checks
                // that a field starts and ends on a character boundary.
                let text = std::str::from_utf8(&column.bytes).unwrap_or("");
                let mut start = 0;
                for &end in &column.ends {
                    match text.get(start..end as usize) {
                        Some("") | None => b.append_null(),
                        Some(field) => b.append_value(field),
                    }
                    start = end as usize;
                }
                b.finish().into_series()
            }
            Values::Decimal {
                units,
                valid,
                scale,
            } => Int128Chunked::from_vec_validity(name, units, validity(valid))
                .into_decimal_unchecked(precision(), scale as usize)
                .into_series(),
            Values::Date { days, valid } => {
                Int32Chunked::from_vec_validity(name, days, validity(valid))
                    .into_date()
                    .into_series()
            }
            Values::Count { values, valid } => {
                Int64Chunked::from_vec_validity(name, values, validity(valid)).into_series()
            }
        }
    }
}

impl Values {
    /// The column as the Arrow array its pages are encoded from. A decimal
    /// of at most 18 digits goes out as the INT64 it is stored as (checked
    /// to fit first: `Columns::too_wide`), so polars-parquet encodes plain
    /// integers (integer statistics, a min-max dictionary decision) instead
    /// of 16-byte values and a cardinality estimate of them.
    fn into_array(self, name: PlSmallStr) -> Box<dyn polars_arrow::array::Array> {
        use polars_arrow::array::PrimitiveArray;
        use polars_arrow::datatypes::ArrowDataType;
        match self {
            Values::Decimal { units, valid, .. } if precision() <= PRECISION => {
                let narrow: Vec<i64> = units.iter().map(|&u| u as i64).collect();
                let bitmap = polars_arrow::bitmap::Bitmap::from_iter(valid);
                let validity = (bitmap.unset_bits() > 0).then_some(bitmap);
                Box::new(PrimitiveArray::<i64>::new(
                    ArrowDataType::Int64,
                    narrow.into(),
                    validity,
                ))
            }
            Values::Text(column) => match text_dictionary(&column) {
                Some(dictionary) => dictionary,
                None => Values::Text(column)
                    .into_series(name)
                    .rechunk()
                    .to_arrow(0, CompatLevel::newest()),
            },
            values => values
                .into_series(name)
                .rechunk()
                .to_arrow(0, CompatLevel::newest()),
        }
    }
}

/// Most distinct values of a text column encoded through `text_dictionary`.
const DICTIONARY_VALUES: usize = 32;

/// A text column of at most `DICTIONARY_VALUES` distinct values (product,
/// region, currency, status, bucket, classification, the caps: all but the
/// ids) as the dictionary array polars-parquet would make of it: values in
/// order of first appearance, keys `u32`, an empty field null. Its pages
/// are then the same bytes, without polars' cardinality estimate and hash
/// table over every value (a tenth of a Parquet run's work); `None` for
/// any other column, which polars encodes as before.
fn text_dictionary(column: &TextColumn) -> Option<Box<dyn polars_arrow::array::Array>> {
    use polars_arrow::array::{DictionaryArray, PrimitiveArray, Utf8ViewArray};
    use polars_arrow::datatypes::{ArrowDataType, IntegerType};
    let mut values: Vec<&[u8]> = Vec::with_capacity(DICTIONARY_VALUES);
    let mut keys: Vec<u32> = Vec::with_capacity(column.len());
    let mut valid: Vec<bool> = Vec::with_capacity(column.len());
    let mut start = 0;
    for &end in &column.ends {
        let field = &column.bytes[start..end as usize];
        start = end as usize;
        if field.is_empty() {
            keys.push(0);
            valid.push(false);
            continue;
        }
        let key = match values.iter().position(|v| *v == field) {
            Some(key) => key,
            None if values.len() < DICTIONARY_VALUES => {
                values.push(field);
                values.len() - 1
            }
            None => return None,
        };
        keys.push(key as u32);
        valid.push(true);
    }
    if values.is_empty() {
        return None;
    }
    let texts = values
        .iter()
        .map(|v| std::str::from_utf8(v).ok())
        .collect::<Option<Vec<&str>>>()?;
    let bitmap = polars_arrow::bitmap::Bitmap::from_iter(valid);
    let validity = (bitmap.unset_bits() > 0).then_some(bitmap);
    let keys = PrimitiveArray::<u32>::new(ArrowDataType::UInt32, keys.into(), validity);
    let dtype = ArrowDataType::Dictionary(
        IntegerType::UInt32,
        Box::new(ArrowDataType::Utf8View),
        false,
    );
    let values = Utf8ViewArray::from_slice_values(texts);
    DictionaryArray::<u32>::try_new(dtype, keys, Box::new(values))
        .ok()
        .map(|array| Box::new(array) as Box<dyn polars_arrow::array::Array>)
}

/// Rows of typed columns, built from CSV field text: the workers build
/// them for each chunk, the writer gathers them into row groups.
pub struct Columns {
    names: Vec<String>,
    values: Vec<Values>,
    rows: usize,
    /// The next field of the row being written (`RowSink`).
    at: usize,
}

impl Columns {
    pub fn new(columns: &[(String, Kind)]) -> Columns {
        Columns::with_capacity(columns, 0)
    }

    /// Columns with room for `rows` rows.
    pub fn with_capacity(columns: &[(String, Kind)], rows: usize) -> Columns {
        Columns {
            names: columns.iter().map(|(n, _)| n.clone()).collect(),
            values: columns
                .iter()
                .map(|(_, kind)| Values::new(*kind, rows))
                .collect(),
            rows: 0,
            at: 0,
        }
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Adds one row; a field that does not read as its column's type is an
    /// error naming the column and the value.
    pub fn push<'f>(&mut self, fields: impl IntoIterator<Item = &'f [u8]>) -> Result<(), String> {
        let mut count = 0;
        for (i, field) in fields.into_iter().enumerate() {
            let values = self
                .values
                .get_mut(i)
                .ok_or_else(|| format!("row has more than {} fields", self.names.len()))?;
            let text = std::str::from_utf8(field).map_err(|e| e.to_string())?;
            values
                .push(text)
                .map_err(|why| format!("column {}: {text:?}: {why}", self.names[i]))?;
            count += 1;
        }
        if count != self.names.len() {
            return Err(format!("row has {count} fields, not {}", self.names.len()));
        }
        self.rows += 1;
        Ok(())
    }

    /// The first value of a decimal column that `precision` digits do not
    /// hold, as a message naming the row (`before` rows precede these in
    /// the file), its first text field (the loan_id of results), the column
    /// and the value; `None` when every value fits.
    fn too_wide(&self, precision: usize, before: u64) -> Option<String> {
        let max = max_units(precision);
        let (row, column, units, scale) = self
            .values
            .iter()
            .enumerate()
            .filter_map(|(c, values)| match values {
                Values::Decimal {
                    units,
                    valid,
                    scale,
                } => units
                    .iter()
                    .zip(valid)
                    .position(|(u, &v)| v && u.unsigned_abs() > max)
                    .map(|row| (row, c, units[row], *scale)),
                _ => None,
            })
            .min_by_key(|&(row, c, ..)| (row, c))?;
        let mut value = Vec::new();
        push_decimal(&mut value, units, scale);
        let named = self
            .values
            .iter()
            .zip(&self.names)
            .find_map(|(values, name)| match values {
                Values::Text(text) => Some(format!(
                    ", {name} {:?}",
                    String::from_utf8_lossy(text.field(row))
                )),
                _ => None,
            })
            .unwrap_or_default();
        Some(format!(
            "row {}{named}: column {} holds {} ({} digits), more than the {precision} of decimal({precision},{scale}); \
             nothing was written. Run again with --wide-decimals to write every decimal column as decimal({WIDE_PRECISION},s), \
             which holds every amount a valid book can have (or write CSV)",
            before + row as u64 + 1,
            self.names[column],
            String::from_utf8_lossy(&value),
            units.unsigned_abs().to_string().len().max(scale as usize + 1),
        ))
    }

    /// Appends rows `from..to` of `other`, which has the same columns.
    fn append(&mut self, other: &Columns, from: usize, to: usize) {
        for (mine, theirs) in self.values.iter_mut().zip(&other.values) {
            mine.append(theirs, from, to);
        }
        self.rows += to - from;
    }

    /// The columns as one frame. The writer encodes them column by column
    /// (`ParquetSink::write`); the tests look at them whole.
    #[cfg(test)]
    fn finish(self) -> DataFrame {
        let columns = self
            .names
            .into_iter()
            .zip(self.values)
            .map(|(name, values)| values.into_series(name.into()).into_column())
            .collect();
        DataFrame::new(self.rows, columns).expect("columns of one height")
    }
}

impl Columns {
    /// Pushes a number into the current (decimal) column: `units` of its
    /// scale.
    fn push_units(&mut self, units: impl FnOnce(u32) -> i128) {
        let Some(Values::Decimal {
            units: column,
            valid,
            scale,
        }) = self.values.get_mut(self.at)
        else {
            unreachable!("a number into a decimal column");
        };
        column.push(units(*scale));
        valid.push(true);
        self.at += 1;
    }
}

/// Jobs write their rows straight into typed columns: the same values the
/// CSV writer prints, without going through text.
impl RowSink for Columns {
    fn text(&mut self, value: &str) {
        self.joined(std::iter::once(value), b';');
    }

    fn joined<'a>(&mut self, parts: impl Iterator<Item = &'a str>, separator: u8) {
        let Some(Values::Text(column)) = self.values.get_mut(self.at) else {
            unreachable!("text into a text column");
        };
        for (n, part) in parts.enumerate() {
            if n > 0 {
                column.bytes.push(separator);
            }
            column.bytes.extend_from_slice(part.as_bytes());
        }
        column.end();
        self.at += 1;
    }

    fn fixed(&mut self, value: Decimal, _places: u32) {
        self.push_units(|scale| units(value, scale));
    }

    fn money(&mut self, value: Money) {
        // Money columns have scale 2: the cents are the units.
        self.push_units(|scale| value.cents() * 10i128.pow(scale - 2));
    }

    fn daily_rate(&mut self, value: Decimal) {
        self.fixed(value, 10);
    }

    fn date(&mut self, value: NaiveDate) {
        let Some(Values::Date { days, valid }) = self.values.get_mut(self.at) else {
            unreachable!("a date into a date column");
        };
        days.push((value - EPOCH).num_days() as i32);
        valid.push(true);
        self.at += 1;
    }

    fn count(&mut self, value: i64) {
        let Some(Values::Count { values, valid }) = self.values.get_mut(self.at) else {
            unreachable!("a count into a count column");
        };
        values.push(value);
        valid.push(true);
        self.at += 1;
    }

    fn empty(&mut self) {
        let at = self.at;
        self.values[at]
            .push("")
            .expect("every column takes an empty field");
        self.at += 1;
    }

    fn end(&mut self) {
        debug_assert_eq!(self.at, self.values.len(), "a whole row");
        self.at = 0;
        self.rows += 1;
    }
}

/// A Parquet output being written: rows gather into row groups of exactly
/// `ROW_GROUP` rows (the last may be shorter), each written when full, so
/// the file does not depend on how the rows were batched.
///
/// A full row group's columns are encoded and compressed in parallel on
/// the run's thread pool (`encode`), and only the finished pages are
/// written here, in order: the writer thread no longer compresses every
/// page of the file alone.
pub struct ParquetSink<'a> {
    writer: BatchedWriter<&'a mut AtomicFile>,
    schema: Vec<(String, Kind)>,
    /// Each column's Parquet type and encodings, in schema order.
    types: Vec<(ParquetType, Vec<Encoding>)>,
    options: WriteOptions,
    pool: Option<&'a rayon::ThreadPool>,
    group: Columns,
    path: String,
    /// Rows in the row groups written so far.
    rows_written: u64,
}

impl<'a> ParquetSink<'a> {
    /// `pool`: where row groups are encoded; `None`: on this thread.
    pub fn new(
        file: &'a mut AtomicFile,
        columns: &[(String, Kind)],
        pool: Option<&'a rayon::ThreadPool>,
    ) -> Result<ParquetSink<'a>, Error> {
        let path = file.path().display().to_string();
        let fail = |e| polars_error(&path, e);
        // Level 1: faster than the default (3), and on results as small.
        let level = ZstdLevel::try_new(1).map_err(fail)?;
        let compression = ParquetCompression::Zstd(Some(level));
        let statistics = StatisticsOptions::full();
        let schema = schema(columns);
        // The file's Arrow schema says plain (large) strings, not polars'
        // string views: pandas (`dtype_backend="pyarrow"`), older pyarrow
        // and other readers do not take `string_view`. The pages are the same.
        let plain = schema_to_metadata_key(&schema.to_arrow(CompatLevel::oldest()));
        let metadata =
            KeyValueMetadata::from_static(vec![(plain.key, plain.value.unwrap_or_default())]);
        let mut writer = ParquetWriter::new(file)
            .with_key_value_metadata(Some(metadata))
            .with_compression(compression)
            .with_statistics(statistics)
            .with_row_group_size(Some(ROW_GROUP))
            .batched(&schema)
            .map_err(fail)?;
        // What `BatchedWriter` would use to encode a frame itself.
        let arrow = schema.to_arrow(CompatLevel::newest());
        let encodings = get_encodings(&arrow);
        let types = writer
            .parquet_schema()
            .fields()
            .iter()
            .cloned()
            .zip(encodings.iter().cloned())
            .collect();
        let options = WriteOptions {
            statistics,
            compression: compression.into(),
            version: Version::V1,
            data_page_size: None,
        };
        Ok(ParquetSink {
            writer,
            schema: columns.to_vec(),
            types,
            options,
            pool,
            group: Columns::with_capacity(columns, ROW_GROUP),
            path,
            rows_written: 0,
        })
    }

    pub fn push(&mut self, rows: &Columns) -> Result<(), Error> {
        let mut from = 0;
        while from < rows.rows() {
            let to = rows.rows().min(from + ROW_GROUP - self.group.rows());
            self.group.append(rows, from, to);
            from = to;
            if self.group.rows() == ROW_GROUP {
                self.write()?;
            }
        }
        Ok(())
    }

    fn write(&mut self) -> Result<(), Error> {
        let fresh = Columns::with_capacity(&self.schema, ROW_GROUP);
        let group = std::mem::replace(&mut self.group, fresh);
        let rows = group.rows as u64;
        if let Some(message) = group.too_wide(precision(), self.rows_written) {
            return Err(Error::Parquet {
                path: self.path.clone(),
                message,
            });
        }
        self.rows_written += rows;
        let columns: Vec<_> = group
            .names
            .into_iter()
            .zip(group.values)
            .zip(&self.types)
            .collect();
        let options = self.options;
        let encode_all = || -> PolarsResult<Vec<Vec<CompressedPage>>> {
            columns
                .into_par_iter()
                .map(|((name, values), (ty, encoding))| {
                    encode(values.into_array(name.into()), ty, encoding, options)
                })
                .collect()
        };
        let pages = match self.pool {
            Some(pool) => pool.install(encode_all),
            None => encode_all(),
        }
        .map_err(|e| polars_error(&self.path, e))?;
        self.writer
            .write_row_group(rows, &pages)
            .map_err(|e| polars_error(&self.path, e))
    }

    /// Writes what is pending and the footer.
    pub fn finish(mut self) -> Result<(), Error> {
        if self.group.rows() > 0 {
            self.write()?;
        }
        self.writer
            .finish()
            .map(|_| ())
            .map_err(|e| polars_error(&self.path, e))
    }
}

/// One column of a row group as compressed pages, as polars' own writer
/// makes them (the same encodings, statistics and compression).
fn encode(
    array: Box<dyn polars_arrow::array::Array>,
    ty: &ParquetType,
    encoding: &[Encoding],
    options: WriteOptions,
) -> PolarsResult<Vec<CompressedPage>> {
    let mut pages = Vec::new();
    for leaf in array_to_columns(&array, ty.clone(), options, encoding)? {
        for page in leaf {
            pages.push(compress(page?, Vec::new(), options.compression)?);
        }
    }
    Ok(pages)
}

/// Writes a whole table (a summary) as Parquet, finished but not yet
/// committed (see `atomic::commit_all`).
pub fn write_table(
    path: &Path,
    columns: &[(String, Kind)],
    rows: &[Vec<String>],
) -> Result<crate::io::atomic::Finished, Error> {
    write_table_with(path, columns, &mut |each| {
        rows.iter().try_for_each(|row| each(row.clone()))
    })
}

/// `write_table` for rows made one at a time (`table::write_file_with`):
/// a row group's rows at most are held.
pub fn write_table_with(
    path: &Path,
    columns: &[(String, Kind)],
    fill: &mut dyn FnMut(&mut crate::io::table::RowFn<'_>) -> Result<(), Error>,
) -> Result<crate::io::atomic::Finished, Error> {
    let name = path.display().to_string();
    let mut file = AtomicFile::create(path)?;
    let mut sink = ParquetSink::new(&mut file, columns, None)?;
    let mut table = Columns::new(columns);
    fill(&mut |row| {
        table
            .push(row.iter().map(|f| f.as_bytes()))
            .map_err(|message| Error::Parquet {
                path: name.clone(),
                message,
            })?;
        if table.rows() == ROW_GROUP {
            sink.push(&table)?;
            table = Columns::new(columns);
        }
        Ok(())
    })?;
    sink.push(&table)?;
    sink.finish()?;
    file.finish()
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
    fn typed_rows_hold_what_csv_prints() {
        use crate::io::output::CsvRows;
        let columns: Vec<(String, Kind)> = [
            "loan_id",
            "principal",
            "daily_rate",
            "annualized_rate",
            "due_date",
            "days_overdue",
            "binding_cap",
        ]
        .iter()
        .map(|n| (n.to_string(), Kind::of(n)))
        .collect();
        fn row(out: &mut impl RowSink) {
            let d = |s: &str| s.parse::<Decimal>().unwrap();
            out.text("L1");
            out.fixed(d("1.005"), 2);
            out.daily_rate(d("0.18") / d("365"));
            out.fixed(d("0.5475004"), 6);
            out.date(NaiveDate::from_ymd_opt(2025, 6, 30).unwrap());
            out.count(42);
            out.empty();
            out.end();
        }
        let mut csv = CsvRows::default();
        row(&mut csv);
        assert_eq!(
            String::from_utf8(csv.bytes).unwrap(),
            "L1,1.01,0.0004931507,0.547500,2025-06-30,42,\n"
        );
        let mut typed = Columns::new(&columns);
        row(&mut typed);
        let df = typed.finish();
        let decimal = |name: &str| {
            df.column(name)
                .unwrap()
                .decimal()
                .unwrap()
                .physical()
                .get(0)
        };
        assert_eq!(decimal("principal"), Some(101), "half-up, as CSV");
        assert_eq!(decimal("daily_rate"), Some(4_931_507));
        assert_eq!(decimal("annualized_rate"), Some(547_500));
        assert_eq!(
            df.column("days_overdue").unwrap().i64().unwrap().get(0),
            Some(42)
        );
        assert_eq!(
            df.column("binding_cap").unwrap().null_count(),
            1,
            "empty is null"
        );
    }

    #[test]
    fn few_distinct_texts_make_a_dictionary_in_order_of_appearance() {
        use polars_arrow::array::{DictionaryArray, Utf8ViewArray};
        let mut column = Values::new(Kind::Text, 0);
        for field in ["overdue", "", "current", "overdue", "逾期", "current"] {
            column.push(field).unwrap();
        }
        let Values::Text(text) = column else {
            unreachable!()
        };
        let array = text_dictionary(&text).expect("a dictionary");
        let array = array
            .as_any()
            .downcast_ref::<DictionaryArray<u32>>()
            .unwrap();
        let keys: Vec<_> = array.keys().iter().map(|k| k.copied()).collect();
        assert_eq!(keys, [Some(0), None, Some(1), Some(0), Some(2), Some(1)]);
        let values = array
            .values()
            .as_any()
            .downcast_ref::<Utf8ViewArray>()
            .unwrap();
        let values: Vec<_> = values.values_iter().collect();
        assert_eq!(values, ["overdue", "current", "逾期"]);
        // Ids (more distinct values) and empty columns: polars decides.
        let mut ids = Values::new(Kind::Text, 0);
        for i in 0..=DICTIONARY_VALUES {
            ids.push(&format!("L{i}")).unwrap();
        }
        let Values::Text(ids) = ids else {
            unreachable!()
        };
        assert!(text_dictionary(&ids).is_none());
        assert!(text_dictionary(&TextColumn::default()).is_none());
    }

    #[test]
    fn text_appends_in_ranges_and_reads_back_whole_characters() {
        let mut text = Values::new(Kind::Text, 0);
        for field in ["借据-1", "", "L3", "ü"] {
            text.push(field).unwrap();
        }
        let mut gathered = Values::new(Kind::Text, 8);
        gathered.append(&text, 2, 4);
        gathered.append(&text, 1, 1);
        gathered.append(&text, 0, 2);
        let series = gathered.into_series("loan_id".into());
        let got: Vec<_> = series.str().unwrap().iter().collect();
        assert_eq!(got, [Some("L3"), Some("ü"), Some("借据-1"), None]);
    }

    #[test]
    fn frames_are_typed_and_empty_is_null() {
        let columns: Vec<(String, Kind)> = ["loan_id", "principal", "due_date", "days_overdue"]
            .iter()
            .map(|n| (n.to_string(), Kind::of(n)))
            .collect();
        let mut b = Columns::new(&columns);
        let fields = |row: &[&'static str]| row.iter().map(|f| f.as_bytes()).collect::<Vec<_>>();
        b.push(fields(&["L1", "100.50", "2025-06-30", "3"]))
            .unwrap();
        b.push(fields(&["L,2", "", "", ""])).unwrap();
        let mut gathered = Columns::new(&columns);
        gathered.append(&b, 1, 2);
        gathered.append(&b, 0, 2);
        let df = gathered.finish();
        assert_eq!(df.height(), 3);
        assert_eq!(
            df.dtypes(),
            vec![
                DataType::String,
                DataType::Decimal(PRECISION, 2),
                DataType::Date,
                DataType::Int64
            ]
        );
        let ids: Vec<_> = df
            .column("loan_id")
            .unwrap()
            .str()
            .unwrap()
            .iter()
            .collect();
        assert_eq!(
            ids,
            [Some("L,2"), Some("L1"), Some("L,2")],
            "appended in order"
        );
        assert_eq!(df.column("principal").unwrap().null_count(), 2);
        let days = df.column("days_overdue").unwrap().i64().unwrap().get(1);
        assert_eq!(days, Some(3));
        let date = df
            .column("due_date")
            .unwrap()
            .date()
            .unwrap()
            .physical()
            .get(1);
        assert_eq!(date, Some(20269), "2025-06-30 is day 20269 of the epoch");
        let err = Columns::new(&columns)
            .push(fields(&["L1", "abc", "2025-06-30", "3"]))
            .unwrap_err();
        assert!(err.contains("principal") && err.contains("abc"), "{err}");
    }
}
