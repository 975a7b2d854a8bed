//! `arrears._arrears`: the core's arithmetic over Arrow data.
//!
//! Books and repayments come in through the Arrow PyCapsule stream protocol
//! (`__arrow_c_stream__`: pyarrow, Polars, DuckDB, pandas through pyarrow),
//! batch by batch; each value becomes the text a CSV book would hold
//! (`arrears_core::values`, the rules of the command line's Parquet
//! reader), so every row is parsed, rejected or computed exactly as the
//! command line does it. Results, rejects and the summary go out as Arrow
//! tables typed as the command line's Parquet outputs (through the same
//! protocol); the pure-Python package around this module makes them
//! pyarrow Tables.

use std::collections::HashMap;
use std::ffi::CString;
use std::sync::Arc;

use arrow_array::builder::{Date32Builder, Decimal128Builder, Int64Builder, LargeStringBuilder};
use arrow_array::cast::AsArray;
use arrow_array::ffi::{FFI_ArrowArray, FFI_ArrowSchema};
use arrow_array::ffi_stream::FFI_ArrowArrayStream;
use arrow_array::types::*;
use arrow_array::{Array, ArrayRef, RecordBatch, RecordBatchIterator};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use chrono::NaiveDate;
use pyo3::exceptions::{PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyCapsule};
use rayon::prelude::*;
use rust_decimal::Decimal;

use arrears_core::compute::{compute, Figures};
use arrears_core::money::Money;
use arrears_core::output::{results_header, write_result, Kind, RowSink, REJECTS_HEADER};
use arrears_core::payments::{column_names, read_row, Builder, Group, PaymentLayout, Payments};
use arrears_core::policy::Policy;
use arrears_core::record::{
    duplicate_reject, id_hash, parse_loan, Col, ColKind, Fields, Layout, Loan, Record, Reject,
};
use arrears_core::summary::{GroupKey, Grouping, Summary};
use arrears_core::values;

/// Precision of the decimal columns, as the command line's Parquet: 18
/// digits by default (what an INT64 holds), 38 with `wide_decimals=True`.
const PRECISION: u8 = 18;
const WIDE_PRECISION: u8 = 38;

fn precision_of(wide_decimals: bool) -> u8 {
    match wide_decimals {
        true => WIDE_PRECISION,
        false => PRECISION,
    }
}
/// Rows computed per task (and per output batch), at most; a batch is
/// cut into at least four tasks a core, so that both cores stay busy on
/// the small batches readers hand out (pyarrow.csv: about 12,000 rows).
const CHUNK: usize = 4096;
const MIN_CHUNK: usize = 512;

fn value_error(message: impl std::fmt::Display) -> PyErr {
    PyValueError::new_err(message.to_string())
}

// ---------------------------------------------------------------- Arrow in

/// An imported Arrow C stream, read batch by batch. Unlike arrow-rs'
/// `ArrowArrayStreamReader`, it copies a buffer that is not aligned for its
/// type (Spark's Python workers hand over Arrow IPC buffers aligned to 8
/// bytes, and a decimal128 wants 16) instead of panicking.
struct StreamReader {
    stream: FFI_ArrowArrayStream,
    schema: SchemaRef,
}

impl StreamReader {
    fn try_new(mut stream: FFI_ArrowArrayStream) -> Result<StreamReader, String> {
        let (Some(get_schema), Some(_)) = (stream.get_schema, stream.release) else {
            return Err("the Arrow stream is already released".into());
        };
        let mut schema = FFI_ArrowSchema::empty();
        // SAFETY: a live stream's callbacks, as the C stream interface says.
        let code = unsafe { get_schema(&mut stream, &mut schema) };
        if code != 0 {
            return Err(format!("the Arrow stream gave no schema (error {code})"));
        }
        let schema = Schema::try_from(&schema).map_err(|e| e.to_string())?;
        Ok(StreamReader {
            stream,
            schema: Arc::new(schema),
        })
    }

    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn last_error(&mut self) -> String {
        let Some(get_last_error) = self.stream.get_last_error else {
            return "unknown error".into();
        };
        // SAFETY: as above; the message lives until the next call.
        let text = unsafe { get_last_error(&mut self.stream) };
        match text.is_null() {
            true => "unknown error".into(),
            false => unsafe { std::ffi::CStr::from_ptr(text) }
                .to_string_lossy()
                .into_owned(),
        }
    }
}

impl Iterator for StreamReader {
    type Item = Result<RecordBatch, String>;

    fn next(&mut self) -> Option<Self::Item> {
        let get_next = self.stream.get_next?;
        let mut array = FFI_ArrowArray::empty();
        // SAFETY: as above.
        let code = unsafe { get_next(&mut self.stream, &mut array) };
        if code != 0 {
            return Some(Err(self.last_error()));
        }
        if array.is_released() {
            return None;
        }
        let struct_type = DataType::Struct(self.schema.fields().clone());
        // SAFETY: the array the stream gave, of the stream's schema.
        let data = unsafe { arrow_array::ffi::from_ffi_and_data_type(array, struct_type) };
        Some(data.map_err(|e| e.to_string()).and_then(|mut data| {
            data.align_buffers();
            let columns = arrow_array::StructArray::from(data).into_parts().1;
            RecordBatch::try_new(self.schema.clone(), columns).map_err(|e| e.to_string())
        }))
    }
}

