"""The weekly top-10 cost report: what cost most last week, how it moved, and the likely reason why.

For an ISO week (Monday 00:00 to the next Monday, in the report time zone) and the week before it:

- the week's totals (cost, calls, tasks, cost per completed task, waste, cache hit rate, P95 session cost)
  with their change;
- the ten most expensive task types, agents and users, each with cost, calls, cost per completed task,
  week-over-week change and its likely causes; the ten most expensive sessions;
- the open recommendations, when this build has ``analytics.recommend``.

Every figure is what :func:`~agentledger.analytics.metrics.compute_metrics` and
:func:`~agentledger.analytics.breakdowns.top_sessions` give, read in one pass over both weeks by the
``weekly_report`` query (:func:`week_figures`). **Likely causes** are explained for rows whose cost rose
by at least :data:`NOTABLE_RISE` (10 %) or that are new this week; each rule compares this week with the
last one:

| cause             | rule (this week vs last week)                                                      |
|-------------------|------------------------------------------------------------------------------------|
| model mix shift   | some model's share of the calls moved by >= 20 points (:data:`MIX_SHIFT`)          |
| cache hit drop    | the cache hit rate fell by >= 10 points (:data:`CACHE_DROP`)                       |
| retry spike       | error calls in completed tasks (retries) rose by >= 5 points of all calls and at    |
|                   | least doubled (:data:`RETRY_RISE`, :data:`RETRY_FACTOR`)                           |
| context growth    | mean input tokens per call grew by >= 25 % (:data:`CONTEXT_GROWTH`)                |
| volume growth     | calls grew by >= 25 % (:data:`VOLUME_GROWTH`)                                      |
"""

from __future__ import annotations

import importlib
from dataclasses import asdict, dataclass, field, is_dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import polars as pl

from agentledger.analytics.filters import Filters
from agentledger.analytics.metrics import assemble, families_by, ratio, waste_from
from agentledger.core.errors import InputError
from agentledger.core.settings import Settings
from agentledger.warehouse.base import Warehouse

NOTABLE_RISE = 0.10
MIX_SHIFT = 0.20
CACHE_DROP = 0.10
RETRY_RISE = 0.05
RETRY_FACTOR = 2.0
CONTEXT_GROWTH = 0.25
VOLUME_GROWTH = 0.25
RANKED_DIMENSIONS = ("task_type", "agent", "user")
TOTAL_KEYS = (
    "total_cost_usd",
    "calls",
    "unpriced_calls",
    "tasks",
    "completed_tasks",
    "failed_tasks",
    "cost_per_completed_task_usd",
    "waste_usd",
    "waste_ratio",
    "cache_hit_rate",
    "p95_session_cost_usd",
)

Metrics = dict[str, Any]


# -- weeks ------------------------------------------------------------------------------------------


def parse_week(text: str) -> tuple[int, int]:
    """``"2026-W47"`` -> (2026, 47); InputError naming the expected form otherwise."""
    try:
        year, week = text.upper().split("-W")
        monday = date.fromisocalendar(int(year), int(week), 1)
    except ValueError as exc:
        raise InputError(f"week {text!r} is not an ISO week like 2026-W47") from exc
    try:
        monday - timedelta(days=7), monday + timedelta(days=7)  # the week before and the end of this one
    except OverflowError:
        raise InputError(f"week {text!r} is out of range: the report needs it and the week before") from None
    return monday.isocalendar()[:2]


def week_bounds(week: str, tz: str = "UTC") -> tuple[datetime, datetime]:
    """Monday 00:00 of ``week`` and of the week after, in time zone ``tz``."""
    year, number = parse_week(week)
    monday = date.fromisocalendar(year, number, 1)
    start = datetime(monday.year, monday.month, monday.day, tzinfo=ZoneInfo(tz))
    nxt = monday + timedelta(days=7)
    return start, datetime(nxt.year, nxt.month, nxt.day, tzinfo=ZoneInfo(tz))


def week_of(moment: datetime, tz: str = "UTC") -> str:
    """The ISO week containing ``moment`` in time zone ``tz``."""
    year, week, _ = moment.astimezone(ZoneInfo(tz)).isocalendar()
    return f"{year}-W{week:02d}"


