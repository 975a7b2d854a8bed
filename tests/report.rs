//! `arrears report` (issue 15): the page's figures, read back from its
//! tables, equal `summarize`'s and `movement`'s on the sample book and on a
//! generated pair of nights; the cap audit's largest excesses and per-cap
//! excess equal what the results file says, computed here independently;
//! and a real browser (headless Chromium) renders the page, not blank and
//! without console errors.

mod util;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use util::{run_in, scratch, testdata};

type Row = BTreeMap<String, String>;

/// One of the page's tables: `data-table`, `data-currency`, and its rows
/// (each cell's `data-col` to its exact `data-v`).
#[derive(Debug)]
struct Table {
    name: String,
    currency: String,
    rows: Vec<Row>,
}

fn attr(tag: &str, name: &str) -> Option<String> {
    let key = format!("{name}=\"");
    let at = tag.find(&key)? + key.len();
    let end = tag[at..].find('"')? + at;
    Some(unescape(&tag[at..end]))
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

/// Every table with a `data-table` attribute.
fn tables(html: &str) -> Vec<Table> {
    let mut out = Vec::new();
    let mut rest = html;
    while let Some(at) = rest.find("<table") {
        let tag_end = rest[at..].find('>').unwrap() + at;
        let tag = &rest[at..tag_end];
        let end = rest[at..].find("</table>").unwrap() + at;
        let body = &rest[tag_end..end];
        if let Some(name) = attr(tag, "data-table") {
            let mut rows = Vec::new();
            for tr in body.split("<tr>").skip(1) {
                let mut row = Row::new();
                for td in tr.split("<td").skip(1) {
                    let cell_tag = &td[..td.find('>').unwrap()];
                    if let (Some(col), Some(v)) =
                        (attr(cell_tag, "data-col"), attr(cell_tag, "data-v"))
                    {
                        row.insert(col, v);
                    }
                }
                if !row.is_empty() {
                    rows.push(row);
                }
            }
            out.push(Table {
                name,
                currency: attr(tag, "data-currency").unwrap_or_default(),
                rows,
            });
        }
        rest = &rest[end..];
    }
    out
}

fn table<'a>(all: &'a [Table], name: &str, currency: &str) -> &'a [Row] {
    &all.iter()
        .find(|t| t.name == name && t.currency == currency)
        .unwrap_or_else(|| panic!("no table {name} for {currency}"))
        .rows
}

/// A CSV file as rows of column -> value.
fn csv_rows(path: &Path) -> Vec<Row> {
    let mut r = csv::Reader::from_path(path).unwrap();
    let header: Vec<String> = r.headers().unwrap().iter().map(String::from).collect();
    r.records()
        .map(|rec| {
            let rec = rec.unwrap();
            header
                .iter()
                .cloned()
                .zip(rec.iter().map(String::from))
                .collect()
        })
        .collect()
}

fn summarize(dir: &Path, results: &[&str], group_by: &str) -> Vec<Row> {
    let out = format!("summary.{}.csv", group_by.replace(',', "-"));
    let mut args = vec!["summarize"];
    args.extend(results);
    args.extend(["--group-by", group_by, "-o", &out, "-q"]);
    run_in(dir, &args).expect_code(0);
    csv_rows(&dir.join(out))
}

fn is_total(row: &Row, keys: &[&str]) -> bool {
    keys.iter().all(|k| row[*k] == "*")
}

/// The rows of one currency, total rows dropped, only the columns `cols`.
fn project(rows: &[Row], currency: &str, keys: &[&str], cols: &[&str]) -> Vec<Vec<String>> {
    rows.iter()
        .filter(|r| r["currency"] == currency && !is_total(r, keys))
        .map(|r| cols.iter().map(|c| r[*c].clone()).collect())
        .collect()
}

fn page_rows(rows: &[Row], cols: &[&str]) -> Vec<Vec<String>> {
    rows.iter()
        .map(|r| {
            cols.iter()
                .map(|c| r.get(*c).cloned().unwrap_or_default())
                .collect()
        })
        .collect()
}

fn cents(v: &str) -> i128 {
    let (i, f) = v.split_once('.').unwrap_or((v, "0"));
    i.parse::<i128>().unwrap() * 100 + format!("{f:0<2}").parse::<i128>().unwrap()
}

