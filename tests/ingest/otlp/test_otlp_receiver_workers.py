"""The receiver with decoding and mapping in worker processes (AGENTLEDGER_INGEST_WORKERS)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from google.rpc import status_pb2
from otlp_helpers import SpanSpec, json_body, pb_body

from agentledger.app.api import create_app
from agentledger.core.errors import TransientError
from agentledger.core.settings import Settings
from agentledger.ingest.otlp.receiver import build_otlp_router, map_in_process
from agentledger.ingest.otlp.workers import MappingPool
from agentledger.warehouse import connect

CHAT = {
    "gen_ai.operation.name": "chat",
    "gen_ai.request.model": "gpt-4o",
    "gen_ai.usage.input_tokens": 10,
    "gen_ai.usage.output_tokens": 2,
    "gen_ai.conversation.id": "s-1",
}
SPANS = [
    SpanSpec(span_id="00000000000000a1", attributes=CHAT),
    SpanSpec(span_id="00000000000000a2", attributes={**CHAT, "gen_ai.usage.input_tokens": -1}),
    SpanSpec(
        span_id="00000000000000a3", name="invoke_agent planner", attributes={"gen_ai.agent.name": "planner"}
    ),
]
PB = {"content-type": "application/x-protobuf"}
JS = {"content-type": "application/json"}


def _ledger(tmp_path: Path, workers: int, prices: Path | None = None) -> list[tuple]:
    url = f"duckdb:///{tmp_path / f'w{workers}.duckdb'}"
    settings = Settings(warehouse=url, ingest_workers=workers, api_keys=[], prices_file=prices)
    app = create_app(settings)
    with TestClient(app) as client:
        answers = [
            client.post("/v1/traces", content=pb_body(SPANS), headers=PB),
            client.post(
                "/v1/traces",
                content=json_body([SpanSpec(span_id="00000000000000b1", attributes=CHAT)]),
                headers=JS,
            ),
            client.post("/v1/traces", content=b"\x0a\xff\xff", headers=PB),
        ]
        assert [a.status_code for a in answers] == [200, 200, 400]
        assert "a2" in answers[0].text  # the partial success names the rejected span
        assert (app.state.mappers is not None and app.state.mappers.started) == bool(workers)
    wh = connect(url)
    try:
        rows = wh.sql(
            "SELECT span_id, model, input_tokens, cost_usd, price_status, session_id, agent_name FROM calls "
            "ORDER BY span_id"
        )
        return rows.rows()
    finally:
        wh.close()


def test_the_workers_store_what_the_server_process_stores(tmp_path: Path) -> None:
    in_process = _ledger(tmp_path, 0)
    assert [r[0] for r in in_process] == ["00000000000000a1", "00000000000000b1"]
    assert _ledger(tmp_path, 1) == in_process


def test_the_workers_price_with_the_servers_overrides(tmp_path: Path) -> None:
    # the workers prepare the records, pricing included: they must price as the server would
    prices = tmp_path / "prices.yaml"
    prices.write_text(
        "overrides:\n  - model: gpt-4o\n    effective_from: 2020-01-01\n"
        "    input_per_mtok: 100000\n    output_per_mtok: 0\n"
    )
    in_process = _ledger(tmp_path, 0, prices)
    assert [(r[3], r[4]) for r in in_process] == [(1.0, "override")] * 2  # 10 tokens at $0.1 each
    assert _ledger(tmp_path, 2, prices) == in_process


def test_a_worker_that_dies_is_a_transient_error_and_the_next_call_gets_a_new_one() -> None:
    pool = MappingPool(1)
    try:
        body = pb_body(SPANS)
        expected = map_in_process(body, "protobuf", "p")
        assert pool.map_body(body, "protobuf", "p") == expected
        with pytest.raises(TransientError, match="worker process died"):
            pool.submit(os._exit, 1)
        assert pool.map_body(body, "protobuf", "p") == expected
    finally:
        pool.close()


def test_the_receiver_answers_503_when_the_mapping_fails_transiently() -> None:
    def broken(body: bytes, kind: str, project_id: str) -> object:
        raise TransientError("a mapping worker process died: retry the request", 1.0)

    stored: list = []
    app = FastAPI()
    app.include_router(
        build_otlp_router(lambda calls, spans: stored.append(calls), Settings(api_keys=[]), mapper=broken)
    )
    answer = TestClient(app).post("/v1/traces", content=pb_body(SPANS), headers=PB)
    assert answer.status_code == 503 and stored == []
    assert "worker process died" in status_pb2.Status.FromString(answer.content).message
