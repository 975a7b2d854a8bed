"""The README's "From Python" and "On Spark" code runs as written, and so
does examples/spark_run.py, whose summary is the command line's, byte for
byte."""

import os
import re
import subprocess
import sys

import pytest

from conftest import ROOT


def blocks(section: str, language: str):
    readme = (ROOT / "README.md").read_text()
    start = readme.index(f"## {section}\n")
    end = readme.index("\n## ", start + 1)
    return re.findall(rf"```{language}\n(.*?)```", readme[start:end], re.S)


def python(code: str, *args):
    env = dict(os.environ, PYSPARK_PYTHON=sys.executable)
    return subprocess.run(
        [sys.executable, *args] if not code else [sys.executable, "-c", code],
        cwd=ROOT, capture_output=True, text=True, env=env, timeout=600,
    )


@pytest.mark.parametrize("section", ["From Python", "On Spark"])
def test_readme_python_runs_as_written(section):
    found = blocks(section, "python")
    assert found, section
    for code in found:
        proc = python(code)
        assert proc.returncode == 0, f"{code}\n{proc.stdout}\n{proc.stderr}"


def test_the_spark_example_writes_the_cli_summary(tmp_path):
    proc = python(
        "", "examples/spark_run.py", "testdata/loanbook.csv", "--as-of", "2025-06-30",
        "--out", str(tmp_path / "out"), "--master", "local[2]", "--partitions", "3",
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "3000 loans valued" in proc.stdout
    assert (tmp_path / "out/summary.csv").read_bytes() == (ROOT / "testdata/loanbook.summary.csv").read_bytes()
    assert list((tmp_path / "out/results").glob("*.parquet"))
