"""Decode OTLP/HTTP trace bodies (protobuf or JSON) into flat :class:`RawSpan` records.

Both encodings produce the same intermediate structure, so the attribute mapping never sees the wire format.
Problems are reported at two levels:

* a whole-body failure (truncated protobuf, invalid JSON, a top level of the wrong shape) raises
  :class:`~agentledger.core.errors.InputError` with a message that says where;
* a single bad span (missing or all-zero ids, an unreadable timestamp, an attribute value of the wrong type)
  becomes a :class:`Rejection` and its neighbours are kept.

Protobuf messages are walked directly, without converting to dicts; OTLP/JSON is decoded by hand in
:mod:`agentledger.ingest.otlp.decode_json`. The shared types live in :mod:`agentledger.ingest.otlp.raw`.
"""

from __future__ import annotations

import base64
from typing import Any

from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from agentledger.core.errors import InputError
from agentledger.ingest.otlp.decode_json import decode_json, decode_json_document
from agentledger.ingest.otlp.raw import (
    MAX_ATTRIBUTE_DEPTH,
    NO_EVENTS,
    ContentKind,
    DecodedRequest,
    RawSpan,
    Rejection,
    SpanError,
)

__all__ = [
    "ContentKind",
    "DecodedRequest",
    "RawSpan",
    "Rejection",
    "SpanError",
    "decode_body",
    "decode_json",
    "decode_json_document",
    "decode_protobuf",
]

_ZERO_TRACE = bytes(16)
_ZERO_SPAN = bytes(8)


def decode_body(body: bytes, kind: ContentKind) -> DecodedRequest:
    """Decode one OTLP/HTTP request body of the given encoding."""
    return decode_protobuf(body) if kind == "protobuf" else decode_json(body)


# --------------------------------------------------------------------------------------------- protobuf


def decode_protobuf(body: bytes) -> DecodedRequest:
    """Decode a binary ``ExportTraceServiceRequest``."""
    try:
        request = ExportTraceServiceRequest.FromString(body)
    except (DecodeError, ValueError, RuntimeError) as exc:
        raise InputError(f"the body is not a valid OTLP protobuf ExportTraceServiceRequest: {exc}") from exc
    spans: list[RawSpan] = []
    rejected: list[Rejection] = []
    for index, resource_spans in enumerate(request.resource_spans):
        try:
            resource = _pb_attributes(resource_spans.resource.attributes)
        except SpanError as exc:  # as in OTLP/JSON: a resource that cannot be read fails the body
            raise InputError(f"resourceSpans[{index}].resource: {exc}") from exc
        for scope_spans in resource_spans.scope_spans:
            scope_name = scope_spans.scope.name
            for span in scope_spans.spans:
                try:
                    spans.append(_pb_span(span, resource, scope_name))
                except SpanError as exc:
                    rejected.append(
                        Rejection(_hex_or_none(span.span_id), str(exc), _hex_or_none(span.trace_id))
                    )
    return DecodedRequest(spans, rejected)


def _pb_span(span: Any, resource: dict[str, Any], scope_name: str) -> RawSpan:
    trace_id = span.trace_id
    span_id = span.span_id
    if len(trace_id) != 16 or trace_id == _ZERO_TRACE:
        raise SpanError(f"invalid trace id {trace_id.hex() or '<empty>'} (need 16 bytes, not all zero)")
    if len(span_id) != 8 or span_id == _ZERO_SPAN:
        raise SpanError(f"invalid span id {span_id.hex() or '<empty>'} (need 8 bytes, not all zero)")
    parent = span.parent_span_id
    if parent and len(parent) != 8:
        raise SpanError(f"invalid parent span id {parent.hex()} (need 8 bytes)")
    start_ns = span.start_time_unix_nano
    if not start_ns:
        raise SpanError("missing start time (start_time_unix_nano is 0)")
    status = span.status
    events = span.events
    return RawSpan(
        trace_id.hex(),
        span_id.hex(),
        parent.hex() if parent and parent != _ZERO_SPAN else None,
        span.name,
        span.kind,
        start_ns,
        span.end_time_unix_nano,
        _pb_attributes(span.attributes),
        status.code,
        status.message,
        [(e.name, _pb_attributes(e.attributes)) for e in events] if events else NO_EVENTS,
        resource,
        scope_name,
    )


def _pb_attributes(key_values: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for kv in key_values:
        value = kv.value
        # The two most common kinds inline (a call per attribute is a tenth of the decode time).
        which = value.WhichOneof("value")
        if which == "string_value":
            out[kv.key] = value.string_value
        elif which == "int_value":
            out[kv.key] = value.int_value
        else:
            out[kv.key] = _pb_any(value, 0)
    return out


def _pb_any(any_value: Any, depth: int) -> Any:
    # Scalars first and by name: WhichOneof + one attribute read is the cheapest path through upb.
    which = any_value.WhichOneof("value")
    if which == "string_value":
        return any_value.string_value
    if which == "int_value":
        return any_value.int_value
    if which == "double_value":
        return any_value.double_value
    if which == "bool_value":
        return any_value.bool_value
    if which is None:
        return None
    if which == "bytes_value":
        return base64.b64encode(any_value.bytes_value).decode("ascii")
    if depth >= MAX_ATTRIBUTE_DEPTH:
        raise SpanError(f"attribute value nested deeper than {MAX_ATTRIBUTE_DEPTH} levels")
    if which == "array_value":
        return [_pb_any(v, depth + 1) for v in any_value.array_value.values]
    if which == "kvlist_value":
        return {kv.key: _pb_any(kv.value, depth + 1) for kv in any_value.kvlist_value.values}
    raise SpanError(f"unknown AnyValue kind {which}")


def _hex_or_none(raw: bytes) -> str | None:
    return raw.hex() if raw else None