/// The stream an object exports through `__arrow_c_stream__`.
fn import_stream(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<StreamReader> {
    if !obj.hasattr("__arrow_c_stream__")? {
        return Err(PyTypeError::new_err(format!(
            "{what}: expected Arrow data (an object with __arrow_c_stream__: a pyarrow \
             Table or RecordBatchReader, a Polars DataFrame, a DuckDB result's .arrow()); got {}",
            obj.get_type().name()?
        )));
    }
    let capsule = obj.call_method1("__arrow_c_stream__", (obj.py().None(),))?;
    let capsule = capsule.cast::<PyCapsule>().map_err(|_| {
        PyTypeError::new_err(format!(
            "{what}: __arrow_c_stream__ did not return a capsule"
        ))
    })?;
    let ptr = capsule.pointer_checked(Some(c"arrow_array_stream"))?;
    // SAFETY: a capsule named arrow_array_stream holds an ArrowArrayStream;
    // from_raw moves it out and leaves a released one for the capsule.
    let stream = unsafe { FFI_ArrowArrayStream::from_raw(ptr.as_ptr().cast()) };
    StreamReader::try_new(stream).map_err(|e| value_error(format!("{what}: {e}")))
}

/// A column of fields as text, back to back.
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

/// A dictionary (pandas' category, Polars' Categorical) of text values.
fn categorical(dtype: &DataType) -> bool {
    matches!(dtype, DataType::Dictionary(_, values) if texty(values))
}

fn texty(dtype: &DataType) -> bool {
    matches!(
        dtype,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
    )
}

/// Whether an Arrow column can hold an input column of `kind`: what the
/// command line's Parquet reader accepts.
fn accepts(kind: ColKind, dtype: &DataType) -> bool {
    if categorical(dtype) {
        return true;
    }
    let base = texty(dtype) || dtype.is_integer() || *dtype == DataType::Null;
    match kind {
        ColKind::Text => base,
        ColKind::Number => {
            base || matches!(
                dtype,
                DataType::Decimal32(..)
                    | DataType::Decimal64(..)
                    | DataType::Decimal128(..)
                    | DataType::Decimal256(..)
                    | DataType::Float16
                    | DataType::Float32
                    | DataType::Float64
            )
        }
        ColKind::Date => {
            texty(dtype)
                || *dtype == DataType::Null
                || matches!(
                    dtype,
                    DataType::Date32 | DataType::Date64 | DataType::Timestamp(_, None)
                )
        }
    }
}

/// Whether `texts` can read a column of this type at all.
fn readable(dtype: &DataType) -> bool {
    [ColKind::Number, ColKind::Date]
        .into_iter()
        .any(|k| accepts(k, dtype))
}

/// A column's values as CSV field text (nulls empty), by the rules of
/// `arrears_core::values`.
fn texts(array: &dyn Array) -> Result<TextColumn, String> {
    let mut out = TextColumn::default();
    macro_rules! each {
        ($arr:expr, $push:expr) => {{
            let arr = $arr;
            for i in 0..arr.len() {
                if arr.is_valid(i) {
                    $push(&mut out.bytes, arr.value(i));
                }
                out.end();
            }
        }};
    }
    macro_rules! ints {
        ($t:ty) => {
            each!(array.as_primitive::<$t>(), |b: &mut Vec<u8>, v| {
                values::push_int(b, v)
            })
        };
    }
    macro_rules! decimal {
        ($t:ty, $scale:expr) => {{
            let scale =
                u32::try_from(*$scale).map_err(|_| "a negative decimal scale".to_string())?;
            each!(array.as_primitive::<$t>(), |b: &mut Vec<u8>, v| {
                values::push_decimal(b, i128::from(v), scale)
            })
        }};
    }
    let push_str = |b: &mut Vec<u8>, v: &str| b.extend_from_slice(v.as_bytes());
    match array.data_type() {
        DataType::Utf8 => each!(array.as_string::<i32>(), push_str),
        DataType::LargeUtf8 => each!(array.as_string::<i64>(), push_str),
        DataType::Utf8View => each!(array.as_string_view(), push_str),
        DataType::Int8 => ints!(Int8Type),
        DataType::Int16 => ints!(Int16Type),
        DataType::Int32 => ints!(Int32Type),
        DataType::Int64 => ints!(Int64Type),
        DataType::UInt8 => ints!(UInt8Type),
        DataType::UInt16 => ints!(UInt16Type),
        DataType::UInt32 => ints!(UInt32Type),
        DataType::UInt64 => ints!(UInt64Type),
        DataType::Float16 => each!(
            array.as_primitive::<Float16Type>(),
            |b: &mut Vec<u8>, v: F16| { values::push_f32(b, v.to_f32()) }
        ),
        DataType::Float32 => each!(array.as_primitive::<Float32Type>(), values::push_f32),
        DataType::Float64 => each!(array.as_primitive::<Float64Type>(), values::push_f64),
        DataType::Decimal32(_, s) => decimal!(Decimal32Type, s),
        DataType::Decimal64(_, s) => decimal!(Decimal64Type, s),
        DataType::Decimal128(_, s) => decimal!(Decimal128Type, s),
        DataType::Decimal256(_, s) => {
            let scale = u32::try_from(*s).map_err(|_| "a negative decimal scale".to_string())?;
            each!(
                array.as_primitive::<Decimal256Type>(),
                |b: &mut Vec<u8>, v: arrow_buffer::i256| {
                    match v.to_i128() {
                        Some(v) => values::push_decimal(b, v, scale),
                        None => b.extend_from_slice(b"out of range"),
                    }
                }
            )
        }
        DataType::Date32 => each!(array.as_primitive::<Date32Type>(), values::push_date32),
        DataType::Date64 => each!(array.as_primitive::<Date64Type>(), |b: &mut Vec<u8>, v| {
            values::push_timestamp(b, v, 1_000)
        }),
        DataType::Timestamp(unit, None) => {
            let per_second: i64 = match unit {
                TimeUnit::Second => 1,
                TimeUnit::Millisecond => 1_000,
                TimeUnit::Microsecond => 1_000_000,
                TimeUnit::Nanosecond => 1_000_000_000,
            };
            let raw = |b: &mut Vec<u8>, v: i64| values::push_timestamp(b, v, per_second);
            match unit {
                TimeUnit::Second => each!(array.as_primitive::<TimestampSecondType>(), raw),
                TimeUnit::Millisecond => {
                    each!(array.as_primitive::<TimestampMillisecondType>(), raw)
                }
                TimeUnit::Microsecond => {
                    each!(array.as_primitive::<TimestampMicrosecondType>(), raw)
                }
                TimeUnit::Nanosecond => each!(array.as_primitive::<TimestampNanosecondType>(), raw),
            }
        }
        DataType::Null => (0..array.len()).for_each(|_| out.end()),
        DataType::Dictionary(_, _) => {
            let dict = array.as_any_dictionary();
            let values = texts(dict.values().as_ref())?;
            let keys = dict.normalized_keys();
            for (i, k) in keys.into_iter().enumerate() {
                if array.is_valid(i) {
                    out.bytes.extend_from_slice(values.field(k));
                }
                out.end();
            }
        }
        other => return Err(format!("unsupported type {other}")),
    }
    Ok(out)
}

type F16 = <Float16Type as ArrowPrimitiveType>::Native;

/// What each kind of column accepts, for messages.
fn wanted(kind: ColKind) -> &'static str {
    match kind {
        ColKind::Text => "text, categories or integers",
        ColKind::Number => "text, decimals, integers or floats",
        ColKind::Date => "dates, naive timestamps or text",
    }
}

/// An Arrow source read as CSV rows: its header, the columns it reads,
/// and each batch's fields as text.
struct Source {
    reader: StreamReader,
    names: Vec<String>,
    /// The columns converted to text: the layout's (checked), and the
    /// others whose type can be read (for a reject's raw text).
    read: Vec<bool>,
    /// Rows handed out so far.
    rows: u64,
    /// A batch larger than `SLICE_ROWS`, handed out in slices: the batch
    /// and where its next slice starts.
    pending: Option<(RecordBatch, usize)>,
}

/// Rows converted to text at a time: a book that comes as one huge batch
/// (a pyarrow Table of one chunk) is still read a slice at a time.
const SLICE_ROWS: usize = 65_536;

impl Source {
    fn new(reader: StreamReader) -> Source {
        let schema = reader.schema();
        let names = schema.fields().iter().map(|f| f.name().clone()).collect();
        let read = schema
            .fields()
            .iter()
            .map(|f| readable(f.data_type()))
            .collect();
        Source {
            reader,
            names,
            read,
            rows: 0,
            pending: None,
        }
    }

    fn header(&self) -> Record {
        Record::of(&self.names, 1)
    }

    /// Refuses, before any row, a column of the wrong type.
    fn check(&self, columns: &[(ColKind, usize, &str)], what: &str) -> PyResult<()> {
        let schema = self.reader.schema();
        for &(kind, index, canonical) in columns {
            let dtype = schema.field(index).data_type();
            if !accepts(kind, dtype) {
                return Err(value_error(format!(
                    "{what}: column {:?} ({canonical}) has type {dtype}; expected {}",
                    self.names[index],
                    wanted(kind)
                )));
            }
        }
        Ok(())
    }

