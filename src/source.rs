//! Where records come from: CSV (plain, gzip or zstd; any supported
//! encoding) or Parquet, each read as CSV-like records of field text, so
//! every format goes through the same validation.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use csv::ByteRecord;
use encoding_rs::Encoding;

use crate::crlf::CrlfToLf;
use crate::error::Error;
use crate::policy::Policy;
use crate::record::Layout;
pub use crate::split::Next;
use crate::split::Splitter;

/// Where a loan book is read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    Stdin,
    File(PathBuf),
}

impl Input {
    pub fn name(&self) -> String {
        match self {
            Input::Stdin => "<stdin>".to_string(),
            Input::File(p) => p.display().to_string(),
        }
    }
}

/// How a CSV input is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Compression {
    #[default]
    None,
    Gzip,
    Zstd,
}

/// What a file holds, by its extension: `.parquet`; `.gz` or `.zst` for
/// compressed CSV; anything else plain CSV.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BookFormat {
    Csv(Compression),
    Parquet,
}

impl BookFormat {
    pub fn of(path: &Path) -> BookFormat {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        match ext.as_deref() {
            Some("parquet") => BookFormat::Parquet,
            Some("gz" | "gzip") => BookFormat::Csv(Compression::Gzip),
            Some("zst" | "zstd") => BookFormat::Csv(Compression::Zstd),
            _ => BookFormat::Csv(Compression::None),
        }
    }
}

enum Records {
    Csv {
        splitter: Box<Splitter<CrlfToLf<Box<dyn Read + Send>>>>,
        /// The first record, once read.
        header: Option<ByteRecord>,
    },
    #[cfg(feature = "parquet")]
    Parquet(Box<crate::parquet::BookReader>),
}

/// One opened input.
pub struct Source {
    pub name: String,
    records: Records,
    /// The file's size, for progress.
    pub size: Option<u64>,
    /// Bytes of the file read so far (compressed bytes for compressed input).
    consumed: Arc<AtomicU64>,
}

/// Counts the bytes read through it.
struct Counted<R> {
    inner: R,
    count: Arc<AtomicU64>,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

impl Source {
    /// Opens an input; `stdin_compression` says how standard input is
    /// compressed (files say it by their extension).
    pub fn open(
        input: &Input,
        encoding: Option<&'static Encoding>,
        stdin_compression: Compression,
    ) -> Result<Source, Error> {
        let name = input.name();
        let consumed = Arc::new(AtomicU64::new(0));
        let (read, size, compression): (Box<dyn Read + Send>, _, _) = match input {
            Input::Stdin => (Box::new(io::stdin()), None, stdin_compression),
            Input::File(path) => {
                let compression = match BookFormat::of(path) {
                    BookFormat::Parquet => return Source::parquet(path, name),
                    BookFormat::Csv(c) => c,
                };
                let file = File::open(path).map_err(|e| Error::io(&name, e))?;
                let size = file.metadata().ok().map(|m| m.len());
                (Box::new(file), size, compression)
            }
        };
        let read = Counted {
            inner: read,
            count: consumed.clone(),
        };
        let read: Box<dyn Read + Send> = match compression {
            Compression::None => Box::new(read),
            Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(read)),
            Compression::Zstd => {
                Box::new(zstd::Decoder::new(read).map_err(|e| Error::io(&name, e))?)
            }
        };
        // Other encodings are decoded to UTF-8 on the way in; bytes that do
        // not decode become U+FFFD, which the record parser rejects.
        let read: Box<dyn Read + Send> = match encoding {
            Some(e) if e != encoding_rs::UTF_8 => Box::new(
                encoding_rs_io::DecodeReaderBytesBuilder::new()
                    .encoding(Some(e))
                    .build(read),
            ),
            _ => read,
        };
        Ok(Source {
            name,
            records: Records::Csv {
                splitter: Box::new(Splitter::new(CrlfToLf::new(read))),
                header: None,
            },
            size,
            consumed,
        })
    }

    #[cfg(feature = "parquet")]
    fn parquet(path: &Path, name: String) -> Result<Source, Error> {
        let reader = crate::parquet::BookReader::open(path)?;
        Ok(Source {
            size: std::fs::metadata(path).ok().map(|m| m.len()),
            name,
            records: Records::Parquet(Box::new(reader)),
            consumed: Arc::new(AtomicU64::new(0)),
        })
    }

