"""Core metrics against a hand-built ledger whose every number is worked out by hand below.

The ledger (costs in USD, every call 1,000 input / 100 output tokens unless noted):

| trace | how its outcome is decided                        | calls (cost, status)                | outcome |
|-------|---------------------------------------------------|-------------------------------------|---------|
| T1    | explicit success on a root whose status is error  | 1.00 ok, 2.00 error                 | success |
| T2    | explicit success on root + failure on a child     | 0.50 ok (claude)                    | failure |
| T3    | root status error                                 | 0.25 ok, 0.75 ok                    | failure |
| T4    | root status ok (last call errored)                | 0.10 ok, 0.20 error                 | success |
| T5    | root unset, last call ok (first errored)          | 0.30 error, 0.40 ok                 | success |
| T6    | root unset, last call errored                     | 0.60 ok, unpriced error             | failure |
| T7    | source outcome failure beats root status ok       | 1.50 ok (claude)                    | failure |
| H1    | gateway call without spans: own root, error       | 0.05 error (mini)                   | failure |
| H2    | gateway call, ok, served from the gateway cache   | 0.00 ok (mini)                      | success |
| H3    | gateway call, status unset, unpriced              | unpriced unset (mini)               | success |

Calls arrive BEFORE their context spans (two ingests), so agents and sessions come from the late parents.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentledger.analytics.metrics import METRIC_KEYS, Filters, compute_metrics, waste_breakdown
from agentledger.core.errors import InputError
from agentledger.core.records import Call, SpanContext
from agentledger.ingest.pipeline import Pipeline
from agentledger.warehouse import connect

D1 = datetime(2025, 1, 6, 10, tzinfo=UTC)  # a Monday
D2 = D1 + timedelta(days=1)
D3 = D1 + timedelta(days=2)
GPT, CLAUDE, MINI = ("gpt-4o", "openai"), ("claude-sonnet-4", "anthropic"), ("gpt-4o-mini", "openai")


def call(
    trace, span, cost, status="ok", at=D1, minute=0, model=GPT, parent="root", source="otlp", **kw
) -> Call:
    kw.setdefault("input_tokens", 1000)
    kw.setdefault("output_tokens", 100)
    return Call(
        source=source,
        trace_id=trace,
        span_id=span,
        parent_span_id=parent,
        started_at=at + timedelta(minutes=minute),
        model=model[0],
        provider=model[1],
        operation="chat",
        status=status,
        cost_usd=cost,
        price_status="priced" if cost is not None else "unpriced",
        **kw,
    )


def root(trace, status="unset", **kw) -> SpanContext:
    return SpanContext(source="otlp", trace_id=trace, span_id="root", kind="agent", status=status, **kw)


CALLS = [
    call("T1", "c1", 1.00, cache_read_tokens=400),
    call("T1", "c2", 2.00, "error", minute=1),
    call("T2", "c1", 0.50, model=CLAUDE, parent="child"),
    call("T3", "c1", 0.25, cache_read_tokens=600),
    call("T3", "c2", 0.75, minute=1),
    call("T4", "c1", 0.10, at=D2),
    call("T4", "c2", 0.20, "error", at=D2, minute=1),
    call("T5", "c1", 0.30, "error", at=D2),
    call("T5", "c2", 0.40, at=D2, minute=1),
    call("T6", "c1", 0.60, at=D2),
    call("T6", "c2", None, "error", at=D2, minute=1),
    call("T7", "c1", 1.50, at=D2, model=CLAUDE),
    call(
        "H1",
        "h1",
        0.05,
        "error",
        at=D3,
        model=MINI,
        parent=None,
        source="helicone",
        session_id="hs",
        response_cache_hit=False,
    ),
    call(
        "H2",
        "h2",
        0.00,
        at=D3,
        model=MINI,
        parent=None,
        source="helicone",
        session_id="hs",
        response_cache_hit=True,
    ),
    call("H3", "h3", None, "unset", at=D3, minute=2, model=MINI, parent=None, source="helicone"),
]
SPANS = [
    root("T1", "error", outcome="success", agent_name="planner", session_id="s1", user_id="alice"),
    root("T2", outcome="success", agent_name="planner", session_id="s1", user_id="alice"),
    SpanContext(source="otlp", trace_id="T2", span_id="child", parent_span_id="root", outcome="failure"),
    root("T3", "error", agent_name="coder", session_id="s2", user_id="bob"),
    root("T4", "ok"),
    root("T5"),
    root("T6"),
    root("T7", "ok", source_outcome="failure"),
]

TOTAL = 1.00 + 2.00 + 0.50 + 0.25 + 0.75 + 0.10 + 0.20 + 0.30 + 0.40 + 0.60 + 1.50 + 0.05 + 0.00  # 7.65
WASTE_FAILED_TASKS = 0.50 + (0.25 + 0.75) + 0.60 + 1.50 + 0.05  # T2, T3, T6 (priced part), T7, H1
WASTE_FAILED_CALLS = 2.00 + 0.20 + 0.30  # error calls of the completed T1, T4, T5
COMPLETED_COST = (1.00 + 2.00) + (0.10 + 0.20) + (0.30 + 0.40) + 0.00  # T1, T4, T5, H2 (H3 unpriced)
SESSION_COSTS = [1.00 + 2.00 + 0.50, 1.00, 0.30, 0.70, 0.60, 1.50, 0.05]  # s1, s2, T4..T7, hs; H3 unknown


@pytest.fixture(scope="module")
def ledger():
    wh = connect("duckdb:///:memory:")
    pipeline = Pipeline(wh)
    pipeline.ingest(list(CALLS), [])  # children first ...
    pipeline.ingest([], list(SPANS))  # ... then their parents
    yield wh
    wh.close()


def test_overall_metrics_match_the_hand_computation(ledger):
    m = compute_metrics(ledger, Filters())
    assert list(m) == list(METRIC_KEYS)
    assert m["total_cost_usd"] == pytest.approx(TOTAL) == pytest.approx(7.65)
    assert (m["calls"], m["unpriced_calls"]) == (15, 2)
    assert (m["tasks"], m["completed_tasks"], m["failed_tasks"]) == (10, 5, 5)
    assert m["cost_per_completed_task_usd"] == pytest.approx(7.65 / 5)
    assert m["avg_completed_task_cost_usd"] == pytest.approx(COMPLETED_COST / 5) == pytest.approx(0.8)
    assert m["waste_usd"] == pytest.approx(WASTE_FAILED_TASKS + WASTE_FAILED_CALLS) == pytest.approx(6.15)
    assert m["waste_ratio"] == pytest.approx(6.15 / 7.65)
    assert m["cache_hit_rate"] == pytest.approx(1000 / 15000)
    assert m["response_cache_hit_rate"] == pytest.approx(1 / 2)
    assert m["sessions"] == 8  # s1, s2, T4, T5, T6, T7, hs, H3
    assert (m["input_tokens"], m["output_tokens"], m["cache_read_tokens"]) == (15000, 1500, 1000)


def test_p95_session_cost_is_numpys_linear_percentile(ledger):
    m = compute_metrics(ledger, Filters())
    assert m["p95_session_cost_usd"] == pytest.approx(float(np.percentile(SESSION_COSTS, 95)))


def test_model_mix_is_ordered_by_cost_with_shares(ledger):
    mix = compute_metrics(ledger, Filters())["model_mix"]
    assert [(e["model"], e["provider"], e["calls"]) for e in mix] == [
        ("gpt-4o", "openai", 10),
        ("claude-sonnet-4", "anthropic", 2),
        ("gpt-4o-mini", "openai", 3),
    ]
    gpt_cost = 1.00 + 2.00 + 0.25 + 0.75 + 0.10 + 0.20 + 0.30 + 0.40 + 0.60
    assert [e["cost_usd"] for e in mix] == pytest.approx([gpt_cost, 2.00, 0.05])
    assert [e["cost_share"] for e in mix] == pytest.approx([gpt_cost / 7.65, 2.00 / 7.65, 0.05 / 7.65])
    assert [e["call_share"] for e in mix] == pytest.approx([10 / 15, 2 / 15, 3 / 15])
    assert mix[0]["input_tokens"] == 10000 and mix[0]["output_tokens"] == 1000


def test_waste_breakdown_splits_by_reason(ledger):
    w = waste_breakdown(ledger, Filters())
    assert w["failed_task_usd"] == pytest.approx(WASTE_FAILED_TASKS)
    assert w["failed_call_usd"] == pytest.approx(WASTE_FAILED_CALLS)
    assert (w["failed_task_calls"], w["failed_call_calls"]) == (7, 3)


def test_group_by_agent_uses_the_context_inherited_from_late_parents(ledger):
    groups = {g["key"]: g for g in compute_metrics(ledger, Filters(), group_by="agent")["groups"]}
    assert set(groups) == {"planner", "coder", None}
    planner = groups["planner"]
    assert (planner["calls"], planner["tasks"], planner["completed_tasks"], planner["failed_tasks"]) == (
        3,
        2,
        1,
        1,
    )
    assert planner["total_cost_usd"] == pytest.approx(3.50)
    assert planner["waste_usd"] == pytest.approx(0.50 + 2.00)
    assert groups["coder"]["total_cost_usd"] == pytest.approx(1.00)
    assert groups["coder"]["cost_per_completed_task_usd"] is None  # no completed task: null, not 0
    assert groups[None]["total_cost_usd"] == pytest.approx(7.65 - 4.50)


def test_group_by_day_and_week(ledger):
    days = compute_metrics(ledger, Filters(), group_by="day")["groups"]
    assert [g["key"] for g in days] == ["2025-01-06", "2025-01-07", "2025-01-08"]
    assert [g["calls"] for g in days] == [5, 7, 3]
    assert [g["total_cost_usd"] for g in days] == pytest.approx([4.50, 3.10, 0.05])
    weeks = compute_metrics(ledger, Filters(), group_by="week")["groups"]
    assert [(g["key"], g["calls"]) for g in weeks] == [("2025-01-06", 15)]


def test_group_by_user_and_source(ledger):
    users = {g["key"]: g for g in compute_metrics(ledger, Filters(), group_by="user")["groups"]}
    assert users["alice"]["sessions"] == 1 and users["alice"]["calls"] == 3
    assert users["bob"]["total_cost_usd"] == pytest.approx(1.00)
    sources = {g["key"]: g for g in compute_metrics(ledger, Filters(), group_by="source")["groups"]}
    helicone = sources["helicone"]
    assert (helicone["tasks"], helicone["failed_tasks"], helicone["unpriced_calls"]) == (3, 1, 1)
    assert helicone["response_cache_hit_rate"] == pytest.approx(0.5)
    assert sources["otlp"]["response_cache_hit_rate"] is None


def test_window_is_half_open_and_outcomes_stay_trace_level(ledger):
    m = compute_metrics(ledger, Filters(since=D2 - timedelta(hours=10), until=D3 - timedelta(hours=10)))
    assert m["calls"] == 7
    assert m["total_cost_usd"] == pytest.approx(3.10)
    assert (m["tasks"], m["completed_tasks"], m["failed_tasks"]) == (4, 2, 2)
    # T5's erroring first call is at 10:00 of D2: a window starting then includes it, one ending then does not.
    at = Filters(since=D2, until=D2 + timedelta(minutes=1))
    assert compute_metrics(ledger, at)["calls"] == 4
    before = Filters(since=D2 - timedelta(hours=1), until=D2)
    assert compute_metrics(ledger, before)["calls"] == 0
    # Only the second calls of T1 and T3 are in scope: each task keeps its whole-trace outcome, so the
    # error call of the successful T1 (2.00) and the call of the failed T3 (0.75) are the waste.
    second = compute_metrics(
        ledger, Filters(since=D1 + timedelta(minutes=1), until=D1 + timedelta(minutes=2))
    )
    assert (second["completed_tasks"], second["failed_tasks"]) == (1, 1)
    assert second["waste_usd"] == pytest.approx(2.00 + 0.75)


def test_filters_apply_to_calls(ledger):
    claude = compute_metrics(ledger, Filters(model="claude-sonnet-4"))
    assert (claude["calls"], claude["tasks"], claude["failed_tasks"]) == (2, 2, 2)
    assert claude["waste_usd"] == pytest.approx(2.00)
    assert claude["waste_ratio"] == pytest.approx(1.0)
    planner = compute_metrics(ledger, Filters(agent="planner", provider="openai"))
    assert (planner["calls"], planner["total_cost_usd"]) == (2, pytest.approx(3.00))
    assert compute_metrics(ledger, Filters(project_id="someone-else"))["calls"] == 0
    helicone = compute_metrics(ledger, Filters(source="helicone"))
    assert helicone["total_cost_usd"] == pytest.approx(0.05)


def test_empty_scope_gives_zero_sums_and_null_ratios(ledger):
    m = compute_metrics(ledger, Filters(agent="nobody"))
    assert m["total_cost_usd"] == 0.0 and m["waste_usd"] == 0.0 and m["calls"] == 0
    for key in (
        "cost_per_completed_task_usd",
        "avg_completed_task_cost_usd",
        "waste_ratio",
        "cache_hit_rate",
        "response_cache_hit_rate",
        "p95_session_cost_usd",
    ):
        assert m[key] is None, key
    assert compute_metrics(ledger, Filters(agent="nobody"), group_by="day") == {"groups": []}


def test_only_unpriced_calls_give_an_unknown_cost_not_zero(ledger):
    only_h3 = compute_metrics(
        ledger, Filters(since=D3 + timedelta(minutes=2), until=D3 + timedelta(minutes=3))
    )
    assert (only_h3["calls"], only_h3["unpriced_calls"], only_h3["completed_tasks"]) == (1, 1, 1)
    assert only_h3["total_cost_usd"] is None
    assert only_h3["cost_per_completed_task_usd"] is None
    assert only_h3["avg_completed_task_cost_usd"] is None
    assert only_h3["waste_usd"] == 0.0  # nothing failed: no waste, known
    assert only_h3["p95_session_cost_usd"] is None
    assert [(e["model"], e["cost_usd"], e["cost_share"]) for e in only_h3["model_mix"]] == [
        ("gpt-4o-mini", None, None)
    ]
    # Beside priced calls an unpriced one is counted but adds nothing (T4 c2, T5 c2, unpriced T6 c2).
    minute = compute_metrics(
        ledger, Filters(model="gpt-4o", since=D2 + timedelta(minutes=1), until=D2 + timedelta(minutes=2))
    )
    assert (minute["calls"], minute["unpriced_calls"]) == (3, 1)
    assert minute["total_cost_usd"] == pytest.approx(0.60)
    assert minute["waste_usd"] == pytest.approx(0.20)  # T6 failed but its call in scope is unpriced


def test_bad_inputs_are_refused():
    with pytest.raises(InputError, match="time zone"):
        Filters(since=datetime(2025, 1, 1))
    with pytest.raises(InputError, match="empty window"):
        Filters(since=D2, until=D1)
    wh = connect("duckdb:///:memory:")
    try:
        with pytest.raises(InputError, match="cannot group by"):
            compute_metrics(wh, Filters(), group_by="colour")
    finally:
        wh.close()


# -- invariants -------------------------------------------------------------------------------------

call_rows = st.lists(
    st.tuples(
        st.integers(0, 5),  # trace
        st.integers(0, 10 * 24 * 60),  # minute of a 10-day span
        st.one_of(st.none(), st.floats(0, 5, allow_nan=False)),  # cost, None = unpriced
        st.sampled_from(["ok", "error", "unset"]),
        st.integers(0, 5000),  # input tokens
    ),
    min_size=1,
    max_size=30,
)
ADDITIVE = ("calls", "unpriced_calls", "input_tokens", "output_tokens", "cache_read_tokens")


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=call_rows, split=st.integers(1, 10 * 24 * 60 - 1))
def test_sums_are_additive_over_disjoint_windows_and_costs_never_negative(rows, split):
    start = datetime(2025, 3, 1, tzinfo=UTC)
    calls = [
        Call(
            source="otlp",
            trace_id=f"t{t}",
            span_id=f"s{i}",
            started_at=start + timedelta(minutes=minute),
            cost_usd=cost,
            status=status,
            input_tokens=tokens,
            cache_read_tokens=tokens // 3,
            output_tokens=7,
        )
        for i, (t, minute, cost, status, tokens) in enumerate(rows)
    ]
    wh = connect("duckdb:///:memory:")
    try:
        Pipeline(wh).ingest(calls, [])
        mid = start + timedelta(minutes=split)
        whole = compute_metrics(wh, Filters(since=start, until=start + timedelta(days=10)))
        left = compute_metrics(wh, Filters(since=start, until=mid))
        right = compute_metrics(wh, Filters(since=mid, until=start + timedelta(days=10)))
    finally:
        wh.close()
    for key in ADDITIVE:
        assert whole[key] == left[key] + right[key], key
    for key in ("total_cost_usd", "waste_usd"):
        # None (only unpriced rows) contributes nothing, like a SUM that ignores NULLs.
        parts = [m[key] or 0.0 for m in (left, right)]
        assert (whole[key] or 0.0) == pytest.approx(sum(parts), abs=1e-9)
        if whole[key] is None:
            assert parts == [0.0, 0.0]
    for m in (whole, left, right):
        assert all(v is None or v >= 0 for k, v in m.items() if k != "model_mix")
        assert (
            m["waste_usd"] is None
            or m["total_cost_usd"] is None
            or m["waste_usd"] <= m["total_cost_usd"] + 1e-9
        )