    /// The next batch as text columns (`None` for a column not read), its
    /// row count and the line of its first row.
    fn next_batch(&mut self, what: &str) -> PyResult<Option<TextBatch>> {
        let (whole, at) = match self.pending.take() {
            Some(pending) => pending,
            None => match self.reader.next() {
                None => return Ok(None),
                Some(batch) => (batch.map_err(|e| value_error(format!("{what}: {e}")))?, 0),
            },
        };
        let len = SLICE_ROWS.min(whole.num_rows() - at);
        let batch = whole.slice(at, len);
        if at + len < whole.num_rows() {
            self.pending = Some((whole, at + len));
        }
        // Each column on its own core.
        let columns = batch
            .columns()
            .par_iter()
            .zip(&self.read)
            .enumerate()
            .map(|(i, (array, &read))| {
                read.then(|| texts(array.as_ref()))
                    .transpose()
                    .map_err(|e| value_error(format!("{what}: column {:?}: {e}", self.names[i])))
            })
            .collect::<PyResult<Vec<_>>>()?;
        let first = self.rows + 1;
        self.rows += batch.num_rows() as u64;
        Ok(Some((columns, batch.num_rows(), first)))
    }
}

/// A batch as text columns (`None`: not read), its row count, and the
/// number of its first row in the source (1 = the first row).
type TextBatch = (Vec<Option<TextColumn>>, usize, u64);

/// Row `row` of a batch's text columns into `record`, on `line`.
fn fill(record: &mut Record, columns: &[Option<TextColumn>], row: usize, line: u64) {
    record.clear(line);
    for column in columns {
        match column {
            Some(c) => record.push(c.field(row)),
            None => record.push(b""),
        }
    }
}

// ---------------------------------------------------------------- Arrow out

fn arrow_type(kind: Kind, precision: u8) -> DataType {
    match kind {
        Kind::Text => DataType::LargeUtf8,
        Kind::Money | Kind::Rate | Kind::Ratio => {
            DataType::Decimal128(precision, kind.scale().unwrap_or(0) as i8)
        }
        Kind::Date => DataType::Date32,
        Kind::Count => DataType::Int64,
    }
}

fn schema_of(columns: &[(String, Kind)], precision: u8) -> SchemaRef {
    Arc::new(Schema::new(
        columns
            .iter()
            .map(|(name, kind)| Field::new(name, arrow_type(*kind, precision), true))
            .collect::<Vec<_>>(),
    ))
}

enum ColumnBuilder {
    Text(LargeStringBuilder),
    Decimal(Decimal128Builder, u32),
    Date(Date32Builder),
    Count(Int64Builder),
}

/// Typed columns built row by row: the results of a chunk through
/// `RowSink`, or a table of text rows (the summary) through `push_text`.
/// An empty field is null, as in the command line's Parquet.
struct Columns {
    schema: SchemaRef,
    builders: Vec<ColumnBuilder>,
    at: usize,
    /// A text field being joined.
    scratch: String,
}

impl Columns {
    fn new(columns: &[(String, Kind)], rows: usize, precision: u8) -> Columns {
        let builders = columns
            .iter()
            .map(|(_, kind)| match kind {
                Kind::Text => {
                    ColumnBuilder::Text(LargeStringBuilder::with_capacity(rows, rows * 8))
                }
                Kind::Date => ColumnBuilder::Date(Date32Builder::with_capacity(rows)),
                Kind::Count => ColumnBuilder::Count(Int64Builder::with_capacity(rows)),
                decimal => {
                    let scale = decimal.scale().unwrap_or(0);
                    ColumnBuilder::Decimal(
                        Decimal128Builder::with_capacity(rows)
                            .with_precision_and_scale(precision, scale as i8)
                            .expect("a valid decimal type"),
                        scale,
                    )
                }
            })
            .collect();
        Columns {
            schema: schema_of(columns, precision),
            builders,
            at: 0,
            scratch: String::new(),
        }
    }

    fn current(&mut self) -> &mut ColumnBuilder {
        let at = self.at;
        self.at += 1;
        &mut self.builders[at]
    }

    fn push_units(&mut self, units: impl FnOnce(u32) -> i128) {
        match self.current() {
            ColumnBuilder::Decimal(b, scale) => b.append_value(units(*scale)),
            _ => unreachable!("a number into a decimal column"),
        }
    }

    /// One field given as text, parsed as its column's type.
    fn push_text(&mut self, name: &str, text: &str) -> Result<(), String> {
        if text.is_empty() {
            self.empty();
            return Ok(());
        }
        match self.current() {
            ColumnBuilder::Text(b) => b.append_value(text),
            ColumnBuilder::Decimal(b, scale) => b.append_value(
                values::decimal_units(text, *scale)
                    .ok_or_else(|| format!("column {name}: {text:?}: not a decimal"))?,
            ),
            ColumnBuilder::Date(b) => b.append_value(values::date32(
                arrears_core::parse::date(text)
                    .map_err(|_| format!("column {name}: {text:?}: not a date"))?,
            )),
            ColumnBuilder::Count(b) => b.append_value(
                text.parse()
                    .map_err(|_| format!("column {name}: {text:?}: not an integer"))?,
            ),
        }
        Ok(())
    }

    /// The columns as a batch; an error names the first row, column and
    /// value that the decimal columns' precision does not hold.
    fn finish(mut self) -> Result<RecordBatch, String> {
        let arrays: Vec<ArrayRef> = self
            .builders
            .iter_mut()
            .map(|b| -> ArrayRef {
                match b {
                    ColumnBuilder::Text(b) => Arc::new(b.finish()),
                    ColumnBuilder::Decimal(b, _) => Arc::new(b.finish()),
                    ColumnBuilder::Date(b) => Arc::new(b.finish()),
                    ColumnBuilder::Count(b) => Arc::new(b.finish()),
                }
            })
            .collect();
        for (field, array) in self.schema.fields().iter().zip(&arrays) {
            let DataType::Decimal128(precision, scale) = *field.data_type() else {
                continue;
            };
            let Some(values) = array
                .as_any()
                .downcast_ref::<arrow_array::Decimal128Array>()
            else {
                continue;
            };
            let max = 10i128.pow(u32::from(precision)) - 1;
            let wide = values.iter().position(|v| v.is_some_and(|v| v.abs() > max));
            if let Some(row) = wide {
                // Arrow's own formatting assumes the value fits its precision.
                let units = values.value(row);
                let value = Decimal::try_from_i128_with_scale(units, scale as u32)
                    .map_or_else(|_| format!("{units}e-{scale}"), |d| d.to_string());
                let digits = value.chars().filter(char::is_ascii_digit).count();
                let loan = arrays[0]
                    .as_any()
                    .downcast_ref::<arrow_array::LargeStringArray>()
                    .map_or(String::new(), |ids| {
                        format!(" (loan_id {:?})", ids.value(row))
                    });
                return Err(format!(
                    "row {}{loan} of a batch: column {} holds {value} ({digits} digits), more than the {precision} of decimal({precision},{scale}); \
                     nothing was returned. Pass wide_decimals=True to get every decimal column as decimal({WIDE_PRECISION},s)",
                    row + 1,
                    field.name()
                ));
            }
        }
        Ok(RecordBatch::try_new(self.schema, arrays).expect("columns of the schema"))
    }
}

impl RowSink for Columns {
    fn text(&mut self, value: &str) {
        self.joined(std::iter::once(value), b';');
    }

