//! Exact products and quotients of decimals, rounded once.
//!
//! `round(num, den, places, rule)` is `Π num / Π den` rounded to `places`
//! decimals. It works on the integer mantissas in 128 bits: the product of
//! the numerator's digits over the product of the denominator's, one
//! integer division, one rounding, never an intermediate rounding. That is
//! both exact and several times cheaper than the same steps in `Decimal`,
//! whose multiplications and divisions round to 28 significant digits on
//! the way. When the integers leave 128 bits (an 11-digit principal with a
//! 28-decimal rate, or a sum of principal-days), the same steps run on
//! arbitrary-precision integers: slower, and just as exact.

use rust_decimal::Decimal;

use crate::policy::Rounding;

/// 10^0 to 10^38, every power of ten in 128 bits.
const POWERS_OF_TEN: [u128; 39] = {
    let mut table = [1u128; 39];
    let mut i = 1;
    while i < table.len() {
        table[i] = table[i - 1] * 10;
        i += 1;
    }
    table
};

/// One factor of a product: a decimal's digits as an integer, its scale
/// and its sign. Built from a `Decimal` (reading its fields) or straight
/// from an integer (days, a year's length), never rebuilt as a `Decimal`
/// on the way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Factor {
    digits: u128,
    scale: u32,
    negative: bool,
}

impl Factor {
    pub const ONE: Factor = Factor::int(1);

    pub const fn int(n: u64) -> Factor {
        Factor {
            digits: n as u128,
            scale: 0,
            negative: false,
        }
    }

    /// The factor as a `Decimal` (for `Decimal`'s own route).
    pub fn decimal(self) -> Decimal {
        let digits = self.digits as i128;
        Decimal::from_i128_with_scale(if self.negative { -digits } else { digits }, self.scale)
    }
}

impl Factor {
    /// `digits` / 10^scale.
    pub fn new(digits: i128, scale: u32) -> Factor {
        Factor {
            digits: digits.unsigned_abs(),
            scale,
            negative: digits < 0,
        }
    }
}

impl From<Decimal> for Factor {
    fn from(d: Decimal) -> Factor {
        Factor {
            digits: d.mantissa().unsigned_abs(),
            scale: d.scale(),
            negative: d.is_sign_negative() && !d.is_zero(),
        }
    }
}

/// `Π num / Π den` rounded once to `places` decimals; `None` when the
/// digits overflow 128 bits, a divisor is 0 or the result does not fit
/// a `Decimal`.
pub fn round(num: &[Factor], den: &[Factor], places: u32, rule: Rounding) -> Option<Decimal> {
    Decimal::try_from_i128_with_scale(units(num, den, places, rule)?, places).ok()
}

/// The same as an integer count of 10^-places units (cents for 2); `None`
/// for a zero divisor or a count beyond 128 bits.
pub fn units(num: &[Factor], den: &[Factor], places: u32, rule: Rounding) -> Option<i128> {
    match narrow_units(num, den, places, rule) {
        Narrow::Units(units) => Some(units),
        Narrow::Undefined => None,
        Narrow::Overflow => wide_units(num, den, places, rule),
    }
}

/// What the 128-bit route made of a figure.
enum Narrow {
    Units(i128),
    /// A zero divisor, or a result beyond 128 bits.
    Undefined,
    /// An intermediate product left 128 bits: take the wide route.
    Overflow,
}

/// `units` in 128-bit integers (nearly every figure).
#[inline]
fn narrow_units(num: &[Factor], den: &[Factor], places: u32, rule: Rounding) -> Narrow {
    match narrow_units_checked(num, den, places, rule) {
        Some(Some(units)) => Narrow::Units(units),
        Some(None) => Narrow::Undefined,
        None => Narrow::Overflow,
    }
}

/// `None`: overflow on the way; `Some(None)`: no value.
#[inline]
fn narrow_units_checked(
    num: &[Factor],
    den: &[Factor],
    places: u32,
    rule: Rounding,
) -> Option<Option<i128>> {
    let mut negative = false;
    let mut product = |factors: &[Factor]| {
        factors.iter().try_fold((1u128, 0u32), |(m, s), f| {
            negative ^= f.negative;
            Some((mul(m, f.digits)?, s + f.scale))
        })
    };
    let (mut n, n_scale) = product(num)?;
    let (mut d, d_scale) = product(den)?;
    // value = n / 10^n_scale / (d / 10^d_scale); times 10^places.
    let shift = i64::from(d_scale) + i64::from(places) - i64::from(n_scale);
    let ten = POWERS_OF_TEN.get(usize::try_from(shift.unsigned_abs()).ok()?)?;
    if shift >= 0 {
        n = mul(n, *ten)?;
    } else {
        d = mul(d, *ten)?;
    }
    let Some(units) = divide(n, d, rule) else {
        return Some(None);
    };
    let Ok(units) = i128::try_from(units) else {
        return Some(None);
    };
    Some(Some(if negative { -units } else { units }))
}

