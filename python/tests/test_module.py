"""The Python module gives the command line's numbers: on every testdata/
case the command line accepts, on the sample book read by pyarrow, Polars
and pandas, and through summary states merged over any split."""

import json
import random
import re
from decimal import Decimal

import pyarrow as pa
import pyarrow.csv as pv
import pyarrow.parquet as pq
import pytest
from pathlib import Path

import arrears
from conftest import (
    ROOT,
    TESTDATA,
    Case,
    cases,
    read_inferred,
    read_strings,
    read_typed,
    run_cli,
)

ACCEPTED = [c for c in cases() if Case(c).exit != 1]
REFUSED = [c for c in cases() if Case(c).exit == 1]
LOANBOOK = ROOT / "testdata/loanbook.csv"
AS_OF = "2025-06-30"


def ragged(reason: str) -> bool:
    """A reject an Arrow table cannot hold: a CSV row with another number
    of fields than its header."""
    return "fields as in the header" in reason


def read_case(case: Case, how: str):
    """The case's book, read `how`; rows pyarrow cannot read as a table
    (ragged rows) are left out."""
    if case.parquet:
        return pq.read_table(case.input)
    options = pv.ParseOptions(invalid_row_handler=lambda row: "skip")
    names = None
    if how == "strings":
        from conftest import header

        names = header(case.input, "gbk" if case.encoding == "gbk" else "utf-8")
    return pv.read_csv(
        case.input,
        read_options=pv.ReadOptions(encoding=case.encoding),
        parse_options=options,
        convert_options=pv.ConvertOptions(
            column_types={n: pa.string() for n in names} if names else None,
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
            # Bytes that are not UTF-8 reach the module as they are, and
            # are rejects there as in a CSV book.
            check_utf8=False,
        ),
    )


def crlf_as_lf(table: pa.Table) -> pa.Table:
    """A CRLF book's quoted line breaks as the command line's CSV reader
    gives them (src/crlf.rs: one line-break convention per file): a
    property of reading CSV, not of the module."""
    for i, field in enumerate(table.schema):
        if pa.types.is_string(field.type):
            table = table.set_column(
                i, field, pa.compute.replace_substring(table[i], "\r\n", "\n")
            )
    return table


def run_case(case: Case, how: str = "strings") -> arrears.Result:
    repayments = None
    if case.payments is not None:
        repayments = read_strings(case.payments)
    book = read_case(case, how)
    if not case.parquet and b"\r\n" in case.input.read_bytes():
        book = crlf_as_lf(book)
    return arrears.run(
        book,
        as_of=case.as_of,
        policy=case.policy,
        repayments=repayments,
        group_by=case.group_by,
        unique_ids=case.unique_ids,
        book_name=case.input.name,
        repayments_name="payments.csv",
    )


def rows(table: pa.Table):
    """Rows as tuples, empty text and null alike (a CSV cannot tell them apart)."""
    return [
        tuple("" if v is None else v for v in row.values())
        for row in table.to_pylist()
    ]


@pytest.mark.parametrize("name", ACCEPTED)
def test_case_results_and_summary_equal_the_cli(name):
    case = Case(name)
    out = run_case(case)
    expected = read_typed(case.dir / "expected_results.csv", out.results.schema)
    assert out.results.schema == expected.schema
    assert out.results.combine_chunks().equals(expected.combine_chunks()), name
    summary = read_typed(case.dir / "expected_summary.csv", out.summary.schema)
    assert out.summary.equals(summary), name


@pytest.mark.parametrize("name", ACCEPTED)
def test_case_rejects_equal_the_cli(name):
    case = Case(name)
    out = run_case(case)
    expected = read_typed(case.dir / "expected_rejects.csv", out.rejects.schema)
    want = [r for r in rows(expected) if not ragged(r[3])]
    got = rows(out.rejects)
    if not case.parquet:
        # The module numbers rows (1 = the first row, as the command line
        # numbers a Parquet book's); in these CSV books, row n is on line
        # n + 1, in the line column as in the places reasons name.
        # Ragged rows were left out of the table, so the rows after one
        # come one earlier.
        skipped = [r[0] for r in rows(expected) if ragged(r[3])]
        want = [
            (line - 1 - sum(s < line for s in skipped), i, c, _row_of(reason), raw)
            for line, i, c, reason, raw in want
        ]
    assert got == want


