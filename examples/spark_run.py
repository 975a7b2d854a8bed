"""arrears on Spark: a loan book in the data lake, valued on the executors.

Locally (PySpark's local mode, the module installed with `pip install ./python`):

    python3 examples/spark_run.py testdata/loanbook.csv --as-of 2025-06-30 --out /tmp/arrears-spark

On a cluster: the wheel holds a compiled extension, so it goes into the
executors' Python (not --py-files, which cannot carry one): installed in the
cluster's image, or packed with its environment and shipped with the job
(README, "On Spark"):

    maturin build --release -m python/Cargo.toml -o dist/
    python3 -m venv arrears_env
    arrears_env/bin/pip install dist/arrears-0.1.0-cp39-abi3-*.whl pandas venv-pack
    arrears_env/bin/venv-pack -p arrears_env -o arrears_env.tar.gz
    PYSPARK_PYTHON=./environment/bin/python spark-submit --master yarn --deploy-mode cluster \
        --archives arrears_env.tar.gz#environment \
        examples/spark_run.py s3a://bank/books/2025-06-30/ --format parquet \
        --as-of 2025-06-30 --policy cn-bank --group-by product,bucket \
        --out s3a://bank/arrears/2025-06-30

Writes, under --out: results/ (Parquet, typed as the command line's
results), rejects/ (CSV), and summary.csv (the command line's summary,
byte for byte).
"""

import argparse
import csv
import io
import time
from decimal import Decimal

from pyspark.sql import SparkSession

import arrears
import arrears.spark as aspark


def summary_csv(table) -> str:
    """The summary as the command line writes it as CSV."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(table.column_names)
    for row in table.to_pylist():
        w.writerow(
            ["" if v is None else format(v, "f") if isinstance(v, Decimal) else v for v in row.values()]
        )
    return buf.getvalue()


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("book", help="a CSV or Parquet book (file, folder or table path)")
    p.add_argument("--format", choices=["csv", "parquet"], default=None)
    p.add_argument("--as-of", required=True)
    p.add_argument("--policy", default="cn-bank", help="a preset, or a policy file on the driver")
    p.add_argument("--group-by", default=None)
    p.add_argument("--repayments", default=None, help="a CSV of loan_id,date,amount")
    p.add_argument("--partitions", type=int, default=None)
    p.add_argument("--out", required=True)
    p.add_argument("--master", default=None, help="e.g. local[2] (spark-submit sets it)")
    args = p.parse_args()

    builder = SparkSession.builder.appName("arrears")
    if args.master:  # else spark-submit's, or local[*] under plain python
        builder = builder.master(args.master)
    spark = builder.getOrCreate()

    fmt = args.format or ("parquet" if args.book.endswith(".parquet") else "csv")
    reader = spark.read.option("header", True) if fmt == "csv" else spark.read
    df = reader.format(fmt).load(args.book)
    if args.partitions:
        df = df.repartition(args.partitions)
    repayments = None
    if args.repayments:
        repayments = spark.read.option("header", True).csv(args.repayments)

    started = time.perf_counter()
    out = aspark.run(
        df,
        as_of=args.as_of,
        policy=arrears.policy(args.policy),
        group_by=args.group_by.split(",") if args.group_by else None,
        repayments=repayments,
    )
    out.results.write.mode("overwrite").parquet(f"{args.out}/results")
    out.rejects.write.mode("overwrite").option("header", True).csv(f"{args.out}/rejects")
    text = summary_csv(out.summary)
    # The summary is small and on the driver: written through Hadoop's
    # filesystem, so that s3a://, hdfs:// and file paths all work.
    jvm = spark.sparkContext._jvm
    path = jvm.org.apache.hadoop.fs.Path(f"{args.out}/summary.csv")
    fs = path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    stream = fs.create(path, True)
    stream.write(bytearray(text.encode()))
    stream.close()
    print(
        f"arrears: {out.summary_state.loans} loans valued in "
        f"{time.perf_counter() - started:.1f} s on {df.rdd.getNumPartitions()} partitions; "
        f"wrote {args.out}/results, {args.out}/rejects, {args.out}/summary.csv"
    )
    spark.stop()


if __name__ == "__main__":
    main()
