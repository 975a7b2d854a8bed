"""arrears.spark in PySpark's local mode: results equal to the command
line's row for row (by loan_id), the summary byte-identical once written as
CSV the way the command line writes it, with 1, 3 and 8 partitions."""

import csv
import io
import os
import re
from decimal import Decimal

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import arrears
from conftest import ROOT, TESTDATA, Case, read_typed, run_cli

# A missing pyspark fails these tests (it does not skip them): .ci/run
# installs it.
from pyspark.sql import SparkSession  # noqa: E402

import arrears.spark as aspark  # noqa: E402

LOANBOOK = ROOT / "testdata/loanbook.csv"
AS_OF = "2025-06-30"


@pytest.fixture(scope="module")
def spark():
    # The executors' Python finds the module where the driver's does.
    os.environ.setdefault("PYSPARK_PYTHON", __import__("sys").executable)
    session = (
        SparkSession.builder.master("local[2]")
        .appName("arrears-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.driver.memory", "1g")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(scope="module")
def cli_out(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli")
    proc = run_cli(
        "run", LOANBOOK, "--as-of", AS_OF, "--group-by", "product,status",
        "-o", out / "r.parquet", "--summary", out / "s.csv",
        "--wide-decimals",  # Spark's DecimalType(38, s)
    )
    assert proc.returncode == 0, proc.stderr
    return out


def summary_csv(table: pa.Table) -> bytes:
    """The summary as the command line writes it as CSV: decimals with
    their places, counts, empty for null, LF line ends, minimal quoting."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(table.column_names)
    for row in table.to_pylist():
        w.writerow(
            ["" if v is None else format(v, "f") if isinstance(v, Decimal) else v for v in row.values()]
        )
    return buf.getvalue().encode()


def by_loan_id(table: pa.Table) -> pa.Table:
    table = table.cast(
        pa.schema(
            [pa.field(f.name, pa.large_string() if pa.types.is_string(f.type) else f.type)
             for f in table.schema]
        )
    )
    return table.sort_by("loan_id").combine_chunks()


def collect(df) -> pa.Table:
    if hasattr(df, "toArrow"):
        return df.toArrow()
    return pa.Table.from_pandas(df.toPandas(), preserve_index=False)


@pytest.mark.parametrize("partitions", [1, 3, 8])
def test_spark_equals_the_cli(spark, cli_out, partitions):
    df = spark.read.option("header", True).csv(str(LOANBOOK)).repartition(partitions)
    assert df.rdd.getNumPartitions() == partitions
    out = aspark.run(df, as_of=AS_OF, group_by=["product", "status"])
    results = collect(out.results)
    want = pq.read_table(cli_out / "r.parquet")
    assert results.num_rows == want.num_rows == 3000
    got = by_loan_id(results)
    assert got.schema == want.schema
    assert got.equals(by_loan_id(want))
    assert summary_csv(out.summary) == (cli_out / "s.csv").read_bytes()
    assert out.rejects.count() == 0


def test_spark_rejects_and_types(spark):
    case = Case("parquet_rejects")
    df = spark.read.parquet(str(case.input)).repartition(3)
    out = aspark.run(df, as_of=case.as_of, policy=case.policy)
    expected = read_typed(case.dir / "expected_rejects.csv", pa.schema([
        ("line", pa.int64()), ("loan_id", pa.string()), ("column", pa.string()),
        ("reason", pa.string()), ("raw", pa.string()),
    ]))
    key = lambda r: (r["loan_id"] or "", r["column"] or "", r["reason"] or "", r["raw"] or "")
    got = sorted(key(r.asDict()) for r in out.rejects.collect())
    assert got == sorted(key(r) for r in expected.to_pylist())
    assert {r["partition"] for r in out.rejects.collect()} <= {0, 1, 2}
    results = by_loan_id(collect(out.results))
    want = by_loan_id(read_typed(case.dir / "expected_results.csv", results.schema))
    assert results.equals(want)
    summary = read_typed(case.dir / "expected_summary.csv", out.summary.schema)
    assert out.summary.equals(summary)


@pytest.mark.parametrize("name", ["repay_allocation", "repay_segments", "repay_unmatched", "unique_ids"])
def test_spark_repayments_and_unique_ids_equal_the_cli(spark, name):
    """Payments broadcast to the executors; with them (or unique_ids) the
    book is partitioned by loan_id, so duplicates are found as the
    command line finds them."""
    case = Case(name)
    df = spark.read.option("header", True).csv(str(case.input)).repartition(4)
    repayments = None
    if case.payments is not None:
        repayments = spark.read.option("header", True).csv(str(case.payments))
    out = aspark.run(
        df, as_of=case.as_of, policy=case.policy, group_by=case.group_by,
        repayments=repayments, unique_ids=case.unique_ids,
        book_name="input.csv", repayments_name="payments.csv",
    )
    results = by_loan_id(collect(out.results))
    want = read_typed(case.dir / "expected_results.csv", results.schema)
    assert results.equals(by_loan_id(want))
    assert summary_csv(out.summary) == (case.dir / "expected_summary.csv").read_bytes()
    expected = read_typed(case.dir / "expected_rejects.csv", pa.schema([
        ("line", pa.int64()), ("loan_id", pa.string()), ("column", pa.string()),
        ("reason", pa.string()), ("raw", pa.string()),
    ]))
    # Which repeated row is "first" is Spark's order, and rows are
    # numbered within partitions; the rows rejected and why are the
    # command line's.
    def key(r):
        reason = re.sub(r"(input|payments)\.csv:\d+", r"\1.csv:N", r["reason"] or "")
        return (r["loan_id"] or "", r["column"] or "", reason)

    assert sorted(key(r.asDict()) for r in out.rejects.collect()) == sorted(
        key(r) for r in expected.to_pylist()
    )
    if case.payments is None:
        assert out.unmatched is None
        return
    want = case.dir / "expected_unmatched.csv"
    if want.exists():
        expected = read_typed(want, out.unmatched.schema)
        # Payment rows are numbered from 1 (the CSV's line 2).
        rows = [dict(r, line=r["line"] - 1) for r in expected.to_pylist()]
        assert out.unmatched.to_pylist() == rows
        assert rows or name != "repay_unmatched"
    else:
        assert out.unmatched.num_rows == 0


def test_spark_refuses_a_missing_column_on_the_driver(spark):
    df = spark.createDataFrame([("A", "100")], ["loan_id", "principal"])
    with pytest.raises(ValueError, match="missing required column"):
        aspark.run(df, as_of=AS_OF)


def test_spark_empty_book_gives_the_cli_empty_summary(spark):
    case = Case("header_only")
    df = spark.read.option("header", True).csv(str(case.input))
    df = spark.createDataFrame([], df.schema).repartition(2)
    out = aspark.run(df, as_of=case.as_of)
    assert out.results.count() == 0 and out.rejects.count() == 0
    assert summary_csv(out.summary) == (case.dir / "expected_summary.csv").read_bytes()
