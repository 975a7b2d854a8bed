"""Checks arrears' Parquet outputs the way analysts will open them.

    python3 check_parquet.py RESULTS.parquet RESULTS.csv SUMMARY.parquet SUMMARY.csv

- polars reads the results with the documented types (README, "For analysts");
- DuckDB reads every amount equal to the CSV output of the same run;
- the summary's sums equal DuckDB's own GROUP BY over the results Parquet;
- pandas (pyarrow) reads the same values.
Exits 1 with a message on the first difference.
"""
import sys
from decimal import Decimal

import duckdb
import pandas as pd
import polars as pl

results_pq, results_csv, summary_pq, summary_csv = sys.argv[1:5]

MONEY = pl.Decimal(18, 2)
EXPECTED = {
    "loan_id": pl.String,
    "product": pl.String,
    "account_id": pl.String,
    "region": pl.String,
    "currency": pl.String,
    "principal": MONEY,
    "outstanding": MONEY,
    "due_date": pl.Date,
    "end_date": pl.Date,
    "days_overdue": pl.Int64,
    "chargeable_days": pl.Int64,
    "daily_rate": pl.Decimal(18, 10),
    "penalty_daily_rate": pl.Decimal(18, 10),
    "interest": MONEY,
    "penalty": MONEY,
    "compound": MONEY,
    "fees": MONEY,
    "total_raw": MONEY,
    "total_capped": MONEY,
    "excess": MONEY,
    "breaches": pl.String,
    "binding_cap": pl.String,
    "annualized_rate": pl.Decimal(18, 6),
    "status": pl.String,
    "bucket": pl.String,
    "classification": pl.String,
    "provision": MONEY,
    # With --repayments (SPEC.md section 5).
    "repaid": MONEY,
    "repaid_principal": MONEY,
    "repaid_unpaid_interest": MONEY,
    "repaid_charges": MONEY,
    "principal_due": MONEY,
    "balance_due": MONEY,
    "collected_over_cap": MONEY,
    "overpaid": MONEY,
}


def fail(message):
    print(f"check_parquet: {message}", file=sys.stderr)
    sys.exit(1)


# polars: the documented types, and the same values as the CSV.
frame = pl.read_parquet(results_pq)
for name, dtype in frame.schema.items():
    if name not in EXPECTED:
        fail(f"unexpected column {name}")
    if dtype != EXPECTED[name]:
        fail(f"column {name}: polars reads {dtype}, documented {EXPECTED[name]}")
text = pl.read_csv(results_csv, infer_schema=False)
if text.columns != frame.columns:
    fail(f"columns differ: {text.columns} vs {frame.columns}")
if text.height != frame.height:
    fail(f"rows differ: {text.height} vs {frame.height}")
for name, dtype in frame.schema.items():
    typed = frame[name].to_list()
    plain = text[name].to_list()
    for row, (a, b) in enumerate(zip(typed, plain)):
        if b is None:
            if a is not None:
                fail(f"{name} row {row}: empty in CSV, {a!r} in Parquet")
        elif isinstance(a, Decimal):
            if a != Decimal(b):
                fail(f"{name} row {row}: {a} in Parquet, {b} in CSV")
        elif str(a) != b:
            fail(f"{name} row {row}: {a!r} in Parquet, {b!r} in CSV")

# DuckDB: every amount equal to the CSV's, compared as exact decimals.
amounts = [n for n, t in EXPECTED.items() if t == MONEY and n in frame.columns]
con = duckdb.connect()
con.execute(f"create view pq as select *, row_number() over () as n from read_parquet('{results_pq}')")
con.execute(f"create view tx as select *, row_number() over () as n from read_csv('{results_csv}', all_varchar=true, header=true)")
for name in amounts:
    kind = con.execute(f"select typeof({name}) from pq limit 1").fetchone()[0]
    if kind != "DECIMAL(18,2)":
        fail(f"DuckDB reads {name} as {kind}")
    bad = con.execute(
        f"select count(*) from pq join tx using (n) where pq.{name} is distinct from tx.{name}::decimal(18,2)"
    ).fetchone()[0]
    if bad:
        fail(f"DuckDB: {bad} rows where {name} differs from the CSV")
