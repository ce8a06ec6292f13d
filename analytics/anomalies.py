"""Anomalies: a day whose value sits far from its agent's recent normal, on a robust baseline.

For each agent and day of the window, the baseline is the median of the agent's values over the trailing
``window_days`` days (or, with ``by_weekday``, over the same weekday of the trailing ``window_days`` weeks,
for traffic with a weekly rhythm); the spread is the median absolute deviation (MAD). The robust z-score is
``0.6745 x (value - median) / MAD`` (Iglewicz and Hoaglin); when MAD is 0 the mean absolute deviation
stands in (``(value - median) / (1.2533 x meanAD)``), and when that is 0 too any departure is infinitely far.
A day is flagged when ``z >= threshold`` (``|z|`` with ``direction="both"``) and the baseline has at least
``min_history`` values. Metrics (per agent and day, exactly as :func:`compute_metrics` defines them):
``total_cost_usd`` (daily cost), ``cost_per_completed_task_usd`` and ``p95_session_cost_usd``.

Days before an agent's first call are no history (a new agent is not a spike of zeros); a day without calls
counts as zero cost but has no cost per task and no P95. Each flag lists the day's most expensive traces of
that agent: what drove it.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Literal, get_args

import polars as pl

from agentledger.analytics._common import check_choice
from agentledger.analytics.breakdowns import resolve_window, timeseries, top_traces
from agentledger.analytics.filters import Filters
from agentledger.warehouse.base import Warehouse

__all__ = ["ANOMALY_METRICS", "AnomalyMetric", "Baseline", "detect_anomalies", "flag_series", "robust_z"]

AnomalyMetric = Literal["total_cost_usd", "cost_per_completed_task_usd", "p95_session_cost_usd"]
ANOMALY_METRICS: tuple[AnomalyMetric, ...] = get_args(AnomalyMetric)
MAD_SCALE = 0.6745  # the MAD of a normal distribution is 0.6745 sigma
MEAN_AD_SCALE = 1.253314  # sqrt(pi / 2): mean absolute deviation -> sigma, for a normal distribution

Point = tuple[date, float | None]


@dataclass(frozen=True, slots=True)
class Baseline:
    """A value against its history: median, MAD, robust z-score and the number of values it rests on."""

    median: float
    mad: float
    z: float
    history: int


def robust_z(history: Sequence[float], value: float) -> Baseline:
    """``value``'s robust z-score against ``history`` (non-empty): see the module docstring."""
    med = statistics.median(history)
    deviations = [abs(x - med) for x in history]
    mad = statistics.median(deviations)
    if mad > 0:
        z = MAD_SCALE * (value - med) / mad
    elif (mean_ad := statistics.fmean(deviations)) > 0:
        z = (value - med) / (MEAN_AD_SCALE * mean_ad)
    else:
        z = 0.0 if value == med else math.copysign(math.inf, value - med)
    return Baseline(median=med, mad=mad, z=z, history=len(history))


def _history(points: dict[date, float], day: date, window: int, by_weekday: bool) -> list[float]:
    if by_weekday:
        days = [day - timedelta(weeks=k) for k in range(1, window + 1)]
    else:
        days = [day - timedelta(days=k) for k in range(1, window + 1)]
    return [points[d] for d in days if d in points]


def flag_series(
    points: Sequence[Point],
    *,
    start: date,
    threshold: float = 3.5,
    window_days: int = 14,
    by_weekday: bool = False,
    min_history: int = 7,
    direction: str = "up",
) -> list[tuple[date, float, Baseline]]:
    """The days from ``start`` on whose value is an outlier against its trailing history (pure).

    ``points`` are (day, value) with None for "no value that day"; they are history as well as candidates.
    """
    known = {d: v for d, v in points if v is not None}
    flags = []
    for day, value in sorted(points):
        if day < start or value is None:
            continue
        history = _history(known, day, window_days, by_weekday)
        if len(history) < min_history:
            continue
        base = robust_z(history, value)
        hit = base.z >= threshold if direction == "up" else abs(base.z) >= threshold
        if hit:
            flags.append((day, value, base))
    return flags