    #[cfg(not(feature = "parquet"))]
    fn parquet(_: &Path, name: String) -> Result<Source, Error> {
        Err(Error::Header {
            path: name,
            message: "this build of arrears has no Parquet support (cargo feature `parquet`)"
                .into(),
        })
    }

    /// The header: the CSV's first record, or the Parquet column names.
    pub fn header(&mut self) -> Result<ByteRecord, Error> {
        match &mut self.records {
            Records::Csv { splitter, header } => {
                if header.is_none() {
                    let mut first = ByteRecord::new();
                    splitter
                        .read(&mut first)
                        .map_err(|e| Error::io(&self.name, e))?;
                    *header = Some(first);
                }
                Ok(header.clone().unwrap_or_default())
            }
            #[cfg(feature = "parquet")]
            Records::Parquet(reader) => Ok(reader.header()),
        }
    }

    /// Reads only these fields (by index in the header); the others read
    /// as empty. Only Parquet skips them; CSV must split every field.
    pub fn select(&mut self, fields: &[usize]) {
        #[cfg(feature = "parquet")]
        if let Records::Parquet(reader) = &mut self.records {
            reader.select(fields);
        }
        let _ = fields;
    }

    /// Checks the types of these columns (kind, field index, canonical
    /// name) of a Parquet file; CSV has only text.
    pub fn check_types(&self, columns: &[(crate::record::ColKind, usize, &str)]) -> Result<(), Error> {
        #[cfg(feature = "parquet")]
        if let Records::Parquet(reader) = &self.records {
            reader.check_columns(columns)?;
        }
        let _ = columns;
        Ok(())
    }

    /// Reads the header and finds the loan book's columns in it; with
    /// Parquet, also checks their types.
    pub fn layout(&mut self, policy: &Policy) -> Result<Layout, Error> {
        let header = self.header()?;
        let layout = Layout::from_header(&header, policy, &self.name)?;
        #[cfg(feature = "parquet")]
        if let Records::Parquet(reader) = &self.records {
            reader.check(&layout)?;
        }
        let fields: Vec<usize> = layout.columns().map(|(_, i)| i).collect();
        self.select(&fields);
        Ok(layout)
    }

    /// Reads the next record: a plain CSV line (its text by `plain`), or
    /// any other record into `record`. Call `header` first.
    pub fn next(&mut self, record: &mut ByteRecord) -> Result<Next, Error> {
        match &mut self.records {
            Records::Csv { splitter, .. } => {
                splitter.next(record).map_err(|e| Error::io(&self.name, e))
            }
            #[cfg(feature = "parquet")]
            Records::Parquet(reader) => Ok(match reader.read(record)? {
                true => Next::Record,
                false => Next::End,
            }),
        }
    }

    /// The plain line `next` last read.
    pub fn plain(&self) -> &[u8] {
        match &self.records {
            Records::Csv { splitter, .. } => splitter.plain(),
            #[cfg(feature = "parquet")]
            Records::Parquet(_) => b"",
        }
    }

    /// Reads the next record; false at the end.
    pub fn read(&mut self, record: &mut ByteRecord) -> Result<bool, Error> {
        match &mut self.records {
            Records::Csv { splitter, .. } => {
                splitter.read(record).map_err(|e| Error::io(&self.name, e))
            }
            #[cfg(feature = "parquet")]
            Records::Parquet(reader) => reader.read(record),
        }
    }

    /// How far through the input the reading is, in bytes of the file.
    pub fn progress(&self) -> u64 {
        match &self.records {
            Records::Csv { .. } => self.consumed.load(Ordering::Relaxed),
            #[cfg(feature = "parquet")]
            Records::Parquet(reader) => reader.progress(self.size.unwrap_or(0)),
        }
    }
}

/// Reads every source's header; all must lay out the columns alike.
pub fn check_headers(sources: &mut [Source], policy: &Policy) -> Result<Layout, Error> {
    let mut layout: Option<Layout> = None;
    for i in 0..sources.len() {
        let this = sources[i].layout(policy)?;
        match &layout {
            Some(first) if *first != this => {
                return Err(Error::Header {
                    path: sources[i].name.clone(),
                    message: format!(
                        "header differs from {}'s: all inputs of a run must share one header",
                        sources[0].name
                    ),
                });
            }
            Some(_) => {}
            None => layout = Some(this),
        }
    }
    layout.ok_or_else(|| Error::Header {
        path: "<none>".into(),
        message: "no input".into(),
    })
}
