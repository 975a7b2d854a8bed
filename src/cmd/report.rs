//! `arrears report`: one self-contained HTML page of a book's state, per
//! currency: headline figures, aging, classification and provisions, the
//! days-past-due distribution, the cap audit and, given the previous
//! night, the migration matrix and the provision movement.
//!
//! Every figure on the page is the summary's (`summarize::summarize_many`,
//! the code behind `arrears summarize`) or the movement's
//! (`movement::run`, the code behind `arrears movement`), printed as those
//! commands print it; the page only lays them out. The results are read
//! once: the summaries (one per grouping) are tallied in that pass, and an
//! observer keeps what the summary does not (the 20 largest excesses in a
//! bounded heap, the days histogram, the excess per cap), so memory stays
//! flat whatever the book's size. Charts are inline SVG drawn with
//! plotters; the page has no script and loads nothing.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::PathBuf;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::cli::{check_paths, night_as_of, policy_of, Exit, ReportPageArgs, UsageError};
use crate::cmd::movement::{By, MovementConfig};
use crate::cmd::summarize::{self, Observer, RowView, Summarized};
use crate::error::Error;
use crate::io::atomic::{AtomicFile, Written};
use crate::money::Money;
use crate::policy::Policy;
use crate::summary::Contribution;

/// How many of the largest excesses the cap audit lists.
pub const TOP: usize = 20;

/// Everything `arrears report` needs, validated.
#[derive(Debug, Clone)]
pub struct ReportConfig {
    pub inputs: Vec<PathBuf>,
    /// The previous night's results: adds the migration matrix and the
    /// provision movement (then `inputs` is one file, CURRENT).
    pub previous: Option<PathBuf>,
    pub policy: Policy,
    /// The detailed summary table's keys (as `summarize --group-by`).
    pub group_by: Vec<String>,
    pub output: PathBuf,
    /// CURRENT's as-of date (ISO), when known.
    pub as_of: Option<String>,
    pub previous_as_of: Option<String>,
}

/// What `arrears report` did.
pub struct Reported {
    pub rows_read: u64,
    pub currencies: usize,
    pub written: Written,
}

/// The groupings tallied in the one pass, in this order.
const DETAIL: usize = 0;
const BY_BUCKET: usize = 1;
const BY_BUCKET_PRODUCT: usize = 2;
const BY_CLASS: usize = 3;

/// The optional columns the observer reads, in this order.
const EXTRA: [&str; 5] = [
    "currency",
    "loan_id",
    "account_id",
    "product",
    "binding_cap",
];

/// One of the largest excesses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Excess {
    pub excess: Money,
    /// Input order: (file, row), earlier first among equal excesses.
    pub order: (usize, u64),
    pub loan_id: String,
    pub account_id: String,
    pub product: String,
    pub days_overdue: i64,
    pub breaches: String,
    pub binding_cap: String,
}

impl Ord for Excess {
    /// Larger excess first, then earlier in the input.
    fn cmp(&self, other: &Excess) -> std::cmp::Ordering {
        (self.excess, Reverse(self.order)).cmp(&(other.excess, Reverse(other.order)))
    }
}

impl PartialOrd for Excess {
    fn partial_cmp(&self, other: &Excess) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// What the report keeps of one currency besides the summary.
#[derive(Debug, Default)]
pub struct CurrencyExtras {
    /// The `TOP` largest excesses: a min-heap never longer than `TOP`.
    top: BinaryHeap<Reverse<Excess>>,
    /// Loans by days overdue (> 0).
    pub days: BTreeMap<i64, u64>,
    /// Per cap: the excess of the loans breaching it.
    pub breaching_excess: Vec<Money>,
    /// Per cap: loans it binds (the last cap that cut them) and their excess.
    pub binding: Vec<(u64, Money)>,
}

impl CurrencyExtras {
    fn new(caps: usize) -> CurrencyExtras {
        CurrencyExtras {
            breaching_excess: vec![Money::ZERO; caps],
            binding: vec![(0, Money::ZERO); caps],
            ..CurrencyExtras::default()
        }
    }

    fn offer(&mut self, e: Excess) {
        if self.top.len() < TOP {
            self.top.push(Reverse(e));
        } else if self.top.peek().is_some_and(|Reverse(min)| e > *min) {
            self.top.pop();
            self.top.push(Reverse(e));
        }
    }

    /// The largest excesses, largest first.
    pub fn top(&self) -> Vec<Excess> {
        let mut v: Vec<Excess> = self.top.iter().map(|Reverse(e)| e.clone()).collect();
        v.sort_by(|a, b| b.cmp(a));
        v
    }

    fn merge(&mut self, other: CurrencyExtras) -> Result<(), Error> {
        for Reverse(e) in other.top {
            self.offer(e);
        }
        for (d, n) in other.days {
            *self.days.entry(d).or_default() += n;
        }
        for (mine, theirs) in self.breaching_excess.iter_mut().zip(other.breaching_excess) {
            *mine = add(*mine, theirs)?;
        }
        for (mine, theirs) in self.binding.iter_mut().zip(other.binding) {
            mine.0 += theirs.0;
            mine.1 = add(mine.1, theirs.1)?;
        }
        Ok(())
    }
}

fn add(a: Money, b: Money) -> Result<Money, Error> {
    a.checked_add(b)
        .ok_or_else(|| Error::from(crate::summary::SumOverflow))
}

/// The observer of one results file.
struct Extras<'p> {
    policy: &'p Policy,
    rows: u64,
    /// By currency; a book has a handful, so a list.
    currencies: Vec<(String, CurrencyExtras)>,
}

impl Observer for Extras<'_> {
    fn observe(
        &mut self,
        row: &RowView<'_>,
        c: &Contribution,
        breaches: &[usize],
    ) -> Result<(), Error> {
        self.rows += 1;
        let currency = row.get(0)?.unwrap_or("");
        let caps = self.policy.caps.len();
        let at = match self.currencies.iter().position(|(k, _)| k == currency) {
            Some(at) => at,
            None => {
                self.currencies
                    .push((currency.to_string(), CurrencyExtras::new(caps)));
                self.currencies.len() - 1
            }
        };
        let extras = &mut self.currencies[at].1;
        if c.days_overdue > 0 {
            *extras.days.entry(c.days_overdue).or_default() += 1;
        }
        for &cap in breaches {
            extras.breaching_excess[cap] = add(extras.breaching_excess[cap], c.excess)?;
        }
        let binding = row.get(4)?.unwrap_or("");
        if !binding.is_empty() {
            let cap = self
                .policy
                .caps
                .iter()
                .position(|k| k.name == binding)
                .ok_or_else(|| {
                    row.error(
                        4,
                        "names a cap the policy does not have; pass the run's --policy",
                    )
                })?;
            extras.binding[cap].0 += 1;
            extras.binding[cap].1 = add(extras.binding[cap].1, c.excess)?;
        }
        if c.excess > Money::ZERO {
            // The file's place is set when the files' observers are merged.
            let order = (0, self.rows);
            let beats = extras.top.len() < TOP
                || extras.top.peek().is_some_and(|Reverse(min)| {
                    (c.excess, Reverse(order)) > (min.excess, Reverse(min.order))
                });
            if beats {
                let names: Vec<&str> = breaches
                    .iter()
                    .map(|&i| self.policy.caps[i].name.as_str())
                    .collect();
                extras.offer(Excess {
                    excess: c.excess,
                    order,
                    loan_id: row.get(1)?.unwrap_or("").to_string(),
                    account_id: row.get(2)?.unwrap_or("").to_string(),
                    product: row.get(3)?.unwrap_or("").to_string(),
                    days_overdue: c.days_overdue,
                    breaches: names.join(";"),
                    binding_cap: binding.to_string(),
                });
            }
        }
        Ok(())
    }
}

