"""Breakdowns and trends: every core metric per dimension and per day or week, with their changes; the
most expensive sessions and traces; one trace's calls in order (the dashboard's drill-down).

The metrics are exactly :func:`~agentledger.analytics.metrics.compute_metrics`'s (same canonical queries,
same :func:`~agentledger.analytics.metrics.assemble`), so a breakdown's rows add up to the totals. A time
series broken down by a dimension runs the same one-pass query once, grouped by a composite key
``"<day|week>:<dimension>"`` of the warehouse's allow-list (see ``warehouse.duckdb.series_expressions``).

Changes: a breakdown compares its window with the window of the same length just before it (the last 7
days against the 7 before when no window is given: week over week); a time series compares each bucket
with the previous one of the same key (week over week with ``interval="week"``). For each metric of
:data:`DELTA_METRICS`: ``<m>_prev``, ``<m>_delta`` (current - previous) and ``<m>_change`` (delta /
previous), each null when a side is unknown or the previous value is zero.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import polars as pl

from agentledger.analytics._common import check_choice, normalized, params
from agentledger.analytics.filters import GROUP_BY, Filters
from agentledger.analytics.metrics import METRIC_KEYS, assemble, compute_metrics, metric_families, ratio
from agentledger.core.errors import InputError
from agentledger.warehouse.base import Warehouse

__all__ = [
    "DELTA_METRICS",
    "DIMENSIONS",
    "INTERVALS",
    "SCALAR_METRICS",
    "breakdown",
    "bucket_range",
    "decode_series_key",
    "timeseries",
    "top_sessions",
    "top_traces",
    "trace_calls",
]

INTERVALS = ("day", "week")
DIMENSIONS = tuple(d for d in GROUP_BY if d not in INTERVALS)
SCALAR_METRICS = tuple(k for k in METRIC_KEYS if k != "model_mix")
COUNT_METRICS = frozenset(
    {"calls", "unpriced_calls", "tasks", "completed_tasks", "failed_tasks", "sessions"}
    | {"input_tokens", "output_tokens", "cache_read_tokens"}
)
DELTA_METRICS = (
    "total_cost_usd",
    "calls",
    "tasks",
    "completed_tasks",
    "failed_tasks",
    "cost_per_completed_task_usd",
    "waste_usd",
    "waste_ratio",
    "cache_hit_rate",
    "p95_session_cost_usd",
)
DEFAULT_WINDOW = timedelta(days=7)
Metrics = dict[str, Any]


# -- pure helpers ---------------------------------------------------------------------------------


def metric_schema() -> dict[str, pl.DataType]:
    """Column types of the scalar metrics and their changes."""
    schema: dict[str, pl.DataType] = {
        m: pl.Int64() if m in COUNT_METRICS else pl.Float64() for m in SCALAR_METRICS
    }
    for m in DELTA_METRICS:
        kind = schema[m]
        schema |= {f"{m}_prev": kind, f"{m}_delta": kind, f"{m}_change": pl.Float64()}
    return schema


def changes(current: Metrics, previous: Metrics | None) -> Metrics:
    """``<m>_prev``, ``<m>_delta`` and ``<m>_change`` of every delta metric (None where undefined)."""
    out: Metrics = {}
    for m in DELTA_METRICS:
        now, before = current.get(m), (previous or {}).get(m)
        delta = None if now is None or before is None else now - before
        out |= {f"{m}_prev": before, f"{m}_delta": delta, f"{m}_change": ratio(delta, before)}
    return out


def scalars(metrics: Metrics) -> Metrics:
    """The metric contract without its nested model mix."""
    return {m: metrics.get(m) for m in SCALAR_METRICS}


def empty_metrics() -> Metrics:
    """The metrics of a group without calls: zero cost and counts, no ratios."""
    return assemble(None, None, None, [])


def resolve_window(filters: Filters, now: datetime | None = None) -> Filters:
    """``filters`` with both bounds set: until defaults to now, since to until - 7 days."""
    until = filters.until or (now or datetime.now(UTC))
    since = filters.since or until - DEFAULT_WINDOW
    return replace(filters, since=since, until=until)


def previous_window(filters: Filters) -> Filters:
    """The window of the same length right before ``filters``' (both bounds must be set)."""
    assert filters.since is not None and filters.until is not None
    length = filters.until - filters.since
    return replace(filters, since=filters.since - length, until=filters.since)


