//! The whole-record path on arbitrary bytes read as a CSV book: header,
//! split, parse, compute, format and fold under two policies. Never a
//! panic, every record is either accepted or rejected, and arrears'
//! splitter reads every record (fields and line) as the csv crate does.
#![no_main]

use std::sync::OnceLock;

use chrono::NaiveDate;
use libfuzzer_sys::fuzz_target;

use arrears::compute::compute;
use arrears::io::output::{write_result, CsvRows};
use arrears::policy::Policy;
use arrears::record::{parse_loan, Fields, Layout, Line};
use arrears::io::split::{Next, Quoted, Splitter};
use arrears::summary::{GroupKey, Grouping, Summary};

static POLICIES: OnceLock<Vec<Policy>> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let as_of = NaiveDate::from_ymd_opt(2025, 6, 30).unwrap();
    let policies = POLICIES.get_or_init(|| ["cn-bank", "uk-hcstc"].map(|p| Policy::load(p).unwrap()).to_vec());
    for policy in policies {
        let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(data);
        let Ok(header) = reader.byte_headers().cloned() else { return };
        let mut splitter = Splitter::new(data);
        let mut got = csv::ByteRecord::new();
        assert!(splitter.read(&mut got).unwrap() || header.is_empty());
        assert_eq!(fields(&Quoted(&got)), fields(&Quoted(&header)));
        let Ok(layout) = Layout::from_header(&Quoted(&header), policy, "fuzz") else { return };
        let repayments = data.len() % 2 == 0;
        let grouping = Grouping::new(&[GroupKey::Product, GroupKey::Bucket], &layout, policy, repayments);
        let mut book = Book {
            layout: &layout,
            policy,
            as_of,
            buckets: policy.bucket_labels(),
            grouping: &grouping,
            summary: Summary::default(),
            out: CsvRows::default(),
            repayments,
        };
        let mut want = csv::ByteRecord::new();
        let mut ends = Vec::new();
        loop {
            let Ok(more) = reader.read_byte_record(&mut want) else { return };
            let next = splitter.next(&mut got).unwrap();
            assert_eq!(more, next != Next::End);
            match next {
                Next::End => break,
                Next::Record => book.record(&Quoted(&got), &want),
                Next::Plain { line } => {
                    book.record(&Line::split(splitter.plain(), line, &mut ends), &want)
                }
            }
        }
        let _ = book.summary.table(&grouping.names(), policy, repayments);
    }
});

fn fields(record: &impl Fields) -> Vec<Vec<u8>> {
    record.iter().map(<[u8]>::to_vec).collect()
}

struct Book<'a> {
    layout: &'a Layout,
    policy: &'a Policy,
    as_of: NaiveDate,
    buckets: Vec<String>,
    grouping: &'a Grouping,
    summary: Summary,
    out: CsvRows,
    /// Write the repayment columns too (all rows without payments).
    repayments: bool,
}

impl Book<'_> {
    /// One record as the splitter read it: the csv crate's `want`, and
    /// through the whole record path.
    fn record(&mut self, record: &impl Fields, want: &csv::ByteRecord) {
        assert_eq!(fields(record), fields(&Quoted(want)));
        assert_eq!(record.line(), want.position().map_or(0, |p| p.line()));
        if let Ok(loan) = parse_loan(record, self.layout, self.policy) {
            if let Ok(f) = compute(&loan, self.policy, self.as_of) {
                assert!(f.total_capped <= f.total_raw);
                write_result(&mut self.out, &loan, &f, self.policy, &self.buckets, self.repayments);
                let _ = self.summary.add(self.grouping, &loan, &f, self.policy);
            }
        }
    }
}
