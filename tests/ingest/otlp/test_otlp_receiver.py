"""HTTP semantics of the OTLP receiver, through FastAPI's TestClient and through the real OTel SDK exporter."""

from __future__ import annotations

import asyncio
import base64
import gzip
import json
import socket
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient
from google.rpc import status_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from otlp_helpers import SpanSpec, json_body, pb_body, pb_request, reference

from agentledger.core.errors import WarehouseError
from agentledger.core.records import Call, SpanContext
from agentledger.core.settings import Settings
from agentledger.ingest.http_body import gunzip_capped
from agentledger.ingest.otlp.receiver import build_otlp_router

CHAT = {
    "gen_ai.operation.name": "chat",
    "gen_ai.request.model": "gpt-4o",
    "gen_ai.usage.input_tokens": 10,
    "gen_ai.usage.output_tokens": 2,
}
GOOD = [
    SpanSpec(span_id="00000000000000a1", attributes=CHAT),
    SpanSpec(span_id="00000000000000a2", name="tool"),
]
WITH_BAD = [
    SpanSpec(span_id="00000000000000b1", attributes=CHAT),
    SpanSpec(span_id="00000000000000b2", attributes={**CHAT, "gen_ai.usage.input_tokens": -1}),
    SpanSpec(span_id="00000000000000b3"),
]
PB = {"content-type": "application/x-protobuf"}
JS = {"content-type": "application/json"}


class RecordingIngest:
    """Stands in for Pipeline.ingest: records what it was given, and where it ran."""

    def __init__(self, error: Exception | None = None) -> None:
        self.batches: list[tuple[list[Call], list[SpanContext]]] = []
        self.error = error
        self.ran_in_event_loop: list[bool] = []

    def __call__(self, calls: list[Call], spans: list[SpanContext]) -> object:
        try:
            asyncio.get_running_loop()
            self.ran_in_event_loop.append(True)
        except RuntimeError:
            self.ran_in_event_loop.append(False)
        if self.error is not None:
            raise self.error
        self.batches.append((calls, spans))
        return None

    @property
    def calls(self) -> list[Call]:
        return [c for calls, _ in self.batches for c in calls]

    @property
    def spans(self) -> list[SpanContext]:
        return [s for _, spans in self.batches for s in spans]


def make_client(ingest: RecordingIngest, **settings: object) -> TestClient:
    app = FastAPI()
    app.include_router(build_otlp_router(ingest, Settings(_env_file=None, **settings)))
    return TestClient(app)


@pytest.fixture
def ingest() -> RecordingIngest:
    return RecordingIngest()


@pytest.fixture
def client(ingest: RecordingIngest) -> TestClient:
    return make_client(ingest)


def test_json_export_is_acknowledged_after_ingest(client: TestClient, ingest: RecordingIngest) -> None:
    response = client.post("/v1/traces", content=json_body(GOOD), headers=JS)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {}
    assert [c.span_id for c in ingest.calls] == ["00000000000000a1"]
    assert [s.span_id for s in ingest.spans] == ["00000000000000a1", "00000000000000a2"]
    assert ingest.ran_in_event_loop == [False]  # ingest ran in the thread pool


def test_protobuf_export_answers_protobuf(client: TestClient, ingest: RecordingIngest) -> None:
    response = client.post("/v1/traces", content=pb_body(GOOD), headers=PB)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/x-protobuf"
    parsed = ExportTraceServiceResponse.FromString(response.content)
    assert not parsed.HasField("partial_success")
    assert len(ingest.calls) == 1 and ingest.calls[0].project_id == "default"


def test_langfuse_alias_path(client: TestClient, ingest: RecordingIngest) -> None:
    body = reference("langfuse/otel_BasicTraceExport_example.json").read_bytes()
    response = client.post("/api/public/otel/v1/traces", content=body, headers=JS)
    assert response.status_code == 200
    assert [c.operation for c in ingest.calls] == ["chat"]


def test_partial_success_in_json(client: TestClient, ingest: RecordingIngest) -> None:
    response = client.post(
        "/v1/traces", content=json_body(WITH_BAD), headers={"content-type": "application/json; charset=utf-8"}
    )
    assert response.status_code == 200
    partial = response.json()["partialSuccess"]
    assert partial["rejectedSpans"] == "1"  # proto3 JSON writes int64 as a string
    assert "00000000000000b2" in partial["errorMessage"] and "negative" in partial["errorMessage"]
    assert "rejected 1 of 3 spans" in partial["errorMessage"]
    assert [s.span_id for s in ingest.spans] == ["00000000000000b1", "00000000000000b3"]