/// `units` on arbitrary-precision integers: the same steps as the 128-bit
/// route, for the rare figure whose digits do not fit it.
#[cold]
fn wide_units(num: &[Factor], den: &[Factor], places: u32, rule: Rounding) -> Option<i128> {
    use num_bigint::BigUint;
    let mut negative = false;
    let mut product = |factors: &[Factor]| {
        factors
            .iter()
            .fold((BigUint::from(1u8), 0i64), |(m, s), f| {
                negative ^= f.negative;
                (m * f.digits, s + i64::from(f.scale))
            })
    };
    let (mut n, n_scale) = product(num);
    let (mut d, d_scale) = product(den);
    let shift = d_scale + i64::from(places) - n_scale;
    let ten = BigUint::from(10u8).pow(u32::try_from(shift.unsigned_abs()).ok()?);
    if shift >= 0 {
        n *= ten;
    } else {
        d *= ten;
    }
    if d == BigUint::from(0u8) {
        return None;
    }
    let quotient = &n / &d;
    let remainder = n - &quotient * &d;
    let rest = &d - &remainder;
    let (above_half, at_half) = (remainder > rest, remainder == rest);
    let up = match rule {
        Rounding::Down => false,
        Rounding::HalfUp => above_half || at_half,
        Rounding::HalfEven => above_half || at_half && quotient.bit(0),
    };
    let units = i128::try_from(quotient + u8::from(up)).ok()?;
    Some(if negative { -units } else { units })
}

/// `a x b`, `None` on overflow. Two 64-bit operands (nearly always) take
/// one widening multiplication, which cannot overflow.
fn mul(a: u128, b: u128) -> Option<u128> {
    match (u64::try_from(a), u64::try_from(b)) {
        (Ok(a), Ok(b)) => Some(u128::from(a) * u128::from(b)),
        _ => a.checked_mul(b),
    }
}

