//! The policy: every rule and figure the computation follows, read from TOML.
//!
//! Presets are TOML text built into the binary. A user's file is laid over
//! the default preset key by key (a list replaces the default list whole),
//! then the whole is deserialized strictly (unknown fields are errors) and
//! validated, so a policy that loads is one the computation can trust.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use chrono::{Datelike, NaiveDate, Weekday};
use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Deserializer};

use crate::error::PolicyError;

/// Built-in presets, name and TOML text.
pub const PRESETS: &[(&str, &str)] = &[
    ("cn-bank", include_str!("presets/cn-bank.toml")),
    (
        "cn-private-lending",
        include_str!("presets/cn-private-lending.toml"),
    ),
    ("uk-hcstc", include_str!("presets/uk-hcstc.toml")),
    ("us-mla", include_str!("presets/us-mla.toml")),
];

/// Calendars shipped in the binary, name and text (the format of a
/// `holidays_file`), named by a policy's `calendar.builtin`.
pub const CALENDARS: &[(&str, &str)] =
    &[("cn-mainland", include_str!("calendars/cn-mainland.txt"))];

/// The preset used when no policy is named.
pub const DEFAULT_PRESET: &str = "cn-bank";

/// The columns of a payments file, canonical names.
pub const PAYMENT_COLUMNS: [&str; 3] = ["loan_id", "date", "amount"];

/// The input columns a policy's `[columns]` table may map.
pub const CANONICAL_COLUMNS: &[&str] = &[
    "loan_id",
    "principal",
    "due_date",
    "annual_rate",
    "daily_rate",
    "paid_date",
    "penalty_rate",
    "unpaid_interest",
    "fees",
    "outstanding",
    "currency",
    "product",
    "account_id",
    "region",
    "contract_date",
];

#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub name: String,
    pub currency: String,
    pub year_days: u32,
    pub count_both_ends: bool,
    pub grace_days: u32,
    pub grace_mode: GraceMode,
    pub contract_interest: bool,
    pub penalty: bool,
    pub penalty_multiplier: Decimal,
    pub compound: bool,
    pub rounding: Rounding,
    pub write_off_days: u32,
    pub bucket_edges: Vec<u32>,
    /// Canonical column name to the file's own header.
    pub columns: BTreeMap<String, String>,
    pub classes: Vec<Class>,
    pub caps: Vec<Cap>,
    pub due_date_roll: Roll,
    pub calendar: Calendar,
    /// The one-year LPR by the date it took effect, oldest first.
    pub lpr: Vec<Lpr>,
    /// A rate above this a year (daily rates times year_days) is taken for
    /// a mistake: the row is a reject. Default 10 (1000% a year).
    pub max_annual_rate: Decimal,
    /// How `movement` books the allowance (SPEC.md section 6).
    pub accounting: Accounting,
    /// The preset this policy is laid over (a preset's own name for a preset).
    pub base: String,
    /// The policy file it was read from; `None` for a preset.
    pub file: Option<String>,
    /// The policy as resolved: its base preset with the file's fields laid
    /// over it, as TOML (for the manifest and `arrears policy FILE`).
    pub resolved: String,
    /// The order a payment pays the dues in (SPEC.md section 5): each of
    /// the six once.
    pub allocation: [Due; 6],
    /// Payment columns (loan_id, date, amount) to the file's own header.
    pub repayment_columns: BTreeMap<String, String>,
}

/// What a payment can pay (SPEC.md section 5, `allocation`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Due {
    Fees,
    Penalty,
    Compound,
    Interest,
    UnpaidInterest,
    Principal,
}

impl Due {
    /// Indexed by `Due as usize`.
    pub const ALL: [Due; 6] = [
        Due::Fees,
        Due::Penalty,
        Due::Compound,
        Due::Interest,
        Due::UnpaidInterest,
        Due::Principal,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Due::Fees => "fees",
            Due::Penalty => "penalty",
            Due::Compound => "compound",
            Due::Interest => "interest",
            Due::UnpaidInterest => "unpaid_interest",
            Due::Principal => "principal",
        }
    }

    /// The charge component this due is, if it is one.
    pub fn component(self) -> Option<Component> {
        match self {
            Due::Fees => Some(Component::Fees),
            Due::Penalty => Some(Component::Penalty),
            Due::Compound => Some(Component::Compound),
            Due::Interest => Some(Component::Interest),
            Due::UnpaidInterest | Due::Principal => None,
        }
    }
}

/// The journal's method and account names (SPEC.md section 6).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Accounting {
    pub method: AccountingMethod,
    pub impairment_loss: String,
    pub allowance: String,
    pub loans: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountingMethod {
    /// 备抵法: charge, release and write-off against the allowance.
    Allowance,
    /// 直接转销法: write-offs only, straight to impairment loss.
    DirectWriteOff,
}

/// How a due date on a non-working day moves before days are counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Roll {
    None,
    NextBusinessDay,
}

/// Non-working days: weekends (when on) and holidays, less the working
/// days set on weekends (China's make-up working days, 调休).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Calendar {
    pub weekends: bool,
    pub holidays: BTreeSet<NaiveDate>,
    /// Working days whatever their weekday; never also a holiday.
    pub working_days: BTreeSet<NaiveDate>,
}

impl Calendar {
    pub fn is_working_day(&self, date: NaiveDate) -> bool {
        if self.working_days.contains(&date) {
            return true;
        }
        let weekend = matches!(date.weekday(), Weekday::Sat | Weekday::Sun);
        (!self.weekends || !weekend) && !self.holidays.contains(&date)
    }

