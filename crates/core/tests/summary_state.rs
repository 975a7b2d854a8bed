//! The summary state (`Summary::to_bytes`) of any split of a book, each
//! part folded on its own, sent as bytes and merged, is the state of the
//! whole book folded at once: the same tallies, the same bytes, the same
//! summary table. What the Python module's `SummaryState` and the Spark
//! adapter's per-partition states rely on.

use arrears_core::compute::compute;
use arrears_core::policy::Policy;
use arrears_core::record::{parse_loan, Layout, Record};
use arrears_core::summary::{GroupKey, Grouping, Summary};
use chrono::NaiveDate;
use proptest::prelude::*;

const HEADER: [&str; 9] = [
    "loan_id",
    "product",
    "region",
    "currency",
    "principal",
    "due_date",
    "annual_rate",
    "fees",
    "paid_date",
];

fn row() -> impl Strategy<Value = Vec<String>> {
    (
        0u32..1000,
        prop::sample::select(vec!["card", "mortgage", "auto", ""]),
        prop::sample::select(vec!["north", "south"]),
        prop::sample::select(vec!["CNY", "USD", "EUR"]),
        // Up to 10^15 cents: large sums too.
        0i64..1_000_000_000_000_000,
        0i64..2000,
        prop::sample::select(vec!["0.18", "0.036", "0.24", "x"]),
        prop::option::of(0i64..100_000),
        prop::option::of(0i64..2000),
    )
        .prop_map(
            |(id, product, region, currency, cents, due, rate, fees, paid)| {
                let day = |d: i64| {
                    (NaiveDate::from_ymd_opt(2020, 1, 1).unwrap() + chrono::Duration::days(d))
                        .to_string()
                };
                vec![
                    format!("L{id}"),
                    product.to_string(),
                    region.to_string(),
                    currency.to_string(),
                    format!("{}.{:02}", cents / 100, cents % 100),
                    day(due),
                    rate.to_string(),
                    fees.map_or_else(String::new, |f| format!("{f}.5")),
                    paid.map_or_else(String::new, day),
                ]
            },
        )
}

fn fold(rows: &[Vec<String>], policy: &Policy, grouping: &Grouping, layout: &Layout) -> Summary {
    let as_of = NaiveDate::from_ymd_opt(2025, 6, 30).unwrap();
    let mut summary = Summary::default();
    for (i, row) in rows.iter().enumerate() {
        let record = Record::of(row, i as u64 + 2);
        let Ok(loan) = parse_loan(&record, layout, policy) else {
            continue;
        };
        let Ok(figures) = compute(&loan, policy, as_of) else {
            continue;
        };
        summary.add(grouping, &loan, &figures, policy).unwrap();
    }
    summary
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn merged_states_of_any_split_equal_the_whole(
        rows in prop::collection::vec(row(), 0..120),
        cuts in prop::collection::vec(0usize..120, 0..6),
        keys in prop::sample::subsequence(vec!["product", "region", "bucket", "status", "classification"], 0..3),
        preset in prop::sample::select(vec!["cn-bank", "us-mla", "uk-hcstc"]),
    ) {
        let policy = Policy::load(preset).unwrap();
        let layout = Layout::from_header(&Record::of(HEADER, 1), &policy, "book").unwrap();
        let keys: Vec<GroupKey> = keys.iter().map(|k| k.parse().unwrap()).collect();
        let grouping = Grouping::new(&keys, &layout, &policy, false);
        let whole = fold(&rows, &policy, &grouping, &layout);
        // Every row with a rate is a loan of the summary (the others are
        // rejects): the property is not about empty states.
        let loans: u64 = whole.groups.values().map(|t| t.loans).sum();
        prop_assert_eq!(loans, rows.iter().filter(|r| r[6] != "x").count() as u64);

        let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(rows.len())).collect();
        cuts.push(0);
        cuts.push(rows.len());
        cuts.sort_unstable();
        let mut merged = Summary::default();
        for part in cuts.windows(2) {
            let state = fold(&rows[part[0]..part[1]], &policy, &grouping, &layout).to_bytes();
            let decoded = Summary::from_bytes(&state).unwrap();
            prop_assert_eq!(decoded.to_bytes(), state);
            merged.merge(&decoded).unwrap();
        }
        prop_assert!(merged == whole);
        prop_assert_eq!(merged.to_bytes(), whole.to_bytes());
        let names = grouping.names();
        prop_assert_eq!(
            merged.table(&names, &policy, false).unwrap(),
            whole.table(&names, &policy, false).unwrap()
        );
        prop_assert_eq!(Summary::from_bytes(&whole.to_bytes()).unwrap().to_bytes(), whole.to_bytes());
    }
}

#[test]
fn bad_bytes_are_refused_not_misread() {
    assert!(Summary::from_bytes(b"").is_err());
    assert!(Summary::from_bytes(b"XXXX").is_err());
    let policy = Policy::load("cn-bank").unwrap();
    let layout = Layout::from_header(&Record::of(HEADER, 1), &policy, "book").unwrap();
    let grouping = Grouping::new(&[], &layout, &policy, false);
    let row: Vec<String> = [
        "L1",
        "card",
        "north",
        "CNY",
        "1000.00",
        "2025-01-01",
        "0.18",
        "",
        "",
    ]
    .map(String::from)
    .to_vec();
    let bytes = fold(&[row], &policy, &grouping, &layout).to_bytes();
    for cut in 4..bytes.len() {
        assert!(Summary::from_bytes(&bytes[..cut]).is_err(), "cut at {cut}");
    }
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(Summary::from_bytes(&longer).is_err());
}
