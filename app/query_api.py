"""The analytics query API: breakdowns, time series, waste, top sessions and traces, a trace's calls, the
cost audit and anomalies, as JSON under ``/api`` (mounted by :func:`agentledger.app.api.create_app`).

Every endpoint takes the same filters (``since``, ``until`` as ISO dates or date-times in UTC, ``agent``,
``task_type``, ``user``, ``feature``, ``model``, ``provider``, ``source``, ``environment``), needs an API key
when keys are configured (``require_key``), and answers with a documented response model. Numbers that
are undefined (a ratio over nothing, an unknown cost) are ``null``, never NaN.
"""

# No `from __future__ import annotations`: FastAPI resolves the endpoint signatures at runtime, and
# they use `Scope`, a dependency alias local to build_query_router.
from collections.abc import Callable
from datetime import date, datetime
from typing import Annotated, Any

import polars as pl
from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, Field, create_model

from agentledger.analytics import anomalies, audit, breakdowns, focus, waste
from agentledger.analytics._common import finite
from agentledger.analytics.breakdowns import DIMENSIONS, INTERVALS, metric_schema
from agentledger.analytics.filters import GROUP_BY, Filters
from agentledger.analytics.metrics import money
from agentledger.app.services import scope
from agentledger.core.errors import AgentLedgerError, ConfigError, InputError
from agentledger.core.pricing import Pricer
from agentledger.core.settings import Settings
from agentledger.warehouse.base import Warehouse

__all__ = ["Equal", "Since", "Until", "build_query_router", "equal_filters"]

# The window every query endpoint takes (DESIGN.md: calls whose started_at falls in it).
Since = Annotated[str | None, Query(description="Window start: ISO date or date-time, UTC, inclusive")]
Until = Annotated[str | None, Query(description="Window end: ISO date or date-time, UTC, exclusive")]


def equal_filters(
    agent: str | None = None,
    task_type: str | None = None,
    user: str | None = None,
    feature: str | None = None,
    model: str | None = None,
    provider: str | None = None,
    source: str | None = None,
    environment: str | None = None,
) -> dict[str, str | None]:
    """The equality filters every query endpoint takes, as query parameters (keyword arguments of ``scope``)."""
    return {
        "agent": agent,
        "task_type": task_type,
        "user": user,
        "feature": feature,
        "model": model,
        "provider": provider,
        "source": source,
        "environment": environment,
    }


Equal = Annotated[dict[str, str | None], Depends(equal_filters)]


# -- response models ------------------------------------------------------------------------------


def _py_type(dtype: pl.DataType) -> Any:
    return int if dtype.is_integer() else float


MetricRow = create_model(  # type: ignore[call-overload]
    "MetricRow",
    __doc__="Every scalar metric of DESIGN.md for one key, with <m>_prev, <m>_delta and <m>_change.",
    key=(str | None, Field(None, description="Value of the dimension (null: calls without one)")),
    **{name: (_py_type(t) | None, None) for name, t in metric_schema().items()},
)
SeriesRow = create_model(  # type: ignore[call-overload]
    "SeriesRow",
    __base__=MetricRow,
    __doc__="Every scalar metric for one bucket (and key), with its change against the previous bucket.",
    bucket=(date, Field(..., description="First day of the bucket (UTC; weeks start on Monday)")),
)


class Window(BaseModel):
    since: datetime | None = Field(None, description="Start of the window (inclusive, UTC)")
    until: datetime | None = Field(None, description="End of the window (exclusive, UTC)")


class BreakdownResponse(BaseModel):
    dim: str
    window: Window
    previous_window: Window = Field(..., description="The window of the same length right before")
    rows: list[MetricRow]  # type: ignore[valid-type]


class TimeseriesResponse(BaseModel):
    interval: str
    dim: str | None
    rows: list[SeriesRow]  # type: ignore[valid-type]


class WasteRow(BaseModel):
    key: str | None = Field(None, description="Group value (absent when not grouped)")
    reason: str = Field(
        ...,
        description="failed_task, failed_call (waste_usd); runaway_loop, duplicate_call, "
        "truncated_output, unread_cache_write (informational)",
    )
    counts_as_waste: bool
    cost_usd: float | None
    share_of_cost: float | None
    calls: int
    unpriced_calls: int
    traces: int
    example_trace_ids: list[str]


