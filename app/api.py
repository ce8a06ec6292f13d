"""The HTTP service: OTLP/HTTP receiver, LiteLLM callback receiver and the query API, on one FastAPI app."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool

from agentledger import __version__
from agentledger.analytics.filters import GROUP_BY
from agentledger.analytics.metrics import compute_metrics
from agentledger.app.admin import ControlFile, build_admin_router, control_path, local_url
from agentledger.app.alerts_api import build_alerts_router
from agentledger.app.api_schema import install as install_schema
from agentledger.app.auth import build_authenticator, project_for_request, require_key_dependency
from agentledger.app.query_api import Equal, Since, Until, build_query_router
from agentledger.app.recommend_api import build_recommend_router
from agentledger.app.services import build_pipeline, open_warehouse, scope
from agentledger.core.errors import ConfigError, InputError
from agentledger.core.settings import Settings
from agentledger.ingest.otlp.receiver import build_otlp_router, map_in_process
from agentledger.ingest.otlp.workers import MappingPool, Pricing
from agentledger.ingest.runtime import tune_for_ingest
from agentledger.ingest.writer import BatchingWriter, IngestFn
from agentledger.warehouse.base import Warehouse
from agentledger.warehouse.keys import KeyStore


def create_app(settings: Settings, warehouse: Warehouse | None = None, *, control: bool = False) -> FastAPI:
    """Build the app on ``warehouse`` (opened from settings when not given, and closed on shutdown).

    With ``control`` (``serve`` and ``up``), a server on a DuckDB file publishes the control file through which
    ``agentledger keys`` reaches it while it holds the file (see :mod:`agentledger.app.admin`)."""
    owned = warehouse is None
    wh = warehouse or open_warehouse(settings)
    path = control_path(settings.warehouse) if control else None
    control_file = ControlFile(path, local_url(settings)) if path is not None else None
    pipeline = build_pipeline(settings, wh)
    # The receivers write through one batching writer: concurrent requests share a transaction, a 200 is
    # sent once the batch is durable, and a full queue answers 503 + Retry-After.
    writer = BatchingWriter(pipeline, capacity_spans=settings.ingest_queue_spans)
    # Decoding and mapping OTLP in worker processes, when configured (see ingest/otlp/workers.py).
    mappers = (
        MappingPool(settings.ingest_workers, Pricing.of(pipeline.pricer)) if settings.ingest_workers else None
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        try:
            await run_in_threadpool(pipeline.warm_up)
            if mappers is not None:
                await run_in_threadpool(mappers.start)
            tune_for_ingest()
            if control_file is not None:
                control_file.publish()
            yield
        finally:
            if control_file is not None:
                control_file.withdraw()
            try:
                writer.close()
            finally:
                if mappers is not None:
                    mappers.close()
                if owned:
                    wh.close()

    app = FastAPI(
        title="agentledger",
        version=__version__,
        lifespan=lifespan,
        description="Cost observability for LLM agents: OTLP ingest, metrics and FinOps analytics.",
    )
    app.state.settings, app.state.warehouse, app.state.pipeline = settings, wh, pipeline
    app.state.writer, app.state.mappers = writer, mappers
    # One authenticator for every entry point: a key sees and writes only its own project.
    auth = build_authenticator(settings, wh)
    require_key = require_key_dependency(auth)
    app.state.authenticator, app.state.require_key = auth, require_key
    if control_file is not None:
        app.include_router(build_admin_router(KeyStore(wh), control_file.token, settings.host))
    app.add_middleware(RetryAfterOn503, seconds=writer.retry_after_seconds)
    pick_project = project_for_request(auth)
    mapper = mappers.prepare_body if mappers is not None else map_in_process
    app.include_router(
        build_otlp_router(
            writer.submit, settings, pick_project, mapper, writer.coming, writer.submit_prepared
        )
    )
    _include_litellm(app, writer.submit, settings, pick_project)

    # each router names its own tag (one per endpoint in the OpenAPI schema)
    app.include_router(build_query_router(wh, settings, require_key))
    app.include_router(build_recommend_router(wh, settings, require_key))
    app.include_router(build_alerts_router(wh, settings, require_key))

    @app.get("/healthz", tags=["meta"])
    def healthz() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    @app.get("/api/metrics", tags=["query"])
    async def metrics(
        equal: Equal,
        since: Since = None,
        until: Until = None,
        group_by: Annotated[str | None, Query(description=f"one of {', '.join(GROUP_BY)}")] = None,
        # A default rather than Annotated: with postponed annotations FastAPI cannot see a local name.
        project: str = Depends(require_key),
    ) -> dict[str, Any]:
        """The metrics of DESIGN.md over [since, until) with optional filters; grouped when group_by is set."""
        if group_by is not None and group_by not in GROUP_BY:
            raise HTTPException(422, f"group_by must be one of {', '.join(GROUP_BY)}, not {group_by!r}")
        try:
            filters = scope(project, since, until, **equal)
        except (ConfigError, InputError) as exc:  # an unreadable date or an empty window
            raise HTTPException(422, str(exc)) from exc
        return await run_in_threadpool(compute_metrics, wh, filters, group_by)

    install_schema(app)  # document the 400/401/422 answers every endpoint shares
    return app


def _include_litellm(
    app: FastAPI, ingest: IngestFn, settings: Settings, pick_project: Callable[[Request], str]
) -> None:
    try:
        from agentledger.ingest.litellm_receiver import build_litellm_router
    except ImportError:  # the LiteLLM receiver is optional in a trimmed install
        return
    app.include_router(build_litellm_router(ingest, settings, pick_project))


class RetryAfterOn503:
    """ASGI middleware: a 503 without ``Retry-After`` gets one (the ingest queue's backoff).

    The receivers answer 503 when the write queue is full or the warehouse failed; exporters retry 503,
    and ``Retry-After`` tells them when (OTLP/HTTP exporters honour it).
    """

    def __init__(self, app: Any, seconds: float) -> None:
        self.app = app
        self.value = str(max(1, math.ceil(seconds))).encode()  # HTTP wants whole seconds

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_retry_after(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start" and message["status"] == 503:
                headers = list(message.get("headers", ()))
                if not any(name.lower() == b"retry-after" for name, _ in headers):
                    message = {**message, "headers": [*headers, (b"retry-after", self.value)]}
            await send(message)

        await self.app(scope, receive, send_with_retry_after)


def app_factory() -> FastAPI:
    """Entry point for ``uvicorn --factory agentledger.app.api:app_factory``."""
    return create_app(Settings())


__all__ = ["create_app", "app_factory", "Request"]