/// Writes the report. Reads the results once (and, with `previous`, the
/// two nights as `arrears movement` does).
pub fn run(config: &ReportConfig) -> Result<Reported, Error> {
    let policy = &config.policy;
    let has_product = config
        .inputs
        .iter()
        .map(|p| has_column(p, "product"))
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .all(|b| b);
    let keys = |k: &[&str]| k.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let mut groupings = vec![
        config.group_by.clone(),
        keys(&["currency", "bucket"]),
        keys(&["currency", "bucket"]),
        keys(&["currency", "classification"]),
    ];
    if has_product {
        groupings[BY_BUCKET_PRODUCT] = keys(&["currency", "bucket", "product"]);
    }
    let (summaries, observers) =
        summarize::summarize_many(&config.inputs, &groupings, policy, &EXTRA, || Extras {
            policy,
            rows: 0,
            currencies: Vec::new(),
        })?;
    // Ties between files are broken by input order: renumber by position.
    let mut extras: BTreeMap<String, CurrencyExtras> = BTreeMap::new();
    for (file, observer) in observers.into_iter().enumerate() {
        for (currency, mut e) in observer.currencies {
            let top: Vec<Excess> = e
                .top
                .drain()
                .map(|Reverse(mut x)| {
                    x.order.0 = file;
                    x
                })
                .collect();
            e.top = top.into_iter().map(Reverse).collect();
            match extras.get_mut(&currency) {
                Some(mine) => mine.merge(e)?,
                None => {
                    extras.insert(currency, e);
                }
            }
        }
    }
    let movement = match &config.previous {
        Some(previous) => {
            let current = config.inputs.first().cloned().unwrap_or_default();
            let done = crate::cmd::movement::run(&MovementConfig {
                previous: previous.clone(),
                current,
                by: By::Bucket,
                policy: policy.clone(),
                as_of: config.as_of.clone().unwrap_or_default(),
                moves: None,
                matrix: None,
                provisions: None,
                journal: None,
                format: None,
            })?;
            Some(done)
        }
        None => None,
    };
    let page = Page {
        config,
        summaries: &summaries,
        extras: &extras,
        movement: movement.as_ref(),
        cn: policy.base.starts_with("cn-"),
    };
    let html = page.html();
    let mut file = AtomicFile::create(&config.output)?;
    file.write_all(html.as_bytes())
        .map_err(|e| Error::io(config.output.display(), e))?;
    let written = file.finish()?.commit()?;
    Ok(Reported {
        rows_read: summaries[DETAIL].rows_read,
        currencies: extras.len().max(currencies(&summaries[BY_CLASS]).len()),
        written,
    })
}

fn has_column(path: &std::path::Path, column: &str) -> Result<bool, Error> {
    use crate::io::source::{Compression, Input, Source};
    let mut source = Source::open(&Input::File(path.to_path_buf()), None, Compression::None)?;
    let header = source.header()?;
    Ok(header
        .iter()
        .any(|f| String::from_utf8_lossy(f).trim() == column))
}

/// The currencies of a summary, in its order.
fn currencies(s: &Summarized) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for row in &s.rows {
        if out.last() != Some(&row[0]) {
            out.push(row[0].clone());
        }
    }
    out
}

/// A summary's rows of one currency, as maps from column to value; the
/// total row (other keys `*`) last.
fn rows_of<'a>(s: &'a Summarized, currency: &str) -> Vec<BTreeMap<&'a str, &'a str>> {
    s.rows
        .iter()
        .filter(|r| r[0] == currency)
        .map(|r| {
            s.header
                .iter()
                .map(String::as_str)
                .zip(r.iter().map(String::as_str))
                .collect()
        })
        .collect()
}

fn is_total(s: &Summarized, row: &BTreeMap<&str, &str>) -> bool {
    s.header[1..s.keys]
        .iter()
        .all(|k| row.get(k.as_str()) == Some(&"*"))
        || s.keys == 1
}

/// The page, laid out from the figures.
struct Page<'a> {
    config: &'a ReportConfig,
    summaries: &'a [Summarized],
    extras: &'a BTreeMap<String, CurrencyExtras>,
    movement: Option<&'a crate::cmd::movement::Outcome>,
    cn: bool,
}

/// English labels, with the Chinese term beside them in a cn preset.
const TERMS: [(&str, &str); 40] = [
    ("Loans", "贷款笔数"),
    ("Outstanding", "贷款余额"),
    ("Overdue loans", "逾期贷款笔数"),
    ("Overdue share", "逾期率"),
    ("NPL ratio", "不良贷款率"),
    ("Coverage", "拨备覆盖率"),
    ("Excess over caps", "超上限金额"),
    ("Provision", "拨备"),
    ("Aging", "账龄（逾期天数分段）"),
    ("Classification", "五级分类"),
    ("Days past due", "逾期天数"),
    ("Cap audit", "利率上限审计"),
    ("Migration matrix", "迁徙矩阵"),
    ("Provision movement", "贷款损失准备变动"),
    ("Roll-forward rate", "迁徙率"),
    ("Cure rate", "治愈率"),
    ("Opening", "期初"),
    ("Charge", "计提"),
    ("Release", "转回"),
    ("Write-offs", "核销"),
    ("Closing", "期末"),
    ("Bucket", "逾期分段"),
    ("Product", "产品"),
    ("Class", "分类"),
    ("normal", "正常"),
    ("special_mention", "关注"),
    ("substandard", "次级"),
    ("doubtful", "可疑"),
    ("loss", "损失"),
    ("settled", "已结清"),
    ("Written-off principal", "核销本金"),
    ("Total capped charges", "封顶后逾期费用"),
    ("Summary", "汇总"),
    ("Largest excesses", "超上限金额最大的贷款"),
    ("Recoveries", "核销后收回"),
    ("Loans breaching", "超上限笔数"),
    ("Overdue", "逾期"),
    ("new", "新增"),
    ("closed", "结清/移出"),
    ("Histogram", "分布"),
];

