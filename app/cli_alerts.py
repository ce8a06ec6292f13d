"""``agentledger alerts ...``, ``agentledger report weekly`` and ``agentledger scheduler``.

Registered on the main app by :func:`register`. Everything is composed here (warehouse, rules file,
channels, the collectors' sync), so ``alerts/`` stays free of ingest imports.
"""

from __future__ import annotations

import json
import logging
import re
import signal
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from agentledger.alerts.channels import UnconfiguredChannel, build_channels, select
from agentledger.alerts.check import AlertEngine, CheckResult
from agentledger.alerts.message import metric_of, unit_of
from agentledger.alerts.rules import load_alerts
from agentledger.alerts.scheduler import Scheduler, standard_jobs
from agentledger.alerts.state import Clock, system_clock
from agentledger.analytics.report import build_weekly_report, previous_week
from agentledger.analytics.report_render import ReportFormat, format_value, render
from agentledger.core.errors import ConfigError, WarehouseError
from agentledger.core.output import check_output_file, write_output_file
from agentledger.core.security import redact_url
from agentledger.core.settings import Settings
from agentledger.warehouse.base import Warehouse

alerts_app = typer.Typer(
    help="Alert rules: evaluate them, test a channel, show the history.", no_args_is_help=True
)
report_app = typer.Typer(help="Cost reports.", no_args_is_help=True)

console = Console(stderr=True)
out = Console()
log = logging.getLogger(__name__)

WarehouseOpt = Annotated[
    str | None, typer.Option("--warehouse", "-w", help="Warehouse URL (default: AGENTLEDGER_WAREHOUSE)")
]
ConfigOpt = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="Rules file (default: AGENTLEDGER_CONFIG_FILE, agentledger.yaml)"),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON")]
_LOCKED = re.compile(r"Conflicting lock is held in (.*?) \(PID (\d+)\)")
NO_REPORT_CHANNEL = (
    "--send: no channel is configured for the report. Set AGENTLEDGER_SLACK_WEBHOOK_URL (Slack), "
    "AGENTLEDGER_SMTP_HOST with AGENTLEDGER_ALERT_EMAIL_TO (email) or AGENTLEDGER_WEBHOOK_URL with "
    "AGENTLEDGER_WEBHOOK_SECRET (webhook), or declare a channel in the alerts section of the rules file"
)


def register(app: typer.Typer) -> None:
    """Add ``alerts``, ``report`` and ``scheduler`` to the main ``agentledger`` app."""
    app.add_typer(alerts_app, name="alerts")
    app.add_typer(report_app, name="report")
    app.command("scheduler")(scheduler)


# -- composition ----------------------------------------------------------------------------------


def _settings(warehouse: str | None, config: Path | None) -> Settings:
    values: dict[str, Any] = {}
    if warehouse:
        values["warehouse"] = warehouse
    if config:
        values["config_file"] = config
    return Settings(**values)


def open_warehouse(settings: Settings, *, existing: bool = False) -> Warehouse:
    """The settings' warehouse; a DuckDB file held by another process gets a message that says what to do.
    With ``existing``, one that is not there is an error (see :func:`agentledger.app.services.open_warehouse`)."""
    from agentledger.app import services

    try:
        return services.open_warehouse(settings, existing=existing)
    except WarehouseError as exc:
        match = _LOCKED.search(str(exc))
        if match is None:
            raise
        raise WarehouseError(
            f"the DuckDB warehouse {redact_url(settings.warehouse)} is open in another process (PID {match.group(2)}). "
            "DuckDB allows one writing process per file, so a second scheduler, or a scheduler beside "
            "`agentledger serve`/`up`, cannot open it: stop the other process, or run the scheduler inside it."
        ) from None


def make_engine(
    wh: Warehouse, settings: Settings, *, clock: Clock = system_clock, dry_run: bool = False
) -> AlertEngine:
    """An engine on the current rules file and channels (read again on every call). For a ``dry_run``, a
    channel whose secret is not set stands in unbuilt (nothing is sent). A rules file named by ``--config``
    or ``AGENTLEDGER_CONFIG_FILE`` must exist; the default one may be absent (no rules, see
    :attr:`AlertEngine.missing_rules_file`)."""
    path = settings.config_file
    config = load_alerts(path, missing_ok="config_file" not in settings.model_fields_set)
    channels = build_channels(config, settings, lenient=dry_run)
    missing = None if path.is_file() else path
    return AlertEngine(wh, settings, config, channels, clock=clock, missing_rules_file=missing)


def _sync_function(wh: Warehouse, settings: Settings) -> Any:
    """``ingest.sync.sync_all`` over the ``sources:`` of the config file, or None when there are none."""
    if not settings.config_file.is_file():
        return None
    from agentledger.app.services import build_pipeline
    from agentledger.ingest.config import load_config
    from agentledger.ingest.sync import sync_all

    sources = load_config(settings.config_file)
    if not sources.enabled():
        return None

    def sync() -> str:
        reports = sync_all(sources, build_pipeline(settings, wh), wh, project_id=settings.project_id)
        return ", ".join(
            f"{r.source}: {r.records} records{'' if r.ok else ' (' + str(r.error) + ')'}" for r in reports
        )

    return sync


