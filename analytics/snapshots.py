"""Stored results of heavy analytics, valid while the ledger they were computed from is unchanged.

A snapshot is a row of ``snapshots`` (``sql/ddl/<dialect>/007_snapshots.sql``): the JSON of a result under
(project, kind, key), where ``key`` digests everything the result depends on besides the data (filters,
options, the cost policy, the price overrides, the code and price catalog versions), and the project's
ledger version it was computed at (:func:`~agentledger.warehouse.base.ledger_version`, changed by every
write of its calls or spans). :func:`cached` returns the stored result while the version is current and computes, stores and
returns a new one otherwise, so a stored result is never older than the data, unless the caller accepts one
up to ``max_age`` old (the dashboard, whose reports a background refresh keeps that fresh while data keeps
arriving). The version is read before the data, so a write during the computation leaves a snapshot that
is stale at once, never a current one that misses rows.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from agentledger.core.errors import TransientError, WarehouseError
from agentledger.warehouse.base import Warehouse, ledger_version, upsert_statement

__all__ = ["Snapshot", "cached", "digest", "read_snapshot", "write_snapshot"]

log = logging.getLogger(__name__)

T = TypeVar("T")

# How long a snapshot of an earlier ledger version is kept (DuckDB; ClickHouse drops every snapshot after 30
# days): longer than any max_age a caller accepts.
STALE_KEPT = timedelta(days=1)

_COLUMNS = ["project_id", "kind", "key", "ledger_version", "computed_at", "seconds", "payload"]


@dataclass(frozen=True)
class Snapshot:
    """One stored result: its JSON, the ledger version it was computed at, when, and how long it took."""

    payload: str
    ledger_version: str | None
    computed_at: datetime
    seconds: float


def digest(inputs: dict[str, Any]) -> str:
    """The key of a result's inputs: hex SHA-256 of their canonical JSON (dates as ISO text)."""
    text = json.dumps(
        inputs, sort_keys=True, default=lambda v: v.isoformat() if hasattr(v, "isoformat") else str(v)
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def read_snapshot(wh: Warehouse, project_id: str, kind: str, key: str) -> Snapshot | None:
    """The stored result of (``project_id``, ``kind``, ``key``), current or not; None when there is none."""
    rows = wh.sql(
        "SELECT payload, ledger_version, computed_at, seconds FROM snapshots "
        "WHERE project_id = $project_id AND kind = $kind AND key = $key",
        {"project_id": project_id, "kind": kind, "key": key},
    )
    if rows.is_empty():
        return None
    row = rows.row(0, named=True)
    return Snapshot(
        payload=row["payload"],
        ledger_version=row["ledger_version"],
        computed_at=row["computed_at"],
        seconds=float(row["seconds"]),
    )


def write_snapshot(
    wh: Warehouse, project_id: str, kind: str, key: str, version: str | None, payload: str, seconds: float
) -> None:
    """Store a result computed at ledger ``version`` (replacing the previous one of the same key)."""
    row = {
        "project_id": project_id,
        "kind": kind,
        "key": key,
        "ledger_version": version,
        "computed_at": datetime.now(UTC),
        "seconds": seconds,
        "payload": payload,
    }
    if "versioned_upsert" not in getattr(wh, "capabilities", frozenset()):
        # Versions are random and never come back: the project's snapshots computed at another version than
        # its current one are served only while young enough for a caller's max_age, so after a day they go
        # (the key written is replaced by the upsert below).
        wh.sql(
            "DELETE FROM snapshots WHERE project_id = $project_id AND kind = $kind AND key <> $key "
            "AND computed_at < $expired AND ledger_version IS DISTINCT FROM "
            "(SELECT version FROM ledger_versions WHERE project_id = $project_id)",
            {"project_id": project_id, "kind": kind, "key": key, "expired": row["computed_at"] - STALE_KEPT},
        )
    wh.sql(upsert_statement(wh, "snapshots", _COLUMNS), row)


def cached(
    wh: Warehouse,
    project_id: str,
    kind: str,
    inputs: dict[str, Any],
    compute: Callable[[], T],
    encode: Callable[[T], str],
    decode: Callable[[str], T],
    max_age: timedelta | None = None,
) -> T:
    """``compute()``, or its stored result when the inputs and the project's ledger are those it was computed
    from, or (with ``max_age``) when it was computed less than ``max_age`` ago whatever was written since.
    A new result is stored; a warehouse that refuses the write (read-only) still gets the result."""
    key = digest({"kind": kind, **inputs})
    version = ledger_version(wh, project_id)
    stored = read_snapshot(wh, project_id, kind, key)
    if stored is not None and (
        stored.ledger_version == version
        or (max_age is not None and stored.computed_at >= datetime.now(UTC) - max_age)
    ):
        try:
            return decode(stored.payload)
        except ValueError as exc:  # written by a build whose result had another shape: compute it again
            log.warning("the stored %s snapshot of project %s is unreadable: %s", kind, project_id, exc)
    began = time.perf_counter()
    result = compute()
    seconds = time.perf_counter() - began
    try:
        write_snapshot(wh, project_id, kind, key, version, encode(result), seconds)
    except (WarehouseError, TransientError) as exc:
        log.warning("could not store the %s snapshot of project %s: %s", kind, project_id, exc)
    return result
