"""Writes the Parquet test books of testdata/ (run from the repo root):

  testdata/parquet/loanbook_typed.parquet  testdata/loanbook.csv with typed
      columns: decimals, floats, dates, midnight timestamps, integers, nulls.
      arrears must give byte-identical results for it and the CSV.
  testdata/parquet_rejects/input.parquet   rows whose typed values are bad.
  testdata/parquet_wrong_type/input.parquet  a boolean principal column.

Needs polars (tests/python/requirements.txt). The files are committed; run
this only to change them.
"""
import datetime as dt
from decimal import Decimal

import polars as pl


def to_date(text):
    if text is None:
        return None
    text = text.replace("/", "-")
    if len(text) == 8 and text.isdigit():
        return dt.date(int(text[:4]), int(text[4:6]), int(text[6:]))
    return dt.date.fromisoformat(text)


def rate(text):
    """A rate's text as its exact fraction: 6.00% -> 0.06."""
    if text is None:
        return None
    for suffix, divisor in (("%", 100), ("‰", 1000), ("‱", 10000)):
        if text.endswith(suffix):
            return Decimal(text[: -len(suffix)]) / divisor
    return Decimal(text)


def money(text):
    return None if text is None else Decimal(text.replace(",", ""))


def typed_loanbook():
    book = pl.read_csv("testdata/loanbook.csv", infer_schema=False)
    col = lambda name: book[name].to_list()
    frame = pl.DataFrame(
        {
            # integer-looking ids stay text; account ids too
            "loan_id": col("loan_id"),
            "account_id": col("account_id"),
            "product": col("product"),
            "region": col("region"),
            "currency": col("currency"),
            "principal": pl.Series([money(v) for v in col("principal")], dtype=pl.Decimal(18, 2)),
            "due_date": pl.Series([to_date(v) for v in col("due_date")], dtype=pl.Date),
            "annual_rate": pl.Series([None if v is None else float(rate(v)) for v in col("annual_rate")], dtype=pl.Float64),
            "daily_rate": pl.Series([rate(v) for v in col("daily_rate")], dtype=pl.Decimal(20, 8)),
            # rates with % and per-mille signs stay text
            "penalty_rate": col("penalty_rate"),
            "paid_date": pl.Series(
                [None if v is None else dt.datetime.combine(to_date(v), dt.time()) for v in col("paid_date")],
                dtype=pl.Datetime("us"),
            ),
            "unpaid_interest": pl.Series([None if v is None else float(money(v)) for v in col("unpaid_interest")], dtype=pl.Float64),
            "fees": pl.Series([money(v) for v in col("fees")], dtype=pl.Decimal(24, 4)),
            "outstanding": pl.Series([money(v) for v in col("outstanding")], dtype=pl.Decimal(38, 2)),
        }
    )
    frame.write_parquet("testdata/parquet/loanbook_typed.parquet", row_group_size=1000)


def rejects_book():
    rows = [
        # loan_id, principal (f64), due_date (datetime), daily_rate (decimal 10,4), fees (i64)
        ("ok", 1000.0, dt.datetime(2025, 1, 1), Decimal("0.0010"), 5),
        ("float-noise", 0.1 + 0.2, dt.datetime(2025, 1, 1), Decimal("0.0010"), 0),
        ("time-of-day", 1000.0, dt.datetime(2025, 1, 1, 12, 30), Decimal("0.0010"), 0),
        ("no-principal", None, dt.datetime(2025, 1, 1), Decimal("0.0010"), 0),
        ("negative-fees", 1000.0, dt.datetime(2025, 1, 1), Decimal("0.0010"), -5),
        ("nan", float("nan"), dt.datetime(2025, 1, 1), Decimal("0.0010"), 0),
        (None, 1000.0, dt.datetime(2025, 1, 1), Decimal("0.0010"), 0),
        ("ok2", 2500.5, dt.datetime(2025, 1, 10), Decimal("0.0005"), 0),
    ]
    frame = pl.DataFrame(
        rows,
        schema={
            "loan_id": pl.String,
            "principal": pl.Float64,
            "due_date": pl.Datetime("ms"),
            "daily_rate": pl.Decimal(10, 4),
            "fees": pl.Int64,
        },
        orient="row",
    )
    frame.write_parquet("testdata/parquet_rejects/input.parquet")


def wrong_type_book():
    frame = pl.DataFrame(
        {
            "loan_id": ["a", "b"],
            "principal": [True, False],
            "due_date": [dt.date(2025, 1, 1)] * 2,
            "daily_rate": ["0.001", "0.001"],
        }
    )
    frame.write_parquet("testdata/parquet_wrong_type/input.parquet")


if __name__ == "__main__":
    typed_loanbook()
    rejects_book()
    wrong_type_book()