def _print(payload: Any) -> None:
    print(json.dumps(payload, indent=2, default=str))


# -- alerts ---------------------------------------------------------------------------------------


def _check_table(result: CheckResult, units: dict[str, str]) -> Table:
    events = {t.state.alert_key: t.event for t in result.transitions}
    table = Table(
        "alert",
        "value",
        "threshold",
        "state",
        "notified",
        title=f"alert check at {result.at:%Y-%m-%d %H:%M} UTC",
    )
    for ev in result.evaluations:
        unit = units.get(ev.rule_name, "count")
        table.add_row(
            ev.alert_key,
            format_value(ev.observation.value, unit),
            format_value(ev.threshold, unit),
            "[red]firing[/]" if ev.breaching else "ok",
            events.get(ev.alert_key) or "",
        )
    for t in result.transitions:
        if t.evaluation is None:
            table.add_row(t.state.alert_key, "—", "—", "resolved", t.event or "(silently)")
    return table


@alerts_app.command("check")
def alerts_check(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Evaluate and show, store and send nothing")
    ] = False,
    as_json: JsonOpt = False,
    config: ConfigOpt = None,
    warehouse: WarehouseOpt = None,
) -> None:
    """Evaluate every enabled rule now, store the alert states and send the notifications that are due."""
    settings = _settings(warehouse, config)
    wh = open_warehouse(settings, existing=True)
    try:
        engine = make_engine(wh, settings, dry_run=dry_run)
        result = engine.check(dry_run=dry_run)
    finally:
        wh.close()
    units = {r.name: unit_of(metric_of(r)) for r in engine.config.rules}
    if as_json:
        _print(
            {
                "at": result.at,
                "dry_run": result.dry_run,
                "alerts": [
                    {
                        "alert_key": e.alert_key,
                        "rule": e.rule_name,
                        "group": e.observation.group,
                        "value": e.observation.value,
                        "threshold": e.threshold,
                        "firing": e.breaching,
                        "level": e.level,
                    }
                    for e in result.evaluations
                ],
                "notifications": [m.to_dict() for m in result.messages],
                "deliveries": [
                    {
                        "id": d.delivery_id,
                        "channel": d.channel,
                        "status": d.status,
                        "attempts": d.attempts,
                        "error": d.last_error,
                    }
                    for d in result.deliveries
                ],
            }
        )
        return
    out.print(_check_table(result, units))
    for d in result.deliveries:
        color = "green" if d.status == "sent" else "red"
        console.print(
            f"[{color}]{d.status}[/] {d.kind} → {d.channel} after {d.attempts} attempt(s) {d.last_error or ''}"
        )
    if dry_run:
        console.print(f"dry run: {len(result.messages)} notification(s) would be sent; nothing was stored")
        for channel in engine.channels.values():
            if isinstance(channel, UnconfiguredChannel):
                console.print(f"[yellow]not configured[/] {channel.problem} (a real check stops there)")


@alerts_app.command("test")
def alerts_test(
    channel: Annotated[
        str, typer.Argument(help="Channel name: slack, email, webhook or one from the rules file")
    ],
    config: ConfigOpt = None,
    warehouse: WarehouseOpt = None,
) -> None:
    """Send a test notification through one channel (recorded like any delivery)."""
    settings = _settings(warehouse, config)
    wh = open_warehouse(settings)
    try:
        delivery = make_engine(wh, settings).send_test(channel)
    finally:
        wh.close()
    if delivery.status != "sent":
        console.print(
            f"[red]{delivery.status}[/] after {delivery.attempts} attempt(s): {delivery.last_error}"
        )
        raise typer.Exit(1)
    console.print(f"[green]sent[/] a test notification to {channel} ({delivery.channel_type})")


@alerts_app.command("history")
def alerts_history(
    limit: Annotated[int, typer.Option(min=1, help="Events to show")] = 20,
    rule: Annotated[str | None, typer.Option(help="Only this rule")] = None,
    as_json: JsonOpt = False,
    warehouse: WarehouseOpt = None,
) -> None:
    """The latest alert events (fired, escalated, reminder, resolved) and how each delivery went."""
    from agentledger.alerts.store import AlertStore

    settings = _settings(warehouse, None)
    wh = open_warehouse(settings, existing=True)
    try:
        events = AlertStore(wh, settings.project_id).history(limit=limit, rule=rule)
    finally:
        wh.close()
    if as_json:
        _print(events)
        return
    table = Table("when (UTC)", "event", "alert", "value", "deliveries", title="alert history")
    for e in events:
        message = e["message"]
        sends = (
            ", ".join(f"{d['channel']}: {d['status']} ({d['attempts']})" for d in e["deliveries"]) or "none"
        )
        table.add_row(
            f"{e['occurred_at']:%Y-%m-%d %H:%M}",
            e["event"],
            e["alert_key"],
            format_value(message.get("value"), message.get("unit", "count")),
            sends,
        )
    out.print(table)


