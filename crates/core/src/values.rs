//! Typed values as the text a CSV book would hold, and back: what a
//! columnar reader (the command line's Parquet reader, the Python module's
//! Arrow reader) turns each value into before the row is parsed like a CSV
//! row, and what a typed writer reads a results field as. One set of rules
//! for every columnar source, so a book gives the same figures whichever
//! way it comes in.

use std::io::Write;

use chrono::{DateTime, NaiveDate, NaiveTime};
use rust_decimal::{Decimal, RoundingStrategy};

/// Day 0 of date32 columns.
pub const EPOCH: NaiveDate = NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid date");

/// Appends the decimal `units` / 10^scale, trailing fractional zeros removed.
pub fn push_decimal(out: &mut Vec<u8>, units: i128, scale: u32) {
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

/// Appends a float in its shortest exact form (`0.1`, `1e-7` as Rust
/// prints it; `NaN` and `inf` as such, which the number parser refuses).
pub fn push_f64(out: &mut Vec<u8>, value: f64) {
    let _ = write!(out, "{value}");
}

/// Appends a 32-bit float in its shortest exact form.
pub fn push_f32(out: &mut Vec<u8>, value: f32) {
    let _ = write!(out, "{value}");
}

/// Appends an integer.
pub fn push_int(out: &mut Vec<u8>, value: impl std::fmt::Display) {
    let _ = write!(out, "{value}");
}

/// Appends the ISO date `days` after 1970-01-01 (a date32 value).
pub fn push_date32(out: &mut Vec<u8>, days: i32) {
    let date = EPOCH + chrono::Duration::days(i64::from(days));
    let _ = write!(out, "{date}");
}

/// Appends a naive timestamp of `value` units, `per_second` to the second:
/// its date when it falls at midnight, else its date and time (which the
/// date parser refuses, as it would in a CSV book).
pub fn push_timestamp(out: &mut Vec<u8>, value: i64, per_second: i64) {
    let seconds = value.div_euclid(per_second);
    let nanos = (value.rem_euclid(per_second) * (1_000_000_000 / per_second)) as u32;
    match DateTime::from_timestamp(seconds, nanos).map(|t| t.naive_utc()) {
        Some(t) if t.time() == NaiveTime::MIN => {
            let _ = write!(out, "{}", t.date());
        }
        Some(t) => {
            let _ = write!(out, "{}", t.format("%Y-%m-%dT%H:%M:%S%.f"));
        }
        None => out.extend_from_slice(b"out of range"),
    }
}

/// The units of a decimal text at `scale` (`"12.5"` at 2: 1250); `None`
/// when it is not a plain decimal with at most `scale` places.
pub fn decimal_units(text: &str, scale: u32) -> Option<i128> {
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

/// The units of `value` at `scale` (half away from zero when it has more
/// places, as the CSV writer rounds).
pub fn units(value: Decimal, scale: u32) -> i128 {
    let value = match value.scale() > scale {
        true => value.round_dp_with_strategy(scale, RoundingStrategy::MidpointAwayFromZero),
        false => value,
    };
    value.mantissa() * 10i128.pow(scale - value.scale())
}

/// The days since 1970-01-01 of a date (a date32 value).
pub fn date32(date: NaiveDate) -> i32 {
    (date - EPOCH).num_days() as i32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(f: impl FnOnce(&mut Vec<u8>)) -> String {
        let mut out = Vec::new();
        f(&mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn decimals_lose_trailing_zeros_only() {
        assert_eq!(text(|o| push_decimal(o, 123450, 3)), "123.45");
        assert_eq!(text(|o| push_decimal(o, -5, 4)), "-0.0005");
        assert_eq!(text(|o| push_decimal(o, 1200, 0)), "1200");
        assert_eq!(text(|o| push_decimal(o, 0, 2)), "0");
        assert_eq!(decimal_units("12.5", 2), Some(1250));
        assert_eq!(decimal_units("-0.05", 2), Some(-5));
        assert_eq!(decimal_units("1.234", 2), None);
        assert_eq!(decimal_units("1e3", 2), None);
    }

    #[test]
    fn dates_and_timestamps() {
        assert_eq!(text(|o| push_date32(o, 0)), "1970-01-01");
        assert_eq!(text(|o| push_date32(o, 20089)), "2025-01-01");
        assert_eq!(
            text(|o| push_timestamp(o, 20089 * 86_400_000, 1_000)),
            "2025-01-01"
        );
        assert_eq!(
            text(|o| push_timestamp(o, 20089 * 86_400 + 3600, 1)),
            "2025-01-01T01:00:00"
        );
        assert_eq!(text(|o| push_f64(o, 0.1)), "0.1");
    }
}
