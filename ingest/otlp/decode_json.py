"""OTLP/JSON decoding, by hand: ids are hex (not base64), int64 values are decimal strings, enums are integers.

``json_format`` would read the ids as base64, so it cannot be used. Field names are read in lowerCamelCase
(the OTLP spelling) and, as proto3 JSON parsers do, in snake_case too.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
from collections.abc import Sequence
from typing import Any

from agentledger.core.errors import InputError
from agentledger.ingest.otlp.limits import may_hold_surrogates, scrub_surrogates
from agentledger.ingest.otlp.raw import (
    MAX_ATTRIBUTE_DEPTH,
    NO_EVENTS,
    DecodedRequest,
    RawSpan,
    Rejection,
    SpanError,
)

_REJECTED_ID_CHARS = 64  # how much of an unreadable id is echoed back in a rejection
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1

_SPAN_KINDS = {
    "SPAN_KIND_UNSPECIFIED": 0,
    "SPAN_KIND_INTERNAL": 1,
    "SPAN_KIND_SERVER": 2,
    "SPAN_KIND_CLIENT": 3,
    "SPAN_KIND_PRODUCER": 4,
    "SPAN_KIND_CONSUMER": 5,
}
_STATUS_CODES = {"STATUS_CODE_UNSET": 0, "STATUS_CODE_OK": 1, "STATUS_CODE_ERROR": 2}


def decode_json(body: bytes | str) -> DecodedRequest:
    """Decode an OTLP/JSON ``ExportTraceServiceRequest`` body."""
    try:
        document = json.loads(body)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise InputError(f"the body is not valid JSON: {exc}") from exc
    raw = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else body
    if may_hold_surrogates(raw):
        document = scrub_surrogates(document)  # lone surrogates cannot be stored: U+FFFD instead
    return decode_json_document(document)


def decode_json_document(document: Any) -> DecodedRequest:
    """Decode an already parsed OTLP/JSON request (e.g. one line of a JSON-lines file)."""
    if not isinstance(document, dict):
        raise InputError(f"an OTLP/JSON request must be a JSON object, got {type(document).__name__}")
    spans: list[RawSpan] = []
    rejected: list[Rejection] = []
    for r_index, resource_spans in enumerate(_list_field(document, "resourceSpans", "resource_spans", "")):
        where = f"resourceSpans[{r_index}]"
        _require_object(resource_spans, where)
        resource = _json_resource(resource_spans, where)
        for s_index, scope_spans in enumerate(
            _list_field(resource_spans, "scopeSpans", "scope_spans", where)
        ):
            scope_where = f"{where}.scopeSpans[{s_index}]"
            _require_object(scope_spans, scope_where)
            scope = scope_spans.get("scope") or {}
            _require_object(scope, f"{scope_where}.scope")
            scope_name = scope.get("name") or ""
            if not isinstance(scope_name, str):
                raise InputError(f"{scope_where}.scope.name must be a string")
            for span in _list_field(scope_spans, "spans", "spans", scope_where):
                try:
                    spans.append(_json_span(span, resource, scope_name))
                except SpanError as exc:
                    rejected.append(_json_rejection(span, str(exc)))
    return DecodedRequest(spans, rejected)


def _require_object(value: Any, where: str) -> None:
    if not isinstance(value, dict):
        raise InputError(f"{where} must be a JSON object, got {type(value).__name__}")


def _list_field(obj: dict[str, Any], camel: str, snake: str, where: str) -> list[Any]:
    value = obj.get(camel)
    if value is None:
        value = obj.get(snake)
    if value is None:
        return []
    if not isinstance(value, list):
        prefix = f"{where}." if where else ""
        raise InputError(f"{prefix}{camel} must be a JSON array, got {type(value).__name__}")
    return value


def _json_resource(resource_spans: dict[str, Any], where: str) -> dict[str, Any]:
    resource = resource_spans.get("resource") or {}
    _require_object(resource, f"{where}.resource")
    try:
        return _json_attributes(resource.get("attributes"))
    except SpanError as exc:
        raise InputError(f"{where}.resource: {exc}") from exc


def _field(obj: dict[str, Any], camel: str, snake: str) -> Any:
    value = obj.get(camel)
    return obj.get(snake) if value is None else value


def _json_span(span: Any, resource: dict[str, Any], scope_name: str) -> RawSpan:
    if not isinstance(span, dict):
        raise SpanError(f"a span must be a JSON object, got {type(span).__name__}")
    trace_id = _json_id(_field(span, "traceId", "trace_id"), 16, "trace id")
    span_id = _json_id(_field(span, "spanId", "span_id"), 8, "span id")
    parent_id = _json_parent_id(_field(span, "parentSpanId", "parent_span_id"))
    start_ns = _json_uint(_field(span, "startTimeUnixNano", "start_time_unix_nano"), "startTimeUnixNano")
    if not start_ns:
        raise SpanError("missing start time (startTimeUnixNano)")
    end_ns = _json_uint(_field(span, "endTimeUnixNano", "end_time_unix_nano"), "endTimeUnixNano")
    name = span.get("name") or ""
    if not isinstance(name, str):
        raise SpanError("name must be a string")
    status = span.get("status") or {}
    if not isinstance(status, dict):
        raise SpanError("status must be a JSON object")
    message = status.get("message") or ""
    if not isinstance(message, str):
        raise SpanError("status.message must be a string")
    return RawSpan(
        trace_id,
        span_id,
        parent_id,
        name,
        _json_enum(span.get("kind"), _SPAN_KINDS, "kind"),
        start_ns,
        end_ns,
        _json_attributes(span.get("attributes")),
        _json_enum(status.get("code"), _STATUS_CODES, "status.code"),
        message,
        _json_events(span.get("events")),
        resource,
        scope_name,
    )


def _json_rejection(span: Any, reason: str) -> Rejection:
    if not isinstance(span, dict):
        return Rejection(None, reason)
    return Rejection(
        _echo(_field(span, "spanId", "span_id")), reason, _echo(_field(span, "traceId", "trace_id"))
    )


def _echo(value: Any) -> str | None:
    if value is None or value == "":
        return None
    text = value.lower() if isinstance(value, str) else repr(value)
    return text[:_REJECTED_ID_CHARS]


def _json_id(value: Any, size: int, what: str) -> str:
    """A required id: hex per the OTLP/JSON spec, never all zeros."""
    raw = _json_raw_id(value, size, what)
    if not any(raw):
        raise SpanError(f"{what} is all zeros")
    return raw.hex()


def _json_parent_id(value: Any) -> str | None:
    """An optional parent id; all zeros means "no parent" as an empty one does."""
    if not value:
        return None
    raw = _json_raw_id(value, 8, "parent span id")
    return raw.hex() if any(raw) else None


def _json_raw_id(value: Any, size: int, what: str) -> bytes:
    # base64 is read too, because some exporters serialise with the proto3 JSON default.
    if not isinstance(value, str) or not value:
        raise SpanError(f"missing or non-string {what}")
    if len(value) == 2 * size:
        try:
            return bytes.fromhex(value)
        except ValueError:
            raise SpanError(f"{what} {value!r} is not hex") from None
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != size:
        raise SpanError(f"{what} {value[:_REJECTED_ID_CHARS]!r} is not {2 * size} hex digits")
    return raw


def _json_uint(value: Any, what: str) -> int:
    """A fixed64 nanosecond timestamp: a decimal string in OTLP/JSON, tolerated as a JSON integer too."""
    if value is None or value == "":
        return 0
    if isinstance(value, bool):
        raise SpanError(f"{what} must be a decimal string, got a boolean")
    if isinstance(value, int):
        number = value
    elif (
        isinstance(value, str)
        and value.isascii()
        and value.isdigit()
        or isinstance(value, float)
        and value.is_integer()
    ):
        number = int(value)
    else:
        raise SpanError(f"{what} {str(value)[:40]!r} is not a non-negative integer of nanoseconds")
    if number < 0 or number >= 2**64:
        raise SpanError(f"{what} {number} is out of range")
    return number


def _json_enum(value: Any, names: dict[str, int], what: str) -> int:
    if value is None:
        return 0
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value in names:
        return names[value]
    raise SpanError(f"{what} {str(value)[:40]!r} is not a valid enum value")


def _json_events(events: Any) -> Sequence[tuple[str, dict[str, Any]]]:
    if not events:
        return NO_EVENTS
    if not isinstance(events, list):
        raise SpanError("events must be a JSON array")
    out = []
    for event in events:
        if not isinstance(event, dict):
            raise SpanError("an event must be a JSON object")
        name = event.get("name") or ""
        if not isinstance(name, str):
            raise SpanError("event name must be a string")
        out.append((name, _json_attributes(event.get("attributes"))))
    return out


def _json_attributes(attributes: Any) -> dict[str, Any]:
    if not attributes:
        return {}
    if not isinstance(attributes, list):
        raise SpanError("attributes must be a JSON array of {key, value}")
    out: dict[str, Any] = {}
    for kv in attributes:
        if not isinstance(kv, dict) or not isinstance(kv.get("key"), str):
            raise SpanError("an attribute must be an object with a string key")
        key = kv["key"]
        out[key] = _json_any(kv.get("value"), key, 0)
    return out


def _json_any(value: Any, key: str, depth: int) -> Any:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise SpanError(f"attribute {key!r}: value must be an AnyValue object")
    for name, item in value.items():
        reader = _ANY_READERS.get(name)
        if reader is not None:
            return reader(item, key, depth)
    return None  # an empty AnyValue is legal and means "no value"


def _read_string(item: Any, key: str, depth: int) -> str:
    if not isinstance(item, str):
        raise SpanError(f"attribute {key!r}: stringValue must be a string, got {type(item).__name__}")
    return item


def _read_bool(item: Any, key: str, depth: int) -> bool:
    if not isinstance(item, bool):
        raise SpanError(f"attribute {key!r}: boolValue must be true or false, got {type(item).__name__}")
    return item


def _read_int(item: Any, key: str, depth: int) -> int:
    number: int | None = None
    if isinstance(item, int) and not isinstance(item, bool):
        number = item
    elif isinstance(item, str) and len(item) <= 24:  # int() of a huge digit string is slow: refuse it first
        with contextlib.suppress(ValueError):
            number = int(item)
    if number is None:
        raise SpanError(f"attribute {key!r}: intValue {str(item)[:40]!r} is not an integer")
    if not _INT64_MIN <= number <= _INT64_MAX:  # what protobuf could carry
        raise SpanError(f"attribute {key!r}: intValue {str(item)[:40]!r} is out of the int64 range")
    return number


def _read_double(item: Any, key: str, depth: int) -> float:
    # Like protobuf doubles, NaN and infinities are values (the mapping refuses them where a count belongs).
    if isinstance(item, int | float) and not isinstance(item, bool):
        try:
            return float(item)
        except OverflowError:
            pass
    elif isinstance(item, str):
        try:
            return float(item)  # proto3 JSON spells NaN/Infinity as strings
        except ValueError:
            pass
    raise SpanError(f"attribute {key!r}: doubleValue {str(item)[:40]!r} is not a number")


def _read_bytes(item: Any, key: str, depth: int) -> str:
    if not isinstance(item, str):
        raise SpanError(f"attribute {key!r}: bytesValue must be a base64 string")
    return item


def _read_array(item: Any, key: str, depth: int) -> list[Any]:
    if depth >= MAX_ATTRIBUTE_DEPTH:
        raise SpanError(f"attribute {key!r}: nested deeper than {MAX_ATTRIBUTE_DEPTH} levels")
    if not isinstance(item, dict):
        raise SpanError(f"attribute {key!r}: arrayValue must be an object with a values array")
    values = item.get("values") or []
    if not isinstance(values, list):
        raise SpanError(f"attribute {key!r}: arrayValue.values must be an array")
    return [_json_any(v, key, depth + 1) for v in values]


def _read_kvlist(item: Any, key: str, depth: int) -> dict[str, Any]:
    if depth >= MAX_ATTRIBUTE_DEPTH:
        raise SpanError(f"attribute {key!r}: nested deeper than {MAX_ATTRIBUTE_DEPTH} levels")
    if not isinstance(item, dict):
        raise SpanError(f"attribute {key!r}: kvlistValue must be an object with a values array")
    values = item.get("values") or []
    if not isinstance(values, list):
        raise SpanError(f"attribute {key!r}: kvlistValue.values must be an array")
    out: dict[str, Any] = {}
    for kv in values:
        if not isinstance(kv, dict) or not isinstance(kv.get("key"), str):
            raise SpanError(f"attribute {key!r}: a kvlist entry must have a string key")
        out[kv["key"]] = _json_any(kv.get("value"), key, depth + 1)
    return out


_ANY_READERS = {
    "stringValue": _read_string,
    "string_value": _read_string,
    "boolValue": _read_bool,
    "bool_value": _read_bool,
    "intValue": _read_int,
    "int_value": _read_int,
    "doubleValue": _read_double,
    "double_value": _read_double,
    "arrayValue": _read_array,
    "array_value": _read_array,
    "kvlistValue": _read_kvlist,
    "kvlist_value": _read_kvlist,
    "bytesValue": _read_bytes,
    "bytes_value": _read_bytes,
}
