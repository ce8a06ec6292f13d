"""The core FinOps metrics, exactly as defined in DESIGN.md "Metric definitions".

Aggregates are computed in the warehouse by the canonical queries in ``sql/queries/``: one per metric
family (``call_totals``, ``task_outcomes``, ``session_costs``, ``model_mix``), and ``metrics``, which computes
all four in one pass (one scan of the calls in scope, the task outcomes once) for :func:`compute_metrics`;
this module only divides and shapes them (:func:`compare_metrics` and :func:`compare_call_totals` read a
window and the one just before it in one pass, grouped by period). The result of :func:`compute_metrics` is
the JSON contract of ``agentledger metrics --json``:

- money is USD; unpriced calls are counted in ``unpriced_calls`` and left out of every cost sum (a sum
  over rows that are all unpriced is null, a sum over no rows is 0);
- a ratio whose denominator is zero (or whose numerator is unknown) is null, never 0 or NaN;
- with ``group_by`` the result is ``{"groups": [{"key": ..., <same keys>}, ...]}``, ordered by key.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import time
from typing import Any

import polars as pl

from agentledger.analytics.filters import GROUP_BY, Filters, check_group_by
from agentledger.core.errors import InputError
from agentledger.warehouse.base import Warehouse

__all__ = [
    "GROUP_BY",
    "METRIC_KEYS",
    "Filters",
    "call_totals",
    "compare_call_totals",
    "compare_metrics",
    "compute_metrics",
    "daily_totals",
    "families_by",
    "metric_families",
    "model_mix",
    "overview_series",
    "period_families",
    "session_costs",
    "task_outcomes",
    "waste_breakdown",
]

METRIC_KEYS = (
    "total_cost_usd",
    "calls",
    "unpriced_calls",
    "tasks",
    "completed_tasks",
    "failed_tasks",
    "cost_per_completed_task_usd",
    "avg_completed_task_cost_usd",
    "waste_usd",
    "waste_ratio",
    "cache_hit_rate",
    "response_cache_hit_rate",
    "sessions",
    "p95_session_cost_usd",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "model_mix",
)

Row = dict[str, Any]


# -- warehouse reads: one canonical query per family, rows keyed by group ---------------------------


def _by_group(frame: pl.DataFrame) -> dict[str | None, Row]:
    return {row["group_key"]: row for row in frame.iter_rows(named=True)}


def call_totals(wh: Warehouse, filters: Filters, group_by: str | None = None) -> dict[str | None, Row]:
    """Calls, unpriced calls, cost, tokens and response-cache counts per group."""
    return _by_group(wh.query("call_totals", filters.params(), group=check_group_by(group_by)))


def task_outcomes(wh: Warehouse, filters: Filters, group_by: str | None = None) -> dict[str | None, Row]:
    """Tasks by outcome, and the cost of completed tasks, failed tasks and failed calls, per group."""
    return _by_group(wh.query("task_outcomes", filters.params(), group=check_group_by(group_by)))


def session_costs(wh: Warehouse, filters: Filters, group_by: str | None = None) -> dict[str | None, Row]:
    """Sessions and the P95 of per-session cost, per group."""
    return _by_group(wh.query("session_costs", filters.params(), group=check_group_by(group_by)))


def model_mix(wh: Warehouse, filters: Filters, group_by: str | None = None) -> dict[str | None, list[Row]]:
    """Per group, the rows of (model, provider) with calls, tokens and cost (shares not yet computed)."""
    frame = wh.query("model_mix", filters.params(), group=check_group_by(group_by))
    groups: dict[str | None, list[Row]] = {}
    for row in frame.iter_rows(named=True):
        groups.setdefault(row.pop("group_key"), []).append(row)
    return groups


# Columns of the `metrics` query: the model mix row's own (renamed to model_mix's names), then the group's.
_MIX_COLUMNS = {
    "model": "model",
    "provider": "provider",
    "model_calls": "calls",
    "model_input_tokens": "input_tokens",
    "model_output_tokens": "output_tokens",
    "model_cost_usd": "cost_usd",
}
_TOTALS_COLUMNS = (
    "calls",
    "unpriced_calls",
    "total_cost_usd",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "response_cache_hits",
    "response_cache_known",
)
_TASKS_COLUMNS = (
    "tasks",
    "completed_tasks",
    "failed_tasks",
    "completed_cost_usd",
    "completed_calls",
    "failed_task_cost_usd",
    "failed_task_calls",
    "failed_call_cost_usd",
    "failed_call_calls",
)
_SESSIONS_COLUMNS = ("sessions", "p95_session_cost_usd")


# Per group key: its call totals, tasks and sessions rows and its model mix rows.
Families = dict[str | None, tuple[Row, Row, Row, list[Row]]]


def metric_families(wh: Warehouse, filters: Filters, group: str) -> Families:
    """The four metric families per group from the one-pass ``metrics`` query; ``group`` is a template
    value of the warehouse's allow-list (a dimension, "none", or a composite series key)."""
    return _families(wh.query("metrics", filters.params(), group=group))


