"""`agentledger recommend` / `whatif` (typer CliRunner on the command functions) and the HTTP endpoints
(FastAPI TestClient), on a ledger file holding the constructed histories."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import pytest
import typer
from fastapi import FastAPI, Header, HTTPException
from fastapi.testclient import TestClient
from recommend_histories import (
    classification_history,
    classification_saving,
    duplicate_history,
    duplicate_saving,
    ledger,
)
from typer.testing import CliRunner

from agentledger.analytics.recommend import RecommendOptions, recommend_report
from agentledger.app.api import create_app
from agentledger.app.cli_recommend import recommend, whatif
from agentledger.app.recommend_api import build_recommend_router
from agentledger.app.services import scope
from agentledger.core.security import key_from_headers, key_is_valid
from agentledger.core.settings import Settings
from agentledger.warehouse import connect

SINCE, UNTIL = "2025-06-02", "2025-07-02"


@pytest.fixture
def ledger_url(tmp_path: Path) -> str:
    url = f"duckdb:///{tmp_path / 'ledger.duckdb'}"
    ledger(classification_history() + duplicate_history(), url).close()
    return url


@pytest.fixture
def cli(ledger_url: str, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("AGENTLEDGER_WAREHOUSE", ledger_url)
    monkeypatch.setenv("AGENTLEDGER_RECOMMEND_MIN_MONTHLY_SAVINGS_USD", "0.01")
    monkeypatch.delenv("AGENTLEDGER_PRICES_FILE", raising=False)
    app = typer.Typer()
    app.command()(recommend)
    app.command()(whatif)
    runner = CliRunner()
    return lambda *args: runner.invoke(app, list(args), catch_exceptions=False)


def test_cli_recommend_json_lists_recommendations_by_monthly_saving(cli) -> None:
    result = cli("recommend", "--json", "--since", SINCE, "--until", UNTIL)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["window"]["days"] == 30.0
    kinds = [r["kind"] for r in report["recommendations"]]
    assert {"routing", "response_caching"} <= set(kinds)
    savings = [r["monthly_savings_usd"] for r in report["recommendations"]]
    assert savings == sorted(savings, reverse=True)
    routing = next(
        r
        for r in report["recommendations"]
        if r["kind"] == "routing" and r["target"]["task_type"] == "classify"
    )
    assert set(routing) >= {
        "kind",
        "target",
        "monthly_savings_usd",
        "savings_ci_usd",
        "confidence",
        "evidence",
        "risk",
        "action",
    }
    assert routing["monthly_savings_usd"] == pytest.approx(classification_saving(), rel=0.01)
    assert len(routing["savings_ci_usd"]) == 2


def test_cli_recommend_prints_a_table_by_default(cli) -> None:
    result = cli("recommend", "--since", SINCE, "--until", UNTIL)
    assert result.exit_code == 0, result.output
    assert "recommendations" in result.stdout and "routing" in result.stdout
    assert "note (deterministic)" in result.stdout


def test_cli_recommend_defaults_to_the_last_30_days_of_data(cli) -> None:
    report = json.loads(cli("recommend", "--json").stdout)
    assert report["window"]["until"].startswith("2025-06-06T03:00:00.000001")  # just after the last call
    assert report["recommendations"]


def test_cli_whatif_replays_a_policy_file(cli, tmp_path: Path) -> None:
    policy = tmp_path / "cache.yaml"
    policy.write_text("response_cache:\n  task_types: [faq]\n", encoding="utf-8")
    result = cli("whatif", "--policy", str(policy), "--json", "--since", SINCE, "--until", UNTIL)
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["savings_usd"] == pytest.approx(duplicate_saving(), rel=1e-9)
    assert body["served_from_cache"] == 30
    table = cli("whatif", "--policy", str(policy), "--since", SINCE, "--until", UNTIL)
    assert "saving per month" in table.stdout and "faq" in table.stdout


def test_cli_whatif_names_the_wrong_field(cli, tmp_path: Path) -> None:
    from agentledger.core.errors import ConfigError

    policy = tmp_path / "bad.yaml"
    policy.write_text("batch:\n  discont: 0.5\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"bad\.yaml: batch\.discont"):
        cli("whatif", "--policy", str(policy))


def _client(url: str, keys: list[str]) -> TestClient:
    settings = Settings(_env_file=None, warehouse=url, api_keys=keys, prices_file=None)
    wh = connect(url)

    def require_key(
        authorization: Annotated[str | None, Header()] = None,
        x_api_key: Annotated[str | None, Header()] = None,
    ) -> None:
        if settings.api_keys and not key_is_valid(
            key_from_headers(authorization, x_api_key), settings.api_keys
        ):
            raise HTTPException(401, "missing or invalid API key")

    app = FastAPI()
    app.include_router(build_recommend_router(wh, settings, require_key))
    return TestClient(app)


def test_http_needs_a_key_when_keys_are_configured(ledger_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTLEDGER_RECOMMEND_MIN_MONTHLY_SAVINGS_USD", "0.01")
    client = _client(ledger_url, ["k1"])
    assert client.get("/api/recommendations").status_code == 401
    assert client.post("/api/whatif", json={"policy": {}}).status_code == 401
    response = client.get(
        "/api/recommendations",
        params={"since": SINCE, "until": UNTIL},
        headers={"Authorization": "Bearer k1"},
    )
    assert response.status_code == 200
    assert "routing" in {r["kind"] for r in response.json()["recommendations"]}


def test_http_whatif_returns_the_replay(ledger_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTLEDGER_RECOMMEND_RESAMPLES", "200")
    client = _client(ledger_url, [])
    body = {
        "policy": {
            "substitutions": [{"task_type": "classify", "from_model": "gpt-4o", "model": "gpt-4o-mini"}]
        },
        "since": SINCE,
        "until": UNTIL,
    }
    response = client.post("/api/whatif", json=body)
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["savings_usd"] == pytest.approx(classification_saving(), rel=1e-9)
    assert result["monthly_savings_usd"] == pytest.approx(classification_saving(), rel=1e-9)
    by_type = {row["key"]: row["savings_usd"] for row in result["by_task_type"]}
    assert by_type["faq"] == 0.0
    empty = client.post("/api/whatif", json={"policy": {}, "since": SINCE, "until": UNTIL}).json()
    assert empty["replayed_cost_usd"] == empty["recorded_cost_usd"] and empty["savings_usd"] == 0.0


def test_http_rejects_bad_input_with_422(ledger_url: str) -> None:
    client = _client(ledger_url, [])
    unknown = client.post("/api/whatif", json={"policy": {"batch": {"discont": 0.5}}})
    assert unknown.status_code == 422 and "discont" in unknown.text
    boolean = client.post("/api/whatif", json={"policy": {"max_tokens": [{"max_tokens": True}]}})
    assert boolean.status_code == 422 and "max_tokens.0.max_tokens" in boolean.text
    unpriced = client.post(
        "/api/whatif", json={"policy": {"substitutions": [{"model": "nope-9000", "provider": "nowhere"}]}}
    )
    assert unpriced.status_code == 422 and "substitutions[0].model" in unpriced.json()["detail"]
    assert client.get("/api/recommendations", params={"since": "yesterday"}).status_code == 422
    assert client.get("/api/recommendations", params={"since": UNTIL, "until": SINCE}).status_code == 422


def test_the_app_refuses_nan_in_a_json_body_by_name(ledger_url: str) -> None:
    """JSON bodies may carry NaN (Python's json and requests send it): a 422 naming the field, not a 500."""
    settings = Settings(_env_file=None, warehouse=ledger_url, api_keys=[], prices_file=None)
    with TestClient(create_app(settings)) as client:
        for number in ("NaN", "Infinity", "-Infinity"):
            body = '{"policy": {"prompt_caching": {"ttl_seconds": NUMBER}}}'.replace("NUMBER", number)
            refused = client.post("/api/whatif", content=body, headers={"content-type": "application/json"})
            assert refused.status_code == 422, refused.text
            assert "prompt_caching.ttl_seconds" in refused.text
            assert refused.json()["detail"][0]["input"]["prompt_caching"]["ttl_seconds"] in (
                "nan",
                "inf",
                "-inf",
            )


def test_http_recommendations_take_the_filters_of_the_dashboard(
    ledger_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGENTLEDGER_RECOMMEND_MIN_MONTHLY_SAVINGS_USD", "0.01")
    client = _client(ledger_url, [])
    window = {"since": SINCE, "until": UNTIL}

    def kinds(**filters: str) -> set[str]:
        response = client.get("/api/recommendations", params={**window, **filters})
        assert response.status_code == 200, response.text
        return {r["kind"] for r in response.json()["recommendations"]}

    assert (
        "routing" in kinds()
        and "routing" in kinds(task_type="classify")
        and "routing" in kinds(agent="triage")
    )
    assert "routing" not in kinds(task_type="faq")  # the routing candidate is classify's alone
    assert kinds(agent="nobody") == set()
    # The filtered report is the one the analytics give for those filters.
    settings = Settings(_env_file=None, warehouse=ledger_url, prices_file=None)
    filters = scope("default", SINCE, UNTIL, task_type="classify")
    wh = connect(ledger_url)
    try:
        direct = recommend_report(wh, filters, settings, RecommendOptions()).model_dump(mode="json")
    finally:
        wh.close()
    served = client.get("/api/recommendations", params={**window, "task_type": "classify"}).json()
    assert served["recommendations"] == direct["recommendations"]
