//! A field of CSV text exactly as the `csv` crate writes it, without the
//! crate: the results rows and a reject's raw text.

/// Appends a CSV field as the `csv` crate writes it: quoted only when it
/// holds a comma, a quote or a line break, with quotes doubled.
pub fn push_field(out: &mut Vec<u8>, field: &[u8]) {
    // Bytes above ',' (letters, digits, '-', '.', '_', every byte of a
    // non-ASCII character) never need quotes: one comparison a byte for
    // ids and labels, the four only for a field with a lower byte.
    if field.iter().all(|&b| b > b',')
        || !field
            .iter()
            .any(|&b| matches!(b, b',' | b'"' | b'\r' | b'\n'))
    {
        out.extend_from_slice(field);
        return;
    }
    out.push(b'"');
    for &b in field {
        if b == b'"' {
            out.push(b'"');
        }
        out.push(b);
    }
    out.push(b'"');
}
