//! Splits a CSV input into records. A plain line (no quote, no carriage
//! return) is handed out as it stands, to be cut at its commas where it is
//! parsed (`record::Line`), without copying its fields into a record;
//! anything else (the header, blank lines, quoted fields, a last line
//! without its line feed) goes through `csv_core`, the parser the `csv`
//! crate is built on, into a `csv::ByteRecord`. Either way a record has the
//! fields and the line number `csv::Reader` (flexible, default dialect)
//! would give it.

use std::io::{self, Read};

use csv::{ByteRecord, Position};
use csv_core::ReadRecordResult;

use crate::record::{Fields, Line};

/// A `csv::ByteRecord` seen as the core's `Fields` (a record with quoted
/// fields, a header, a Parquet row made text).
#[derive(Debug, Clone, Copy)]
pub struct Quoted<'a>(pub &'a ByteRecord);

impl Fields for Quoted<'_> {
    fn get(&self, i: usize) -> Option<&[u8]> {
        self.0.get(i)
    }

    fn len(&self) -> usize {
        self.0.len()
    }

    fn bytes(&self) -> &[u8] {
        self.0.as_slice()
    }

    fn line(&self) -> u64 {
        self.0.position().map_or(0, |p| p.line())
    }

    fn iter(&self) -> impl Iterator<Item = &[u8]> {
        self.0.iter()
    }
}

/// Bytes of input buffered at a time.
const BUFFER: usize = 1 << 18;

/// What `Splitter::next` read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// A plain line, starting on `line`: its text is `Splitter::plain`.
    Plain {
        line: u64,
    },
    /// Any other record, read into the caller's `ByteRecord`.
    Record,
    End,
}

pub struct Splitter<R> {
    inner: R,
    /// Input read and not yet split: `buf[pos..end]`.
    buf: Box<[u8]>,
    pos: usize,
    end: usize,
    /// The last plain line: `buf[plain.0..plain.1]`.
    plain: (usize, usize),
    /// The input has no more bytes.
    eof: bool,
    /// `csv_core` reports the end of the input once; after it, no records.
    done: bool,
    core: csv_core::Reader,
    /// The record being read by `csv_core`: its field bytes and field ends.
    fields: Vec<u8>,
    ends: Vec<usize>,
    /// The last byte consumed was a line feed: `csv_core` is not waiting
    /// for one to finish a record it ended at a carriage return, so the
    /// plain path may go.
    clean: bool,
    /// The first record (the header) was read: it goes through `csv_core`,
    /// which strips a UTF-8 byte order mark.
    started: bool,
    /// Field ends of a plain line that `read` copies into a record.
    scratch: Vec<u32>,
}

impl<R: Read> Splitter<R> {
    pub fn new(inner: R) -> Splitter<R> {
        Splitter {
            inner,
            buf: vec![0; BUFFER].into_boxed_slice(),
            pos: 0,
            end: 0,
            plain: (0, 0),
            eof: false,
            done: false,
            core: csv_core::Reader::new(),
            fields: vec![0; 1024],
            ends: vec![0; 32],
            clean: true,
            started: false,
            scratch: Vec::new(),
        }
    }

    /// Reads the next record: a plain line (see `plain`), or any other
    /// record into `record`, its position holding its line.
    pub fn next(&mut self, record: &mut ByteRecord) -> io::Result<Next> {
        let line = self.core.line();
        if self.done {
            return Ok(Next::End);
        }
        if self.started && self.clean && self.read_plain()? {
            return Ok(Next::Plain { line });
        }
        if !self.started {
            // csv_core strips a byte order mark only when it sees all of
            // it in its first input, and takes an input that is nothing
            // else for the end of the file.
            while self.end - self.pos < 4 && !self.eof {
                self.refill()?;
            }
            self.started = true;
        }
        record.clear();
        set_line(record, line);
        Ok(match self.read_core(record)? {
            true => Next::Record,
            false => Next::End,
        })
    }

