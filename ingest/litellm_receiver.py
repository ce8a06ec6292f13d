"""The LiteLLM callback receiver: ``POST /api/ingest/litellm`` takes a JSON list of StandardLoggingPayloads.

:class:`agentledger.ingest.litellm_callback.AgentLedgerLogger` posts here; anything else that holds LiteLLM's
``standard_logging_object`` (or SpendLogs rows) may too. Each record is normalized on its own: bad ones are
named in the response and the rest are stored. Statuses:

====  ===========================================================================================
200   ``{"accepted": n, "rejected": m, "errors": [...]}``, sent only once ``ingest`` returned (durable)
400   the body is not JSON or not valid gzip
401   a key exists (env or stored) and the request has no valid one (``Authorization: Bearer <key>``)
413   the body exceeds ``max_body_bytes``, or ``max_decompressed_bytes`` once gunzipped
415   a Content-Encoding other than gzip
422   the body is not a JSON list, or no record in it could be read
503   the warehouse could not take the write: retry later
====  ===========================================================================================
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from agentledger.core.errors import InputError, TransientError, WarehouseError
from agentledger.core.records import Call, SpanContext
from agentledger.core.security import Unauthorized
from agentledger.core.settings import Settings
from agentledger.ingest.collectors.litellm import record_id, to_call
from agentledger.ingest.http_body import RequestRefused, gunzip_capped, is_gzipped, read_capped
from agentledger.ingest.otlp.limits import may_hold_surrogates, scrub_surrogates
from agentledger.ingest.otlp.receiver import env_key_project

log = logging.getLogger(__name__)

INGEST_PATH = "/api/ingest/litellm"
_ERRORS_NAMED = 20

IngestFn = Callable[[list[Call], list[SpanContext]], object]


def build_litellm_router(
    ingest: IngestFn,
    settings: Settings,
    project_for_request: Callable[[Request], str] | None = None,
) -> APIRouter:
    """A router with ``POST /api/ingest/litellm`` writing through ``ingest(calls, spans)``.

    ``project_for_request`` authenticates a request and returns its project, raising
    :class:`~agentledger.core.security.Unauthorized` for a 401 (it runs in the thread pool, so it may read
    the key store); by default the keys are ``settings.api_keys`` and the project ``settings.project_id``.
    """
    pick_project = project_for_request or env_key_project(settings)
    router = APIRouter(tags=["ingest"])

    @router.post(
        INGEST_PATH,
        operation_id="ingest_litellm",
        summary="Receive LiteLLM StandardLoggingPayloads (a JSON list, optionally gzip)",
        response_model=None,
        openapi_extra=_OPENAPI_BODY,
        responses=_OPENAPI_RESPONSES,
    )
    async def ingest_litellm(request: Request) -> JSONResponse:
        try:
            project_id = await run_in_threadpool(_authenticate, pick_project, request)
            gzipped = is_gzipped(request.headers.get("content-encoding"))
            body = await read_capped(request, settings.max_body_bytes)
            outcome = await run_in_threadpool(_process, ingest, settings, body, gzipped, project_id)
        except RequestRefused as exc:
            return JSONResponse({"detail": exc.message}, exc.status, headers=exc.headers)
        return JSONResponse(outcome)

    return router


def _process(
    ingest: IngestFn, settings: Settings, body: bytes, gzipped: bool, project_id: str
) -> dict[str, Any]:
    if gzipped:
        body = gunzip_capped(body, settings.max_decompressed_bytes)
    records = _parse(body)
    calls, errors = _normalize(records, project_id)
    if not calls and errors:
        raise RequestRefused(422, f"no record could be read: {'; '.join(errors[:_ERRORS_NAMED])}")
    if calls:
        try:
            ingest(calls, [])
        except (WarehouseError, TransientError) as exc:
            log.warning("LiteLLM batch not stored, answering 503: %s", exc)
            raise RequestRefused(
                503, f"the warehouse could not store the calls: {exc}", {"Retry-After": "5"}
            ) from None
    if errors:
        log.info(
            "LiteLLM batch: %d calls stored, %d records rejected (%s)", len(calls), len(errors), errors[0]
        )
    return {"accepted": len(calls), "rejected": len(errors), "errors": errors[:_ERRORS_NAMED]}


def _parse(body: bytes) -> list[Any]:
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise RequestRefused(400, f"the body is not JSON: {exc}") from None
    if may_hold_surrogates(body):
        document = scrub_surrogates(document)  # lone surrogates cannot be stored: U+FFFD instead
    if not isinstance(document, list):
        raise RequestRefused(
            422, f"expected a JSON list of StandardLoggingPayload objects, got {type(document).__name__}"
        )
    return document


def _normalize(records: list[Any], project_id: str) -> tuple[list[Call], list[str]]:
    """Calls keyed by identity (a repeated payload is stored once) and one message per bad record."""
    calls: dict[tuple[str, str, str, str], Call] = {}
    errors: list[str] = []
    for index, record in enumerate(records):
        try:
            call = to_call(record, project_id=project_id)
        except InputError as exc:
            errors.append(f"[{index}] {exc}")
            log.debug("rejected LiteLLM record %s: %s", record_id(record), exc)
            continue
        calls[call.key()] = call
    return list(calls.values()), errors


def _authenticate(pick_project: Callable[[Request], str], request: Request) -> str:
    """The request's project; a 401 when a key is required and it has no valid one."""
    try:
        return pick_project(request)
    except Unauthorized as exc:
        raise RequestRefused(401, str(exc), {"WWW-Authenticate": 'Bearer realm="agentledger"'}) from None


_DETAIL = {"type": "object", "properties": {"detail": {"type": "string"}}}
_OUTCOME = {
    "type": "object",
    "properties": {
        "accepted": {"type": "integer"},
        "rejected": {"type": "integer"},
        "errors": {"type": "array", "items": {"type": "string"}},
    },
}
_OPENAPI_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "Stored; bad records named", "content": {"application/json": {"schema": _OUTCOME}}},
    **{
        status: {"description": text, "content": {"application/json": {"schema": _DETAIL}}}
        for status, text in (
            (400, "The body is not JSON, or not valid gzip"),
            (401, "Missing, unknown or revoked API key"),
            (413, "Body too large (compressed or decompressed)"),
            (415, "Unsupported Content-Encoding"),
            (422, "Not a JSON list, or no record in it could be read"),
            (503, "The warehouse is unavailable or the queue is full; retry after Retry-After"),
        )
    },
}
_OPENAPI_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "array",
                    "items": {"type": "object", "description": "LiteLLM StandardLoggingPayload"},
                }
            }
        },
    }
}
