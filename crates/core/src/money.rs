//! Amounts of money as whole cents.
//!
//! Every amount the computation produces is rounded to 2 decimals once,
//! and from then on it is an integer number of cents: caps, totals and
//! summary sums are integer additions, exact and cheap, and the writers
//! print or store the integer directly. `Decimal` is for the inputs and the
//! exact arithmetic before that one rounding.

use rust_decimal::Decimal;

use crate::exact::Factor;

/// An amount in cents, within what a `Decimal` of scale 2 holds (about
/// ±7.9e26): `Money::new` and `checked_add` keep it there.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Money(i128);

/// The largest amount in cents: what a `Decimal` of scale 2 holds.
pub const MAX_CENTS: i128 = (1 << 96) - 1;

impl Money {
    pub const ZERO: Money = Money(0);

    /// `cents` as an amount; `None` beyond `MAX_CENTS`.
    pub fn new(cents: i128) -> Option<Money> {
        (cents.abs() <= MAX_CENTS).then_some(Money(cents))
    }

    /// An amount of at most 2 decimals, exactly; `None` for more decimals.
    pub fn of(value: Decimal) -> Option<Money> {
        let scale = 2u32.checked_sub(value.scale())?;
        Money::new(value.mantissa() * 10i128.pow(scale))
    }

    /// An amount rounded half-even to cents (amounts are read with at most
    /// 2 decimals: this only guards); `None` out of range.
    pub fn round(value: Decimal) -> Option<Money> {
        Money::of(value.round_dp(2))
    }

    pub fn cents(self) -> i128 {
        self.0
    }

    pub fn decimal(self) -> Decimal {
        Decimal::from_i128_with_scale(self.0, 2)
    }

    pub fn checked_add(self, other: Money) -> Option<Money> {
        Money::new(self.0.checked_add(other.0)?)
    }

    pub fn checked_sub(self, other: Money) -> Option<Money> {
        Money::new(self.0.checked_sub(other.0)?)
    }

    pub fn is_positive(self) -> bool {
        self.0 > 0
    }
}

impl From<Money> for Factor {
    fn from(money: Money) -> Factor {
        Factor::new(money.0, 2)
    }
}

impl From<Money> for Decimal {
    fn from(money: Money) -> Decimal {
        money.decimal()
    }
}

/// A summary sum beyond what a 2-decimal amount holds exactly (about 7.9e26).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a summary sum exceeds the range of an exact 2-decimal amount (about 7.9e26)")]
pub struct SumOverflow;

impl std::fmt::Display for Money {
    /// Exactly 2 decimals, as the outputs print money.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:.2}", self.decimal())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    #[test]
    fn amounts_of_up_to_two_decimals() {
        assert_eq!(Money::of(d("130")), Some(Money(13000)));
        assert_eq!(Money::of(d("130.5")), Some(Money(13050)));
        assert_eq!(Money::of(d("0.01")), Some(Money(1)));
        assert_eq!(Money::of(d("0.001")), None);
        assert_eq!(Money::of(d("-2.50")), Some(Money(-250)));
        assert_eq!(Money(13050).to_string(), "130.50");
        assert_eq!(Money(-5).to_string(), "-0.05");
        assert_eq!(Money(13050).decimal(), d("130.50"));
    }

    #[test]
    fn range_is_a_decimal_of_scale_two() {
        let max = Money::new(MAX_CENTS).unwrap();
        assert_eq!(max.decimal().mantissa(), MAX_CENTS);
        assert_eq!(max.checked_add(Money(1)), None);
        assert_eq!(Money::new(-MAX_CENTS - 1), None);
        assert_eq!(Money::ZERO.checked_sub(max), Money::new(-MAX_CENTS));
    }
}
