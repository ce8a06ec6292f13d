"""The ClickHouse backend: the scale path, behind the same :class:`Warehouse` protocol as DuckDB.

It reaches the engine through :mod:`agentledger.warehouse.chclient` (a server over clickhouse-connect, or chDB
in-process), so one class serves ``clickhouse://``, ``clickhouses://`` and ``chdb://`` URLs.

How the DuckDB semantics are kept:

- **Upserts** are inserts into ``ReplacingMergeTree`` tables keyed by the identity (project_id, source,
  trace_id, span_id); the backend stamps every written row with a newer version (``ingested_at``), so a
  re-insert supersedes the earlier row. Nothing is ever mutated in place (no ``ALTER UPDATE``).
- **Reads de-duplicate** with the ``final`` setting on every session (see ``chclient.SESSION_SETTINGS``): each
  table read is ``FINAL``, i.e. only the newest version of each identity, in every query, join and subquery,
  including ad-hoc ``sql()``. Chosen over ``argMax`` / ``LIMIT 1 BY`` because those need every query rewritten
  per table, and a forgotten rewrite double-counts silently; ``FINAL`` cannot be forgotten.
- **Queries** are the canonical ``sql/queries/<name>.sql`` transpiled by :mod:`agentledger.warehouse.dialect`,
  unless ``sql/queries/clickhouse/<name>.sql`` overrides it; results come back as polars DataFrames with the
  column types DuckDB gives (:mod:`agentledger.warehouse.chtypes`). A canonical INSERT runs as a command.
- **Ad-hoc SQL** (``sql()``) is ClickHouse text with ``{name:Type}`` parameters, or ``$name`` ones typed from
  their values, so the simple statements other modules write for DuckDB run here unchanged.
- **Transactions** do not exist: ``transaction()`` serializes this process's writers, and a block cut short
  leaves only whole, idempotent inserts that the retried ingest supersedes.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar

import polars as pl
import pyarrow as pa

from agentledger.core.errors import ConfigError, WarehouseError
from agentledger.core.records import CALL_SCHEMA, SPAN_SCHEMA
from agentledger.warehouse.base import Cursor, new_ledger_version, projects_of
from agentledger.warehouse.chclient import ChClient, SerializedClient, open_client, redact_url
from agentledger.warehouse.chtypes import to_polars
from agentledger.warehouse.dialect import (
    bind_dollar_params,
    clickhouse_values_as_select,
    is_command,
    to_clickhouse,
    transpile_expression,
)
from agentledger.warehouse.duckdb import DuckDBWarehouse
from agentledger.warehouse.migrations import Migration, migrate, sql_root

IDENTITY = ("project_id", "source", "trace_id", "span_id")
CONTEXT_COLUMNS = ("agent_name", "task_type", "session_id", "user_id")
VERSION_COLUMN = "ingested_at"
_TS = pa.timestamp("us", tz="UTC")
# Traces per `IN {traces:Array(...)}` probe: bounds the size of one request (parameters travel in its body).
_IN_CHUNK = 5000

# Identifier slots of the canonical queries (`{group}`) and their allowed expressions, in canonical SQL: one
# allow-list for every backend, kept by the canonical (DuckDB) backend.
TEMPLATE_SLOTS: dict[str, dict[str, str]] = DuckDBWarehouse.template_slots
TEMPLATE_DEFAULTS: dict[str, str] = DuckDBWarehouse.template_defaults
_SLOT = re.compile(r"\{([a-z_]+)\}")
_QUERY_NAME = re.compile(r"[a-z][a-z0-9_]*")

# Bookkeeping of applied migrations; created before any migration runs, so it lives here and not in sql/ddl.
SCHEMA_MIGRATIONS_DDL = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version     Int64,
    name        String,
    applied_at  DateTime64(6, 'UTC')
)
ENGINE = ReplacingMergeTree
ORDER BY version
"""

CURSOR_COLUMNS = ("source_key", "value", "updated_at", "last_run_at", "last_error", "records")
CURSOR_SCHEMA = pa.schema(
    [
        ("source_key", pa.string()),
        ("value", pa.string()),
        ("updated_at", _TS),
        ("last_run_at", _TS),
        ("last_error", pa.string()),
        ("records", pa.int64()),
    ]
)


class VersionClock:
    """Strictly increasing UTC microsecond timestamps: two writes in one microsecond still order."""

    def __init__(self) -> None:
        self._last = datetime.min.replace(tzinfo=UTC)
        self._lock = threading.Lock()

    def next(self) -> datetime:
        with self._lock:
            now = datetime.now(UTC)
            self._last = max(now, self._last + timedelta(microseconds=1))
            return self._last


