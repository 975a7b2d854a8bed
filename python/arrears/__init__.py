"""arrears from Python: the same numbers as the command line, over Arrow data.

    import arrears, pyarrow.csv as pv
    book = pv.read_csv("loanbook.csv")
    out = arrears.run(book, as_of="2025-06-30", policy="cn-bank")
    out.results   # pyarrow.Table, typed as the command line's Parquet results
    out.rejects   # pyarrow.Table: line, loan_id, column, reason, raw
    out.summary   # pyarrow.Table: the summary, exactly the command line's

A book is anything that exports the Arrow PyCapsule stream protocol
(``__arrow_c_stream__``): a pyarrow Table or RecordBatchReader, a Polars
DataFrame, a DuckDB result's ``.arrow()``; a pandas DataFrame is converted
with pyarrow. It is read batch by batch, never copied whole. Columns are
found by name as in a CSV book's header (the policy's ``[columns]`` mapping
applies); each value becomes the text a CSV book would hold (decimals,
integers, floats, dates, naive timestamps, categories, text; null is an
empty field), as the command line reads a Parquet book.

Rejects: ``line`` is the row's number in the book, 1 for its first row (as
the command line numbers a Parquet book's rows; in a CSV book without
quoted line breaks, that row is on line ``line + 1``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, List, Optional, Sequence, Union

import pyarrow as pa

from importlib.metadata import PackageNotFoundError, version

from . import _arrears
from ._arrears import Policy, SummaryState

try:
    __version__ = version("arrears")
except PackageNotFoundError:  # imported from the source tree, not installed
    __version__ = "0+unknown"

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


class NotFound(LookupError):
    """explain: a loan_id not found among the book's accepted rows."""


def _arrow(data: Any, what: str) -> Any:
    """Anything that speaks the Arrow C stream protocol, as is; a pandas
    DataFrame (or any object pyarrow can read) through pyarrow."""
    if hasattr(data, "__arrow_c_stream__"):
        return data
    if isinstance(data, pa.RecordBatch):
        return pa.Table.from_batches([data])
    try:
        import pandas as pd  # optional

        if isinstance(data, pd.DataFrame):
            return pa.Table.from_pandas(data, preserve_index=False)
    except ImportError:
        pass
    if hasattr(data, "to_arrow"):  # DuckDB relations, older Polars
        return data.to_arrow()
    if hasattr(data, "arrow"):
        return data.arrow()
    raise TypeError(
        f"{what}: expected Arrow data (a pyarrow Table or RecordBatchReader, a Polars or "
        f"pandas DataFrame, a DuckDB result); got {type(data).__name__}"
    )


def _table(native: Any) -> pa.Table:
    return pa.table(native)


def _policy(p: Union[str, Policy, None]) -> Union[str, Policy]:
    return "cn-bank" if p is None else p


def _keys(group_by: Union[str, Sequence[str], None]) -> Optional[List[str]]:
    if group_by is None:
        return None
    if isinstance(group_by, str):
        return [group_by]
    return list(group_by)


def _date(as_of: Any) -> str:
    return as_of.isoformat() if hasattr(as_of, "isoformat") else str(as_of)


@dataclass
class Result:
    """What ``run`` gives: three pyarrow Tables, the summary's mergeable
    state, and counts."""

    results: pa.Table
    rejects: pa.Table
    summary: pa.Table
    summary_state: SummaryState
    #: With repayments: the payments that belong to no accepted row
    #: (file, line, loan_id, date, amount, reason); else None.
    unmatched: Optional[pa.Table]
    rows_read: int
    rows_accepted: int
    rows_rejected: int


