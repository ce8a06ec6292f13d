"""The embedded default warehouse: one DuckDB file, no server.

Thread safety: a DuckDB connection must not be used from two threads at once, and DuckDB allows one
writing process per file anyway. So the backend keeps ONE connection guarded by a re-entrant lock: every
statement, and every :meth:`DuckDBWarehouse.transaction` block as a whole, runs under it. Writes are
therefore serialized (which also makes an ingest's read-resolve-write step atomic), and reads wait for a
running write instead of failing on a write-write conflict. DuckDB parallelizes each statement itself.

Writes go through Arrow: the batch is registered as a view and copied with one
``INSERT OR REPLACE ... SELECT``, never row by row. Upserts are keyed on (project_id, source, trace_id,
span_id), so writing the same batch twice changes nothing.
"""

from __future__ import annotations

import itertools
import re
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import duckdb
import polars as pl
import pyarrow as pa
from agentledger.core.errors import ConfigError, WarehouseError
from agentledger.core.records import CALL_SCHEMA, SPAN_SCHEMA
from agentledger.warehouse.base import Cursor
from agentledger.warehouse.migrations import Migration, migrate, sql_root

KEY_COLUMNS = ("project_id", "source", "trace_id", "span_id")
CONTEXT_COLUMNS = ("agent_name", "task_type", "session_id", "user_id")
CONTEXT_UPDATE_SCHEMA = pa.schema([(name, pa.string()) for name in KEY_COLUMNS + CONTEXT_COLUMNS])

_SLOT_RE = re.compile(r"\{([a-z_]+)\}")
_PARAM_RE = re.compile(r"\$([A-Za-z_]\w*)")
# Bound parameters per `trace_id IN (...)` probe: large enough for any ingest batch, small enough for the planner.
_IN_CHUNK = 1000


def _key_predicate(left: str, right: str) -> str:
    return " AND ".join(f"{left}.{c} = {right}.{c}" for c in KEY_COLUMNS)


def _placeholders(n: int) -> str:
    return ", ".join(f"${i}" for i in range(1, n + 1))


def database_path(url: str) -> str:
    """The file behind a ``duckdb://`` URL, SQLAlchemy-style.

    ``duckdb:///rel/ledger.duckdb`` is relative to the working directory, ``duckdb:////abs/ledger.duckdb``
    absolute, and ``duckdb:///:memory:`` (or ``duckdb://``) an in-memory database.
    """
    scheme, sep, rest = url.partition("://")
    if scheme.lower() != "duckdb" or not sep:
        raise ConfigError(f"not a DuckDB warehouse URL: {url!r} (expected duckdb:///path/ledger.duckdb)")
    path = rest[1:] if rest.startswith("/") else rest
    path = path.split("?", 1)[0]
    return path or ":memory:"


def sql_fragment(name: str) -> str:
    """A shared piece of canonical SQL, ``sql/queries/fragments/<name>.sql``, for a template slot."""
    path = sql_root() / "queries" / "fragments" / f"{name}.sql"
    if not path.is_file():
        raise WarehouseError(f"no SQL fragment {name!r}: {path} is missing")
    return path.read_text(encoding="utf-8").strip()


def series_expressions(groups: dict[str, str]) -> dict[str, str]:
    """Composite group keys ``"<day|week>:<dimension>"`` for time series broken down by a dimension.

    The value is the bucket, ``:``, then ``=`` and the dimension's value, or nothing when it is NULL, so
    one ``{group}`` slot serves both and the key decodes without loss (ISO dates contain no ``:``).
    """
    buckets = ("day", "week")
    return {
        f"{bucket}:{dim}": f"{groups[bucket]} || ':' || COALESCE('=' || {expr}, '')"
        for bucket in buckets
        for dim, expr in groups.items()
        if dim != "none" and dim not in buckets
    }