def decode_series_key(key: str) -> tuple[date, str | None]:
    """``"2025-01-06:=planner"`` -> (date, "planner"); ``"2025-01-06:"`` -> (date, None)."""
    bucket, _, rest = key.partition(":")
    value = rest[1:] if rest.startswith("=") else None
    return date.fromisoformat(bucket), value


# The most rows a time series served over HTTP returns (buckets x series): empty buckets are rows too, so a
# window of centuries would fill the server's memory. Ten years of days for ten series.
MAX_SERIES_ROWS = 40_000


def bucket_of(moment: datetime, interval: str) -> date:
    """The UTC day, or the Monday of the UTC week, that ``moment`` falls in."""
    day = moment.astimezone(UTC).date()
    return day - timedelta(days=day.weekday()) if interval == "week" else day


def bucket_range(first: date, last: date, interval: str) -> list[date]:
    """Every bucket start from ``first`` to ``last`` inclusive (days, or Mondays)."""
    step = timedelta(days=7 if interval == "week" else 1)
    out, current = [], first
    while current <= last:
        out.append(current)
        current += step
    return out


def _sort_key(value: str | None) -> tuple[bool, str]:
    return (value is None, value or "")


# -- breakdowns -----------------------------------------------------------------------------------


def breakdown(wh: Warehouse, filters: Filters, dim: str, *, now: datetime | None = None) -> pl.DataFrame:
    """Every scalar metric per value of ``dim`` over the window, with its change against the window of
    the same length just before (see the module docstring). A missing bound defaults to the last 7 days.
    ``dim`` ``"day"``/``"week"`` gives the time series instead."""
    if dim in INTERVALS:
        return timeseries(wh, filters, dim)
    check_choice("dim", dim, DIMENSIONS)
    current = resolve_window(filters, now)
    now_groups = {g.pop("key"): g for g in compute_metrics(wh, current, dim)["groups"]}
    before = {g.pop("key"): g for g in compute_metrics(wh, previous_window(current), dim)["groups"]}
    keys = sorted(set(now_groups) | set(before), key=_sort_key)
    rows = []
    for key in keys:
        # The previous window was queried: a key without calls there had zero cost, not an unknown one.
        metrics, previous = now_groups.get(key) or empty_metrics(), before.get(key) or empty_metrics()
        rows.append({"key": key, **scalars(metrics), **changes(metrics, previous)})
    frame = pl.DataFrame(rows, schema={"key": pl.String(), **metric_schema()}, orient="row")
    return frame.sort("total_cost_usd", descending=True, nulls_last=True, maintain_order=True)


def _metrics_by_key(wh: Warehouse, filters: Filters, group: str) -> dict[str, Metrics]:
    """compute_metrics' one-pass query grouped by an allow-listed ``group`` (composite allowed)."""
    return {key: assemble(*rows) for key, rows in metric_families(wh, filters, group).items()}


def _series_cells(wh: Warehouse, filters: Filters, interval: str, dim: str | None) -> dict[tuple, Metrics]:
    """{(dimension value, bucket): metrics} for the buckets that have calls."""
    if dim is None:
        groups = compute_metrics(wh, filters, interval)["groups"]
        return {(None, date.fromisoformat(g.pop("key"))): g for g in groups}
    cells = {}
    for key, metrics in _metrics_by_key(wh, filters, f"{interval}:{dim}").items():
        bucket, value = decode_series_key(key)
        cells[(value, bucket)] = metrics
    return cells


