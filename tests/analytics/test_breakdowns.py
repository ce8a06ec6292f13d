"""Breakdowns, time series, top sessions/traces and the trace drill-down on the hand-built ledger
(see handbuilt.py for the table every figure below comes from)."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pytest
from handbuilt import (
    CODER_WEEK1,
    D1,
    NO_AGENT_WEEK1,
    PLANNER_WEEK1,
    WEEK1,
    WEEK1_TOTAL,
    WEEK2,
    build,
)

from agentledger.analytics.breakdowns import breakdown as breakdown_by
from agentledger.analytics.breakdowns import (
    bucket_range,
    decode_series_key,
    timeseries,
    top_sessions,
    top_traces,
    trace_calls,
)
from agentledger.analytics.filters import Filters
from agentledger.analytics.metrics import compute_metrics
from agentledger.core.errors import InputError


@pytest.fixture(scope="module")
def wh():
    warehouse = build()
    yield warehouse
    warehouse.close()


def week(which: tuple) -> Filters:
    return Filters(since=which[0], until=which[1])


def by_key(frame, column: str = "key") -> dict:
    return {row[column]: row for row in frame.iter_rows(named=True)}


def test_breakdown_by_agent_compares_with_the_week_before(wh):
    rows = by_key(breakdown_by(wh, week(WEEK2), "agent"))
    assert set(rows) == {"planner", "coder", None}
    planner = rows["planner"]
    assert planner["total_cost_usd"] == pytest.approx(0.60 + 0.40)
    assert planner["total_cost_usd_prev"] == pytest.approx(PLANNER_WEEK1)
    assert planner["total_cost_usd_delta"] == pytest.approx(1.00 - 1.50)
    assert planner["total_cost_usd_change"] == pytest.approx(-0.50 / 1.50)
    assert (planner["tasks"], planner["tasks_prev"], planner["tasks_delta"]) == (1, 2, -1)
    assert planner["waste_usd_prev"] == pytest.approx(0.40)  # T2's failed first call
    assert planner["cost_per_completed_task_usd"] == pytest.approx(1.00)
    assert planner["cost_per_completed_task_usd_prev"] == pytest.approx(1.50 / 2)
    # coder had calls in week 1 only: this week is zero cost, no ratios, and the full drop as delta.
    coder = rows["coder"]
    assert (coder["calls"], coder["total_cost_usd"], coder["cost_per_completed_task_usd"]) == (0, 0.0, None)
    assert coder["total_cost_usd_prev"] == pytest.approx(CODER_WEEK1)
    assert coder["total_cost_usd_change"] == pytest.approx(-1.0)
    assert coder["failed_tasks_prev"] == 1 and coder["failed_tasks_delta"] == -1
    assert rows[None]["total_cost_usd_prev"] == pytest.approx(NO_AGENT_WEEK1)


def test_breakdown_rows_equal_compute_metrics_and_add_up(wh):
    frame = breakdown_by(wh, week(WEEK1), "task_type")
    groups = {g["key"]: g for g in compute_metrics(wh, week(WEEK1), "task_type")["groups"]}
    rows = by_key(frame)
    assert set(rows) == set(groups) == {"plan", "code", "chat"}
    for key, row in rows.items():
        for metric in ("total_cost_usd", "calls", "tasks", "waste_usd", "p95_session_cost_usd"):
            assert row[metric] == pytest.approx(groups[key][metric]), (key, metric)
    assert frame["total_cost_usd"].sum() == pytest.approx(WEEK1_TOTAL)
    assert rows["code"]["waste_usd"] == pytest.approx(1.00)  # the failed T3
    assert rows["chat"]["unpriced_calls"] == 1  # H2
    # Nothing before week 1: previous values are zero counts, and no relative change from zero.
    assert rows["plan"]["total_cost_usd_prev"] == 0.0 and rows["plan"]["total_cost_usd_change"] is None


def test_breakdown_defaults_to_the_last_seven_days(wh):
    frame = breakdown_by(wh, Filters(), "agent", now=WEEK2[1])
    assert by_key(frame)["planner"]["total_cost_usd"] == pytest.approx(1.00)


def test_daily_series_by_agent_fills_empty_days_and_takes_day_over_day_deltas(wh):
    frame = timeseries(wh, week(WEEK1), "day", dim="agent")
    cells = {(r["key"], r["bucket"]): r for r in frame.iter_rows(named=True)}
    days = [date(2025, 1, 6) + timedelta(days=i) for i in range(7)]
    assert sorted({b for _, b in cells}) == days
    assert {k for k, _ in cells} == {"planner", "coder", None}
    assert cells[("planner", days[0])]["total_cost_usd"] == pytest.approx(PLANNER_WEEK1)
    assert cells[("coder", days[0])]["total_cost_usd"] == pytest.approx(0.25 + 0.75)
    assert cells[("coder", days[1])]["total_cost_usd"] == pytest.approx(0.15)
    assert cells[("coder", days[1])]["total_cost_usd_delta"] == pytest.approx(0.15 - 1.00)
    assert cells[("coder", days[0])]["total_cost_usd_delta"] is None  # no day before the window
    assert cells[(None, days[1])]["unpriced_calls"] == 1
    empty = cells[("planner", days[3])]
    assert (empty["calls"], empty["total_cost_usd"], empty["p95_session_cost_usd"]) == (0, 0.0, None)
    assert frame.filter(frame["bucket"] == days[0])["total_cost_usd"].sum() == pytest.approx(2.50)


def test_weekly_series_is_week_over_week(wh):
    frame = timeseries(wh, Filters(), "week")
    assert frame["bucket"].to_list() == [date(2025, 1, 6), date(2025, 1, 13)]
    assert frame["total_cost_usd"].to_list() == pytest.approx([WEEK1_TOTAL, 1.00])
    assert frame["total_cost_usd_delta"].to_list()[1] == pytest.approx(1.00 - WEEK1_TOTAL)
    assert frame["total_cost_usd_change"].to_list()[1] == pytest.approx((1.00 - WEEK1_TOTAL) / WEEK1_TOTAL)
    assert frame["tasks"].to_list() == [6, 1]
    assert "key" not in frame.columns


def test_series_keys_decode_without_loss():
    assert decode_series_key("2025-01-06:=planner") == (date(2025, 1, 6), "planner")
    assert decode_series_key("2025-01-06:=") == (date(2025, 1, 6), "")
    assert decode_series_key("2025-01-06:=a:b") == (date(2025, 1, 6), "a:b")
    assert decode_series_key("2025-01-06:") == (date(2025, 1, 6), None)
    assert bucket_range(date(2025, 1, 6), date(2025, 1, 20), "week") == [
        date(2025, 1, 6),
        date(2025, 1, 13),
        date(2025, 1, 20),
    ]


def test_top_traces_by_cost_with_outcome_and_duration(wh):
    frame = top_traces(wh, week(WEEK1), limit=3)
    assert frame["trace_id"].to_list() == ["T3", "T2", "T1"]
    assert frame["cost_usd"].to_list() == pytest.approx([1.00, 0.90, 0.60])
    assert frame["outcome"].to_list() == ["failure", "success", "success"]
    t3 = frame.row(0, named=True)
    assert (t3["rank"], t3["calls"], t3["error_calls"], t3["agent_name"], t3["session_key"]) == (
        1,
        2,
        1,
        "coder",
        "s2",
    )
    assert (t3["input_tokens"], t3["output_tokens"], t3["cache_read_tokens"]) == (6500, 200, 1000)
    assert t3["duration_ms"] == (10 * 60 + 30) * 1000  # 11:00 to the end of the 11:10 call (30 s)


def test_top_traces_per_agent_rank_within_each_group(wh):
    frame = top_traces(wh, week(WEEK1), limit=1, group_by="agent")
    assert {(r["key"], r["trace_id"]) for r in frame.iter_rows(named=True)} == {
        ("planner", "T2"),
        ("coder", "T3"),
        (None, "H1"),
    }


def test_top_sessions(wh):
    frame = top_sessions(wh, week(WEEK1), limit=5)
    assert frame["session_key"].to_list() == ["s1", "s2", "hs"]
    s2 = frame.row(1, named=True)
    assert (s2["tasks"], s2["completed_tasks"], s2["failed_tasks"], s2["calls"]) == (2, 1, 1, 7)
    assert s2["cost_usd"] == pytest.approx(CODER_WEEK1)
    hs = frame.row(2, named=True)
    assert (hs["calls"], hs["unpriced_calls"], hs["tasks"]) == (2, 1, 2)
    assert hs["cost_usd"] == pytest.approx(0.05)
    # The session P95 of compute_metrics is over these same session costs (s1, s2, hs).
    p95 = compute_metrics(wh, week(WEEK1))["p95_session_cost_usd"]
    assert p95 == pytest.approx(float(np.percentile(frame["cost_usd"].to_list(), 95)))


def test_trace_calls_in_order(wh):
    frame = trace_calls(wh, "default", "T4")
    assert frame["step"].to_list() == [1, 2, 3, 4, 5]
    assert frame["span_id"].to_list() == ["c1", "c2", "c3", "c4", "c5"]
    assert frame["cost_usd"].to_list() == pytest.approx([0.01, 0.02, 0.03, 0.04, 0.05])
    assert frame["input_tokens"].to_list() == [1000, 1100, 1200, 1300, 1400]
    assert frame["cache_read_tokens"].to_list() == [0, 500, 0, 0, 0]
    assert set(frame["outcome"]) == {"success"}
    assert frame["started_at"][0] == D1 + timedelta(days=1)
    assert trace_calls(wh, "default", "no-such-trace").is_empty()
    assert trace_calls(wh, "other-project", "T4").is_empty()


def test_unknown_dimensions_are_refused(wh):
    with pytest.raises(InputError, match="dim"):
        breakdown_by(wh, Filters(), "colour")
    with pytest.raises(InputError, match="interval"):
        timeseries(wh, Filters(), "month")
    with pytest.raises(InputError, match="group_by"):
        top_traces(wh, Filters(), group_by="agent; DROP TABLE calls")