    fn joined<'a>(&mut self, parts: impl Iterator<Item = &'a str>, separator: u8) {
        let mut text = std::mem::take(&mut self.scratch);
        text.clear();
        for (n, part) in parts.enumerate() {
            if n > 0 {
                text.push(separator as char);
            }
            text.push_str(part);
        }
        let ColumnBuilder::Text(b) = self.current() else {
            unreachable!("text into a text column");
        };
        match text.is_empty() {
            true => b.append_null(),
            false => b.append_value(&text),
        }
        self.scratch = text;
    }

    fn fixed(&mut self, value: Decimal, _places: u32) {
        self.push_units(|scale| values::units(value, scale));
    }

    fn money(&mut self, value: Money) {
        self.push_units(|scale| value.cents() * 10i128.pow(scale - 2));
    }

    fn daily_rate(&mut self, value: Decimal) {
        self.fixed(value, 10);
    }

    fn date(&mut self, value: NaiveDate) {
        match self.current() {
            ColumnBuilder::Date(b) => b.append_value(values::date32(value)),
            _ => unreachable!("a date into a date column"),
        }
    }

    fn count(&mut self, value: i64) {
        match self.current() {
            ColumnBuilder::Count(b) => b.append_value(value),
            _ => unreachable!("a count into a count column"),
        }
    }

    fn empty(&mut self) {
        match self.current() {
            ColumnBuilder::Text(b) => b.append_null(),
            ColumnBuilder::Decimal(b, _) => b.append_null(),
            ColumnBuilder::Date(b) => b.append_null(),
            ColumnBuilder::Count(b) => b.append_null(),
        }
    }

    fn end(&mut self) {
        debug_assert_eq!(self.at, self.builders.len(), "a whole row");
        self.at = 0;
    }
}

/// A table of text rows, typed by `columns`.
fn typed_table(columns: &[(String, Kind)], rows: &[Vec<String>], precision: u8) -> PyResult<Table> {
    let mut table = Columns::new(columns, rows.len(), precision);
    for row in rows {
        for ((name, _), field) in columns.iter().zip(row) {
            table
                .push_text(name, field)
                .map_err(PyRuntimeError::new_err)?;
        }
        table.end();
    }
    let schema = table.schema.clone();
    Ok(Table {
        schema,
        batches: vec![table.finish().map_err(value_error)?],
    })
}

/// An Arrow table exported through `__arrow_c_stream__` (any number of
/// times): `pyarrow.table(t)`, `polars.from_arrow(t)`.
#[pyclass(module = "arrears._arrears", frozen)]
struct Table {
    schema: SchemaRef,
    batches: Vec<RecordBatch>,
}

#[pymethods]
impl Table {
    #[pyo3(signature = (requested_schema=None))]
    fn __arrow_c_stream__<'py>(
        &self,
        py: Python<'py>,
        requested_schema: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyCapsule>> {
        let _ = requested_schema; // the schema is the one the outputs have
        let reader = RecordBatchIterator::new(
            self.batches.clone().into_iter().map(Ok),
            self.schema.clone(),
        );
        let stream = FFI_ArrowArrayStream::new(Box::new(reader));
        PyCapsule::new(
            py,
            stream,
            Some(CString::new("arrow_array_stream").expect("no NUL")),
        )
    }

    fn __len__(&self) -> usize {
        self.batches.iter().map(RecordBatch::num_rows).sum()
    }
}

fn rejects_table(rejects: &[Reject]) -> Table {
    let columns: Vec<(String, Kind)> = REJECTS_HEADER
        .iter()
        .map(|&name| {
            let kind = if name == "line" {
                Kind::Count
            } else {
                Kind::Text
            };
            (name.to_string(), kind)
        })
        .collect();
    let mut table = Columns::new(&columns, rejects.len(), PRECISION);
    for r in rejects {
        table.count(r.line as i64);
        for text in [&r.loan_id, &r.column, &r.reason, &r.raw] {
            table.text(text);
        }
        table.end();
    }
    let schema = table.schema.clone();
    Table {
        schema,
        batches: vec![table.finish().expect("no decimal column")],
    }
}

// ---------------------------------------------------------------- policy

/// A policy: a preset, a file, or TOML text, resolved.
#[pyclass(module = "arrears._arrears", name = "Policy", frozen)]
struct PyPolicy {
    policy: Arc<Policy>,
    spec: Spec,
}

/// What a policy was made from, so that it can be made again elsewhere (a
/// Spark executor, a summary state read back) exactly: a preset's name, or
/// TOML text and the name it had (a file's path: a relative
/// `holidays_file` is found beside it).
#[derive(Debug, Clone, PartialEq)]
enum Spec {
    Preset(String),
    Text { text: String, origin: String },
}

impl Spec {
    fn load(&self) -> PyResult<Policy> {
        match self {
            Spec::Preset(name) => Policy::load(name),
            Spec::Text { text, origin } => Policy::from_toml(text, origin),
        }
        .map_err(value_error)
    }

    fn to_bytes(&self, out: &mut Vec<u8>) {
        match self {
            Spec::Preset(name) => {
                out.push(0);
                put_text(out, name);
            }
            Spec::Text { text, origin } => {
                out.push(1);
                put_text(out, text);
                put_text(out, origin);
            }
        }
    }

    fn from_bytes(bytes: &mut &[u8]) -> PyResult<Spec> {
        let (&kind, rest) = bytes
            .split_first()
            .ok_or_else(|| value_error("not a summary state: cut short"))?;
        *bytes = rest;
        Ok(match kind {
            0 => Spec::Preset(take_text(bytes)?.to_string()),
            1 => Spec::Text {
                text: take_text(bytes)?.to_string(),
                origin: take_text(bytes)?.to_string(),
            },
            _ => return Err(value_error("not a summary state: bad policy")),
        })
    }
}

#[pymethods]
impl PyPolicy {
    #[new]
    fn new(spec: &str) -> PyResult<PyPolicy> {
        load_policy(spec)
    }

    /// The policy's name.
    #[getter]
    fn name(&self) -> String {
        self.policy.name.clone()
    }

    /// A preset's name, or a file's path, its name and the preset it is
    /// laid over: how the command line's run report names it.
    fn describe(&self) -> String {
        self.policy.describe()
    }

    /// The header name the policy's `[columns]` mapping gives a canonical
    /// column (the canonical name itself when unmapped).
    fn header_name(&self, canonical: &str) -> String {
        self.policy
            .columns
            .get(canonical)
            .cloned()
            .unwrap_or_else(|| canonical.to_string())
    }

    /// The preset it is laid over.
    #[getter]
    fn base(&self) -> String {
        self.policy.base.clone()
    }

    /// The policy as resolved: its base preset with its own fields laid
    /// over it, as TOML (what `arrears policy FILE` prints).
    #[getter]
    fn toml(&self) -> String {
        self.policy.resolved.clone()
    }

    fn __repr__(&self) -> String {
        format!("arrears.Policy({})", self.policy.describe())
    }

    /// What the policy was made from: ("preset", name) or ("toml", text,
    /// origin); `Policy._from_source(*p._source())` makes it again.
    fn _source(&self) -> (String, String, String) {
        match &self.spec {
            Spec::Preset(name) => ("preset".into(), name.clone(), String::new()),
            Spec::Text { text, origin } => ("toml".into(), text.clone(), origin.clone()),
        }
    }

    #[staticmethod]
    fn _from_source(kind: &str, text: String, origin: String) -> PyResult<PyPolicy> {
        let spec = match kind {
            "preset" => Spec::Preset(text),
            _ => Spec::Text { text, origin },
        };
        Ok(PyPolicy {
            policy: Arc::new(spec.load()?),
            spec,
        })
    }

