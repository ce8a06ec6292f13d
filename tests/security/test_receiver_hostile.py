"""Hostile input on the receivers, case by case: size limits, gzip bombs, attribute and string limits,
text that is not Unicode, impossible numbers and times, unknown enums. None may answer 5xx or be stored
half-way; what is stored is stored whole, and what is cut says so."""

from __future__ import annotations

import json
import tracemalloc
import zlib
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from security_helpers import (
    JSON,
    PROTOBUF,
    START_NS,
    attribute,
    chat_span,
    fresh_span_id,
    fresh_trace_id,
    otlp_json,
    real_app,
    stored_rows,
)

from agentledger.ingest.otlp.limits import MAX_ATTRIBUTES, MAX_STRING_CHARS, limit_attributes
from agentledger.warehouse.base import Warehouse

MIB = 1024 * 1024


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, Warehouse]]:
    with real_app(
        tmp_path_factory.mktemp("hostile"), max_body_bytes=2 * MIB, max_decompressed_bytes=4 * MIB
    ) as pair:
        yield pair


def _rejections(response) -> tuple[int, str]:
    partial = response.json().get("partialSuccess", {})
    return int(partial.get("rejectedSpans", 0)), partial.get("errorMessage", "")


def gzip_bomb(decompressed_bytes: int) -> bytes:
    """A gzip stream of ``decompressed_bytes`` zeros, built without ever holding them."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = bytes(MIB)
    parts = [compressor.compress(block) for _ in range(decompressed_bytes // MIB)]
    return b"".join([*parts, compressor.flush()])


# -------------------------------------------------------------------------------------------- sizes


def test_declared_oversize_body_is_413_with_the_setting_named(app) -> None:
    client, _ = app
    response = client.post("/v1/traces", content=b"x" * (2 * MIB + 1), headers=JSON)
    assert response.status_code == 413
    assert "AGENTLEDGER_MAX_BODY_BYTES" in response.json()["message"]


def test_streamed_oversize_body_without_length_is_413(app) -> None:
    client, _ = app

    def chunks() -> Iterator[bytes]:
        for _ in range(3):
            yield b"x" * MIB

    response = client.post("/v1/traces", content=chunks(), headers=JSON)  # chunked: no Content-Length
    assert response.status_code == 413


@pytest.mark.parametrize("path", ["/v1/traces", "/api/ingest/litellm"])
def test_gzip_bomb_is_413_and_memory_stays_flat(app, path: str) -> None:
    client, _ = app
    bomb = gzip_bomb(512 * MIB)  # ~0.5 MB on the wire, 512 MiB inflated
    assert len(bomb) < 2 * MIB
    tracemalloc.start()
    try:
        response = client.post(path, content=bomb, headers={**JSON, "content-encoding": "gzip"})
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert response.status_code == 413
    assert "AGENTLEDGER_MAX_DECOMPRESSED_BYTES" in response.text
    assert peak < 32 * MIB, f"peak Python allocation {peak / MIB:.0f} MiB while refusing a gzip bomb"


def test_unsupported_types_and_encodings_are_415(app) -> None:
    client, _ = app
    body = otlp_json([])
    assert client.post("/v1/traces", content=body, headers={"content-type": "text/plain"}).status_code == 415
    response = client.post("/v1/traces", content=body, headers={**JSON, "content-encoding": "br"})
    assert response.status_code == 415


# ---------------------------------------------------------------------------------- limits and text


def test_many_attributes_and_long_strings_are_cut_and_flagged(app) -> None:
    client, wh = app
    trace, span = fresh_trace_id(), fresh_span_id()
    doc = chat_span(trace, span, **{"gen_ai.conversation.id": "s" * 50_000})
    doc["attributes"] += [attribute(f"custom.{i}", i) for i in range(600)]  # the declared ones come first
    doc["name"] = "n" * 20_000
    response = client.post("/v1/traces", content=otlp_json([doc]), headers=JSON)
    assert response.status_code == 200 and _rejections(response)[0] == 0
    row = wh.sql(
        "SELECT c.tags, c.session_id, c.input_tokens, c.model, s.name FROM calls c JOIN spans s USING "
        "(project_id, source, trace_id, span_id) WHERE c.trace_id = $t",
        {"t": trace},
    ).row(0, named=True)
    assert row["tags"].get("agentledger.truncated") == "true"
    assert row["session_id"] == "s" * MAX_STRING_CHARS
    assert len(row["name"]) == MAX_STRING_CHARS
    assert row["input_tokens"] == 100 and row["model"] == "gpt-4o"  # the attributes read were kept


def test_attribute_limit_keeps_the_declared_names_then_the_first_others() -> None:
    declared = {"gen_ai.usage.input_tokens": 5, "gen_ai.request.model": "m", "session.id": "s"}
    attributes = {**{f"custom.{i}": i for i in range(600)}, **declared}
    kept, truncated = limit_attributes(attributes)
    assert truncated and len(kept) == MAX_ATTRIBUTES == 256
    assert declared.items() <= kept.items()
    assert [k for k in kept if k.startswith("custom.")] == [f"custom.{i}" for i in range(253)]
    assert limit_attributes(declared) == (declared, False)


def test_a_span_within_the_limits_is_not_flagged(app) -> None:
    client, wh = app
    trace = fresh_trace_id()
    response = client.post("/v1/traces", content=otlp_json([chat_span(trace, fresh_span_id())]), headers=JSON)
    assert response.status_code == 200
    tags = wh.sql("SELECT tags FROM calls WHERE trace_id = $t", {"t": trace})["tags"][0]
    assert "agentledger.truncated" not in tags


def test_long_prompts_are_hashed_whole(app) -> None:
    client, wh = app
    shared = "x" * (MAX_STRING_CHARS + 100)
    traces = [fresh_trace_id(), fresh_trace_id()]
    spans = [
        chat_span(traces[0], fresh_span_id(), **{"gen_ai.prompt": shared + "first"}),
        chat_span(traces[1], fresh_span_id(), **{"gen_ai.prompt": shared + "second"}),
    ]
    assert client.post("/v1/traces", content=otlp_json(spans), headers=JSON).status_code == 200
    hashes = wh.sql("SELECT prompt_hash FROM calls WHERE trace_id = ANY($t)", {"t": traces})["prompt_hash"]
    assert hashes.null_count() == 0 and hashes.n_unique() == 2


def test_lone_surrogates_are_stored_as_replacement_characters(app) -> None:
    client, wh = app
    trace = fresh_trace_id()
    body = otlp_json([chat_span(trace, fresh_span_id(), **{"gen_ai.conversation.id": "a\ud800b"})])
    assert b"\\ud800" in body  # json.dumps escapes it: the receiver sees the escape a client would send
    assert client.post("/v1/traces", content=body, headers=JSON).status_code == 200
    assert (
        wh.sql("SELECT session_id FROM calls WHERE trace_id = $t", {"t": trace})["session_id"][0]
        == "a\ufffdb"
    )


def test_non_utf8_bodies_are_400(app) -> None:
    client, _ = app
    assert (
        client.post("/v1/traces", content=b'{"resourceSpans": "\xff\xfe"}', headers=JSON).status_code == 400
    )
    request = ExportTraceServiceRequest()
    span = request.resource_spans.add().scope_spans.add().spans.add()
    span.trace_id, span.span_id, span.name = (
        bytes.fromhex(fresh_trace_id()),
        bytes.fromhex(fresh_span_id()),
        "AB",
    )
    span.start_time_unix_nano = START_NS
    broken = request.SerializeToString().replace(b"AB", b"\xff\xfe")  # a string field that is not UTF-8
    response = client.post("/v1/traces", content=broken, headers=PROTOBUF)
    assert response.status_code == 400 and response.headers["content-type"] == "application/x-protobuf"


def test_deep_json_is_400_and_deep_attributes_reject_their_span(app) -> None:
    client, wh = app
    assert client.post("/v1/traces", content=b"[" * 200_000, headers=JSON).status_code == 400
    deep: dict = {"intValue": "1"}
    for _ in range(40):
        deep = {"arrayValue": {"values": [deep]}}
    good, bad = chat_span(fresh_trace_id(), fresh_span_id()), chat_span(fresh_trace_id(), fresh_span_id())
    bad["attributes"].append({"key": "deep", "value": deep})
    response = client.post("/v1/traces", content=otlp_json([good, bad]), headers=JSON)
    rejected, message = _rejections(response)
    assert response.status_code == 200 and rejected == 1 and "nested deeper" in message
    assert stored_rows(wh, "spans", [good["traceId"], bad["traceId"]]) == 1


# -------------------------------------------------------------------------------- numbers and times


@pytest.mark.parametrize(
    ("attributes", "times", "reason"),
    [
        ({"gen_ai.usage.input_tokens": -5}, None, "negative"),
        ({"gen_ai.usage.input_tokens": 2**63 - 1}, None, "implausibly large"),
        ({"gen_ai.usage.output_tokens": 1e300}, None, "implausibly large"),
        ({"gen_ai.usage.cost": 1e308}, None, "<= 1,000,000,000,000"),
        ({"gen_ai.response.time_to_first_chunk": float("inf")}, None, "finite"),
        ({}, (str(2**64 - 1), str(2**64 - 1)), "after 2100"),
        ({}, ("-5", "10"), "not a non-negative integer"),
        ({}, (str(3 * 10**18), str(2 * 10**18)), "ends before it starts"),
    ],
)
def test_impossible_values_reject_their_span_only(app, attributes, times, reason) -> None:
    client, wh = app
    good = chat_span(fresh_trace_id(), fresh_span_id())
    bad = chat_span(fresh_trace_id(), fresh_span_id(), **attributes)
    if times:
        bad["startTimeUnixNano"], bad["endTimeUnixNano"] = times
    response = client.post("/v1/traces", content=otlp_json([good, bad]), headers=JSON)
    rejected, message = _rejections(response)
    assert response.status_code == 200 and rejected == 1 and reason in message, message
    assert stored_rows(wh, "spans", [good["traceId"]]) == 1
    assert stored_rows(wh, "spans", [bad["traceId"]]) == 0


def test_out_of_range_int_and_unknown_enums(app) -> None:
    client, wh = app
    huge = chat_span(fresh_trace_id(), fresh_span_id())
    huge["attributes"].append({"key": "gen_ai.usage.input_tokens", "value": {"intValue": "9" * 23}})
    odd_kind = chat_span(fresh_trace_id(), fresh_span_id())
    odd_kind["kind"], odd_kind["status"] = 99, {"code": 77}  # unknown numbers: kept, read as unset
    named_kind = chat_span(fresh_trace_id(), fresh_span_id())
    named_kind["kind"] = "SPAN_KIND_NOT_A_KIND"
    response = client.post("/v1/traces", content=otlp_json([huge, odd_kind, named_kind]), headers=JSON)
    rejected, message = _rejections(response)
    assert response.status_code == 200 and rejected == 2
    assert "int64" in message and "not a valid enum value" in message
    assert (
        wh.sql("SELECT status FROM calls WHERE trace_id = $t", {"t": odd_kind["traceId"]})["status"][0]
        == "unset"
    )


def test_litellm_receiver_refuses_impossible_numbers_and_scrubs_text(app) -> None:
    client, wh = app
    base = {
        "call_type": "acompletion",
        "model": "gpt-4o",
        "custom_llm_provider": "openai",
        "startTime": 1_763_000_000.0,
        "endTime": 1_763_000_001.0,
        "prompt_tokens": 10,
        "completion_tokens": 5,
        "total_tokens": 15,
        "status": "success",
    }
    records = [
        {**base, "id": "hostile-1", "prompt_tokens": 10**30},
        {**base, "id": "hostile-2", "prompt_tokens": 2**63 - 1},
        {**base, "id": "hostile-3", "response_cost": 1e308},
        {**base, "id": "hostile-4\ud800", "model": "gpt-4o"},
    ]
    response = client.post("/api/ingest/litellm", content=json.dumps(records).encode(), headers=JSON)
    assert response.status_code == 200
    assert response.json()["accepted"] == 1 and response.json()["rejected"] == 3
    ids = wh.sql("SELECT source_record_id FROM calls WHERE source = 'litellm'")["source_record_id"].to_list()
    assert "hostile-4\ufffd" in ids
