"""``POST /api/ingest/litellm`` with the real pipeline on DuckDB."""

from __future__ import annotations

import gzip
import json
from typing import Any

import pytest
from conftest import Ledger
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import SecretStr

from agentledger.core.errors import WarehouseError
from agentledger.core.settings import Settings
from agentledger.ingest.litellm_receiver import INGEST_PATH, build_litellm_router

KEY = "al-test-key-123"


def _client(ingest: Any, **settings: Any) -> TestClient:
    app = FastAPI()
    app.include_router(build_litellm_router(ingest, Settings(_env_file=None, **settings)))
    return TestClient(app)


def _payloads(payload: dict[str, Any], count: int) -> list[dict[str, Any]]:
    return [
        payload | {"id": f"slp-{i}", "trace_id": "task-1", "litellm_call_id": f"call-{i}"}
        for i in range(count)
    ]


def test_payloads_are_stored(payload: dict[str, Any], ledger: Ledger) -> None:
    response = _client(ledger.pipeline.ingest).post(INGEST_PATH, json=_payloads(payload, 3))
    assert response.status_code == 200
    assert response.json() == {"accepted": 3, "rejected": 0, "errors": []}
    stored = ledger.calls()
    assert [c["span_id"] for c in stored] == ["slp-0", "slp-1", "slp-2"]
    assert {c["trace_id"] for c in stored} == {"task-1"}
    assert stored[0]["source"] == "litellm" and stored[0]["project_id"] == "default"
    assert stored[0]["cost_usd"] is not None


def test_resending_is_idempotent(payload: dict[str, Any], ledger: Ledger) -> None:
    client = _client(ledger.pipeline.ingest)
    for _ in range(2):
        assert client.post(INGEST_PATH, json=_payloads(payload, 2)).status_code == 200
    assert len(ledger.calls()) == 2


def test_api_key_required_when_configured(payload: dict[str, Any], ledger: Ledger) -> None:
    client = _client(ledger.pipeline.ingest, api_keys=[SecretStr(KEY)])
    body = _payloads(payload, 1)
    missing = client.post(INGEST_PATH, json=body)
    assert missing.status_code == 401 and missing.headers["WWW-Authenticate"].startswith("Bearer")
    assert client.post(INGEST_PATH, json=body, headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert ledger.calls() == []
    assert client.post(INGEST_PATH, json=body, headers={"Authorization": f"Bearer {KEY}"}).status_code == 200
    assert len(ledger.calls()) == 1


def test_bad_records_are_named_and_the_rest_stored(payload: dict[str, Any], ledger: Ledger) -> None:
    body = _payloads(payload, 2) + [payload | {"id": "broken", "startTime": None}, "not an object"]
    response = _client(ledger.pipeline.ingest).post(INGEST_PATH, json=body)
    assert response.status_code == 200
    result = response.json()
    assert (result["accepted"], result["rejected"]) == (2, 2)
    assert "broken" in result["errors"][0] and "startTime" in result["errors"][0]
    assert result["errors"][1].startswith("[3]")
    assert len(ledger.calls()) == 2


@pytest.mark.parametrize(
    ("content", "status"),
    [
        (b"{not json", 400),
        (json.dumps({"id": "x"}).encode(), 422),
        (json.dumps([{"model": "gpt-4o"}]).encode(), 422),
    ],
)
def test_unreadable_bodies(content: bytes, status: int, ledger: Ledger) -> None:
    response = _client(ledger.pipeline.ingest).post(
        INGEST_PATH, content=content, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == status
    assert response.json()["detail"]


def test_gzip_body_and_limits(payload: dict[str, Any], ledger: Ledger) -> None:
    body = json.dumps(_payloads(payload, 5)).encode()
    client = _client(
        ledger.pipeline.ingest, max_body_bytes=len(body) - 1, max_decompressed_bytes=len(body) + 10
    )
    gz = {"Content-Encoding": "gzip", "Content-Type": "application/json"}
    assert client.post(INGEST_PATH, content=gzip.compress(body), headers=gz).json()["accepted"] == 5
    assert (
        client.post(INGEST_PATH, content=body, headers={"Content-Type": "application/json"}).status_code
        == 413
    )
    small = _client(ledger.pipeline.ingest, max_decompressed_bytes=100)
    assert small.post(INGEST_PATH, content=gzip.compress(body), headers=gz).status_code == 413
    assert small.post(INGEST_PATH, content=b"not gzip", headers=gz).status_code == 400
    assert small.post(INGEST_PATH, content=body, headers={"Content-Encoding": "br"}).status_code == 415


def test_warehouse_failure_is_503(payload: dict[str, Any]) -> None:
    def failing(calls: list[Any], spans: list[Any]) -> None:
        raise WarehouseError("disk full")

    response = _client(failing).post(INGEST_PATH, json=_payloads(payload, 1))
    assert response.status_code == 503 and "Retry-After" in response.headers