impl Page<'_> {
    /// A label in English, and in a cn preset the Chinese term after it.
    fn t(&self, english: &str) -> String {
        match (self.cn, TERMS.iter().find(|(e, _)| *e == english)) {
            (true, Some((_, zh))) => format!("{english} {zh}"),
            _ => english.to_string(),
        }
    }

    fn html(&self) -> String {
        let mut h = String::with_capacity(1 << 18);
        let title = match &self.config.as_of {
            Some(d) => format!("Loan book report as of {d}"),
            None => "Loan book report".to_string(),
        };
        let _ = write!(
            h,
            "<!DOCTYPE html>\n<html lang=\"{}\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
             <title>{}</title><style>{CSS}</style></head><body>\n",
            if self.cn { "en" } else { "en" },
            esc(&title)
        );
        let _ = write!(h, "<header><h1>{}</h1><p class=\"meta\">", esc(&title));
        let inputs: Vec<String> = self
            .config
            .inputs
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        let _ = write!(
            h,
            "Results: {} · policy {} · {} rows",
            esc(&inputs.join(", ")),
            esc(&self.config.policy.describe()),
            self.summaries[DETAIL].rows_read
        );
        if let Some(p) = &self.config.previous {
            let _ = write!(
                h,
                " · previous night: {} (as of {})",
                esc(&p.display().to_string()),
                esc(self.config.previous_as_of.as_deref().unwrap_or("unknown"))
            );
        }
        let _ = write!(
            h,
            "</p><p class=\"meta\">Written by arrears {}. Every figure is the one \
             <code>arrears summarize</code>{} prints; charts are drawn from the tables beside them.</p></header>\n",
            env!("CARGO_PKG_VERSION"),
            if self.movement.is_some() {
                " and <code>arrears movement</code>"
            } else {
                ""
            }
        );
        let list = currencies(&self.summaries[BY_CLASS]);
        if list.is_empty() {
            h.push_str("<p>No loans.</p>");
        }
        if list.len() > 1 {
            h.push_str("<nav>");
            for c in &list {
                let _ = write!(h, "<a href=\"#{0}\">{0}</a> ", esc(c));
            }
            h.push_str("</nav>\n");
        }
        for c in &list {
            self.currency(&mut h, c);
        }
        h.push_str("</body></html>\n");
        h
    }

    fn currency(&self, h: &mut String, currency: &str) {
        let _ = write!(
            h,
            "<section class=\"currency\" id=\"{0}\"><h2>{0}</h2>\n",
            esc(currency)
        );
        self.headline(h, currency);
        self.aging(h, currency);
        self.classification(h, currency);
        self.days(h, currency);
        self.caps(h, currency);
        if self.movement.is_some() {
            self.migration(h, currency);
            self.provisions(h, currency);
        }
        self.detail(h, currency);
        h.push_str("</section>\n");
    }

    fn total(&self, which: usize, currency: &str) -> BTreeMap<&str, &str> {
        let s = &self.summaries[which];
        rows_of(s, currency)
            .into_iter()
            .find(|r| is_total(s, r))
            .unwrap_or_default()
    }

    fn headline(&self, h: &mut String, currency: &str) {
        let t = self.total(BY_CLASS, currency);
        let get = |k: &str| t.get(k).copied().unwrap_or("");
        let share = ratio(get("overdue_loans"), get("loans"));
        let cards: Vec<(String, &str, String, String)> = vec![
            (
                self.t("Loans"),
                "loans",
                get("loans").into(),
                int(get("loans")),
            ),
            (
                self.t("Outstanding"),
                "outstanding",
                get("outstanding").into(),
                amount(get("outstanding")),
            ),
            (
                self.t("Overdue loans"),
                "overdue_loans",
                get("overdue_loans").into(),
                int(get("overdue_loans")),
            ),
            (
                self.t("Overdue share"),
                "overdue_share",
                share.clone(),
                percent(&share),
            ),
            (
                self.t("NPL ratio"),
                "npl_ratio",
                get("npl_ratio").into(),
                percent(get("npl_ratio")),
            ),
            (
                self.t("Coverage"),
                "coverage",
                get("coverage").into(),
                percent(get("coverage")),
            ),
            (
                self.t("Provision"),
                "provision",
                get("provision").into(),
                amount(get("provision")),
            ),
            (
                self.t("Excess over caps"),
                "excess",
                get("excess").into(),
                amount(get("excess")),
            ),
        ];
        let _ = write!(
            h,
            "<table class=\"cards\" data-table=\"headline\" data-currency=\"{}\"><tbody><tr>",
            esc(currency)
        );
        for (label, col, v, shown) in &cards {
            let _ = write!(
                h,
                "<td data-col=\"{}\" data-v=\"{}\"><span class=\"label\">{}</span><span class=\"value\">{}</span></td>",
                col,
                esc(v),
                esc(label),
                esc(shown)
            );
        }
        h.push_str("</tr></tbody></table>\n");
        let _ = write!(
            h,
            "<p class=\"note\">Overdue share: loans more than 0 days past due over all loans. \
             NPL ratio: outstanding of unpaid loans classed substandard, doubtful or loss over all unpaid outstanding; \
             coverage: provisions over that NPL outstanding (SPEC.md section 3).</p>\n"
        );
    }

    fn aging(&self, h: &mut String, currency: &str) {
        let _ = write!(h, "<h3>{}</h3>\n", esc(&self.t("Aging")));
        let s = &self.summaries[BY_BUCKET];
        let buckets: Vec<BTreeMap<&str, &str>> = rows_of(s, currency)
            .into_iter()
            .filter(|r| !is_total(s, r))
            .collect();
        let sp = &self.summaries[BY_BUCKET_PRODUCT];
        let by_product = sp.keys == 3;
        let detail: Vec<BTreeMap<&str, &str>> = rows_of(sp, currency)
            .into_iter()
            .filter(|r| !is_total(sp, r))
            .collect();
        // Series: products (sorted, as the summary sorts them), or one.
        let mut products: Vec<&str> = detail
            .iter()
            .map(|r| r.get("product").copied().unwrap_or(""))
            .collect();
        products.sort_unstable();
        products.dedup();
        let labels: Vec<&str> = buckets.iter().map(|r| r["bucket"]).collect();
        let mut loans = vec![vec![0.0; labels.len()]; products.len().max(1)];
        let mut outs = loans.clone();
        for r in &detail {
            let b = labels.iter().position(|l| *l == r["bucket"]).unwrap_or(0);
            let p = if by_product {
                products
                    .iter()
                    .position(|p| Some(p) == r.get("product"))
                    .unwrap_or(0)
            } else {
                0
            };
            loans[p][b] += num(r["loans"]);
            outs[p][b] += num(r["outstanding"]);
        }
        let names: Vec<String> = if by_product {
            products
                .iter()
                .map(|p| {
                    if p.is_empty() {
                        "(none)".into()
                    } else {
                        p.to_string()
                    }
                })
                .collect()
        } else {
            vec!["all".into()]
        };
        h.push_str("<div class=\"charts\">");
        h.push_str(&stacked_bars(
            &format!("{} by bucket", self.t("Loans")),
            &labels,
            &names,
            &loans,
            false,
        ));
        h.push_str(&stacked_bars(
            &format!("{} by bucket", self.t("Outstanding")),
            &labels,
            &names,
            &outs,
            true,
        ));
        h.push_str("</div>\n<div class=\"tables\">");
        table(
            h,
            "aging",
            currency,
            &[
                ("bucket", self.t("Bucket")),
                ("loans", self.t("Loans")),
                ("overdue_loans", self.t("Overdue loans")),
                ("outstanding", self.t("Outstanding")),
                ("total_capped", self.t("Total capped charges")),
                ("provision", self.t("Provision")),
            ],
            &buckets,
        );
        if by_product {
            table(
                h,
                "aging_by_product",
                currency,
                &[
                    ("bucket", self.t("Bucket")),
                    ("product", self.t("Product")),
                    ("loans", self.t("Loans")),
                    ("outstanding", self.t("Outstanding")),
                ],
                &detail,
            );
        }
        h.push_str("</div>\n");
    }

    fn classification(&self, h: &mut String, currency: &str) {
        let _ = write!(h, "<h3>{}</h3>\n", esc(&self.t("Classification")));
        let s = &self.summaries[BY_CLASS];
        let rows: Vec<BTreeMap<&str, &str>> = rows_of(s, currency)
            .into_iter()
            .filter(|r| !is_total(s, r))
            .collect();
        let labels: Vec<String> = rows
            .iter()
            .map(|r| match r["classification"] {
                "" => self.t("settled"),
                c => self.t(c),
            })
            .collect();
        let label_refs: Vec<&str> = labels.iter().map(String::as_str).collect();
        let outs: Vec<f64> = rows.iter().map(|r| num(r["outstanding"])).collect();
        let provs: Vec<f64> = rows.iter().map(|r| num(r["provision"])).collect();
        h.push_str("<div class=\"charts\">");
        h.push_str(&grouped_bars(
            &format!(
                "{} and {} by class",
                self.t("Outstanding"),
                self.t("Provision")
            ),
            &label_refs,
            &[self.t("Outstanding"), self.t("Provision")],
            &[outs, provs],
        ));
        h.push_str("</div>\n");
        table(
            h,
            "classification",
            currency,
            &[
                ("classification", self.t("Class")),
                ("loans", self.t("Loans")),
                ("outstanding", self.t("Outstanding")),
                ("provision", self.t("Provision")),
                ("written_off_principal", self.t("Written-off principal")),
            ],
            &rows,
        );
        h.push_str(
            "<p class=\"note\">An empty class is the settled loans (repaid on or before the as-of date).</p>\n",
        );
    }

    fn days(&self, h: &mut String, currency: &str) {
        let _ = write!(h, "<h3>{}</h3>\n", esc(&self.t("Days past due")));
        let t = self.total(BY_CLASS, currency);
        table(
            h,
            "days",
            currency,
            &[
                ("overdue_loans", self.t("Overdue loans")),
                ("days_p50", "p50".into()),
                ("days_p90", "p90".into()),
                ("days_p99", "p99".into()),
                ("days_max", "max".into()),
            ],
            &[t.clone()],
        );
        let Some(e) = self.extras.get(currency) else {
            return;
        };
        let bins = histogram(&e.days);
        if bins.is_empty() {
            return;
        }
        let labels: Vec<String> = bins
            .iter()
            .map(|(a, b, _)| {
                if a == b {
                    a.to_string()
                } else {
                    format!("{a}-{b}")
                }
            })
            .collect();
        let label_refs: Vec<&str> = labels.iter().map(String::as_str).collect();
        let counts: Vec<f64> = bins.iter().map(|(_, _, n)| *n as f64).collect();
        let marks: Vec<(String, f64)> = ["days_p50", "days_p90", "days_p99"]
            .iter()
            .filter_map(|k| {
                let d: i64 = t.get(k)?.parse().ok()?;
                let at = bins.iter().position(|(a, b, _)| *a <= d && d <= *b)?;
                let (a, b, _) = bins[at];
                let frac = (d - a) as f64 / ((b - a + 1) as f64);
                Some((k.trim_start_matches("days_").to_string(), at as f64 + frac))
            })
            .collect();
        h.push_str("<div class=\"charts\">");
        h.push_str(&histogram_chart(
            &format!("{} ({})", self.t("Overdue loans"), self.t("Days past due")),
            &label_refs,
            &counts,
            &marks,
        ));
        h.push_str("</div>\n");
        let rows: Vec<BTreeMap<&str, String>> = bins
            .iter()
            .map(|(a, b, n)| {
                BTreeMap::from([
                    ("from_days", a.to_string()),
                    ("to_days", b.to_string()),
                    ("loans", n.to_string()),
                ])
            })
            .collect();
        let rows: Vec<BTreeMap<&str, &str>> = rows
            .iter()
            .map(|r| r.iter().map(|(k, v)| (*k, v.as_str())).collect())
            .collect();
        table(
            h,
            "days_histogram",
            currency,
            &[
                ("from_days", "from (days)".into()),
                ("to_days", "to (days)".into()),
                ("loans", self.t("Loans")),
            ],
            &rows,
        );
    }

    fn caps(&self, h: &mut String, currency: &str) {
        let _ = write!(h, "<h3>{}</h3>\n", esc(&self.t("Cap audit")));
        let policy = &self.config.policy;
        if policy.caps.is_empty() {
            h.push_str("<p>The policy has no caps.</p>\n");
            return;
        }
        let t = self.total(BY_CLASS, currency);
        let e = self.extras.get(currency);
        let mut rows: Vec<BTreeMap<&str, String>> = Vec::new();
        for (i, cap) in policy.caps.iter().enumerate() {
            let col = format!("breaches_{}", cap.name);
            let breaching = t.get(col.as_str()).copied().unwrap_or("0").to_string();
            let (excess, binding, binding_excess) = match e {
                Some(e) => (
                    money(e.breaching_excess[i]),
                    e.binding[i].0.to_string(),
                    money(e.binding[i].1),
                ),
                None => ("0.00".into(), "0".into(), "0.00".into()),
            };
            rows.push(BTreeMap::from([
                ("cap", cap.name.clone()),
                ("loans_breaching", breaching),
                ("excess_of_breaching", excess),
                ("loans_bound", binding),
                ("excess_where_binding", binding_excess),
            ]));
        }
        let labels: Vec<&str> = policy.caps.iter().map(|c| c.name.as_str()).collect();
        let counts: Vec<f64> = rows.iter().map(|r| num(&r["loans_breaching"])).collect();
        let excess: Vec<f64> = rows
            .iter()
            .map(|r| num(&r["excess_where_binding"]))
            .collect();
        h.push_str("<div class=\"charts\">");
        h.push_str(&grouped_bars(
            &self.t("Loans breaching"),
            &labels,
            &[self.t("Loans breaching")],
            &[counts],
        ));
        h.push_str(&grouped_bars(
            &format!("{} (where binding)", self.t("Excess over caps")),
            &labels,
            &[self.t("Excess over caps")],
            &[excess],
        ));
        h.push_str("</div>\n");
        let refs: Vec<BTreeMap<&str, &str>> = rows
            .iter()
            .map(|r| r.iter().map(|(k, v)| (*k, v.as_str())).collect())
            .collect();
        table(
            h,
            "caps",
            currency,
            &[
                ("cap", "cap".into()),
                ("loans_breaching", self.t("Loans breaching")),
                (
                    "excess_of_breaching",
                    "excess of the loans breaching it".into(),
                ),
                ("loans_bound", "loans it binds".into()),
                ("excess_where_binding", "excess where it binds".into()),
            ],
            &refs,
        );
        let _ = write!(
            h,
            "<p class=\"note\">Loans breaching a cap: the summary's <code>breaches_&lt;cap&gt;</code>. \
             A loan breaching several caps counts under each, with its whole excess; \
             \"where it binds\" counts each loan once, under its <code>binding_cap</code> (the last cap that cut its charges), \
             so that column adds up to the total excess ({}).</p>\n",
            esc(&amount(t.get("excess").copied().unwrap_or("")))
        );
        let top = e.map(|e| e.top()).unwrap_or_default();
        let _ = write!(
            h,
            "<h4>{} ({} largest)</h4>\n",
            esc(&self.t("Largest excesses")),
            TOP
        );
        if top.is_empty() {
            h.push_str("<p>No loan's charges were cut by a cap.</p>\n");
            return;
        }
        let rows: Vec<BTreeMap<&str, String>> = top
            .iter()
            .enumerate()
            .map(|(i, x)| {
                BTreeMap::from([
                    ("rank", (i + 1).to_string()),
                    ("loan_id", x.loan_id.clone()),
                    ("account_id", x.account_id.clone()),
                    ("product", x.product.clone()),
                    ("days_overdue", x.days_overdue.to_string()),
                    ("excess", money(x.excess)),
                    ("breaches", x.breaches.clone()),
                    ("binding_cap", x.binding_cap.clone()),
                ])
            })
            .collect();
        let refs: Vec<BTreeMap<&str, &str>> = rows
            .iter()
            .map(|r| r.iter().map(|(k, v)| (*k, v.as_str())).collect())
            .collect();
        table(
            h,
            "top_excess",
            currency,
            &[
                ("rank", "#".into()),
                ("loan_id", "loan_id".into()),
                ("account_id", "account_id".into()),
                ("product", self.t("Product")),
                ("days_overdue", self.t("Days past due")),
                ("excess", self.t("Excess over caps")),
                ("breaches", "breaches".into()),
                ("binding_cap", "binding_cap".into()),
            ],
            &refs,
        );
    }

    fn migration(&self, h: &mut String, currency: &str) {
        let Some(m) = self.movement else { return };
        let _ = write!(h, "<h3>{}</h3>\n", esc(&self.t("Migration matrix")));
        let (header, rows) = &m.tables.matrix;
        let rows: Vec<BTreeMap<&str, &str>> = rows
            .iter()
            .filter(|r| r[0] == currency)
            .map(|r| {
                header
                    .iter()
                    .map(String::as_str)
                    .zip(r.iter().map(String::as_str))
                    .collect()
            })
            .collect();
        let states: Vec<String> = m
            .states
            .iter()
            .filter(|s| {
                rows.iter()
                    .any(|r| r["from"] == s.as_str() || r["to"] == s.as_str())
            })
            .cloned()
            .collect();
        let froms: Vec<&str> = states
            .iter()
            .map(String::as_str)
            .filter(|s| rows.iter().any(|r| r["from"] == *s))
            .collect();
        let tos: Vec<&str> = states
            .iter()
            .map(String::as_str)
            .filter(|s| rows.iter().any(|r| r["to"] == *s))
            .collect();
        let cells: Vec<Vec<u64>> = froms
            .iter()
            .map(|f| {
                tos.iter()
                    .map(|t| {
                        rows.iter()
                            .find(|r| r["from"] == *f && r["to"] == *t)
                            .and_then(|r| r["loans"].parse().ok())
                            .unwrap_or(0)
                    })
                    .collect()
            })
            .collect();
        let from_labels: Vec<String> = froms.iter().map(|s| self.t(s)).collect();
        let to_labels: Vec<String> = tos.iter().map(|s| self.t(s)).collect();
        h.push_str("<div class=\"charts\">");
        h.push_str(&heat_map(
            &format!(
                "{}: loans from the previous night's bucket (rows) to this night's (columns)",
                self.t("Migration matrix")
            ),
            &from_labels,
            &to_labels,
            &cells,
        ));
        h.push_str(
            "</div>\n<p class=\"note\">Roll-forward rate: the share of a bucket's loans now in a later bucket; \
             cure rate: the share now settled, closed or in the first bucket (SPEC.md section 6).</p>\n<div class=\"tables\">",
        );
        // The rates, one row per from-state (they repeat on its rows).
        let mut rates: Vec<BTreeMap<&str, &str>> = Vec::new();
        for f in &froms {
            let first = rows.iter().find(|r| r["from"] == *f);
            if let Some(r) = first {
                if r["roll_forward_rate"].is_empty() {
                    continue;
                }
                rates.push(BTreeMap::from([
                    ("from", *f),
                    ("roll_forward_rate", r["roll_forward_rate"]),
                    ("cure_rate", r["cure_rate"]),
                ]));
            }
        }
        table(
            h,
            "rates",
            currency,
            &[
                ("from", "from".into()),
                ("roll_forward_rate", self.t("Roll-forward rate")),
                ("cure_rate", self.t("Cure rate")),
            ],
            &rates,
        );
        table(
            h,
            "matrix",
            currency,
            &[
                ("from", "from".into()),
                ("to", "to".into()),
                ("loans", self.t("Loans")),
                ("outstanding_previous", "outstanding previous".into()),
                ("outstanding_current", "outstanding current".into()),
            ],
            &rows,
        );
        h.push_str("</div>\n");
    }

    fn provisions(&self, h: &mut String, currency: &str) {
        let Some(m) = self.movement else { return };
        let _ = write!(h, "<h3>{}</h3>\n", esc(&self.t("Provision movement")));
        let (header, rows) = &m.tables.provisions;
        let Some(row) = rows.iter().find(|r| r[0] == currency) else {
            h.push_str("<p>No movement in this currency.</p>\n");
            return;
        };
        let row: BTreeMap<&str, &str> = header
            .iter()
            .map(String::as_str)
            .zip(row.iter().map(String::as_str))
            .collect();
        let steps = [
            (self.t("Opening"), num(row["opening"]), Step::Total),
            (self.t("Charge"), num(row["charge"]), Step::Up),
            (self.t("Release"), num(row["release"]), Step::Down),
            (self.t("Write-offs"), num(row["write_offs"]), Step::Down),
            (self.t("Closing"), num(row["closing"]), Step::Total),
        ];
        h.push_str("<div class=\"charts\">");
        h.push_str(&waterfall(
            &format!(
                "{}: opening + charge - release - write-offs = closing",
                self.t("Provision movement")
            ),
            &steps,
        ));
        h.push_str("</div>\n");
        table(
            h,
            "provisions",
            currency,
            &[
                ("opening", self.t("Opening")),
                ("charge", self.t("Charge")),
                ("release", self.t("Release")),
                ("write_offs", self.t("Write-offs")),
                ("closing", self.t("Closing")),
                ("recoveries", self.t("Recoveries")),
                ("recoveries_outstanding", "recoveries outstanding".into()),
            ],
            &[row],
        );
    }

    fn detail(&self, h: &mut String, currency: &str) {
        let s = &self.summaries[DETAIL];
        let keys: Vec<&str> = s.header[1..s.keys].iter().map(String::as_str).collect();
        let _ = write!(
            h,
            "<h3>{} by {}</h3>\n",
            esc(&self.t("Summary")),
            esc(&keys.join(", "))
        );
        let rows = rows_of(s, currency);
        let cols: Vec<(&str, String)> = s
            .header
            .iter()
            .map(|c| (c.as_str(), c.replace('_', " ")))
            .collect();
        h.push_str("<div class=\"wide\">");
        table(h, "summary", currency, &cols, &rows);
        h.push_str("</div>\n");
    }
}

