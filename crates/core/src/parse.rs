//! Field parsers: text of one CSV field to money, rate or date.
//!
//! Pure functions with no I/O. Each returns a short reason on failure; the
//! caller adds the file, line, column and value. Money and rates go from text
//! straight to `Decimal`, never through `f64`.

use chrono::{Datelike, NaiveDate};
use rust_decimal::Decimal;

/// Parses money: `26000`, `26000.5`, `26,000.50`. Thousands separators only
/// in groups of three; at most two decimals; never negative.
pub fn money(text: &str) -> Result<Decimal, String> {
    if let Some((units, decimals @ 0..=2)) = plain_number(text.as_bytes()) {
        return Ok(Decimal::from_i128_with_scale(units.into(), decimals));
    }
    any_money(text)
}

/// Money in any accepted shape.
fn any_money(text: &str) -> Result<Decimal, String> {
    let s = text.trim();
    if s.is_empty() {
        return Err("empty".into());
    }
    let (int_part, frac_part) = match s.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (s, None),
    };
    if int_part.contains(',') {
        let mut groups = int_part.split(',');
        let first_ok = groups
            .next()
            .is_some_and(|g| (1..=3).contains(&g.len()) && all_digits(g));
        if !first_ok || !groups.all(|g| g.len() == 3 && all_digits(g)) {
            return Err("thousands separators must group exactly three digits".into());
        }
    } else {
        if s.starts_with('-') {
            return Err("must not be negative".into());
        }
        if int_part.is_empty() || !all_digits(int_part) {
            return Err("not a number".into());
        }
    }
    let fraction = frac_part.unwrap_or("");
    if frac_part.is_some() {
        if fraction.is_empty() || !all_digits(fraction) {
            return Err("not a number".into());
        }
        if fraction.len() > 2 {
            return Err("more than 2 decimals".into());
        }
    }
    // The digits, read as one integer of `fraction.len()` decimals.
    let mut digits = int_part
        .bytes()
        .filter(|&b| b != b',')
        .chain(fraction.bytes());
    let units = digits
        .try_fold(0i128, |n, b| {
            n.checked_mul(10)?.checked_add(i128::from(b - b'0'))
        })
        .filter(|&n| n < 1 << 96)
        .ok_or_else(|| "out of range".to_string())?;
    Ok(Decimal::from_i128_with_scale(units, fraction.len() as u32))
}

/// Parses a rate: a fraction `0.0005`, or `0.05%`, `0.5‰`, `5‱`. Never negative.
pub fn rate(text: &str) -> Result<Decimal, String> {
    let bytes = text.as_bytes();
    let (number, shift) = match bytes.split_last() {
        Some((b'%', number)) => (number, 2),
        _ => (bytes, 0),
    };
    if let Some((units, decimals)) = plain_number(number) {
        return Ok(Decimal::from_i128_with_scale(
            units.into(),
            decimals + shift,
        ));
    }
    any_rate(text)
}

/// A rate in any accepted shape.
fn any_rate(text: &str) -> Result<Decimal, String> {
    let s = text.trim();
    let (number, divisor) = if let Some(n) = s.strip_suffix('%') {
        (n, 100u32)
    } else if let Some(n) = s.strip_suffix('‰') {
        (n, 1_000)
    } else if let Some(n) = s.strip_suffix('‱') {
        (n, 10_000)
    } else {
        (s, 1)
    };
    let number = number.trim_end();
    if number.starts_with('-') {
        return Err("must not be negative".into());
    }
    let valid = match number.split_once('.') {
        Some((i, f)) => !i.is_empty() && !f.is_empty() && all_digits(i) && all_digits(f),
        None => !number.is_empty() && all_digits(number),
    };
    if !valid {
        return Err("not a rate (expected 0.0005, 0.05%, 0.5‰ or 5‱)".into());
    }
    // The digits as one integer, its scale the number of decimals; a
    // percent, per-mille or per-ten-thousand sign only moves the point.
    let decimals = number.split_once('.').map_or(0, |(_, f)| f.len() as u32);
    let units = number
        .bytes()
        .filter(|&b| b != b'.')
        .try_fold(0i128, |n, b| {
            n.checked_mul(10)?.checked_add(i128::from(b - b'0'))
        })
        .filter(|&n| n < 1 << 96);
    let (Some(units), true) = (units, decimals <= MAX_SCALE) else {
        return Err("out of range".into());
    };
    let shift = divisor.ilog10();
    if decimals + shift > MAX_SCALE {
        return Err("too many decimals".into());
    }
    Ok(Decimal::from_i128_with_scale(units, decimals + shift))
}

