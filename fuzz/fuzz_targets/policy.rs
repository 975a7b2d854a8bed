//! The policy parser on arbitrary TOML text: never a panic; an accepted
//! policy is one the computation can use.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    if let Ok(policy) = arrears::policy::Policy::from_toml(text, "fuzz.toml") {
        let labels = policy.bucket_labels();
        for days in [0, 1, 30, 31, 90, 91, 180, 181, 361, 100_000] {
            assert!(policy.bucket_index(days) < labels.len());
            assert!(policy.class_index(days) < policy.classes.len());
        }
    }
});
