#!/usr/bin/env python3
"""The arrears computation (SPEC.md, the default cn-bank policy) as a Polars
lazy query: what a team would write instead of arrears. Exact: money is
carried as integer cents and rates as integer digits with their scale
(Polars decimals do not divide exactly), rounding half-up by integer
division. Writes per-loan amounts and a summary by currency, product and
bucket.

usage: polars_arrears.py BOOK.csv AS_OF RESULTS.csv SUMMARY.csv
"""
import datetime as dt
import sys

import polars as pl

INT = pl.Int128


def cents(col):
    text = pl.col(col).str.strip_chars().str.replace_all(",", "")
    text = pl.when(text.is_null() | (text == "")).then(pl.lit("0")).otherwise(text)
    whole = text.str.split(".").list.get(0)
    frac = text.str.split(".").list.get(1, null_on_oob=True).fill_null("").str.pad_end(2, "0")
    return (whole + frac).cast(INT)


def rate_parts(col):
    text = pl.col(col).str.strip_chars()
    shift = (pl.when(text.str.ends_with("%")).then(2).when(text.str.ends_with("‰")).then(3)
             .when(text.str.ends_with("‱")).then(4).otherwise(0))
    body = text.str.replace(r"\s*(%|‰|‱)$", "")
    frac = body.str.split(".").list.get(1, null_on_oob=True).fill_null("")
    digits = body.str.replace(".", "", literal=True).cast(INT)
    return digits, frac.str.len_chars().cast(pl.Int32) + shift


def day(col):
    text = pl.col(col).str.strip_chars().str.split(" ").list.get(0)
    return pl.coalesce(
        text.str.strptime(pl.Date, "%Y-%m-%d", strict=False),
        text.str.strptime(pl.Date, "%Y/%m/%d", strict=False),
        text.str.strptime(pl.Date, "%Y%m%d", strict=False),
    )


def half_up(num, den):
    return (2 * num + den) // (2 * den)


def money(expr):
    return pl.format("{}.{}", expr // 100, (expr % 100).cast(pl.String).str.pad_start(2, "0"))


def main():
    book, as_of, results, summary = sys.argv[1:5]
    as_of = dt.date.fromisoformat(as_of)
    lf = pl.scan_csv(book, infer_schema=False)
    daily_given = pl.col("daily_rate").str.strip_chars().fill_null("") != ""
    d_int, d_scale = rate_parts("daily_rate")
    a_int, a_scale = rate_parts("annual_rate")
    p_int, p_scale = rate_parts("penalty_rate")
    pow10 = lambda e: pl.lit(10, INT).pow(e.cast(pl.UInt32))
    lf = lf.with_columns(
        currency=pl.col("currency").str.strip_chars().str.to_uppercase().fill_null("").replace("", "CNY"),
        p=cents("principal"),
        ui=cents("unpaid_interest"),
        fee=cents("fees"),
        o=pl.when(pl.col("outstanding").str.strip_chars().fill_null("") == "").then(cents("principal")).otherwise(cents("outstanding")),
        due=day("due_date"),
        paid=day("paid_date"),
        r=pl.when(daily_given).then(d_int).otherwise(a_int),
        k=pl.when(daily_given).then(d_scale).otherwise(a_scale),
        per=pl.when(daily_given).then(pl.lit(1, INT)).otherwise(pl.lit(360, INT)),
        has_pr=pl.col("penalty_rate").str.strip_chars().fill_null("") != "",
        pr=p_int,
        pk=p_scale,
    ).with_columns(
        settled=pl.col("paid").is_not_null() & (pl.col("paid") <= as_of),
    ).with_columns(
        days=pl.max_horizontal(
            pl.lit(0),
            (pl.when(pl.col("settled")).then(pl.col("paid")).otherwise(pl.lit(as_of)) - pl.col("due")).dt.total_days(),
        ).cast(INT),
        pnum=pl.when(pl.col("has_pr")).then(pl.col("pr") * 10).otherwise(pl.col("r") * 15),
        pden=pl.when(pl.col("has_pr")).then(pow10(pl.col("pk") + 1)).otherwise(pow10(pl.col("k") + 1) * pl.col("per")),
    ).with_columns(
        penalty=pl.when(pl.col("days") > 0).then(half_up(pl.col("p") * pl.col("pnum") * pl.col("days"), pl.col("pden"))).otherwise(0),
        compound=pl.when(pl.col("days") > 0).then(half_up(pl.col("ui") * pl.col("pnum") * pl.col("days"), pl.col("pden"))).otherwise(0),
        fees=pl.when(pl.col("days") > 0).then(pl.col("fee")).otherwise(0),
        # Limits round down to the cent (SPEC.md: a cap is a legal maximum).
        l24=(pl.col("p") * 24 * pl.col("days")) // pl.lit(36500, INT),
        l36=(pl.col("p") * 36 * pl.col("days")) // pl.lit(36500, INT),
    ).with_columns(
        total_raw=pl.col("penalty") + pl.col("compound") + pl.col("fees"),
    ).with_columns(
        total_capped=pl.min_horizontal("total_raw", "l24", "l36"),
        status=pl.when(pl.col("days") == 0).then(pl.lit("current")).when(pl.col("settled")).then(pl.lit("settled_late"))
        .when(pl.col("days") > 180).then(pl.lit("written_off")).otherwise(pl.lit("overdue")),
        bucket=pl.when(pl.col("days") == 0).then(pl.lit("current")).when(pl.col("days") <= 30).then(pl.lit("1-30"))
        .when(pl.col("days") <= 60).then(pl.lit("31-60")).when(pl.col("days") <= 90).then(pl.lit("61-90"))
        .when(pl.col("days") <= 180).then(pl.lit("91-180")).otherwise(pl.lit("181+")),
        class_rate=pl.when(pl.col("days") >= 361).then(100).when(pl.col("days") >= 271).then(50)
        .when(pl.col("days") >= 91).then(25).when(pl.col("days") >= 1).then(2).otherwise(1).cast(INT),
    ).with_columns(
        provision=pl.when(pl.col("settled")).then(pl.lit(0, INT)).when(pl.col("days") > 180).then(pl.col("o"))
        .otherwise(half_up(pl.col("o") * pl.col("class_rate"), pl.lit(100, INT))),
    )
    figures = lf.collect()
    amounts = ["penalty", "compound", "fees", "total_raw", "total_capped", "provision"]
    figures.select(
        "loan_id",
        *[money(pl.col(c)).alias(c) for c in amounts],
        money(pl.col("total_raw") - pl.col("total_capped")).alias("excess"),
        "status",
        "bucket",
    ).write_csv(results)
    sums = ["p", "o"] + amounts
    (figures.group_by("currency", "product", "bucket")
     .agg(pl.len().alias("loans"), *[pl.col(c).sum() for c in sums])
     .sort("currency", "product", "bucket")
     .with_columns(*[money(pl.col(c)).alias(c) for c in sums])
     .write_csv(summary))


if __name__ == "__main__":
    main()
