"""Anomaly detection: the robust baseline by hand, and a generated history with (and without) one spike."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta

import pytest

from agentledger.analytics.anomalies import detect_anomalies, flag_series, robust_z
from agentledger.analytics.filters import Filters
from agentledger.core.errors import InputError
from agentledger.core.records import Call, SpanContext
from agentledger.ingest.pipeline import Pipeline
from agentledger.warehouse import connect

START = datetime(2025, 2, 3, 9, tzinfo=UTC)  # a Monday
DAYS = 28
SPIKE_DAY = 24
NOISE = (-0.10, -0.05, 0.0, 0.05, 0.10)


def test_robust_z_by_hand():
    base = robust_z([1, 2, 3, 4, 100], 10)  # median 3, deviations 2 1 0 1 97 -> MAD 1
    assert (base.median, base.mad, base.history) == (3, 1, 5)
    assert base.z == pytest.approx(0.6745 * 7)
    # MAD 0 (four equal values): the mean absolute deviation (0.2) stands in.
    assert robust_z([1, 1, 1, 1, 2], 2).z == pytest.approx(1 / (1.253314 * 0.2))
    assert robust_z([1, 1, 1], 1).z == 0.0
    assert robust_z([1, 1, 1], 2).z == math.inf
    assert robust_z([1, 1, 1], 0).z == -math.inf


def weekly(day: date) -> float:
    return 0.1 if day.weekday() >= 5 else 1.0


def test_a_weekday_baseline_sees_what_a_plain_window_does_not():
    days = [date(2025, 2, 3) + timedelta(days=i) for i in range(42)]
    saturday = days[40]  # a Saturday as busy as a weekday
    points = [(d, 1.0 if d == saturday else weekly(d) + 0.01 * (i % 3)) for i, d in enumerate(days)]
    plain = flag_series(points, start=days[35], window_days=14)
    weekday = flag_series(points, start=days[35], window_days=4, by_weekday=True, min_history=4)
    assert plain == []
    assert [(d, v) for d, v, _ in weekday] == [(saturday, 1.0)]


def test_too_little_history_flags_nothing():
    points = [(date(2025, 2, 3) + timedelta(days=i), v) for i, v in enumerate([1.0, 1.1, 0.9, 50.0])]
    assert flag_series(points, start=date(2025, 2, 3), window_days=14, min_history=7) == []
    assert len(flag_series(points, start=date(2025, 2, 3), window_days=14, min_history=3)) == 1


def history(spike: bool) -> list[Call]:
    """Agents a (about $1 a day) and b (about $0.50 a day), two tasks each per day; a spends $5 on day 24."""
    calls = []
    for i in range(DAYS):
        day = START + timedelta(days=i)
        for agent, level in (("a", 1.0), ("b", 0.5)):
            daily = 5.0 if spike and agent == "a" and i == SPIKE_DAY else level + NOISE[(i * 3) % 5]
            for task, share in ((0, 0.75), (1, 0.25)):
                calls.append(
                    Call(
                        source="otlp",
                        trace_id=f"{agent}-{i}-{task}",
                        span_id="c1",
                        parent_span_id="root",
                        started_at=day + timedelta(hours=task),
                        cost_usd=daily * share,
                        price_status="priced",
                        status="ok",
                        model="m",
                        provider="p",
                    )
                )
    return calls


def spans() -> list[SpanContext]:
    return [
        SpanContext(
            source="otlp", trace_id=f"{agent}-{i}-{task}", span_id="root", kind="agent", agent_name=agent
        )
        for i in range(DAYS)
        for agent in ("a", "b")
        for task in (0, 1)
    ]


@pytest.fixture(params=[True, False], ids=["spike", "calm"])
def ledger(request):
    wh = connect("duckdb:///:memory:")
    Pipeline(wh).ingest(history(request.param), spans())
    yield wh, request.param
    wh.close()


def test_the_injected_spike_is_flagged_on_its_day_and_agent_only(ledger):
    wh, spiked = ledger
    window = Filters(
        since=datetime(2025, 2, 24, tzinfo=UTC), until=datetime(2025, 3, 3, tzinfo=UTC)
    )  # days 21-27
    flags = detect_anomalies(wh, window, "total_cost_usd", z=3.5, window_days=14)
    if not spiked:
        assert flags.is_empty()
        return
    assert flags.height == 1
    row = flags.row(0, named=True)
    assert (row["day"], row["agent"], row["metric"]) == (date(2025, 2, 27), "a", "total_cost_usd")
    assert row["value"] == pytest.approx(5.0)
    # Baseline: agent a's 14 days before (days 10-23), costs 1.0 + NOISE[(3i) % 5].
    past = [1.0 + NOISE[(i * 3) % 5] for i in range(10, 24)]
    expected = robust_z(past, 5.0)
    assert row["baseline"] == pytest.approx(expected.median) == pytest.approx(1.0)
    assert row["mad"] == pytest.approx(expected.mad)
    assert row["robust_z"] == pytest.approx(expected.z) and row["robust_z"] > 3.5
    assert row["history_days"] == 14
    assert row["top_trace_ids"] == ["a-24-0", "a-24-1"]
    assert row["top_trace_costs"] == pytest.approx([3.75, 1.25])


def test_cost_per_completed_task_and_p95_session_cost_flag_the_same_spike(ledger):
    wh, spiked = ledger
    window = Filters(since=datetime(2025, 2, 24, tzinfo=UTC), until=datetime(2025, 3, 3, tzinfo=UTC))
    for metric in ("cost_per_completed_task_usd", "p95_session_cost_usd"):
        flags = detect_anomalies(wh, window, metric)
        assert [(r["day"], r["agent"]) for r in flags.iter_rows(named=True)] == (
            [(date(2025, 2, 27), "a")] if spiked else []
        ), metric
        if spiked:
            assert flags["value"][0] == pytest.approx(
                5.0 / 2 if metric.startswith("cost_per") else 3.75 - 0.05 * 2.5
            )


def test_unknown_metric_is_refused(ledger):
    wh, _ = ledger
    with pytest.raises(InputError, match="metric"):
        detect_anomalies(wh, Filters(), "latency")
