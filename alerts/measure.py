"""Measuring rules: the warehouse reads behind each rule, all through ``analytics/`` (no metric is defined
twice). Each function returns :class:`~agentledger.alerts.evaluate.Observation` values for the pure
evaluation, and :func:`offenders` finds the sessions or traces that a notification points at.
"""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import polars as pl

from agentledger.alerts.evaluate import Observation, group_by_of
from agentledger.alerts.message import Offender
from agentledger.alerts.rules import (
    BudgetRule,
    Rule,
    RunawayRule,
    SpikeRule,
    ThresholdRule,
    UnpricedModelRule,
)
from agentledger.analytics._common import normalized, params
from agentledger.analytics.anomalies import detect_anomalies
from agentledger.analytics.breakdowns import top_sessions, top_traces
from agentledger.analytics.filters import Filters
from agentledger.analytics.metrics import compute_metrics
from agentledger.analytics.report_render import dashboard_link
from agentledger.core.settings import Settings
from agentledger.warehouse.base import Warehouse

SESSION_METRICS = frozenset({"p95_session_cost_usd", "sessions"})
OFFENDERS = 5  # sessions or traces named in a notification


def scope_filters(rule: Rule, since: datetime, until: datetime, project_id: str) -> Filters:
    """The rule's scope over [since, until)."""
    return Filters(since=since, until=until, project_id=project_id, **rule.scope.given())


def _groups(wh: Warehouse, filters: Filters, group_by: str | None) -> list[tuple[str | None, dict[str, Any]]]:
    """compute_metrics overall (one entry, group None) or per group."""
    result = compute_metrics(wh, filters, group_by)
    if group_by is None:
        return [(None, result)]
    return [(g["key"], g) for g in result["groups"]]


def measure_threshold(
    wh: Warehouse, rule: ThresholdRule, now: datetime, project_id: str
) -> list[Observation]:
    """The rule's metric over the trailing window, overall or per group."""
    since = now - rule.window
    filters = scope_filters(rule, since, now, project_id)
    return [
        Observation(value=m[rule.metric], since=since, until=now, group=key, calls=m["calls"])
        for key, m in _groups(wh, filters, rule.group_by)
    ]


# -- budgets --------------------------------------------------------------------------------------


def period_bounds(now: datetime, period: str, tz: str = "UTC") -> tuple[datetime, datetime, str]:
    """The calendar month or ISO week containing ``now`` in time zone ``tz``: (start, end, key).

    Keys read ``2026-11`` and ``2026-W47``; the bounds are aware datetimes in ``tz``.
    """
    local = now.astimezone(ZoneInfo(tz))
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "week":
        start = midnight - timedelta(days=local.weekday())
        end = start + timedelta(days=7)
        year, week, _ = start.isocalendar()
        key = f"{year}-W{week:02d}"
    else:
        start = midnight.replace(day=1)
        end = (start + timedelta(days=32)).replace(day=1)
        key = f"{start:%Y-%m}"
    # Aware arithmetic is wall-clock arithmetic: a daylight-saving change inside the period keeps midnight.
    return start, end, key


def forecast(spent: float | None, start: datetime, end: datetime, now: datetime) -> float | None:
    """The period's end spend at the current linear run rate (None when unknown or no time has passed)."""
    elapsed = (now - start).total_seconds()
    if spent is None or elapsed <= 0:
        return None
    return spent * (end - start).total_seconds() / elapsed


def measure_budget(
    wh: Warehouse, rule: BudgetRule, now: datetime, project_id: str, tz: str
) -> list[Observation]:
    """Spend of the current period so far, with its share of the budget and the run-rate forecast."""
    start, end, key = period_bounds(now, rule.period, tz)
    filters = scope_filters(rule, start, now, project_id) if now > start else None
    groups = _groups(wh, filters, rule.group_by) if filters is not None else []
    out = []
    for group, m in groups:
        spent = m["total_cost_usd"]
        projected = forecast(spent, start, end, now)
        details = {
            "period": key,
            "period_label": f"{'Month' if rule.period == 'month' else 'Week'} {key}",
            "period_start": start.isoformat(),
            "period_end": end.isoformat(),
            "amount_usd": rule.amount_usd,
            "spent_usd": spent,
            "share": None if spent is None else spent / rule.amount_usd,
            "forecast_usd": projected,
            "forecast_share": None if projected is None else projected / rule.amount_usd,
            "unpriced_calls": m["unpriced_calls"],
        }
        out.append(Observation(spent, start, now, group, m["calls"], key, details))
    return out


# -- spikes, runaway tasks, unpriced models -------------------------------------------------------


def measure_spikes(wh: Warehouse, rule: SpikeRule, now: datetime, project_id: str) -> list[Observation]:
    """One observation per (agent, day) the anomaly detector flags within the rule's lookback."""
    filters = scope_filters(rule, now - rule.lookback, now, project_id)
    flags = detect_anomalies(wh, filters, metric=rule.metric, z=rule.z, window_days=rule.window_days, now=now)
    out = []
    for row in flags.iter_rows(named=True):
        day = row["day"].isoformat()
        # The flagged UTC day (up to now), not the lookback: what the message's window and links show.
        day_start = datetime(row["day"].year, row["day"].month, row["day"].day, tzinfo=UTC)
        day_end = min(day_start + timedelta(days=1), now)
        details = {
            "anomalous": True,
            "day": day,
            "expected": row["baseline"],
            "robust_z": _finite(row["robust_z"]),
            "z_threshold": rule.z,
            "history_days": row["history_days"],
            "top_traces": [
                {"trace_id": t, "cost_usd": c, "calls": n}
                for t, c, n in zip(
                    row["top_trace_ids"], row["top_trace_costs"], row["top_trace_calls"], strict=True
                )
            ],
        }
        out.append(Observation(row["value"], day_start, day_end, row["agent"], 0, day, details))  # type: ignore[arg-type]
    return out


