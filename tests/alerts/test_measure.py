"""What each rule kind measures on a ledger, through analytics/ (thresholds, budgets, spikes, runaway
tasks, unpriced models), and the engine's notification for each."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from alert_fixtures import T0, FakeClock, call, support_ledger, write

from agentledger.alerts.check import AlertEngine
from agentledger.alerts.evaluate import evaluate
from agentledger.alerts.measure import forecast, measure, period_bounds
from agentledger.alerts.rules import parse_alerts
from agentledger.analytics.metrics import Filters, compute_metrics
from agentledger.core.settings import Settings
from agentledger.warehouse.base import Warehouse


def rule(**spec):
    return parse_alerts({"rules": [{"name": "r", **spec}]}).rules[0]


def test_a_grouped_threshold_measures_exactly_compute_metrics(wh: Warehouse) -> None:
    support_ledger(wh)
    r = rule(kind="threshold", metric="p95_session_cost_usd", value=0.5, window="24h", group_by="agent")
    observations = {o.group: o for o in measure(wh, r, T0, Settings())}
    expected = compute_metrics(wh, Filters(since=T0 - timedelta(hours=24), until=T0), "agent")["groups"]
    assert {g["key"]: g["p95_session_cost_usd"] for g in expected} == {
        k: o.value for k, o in observations.items()
    }
    assert observations["support-bot"].value == pytest.approx(0.96) and observations["coder"].value == 9.0
    assert {e.alert_key: e.breaching for e in evaluate(r, list(observations.values()))} == {
        "r|agent=support-bot": True,
        "r|agent=coder": True,
    }


def test_budget_periods_and_the_linear_forecast() -> None:
    start, end, key = period_bounds(datetime(2026, 11, 16, tzinfo=UTC), "month")
    assert (start, end, key) == (
        datetime(2026, 11, 1, tzinfo=UTC),
        datetime(2026, 12, 1, tzinfo=UTC),
        "2026-11",
    )
    start, end, key = period_bounds(datetime(2026, 11, 22, 23, 30, tzinfo=UTC), "week", "Europe/Berlin")
    assert key == "2026-W48" and start.isoformat() == "2026-11-23T00:00:00+01:00"  # already Monday in Berlin
    assert (
        forecast(
            300.0,
            datetime(2026, 11, 1, tzinfo=UTC),
            datetime(2026, 12, 1, tzinfo=UTC),
            datetime(2026, 11, 16, tzinfo=UTC),
        )
        == 600.0
    )


def test_a_budget_alerts_at_its_level_with_the_forecast(wh: Warehouse) -> None:
    now = datetime(2026, 11, 16, tzinfo=UTC)  # half of November has passed
    write(
        wh, [call(f"b{i}", "c", 100.0, datetime(2026, 11, 10, tzinfo=UTC), agent_name="a") for i in range(3)]
    )
    write(wh, [call("october", "c", 999.0, datetime(2026, 10, 30, tzinfo=UTC), agent_name="a")])
    r = rule(kind="budget", period="month", amount_usd=500, group_by="agent")
    (obs,) = measure(wh, r, now, Settings())
    assert (obs.group, obs.value, obs.period) == ("a", 300.0, "2026-11")
    assert obs.details["forecast_usd"] == pytest.approx(600.0) and obs.details[
        "forecast_share"
    ] == pytest.approx(1.2)
    (ev,) = evaluate(r, [obs])
    assert (ev.alert_key, ev.level, ev.threshold) == ("r|agent=a|2026-11", 0.5, 250.0)

    engine = AlertEngine(wh, Settings(), parse_alerts({"rules": [r.model_dump()]}), {}, clock=FakeClock(now))
    (message,) = engine.check().messages
    assert (
        message.subject() == "FIRING: r (agent=a): Month 2026-11 spend $300.00 of $500.00 (60% of the budget)"
    )
    assert [o.id for o in message.offenders] == ["b0", "b1", "b2"]


def test_spikes_come_from_the_anomaly_detector(wh: Warehouse) -> None:
    history = [1.0, 1.1, 0.9, 1.05, 0.95, 1.0, 1.1, 0.9, 1.0, 1.05, 0.95, 1.0, 1.1, 0.9]
    calls = [
        call(f"d{i}", "c", cost, T0 - timedelta(days=14 - i, hours=2), agent_name="support-bot")
        for i, cost in enumerate(history)
    ]
    calls.append(call("spike", "c", 10.0, T0 - timedelta(hours=2), agent_name="support-bot"))
    write(wh, calls)
    r = rule(kind="spike", metric="total_cost_usd", z=3.5, window_days=14)
    (obs,) = measure(wh, r, T0, Settings())
    assert (obs.group, obs.period, obs.value) == ("support-bot", "2026-11-23", 10.0)
    assert (
        obs.details["expected"] == pytest.approx(1.0) and obs.details["top_traces"][0]["trace_id"] == "spike"
    )
    (ev,) = evaluate(r, [obs])
    assert ev.alert_key == "r|agent=support-bot|2026-11-23" and ev.breaching


def test_runaway_tasks_by_calls_or_cost(wh: Warehouse) -> None:
    loop = [
        call("loop", f"c{i}", 0.01, T0 - timedelta(minutes=60 - i), agent_name="coder") for i in range(30)
    ]
    pricey = [call("pricey", "c", 5.0, T0 - timedelta(minutes=5), agent_name="coder")]
    fine = [call("fine", "c", 0.5, T0 - timedelta(minutes=5))]
    write(wh, loop + pricey + fine)
    by_default = rule(kind="runaway", window="24h")  # the settings' runaway_call_threshold (25)
    (obs,) = measure(wh, by_default, T0, Settings())
    assert obs.value == 1.0 and [t["trace_id"] for t in obs.details["traces"]] == ["loop"]
    both = rule(kind="runaway", window="24h", max_calls=40, max_cost_usd=2)
    (obs,) = measure(wh, both, T0, Settings())
    assert obs.value == 1.0 and [t["trace_id"] for t in obs.details["traces"]] == ["pricey"]
    assert obs.details["limits"] == "> 40 calls or > $2.00"
    either = rule(kind="runaway", window="24h", max_calls=25, max_cost_usd=2)
    (obs,) = measure(wh, either, T0, Settings())
    assert [t["trace_id"] for t in obs.details["traces"]] == ["pricey", "loop"]  # costliest first


def test_a_model_without_a_price_is_alerted(wh: Warehouse) -> None:
    write(
        wh,
        [
            call("u", "c", None, T0 - timedelta(hours=1), model="my-finetune", provider="self-hosted"),
            call("p", "c", 1.0, T0 - timedelta(hours=1)),
        ],
    )
    r = rule(kind="unpriced_model", window="24h")
    (obs,) = measure(wh, r, T0, Settings())
    assert (obs.value, obs.calls, obs.details["models"]) == (1.0, 1, ["self-hosted/my-finetune"])
    engine = AlertEngine(wh, Settings(), parse_alerts({"rules": [r.model_dump()]}), {}, clock=FakeClock(T0))
    (message,) = engine.check().messages
    assert message.subject() == "FIRING: r: 1 model(s) without a price: self-hosted/my-finetune"


@pytest.mark.parametrize("backend", ["duckdb", "chdb"])
def test_one_round_of_every_rule_kind_on_each_backend(backend: str, tmp_path) -> None:
    """The same rules give the same notifications on DuckDB and on ClickHouse (chDB), and a second round
    inside the cooldowns notifies nothing."""
    from agentledger.warehouse import connect

    wh = connect("duckdb:///:memory:" if backend == "duckdb" else f"chdb:///{tmp_path / 'chdb'}")
    try:
        support_ledger(wh)
        loop = [
            call("loop", f"c{i}", 0.01, T0 - timedelta(minutes=60 - i), agent_name="coder") for i in range(30)
        ]
        write(wh, [*loop, call("u", "c", None, T0 - timedelta(hours=1), model="my-ft", provider="self")])
        rules = [
            {
                "name": "p95",
                "kind": "threshold",
                "metric": "p95_session_cost_usd",
                "value": 0.5,
                "scope": {"agent": "support-bot"},
            },
            {"name": "loops", "kind": "runaway"},
            {"name": "budget", "kind": "budget", "amount_usd": 5, "group_by": "agent"},
            {"name": "unpriced", "kind": "unpriced_model"},
            {"name": "spikes", "kind": "spike"},
        ]
        engine = AlertEngine(wh, Settings(), parse_alerts({"rules": rules}), {}, clock=FakeClock(T0))
        first = engine.check()
        assert sorted(m.subject() for m in first.messages) == [
            "FIRING: budget (agent=coder): Month 2026-11 spend $9.30 of $5.00 (186% of the budget)",
            "FIRING: budget (agent=support-bot): Month 2026-11 spend $3.00 of $5.00 (60% of the budget)",
            "FIRING: loops: 1 runaway task(s) over the limit (> 25 calls)",
            "FIRING: p95: p95_session_cost_usd $0.96 > $0.50",
            "FIRING: unpriced: 1 model(s) without a price: self/my-ft",
        ]
        engine.clock.advance(minutes=5)
        assert engine.check().messages == []
        assert [e["event"] for e in engine.store.history()] == ["fired"] * 5
    finally:
        wh.close()


def test_a_budget_message_says_how_many_calls_it_could_not_count(wh: Warehouse) -> None:
    now = datetime(2026, 11, 16, tzinfo=UTC)
    at = datetime(2026, 11, 10, tzinfo=UTC)
    write(wh, [call("b0", "c", 300.0, at), call("b1", "c", None, at, model="my-finetune", provider="acme")])
    r = rule(kind="budget", period="month", amount_usd=500)
    engine = AlertEngine(wh, Settings(), parse_alerts({"rules": [r.model_dump()]}), {}, clock=FakeClock(now))
    (message,) = engine.check().messages
    assert message.subject() == (
        "FIRING: r: Month 2026-11 spend $300.00 of $500.00 (60% of the budget); 1 call without a price not counted"
    )
    assert message.forecast_text() == "$600.00 (priced calls only)"


def test_a_spike_message_covers_the_flagged_day_and_counts_the_calls_of_its_traces(wh: Warehouse) -> None:
    history = [1.0, 1.1, 0.9, 1.05, 0.95, 1.0, 1.1, 0.9, 1.0, 1.05, 0.95, 1.0, 1.1, 0.9]
    calls = [
        call(f"d{i}", "c", cost, T0 - timedelta(days=14 - i, hours=2), agent_name="support-bot")
        for i, cost in enumerate(history)
    ]
    day = datetime(T0.year, T0.month, T0.day, tzinfo=UTC)
    spike = [
        call("spike", f"c{n}", 5.0, day + timedelta(minutes=n), agent_name="support-bot") for n in (1, 2)
    ]
    write(wh, calls + spike)
    r = rule(kind="spike", metric="total_cost_usd", z=3.5, window_days=14)
    engine = AlertEngine(wh, Settings(), parse_alerts({"rules": [r.model_dump()]}), {}, clock=FakeClock(T0))
    (message,) = engine.check().messages
    assert (message.since, message.until) == (day, T0)
    (top, *_) = message.offenders
    assert (top.id, top.cost_usd, top.calls) == ("spike", 10.0, 2)
