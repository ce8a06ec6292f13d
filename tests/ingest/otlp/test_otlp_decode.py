"""Decoding OTLP/HTTP bodies: protobuf and JSON agree, bad spans are rejected one by one, bad bodies raise."""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from otlp_helpers import T0, SpanSpec, json_body, json_request, pb_body, pb_request, reference

from agentledger.core.errors import InputError
from agentledger.ingest.otlp.decode import decode_json, decode_json_document, decode_protobuf
from agentledger.ingest.otlp.mapping import map_request

ALL_TYPES = {
    "s": "text",
    "i": -42,
    "big": 2**62,
    "d": 0.25,
    "b": True,
    "arr": ["a", 1, 2.5, False],
    "kv": {"inner": "x", "n": 3, "deep": {"list": [1, 2]}},
    "bytes": b"\x00\x01\xff",
}


def test_reference_example_trace_decodes_with_lowercase_ids() -> None:
    decoded = decode_json(reference("otel/examples_trace.json").read_bytes())
    assert decoded.rejected == []
    [span] = decoded.spans
    assert span.trace_id == "5b8efff798038103d269b633813fc60c"
    assert span.span_id == "eee19b7ec3c1b174"
    assert span.parent_span_id == "eee19b7ec3c1b173"
    assert span.name == "I'm a server span"
    assert span.kind == 2
    assert (span.start_ns, span.end_ns) == (1544712660000000000, 1544712661000000000)
    assert span.attributes == {"my.span.attr": "some value"}
    assert span.resource == {"service.name": "my.service"}
    assert span.scope_name == "my.library"


def test_protobuf_and_json_decode_to_the_same_spans() -> None:
    specs = [
        SpanSpec(span_id="00000000000000a1", attributes=ALL_TYPES, status_code=2, status_message="boom"),
        SpanSpec(
            span_id="00000000000000a2",
            parent_span_id="00000000000000a1",
            events=[("exception", {"exception.type": "ValueError"})],
        ),
    ]
    from_json = decode_json(json_body(specs))
    from_pb = decode_protobuf(pb_body(specs))
    assert from_json.rejected == from_pb.rejected == []
    assert from_json.spans == from_pb.spans
    first = from_pb.spans[0]
    assert first.attributes["arr"] == ["a", 1, 2.5, False]
    assert first.attributes["kv"] == {"inner": "x", "n": 3, "deep": {"list": [1, 2]}}
    assert first.attributes["big"] == 2**62
    assert first.attributes["bytes"] == base64.b64encode(b"\x00\x01\xff").decode()
    assert (first.status_code, first.status_message) == (2, "boom")
    assert list(from_pb.spans[1].events) == [("exception", {"exception.type": "ValueError"})]


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("traceId", "00000000000000000000000000000000", "all zeros"),
        ("traceId", "xyz", "trace id"),
        ("traceId", None, "trace id"),
        ("spanId", "0000000000000000", "all zeros"),
        ("spanId", "abc", "span id"),
        ("spanId", 12345, "span id"),
        ("parentSpanId", "nothex!!nothex!!", "parent span id"),
        ("startTimeUnixNano", "soon", "startTimeUnixNano"),
        ("startTimeUnixNano", None, "missing start time"),
        ("endTimeUnixNano", "-5", "endTimeUnixNano"),
        ("kind", "SIDEWAYS", "kind"),
        ("attributes", {"k": "v"}, "attributes"),
        ("status", "ERROR", "status"),
    ],
)
def test_bad_json_span_is_rejected_and_neighbours_kept(field: str, value: object, reason: str) -> None:
    document = json_request(
        [
            SpanSpec(span_id="00000000000000b1"),
            SpanSpec(span_id="00000000000000b2"),
            SpanSpec(span_id="00000000000000b3"),
        ]
    )
    bad = document["resourceSpans"][0]["scopeSpans"][0]["spans"][1]
    if value is None:
        bad.pop(field, None)
    else:
        bad[field] = value
    decoded = decode_json_document(document)
    assert [s.span_id for s in decoded.spans] == ["00000000000000b1", "00000000000000b3"]
    [rejection] = decoded.rejected
    assert reason in rejection.reason


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ({"intValue": "12abc"}, "intValue"),
        ({"intValue": True}, "intValue"),
        ({"stringValue": 5}, "stringValue"),
        ({"boolValue": "yes"}, "boolValue"),
        ({"doubleValue": "fast"}, "doubleValue"),
        ({"arrayValue": [1, 2]}, "arrayValue"),
        ({"kvlistValue": {"values": [{"value": {"stringValue": "no key"}}]}}, "kvlist"),
        ("plain", "AnyValue"),
    ],
)
def test_attribute_of_the_wrong_type_rejects_its_span(value: object, reason: str) -> None:
    document = json_request([SpanSpec(span_id="00000000000000c1"), SpanSpec(span_id="00000000000000c2")])
    document["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["attributes"] = [
        {"key": "gen_ai.usage.input_tokens", "value": value}
    ]
    decoded = decode_json_document(document)
    assert [s.span_id for s in decoded.spans] == ["00000000000000c2"]
    assert decoded.rejected[0].span_id == "00000000000000c1"
    assert reason in decoded.rejected[0].reason