def families_by(
    frame: pl.DataFrame, keys: tuple[str, ...]
) -> dict[tuple[Any, ...], tuple[Row, Row, Row, list[Row]]]:
    """The four metric families per group of rows shaped like the ``metrics`` query's, the group named by the
    tuple of the rows' ``keys`` columns (``weekly_report``: dimension, period and key)."""
    families: dict[tuple[Any, ...], tuple[Row, Row, Row, list[Row]]] = {}
    for row in frame.iter_rows(named=True):
        key = tuple(row[k] for k in keys)
        if key not in families:
            families[key] = (
                {c: row[c] for c in _TOTALS_COLUMNS},
                {c: row[c] for c in _TASKS_COLUMNS},
                {c: row[c] for c in _SESSIONS_COLUMNS},
                [],
            )
        families[key][3].append({name: row[column] for column, name in _MIX_COLUMNS.items()})
    return families


def _families(frame: pl.DataFrame) -> Families:
    return {key: families for (key,), families in families_by(frame, ("group_key",)).items()}


# -- pure arithmetic ------------------------------------------------------------------------------


def ratio(numerator: float | int | None, denominator: float | int | None) -> float | None:
    """numerator / denominator, or None when either is unknown or the denominator is zero."""
    if numerator is None or denominator is None or denominator == 0:
        return None
    return float(numerator) / float(denominator)


def money(total: float | None, rows: int) -> float | None:
    """A cost sum: 0.0 over no rows, None when every row was unpriced, else the sum of the priced ones."""
    if rows == 0:
        return 0.0
    return None if total is None else float(total)


def _int(value: Any) -> int:
    return 0 if value is None else int(value)


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def _mix_order(entry: Row) -> tuple[bool, float, int, str, str]:
    cost = entry["cost_usd"]
    return (
        cost is None,
        -(cost or 0.0),
        -entry["calls"],
        entry["model"] or "\uffff",
        entry["provider"] or "",
    )


def shape_model_mix(rows: list[Row], total_cost: float | None, total_calls: int) -> list[Row]:
    """Model mix entries with their cost and call shares, most expensive first."""
    entries = [
        {
            "model": r["model"],
            "provider": r["provider"],
            "calls": _int(r["calls"]),
            "input_tokens": _int(r["input_tokens"]),
            "output_tokens": _int(r["output_tokens"]),
            "cost_usd": _float(r["cost_usd"]),
            "cost_share": ratio(r["cost_usd"], total_cost),
            "call_share": ratio(r["calls"], total_calls),
        }
        for r in rows
    ]
    return sorted(entries, key=_mix_order)


