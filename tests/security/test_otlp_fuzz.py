"""Property-based: generated OTLP requests, valid and not, protobuf and JSON, through the real app.

Every answer is 200 (possibly with partial success), 400, 413 or 415, never a 5xx; and on a 200 the spans
stored for the request are exactly the spans sent minus the spans the response says were rejected.

Span ids are placeholders filled with ids no other example uses when the request is built, so the rows of
one example can be counted by trace id; ids meant to be invalid are literal (wrong length, not hex, zero).
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from security_helpers import START_NS, fresh_span_id, fresh_trace_id, real_app, stored_rows

from agentledger.warehouse.base import Warehouse

pytestmark = pytest.mark.slow

ALLOWED = {200, 400, 413, 415}
FUZZ = settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
NEW_TRACE, SAME_TRACE, NEW_SPAN = "@trace", "@same-trace", "@span"
BAD_IDS = ["", "0" * 32, "0" * 16, "zz" * 16, "abc", "ab" * 15, "AAAAAAAAAAAAAAAAAAAAAA==", 12345, None, True]

KNOWN_KEYS = [
    "gen_ai.operation.name",
    "gen_ai.request.model",
    "gen_ai.response.model",
    "gen_ai.provider.name",
    "gen_ai.usage.input_tokens",
    "gen_ai.usage.output_tokens",
    "gen_ai.usage.cache_read.input_tokens",
    "gen_ai.usage.reasoning.output_tokens",
    "gen_ai.usage.cost",
    "gen_ai.conversation.id",
    "gen_ai.agent.name",
    "gen_ai.response.time_to_first_chunk",
    "gen_ai.prompt",
    "user.id",
    "agentledger.task.outcome",
    "agentledger.task.type",
    "agentledger.response_cache_hit",
    "langfuse.observation.type",
    "langfuse.observation.usage_details",
    "langfuse.observation.cost_details",
    "langfuse.observation.completion_start_time",
    "langfuse.trace.tags",
    "llm.invocation_parameters",
    "openinference.span.kind",
    "traceloop.span.kind",
    "ai.operationId",
    "metadata",
    "error.type",
]
MEANINGFUL = [
    "chat",
    "invoke_agent",
    "embeddings",
    "generation",
    "LLM",
    "AGENT",
    "success",
    "failure",
    "gpt-4o",
    "openai",
    "true",
    '{"input": 5, "output": 7}',
    '{"total": 0.5}',
    '{"max_tokens": 9}',
    "2025-11-13T01:00:00Z",
    '["a", "b"]',
]


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, Warehouse]]:
    with real_app(tmp_path_factory.mktemp("fuzz"), max_body_bytes=256 * 1024) as pair:
        yield pair


# ----------------------------------------------------------------------------------------- OTLP/JSON

big_ints = st.integers(min_value=-(2**70), max_value=2**70)
json_scalars = st.one_of(
    st.builds(lambda s: {"stringValue": s}, st.text(max_size=40)),
    st.builds(lambda s: {"stringValue": s}, st.sampled_from(MEANINGFUL)),
    st.builds(lambda i: {"intValue": str(i)}, big_ints),
    st.builds(lambda i: {"intValue": i}, big_ints),
    st.builds(lambda f: {"doubleValue": f}, st.floats(allow_nan=False, allow_infinity=False)),
    st.builds(lambda f: {"doubleValue": f}, st.sampled_from(["NaN", "Infinity", "-Infinity", "1e999"])),
    st.builds(lambda b: {"boolValue": b}, st.booleans()),
    st.builds(lambda b: {"bytesValue": b}, st.text(max_size=12)),
    st.just({}),
    st.sampled_from(
        [{"stringValue": 5}, {"intValue": "x"}, {"boolValue": "yes"}, {"doubleValue": []}, "v", 3]
    ),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(
        st.builds(lambda vs: {"arrayValue": {"values": vs}}, st.lists(inner, max_size=4)),
        st.builds(
            lambda kvs: {"kvlistValue": {"values": [{"key": k, "value": v} for k, v in kvs]}},
            st.lists(st.tuples(st.text(max_size=6), inner), max_size=4),
        ),
    ),
    max_leaves=12,
)


def _nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {"intValue": "1"}
    for _ in range(depth):
        value = {"arrayValue": {"values": [value]}}
    return value


CHAT_BASE = [
    {"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}},
    {"key": "gen_ai.request.model", "value": {"stringValue": "gpt-4o"}},
    {"key": "gen_ai.usage.input_tokens", "value": {"intValue": "120"}},
    {"key": "gen_ai.usage.output_tokens", "value": {"intValue": "30"}},
]
random_attributes = st.lists(
    st.builds(
        lambda k, v: {"key": k, "value": v},
        st.one_of(st.sampled_from(KNOWN_KEYS), st.text(max_size=12)),
        json_values,
    ),
    max_size=8,
)
custom_attributes = st.lists(  # keys no convention reads: never a reason to refuse a span
    st.builds(lambda k, v: {"key": "x." + k, "value": v}, st.text(max_size=8), json_values), max_size=6
)
json_attributes = st.one_of(
    custom_attributes.map(lambda extra: CHAT_BASE + extra),  # an LLM call, often with odd extras
    custom_attributes.map(lambda extra: CHAT_BASE + extra),
    random_attributes.map(lambda extra: CHAT_BASE + extra),
    random_attributes,
    st.integers(0, 30).map(lambda d: [*CHAT_BASE, {"key": "deep", "value": _nested(d)}]),
    st.integers(250, 400).map(
        lambda n: CHAT_BASE + [{"key": f"k{i}", "value": {"intValue": str(i)}} for i in range(n)]
    ),
    st.integers(8000, 20000).map(
        lambda n: [*CHAT_BASE, {"key": "gen_ai.conversation.id", "value": {"stringValue": "s" * n}}]
    ),
    st.sampled_from([None, "attrs", [1, 2], [{"key": 5}], [{"value": {}}]]),
)
odd_times = st.one_of(
    st.integers(-(2**64), 2**66).map(str),
    st.integers(-(2**64), 2**66),
    st.sampled_from(["", "abc", None, "1e9", 1.5, True, [], "18446744073709551615"]),
)
good_times = st.tuples(st.integers(START_NS - 10**17, START_NS + 10**17), st.integers(0, 10**12)).map(
    lambda pair: (str(pair[0]), str(pair[0] + pair[1]))
)
span_times = st.one_of(good_times, good_times, good_times, st.tuples(odd_times, odd_times))
json_spans = st.fixed_dictionaries(
    {
        "traceId": st.sampled_from([NEW_TRACE] * 5 + [SAME_TRACE] * 3 + BAD_IDS),
        "spanId": st.sampled_from([NEW_SPAN] * 12 + BAD_IDS),
        "times": span_times,
        "attributes": json_attributes,
    },
    optional={
        "parentSpanId": st.sampled_from([NEW_SPAN] * 6 + BAD_IDS),
        "name": st.one_of(
            st.text(max_size=30), st.sampled_from(["chat gpt-4o", "ai.generateText.doGenerate", 5])
        ),
        "kind": st.one_of(
            st.integers(-3, 300), st.sampled_from(["SPAN_KIND_CLIENT", "SPAN_KIND_NOPE", None, 1.5])
        ),
        "status": st.one_of(
            st.fixed_dictionaries({}, optional={"code": st.one_of(st.integers(-5, 9), st.text(max_size=20))}),
            st.sampled_from(["bad", None, {"message": 5}]),
        ),
        "events": st.one_of(
            st.lists(
                st.fixed_dictionaries(
                    {"name": st.sampled_from(["exception", "x"]), "attributes": json_attributes}
                ),
                max_size=2,
            ),
            st.sampled_from(["events", [5]]),
        ),
    },
)
structured_documents = st.builds(
    lambda resources: {"resourceSpans": resources},
    st.lists(
        st.fixed_dictionaries(
            {
                "scopeSpans": st.lists(
                    st.fixed_dictionaries({"spans": st.lists(json_spans, max_size=6)}), max_size=2
                )
            },
            optional={"resource": st.fixed_dictionaries({"attributes": json_attributes})},
        ),
        min_size=1,
        max_size=2,
    ),
)
json_documents = st.one_of(
    structured_documents,
    structured_documents,
    structured_documents,
    st.recursive(
        st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=10)),
        lambda inner: st.one_of(
            st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=12), inner, max_size=3)
        ),
        max_leaves=8,
    ),
    st.builds(
        lambda x: {"resourceSpans": x},
        st.sampled_from([5, "x", [5], [{"scopeSpans": 7}], [{"scopeSpans": [{"spans": 3}]}]]),
    ),
)


def fill_ids(document: Any) -> Any:
    """Replace the id placeholders with fresh ids (a new trace, the previous trace again, a new span)."""
    last_trace = fresh_trace_id()

    def walk(node: Any) -> Any:
        nonlocal last_trace
        if isinstance(node, list):
            return [walk(v) for v in node]
        if not isinstance(node, dict):
            return node
        out = {}
        for key, value in node.items():
            if key == "times":  # one strategy draws both, so most spans end after they start
                out["startTimeUnixNano"], out["endTimeUnixNano"] = value
                continue
            if value == NEW_TRACE:
                last_trace = value = fresh_trace_id()
            elif value == SAME_TRACE:
                value = last_trace
            elif value == NEW_SPAN:
                value = fresh_span_id()
            out[key] = walk(value)
        return out

    return walk(document)


def sent_spans(document: Any) -> tuple[int, list[str]]:
    """How many span entries the request holds (read the way the receiver reads it), and their trace ids."""
    count, traces = 0, []
    resources = document.get("resourceSpans") if isinstance(document, dict) else None
    for resource in resources if isinstance(resources, list) else []:
        scopes = resource.get("scopeSpans") if isinstance(resource, dict) else None
        for scope in scopes if isinstance(scopes, list) else []:
            spans = scope.get("spans") if isinstance(scope, dict) else None
            for span in spans if isinstance(spans, list) else []:
                count += 1
                if isinstance(span, dict) and isinstance(span.get("traceId"), str):
                    traces.append(span["traceId"])
    return count, traces


def _check(
    client: TestClient, wh: Warehouse, body: bytes, headers: dict[str, str], spans: int, traces: list[str]
) -> None:
    response = client.post("/v1/traces", content=body, headers=headers)
    assert response.status_code in ALLOWED, (response.status_code, response.text[:300])
    if response.status_code != 200:
        assert stored_rows(wh, "spans", traces) == 0  # refused whole: nothing of it was stored
        return
    if response.headers["content-type"] == "application/x-protobuf":
        rejected = ExportTraceServiceResponse.FromString(response.content).partial_success.rejected_spans
    else:
        rejected = int(response.json().get("partialSuccess", {}).get("rejectedSpans", 0))
    assert stored_rows(wh, "spans", traces) == spans - rejected


@FUZZ
@given(
    document=json_documents,
    gzipped=st.booleans(),
    media=st.sampled_from(["application/json"] * 6 + ["application/json; charset=utf-8", "text/plain"]),
)
def test_generated_json_requests(app, document: Any, gzipped: bool, media: str) -> None:
    client, wh = app
    document = fill_ids(document)
    body = json.dumps(document).encode()  # ensure_ascii: lone surrogates travel as \\udXXX escapes
    headers = {"content-type": media}
    if gzipped:
        body, headers["content-encoding"] = gzip.compress(body), "gzip"
    spans, traces = sent_spans(document)
    _check(client, wh, body, headers, spans, traces)


# ------------------------------------------------------------------------------------------ protobuf

unicode_text = st.text(
    alphabet=st.characters(exclude_categories=("Cs",)), max_size=30
)  # protobuf strings are UTF-8


def _pb_value(kind: str, payload: Any) -> AnyValue:
    if kind == "array":
        return AnyValue(array_value={"values": payload})
    if kind == "kvlist":
        return AnyValue(kvlist_value={"values": [KeyValue(key=k, value=v) for k, v in payload]})
    return AnyValue(**{kind: payload})


pb_scalars = st.one_of(
    st.builds(_pb_value, st.just("string_value"), st.one_of(unicode_text, st.sampled_from(MEANINGFUL))),
    st.builds(_pb_value, st.just("int_value"), st.integers(-(2**63), 2**63 - 1)),
    st.builds(_pb_value, st.just("double_value"), st.floats()),
    st.builds(_pb_value, st.just("bool_value"), st.booleans()),
    st.builds(_pb_value, st.just("bytes_value"), st.binary(max_size=12)),
    st.just(AnyValue()),
)
pb_values = st.recursive(
    pb_scalars,
    lambda inner: st.one_of(
        st.builds(_pb_value, st.just("array"), st.lists(inner, max_size=4)),
        st.builds(_pb_value, st.just("kvlist"), st.lists(st.tuples(unicode_text, inner), max_size=4)),
    ),
    max_leaves=12,
)
pb_attributes = st.lists(
    st.builds(
        lambda k, v: KeyValue(key=k, value=v), st.one_of(st.sampled_from(KNOWN_KEYS), unicode_text), pb_values
    ),
    max_size=10,
)


def pb_ids(size: int) -> st.SearchStrategy[bytes]:
    """Mostly ``b"@"`` (a fresh valid id); else an id that cannot be valid: all zeros or of another length.
    Never random bytes of the right length: Hypothesis replays values, so those would repeat across examples."""
    wrong_length = st.binary(max_size=20).filter(lambda raw: len(raw) != size)
    return st.one_of(st.sampled_from([b"@"] * 8 + [b"", bytes(size)]), wrong_length)


pb_custom = st.lists(
    st.builds(lambda k, v: KeyValue(key="x." + k, value=v), unicode_text, pb_values), max_size=6
)
PB_CHAT_BASE = [
    KeyValue(key="gen_ai.operation.name", value=AnyValue(string_value="chat")),
    KeyValue(key="gen_ai.request.model", value=AnyValue(string_value="gpt-4o")),
    KeyValue(key="gen_ai.usage.input_tokens", value=AnyValue(int_value=120)),
    KeyValue(key="gen_ai.usage.output_tokens", value=AnyValue(int_value=30)),
]
pb_spans = st.fixed_dictionaries(
    {
        "trace_id": pb_ids(16),
        "span_id": pb_ids(8),
        "parent_span_id": st.one_of(st.sampled_from([b"", b"@"]), st.binary(max_size=10)),
        "name": st.one_of(unicode_text, st.sampled_from(["chat gpt-4o", "invoke_agent a"])),
        "kind": st.integers(0, 2**31 - 1),
        "times": st.one_of(
            good_times,
            good_times,
            good_times,
            st.tuples(st.integers(0, 2**64 - 1), st.integers(0, 2**64 - 1)),
        ),
        "attributes": st.one_of(
            pb_custom.map(lambda extra: PB_CHAT_BASE + extra),
            pb_custom.map(lambda extra: PB_CHAT_BASE + extra),
            pb_attributes.map(lambda extra: PB_CHAT_BASE + extra),
            pb_attributes,
        ),
        "status": st.fixed_dictionaries({"code": st.integers(0, 2**31 - 1), "message": unicode_text}),
    }
)


def build_protobuf(spans: list[dict[str, Any]]) -> tuple[bytes, list[str]]:
    """The request with fresh ids where the strategy asked for a valid one (``b"@"``), and its trace ids."""
    request = ExportTraceServiceRequest()
    scope = request.resource_spans.add().scope_spans.add()
    traces = []
    for fields in spans:
        span = scope.spans.add()
        for name, value in fields.items():
            if name == "attributes":
                span.attributes.extend(value)
            elif name == "times":
                span.start_time_unix_nano, span.end_time_unix_nano = (int(v) for v in value)
            elif name == "status":
                span.status.code, span.status.message = value["code"], value["message"]
            elif value == b"@":
                fresh = fresh_trace_id() if name == "trace_id" else fresh_span_id()
                setattr(span, name, bytes.fromhex(fresh))
            else:
                setattr(span, name, value)
        traces.append(span.trace_id.hex())
    return request.SerializeToString(), traces


@FUZZ
@given(
    spans=st.lists(pb_spans, max_size=6),
    mangle=st.sampled_from(["none", "none", "truncate", "garbage", "gzip"]),
    garbage=st.binary(max_size=64),
)
def test_generated_protobuf_requests(app, spans: list[dict[str, Any]], mangle: str, garbage: bytes) -> None:
    client, wh = app
    body, traces = build_protobuf(spans)
    headers = {"content-type": "application/x-protobuf"}
    count = len(spans)
    if mangle == "truncate" and body:
        body, count = body[: len(body) // 2], -1  # may still parse (a prefix of fields): count unknown
    elif mangle == "garbage":
        body, count = garbage, -1
    elif mangle == "gzip":
        body, headers["content-encoding"] = gzip.compress(body), "gzip"
    if count >= 0:
        _check(client, wh, body, headers, count, traces)
        return
    response = client.post("/v1/traces", content=body, headers=headers)
    assert response.status_code in ALLOWED, (response.status_code, response.content[:300])
