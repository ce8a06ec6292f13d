"""HTTP endpoints of recommendations and what-if replays (mounted by the FastAPI app).

``GET /api/recommendations?since=&until=`` returns the report of ``agentledger recommend --json``, over the
calls that pass the equality filters given (agent, task_type, user, feature, model, provider, source, environment,
as on ``/api/metrics`` and the dashboard's Recommendations page);
``POST /api/whatif`` takes ``{"policy": {...}, "since": ..., "until": ...}`` and returns the replay of
``agentledger whatif --json``. Both default to the last 30 days of data and need an API key when keys are
configured.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Depends, HTTPException
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field, field_validator

from agentledger.analytics.filters import Filters
from agentledger.analytics.recommend import RecommendOptions, stored_report
from agentledger.analytics.whatif import Policy, parse_policy, run_whatif
from agentledger.app.query_api import Equal, Since, Until
from agentledger.app.services import scope
from agentledger.core.errors import ConfigError, InputError
from agentledger.core.pricing import Pricer
from agentledger.core.settings import Settings
from agentledger.warehouse.base import Warehouse

__all__ = ["WhatIfRequest", "build_recommend_router"]


class WhatIfRequest(BaseModel):
    """Body of ``POST /api/whatif``."""

    model_config = ConfigDict(extra="forbid")

    policy: Policy = Field(default_factory=Policy, description="The what-if policy (same shape as the YAML)")
    since: str | None = Field(None, description="Start of the window, ISO date or date-time (UTC)")
    until: str | None = Field(None, description="End of the window (exclusive)")

    @field_validator("policy", mode="before")
    @classmethod
    def _exact_policy(cls, value: Any) -> Any:
        # Every value of the policy must have its type: `true` is not a token count (lax validation would
        # read it as 1), as for a policy file (analytics.whatif.parse_policy).
        if isinstance(value, dict):
            try:
                return parse_policy(value, "policy")
            except ConfigError as exc:
                raise ValueError(str(exc)) from exc
        return value


def _filters(project_id: str, since: str | None, until: str | None, **equal: str | None) -> Filters:
    try:
        return scope(project_id, since, until, **equal)
    except (ConfigError, InputError) as exc:
        raise HTTPException(422, str(exc)) from exc


async def _run(function: Callable[..., Any], *args: Any) -> Any:
    """Run a blocking analytics call off the event loop; a wrong input is the client's 422."""
    try:
        return await run_in_threadpool(function, *args)
    except (ConfigError, InputError) as exc:
        raise HTTPException(422, str(exc)) from exc


def build_recommend_router(
    warehouse: Warehouse, settings: Settings, require_key: Callable[..., str | None]
) -> APIRouter:
    """The recommendation and what-if endpoints on ``warehouse``, guarded by ``require_key``, which returns
    the caller's project (None: ``settings.project_id``)."""
    router = APIRouter(dependencies=[Depends(require_key)], tags=["recommendations"])
    pricer = Pricer.from_settings(settings)

    # Defaults rather than Annotated: with postponed annotations FastAPI cannot see these local names.
    def project_of(project: str | None = Depends(require_key)) -> str:
        return project or settings.project_id

    @router.get("/api/recommendations")
    async def recommendations(
        equal: Equal, since: Since = None, until: Until = None, project: str = Depends(project_of)
    ) -> dict[str, Any]:
        """Recommendations over [since, until) (default: the last 30 days of data) and the calls that pass
        the filters, biggest monthly saving first, with the notes beside them; served from the stored report
        while the ledger is unchanged since it was computed."""
        filters = _filters(project, since, until, **equal)
        report = await _run(stored_report, warehouse, filters, settings, RecommendOptions())
        return report.model_dump(mode="json")

    @router.post("/api/whatif")
    async def whatif(body: WhatIfRequest, project: str = Depends(project_of)) -> dict[str, Any]:
        """What the window would have cost under ``policy``: totals, saving with its interval, per agent
        and task type, and the calls kept as recorded."""
        filters = _filters(project, body.since, body.until)
        options = RecommendOptions()
        return await _run(
            lambda: run_whatif(
                warehouse, filters, body.policy, pricer, resamples=options.resamples, seed=options.seed
            )
        )

    return router