class WasteResponse(BaseModel):
    group_by: str | None
    waste_usd: float | None = Field(..., description="failed_task + failed_call: DESIGN.md's waste_usd")
    rows: list[WasteRow]


class TopTrace(BaseModel):
    key: str | None = None
    rank: int
    source: str
    trace_id: str
    session_key: str | None
    agent_name: str | None
    agents: int
    task_type: str | None
    user_id: str | None
    outcome: str
    calls: int
    unpriced_calls: int
    error_calls: int
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cost_usd: float | None
    started_at: datetime
    ended_at: datetime
    duration_ms: int | None


class TopSession(BaseModel):
    key: str | None = None
    rank: int
    session_key: str
    agent_name: str | None
    agents: int
    user_id: str | None
    tasks: int
    completed_tasks: int
    failed_tasks: int
    calls: int
    unpriced_calls: int
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cost_usd: float | None
    started_at: datetime
    ended_at: datetime
    duration_ms: int | None


class TraceCall(BaseModel):
    step: int
    source: str
    span_id: str
    parent_span_id: str | None
    session_id: str | None
    user_id: str | None
    agent_name: str | None
    task_type: str | None
    provider: str | None
    model: str | None
    started_at: datetime
    latency_ms: float | None
    ttft_ms: float | None
    max_tokens: int | None
    input_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    output_tokens: int
    reasoning_tokens: int
    finish_reason: str | None
    status: str
    error_type: str | None
    cost_usd: float | None
    price_status: str


class TraceResponse(BaseModel):
    trace_id: str
    outcome: str
    calls: int
    cost_usd: float | None = Field(..., description="Σ cost of the trace's calls (null: all unpriced)")
    steps: list[TraceCall]


class AuditModel(BaseModel):
    source: str
    provider: str | None
    model: str | None
    calls: int
    unpriced_calls: int
    reported_only_calls: int
    compared_calls: int
    reported_usd: float | None
    computed_usd: float | None
    relative_gap: float | None = Field(None, description="(reported - computed) / computed")
    disagreeing_calls: int
    cost_usd: float | None


class Disagreement(BaseModel):
    source: str
    trace_id: str
    span_id: str
    provider: str | None
    model: str | None
    started_at: datetime
    cost_reported_usd: float
    cost_computed_usd: float
    gap_usd: float
    relative_gap: float | None


class Unpriced(BaseModel):
    source: str
    provider: str | None
    model: str | None
    price_status: str
    calls: int
    input_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    output_tokens: int
    reasoning_tokens: int
    cost_usd: float | None
    first_call_at: datetime
    last_call_at: datetime


class AuditResponse(BaseModel):
    tolerance: float
    by_model: list[AuditModel]
    disagreements: list[Disagreement]
    unpriced: list[Unpriced]


class Anomaly(BaseModel):
    day: date
    agent: str | None
    metric: str
    value: float | None
    baseline: float | None
    mad: float | None
    robust_z: float | None = Field(None, description="null when infinite (a constant history left)")
    history_days: int
    top_trace_ids: list[str]
    top_trace_costs: list[float | None]
    top_trace_calls: list[int]


class AnomaliesResponse(BaseModel):
    metric: str
    threshold: float
    window_days: int
    rows: list[Anomaly]


# -- helpers --------------------------------------------------------------------------------------


def records(frame: pl.DataFrame) -> list[dict[str, Any]]:
    """Rows of ``frame`` as dicts with NaN and infinities replaced by None (JSON has neither)."""
    return [
        {k: ([finite(x) for x in v] if isinstance(v, list) else finite(v)) for k, v in row.items()}
        for row in frame.iter_rows(named=True)
    ]


def _choice(name: str, allowed: tuple[str, ...]) -> Any:
    return Query(description=f"one of {', '.join(allowed)}")