/// A table a test can read back: `data-table`, `data-currency`, and on
/// each cell `data-col` and `data-v` (the exact figure); the cell's text
/// is the figure for reading (thousands separated).
fn table<V: AsRef<str>>(
    h: &mut String,
    name: &str,
    currency: &str,
    cols: &[(&str, String)],
    rows: &[BTreeMap<&str, V>],
) {
    let _ = write!(
        h,
        "<table class=\"data\" data-table=\"{}\" data-currency=\"{}\"><thead><tr>",
        name,
        esc(currency)
    );
    for (_, label) in cols {
        let _ = write!(h, "<th>{}</th>", esc(label));
    }
    h.push_str("</tr></thead><tbody>\n");
    for row in rows {
        h.push_str("<tr>");
        for (col, _) in cols {
            let v = row.get(col).map(|v| v.as_ref()).unwrap_or("");
            let class = if is_number(v) { " class=\"n\"" } else { "" };
            let _ = write!(
                h,
                "<td{class} data-col=\"{}\" data-v=\"{}\">{}</td>",
                esc(col),
                esc(v),
                esc(&shown(col, v))
            );
        }
        h.push_str("</tr>\n");
    }
    h.push_str("</tbody></table>\n");
}

fn is_number(v: &str) -> bool {
    !v.is_empty() && v.parse::<f64>().is_ok()
}

