"""The analytics query API through the HTTP layer, on the hand-built ledger of tests/analytics/handbuilt.py."""

from __future__ import annotations

import math
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import pytest
from fastapi import FastAPI, Header, HTTPException
from fastapi.testclient import TestClient

from agentledger.app.query_api import build_query_router, records
from agentledger.core.security import key_from_headers, key_is_valid
from agentledger.core.settings import Settings
from agentledger.warehouse import connect

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "analytics"))  # the shared hand-built ledger
from handbuilt import CODER_WEEK1, PLANNER_WEEK1, WEEK1_TOTAL, build, unpriced_retry  # noqa: E402

KEY = "sk-test-analytics"
AUTH = {"Authorization": f"Bearer {KEY}"}
WEEK1 = {"since": "2025-01-06", "until": "2025-01-13"}


@pytest.fixture(scope="module")
def client():
    wh = build()
    settings = Settings(api_keys=KEY, runaway_call_threshold=3, cost_tolerance=0.05, _env_file=None)

    def require_key(
        authorization: Annotated[str | None, Header()] = None,
        x_api_key: Annotated[str | None, Header()] = None,
    ) -> None:
        if not key_is_valid(key_from_headers(authorization, x_api_key), settings.api_keys):
            raise HTTPException(401, "missing or invalid API key", headers={"WWW-Authenticate": "Bearer"})

    app = FastAPI()
    app.include_router(build_query_router(wh, settings, require_key))
    with TestClient(app) as test_client:
        yield test_client
    wh.close()


ENDPOINTS = [
    "/api/breakdown",
    "/api/timeseries",
    "/api/waste",
    "/api/sessions/top",
    "/api/traces/top",
    "/api/traces/T1",
    "/api/audit",
    "/api/anomalies",
]


@pytest.mark.parametrize("path", ENDPOINTS)
def test_requests_without_a_valid_key_are_refused(client, path):
    assert client.get(path, params=WEEK1).status_code == 401
    assert client.get(path, params=WEEK1, headers={"Authorization": "Bearer wrong"}).status_code == 401


def test_breakdown(client):
    body = client.get("/api/breakdown", params={**WEEK1, "dim": "agent"}, headers=AUTH).json()
    rows = {r["key"]: r for r in body["rows"]}
    assert rows["planner"]["total_cost_usd"] == pytest.approx(PLANNER_WEEK1)
    assert rows["coder"]["failed_tasks"] == 1
    assert rows["planner"]["total_cost_usd_prev"] == 0.0
    assert rows["planner"]["total_cost_usd_change"] is None  # nothing before: null, not NaN or infinity
    assert body["previous_window"] == {"since": "2024-12-30T00:00:00Z", "until": "2025-01-06T00:00:00Z"}


def test_an_empty_filter_is_no_filter(client):
    def costs(**extra: str) -> dict:
        body = client.get("/api/breakdown", params={**WEEK1, "dim": "agent", **extra}, headers=AUTH).json()
        return {r["key"]: r["total_cost_usd"] for r in body["rows"]}

    assert costs(agent="", model="") == costs() != {}
    assert costs(agent="planner") == {"planner": pytest.approx(PLANNER_WEEK1)}


def test_timeseries(client):
    body = client.get("/api/timeseries", params={"interval": "week"}, headers=AUTH).json()
    assert [r["bucket"] for r in body["rows"]] == ["2025-01-06", "2025-01-13"]
    assert body["rows"][0]["total_cost_usd"] == pytest.approx(WEEK1_TOTAL)
    by_agent = client.get("/api/timeseries", params={**WEEK1, "dim": "agent"}, headers=AUTH).json()
    assert len(by_agent["rows"]) == 7 * 3  # 7 days x (planner, coder, no agent)


def test_waste(client):
    body = client.get("/api/waste", params=WEEK1, headers=AUTH).json()
    rows = {r["reason"]: r for r in body["rows"]}
    assert body["waste_usd"] == pytest.approx(1.40)
    assert rows["failed_task"]["example_trace_ids"] == ["T3"]
    assert rows["runaway_loop"]["cost_usd"] == pytest.approx(0.12)  # the threshold of 3 comes from settings
    grouped = client.get("/api/waste", params={**WEEK1, "group_by": "agent"}, headers=AUTH).json()
    assert {r["key"] for r in grouped["rows"]} == {"planner", "coder", None}


def test_top_sessions_and_traces(client):
    sessions = client.get("/api/sessions/top", params={**WEEK1, "limit": 2}, headers=AUTH).json()
    assert [s["session_key"] for s in sessions] == ["s1", "s2"]
    assert sessions[1]["cost_usd"] == pytest.approx(CODER_WEEK1)
    traces = client.get("/api/traces/top", params={**WEEK1, "limit": 1}, headers=AUTH).json()
    assert [(t["trace_id"], t["outcome"]) for t in traces] == [("T3", "failure")]


def test_one_trace(client):
    body = client.get("/api/traces/T1", headers=AUTH).json()
    assert (body["outcome"], body["calls"]) == ("success", 3)
    assert body["cost_usd"] == pytest.approx(0.60)
    assert [s["step"] for s in body["steps"]] == [1, 2, 3]
    assert body["steps"][2]["finish_reason"] == "length"
    assert client.get("/api/traces/nope", headers=AUTH).status_code == 404