def _run(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call an analytics function; a wrong input is the client's (422), not a server error."""
    try:
        return fn(*args, **kwargs)
    except (InputError, ConfigError) as exc:
        raise HTTPException(422, str(exc)) from exc
    except AgentLedgerError as exc:
        raise HTTPException(500, str(exc)) from exc


def build_query_router(
    warehouse: Warehouse, settings: Settings, require_key: Callable[..., Any]
) -> APIRouter:
    """The ``/api`` analytics endpoints on ``warehouse``; every one depends on ``require_key``, which
    returns the caller's project (None: ``settings.project_id``) and every query is limited to it."""
    router = APIRouter(prefix="/api", tags=["query"], dependencies=[Depends(require_key)])
    pricer = Pricer.from_settings(settings)
    wh = warehouse

    def project_of(project: Annotated[str | None, Depends(require_key)]) -> str:
        return project or settings.project_id

    Project = Annotated[str, Depends(project_of)]

    def filters(project: Project, equal: Equal, since: Since = None, until: Until = None) -> Filters:
        try:
            return scope(project, since, until, **equal)
        except (ConfigError, InputError) as exc:
            raise HTTPException(422, str(exc)) from exc

    Scope = Annotated[Filters, Depends(filters)]

    @router.get("/breakdown", response_model=BreakdownResponse)
    def get_breakdown(
        f: Scope, dim: Annotated[str, Query(description=f"one of {', '.join(DIMENSIONS)}")] = "agent"
    ) -> dict[str, Any]:
        """Every metric per value of ``dim`` over the window (default: the last 7 days), with its change
        against the window of the same length before it."""
        if dim in INTERVALS:
            raise HTTPException(422, f"dim={dim!r}: use /api/timeseries for day and week")
        current = breakdowns.resolve_window(f)
        previous = breakdowns.previous_window(current)
        rows = _run(breakdowns.breakdown, wh, current, dim)
        return {
            "dim": dim,
            "window": {"since": current.since, "until": current.until},
            "previous_window": {"since": previous.since, "until": previous.until},
            "rows": records(rows),
        }

    @router.get("/timeseries", response_model=TimeseriesResponse)
    def get_timeseries(
        f: Scope,
        interval: Annotated[str, Query(description="day or week")] = "day",
        dim: Annotated[str | None, _choice("dim", DIMENSIONS)] = None,
    ) -> dict[str, Any]:
        """Every metric per day or week (and per value of ``dim``), empty buckets included."""
        rows = _run(breakdowns.timeseries, wh, f, interval, dim, max_rows=breakdowns.MAX_SERIES_ROWS)
        return {"interval": interval, "dim": dim, "rows": records(rows)}

    @router.get("/waste", response_model=WasteResponse)
    def get_waste(
        f: Scope,
        group_by: Annotated[str | None, _choice("group_by", GROUP_BY)] = None,
        examples: Annotated[int, Query(ge=0, le=20, description="Example trace ids per reason")] = 3,
    ) -> dict[str, Any]:
        """Waste in dollars by reason (overall or per group), with shares of cost and example traces."""
        rows = _run(
            waste.waste_attribution,
            wh,
            f,
            group_by,
            runaway_threshold=settings.runaway_call_threshold,
            examples=examples,
            pricer=pricer,
        )
        counted = rows.filter(pl.col("counts_as_waste") & (pl.col("calls") > 0))
        priced = counted["cost_usd"].drop_nulls()  # a reason without calls is no known $0: as /api/metrics
        total = money(float(priced.sum()) if len(priced) else None, int(counted["calls"].sum()))
        return {"group_by": group_by, "waste_usd": total, "rows": records(rows)}

    @router.get("/sessions/top", response_model=list[TopSession])
    def get_top_sessions(
        f: Scope,
        limit: Annotated[int, Query(ge=1, le=1000)] = 10,
        group_by: Annotated[str | None, _choice("group_by", GROUP_BY)] = None,
    ) -> list[dict[str, Any]]:
        """The most expensive sessions (per group when ``group_by`` is set)."""
        return records(_run(breakdowns.top_sessions, wh, f, limit, group_by))

    @router.get("/traces/top", response_model=list[TopTrace])
    def get_top_traces(
        f: Scope,
        limit: Annotated[int, Query(ge=1, le=1000)] = 10,
        group_by: Annotated[str | None, _choice("group_by", GROUP_BY)] = None,
    ) -> list[dict[str, Any]]:
        """The most expensive traces (tasks), per group when ``group_by`` is set."""
        return records(_run(breakdowns.top_traces, wh, f, limit, group_by))

    @router.get(
        "/traces/{trace_id}", response_model=TraceResponse, responses={404: {"description": "No such trace"}}
    )
    def get_trace(trace_id: str, project: Project) -> dict[str, Any]:
        """One trace's LLM calls in order, with the task's outcome."""
        calls = _run(breakdowns.trace_calls, wh, project, trace_id)
        if calls.is_empty():
            raise HTTPException(404, f"no calls recorded for trace {trace_id!r} in project {project!r}")
        costs = calls["cost_usd"].drop_nulls()
        outcome = "failure" if (calls["outcome"] == "failure").any() else "success"
        return {
            "trace_id": trace_id,
            "outcome": outcome,
            "calls": calls.height,
            "cost_usd": float(costs.sum()) if len(costs) else None,
            "steps": records(calls),
        }

    @router.get("/audit", response_model=AuditResponse)
    def get_audit(
        f: Scope,
        tolerance: Annotated[
            float | None, Query(ge=0, description="Relative gap (default: the setting)")
        ] = None,
        limit: Annotated[int, Query(ge=1, le=10000, description="Most disagreeing calls listed")] = 100,
    ) -> dict[str, Any]:
        """Reported vs computed cost per source and model, the calls that disagree, and the unpriced calls."""
        tol = settings.cost_tolerance if tolerance is None else tolerance
        return {
            "tolerance": tol,
            "by_model": records(_run(audit.cost_audit, wh, f, tol)),
            "disagreements": records(_run(audit.cost_disagreements, wh, f, tol, limit)),
            "unpriced": records(_run(audit.unpriced_calls, wh, f)),
        }

    @router.get("/anomalies", response_model=AnomaliesResponse)
    def get_anomalies(
        f: Scope,
        metric: Annotated[str, Query(description=", ".join(anomalies.ANOMALY_METRICS))] = "total_cost_usd",
        z: Annotated[float, Query(gt=0, description="Robust z-score threshold")] = 3.5,
        window_days: Annotated[int, Query(ge=3, le=365, description="Trailing baseline length")] = 14,
        by_weekday: Annotated[bool, Query(description="Baseline on the same weekday")] = False,
    ) -> dict[str, Any]:
        """Days where an agent's metric departs from its trailing robust baseline, with driving traces."""
        rows = _run(anomalies.detect_anomalies, wh, f, metric, z, window_days, by_weekday=by_weekday)
        return {"metric": metric, "threshold": z, "window_days": window_days, "rows": records(rows)}

    @router.get(
        "/export/focus",
        response_class=PlainTextResponse,
        responses={200: {"description": "FOCUS 1.2 rows as CSV", "content": {"text/csv": {}}}},
    )
    def get_focus_export(
        f: Scope,
        granularity: Annotated[
            str, Query(pattern="^(hour|call)$", description="hour: per model and token type per hour; call")
        ] = "hour",
        include_unpriced: Annotated[
            bool, Query(description="Keep unpriced calls with null costs (not FOCUS-conformant)")
        ] = False,
    ) -> PlainTextResponse:
        """The key's project as a FinOps FOCUS 1.2 cost-and-usage CSV (sum of BilledCost = total_cost_usd).
        Headers tell the calls covered and the unpriced calls left out."""
        text, counts = _run(focus.focus_csv, wh, f, granularity, pricer, include_unpriced)
        return PlainTextResponse(
            text,
            media_type="text/csv; charset=utf-8",
            headers={
                "Content-Disposition": 'attachment; filename="focus.csv"',
                "X-AgentLedger-Calls": str(counts["calls"]),
                "X-AgentLedger-Unpriced-Excluded": str(counts["unpriced_calls_excluded"]),
            },
        )

    return router