    /// The first working day on or after `date`.
    pub fn next_working_day(&self, mut date: NaiveDate) -> NaiveDate {
        while !self.is_working_day(date) {
            match date.succ_opt() {
                Some(next) => date = next,
                None => break,
            }
        }
        date
    }
}

/// A one-year LPR and the date it took effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lpr {
    pub from: NaiveDate,
    pub rate: Decimal,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GraceMode {
    ChargeAll,
    SkipGrace,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rounding {
    HalfUp,
    HalfEven,
    /// Toward zero: what some lenders use for interest, and what every cap
    /// limit gets (a legal maximum is never passed by a rounding).
    Down,
}

impl Rounding {
    pub fn name(self) -> &'static str {
        match self {
            Rounding::HalfUp => "half_up",
            Rounding::HalfEven => "half_even",
            Rounding::Down => "down",
        }
    }

    /// Rounds to 2 decimals, the one rounding every amount gets.
    pub fn cents(self, value: Decimal) -> Decimal {
        self.round(value, 2)
    }

    /// Rounds to `places` decimals by this rule.
    pub fn round(self, value: Decimal, places: u32) -> Decimal {
        let strategy = match self {
            Rounding::HalfUp => RoundingStrategy::MidpointAwayFromZero,
            Rounding::HalfEven => RoundingStrategy::MidpointNearestEven,
            Rounding::Down => RoundingStrategy::ToZero,
        };
        value.round_dp_with_strategy(places, strategy)
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Class {
    pub name: String,
    pub min_days: u32,
    #[serde(deserialize_with = "figure")]
    pub provision_rate: Decimal,
}

/// A charge component a cap can apply to, in the order caps reduce them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Component {
    Fees,
    Compound,
    Penalty,
    Interest,
}

impl Component {
    /// The order a biting cap reduces components in.
    pub const REDUCTION_ORDER: [Component; 4] = [
        Component::Fees,
        Component::Compound,
        Component::Penalty,
        Component::Interest,
    ];
}

#[derive(Debug, Clone, PartialEq)]
pub struct Cap {
    pub name: String,
    pub limit: Limit,
    pub applies_to: Vec<Component>,
    /// The first contract date the cap's rule covers: a row whose contract
    /// (its contract_date, else its due date) is earlier falls under
    /// another rule and is a reject, never valued under this one.
    pub contracts_from: Option<NaiveDate>,
}

/// How a cap's limit is reached; see SPEC.md section 2, Caps.
#[derive(Debug, Clone, PartialEq)]
pub enum Limit {
    AnnualRate {
        rate: Decimal,
        year_days: u32,
    },
    DailyRate {
        rate: Decimal,
    },
    PrincipalRatio {
        ratio: Decimal,
    },
    Fixed {
        amount: Decimal,
    },
    ComponentRatio {
        ratio: Decimal,
        of: Vec<Component>,
    },
    /// `multiple` x the one-year LPR in force on the contract date, a year
    /// of `year_days`.
    LprMultiple {
        multiple: Decimal,
        year_days: u32,
    },
}

/// The policy as written in TOML, before validation.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    name: String,
    currency: String,
    year_days: u32,
    count_both_ends: bool,
    grace_days: u32,
    grace_mode: GraceMode,
    contract_interest: bool,
    penalty: bool,
    #[serde(deserialize_with = "figure")]
    penalty_multiplier: Decimal,
    compound: bool,
    rounding: Rounding,
    write_off_days: u32,
    bucket_edges: Vec<u32>,
    #[serde(default)]
    columns: BTreeMap<String, String>,
    classes: Vec<Class>,
    #[serde(default)]
    caps: Vec<RawCap>,
    due_date_roll: Roll,
    calendar: RawCalendar,
    #[serde(default)]
    lpr: Vec<RawLpr>,
    allocation: Vec<Due>,
    #[serde(default)]
    repayment_columns: BTreeMap<String, String>,
    #[serde(default = "default_max_annual_rate", deserialize_with = "figure")]
    max_annual_rate: Decimal,
    accounting: Accounting,
}

