"""CLI commands of the analytics: ``export focus``, ``reprice``, ``waste``, ``audit``, ``anomalies``, ``top``.

Register them on the main app with :func:`register` (``agentledger export focus ...``, ``agentledger reprice``,
...). Every command reads the same Settings as the rest of the CLI; ``--json`` prints machine-readable
output. Errors are :class:`~agentledger.core.errors.AgentLedgerError`\\ s, which the main entry point
prints as ``Error: ...``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, Literal

import polars as pl
import typer
from rich.console import Console

from agentledger.analytics.anomalies import ANOMALY_METRICS, AnomalyMetric
from agentledger.analytics.filters import GROUP_BY, Filters, GroupBy
from agentledger.app.cli_format import Col, fmt, frame_table
from agentledger.core.settings import Settings
from agentledger.warehouse.base import Warehouse

__all__ = ["export_app", "register"]

out = Console()
err = Console(stderr=True)
export_app = typer.Typer(help="Export the ledger in standard formats.", no_args_is_help=True)

WarehouseOpt = Annotated[
    str | None, typer.Option("--warehouse", "-w", help="Warehouse URL (default: AGENTLEDGER_WAREHOUSE)")
]
SinceOpt = Annotated[
    str | None, typer.Option(help="Start of the window: ISO date or date-time (UTC), inclusive")
]
UntilOpt = Annotated[
    str | None, typer.Option(help="End of the window: ISO date or date-time (UTC), exclusive")
]
AgentOpt = Annotated[str | None, typer.Option(help="Only this agent")]
ModelOpt = Annotated[str | None, typer.Option(help="Only this model")]
JsonOpt = Annotated[
    bool, typer.Option("--json", help="Print JSON (every column, raw values) instead of a table")
]


def _settings(warehouse: str | None) -> Settings:
    return Settings(warehouse=warehouse) if warehouse else Settings()


def _filters(settings: Settings, since: str | None, until: str | None, **equal: str | None) -> Filters:
    from agentledger.app.services import scope

    return scope(settings.project_id, since, until, option_prefix="--", **equal)


@contextmanager
def _warehouse(settings: Settings) -> Iterator[Warehouse]:
    from agentledger.app.services import open_warehouse

    wh = open_warehouse(settings, existing=True)
    try:
        yield wh
    finally:
        wh.close()


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value


def _rows(frame: pl.DataFrame) -> list[dict[str, Any]]:
    return [{k: _jsonable(v) for k, v in r.items()} for r in frame.iter_rows(named=True)]


def _print(frame: pl.DataFrame, as_json: bool, title: str, columns: Sequence[Col]) -> None:
    """A frame as JSON rows (every column, raw values) or a table of the chosen ``columns``, formatted for
    reading (see :mod:`agentledger.app.cli_format`)."""
    if as_json:
        print(json.dumps(_rows(frame), default=str))
        return
    out.print(frame_table(frame, columns, title))


def _first_of(name: str, header: str) -> Col:
    """The first of a list column's values (an example trace id; the JSON output has them all)."""

    def show(row: dict[str, Any]) -> str:
        return fmt((row.get(name) or [None])[0], name)

    return Col(name, header, show=show, no_wrap=True)


def _cost(name: str = "cost_usd", header: str = "cost") -> Col:
    """A cost, marked as a lower bound (``≥ $1.20``) when calls without a price are part of it."""

    def show(row: dict[str, Any]) -> str:
        text = fmt(row.get(name), name)
        return f"≥ {text}" if row.get("unpriced_calls") and row.get(name) is not None else text

    return Col(name, header, show=show)


def _disagreeing(row: dict[str, Any]) -> str:
    compared = row.get("compared_calls") or 0
    return f"{fmt(row.get('disagreeing_calls'), 'calls')} of {fmt(compared, 'calls')}" if compared else "—"


def _kind(row: dict[str, Any]) -> str:
    return "waste" if row.get("counts_as_waste") else "info"


