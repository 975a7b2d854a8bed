//! Where records come from: CSV (plain, gzip or zstd; any supported
//! encoding) or Parquet, each read as CSV-like records of field text, so
//! every format goes through the same validation.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use csv::ByteRecord;
use encoding_rs::Encoding;

use crate::error::Error;
use crate::io::crlf::CrlfToLf;
pub use crate::io::split::Next;
use crate::io::split::Splitter;
use crate::policy::Policy;
use crate::record::Layout;

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
    Parquet(Box<crate::io::parquet::BookReader>),
}

/// One opened input.
pub struct Source {
    pub name: String,
    records: Records,
    /// The file's size, for progress.
    pub size: Option<u64>,
    /// Bytes of the file read so far (compressed bytes for compressed input).
    consumed: Arc<AtomicU64>,
    /// The input's hash, taken as it is read.
    pub hashing: Hashing,
    /// How the CSV is compressed (for the hint of a header that cannot be read).
    compression: Compression,
}

/// An input's size and BLAKE3 hash, for the manifest.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Digest {
    pub name: String,
    pub size: u64,
    pub blake3: String,
}

/// The hash of an input, taken as its bytes are read (the file's own
/// bytes: compressed ones for a compressed book). A Parquet file is read
/// in pieces and out of order, so it is hashed whole when asked, which
/// reads it a second time.
#[derive(Clone)]
pub struct Hashing {
    name: String,
    state: Arc<Mutex<(blake3::Hasher, u64)>>,
    parquet: Option<PathBuf>,
}

impl Hashing {
    fn new(name: &str, parquet: Option<PathBuf>) -> Hashing {
        Hashing {
            name: name.to_string(),
            state: Arc::new(Mutex::new((blake3::Hasher::new(), 0))),
            parquet,
        }
    }

    fn update(&self, bytes: &[u8]) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.0.update(bytes);
        state.1 += bytes.len() as u64;
    }

    /// The size and hash of everything read (call after the last read).
    pub fn digest(&self) -> Result<Digest, Error> {
        if let Some(path) = &self.parquet {
            return digest_file(path);
        }
        let state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        Ok(Digest {
            name: self.name.clone(),
            size: state.1,
            blake3: state.0.finalize().to_hex().to_string(),
        })
    }
}

/// A file's size and BLAKE3 hash, read whole for it.
pub fn digest_file(path: &Path) -> Result<Digest, Error> {
    let name = path.display().to_string();
    let mut hasher = blake3::Hasher::new();
    let file = File::open(path).map_err(|e| Error::io(&name, e))?;
    hasher
        .update_reader(file)
        .map_err(|e| Error::io(&name, e))?;
    Ok(Digest {
        name,
        size: hasher.count(),
        blake3: hasher.finalize().to_hex().to_string(),
    })
}

/// Counts and hashes the bytes read through it.
struct Counted<R> {
    inner: R,
    count: Arc<AtomicU64>,
    hashing: Hashing,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        self.hashing.update(&buf[..n]);
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
        let hashing = Hashing::new(&name, None);
        let read = Counted {
            inner: read,
            count: consumed.clone(),
            hashing: hashing.clone(),
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
            hashing,
            compression,
        })
    }

    #[cfg(feature = "parquet")]
    fn parquet(path: &Path, name: String) -> Result<Source, Error> {
        let reader = crate::io::parquet::BookReader::open(path)?;
        let hashing = Hashing::new(&name, Some(path.to_path_buf()));
        Ok(Source {
            size: std::fs::metadata(path).ok().map(|m| m.len()),
            name,
            records: Records::Parquet(Box::new(reader)),
            consumed: Arc::new(AtomicU64::new(0)),
            hashing,
            compression: Compression::None,
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

    /// Opens a results file written by `run` (plain or compressed CSV, or
    /// Parquet) and reads its header's column names, trimmed.
    pub fn results(path: &Path) -> Result<(Source, Vec<String>), Error> {
        let mut source = Source::open(&Input::File(path.to_path_buf()), None, Compression::None)?;
        let header = source
            .header()?
            .iter()
            .map(|f| String::from_utf8_lossy(f).trim().to_string())
            .collect();
        Ok((source, header))
    }

    /// The header: the CSV's first record, or the Parquet column names.
    pub fn header(&mut self) -> Result<ByteRecord, Error> {
        match &mut self.records {
            Records::Csv { splitter, header } => {
                if header.is_none() {
                    let mut first = ByteRecord::new();
                    let compression = self.compression;
                    splitter.read(&mut first).map_err(|e| {
                        let hint = match compression {
                            Compression::None => "",
                            Compression::Gzip => " (read as gzip: is it really gzip-compressed? `zcat x.gz | arrears run -` needs no --compression; `cat x.gz | arrears run - --compression gzip` does)",
                            Compression::Zstd => " (read as zstd: is it really zstd-compressed? `zstdcat x.zst | arrears run -` needs no --compression; `cat x.zst | arrears run - --compression zstd` does)",
                        };
                        Error::io(format!("{}{hint}", self.name), e)
                    })?;
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
    pub fn check_types(
        &self,
        columns: &[(crate::record::ColKind, usize, &str)],
    ) -> Result<(), Error> {
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
        let layout = Layout::from_header(&crate::io::split::Quoted(&header), policy, &self.name)?;
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

/// Reads every source's header. All must hold the same columns (in any
/// order: each is read by its own header); the layouts are per source.
pub fn check_headers(sources: &mut [Source], policy: &Policy) -> Result<Vec<Layout>, Error> {
    let mut layouts: Vec<Layout> = Vec::with_capacity(sources.len());
    for i in 0..sources.len() {
        let this = sources[i].layout(policy)?;
        if let Some(first) = layouts.first() {
            let names = |l: &Layout| l.columns().map(|(c, _)| c.name()).collect::<Vec<_>>();
            let (want, have) = (names(first), names(&this));
            if want != have {
                let missing: Vec<_> = want.iter().filter(|c| !have.contains(c)).collect();
                let extra: Vec<_> = have.iter().filter(|c| !want.contains(c)).collect();
                return Err(Error::Header {
                    path: sources[i].name.clone(),
                    message: format!(
                        "its columns differ from {}'s (lacks {missing:?}, has {extra:?} besides): all inputs of a run must hold the same columns, in any order",
                        sources[0].name
                    ),
                });
            }
        }
        layouts.push(this);
    }
    if layouts.is_empty() {
        return Err(Error::Header {
            path: "<none>".into(),
            message: "no input".into(),
        });
    }
    Ok(layouts)
}

impl std::fmt::Debug for Hashing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hashing").field("name", &self.name).finish()
    }
}