def previous_week(moment: datetime, tz: str = "UTC") -> str:
    """The last complete ISO week before ``moment`` (what a Monday-morning report covers)."""
    return week_of(moment - timedelta(days=7), tz)


# -- the report -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cause:
    """A likely reason for a row's cost change: a code and a sentence with the two weeks' figures."""

    code: str  # new | model_mix_shift | cache_hit_drop | retry_spike | context_growth | volume_growth
    text: str


@dataclass(frozen=True)
class Row:
    """One ranked task type, agent or user."""

    rank: int
    key: str | None
    cost_usd: float | None
    cost_prev_usd: float | None
    cost_change: float | None  # (this - last) / last; None when last week had no cost
    calls: int
    calls_prev: int
    completed_tasks: int
    cost_per_completed_task_usd: float | None
    cost_per_completed_task_prev_usd: float | None
    causes: list[Cause] = field(default_factory=list)
    unpriced_calls: int = 0  # of ``calls``: when some are, the costs are lower bounds


@dataclass(frozen=True)
class SessionRow:
    """One of the week's most expensive sessions."""

    rank: int
    session: str
    agent: str | None
    user: str | None
    cost_usd: float | None
    calls: int
    tasks: int
    completed_tasks: int
    unpriced_calls: int = 0  # of ``calls``: when some are, the cost is a lower bound


@dataclass(frozen=True)
class WeeklyReport:
    """Everything the report says; rendered by :mod:`agentledger.analytics.report_render`."""

    week: str
    since: datetime
    until: datetime
    timezone: str
    project_id: str
    generated_at: datetime
    totals: Metrics  # TOTAL_KEYS with <key>_prev and <key>_change
    task_types: list[Row]
    agents: list[Row]
    users: list[Row]
    sessions: list[SessionRow]
    recommendations: list[dict[str, Any]] | None  # None: not available in this build
    dashboard_url: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (datetimes as ISO strings)."""
        data = asdict(self)
        for key in ("since", "until", "generated_at"):
            data[key] = getattr(self, key).isoformat()
        return data


# -- causes (pure) ----------------------------------------------------------------------------------


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.0f}%"


def _shares(metrics: Metrics) -> dict[str, float]:
    return {m["model"] or "(unknown)": m["call_share"] or 0.0 for m in metrics.get("model_mix", [])}


def mix_shift(now: Metrics, before: Metrics) -> Cause | None:
    """The model whose share of calls moved most, if it moved by at least MIX_SHIFT."""
    a, b = _shares(now), _shares(before)
    moves = sorted(
        ((a.get(m, 0.0) - b.get(m, 0.0), m) for m in set(a) | set(b)), key=lambda t: (-abs(t[0]), t[1])
    )
    if not moves or abs(moves[0][0]) < MIX_SHIFT:
        return None
    model = moves[0][1]
    return Cause(
        "model_mix_shift",
        f"model mix shift: {model} {_pct(b.get(model, 0.0))} → {_pct(a.get(model, 0.0))} of calls",
    )


def cache_drop(now: Metrics, before: Metrics) -> Cause | None:
    """The cache hit rate fell by at least CACHE_DROP."""
    a, b = now.get("cache_hit_rate"), before.get("cache_hit_rate")
    if a is None or b is None or b - a < CACHE_DROP:
        return None
    return Cause("cache_hit_drop", f"cache hit drop: {_pct(b)} → {_pct(a)} of input tokens")


def retry_spike(now: Metrics, before: Metrics) -> Cause | None:
    """Retries (error calls in completed tasks) rose by RETRY_RISE of all calls and at least doubled."""
    a, b = now.get("retry_rate"), before.get("retry_rate")
    if a is None or b is None or a - b < RETRY_RISE or a < RETRY_FACTOR * b:
        return None
    return Cause("retry_spike", f"retry spike: {_pct(b)} → {_pct(a)} of calls failed and were retried")


def _per_call(metrics: Metrics) -> float | None:
    return ratio(metrics.get("input_tokens"), metrics.get("calls"))


def context_growth(now: Metrics, before: Metrics) -> Cause | None:
    """Mean input tokens per call grew by at least CONTEXT_GROWTH."""
    a, b = _per_call(now), _per_call(before)
    growth = ratio(None if a is None or b is None else a - b, b)
    if growth is None or growth < CONTEXT_GROWTH:
        return None
    return Cause(
        "context_growth", f"context growth: {b:,.0f} → {a:,.0f} input tokens per call (+{growth * 100:.0f}%)"
    )


def volume_growth(now: Metrics, before: Metrics) -> Cause | None:
    """Calls grew by at least VOLUME_GROWTH."""
    a, b = now.get("calls") or 0, before.get("calls") or 0
    growth = ratio(a - b, b)
    if growth is None or growth < VOLUME_GROWTH:
        return None
    return Cause("volume_growth", f"volume growth: {b:,} → {a:,} calls (+{growth * 100:.0f}%)")


CAUSE_RULES = (mix_shift, cache_drop, retry_spike, context_growth, volume_growth)


def likely_causes(now: Metrics, before: Metrics | None) -> list[Cause]:
    """Why a row's cost rose (see the module docstring); empty when it did not rise notably."""
    if before is None or not before.get("calls"):
        return [Cause("new", "new this week")]
    change = ratio(
        _sub(now.get("total_cost_usd"), before.get("total_cost_usd")), before.get("total_cost_usd")
    )
    if change is None or change < NOTABLE_RISE:
        return []
    return [c for rule in CAUSE_RULES if (c := rule(now, before)) is not None]