    /// Policies pickle as what they were made from (Spark ships them to
    /// its executors so).
    fn __reduce__<'py>(
        slf: &Bound<'py, Self>,
    ) -> PyResult<(Bound<'py, PyAny>, (String, String, String))> {
        let make = slf.get_type().getattr("_from_source")?;
        Ok((make, slf.get()._source()))
    }
}

fn load_policy(spec: &str) -> PyResult<PyPolicy> {
    let is_text = spec.contains('\n') || spec.contains('=') || spec.trim_start().starts_with('[');
    let spec = match (is_text, arrears_core::policy::preset(spec)) {
        (true, _) => Spec::Text {
            text: spec.to_string(),
            origin: "<policy text>".into(),
        },
        (false, Some(_)) => Spec::Preset(spec.to_string()),
        (false, None) => {
            let text = std::fs::read_to_string(spec).map_err(|e| {
                value_error(format!(
                    "policy {spec}: {e} (not a file, nor a preset: {})",
                    arrears_core::policy::preset_names().join(", ")
                ))
            })?;
            let mut policy = Policy::from_toml(&text, spec).map_err(value_error)?;
            policy.file = Some(spec.to_string());
            return Ok(PyPolicy {
                policy: Arc::new(policy),
                spec: Spec::Text {
                    text,
                    origin: spec.to_string(),
                },
            });
        }
    };
    Ok(PyPolicy {
        policy: Arc::new(spec.load()?),
        spec,
    })
}

fn as_of_date(text: &str) -> PyResult<NaiveDate> {
    arrears_core::parse::date(text).map_err(|e| value_error(format!("as_of: {e}")))
}

/// The summary's keys; none given: the command line's default
/// (`currency,product,bucket`).
fn group_keys(names: Option<Vec<String>>) -> PyResult<Vec<GroupKey>> {
    let Some(names) = names else {
        return Ok(vec![
            GroupKey::Currency,
            GroupKey::Product,
            GroupKey::Bucket,
        ]);
    };
    names
        .iter()
        .flat_map(|n| n.split(','))
        .filter(|n| !n.trim().is_empty())
        .map(|n| n.parse::<GroupKey>().map_err(value_error))
        .collect()
}

// ---------------------------------------------------------------- payments

/// The payments read, and each payment row's fields for the unmatched
/// table.
struct PaymentsIn {
    index: Payments,
    rows: Vec<Record>,
    layout: PaymentLayout,
    name: String,
}

fn load_payments(
    py: Python<'_>,
    obj: &Bound<'_, PyAny>,
    policy: &Policy,
    as_of: NaiveDate,
    name: &str,
) -> PyResult<PaymentsIn> {
    let mut source = Source::new(import_stream(obj, "repayments")?);
    let mut builder = Builder::new(policy, as_of);
    let layout = builder
        .layout(&source.header(), name)
        .map_err(value_error)?;
    let kinds = [ColKind::Text, ColKind::Date, ColKind::Number];
    let names = arrears_core::payments::PAYMENT_COLUMNS;
    let columns: Vec<(ColKind, usize, &str)> = (0..3)
        .map(|i| (kinds[i], layout.index[i], names[i]))
        .collect();
    source.check(&columns, name)?;
    let mut rows = Vec::new();
    py.detach(|| -> PyResult<()> {
        while let Some((columns, len, first)) = source.next_batch(name)? {
            for row in 0..len {
                let mut record = Record::new(0);
                fill(&mut record, &columns, row, first + row as u64);
                builder.add(&record, &layout, name);
                rows.push(record);
            }
        }
        Ok(())
    })?;
    Ok(PaymentsIn {
        index: builder.finish(),
        rows,
        layout,
        name: name.to_string(),
    })
}

/// The payments that belong to no accepted book row, in input order.
fn unmatched_table(payments: &PaymentsIn, policy: &Policy, precision: u8) -> PyResult<Table> {
    let columns: Vec<(String, Kind)> = [
        ("file", Kind::Text),
        ("line", Kind::Count),
        ("loan_id", Kind::Text),
        ("date", Kind::Date),
        ("amount", Kind::Money),
        ("reason", Kind::Text),
    ]
    .map(|(n, k)| (n.to_string(), k))
    .to_vec();
    let names = column_names(policy);
    let unmatched = payments.index.unmatched();
    let mut table = Columns::new(&columns, unmatched.len(), precision);
    for (ordinal, row_rejected) in unmatched {
        let record = &payments.rows[ordinal as usize];
        let Ok(row) = read_row(record, &payments.layout, &names) else {
            continue;
        };
        table.text(&payments.name);
        table.count(record.line() as i64);
        table.text(row.loan_id);
        table.date(row.date);
        table.money(Money::new(i128::from(row.cents)).unwrap_or(Money::ZERO));
        table.text(match row_rejected {
            true => "its book row was rejected",
            false => "no such loan_id",
        });
        table.end();
    }
    let schema = table.schema.clone();
    Ok(Table {
        schema,
        batches: vec![table.finish().map_err(value_error)?],
    })
}

// ---------------------------------------------------------------- the run

/// What a book run needs, checked.
struct Run {
    policy: Arc<Policy>,
    as_of: NaiveDate,
    layout: Layout,
    grouping: Grouping,
    buckets: Vec<String>,
    /// The results columns.
    columns: Vec<(String, Kind)>,
    payments: Option<Arc<PaymentsIn>>,
    /// Write results rows (a summary state alone does not).
    results: bool,
    /// The loan_ids to explain (every step kept).
    explain: Option<std::collections::HashSet<String>>,
    /// Reject a row whose loan_id came before.
    unique: bool,
    book_name: String,
    /// Of the decimal columns: 18, or 38 with `wide_decimals`.
    precision: u8,
}

/// What a run has seen and made so far.
#[derive(Default)]
struct Progress {
    /// With `unique`: each loan_id's first row.
    seen: HashMap<u128, u64>,
    outcome: Outcome,
}

/// One chunk's output.
#[derive(Default)]
struct ChunkOut {
    results: Option<RecordBatch>,
    rejects: Vec<Reject>,
    summary: Summary,
    accepted: u64,
    explained: Vec<arrears_core::explain::Explanation>,
    overflow: bool,
    /// A decimal that the results' precision does not hold.
    too_wide: Option<String>,
}

impl Run {
    fn payments(&self) -> Option<&Payments> {
        self.payments.as_deref().map(|p| &p.index)
    }

    /// The figures of a loan, with its payments when there are any (the
    /// command line's pipeline calls the same core function).
    fn figures(
        &self,
        loan: &Loan,
        record: &Record,
    ) -> Result<(Result<Figures, &'static str>, Option<Group>), Reject> {
        let policy = &*self.policy;
        match self.payments() {
            None => Ok((compute(loan, policy, self.as_of), None)),
            Some(payments) => arrears_core::payments::figures(
                loan,
                payments,
                policy,
                self.as_of,
                self.explain.is_some(),
                record,
            ),
        }
    }

