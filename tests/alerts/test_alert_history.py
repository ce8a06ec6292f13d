"""The read-only alert views of ``analytics.alert_history`` over tables written by the real alert engine, on
DuckDB and on ClickHouse (chDB): the states and the history with delivery outcomes agree with the store."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from alert_fixtures import P95, P95_RULE, T0, FakeClock, HttpSink, call, support_ledger, write
from pydantic import SecretStr

from agentledger.alerts.channels import build_channels
from agentledger.alerts.check import AlertEngine
from agentledger.alerts.delivery import RetryPolicy
from agentledger.alerts.rules import parse_alerts
from agentledger.analytics.alert_history import alert_history, alert_states, message_fields
from agentledger.core.settings import Settings
from agentledger.warehouse import connect
from agentledger.warehouse.base import Warehouse

UNPRICED_RULE = {"name": "no-price", "kind": "unpriced_model", "window": "24h", "severity": "warning"}


@pytest.fixture(params=["duckdb", "chdb"])
def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Warehouse]:
    url = f"duckdb:///{tmp_path / 'l.duckdb'}" if request.param == "duckdb" else f"chdb:///{tmp_path / 'ch'}"
    wh = connect(url)
    yield wh
    wh.close()


def engine(wh: Warehouse, clock: FakeClock, slack: HttpSink) -> AlertEngine:
    config = parse_alerts({"rules": [P95_RULE, UNPRICED_RULE]})
    settings = Settings(slack_webhook_url=SecretStr(slack.url))
    policy = RetryPolicy(attempts=2, backoff_seconds=0.0, retry_later=timedelta(hours=12))
    channels = build_channels(config, settings)
    return AlertEngine(wh, settings, config, channels, clock=clock, sleep=lambda s: None, policy=policy)


def test_states_and_history_follow_the_engine(ledger: Warehouse, http_sink: HttpSink) -> None:
    support_ledger(ledger)
    clock = FakeClock(T0)
    alerts = engine(ledger, clock, http_sink)
    assert alerts_rounds_are_empty(ledger)

    alerts.check()  # the P95 rule fires and is delivered
    http_sink.status = 500  # the reminder six hours later cannot be delivered
    clock.set(T0 + timedelta(hours=6))
    alerts.check()

    states = alert_states(ledger)
    assert states["rule_name"].to_list() == ["support-p95"]
    row = states.row(0, named=True)
    assert (row["status"], row["kind"], row["metric"], row["unit"], row["op"]) == (
        "firing",
        "threshold",
        "p95_session_cost_usd",
        "usd",
        ">",
    )
    assert row["value"] == pytest.approx(P95) and row["threshold"] == 0.5
    assert row["fired_at"] == T0 and row["notified_at"] == T0 + timedelta(hours=6)
    assert (row["last_event"], row["last_event_at"]) == ("reminder", T0 + timedelta(hours=6))
    assert "project_id" not in states.columns

    history = alert_history(ledger)
    stored = alerts.store.history()
    assert history["event_id"].to_list() == [e["event_id"] for e in stored]
    assert history["event"].to_list() == ["reminder", "fired"]
    assert history["kind"].to_list() == ["threshold", "threshold"]
    assert history["channels"].to_list() == [1, 1]
    assert history["sent"].to_list() == [0, 1] and history["undelivered"].to_list() == [1, 0]
    failed = history["deliveries"][0].to_list()[0]
    assert (failed["channel"], failed["status"], failed["attempts"]) == ("slack", "failed", 2)
    assert "500" in failed["last_error"]
    assert [d["status"] for e in stored for d in e["deliveries"]] == ["failed", "sent"]
    assert alert_history(ledger, limit=1)["event"].to_list() == ["reminder"]
    assert alert_history(ledger, rule="no-price").is_empty()
    assert alert_history(ledger, since=T0 + timedelta(hours=1))["event"].to_list() == ["reminder"]


def alerts_rounds_are_empty(wh: Warehouse) -> bool:
    """Before any round both views are empty, with their columns."""
    states, history = alert_states(wh), alert_history(wh)
    return states.is_empty() and history.is_empty() and {"kind", "metric"} <= set(states.columns)


def test_a_resolved_instance_sorts_after_the_firing_ones(ledger: Warehouse, http_sink: HttpSink) -> None:
    support_ledger(ledger)
    clock = FakeClock(T0)
    alerts = engine(ledger, clock, http_sink)
    alerts.check()
    clock.set(T0 + timedelta(hours=25))  # the sessions left the 24 h window: the P95 rule resolves
    # A new call of a model without a price fires the other rule in the same round.
    write(
        ledger,
        [call("u1", "c1", None, clock.now - timedelta(minutes=5), model="llama-local", provider="vllm")],
    )
    alerts.check()
    states = alert_states(ledger)
    assert states.select("rule_name", "status").rows() == [
        ("no-price", "firing"),
        ("support-p95", "resolved"),
    ]
    assert states["severity"].to_list() == ["warning", "warning"]
    assert states["resolved_at"].to_list()[1] == T0 + timedelta(hours=25)
    latest = alert_history(ledger, since=clock.now)
    assert sorted(latest.select("rule_name", "event").rows()) == [
        ("no-price", "fired"),
        ("support-p95", "resolved"),
    ]


def test_message_fields_tolerate_missing_and_broken_messages() -> None:
    fields = message_fields(['{"kind": "budget", "unit": "usd", "op": ">="}', None, "not json", "[1]"])
    assert fields.rows() == [
        ("budget", None, "usd", ">=", None),
        (None, None, None, None, None),
        (None, None, None, None, None),
        (None, None, None, None, None),
    ]