fn default_max_annual_rate() -> Decimal {
    Decimal::TEN
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCalendar {
    #[serde(default)]
    weekends: bool,
    #[serde(default)]
    holidays: Vec<DateValue>,
    #[serde(default)]
    working_days: Vec<DateValue>,
    holidays_file: Option<String>,
    builtin: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLpr {
    from: DateValue,
    #[serde(deserialize_with = "figure")]
    rate: Decimal,
}

/// A date written as a TOML date (`2025-05-20`) or a string.
#[derive(Deserialize)]
#[serde(untagged)]
enum DateValue {
    Toml(toml::value::Datetime),
    Text(String),
}

impl DateValue {
    fn date(&self, field: &str) -> Result<NaiveDate, Invalid> {
        let text = match self {
            DateValue::Toml(d) => d.to_string(),
            DateValue::Text(s) => s.clone(),
        };
        crate::parse::date(&text).map_err(|why| invalid(field, format!("{text:?}: {why}")))
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum CapKind {
    AnnualRate,
    DailyRate,
    PrincipalRatio,
    Fixed,
    ComponentRatio,
    LprMultiple,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCap {
    name: String,
    kind: CapKind,
    #[serde(default, deserialize_with = "optional_figure")]
    rate: Option<Decimal>,
    #[serde(default, deserialize_with = "optional_figure")]
    ratio: Option<Decimal>,
    #[serde(default, deserialize_with = "optional_figure")]
    amount: Option<Decimal>,
    #[serde(default, deserialize_with = "optional_figure")]
    multiple: Option<Decimal>,
    year_days: Option<u32>,
    applies_to: Option<Vec<Component>>,
    of: Option<Vec<Component>>,
    contracts_from: Option<DateValue>,
}

impl Policy {
    /// Loads `spec`: a preset's name, or else the path of a TOML file laid
    /// over the default preset.
    pub fn load(spec: &str) -> Result<Policy, PolicyError> {
        if let Some(text) = preset(spec) {
            return Policy::from_toml(text, spec);
        }

        let path = Path::new(spec);
        let text = std::fs::read_to_string(path).map_err(|e| PolicyError::Read {
            path: spec.to_string(),
            message: format!(
                "{e} (not a file, nor a preset: {})",
                preset_names().join(", ")
            ),
        })?;
        let mut policy = Policy::from_toml(&text, spec)?;
        policy.file = Some(spec.to_string());
        Ok(policy)
    }

    /// How the run report and the manifest name the policy: a preset's
    /// name, or a file's path, its name and the preset it is laid over.
    pub fn describe(&self) -> String {
        match &self.file {
            None => self.name.clone(),
            Some(file) => format!("{file} (\"{}\", over preset {})", self.name, self.base),
        }
    }

    /// Parses a policy's TOML text laid over its `base` preset (default
    /// `cn-bank`); `origin` names the text in errors, and a relative
    /// `holidays_file` is found beside it.
    pub fn from_toml(text: &str, origin: &str) -> Result<Policy, PolicyError> {
        let syntax = |e: toml::de::Error| PolicyError::Syntax {
            path: origin.to_string(),
            message: e.to_string().trim_end().to_string(),
        };
        let invalid = |(field, reason): Invalid| PolicyError::Invalid {
            path: origin.to_string(),
            field,
            reason,
        };
        let mut own: toml::Table = text.parse().map_err(syntax)?;
        let mut merged: toml::Table = DEFAULT_TEXT.parse().map_err(syntax)?;
        let mut base = PRESETS[0].0.to_string();
        if let Some(name) = preset_names().into_iter().find(|n| preset(n) == Some(text)) {
            base = name.to_string();
        }
        match own.remove("base") {
            None => {}
            Some(toml::Value::String(name)) => {
                base = name.clone();
                let names = preset_names().join(", ");
                let base = preset(&name).ok_or_else(|| {
                    invalid(self::invalid(
                        "base",
                        format!("no preset {name:?}; presets: {names}"),
                    ))
                })?;
                merged.extend(base.parse::<toml::Table>().map_err(syntax)?);
            }
            Some(_) => return Err(invalid(self::invalid("base", "must be a preset's name"))),
        }
        // A file's LPR entries extend the base's table; other lists replace.
        let extra_lpr = own.remove("lpr");
        // A file's [accounting] fields replace the base's one by one.
        if let (Some(toml::Value::Table(base)), Some(toml::Value::Table(mine))) =
            (merged.get_mut("accounting"), own.get("accounting"))
        {
            base.extend(mine.clone());
            own.remove("accounting");
        }
        merged.extend(own);
        match (merged.get_mut("lpr"), extra_lpr) {
            (Some(toml::Value::Array(list)), Some(toml::Value::Array(extra))) => list.extend(extra),
            (_, Some(extra)) => {
                merged.insert("lpr".into(), extra);
            }
            (_, None) => {}
        }
        let resolved = toml::to_string(&merged).map_err(|e| PolicyError::Syntax {
            path: origin.to_string(),
            message: e.to_string(),
        })?;
        let raw: RawPolicy = toml::Value::Table(merged).try_into().map_err(syntax)?;
        let dir = Path::new(origin).parent().unwrap_or(Path::new(""));
        let mut policy = raw.validate(dir).map_err(invalid)?;
        policy.base = base;
        policy.resolved = resolved;
        Ok(policy)
    }

    /// The one-year LPR in force on `date`; dates before the table use its
    /// earliest rate. `None` without a table.
    pub fn lpr_at(&self, date: NaiveDate) -> Option<Decimal> {
        let first = self.lpr.first()?;
        Some(
            self.lpr
                .iter()
                .rev()
                .find(|l| l.from <= date)
                .unwrap_or(first)
                .rate,
        )
    }

    /// The bucket labels in order: `current`, `1-30`, ..., `181+`.
    pub fn bucket_labels(&self) -> Vec<String> {
        let mut labels = vec!["current".to_string()];
        let mut low = 1;
        for &edge in &self.bucket_edges {
            labels.push(format!("{low}-{edge}"));
            low = edge + 1;
        }
        labels.push(format!("{low}+"));
        labels
    }

    /// The index in `bucket_labels` of a number of days past due.
    pub fn bucket_index(&self, days_overdue: i64) -> usize {
        if days_overdue <= 0 {
            return 0;
        }
        1 + self
            .bucket_edges
            .iter()
            .take_while(|&&edge| days_overdue > i64::from(edge))
            .count()
    }

    /// The index of the class that a number of days past due falls in.
    pub fn class_index(&self, days_overdue: i64) -> usize {
        self.classes
            .iter()
            .rposition(|c| days_overdue >= i64::from(c.min_days))
            .unwrap_or(0)
    }
}

const DEFAULT_TEXT: &str = PRESETS[0].1;

/// The TOML text of a built-in preset.
pub fn preset(name: &str) -> Option<&'static str> {
    PRESETS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, text)| *text)
}

pub fn preset_names() -> Vec<&'static str> {
    PRESETS.iter().map(|(n, _)| *n).collect()
}

type Invalid = (String, String);

fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Invalid {
    (field.into(), reason.into())
}

fn non_negative(field: &str, value: Decimal) -> Result<Decimal, Invalid> {
    if value.is_sign_negative() && !value.is_zero() {
        return Err(invalid(field, format!("must not be negative, got {value}")));
    }
    Ok(value)
}

impl RawPolicy {
    fn validate(self, dir: &Path) -> Result<Policy, Invalid> {
        if ![360, 365].contains(&self.year_days) {
            return Err(invalid(
                "year_days",
                format!("must be 360 or 365, got {}", self.year_days),
            ));
        }
        let currency = self.currency.trim().to_ascii_uppercase();
        if !is_currency_code(&currency) {
            return Err(invalid(
                "currency",
                format!("must be a 3-letter ISO 4217 code, got {:?}", self.currency),
            ));
        }
        non_negative("penalty_multiplier", self.penalty_multiplier)?;
        if self.bucket_edges.first() == Some(&0)
            || self.bucket_edges.windows(2).any(|w| w[0] >= w[1])
        {
            return Err(invalid(
                "bucket_edges",
                "must be positive and strictly increasing",
            ));
        }
        for key in self.columns.keys() {
            if !CANONICAL_COLUMNS.contains(&key.as_str()) {
                return Err(invalid(
                    format!("columns.{key}"),
                    format!(
                        "not an input column; known: {}",
                        CANONICAL_COLUMNS.join(", ")
                    ),
                ));
            }
        }
        for key in self.repayment_columns.keys() {
            if !PAYMENT_COLUMNS.contains(&key.as_str()) {
                return Err(invalid(
                    format!("repayment_columns.{key}"),
                    format!(
                        "not a repayments column; known: {}",
                        PAYMENT_COLUMNS.join(", ")
                    ),
                ));
            }
        }
        let allocation = self.validate_allocation()?;
        self.validate_classes()?;
        let calendar = self.calendar.validate(dir)?;
        let mut lpr = BTreeMap::new();
        for (i, entry) in self.lpr.iter().enumerate() {
            let from = entry.from.date(&format!("lpr[{i}].from"))?;
            lpr.insert(from, non_negative(&format!("lpr[{i}].rate"), entry.rate)?);
        }
        let lpr: Vec<Lpr> = lpr
            .into_iter()
            .map(|(from, rate)| Lpr { from, rate })
            .collect();
        let caps = self
            .caps
            .into_iter()
            .enumerate()
            .map(|(i, cap)| cap.validate(i, !lpr.is_empty()))
            .collect::<Result<Vec<_>, _>>()?;
        for (i, cap) in caps.iter().enumerate() {
            if caps[..i].iter().any(|c| c.name == cap.name) {
                return Err(invalid(
                    format!("caps[{i}].name"),
                    format!("duplicate cap name {:?}", cap.name),
                ));
            }
        }
        Ok(Policy {
            name: self.name,
            currency,
            year_days: self.year_days,
            count_both_ends: self.count_both_ends,
            grace_days: self.grace_days,
            grace_mode: self.grace_mode,
            contract_interest: self.contract_interest,
            penalty: self.penalty,
            penalty_multiplier: self.penalty_multiplier,
            compound: self.compound,
            rounding: self.rounding,
            write_off_days: self.write_off_days,
            bucket_edges: self.bucket_edges,
            columns: self.columns,
            classes: self.classes,
            caps,
            due_date_roll: self.due_date_roll,
            calendar,
            lpr,
            allocation,
            repayment_columns: self.repayment_columns,
            max_annual_rate: non_negative("max_annual_rate", self.max_annual_rate)?,
            accounting: self.accounting,
            base: String::new(),
            file: None,
            resolved: String::new(),
        })
    }

    /// Each of the six dues exactly once.
    fn validate_allocation(&self) -> Result<[Due; 6], Invalid> {
        let names: Vec<&str> = Due::ALL.iter().map(|d| d.name()).collect();
        let list = &self.allocation;
        for d in Due::ALL {
            let n = list.iter().filter(|&&x| x == d).count();
            if n != 1 {
                let how = if n == 0 { "lacks" } else { "repeats" };
                return Err(invalid(
                    "allocation",
                    format!(
                        "{how} {:?}: it must name each of {} exactly once",
                        d.name(),
                        names.join(", ")
                    ),
                ));
            }
        }
        let mut order = Due::ALL;
        order.copy_from_slice(list);
        Ok(order)
    }

    fn validate_classes(&self) -> Result<(), Invalid> {
        let classes = &self.classes;
        if classes.first().map(|c| c.min_days) != Some(0) {
            return Err(invalid(
                "classes",
                "the first class must have min_days = 0, so every day count has a class",
            ));
        }
        for (i, class) in classes.iter().enumerate() {
            if class.name.trim().is_empty() {
                return Err(invalid(format!("classes[{i}].name"), "must not be empty"));
            }
            if i > 0 && class.min_days <= classes[i - 1].min_days {
                return Err(invalid(
                    format!("classes[{i}].min_days"),
                    "must be greater than the previous class's",
                ));
            }
            let rate = non_negative(
                &format!("classes[{i}].provision_rate"),
                class.provision_rate,
            )?;
            if rate > Decimal::ONE {
                return Err(invalid(
                    format!("classes[{i}].provision_rate"),
                    format!("must be at most 1, got {rate}"),
                ));
            }
        }
        Ok(())
    }
}

impl RawCalendar {
    fn validate(self, dir: &Path) -> Result<Calendar, Invalid> {
        let mut calendar = Calendar {
            weekends: self.weekends,
            ..Calendar::default()
        };
        if let Some(name) = &self.builtin {
            let field = "calendar.builtin";
            let text = builtin_calendar(name).ok_or_else(|| {
                let names: Vec<&str> = CALENDARS.iter().map(|(n, _)| *n).collect();
                invalid(
                    field,
                    format!("no calendar {name:?}; shipped: {}", names.join(", ")),
                )
            })?;
            read_days(&mut calendar, text, &format!("calendar {name}"))
                .map_err(|why| invalid(field, why))?;
        }
        if let Some(file) = &self.holidays_file {
            let path = dir.join(file);
            let field = "calendar.holidays_file";
            let text = std::fs::read_to_string(&path)
                .map_err(|e| invalid(field, format!("{}: {e}", path.display())))?;
            read_days(&mut calendar, &text, &path.display().to_string())
                .map_err(|why| invalid(field, why))?;
        }
        for (i, day) in self.holidays.iter().enumerate() {
            let field = format!("calendar.holidays[{i}]");
            let day = day.date(&field)?;
            add_day(&mut calendar, day, false).map_err(|why| invalid(field, why))?;
        }
        for (i, day) in self.working_days.iter().enumerate() {
            let field = format!("calendar.working_days[{i}]");
            let day = day.date(&field)?;
            add_day(&mut calendar, day, true).map_err(|why| invalid(field, why))?;
        }
        Ok(calendar)
    }
}

/// The text of a shipped calendar.
pub fn builtin_calendar(name: &str) -> Option<&'static str> {
    CALENDARS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, text)| *text)
}