/// How a figure reads on the page: amounts with thousands separators.
fn shown(col: &str, v: &str) -> String {
    if !is_number(v) {
        return v.to_string();
    }
    if col.ends_with("_rate") || col == "npl_ratio" || col == "coverage" {
        return v.to_string();
    }
    if v.contains('.') {
        amount(v)
    } else {
        int(v)
    }
}

fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(ch),
        }
    }
    out
}

fn money(m: Money) -> String {
    crate::io::output::money(m.decimal())
}

/// For drawing only: charts are pictures; the tables hold the figures.
fn num(v: &str) -> f64 {
    v.parse().unwrap_or(0.0)
}

/// `part / whole`, half-up to 6 decimals, as the summary's ratios.
fn ratio(part: &str, whole: &str) -> String {
    match (part.parse::<u64>(), whole.parse::<u64>()) {
        (Ok(p), Ok(w)) if w > 0 => crate::cmd::movement::rate(p, w),
        _ => String::new(),
    }
}

/// Groups of three digits.
fn group(int: &str) -> String {
    let (sign, digits) = match int.strip_prefix('-') {
        Some(d) => ("-", d),
        None => ("", int),
    };
    let mut out = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    format!("{sign}{out}")
}

fn int(v: &str) -> String {
    if v.is_empty() {
        return "–".into();
    }
    group(v)
}