_STARTED = Col("started_at", "started (UTC)", no_wrap=True)
TOP_TRACES = (
    Col("trace_id", "trace", no_wrap=True),
    Col("agent_name", "agent"),
    Col("task_type", "task type"),
    Col("outcome", "outcome"),
    Col("calls", "calls"),
    _cost(),
    _STARTED,
)
TOP_SESSIONS = (
    Col("session_key", "session", no_wrap=True),
    Col("agent_name", "agent"),
    Col("user_id", "user"),
    Col("tasks", "tasks"),
    Col("failed_tasks", "failed"),
    Col("calls", "calls"),
    _cost(),
    _STARTED,
    Col("duration_ms", "duration", no_wrap=True),
)
WASTE = (
    Col("reason", "reason"),
    Col("counts_as_waste", "kind", show=_kind),  # waste: part of waste_usd; info: informational
    _cost(),
    Col("share_of_cost", "share", key="cost_share"),
    Col("calls", "calls"),
    Col("traces", "traces"),
    _first_of("example_trace_ids", "example trace"),
)
WASTE_GROUPED = tuple(c for c in WASTE if c.name not in ("counts_as_waste", "traces"))
AUDIT = (
    Col("source", "source"),
    Col("provider", "provider"),
    Col("model", "model", no_wrap=True),
    Col("calls", "calls"),
    Col("unpriced_calls", "unpriced"),
    Col("disagreeing_calls", "disagree", show=_disagreeing),
    Col("reported_usd", "reported"),
    Col("computed_usd", "computed"),
    Col("relative_gap", "gap", key="gap_ratio"),
    Col("cost_usd", "cost"),
)
UNPRICED = (
    Col("source", "source"),
    Col("provider", "provider"),
    Col("model", "model", no_wrap=True),
    Col("price_status", "status"),
    Col("calls", "calls"),
    Col("input_tokens", "input tokens"),
    Col("output_tokens", "output tokens"),
    Col("last_call_at", "last call (UTC)", no_wrap=True),
)
REPRICE = (
    Col("provider", "provider"),
    Col("model", "model", no_wrap=True),
    Col("calls", "calls"),
    Col("changed_calls", "changed"),
    Col("cost_before_usd", "cost before"),
    Col("cost_after_usd", "cost after"),
    Col("delta_usd", "change"),
    Col("unpriced_before", "unpriced before"),
    Col("unpriced_after", "unpriced after"),
)


def _anomaly_columns(metric: str) -> tuple[Col, ...]:
    return (
        Col("day", "day", no_wrap=True),
        Col("agent", "agent"),
        Col("value", "value", key=metric),
        Col("baseline", "baseline", key=metric),
        Col("robust_z", "robust z"),
        Col("history_days", "history days"),
        _first_of("top_trace_ids", "top trace"),
    )


@export_app.command("focus")
def export_focus_command(
    out_path: Annotated[
        Path | None,
        typer.Argument(help="File to write (.csv or .parquet); or give it as --out", show_default=False),
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="File to write (.csv or .parquet)", show_default=False)
    ] = None,
    file_format: Annotated[
        Literal["csv", "parquet"] | None,
        typer.Option("--format", help="File format (default: from the file name)"),
    ] = None,
    granularity: Annotated[
        Literal["hour", "call"],
        typer.Option(help="hour: one row per model and token type per hour; call: per call"),
    ] = "hour",
    include_unpriced: Annotated[
        bool, typer.Option(help="Keep unpriced calls with null costs (not FOCUS-conformant)")
    ] = False,
    since: SinceOpt = None,
    until: UntilOpt = None,
    agent: AgentOpt = None,
    model: ModelOpt = None,
    warehouse: WarehouseOpt = None,
) -> None:
    """Write the ledger as a FinOps FOCUS 1.2 cost-and-usage file (Σ BilledCost = total_cost_usd)."""
    from agentledger.analytics.focus import export_focus
    from agentledger.core.output import check_output_file
    from agentledger.core.pricing import Pricer

    if out_path is None and out is None:
        raise typer.BadParameter("give the file to write: --out FILE (.csv or .parquet)", param_hint="--out")
    if out_path is not None and out is not None:
        raise typer.BadParameter(
            "give the file to write once: as an argument or as --out", param_hint="--out"
        )
    target = out or out_path
    assert target is not None
    check_output_file(target)  # before the ledger is read
    settings = _settings(warehouse)
    chosen = file_format or ("parquet" if target.suffix.lower() == ".parquet" else "csv")
    with _warehouse(settings) as wh:
        result = export_focus(
            wh,
            _filters(settings, since, until, agent=agent, model=model),
            target,
            chosen,
            granularity,
            pricer=Pricer.from_settings(settings),
            include_unpriced=include_unpriced,
        )
    err.print(
        f"wrote {result.rows} rows ({result.calls} calls, BilledCost ${result.billed_cost_usd:,.4f}) to {result.path}"
        + (
            f"; left out {result.unpriced_calls_excluded} unpriced calls"
            if result.unpriced_calls_excluded
            else ""
        ),
        highlight=False,
    )


def reprice_command(
    apply: Annotated[
        bool, typer.Option("--apply", help="Write the new prices (default: a dry run that only reports)")
    ] = False,
    since: SinceOpt = None,
    until: UntilOpt = None,
    model: ModelOpt = None,
    provider: Annotated[str | None, typer.Option(help="Only this provider")] = None,
    source: Annotated[str | None, typer.Option(help="Only this source")] = None,
    as_json: JsonOpt = False,
    warehouse: WarehouseOpt = None,
) -> None:
    """Re-price stored calls with the current prices (AGENTLEDGER_PRICES_FILE overrides, cost policy)."""
    from agentledger.analytics.reprice import reprice
    from agentledger.core.pricing import Pricer

    settings = _settings(warehouse)
    filters = _filters(settings, since, until, model=model, provider=provider, source=source)
    with _warehouse(settings) as wh:
        report = reprice(wh, Pricer.from_settings(settings), filters, dry_run=not apply)
    _print(report.by_model(), as_json, "Re-price by model", REPRICE)
    verb = "re-priced" if apply else "would re-price"
    err.print(
        f"{verb} {report.calls_changed} of {report.calls_examined} calls: Δ ${report.delta_usd:+,.6f}"
        + (f" (run {report.run_id})" if report.run_id else "; run again with --apply to write")
    )