# -- report ---------------------------------------------------------------------------------------


@report_app.command("weekly")
def report_weekly(
    week: Annotated[
        str | None, typer.Option(help="ISO week, e.g. 2026-W47 (default: last complete week)")
    ] = None,
    fmt: Annotated[ReportFormat, typer.Option("--format", "-f", help="Markdown, HTML or JSON")] = "md",
    out_file: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write to this file instead of stdout")
    ] = None,
    send: Annotated[bool, typer.Option("--send", help="Send it through the report's channels")] = False,
    resend: Annotated[
        bool, typer.Option("--resend", help="With --send: send even if this week went out already")
    ] = False,
    config: ConfigOpt = None,
    warehouse: WarehouseOpt = None,
) -> None:
    """The weekly top-10 cost report: task types, agents, users and sessions with week-over-week causes."""
    if out_file is not None:
        check_output_file(out_file)  # before anything is read, built or sent
    settings = _settings(warehouse, config)
    now = datetime.now(UTC)
    week = week or previous_week(now, settings.report_timezone)
    wh = open_warehouse(settings, existing=True)
    try:
        engine = make_engine(wh, settings, dry_run=not send)  # channels are built strictly only to send
        # Checked before anything is built or written, so a report that cannot go out leaves nothing half done.
        if send and not select(engine.channels, engine.config.report.channels, "the weekly report"):
            empty_list = engine.config.report.channels is not None
            raise ConfigError(
                "--send: the report's channels list in the rules file is empty"
                if empty_list
                else NO_REPORT_CHANNEL
            )
        report = build_weekly_report(wh, settings, week, now=now, top=engine.config.report.top)
        text = render(report, fmt)
        if out_file is not None:  # before sending: a file that cannot be written stops the command there
            write_output_file(out_file, text)
        sent = engine.send_report(report, resend=resend) if send else []
    finally:
        wh.close()
    if out_file is not None:
        console.print(f"wrote the {report.week} report to {out_file}", highlight=False)
    else:
        print(text, end="")
    for d in sent:
        sent_at = d.sent_at.replace(tzinfo=d.sent_at.tzinfo or UTC) if d.sent_at is not None else None
        if d.status == "sent" and sent_at is not None and sent_at < now:  # an earlier run sent it
            when = sent_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
            console.print(f"already sent → {d.channel} on {when} (--resend sends it again)", highlight=False)
            continue
        color = "green" if d.status == "sent" else "red"
        console.print(f"[{color}]{d.status}[/] → {d.channel} ({d.attempts} attempt(s)) {d.last_error or ''}")


# -- scheduler ------------------------------------------------------------------------------------


def build_scheduler(
    wh: Warehouse, settings: Settings, *, clock: Clock = system_clock, owner: str | None = None
) -> Scheduler:
    """The standard jobs (sync when sources are configured, alerts, the weekly report, the stored
    recommendations) on ``wh``."""
    from agentledger.alerts.store import AlertStore

    jobs = standard_jobs(
        settings, lambda: make_engine(wh, settings, clock=clock), _sync_function(wh, settings)
    )
    return Scheduler(AlertStore(wh, settings.project_id), jobs, owner=owner, clock=clock)


def scheduler(
    once: Annotated[bool, typer.Option("--once", help="Run what is due now and exit (for cron)")] = False,
    config: ConfigOpt = None,
    warehouse: WarehouseOpt = None,
) -> None:
    """Run collector sync, alert evaluation, the weekly report and the stored recommendations on schedule.

    APScheduler jobs; with DuckDB, only when no other process holds the file (run it against ClickHouse, or use
    `agentledger up`, which refreshes the stored recommendations itself).
    """
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = _settings(warehouse, config)
    # a broken or missing (named) rules file fails now, not at the first evaluation
    load_alerts(settings.config_file, missing_ok="config_file" not in settings.model_fields_set)
    wh = open_warehouse(settings)
    try:
        sched = build_scheduler(wh, settings)
        names = ", ".join(sched.jobs)
        if once:
            for name, outcome in sched.run_due().items():
                console.print(f"{name}: {outcome}")
            sched.release()
            return
        console.print(
            f"scheduler {sched.owner} on {redact_url(settings.warehouse)}: {names}; alerts every "
            f"{settings.alert_interval_minutes} min, report {settings.report_weekday} {settings.report_hour}:00 "
            f"{settings.report_timezone}"
        )
        # Ctrl-C and `docker stop` (SIGTERM): finish the running jobs, release the lease, exit 0.
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: sched.request_stop())
        sched.start(blocking=True)
        console.print("scheduler stopped")
    finally:
        wh.close()
