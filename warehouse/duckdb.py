"""The embedded default warehouse: one DuckDB file, no server.

Thread safety: a DuckDB connection must not be used from two threads at once, and DuckDB allows one
writing process per file anyway. So the backend keeps ONE connection guarded by a re-entrant lock: every
statement, and every :meth:`DuckDBWarehouse.transaction` block as a whole, runs under it. Writes are
therefore serialized (which also makes an ingest's read-resolve-write step atomic), and reads wait for a
running write instead of failing on a write-write conflict. DuckDB parallelizes each statement itself.

Writes go through Arrow: the batch is registered as a view and copied with one ``INSERT ... SELECT``,
never row by row. Upserts are keyed on (project_id, source, trace_id, span_id), so writing the same batch
twice changes nothing; they delete the stored rows of the batch's identities, found by trace id, and insert,
because DuckDB's ``INSERT OR REPLACE`` slows down with the size of the table (see :meth:`_write`).
"""

from __future__ import annotations

import itertools
import re
import threading
import weakref
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from agentledger.core.errors import ConfigError, WarehouseError
from agentledger.core.records import CALL_SCHEMA, SPAN_SCHEMA
from agentledger.warehouse import stored_traces
from agentledger.warehouse.base import Cursor, DuplicateKeyError, new_ledger_version, projects_of
from agentledger.warehouse.migrations import Migration, migrate, sql_root

KEY_COLUMNS = ("project_id", "source", "trace_id", "span_id")
CONTEXT_COLUMNS = ("agent_name", "task_type", "session_id", "user_id")
CONTEXT_UPDATE_SCHEMA = pa.schema([(name, pa.string()) for name in KEY_COLUMNS + CONTEXT_COLUMNS])

CHECKPOINT_THRESHOLD = "256MB"  # of WAL between automatic checkpoints (DuckDB's default: 16MB)

_SLOT_RE = re.compile(r"\{([a-z_]+)\}")
_PARAM_RE = re.compile(r"\$([A-Za-z_]\w*)")


def _key_predicate(left: str, right: str) -> str:
    return " AND ".join(f"{left}.{c} = {right}.{c}" for c in KEY_COLUMNS)


# Up to this many trace ids, a look-up in `spans` spells them out (see _span_trace_filter).
INDEX_LOOKUP_IDS = 32


def _span_trace_filter(trace_ids: list[str]) -> tuple[str, list[Any]]:
    """The predicate selecting the ``spans`` rows of ``trace_ids``, with its positional parameters.

    ``trace_id IN (?, ?, ...)`` is answered from the trace-id index: about 1 ms a statement and 0.15 ms per
    trace that has spans (each hit fetches its rows), whatever the size of the table. ``trace_id = ANY(?)`` with
    a list is planned as a semi-join over a scan of the whole column: 2-7 ms at 10^5 spans, 12-14 ms at 10^6.
    The ids asked for are those that have spans (see :meth:`DuckDBWarehouse._with_stored_spans`), so the index
    wins up to about 32 of them at 10^5 spans and more at 10^6; past ``INDEX_LOOKUP_IDS`` the scan is used.
    """
    if len(trace_ids) <= INDEX_LOOKUP_IDS:
        return f"trace_id IN ({', '.join('?' * len(trace_ids))})", list(trace_ids)
    return "trace_id = ANY(?)", [trace_ids]


def _trace_ids(table: pa.Table) -> list[str]:
    """The distinct trace ids of a keyed Arrow table, for a look-up by trace id."""
    return pc.unique(table["trace_id"]).drop_null().to_pylist()


def _with_keys(table: pa.Table, wanted: set[tuple[str, ...]]) -> pa.Table:
    """The rows of ``table`` whose leading key columns (as many as the wanted tuples have) are in ``wanted``."""
    if table.num_rows == 0:
        return table
    width = len(next(iter(wanted)))
    columns = [table[name].to_pylist() for name in KEY_COLUMNS[:width]]
    keep = [key in wanted for key in zip(*columns, strict=True)]
    return table.filter(pa.array(keep, type=pa.bool_()))