    /// Parses, computes, writes and folds rows `from..to` of a batch.
    fn chunk(
        &self,
        columns: &[Option<TextColumn>],
        from: usize,
        to: usize,
        first_line: u64,
        duplicates: &[(usize, String)],
    ) -> ChunkOut {
        let policy = &*self.policy;
        let mut out = ChunkOut::default();
        let mut rows = self
            .results
            .then(|| Columns::new(&self.columns, to - from, self.precision));
        let mut record = Record::new(0);
        for row in from..to {
            fill(&mut record, columns, row, first_line + row as u64);
            let duplicate = duplicates
                .binary_search_by_key(&row, |(r, _)| *r)
                .ok()
                .map(|i| &duplicates[i].1);
            let loan = match duplicate {
                Some(seen) => Err(duplicate_reject(&record, &self.layout, seen)),
                None => parse_loan(&record, &self.layout, policy),
            };
            let outcome = loan.and_then(|loan| {
                let (figures, group) = self.figures(&loan, &record)?;
                let figures = figures
                    .map_err(|why| Reject::new(&record, loan.loan_id(), "", why.to_string()))?;
                if let Some(payments) = self.payments() {
                    payments.mark_group(group, true);
                }
                if let Some(rows) = rows.as_mut() {
                    let repayments = self.payments.is_some();
                    write_result(rows, &loan, &figures, policy, &self.buckets, repayments);
                }
                if let Some(ids) = &self.explain {
                    if ids.contains(loan.loan_id()) {
                        out.explained.push(arrears_core::explain::explain(
                            &loan,
                            &figures,
                            policy,
                            self.as_of,
                            &self.book_name,
                            record.line(),
                        ));
                    }
                }
                Ok(out.summary.add(&self.grouping, &loan, &figures, policy))
            });
            match outcome {
                Ok(folded) => {
                    out.overflow |= folded.is_err();
                    out.accepted += 1;
                }
                Err(reject) => {
                    if let (Some(payments), None) = (self.payments(), duplicate) {
                        payments.mark(&reject.loan_id, false);
                    }
                    out.rejects.push(reject);
                }
            }
        }
        match rows.map(Columns::finish).transpose() {
            Ok(results) => out.results = results,
            Err(why) => out.too_wide = Some(why),
        }
        out
    }
}

/// Everything a book run gave.
#[derive(Default)]
struct Outcome {
    results: Vec<RecordBatch>,
    rejects: Vec<Reject>,
    summary: Summary,
    rows_read: u64,
    accepted: u64,
    explained: Vec<arrears_core::explain::Explanation>,
}

impl Run {
    /// A run over a source with this header: its columns found and their
    /// types checked before any row.
    #[allow(clippy::too_many_arguments)]
    fn new(
        source: &Source,
        policy: Arc<Policy>,
        as_of: NaiveDate,
        keys: &[GroupKey],
        payments: Option<Arc<PaymentsIn>>,
        unique_ids: bool,
        book_name: &str,
        results: bool,
        explain: Option<std::collections::HashSet<String>>,
        precision: u8,
    ) -> PyResult<Run> {
        let layout =
            Layout::from_header(&source.header(), &policy, book_name).map_err(value_error)?;
        let checked: Vec<(ColKind, usize, &str)> = layout
            .columns()
            .map(|(col, index)| (col.kind(), index, col.name()))
            .collect();
        source.check(&checked, book_name)?;
        let repayments = payments.is_some();
        let columns = Kind::columns(&results_header(&layout, repayments), 0);
        Ok(Run {
            as_of,
            buckets: policy.bucket_labels(),
            grouping: Grouping::new(keys, &layout, &policy, repayments),
            columns,
            policy,
            payments,
            results,
            explain,
            // With repayments, loan_ids must be unique (SPEC.md section 5).
            unique: unique_ids || repayments,
            book_name: book_name.to_string(),
            layout,
            precision,
        })
    }

    /// Parses, computes, writes and folds one batch, its chunks on every
    /// core; duplicates are found first, in row order.
    fn batch(&self, progress: &mut Progress, batch: TextBatch) -> PyResult<()> {
        let (texts, len, first) = batch;
        let mut duplicates = Vec::new();
        let id_column = self.layout.column(Col::LoanId).unwrap_or(0);
        if let (true, Some(ids)) = (self.unique, &texts[id_column]) {
            for row in 0..len {
                let bytes = ids.field(row);
                let id = std::str::from_utf8(bytes).map_or(bytes, |s| s.trim().as_bytes());
                if id.is_empty() {
                    continue;
                }
                let line = first + row as u64;
                match progress.seen.entry(id_hash(id)) {
                    std::collections::hash_map::Entry::Occupied(e) => {
                        duplicates.push((row, format!("{}:{}", self.book_name, e.get())))
                    }
                    std::collections::hash_map::Entry::Vacant(e) => {
                        e.insert(line);
                    }
                }
            }
        }
        let chunk = len
            .div_ceil(4 * rayon::current_num_threads())
            .clamp(MIN_CHUNK, CHUNK);
        let starts: Vec<usize> = (0..len).step_by(chunk).collect();
        let chunks: Vec<ChunkOut> = starts
            .par_iter()
            .map(|&from| self.chunk(&texts, from, (from + chunk).min(len), first, &duplicates))
            .collect();
        let outcome = &mut progress.outcome;
        outcome.rows_read += len as u64;
        for chunk in chunks {
            if chunk.overflow {
                return Err(value_error(arrears_core::summary::SumOverflow));
            }
            if let Some(why) = chunk.too_wide {
                return Err(value_error(format!("{}: {why}", self.book_name)));
            }
            outcome.results.extend(chunk.results);
            outcome.rejects.extend(chunk.rejects);
            outcome.accepted += chunk.accepted;
            outcome.explained.extend(chunk.explained);
            outcome.summary.merge(&chunk.summary).map_err(value_error)?;
        }
        Ok(())
    }

    /// The payments that could not be read, as rejects (they come first
    /// in the rejects, as in the rejects file, and in no part's).
    fn payment_rejects(&self) -> Vec<Reject> {
        self.payments
            .as_ref()
            .map(|p| p.index.rejects.iter().map(|(_, r)| r.clone()).collect())
            .unwrap_or_default()
    }

    /// The summary state of what was folded.
    fn state(&self, summary: Summary, spec: Spec) -> SummaryState {
        SummaryState {
            summary,
            keys: self.grouping.keys.clone(),
            repayments: self.payments.is_some(),
            policy: self.policy.clone(),
            spec,
        }
    }
}

/// What `run` and `Runner` start from: the policy, payments and book
/// opened, the book's columns checked; the source not yet read.
#[allow(clippy::too_many_arguments)]
fn open(
    py: Python<'_>,
    book: &Bound<'_, PyAny>,
    as_of: &str,
    policy: &Bound<'_, PyAny>,
    repayments: Option<&Bound<'_, PyAny>>,
    group_by: Option<Vec<String>>,
    unique_ids: bool,
    book_name: &str,
    repayments_name: &str,
    results: bool,
    wide_decimals: bool,
) -> PyResult<(Source, Run, Spec)> {
    let (policy, spec) = policy_of(policy)?;
    let as_of = as_of_date(as_of)?;
    let keys = arrears_core::summary::normalize_keys(&group_keys(group_by)?);
    let payments = repayments
        .map(|r| load_payments(py, r, &policy, as_of, repayments_name))
        .transpose()?
        .map(Arc::new);
    let source = Source::new(import_stream(book, "book")?);
    let run = Run::new(
        &source,
        policy,
        as_of,
        &keys,
        payments,
        unique_ids,
        book_name,
        results,
        None,
        precision_of(wide_decimals),
    )?;
    Ok((source, run, spec))
}

/// Runs a whole book, batch by batch.
fn run_book(py: Python<'_>, mut source: Source, run: &Run) -> PyResult<Outcome> {
    py.detach(|| -> PyResult<Outcome> {
        let mut progress = Progress::default();
        while let Some(batch) = source.next_batch(&run.book_name)? {
            run.batch(&mut progress, batch)?;
        }
        Ok(progress.outcome)
    })
}

