"""Type stubs of arrears.spark."""

import datetime
from dataclasses import dataclass
from typing import Any, Optional, Sequence, Union

import pyarrow as pa

from . import Policy, SummaryState

@dataclass
class SparkResult:
    results: Any  # pyspark.sql.DataFrame
    rejects: Any  # pyspark.sql.DataFrame
    summary: pa.Table
    summary_state: SummaryState
    unmatched: Optional[pa.Table] = None

REJECT_COLUMNS: list[str]

def spark_schema(schema: pa.Schema) -> Any: ...
def run(
    df: Any,
    *,
    as_of: Union[str, datetime.date],
    policy: Union[str, Policy] = "cn-bank",
    group_by: Union[str, Sequence[str], None] = None,
    repayments: Any = None,
    unique_ids: bool = False,
    book_name: str = "book",
    repayments_name: str = "repayments",
) -> SparkResult: ...
