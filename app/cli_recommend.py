"""``agentledger recommend`` and ``agentledger whatif``: command functions registered by :mod:`.cli`.

Both replay the window (default: the last 30 days of data) with the same prices as ingest; ``--json``
prints the contract of ``GET /api/recommendations`` / ``POST /api/whatif``, otherwise rich tables.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from agentledger.app.cli_format import usd
from agentledger.core.settings import Settings

__all__ = ["recommend", "whatif"]

out = Console()

WarehouseOpt = Annotated[
    str | None, typer.Option("--warehouse", "-w", help="Warehouse URL (default: AGENTLEDGER_WAREHOUSE)")
]
SinceOpt = Annotated[
    str | None,
    typer.Option(help="Start of the window: ISO date or date-time (UTC), inclusive (default: 30 days back)"),
]
UntilOpt = Annotated[
    str | None,
    typer.Option(help="End of the window: ISO date or date-time (UTC), exclusive (default: the last call)"),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object")]


def _settings(warehouse: str | None) -> Settings:
    return Settings(warehouse=warehouse) if warehouse else Settings()


def _filters(settings: Settings, since: str | None, until: str | None) -> Any:
    from agentledger.app.services import scope

    return scope(settings.project_id, since, until, option_prefix="--")


def _print_json(payload: dict[str, Any]) -> None:
    text = json.dumps(payload, default=str)
    if out.is_terminal:
        out.print_json(text)
    else:
        print(text)


def _target(target: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in target.items() if v is not None) or "—"


def recommend(
    as_json: JsonOpt = False,
    since: SinceOpt = None,
    until: UntilOpt = None,
    warehouse: WarehouseOpt = None,
) -> None:
    """What to change, with the monthly saving the replay of your history gives each change."""
    from agentledger.analytics.recommend import RecommendOptions, recommend_report
    from agentledger.app.services import open_warehouse

    settings = _settings(warehouse)
    filters = _filters(settings, since, until)
    wh = open_warehouse(settings, existing=True)
    try:
        report = recommend_report(wh, filters, settings, RecommendOptions())
    finally:
        wh.close()
    if as_json:
        _print_json(report.model_dump(mode="json"))
        return
    _print_report(report.model_dump(mode="json"))


def _print_report(report: dict[str, Any]) -> None:
    window = report["window"]
    table = Table(
        "kind",
        "target",
        "per month",
        "95 % interval",
        "confidence",
        "action",
        title=f"recommendations, {window['since'][:10]} to {window['until'][:10]} ({window['days']:.1f} days)",
    )
    for rec in report["recommendations"]:
        low, high = rec["savings_ci_usd"]
        table.add_row(
            rec["kind"],
            _target(rec["target"]),
            usd(rec["monthly_savings_usd"]),
            f"{usd(low)} – {usd(high)}",
            rec["confidence"],
            rec["action"],
        )
    if report["recommendations"]:
        out.print(table)
    else:
        out.print("No recommendation saves enough in this window.")
    for note in report["notes"]:
        out.print(f"[dim]note ({note['kind']}):[/] {note['message']}")


def whatif(
    policy: Annotated[
        Path,
        typer.Option(
            "--policy", exists=True, dir_okay=False, help="YAML policy file (see examples/policies/)"
        ),
    ],
    as_json: JsonOpt = False,
    since: SinceOpt = None,
    until: UntilOpt = None,
    warehouse: WarehouseOpt = None,
) -> None:
    """Replay the recorded history under a policy: what it would have cost and what it would have saved."""
    from agentledger.analytics.recommend import RecommendOptions
    from agentledger.analytics.whatif import load_policy, run_whatif
    from agentledger.app.services import open_warehouse
    from agentledger.core.pricing import Pricer

    settings = _settings(warehouse)
    parsed = load_policy(policy)
    filters = _filters(settings, since, until)
    options = RecommendOptions()
    wh = open_warehouse(settings, existing=True)
    try:
        result = run_whatif(
            wh,
            filters,
            parsed,
            Pricer.from_settings(settings),
            resamples=options.resamples,
            seed=options.seed,
        )
    finally:
        wh.close()
    if as_json:
        _print_json(result)
        return
    _print_whatif(result)


def _print_whatif(result: dict[str, Any]) -> None:
    window = result["window"]
    summary = Table("", "value", title=f"what-if, {window['since'][:10]} to {window['until'][:10]}")
    pct = result["savings_pct"]
    low, high = result["savings_ci_usd"]
    rows = [
        ("calls (repriced)", f"{result['calls']:,} ({result['repriced_calls']:,})"),
        ("recorded cost", usd(result["recorded_cost_usd"])),
        ("cost under the policy", usd(result["replayed_cost_usd"])),
        ("saving", f"{usd(result['savings_usd'])}" + (f" ({pct:.1f} %)" if pct is not None else "")),
        ("95 % interval", f"{usd(low)} – {usd(high)}"),
        ("saving per month", usd(result["monthly_savings_usd"])),
    ]
    for label, value in rows:
        summary.add_row(label, value)
    out.print(summary)
    by_type = Table("task type", "calls", "recorded", "under the policy", "saving", title="by task type")
    for row in result["by_task_type"]:
        by_type.add_row(
            str(row["key"]),
            f"{row['calls']:,}",
            usd(row["recorded_cost_usd"]),
            usd(row["replayed_cost_usd"]),
            usd(row["savings_usd"]),
        )
    out.print(by_type)
    for note in result["notes"]:
        out.print(f"[dim]note:[/] {note}")