def _agent_points(series: pl.DataFrame, metric: str) -> dict[str | None, list[Point]]:
    """Per agent, (day, value) from its first day with calls on (earlier days are no history)."""
    out: dict[str | None, list[Point]] = {}
    for (agent,), part in series.sort("bucket").group_by(["key"], maintain_order=True):
        active = part.filter(pl.col("calls").cum_sum() > 0)
        out[agent] = list(zip(active["bucket"].to_list(), active[metric].to_list(), strict=True))
    return out


def _day_top_traces(wh: Warehouse, filters: Filters, day: date, limit: int) -> pl.DataFrame:
    """The day's ``limit`` most expensive traces of every agent (one query serves every flag of the day)."""
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    window = replace(filters, since=start, until=start + timedelta(days=1))
    return top_traces(wh, window, limit=limit, group_by="agent")


def _of_agent(top: pl.DataFrame, agent: str | None) -> pl.DataFrame:
    return top.filter(pl.col("key").is_null() if agent is None else pl.col("key") == agent)


SCHEMA = {
    "day": pl.Date(),
    "agent": pl.String(),
    "metric": pl.String(),
    "value": pl.Float64(),
    "baseline": pl.Float64(),
    "mad": pl.Float64(),
    "robust_z": pl.Float64(),
    "history_days": pl.Int64(),
    "top_trace_ids": pl.List(pl.String()),
    "top_trace_costs": pl.List(pl.Float64()),
    "top_trace_calls": pl.List(pl.Int64()),
}


def _flag_row(
    agent: str | None, metric: str, day: date, value: float, base: Baseline, top: pl.DataFrame
) -> dict:
    return {
        "day": day,
        "agent": agent,
        "metric": metric,
        "value": value,
        "baseline": base.median,
        "mad": base.mad,
        "robust_z": base.z,
        "history_days": base.history,
        "top_trace_ids": top["trace_id"].to_list(),
        "top_trace_costs": top["cost_usd"].to_list(),
        "top_trace_calls": top["calls"].to_list(),
    }


def detect_anomalies(
    wh: Warehouse,
    filters: Filters,
    metric: str = "total_cost_usd",
    z: float = 3.5,
    window_days: int = 14,
    *,
    by_weekday: bool = False,
    min_history: int | None = None,
    direction: str = "up",
    drivers: int = 3,
    now: datetime | None = None,
) -> pl.DataFrame:
    """Flag (day, agent) values of ``metric`` over the window (default: the last 7 days) whose robust
    z-score against the trailing baseline reaches ``z``; each with the day's top ``drivers`` traces.

    ``min_history`` (default: 7, or ``window_days`` when smaller) is the fewest baseline values a flag needs."""
    check_choice("metric", metric, ANOMALY_METRICS)
    check_choice("direction", direction, ("up", "both"))
    window = resolve_window(filters, now)
    assert window.since is not None
    lookback = timedelta(weeks=window_days) if by_weekday else timedelta(days=window_days)
    series = timeseries(wh, replace(window, since=window.since - lookback), "day", dim="agent")
    options = {
        "start": window.since.astimezone(UTC).date(),
        "threshold": z,
        "window_days": window_days,
        "by_weekday": by_weekday,
        "direction": direction,
        "min_history": min(7, window_days) if min_history is None else min_history,
    }
    rows, tops = [], {}
    for agent, points in _agent_points(series, metric).items():
        for day, value, base in flag_series(points, **options):
            if day not in tops:  # one query per flagged day serves every agent flagged that day
                tops[day] = _day_top_traces(wh, filters, day, drivers)
            rows.append(_flag_row(agent, metric, day, value, base, _of_agent(tops[day], agent)))
    frame = pl.DataFrame(rows, schema=SCHEMA, orient="row") if rows else pl.DataFrame(schema=SCHEMA)
    return frame.sort(["day", "agent"], nulls_last=True)