class DuckDBWarehouse:
    """The :class:`~agentledger.warehouse.base.Warehouse` protocol on one DuckDB database."""

    dialect: ClassVar[str] = "duckdb"
    capabilities: ClassVar[frozenset[str]] = frozenset({"transactions", "update"})
    migrations_table_ddl: ClassVar[str] = (
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        "version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, applied_at TIMESTAMPTZ NOT NULL)"
    )
    # Allow-list for `{group}` in canonical queries: dimension name -> SQL over the calls alias `c`.
    # Day and week keys are ISO dates (weeks start on Monday, UTC).
    group_expressions: ClassVar[dict[str, str]] = {
        "none": "CAST(NULL AS VARCHAR)",
        "day": "CAST(CAST(date_trunc('day', c.started_at) AS DATE) AS VARCHAR)",
        "week": "CAST(CAST(date_trunc('week', c.started_at) AS DATE) AS VARCHAR)",
        "agent": "c.agent_name",
        "task_type": "c.task_type",
        "user": "c.user_id",
        "feature": "c.feature",
        "model": "c.model",
        "provider": "c.provider",
        "source": "c.source",
        "environment": "c.environment",
    }
    # `{task_outcome}`: the shared CTEs that decide each task's outcome (one definition for every query).
    template_slots: ClassVar[dict[str, dict[str, str]]] = {
        "group": {**group_expressions, **series_expressions(group_expressions)},
        "task_outcome": {"default": sql_fragment("task_outcome")},
    }
    template_defaults: ClassVar[dict[str, str]] = {"group": "none", "task_outcome": "default"}

    def __init__(self, url: str) -> None:
        self.url = url
        self.path = database_path(url)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        try:
            self._con = duckdb.connect(self.path)
        except duckdb.Error as exc:
            raise WarehouseError(f"cannot open DuckDB warehouse {self.path!r}: {exc}") from exc
        # Day/week buckets and timestamp parsing must not depend on the host's time zone.
        self._con.execute("SET TimeZone = 'UTC'")
        self._lock = threading.RLock()
        self._tx_depth = 0
        self._names = itertools.count()
        self._queries: dict[str, str] = {}

    # -- schema ---------------------------------------------------------------------------------

    def migrate(self) -> None:
        """Apply pending ``sql/ddl/duckdb/NNN_*.sql`` files (idempotent)."""
        with self._lock:
            migrate(self, self.dialect)

    def applied_migrations(self) -> set[int]:
        """Versions recorded in ``schema_migrations`` (created here when missing)."""
        with self._lock:
            self._con.execute(self.migrations_table_ddl)
            rows = self._con.execute("SELECT version FROM schema_migrations").fetchall()
        return {int(r[0]) for r in rows}

    def apply_migration(self, migration: Migration) -> None:
        """Run one migration and record it in the same transaction."""
        with self.transaction():
            for statement in migration.statements():
                self._con.execute(statement)
            self._con.execute(
                "INSERT INTO schema_migrations VALUES ($1, $2, $3)",
                [migration.version, migration.name, datetime.now(UTC)],
            )

    # -- transactions ---------------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Hold the connection and run the block as one transaction (nested blocks join the outer one)."""
        with self._lock:
            if self._tx_depth:
                self._tx_depth += 1
                try:
                    yield
                finally:
                    self._tx_depth -= 1
                return
            self._con.execute("BEGIN TRANSACTION")
            self._tx_depth = 1
            try:
                yield
            except BaseException:
                self._tx_depth = 0
                self._con.execute("ROLLBACK")
                raise
            self._tx_depth = 0
            self._con.execute("COMMIT")

    @contextmanager
    def _registered(self, table: pa.Table) -> Iterator[str]:
        name = f"_agentledger_batch_{next(self._names)}"
        self._con.register(name, table)
        try:
            yield name
        finally:
            self._con.unregister(name)

    # -- writes ---------------------------------------------------------------------------------

    def _upsert(self, target: str, columns: list[str], table: pa.Table) -> int:
        missing = [c for c in columns if c not in table.column_names]
        if missing:
            raise WarehouseError(f"cannot write {target}: the Arrow table lacks columns {missing}")
        if table.num_rows == 0:
            return 0
        cols = ", ".join(columns)
        with self.transaction(), self._registered(table) as view:
            self._con.execute(f"INSERT OR REPLACE INTO {target} ({cols}) SELECT {cols} FROM {view}")
        return table.num_rows

    def write_calls(self, table: pa.Table) -> int:
        """Upsert calls (CALL_SCHEMA) on their identity; returns rows written."""
        return self._upsert("calls", CALL_SCHEMA.names, table)

    def write_spans(self, table: pa.Table) -> int:
        """Upsert context spans (SPAN_SCHEMA) on their identity; returns rows written."""
        return self._upsert("spans", SPAN_SCHEMA.names, table)

    def trace_spans(self, traces: Iterable[tuple[str, str, str]]) -> pa.Table:
        """Every stored span (SPAN_SCHEMA) of the given (project_id, source, trace_id) traces.

        One indexed probe per thousand traces, however many traces a batch touches.
        """
        wanted = set(traces)
        if not wanted:
            return SPAN_SCHEMA.empty_table()
        trace_ids = sorted({t[2] for t in wanted})
        cols = ", ".join(SPAN_SCHEMA.names)
        parts = []
        with self._lock:
            for start in range(0, len(trace_ids), _IN_CHUNK):
                chunk = trace_ids[start : start + _IN_CHUNK]
                text = f"SELECT {cols} FROM spans WHERE trace_id IN ({_placeholders(len(chunk))})"
                parts.append(self._con.sql(text, params=chunk).to_arrow_table())
        found = pa.concat_tables(parts).cast(SPAN_SCHEMA)
        # The probe is by trace_id only (that is what the index covers); keep the exact traces asked for.
        keep = [
            (p, s, t) in wanted
            for p, s, t in zip(
                found["project_id"].to_pylist(),
                found["source"].to_pylist(),
                found["trace_id"].to_pylist(),
                strict=True,
            )
        ]
        return found.filter(pa.array(keep, type=pa.bool_()))

    def update_call_context(self, table: pa.Table) -> int:
        """Set the resolved agent/task type/session/user of stored calls, keyed like the calls.

        ``table`` has KEY_COLUMNS + CONTEXT_COLUMNS; a NULL ``task_type`` means "no inherited task type"
        and falls back to the call's own ``operation``. Only rows whose values change are rewritten.
        Returns the number of calls changed.
        """
        if table.num_rows == 0:
            return 0
        table = table.select(list(CONTEXT_UPDATE_SCHEMA.names)).cast(CONTEXT_UPDATE_SCHEMA)
        new_task = "COALESCE(u.task_type, calls.operation)"
        changed = " OR ".join(
            [f"calls.{c} IS DISTINCT FROM u.{c}" for c in ("agent_name", "session_id", "user_id")]
            + [f"calls.task_type IS DISTINCT FROM {new_task}"]
        )
        text = (
            "UPDATE calls SET agent_name = u.agent_name, task_type = {new_task}, "
            "session_id = u.session_id, user_id = u.user_id FROM {view} AS u "
            "WHERE {keys} AND ({changed})"
        )
        with self.transaction(), self._registered(table) as view:
            sql = text.format(
                new_task=new_task, view=view, keys=_key_predicate("calls", "u"), changed=changed
            )
            result = self._con.execute(sql).fetchone()
        return int(result[0]) if result else 0

    # -- reads ----------------------------------------------------------------------------------

    def _query_text(self, name: str) -> str:
        if name not in self._queries:
            if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
                raise WarehouseError(f"invalid query name {name!r}")
            path = sql_root() / "queries" / f"{name}.sql"
            if not path.is_file():
                raise WarehouseError(f"no canonical query {name!r}: {path} is missing")
            self._queries[name] = path.read_text(encoding="utf-8")
        return self._queries[name]

    def render(self, name: str, **template: str) -> str:
        """The text of canonical query ``name`` with its identifier slots filled from the allow-list."""
        values = {**self.template_defaults, **template}

        def fill(match: re.Match[str]) -> str:
            slot = match.group(1)
            allowed = self.template_slots.get(slot)
            if allowed is None:
                raise WarehouseError(f"query {name!r} uses unknown template slot {{{slot}}}")
            choice = values.get(slot)
            if choice not in allowed:
                raise ConfigError(f"{slot}={choice!r} is not allowed; choose one of {sorted(allowed)}")
            return allowed[choice]

        unknown = set(template) - set(self.template_slots)
        if unknown:
            raise ConfigError(f"unknown template slots {sorted(unknown)} for query {name!r}")
        return _SLOT_RE.sub(fill, self._query_text(name))

    def query(self, name: str, params: dict[str, Any] | None = None, **template: str) -> pl.DataFrame:
        """Run canonical query ``sql/queries/<name>.sql`` with bound params; see :meth:`render`."""
        return self.sql(self.render(name, **template), params)

    def sql(self, text: str, params: dict[str, Any] | None = None) -> pl.DataFrame:
        """Run one statement with named ``$param`` parameters; parameters the text does not use are ignored."""
        used = set(_PARAM_RE.findall(text))
        given = params or {}
        missing = used - set(given)
        if missing:
            raise WarehouseError(f"missing query parameters {sorted(missing)}")
        bound = {k: v for k, v in given.items() if k in used}
        with self._lock:
            try:
                relation = self._con.sql(text, params=bound or None)
                return pl.from_arrow(relation.to_arrow_table()) if relation is not None else pl.DataFrame()
            except duckdb.Error as exc:
                raise WarehouseError(f"DuckDB query failed: {exc}") from exc

    # -- cursors --------------------------------------------------------------------------------

    def get_cursor(self, source_key: str) -> Cursor | None:
        """The stored position of a collector, or None before its first run."""
        frame = self.sql(
            "SELECT source_key, value, updated_at, last_run_at, last_error, records "
            "FROM cursors WHERE source_key = $key",
            {"key": source_key},
        )
        if frame.is_empty():
            return None
        return Cursor(**frame.row(0, named=True))

    def set_cursor(self, cursor: Cursor) -> None:
        """Insert or replace a collector's cursor."""
        with self._lock:
            self._con.execute(
                "INSERT OR REPLACE INTO cursors VALUES ($1, $2, $3, $4, $5, $6)",
                [
                    cursor.source_key,
                    cursor.value,
                    cursor.updated_at,
                    cursor.last_run_at,
                    cursor.last_error,
                    cursor.records,
                ],
            )

    def close(self) -> None:
        """Close the connection (checkpointing the file)."""
        with self._lock:
            self._con.close()

    def __enter__(self) -> DuckDBWarehouse:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"DuckDBWarehouse({self.path!r})"