def _row_of(reason: str) -> str:
    """'first seen at input.csv:3', 'could not be read: payments.csv:5'
    (CSV lines) as the rows the module names (2, 4)."""
    return re.sub(
        r"((?:input|payments)\.csv):(\d+)", lambda m: f"{m[1]}:{int(m[2]) - 1}", reason
    )


@pytest.mark.parametrize("name", [c for c in ACCEPTED if (TESTDATA / c / "expected_unmatched.csv").exists()])
def test_case_unmatched_payments_equal_the_cli(name):
    case = Case(name)
    out = run_case(case)
    expected = read_typed(case.dir / "expected_unmatched.csv", out.unmatched.schema)
    want = [(f, line - 1, *rest) for f, line, *rest in rows(expected)]
    assert rows(out.unmatched) == want


def _clean(name):
    return len((TESTDATA / name / "expected_rejects.csv").read_text().splitlines()) == 1


@pytest.mark.parametrize("name", [c for c in ACCEPTED if not Case(c).parquet and _clean(c)])
def test_case_with_inferred_types_gives_the_same_figures(name):
    """pyarrow's own types (floats, integers, dates) give the figures of
    the text they came from. (Only books without rejects: a value such as
    1e3 or 1000.123 is a reject as text, and no longer the same value once
    inferred as a float.)"""
    case = Case(name)
    text = run_case(case, "strings")
    try:
        inferred = run_case(case, "inferred")
    except ValueError as e:
        # A column inferred as a type the book refuses (say a timestamp
        # with a zone) is refused by name, before any row.
        assert "column" in str(e)
        return
    assert inferred.results.combine_chunks().equals(text.results.combine_chunks()), name
    assert inferred.summary.equals(text.summary), name


def test_refused_cases_raise_clear_errors():
    for name in REFUSED:
        case = Case(name)
        with pytest.raises(ValueError) as e:
            run_case(case)
        message = str(e.value)
        if name == "bad_policy":
            assert "field" in message and "policy" in message
        elif name == "missing_column":
            assert "missing required column(s)" in message and "columns found" in message
        elif name == "parquet_wrong_type":
            assert "has type" in message and "expected" in message and "column" in message


def test_missing_column_names_missing_and_found():
    book = pa.table({"loan_id": ["A"], "principal": ["100"]})
    with pytest.raises(ValueError, match=r"missing required column\(s\): due_date.*columns found: \"loan_id\", \"principal\""):
        arrears.run(book, as_of=AS_OF)


def test_wrong_type_names_column_type_and_accepted_types():
    book = pa.table(
        {
            "loan_id": ["A"],
            "principal": pa.array([[1]], pa.list_(pa.int64())),
            "due_date": ["2025-01-01"],
            "annual_rate": ["0.1"],
        }
    )
    with pytest.raises(ValueError, match=r'column "principal" \(principal\) has type List.*expected text, decimals, integers or floats'):
        arrears.run(book, as_of=AS_OF)
    good = book.set_column(1, "principal", pa.array(["100"]))
    paid = pa.table({"loan_id": ["A"], "date": pa.array([[1]], pa.list_(pa.int64())), "amount": ["1"]})
    with pytest.raises(ValueError, match=r'repayments: column "date" \(date\) has type List.*expected dates'):
        arrears.run(good, as_of=AS_OF, repayments=paid)
    with pytest.raises(ValueError, match=r"missing required column\(s\): amount"):
        arrears.run(good, as_of=AS_OF, repayments=paid.drop_columns(["amount"]))
    zoned = book.set_column(2, "due_date", pa.array([0], pa.timestamp("s", tz="UTC")))
    with pytest.raises(ValueError, match=r"has type Timestamp.*UTC.*expected dates, naive timestamps or text"):
        arrears.run(zoned.set_column(1, "principal", pa.array(["100"])), as_of=AS_OF)


