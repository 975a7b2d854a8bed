//! The floor for benchmarks: a plain single-pass `csv` crate read of a file,
//! records split and counted, nothing parsed. `arrears run` cannot be faster
//! than this on the same file.
//!
//! usage: cargo run --release --example csv_floor -- BOOK.csv

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args().nth(1).ok_or("usage: csv_floor BOOK.csv")?;
    let mut reader = csv::ReaderBuilder::new().flexible(true).from_path(&path)?;
    let mut record = csv::ByteRecord::new();
    let (mut rows, mut fields) = (0u64, 0u64);
    while reader.read_byte_record(&mut record)? {
        rows += 1;
        fields += record.len() as u64;
    }
    println!("{rows} rows, {fields} fields");
    Ok(())
}