    /// The plain line `next` last read, without its line feed; valid until
    /// the next call.
    pub fn plain(&self) -> &[u8] {
        &self.buf[self.plain.0..self.plain.1]
    }

    /// Reads the next record, whatever its kind, into `record`; false at
    /// the end of the input.
    pub fn read(&mut self, record: &mut ByteRecord) -> io::Result<bool> {
        match self.next(record)? {
            Next::Plain { line } => {
                let mut ends = std::mem::take(&mut self.scratch);
                let plain = Line::split(self.plain(), line, &mut ends);
                record.clear();
                for field in plain.iter() {
                    record.push_field(field);
                }
                set_line(record, line);
                self.scratch = ends;
                Ok(true)
            }
            Next::Record => Ok(true),
            Next::End => Ok(false),
        }
    }

    /// Moves the unread bytes to the front of the buffer and reads more
    /// after them, unless the buffer is full.
    fn refill(&mut self) -> io::Result<()> {
        self.buf.copy_within(self.pos..self.end, 0);
        self.end -= self.pos;
        self.pos = 0;
        while self.end < self.buf.len() && !self.eof {
            match self.inner.read(&mut self.buf[self.end..]) {
                Ok(0) => self.eof = true,
                Ok(n) => {
                    self.end += n;
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Takes the next record if it is a whole plain line in the buffer;
    /// false (nothing consumed) if it is not.
    fn read_plain(&mut self) -> io::Result<bool> {
        let newline = loop {
            if let Some(at) = memchr::memchr(b'\n', &self.buf[self.pos..self.end]) {
                break self.pos + at;
            }
            let full = self.pos == 0 && self.end == self.buf.len();
            if self.eof || full {
                return Ok(false);
            }
            self.refill()?;
        };
        let line = &self.buf[self.pos..newline];
        // A blank line is skipped and a quote or carriage return changes
        // how the line splits: csv_core reads those.
        if line.is_empty() || memchr::memchr2(b'"', b'\r', line).is_some() {
            return Ok(false);
        }
        self.plain = (self.pos, newline);
        self.pos = newline + 1;
        self.core.set_line(self.core.line() + 1);
        Ok(true)
    }

    /// Reads the next record through csv_core, as `csv::Reader` does.
    fn read_core(&mut self, record: &mut ByteRecord) -> io::Result<bool> {
        let (mut out, mut ends) = (0, 0);
        loop {
            if self.pos == self.end && !self.eof {
                self.refill()?;
            }
            let input = &self.buf[self.pos..self.end];
            let (result, read, written, ended) =
                self.core
                    .read_record(input, &mut self.fields[out..], &mut self.ends[ends..]);
            if read > 0 {
                self.clean = input[read - 1] == b'\n';
            }
            self.pos += read;
            out += written;
            ends += ended;
            match result {
                ReadRecordResult::InputEmpty => {}
                ReadRecordResult::OutputFull => {
                    let grown = self.fields.len() * 2;
                    self.fields.resize(grown, 0);
                }
                ReadRecordResult::OutputEndsFull => {
                    let grown = self.ends.len() * 2;
                    self.ends.resize(grown, 0);
                }
                ReadRecordResult::Record => {
                    let mut start = 0;
                    for &end in &self.ends[..ends] {
                        record.push_field(&self.fields[start..end]);
                        start = end;
                    }
                    self.shrink();
                    return Ok(true);
                }
                ReadRecordResult::End => {
                    self.done = true;
                    return Ok(false);
                }
            }
        }
    }

    /// Lets go of the room an oversized record made the buffers grow to.
    fn shrink(&mut self) {
        if self.fields.len() > 1 << 20 {
            self.fields = vec![0; 1024];
        }
        if self.ends.len() > 1 << 12 {
            self.ends = vec![0; 32];
        }
    }
}

/// Gives `record` the position `csv::Reader` would: its line.
fn set_line(record: &mut ByteRecord, line: u64) {
    let mut position = Position::new();
    position.set_line(line);
    record.set_position(Some(position));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads `input` with the splitter and with `csv::Reader`, in reads of
    /// `chunk` bytes: the records, their fields and their lines must match,
    /// whether a plain line is taken as a `Line` or as a record.
    fn same_as_csv(input: &[u8], chunk: usize) {
        struct Trickle<'a>(&'a [u8], usize);
        impl Read for Trickle<'_> {
            fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
                let n = self.0.len().min(self.1).min(out.len());
                out[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let fields = |r: &dyn Fn(usize) -> Option<Vec<u8>>| (0..).map_while(r).collect::<Vec<_>>();
        for as_lines in [false, true] {
            let mut csv = csv::ReaderBuilder::new()
                .flexible(true)
                .has_headers(false)
                .from_reader(input);
            let mut splitter = Splitter::new(Trickle(input, chunk));
            let (mut want, mut got) = (ByteRecord::new(), ByteRecord::new());
            let mut ends = Vec::new();
            loop {
                let more = csv.read_byte_record(&mut want).unwrap();
                let wanted = fields(&|i| want.get(i).map(<[u8]>::to_vec));
                let want_line = want.position().map_or(0, |p| p.line());
                let context = format!("{input:?} in reads of {chunk}: {wanted:?}");
                let (got_fields, got_line) = if as_lines {
                    match splitter.next(&mut got).unwrap() {
                        Next::End => (None, 0),
                        Next::Record => (
                            Some(fields(&|i| got.get(i).map(<[u8]>::to_vec))),
                            Fields::line(&Quoted(&got)),
                        ),
                        Next::Plain { line } => {
                            let plain = Line::split(splitter.plain(), line, &mut ends);
                            let got = fields(&|i| Fields::get(&plain, i).map(<[u8]>::to_vec));
                            (Some(got), plain.line())
                        }
                    }
                } else {
                    match splitter.read(&mut got).unwrap() {
                        true => (
                            Some(fields(&|i| got.get(i).map(<[u8]>::to_vec))),
                            Fields::line(&Quoted(&got)),
                        ),
                        false => (None, 0),
                    }
                };
                assert_eq!(got_fields.is_some(), more, "{context}");
                if !more {
                    break;
                }
                assert_eq!(got_fields.unwrap(), wanted, "{context}");
                assert_eq!(got_line, want_line, "{context}");
            }
        }
    }

    #[test]
    fn records_and_lines_are_the_csv_crates() {
        let inputs: [&[u8]; 15] = [
            b"h1,h2\na,b\nc,d\n",
            b"\xEF\xBB\xBFh1,h2\na,b\n",
            b"\xEF\xBB\xBF",
            b"h\na,b\n\n\nc,,\n,\n",
            b"h\na,\"b\nc\",d\ne,f\n",
            b"h\na,b\"c,d\n\"e\"\"f\",g\n",
            b"h\na,b\rc,d\r\re,f\n",
            b"h\r\na,b\r\nc\r\n",
            b"h\nlast,line,without,feed",
            b"h\na,b\n\"unbalanced,quote\nx,y\n",
            b"h\n\"quoted\"tail,x\n",
            b"",
            b"\n\n",
            b"h",
            b"h\n\x00,\xFF\xFE,\xE2\x82\xAC\n\xEF\xBB\xBFmid,file\n",
        ];
        for input in inputs {
            for chunk in [1, 2, 3, 7, 64, 1 << 20] {
                same_as_csv(input, chunk);
            }
        }
    }

    #[test]
    fn a_record_longer_than_the_buffer_reads_whole() {
        let long = "x".repeat(BUFFER * 2 + 17);
        let input = format!("h\na,{long}\nb,\"{long}\nmore\"\nc,d\n");
        for chunk in [4096, BUFFER, 1 << 22] {
            same_as_csv(input.as_bytes(), chunk);
        }
    }
}
