"""Where the ledger's data comes from: collector cursors, calls per source, and the span of time covered.

These read the canonical queries ``sources``, ``source_activity``, ``data_extent`` and ``dimension_values`` of
``sql/queries/``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import polars as pl

from agentledger.warehouse.base import Warehouse, cursor_project

__all__ = [
    "FILTER_DIMENSIONS",
    "DataExtent",
    "data_extent",
    "dimension_values",
    "list_sources",
    "source_activity",
]

# The dimensions dimension_values() lists (the dashboard's filters).
FILTER_DIMENSIONS = ("agent", "task_type", "model", "environment")


@dataclass(frozen=True)
class DataExtent:
    """How many calls a project holds and when the first and last of them started (None when empty)."""

    calls: int
    first_call_at: datetime | None
    last_call_at: datetime | None

    @property
    def empty(self) -> bool:
        """True when the project has no calls at all."""
        return self.calls == 0


def list_sources(wh: Warehouse, project_id: str = "default") -> pl.DataFrame:
    """The collector cursors of ``project_id`` (source_key, value, updated_at, last_run_at, last_error, records),
    and the last failure of each source entry that could not be built (a variable not set), under its name.

    A source read into several projects has a cursor per project (see :func:`~agentledger.warehouse.base.cursor_key`).
    """
    frame = wh.query("sources", {})
    if frame.is_empty():
        return frame
    mine = [cursor_project(key) == project_id for key in frame["source_key"].to_list()]
    # A row with no cursor, no run and no error says nothing: the cleared failure of a source entry that
    # could not be built then (see agentledger.ingest.sync.sync_all).
    said_nothing = (
        pl.col("value").is_null() & pl.col("last_run_at").is_null() & pl.col("last_error").is_null()
    )
    return frame.filter(pl.Series(mine, dtype=pl.Boolean)).filter(~said_nothing)


def source_activity(wh: Warehouse, project_id: str = "default") -> pl.DataFrame:
    """Per source: calls, unpriced calls, first and last call time, and the latest ingest time."""
    return wh.query("source_activity", {"project_id": project_id})


def data_extent(wh: Warehouse, project_id: str = "default") -> DataExtent:
    """The number of calls of ``project_id`` and the time span they cover."""
    row = wh.query("data_extent", {"project_id": project_id}).row(0, named=True)
    return DataExtent(
        calls=int(row["calls"] or 0),
        first_call_at=row["first_call_at"],
        last_call_at=row["last_call_at"],
    )


def dimension_values(wh: Warehouse, project_id: str = "default") -> dict[str, list[str]]:
    """Per filter dimension (:data:`FILTER_DIMENSIONS`), every non-empty value of the project's calls, most
    expensive first (unpriced counted as 0; ties by value): what a filter can be set to. One query."""
    frame = wh.query("dimension_values", {"project_id": project_id})
    costs: dict[str, list[tuple[float, str]]] = {dim: [] for dim in FILTER_DIMENSIONS}
    for row in frame.iter_rows(named=True):
        costs[row["dimension"]].append((-(row["cost_usd"] or 0.0), row["value"]))
    return {dim: [value for _, value in sorted(entries)] for dim, entries in costs.items()}