fn amount(v: &str) -> String {
    match v.split_once('.') {
        Some((i, f)) => format!("{}.{f}", group(i)),
        None if v.is_empty() => "–".into(),
        None => group(v),
    }
}

/// A 6-decimal ratio as a percentage with 2 decimals (the exact figure is
/// in the cell's `data-v`).
fn percent(v: &str) -> String {
    match v.parse::<rust_decimal::Decimal>() {
        Ok(d) => {
            let p = (d * rust_decimal::Decimal::from(100))
                .round_dp_with_strategy(2, rust_decimal::RoundingStrategy::MidpointAwayFromZero);
            format!("{p:.2}%")
        }
        Err(_) => "–".into(),
    }
}

/// Bins of the days-overdue counts: about 30 of a round width, up to the
/// last day with loans. `(from, to, loans)`, both ends included.
pub fn histogram(days: &BTreeMap<i64, u64>) -> Vec<(i64, i64, u64)> {
    let Some((&max, _)) = days.iter().next_back() else {
        return Vec::new();
    };
    let widths = [1, 2, 5, 10, 15, 30, 60, 90, 180, 365, 730, 1825, 3650];
    let width = widths
        .iter()
        .copied()
        .find(|w| max / w < 30)
        .unwrap_or(max / 30 + 1);
    let mut bins: Vec<(i64, i64, u64)> = Vec::new();
    let mut from = 1;
    while from <= max {
        // Bins end on multiples of the width: 1-30, 31-60, ...
        let to = ((from - 1) / width + 1) * width;
        bins.push((from, to, 0));
        from = to + 1;
    }
    for (&d, &n) in days {
        let at = ((d - 1) / width) as usize;
        if let Some(bin) = bins.get_mut(at) {
            bin.2 += n;
        }
    }
    bins
}

// ---------------------------------------------------------------- charts

const PALETTE: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
];

const FONT: &str = "sans-serif";
const W: u32 = 540;
const H: u32 = 320;

/// A short label for an axis: 1.2k, 3.4M.
fn short(v: f64) -> String {
    let a = v.abs();
    let (d, s) = if a >= 1e9 {
        (1e9, "B")
    } else if a >= 1e6 {
        (1e6, "M")
    } else if a >= 1e3 {
        (1e3, "k")
    } else {
        (1.0, "")
    };
    let x = v / d;
    if s.is_empty() {
        if (x - x.round()).abs() < 1e-9 {
            format!("{}", x.round())
        } else {
            format!("{x:.1}")
        }
    } else {
        format!("{}{s}", trim_float(x))
    }
}

fn trim_float(x: f64) -> String {
    let t = format!("{x:.1}");
    t.strip_suffix(".0").map(str::to_string).unwrap_or(t)
}

/// An SVG drawn by `draw` in a `<figure>`; a drawing error leaves a note
/// (a chart is never worth failing the report).
fn figure(
    title: &str,
    size: (u32, u32),
    draw: impl for<'b> FnOnce(
        &DrawingArea<SVGBackend<'b>, Shift>,
    ) -> Result<(), Box<dyn std::error::Error>>,
) -> String {
    let mut svg = String::new();
    let drawn = {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        let r = root
            .fill(&WHITE)
            .map_err(|e| e.to_string())
            .and_then(|()| draw(&root).map_err(|e| e.to_string()));
        r.and_then(|()| root.present().map_err(|e| e.to_string()))
    };
    match drawn {
        Ok(()) => format!(
            "<figure><figcaption>{}</figcaption>{}</figure>",
            esc(title),
            svg.trim_start_matches(|c| c != '<')
        ),
        Err(e) => format!(
            "<figure><figcaption>{}</figcaption><p class=\"note\">chart not drawn: {}</p></figure>",
            esc(title),
            esc(&e)
        ),
    }
}

fn y_max(v: f64) -> f64 {
    if v <= 0.0 {
        1.0
    } else {
        v * 1.08
    }
}

/// Bars per category, stacked by series.
fn stacked_bars(
    title: &str,
    labels: &[&str],
    series: &[String],
    values: &[Vec<f64>],
    money_axis: bool,
) -> String {
    let n = labels.len().max(1) as u32;
    let tops: Vec<f64> = (0..labels.len())
        .map(|i| {
            values
                .iter()
                .map(|s| s.get(i).copied().unwrap_or(0.0))
                .sum()
        })
        .collect();
    let top = y_max(tops.iter().copied().fold(0.0, f64::max));
    figure(title, (W, H), |root| {
        let mut chart = ChartBuilder::on(root)
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(if money_axis { 56 } else { 48 })
            .build_cartesian_2d((0u32..n - 1).into_segmented(), 0.0..top)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .light_line_style(WHITE)
            .bold_line_style(RGBColor(232, 232, 232))
            .x_labels(n as usize)
            .x_label_formatter(&|x| match x {
                SegmentValue::CenterOf(i) => labels.get(*i as usize).unwrap_or(&"").to_string(),
                _ => String::new(),
            })
            .y_label_formatter(&|y| short(*y))
            .label_style((FONT, 12))
            .draw()?;
        let mut base = vec![0.0; labels.len()];
        for (s, name) in series.iter().enumerate() {
            let color = PALETTE[s % PALETTE.len()];
            let bars: Vec<Rectangle<(SegmentValue<u32>, f64)>> = (0..labels.len())
                .filter(|&i| values[s][i] > 0.0)
                .map(|i| {
                    let (y0, y1) = (base[i], base[i] + values[s][i]);
                    let mut r = Rectangle::new(
                        [
                            (SegmentValue::Exact(i as u32), y0),
                            (SegmentValue::Exact(i as u32 + 1), y1),
                        ],
                        color.filled(),
                    );
                    r.set_margin(0, 0, 8, 8);
                    r
                })
                .collect();
            for i in 0..labels.len() {
                base[i] += values[s][i];
            }
            chart
                .draw_series(bars)?
                .label(name.as_str())
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 10, y + 5)], color.filled())
                });
        }
        if series.len() > 1 {
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::UpperRight)
                .background_style(WHITE.mix(0.85))
                .border_style(RGBColor(200, 200, 200))
                .label_font((FONT, 12))
                .draw()?;
        }
        Ok(())
    })
}