def test_bad_policy_raises_naming_the_field():
    with pytest.raises(ValueError, match="year_days"):
        arrears.policy("year_days = 7\n")
    with pytest.raises(ValueError, match="no-such-preset"):
        arrears.policy("no-such-preset")
    with pytest.raises(ValueError, match="as_of"):
        arrears.run(pa.table({"loan_id": ["A"]}), as_of="yesterday")
    with pytest.raises(ValueError, match="group-by"):
        arrears.run(read_strings(LOANBOOK), as_of=AS_OF, group_by=["colour"])


def test_policy_objects():
    p = arrears.policy("cn-bank")
    assert p.name and "cn-bank" in p.describe()
    assert "year_days" in p.toml
    text = arrears.policy("base = \"us-mla\"\ngrace_days = 3\n")
    assert text.base == "us-mla" and "grace_days = 3" in text.toml
    path = arrears.policy(str(TESTDATA / "seed_example/policy.toml"))
    assert "policy.toml" in path.describe()
    assert set(arrears.presets()) >= {"cn-bank", "us-mla", "uk-hcstc"}
    # A policy object and its name give the same run.
    book = read_strings(LOANBOOK)
    assert arrears.run(book, as_of=AS_OF, policy=arrears.policy("us-mla")).summary.equals(
        arrears.run(book, as_of=AS_OF, policy="us-mla").summary
    )


