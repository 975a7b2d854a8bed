//! The field parsers on arbitrary text: never a panic, and every accepted
//! value honours its contract.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    if let Ok(m) = arrears::parse::money(text) {
        assert!(m.scale() <= 2 && !m.is_sign_negative(), "{text:?} -> {m}");
        // Formatting an accepted amount never panics and keeps the value.
        assert_eq!(arrears::io::output::money(m).parse::<rust_decimal::Decimal>().ok(), Some(m));
    }
    if let Ok(r) = arrears::parse::rate(text) {
        assert!(!r.is_sign_negative() || r.is_zero(), "{text:?} -> {r}");
        let _ = arrears::io::output::daily_rate(r);
    }
    let _ = arrears::parse::date(text);
});