def test_audit(client):
    body = client.get("/api/audit", params=WEEK1, headers=AUTH).json()
    assert body["tolerance"] == 0.05
    assert [(d["trace_id"], d["span_id"]) for d in body["disagreements"]] == [("T1", "c2")]
    assert [u["model"] for u in body["unpriced"]] == ["mystery"]
    mystery = next(m for m in body["by_model"] if m["model"] == "mystery")
    assert mystery["cost_usd"] is None and mystery["relative_gap"] is None
    tight = client.get("/api/audit", params={**WEEK1, "tolerance": 0.03}, headers=AUTH).json()
    assert len(tight["disagreements"]) == 2


def test_anomalies(client):
    body = client.get("/api/anomalies", params={**WEEK1, "window_days": 7}, headers=AUTH).json()
    assert body["metric"] == "total_cost_usd" and body["rows"] == []  # one week of history: nothing to flag


def test_bad_parameters_are_422(client):
    assert client.get("/api/breakdown", params={"dim": "colour"}, headers=AUTH).status_code == 422
    assert client.get("/api/breakdown", params={"dim": "day"}, headers=AUTH).status_code == 422
    assert client.get("/api/timeseries", params={"interval": "month"}, headers=AUTH).status_code == 422
    assert client.get("/api/waste", params={"since": "yesterday"}, headers=AUTH).status_code == 422
    bad_window = {"since": "2025-01-13", "until": "2025-01-06"}
    assert client.get("/api/audit", params=bad_window, headers=AUTH).status_code == 422
    assert client.get("/api/anomalies", params={"metric": "latency"}, headers=AUTH).status_code == 422


@pytest.mark.parametrize("path", [p for p in ENDPOINTS if p != "/api/traces/T1"])  # a trace takes no window
@pytest.mark.parametrize(
    "window",
    [
        {"since": "1000-01-01", "until": "2025-01-13"},
        {"since": "0001-01-10"},
        {"since": "2025-01-06", "until": "9999-12-31"},
    ],
)
def test_a_window_outside_the_ledgers_time_range_is_422_naming_it(client, path, window):
    answer = client.get(path, params=window, headers=AUTH)
    assert answer.status_code == 422, answer.text
    assert "outside the ledger's time range" in answer.json()["detail"]


def test_a_time_series_too_long_to_serve_is_422_and_the_server_goes_on(client):
    answer = client.get(
        "/api/timeseries", params={"since": "1970-01-01", "until": "2099-12-31"}, headers=AUTH
    )
    assert answer.status_code == 422 and "narrow the window" in answer.json()["detail"]
    weekly = {"since": "1970-01-01", "until": "2099-12-31", "interval": "week"}  # 6,800 weeks: served
    rows = client.get("/api/timeseries", params=weekly, headers=AUTH).json()["rows"]
    assert len(rows) == 6784 and rows[0]["bucket"] == "1969-12-29"
    assert client.get("/api/timeseries", params=WEEK1, headers=AUTH).status_code == 200


def test_openapi_documents_every_endpoint_with_a_response_model(client):
    schema = client.get("/openapi.json").json()
    for path in ENDPOINTS:
        template = "/api/traces/{trace_id}" if path == "/api/traces/T1" else path
        ok = schema["paths"][template]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
        assert ok != {}, path
    assert "MetricRow" in schema["components"]["schemas"]


def test_records_turn_nan_and_infinity_into_null():
    import polars as pl

    frame = pl.DataFrame({"a": [1.0, math.nan, math.inf], "b": [[1.0, math.nan], [], [math.inf]]})
    assert records(frame) == [{"a": 1.0, "b": [1.0, None]}, {"a": None, "b": []}, {"a": None, "b": [None]}]


def test_metrics_endpoint_answers_a_bad_window_with_422():
    # /api/metrics lives on the main app (agentledger.app.api), beside the query router.
    from agentledger.app.api import create_app
    from agentledger.warehouse import connect

    wh = connect("duckdb:///:memory:")
    wh.migrate()
    app = create_app(Settings(warehouse="duckdb:///:memory:", _env_file=None), wh)
    with TestClient(app, raise_server_exceptions=False) as metrics_client:
        for window in (
            {"since": "2025-01-13", "until": "2025-01-06"},
            {"since": "2025-01-06", "until": "2025-01-06"},
        ):
            answer = metrics_client.get("/api/metrics", params=window)
            assert answer.status_code == 422, answer.text
            assert "empty window" in answer.json()["detail"]
        assert metrics_client.get("/api/metrics", params=WEEK1).json()["calls"] == 0
    wh.close()


def test_waste_whose_every_call_is_unpriced_is_unknown_as_in_the_metrics(tmp_path):
    url = f"duckdb:///{tmp_path / 'unpriced.duckdb'}"
    unpriced_retry(url, datetime(2025, 1, 7, tzinfo=UTC))
    wh = connect(url)
    settings = Settings(api_keys=KEY, _env_file=None)
    app = FastAPI()
    app.include_router(build_query_router(wh, settings, lambda: None))
    with TestClient(app) as c:
        waste = c.get("/api/waste", params=WEEK1).json()
    wh.close()
    failed_call = next(r for r in waste["rows"] if r["reason"] == "failed_call")
    assert (failed_call["calls"], failed_call["cost_usd"]) == (1, None)
    assert waste["waste_usd"] is None  # not $0