def _finite(value: float | None) -> float | None:
    return value if value is None or math.isfinite(value) else None


def runaway_limits(rule: RunawayRule, settings: Settings) -> tuple[int | None, float | None]:
    """(max calls, max cost): the rule's, with the settings' call threshold when neither is given."""
    if rule.max_calls is None and rule.max_cost_usd is None:
        return settings.runaway_call_threshold, None
    return rule.max_calls, rule.max_cost_usd


def measure_runaway(
    wh: Warehouse, rule: RunawayRule, now: datetime, project_id: str, settings: Settings
) -> list[Observation]:
    """How many tasks in the window went past the call or cost limit, with the costliest of them."""
    since = now - rule.window
    max_calls, max_cost = runaway_limits(rule, settings)
    filters = scope_filters(rule, since, now, project_id)
    frame = normalized(
        wh.query(
            "alerts_runaway_tasks",
            params(filters, max_calls=max_calls, max_cost_usd=max_cost, limit=OFFENDERS),
        )
    )
    offending = int(frame["offending"][0]) if frame.height else 0
    limits = " or ".join(
        part
        for part in (
            f"> {max_calls} calls" if max_calls is not None else "",
            f"> ${max_cost:,.2f}" if max_cost is not None else "",
        )
        if part
    )
    traces = [
        {k: row[k] for k in ("trace_id", "session_key", "agent_name", "task_type", "calls", "cost_usd")}
        for row in frame.iter_rows(named=True)
    ]
    details = {"limits": limits, "traces": traces}
    return [Observation(float(offending), since, now, None, 0, None, details)]


def measure_unpriced(
    wh: Warehouse, rule: UnpricedModelRule, now: datetime, project_id: str
) -> list[Observation]:
    """Models called in the window that have no price at all."""
    since = now - rule.window
    filters = scope_filters(rule, since, now, project_id)
    frame = normalized(wh.query("unpriced_calls", filters.params(), group="none"))
    frame = frame.filter(pl.col("price_status") == "unpriced")
    models = sorted({f"{r['provider'] or '?'}/{r['model'] or '?'}" for r in frame.iter_rows(named=True)})
    calls = int(frame["calls"].sum()) if frame.height else 0
    details = {"models": models, "unpriced_calls": calls}
    return [Observation(float(len(models)), since, now, None, calls, None, details)]


def measure(wh: Warehouse, rule: Rule, now: datetime, settings: Settings) -> list[Observation]:
    """Every observation of ``rule`` at ``now`` for the settings' project."""
    project = settings.project_id
    if isinstance(rule, ThresholdRule):
        return measure_threshold(wh, rule, now, project)
    if isinstance(rule, BudgetRule):
        return measure_budget(wh, rule, now, project, settings.report_timezone)
    if isinstance(rule, SpikeRule):
        return measure_spikes(wh, rule, now, project)
    if isinstance(rule, RunawayRule):
        return measure_runaway(wh, rule, now, project, settings)
    if isinstance(rule, UnpricedModelRule):
        return measure_unpriced(wh, rule, now, project)
    raise TypeError(f"unknown rule type {type(rule).__name__}")


# -- what a notification points at ----------------------------------------------------------------


def _trace_offenders(
    rows: list[dict[str, Any]], base: str | None, since: datetime, until: datetime
) -> list[Offender]:
    return [
        Offender(
            kind="trace",
            id=row["trace_id"],
            cost_usd=row.get("cost_usd"),
            calls=int(row.get("calls") or 0),
            agent=row.get("agent_name"),
            task_type=row.get("task_type"),
            link=dashboard_link(base, "sessions", since, until, {"trace": row["trace_id"]}),
        )
        for row in rows
    ]


def offenders(
    wh: Warehouse, rule: Rule, obs: Observation, project_id: str, dashboard_url: str | None
) -> list[Offender]:
    """The top sessions (session metrics) or traces behind an observation, for the notification."""
    if isinstance(rule, RunawayRule):
        return _trace_offenders(obs.details.get("traces", []), dashboard_url, obs.since, obs.until)
    if isinstance(rule, SpikeRule):
        rows = [{**t, "agent_name": obs.group} for t in obs.details.get("top_traces", [])]
        return _trace_offenders(rows, dashboard_url, obs.since, obs.until)
    if isinstance(rule, UnpricedModelRule):
        return []
    filters = scope_filters(rule, obs.since, obs.until, project_id)
    dim = group_by_of(rule)
    if dim is not None:
        filters = replace(filters, **{dim: obs.group})
    if isinstance(rule, ThresholdRule) and rule.metric in SESSION_METRICS:
        frame = top_sessions(wh, filters, limit=OFFENDERS)
        return [
            Offender(
                kind="session",
                id=row["session_key"],
                cost_usd=row["cost_usd"],
                calls=int(row["calls"]),
                agent=row["agent_name"],
                link=dashboard_link(
                    dashboard_url, "sessions", obs.since, obs.until, {"session": row["session_key"]}
                ),
            )
            for row in frame.iter_rows(named=True)
        ]
    frame = top_traces(wh, filters, limit=OFFENDERS)
    return _trace_offenders(list(frame.iter_rows(named=True)), dashboard_url, obs.since, obs.until)
