"""Copy a ledger from one warehouse to another (DuckDB -> ClickHouse, or back), resumable.

Rows are read in keyset order of their identity and written with the target's idempotent upsert; after each
batch the position is stored in the target's ``cursors`` table, so a copy that stops resumes after the last
batch it wrote. Counts of both sides are compared at the end.

The state kept beside the ledger travels too (:data:`STATE_TABLES`: API keys, alert states, events and
deliveries, the scheduler's claimed runs, the re-price log), so keys keep working and nothing already sent is
sent again: the rows whose key the target lacks are inserted, and rows the target already has stay as they are.
Stored reports, ledger versions and scheduler leases are not copied (they are recomputed or re-acquired).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pyarrow as pa

from agentledger.core.records import CALL_SCHEMA, SPAN_SCHEMA
from agentledger.warehouse.base import Cursor, Warehouse

KEY = ("project_id", "source", "trace_id", "span_id")
TABLES: dict[str, pa.Schema] = {"calls": CALL_SCHEMA, "spans": SPAN_SCHEMA}
# Small tables of state, with their keys (the primary keys of sql/ddl/duckdb, the ORDER BY of ClickHouse's).
STATE_TABLES: dict[str, tuple[str, ...]] = {
    "api_keys": ("key_id",),
    "alert_state": ("project_id", "alert_key"),
    "alert_events": ("event_id",),
    "alert_deliveries": ("delivery_id",),
    "alert_delivery_attempts": ("delivery_id", "attempt"),
    "scheduler_runs": ("project_id", "job", "run_key"),
    "reprices": ("run_id",),
}
_STATE_BATCH = 100  # rows per INSERT statement (each value is a bound parameter)

_FIRST = "SELECT * FROM {table} ORDER BY project_id, source, trace_id, span_id LIMIT {limit}"
_NEXT = (
    "SELECT * FROM {table} WHERE (project_id, source, trace_id, span_id) > ($p, $s, $t, $sp) "
    "ORDER BY project_id, source, trace_id, span_id LIMIT {limit}"
)


@dataclass
class TableCopy:
    table: str
    copied: int = 0
    source_rows: int = 0
    target_rows: int = 0

    @property
    def ok(self) -> bool:
        return self.source_rows == self.target_rows


@dataclass
class CopyReport:
    tables: list[TableCopy] = field(default_factory=list)
    cursors: int = 0
    state: dict[str, int] = field(default_factory=dict)  # state table -> rows inserted into the target

    @property
    def ok(self) -> bool:
        return all(t.ok for t in self.tables)


def copy_ledger(
    source: Warehouse,
    target: Warehouse,
    *,
    source_label: str,
    batch_rows: int = 50_000,
    progress: Callable[[str, int], None] | None = None,
) -> CopyReport:
    """Copy calls, spans and collector cursors from ``source`` to ``target``; resumes a stopped copy.

    ``source_label`` names the source in the stored positions (pass a URL without its password).
    """
    report = CopyReport()
    for table, schema in TABLES.items():
        report.tables.append(_copy_table(source, target, table, schema, source_label, batch_rows, progress))
    report.cursors = _copy_cursors(source, target)
    report.state = {table: _copy_state(source, target, table, key) for table, key in STATE_TABLES.items()}
    return report


def _position_key(table: str, source_label: str) -> str:
    return f"migrate:{table}:{source_label}"


def _copy_table(
    source: Warehouse,
    target: Warehouse,
    table: str,
    schema: pa.Schema,
    source_label: str,
    batch_rows: int,
    progress: Callable[[str, int], None] | None,
) -> TableCopy:
    result = TableCopy(table)
    position_key = _position_key(table, source_label)
    stored = target.get_cursor(position_key)
    last = json.loads(stored.value) if stored and stored.value else None
    limit = int(batch_rows)  # an int from our own signature: the one value formatted into the text
    while True:
        if last is None:
            frame = source.sql(_FIRST.format(table=table, limit=limit))
        else:
            params = dict(zip(("p", "s", "t", "sp"), last, strict=True))
            frame = source.sql(_NEXT.format(table=table, limit=limit), params)
        if frame.is_empty():
            break
        batch = frame.to_arrow().select(schema.names).cast(schema)
        (target.write_calls if table == "calls" else target.write_spans)(batch)
        last = [frame[name][-1] for name in KEY]
        result.copied += frame.height
        target.set_cursor(
            Cursor(
                position_key,
                json.dumps(last),
                updated_at=datetime.now(UTC),
                last_run_at=datetime.now(UTC),
                records=result.copied,
            )
        )
        if progress:
            progress(table, frame.height)
        if frame.height < limit:
            break
    result.source_rows = _count(source, table)
    result.target_rows = _count(target, table)
    return result


def _count(wh: Warehouse, table: str) -> int:
    return int(wh.sql(f"SELECT count(*) AS n FROM {table}")["n"][0])  # table from TABLES, never user input


def _copy_cursors(source: Warehouse, target: Warehouse) -> int:
    """Collectors' positions travel with their data, so incremental syncs go on where they were."""
    frame = source.sql("SELECT source_key FROM cursors WHERE source_key NOT LIKE 'migrate:%'")
    copied = 0
    for key in frame["source_key"].to_list():
        cursor = source.get_cursor(key)
        if cursor is not None:
            target.set_cursor(cursor)
            copied += 1
    return copied


def _copy_state(source: Warehouse, target: Warehouse, table: str, key: tuple[str, ...]) -> int:
    """Insert the rows of ``table`` whose key the target lacks; returns how many (table and key are ours)."""
    rows = source.sql(f"SELECT * FROM {table}")
    if rows.is_empty():
        return 0
    stored = set(target.sql(f"SELECT {', '.join(key)} FROM {table}").rows())
    missing = [row for row in rows.iter_rows(named=True) if tuple(row[k] for k in key) not in stored]
    columns = rows.columns
    for start in range(0, len(missing), _STATE_BATCH):
        batch = missing[start : start + _STATE_BATCH]
        params = {f"{c}_{i}": row[c] for i, row in enumerate(batch) for c in columns}
        values = ", ".join("(" + ", ".join(f"${c}_{i}" for c in columns) + ")" for i in range(len(batch)))
        target.sql(f"INSERT INTO {table} ({', '.join(columns)}) VALUES {values}", params)
    return len(missing)