def assemble(totals: Row | None, tasks: Row | None, sessions: Row | None, mix: list[Row]) -> dict[str, Any]:
    """The metric contract from one group's aggregate rows (any of them may be missing: no calls)."""
    totals, tasks, sessions = totals or {}, tasks or {}, sessions or {}
    calls = _int(totals.get("calls"))
    total_cost = money(_float(totals.get("total_cost_usd")), calls)
    completed = _int(tasks.get("completed_tasks"))
    completed_cost = money(_float(tasks.get("completed_cost_usd")), _int(tasks.get("completed_calls")))
    waste = waste_from(tasks)
    return {
        "total_cost_usd": total_cost,
        "calls": calls,
        "unpriced_calls": _int(totals.get("unpriced_calls")),
        "tasks": _int(tasks.get("tasks")),
        "completed_tasks": completed,
        "failed_tasks": _int(tasks.get("failed_tasks")),
        "cost_per_completed_task_usd": ratio(total_cost, completed),
        "avg_completed_task_cost_usd": ratio(completed_cost, completed),
        "waste_usd": waste["waste_usd"],
        "waste_ratio": ratio(waste["waste_usd"], total_cost),
        "cache_hit_rate": ratio(_int(totals.get("cache_read_tokens")), _int(totals.get("input_tokens"))),
        "response_cache_hit_rate": ratio(
            _int(totals.get("response_cache_hits")), _int(totals.get("response_cache_known"))
        ),
        "sessions": _int(sessions.get("sessions")),
        "p95_session_cost_usd": _float(sessions.get("p95_session_cost_usd")),
        "input_tokens": _int(totals.get("input_tokens")),
        "output_tokens": _int(totals.get("output_tokens")),
        "cache_read_tokens": _int(totals.get("cache_read_tokens")),
        "model_mix": shape_model_mix(mix, total_cost, calls),
    }


def waste_from(tasks: Row) -> dict[str, Any]:
    """Waste by reason from a task_outcomes row: calls of failed tasks, error calls of completed ones."""
    failed_task_calls = _int(tasks.get("failed_task_calls"))
    failed_call_calls = _int(tasks.get("failed_call_calls"))
    failed_task = money(_float(tasks.get("failed_task_cost_usd")), failed_task_calls)
    failed_call = money(_float(tasks.get("failed_call_cost_usd")), failed_call_calls)
    # Like one SUM over all wasted calls: 0 with none, unknown only when none of them is priced.
    priced = [
        cost
        for cost, n in ((failed_task, failed_task_calls), (failed_call, failed_call_calls))
        if n and cost is not None
    ]
    waste = money(sum(priced) if priced else None, failed_task_calls + failed_call_calls)
    return {
        "waste_usd": waste,
        "failed_task_usd": failed_task,
        "failed_task_calls": failed_task_calls,
        "failed_call_usd": failed_call,
        "failed_call_calls": failed_call_calls,
    }


def _key_order(key: str | None) -> tuple[bool, str]:
    return (key is None, key or "")


# -- the contract ---------------------------------------------------------------------------------


def compute_metrics(wh: Warehouse, filters: Filters, group_by: str | None = None) -> dict[str, Any]:
    """All metrics over ``filters``; with ``group_by`` one entry per group (see the module docstring)."""
    return _shaped(metric_families(wh, filters, check_group_by(group_by)), group_by)


def _shaped(families: Families, group_by: str | None) -> dict[str, Any]:
    """compute_metrics' result from the families of its groups."""
    if group_by is None:
        return assemble(*families[None]) if families else assemble(None, None, None, [])
    groups = [{"key": key, **assemble(*families[key])} for key in sorted(families, key=_key_order)]
    return {"groups": groups}


def _adjacent(current: Filters, previous: Filters) -> bool:
    """Whether ``previous`` is the window right before ``current``'s with the same filters."""
    return (
        current.since is not None
        and previous.since is not None
        and previous.until == current.since
        and replace(previous, since=current.since, until=current.until) == current
    )


