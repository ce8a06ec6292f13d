"""HTTP endpoints of alerts and reports: the rules (read and replace), the alert history and state, the weekly report.

``build_alerts_router(warehouse, settings, require_key)`` is included by the main app; every endpoint
needs the API key when keys are configured. Rules are the ``alerts:`` section of the rules file, validated
by the same pydantic model as the file (``PUT`` answers 422 naming the field that is wrong).
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, HTTPException, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, PlainTextResponse
from pydantic import ValidationError

from agentledger.alerts.channels import build_channels
from agentledger.alerts.rules import AlertsConfig, describe, load_alerts, save_alerts
from agentledger.alerts.store import AlertStore
from agentledger.analytics.report import build_weekly_report, previous_week
from agentledger.analytics.report_render import to_html, to_markdown
from agentledger.core.errors import AgentLedgerError, ConfigError, InputError
from agentledger.core.settings import Settings
from agentledger.warehouse.base import Warehouse


def _configured_channels(config: AlertsConfig, settings: Settings) -> list[dict[str, str]] | str:
    """Names and types of the usable channels (never their secrets), or why they cannot be built."""
    try:
        return [{"name": c.name, "type": c.type} for c in build_channels(config, settings).values()]
    except ConfigError as exc:
        return str(exc)


def _merge(current: AlertsConfig, update: dict[str, Any]) -> AlertsConfig:
    """``update`` with the sections it does not mention taken from ``current``, validated as a whole
    (so new rules may name channels that only the file declares)."""
    data = {**current.model_dump(), **update}
    try:
        return AlertsConfig.model_validate(data)
    except ValidationError as exc:
        raise HTTPException(422, describe(exc, "request body")) from None


# The weekly report answers in the format asked for (``format=json|md|html``): documented, so clients and
# schema checks know all three.
_WEEKLY_FORMATS: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The report as JSON, Markdown or HTML",
        "content": {
            "application/json": {"schema": {"type": "object"}},
            "text/markdown": {"schema": {"type": "string"}},
            "text/html": {"schema": {"type": "string"}},
        },
    }
}


def build_alerts_router(warehouse: Warehouse, settings: Settings, require_key: Any) -> APIRouter:
    """The alerts and reports endpoints on ``warehouse`` (see the module docstring)."""
    router = APIRouter(tags=["alerts"])
    key_project = Depends(require_key)  # the caller's project, from its key

    def own_rules(project: str) -> None:
        """The rules file configures the alerts of the server's project; other projects' keys may not touch it."""
        if project != settings.project_id:
            raise HTTPException(
                403, f"the alert rules belong to project {settings.project_id!r}, not to this key's"
            )

    def load() -> AlertsConfig:
        try:
            return load_alerts(settings.config_file)
        except ConfigError as exc:
            raise HTTPException(500, f"the rules file is invalid: {exc}") from None

    @router.get("/api/alerts/rules")
    def get_rules(project: str = key_project) -> dict[str, Any]:
        """The alerts section of the rules file (defaults filled in) and the channels that can be used."""
        own_rules(project)
        config = load()
        return {
            **config.model_dump(mode="json"),
            "configured_channels": _configured_channels(config, settings),
        }

    @router.put("/api/alerts/rules")
    def put_rules(
        update: Annotated[
            dict[str, Any], Body(description="Any of: rules, channels, report (as in the file)")
        ],
        project: str = key_project,
    ) -> dict[str, Any]:
        """Replace the sections given (``rules``, ``channels``, ``report``) in the rules file; others are kept."""
        own_rules(project)
        config = _merge(load(), update)
        try:
            save_alerts(settings.config_file, config)
        except ConfigError as exc:  # a read-only or missing folder (the compose file mounts it read-only)
            raise HTTPException(409, f"the rules were not saved: {exc}") from None
        return {
            **config.model_dump(mode="json"),
            "configured_channels": _configured_channels(config, settings),
        }

    @router.get("/api/alerts/history")
    async def history(
        project: str = key_project,
        limit: Annotated[int, Query(ge=1, le=1000)] = 50,
        rule: str | None = None,
    ) -> list[dict[str, Any]]:
        """The latest alert events, newest first, each with its deliveries and their attempts."""
        return await run_in_threadpool(AlertStore(warehouse, project).history, limit, rule)

    @router.get("/api/alerts/state")
    async def state(project: str = key_project) -> list[dict[str, Any]]:
        """Every alert instance's current state (firing or resolved) of the key's project."""
        states = await run_in_threadpool(AlertStore(warehouse, project).states)
        return [asdict(s) for s in sorted(states.values(), key=lambda s: (s.status != "firing", s.alert_key))]

    @router.get("/api/reports/weekly", response_model=None, responses=_WEEKLY_FORMATS)
    async def weekly(
        project: str = key_project,
        week: Annotated[
            str | None, Query(description="ISO week, e.g. 2026-W47; default: the last complete one")
        ] = None,
        format: Annotated[str, Query(pattern="^(json|md|html)$")] = "json",
    ) -> Any:
        """The weekly top-10 cost report as JSON, Markdown or HTML."""
        now = datetime.now(UTC)
        chosen = week or previous_week(now, settings.report_timezone)
        try:
            scoped = settings.model_copy(update={"project_id": project})
            report = await run_in_threadpool(build_weekly_report, warehouse, scoped, chosen, now=now)
        except InputError as exc:
            raise HTTPException(422, str(exc)) from None
        except AgentLedgerError as exc:
            raise HTTPException(500, str(exc)) from None
        if format == "md":
            return PlainTextResponse(to_markdown(report), media_type="text/markdown; charset=utf-8")
        if format == "html":
            return HTMLResponse(to_html(report))
        return report.to_dict()

    return router
