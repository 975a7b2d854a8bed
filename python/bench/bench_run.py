"""Times arrears.run on a book already in memory as a pyarrow Table, against
the command line on the same book as CSV (BENCHMARKS.md, "From Python").

    arrears generate --rows 1000000 --seed 1 -o /tmp/book1m.csv
    PYTHONPATH=python python3 python/bench/bench_run.py /tmp/book1m.csv target/release/arrears
"""
import subprocess
import sys
import tempfile
import time

import pyarrow as pa
import pyarrow.csv as pv

import arrears

book_path, cli = sys.argv[1], sys.argv[2]
runs = int(sys.argv[3]) if len(sys.argv) > 3 else 3
AS_OF = "2025-06-30"


def best(f):
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        out = f()
        times.append(time.perf_counter() - t)
    return min(times), out


with open(book_path, "rb") as f:
    names = f.readline().decode().strip().split(",")
text = pv.read_csv(book_path, convert_options=pv.ConvertOptions(
    column_types={n: pa.string() for n in names}, strings_can_be_null=False))
inferred = pv.read_csv(book_path)
print(f"{text.num_rows} rows, {text.nbytes / 1e6:.0f} MB as text columns")

with tempfile.TemporaryDirectory() as d:
    t_cli, _ = best(lambda: subprocess.run(
        [cli, "run", book_path, "--as-of", AS_OF, "-o", f"{d}/r.csv", "--summary", f"{d}/s.csv"],
        check=True, capture_output=True))
    t_cli_pq, _ = best(lambda: subprocess.run(
        [cli, "run", book_path, "--as-of", AS_OF, "-o", f"{d}/r.parquet", "--summary", f"{d}/s.csv"],
        check=True, capture_output=True))
t_text, out = best(lambda: arrears.run(text, as_of=AS_OF))
t_inf, _ = best(lambda: arrears.run(inferred, as_of=AS_OF))
t_state, _ = best(lambda: arrears.summary_state(text, as_of=AS_OF))
print(f"CLI, CSV book -> CSV results:          {t_cli:.2f} s")
print(f"CLI, CSV book -> Parquet results:      {t_cli_pq:.2f} s")
print(f"arrears.run, text columns:             {t_text:.2f} s  ({t_text / t_cli:.2f}x the CLI)")
print(f"arrears.run, inferred types:           {t_inf:.2f} s  ({t_inf / t_cli:.2f}x the CLI)")
print(f"arrears.summary_state (no results):    {t_state:.2f} s")
assert out.results.num_rows + out.rejects.num_rows == text.num_rows
