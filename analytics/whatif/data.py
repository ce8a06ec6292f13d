"""The edge of the what-if replay: the window it covers and the calls it reads from the warehouse."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import polars as pl

from agentledger.analytics.filters import Filters
from agentledger.warehouse.base import Warehouse

__all__ = ["DEFAULT_WINDOW_DAYS", "MONTH_DAYS", "Window", "load_calls", "resolve_window", "with_trace_keys"]

DEFAULT_WINDOW_DAYS = 30
MONTH_DAYS = 30  # a "month" of savings: the window's saving scaled to 30 days
_SECONDS_PER_DAY = 86_400.0

_ORDER = ["started_at", "source", "trace_id", "span_id"]  # a call's identity is unique: no ties
_INT_COLUMNS = (
    "input_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "output_tokens",
    "reasoning_tokens",
    "max_tokens",
    "step",
)


@dataclass(frozen=True)
class Window:
    """The replayed period [since, until) and how a saving over it scales to a month."""

    since: datetime
    until: datetime

    @property
    def days(self) -> float:
        """Length of the window in days."""
        return (self.until - self.since).total_seconds() / _SECONDS_PER_DAY

    def monthly(self, usd: float) -> float:
        """``usd`` saved over the window, scaled to 30 days (a window under one day counts as one day,
        so a burst of traffic is not multiplied into a fantasy)."""
        return usd * MONTH_DAYS / max(self.days, 1.0)

    def to_dict(self) -> dict[str, Any]:
        """The window as JSON: ISO timestamps and its length in days."""
        return {"since": self.since.isoformat(), "until": self.until.isoformat(), "days": self.days}


def resolve_window(wh: Warehouse, filters: Filters, default_days: int = DEFAULT_WINDOW_DAYS) -> Window:
    """The window to replay: the given since/until, defaulting to the last ``default_days`` of data.

    ``until`` defaults to just after the project's last call, ``since`` to ``default_days`` before it but
    not before the first call (a ledger a week old is a week of history, not three weeks of zeros).
    """
    extent = wh.query("data_extent", {"project_id": filters.project_id}).row(0, named=True)
    first, last = extent["first_call_at"], extent["last_call_at"]
    until = filters.until
    if until is None:
        until = last + timedelta(microseconds=1) if last is not None else datetime.now(UTC)
    since = filters.since
    if since is None:
        since = until - timedelta(days=default_days)
        if first is not None and since < first < until:
            since = first
    return Window(since=_utc(since), until=_utc(until))


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def load_calls(wh: Warehouse, filters: Filters, window: Window) -> pl.DataFrame:
    """The calls of ``window`` passing ``filters`` (``sql/queries/whatif_calls.sql``, one project's), with
    stable types whatever the backend (token counts and steps as Int64, costs as Float64) and their trace keys
    (:func:`with_trace_keys`), ordered by start time then identity (source, trace, span): the order the
    replay walks caches in."""
    scoped = replace(filters, since=window.since, until=window.until)
    frame = wh.query("whatif_calls", scoped.params())
    casts = [pl.col(name).cast(pl.Int64) for name in _INT_COLUMNS if name in frame.columns]
    casts.append(pl.col("cost_usd").cast(pl.Float64))
    frame = with_trace_keys(frame.with_columns(casts).sort(_ORDER))
    # The query numbers only the calls of traces partly out of scope; the others are all their trace's calls
    # here, and their position among its rows (in start-time order, as sorted) is their step.
    position = pl.Series("step", _positions(frame["trace_index"].to_numpy()), dtype=pl.Int64)
    return frame.with_columns(pl.coalesce(pl.col("step"), position).alias("step"))


def with_trace_keys(calls: pl.DataFrame) -> pl.DataFrame:
    """``calls`` with the key of their trace (``trace_key``: source and trace id, a trace within a project)
    and the same as an integer (``trace_index``: grouping by it costs a fraction of grouping by the strings);
    calls that have them keep them."""
    if {"trace_key", "trace_index"}.issubset(calls.columns):
        return calls
    key = pl.concat_str([pl.col("source"), pl.col("trace_id")], separator="\x1f")
    return calls.with_columns(key.alias("trace_key")).with_columns(
        pl.col("trace_key").cast(pl.Categorical).to_physical().alias("trace_index")
    )


def _positions(trace: np.ndarray) -> np.ndarray:
    """1, 2, ... for each trace's rows (``trace``: one integer per trace) in the rows' order."""
    n = trace.size
    order = np.argsort(trace, kind="stable")  # trace by trace, each in the rows' order
    ordered = trace[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]]) if n else np.zeros(0, dtype=np.int64)
    positions = np.empty(n, dtype=np.int64)
    positions[order] = np.arange(1, n + 1) - np.repeat(starts, np.diff(np.r_[starts, n]))
    return positions
