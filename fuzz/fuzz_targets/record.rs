//! The whole-record path on arbitrary bytes read as a CSV book: header,
//! parse, compute, format and fold under two policies. Never a panic, and
//! every record is either accepted or rejected.
#![no_main]

use std::sync::OnceLock;

use chrono::NaiveDate;
use libfuzzer_sys::fuzz_target;

use arrears::compute::compute;
use arrears::output::{write_result, CsvRows};
use arrears::policy::Policy;
use arrears::record::{parse_loan, Layout};
use arrears::summary::{GroupKey, Grouping, Summary};

static POLICIES: OnceLock<Vec<Policy>> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let as_of = NaiveDate::from_ymd_opt(2025, 6, 30).unwrap();
    let policies = POLICIES.get_or_init(|| ["cn-bank", "uk-hcstc"].map(|p| Policy::load(p).unwrap()).to_vec());
    for policy in policies {
        let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(data);
        let Ok(header) = reader.byte_headers().cloned() else { return };
        let Ok(layout) = Layout::from_header(&header, policy, "fuzz") else { return };
        let grouping = Grouping::new(&[GroupKey::Product, GroupKey::Bucket], &layout, policy);
        let buckets = policy.bucket_labels();
        let mut summary = Summary::default();
        let mut out = CsvRows::default();
        for record in reader.byte_records() {
            let Ok(record) = record else { return };
            if let Ok(loan) = parse_loan(&record, &layout, policy) {
                if let Ok(f) = compute(&loan, policy, as_of) {
                    assert!(f.total_capped <= f.total_raw);
                    write_result(&mut out, &loan, &f, policy, &buckets, data.len() % 2 == 0);
                    let _ = summary.add(&grouping, &loan, &f, policy);
                }
            }
        }
        let _ = summary.table(&grouping.names(), policy);
    }
});
