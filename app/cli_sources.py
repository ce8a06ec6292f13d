"""CLI commands for the pull sources: ``ingest langfuse|helicone|litellm``, ``sync`` and ``sources``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from rich.table import Table

from agentledger.core.errors import ConfigError

SinceOpt = Annotated[
    str | None, typer.Option(help="Read from this ISO date or date-time (UTC) instead of the stored cursor")
]
WarehouseOpt = Annotated[
    str | None, typer.Option("--warehouse", "-w", help="Warehouse URL (default: AGENTLEDGER_WAREHOUSE)")
]
ConfigOpt = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="Sources file (default: AGENTLEDGER_CONFIG_FILE, agentledger.yaml)"),
]


def _run_one(
    options: dict[str, Any], since: str | None, warehouse: str | None, env: dict[str, str] | None = None
) -> None:
    from agentledger.app import cli
    from agentledger.app.services import build_pipeline, open_warehouse, parse_when
    from agentledger.ingest.collectors.registry import collector_from_options
    from agentledger.ingest.sync import sync_collector

    settings = cli._settings(warehouse)
    collector = collector_from_options(options, env=env)
    wh = open_warehouse(settings)
    try:
        with cli._progress() as progress:
            task = progress.add_task(f"{collector.name} records", total=None)
            report = sync_collector(
                collector,
                build_pipeline(settings, wh),
                wh,
                project_id=settings.project_id,
                since=parse_when(since, "--since"),
                progress=lambda r: progress.update(task, completed=r.records),
            )
    finally:
        _close(collector)
        wh.close()
    _print_reports([report])


def _check_url_option(url: str | None, option: str) -> None:
    """Refuse at once a base URL that is not http(s) with a host name, naming the option."""
    if url is not None:
        from agentledger.ingest.config import check_http_url

        check_http_url(url, option)


def _close(collector: Any) -> None:
    close = getattr(collector, "close", None)
    if callable(close):
        close()


def ingest_langfuse(
    host: Annotated[
        str | None, typer.Option(help="Langfuse base URL (default: LANGFUSE_HOST, else Langfuse Cloud)")
    ] = None,
    since: SinceOpt = None,
    warehouse: WarehouseOpt = None,
) -> None:
    """Pull Langfuse observations (keys from LANGFUSE_PUBLIC_KEY / LANGFUSE_SECRET_KEY), incrementally."""
    _check_url_option(host, "--host")
    _run_one({"type": "langfuse", "host": host}, since, warehouse)


def ingest_helicone(
    host: Annotated[
        str | None, typer.Option(help="Helicone API base URL (default: https://api.helicone.ai)")
    ] = None,
    cost_unit: Annotated[
        Literal["usd", "nano_usd"],
        typer.Option(help="Unit of `cost` in the payloads: usd (API) or nano_usd (raw exports)"),
    ] = "usd",
    since: SinceOpt = None,
    warehouse: WarehouseOpt = None,
) -> None:
    """Pull Helicone requests (key from HELICONE_API_KEY), incrementally."""
    _check_url_option(host, "--host")
    options: dict[str, Any] = {"type": "helicone", "cost_unit": cost_unit}
    if host:
        options["base_url"] = host
    _run_one(options, since, warehouse)


def ingest_litellm(
    api_url: Annotated[
        str | None,
        typer.Option(help="LiteLLM proxy URL: reads GET /spend/logs/v2 (key from LITELLM_API_KEY)"),
    ] = None,
    db_url: Annotated[
        str | None,
        typer.Option(help="postgresql:// URL of the proxy's database: reads LiteLLM_SpendLogs (read-only)"),
    ] = None,
    file: Annotated[
        Path | None,
        typer.Option(help="JSON/JSONL/CSV file or folder of spend logs or standard logging payloads"),
    ] = None,
    since: SinceOpt = None,
    warehouse: WarehouseOpt = None,
) -> None:
    """Pull LiteLLM spend logs from the proxy API, its Postgres table, or files: exactly one of the three."""
    given = [
        name for name, value in (("--api-url", api_url), ("--db-url", db_url), ("--file", file)) if value
    ]
    if len(given) != 1:
        raise ConfigError(
            "give exactly one of --api-url, --db-url or --file"
            + (f" (got {', '.join(given)})" if given else "")
        )
    if api_url:
        _check_url_option(api_url, "--api-url")
        _run_one({"type": "litellm", "api_url": api_url}, since, warehouse)
    elif db_url:
        from agentledger.ingest.collectors.litellm_postgres import check_db_url

        check_db_url(db_url, "--db-url")  # before any connection; the message masks the password
        # The URL may hold a password: it travels as the variable LiteLLM itself uses, never into logs.
        _run_one({"type": "litellm_postgres"}, since, warehouse, env={**os.environ, "DATABASE_URL": db_url})
    else:
        _run_one({"type": "litellm_file", "path": str(file)}, since, warehouse)


def sync(
    config: ConfigOpt = None,
    since: SinceOpt = None,
    warehouse: WarehouseOpt = None,
) -> None:
    """Sync every source of the sources file incrementally (each from its stored cursor)."""
    from agentledger.app import cli
    from agentledger.app.services import build_pipeline, open_warehouse, parse_when
    from agentledger.ingest.config import load_config
    from agentledger.ingest.sync import sync_all

    settings = cli._settings(warehouse)
    path = config or settings.config_file
    if not Path(path).is_file():
        raise ConfigError(
            f"sources file {path} not found: create it (see examples/agentledger.yaml) or pass --config"
        )
    sources = load_config(path)
    wh = open_warehouse(settings)
    try:
        with cli._progress() as progress:
            tasks: dict[str, Any] = {}

            def show(report: Any) -> None:
                if report.source_key not in tasks:
                    tasks[report.source_key] = progress.add_task(f"{report.source} records", total=None)
                progress.update(tasks[report.source_key], completed=report.records)

            reports = sync_all(
                sources,
                build_pipeline(settings, wh),
                wh,
                project_id=settings.project_id,
                since=parse_when(since, "--since"),
                progress=show,
            )
    finally:
        wh.close()
    _print_reports(reports)
    if any(not r.ok for r in reports):
        raise typer.Exit(1)


def _print_reports(reports: list[Any]) -> None:
    from agentledger.app.cli import out

    table = Table("source", "records", "calls", "malformed", "cursor", "error", title="sync")
    for r in reports:
        table.add_row(
            r.source_key,
            f"{r.records:,}",
            f"{r.calls:,}",
            f"{r.malformed:,}",
            str(r.cursor_after or "—"),
            r.error or "",
        )
    out.print(table)


def sources(warehouse: WarehouseOpt = None) -> None:
    """Each source's last run, cursor, record count and last error (secrets never shown)."""
    from agentledger.analytics.sources import list_sources
    from agentledger.app import cli
    from agentledger.app.services import open_warehouse

    settings = cli._settings(warehouse)
    wh = open_warehouse(settings, existing=True)
    try:
        frame = list_sources(wh, settings.project_id)
    finally:
        wh.close()
    if frame.is_empty():
        cli.out.print(
            "no source has been synced yet: run `agentledger sync` or `agentledger ingest langfuse|helicone|litellm`"
        )
        return
    table = Table("source", "cursor", "last run", "records", "last error", title="sources")
    for row in frame.iter_rows(named=True):
        table.add_row(
            row["source_key"],
            str(row["value"] or "—"),
            str(row["last_run_at"] or "—"),
            f"{row['records'] or 0:,}",
            row["last_error"] or "",
        )
    cli.out.print(table)


def register(app: typer.Typer, ingest_app: typer.Typer) -> None:
    ingest_app.command("langfuse")(ingest_langfuse)
    ingest_app.command("helicone")(ingest_helicone)
    ingest_app.command("litellm")(ingest_litellm)
    app.command("sync")(sync)
    app.command("sources")(sources)
