"""The HTTP service: OTLP/HTTP receiver, LiteLLM callback receiver and the query API, on one FastAPI app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from agentledger.analytics.metrics import Filters, compute_metrics
from agentledger.app.services import build_pipeline, open_warehouse, parse_when
from agentledger.core.errors import ConfigError
from agentledger.core.security import key_from_headers, key_is_valid
from agentledger.core.settings import Settings
from agentledger.ingest.otlp.receiver import build_otlp_router
from agentledger.warehouse.base import Warehouse
from fastapi import Depends, FastAPI, Header, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool

from agentledger import __version__

GROUP_BY = (
    "day",
    "week",
    "agent",
    "task_type",
    "user",
    "feature",
    "model",
    "provider",
    "source",
    "environment",
)


def create_app(settings: Settings, warehouse: Warehouse | None = None) -> FastAPI:
    """Build the app on ``warehouse`` (opened from settings when not given, and closed on shutdown)."""
    owned = warehouse is None
    wh = warehouse or open_warehouse(settings)
    pipeline = build_pipeline(settings, wh)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        if owned:
            wh.close()

    app = FastAPI(
        title="agentledger",
        version=__version__,
        lifespan=lifespan,
        description="Cost observability for LLM agents: OTLP ingest, metrics and FinOps analytics.",
    )
    app.state.settings, app.state.warehouse, app.state.pipeline = settings, wh, pipeline
    app.include_router(build_otlp_router(pipeline.ingest, settings), tags=["ingest"])
    _include_litellm(app, pipeline, settings)

    def require_key(
        authorization: Annotated[str | None, Header()] = None,
        x_api_key: Annotated[str | None, Header()] = None,
    ) -> None:
        if settings.api_keys and not key_is_valid(
            key_from_headers(authorization, x_api_key), settings.api_keys
        ):
            raise HTTPException(
                401,
                "missing or invalid API key: send 'Authorization: Bearer <key>'",
                headers={"WWW-Authenticate": "Bearer"},
            )

    @app.get("/healthz", tags=["meta"])
    def healthz() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    @app.get("/api/metrics", tags=["query"], dependencies=[Depends(require_key)])
    async def metrics(
        since: str | None = None,
        until: str | None = None,
        group_by: Annotated[str | None, Query(description=f"one of {', '.join(GROUP_BY)}")] = None,
        agent: str | None = None,
        task_type: str | None = None,
        user: str | None = None,
        feature: str | None = None,
        model: str | None = None,
        provider: str | None = None,
        source: str | None = None,
        environment: str | None = None,
    ) -> dict[str, Any]:
        """The metrics of DESIGN.md over [since, until) with optional filters; grouped when group_by is set."""
        if group_by is not None and group_by not in GROUP_BY:
            raise HTTPException(422, f"group_by must be one of {', '.join(GROUP_BY)}, not {group_by!r}")
        try:
            filters = Filters(
                since=parse_when(since, "since"),
                until=parse_when(until, "until"),
                agent=agent,
                task_type=task_type,
                user=user,
                feature=feature,
                model=model,
                provider=provider,
                source=source,
                environment=environment,
                project_id=settings.project_id,
            )
        except ConfigError as exc:
            raise HTTPException(422, str(exc)) from exc
        return await run_in_threadpool(compute_metrics, wh, filters, group_by)

    return app


def _include_litellm(app: FastAPI, pipeline: Any, settings: Settings) -> None:
    try:
        from agentledger.ingest.litellm_receiver import build_litellm_router
    except ImportError:  # the LiteLLM receiver is optional in a trimmed install
        return
    app.include_router(build_litellm_router(pipeline.ingest, settings), tags=["ingest"])


def app_factory() -> FastAPI:
    """Entry point for ``uvicorn --factory agentledger.app.api:app_factory``."""
    return create_app(Settings())


__all__ = ["create_app", "app_factory", "Request"]
