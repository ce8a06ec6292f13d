"""Builders for OTLP test requests (JSON and protobuf from one description) and the OpenInference converter."""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from agentledger.core.records import Call, SpanContext
from agentledger.ingest.otlp.decode import decode_json, decode_protobuf
from agentledger.ingest.otlp.mapping import MappedBatch, map_request

REPO_ROOT = Path(__file__).resolve().parents[3]
REFERENCE = REPO_ROOT.parent / "shared" / "reference"
FIXTURES = REPO_ROOT / "tests" / "fixtures" / "otlp"

T0 = 1_747_872_000_000_000_000  # 2025-05-22T00:00:00Z in ns


def reference(relative: str) -> Path:
    """A reference payload; a missing one fails the test loudly instead of skipping it."""
    path = REFERENCE / relative
    if not path.is_file():
        raise FileNotFoundError(f"reference fixture missing: {path}")
    return path


def fixture(name: str) -> Path:
    path = FIXTURES / name
    if not path.is_file():
        raise FileNotFoundError(f"test fixture missing: {path}")
    return path


@dataclass
class SpanSpec:
    """A span described once, rendered as OTLP/JSON or protobuf."""

    span_id: str
    name: str = "span"
    attributes: dict[str, Any] = field(default_factory=dict)
    trace_id: str = "0af7651916cd43dd8448eb211c80319c"
    parent_span_id: str | None = None
    start_ns: int = T0
    end_ns: int = T0 + 1_500_000_000
    kind: int = 1
    status_code: int = 0
    status_message: str = ""
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)


def json_value(value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    if isinstance(value, float):
        return {"doubleValue": value}
    if isinstance(value, str):
        return {"stringValue": value}
    if isinstance(value, bytes):
        return {"bytesValue": base64.b64encode(value).decode()}
    if isinstance(value, list):
        return {"arrayValue": {"values": [json_value(v) for v in value]}}
    if isinstance(value, dict):
        return {"kvlistValue": {"values": json_attributes(value)}}
    raise TypeError(f"cannot encode {value!r}")


def json_attributes(attributes: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"key": k, "value": json_value(v)} for k, v in attributes.items()]


def json_span(spec: SpanSpec) -> dict[str, Any]:
    span: dict[str, Any] = {
        "traceId": spec.trace_id,
        "spanId": spec.span_id,
        "name": spec.name,
        "kind": spec.kind,
        "startTimeUnixNano": str(spec.start_ns),
        "endTimeUnixNano": str(spec.end_ns),
        "attributes": json_attributes(spec.attributes),
        "status": {"code": spec.status_code, "message": spec.status_message},
    }
    if spec.parent_span_id:
        span["parentSpanId"] = spec.parent_span_id
    if spec.events:
        span["events"] = [
            {"timeUnixNano": str(spec.start_ns), "name": n, "attributes": json_attributes(a)}
            for n, a in spec.events
        ]
    return span


def json_request(
    spans: list[SpanSpec], resource: dict[str, Any] | None = None, scope: str = "tests"
) -> dict[str, Any]:
    return {
        "resourceSpans": [
            {
                "resource": {"attributes": json_attributes(resource or {"service.name": "checkout"})},
                "scopeSpans": [{"scope": {"name": scope}, "spans": [json_span(s) for s in spans]}],
            }
        ]
    }


def json_body(spans: list[SpanSpec], resource: dict[str, Any] | None = None) -> bytes:
    return json.dumps(json_request(spans, resource)).encode()


def _set_pb_value(target: AnyValue, value: Any) -> None:
    if isinstance(value, bool):
        target.bool_value = value
    elif isinstance(value, int):
        target.int_value = value
    elif isinstance(value, float):
        target.double_value = value
    elif isinstance(value, str):
        target.string_value = value
    elif isinstance(value, bytes):
        target.bytes_value = value
    elif isinstance(value, list):
        target.array_value.SetInParent()
        for item in value:
            _set_pb_value(target.array_value.values.add(), item)
    elif isinstance(value, dict):
        target.kvlist_value.SetInParent()
        for key, item in value.items():
            kv = target.kvlist_value.values.add()
            kv.key = key
            _set_pb_value(kv.value, item)
    else:
        raise TypeError(f"cannot encode {value!r}")


def _add_pb_attributes(container: Any, attributes: dict[str, Any]) -> None:
    for key, value in attributes.items():
        kv = container.add()
        kv.key = key
        _set_pb_value(kv.value, value)