@pytest.fixture(scope="module")
def cli_loanbook(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli")
    proc = run_cli(
        "run", LOANBOOK, "--as-of", AS_OF,
        "-o", out / "r.parquet", "--summary", out / "s.parquet", "--rejects", out / "rej.csv",
    )
    assert proc.returncode == 0, proc.stderr
    proc = run_cli(
        "run", LOANBOOK, "--as-of", AS_OF, "--policy", "us-mla", "--group-by", "region,status",
        "-o", out / "r2.parquet", "--summary", out / "s2.csv",
    )
    assert proc.returncode == 0, proc.stderr
    return out


def _readers():
    import pandas as pd
    import polars as pl

    return {
        "pyarrow-strings": lambda: read_strings(LOANBOOK),
        "pyarrow-inferred": lambda: read_inferred(LOANBOOK),
        "pyarrow-reader": lambda: pa.RecordBatchReader.from_batches(
            read_strings(LOANBOOK).schema, read_strings(LOANBOOK).to_batches(max_chunksize=97)
        ),
        "polars-strings": lambda: pl.read_csv(LOANBOOK, infer_schema=False),
        "polars-inferred": lambda: pl.read_csv(LOANBOOK),
        "pandas-strings": lambda: pd.read_csv(LOANBOOK, dtype=str, keep_default_na=False),
        "pandas-inferred": lambda: pd.read_csv(LOANBOOK),
        "duckdb-arrow": lambda: __import__("duckdb").sql(
            f"select * from read_csv('{LOANBOOK}', all_varchar=true)"
        ).arrow(),
        # A relation itself: DuckDB streams it batch by batch.
        "duckdb-relation": lambda: __import__("duckdb").sql(
            f"select * from read_csv('{LOANBOOK}', all_varchar=true)"
        ),
        # A lazy stream: batches made as they are read.
        "pyarrow-generator": lambda: pa.RecordBatchReader.from_batches(
            read_strings(LOANBOOK).schema,
            (b for b in read_strings(LOANBOOK).to_batches(max_chunksize=500)),
        ),
    }


@pytest.mark.parametrize("how", list(_readers()))
def test_loanbook_from_every_reader_equals_the_cli(how, cli_loanbook):
    book = _readers()[how]()
    out = arrears.run(book, as_of=AS_OF)
    cli_results = pq.read_table(cli_loanbook / "r.parquet")
    assert out.results.schema == cli_results.schema
    assert out.results.combine_chunks().equals(cli_results.combine_chunks())
    assert out.summary.equals(pq.read_table(cli_loanbook / "s.parquet"))
    assert out.rejects.num_rows == 0 and out.rows_read == 3000
    # The outputs open in Polars and pandas.
    import polars as pl

    assert pl.from_arrow(out.results).height == 3000
    assert out.summary.to_pandas()["loans"].sum() == 2 * 3000  # groups and totals
    assert out.summary_state.loans == 3000


def test_other_policy_and_grouping_equal_the_cli(cli_loanbook):
    out = arrears.run(read_strings(LOANBOOK), as_of=AS_OF, policy="us-mla", group_by="region,status")
    assert out.results.combine_chunks().equals(pq.read_table(cli_loanbook / "r2.parquet").combine_chunks())
    assert out.summary.equals(read_typed(cli_loanbook / "s2.csv", out.summary.schema))


def test_summary_states_of_any_split_merge_to_the_whole():
    book = read_strings(LOANBOOK)
    whole = arrears.run(book, as_of=AS_OF, group_by=["product", "status"])
    rng = random.Random(18)
    for parts in (1, 2, 3, 7):
        cuts = sorted(rng.sample(range(1, book.num_rows), parts - 1))
        bounds = [0, *cuts, book.num_rows]
        states = [
            arrears.summary_state(
                book.slice(a, b - a), as_of=AS_OF, group_by=["product", "status"]
            ).to_bytes()
            for a, b in zip(bounds, bounds[1:])
        ]
        rng.shuffle(states)
        merged = arrears.SummaryState.from_bytes(states[0])
        for b in states[1:]:
            merged.merge(arrears.SummaryState.from_bytes(b))
        assert merged.finish().equals(whole.summary)
        assert merged.to_bytes() == whole.summary_state.to_bytes()
    assert whole.summary_state.loans == 3000


def test_summary_states_refuse_to_mix():
    book = read_strings(LOANBOOK).slice(0, 10)
    a = arrears.summary_state(book, as_of=AS_OF)
    with pytest.raises(ValueError, match="group_by"):
        a.merge(arrears.summary_state(book, as_of=AS_OF, group_by=["region"]))
    with pytest.raises(ValueError, match="policies"):
        a.merge(arrears.summary_state(book, as_of=AS_OF, policy="us-mla"))
    with pytest.raises(ValueError, match="not a summary state"):
        arrears.SummaryState.from_bytes(b"nonsense")
    with pytest.raises(ValueError, match="not a summary state"):
        arrears.SummaryState.from_bytes(a.to_bytes()[:-3])


def test_explain_equals_the_cli_json():
    ids = ["L00000001", "L00000002", "L00000017"]
    args = ["explain", LOANBOOK, "--as-of", AS_OF, "--json"]
    for i in ids:
        args += ["--loan-id", i]
    proc = run_cli(*args)
    assert proc.returncode == 0, proc.stderr
    want = json.loads(proc.stdout)
    got = arrears.explain(read_strings(LOANBOOK), ids, as_of=AS_OF, book_name=str(LOANBOOK))
    # The command line numbers CSV lines; the module rows (line - 1).
    for w in want:
        w["line"] = w["line"] - 1
    assert got == want and len(got) == 3
    with pytest.raises(arrears.NotFound, match="nope"):
        arrears.explain(read_strings(LOANBOOK), ["nope"], as_of=AS_OF)


def test_explain_with_repayments_equals_the_cli_json():
    case = Case("repay_segments")
    ids = [r["loan_id"] for r in read_strings(case.dir / "expected_results.csv").to_pylist()][:3]
    args = ["explain", "input.csv", "--as-of", case.as_of, "--policy", "policy.toml",
            "--repayments", "payments.csv", "--json"]
    for i in ids:
        args += ["--loan-id", i]
    proc = run_cli(*args, cwd=case.dir)
    assert proc.returncode == 0, proc.stderr
    want = json.loads(proc.stdout)
    got = arrears.explain(
        read_strings(case.input), ids, as_of=case.as_of, policy=case.policy,
        repayments=read_strings(case.payments), book_name="input.csv",
    )
    for w in want:
        w["line"] = w["line"] - 1
        w["policy"] = w["policy"].replace("policy.toml", case.policy)
    assert got == want and len(got) == 3


def test_repayments_take_any_arrow_source():
    import polars as pl

    case = Case("repay_allocation")
    base = run_case(case)
    again = arrears.run(
        pl.read_csv(case.input, infer_schema=False),
        as_of=case.as_of, policy=case.policy, group_by=case.group_by,
        repayments=pl.read_csv(case.payments, infer_schema=False),
    )
    assert again.results.equals(base.results) and again.summary.equals(base.summary)


def test_decimal_and_categorical_columns():
    book = read_strings(LOANBOOK)
    base = arrears.run(book, as_of=AS_OF)
    typed = book.set_column(
        book.schema.get_field_index("product"), "product",
        pa.compute.dictionary_encode(book["product"]),
    )
    out = arrears.run(typed, as_of=AS_OF)
    assert out.results.equals(base.results) and out.summary.equals(base.summary)
    small = pa.table({
        "loan_id": ["a", "b"],
        "principal": pa.array([Decimal("1000.50"), Decimal("20")], pa.decimal128(12, 4)),
        "due_date": pa.array([20089, None], pa.date32()),
        "annual_rate": pa.array([0.18, 0.2]),
    })
    out = arrears.run(small, as_of="2025-02-01")
    assert out.results["principal"].to_pylist() == [Decimal("1000.50")]
    assert out.rejects.to_pylist() == [{
        "line": 2, "loan_id": "b", "column": "due_date", "reason": "empty: required",
        "raw": "b,20,,0.2",
    }]


def test_decimals_are_18_digits_unless_wide_decimals(tmp_path):
    """As the command line's Parquet: decimal(18,s) by default; an amount
    past 18 digits raises, naming row, loan_id and column, and never comes
    back cut; with wide_decimals=True every decimal column is decimal(38,s)
    and the amount is exact. The command line refuses and accepts alike."""
    book = pa.table({
        "loan_id": ["small", "huge"],
        "principal": ["1000", "12345678901234567.89"],
        "due_date": ["2025-01-01", "2025-01-01"],
        "daily_rate": ["0.0005", "0.0005"],
    })
    out = arrears.run(book.slice(0, 1), as_of="2025-02-01")
    assert out.results.schema.field("principal").type == pa.decimal128(18, 2)
    assert out.results.schema.field("daily_rate").type == pa.decimal128(18, 10)
    assert out.summary.schema.field("principal").type == pa.decimal128(18, 2)
    with pytest.raises(ValueError, match=r'"huge".*column principal holds 12345678901234567\.89 \(19 digits\).*wide_decimals=True'):
        arrears.run(book, as_of="2025-02-01")
    wide = arrears.run(book, as_of="2025-02-01", wide_decimals=True)
    assert wide.results.schema.field("principal").type == pa.decimal128(38, 2)
    assert wide.summary.schema.field("principal").type == pa.decimal128(38, 2)
    assert wide.results["principal"].to_pylist() == [Decimal("1000.00"), Decimal("12345678901234567.89")]
    csv = tmp_path / "book.csv"
    pv.write_csv(book, csv)
    refused = run_cli("run", csv, "--as-of", "2025-02-01", "-o", tmp_path / "r.parquet", "-q")
    assert refused.returncode != 0 and "--wide-decimals" in refused.stderr, refused.stderr
    assert not (tmp_path / "r.parquet").exists()
    done = run_cli("run", csv, "--as-of", "2025-02-01", "-o", tmp_path / "r.parquet", "-q", "--wide-decimals")
    assert done.returncode == 0, done.stderr
    assert pq.read_table(tmp_path / "r.parquet").equals(wide.results)


def test_a_book_fed_in_parts_equals_the_whole():
    """The Runner (what each Spark partition uses): parts fed one by one
    give the whole run's results, rejects (row numbers across parts,
    duplicates found across parts) and summary."""
    from arrears import _arrears

    case = Case("unique_ids")
    book = read_strings(case.input)
    whole = arrears.run(book, as_of=case.as_of, unique_ids=True)
    runner = _arrears.Runner(book.slice(0, 0), as_of=case.as_of, policy="cn-bank", unique_ids=True)
    results, rejects = [], []
    for start in range(0, book.num_rows, 2):
        r, j = runner.feed(book.slice(start, 2))
        results.append(pa.table(r))
        rejects.append(pa.table(j))
    assert pa.concat_tables(results).equals(whole.results)
    assert pa.concat_tables(rejects).equals(whole.rejects)
    assert any("duplicate" in r for r in whole.rejects["reason"].to_pylist())
    assert runner.summary_state().to_bytes() == whole.summary_state.to_bytes()
    assert runner.counts == (whole.rows_read, whole.rows_accepted, whole.rows_rejected)
    with pytest.raises(ValueError, match="other columns"):
        runner.feed(book.drop_columns([book.column_names[-1]]))


def test_policies_and_states_pickle():
    """What Spark ships to its executors and back."""
    import pickle

    for spec in ("us-mla", str(TESTDATA / "seed_example/policy.toml"), "grace_days = 4\n"):
        p = arrears.policy(spec)
        again = pickle.loads(pickle.dumps(p))
        assert again.toml == p.toml
    book = read_strings(LOANBOOK)
    state = arrears.summary_state(book, as_of=AS_OF, policy=arrears.policy("us-mla"))
    again = pickle.loads(pickle.dumps(state))
    assert again.to_bytes() == state.to_bytes()
    assert again.finish().equals(arrears.run(book, as_of=AS_OF, policy="us-mla").summary)


def test_type_stubs_match_the_module(tmp_path):
    """The .pyi stubs say what the module really has (mypy's stubtest)."""
    import subprocess
    import sys

    config = tmp_path / "mypy.ini"
    config.write_text("[mypy]\nignore_missing_imports = True\ncache_dir = /dev/null\n")
    package = Path(arrears.__file__).parent.parent
    proc = subprocess.run(
        [sys.executable, "-m", "mypy.stubtest", "--mypy-config-file", str(config), "arrears"],
        cwd=package, capture_output=True, text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_a_book_of_one_huge_batch_is_read_in_slices_with_the_same_outcome():
    """A Table of one 90,000-row chunk (read 65,536 rows at a time) and the
    same rows in chunks of 1,000 give the same results, rejects (row
    numbers, duplicates across slices) and summary."""
    book = read_strings(LOANBOOK)
    big = pa.concat_tables([book] * 30).combine_chunks()
    assert len(big.to_batches()) == 1
    one = arrears.run(big, as_of=AS_OF, unique_ids=True)
    small = pa.Table.from_batches(big.to_batches(max_chunksize=1000))
    many = arrears.run(small, as_of=AS_OF, unique_ids=True)
    assert one.results.equals(many.results) and one.summary.equals(many.summary)
    assert one.rejects.equals(many.rejects)
    # Every copy after the first is a duplicate, found across slices.
    assert one.rows_accepted == 3000 and one.rows_rejected == 87000
    assert one.rejects["line"].to_pylist()[-1] == 90000


def test_version_is_the_installed_distributions():
    """arrears.__version__: the wheel's version (pyproject.toml's, set from
    Cargo.toml by maturin) when installed, as tests/python_module.rs does."""
    import os
    import re as _re

    cargo = (Path(__file__).resolve().parents[1] / "Cargo.toml").read_text()
    want = _re.search(r'^version = "([^"]+)"', cargo, _re.M).group(1)
    if os.environ.get("ARREARS_MODULE_DIR"):
        assert arrears.__version__ == want
    else:
        assert arrears.__version__ in (want, "0+unknown")