/// Bars per category, one beside the other per series.
fn grouped_bars(title: &str, labels: &[&str], series: &[String], values: &[Vec<f64>]) -> String {
    let n = labels.len().max(1) as u32;
    let k = series.len().max(1) as u32;
    let top = y_max(
        values
            .iter()
            .flat_map(|s| s.iter().copied())
            .fold(0.0, f64::max),
    );
    figure(title, (W, H), |root| {
        let mut chart = ChartBuilder::on(root)
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(56)
            .build_cartesian_2d((0u32..n * k - 1).into_segmented(), 0.0..top)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .light_line_style(WHITE)
            .bold_line_style(RGBColor(232, 232, 232))
            .x_labels((n * k) as usize)
            .x_label_formatter(&|x| match x {
                // The label under its group's first bar.
                SegmentValue::CenterOf(i) if i % k == 0 => {
                    labels.get((i / k) as usize).unwrap_or(&"").to_string()
                }
                _ => String::new(),
            })
            .y_label_formatter(&|y| short(*y))
            .label_style((FONT, 12))
            .draw()?;
        for (s, name) in series.iter().enumerate() {
            let color = PALETTE[s % PALETTE.len()];
            let bars: Vec<Rectangle<(SegmentValue<u32>, f64)>> = (0..labels.len())
                .map(|i| {
                    let x = i as u32 * k + s as u32;
                    let mut r = Rectangle::new(
                        [
                            (SegmentValue::Exact(x), 0.0),
                            (SegmentValue::Exact(x + 1), values[s][i]),
                        ],
                        color.filled(),
                    );
                    let (l, rr) = match (k, s) {
                        (1, _) => (10, 10),
                        (_, 0) => (8, 1),
                        _ => (1, 8),
                    };
                    r.set_margin(0, 0, l, rr);
                    r
                })
                .collect();
            chart
                .draw_series(bars)?
                .label(name.as_str())
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 10, y + 5)], color.filled())
                });
        }
        if series.len() > 1 {
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::UpperRight)
                .background_style(WHITE.mix(0.85))
                .border_style(RGBColor(200, 200, 200))
                .label_font((FONT, 12))
                .draw()?;
        }
        Ok(())
    })
}

/// Loans per bin, with the percentiles marked.
fn histogram_chart(
    title: &str,
    labels: &[&str],
    counts: &[f64],
    marks: &[(String, f64)],
) -> String {
    let n = labels.len().max(1);
    let top = y_max(counts.iter().copied().fold(0.0, f64::max));
    let every = n.div_ceil(10).max(1);
    figure(title, (W * 2 - 20, H), |root| {
        let mut chart = ChartBuilder::on(root)
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(48)
            .build_cartesian_2d(0.0..n as f64, 0.0..top)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .light_line_style(WHITE)
            .bold_line_style(RGBColor(232, 232, 232))
            .x_labels(n + 1)
            .x_label_formatter(&|x| {
                let i = x.round() as usize;
                if (x - x.round()).abs() < 1e-6 && i < labels.len() && i % every == 0 {
                    labels[i].split('-').next().unwrap_or("").to_string()
                } else {
                    String::new()
                }
            })
            .y_label_formatter(&|y| short(*y))
            .x_desc("days past due (bin start)")
            .label_style((FONT, 12))
            .axis_desc_style((FONT, 12))
            .draw()?;
        chart.draw_series(counts.iter().enumerate().map(|(i, &c)| {
            let mut r = Rectangle::new([(i as f64, 0.0), ((i + 1) as f64, c)], PALETTE[0].filled());
            r.set_margin(0, 0, 1, 1);
            r
        }))?;
        for (name, at) in marks {
            let color = PALETTE[3];
            chart.draw_series(std::iter::once(PathElement::new(
                vec![(*at, 0.0), (*at, top * 0.97)],
                color.stroke_width(2),
            )))?;
            chart.draw_series(std::iter::once(Text::new(
                name.clone(),
                (*at, top * 0.97),
                (FONT, 12).into_font().color(&color),
            )))?;
        }
        Ok(())
    })
}

/// A grid of counts, shaded by the share of its row.
fn heat_map(title: &str, rows: &[String], cols: &[String], cells: &[Vec<u64>]) -> String {
    let cw = 74i32;
    let ch = 30i32;
    let left = 120i32;
    let topm = 40i32;
    let width = (left + cw * cols.len() as i32 + 10).max(300) as u32;
    let height = (topm + ch * rows.len() as i32 + 10) as u32;
    figure(title, (width, height), |root| {
        let style = TextStyle::from((FONT, 12).into_font()).color(&BLACK);
        let centered = style.pos(Pos::new(HPos::Center, VPos::Center));
        let right = style.pos(Pos::new(HPos::Right, VPos::Center));
        for (j, c) in cols.iter().enumerate() {
            root.draw(&Text::new(
                c.clone(),
                (left + cw * j as i32 + cw / 2, topm - 14),
                centered.clone(),
            ))?;
        }
        for (i, r) in rows.iter().enumerate() {
            let total: u64 = cells[i].iter().sum();
            root.draw(&Text::new(
                r.clone(),
                (left - 8, topm + ch * i as i32 + ch / 2),
                right.clone(),
            ))?;
            for (j, &n) in cells[i].iter().enumerate() {
                let share = if total > 0 {
                    n as f64 / total as f64
                } else {
                    0.0
                };
                // White to a deep red by the row's share.
                let mix = |a: u8, b: u8| (a as f64 + (b as f64 - a as f64) * share).round() as u8;
                let fill = RGBColor(mix(255, 178), mix(255, 24), mix(255, 43));
                let (x0, y0) = (left + cw * j as i32, topm + ch * i as i32);
                root.draw(&Rectangle::new(
                    [(x0, y0), (x0 + cw, y0 + ch)],
                    fill.filled(),
                ))?;
                root.draw(&Rectangle::new(
                    [(x0, y0), (x0 + cw, y0 + ch)],
                    RGBColor(220, 220, 220).stroke_width(1),
                ))?;
                if n > 0 {
                    let color = if share > 0.5 { WHITE } else { BLACK };
                    root.draw(&Text::new(
                        n.to_string(),
                        (x0 + cw / 2, y0 + ch / 2),
                        centered.clone().color(&color),
                    ))?;
                }
            }
        }
        Ok(())
    })
}

#[derive(Clone, Copy, PartialEq)]
enum Step {
    Total,
    Up,
    Down,
}