def pb_request(
    spans: list[SpanSpec], resource: dict[str, Any] | None = None, scope: str = "tests"
) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    _add_pb_attributes(resource_spans.resource.attributes, resource or {"service.name": "checkout"})
    scope_spans = resource_spans.scope_spans.add()
    scope_spans.scope.name = scope
    for spec in spans:
        span = scope_spans.spans.add()
        span.trace_id = bytes.fromhex(spec.trace_id)
        span.span_id = bytes.fromhex(spec.span_id)
        if spec.parent_span_id:
            span.parent_span_id = bytes.fromhex(spec.parent_span_id)
        span.name = spec.name
        span.kind = spec.kind
        span.start_time_unix_nano = spec.start_ns
        span.end_time_unix_nano = spec.end_ns
        span.status.code = spec.status_code
        span.status.message = spec.status_message
        _add_pb_attributes(span.attributes, spec.attributes)
        for name, attributes in spec.events:
            event = span.events.add()
            event.name = name
            event.time_unix_nano = spec.start_ns
            _add_pb_attributes(event.attributes, attributes)
    return request


def pb_body(spans: list[SpanSpec], resource: dict[str, Any] | None = None) -> bytes:
    return pb_request(spans, resource).SerializeToString()


# ------------------------------------------------------------------------------- OpenInference converter


def flatten_openinference(attributes: dict[str, Any]) -> dict[str, Any]:
    """OpenInference "logical JSON" -> OTLP attributes: lists of objects become ``key.<i>.<field>``.

    Lists of scalars stay arrays, nulls are dropped (OTLP has no null attribute), as the OpenInference
    instrumentations do when they export.
    """
    out: dict[str, Any] = {}
    for key, value in attributes.items():
        _flatten_into(out, key, value)
    return out


def _flatten_into(out: dict[str, Any], key: str, value: Any) -> None:
    if value is None:
        return
    if isinstance(value, list) and any(isinstance(v, dict) for v in value):
        for index, item in enumerate(value):
            _flatten_into(out, f"{key}.{index}", item)
    elif isinstance(value, dict):
        for sub_key, sub_value in value.items():
            _flatten_into(out, f"{key}.{sub_key}", sub_value)
    else:
        out[key] = value


def _hex_id(text: str, digits: int) -> str:
    plain = text.replace("-", "").lower()
    if len(plain) >= digits and all(ch in "0123456789abcdef" for ch in plain):
        return plain[:digits]
    return hashlib.sha256(text.encode()).hexdigest()[:digits]


def _iso_ns(text: str) -> int:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return int(moment.timestamp()) * 1_000_000_000 + moment.microsecond * 1000


def openinference_span(path: Path) -> SpanSpec:
    """An OTLP span from an OpenInference example.

    Derived data: UUID trace ids keep their 32 hex digits, UUID span ids keep their first 16; examples that
    have no context or times get ids hashed from the file name and a fixed start time.
    """
    logical = json.loads(path.read_text())
    context = logical.get("context") or {}
    trace_id = _hex_id(context.get("trace_id") or f"trace:{path.name}", 32)
    span_id = _hex_id(context.get("span_id") or f"span:{path.name}", 16)
    parent = logical.get("parent_id")
    start = _iso_ns(logical["start_time"]) if logical.get("start_time") else T0
    end = _iso_ns(logical["end_time"]) if logical.get("end_time") else start + 1_000_000_000
    status = {"OK": 1, "ERROR": 2}.get(logical.get("status_code") or "", 0)
    return SpanSpec(
        span_id=span_id,
        trace_id=trace_id,
        name=logical.get("name") or "llm",
        parent_span_id=_hex_id(parent, 16) if parent else None,
        attributes=flatten_openinference(logical["attributes"]),
        start_ns=start,
        end_ns=end,
        status_code=status,
        status_message=logical.get("status_message") or "",
    )


# ------------------------------------------------------------------------------------- mapping shortcuts


def mapped_from_file(relative_fixture: str) -> MappedBatch:
    return map_request(decode_json(fixture(relative_fixture).read_bytes()), project_id="proj")


def mapped(*specs: SpanSpec, resource: dict | None = None) -> MappedBatch:
    """Map through both encodings and check they agree, so every mapping test covers protobuf and JSON."""
    from_json = map_request(decode_json(json_body(list(specs), resource)), project_id="proj")
    from_pb = map_request(decode_protobuf(pb_body(list(specs), resource)), project_id="proj")
    assert from_json == from_pb
    return from_pb


def one_call(*specs: SpanSpec, resource: dict | None = None) -> Call:
    batch = mapped(*specs, resource=resource)
    assert batch.rejected == []
    [call] = batch.calls
    return call


def tokens(call: Call) -> tuple[int, int, int, int, int]:
    return (
        call.input_tokens,
        call.cache_read_tokens,
        call.cache_write_tokens,
        call.output_tokens,
        call.reasoning_tokens,
    )


def span_by_id(batch: MappedBatch, span_id: str) -> SpanContext:
    return next(s for s in batch.spans if s.span_id == span_id)
