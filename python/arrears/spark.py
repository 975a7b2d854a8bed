"""arrears on Spark: every row computed on the executors, with the module's
own code, through ``DataFrame.mapInArrow``.

    from arrears import spark as aspark
    out = aspark.run(df, as_of="2025-06-30", policy="cn-bank")
    out.results.write.parquet("s3://.../results")   # a distributed DataFrame
    out.summary                                     # a pyarrow Table (small)
    out.rejects.write.csv("s3://.../rejects")       # a distributed DataFrame

- results: one ``mapInArrow`` over the book, each Arrow batch computed
  and handed back as it comes (a partition is never held whole; loan_ids
  are tracked across a partition's batches); its Spark schema is declared
  from the results columns (DecimalType(38,2) for money, (38,10) for daily
  rates, (38,6) for ratios, DateType, LongType, StringType), the same types
  as the command line's Parquet results.
- summary: a second ``mapInArrow`` folds each partition into a summary
  state (exact tallies, a few kB) and emits it as one row; only those rows
  travel to the driver, which merges them (``SummaryState.merge``) and
  finishes the table: exactly the command line's summary, whatever the
  partitioning. The same pass emits the rejects, which stay distributed.
- repayments: the payments DataFrame is collected to the driver and
  broadcast to every executor, which builds the payments index once per
  partition. Each partition's state row also says which payments' book
  rows it saw (5 bytes a payment), from which the driver gives the
  unmatched payments, as ``run`` does. That suits payments of a few million rows (a payment is
  about 40 bytes). For larger ones, repartition both by loan_id and use
  ``groupBy(...).cogroup(...).applyInArrow`` (not provided here).
- With repayments or ``unique_ids``, the book is first repartitioned by its
  loan_id column, so that rows of one loan_id meet in one partition and a
  repeated loan_id is found as the command line finds it. (Which of the
  repeated rows is "first" follows Spark's order within the partition.)
- rejects: ``line`` is the row's number within its partition (1 = its
  first row), and ``partition`` says which: a Spark book has no line
  numbers of its own; ``raw`` holds the row.

Each task computes on ``spark.task.cpus`` threads (RAYON_NUM_THREADS,
unless the executors' environment sets it).

Spark's TimestampType (with a time zone) is refused for date columns, as
the command line refuses zoned timestamps: cast to DateType or
TimestampNTZType.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Sequence, Union

import pyarrow as pa

import arrears

REJECT_COLUMNS = ["partition", "line", "loan_id", "column", "reason", "raw"]


@dataclass
class SparkResult:
    #: pyspark DataFrame of results rows, computed on the executors.
    results: Any
    #: pyspark DataFrame of rejected rows (partition, line, loan_id, column,
    #: reason, raw).
    rejects: Any
    #: The summary table (pyarrow), merged on the driver from the
    #: partitions' states.
    summary: pa.Table
    #: The merged state itself (``to_bytes()`` to keep or merge further).
    summary_state: "arrears.SummaryState"
    #: With repayments: the payments of no accepted row (file, line,
    #: loan_id, date, amount, reason), a pyarrow Table on the driver.
    unmatched: Optional[pa.Table] = None


def _spark_type(t: pa.DataType):
    from pyspark.sql import types as T

    if pa.types.is_decimal(t):
        return T.DecimalType(t.precision, t.scale)
    if pa.types.is_date32(t):
        return T.DateType()
    if pa.types.is_int64(t):
        return T.LongType()
    if pa.types.is_binary(t) or pa.types.is_large_binary(t):
        return T.BinaryType()
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return T.StringType()
    raise TypeError(f"no Spark type for {t}")


def spark_schema(schema: pa.Schema):
    """The Spark schema of an Arrow schema of arrears' output types."""
    from pyspark.sql import types as T

    return T.StructType(
        [T.StructField(f.name, _spark_type(f.type), True) for f in schema]
    )


def _arrow_schema(spark_schema_):
    """The Arrow schema Spark hands mapInArrow for a Spark schema."""
    from pyspark.sql.pandas.types import to_arrow_schema

    return to_arrow_schema(spark_schema_)