for name, kind in [("due_date", "DATE"), ("days_overdue", "BIGINT"), ("status", "VARCHAR")]:
    got = con.execute(f"select typeof({name}) from pq limit 1").fetchone()[0]
    if got != kind:
        fail(f"DuckDB reads {name} as {got}, not {kind}")

# The summary's sums equal DuckDB's GROUP BY over the results.
summary = pl.read_parquet(summary_pq)
summary_text = pl.read_csv(summary_csv, infer_schema=False)
if summary.height != summary_text.height or summary.columns != summary_text.columns:
    fail("summary Parquet and CSV differ in shape")
sums = ", ".join(f"sum({n}) as {n}" for n in amounts)
grouped = con.execute(
    f"select currency, product, bucket, count(*) as loans, {sums} "
    f"from read_parquet('{results_pq}') group by all"
).fetchall()
columns = ["currency", "product", "bucket", "loans"] + amounts
by_key = {row[:3]: dict(zip(columns, row)) for row in grouped}
checked = 0
for row in summary.iter_rows(named=True):
    if row["product"] == "*":
        continue
    key = (row["currency"], row["product"], row["bucket"])
    if key not in by_key:
        fail(f"summary group {key} not found by DuckDB")
    theirs = by_key.pop(key)
    for name in ["loans"] + amounts:
        if row[name] != theirs[name]:
            fail(f"summary {key} {name}: {row[name]} vs DuckDB {theirs[name]}")
    checked += 1
if by_key:
    fail(f"DuckDB groups missing from the summary: {list(by_key)[:3]}")
totals = con.execute(
    f"select currency, count(*), {sums} from read_parquet('{results_pq}') group by currency"
).fetchall()
for currency, loans, *values in totals:
    row = summary.filter((pl.col("currency") == currency) & (pl.col("product") == "*")).row(0, named=True)
    if row["loans"] != loans or [row[n] for n in amounts] != values:
        fail(f"summary total for {currency} differs from DuckDB's")

# pandas (pyarrow): exact decimals and dates as Python objects.
pdf = pd.read_parquet(results_pq)
if len(pdf) != text.height:
    fail("pandas reads another row count")
first = text.row(0, named=True)
if pdf["principal"].iloc[0] != Decimal(first["principal"]) or str(pdf["due_date"].iloc[0]) != first["due_date"]:
    fail("pandas reads other values")
if str(pdf["days_overdue"].dtype) != "int64":
    fail(f"pandas reads days_overdue as {pdf['days_overdue'].dtype}")

# pandas with Arrow-backed columns (the fast way: no Python object per
# value): the file's Arrow schema must say plain strings, not string_view,
# which pandas cannot take (issue 17).
fast = pd.read_parquet(results_pq, dtype_backend="pyarrow")
if len(fast) != text.height:
    fail("pandas (pyarrow backend) reads another row count")
if "decimal128(18, 2)" not in str(fast["principal"].dtype):
    fail(f"pandas (pyarrow backend) reads principal as {fast['principal'].dtype}")
if "string" not in str(fast["loan_id"].dtype) or "view" in str(fast["loan_id"].dtype):
    fail(f"pandas (pyarrow backend) reads loan_id as {fast['loan_id'].dtype}")
if fast["excess"].sum() != sum(Decimal(v) for v in text["excess"]):
    fail("pandas (pyarrow backend) sums excess to another figure")
import pyarrow.parquet as pq
if "string_view" in str(pq.read_schema(results_pq)):
    fail("the results' Arrow schema names string_view")

print(f"check_parquet: {frame.height} rows, {len(amounts)} amounts, {checked} summary groups agree")
