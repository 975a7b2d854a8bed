"""Type stubs of the Rust extension (python/src/lib.rs)."""

from typing import Any, List, Optional, Sequence, Tuple, final

__all__ = ["Policy", "SummaryState", "Table", "Runner", "run", "explain", "presets", "unmatched_payments"]

@final
class Policy:
    """A policy: a preset's name, a TOML file's path, or TOML text."""

    def __new__(cls, spec: str) -> "Policy": ...
    @property
    def name(self) -> str: ...
    @property
    def base(self) -> str: ...
    @property
    def toml(self) -> str:
        """The policy resolved (its base preset with its own fields over it)."""
    def describe(self) -> str: ...
    def header_name(self, canonical: str) -> str: ...

@final
class Table:
    """An Arrow table exported through ``__arrow_c_stream__``."""

    def __arrow_c_stream__(self, requested_schema: Optional[object] = None) -> object: ...
    def __len__(self) -> int: ...

@final
class SummaryState:
    """The summary's exact, mergeable tallies."""

    def to_bytes(self) -> bytes: ...
    @staticmethod
    def from_bytes(data: bytes) -> "SummaryState": ...
    def merge(self, other: "SummaryState") -> None: ...
    def finish(self) -> Any:
        """The summary table (a pyarrow Table), exactly the command line's."""
    @property
    def loans(self) -> int: ...

@final
class Runner:
    """A book fed in parts (what each Spark partition uses): each part's
    results and rejects as it is computed, the summary state at the end."""

    def __new__(
        cls,
        book: Any,
        *,
        as_of: str,
        policy: "str | Policy",
        repayments: Any = None,
        group_by: Optional[Sequence[str]] = None,
        unique_ids: bool = False,
        book_name: str = "book",
        repayments_name: str = "repayments",
        results: bool = True,
    ) -> "Runner": ...
    def feed(self, part: Any) -> Tuple[Table, Table]: ...
    def summary_state(self) -> SummaryState: ...
    def payment_rejects(self) -> Table: ...
    def payments_seen(self) -> bytes: ...
    @property
    def counts(self) -> Tuple[int, int, int]: ...

def run(
    book: Any,
    *,
    as_of: str,
    policy: "str | Policy",
    repayments: Any = None,
    group_by: Optional[Sequence[str]] = None,
    unique_ids: bool = False,
    book_name: str = "book",
    repayments_name: str = "repayments",
    results: bool = True,
) -> Tuple[Table, Table, SummaryState, Optional[Table], Tuple[int, int, int]]: ...
def explain(
    book: Any,
    loan_ids: List[str],
    *,
    as_of: str,
    policy: "str | Policy",
    repayments: Any = None,
    book_name: str = "book",
    repayments_name: str = "repayments",
) -> Tuple[str, List[str], int, int]: ...
def presets() -> List[str]: ...
def unmatched_payments(
    repayments: Any,
    seen: List[bytes],
    *,
    as_of: str,
    policy: "str | Policy",
    repayments_name: str = "repayments",
) -> Table: ...
