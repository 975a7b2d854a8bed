//! A reader that turns CRLF line endings into LF on the way in.
//!
//! The `csv` crate counts a CRLF record's line one short (rust-csv issue
//! #395: the LF of a CRLF terminator is consumed with the next record), and
//! rejects must name the right line. With every `\r\n` read as `\n`, CRLF
//! and LF books parse alike and report the same lines. A lone `\r` is left
//! alone.

use std::io::{self, Read};

pub struct CrlfToLf<R> {
    inner: R,
    buf: Box<[u8]>,
    /// The converted bytes not yet handed out: `buf[start..end]`.
    start: usize,
    end: usize,
    /// A `\r` that ended the previous chunk; dropped if the next chunk
    /// starts with `\n`, else given back.
    held_cr: bool,
}

impl<R: Read> CrlfToLf<R> {
    pub fn new(inner: R) -> CrlfToLf<R> {
        CrlfToLf {
            inner,
            buf: vec![0; 1 << 16].into_boxed_slice(),
            start: 0,
            end: 0,
            held_cr: false,
        }
    }

    /// Reads and converts the next chunk; `false` at the end of the input.
    fn refill(&mut self) -> io::Result<bool> {
        let offset = usize::from(self.held_cr);
        let n = self.inner.read(&mut self.buf[offset..])?;
        if n == 0 {
            // At the end, a held `\r` is given back alone.
            let had = std::mem::take(&mut self.held_cr);
            self.buf[0] = b'\r';
            (self.start, self.end) = (0, usize::from(had));
            return Ok(had);
        }
        if self.held_cr {
            self.buf[0] = b'\r';
        }
        let mut len = offset + n;
        self.held_cr = self.buf[len - 1] == b'\r';
        if self.held_cr {
            len -= 1;
        }
        (self.start, self.end) = (0, squeeze(&mut self.buf[..len]));
        Ok(true)
    }
}

impl<R: Read> Read for CrlfToLf<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.start == self.end {
            if !self.refill()? {
                return Ok(0);
            }
        }
        let n = out.len().min(self.end - self.start);
        out[..n].copy_from_slice(&self.buf[self.start..self.start + n]);
        self.start += n;
        Ok(n)
    }
}

/// Removes every `\r` that is followed by `\n`, in place; returns the new length.
fn squeeze(buf: &mut [u8]) -> usize {
    let mut write = 0;
    let mut read = 0;
    while let Some(at) = memchr::memchr(b'\r', &buf[read..]) {
        let cr = read + at;
        let keep = buf.get(cr + 1) != Some(&b'\n');
        let end = if keep { cr + 1 } else { cr };
        buf.copy_within(read..end, write);
        write += end - read;
        read = cr + 1;
    }
    if write < read {
        buf.copy_within(read.., write);
    }
    write + buf.len() - read
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads everything through the converter in reads of `chunk` bytes.
    fn convert(input: &[u8], chunk: usize) -> Vec<u8> {
        let mut reader = CrlfToLf::new(input);
        let mut out = Vec::new();
        let mut buf = vec![0u8; chunk];
        loop {
            let n = reader.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
        }
        out
    }

    #[test]
    fn crlf_becomes_lf_whatever_the_read_size() {
        let input = b"a,b\r\nc,\"d\r\ne\"\r\n\rf\r\r\ng\r";
        let want = b"a,b\nc,\"d\ne\"\n\rf\r\ng\r";
        for chunk in 1..=input.len() + 1 {
            assert_eq!(convert(input, chunk), want, "reads of {chunk} bytes");
        }
        assert_eq!(convert(b"", 8), b"");
        assert_eq!(convert(b"\r", 8), b"\r");
        assert_eq!(convert(b"no breaks", 4), b"no breaks");
    }
}