def test_json_leniencies_base64_ids_enum_names_numbers_and_snake_case() -> None:
    span = {
        "trace_id": base64.b64encode(bytes.fromhex("5b8efff798038103d269b633813fc60c")).decode(),
        "spanId": "EEE19B7EC3C1B174",
        "parentSpanId": "0000000000000000",
        "name": "x",
        "kind": "SPAN_KIND_CLIENT",
        "startTimeUnixNano": T0,
        "status": {"code": "STATUS_CODE_ERROR"},
        "attributes": [{"key": "n", "value": {"intValue": 7}}, {"key": "empty", "value": {}}],
    }
    decoded = decode_json_document({"resource_spans": [{"scope_spans": [{"spans": [span]}]}]})
    [raw] = decoded.spans
    assert raw.trace_id == "5b8efff798038103d269b633813fc60c"
    assert raw.span_id == "eee19b7ec3c1b174"
    assert raw.parent_span_id is None
    assert (raw.kind, raw.status_code, raw.end_ns) == (3, 2, 0)
    assert raw.attributes == {"n": 7, "empty": None}


def test_protobuf_span_with_bad_ids_is_rejected_alone() -> None:
    request = pb_request(
        [
            SpanSpec(span_id="00000000000000d1"),
            SpanSpec(span_id="00000000000000d2"),
            SpanSpec(span_id="00000000000000d3"),
        ]
    )
    spans = request.resource_spans[0].scope_spans[0].spans
    spans[0].trace_id = bytes(16)
    spans[1].span_id = b"\x01\x02"
    decoded = decode_protobuf(request.SerializeToString())
    assert [s.span_id for s in decoded.spans] == ["00000000000000d3"]
    assert [r.span_id for r in decoded.rejected] == ["00000000000000d1", "0102"]
    assert "trace id" in decoded.rejected[0].reason and "span id" in decoded.rejected[1].reason


def test_protobuf_missing_start_time_is_rejected() -> None:
    request = pb_request([SpanSpec(span_id="00000000000000e1")])
    request.resource_spans[0].scope_spans[0].spans[0].start_time_unix_nano = 0
    decoded = decode_protobuf(request.SerializeToString())
    assert decoded.spans == [] and "start time" in decoded.rejected[0].reason


def test_deeply_nested_attribute_is_rejected_not_crashing() -> None:
    value: object = "leaf"
    for _ in range(40):
        value = [value]
    request = pb_request(
        [
            SpanSpec(span_id="00000000000000f1", attributes={"deep": value}),
            SpanSpec(span_id="00000000000000f2"),
        ]
    )
    decoded = decode_protobuf(request.SerializeToString())
    assert [s.span_id for s in decoded.spans] == ["00000000000000f2"]
    assert "nested" in decoded.rejected[0].reason


def test_deeply_nested_resource_attribute_fails_the_body_in_both_encodings() -> None:
    value: object = "leaf"
    for _ in range(40):
        value = [value]
    spans = [SpanSpec(span_id="00000000000000f3")]
    with pytest.raises(InputError, match=r"resourceSpans\[0\]\.resource: .*nested"):
        decode_protobuf(pb_request(spans, resource={"deep": value}).SerializeToString())
    with pytest.raises(InputError, match=r"resourceSpans\[0\]\.resource: .*nested"):
        decode_json(json_body(spans, resource={"deep": value}))


def test_truncated_protobuf_raises_input_error() -> None:
    body = pb_body([SpanSpec(span_id="0000000000000101", attributes={"a": "x" * 100})])
    with pytest.raises(InputError, match="protobuf"):
        decode_protobuf(body[: len(body) // 2])


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"resourceSpans": [', "not valid JSON"),
        (b"\xff\xfe\x00garbage", "not valid JSON"),
        (b"[1, 2]", "JSON object"),
        (b'{"resourceSpans": {"a": 1}}', "resourceSpans must be a JSON array"),
        (b'{"resourceSpans": [{"scopeSpans": 3}]}', "scopeSpans must be a JSON array"),
        (b'{"resourceSpans": [{"scopeSpans": [{"spans": "none"}]}]}', "spans must be a JSON array"),
        (b'{"resourceSpans": ["x"]}', "resourceSpans[0] must be a JSON object"),
        (
            b'{"resourceSpans": [{"resource": {"attributes": [{"key": "k", "value": {"intValue": "x"}}]}}]}',
            "resource",
        ),
        (b"[" * 100_000, "not valid JSON"),
    ],
)
def test_whole_body_failures_raise_input_error(body: bytes, message: str) -> None:
    with pytest.raises(InputError) as info:
        decode_json(body)
    assert message in str(info.value)


def test_empty_request_is_valid() -> None:
    assert decode_json(b"{}").spans == []
    assert decode_protobuf(b"").spans == []


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
_span_keys = st.sampled_from(
    [
        "traceId",
        "spanId",
        "parentSpanId",
        "name",
        "kind",
        "startTimeUnixNano",
        "endTimeUnixNano",
        "attributes",
        "status",
        "events",
    ]
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(_span_keys, _json_values | st.text(alphabet="0123456789abcdef", max_size=40)))
def test_any_json_span_is_kept_or_rejected_never_crashes(span: dict) -> None:
    document = {"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]}
    decoded = decode_json_document(document)
    assert len(decoded.spans) + len(decoded.rejected) == 1
    batch = map_request(decoded, project_id="p")
    assert len(batch.spans) + len(batch.rejected) == 1


@settings(max_examples=300)
@given(_json_values)
def test_any_json_document_decodes_or_raises_input_error(document: object) -> None:
    try:
        decoded = decode_json(json.dumps(document))
    except InputError:
        return
    assert len(decoded.spans) == 0  # no generated document has a valid span (ids are never 32/16 hex)


@settings(max_examples=300)
@given(st.binary(max_size=200))
def test_any_bytes_decode_or_raise_input_error(body: bytes) -> None:
    try:
        decoded = decode_protobuf(body)
    except InputError:
        return
    map_request(decoded, project_id="p")  # whatever decodes also maps without crashing