def _span(
    filters: Filters, cells: dict[tuple, Metrics], interval: str, keys: int, max_rows: int | None
) -> list[date]:
    """The buckets to show: the window's when it is bounded, else from the first to the last with calls.

    Raises :class:`InputError` when the series would have more than ``max_rows`` rows (``keys`` series of
    that many buckets): every empty bucket is a row, and a window of centuries is not a chart."""
    present = sorted(b for _, b in cells)
    first = bucket_of(filters.since, interval) if filters.since else (present[0] if present else None)
    until = filters.until - timedelta(microseconds=1) if filters.until else None
    last = bucket_of(until, interval) if until else (present[-1] if present else None)
    if first is None or last is None:
        return []
    count = (last - first).days // (7 if interval == "week" else 1) + 1
    if max_rows is not None and count * max(keys, 1) > max_rows:
        raise InputError(
            f"the {interval} series from {first} to {last} would have {count:,} buckets x {keys:,} series, "
            f"over {max_rows:,} rows: narrow the window (since/until), filter, or use weeks"
        )
    return bucket_range(first, last, interval)


def timeseries(
    wh: Warehouse,
    filters: Filters,
    interval: str = "day",
    dim: str | None = None,
    *,
    max_rows: int | None = None,
) -> pl.DataFrame:
    """Every scalar metric per day or week (and per value of ``dim``), empty buckets included (zero cost,
    no ratios), each with its change against the previous bucket of the same key. With ``max_rows`` (the
    API's :data:`MAX_SERIES_ROWS`), a series that would be longer is an :class:`InputError`."""
    check_choice("interval", interval, INTERVALS)
    check_choice("dim", dim, (None, *DIMENSIONS))
    cells = _series_cells(wh, filters, interval, dim)
    values = sorted({v for v, _ in cells}, key=_sort_key) if cells else []
    buckets = _span(filters, cells, interval, len(values), max_rows)
    rows = []
    for value in values:
        previous = None
        for bucket in buckets:
            metrics = cells.get((value, bucket)) or empty_metrics()
            rows.append({"bucket": bucket, "key": value, **scalars(metrics), **changes(metrics, previous)})
            previous = metrics
    schema = {"bucket": pl.Date(), "key": pl.String(), **metric_schema()}
    frame = pl.DataFrame(rows, schema=schema, orient="row")
    return frame if dim is not None else frame.drop("key")


# -- top sessions and traces, drill-down ----------------------------------------------------------


def top_traces(wh: Warehouse, filters: Filters, limit: int = 10, group_by: str | None = None) -> pl.DataFrame:
    """The ``limit`` most expensive traces (tasks) in scope, per group when ``group_by`` is set: rank,
    trace id, session, agent, task type, user, outcome, calls, tokens, cost, start, end, duration."""
    check_choice("group_by", group_by, (None, *GROUP_BY))
    frame = wh.query("top_traces", params(filters, limit=limit), group=group_by or "none")
    frame = normalized(frame).rename({"group_key": "key"})
    return frame if group_by else frame.drop("key")


def top_sessions(
    wh: Warehouse, filters: Filters, limit: int = 10, group_by: str | None = None
) -> pl.DataFrame:
    """The ``limit`` most expensive sessions in scope (session_id, else the trace), per group when
    ``group_by`` is set: tasks by outcome, calls, tokens, cost, start, end, duration, agent, user."""
    check_choice("group_by", group_by, (None, *GROUP_BY))
    frame = wh.query("top_sessions", params(filters, limit=limit), group=group_by or "none")
    frame = normalized(frame).rename({"group_key": "key"})
    return frame if group_by else frame.drop("key")


def trace_calls(wh: Warehouse, project_id: str, trace_id: str) -> pl.DataFrame:
    """One trace's LLM calls in order: step, span ids, model, tokens, cache reads, cost, latency, status,
    and the task's outcome. Empty when the trace is unknown."""
    frame = wh.query("trace_calls", {"project_id": project_id, "trace_id": trace_id})
    return normalized(frame)