def test_partial_success_in_protobuf_counts_decode_and_mapping_rejections(
    client: TestClient, ingest: RecordingIngest
) -> None:
    request = pb_request(WITH_BAD)
    request.resource_spans[0].scope_spans[0].spans[2].trace_id = bytes(16)  # rejected by the decoder
    response = client.post("/v1/traces", content=request.SerializeToString(), headers=PB)
    assert response.status_code == 200
    parsed = ExportTraceServiceResponse.FromString(response.content)
    assert parsed.partial_success.rejected_spans == 2
    assert "00000000000000b2" in parsed.partial_success.error_message
    assert "00000000000000b3" in parsed.partial_success.error_message
    assert [s.span_id for s in ingest.spans] == ["00000000000000b1"]


def test_gzip_bodies(client: TestClient, ingest: RecordingIngest) -> None:
    response = client.post(
        "/v1/traces", content=gzip.compress(pb_body(GOOD)), headers={**PB, "content-encoding": "gzip"}
    )
    assert response.status_code == 200
    # Two concatenated gzip members are one body.
    body = json_body(GOOD)
    half = len(body) // 2
    two_members = gzip.compress(body[:half]) + gzip.compress(body[half:])
    response = client.post("/v1/traces", content=two_members, headers={**JS, "content-encoding": "gzip"})
    assert response.status_code == 200
    assert len(ingest.calls) == 2


def test_gzip_bomb_is_stopped_at_the_decompressed_limit(ingest: RecordingIngest) -> None:
    client = make_client(ingest, max_decompressed_bytes=1_000_000)
    bomb = gzip.compress(b"\x00" * 200_000_000, compresslevel=9)
    assert len(bomb) < 1_000_000
    response = client.post("/v1/traces", content=bomb, headers={**PB, "content-encoding": "gzip"})
    assert response.status_code == 413
    assert "AGENTLEDGER_MAX_DECOMPRESSED_BYTES" in response.text
    assert ingest.batches == [] and ingest.ran_in_event_loop == []


def test_gunzip_capped_never_returns_more_than_the_limit() -> None:
    data = b"abc" * 1000
    assert gunzip_capped(gzip.compress(data), len(data)) == data
    with pytest.raises(Exception, match="exceeds"):
        gunzip_capped(gzip.compress(data), len(data) - 1)


def test_body_over_the_limit_is_413(ingest: RecordingIngest) -> None:
    client = make_client(ingest, max_body_bytes=100)
    response = client.post("/v1/traces", content=json_body(GOOD), headers=JS)
    assert response.status_code == 413
    assert response.json()["message"].startswith("the body is")
    assert ingest.batches == []


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({"content-type": "text/plain"}, "Content-Type text/plain"),
        ({}, "Content-Type none"),
        ({**PB, "content-encoding": "br"}, "Content-Encoding br"),
    ],
)
def test_unsupported_types_and_encodings_are_415(client: TestClient, headers: dict, message: str) -> None:
    response = client.post("/v1/traces", content=pb_body(GOOD), headers=headers)
    assert response.status_code == 415
    assert message in response.content.decode(errors="replace")


def test_undecodable_json_is_400_with_a_status_body(client: TestClient, ingest: RecordingIngest) -> None:
    response = client.post("/v1/traces", content=b'{"resourceSpans": [', headers=JS)
    assert response.status_code == 400
    assert response.json()["code"] == 3 and "not valid JSON" in response.json()["message"]
    response = client.post("/v1/traces", content=b'{"resourceSpans": 7}', headers=JS)
    assert response.status_code == 400 and "resourceSpans" in response.json()["message"]
    assert ingest.batches == []


def test_truncated_protobuf_is_400_with_a_protobuf_status(client: TestClient) -> None:
    body = pb_body([SpanSpec(span_id="0000000000000c01", attributes={"k": "v" * 300})])
    response = client.post("/v1/traces", content=body[:-40], headers=PB)
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/x-protobuf"
    status = status_pb2.Status.FromString(response.content)
    assert status.code == 3 and "protobuf" in status.message


def test_unreadable_resource_attribute_is_400_not_500(client: TestClient, ingest: RecordingIngest) -> None:
    deep: object = "leaf"
    for _ in range(40):
        deep = [deep]
    request = pb_request(GOOD, resource={"service.name": "checkout", "deep": deep})
    response = client.post("/v1/traces", content=request.SerializeToString(), headers=PB)
    assert response.status_code == 400
    status = status_pb2.Status.FromString(response.content)
    assert status.code == 3 and "resourceSpans[0].resource" in status.message and "nested" in status.message
    assert ingest.batches == []
    assert client.post("/v1/traces", content=pb_body(GOOD), headers=PB).status_code == 200


def test_bad_gzip_is_400(client: TestClient) -> None:
    response = client.post(
        "/v1/traces", content=b"not gzip at all", headers={**JS, "content-encoding": "gzip"}
    )
    assert response.status_code == 400 and "gzip" in response.json()["message"]
    truncated = gzip.compress(json_body(GOOD))[:-12]
    response = client.post("/v1/traces", content=truncated, headers={**JS, "content-encoding": "gzip"})
    assert response.status_code == 400 and "truncated" in response.json()["message"]