def _both(current: Filters, previous: Filters) -> dict[str, Any]:
    """Bind parameters of a "period" query over two adjacent windows (split where ``current`` starts)."""
    return {**replace(current, since=previous.since).params(), "split": current.since}


def compare_call_totals(
    wh: Warehouse, current: Filters, previous: Filters, group_by: str | None = None
) -> dict[str, dict[str | None, Row]]:
    """``{"current": call_totals(current, group_by), "previous": call_totals(previous, group_by)}``, in one
    pass over the two windows when they are adjacent (see :func:`compare_metrics`)."""
    if not _adjacent(current, previous):
        return {
            "current": call_totals(wh, current, group_by),
            "previous": call_totals(wh, previous, group_by),
        }
    group = "period" if group_by is None else f"period:{check_group_by(group_by)}"
    out: dict[str, dict[str | None, Row]] = {"current": {}, "previous": {}}
    for row in wh.query("call_totals", _both(current, previous), group=group).iter_rows(named=True):
        period, _, rest = row["group_key"].partition(":")
        key = None if group_by is None or not rest else rest[1:]
        out[period][key] = {**row, "group_key": key}
    return out


def period_families(
    wh: Warehouse, current: Filters, previous: Filters, group_by: str | None = None
) -> dict[str, Families]:
    """``{"current": ..., "previous": ...}``: :func:`metric_families` of two adjacent windows (``previous``
    ends where ``current`` starts, same filters), grouped by ``group_by``, from one pass of the ``metrics``
    query grouped by period: the same rows per period, tasks, sessions and outcomes as one query per window
    gives (a task or session with calls in both windows counts in both, outcomes look at the whole trace)."""
    if not _adjacent(current, previous):
        raise InputError("period_families needs adjacent windows with the same filters")
    group = "period" if group_by is None else f"period:{check_group_by(group_by)}"
    out: dict[str, Families] = {"current": {}, "previous": {}}
    for key, families in _families(wh.query("metrics", _both(current, previous), group=group)).items():
        period, _, rest = key.partition(":")
        out[period][None if group_by is None or not rest else rest[1:]] = families
    return out


def compare_metrics(
    wh: Warehouse, current: Filters, previous: Filters, group_by: str | None = None
) -> dict[str, dict[str, Any]]:
    """``{"current": compute_metrics(current, group_by), "previous": compute_metrics(previous, group_by)}``,
    in one query when ``previous`` is the window just before ``current`` with the same filters (an overview
    against the period before; see :func:`period_families`)."""
    if not _adjacent(current, previous):
        return {
            "current": compute_metrics(wh, current, group_by),
            "previous": compute_metrics(wh, previous, group_by),
        }
    periods = period_families(wh, current, previous, group_by)
    return {period: _shaped(families, group_by) for period, families in periods.items()}


def waste_breakdown(wh: Warehouse, filters: Filters, group_by: str | None = None) -> dict[str, Any]:
    """Waste split by reason (failed tasks, failed calls in other tasks), overall or per group."""
    tasks = task_outcomes(wh, filters, group_by)
    if group_by is None:
        return waste_from(tasks.get(None, {}))
    return {"groups": [{"key": k, **waste_from(tasks[k])} for k in sorted(tasks, key=_key_order)]}


# -- the Overview's series: per-day totals summed in Python --------------------------------------------

# The dimensions of daily_totals.sql's rows besides the day, model and provider (group name -> column).
DAILY_DIMENSIONS = {"agent": "agent_name", "task_type": "task_type", "model": "model"}
_SUMMED = (
    "calls",
    "unpriced_calls",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "response_cache_hits",
    "response_cache_known",
)


def daily_totals(wh: Warehouse, filters: Filters) -> list[Row]:
    """call_totals' columns per UTC day (ISO date), model, provider, agent and task type over ``filters``."""
    frame = wh.query("daily_totals", filters.params())
    return [
        {**row, **{c: _int(row[c]) for c in _SUMMED}, "total_cost_usd": _float(row["total_cost_usd"])}
        for row in frame.iter_rows(named=True)
    ]