/// Adds the days of a calendar file: one date a line, `DATE` or
/// `DATE holiday` a non-working day, `DATE working` a working day; `#`
/// starts a comment. `origin` names the file in errors.
fn read_days(calendar: &mut Calendar, text: &str, origin: &str) -> Result<(), String> {
    for (n, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let at = |why: String| format!("{origin}:{}: {line:?}: {why}", n + 1);
        let mut words = line.split_whitespace();
        let date = words.next().unwrap_or("");
        let working = match (words.next(), words.next()) {
            (None, _) | (Some("holiday"), None) => false,
            (Some("working"), None) => true,
            _ => {
                return Err(at(
                    "expected a date, optionally followed by `holiday` or `working`".into(),
                ))
            }
        };
        let day = crate::parse::date(date).map_err(|why| at(why.to_string()))?;
        add_day(calendar, day, working).map_err(at)?;
    }
    Ok(())
}

/// Marks `day` a working day or a holiday; a day cannot be both.
fn add_day(calendar: &mut Calendar, day: NaiveDate, working: bool) -> Result<(), String> {
    let (add, other) = match working {
        true => (&mut calendar.working_days, &calendar.holidays),
        false => (&mut calendar.holidays, &calendar.working_days),
    };
    if other.contains(&day) {
        return Err(format!("{day} is both a holiday and a working day"));
    }
    add.insert(day);
    Ok(())
}