def _last_per_key(table: pa.Table) -> pa.Table:
    """``table`` with one row per identity, the last one winning (like a second write would)."""
    if table.group_by(list(KEY_COLUMNS)).aggregate([]).num_rows == table.num_rows:
        return table
    numbered = table.append_column("_row", pa.array(range(table.num_rows), type=pa.int64()))
    last = numbered.group_by(list(KEY_COLUMNS)).aggregate([("_row", "max")])["_row_max"]
    return table.take(pc.take(last, pc.sort_indices(last)))  # in the original order


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


def database_file(url: str) -> Path | None:
    """The file a ``duckdb://`` URL opens (``~`` expanded, as DuckDB does), or None for an in-memory one."""
    path = database_path(url)
    return None if path == ":memory:" else Path(path).expanduser()


# A DuckDB database file carries these bytes after its 8-byte checksum.
_DUCKDB_MAGIC = b"DUCK"


def _refuse_other_files(file: Path) -> None:
    """A path that holds something else than a DuckDB database (a CSV export, a folder) is an error: DuckDB
    would open an empty database in memory instead, and every figure would read $0."""
    if file.is_dir():
        raise WarehouseError(f"cannot open DuckDB warehouse {str(file)!r}: it is a directory, not a file")
    try:
        with file.open("rb") as handle:
            head = handle.read(12)
    except FileNotFoundError:
        return  # a new ledger
    except OSError as exc:
        raise WarehouseError(f"cannot open DuckDB warehouse {str(file)!r}: {exc.strerror or exc}") from None
    if head and head[8:12] != _DUCKDB_MAGIC:
        raise WarehouseError(f"cannot open DuckDB warehouse {str(file)!r}: the file is not a DuckDB database")


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


# Group key "period": two adjacent windows in one query, split at the bound parameter $split (before it:
# "previous", from it on: "current"); see analytics.metrics.compare_metrics.
PERIOD_EXPRESSION = "CASE WHEN c.started_at < $split THEN 'previous' ELSE 'current' END"


def period_expressions(groups: dict[str, str]) -> dict[str, str]:
    """Group key ``"period"`` and composites ``"period:<dimension>"``, encoded like :func:`series_expressions`'
    (``current:=planner``; ``current:`` when the dimension's value is NULL)."""
    composites = {
        f"period:{dim}": f"{PERIOD_EXPRESSION} || ':' || COALESCE('=' || {expr}, '')"
        for dim, expr in groups.items()
        if dim != "none"
    }
    return {"period": PERIOD_EXPRESSION, **composites}