def waste_command(
    group_by: Annotated[
        GroupBy | None,
        typer.Option(
            metavar="<dimension>",
            help=f"One row per value and reason of: {', '.join(GROUP_BY)} (default: overall)",
        ),
    ] = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    agent: AgentOpt = None,
    model: ModelOpt = None,
    as_json: JsonOpt = False,
    warehouse: WarehouseOpt = None,
) -> None:
    """Waste in dollars by reason: failed tasks and failed calls (waste_usd), loops, duplicates, truncation, unread cache writes."""
    from agentledger.analytics.waste import waste_attribution
    from agentledger.core.pricing import Pricer

    settings = _settings(warehouse)
    with _warehouse(settings) as wh:
        frame = waste_attribution(
            wh,
            _filters(settings, since, until, agent=agent, model=model),
            group_by,
            runaway_threshold=settings.runaway_call_threshold,
            pricer=Pricer.from_settings(settings),
        )
    columns = WASTE if group_by is None else (Col("key", group_by, no_wrap=True), *WASTE_GROUPED)
    _print(frame, as_json, "Waste by reason", columns)


def audit_command(
    tolerance: Annotated[
        float | None, typer.Option(help="Relative gap that counts as a disagreement (default: the setting)")
    ] = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    as_json: JsonOpt = False,
    warehouse: WarehouseOpt = None,
) -> None:
    """Reported vs computed cost per source and model, and the calls without a price."""
    from agentledger.analytics.audit import cost_audit, unpriced_calls

    settings = _settings(warehouse)
    tol = settings.cost_tolerance if tolerance is None else tolerance
    with _warehouse(settings) as wh:
        filters = _filters(settings, since, until)
        audit, unpriced = cost_audit(wh, filters, tol), unpriced_calls(wh, filters)
    if as_json:
        print(
            json.dumps({"tolerance": tol, "by_model": _rows(audit), "unpriced": _rows(unpriced)}, default=str)
        )
        return
    _print(audit, as_json, f"Reported vs computed cost (tolerance {tol:.0%})", AUDIT)
    _print(unpriced, as_json, "Calls without a price", UNPRICED)


def anomalies_command(
    metric: Annotated[
        AnomalyMetric,
        typer.Option(metavar="<metric>", help=f"The daily value to watch: {', '.join(ANOMALY_METRICS)}"),
    ] = "total_cost_usd",
    z: Annotated[float, typer.Option(help="Robust z-score threshold")] = 3.5,
    window_days: Annotated[
        int, typer.Option(help="Trailing baseline length in days (weeks with --by-weekday)")
    ] = 14,
    by_weekday: Annotated[bool, typer.Option(help="Compare each day with the same weekday")] = False,
    since: SinceOpt = None,
    until: UntilOpt = None,
    agent: AgentOpt = None,
    as_json: JsonOpt = False,
    warehouse: WarehouseOpt = None,
) -> None:
    """Days where an agent's cost departs from its robust baseline, with the traces that drove it."""
    from agentledger.analytics.anomalies import detect_anomalies

    settings = _settings(warehouse)
    with _warehouse(settings) as wh:
        frame = detect_anomalies(
            wh, _filters(settings, since, until, agent=agent), metric, z, window_days, by_weekday=by_weekday
        )
    _print(frame, as_json, f"Anomalies in {metric}", _anomaly_columns(metric))


def top_command(
    what: Annotated[Literal["traces", "sessions"], typer.Argument(help="What to rank by cost")] = "traces",
    limit: Annotated[int, typer.Option(min=1, help="How many")] = 10,
    since: SinceOpt = None,
    until: UntilOpt = None,
    agent: AgentOpt = None,
    as_json: JsonOpt = False,
    warehouse: WarehouseOpt = None,
) -> None:
    """The most expensive traces (tasks) or sessions, with agent, outcome, calls and cost (--json: tokens,
    duration and the rest)."""
    from agentledger.analytics.breakdowns import top_sessions, top_traces

    settings = _settings(warehouse)
    with _warehouse(settings) as wh:
        fn = top_traces if what == "traces" else top_sessions
        frame = fn(wh, _filters(settings, since, until, agent=agent), limit)
    _print(frame, as_json, f"Top {what} by cost", TOP_TRACES if what == "traces" else TOP_SESSIONS)


def register(app: typer.Typer) -> None:
    """Add the analytics commands to the main ``agentledger`` app."""
    app.add_typer(export_app, name="export")
    app.command("reprice")(reprice_command)
    app.command("waste")(waste_command)
    app.command("audit")(audit_command)
    app.command("anomalies")(anomalies_command)
    app.command("top")(top_command)