impl RawCap {
    fn validate(self, index: usize, has_lpr: bool) -> Result<Cap, Invalid> {
        let field = |name: &str| format!("caps[{index}].{name}");
        let name = self.name.trim().to_string();
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_alphanumeric() || "-_.".contains(c))
        {
            return Err(invalid(
                field("name"),
                format!(
                    "must be non-empty letters, digits, '-', '_' or '.', got {:?}",
                    self.name
                ),
            ));
        }
        let need = |value: Option<Decimal>, figure: &str| {
            value
                .ok_or_else(|| invalid(field(figure), "missing: this cap's kind needs it"))
                .and_then(|v| non_negative(&field(figure), v))
        };
        let unused = |present: bool, figure: &str| {
            if present {
                Err(invalid(field(figure), "not used by this cap's kind"))
            } else {
                Ok(())
            }
        };
        let limit = match self.kind {
            CapKind::AnnualRate => {
                let year_days = self.year_days.unwrap_or(365);
                if year_days == 0 {
                    return Err(invalid(field("year_days"), "must be positive"));
                }
                unused(self.ratio.is_some(), "ratio")?;
                unused(self.amount.is_some(), "amount")?;
                Limit::AnnualRate {
                    rate: need(self.rate, "rate")?,
                    year_days,
                }
            }
            CapKind::LprMultiple => {
                let year_days = self.year_days.unwrap_or(365);
                if year_days == 0 {
                    return Err(invalid(field("year_days"), "must be positive"));
                }
                if !has_lpr {
                    return Err(invalid(
                        field("kind"),
                        "lpr_multiple needs the policy's [[lpr]] table",
                    ));
                }
                unused(self.rate.is_some(), "rate")?;
                unused(self.ratio.is_some(), "ratio")?;
                unused(self.amount.is_some(), "amount")?;
                Limit::LprMultiple {
                    multiple: need(self.multiple, "multiple")?,
                    year_days,
                }
            }
            CapKind::DailyRate => {
                unused(self.ratio.is_some(), "ratio")?;
                unused(self.amount.is_some(), "amount")?;
                Limit::DailyRate {
                    rate: need(self.rate, "rate")?,
                }
            }
            CapKind::PrincipalRatio => {
                unused(self.rate.is_some(), "rate")?;
                unused(self.amount.is_some(), "amount")?;
                Limit::PrincipalRatio {
                    ratio: need(self.ratio, "ratio")?,
                }
            }
            CapKind::Fixed => {
                unused(self.rate.is_some(), "rate")?;
                unused(self.ratio.is_some(), "ratio")?;
                Limit::Fixed {
                    amount: need(self.amount, "amount")?,
                }
            }
            CapKind::ComponentRatio => {
                unused(self.rate.is_some(), "rate")?;
                unused(self.amount.is_some(), "amount")?;
                let of = components(self.of.clone(), &field("of"))?
                    .ok_or_else(|| invalid(field("of"), "missing: this cap's kind needs it"))?;
                Limit::ComponentRatio {
                    ratio: need(self.ratio, "ratio")?,
                    of,
                }
            }
        };
        if self.multiple.is_some() && !matches!(limit, Limit::LprMultiple { .. }) {
            return Err(invalid(field("multiple"), "not used by this cap's kind"));
        }
        if self.year_days.is_some()
            && !matches!(limit, Limit::AnnualRate { .. } | Limit::LprMultiple { .. })
        {
            return Err(invalid(field("year_days"), "not used by this cap's kind"));
        }
        if self.of.is_some() && !matches!(limit, Limit::ComponentRatio { .. }) {
            return Err(invalid(field("of"), "not used by this cap's kind"));
        }
        let applies_to = components(self.applies_to, &field("applies_to"))?
            .unwrap_or_else(|| Component::REDUCTION_ORDER.to_vec());
        let contracts_from = match &self.contracts_from {
            Some(date) => Some(date.date(&field("contracts_from"))?),
            None => None,
        };
        Ok(Cap {
            name,
            limit,
            applies_to,
            contracts_from,
        })
    }
}