/// A book fed in parts (a Spark partition's batches): each part's results
/// and rejects as soon as it is computed, the summary state at the end.
/// Rows are numbered across the parts; duplicated loan_ids are found across
/// them.
#[pyclass(module = "arrears._arrears")]
struct Runner {
    run: Run,
    spec: Spec,
    names: Vec<String>,
    read: Vec<bool>,
    progress: Progress,
}

#[pymethods]
impl Runner {
    /// `book`: Arrow data with the book's columns (rows are not read).
    #[new]
    #[pyo3(signature = (book, *, as_of, policy, repayments=None, group_by=None, unique_ids=false, book_name="book", repayments_name="repayments", results=true, wide_decimals=false))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        book: &Bound<'_, PyAny>,
        as_of: &str,
        policy: &Bound<'_, PyAny>,
        repayments: Option<&Bound<'_, PyAny>>,
        group_by: Option<Vec<String>>,
        unique_ids: bool,
        book_name: &str,
        repayments_name: &str,
        results: bool,
        wide_decimals: bool,
    ) -> PyResult<Runner> {
        let (source, run, spec) = open(
            py,
            book,
            as_of,
            policy,
            repayments,
            group_by,
            unique_ids,
            book_name,
            repayments_name,
            results,
            wide_decimals,
        )?;
        Ok(Runner {
            run,
            spec,
            names: source.names.clone(),
            read: source.read.clone(),
            progress: Progress::default(),
        })
    }

    /// Computes a part of the book (Arrow data with the same columns):
    /// its results and rejects.
    fn feed(&mut self, py: Python<'_>, part: &Bound<'_, PyAny>) -> PyResult<(Table, Table)> {
        let mut source = Source::new(import_stream(part, &self.run.book_name)?);
        if source.names != self.names || source.read != self.read {
            return Err(value_error(format!(
                "{}: a part with other columns than the first: {:?}, not {:?}",
                self.run.book_name, source.names, self.names
            )));
        }
        source.rows = self.progress.outcome.rows_read;
        let run = &self.run;
        let progress = &mut self.progress;
        py.detach(|| -> PyResult<()> {
            while let Some(batch) = source.next_batch(&run.book_name)? {
                run.batch(progress, batch)?;
            }
            Ok(())
        })?;
        let outcome = &mut self.progress.outcome;
        let results = Table {
            schema: schema_of(&self.run.columns, self.run.precision),
            batches: std::mem::take(&mut outcome.results),
        };
        Ok((
            results,
            rejects_table(&std::mem::take(&mut outcome.rejects)),
        ))
    }

    /// The summary state of every part fed.
    fn summary_state(&self) -> SummaryState {
        self.run
            .state(self.progress.outcome.summary.clone(), self.spec.clone())
    }

    /// The payments that could not be read, as rejects (they are not in
    /// any part's).
    fn payment_rejects(&self) -> Table {
        rejects_table(&self.run.payment_rejects())
    }

    /// The payments whose loan_id's book row this runner saw, as bytes:
    /// for each, its ordinal (u32, little-endian) and 1 if the row was
    /// accepted, 0 if rejected. `unmatched_payments` takes every part's.
    fn payments_seen<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        let mut out = Vec::new();
        if let Some(p) = &self.run.payments {
            for (ordinal, accepted) in p.index.seen() {
                out.extend_from_slice(&ordinal.to_le_bytes());
                out.push(u8::from(accepted));
            }
        }
        PyBytes::new(py, &out)
    }

    /// (rows read, accepted, rejected) so far.
    #[getter]
    fn counts(&self) -> (u64, u64, u64) {
        let o = &self.progress.outcome;
        (o.rows_read, o.accepted, o.rows_read - o.accepted)
    }
}

// ---------------------------------------------------------------- summary state

const STATE_MAGIC: &[u8; 5] = b"ARSS1";

/// The summary's mergeable state: exact tallies by group, with the policy
/// and grouping they were folded under.
#[pyclass(module = "arrears._arrears", name = "SummaryState")]
struct SummaryState {
    summary: Summary,
    keys: Vec<GroupKey>,
    repayments: bool,
    policy: Arc<Policy>,
    spec: Spec,
}

fn put_text(out: &mut Vec<u8>, text: &str) {
    out.extend_from_slice(&(text.len() as u32).to_le_bytes());
    out.extend_from_slice(text.as_bytes());
}

fn take_text<'a>(bytes: &mut &'a [u8]) -> PyResult<&'a str> {
    let bad = || value_error("not a summary state: cut short");
    let len = bytes.get(..4).ok_or_else(bad)?;
    let len = u32::from_le_bytes(len.try_into().expect("4 bytes")) as usize;
    let text = bytes.get(4..4 + len).ok_or_else(bad)?;
    *bytes = &bytes[4 + len..];
    std::str::from_utf8(text).map_err(|_| value_error("not a summary state: bad text"))
}

#[pymethods]
impl SummaryState {
    /// The state as bytes: the policy, the grouping and the exact tallies.
    fn to_bytes<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        let mut out = STATE_MAGIC.to_vec();
        self.spec.to_bytes(&mut out);
        let keys: Vec<&str> = self.keys.iter().map(|k| k.name()).collect();
        put_text(&mut out, &keys.join(","));
        out.push(u8::from(self.repayments));
        out.extend(self.summary.to_bytes());
        PyBytes::new(py, &out)
    }

    /// The state `to_bytes` wrote.
    #[staticmethod]
    fn from_bytes(data: &[u8]) -> PyResult<SummaryState> {
        let mut rest = data
            .strip_prefix(STATE_MAGIC)
            .ok_or_else(|| value_error("not a summary state: it does not start with ARSS1"))?;
        let spec = Spec::from_bytes(&mut rest)?;
        let keys = take_text(&mut rest)?;
        let (&flag, rest) = rest
            .split_first()
            .ok_or_else(|| value_error("not a summary state: cut short"))?;
        let policy = spec.load()?;
        let keys = group_keys(Some(vec![keys.to_string()]))?;
        let summary = Summary::from_bytes(rest).map_err(value_error)?;
        Ok(SummaryState {
            summary,
            keys,
            repayments: flag == 1,
            policy: Arc::new(policy),
            spec,
        })
    }

    /// Adds another state's tallies (folded under the same policy and
    /// grouping) to this one.
    fn merge(&mut self, other: PyRef<'_, SummaryState>) -> PyResult<()> {
        if other.keys != self.keys || other.repayments != self.repayments {
            return Err(value_error(
                "cannot merge summary states of different group_by or repayments",
            ));
        }
        if other.policy.resolved != self.policy.resolved {
            return Err(value_error(
                "cannot merge summary states of different policies",
            ));
        }
        self.summary.merge(&other.summary).map_err(value_error)
    }

    /// The summary table, exactly the command line's, as a pyarrow Table;
    /// its decimals as decimal(18,s), or decimal(38,s) with `wide_decimals`.
    #[pyo3(signature = (*, wide_decimals=false))]
    fn finish<'py>(&self, py: Python<'py>, wide_decimals: bool) -> PyResult<Bound<'py, PyAny>> {
        let table = Bound::new(py, self.table(precision_of(wide_decimals))?)?;
        py.import("pyarrow")?.call_method1("table", (table,))
    }

    /// States pickle as their bytes.
    fn __reduce__<'py>(
        slf: &Bound<'py, Self>,
    ) -> PyResult<(Bound<'py, PyAny>, (Bound<'py, PyBytes>,))> {
        let make = slf.get_type().getattr("from_bytes")?;
        Ok((make, (slf.borrow().to_bytes(slf.py()),)))
    }

    /// How many loans the tallies hold.
    #[getter]
    fn loans(&self) -> u64 {
        self.summary.groups.values().map(|t| t.loans).sum()
    }

    fn __repr__(&self) -> String {
        let keys: Vec<&str> = self.keys.iter().map(|k| k.name()).collect();
        format!(
            "arrears.SummaryState({} loans in {} groups, policy {}, group_by [{}])",
            self.loans(),
            self.summary.groups.len(),
            self.policy.describe(),
            keys.join(", ")
        )
    }
}