def _text_as_spark_wants(schema: pa.Schema, large: bool) -> pa.Schema:
    """Spark exchanges text as utf8, or large_utf8 with
    spark.sql.execution.arrow.useLargeVarTypes."""
    text = pa.large_string() if large else pa.string()
    return pa.schema(
        [
            pa.field(f.name, text if pa.types.is_large_string(f.type) else f.type)
            for f in schema
        ]
    )


def _partition(batches, make_runner):
    """Feeds a partition's batches one at a time to a Runner made from the
    first; yields each batch's (runner, results, rejects)."""
    runner = None
    for batch in batches:
        part = pa.Table.from_batches([batch])
        if runner is None:
            runner = make_runner(part)
        results, rejects = runner.feed(part)
        yield runner, results, rejects


def _conform(table, schema: pa.Schema):
    """Batches of `table` (Arrow data) as Spark expects them: its declared
    types."""
    for batch in pa.table(table).cast(schema).to_batches():
        yield batch


def run(
    df: Any,
    *,
    as_of: Any,
    policy: Union[str, "arrears.Policy"] = "cn-bank",
    group_by: Union[str, Sequence[str], None] = None,
    repayments: Any = None,
    unique_ids: bool = False,
    book_name: str = "book",
    repayments_name: str = "repayments",
) -> SparkResult:
    """Runs a Spark DataFrame book: results and rejects as DataFrames, the
    summary as a pyarrow Table. ``repayments``: a Spark DataFrame (or any
    Arrow data) of loan_id, date, amount, broadcast to the executors; the
    payments that could not be read are the first rejects (partition
    null). ``book_name``/``repayments_name``: how messages name them."""
    spark = df.sparkSession
    pol = policy if isinstance(policy, arrears.Policy) else arrears.policy(policy)
    as_of = arrears._date(as_of)
    keys = arrears._keys(group_by)

    payments_ipc = None
    if repayments is not None:
        payments = repayments.toArrow() if hasattr(repayments, "toArrow") else None
        if payments is None and hasattr(repayments, "toPandas"):
            payments = pa.Table.from_pandas(repayments.toPandas(), preserve_index=False)
        if payments is None:
            payments = pa.table(arrears._arrow(repayments, "repayments"))
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, payments.schema) as w:
            w.write_table(payments)
        payments_ipc = spark.sparkContext.broadcast(sink.getvalue().to_pybytes())

    # The results' columns, from the book's schema alone: a run over no rows
    # (which also checks the columns and their types, on the driver, before
    # any job).
    # With repayments, the same run gives the payments that could not be
    # read: they are rejects once, here, not once per partition.
    book_schema = _arrow_schema(df.schema)
    probe = arrears.run(
        book_schema.empty_table(), as_of=as_of, policy=pol, group_by=keys,
        repayments=None if payments_ipc is None else pa.ipc.open_stream(payments_ipc.value).read_all(),
        unique_ids=unique_ids, repayments_name=repayments_name,
    )
    payment_rejects = probe.rejects.num_rows
    large = str(spark.conf.get("spark.sql.execution.arrow.useLargeVarTypes", "false")).lower() == "true"
    results_arrow = _text_as_spark_wants(probe.results.schema, large)
    text = pa.large_string() if large else pa.string()
    results_spark = spark_schema(probe.results.schema)

    if unique_ids or payments_ipc is not None:
        from pyspark.sql import functions as F

        loan_id = _loan_id_column(df, pol)
        df = df.repartition(df.rdd.getNumPartitions(), F.trim(F.col(f"`{loan_id}`")))

    def payments_table():
        if payments_ipc is None:
            return None
        return pa.ipc.open_stream(payments_ipc.value).read_all()

    # Spark runs spark.task.cpus cores' worth of work per task, several
    # tasks per executor: the module's thread pool (rayon, one per Python
    # worker process) takes as many threads, unless the job says otherwise.
    task_cpus = str(spark.conf.get("spark.task.cpus", "1"))

    def runner(results: bool):
        def make(part):
            import os

            os.environ.setdefault("RAYON_NUM_THREADS", task_cpus)
            from arrears import _arrears

            return _arrears.Runner(
                part, as_of=as_of, policy=pol, group_by=keys,
                repayments=payments_table(), unique_ids=unique_ids,
                book_name=book_name, repayments_name=repayments_name, results=results,
            )

        return make

    def results_fn(batches):
        # Each batch's results go back to Spark as soon as they are
        # computed: a partition is never held whole.
        for _, results, _ in _partition(batches, runner(True)):
            yield from _conform(results, results_arrow)

    results = df.mapInArrow(results_fn, results_spark)

    state_arrow = pa.schema(
        [
            pa.field("state", pa.binary()),
            pa.field("payments_seen", pa.binary()),
            pa.field("partition", pa.int64()),
            pa.field("line", pa.int64()),
            pa.field("loan_id", text),
            pa.field("column", text),
            pa.field("reason", text),
            pa.field("raw", text),
        ]
    )

    def states_fn(batches):
        from pyspark import TaskContext

        part = TaskContext.get().partitionId()

        def state_row(runner):
            return pa.RecordBatch.from_arrays(
                [pa.array([runner.summary_state().to_bytes()], pa.binary()),
                 pa.array([runner.payments_seen()], pa.binary()),
                 pa.array([part], pa.int64()),
                 pa.nulls(1, pa.int64())] + [pa.nulls(1, text)] * 4,
                schema=state_arrow,
            )

        def reject_rows(rejects: pa.Table):
            n = rejects.num_rows
            return pa.RecordBatch.from_arrays(
                [pa.nulls(n, pa.binary()), pa.nulls(n, pa.binary()), pa.array([part] * n, pa.int64()),
                 rejects["line"].combine_chunks()]
                + [rejects[c].combine_chunks().cast(text) for c in ("loan_id", "column", "reason", "raw")],
                schema=state_arrow,
            )

        last = None
        for last, _, rejects in _partition(batches, runner(False)):
            rejects = pa.table(rejects)
            if rejects.num_rows:
                yield reject_rows(rejects)
        if last is not None:
            yield state_row(last)

    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    states = df.mapInArrow(states_fn, spark_schema(state_arrow)).persist(
        StorageLevel.MEMORY_AND_DISK
    )
    merged = None
    seen = []
    for row in (
        states.where(F.col("state").isNotNull()).select("state", "payments_seen").toLocalIterator()
    ):
        state = arrears.SummaryState.from_bytes(bytes(row["state"]))
        seen.append(bytes(row["payments_seen"]))
        if merged is None:
            merged = state
        else:
            merged.merge(state)
    if merged is None:  # a book of no rows
        merged = probe.summary_state
    rejects = states.where(F.col("state").isNull()).select(*REJECT_COLUMNS)
    if payment_rejects:
        first = probe.rejects.cast(
            pa.schema([pa.field(f.name, text if pa.types.is_large_string(f.type) else f.type)
                       for f in probe.rejects.schema])
        )
        first = first.add_column(0, "partition", pa.nulls(first.num_rows, pa.int64()))
        schema = spark_schema(first.schema)
        rejects = spark.createDataFrame(first.to_pylist(), schema).unionByName(rejects)
    unmatched = None
    if payments_ipc is not None:
        # Each loan_id's rows are in one partition (the book was
        # partitioned by it), so what the partitions saw, put together,
        # is what one pass over the book would have seen.
        unmatched = pa.table(
            arrears._arrears.unmatched_payments(
                pa.ipc.open_stream(payments_ipc.value).read_all(), seen,
                as_of=as_of, policy=pol, repayments_name=repayments_name,
            )
        )
    return SparkResult(
        results=results,
        rejects=rejects,
        summary=merged.finish(),
        summary_state=merged,
        unmatched=unmatched,
    )


def _loan_id_column(df, pol) -> str:
    """The book's loan_id column, found as a CSV header's is (trimmed,
    case-insensitive, through the policy's [columns] mapping)."""
    wanted = pol.header_name("loan_id").strip().lower()
    for name in df.columns:
        if name.strip().lower() == wanted:
            return name
    raise ValueError(f"book: no loan_id column ({wanted!r}); columns found: {df.columns}")