def _known_sum(values: list[float | None]) -> float | None:
    """Like SQL's SUM over the values: None when none is known."""
    known = [v for v in values if v is not None]
    return sum(known) if known else None


def _day_aligned(*windows: Filters) -> bool:
    """Whether every window has both bounds, at UTC midnight, and the same equality filters."""
    first = windows[0]
    for w in windows:
        for bound in (w.since, w.until):
            if bound is None or bound.utcoffset() or bound.time() != time():
                return False
        if replace(w, since=first.since, until=first.until) != first:
            return False
    return True


def _days(rows: list[Row], window: Filters) -> list[Row]:
    since, until = window.since, window.until
    assert since is not None and until is not None
    first, end = since.date().isoformat(), until.date().isoformat()
    return [r for r in rows if first <= r["day"] < end]


def _sum_by(rows: list[Row], key: Any) -> dict[Any, Row]:
    """call_totals' row per key of ``key(row)``, summed from daily rows."""
    groups: dict[Any, list[Row]] = {}
    for row in rows:
        groups.setdefault(key(row), []).append(row)
    return {
        k: {
            **{c: sum(r[c] for r in part) for c in _SUMMED},
            "total_cost_usd": _known_sum([r["total_cost_usd"] for r in part]),
        }
        for k, part in groups.items()
    }


def _mix_per_day(rows: list[Row]) -> dict[str | None, list[Row]]:
    """``model_mix(filters, "day")`` from daily rows."""
    out: dict[str | None, list[Row]] = {}
    for (day, model, provider), totals in _sum_by(
        rows, lambda r: (r["day"], r["model"], r["provider"])
    ).items():
        out.setdefault(day, []).append(
            {
                "model": model,
                "provider": provider,
                "calls": totals["calls"],
                "input_tokens": totals["input_tokens"],
                "output_tokens": totals["output_tokens"],
                "cost_usd": totals["total_cost_usd"],
            }
        )
    return out


def _totals_by(rows: list[Row], group_by: str) -> dict[str | None, Row]:
    """``call_totals(filters, group_by)`` from daily rows (group_by one of :data:`DAILY_DIMENSIONS`)."""
    column = DAILY_DIMENSIONS[group_by]
    return {k: {"group_key": k, **v} for k, v in _sum_by(rows, lambda r: r[column]).items()}


def overview_series(wh: Warehouse, current: Filters, week: Filters, previous_week: Filters) -> dict[str, Any]:
    """The Overview's series in one pass over the calls (``daily_totals`` over the three windows' span):

    - ``model_mix``: ``model_mix(current, "day")`` (day -> rows of model, provider, calls, tokens, cost);
    - ``drivers``: per dimension of :data:`DAILY_DIMENSIONS`,
      ``compare_call_totals(week, previous_week, dimension)``.

    The windows must start and end at UTC midnight with the same equality filters (the dashboard's days);
    otherwise the per-window queries run instead.
    """
    if not _day_aligned(current, week, previous_week):
        return {
            "model_mix": model_mix(wh, current, "day"),
            "drivers": {dim: compare_call_totals(wh, week, previous_week, dim) for dim in DAILY_DIMENSIONS},
        }
    windows = (current, week, previous_week)
    since = min(w.since for w in windows if w.since is not None)
    until = max(w.until for w in windows if w.until is not None)
    rows = daily_totals(wh, replace(current, since=since, until=until))
    this_week, week_before = _days(rows, week), _days(rows, previous_week)
    return {
        "model_mix": _mix_per_day(_days(rows, current)),
        "drivers": {
            dim: {"current": _totals_by(this_week, dim), "previous": _totals_by(week_before, dim)}
            for dim in DAILY_DIMENSIONS
        },
    }