/// The common shape of money and rates, `123` or `123.45` with at most 18
/// digits, read in one pass: the digits as one integer and the number of
/// decimals. `None` sends anything else (thousands separators, signs,
/// spaces, errors) to the general parsers, which read this shape the same.
fn plain_number(bytes: &[u8]) -> Option<(u64, u32)> {
    if bytes.is_empty() || bytes.len() > 19 {
        return None;
    }
    let mut units = 0u64;
    let mut point = None;
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'0'..=b'9' => units = units * 10 + u64::from(b - b'0'),
            b'.' if point.is_none() && i > 0 && i + 1 < bytes.len() => point = Some(i),
            _ => return None,
        }
    }
    let decimals = point.map_or(0, |p| bytes.len() - p - 1);
    Some((units, decimals as u32))
}

/// The most decimals a `Decimal` holds.
const MAX_SCALE: u32 = 28;

/// Parses a date: `2025-04-10`, `2025/04/10` or `20250410`; a time after a
/// space or `T` is ignored.
pub fn date(text: &str) -> Result<NaiveDate, String> {
    if let Some(date) = canonical_date(text.as_bytes()).filter(in_range) {
        return Ok(date);
    }
    let s = text.trim();
    let day = s.split([' ', 'T']).next().unwrap_or("");
    let parsed = if let Some(date) = canonical_date(day.as_bytes()) {
        Ok(date)
    } else if day.len() == 8 && all_digits(day) {
        NaiveDate::parse_from_str(day, "%Y%m%d")
    } else if day.contains('/') {
        NaiveDate::parse_from_str(day, "%Y/%m/%d")
    } else {
        NaiveDate::parse_from_str(day, "%Y-%m-%d")
    };
    let date = parsed
        .map_err(|_| "not a date (expected 2025-04-10, 2025/04/10 or 20250410)".to_string())?;
    if !in_range(&date) {
        return Err(format!("out of range: years {FIRST_YEAR} to {LAST_YEAR}"));
    }
    Ok(date)
}

/// The common shapes, `2025-04-10`, `2025/04/10` and `20250410`, read
/// without chrono's general parser (this runs once or twice a row). `None`
/// sends anything else to the general parser, which gives the same date
/// for these shapes.
fn canonical_date(b: &[u8]) -> Option<NaiveDate> {
    let digit = |i: usize| {
        b.get(i)
            .filter(|c| c.is_ascii_digit())
            .map(|c| u32::from(c - b'0'))
    };
    let number =
        |from: usize, len: usize| (from..from + len).try_fold(0, |n, i| Some(n * 10 + digit(i)?));
    let (y, m, d) = match b.len() {
        10 if b[4] == b[7] && (b[4] == b'-' || b[4] == b'/') => {
            (number(0, 4)?, number(5, 2)?, number(8, 2)?)
        }
        8 => (number(0, 4)?, number(4, 2)?, number(6, 2)?),
        _ => return None,
    };
    NaiveDate::from_ymd_opt(y as i32, m, d)
}

fn in_range(date: &NaiveDate) -> bool {
    (FIRST_YEAR..=LAST_YEAR).contains(&date.year())
}

/// Dates outside these years are surely typos in a loan book.
pub const FIRST_YEAR: i32 = 1900;
pub const LAST_YEAR: i32 = 2199;

