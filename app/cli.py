"""The ``agentledger`` command line (typer). Every command reads the same Settings; flags override them."""

from __future__ import annotations

import errno
import json
import os
import socket
import threading
import time
from pathlib import Path
from typing import Annotated, Any

import click
import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from typer.core import TyperGroup, TyperOption

from agentledger.analytics.filters import GROUP_BY, GroupBy
from agentledger.app.cli_format import fmt
from agentledger.core.errors import AgentLedgerError, ConfigError
from agentledger.core.security import is_loopback, redact_url
from agentledger.core.settings import Settings, describe_settings_error

console = Console(stderr=True)
out = Console()


class _State:
    debug = False


def _flag_without_type(option: TyperOption, ctx: Any) -> str | None:
    """A flag takes no value, so the help shows none after it (`--json`, not `--json <bool>`, which typer's
    rich help would show and the parser would refuse)."""
    if option.is_flag or option.count:
        return option.metavar
    return _option_type(option, ctx)


_option_type = TyperOption.display_type_rich
TyperOption.display_type_rich = _flag_without_type  # type: ignore[method-assign]


class _Group(TyperGroup):
    """Turns agentledger's own errors into ``Error: ...`` and exit code 1 (``--debug`` shows the traceback)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (AgentLedgerError, ValidationError) as exc:
            if _State.debug:
                raise
            message = describe_settings_error(exc) if isinstance(exc, ValidationError) else str(exc)
            console.print(f"[red]Error:[/] {message}", highlight=False, soft_wrap=True)
            raise typer.Exit(1) from None


app = typer.Typer(
    cls=_Group,
    help="agentledger: where every token of your LLM agents goes, and what to change.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
ingest_app = typer.Typer(help="Import traces into the ledger.", no_args_is_help=True)
app.add_typer(ingest_app, name="ingest")

WarehouseOpt = Annotated[
    str | None, typer.Option("--warehouse", "-w", help="Warehouse URL (default: AGENTLEDGER_WAREHOUSE)")
]
SinceOpt = Annotated[
    str | None, typer.Option(help="Start of the window: ISO date or date-time (UTC), inclusive")
]
UntilOpt = Annotated[
    str | None, typer.Option(help="End of the window: ISO date or date-time (UTC), exclusive")
]


@app.callback(cls=_Group)
def _main(debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors")] = False) -> None:
    _State.debug = debug


def _settings(warehouse: str | None = None, **overrides: Any) -> Settings:
    values = {k: v for k, v in overrides.items() if v is not None}
    if warehouse:
        values["warehouse"] = warehouse
    return Settings(**values)


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


@app.command()
def demo(
    sessions: Annotated[int, typer.Option(min=1, help="Number of user sessions to generate")] = 300,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed gives the same data")] = 7,
    end: Annotated[str | None, typer.Option(help="Last day of the demo history (default: now)")] = None,
    warehouse: WarehouseOpt = None,
) -> None:
    """Write a realistic synthetic agent workload (several weeks) through the real OTLP ingest path."""
    from agentledger.app.services import build_pipeline, load_demo, open_warehouse, parse_when

    settings = _settings(warehouse)
    wh = open_warehouse(settings)
    try:
        with _progress() as progress:
            task = progress.add_task("demo sessions", total=sessions)
            result = load_demo(
                build_pipeline(settings, wh),
                project_id=settings.project_id,
                sessions=sessions,
                seed=seed,
                end=parse_when(end, "--end"),
                sessions_progress=lambda n: progress.advance(task, n),
            )
    finally:
        wh.close()
    console.print(f"wrote {result.calls} calls and {result.spans} spans to {redact_url(settings.warehouse)}")


@ingest_app.command("otlp")
def ingest_otlp(
    paths: Annotated[
        list[Path],
        typer.Argument(
            help="OTLP/JSON, JSON-lines or protobuf files (.gz accepted), or folders of them", exists=True
        ),
    ],
    workers: Annotated[
        int,
        typer.Option(
            min=0,
            max=64,
            help="Processes that read, map and prepare the files for the write, one file each at a time "
            "(0: all in this process); see the README's benchmarks for when it pays",
        ),
    ] = 0,
    warehouse: WarehouseOpt = None,
) -> None:
    """Import OTLP trace files. A bad record is reported with its file and position; the good ones are kept."""
    from agentledger.app.services import build_pipeline, open_warehouse
    from agentledger.ingest.otlp.files import import_files, iter_paths
    from agentledger.ingest.runtime import tune_for_ingest

    files = list(iter_paths(paths))  # the folders listed once: the progress bar's total
    settings = _settings(warehouse)
    wh = open_warehouse(settings)
    tune_for_ingest()
    try:
        with _progress() as progress, build_pipeline(settings, wh).overlapped() as ingest:
            task = progress.add_task("files", total=len(files))
            read = [0]

            def spans_read(n: int) -> None:
                read[0] += n
                progress.update(task, description=f"files ({read[0]:,} spans)")

            report = import_files(
                files,
                ingest,
                project_id=settings.project_id,
                progress=spans_read,
                workers=workers,
                files_progress=lambda n: progress.advance(task, n),
            )
    finally:
        wh.close()
    for error in report.errors:
        console.print(f"[yellow]skipped[/] {error}")
    for rejection in report.rejection_samples:
        console.print(f"[yellow]rejected[/] {rejection}")
    if report.rejected > len(report.rejection_samples):
        console.print(f"... and {report.rejected - len(report.rejection_samples)} more rejected spans")
    console.print(
        f"{report.files} files, {report.spans} spans, {report.calls} calls, {report.rejected} rejected"
    )
    if report.errors or report.rejected:
        raise typer.Exit(2)


@app.command()
def metrics(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object")] = False,
    since: SinceOpt = None,
    until: UntilOpt = None,
    group_by: Annotated[
        GroupBy | None,
        typer.Option(metavar="<dimension>", help=f"One row per value of: {', '.join(GROUP_BY)}"),
    ] = None,
    agent: Annotated[str | None, typer.Option(help="Only this agent")] = None,
    task_type: Annotated[str | None, typer.Option(help="Only this task type")] = None,
    user: Annotated[str | None, typer.Option(help="Only this user")] = None,
    feature: Annotated[str | None, typer.Option(help="Only this feature")] = None,
    model: Annotated[str | None, typer.Option(help="Only this model")] = None,
    provider: Annotated[str | None, typer.Option(help="Only this provider")] = None,
    source: Annotated[
        str | None, typer.Option(help="Only this source (otlp, langfuse, helicone, litellm)")
    ] = None,
    environment: Annotated[str | None, typer.Option(help="Only this environment")] = None,
    warehouse: WarehouseOpt = None,
) -> None:
    """Cost per completed task, waste ratio, cache hit rate, P95 session cost, model mix (defined in the README's
    Metrics section)."""
    from agentledger.analytics.metrics import compute_metrics
    from agentledger.app.services import open_warehouse, scope

    settings = _settings(warehouse)
    filters = scope(
        settings.project_id,
        since,
        until,
        option_prefix="--",
        agent=agent,
        task_type=task_type,
        user=user,
        feature=feature,
        model=model,
        provider=provider,
        source=source,
        environment=environment,
    )
    wh = open_warehouse(settings, existing=True)
    try:
        result = compute_metrics(wh, filters, group_by)
    finally:
        wh.close()
    if as_json:
        out.print_json(json.dumps(result, default=str)) if out.is_terminal else print(
            json.dumps(result, default=str)
        )
        return
    _print_metrics(result, group_by)


_SUMMARY_KEYS = (
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
    "sessions",
    "p95_session_cost_usd",
    "input_tokens",
    "output_tokens",
)


def _print_metrics(result: dict[str, Any], group_by: str | None) -> None:
    if group_by:
        table = Table(
            group_by,
            *_SUMMARY_KEYS[:1],
            "calls",
            "tasks",
            "cost_per_completed_task_usd",
            "waste_ratio",
            "cache_hit_rate",
        )
        for g in result["groups"]:
            table.add_row(
                str(g["key"]),
                *(
                    fmt(g[k], k)
                    for k in (
                        "total_cost_usd",
                        "calls",
                        "tasks",
                        "cost_per_completed_task_usd",
                        "waste_ratio",
                        "cache_hit_rate",
                    )
                ),
            )
        out.print(table)
        return
    table = Table("metric", "value", title="agentledger metrics")
    for key in _SUMMARY_KEYS:
        table.add_row(key, fmt(result[key], key))
    out.print(table)
    mix = Table("model", "provider", "calls", "cost", "share of cost", "share of calls", title="model mix")
    for m in result["model_mix"]:
        mix.add_row(
            str(m["model"]),
            str(m["provider"]),
            fmt(m["calls"], "calls"),
            fmt(m["cost_usd"], "cost_usd"),
            fmt(m["cost_share"], "cost_share"),
            fmt(m["call_share"], "call_share"),
        )
    out.print(mix)


@app.command()
def serve(
    host: Annotated[
        str | None, typer.Option(help="Bind address (default 127.0.0.1, AGENTLEDGER_HOST)")
    ] = None,
    port: Annotated[
        int | None, typer.Option(help="Port (default 4318, the OTLP/HTTP port; AGENTLEDGER_PORT)")
    ] = None,
    warehouse: WarehouseOpt = None,
) -> None:
    """Run the HTTP service: OTLP/HTTP receiver (/v1/traces), LiteLLM callback receiver and the query API."""
    import uvicorn

    from agentledger.app.api import create_app

    settings = _settings(warehouse, host=host, port=port)
    console.print(
        f"agentledger API on http://{settings.host}:{settings.port} (warehouse {redact_url(settings.warehouse)})"
    )
    api = create_app(settings, control=True)
    _warn_if_open(settings, api)
    uvicorn.run(api, host=settings.host, port=settings.port, log_level="info")


def _warn_if_open(settings: Settings, api: Any) -> None:
    """Say so when the API listens beyond this machine while no API key exists (anyone may read and write)."""
    if not is_loopback(settings.host) and not api.state.authenticator.required():
        console.print(
            f"[yellow]Warning:[/] the API listens on {settings.host} and no API key exists: anyone who can "
            "reach it can read and write the ledger. Create one with `agentledger keys create --project P` "
            "(or set AGENTLEDGER_API_KEYS).",
            highlight=False,
        )


@app.command()
def up(
    sessions: Annotated[int, typer.Option(help="Demo sessions to load when the ledger is empty")] = 300,
    no_demo: Annotated[
        bool, typer.Option("--no-demo", help="Do not load demo data into an empty ledger")
    ] = False,
    no_ui: Annotated[bool, typer.Option("--no-ui", help="Start the API only")] = False,
    warehouse: WarehouseOpt = None,
) -> None:
    """The API and the dashboard in one process on the configured warehouse, with demo data if it is empty.

    Addresses from AGENTLEDGER_HOST/PORT and AGENTLEDGER_UI_HOST/UI_PORT. Every
    AGENTLEDGER_RECOMMEND_REFRESH_MINUTES, the dashboard's stored recommendations are recomputed when the
    ledger changed (not with --no-ui).
    """
    import uvicorn

    from agentledger.app.api import create_app
    from agentledger.app.services import (
        build_pipeline,
        count_calls,
        keep_stored_fresh,
        load_demo,
        open_warehouse,
    )

    settings = _settings(warehouse)
    _check_free(settings.host, settings.port, "AGENTLEDGER_PORT")  # before loading anything: fail fast
    if not no_ui:
        from agentledger.ui.auth import check_exposure

        check_exposure(settings.ui_host, settings)
        _check_free(settings.ui_host, settings.ui_port, "AGENTLEDGER_UI_PORT")
    wh = open_warehouse(settings)
    if not no_demo and count_calls(wh, settings.project_id) == 0:
        with _progress() as progress:
            task = progress.add_task("loading demo data", total=None)
            load_demo(
                build_pipeline(settings, wh),
                project_id=settings.project_id,
                sessions=sessions,
                progress=lambda n: progress.advance(task, n),
            )
    api = create_app(settings, wh, control=True)
    _warn_if_open(settings, api)
    server = uvicorn.Server(uvicorn.Config(api, host=settings.host, port=settings.port, log_level="warning"))
    api_url = f"http://{settings.host}:{settings.port}"
    if no_ui:
        console.print(f"API on {api_url}  (metrics: {api_url}/api/metrics, OTLP: {api_url}/v1/traces)")
        server.run()
        return
    from agentledger.ui.launch import run_dashboard

    # DuckDB allows one writing process per file: the API and the dashboard share this process. The pages
    # read Settings() from the environment, so a --warehouse flag travels there.
    os.environ["AGENTLEDGER_WAREHOUSE"] = settings.warehouse
    api_thread = threading.Thread(target=server.run, name="api", daemon=True)
    api_thread.start()
    stop = threading.Event()
    refresher = threading.Thread(
        target=keep_stored_fresh, args=(wh, settings, stop), name="recommendations", daemon=True
    )
    refresher.start()
    _wait_started(server)
    if not server.started:  # the bind failed after all (uvicorn logged why): do not announce a dead API
        stop.set()
        wh.close()
        raise AgentLedgerError(
            f"the API did not start on {api_url}: is the port taken? Choose another with AGENTLEDGER_PORT"
        )
    console.print(f"API on {api_url}  ·  dashboard on http://{settings.ui_host}:{settings.ui_port}")
    try:
        run_dashboard(settings.ui_host, settings.ui_port)
    finally:  # the dashboard stopped (Ctrl-C): stop the API and the refresher, then close the ledger file
        server.should_exit = True
        stop.set()
        api_thread.join(10)
        refresher.join(10)
        wh.close()


@app.command()
def migrate(
    from_url: Annotated[
        str, typer.Option("--from", help="Source warehouse URL, e.g. duckdb:///.agentledger/ledger.duckdb")
    ],
    to_url: Annotated[
        str,
        typer.Option(
            "--to", help="Target warehouse URL, e.g. clickhouse://user:pass@host:8123/db or chdb:///dir"
        ),
    ],
    batch_rows: Annotated[int, typer.Option(min=1, help="Rows per batch")] = 50_000,
) -> None:
    """Copy a ledger between warehouses (resumable: a stopped copy goes on after its last batch); counts checked."""
    from agentledger.app.services import missing_ledger
    from agentledger.warehouse import connect
    from agentledger.warehouse.chclient import redact_url
    from agentledger.warehouse.copy import copy_ledger

    missing = missing_ledger(from_url)
    if missing is not None:
        raise ConfigError(f"--from: no ledger at {missing} (nothing to copy; a relative path is from here)")
    if _same_ledger(from_url, to_url):
        raise ConfigError(f"--from and --to name the same ledger ({redact_url(to_url)}): nothing to copy")
    source = connect(from_url)
    try:
        target = connect(to_url)
    except BaseException:
        source.close()
        raise
    try:
        with _progress() as progress:
            tasks: dict[str, Any] = {}

            def show(table: str, n: int) -> None:
                if table not in tasks:
                    tasks[table] = progress.add_task(f"copying {table}", total=None)
                progress.advance(tasks[table], n)

            report = copy_ledger(
                source, target, source_label=redact_url(from_url), batch_rows=batch_rows, progress=show
            )
    finally:
        source.close()
        target.close()
    for t in report.tables:
        mark = "[green]ok[/]" if t.ok else "[red]MISMATCH[/]"
        console.print(
            f"{t.table}: {t.copied:,} rows copied; source {t.source_rows:,}, target {t.target_rows:,} {mark}"
        )
    console.print(f"cursors: {report.cursors}")
    if not report.ok:
        raise AgentLedgerError(
            "row counts differ between source and target: run the same command again to resume"
        )


def _same_ledger(a: str, b: str) -> bool:
    """Whether two warehouse URLs name the same ledger (the same DuckDB file or chDB folder, or equal URLs)."""
    from agentledger.warehouse.duckdb import database_file

    def where(url: str) -> str:
        scheme, _, rest = url.partition("://")
        if scheme.lower() == "duckdb":
            file = database_file(url)
            return f"duckdb:{file.resolve()}" if file is not None else f"duckdb:memory:{id(url)}"
        if scheme.lower() == "chdb":  # chdb:///rel/dir or chdb:////abs/dir, as duckdb:// URLs
            return f"chdb:{Path(rest[1:] if rest.startswith('/') else rest).expanduser().resolve()}"
        return url.rstrip("/")

    return where(a) == where(b)


def _wait_started(server: Any, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)


def _check_free(host: str, port: int, variable: str) -> None:
    """Refuse at once when ``host:port`` cannot be listened on (taken, or not an address of this machine)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise AgentLedgerError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers bind
        try:
            probe.bind(address)
        except OSError as exc:
            reason = "the port is taken" if exc.errno == errno.EADDRINUSE else (exc.strerror or str(exc))
            raise AgentLedgerError(
                f"cannot listen on {host}:{port}: {reason}; choose another port with {variable}"
            ) from None


def _register_commands() -> None:
    from agentledger.app import cli_alerts, cli_analytics, cli_keys, cli_recommend, cli_sources
    from agentledger.ui.launch import ui

    cli_sources.register(app, ingest_app)
    cli_analytics.register(app)
    cli_alerts.register(app)
    cli_keys.register(app)
    app.command("recommend")(cli_recommend.recommend)
    app.command("whatif")(cli_recommend.whatif)
    app.command("ui")(ui)


_register_commands()


def main() -> None:
    """Console entry point."""
    app()


if __name__ == "__main__":
    main()
