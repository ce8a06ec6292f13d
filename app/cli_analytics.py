"""CLI commands of the analytics: ``export focus``, ``reprice``, ``waste``, ``audit``, ``anomalies``, ``top``.

Register them on the main app with :func:`register` (``agentledger export focus ...``, ``agentledger reprice``,
...). Every command reads the same Settings as the rest of the CLI; ``--json`` prints machine-readable
output. Errors are :class:`~agentledger.core.errors.AgentLedgerError`\\ s, which the main entry point
prints as ``Error: ...``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import polars as pl
import typer
from rich.console import Console
from rich.table import Table

from agentledger.analytics.filters import Filters
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
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table")]


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


def _print(frame: pl.DataFrame, as_json: bool, title: str) -> None:
    """A frame as JSON rows or a rich table (floats rounded for reading only)."""
    if as_json:
        print(json.dumps(_rows(frame), default=str))
        return
    table = Table(title=title)
    for name in frame.columns:
        table.add_column(name, overflow="fold")
    for row in frame.iter_rows():
        table.add_row(*("—" if v is None else f"{v:.6g}" if isinstance(v, float) else str(v) for v in row))
    out.print(table)


@export_app.command("focus")
def export_focus_command(
    out_path: Annotated[
        Path | None,
        typer.Argument(help="File to write (.csv or .parquet); or give it as --out", show_default=False),
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="File to write (.csv or .parquet)", show_default=False)
    ] = None,
    fmt: Annotated[
        str | None, typer.Option("--format", help="csv or parquet (default: from the file name)")
    ] = None,
    granularity: Annotated[
        str, typer.Option(help="hour: one row per model and token type per hour; call: per call")
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
    from agentledger.core.pricing import Pricer

    if (out_path is None) == (out is None):
        raise typer.BadParameter("give the file to write once: --out FILE", param_hint="--out")
    out_path = out or out_path
    assert out_path is not None
    settings = _settings(warehouse)
    chosen = fmt or ("parquet" if out_path.suffix.lower() == ".parquet" else "csv")
    if chosen not in ("csv", "parquet"):
        raise typer.BadParameter(f"{chosen!r}: choose csv or parquet", param_hint="--format")
    with _warehouse(settings) as wh:
        result = export_focus(
            wh,
            _filters(settings, since, until, agent=agent, model=model),
            out_path,
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
        )
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
    _print(report.by_model(), as_json, "Re-price by model")
    verb = "re-priced" if apply else "would re-price"
    err.print(
        f"{verb} {report.calls_changed} of {report.calls_examined} calls: Δ ${report.delta_usd:+,.6f}"
        + (f" (run {report.run_id})" if report.run_id else "; run again with --apply to write")
    )


def waste_command(
    group_by: Annotated[
        str | None, typer.Option(help="agent, task_type, model, ... (default: overall)")
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
    _print(frame, as_json, "Waste by reason")


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
    _print(audit, as_json, f"Reported vs computed cost (tolerance {tol:.0%})")
    _print(unpriced, as_json, "Calls without a price")


def anomalies_command(
    metric: Annotated[
        str, typer.Option(help="total_cost_usd, cost_per_completed_task_usd or p95_session_cost_usd")
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
    _print(frame, as_json, f"Anomalies in {metric}")


def top_command(
    what: Annotated[str, typer.Argument(help="traces or sessions")] = "traces",
    limit: Annotated[int, typer.Option(min=1, help="How many")] = 10,
    since: SinceOpt = None,
    until: UntilOpt = None,
    agent: AgentOpt = None,
    as_json: JsonOpt = False,
    warehouse: WarehouseOpt = None,
) -> None:
    """The most expensive traces (tasks) or sessions, with calls, tokens, duration and outcome."""
    from agentledger.analytics.breakdowns import top_sessions, top_traces
    from agentledger.core.errors import InputError

    if what not in ("traces", "sessions"):
        raise InputError(f"top {what!r}: choose traces or sessions")
    settings = _settings(warehouse)
    with _warehouse(settings) as wh:
        fn = top_traces if what == "traces" else top_sessions
        frame = fn(wh, _filters(settings, since, until, agent=agent), limit)
    _print(frame, as_json, f"Top {what} by cost")


def register(app: typer.Typer) -> None:
    """Add the analytics commands to the main ``agentledger`` app."""
    app.add_typer(export_app, name="export")
    app.command("reprice")(reprice_command)
    app.command("waste")(waste_command)
    app.command("audit")(audit_command)
    app.command("anomalies")(anomalies_command)
    app.command("top")(top_command)