fn all_digits(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    #[test]
    fn money_formats() {
        assert_eq!(money("26000").unwrap(), d("26000"));
        assert_eq!(money("26000.5").unwrap(), d("26000.5"));
        assert_eq!(money(" 26,000.50 ").unwrap(), d("26000.50"));
        assert_eq!(money("1,234,567").unwrap(), d("1234567"));
        assert_eq!(money("0").unwrap(), d("0"));
        assert_eq!(money("0.01").unwrap(), d("0.01"));
    }

    #[test]
    fn money_rejects() {
        for bad in [
            "",
            "-1",
            "1.234",
            "1.500",
            "26,00",
            "2,6000",
            ",100",
            "1,000,00",
            "abc",
            "1e5",
            "1.",
            ".5",
            "+5",
            "1 000",
            "12,345.678",
            "99999999999999999999999999999999",
        ] {
            assert!(money(bad).is_err(), "{bad:?} should be rejected");
        }
        assert_eq!(money("1.234").unwrap_err(), "more than 2 decimals");
        assert_eq!(money("-3").unwrap_err(), "must not be negative");
    }

    #[test]
    fn rate_formats() {
        assert_eq!(rate("0.0005").unwrap(), d("0.0005"));
        assert_eq!(rate("0.05%").unwrap(), d("0.0005"));
        assert_eq!(rate("0.5‰").unwrap(), d("0.0005"));
        assert_eq!(rate("5‱").unwrap(), d("0.0005"));
        assert_eq!(rate("18%").unwrap(), d("0.18"));
        assert_eq!(rate(" 0.1 % ").unwrap(), d("0.001"));
        assert_eq!(rate("0").unwrap(), d("0"));
        assert_eq!(rate("1.67‱").unwrap(), d("0.000167"));
        assert_eq!(rate("007.50%").unwrap(), d("0.075"));
        // 28 decimals is a Decimal's most: a sign that moves the point past
        // them is too many decimals, more digits than 96 bits out of range.
        let decimals = |n: usize| format!("0.{}1", "0".repeat(n - 1));
        assert!(rate(&decimals(28)).is_ok());
        assert_eq!(rate(&decimals(29)).unwrap_err(), "out of range");
        assert_eq!(
            rate(&(decimals(27) + "%")).unwrap_err(),
            "too many decimals"
        );
        assert!(rate(&(decimals(26) + "%")).is_ok());
        assert_eq!(
            rate("79228162514264337593543950336").unwrap_err(),
            "out of range"
        );
        assert!(rate("79228162514264337593543950335").is_ok());
    }

    proptest::proptest! {
        /// The one-pass reading of plain numbers gives what the general
        /// parsers give, value and scale, accepted or not.
        #[test]
        fn plain_numbers_read_as_the_general_parsers_read_them(
            text in "[0-9]{0,20}(\\.[0-9]{0,4})?(%|‰| %)?",
        ) {
            let same = |a: Result<Decimal, String>, b: Result<Decimal, String>| match (a, b) {
                (Ok(a), Ok(b)) => a == b && a.scale() == b.scale(),
                (Err(_), Err(_)) => true,
                _ => false,
            };
            proptest::prop_assert!(same(rate(&text), any_rate(&text)), "rate {:?}", text);
            proptest::prop_assert!(same(money(&text), any_money(&text)), "money {:?}", text);
        }
    }

    #[test]
    fn rate_rejects() {
        for bad in ["", "-0.1", "%", "abc", "0.05%%", "1.", ".5", "1,5", "5 bp"] {
            assert!(rate(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn date_formats() {
        let want = NaiveDate::from_ymd_opt(2025, 4, 10).unwrap();
        for ok in [
            "2025-04-10",
            "2025/04/10",
            "20250410",
            "2025-04-10 13:45:00",
            "2025-04-10T13:45:00Z",
            " 2025/04/10 ",
        ] {
            assert_eq!(date(ok).unwrap(), want, "{ok:?}");
        }
        assert!(date("1900-01-01").is_ok() && date("2199-12-31").is_ok());
        assert_eq!(
            date("2024-02-29").unwrap(),
            NaiveDate::from_ymd_opt(2024, 2, 29).unwrap()
        );
    }

    #[test]
    fn canonical_dates_read_as_chrono_reads_them() {
        for text in [
            "2025-04-10",
            "2025/04/10",
            "20250410",
            "2024-02-29",
            "2025-02-29",
            "2025-13-01",
            "2025-04/10",
            "0000-00-00",
        ] {
            let fast = canonical_date(text.as_bytes());
            let slow = ["%Y-%m-%d", "%Y/%m/%d", "%Y%m%d"]
                .iter()
                .find_map(|f| NaiveDate::parse_from_str(text, f).ok());
            if fast.is_some() {
                assert_eq!(fast, slow, "{text}");
            }
        }
        assert_eq!(
            canonical_date(b"2025-4-10"),
            None,
            "other shapes go to chrono"
        );
    }

    #[test]
    fn date_rejects() {
        for bad in [
            "",
            "2025-02-29",
            "2025-13-01",
            "10/04/2025",
            "2025.04.10",
            "202504101",
            "x",
        ] {
            assert!(date(bad).is_err(), "{bad:?} should be rejected");
        }
    }
}
