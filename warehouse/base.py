"""The warehouse protocol every backend implements (DuckDB embedded, ClickHouse/chDB at scale).

Backends differ in dialect and capabilities, which are data on the class (``dialect``, ``capabilities``),
never ``if dialect == ...`` in callers. Values are always bound as parameters.

Optional capability ``insert_new``: ``stored_span_keys(traces)`` returns the identities of the stored spans of
those traces, and inside ``with new_rows():`` ``write_calls``/``write_spans`` insert without looking for stored
identities (the caller knows there are none; :class:`DuplicateKeyError` otherwise). The ingest pipeline uses
them to skip the upsert's lookups for the rows it knows are new.
"""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

import polars as pl
import pyarrow as pa

from agentledger.core.errors import WarehouseError


class DuplicateKeyError(WarehouseError):
    """Rows written as new (``new_rows()``, backends with the ``insert_new`` capability) met a stored identity.

    The transaction is lost; the caller retries the batch as a plain upsert.
    """


@dataclass(frozen=True, slots=True)
class Cursor:
    """A collector's position in its source, stored in the warehouse beside the data it covers."""

    source_key: str  # e.g. "langfuse:https://cloud.langfuse.com"
    value: str | None  # opaque to the warehouse: a timestamp, a page token
    updated_at: datetime | None = None
    last_run_at: datetime | None = None
    last_error: str | None = None
    records: int = 0


@runtime_checkable
class Warehouse(Protocol):
    dialect: str  # sqlglot dialect name: "duckdb", "clickhouse"
    url: str

    def migrate(self) -> None:
        """Create or upgrade the schema (idempotent; applies sql/ddl/<dialect>/NNN_*.sql in order)."""

    def write_calls(self, table: pa.Table) -> int:
        """Upsert calls (CALL_SCHEMA) on (project_id, source, trace_id, span_id); returns rows written."""

    def write_spans(self, table: pa.Table) -> int:
        """Upsert context spans (SPAN_SCHEMA) on the same identity."""

    def query(self, name: str, params: dict[str, Any] | None = None, **template: str) -> pl.DataFrame:
        """Run the canonical query sql/queries/<name>.sql with bound params.

        ``template`` fills identifier slots such as ``{group_expr}`` from an allow-list, never values.
        """

    def sql(self, text: str, params: dict[str, Any] | None = None) -> pl.DataFrame:
        """Run one statement of this backend's dialect with bound params (internal use and tests)."""

    def transaction(self) -> AbstractContextManager[None]:
        """Run a block of reads and writes as one unit: all or nothing where the engine has transactions,
        and never interleaved with another ingest of this warehouse object. Blocks may nest."""

    def trace_spans(self, traces: Iterable[tuple[str, str, str]]) -> pa.Table:
        """Every stored span (SPAN_SCHEMA) of the given (project_id, source, trace_id) traces, in one query."""

    def stored_calls(self, keys: Iterable[tuple[str, str, str, str]]) -> pa.Table:
        """The stored calls (CALL_SCHEMA) with the given (project_id, source, trace_id, span_id) identities."""

    def update_call_context(self, table: pa.Table) -> int:
        """Set agent_name, task_type, session_id, user_id of stored calls from ``table`` (key columns + those);
        a NULL task_type falls back to the call's ``operation``. Returns the number of calls changed."""

    def get_cursor(self, source_key: str) -> Cursor | None: ...

    def set_cursor(self, cursor: Cursor) -> None: ...

    def close(self) -> None: ...