/// Opening, the steps up and down, closing.
fn waterfall(title: &str, steps: &[(String, f64, Step)]) -> String {
    let mut level = 0.0;
    let mut spans = Vec::new();
    for (_, v, kind) in steps {
        let (a, b) = match kind {
            Step::Total => {
                level = *v;
                (0.0, *v)
            }
            Step::Up => {
                let a = level;
                level += v;
                (a, level)
            }
            Step::Down => {
                let a = level;
                level -= v;
                (level, a)
            }
        };
        spans.push((a, b));
    }
    let top = y_max(spans.iter().map(|s| s.1).fold(0.0, f64::max));
    let n = steps.len() as u32;
    let labels: Vec<String> = steps.iter().map(|s| s.0.clone()).collect();
    figure(title, (W, H), |root| {
        let mut chart = ChartBuilder::on(root)
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(56)
            .build_cartesian_2d((0u32..n - 1).into_segmented(), 0.0..top)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .light_line_style(WHITE)
            .bold_line_style(RGBColor(232, 232, 232))
            .x_labels(n as usize)
            .x_label_formatter(&|x| match x {
                SegmentValue::CenterOf(i) => labels.get(*i as usize).cloned().unwrap_or_default(),
                _ => String::new(),
            })
            .y_label_formatter(&|y| short(*y))
            .label_style((FONT, 12))
            .draw()?;
        chart.draw_series(steps.iter().zip(&spans).enumerate().map(
            |(i, ((_, _, kind), (a, b)))| {
                let color = match kind {
                    Step::Total => PALETTE[0],
                    Step::Up => PALETTE[3],
                    Step::Down => PALETTE[2],
                };
                let mut r = Rectangle::new(
                    [
                        (SegmentValue::Exact(i as u32), *a),
                        (SegmentValue::Exact(i as u32 + 1), *b),
                    ],
                    color.filled(),
                );
                r.set_margin(0, 0, 12, 12);
                r
            },
        ))?;
        chart.draw_series(steps.iter().zip(&spans).enumerate().map(
            |(i, ((_, v, _), (_, b)))| {
                Text::new(
                    short(*v),
                    (SegmentValue::CenterOf(i as u32), *b + top * 0.02),
                    TextStyle::from((FONT, 12).into_font())
                        .pos(Pos::new(HPos::Center, VPos::Bottom)),
                )
            },
        ))?;
        Ok(())
    })
}

const CSS: &str = r#"
:root{--ink:#1d2733;--muted:#5b6775;--line:#d9dee4;--bg:#f6f7f9;--accent:#1f77b4}
*{box-sizing:border-box}
body{margin:0 auto;max-width:1200px;padding:24px 28px;font:14px/1.45 -apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,"Noto Sans","Noto Sans CJK SC","WenQuanYi Zen Hei","PingFang SC","Microsoft YaHei",sans-serif;color:var(--ink);background:#fff}
h1{font-size:22px;margin:0 0 4px}
h2{font-size:20px;margin:28px 0 8px;padding-bottom:4px;border-bottom:2px solid var(--accent)}
h3{font-size:16px;margin:22px 0 6px}
h4{font-size:14px;margin:14px 0 6px}
.meta,.note{color:var(--muted);font-size:12px;margin:2px 0}
nav a{margin-right:10px}
code{font-size:12px}
table.cards{border-collapse:separate;border-spacing:8px;margin:6px -8px}
table.cards td{background:var(--bg);border:1px solid var(--line);border-radius:6px;padding:8px 12px;min-width:120px;vertical-align:top}
table.cards .label{display:block;color:var(--muted);font-size:12px}
table.cards .value{display:block;font-size:20px;font-weight:600;font-variant-numeric:tabular-nums}
.charts{display:flex;flex-wrap:wrap;gap:12px}
figure{margin:6px 0;border:1px solid var(--line);border-radius:6px;padding:6px}
figcaption{font-size:12px;color:var(--muted);margin:0 4px 2px}
figure svg{display:block;max-width:100%;height:auto}
table.data{border-collapse:collapse;margin:8px 0 4px;font-size:12px;font-variant-numeric:tabular-nums}
table.data th{background:var(--bg);text-align:left;font-weight:600;padding:4px 8px;border-bottom:1px solid var(--line)}
table.data td{padding:3px 8px;border-bottom:1px solid #eef0f3}
table.data td.n{text-align:right}
.wide{overflow-x:auto}
.tables{display:flex;flex-wrap:wrap;gap:0 28px;align-items:flex-start}
@media print{
  @page{size:A4 landscape;margin:10mm}
  body{max-width:none;padding:0;font-size:11px}
  nav{display:none}
  section.currency{break-before:page}
  section.currency:first-of-type{break-before:auto}
  figure,table.data tr,table.cards{break-inside:avoid}
  h3,h4{break-after:avoid}
  .wide{overflow:visible}
  table.data{font-size:9px}
  a{color:inherit;text-decoration:none}
}
"#;

pub fn command(args: &ReportPageArgs) -> anyhow::Result<Exit> {
    let started = std::time::Instant::now();
    let mut inputs = args.inputs.clone();
    inputs.extend(args.previous.clone());
    check_paths(&inputs, &[("-o", args.output.as_path())])?;
    if args.previous.is_some() && args.inputs.len() != 1 {
        return Err(UsageError(format!(
            "--previous compares two nights of one book: give one results file, not {}",
            args.inputs.len()
        ))
        .into());
    }
    let first = &args.inputs[0];
    let (as_of, manifest) = night_as_of(first, None, "RESULTS")?;
    let previous_as_of = match &args.previous {
        Some(p) => night_as_of(p, None, "PREVIOUS")?.0,
        None => None,
    };
    if let (Some(p), Some(c)) = (&previous_as_of, &as_of) {
        if p > c {
            return Err(UsageError(format!(
                "--previous is as of {p}, after the results' {c}: are the two files swapped?"
            ))
            .into());
        }
    }
    let policy = policy_of(args.policy.as_deref(), manifest.as_ref(), first)?;
    let config = crate::cmd::report::ReportConfig {
        inputs: args.inputs.clone(),
        previous: args.previous.clone(),
        policy,
        group_by: args.group_by.clone(),
        output: args.output.clone(),
        as_of: as_of.clone(),
        previous_as_of,
    };
    let done = crate::cmd::report::run(&config)?;
    if !args.quiet {
        let place = std::fs::canonicalize(&done.written.path)
            .map(|p| format!(" (file://{})", p.display()))
            .unwrap_or_default();
        eprintln!(
            "arrears: report of {} results rows as of {}, {} currencies, policy {}{}, in {:.2} s: wrote {}, {} bytes{}",
            done.rows_read,
            as_of.unwrap_or_else(|| "an unknown date".into()),
            done.currencies,
            config.policy.describe(),
            args.previous
                .as_ref()
                .map_or_else(String::new, |p| format!(", against {}", p.display())),
            started.elapsed().as_secs_f64(),
            done.written.path.display(),
            done.written.size,
            place
        );
    }
    Ok(Exit::Done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_bins_end_on_multiples_of_their_width() {
        let days = BTreeMap::from([(1, 2), (30, 1), (31, 4), (95, 1)]);
        let bins = histogram(&days);
        assert_eq!(bins[0], (1, 5, 2));
        assert_eq!(bins.iter().map(|b| b.2).sum::<u64>(), 8);
        assert_eq!(bins.last().unwrap().1, 95);
        assert!(bins.windows(2).all(|w| w[0].1 + 1 == w[1].0));
    }

    #[test]
    fn the_heap_keeps_the_largest_and_the_earliest_of_ties() {
        let mut e = CurrencyExtras::new(0);
        for i in 0..100u64 {
            e.offer(Excess {
                excess: Money::new((i % 7) as i128).unwrap(),
                order: (0, i),
                loan_id: i.to_string(),
                account_id: String::new(),
                product: String::new(),
                days_overdue: 1,
                breaches: String::new(),
                binding_cap: String::new(),
            });
        }
        let top = e.top();
        assert_eq!(top.len(), TOP);
        assert_eq!(top[0].excess, Money::new(6).unwrap());
        assert_eq!(top[0].loan_id, "6");
        assert!(top.windows(2).all(|w| w[0] >= w[1]));
    }

    #[test]
    fn figures_read_with_separators() {
        assert_eq!(amount("1234567.89"), "1,234,567.89");
        assert_eq!(int("1000"), "1,000");
        assert_eq!(amount("-12.00"), "-12.00");
        assert_eq!(percent("0.123456"), "12.35%");
        assert_eq!(ratio("1", "3"), "0.333333");
    }
}