class ClickHouseWarehouse:
    """ClickHouse (server or chDB) behind the :class:`~agentledger.warehouse.base.Warehouse` protocol."""

    dialect: ClassVar[str] = "clickhouse"
    # What callers may rely on, as data (see warehouse/base.py): no transactions, upserts are versioned inserts.
    capabilities: ClassVar[frozenset[str]] = frozenset({"versioned_upsert", "dedup_on_read"})

    def __init__(self, url: str, client: ChClient | None = None) -> None:
        self.url = redact_url(url)
        self._client = SerializedClient(client if client is not None else open_client(url))
        self._lock = self._client.lock
        self._clock = VersionClock()

    # ------------------------------------------------------------------------------------ schema

    def migrate(self) -> None:
        """Apply the pending ``sql/ddl/clickhouse`` migrations (idempotent)."""
        migrate(self, self.dialect)

    def applied_migrations(self) -> set[int]:
        """Versions already applied; creates the bookkeeping table when missing."""
        self._client.command(SCHEMA_MIGRATIONS_DDL)
        rows = self._client.query_arrow("SELECT version FROM schema_migrations")
        return {int(v) for v in rows.column("version").to_pylist()}

    def apply_migration(self, migration: Migration) -> None:
        """Run one migration's statements, then record it.

        ClickHouse has no transactional DDL: a migration interrupted half-way is re-run from its start, so
        every statement in sql/ddl/clickhouse is written to be re-runnable (IF NOT EXISTS).
        """
        for statement in migration.statements():
            self._client.command(statement)
        self._client.command(
            "INSERT INTO schema_migrations (version, name, applied_at) "
            "VALUES ({version:Int64}, {name:String}, {applied_at:DateTime64(6, 'UTC')})",
            {"version": migration.version, "name": migration.name, "applied_at": self._clock.next()},
        )

    # ------------------------------------------------------------------------------------ writes

    def write_calls(self, table: pa.Table) -> int:
        """Upsert calls (CALL_SCHEMA) on the identity; every row gets a new version. Returns rows written."""
        return self._write_versioned("calls", table, CALL_SCHEMA)

    def write_spans(self, table: pa.Table) -> int:
        """Upsert context spans (SPAN_SCHEMA) on the identity; returns rows written."""
        return self._write_versioned("spans", table, SPAN_SCHEMA)

    def _write_versioned(self, name: str, table: pa.Table, schema: pa.Schema) -> int:
        rows = conform(table, schema)
        if rows.num_rows == 0:
            return 0
        rows = dedupe_last(rows, IDENTITY)
        with self._lock:  # versions are stamped in insert order
            version = pa.array([self._clock.next()] * rows.num_rows, type=_TS)
            if VERSION_COLUMN in rows.column_names:
                rows = rows.set_column(rows.schema.get_field_index(VERSION_COLUMN), VERSION_COLUMN, version)
            else:
                rows = rows.append_column(VERSION_COLUMN, version)
            # ClickHouse has no transactions: the projects get a new version before the rows (a write that
            # fails after it only costs a recomputation) and again after them (a report computed from a read
            # between the two is stale at once, never current with rows missing).
            projects = projects_of(rows)
            self._stamp_versions(projects)
            self._client.insert_arrow(name, rows)
            self._stamp_versions(projects)
        return rows.num_rows

    def _stamp_versions(self, projects: list[str]) -> None:
        """A new ledger version for each of ``projects`` (see warehouse/base.py)."""
        self._client.insert_arrow(
            "ledger_versions",
            pa.table(
                {
                    "project_id": pa.array(projects, type=pa.string()),
                    "version": pa.array([new_ledger_version() for _ in projects], type=pa.string()),
                    "changed_at": pa.array([self._clock.next()] * len(projects), type=_TS),
                }
            ),
        )

    def trace_spans(self, traces: Iterable[tuple[str, str, str]]) -> pa.Table:
        """Every stored span (SPAN_SCHEMA) of the given (project_id, source, trace_id) traces."""
        return self._rows_of_traces("spans", SPAN_SCHEMA, traces)

    def stored_calls(self, keys: Iterable[tuple[str, str, str, str]]) -> pa.Table:
        """The stored calls (CALL_SCHEMA) with the given (project_id, source, trace_id, span_id) identities."""
        return self._rows_of_keys("calls", CALL_SCHEMA, keys, width=4)

    def update_call_context(self, table: pa.Table) -> int:
        """Set the resolved agent/task type/session/user of stored calls, keyed like the calls.

        Same contract as the DuckDB backend: a NULL ``task_type`` falls back to the call's ``operation``, only
        calls whose values change are rewritten, and the count of changed calls is returned. The changed calls
        are re-inserted whole with a newer version (no mutation).
        """
        if table.num_rows == 0:
            return 0
        updates = pl.from_arrow(table.select([*IDENTITY, *CONTEXT_COLUMNS]))
        assert isinstance(updates, pl.DataFrame)
        # Read whole traces (a prefix of the sorting key: an index range each); the join keeps the calls asked for.
        stored = pl.from_arrow(
            self._rows_of_traces("calls", CALL_SCHEMA, updates.select(IDENTITY[:3]).rows())
        )
        assert isinstance(stored, pl.DataFrame)
        changed = apply_context(stored, updates)
        if changed.is_empty():
            return 0
        return self._write_versioned("calls", changed.to_arrow(), CALL_SCHEMA)

    def _rows_of_traces(self, name: str, schema: pa.Schema, traces: Iterable[tuple[str, ...]]) -> pa.Table:
        return self._rows_of_keys(name, schema, traces, width=3)

    def _rows_of_keys(
        self, name: str, schema: pa.Schema, keys: Iterable[tuple[str, ...]], width: int
    ) -> pa.Table:
        """The rows whose first ``width`` identity columns are one of ``keys`` (an index range each)."""
        columns = ", ".join(IDENTITY[:width])
        sql = (
            f"SELECT {', '.join(schema.names)} FROM {name} "
            f"WHERE ({columns}) IN {{keys:Array(Tuple({', '.join(['String'] * width)}))}}"
        )
        parts = [schema.empty_table()]
        for chunk in chunked(sorted(set(keys)), _IN_CHUNK):
            parts.append(self._client.query_arrow(sql, {"keys": chunk}).cast(schema))
        return pa.concat_tables(parts)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Serialize a read-resolve-write block against other writers of this process.

        ClickHouse has no multi-statement transactions (capabilities say so): the block is not atomic, but a
        block cut short leaves only whole, idempotent inserts, and re-ingesting the batch completes it.
        """
        with self._lock:
            yield

    # ------------------------------------------------------------------------------------ reads

    def render(self, name: str, **template: str) -> str:
        """The text of query ``name`` with its identifier slots filled (see :meth:`_source`)."""
        return self._source(name, **template)[0]

    def _source(self, name: str, **template: str) -> tuple[str, bool]:
        """The text of query ``name`` with its slots filled, and whether it is canonical (to transpile).

        ``sql/queries/clickhouse/<name>.sql`` wins over the canonical ``sql/queries/<name>.sql``. Slots take
        expressions from the canonical allow-list, transpiled when they go into an override.
        """
        override = query_path(name, self.dialect)
        if override.is_file():
            return fill_slots(name, _read(override), template, transpile_slots=True), False
        canonical = query_path(name, None)
        if not canonical.is_file():
            raise WarehouseError(f"no canonical query {name!r}: {canonical} is missing")
        return fill_slots(name, _read(canonical), template, transpile_slots=False), True

    def query(self, name: str, params: dict[str, Any] | None = None, **template: str) -> pl.DataFrame:
        """Run query ``name`` (override, or canonical transpiled) with bound params; see :meth:`render`."""
        text, canonical = self._source(name, **template)
        if not canonical:
            return self.sql(text, params)
        transpiled, bound = to_clickhouse(text, params)
        if not transpiled.returns_rows:
            self._client.command(transpiled.sql, bound)
            inserted = transpiled.inserted_rows
            return pl.DataFrame() if inserted is None else pl.DataFrame({"Count": [inserted]})
        return to_polars(self._client.query_arrow(transpiled.sql, bound), transpiled.kinds)

    def sql(self, text: str, params: dict[str, Any] | None = None) -> pl.DataFrame:
        """Run one ClickHouse statement with bound parameters, written ``{name:Type}`` in ``text``.

        ``$name`` placeholders work too (typed from the value), so a simple statement written for DuckDB
        runs unchanged; every read is de-duplicated either way.
        """
        bound_text, bound = bind_dollar_params(text, params)
        if is_command(bound_text):
            if bound:  # a server substitutes parameters in a SELECT, not in VALUES data
                bound_text = clickhouse_values_as_select(bound_text)
            self._client.command(bound_text, bound)
            return pl.DataFrame()
        return to_polars(self._client.query_arrow(bound_text, bound))

    # ------------------------------------------------------------------------------------ cursors

    def get_cursor(self, source_key: str) -> Cursor | None:
        """The stored position of a collector, or None before its first run."""
        columns = ", ".join(CURSOR_COLUMNS)
        rows = self._client.query_arrow(
            f"SELECT {columns} FROM cursors WHERE source_key = {{key:String}}", {"key": source_key}
        ).to_pylist()
        return Cursor(**rows[0]) if rows else None

    def set_cursor(self, cursor: Cursor) -> None:
        """Store a collector's position (replaces the previous one)."""
        row = {name: [getattr(cursor, name)] for name in CURSOR_COLUMNS}
        self._client.insert_arrow("cursors", pa.table(row, schema=CURSOR_SCHEMA))

    def close(self) -> None:
        """Close the connection (or the chDB session; another directory can be opened afterwards)."""
        self._client.close()

    def __enter__(self) -> ClickHouseWarehouse:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"ClickHouseWarehouse({self.url!r})"