def run(
    book: Any,
    *,
    as_of: Any,
    policy: Union[str, Policy] = "cn-bank",
    repayments: Any = None,
    group_by: Union[str, Sequence[str], None] = None,
    unique_ids: bool = False,
    book_name: str = "book",
    repayments_name: str = "repayments",
    wide_decimals: bool = False,
) -> Result:
    """Runs a loan book valued at ``as_of`` (a date or ``YYYY-MM-DD``):
    what ``arrears run`` writes, as pyarrow Tables.

    ``policy``: a preset name, a policy file's path, TOML text, or
    ``arrears.policy(...)``. ``repayments``: Arrow data with loan_id, date
    and amount (SPEC.md section 5); loan_ids must then be unique.
    ``group_by``: summary keys as ``--group-by`` (``["product", "status"]``
    or ``"product,status"``). ``unique_ids``: reject a row whose loan_id
    came before (``--unique-ids``). ``book_name``/``repayments_name``: how
    messages name the inputs (a duplicate's "first seen at book:3").
    ``wide_decimals``: decimal columns as decimal(38,s) instead of
    decimal(18,s), as ``--wide-decimals`` (an amount of more than 18 digits
    otherwise raises ValueError naming its row, loan_id and column).
    """
    results, rejects, state, unmatched, (read, accepted, rejected) = _arrears.run(
        _arrow(book, "book"),
        as_of=_date(as_of),
        policy=_policy(policy),
        repayments=None if repayments is None else _arrow(repayments, "repayments"),
        group_by=_keys(group_by),
        unique_ids=unique_ids,
        book_name=book_name,
        repayments_name=repayments_name,
        wide_decimals=wide_decimals,
    )
    return Result(
        results=_table(results),
        rejects=_table(rejects),
        summary=state.finish(wide_decimals=wide_decimals),
        summary_state=state,
        unmatched=None if unmatched is None else _table(unmatched),
        rows_read=read,
        rows_accepted=accepted,
        rows_rejected=rejected,
    )


def summary_state(
    book: Any,
    *,
    as_of: Any,
    policy: Union[str, Policy] = "cn-bank",
    repayments: Any = None,
    group_by: Union[str, Sequence[str], None] = None,
    unique_ids: bool = False,
) -> SummaryState:
    """The summary's mergeable state of a book (or of one part of it):
    ``to_bytes()``, ``SummaryState.from_bytes(b)``, ``merge(other)``, and
    ``finish()`` for the summary table. Merging the states of the parts of
    a book gives exactly the summary of the whole, however it was split
    (duplicates are found within each part only)."""
    _, _, state, _, _ = _arrears.run(
        _arrow(book, "book"),
        as_of=_date(as_of),
        policy=_policy(policy),
        repayments=None if repayments is None else _arrow(repayments, "repayments"),
        group_by=_keys(group_by),
        unique_ids=unique_ids,
        results=False,
    )
    return state


def policy(name_or_toml: str) -> Policy:
    """A policy: a preset's name (``arrears.presets()``), a TOML file's
    path, or TOML text, laid over its base preset. ``.toml`` is the policy
    resolved, ``.describe()`` names it. Raises ValueError naming the field
    of a bad policy."""
    return Policy(name_or_toml)


def presets() -> List[str]:
    """The names of the built-in policies."""
    return list(_arrears.presets())


def explain(
    book: Any,
    loan_ids: Union[str, Iterable[str]],
    *,
    as_of: Any,
    policy: Union[str, Policy] = "cn-bank",
    repayments: Any = None,
    book_name: str = "book",
    repayments_name: str = "repayments",
) -> List[dict]:
    """Every step of the named loans' figures: a list of dicts, the same
    structure as ``arrears explain --json`` prints. Raises NotFound naming
    the loan_ids not among the accepted rows."""
    import json

    ids = [loan_ids] if isinstance(loan_ids, str) else list(loan_ids)
    text, missing, accepted, rejected = _arrears.explain(
        _arrow(book, "book"),
        ids,
        as_of=_date(as_of),
        policy=_policy(policy),
        repayments=None if repayments is None else _arrow(repayments, "repayments"),
        book_name=book_name,
        repayments_name=repayments_name,
    )
    if missing:
        raise NotFound(
            f"not found among the {accepted} accepted rows ({rejected} rows were rejected): "
            + ", ".join(missing)
        )
    return json.loads(text)