/// Checks every summary-side figure of the page against `summarize` and
/// against the results file itself. Returns the page's tables.
fn check_summary_figures(dir: &Path, results: &str, page: &str) -> Vec<Table> {
    let html = std::fs::read_to_string(dir.join(page)).unwrap();
    let all = tables(&html);
    let detail = summarize(dir, &[results], "currency,product,bucket");
    let by_bucket = summarize(dir, &[results], "currency,bucket");
    let by_bucket_product = summarize(dir, &[results], "currency,bucket,product");
    let by_class = summarize(dir, &[results], "currency,classification");
    let results_rows = csv_rows(&dir.join(results));
    let caps: Vec<String> = detail[0]
        .keys()
        .filter_map(|k| k.strip_prefix("breaches_").map(String::from))
        .collect();
    let currencies: Vec<String> = {
        let mut c: Vec<String> = by_class.iter().map(|r| r["currency"].clone()).collect();
        c.dedup();
        c
    };
    assert!(!currencies.is_empty());
    for currency in &currencies {
        let total = by_class
            .iter()
            .find(|r| &r["currency"] == currency && r["classification"] == "*")
            .unwrap();
        // Headline figures: the summary's total row.
        let head = &table(&all, "headline", currency)[0];
        for col in [
            "loans",
            "outstanding",
            "overdue_loans",
            "npl_ratio",
            "coverage",
            "provision",
            "excess",
        ] {
            assert_eq!(head[col], total[col], "{currency} headline {col}");
        }
        let (overdue, loans): (u64, u64) = (
            total["overdue_loans"].parse().unwrap(),
            total["loans"].parse().unwrap(),
        );
        let share: f64 = head["overdue_share"].parse().unwrap();
        assert!(
            (share - overdue as f64 / loans as f64).abs() < 5e-7,
            "{currency} overdue share"
        );

        // The detailed summary: summarize's rows, every column.
        let cols: Vec<&str> = detail[0].keys().map(String::as_str).collect();
        let expected: Vec<Vec<String>> = detail
            .iter()
            .filter(|r| &r["currency"] == currency)
            .map(|r| cols.iter().map(|c| r[*c].clone()).collect())
            .collect();
        assert_eq!(
            page_rows(table(&all, "summary", currency), &cols),
            expected,
            "{currency} summary"
        );

        // Aging and classification.
        let cols = [
            "bucket",
            "loans",
            "overdue_loans",
            "outstanding",
            "total_capped",
            "provision",
        ];
        assert_eq!(
            page_rows(table(&all, "aging", currency), &cols),
            project(&by_bucket, currency, &["bucket"], &cols),
            "{currency} aging"
        );
        let cols = ["bucket", "product", "loans", "outstanding"];
        assert_eq!(
            page_rows(table(&all, "aging_by_product", currency), &cols),
            project(&by_bucket_product, currency, &["bucket", "product"], &cols),
            "{currency} aging by product"
        );
        let cols = [
            "classification",
            "loans",
            "outstanding",
            "provision",
            "written_off_principal",
        ];
        assert_eq!(
            page_rows(table(&all, "classification", currency), &cols),
            project(&by_class, currency, &["classification"], &cols),
            "{currency} classification"
        );

        // Days past due: the percentiles, and a histogram of every overdue loan.
        let days = &table(&all, "days", currency)[0];
        for col in [
            "overdue_loans",
            "days_p50",
            "days_p90",
            "days_p99",
            "days_max",
        ] {
            assert_eq!(days[col], total[col], "{currency} {col}");
        }
        let bins = table(&all, "days_histogram", currency);
        let in_bins: u64 = bins
            .iter()
            .map(|b| b["loans"].parse::<u64>().unwrap())
            .sum();
        assert_eq!(in_bins, overdue, "{currency} histogram");
        for bin in bins {
            let (a, b): (i64, i64) = (
                bin["from_days"].parse().unwrap(),
                bin["to_days"].parse().unwrap(),
            );
            let n = results_rows
                .iter()
                .filter(|r| &r["currency"] == currency)
                .filter(|r| (a..=b).contains(&r["days_overdue"].parse::<i64>().unwrap()))
                .count();
            assert_eq!(bin["loans"], n.to_string(), "{currency} bin {a}-{b}");
        }

        // The cap audit: the summary's breaches_<cap>, and the excess per
        // cap computed here from the results' breaches, binding_cap, excess.
        let mine: Vec<&Row> = results_rows
            .iter()
            .filter(|r| &r["currency"] == currency)
            .collect();
        let audit = table(&all, "caps", currency);
        assert_eq!(audit.len(), caps.len());
        let mut binding_sum = 0;
        for (cap, row) in caps.iter().zip(audit) {
            assert_eq!(&row["cap"], cap);
            assert_eq!(
                row["loans_breaching"],
                total[&format!("breaches_{cap}")],
                "{currency} {cap}"
            );
            let breaching: i128 = mine
                .iter()
                .filter(|r| r["breaches"].split(';').any(|b| b == cap))
                .map(|r| cents(&r["excess"]))
                .sum();
            assert_eq!(
                cents(&row["excess_of_breaching"]),
                breaching,
                "{currency} {cap}"
            );
            let bound: Vec<&&Row> = mine.iter().filter(|r| &r["binding_cap"] == cap).collect();
            assert_eq!(row["loans_bound"], bound.len().to_string());
            let bound_excess: i128 = bound.iter().map(|r| cents(&r["excess"])).sum();
            assert_eq!(cents(&row["excess_where_binding"]), bound_excess);
            binding_sum += bound_excess;
        }
        assert_eq!(
            binding_sum,
            cents(&total["excess"]),
            "{currency}: where binding adds up to the excess"
        );

        // The 20 largest excesses, largest first, ties in input order.
        let mut expected: Vec<&Row> = mine
            .iter()
            .copied()
            .filter(|r| cents(&r["excess"]) > 0)
            .collect();
        expected.sort_by_key(|r| std::cmp::Reverse(cents(&r["excess"])));
        expected.truncate(20);
        if expected.is_empty() {
            assert!(!all
                .iter()
                .any(|t| t.name == "top_excess" && &t.currency == currency));
            continue;
        }
        let top = table(&all, "top_excess", currency);
        let got: Vec<(String, String, String)> = top
            .iter()
            .map(|r| {
                (
                    r["loan_id"].clone(),
                    r["account_id"].clone(),
                    r["excess"].clone(),
                )
            })
            .collect();
        let want: Vec<(String, String, String)> = expected
            .iter()
            .map(|r| {
                (
                    r["loan_id"].clone(),
                    r.get("account_id").cloned().unwrap_or_default(),
                    r["excess"].clone(),
                )
            })
            .collect();
        assert_eq!(got, want, "{currency} largest excesses");
    }
    all
}