# ---------------------------------------------------------------------------------------------- helpers


def chunked(items: list[Any], size: int) -> Iterator[list[Any]]:
    """Consecutive slices of at most ``size`` items."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def apply_context(stored: pl.DataFrame, updates: pl.DataFrame) -> pl.DataFrame:
    """The stored calls whose agent/task type/session/user change under ``updates``, with the new values.

    A NULL task type in ``updates`` means "nothing inherited": the call's own ``operation`` applies.
    """
    joined = stored.join(updates, on=list(IDENTITY), how="inner", suffix="_new")
    joined = joined.with_columns(task_type_new=pl.coalesce("task_type_new", "operation"))
    differs = pl.any_horizontal(pl.col(c).ne_missing(pl.col(f"{c}_new")) for c in CONTEXT_COLUMNS)
    changed = joined.filter(differs)
    return changed.with_columns(pl.col(f"{c}_new").alias(c) for c in CONTEXT_COLUMNS).select(stored.columns)


def conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """The columns of ``schema`` in its order and types; a missing column is an error naming it."""
    missing = [n for n in schema.names if n not in table.column_names]
    if missing:
        raise WarehouseError(f"cannot write rows: the Arrow table lacks columns {missing}")
    return table.select(schema.names).cast(schema)


def dedupe_last(table: pa.Table, keys: tuple[str, ...]) -> pa.Table:
    """Keep the last row of each identity in a batch: within one insert the engine could keep either."""
    identity = pl.from_arrow(table.select(list(keys)))
    assert isinstance(identity, pl.DataFrame)
    if not identity.is_duplicated().any():
        return table
    last = identity.with_row_index("row").unique(subset=list(keys), keep="last", maintain_order=True)
    return table.take(pa.array(last["row"].to_list(), type=pa.int64()))


def query_path(name: str, dialect: str | None) -> Path:
    """``sql/queries/<name>.sql``, or its dialect override ``sql/queries/<dialect>/<name>.sql``."""
    if not _QUERY_NAME.fullmatch(name):
        raise WarehouseError(f"invalid query name {name!r}")
    folder = sql_root() / "queries"
    return (folder / dialect if dialect else folder) / f"{name}.sql"


@lru_cache(maxsize=128)
def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def fill_slots(name: str, text: str, template: dict[str, str], *, transpile_slots: bool) -> str:
    """Fill ``{slot}`` identifier slots from the canonical allow-list (never values).

    The allow-list is the canonical backend's (DuckDB SQL); ``transpile_slots`` turns the chosen expression
    into ClickHouse SQL for override files, which are ClickHouse text.
    """
    unknown = set(template) - set(TEMPLATE_SLOTS)
    if unknown:
        raise ConfigError(f"unknown template slots {sorted(unknown)} for query {name!r}")
    values = {**TEMPLATE_DEFAULTS, **template}

    def fill(match: re.Match[str]) -> str:
        slot = match.group(1)
        allowed = TEMPLATE_SLOTS.get(slot)
        if allowed is None:
            raise WarehouseError(f"query {name!r} uses unknown template slot {{{slot}}}")
        choice = values.get(slot)
        if choice not in allowed:
            raise ConfigError(f"{slot}={choice!r} is not allowed; choose one of {sorted(allowed)}")
        return transpile_expression(allowed[choice]) if transpile_slots else allowed[choice]

    return _SLOT.sub(fill, text)