impl SummaryState {
    fn table(&self, precision: u8) -> PyResult<Table> {
        let names: Vec<&str> = arrears_core::summary::normalize_keys(&self.keys)
            .iter()
            .map(|k| k.name())
            .collect();
        let (header, rows) = self
            .summary
            .table(&names, &self.policy, self.repayments)
            .map_err(value_error)?;
        typed_table(&Kind::columns(&header, names.len()), &rows, precision)
    }
}

// ---------------------------------------------------------------- functions

fn policy_of(policy: &Bound<'_, PyAny>) -> PyResult<(Arc<Policy>, Spec)> {
    if let Ok(p) = policy.cast::<PyPolicy>() {
        return Ok((p.get().policy.clone(), p.get().spec.clone()));
    }
    let spec: String = policy.extract().map_err(|_| {
        PyTypeError::new_err(
            "policy: expected a preset name, a file path, TOML text or arrears.policy(...)",
        )
    })?;
    let p = load_policy(&spec)?;
    Ok((p.policy, p.spec))
}

/// Runs a book: (results, rejects, summary state, unmatched, counts).
#[pyfunction]
#[pyo3(signature = (book, *, as_of, policy, repayments=None, group_by=None, unique_ids=false, book_name="book", repayments_name="repayments", results=true, wide_decimals=false))]
#[allow(clippy::too_many_arguments, clippy::type_complexity)]
fn run<'py>(
    py: Python<'py>,
    book: &Bound<'py, PyAny>,
    as_of: &str,
    policy: &Bound<'py, PyAny>,
    repayments: Option<&Bound<'py, PyAny>>,
    group_by: Option<Vec<String>>,
    unique_ids: bool,
    book_name: &str,
    repayments_name: &str,
    results: bool,
    wide_decimals: bool,
) -> PyResult<(Table, Table, SummaryState, Option<Table>, (u64, u64, u64))> {
    let (source, run, spec) = open(
        py,
        book,
        as_of,
        policy,
        repayments,
        group_by,
        unique_ids,
        book_name,
        repayments_name,
        results,
        wide_decimals,
    )?;
    let outcome = run_book(py, source, &run)?;
    let results = Table {
        schema: schema_of(&run.columns, run.precision),
        batches: outcome.results,
    };
    let mut rejects = run.payment_rejects();
    rejects.extend(outcome.rejects);
    let counts = (
        outcome.rows_read,
        outcome.accepted,
        outcome.rows_read - outcome.accepted,
    );
    let unmatched = run
        .payments
        .as_deref()
        .map(|p| unmatched_table(p, &run.policy, run.precision))
        .transpose()?;
    let state = run.state(outcome.summary, spec);
    Ok((results, rejects_table(&rejects), state, unmatched, counts))
}

/// The explanations of the named loans as `explain --json` prints them,
/// and the ids not found among the accepted rows.
#[pyfunction]
#[pyo3(signature = (book, loan_ids, *, as_of, policy, repayments=None, book_name="book", repayments_name="repayments"))]
#[allow(clippy::too_many_arguments)]
fn explain<'py>(
    py: Python<'py>,
    book: &Bound<'py, PyAny>,
    loan_ids: Vec<String>,
    as_of: &str,
    policy: &Bound<'py, PyAny>,
    repayments: Option<&Bound<'py, PyAny>>,
    book_name: &str,
    repayments_name: &str,
) -> PyResult<(String, Vec<String>, u64, u64)> {
    let (policy, _) = policy_of(policy)?;
    let as_of = as_of_date(as_of)?;
    let payments = repayments
        .map(|r| load_payments(py, r, &policy, as_of, repayments_name))
        .transpose()?;
    let ids: std::collections::HashSet<String> = loan_ids.iter().cloned().collect();
    let source = Source::new(import_stream(book, "book")?);
    let run = Run::new(
        &source,
        policy,
        as_of,
        &[],
        payments.map(Arc::new),
        false,
        book_name,
        false,
        Some(ids),
        PRECISION,
    )?;
    let outcome = run_book(py, source, &run)?;
    let json = serde_json::to_string(&outcome.explained)
        .map_err(|e| PyRuntimeError::new_err(e.to_string()))?;
    let missing = loan_ids
        .into_iter()
        .filter(|id| !outcome.explained.iter().any(|e| &e.loan_id == id))
        .collect();
    Ok((
        json,
        missing,
        outcome.accepted,
        outcome.rows_read - outcome.accepted,
    ))
}

/// The payments that belong to no accepted row of a book computed in
/// parts, from what each part saw (`Runner.payments_seen`): the table
/// `run` gives as `unmatched`.
#[pyfunction]
#[pyo3(signature = (repayments, seen, *, as_of, policy, repayments_name="repayments", wide_decimals=false))]
fn unmatched_payments(
    py: Python<'_>,
    repayments: &Bound<'_, PyAny>,
    seen: Vec<Vec<u8>>,
    as_of: &str,
    policy: &Bound<'_, PyAny>,
    repayments_name: &str,
    wide_decimals: bool,
) -> PyResult<Table> {
    let (policy, _) = policy_of(policy)?;
    let as_of = as_of_date(as_of)?;
    let payments = load_payments(py, repayments, &policy, as_of, repayments_name)?;
    for part in &seen {
        if part.len() % 5 != 0 {
            return Err(value_error(
                "payments seen: not whole (ordinal, flag) pairs",
            ));
        }
        let pairs: Vec<(u32, bool)> = part
            .chunks_exact(5)
            .map(|c| (u32::from_le_bytes([c[0], c[1], c[2], c[3]]), c[4] == 1))
            .collect();
        payments.index.mark_seen(&pairs);
    }
    unmatched_table(&payments, &policy, precision_of(wide_decimals))
}

/// The names of the presets.
#[pyfunction]
fn presets() -> Vec<&'static str> {
    arrears_core::policy::preset_names()
}

#[pymodule]
fn _arrears(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add(
        "__all__",
        vec![
            "Policy",
            "SummaryState",
            "Table",
            "Runner",
            "run",
            "explain",
            "presets",
            "unmatched_payments",
        ],
    )?;
    m.add_class::<PyPolicy>()?;
    m.add_class::<SummaryState>()?;
    m.add_class::<Table>()?;
    m.add_class::<Runner>()?;
    m.add_function(wrap_pyfunction!(run, m)?)?;
    m.add_function(wrap_pyfunction!(explain, m)?)?;
    m.add_function(wrap_pyfunction!(presets, m)?)?;
    m.add_function(wrap_pyfunction!(unmatched_payments, m)?)?;
    Ok(())
}
