"""Shared helpers: where the repository, its test cases and the command-line
binary are, and how a CSV book is read into Arrow the ways users do."""

import os
import shlex
import subprocess
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pv
import pytest

ROOT = Path(__file__).resolve().parents[2]

# Run by tests/python_module.rs, the tests must use the wheel it installed,
# not a module lying in the source tree.
if os.environ.get("ARREARS_MODULE_DIR"):
    import arrears

    assert Path(arrears.__file__).parent == Path(os.environ["ARREARS_MODULE_DIR"]), (
        arrears.__file__
    )
TESTDATA = ROOT / "testdata"


def cli_path() -> Path:
    """The arrears binary the module is compared against: ARREARS_BIN (the
    Rust test tests/python_module.rs passes CARGO_BIN_EXE_arrears), else
    the repository's target/release/arrears."""
    for candidate in (os.environ.get("ARREARS_BIN"), ROOT / "target/release/arrears"):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    pytest.fail(
        "the arrears binary is needed to compare against: set ARREARS_BIN or run "
        "`cargo build --release` (CI: .ci/run runs these tests through tests/python_module.rs)"
    )


@pytest.fixture(scope="session")
def cli() -> Path:
    return cli_path()


def run_cli(*args, cwd=None):
    proc = subprocess.run(
        [str(cli_path()), *map(str, args)], cwd=cwd, capture_output=True, text=True
    )
    return proc


def header(path: Path, encoding: str = "utf-8") -> list:
    import csv

    with open(path, "rb") as f:
        first = f.readline().decode(encoding).lstrip("\ufeff").rstrip("\r\n")

    return next(csv.reader([first]))


def read_strings(path: Path, encoding: str = "utf8") -> pa.Table:
    """A CSV book as pyarrow reads it with every column text (empty stays
    empty): the values exactly as in the file."""
    names = header(path, "gbk" if encoding == "gbk" else "utf-8")
    return pv.read_csv(
        path,
        read_options=pv.ReadOptions(encoding=encoding),
        convert_options=pv.ConvertOptions(
            column_types={n: pa.string() for n in names},
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
            check_utf8=False,
        ),
    )


def read_inferred(path: Path, encoding: str = "utf8") -> pa.Table:
    """A CSV book as pyarrow reads it by default: numbers, dates inferred."""
    return pv.read_csv(path, read_options=pv.ReadOptions(encoding=encoding))


def read_typed(path: Path, schema: pa.Schema) -> pa.Table:
    """An output CSV of the command line read as the module's types (empty
    is null): what the same values are in Arrow."""
    return pv.read_csv(
        path,
        convert_options=pv.ConvertOptions(
            column_types=schema,
            null_values=[""],
            strings_can_be_null=True,
            quoted_strings_can_be_null=True,
        ),
    )


class Case:
    """One folder of testdata/ (see tests/cases.rs): its args, inputs and
    expected outputs."""

    def __init__(self, name: str):
        self.name = name
        self.dir = TESTDATA / name
        self.args = shlex.split((self.dir / "args").read_text())
        exit_file = self.dir / "expected_exit"
        self.exit = int(exit_file.read_text().strip()) if exit_file.exists() else 0
        self.parquet = (self.dir / "input.parquet").exists()
        self.input = self.dir / ("input.parquet" if self.parquet else "input.csv")
        self.payments = self.dir / "payments.csv"
        if not self.payments.exists():
            self.payments = None

    def flag(self, name, default=None):
        if name in self.args:
            return self.args[self.args.index(name) + 1]
        return default

    @property
    def as_of(self):
        return self.flag("--as-of")

    @property
    def policy(self):
        p = self.flag("--policy", "cn-bank")
        return str(self.dir / p) if (self.dir / p).exists() else p

    @property
    def group_by(self):
        g = self.flag("--group-by")
        return None if g is None else g.split(",")

    @property
    def encoding(self):
        return self.flag("--encoding", "utf8")

    @property
    def unique_ids(self):
        return "--unique-ids" in self.args


def cases():
    return sorted(d.name for d in TESTDATA.iterdir() if (d / "args").exists())