/// `n / d` rounded to an integer by `rule` (midpoints away from zero, or to
/// even; or toward zero); `None` for d = 0.
fn divide(n: u128, d: u128, rule: Rounding) -> Option<u128> {
    // One 64-bit division when both fit (nearly always), else 128-bit.
    let quotient = match (u64::try_from(n), u64::try_from(d)) {
        (Ok(n), Ok(d)) => u128::from(n.checked_div(d)?),
        _ => n.checked_div(d)?,
    };
    let remainder = n - quotient * d;
    // remainder vs d / 2, without overflowing 2 x remainder.
    let above_half = remainder > d - remainder;
    let at_half = remainder == d - remainder;
    let up = match rule {
        Rounding::Down => false,
        Rounding::HalfUp => above_half || at_half,
        Rounding::HalfEven => above_half || at_half && quotient % 2 == 1,
    };
    Some(quotient + u128::from(up))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::RoundingStrategy;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    fn r(num: &[&str], den: &[&str], places: u32, rule: Rounding) -> Option<String> {
        let num: Vec<Factor> = num.iter().map(|s| d(s).into()).collect();
        let den: Vec<Factor> = den.iter().map(|s| d(s).into()).collect();
        round(&num, &den, places, rule).map(|v| v.to_string())
    }

    #[test]
    fn worked_examples() {
        let up = Rounding::HalfUp;
        // SPEC's example: 26,000 x 0.05% x 10 days.
        assert_eq!(r(&["26000", "0.0005", "10"], &[], 2, up).unwrap(), "130.00");
        // Annual 18% over a 360-day year.
        assert_eq!(
            r(&["26000", "0.18", "10"], &["360"], 2, up).unwrap(),
            "130.00"
        );
        // 0.18 / 365 to 10 places.
        assert_eq!(r(&["0.18"], &["365"], 10, up).unwrap(), "0.0004931507");
        // Scale of the result is always `places`.
        assert_eq!(r(&["7"], &[], 2, up).unwrap(), "7.00");
        assert_eq!(r(&[], &[], 6, up).unwrap(), "1.000000");
        assert_eq!(r(&["0"], &["3"], 2, up).unwrap(), "0.00");
    }

    #[test]
    fn midpoints() {
        let (up, even) = (Rounding::HalfUp, Rounding::HalfEven);
        assert_eq!(r(&["0.125"], &[], 2, up).unwrap(), "0.13");
        assert_eq!(r(&["0.125"], &[], 2, even).unwrap(), "0.12");
        assert_eq!(r(&["0.135"], &[], 2, even).unwrap(), "0.14");
        assert_eq!(r(&["0.1250000001"], &[], 2, even).unwrap(), "0.13");
        assert_eq!(r(&["0.1249999999"], &[], 2, up).unwrap(), "0.12");
        // 1/8 = 0.125 reached by division.
        assert_eq!(r(&["1"], &["8"], 2, up).unwrap(), "0.13");
        assert_eq!(r(&["1"], &["8"], 2, even).unwrap(), "0.12");
        // Negative values round symmetrically, away from zero.
        assert_eq!(r(&["-0.125"], &[], 2, up).unwrap(), "-0.13");
        assert_eq!(r(&["-0.125"], &[], 2, even).unwrap(), "-0.12");
        assert_eq!(r(&["-1"], &["-8"], 2, up).unwrap(), "0.13");
    }

    #[test]
    fn down_is_toward_zero() {
        let down = Rounding::Down;
        assert_eq!(r(&["0.9876"], &[], 2, down).unwrap(), "0.98");
        assert_eq!(r(&["0.125"], &[], 2, down).unwrap(), "0.12");
        assert_eq!(r(&["0.12"], &[], 2, down).unwrap(), "0.12");
        assert_eq!(r(&["2"], &["3"], 2, down).unwrap(), "0.66");
        assert_eq!(r(&["-2"], &["3"], 2, down).unwrap(), "-0.66");
        assert_eq!(
            Rounding::Down.cents("0.019".parse().unwrap()).to_string(),
            "0.01"
        );
    }

    #[test]
    fn exact_where_decimal_rounds_on_the_way() {
        // 5.000000000000000000000000005 / 1000 needs 30 decimals: Decimal
        // keeps 28, lands on the midpoint 0.005 and half-even goes down; the
        // exact value is just above the midpoint.
        let a = d("1.000000000000000000000000001");
        let via_decimal = (a * d("5") / d("1000"))
            .round_dp_with_strategy(2, RoundingStrategy::MidpointNearestEven);
        assert_eq!(via_decimal.to_string(), "0.00");
        let exact = round(
            &[a.into(), Factor::int(5)],
            &[Factor::int(1000)],
            2,
            Rounding::HalfEven,
        );
        let exact = exact.unwrap();
        assert_eq!(exact.to_string(), "0.01");
    }

    #[test]
    fn factors_keep_digits_scale_and_sign() {
        for text in [
            "0",
            "1",
            "-0.125",
            "26000.50",
            "0.0004931507",
            "-79228162514264337593543950335",
        ] {
            assert_eq!(
                Factor::from(d(text)).decimal().to_string(),
                d(text).to_string()
            );
        }
        assert_eq!(Factor::int(365), Factor::from(d("365")));
        assert_eq!(Factor::ONE.decimal(), Decimal::ONE);
    }

    #[test]
    fn past_128_bits_still_exact() {
        // Issue 12: 999999999.99 x 0.2520463487738419893732970030 x 367 / 365
        // = 253427424.65499999...: Decimal's 28-digit steps gave .66.
        assert_eq!(
            r(
                &["999999999.99", "0.2520463487738419893732970030", "367"],
                &["365"],
                2,
                Rounding::HalfUp
            )
            .unwrap(),
            "253427424.65"
        );
        let big = "79228162514264337593543950335";
        // big x big / big = big, exactly.
        assert_eq!(r(&[big, big], &[big], 0, Rounding::HalfUp).unwrap(), big);
        // Exactly half a unit, past 128 bits: (10^40 + 5 x 10^37) / 10^40 at 2 places.
        let n = "100000000000000000000"; // 10^20
        assert_eq!(
            r(&[n, n, "1.005"], &[n, n], 2, Rounding::HalfUp).unwrap(),
            "1.01"
        );
        assert_eq!(
            r(&[n, n, "1.005"], &[n, n], 2, Rounding::HalfEven).unwrap(),
            "1.00"
        );
        assert_eq!(
            r(&[n, n, "-1.015"], &[n, n], 2, Rounding::HalfEven).unwrap(),
            "-1.02"
        );
        assert_eq!(
            r(&[n, n, "1.0099"], &[n, n], 2, Rounding::Down).unwrap(),
            "1.00"
        );
    }

    #[test]
    fn overflow_and_zero_divisor_are_none() {
        let big = "79228162514264337593543950335";
        // Beyond a Decimal's range.
        assert_eq!(r(&[big, big], &[], 2, Rounding::HalfUp), None);
        assert_eq!(r(&["1"], &["0"], 2, Rounding::HalfUp), None);
        let n = "100000000000000000000";
        assert_eq!(r(&[n, n], &["0"], 2, Rounding::HalfUp), None);
        // A result beyond Decimal's 96 bits.
        assert_eq!(r(&[big, "10"], &[], 0, Rounding::HalfUp), None);
    }

    proptest::proptest! {
        /// Wherever Decimal's own steps are exact (small operands), the
        /// two routes agree.
        #[test]
        fn agrees_with_decimal(
            a in 0i64..10_000_000_000, a_scale in 0u32..3,
            b in 0i64..100_000_000, b_scale in 0u32..10,
            days in 0i64..5000, per in proptest::sample::select(vec![1i64, 360, 365]),
            even in proptest::bool::ANY,
        ) {
            let (a, b) = (Decimal::new(a, a_scale), Decimal::new(b, b_scale));
            let (days, per) = (Decimal::from(days), Decimal::from(per));
            let (rule, strategy) = match even {
                false => (Rounding::HalfUp, RoundingStrategy::MidpointAwayFromZero),
                true => (Rounding::HalfEven, RoundingStrategy::MidpointNearestEven),
            };
            let via_decimal = (a * b * days / per).round_dp_with_strategy(2, strategy);
            let exact = round(&[a.into(), b.into(), days.into()], &[per.into()], 2, rule).unwrap();
            proptest::prop_assert_eq!(exact, via_decimal);
            proptest::prop_assert_eq!(exact.scale(), 2);
        }
    }
}