#[test]
fn the_sample_books_page_holds_the_summarys_figures() {
    let dir = scratch("report-sample");
    let book = testdata().join("loanbook.csv");
    run_in(
        &dir,
        &[
            "run",
            book.to_str().unwrap(),
            "--as-of",
            "2025-06-30",
            "-o",
            "results.csv",
            "--summary",
            "summary.csv",
            "-q",
        ],
    )
    .expect_code(0);
    let run = run_in(&dir, &["report", "results.csv", "-o", "report.html"]);
    run.expect_code(0);
    // The run report says where the page is.
    let err = run.stderr();
    assert!(
        err.contains("wrote report.html") && err.contains("file://"),
        "{}",
        run.dump()
    );
    assert!(
        err.contains("3000 results rows as of 2025-06-30"),
        "{}",
        run.dump()
    );
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    // Self-contained: no script, nothing fetched.
    for banned in [
        "<script",
        "<link",
        "@import",
        "src=\"http",
        "href=\"http",
        "url(",
    ] {
        assert!(!html.contains(banned), "the page holds {banned}");
    }
    assert!(html.contains("<svg") && html.contains("@media print"));
    // cn-bank: the Chinese terms beside the English.
    for term in ["逾期", "五级分类", "拨备"] {
        assert!(html.contains(term), "no {term}");
    }
    let all = check_summary_figures(&dir, "results.csv", "report.html");
    // The run's own summary (the same grouping) equals the page's too.
    let run_summary = csv_rows(&dir.join("summary.csv"));
    let page: Vec<Row> = all
        .iter()
        .filter(|t| t.name == "summary")
        .flat_map(|t| t.rows.clone())
        .collect();
    assert_eq!(page, run_summary);

    // A policy that is not a cn preset: English only.
    run_in(
        &dir,
        &[
            "run",
            book.to_str().unwrap(),
            "--as-of",
            "2025-06-30",
            "--policy",
            "uk-hcstc",
            "-o",
            "uk.csv",
            "-q",
        ],
    )
    .expect_code(0);
    run_in(&dir, &["report", "uk.csv", "-o", "uk.html", "-q"]).expect_code(0);
    let uk = std::fs::read_to_string(dir.join("uk.html")).unwrap();
    assert!(!uk.contains("逾期"), "Chinese terms in a uk-hcstc page");
    assert!(uk.contains("default-fee-15"));

    // Usage errors: the page over an input, --previous with two files.
    run_in(&dir, &["report", "results.csv", "-o", "results.csv"]).expect_code(2);
    run_in(
        &dir,
        &[
            "report",
            "results.csv",
            "uk.csv",
            "--previous",
            "results.csv",
            "-o",
            "x.html",
        ],
    )
    .expect_code(2);
    assert!(!dir.join("x.html").exists());
}

