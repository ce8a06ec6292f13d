"""The warehouse protocol every backend implements (DuckDB embedded, ClickHouse/chDB at scale).

Backends differ in dialect and capabilities, which are data on the class (``dialect``, ``capabilities``),
never ``if dialect == ...`` in callers. Values are always bound as parameters.

Optional capability ``insert_new``: ``stored_span_keys(traces)`` returns the identities of the stored spans of
those traces, and inside ``with new_rows():`` ``write_calls``/``write_spans`` insert without looking for stored
identities (the caller knows there are none; :class:`DuplicateKeyError` otherwise). The ingest pipeline uses
them to skip the upsert's lookups for the rows it knows are new.

Every write of calls or spans (``write_calls``, ``write_spans``, ``update_call_context`` that changes a row) gives
the projects it touches a new version in ``ledger_versions`` (:func:`ledger_version`), in the same transaction
where the engine has them: stored results computed from the ledger (``analytics/snapshots.py``) are current
while the version they were computed at is.
"""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, runtime_checkable
from urllib.parse import quote, unquote
from uuid import uuid4

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

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


_DEFAULT_PROJECT = "default"
_PROJECT_PREFIX = "project:"


def cursor_key(source_key: str, project_id: str) -> str:
    """The cursor of one source read into one project, so that one source read into two projects keeps two.

    The default project's cursor is the source's own key (as cursors were named before projects); another
    project's is ``project:<id> <source key>``, the id percent-encoded so that a space in it cannot be taken
    for the end of the id (an id of letters, digits, ``.``, ``_`` and ``-`` is written as it is).
    """
    if project_id == _DEFAULT_PROJECT:
        return source_key
    return f"{_PROJECT_PREFIX}{quote(project_id, safe='', errors='surrogatepass')} {source_key}"


def cursor_project(key: str) -> str:
    """The project a cursor of :func:`cursor_key` belongs to."""
    if key.startswith(_PROJECT_PREFIX):
        return unquote(key[len(_PROJECT_PREFIX) :].split(" ", 1)[0], errors="surrogatepass")
    return _DEFAULT_PROJECT


@runtime_checkable
class Warehouse(Protocol):
    dialect: str  # sqlglot dialect name: "duckdb", "clickhouse"
    url: str

    def migrate(self) -> None:
        """Create or upgrade the schema (idempotent; applies sql/ddl/<dialect>/NNN_*.sql in order)."""

    def write_calls(self, table: pa.Table) -> int:
        """Upsert calls (CALL_SCHEMA) on (project_id, source, trace_id, span_id); returns rows written.
        Stamps a new ledger version for their projects."""

    def write_spans(self, table: pa.Table) -> int:
        """Upsert context spans (SPAN_SCHEMA) on the same identity. Stamps a new ledger version for their
        projects."""

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
        a NULL task_type falls back to the call's ``operation``. Returns the number of calls changed. Stamps
        a new ledger version for their projects when any changed."""

    def get_cursor(self, source_key: str) -> Cursor | None: ...

    def set_cursor(self, cursor: Cursor) -> None: ...

    def close(self) -> None: ...


# -- shared by the backends and the stores ----------------------------------------------------------


def projects_of(table: pa.Table) -> list[str]:
    """The distinct ``project_id`` values of a batch of calls or spans (sorted)."""
    if table.num_rows == 0:
        return []
    return sorted(v for v in pc.unique(table["project_id"]).to_pylist() if v is not None)


def new_ledger_version() -> str:
    """A fresh change token for ``ledger_versions`` (random: tokens are compared, never ordered)."""
    return uuid4().hex


def ledger_version(warehouse: Warehouse, project_id: str) -> str | None:
    """The change token of ``project_id``'s calls and spans; None when they were never written since the
    ``ledger_versions`` table exists (an empty ledger, or one written before it)."""
    rows = warehouse.sql(
        "SELECT version FROM ledger_versions WHERE project_id = $project_id", {"project_id": project_id}
    )
    return None if rows.is_empty() else str(rows["version"][0])


def upsert_statement(warehouse: Warehouse, table: str, columns: list[str]) -> str:
    """A full-row upsert of ``columns`` into ``table`` keyed by its primary key, values bound as ``$column``:
    ``INSERT OR REPLACE`` where the engine updates in place, a plain insert where upserts are versioned inserts
    (``versioned_upsert``: a ReplacingMergeTree read FINAL)."""
    capabilities = getattr(warehouse, "capabilities", frozenset())
    verb = "INSERT INTO" if "versioned_upsert" in capabilities else "INSERT OR REPLACE INTO"
    return f"{verb} {table} ({', '.join(columns)}) VALUES ({', '.join(f'${c}' for c in columns)})"