class DuckDBWarehouse:
    """The :class:`~agentledger.warehouse.base.Warehouse` protocol on one DuckDB database."""

    dialect: ClassVar[str] = "duckdb"
    # "insert_new": new_rows() and stored_span_keys() exist (see warehouse/base.py and the pipeline).
    capabilities: ClassVar[frozenset[str]] = frozenset({"transactions", "update", "insert_new"})
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
    # `{task_outcome}`: the shared CTEs that decide each task's outcome (one definition for every query);
    # `{call_filters}`: the condition selecting the calls `c` in scope of the analytics filters.
    template_slots: ClassVar[dict[str, dict[str, str]]] = {
        "group": {
            **group_expressions,
            **series_expressions(group_expressions),
            **period_expressions(group_expressions),
        },
        "task_outcome": {"default": sql_fragment("task_outcome")},
        "call_filters": {"default": sql_fragment("call_filters")},
    }
    template_defaults: ClassVar[dict[str, str]] = {
        "group": "none",
        "task_outcome": "default",
        "call_filters": "default",
    }

    def __init__(self, url: str) -> None:
        self.url = url
        self.path = database_path(url)
        if self.path != ":memory:":
            file = Path(self.path).expanduser()  # DuckDB expands ~ too
            _refuse_other_files(file)
            file.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._con = duckdb.connect(self.path)
        except duckdb.Error as exc:
            raise WarehouseError(f"cannot open DuckDB warehouse {self.path!r}: {exc}") from exc
        # Day/week buckets and timestamp parsing must not depend on the host's time zone.
        self._con.execute("SET TimeZone = 'UTC'")
        # A checkpoint's cost grows with the tables (it writes the indexes out): at the default 16 MB of WAL
        # it ran every few ingest batches and took most of the write time (0.5-2.5 s each at 300k spans).
        # Checkpointing every 256 MB costs a longer WAL replay after a crash, never lost data.
        self._con.execute(f"SET checkpoint_threshold = '{CHECKPOINT_THRESHOLD}'")
        self._lock = threading.RLock()
        self._tx_depth = 0
        self._rows_are_new = False  # inside new_rows(): plain inserts
        self._touched: set[str] = set()  # projects written in the open transaction (stamped at its commit)
        # Registered views to drop once an aborted transaction is rolled back (see _registered).
        self._stale_views: list[str] = []
        self._names = itertools.count()
        self._queries: dict[str, str] = {}
        # Which trace ids have stored spans, shared with this process's other connections to the file; released
        # once, at close() or when this object is collected unclosed (DuckDB then releases the file too).
        key = stored_traces.key_of(self.path)
        self._stored_traces: stored_traces.StoredTraces | None = stored_traces.shared(key)
        self._release_traces = weakref.finalize(self, stored_traces.release, key)

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
                self._stamp_versions()
            except BaseException:
                self._tx_depth = 0
                self._touched.clear()
                self._con.execute("ROLLBACK")
                self._drop_stale_views()
                raise
            self._tx_depth = 0
            self._con.execute("COMMIT")

    def _stamp_versions(self) -> None:
        """A new ledger version for every project written in this transaction, inside it."""
        if not self._touched:
            return
        now = datetime.now(UTC)
        for project_id in sorted(self._touched):
            # UPDATE, then INSERT the first time: a quarter of the cost of INSERT OR REPLACE's conflict path
            # (0.4 ms against 1.7 ms per transaction)
            row = {"p": project_id, "v": new_ledger_version(), "t": now}
            updated = self._con.execute(
                "UPDATE ledger_versions SET version = $v, changed_at = $t WHERE project_id = $p", row
            ).fetchone()
            if not updated or not updated[0]:
                self._con.execute(
                    "INSERT INTO ledger_versions (project_id, version, changed_at) VALUES ($p, $v, $t)", row
                )
        self._touched.clear()

    def _drop_stale_views(self) -> None:
        while self._stale_views:
            self._con.unregister(self._stale_views.pop())

    @contextmanager
    def _registered(self, table: pa.Table) -> Iterator[str]:
        name = f"_agentledger_batch_{next(self._names)}"
        self._con.register(name, table)
        try:
            yield name
        finally:
            try:
                self._con.unregister(name)
            except duckdb.TransactionException:
                # A failed statement aborted the transaction: unregister after its ROLLBACK, and let the
                # statement's own error propagate rather than this one.
                self._stale_views.append(name)

    # -- writes ---------------------------------------------------------------------------------

    @contextmanager
    def new_rows(self) -> Iterator[None]:
        """Within the block, ``write_calls``/``write_spans`` insert without looking for stored identities.

        For callers that know none of the identities they write is stored (the pipeline, from the span rows
        of the batch's traces); one that is raises :class:`~agentledger.warehouse.base.DuplicateKeyError`
        and the enclosing transaction is lost. Holds the connection for the whole block.
        """
        with self._lock:
            previous, self._rows_are_new = self._rows_are_new, True
            try:
                yield
            finally:
                self._rows_are_new = previous

    def _write(self, target: str, schema: pa.Schema, table: pa.Table) -> int:
        """Upsert ``table`` into ``target`` as DELETE of the stored identities + one plain INSERT.

        ``INSERT OR REPLACE`` costs a conflict probe per row that grows with the table (~100 us/row at 3M
        rows, far more per replaced row), while a plain INSERT stays at a few us/row: so the stored rows of
        the batch are found first (by trace id, see :meth:`_stored_rowids`) and deleted, then all rows go in
        with one INSERT. Inside :meth:`new_rows` the lookup is skipped.
        """
        missing = [c for c in schema.names if c not in table.column_names]
        if missing:
            raise WarehouseError(f"cannot write {target}: the Arrow table lacks columns {missing}")
        if table.num_rows == 0:
            return 0
        cols = ", ".join(schema.names)
        with self.transaction():
            new = self._rows_are_new
            if not new:
                table = _last_per_key(table)
            with self._registered(table) as view:
                self._insert(target, cols, view, table, new=new)
            if target == "spans" and self._stored_traces is not None:
                self._stored_traces.add(_trace_ids(table))
            self._touched.update(projects_of(table))
        return table.num_rows

    def _with_stored_spans(self, trace_ids: Iterable[str]) -> list[str]:
        """The trace ids that may have stored spans (see :mod:`agentledger.warehouse.stored_traces`)."""
        if self._stored_traces is None:
            raise WarehouseError(f"the DuckDB warehouse {self.path!r} is closed")
        return self._stored_traces.may_have_spans(trace_ids, self._stored_trace_prints)

    def _stored_trace_prints(self) -> Any:
        table = self._con.sql(stored_traces.LOAD_SQL).to_arrow_table()
        return table["fingerprint"].to_numpy()

    def _insert(self, target: str, cols: str, view: str, table: pa.Table, *, new: bool) -> None:
        if not new:
            rowids = self._stored_rowids(target, view, _trace_ids(table))
            if rowids:
                self._con.execute(f"DELETE FROM {target} WHERE rowid = ANY($rowids)", {"rowids": rowids})
        try:
            self._con.execute(f"INSERT INTO {target} ({cols}) SELECT {cols} FROM {view}")
        except duckdb.ConstraintException as exc:
            if not new:
                raise
            # Most likely a stored identity after all; any other violation shows again on the caller's retry.
            raise DuplicateKeyError(f"rows written as new into {target} violate a constraint: {exc}") from exc

    def _stored_rowids(self, target: str, view: str, trace_ids: list[str]) -> list[int]:
        """Row ids of the stored rows of ``target`` that share an identity with a row of ``view``.

        The probe filters on the trace ids first: an index lookup on ``spans`` (see
        :func:`_span_trace_filter`) and a single column scan on ``calls``, then joins the few rows found on the
        full identity.
        """
        if target == "spans":
            trace_ids = self._with_stored_spans(trace_ids)
            if not trace_ids:
                return []
        where, params = (
            _span_trace_filter(trace_ids) if target == "spans" else ("trace_id = ANY(?)", [trace_ids])
        )
        sql = (
            f"WITH stored AS MATERIALIZED (SELECT rowid AS rid, {', '.join(KEY_COLUMNS)} FROM {target} "
            f"WHERE {where}) "
            f"SELECT s.rid FROM stored AS s SEMI JOIN {view} AS b ON {_key_predicate('s', 'b')}"
        )
        return [row[0] for row in self._con.execute(sql, params).fetchall()]

    def write_calls(self, table: pa.Table) -> int:
        """Upsert calls (CALL_SCHEMA) on their identity; returns rows written (see :meth:`new_rows`)."""
        return self._write("calls", CALL_SCHEMA, table)

    def write_spans(self, table: pa.Table) -> int:
        """Upsert context spans (SPAN_SCHEMA) on their identity; returns rows written (see :meth:`new_rows`)."""
        return self._write("spans", SPAN_SCHEMA, table)

    def stored_span_keys(self, traces: Iterable[tuple[str, str, str]]) -> set[tuple[str, str, str, str]]:
        """Identities of the stored spans of the given (project_id, source, trace_id) traces: one index probe.

        Every call the pipeline writes has a span row with the same identity, so these keys also tell which
        of a batch's calls may be stored already.
        """
        wanted = set(traces)
        if not wanted:
            return set()
        with self._lock:
            trace_ids = self._with_stored_spans(sorted({t[2] for t in wanted}))
            if not trace_ids:
                return set()
            where, params = _span_trace_filter(trace_ids)
            rows = self._con.execute(
                f"SELECT {', '.join(KEY_COLUMNS)} FROM spans WHERE {where}", params
            ).fetchall()
        return {row for row in rows if row[:3] in wanted}

    def stored_calls(self, keys: Iterable[tuple[str, str, str, str]]) -> pa.Table:
        """The stored calls (CALL_SCHEMA) with the given identities: one scan of the trace and span id columns."""
        wanted = set(keys)
        if not wanted:
            return CALL_SCHEMA.empty_table()
        text = (
            f"SELECT {', '.join(CALL_SCHEMA.names)} FROM calls "
            "WHERE trace_id = ANY($trace_ids) AND span_id = ANY($span_ids)"
        )
        params = {"trace_ids": sorted({k[2] for k in wanted}), "span_ids": sorted({k[3] for k in wanted})}
        with self._lock:
            found = self._con.sql(text, params=params).to_arrow_table().cast(CALL_SCHEMA)
        return _with_keys(found, wanted)

    def trace_spans(self, traces: Iterable[tuple[str, str, str]]) -> pa.Table:
        """Every stored span (SPAN_SCHEMA) of the given (project_id, source, trace_id) traces.

        One statement, an index look-up (see :func:`_span_trace_filter`), however many traces a batch touches.
        """
        wanted = set(traces)
        if not wanted:
            return SPAN_SCHEMA.empty_table()
        with self._lock:
            trace_ids = self._with_stored_spans(sorted({t[2] for t in wanted}))
            if not trace_ids:
                return SPAN_SCHEMA.empty_table()
            where, params = _span_trace_filter(trace_ids)
            text = f"SELECT {', '.join(SPAN_SCHEMA.names)} FROM spans WHERE {where}"
            found = self._con.sql(text, params=params).to_arrow_table()
        # The probe is by trace_id only (that is what the index covers); keep the exact traces asked for.
        return _with_keys(found.cast(SPAN_SCHEMA), wanted)

    def update_call_context(self, table: pa.Table) -> int:
        """Set the resolved agent/task type/session/user of stored calls, keyed like the calls.

        ``table`` has KEY_COLUMNS + CONTEXT_COLUMNS; a NULL ``task_type`` means "no inherited task type"
        and falls back to the call's stored ``operation``. Only rows whose values change are rewritten.
        Returns the number of calls changed.

        The changed rows are found first, restricted to the update's traces, and then rewritten by row id:
        an ``UPDATE ... FROM`` joined on the identity would scan and hash the whole ``calls`` table.
        """
        if table.num_rows == 0:
            return 0
        table = table.select(list(CONTEXT_UPDATE_SCHEMA.names)).cast(CONTEXT_UPDATE_SCHEMA)
        new_task = "COALESCE(u.task_type, c.operation)"
        changed = " OR ".join(
            [f"c.{col} IS DISTINCT FROM u.{col}" for col in ("agent_name", "session_id", "user_id")]
            + [f"c.task_type IS DISTINCT FROM {new_task}"]
        )
        find = (
            f"WITH c AS MATERIALIZED (SELECT rowid AS rid, {', '.join(KEY_COLUMNS + CONTEXT_COLUMNS)}, operation "
            "FROM calls WHERE trace_id = ANY($trace_ids)) "
            f"SELECT c.rid, u.agent_name, {new_task} AS task_type, u.session_id, u.user_id "
            "FROM c JOIN {view} AS u ON {keys} WHERE {changed}"
        )
        with self.transaction(), self._registered(table) as view:
            sql = find.format(view=view, keys=_key_predicate("c", "u"), changed=changed)
            changes = self._con.sql(sql, params={"trace_ids": _trace_ids(table)}).to_arrow_table()
            if changes.num_rows == 0:
                return 0
            with self._registered(changes) as rows:
                self._con.execute(
                    f"UPDATE calls SET agent_name = x.agent_name, task_type = x.task_type, "
                    f"session_id = x.session_id, user_id = x.user_id FROM {rows} AS x WHERE calls.rowid = x.rid"
                )
            self._touched.update(projects_of(table))
        return changes.num_rows

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
            self._stored_traces = None
            self._release_traces()  # once, however often close() is called

    def __enter__(self) -> DuckDBWarehouse:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"DuckDBWarehouse({self.path!r})"