def _sub(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a - b


def _cost_order(item: tuple[str | None, Metrics]) -> tuple[bool, float, str]:
    cost = item[1].get("total_cost_usd")
    return (cost is None, -(cost or 0.0), item[0] or "")


def rank_rows(now: dict[str | None, Metrics], before: dict[str | None, Metrics], top: int) -> list[Row]:
    """The ``top`` most expensive keys of this week with their change and likely causes (pure)."""
    rows = []
    for rank, (key, m) in enumerate(sorted(now.items(), key=_cost_order)[:top], start=1):
        prev = before.get(key)
        prev_cost = prev.get("total_cost_usd") if prev else None
        rows.append(
            Row(
                rank=rank,
                key=key,
                cost_usd=m["total_cost_usd"],
                cost_prev_usd=prev_cost,
                cost_change=ratio(_sub(m["total_cost_usd"], prev_cost), prev_cost),
                calls=m["calls"],
                calls_prev=prev["calls"] if prev else 0,
                completed_tasks=m["completed_tasks"],
                cost_per_completed_task_usd=m["cost_per_completed_task_usd"],
                cost_per_completed_task_prev_usd=prev.get("cost_per_completed_task_usd") if prev else None,
                causes=likely_causes(m, prev),
                unpriced_calls=int(m.get("unpriced_calls") or 0),
            )
        )
    return rows


def totals_with_change(now: Metrics, before: Metrics) -> Metrics:
    """The week's totals, each with last week's value and the relative change."""
    out: Metrics = {}
    for key in TOTAL_KEYS:
        a, b = now.get(key), before.get(key)
        out |= {key: a, f"{key}_prev": b, f"{key}_change": ratio(_sub(a, b), b)}
    return out


# -- warehouse reads --------------------------------------------------------------------------------


@dataclass(frozen=True)
class WeekFigures:
    """What the report reads from the warehouse (see :func:`week_figures`)."""

    # per dimension of RANKED_DIMENSIONS, and "none" for the totals: (this week's groups, last week's)
    groups: dict[str, tuple[dict[str | None, Metrics], dict[str | None, Metrics]]]
    sessions: list[SessionRow]


def week_figures(wh: Warehouse, current: Filters, before: Filters, top: int) -> WeekFigures:
    """The week's and the week before's groups, and the week's ``top`` most expensive sessions, from one
    pass of the ``weekly_report`` query (``before`` ends where ``current`` starts, with the same filters).

    Per dimension of :data:`RANKED_DIMENSIONS`, the groups are the keys :func:`rank_rows` shows: this week's
    ``top`` most expensive and the same keys last week; ``"none"`` holds the totals (key None). Each group is
    :func:`~agentledger.analytics.metrics.compute_metrics`' over its calls with its retry rate (error calls
    in completed tasks / calls), except that a dimension's groups leave out sessions (count 0, P95 None):
    the report shows them for the totals only. The sessions are
    :func:`~agentledger.analytics.breakdowns.top_sessions`' over ``current``."""
    if top < 0:
        raise InputError(f"top must be 0 or more, not {top}")
    if before.until != current.since or replace(before, since=current.since, until=current.until) != current:
        raise InputError("the report compares a window with the one just before it, with the same filters")
    params = {**replace(current, since=before.since).params(), "split": current.since, "top": top}
    frame = wh.query("weekly_report", params)
    is_session = pl.col("dim") == "session"
    families = families_by(frame.filter(~is_session), ("dim", "period", "group_key"))
    groups: dict[str, tuple[dict[str | None, Metrics], dict[str | None, Metrics]]] = {}
    for dim in ("none", *RANKED_DIMENSIONS):
        periods: tuple[dict[str | None, Metrics], dict[str | None, Metrics]] = ({}, {})
        for found, period in zip(periods, ("current", "previous"), strict=True):
            keys = [key for (d, p, key) in families if d == dim and p == period]
            for key in sorted(keys, key=lambda k: (k is None, k or "")):  # compute_metrics' order
                group = families[(dim, period, key)]
                metrics = assemble(*group)
                # the same count waste_breakdown reads (failed_call_calls of the group's tasks)
                metrics["retry_rate"] = ratio(waste_from(group[1])["failed_call_calls"], metrics["calls"])
                found[key] = metrics
        groups[dim] = periods
    sessions = [
        SessionRow(
            rank=int(r["rank"]),
            session=r["group_key"],
            agent=r["agent_name"],
            user=r["user_id"],
            cost_usd=None if r["total_cost_usd"] is None else float(r["total_cost_usd"]),
            calls=int(r["calls"]),
            tasks=int(r["tasks"]),
            completed_tasks=int(r["completed_tasks"]),
            unpriced_calls=int(r["unpriced_calls"] or 0),
        )
        for r in frame.filter(is_session).sort("rank").iter_rows(named=True)
    ]
    return WeekFigures(groups=groups, sessions=sessions)


def _plain(item: Any) -> dict[str, Any]:
    if is_dataclass(item) and not isinstance(item, type):
        return asdict(item)
    if hasattr(item, "model_dump"):
        return item.model_dump(mode="json")
    return dict(item)


def open_recommendations(wh: Warehouse, filters: Filters, settings: Settings) -> list[dict[str, Any]] | None:
    """The recommendations of ``analytics.recommend`` (its stored report, served while nothing was written to
    the project since it was computed) as plain dicts, or None when this build does not have it."""
    name = "agentledger.analytics.recommend"
    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name != name:
            raise  # a broken import inside an existing module must surface
        return None
    return [_plain(r) for r in module.stored_report(wh, filters, settings).recommendations]


def build_weekly_report(
    wh: Warehouse, settings: Settings, week: str, *, now: datetime, top: int = 10
) -> WeeklyReport:
    """The report for ISO ``week`` of the settings' project, in the settings' report time zone."""
    tz = settings.report_timezone
    since, until = week_bounds(week, tz)
    current = Filters(since=since, until=until, project_id=settings.project_id)
    before = replace(current, since=since - timedelta(days=7), until=since)
    figures = week_figures(wh, current, before, top)
    ranked = {dim: rank_rows(*figures.groups[dim], top) for dim in RANKED_DIMENSIONS}
    now_totals, before_totals = (
        week.get(None) or assemble(None, None, None, []) for week in figures.groups["none"]
    )
    return WeeklyReport(
        week=f"{parse_week(week)[0]}-W{parse_week(week)[1]:02d}",
        since=since,
        until=until,
        timezone=tz,
        project_id=settings.project_id,
        generated_at=now,
        totals=totals_with_change(now_totals, before_totals),
        task_types=ranked["task_type"],
        agents=ranked["agent"],
        users=ranked["user"],
        sessions=figures.sessions,
        recommendations=open_recommendations(wh, current, settings),
        dashboard_url=settings.dashboard_url,
    )
