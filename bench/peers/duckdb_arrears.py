#!/usr/bin/env python3
"""The arrears computation (SPEC.md, the default cn-bank policy) as one
DuckDB SQL query: what a team would write instead of arrears. Exact: money
is carried as integer cents and rates as integer digits with their scale
(DuckDB's DECIMAL division returns DOUBLE), rounding half-up by integer
division. Writes per-loan amounts and a summary by currency, product and
bucket.

usage: duckdb_arrears.py BOOK.csv AS_OF RESULTS.csv SUMMARY.csv
"""
import sys

import duckdb

SQL = r"""
CREATE MACRO cents(t) AS CAST(replace(coalesce(nullif(trim(t), ''), '0'), ',', '') AS DECIMAL(38, 2)) * 100;
-- a rate as (integer digits, power of ten to divide by)
CREATE MACRO rate_body(t) AS regexp_replace(trim(t), '\s*(%|‰|‱)$', '');
CREATE MACRO rate_shift(t) AS CASE WHEN trim(t) LIKE '%\%%' ESCAPE '\' THEN 2 WHEN trim(t) LIKE '%‰' THEN 3
    WHEN trim(t) LIKE '%‱' THEN 4 ELSE 0 END;
CREATE MACRO rate_int(t) AS CAST(replace(rate_body(t), '.', '') AS HUGEINT);
CREATE MACRO rate_scale(t) AS coalesce(length(split_part(rate_body(t), '.', 2)), 0) + rate_shift(t);
CREATE MACRO day(t) AS coalesce(try_strptime(split_part(trim(t), ' ', 1), '%Y-%m-%d'),
    try_strptime(split_part(trim(t), ' ', 1), '%Y/%m/%d'), try_strptime(split_part(trim(t), ' ', 1), '%Y%m%d'))::DATE;
-- round(num / den) half-up, for num >= 0
CREATE MACRO div_half_up(num, den) AS (2 * num + den) // (2 * den);

CREATE TABLE loans AS
SELECT loan_id, product, coalesce(nullif(upper(trim(currency)), ''), 'CNY') AS currency,
    CAST(cents(principal) AS HUGEINT) AS p,
    CAST(cents(unpaid_interest) AS HUGEINT) AS ui,
    CAST(cents(fees) AS HUGEINT) AS fee,
    CAST(cents(coalesce(nullif(trim(outstanding), ''), principal)) AS HUGEINT) AS o,
    day(due_date) AS due, day(nullif(trim(paid_date), '')) AS paid,
    -- the contract rate: daily as given, or annual over 360 days
    CASE WHEN nullif(trim(daily_rate), '') IS NOT NULL THEN rate_int(daily_rate) ELSE rate_int(annual_rate) END AS r,
    CASE WHEN nullif(trim(daily_rate), '') IS NOT NULL THEN rate_scale(daily_rate) ELSE rate_scale(annual_rate) END AS k,
    CASE WHEN nullif(trim(daily_rate), '') IS NOT NULL THEN 1 ELSE 360 END AS per,
    nullif(trim(penalty_rate), '') AS pr
FROM read_csv(?, all_varchar = true, header = true);

CREATE TABLE figures AS
WITH d AS (
    SELECT *, paid IS NOT NULL AND paid <= DATE '{as_of}' AS settled,
        greatest(0, date_diff('day', due, CASE WHEN paid IS NOT NULL AND paid <= DATE '{as_of}' THEN paid ELSE DATE '{as_of}' END)) AS days
    FROM loans
), c AS (
    SELECT *,
        -- penalty daily rate: the row's penalty_rate, or 1.5 x the contract rate
        CASE WHEN pr IS NOT NULL THEN rate_int(pr) * 10 ELSE r * 15 END AS pnum,
        CASE WHEN pr IS NOT NULL THEN CAST(10.0 ** (rate_scale(pr) + 1) AS HUGEINT) ELSE CAST(10.0 ** (k + 1) AS HUGEINT) * per END AS pden
    FROM d
), a AS (
    SELECT *,
        CASE WHEN days > 0 THEN div_half_up(p * pnum * days, pden) ELSE 0 END AS penalty,
        CASE WHEN days > 0 THEN div_half_up(ui * pnum * days, pden) ELSE 0 END AS compound,
        CASE WHEN days > 0 THEN fee ELSE 0 END AS fees,
        (p * 24 * days) // 36500 AS l24,  -- limits round down to the cent (SPEC.md)
        (p * 36 * days) // 36500 AS l36
    FROM c
)
SELECT loan_id, product, currency, p, o, days, settled, penalty, compound, fees,
    penalty + compound + fees AS total_raw,
    least(penalty + compound + fees, l24, l36) AS total_capped,
    CASE WHEN days = 0 THEN 'current' WHEN settled THEN 'settled_late' WHEN days > 180 THEN 'written_off' ELSE 'overdue' END AS status,
    CASE WHEN days = 0 THEN 'current' WHEN days <= 30 THEN '1-30' WHEN days <= 60 THEN '31-60' WHEN days <= 90 THEN '61-90'
        WHEN days <= 180 THEN '91-180' ELSE '181+' END AS bucket,
    CASE WHEN settled THEN 0 WHEN days > 180 THEN o
        ELSE div_half_up(o * CASE WHEN days >= 361 THEN 100 WHEN days >= 271 THEN 50 WHEN days >= 91 THEN 25
            WHEN days >= 1 THEN 2 ELSE 1 END, 100) END AS provision
FROM a;
"""

def money(column):
    return f"printf('%d.%02d', ({column}) // 100, ({column}) % 100)"

def main():
    book, as_of, results, summary = sys.argv[1:5]
    con = duckdb.connect()
    con.execute("SET threads TO 2")
    for statement in SQL.replace("{as_of}", as_of).split(";"):
        if statement.strip():
            con.execute(statement, [book] if "read_csv(?" in statement else [])
    amounts = ", ".join(f"{money(c)} AS {c}" for c in ["penalty", "compound", "fees", "total_raw", "total_capped", "provision"])
    con.execute(f"COPY (SELECT loan_id, {amounts}, {money('total_raw - total_capped')} AS excess, status, bucket FROM figures) "
                f"TO '{results}' (HEADER, DELIMITER ',')")
    sums = ", ".join(f"{money(f'sum({c})')} AS {c}" for c in ["p", "o", "penalty", "compound", "fees", "total_raw", "total_capped", "provision"])
    con.execute(f"COPY (SELECT currency, product, bucket, count(*) AS loans, {sums} FROM figures GROUP BY ALL ORDER BY ALL) "
                f"TO '{summary}' (HEADER, DELIMITER ',')")

if __name__ == "__main__":
    main()