#[test]
fn a_pair_of_nights_shows_the_movements_figures() {
    let dir = scratch("report-pair");
    run_in(
        &dir,
        &[
            "generate",
            "--rows",
            "3000",
            "--seed",
            "42",
            "-o",
            "may.csv",
            "--next-night",
            "june.csv",
            "--as-of",
            "2025-05-31",
            "--next-as-of",
            "2025-06-30",
        ],
    )
    .expect_code(0);
    std::fs::create_dir(dir.join("out")).unwrap();
    run_in(
        &dir,
        &[
            "run",
            "may.csv",
            "--as-of",
            "2025-05-31",
            "-o",
            "out/may.csv",
            "-q",
        ],
    )
    .expect_code(0);
    run_in(
        &dir,
        &[
            "run",
            "june.csv",
            "--as-of",
            "2025-06-30",
            "-o",
            "out/june.csv",
            "-q",
        ],
    )
    .expect_code(0);
    let run = run_in(
        &dir,
        &[
            "report",
            "out/june.csv",
            "--previous",
            "out/may.csv",
            "-o",
            "out/report.html",
        ],
    );
    run.expect_code(0);
    assert!(
        run.stderr().contains("against out/may.csv"),
        "{}",
        run.dump()
    );
    let all = check_summary_figures(&dir, "out/june.csv", "out/report.html");
    run_in(
        &dir,
        &[
            "movement",
            "out/may.csv",
            "out/june.csv",
            "--summary",
            "matrix.csv",
            "--provisions",
            "provisions.csv",
            "-q",
        ],
    )
    .expect_code(0);
    let matrix = csv_rows(&dir.join("matrix.csv"));
    let provisions = csv_rows(&dir.join("provisions.csv"));
    let html = std::fs::read_to_string(dir.join("out/report.html")).unwrap();
    for term in ["迁徙矩阵", "核销", "计提"] {
        assert!(html.contains(term), "no {term}");
    }
    for p in &provisions {
        let currency = &p["currency"];
        let page = &table(&all, "provisions", currency)[0];
        for col in [
            "opening",
            "charge",
            "release",
            "write_offs",
            "closing",
            "recoveries",
            "recoveries_outstanding",
        ] {
            assert_eq!(page[col], p[col], "{currency} {col}");
        }
        let cols = [
            "from",
            "to",
            "loans",
            "outstanding_previous",
            "outstanding_current",
        ];
        let want: Vec<Vec<String>> = matrix
            .iter()
            .filter(|r| &r["currency"] == currency)
            .map(|r| cols.iter().map(|c| r[*c].clone()).collect())
            .collect();
        assert_eq!(
            page_rows(table(&all, "matrix", currency), &cols),
            want,
            "{currency} matrix"
        );
        let mut rates: Vec<Vec<String>> = Vec::new();
        for r in matrix
            .iter()
            .filter(|r| &r["currency"] == currency && !r["roll_forward_rate"].is_empty())
        {
            let row = vec![
                r["from"].clone(),
                r["roll_forward_rate"].clone(),
                r["cure_rate"].clone(),
            ];
            if !rates.contains(&row) {
                rates.push(row);
            }
        }
        assert_eq!(
            page_rows(
                table(&all, "rates", currency),
                &["from", "roll_forward_rate", "cure_rate"]
            ),
            rates,
            "{currency} rates"
        );
    }
}

