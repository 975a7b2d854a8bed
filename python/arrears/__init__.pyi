"""Type stubs of the arrears package."""

import datetime
from dataclasses import dataclass
from typing import Any, Iterable, List, Optional, Sequence, Union

import pyarrow as pa

from ._arrears import Policy as Policy, SummaryState as SummaryState

__version__: str

__all__ = [
    "run",
    "Result",
    "policy",
    "Policy",
    "presets",
    "explain",
    "summary_state",
    "SummaryState",
    "NotFound",
]

_Date = Union[str, datetime.date]
_Policy = Union[str, Policy]
_Keys = Union[str, Sequence[str], None]

class NotFound(LookupError): ...

@dataclass
class Result:
    results: pa.Table
    rejects: pa.Table
    summary: pa.Table
    summary_state: SummaryState
    unmatched: Optional[pa.Table]
    rows_read: int
    rows_accepted: int
    rows_rejected: int

def run(
    book: Any,
    *,
    as_of: _Date,
    policy: _Policy = "cn-bank",
    repayments: Any = None,
    group_by: _Keys = None,
    unique_ids: bool = False,
    book_name: str = "book",
    repayments_name: str = "repayments",
    wide_decimals: bool = False,
) -> Result: ...
def summary_state(
    book: Any,
    *,
    as_of: _Date,
    policy: _Policy = "cn-bank",
    repayments: Any = None,
    group_by: _Keys = None,
    unique_ids: bool = False,
) -> SummaryState: ...
def policy(name_or_toml: str) -> Policy: ...
def presets() -> List[str]: ...
def explain(
    book: Any,
    loan_ids: Union[str, Iterable[str]],
    *,
    as_of: _Date,
    policy: _Policy = "cn-bank",
    repayments: Any = None,
    book_name: str = "book",
    repayments_name: str = "repayments",
) -> List[dict]: ...