/// A non-empty list of distinct components, sorted in reduction order.
fn components(
    list: Option<Vec<Component>>,
    field: &str,
) -> Result<Option<Vec<Component>>, Invalid> {
    let Some(mut list) = list else {
        return Ok(None);
    };
    if list.is_empty() {
        return Err(invalid(field, "must name at least one component"));
    }
    list.sort();
    if list.windows(2).any(|w| w[0] == w[1]) {
        return Err(invalid(field, "names a component twice"));
    }
    Ok(Some(list))
}

pub fn is_currency_code(code: &str) -> bool {
    code.len() == 3 && code.bytes().all(|b| b.is_ascii_uppercase())
}

/// A figure given as a string or a number, read as an exact decimal.
#[derive(Deserialize)]
#[serde(untagged)]
enum Figure {
    Text(String),
    Integer(i64),
    Float(f64),
}

impl Figure {
    fn exact(self) -> Result<Decimal, String> {
        let text = match self {
            Figure::Text(s) => s,
            Figure::Integer(i) => return Ok(Decimal::from(i)),
            // Rust prints the shortest text that reads back as the same
            // float, which is the text the user wrote for any figure of up
            // to 15 significant digits.
            Figure::Float(f) => format!("{f}"),
        };
        Decimal::from_str_exact(text.trim()).map_err(|_| format!("not a decimal number: {text:?}"))
    }
}

fn figure<'de, D: Deserializer<'de>>(d: D) -> Result<Decimal, D::Error> {
    Figure::deserialize(d)?
        .exact()
        .map_err(serde::de::Error::custom)
}

