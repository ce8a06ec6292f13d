"""The OTLP/HTTP trace receiver: ``POST /v1/traces`` (and Langfuse's ``/api/public/otel/v1/traces``).

Follows the OTLP/HTTP specification: ``application/x-protobuf`` or ``application/json`` bodies, optionally
``Content-Encoding: gzip``; the response is an ``ExportTraceServiceResponse`` in the request's encoding, with
``partial_success`` when some spans were rejected. Errors carry a ``google.rpc.Status`` body (code + message):

====  ===========================================================================================
400   the body cannot be decoded (truncated protobuf, invalid JSON or gzip, wrong top-level shape, a
      resource attribute that cannot be read); a bad span alone is rejected in ``partial_success``
401   a key exists (env or stored) and the request has no valid one (Bearer, or Basic with the key as password)
413   the body is larger than ``max_body_bytes``, or than ``max_decompressed_bytes`` once gunzipped
415   another content type or content encoding
503   the warehouse could not take the write: retry later (OTLP exporters retry 503 with backoff)
====  ===========================================================================================

A 200 is only sent after ``ingest`` returned, so an acknowledged span is durable. Decoding, mapping and the
ingest call run in the thread pool: the event loop never waits on them. With ``mapper`` a
:class:`~agentledger.ingest.otlp.workers.MappingPool`'s ``prepare_body`` and ``submit_prepared`` the batching
writer's, decoding, mapping and the warehouse-free half of the write run in worker processes and the records
come back ready to write; a worker that died answers 503. With ``announce`` (the batching writer's ``coming``), a request is
announced to the writer while it is decoded and mapped, so that concurrent requests are written together.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from functools import partial
from typing import Any

from fastapi import APIRouter, Request, Response
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTracePartialSuccess,
    ExportTraceServiceResponse,
)
from starlette.concurrency import run_in_threadpool

from agentledger.core.errors import InputError, TransientError, WarehouseError
from agentledger.core.records import Call, SpanContext
from agentledger.core.security import Authenticator, Unauthorized, key_from_headers
from agentledger.core.settings import Settings
from agentledger.ingest.http_body import RequestRefused, gunzip_capped, is_gzipped, read_capped
from agentledger.ingest.otlp.decode import ContentKind, Rejection, decode_body
from agentledger.ingest.otlp.mapping import MappedBatch, map_request
from agentledger.ingest.otlp.workers import PreparedRequest
from agentledger.ingest.pipeline import PreparedBatch

log = logging.getLogger(__name__)

TRACE_PATHS = ("/v1/traces", "/api/public/otel/v1/traces")
PROTOBUF_MEDIA_TYPES = frozenset({"application/x-protobuf", "application/protobuf"})
JSON_MEDIA_TYPES = frozenset({"application/json"})
_MEDIA_TYPE_OF: dict[ContentKind, str] = {"protobuf": "application/x-protobuf", "json": "application/json"}
_REJECTIONS_NAMED = 5  # how many bad spans the partial-success message names

# google.rpc.Code values used in Status bodies.
_RPC_INVALID_ARGUMENT = 3
_RPC_UNAUTHENTICATED = 16
_RPC_RESOURCE_EXHAUSTED = 8
_RPC_UNAVAILABLE = 14

IngestFn = Callable[[list[Call], list[SpanContext]], object]
MapperFn = Callable[[bytes, ContentKind, str], MappedBatch | PreparedRequest]
SubmitPreparedFn = Callable[[PreparedBatch], object]
AnnounceFn = Callable[[], AbstractContextManager[object]]


def map_in_process(body: bytes, kind: ContentKind, project_id: str) -> MappedBatch:
    """Decode and map one body in this process."""
    return map_request(decode_body(body, kind), project_id=project_id)


class _HttpError(Exception):
    def __init__(
        self, status: int, rpc_code: int, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.rpc_code = rpc_code
        self.message = message
        self.headers = headers or {}


@dataclass(slots=True)
class ExportOutcome:
    """What one export request produced (for the response and the log line)."""

    spans: int
    calls: int
    rejected: list[Rejection]


def build_otlp_router(
    ingest: IngestFn,
    settings: Settings,
    project_for_request: Callable[[Request], str] | None = None,
    mapper: MapperFn = map_in_process,
    announce: AnnounceFn = nullcontext,
    submit_prepared: SubmitPreparedFn | None = None,
) -> APIRouter:
    """A router with ``POST /v1/traces`` and its Langfuse alias, writing through ``ingest(calls, spans)``.

    ``project_for_request`` authenticates a request and returns its project (the project of its API key),
    raising :class:`~agentledger.core.security.Unauthorized` for a 401; it runs in the thread pool, so it
    may read the key store. By default the keys are ``settings.api_keys`` and the project is
    ``settings.project_id``.
    """
    receiver = _Receiver(
        ingest, settings, project_for_request or env_key_project(settings), mapper, announce, submit_prepared
    )
    router = APIRouter(tags=["ingest"])
    for path, operation_id in zip(
        TRACE_PATHS, ("otlp_export_traces", "otlp_export_traces_langfuse"), strict=True
    ):
        router.add_api_route(
            path,
            receiver.export,
            methods=["POST"],
            operation_id=operation_id,
            summary="Receive OTLP/HTTP traces (protobuf or JSON, optionally gzip)",
            response_class=Response,
            responses=_OPENAPI_RESPONSES,
            openapi_extra=_OPENAPI_BODY,
        )
    return router


class _Receiver:
    def __init__(
        self,
        ingest: IngestFn,
        settings: Settings,
        project_for_request: Callable[[Request], str],
        mapper: MapperFn,
        announce: AnnounceFn = nullcontext,
        submit_prepared: SubmitPreparedFn | None = None,
    ) -> None:
        self._ingest = ingest
        self._settings = settings
        self._project_for_request = project_for_request
        self._mapper = mapper
        self._announce = announce
        self._submit_prepared = submit_prepared

    async def export(self, request: Request) -> Response:
        content_type = request.headers.get("content-type")
        kind: ContentKind = "protobuf" if _media_type(content_type) in PROTOBUF_MEDIA_TYPES else "json"
        try:
            # Authenticate before reading the body: an unknown caller never makes us read 16 MiB.
            project_id = await run_in_threadpool(self._authenticate, request)
            kind = _content_kind(content_type)
            gzipped = is_gzipped(request.headers.get("content-encoding"))
            body = await read_capped(request, self._settings.max_body_bytes)
            outcome = await run_in_threadpool(self._process, body, gzipped, kind, project_id)
        except RequestRefused as exc:
            code = _RPC_RESOURCE_EXHAUSTED if exc.status == 413 else _RPC_INVALID_ARGUMENT
            return _error_response(_HttpError(exc.status, code, exc.message, exc.headers), kind)
        except _HttpError as exc:
            return _error_response(exc, kind)
        return _success_response(outcome, kind)

    def _authenticate(self, request: Request) -> str:
        try:
            return self._project_for_request(request)
        except Unauthorized as exc:
            raise _HttpError(
                401, _RPC_UNAUTHENTICATED, str(exc), {"WWW-Authenticate": 'Bearer realm="agentledger"'}
            ) from None

    def _process(self, body: bytes, gzipped: bool, kind: ContentKind, project_id: str) -> ExportOutcome:
        try:
            with self._announce():  # the writer may wait for these spans (see ingest/writer.py)
                if gzipped:
                    body = gunzip_capped(body, self._settings.max_decompressed_bytes)
                batch = self._mapper(body, kind, project_id)
        except InputError as exc:
            raise _HttpError(400, _RPC_INVALID_ARGUMENT, str(exc)) from None
        except TransientError as exc:  # a mapping worker died
            raise _HttpError(503, _RPC_UNAVAILABLE, str(exc)) from None
        if isinstance(batch, PreparedRequest):  # prepared in a worker process
            outcome = ExportOutcome(batch.spans, batch.calls, batch.rejected)
            if self._submit_prepared is None:
                raise TypeError("a mapper that prepares needs the writer's submit_prepared")
            prepared = batch.prepared
            store = (
                partial(self._submit_prepared, prepared) if prepared is not None and prepared.size else None
            )
        else:
            outcome = ExportOutcome(len(batch.spans), len(batch.calls), batch.rejected)
            store = partial(self._ingest, batch.calls, batch.spans) if batch.spans or batch.calls else None
        if store is not None:
            try:
                store()
            except (WarehouseError, TransientError) as exc:
                log.warning("OTLP export not stored, answering 503: %s", exc)
                raise _HttpError(
                    503, _RPC_UNAVAILABLE, f"the warehouse could not store the spans: {exc}"
                ) from None
        if outcome.rejected:
            log.info(
                "OTLP export: %d spans stored, %d rejected (%s)",
                outcome.spans,
                len(outcome.rejected),
                outcome.rejected[0].describe(),
            )
        return outcome


def env_key_project(settings: Settings) -> Callable[[Request], str]:
    """Authentication by ``settings.api_keys`` alone, every request going to ``settings.project_id``."""
    auth = Authenticator(settings.api_keys, settings.project_id)

    def pick(request: Request) -> str:
        headers = request.headers
        return auth.project_for(key_from_headers(headers.get("authorization"), headers.get("x-api-key")))

    return pick


def _media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def _content_kind(content_type: str | None) -> ContentKind:
    media_type = _media_type(content_type)
    if media_type in PROTOBUF_MEDIA_TYPES:
        return "protobuf"
    if media_type in JSON_MEDIA_TYPES:
        return "json"
    shown = media_type or "none"
    raise _HttpError(
        415,
        _RPC_INVALID_ARGUMENT,
        f"unsupported Content-Type {shown}: send application/x-protobuf or application/json",
    )


# ------------------------------------------------------------------------------------------------ responses


def partial_success_message(rejected: list[Rejection], accepted: int) -> str:
    """``rejected 2 of 5 spans: span ab12…: reason; …`` naming the first few."""
    named = "; ".join(r.describe() for r in rejected[:_REJECTIONS_NAMED])
    more = f"; and {len(rejected) - _REJECTIONS_NAMED} more" if len(rejected) > _REJECTIONS_NAMED else ""
    return f"rejected {len(rejected)} of {len(rejected) + accepted} spans: {named}{more}"


def _success_response(outcome: ExportOutcome, kind: ContentKind) -> Response:
    response = ExportTraceServiceResponse()
    if outcome.rejected:
        response.partial_success.CopyFrom(
            ExportTracePartialSuccess(
                rejected_spans=len(outcome.rejected),
                error_message=partial_success_message(outcome.rejected, outcome.spans),
            )
        )
    if kind == "protobuf":
        return Response(response.SerializeToString(), 200, media_type=_MEDIA_TYPE_OF["protobuf"])
    document: dict[str, Any] = {}
    if outcome.rejected:
        # proto3 JSON mapping: int64 is written as a decimal string.
        document["partialSuccess"] = {
            "rejectedSpans": str(response.partial_success.rejected_spans),
            "errorMessage": response.partial_success.error_message,
        }
    return Response(json.dumps(document), 200, media_type=_MEDIA_TYPE_OF["json"])


def _error_response(error: _HttpError, kind: ContentKind) -> Response:
    if kind == "protobuf":
        body = encode_status(error.rpc_code, error.message)
    else:
        body = json.dumps({"code": error.rpc_code, "message": error.message}).encode()
    return Response(body, error.status, headers=error.headers, media_type=_MEDIA_TYPE_OF[kind])


def encode_status(code: int, message: str) -> bytes:
    """A protobuf ``google.rpc.Status`` (field 1 code, field 2 message), without depending on googleapis."""
    text = message.encode("utf-8")
    return b"\x08" + _varint(code) + b"\x12" + _varint(len(text)) + text


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


_STATUS_SCHEMA = {
    "type": "object",
    "properties": {"code": {"type": "integer"}, "message": {"type": "string"}},
}
_OPENAPI_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "ExportTraceServiceResponse; partialSuccess names rejected spans",
        "content": {
            "application/json": {"schema": {"type": "object"}},
            "application/x-protobuf": {"schema": {"type": "string", "format": "binary"}},
        },
    },
    # Errors come in the request's encoding: a JSON Status, or a protobuf google.rpc.Status.
    **{
        status: {
            "description": text,
            "content": {
                "application/json": {"schema": _STATUS_SCHEMA},
                "application/x-protobuf": {"schema": {"type": "string", "format": "binary"}},
            },
        }
        for status, text in (
            (400, "The body cannot be decoded"),
            (401, "Missing or unknown API key"),
            (413, "Body too large (compressed or decompressed)"),
            (415, "Unsupported Content-Type or Content-Encoding"),
            (503, "The warehouse is unavailable; retry"),
        )
    },
}
_OPENAPI_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/x-protobuf": {"schema": {"type": "string", "format": "binary"}},
            "application/json": {
                "schema": {"type": "object", "description": "OTLP/JSON ExportTraceServiceRequest"}
            },
        },
    }
}