/// A PNG's distinct colours and the share of its pixels that are not white
/// (8-bit RGB or RGBA, not interlaced: what Chromium writes).
fn png_colors(bytes: &[u8]) -> (usize, f64) {
    use std::io::Read;
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "not a PNG");
    let mut at = 8;
    let (mut width, mut height, mut channels) = (0usize, 0usize, 0usize);
    let mut data = Vec::new();
    while at + 8 <= bytes.len() {
        let len = u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        let kind = &bytes[at + 4..at + 8];
        let body = &bytes[at + 8..at + 8 + len];
        match kind {
            b"IHDR" => {
                width = u32::from_be_bytes(body[0..4].try_into().unwrap()) as usize;
                height = u32::from_be_bytes(body[4..8].try_into().unwrap()) as usize;
                assert_eq!(body[8], 8, "bit depth");
                channels = match body[9] {
                    2 => 3,
                    6 => 4,
                    other => panic!("colour type {other}"),
                };
                assert_eq!(body[12], 0, "interlaced");
            }
            b"IDAT" => data.extend_from_slice(body),
            _ => {}
        }
        at += 12 + len;
    }
    let mut raw = Vec::new();
    flate2::read::ZlibDecoder::new(&data[..])
        .read_to_end(&mut raw)
        .unwrap();
    let stride = width * channels;
    let mut prev = vec![0u8; stride];
    let mut colors = std::collections::HashSet::new();
    let mut inked = 0usize;
    for y in 0..height {
        let line = &raw[y * (stride + 1)..(y + 1) * (stride + 1)];
        let (filter, src) = (line[0], &line[1..]);
        let mut cur = vec![0u8; stride];
        for i in 0..stride {
            let a = if i >= channels {
                cur[i - channels] as i16
            } else {
                0
            };
            let b = prev[i] as i16;
            let c = if i >= channels {
                prev[i - channels] as i16
            } else {
                0
            };
            let pred = match filter {
                0 => 0,
                1 => a,
                2 => b,
                3 => (a + b) / 2,
                4 => {
                    let p = a + b - c;
                    let (pa, pb, pc) = ((p - a).abs(), (p - b).abs(), (p - c).abs());
                    if pa <= pb && pa <= pc {
                        a
                    } else if pb <= pc {
                        b
                    } else {
                        c
                    }
                }
                f => panic!("filter {f}"),
            };
            cur[i] = src[i].wrapping_add(pred as u8);
        }
        for px in cur.chunks(channels) {
            colors.insert((px[0], px[1], px[2]));
            if px[..3] != [255, 255, 255] {
                inked += 1;
            }
        }
        prev = cur;
    }
    (colors.len(), inked as f64 / (width * height) as f64)
}

fn chromium() -> Option<String> {
    ["chromium", "chromium-browser"]
        .into_iter()
        .find(|c| {
            Command::new(c)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .map(String::from)
}

fn headless(browser: &str, profile: &Path) -> Command {
    let mut cmd = Command::new(browser);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        "--enable-logging=stderr",
        "--v=0",
    ])
    .arg(format!("--user-data-dir={}", profile.display()));
    cmd
}

#[test]
fn a_real_browser_renders_the_page() {
    let Some(browser) = chromium() else {
        // CI installs Debian's chromium (.ci/run); a developer without it
        // is told, not failed.
        assert!(
            std::env::var_os("CI").is_none(),
            "CI needs chromium: see .ci/run"
        );
        eprintln!("skipped: no chromium on this machine (apt-get install chromium)");
        return;
    };
    let dir = scratch("report-browser");
    let book = testdata().join("loanbook.csv");
    run_in(
        &dir,
        &[
            "run",
            book.to_str().unwrap(),
            "--as-of",
            "2025-06-30",
            "-o",
            "results.csv",
            "-q",
        ],
    )
    .expect_code(0);
    run_in(&dir, &["report", "results.csv", "-o", "report.html", "-q"]).expect_code(0);
    let url = format!("file://{}", dir.join("report.html").display());
    let png = dir.join("report.png");
    let shot = headless(&browser, &dir.join("profile-1"))
        .arg(format!("--screenshot={}", png.display()))
        .arg("--window-size=1280,2400")
        .arg(&url)
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&shot.stderr);
    assert!(
        shot.status.success() && png.exists(),
        "chromium failed:\n{log}"
    );
    for line in log.lines() {
        let console = line.contains("CONSOLE") || line.contains("Uncaught");
        assert!(!console, "the page logged to the console: {line}\n{log}");
    }
    let (colors, inked) = png_colors(&std::fs::read(&png).unwrap());
    assert!(colors > 20, "{colors} colours: a blank page?");
    assert!(
        inked > 0.03,
        "{:.1}% of the pixels inked: a blank page?",
        inked * 100.0
    );
    // The DOM as the browser built it holds the tables and the charts.
    let dom = headless(&browser, &dir.join("profile-2"))
        .arg("--dump-dom")
        .arg(&url)
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&dom.stderr);
    assert!(dom.status.success(), "{log}");
    assert!(
        !log.contains("CONSOLE") && !log.contains("Uncaught"),
        "{log}"
    );
    let dom = String::from_utf8_lossy(&dom.stdout);
    assert!(
        dom.contains("data-table=\"headline\"") && dom.contains("<svg"),
        "{dom}"
    );
}