def test_no_keys_configured_means_open(ingest: RecordingIngest) -> None:
    client = make_client(ingest, api_keys="")
    assert client.post("/v1/traces", content=json_body(GOOD), headers=JS).status_code == 200


@pytest.mark.parametrize(
    ("authorization", "status"),
    [
        (None, 401),
        ("Bearer wrong-key", 401),
        ("Bearer key-two", 200),
        ("Basic " + base64.b64encode(b"pk-lf-public:key-one").decode(), 200),
        ("Basic " + base64.b64encode(b"pk-lf-public:nope").decode(), 401),
        ("Basic !!!", 401),
        ("Token key-one", 401),
    ],
)
def test_api_keys(ingest: RecordingIngest, authorization: str | None, status: int) -> None:
    client = make_client(ingest, api_keys="key-one, key-two")
    headers = dict(JS)
    if authorization:
        headers["authorization"] = authorization
    response = client.post("/v1/traces", content=json_body(GOOD), headers=headers)
    assert response.status_code == status
    if status == 401:
        assert "key-one" not in response.text and "key-two" not in response.text
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert ingest.batches == []


def test_unauthenticated_protobuf_request_gets_a_protobuf_status(ingest: RecordingIngest) -> None:
    client = make_client(ingest, api_keys="secret")
    response = client.post("/v1/traces", content=pb_body(GOOD), headers=PB)
    assert response.status_code == 401
    assert status_pb2.Status.FromString(response.content).code == 16


def test_warehouse_failure_is_503_and_nothing_is_acknowledged() -> None:
    failing = RecordingIngest(error=WarehouseError("disk full"))
    response = make_client(failing).post("/v1/traces", content=json_body(GOOD), headers=JS)
    assert response.status_code == 503
    assert "disk full" in response.json()["message"]


def test_empty_request_does_not_call_ingest(client: TestClient, ingest: RecordingIngest) -> None:
    assert client.post("/v1/traces", content=b"{}", headers=JS).status_code == 200
    assert client.post("/v1/traces", content=b"", headers=PB).status_code == 200
    assert ingest.ran_in_event_loop == []


def test_project_for_request_picks_the_project(ingest: RecordingIngest) -> None:
    app = FastAPI()
    app.include_router(
        build_otlp_router(
            ingest, Settings(_env_file=None), lambda request: request.headers.get("x-project", "none")
        )
    )
    response = TestClient(app).post(
        "/v1/traces", content=json_body(GOOD), headers={**JS, "x-project": "team-a"}
    )
    assert response.status_code == 200
    assert {s.project_id for s in ingest.spans} == {"team-a"}


def test_openapi_documents_both_paths(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    for path in ("/v1/traces", "/api/public/otel/v1/traces"):
        operation = schema["paths"][path]["post"]
        assert set(operation["requestBody"]["content"]) == {"application/x-protobuf", "application/json"}
        assert {"200", "400", "401", "413", "415"} <= set(operation["responses"])


# ------------------------------------------------------------------------- the real OTel SDK exporter


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def live_server(ingest: RecordingIngest) -> Iterator[str]:
    app = FastAPI()
    app.include_router(build_otlp_router(ingest, Settings(_env_file=None, api_keys="sdk-key")))
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.mark.slow
def test_otel_sdk_exporter_round_trip(live_server: str, ingest: RecordingIngest) -> None:
    from opentelemetry.exporter.otlp.proto.http import Compression
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.trace import Status, StatusCode

    exporter = OTLPSpanExporter(
        endpoint=f"{live_server}/v1/traces",
        headers={"authorization": "Bearer sdk-key"},
        compression=Compression.Gzip,
    )
    provider = TracerProvider(
        resource=Resource.create({"service.name": "sdk-test", "deployment.environment.name": "ci"})
    )
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("tests")
    agent_attributes = {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "Planner"}
    with (
        tracer.start_as_current_span("invoke_agent Planner", attributes=agent_attributes),
        tracer.start_as_current_span("chat gpt-4o-mini") as span,
    ):
        span.set_attributes(
            {
                "gen_ai.operation.name": "chat",
                "gen_ai.provider.name": "openai",
                "gen_ai.request.model": "gpt-4o-mini",
                "gen_ai.usage.input_tokens": 120,
                "gen_ai.usage.cache_read.input_tokens": 30,
                "gen_ai.usage.output_tokens": 15,
                "gen_ai.response.finish_reasons": ("length",),
            }
        )
        span.set_status(Status(StatusCode.ERROR, "cut off"))
    provider.shutdown()
    [call] = ingest.calls
    assert (call.input_tokens, call.cache_read_tokens, call.output_tokens) == (120, 30, 15)
    assert (call.status, call.finish_reason, call.environment, call.provider) == (
        "error",
        "length",
        "ci",
        "openai",
    )
    agent = next(s for s in ingest.spans if s.kind == "agent")
    assert agent.agent_name == "Planner" and call.parent_span_id == agent.span_id
    assert json.loads(call.raw)["gen_ai.response.finish_reasons"] == ["length"]