fn optional_figure<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Decimal>, D::Error> {
    figure(d).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    fn load_err(text: &str) -> String {
        Policy::from_toml(text, "test.toml")
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn default_preset_matches_spec() {
        let p = Policy::load("cn-bank").unwrap();
        assert_eq!(p.year_days, 360);
        assert_eq!(p.penalty_multiplier, d("1.5"));
        assert!(!p.contract_interest && p.penalty && p.compound);
        assert_eq!(p.grace_mode, GraceMode::ChargeAll);
        assert_eq!(p.rounding, Rounding::HalfUp);
        assert_eq!(p.write_off_days, 180);
        assert_eq!(
            p.bucket_labels(),
            ["current", "1-30", "31-60", "61-90", "91-180", "181+"]
        );
        let classes: Vec<_> = p
            .classes
            .iter()
            .map(|c| (c.name.as_str(), c.min_days))
            .collect();
        assert_eq!(
            classes,
            [
                ("normal", 0),
                ("special_mention", 1),
                ("substandard", 91),
                ("doubtful", 271),
                ("loss", 361)
            ]
        );
        assert_eq!(p.caps.len(), 2);
        assert_eq!(
            p.caps[1].limit,
            Limit::AnnualRate {
                rate: d("0.36"),
                year_days: 365
            }
        );
        assert_eq!(p.caps[0].applies_to, Component::REDUCTION_ORDER.to_vec());
    }

    #[test]
    fn file_overrides_and_lists_replace() {
        let p =
            Policy::from_toml("year_days = 365\ncaps = []\nbucket_edges = [10]\n", "t").unwrap();
        assert_eq!(p.year_days, 365);
        assert!(p.caps.is_empty());
        assert_eq!(p.bucket_labels(), ["current", "1-10", "11+"]);
        assert_eq!(p.classes.len(), 5, "unnamed lists keep the default");
    }

    #[test]
    fn figures_as_numbers_are_exact() {
        let p = Policy::from_toml(
            "penalty_multiplier = 1.3\n[[caps]]\nname = \"x\"\nkind = \"daily_rate\"\nrate = 0.008\n",
            "t",
        )
        .unwrap();
        assert_eq!(p.penalty_multiplier, d("1.3"));
        assert_eq!(p.caps[0].limit, Limit::DailyRate { rate: d("0.008") });
        let p = Policy::from_toml("penalty_multiplier = 2", "t").unwrap();
        assert_eq!(p.penalty_multiplier, d("2"));
    }

    #[test]
    fn bucket_and_class_boundaries() {
        let p = Policy::load("cn-bank").unwrap();
        let cases = [
            (0, 0),
            (1, 1),
            (30, 1),
            (31, 2),
            (60, 2),
            (61, 3),
            (90, 3),
            (91, 4),
            (180, 4),
            (181, 5),
        ];
        for (days, bucket) in cases {
            assert_eq!(p.bucket_index(days), bucket, "{days} days");
        }
        let cases = [
            (0, 0),
            (1, 1),
            (90, 1),
            (91, 2),
            (270, 2),
            (271, 3),
            (360, 3),
            (361, 4),
        ];
        for (days, class) in cases {
            assert_eq!(p.class_index(days), class, "{days} days");
        }
    }

    #[test]
    fn errors_name_the_field() {
        assert!(load_err("year_days = 0").contains("year_days"));
        assert!(load_err("year_days = 364").contains("year_days"));
        assert!(load_err("colour = 1").contains("colour"));
        assert!(load_err("penalty_multiplier = \"-1\"").contains("penalty_multiplier"));
        assert!(load_err("penalty_multiplier = \"abc\"").contains("abc"));
        assert!(load_err("grace_mode = \"sometimes\"").contains("sometimes"));
        assert!(load_err("bucket_edges = [30, 30]").contains("bucket_edges"));
        assert!(load_err("[columns]\nloan = \"x\"").contains("columns.loan"));
        let cap = |body: &str| load_err(&format!("[[caps]]\nname = \"c\"\n{body}"));
        assert!(cap("kind = \"annual_rate\"").contains("caps[0].rate"));
        assert!(cap("kind = \"fixed\"").contains("caps[0].amount"));
        assert!(cap("kind = \"principal_ratio\"").contains("caps[0].ratio"));
        assert!(cap("kind = \"component_ratio\"\nratio = 1").contains("caps[0].of"));
        assert!(cap("kind = \"daily_rate\"\nrate = \"-0.1\"").contains("caps[0].rate"));
        assert!(cap("kind = \"fixed\"\namount = 1\nrate = 1").contains("caps[0].rate"));
        assert!(cap("kind = \"fixed\"\namount = 1\nwhatever = 1").contains("whatever"));
        assert!(cap("kind = \"fixed\"\namount = 1\napplies_to = []").contains("caps[0].applies_to"));
        assert!(cap("kind = \"weekly\"").contains("weekly"));
        assert!(
            load_err("[[classes]]\nname = \"a\"\nmin_days = 5\nprovision_rate = 1")
                .contains("classes")
        );
        assert!(load_err("name = ").contains("test.toml"));
    }

    fn date(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn calendar_rolls_across_weekends_holidays_and_year_end() {
        let cal = Calendar {
            weekends: true,
            holidays: [
                date("2025-10-01"),
                date("2025-10-02"),
                date("2025-10-03"),
                date("2025-12-31"),
                date("2026-01-01"),
            ]
            .into_iter()
            .collect(),
            working_days: BTreeSet::new(),
        };
        assert_eq!(
            cal.next_working_day(date("2025-09-10")),
            date("2025-09-10"),
            "a Wednesday stays"
        );
        assert_eq!(
            cal.next_working_day(date("2025-09-13")),
            date("2025-09-15"),
            "Saturday to Monday"
        );
        assert_eq!(
            cal.next_working_day(date("2025-09-14")),
            date("2025-09-15"),
            "Sunday to Monday"
        );
        assert_eq!(
            cal.next_working_day(date("2025-10-01")),
            date("2025-10-06"),
            "holidays, then a weekend"
        );
        assert_eq!(
            cal.next_working_day(date("2025-12-31")),
            date("2026-01-02"),
            "across the year end"
        );
        let no_weekends = Calendar {
            weekends: false,
            ..cal
        };
        assert_eq!(
            no_weekends.next_working_day(date("2025-09-13")),
            date("2025-09-13")
        );
        assert_eq!(
            Calendar::default().next_working_day(date("2025-10-01")),
            date("2025-10-01")
        );
    }

    #[test]
    fn working_days_override_weekends() {
        let p = Policy::from_toml(
            "[calendar]\nweekends = true\nholidays = [2025-10-01]\nworking_days = [2025-09-28]\n",
            "t",
        )
        .unwrap();
        let cal = &p.calendar;
        assert!(cal.is_working_day(date("2025-09-28")), "a make-up Sunday");
        assert!(!cal.is_working_day(date("2025-09-27")), "a plain Saturday");
        assert_eq!(cal.next_working_day(date("2025-09-27")), date("2025-09-28"));
        assert!(
            load_err("[calendar]\nholidays = [2025-10-01]\nworking_days = [2025-10-01]")
                .contains("both a holiday and a working day")
        );
        assert!(load_err("[calendar]\nworking_days = [\"2025-02-30\"]")
            .contains("calendar.working_days[0]"));
    }

    #[test]
    fn the_shipped_mainland_calendar() {
        let p = Policy::load("cn-bank").unwrap();
        let cal = &p.calendar;
        assert!(cal.weekends);
        assert_eq!((cal.holidays.len(), cal.working_days.len()), (89, 19));
        assert!(cal
            .working_days
            .iter()
            .all(|d| matches!(d.weekday(), Weekday::Sat | Weekday::Sun)));
        // National Day 2025: 10-01 to 10-08 off; Sunday 09-28 and Saturday 10-11 worked.
        let roll = |d: &str| cal.next_working_day(date(d));
        assert_eq!(roll("2025-09-27"), date("2025-09-28"));
        assert_eq!(roll("2025-09-28"), date("2025-09-28"));
        assert_eq!(roll("2025-09-30"), date("2025-09-30"));
        assert_eq!(roll("2025-10-01"), date("2025-10-09"));
        assert_eq!(roll("2025-10-08"), date("2025-10-09"));
        assert_eq!(roll("2025-10-11"), date("2025-10-11"));
        assert_eq!(roll("2025-10-12"), date("2025-10-13"));
        // Spring Festival 2026 (02-15 to 02-23), Saturday 02-14 worked.
        assert_eq!(roll("2026-02-14"), date("2026-02-14"));
        assert_eq!(roll("2026-02-15"), date("2026-02-24"));
        assert_eq!(
            Policy::load("cn-private-lending").unwrap().calendar,
            p.calendar
        );
        assert!(load_err("[calendar]\nbuiltin = \"mars\"").contains("calendar.builtin"));
    }

    #[test]
    fn calendar_files_mark_working_days() {
        let dir = std::env::temp_dir().join(format!("arrears-cal-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("days.txt");
        std::fs::write(
            &file,
            "# a comment\n2025-10-01\n2025-10-02 holiday\n2025-10-11 working  # 调休\n",
        )
        .unwrap();
        let origin = dir.join("p.toml").display().to_string();
        let p = Policy::from_toml(
            "[calendar]\nweekends = true\nholidays_file = \"days.txt\"\n",
            &origin,
        )
        .unwrap();
        assert_eq!(p.calendar.holidays.len(), 2);
        assert!(p.calendar.is_working_day(date("2025-10-11")));
        std::fs::write(&file, "2025-10-11 workday\n").unwrap();
        let err = Policy::from_toml("[calendar]\nholidays_file = \"days.txt\"\n", &origin)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("days.txt:1") && err.contains("working"),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn contracts_from_is_a_date() {
        let p = Policy::load("cn-private-lending").unwrap();
        assert_eq!(p.caps[0].contracts_from, Some(date("2020-08-20")));
        assert!(load_err(
            "[[caps]]\nname = \"x\"\nkind = \"fixed\"\namount = 1\ncontracts_from = \"soon\""
        )
        .contains("caps[0].contracts_from"));
    }

    #[test]
    fn lpr_in_force_on_a_date() {
        let p = Policy::load("cn-private-lending").unwrap();
        assert_eq!(p.lpr.len(), 13);
        assert_eq!(p.lpr_at(date("2025-05-19")), Some(d("0.0310")));
        assert_eq!(
            p.lpr_at(date("2025-05-20")),
            Some(d("0.0300")),
            "the change date itself"
        );
        assert_eq!(p.lpr_at(date("2030-01-01")), Some(d("0.0300")));
        assert_eq!(p.lpr_at(date("2019-08-20")), Some(d("0.0425")));
        assert_eq!(
            p.lpr_at(date("2019-08-19")),
            Some(d("0.0425")),
            "before the table: its earliest rate"
        );
        assert_eq!(
            Policy::load("cn-bank").unwrap().lpr_at(date("2025-01-01")),
            None
        );
    }

    #[test]
    fn a_file_extends_its_base_presets_lpr_table() {
        let p = Policy::from_toml(
            // (A hypothetical fixing: the real one of 2026-01-20 was 3.00%.)
            "base = \"cn-private-lending\"\nname = \"mine\"\n[[lpr]]\nfrom = 2026-01-20\nrate = \"0.0290\"\n",
            "t",
        )
        .unwrap();
        assert_eq!(
            (p.name.as_str(), p.lpr.len(), p.year_days),
            ("mine", 14, 365)
        );
        assert_eq!(p.lpr_at(date("2026-01-19")), Some(d("0.0300")));
        assert_eq!(p.lpr_at(date("2026-01-20")), Some(d("0.0290")));
        assert_eq!(
            p.caps[0].limit,
            Limit::LprMultiple {
                multiple: d("4"),
                year_days: 365
            }
        );
        assert!(load_err("base = \"nowhere\"").contains("base"));
    }

    #[test]
    fn calendar_and_lpr_errors_name_the_field() {
        assert!(load_err("due_date_roll = \"sideways\"").contains("sideways"));
        assert!(
            load_err("[calendar]\nholidays = [\"2025-13-01\"]").contains("calendar.holidays[0]")
        );
        assert!(load_err("[calendar]\nholidays_file = \"no-such-file.txt\"")
            .contains("calendar.holidays_file"));
        assert!(load_err("[calendar]\nweekend = true").contains("weekend"));
        assert!(
            load_err("[[caps]]\nname = \"x\"\nkind = \"lpr_multiple\"\nmultiple = 4")
                .contains("[[lpr]]")
        );
        assert!(load_err("[[lpr]]\nfrom = \"soon\"\nrate = 0.03").contains("lpr[0].from"));
        let lpr = "[[lpr]]\nfrom = 2025-01-01\nrate = \"0.03\"\n";
        assert!(load_err(&format!(
            "{lpr}[[caps]]\nname = \"x\"\nkind = \"lpr_multiple\""
        ))
        .contains("caps[0].multiple"));
        assert!(load_err(&format!(
            "{lpr}[[caps]]\nname = \"x\"\nkind = \"fixed\"\namount = 1\nmultiple = 4"
        ))
        .contains("caps[0].multiple"));
    }
}
