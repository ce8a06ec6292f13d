"""Every page of the dashboard through Streamlit's AppTest, on demo data in a temporary DuckDB file.

The figures on the pages are compared with the analytics functions run on the same data and window.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest
from ui_helpers import APP, Ledger

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "analytics"))  # the shared hand-built ledgers
from handbuilt import unpriced_retry  # noqa: E402

from agentledger.analytics.metrics import Filters, call_totals, compute_metrics, waste_breakdown
from agentledger.core.records import Call, calls_to_arrow
from agentledger.ui import format as fmt
from agentledger.warehouse import connect
from agentledger.warehouse.base import Cursor

pytestmark = pytest.mark.usefixtures("ledger_env")


# -- helpers ---------------------------------------------------------------------------------------


def run_app(page: str | None = None, timeout: float = 120, errors: bool = False, **query: str) -> AppTest:
    """Run the dashboard (optionally on ``views/<page>.py``) and fail on any exception it shows (and on any
    error message unless ``errors``)."""
    at = AppTest.from_file(APP, default_timeout=timeout)
    at.query_params.update(query)
    at.run()
    if page is not None:
        at.switch_page(f"views/{page}.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert errors or not at.error, [e.value for e in at.error]
    return at


def walk(node: Any) -> Iterator[Any]:
    yield node
    for child in (getattr(node, "children", None) or {}).values():
        yield from walk(child)


def chart(at: AppTest, key: str) -> dict[str, Any]:
    """The Plotly spec of the chart with ``key``."""
    found = [n for n in walk(at.main) if n.type == "plotly_chart" and n.key == key]
    assert found, f"no chart {key!r} on the page"
    return json.loads(found[0].proto.spec)


def tiles(at: AppTest) -> dict[str, tuple[str, str]]:
    return {m.label: (m.value, m.proto.delta) for m in at.metric}


def last_call_day(ledger: Ledger) -> date:
    wh = connect(ledger.url)
    try:
        return wh.sql("SELECT max(started_at) AS t FROM calls")["t"][0].astimezone(UTC).date()
    finally:
        wh.close()


def window(end: date, days: int, **filters: str) -> Filters:
    since = datetime.combine(end - timedelta(days=days - 1), datetime.min.time(), tzinfo=UTC)
    return Filters(since=since, until=since + timedelta(days=days), **filters)


def metrics(ledger: Ledger, filters: Filters, group_by: str | None = None) -> dict[str, Any]:
    wh = connect(ledger.url)
    try:
        return compute_metrics(wh, filters, group_by)
    finally:
        wh.close()


def expected_values(m: dict[str, Any]) -> dict[str, str]:
    return {
        "Spend": fmt.usd(m["total_cost_usd"]),
        "Cost/completed task": fmt.usd(m["cost_per_completed_task_usd"]),
        "Waste ratio": fmt.pct(m["waste_ratio"]),
        "Cache hit rate": fmt.pct(m["cache_hit_rate"]),
        "P95 session cost": fmt.usd(m["p95_session_cost_usd"]),
    }


# -- Overview --------------------------------------------------------------------------------------


def test_overview_tiles_equal_the_metrics_of_the_default_window(ledger_env: Ledger) -> None:
    at = run_app()
    end = last_call_day(ledger_env)
    expected = metrics(ledger_env, window(end, 30))
    assert expected["calls"] > 0
    assert {label: value for label, (value, _) in tiles(at).items()} == expected_values(expected)
    # The demo covers four weeks: the 30 days before the window hold nothing to compare with.
    assert {delta for _, delta in tiles(at).values()} == {"no earlier data"}
    assert at.query_params["to"] == end.isoformat()
    assert at.query_params["from"] == (end - timedelta(days=29)).isoformat()


def test_overview_deltas_compare_with_the_previous_period(ledger_env: Ledger) -> None:
    end = last_call_day(ledger_env)
    start = end - timedelta(days=6)
    at = run_app(**{"from": start.isoformat(), "to": end.isoformat()})
    now, before = (
        metrics(ledger_env, window(end, 7)),
        metrics(ledger_env, window(start - timedelta(days=1), 7)),
    )
    shown = tiles(at)
    assert shown["Spend"][0] == fmt.usd(now["total_cost_usd"])
    spend_change = now["total_cost_usd"] - before["total_cost_usd"]
    relative = spend_change / before["total_cost_usd"]
    assert shown["Spend"][1] == f"{fmt.usd_delta(spend_change)} ({fmt.pct_change(relative)})"
    waste_change = (now["waste_ratio"] - before["waste_ratio"]) * 100
    assert shown["Waste ratio"][1] == f"{waste_change:+.1f} pp"


def test_a_sidebar_filter_changes_the_tiles_and_the_url(ledger_env: Ledger) -> None:
    at = run_app()
    before = tiles(at)["Spend"][0]
    at.selectbox(key="f_agent").set_value("support-bot").run()
    assert not at.exception
    end = last_call_day(ledger_env)
    expected = metrics(ledger_env, window(end, 30, agent="support-bot"))
    assert {label: value for label, (value, _) in tiles(at).items()} == expected_values(expected)
    assert tiles(at)["Spend"][0] != before
    assert at.query_params["agent"] == "support-bot"


def test_filters_come_from_the_url(ledger_env: Ledger) -> None:
    end = last_call_day(ledger_env)
    start = end - timedelta(days=13)
    at = run_app(**{"from": start.isoformat(), "to": end.isoformat(), "model": "gpt-4o"})
    assert at.selectbox(key="f_model").value == "gpt-4o"
    expected = metrics(ledger_env, window(end, 14, model="gpt-4o"))
    assert {label: value for label, (value, _) in tiles(at).items()} == expected_values(expected)


def test_a_link_scoped_to_a_user_filters_every_figure(ledger_env: Ledger) -> None:
    """An alert grouped or scoped by user, feature, provider or source links with that filter (``?user=..``): the
    pages apply it and the sidebar shows it, rather than showing the whole project's figures."""
    end = last_call_day(ledger_env)
    groups = metrics(ledger_env, window(end, 30), "user")["groups"]
    user = max((g for g in groups if g["key"]), key=lambda g: g["total_cost_usd"] or 0)["key"]
    at = run_app(user=user)
    expected = metrics(ledger_env, window(end, 30, user=user))
    assert {label: value for label, (value, _) in tiles(at).items()} == expected_values(expected)
    assert at.selectbox(key="f_user").value == user
    assert at.query_params["user"] == user
    # Cleared in the sidebar, the filter is gone from the figures, the URL and the sidebar.
    at.selectbox(key="f_user").set_value("(all)").run()
    at.run()
    assert not at.exception
    assert {label: value for label, (value, _) in tiles(at).items()} == expected_values(
        metrics(ledger_env, window(end, 30))
    )
    assert "user" not in at.query_params
    assert not [s for s in at.selectbox if s.key == "f_user"]


def test_a_one_day_window_compares_its_drivers_with_the_day_before(ledger_env: Ledger) -> None:
    end = last_call_day(ledger_env) - timedelta(days=3)
    at = run_app(**{"from": end.isoformat(), "to": end.isoformat()})
    assert [h.value for h in at.subheader][-1] == "Top cost drivers"  # not "of the week": one day here
    assert any(c.value == f"{end:%b %d} against the day before" for c in at.caption)
    spend = chart(at, "spend_over_time")
    low, high = (datetime.fromisoformat(v) for v in spend["layout"]["xaxis"]["range"])
    # The axis is the window, half a day beyond each end: the day is one centred bar.
    assert low == datetime.combine(end, datetime.min.time()) - timedelta(hours=12)
    assert (high - low) == timedelta(days=1)


def test_overview_says_when_the_previous_period_starts_before_the_ledger(ledger_env: Ledger) -> None:
    wh = connect(ledger_env.url)
    try:
        first = wh.sql("SELECT min(started_at) AS t FROM calls")["t"][0].astimezone(UTC).date()
    finally:
        wh.close()
    start = first + timedelta(days=3)  # a week whose previous week starts 4 days before the first call
    at = run_app("overview", **{"from": start.isoformat(), "to": (start + timedelta(days=6)).isoformat()})
    assert any(f"the ledger starts on {first:%b %d}" in c.value for c in at.caption)
    later = run_app("overview")  # the default window's previous period lies wholly inside the ledger
    assert not any("the ledger starts on" in c.value for c in later.caption)


def test_overview_charts_add_up_to_the_spend(ledger_env: Ledger) -> None:
    at = run_app()
    expected = metrics(ledger_env, window(last_call_day(ledger_env), 30))
    spend = chart(at, "spend_over_time")
    assert spend["layout"]["barmode"] == "stack"
    assert sum(sum(trace["y"]) for trace in spend["data"]) == pytest.approx(expected["total_cost_usd"])
    mix = chart(at, "model_mix")
    cost_share = mix["data"][0]
    assert cost_share["y"] == [fmt.label(m["model"]) for m in expected["model_mix"]]
    assert cost_share["x"] == pytest.approx([(m["cost_share"] or 0) * 100 for m in expected["model_mix"]])


def test_top_drivers_are_the_costliest_task_types_of_the_last_week(ledger_env: Ledger) -> None:
    at = run_app()
    end = last_call_day(ledger_env)
    wh = connect(ledger_env.url)
    try:
        week = call_totals(wh, window(end, 7), "task_type")
        week_before = call_totals(wh, window(end - timedelta(days=7), 7), "task_type")
    finally:
        wh.close()
    ranked = sorted(
        ((k, r["total_cost_usd"]) for k, r in week.items() if r["total_cost_usd"] is not None),
        key=lambda kv: -kv[1],
    )[:5]
    table = at.dataframe[0].value
    assert table["Task type"].tolist() == [k for k, _ in ranked]
    assert table["cost_usd"].tolist() == pytest.approx([c for _, c in ranked])
    first = ranked[0][0]
    assert table["previous_cost_usd"].iloc[0] == pytest.approx(week_before[first]["total_cost_usd"])


def test_top_drivers_by_model_compare_the_two_weeks(ledger_env: Ledger) -> None:
    at = run_app()
    at.segmented_control(key="drivers_by").set_value("model").run()
    assert not at.exception
    end = last_call_day(ledger_env)
    wh = connect(ledger_env.url)
    try:
        week = call_totals(wh, window(end, 7), "model")
        week_before = call_totals(wh, window(end - timedelta(days=7), 7), "model")
    finally:
        wh.close()
    ranked = sorted(
        ((k, r["total_cost_usd"]) for k, r in week.items() if r["total_cost_usd"] is not None),
        key=lambda kv: -kv[1],
    )[:5]
    table = at.dataframe[0].value
    assert table["Model"].tolist() == [k for k, _ in ranked]
    assert table["cost_usd"].tolist() == pytest.approx([c for _, c in ranked])
    # a model without calls the week before compares with $0
    before = [week_before[k]["total_cost_usd"] if k in week_before else 0.0 for k, _ in ranked]
    assert table["previous_cost_usd"].tolist() == pytest.approx(before)


# -- Breakdown -------------------------------------------------------------------------------------


def test_breakdown_table_and_chart_match_grouped_metrics(ledger_env: Ledger) -> None:
    at = run_app("breakdown")
    expected = metrics(ledger_env, window(last_call_day(ledger_env), 30), "agent")["groups"]
    table = at.dataframe[0].value
    by_agent = {g["key"]: g for g in expected}
    assert sorted(table["Agent"]) == sorted(by_agent)
    for row in table.to_dict("records"):
        assert row["total_cost_usd"] == pytest.approx(by_agent[row["Agent"]]["total_cost_usd"])
        assert row["failed_tasks"] == by_agent[row["Agent"]]["failed_tasks"]
    bars = chart(at, "breakdown_chart")["data"][0]
    assert bars["y"][0] == max(by_agent, key=lambda k: by_agent[k]["total_cost_usd"])
    assert len(at.get("download_button")) == 1


def test_breakdown_by_another_dimension_and_metric(ledger_env: Ledger) -> None:
    at = run_app("breakdown")
    at.selectbox(key="breakdown_by").set_value("model").run()
    at.selectbox(key="breakdown_metric").set_value("cache_hit_rate").run()
    assert not at.exception
    assert at.query_params["by"] == "model" and at.query_params["metric"] == "cache_hit_rate"
    expected = metrics(ledger_env, window(last_call_day(ledger_env), 30), "model")["groups"]
    best = max((g for g in expected if g["cache_hit_rate"] is not None), key=lambda g: g["cache_hit_rate"])
    bars = chart(at, "breakdown_chart")["data"][0]
    assert bars["y"][0] == best["key"]
    assert bars["x"][0] == pytest.approx(best["cache_hit_rate"] * 100)
    assert "Model" in at.dataframe[0].value.columns


# -- Waste, Sources --------------------------------------------------------------------------------


def test_waste_page_shows_the_waste_split(ledger_env: Ledger) -> None:
    at = run_app("waste")
    wh = connect(ledger_env.url)
    try:
        filters = window(last_call_day(ledger_env), 30)
        waste = waste_breakdown(wh, filters)
        by_agent = waste_breakdown(wh, filters, "agent")["groups"]
    finally:
        wh.close()
    shown = {label: value for label, (value, _) in tiles(at).items()}
    assert shown == {
        "Waste": fmt.usd(waste["waste_usd"]),
        "Failed tasks": fmt.usd(waste["failed_task_usd"]),
        "Failed calls and retries": fmt.usd(waste["failed_call_usd"]),
    }
    bars = chart(at, "waste_by_group")
    drawn = sum(sum(v for v in trace["x"] if v) for trace in bars["data"])
    assert drawn == pytest.approx(sum((g["waste_usd"] or 0) for g in by_agent))


def test_waste_of_unpriced_calls_is_named_not_shown_as_no_waste(tmp_path, monkeypatch) -> None:
    url = f"duckdb:///{tmp_path / 'unpriced.duckdb'}"
    unpriced_retry(url, datetime.now(UTC) - timedelta(days=1))
    monkeypatch.setenv("AGENTLEDGER_WAREHOUSE", url)
    at = run_app("waste")
    assert any("1 wasted call without a known price is left out" in w.value for w in at.warning)
    assert chart(at, "waste_by_group")["layout"]["annotations"][0]["text"] == (
        "No waste with a known price in this window"
    )


def test_waste_by_model_splits_the_same_waste(ledger_env: Ledger) -> None:
    at = run_app("waste")
    at.segmented_control(key="waste_by").set_value("model").run()
    assert not at.exception
    wh = connect(ledger_env.url)
    try:
        by_model = waste_breakdown(wh, window(last_call_day(ledger_env), 30), "model")["groups"]
    finally:
        wh.close()
    bars = chart(at, "waste_by_group")
    assert {y for trace in bars["data"] for y in trace["y"]} <= {fmt.label(g["key"]) for g in by_model}
    drawn = sum(sum(v for v in trace["x"] if v) for trace in bars["data"])
    assert drawn == pytest.approx(sum((g["waste_usd"] or 0) for g in by_model))


def test_sources_page_counts_calls_and_unpriced_models(ledger_env: Ledger) -> None:
    at = run_app("sources")
    unpriced = _analytics(ledger_env, "audit", "unpriced_calls", window(last_call_day(ledger_env), 30))
    assert not unpriced.is_empty()  # the demo has a self-hosted model without a price
    activity = at.dataframe[0].value
    assert activity["calls"].sum() == metrics(ledger_env, Filters())["calls"]
    assert tiles(at)["Calls without a computed price"][0] == fmt.count(unpriced["calls"].sum())
    assert at.dataframe[1].value["model"].tolist() == unpriced["model"].to_list()
    assert any("No collector has run yet" in i.value for i in at.info)
    assert any("nothing to compare" in i.value for i in at.info)  # the demo reports no costs of its own


def test_sources_page_shows_cursors_and_cost_disagreements(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"duckdb:///{tmp_path / 'audit.duckdb'}"
    t0 = datetime.now(UTC) - timedelta(hours=2)
    calls = [
        Call(
            source="langfuse",
            trace_id=f"t{i}",
            span_id=f"s{i}",
            started_at=t0 + timedelta(minutes=i),
            provider="openai",
            model="gpt-4o",
            input_tokens=1000,
            output_tokens=100,
            cost_reported_usd=reported,
            cost_computed_usd=0.0035,
            cost_usd=0.0035,
            cost_source="computed",
            price_status="priced",
        )
        for i, reported in enumerate([0.0035, 0.0036, 0.0070])
    ]
    wh = connect(url)
    try:
        wh.write_calls(calls_to_arrow(calls))
        wh.set_cursor(
            Cursor(
                "langfuse:https://cloud.langfuse.com",
                "2026-11-20T10:00:00Z",
                t0,
                t0,
                "HTTP 401: check LANGFUSE_SECRET_KEY",
                3,
            )
        )
    finally:
        wh.close()
    monkeypatch.setenv("AGENTLEDGER_WAREHOUSE", url)
    at = run_app("sources", errors=True)
    cursors = at.dataframe[0].value
    assert cursors["source_key"].tolist() == ["langfuse:https://cloud.langfuse.com"]
    assert "LANGFUSE_SECRET_KEY" in cursors["last_error"].iloc[0]
    assert "1 source(s) failed on their last run" in at.error[0].value
    audit = at.dataframe[2].value
    assert audit["compared_calls"].tolist() == [3]
    assert audit["disagreeing_calls"].tolist() == [1]  # 0.0036 is within 5 % of 0.0035, 0.0070 is not
    assert audit["reported_usd"].iloc[0] == pytest.approx(0.0141)
    assert "1 call disagree" in at.warning[0].value
    assert any("Every call in this window has a computed price" in s.value for s in at.success)


def test_sources_page_with_no_calls_in_the_window_claims_nothing_about_prices(ledger_env: Ledger) -> None:
    start = last_call_day(ledger_env) + timedelta(days=30)  # a week after the newest call: no calls in it
    at = run_app("sources", **{"from": start.isoformat(), "to": (start + timedelta(days=6)).isoformat()})
    assert at.dataframe[0].value["calls"].sum() > 0  # the ledger itself has calls
    assert not any("computed price" in s.value for s in at.success)
    assert not [m for m in at.metric if m.label == "Calls without a computed price"]
    assert any("No calls in this window" in i.value for i in at.info)


def test_sources_page_of_an_empty_ledger_claims_nothing_about_prices(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGENTLEDGER_WAREHOUSE", f"duckdb:///{tmp_path / 'empty.duckdb'}")
    at = run_app("sources")
    assert not any("computed price" in s.value for s in at.success)
    assert any("No calls in this window" in i.value for i in at.info)


def test_every_page_renders_without_exceptions() -> None:
    at = run_app()
    for page in ("breakdown", "sessions", "waste", "recommendations", "alerts", "sources", "overview"):
        at.switch_page(f"views/{page}.py").run()
        assert not at.exception, (page, [e.value for e in at.exception])
        assert at.title[0].value, page
        # an unknown value (an unpriced cost, a missing name) reads as the tiles read it, never "None"
        assert all(table.proto.placeholder == fmt.UNKNOWN for table in at.dataframe), page


# -- empty and broken ledgers ----------------------------------------------------------------------


def test_an_empty_ledger_explains_how_to_get_data_in(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTLEDGER_WAREHOUSE", f"duckdb:///{tmp_path / 'empty.duckdb'}")
    at = run_app()
    text = " ".join(m.value for m in at.markdown)
    for command in ("agentledger demo", "agentledger ingest otlp FILE", "http://127.0.0.1:4318/v1/traces"):
        assert command in text
    assert not at.metric
    monkeypatch.setenv("AGENTLEDGER_PORT", "4391")  # the receiver's address as configured, not the default
    text = " ".join(m.value for m in run_app().markdown)
    assert "http://127.0.0.1:4391/v1/traces" in text and ":4318" not in text


def test_an_unreadable_warehouse_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTLEDGER_WAREHOUSE", "nosuchscheme:///x")
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception
    assert "AGENTLEDGER_WAREHOUSE" in at.error[0].value


# -- Sessions and traces ---------------------------------------------------------------------------


def _analytics(ledger: Ledger, module: str, name: str, *args: Any, **kwargs: Any) -> Any:
    import importlib

    fn = getattr(importlib.import_module(f"agentledger.analytics.{module}"), name)
    wh = connect(ledger.url)
    try:
        return fn(wh, *args, **kwargs)
    finally:
        wh.close()


def test_sessions_page_lists_the_costliest_sessions_and_traces(ledger_env: Ledger) -> None:
    at = run_app("sessions")
    filters = window(last_call_day(ledger_env), 30)
    sessions = _analytics(ledger_env, "breakdowns", "top_sessions", filters, limit=25)
    traces = _analytics(ledger_env, "breakdowns", "top_traces", filters, limit=25)
    shown_sessions = at.dataframe[0].value
    assert shown_sessions["session_key"].tolist() == sessions["session_key"].to_list()
    assert shown_sessions["cost_usd"].tolist() == pytest.approx(sessions["cost_usd"].to_list())
    assert any("Select a session or a trace" in i.value for i in at.info)
    at.segmented_control(key="sessions_list").set_value("traces").run()
    assert not at.exception
    assert at.dataframe[0].value["trace_id"].tolist() == traces["trace_id"].to_list()


def _drill_down_matches(at: AppTest, ledger: Ledger, trace_id: str) -> None:
    calls = _analytics(ledger, "breakdowns", "trace_calls", "default", trace_id)
    assert calls.height > 0
    shown = tiles(at)
    assert shown["Cost"][0] == fmt.usd(calls["cost_usd"].sum())
    assert shown["Calls"][0] == fmt.count(calls.height)
    assert shown["Input tokens"][0] == fmt.tokens(calls["input_tokens"].sum())
    waterfall = chart(at, "trace_waterfall")
    assert sum(len(trace["y"]) for trace in waterfall["data"]) == calls.height
    growth = chart(at, "trace_context_growth")
    fresh, cached = growth["data"][0], growth["data"][1]
    assert [a + b for a, b in zip(fresh["y"], cached["y"], strict=True)] == calls["input_tokens"].to_list()
    assert at.query_params["trace"] == trace_id


def test_a_trace_opens_from_the_url(ledger_env: Ledger) -> None:
    traces = _analytics(
        ledger_env, "breakdowns", "top_traces", window(last_call_day(ledger_env), 30), limit=1
    )
    trace_id = traces["trace_id"][0]
    at = run_app("sessions", trace=trace_id)
    _drill_down_matches(at, ledger_env, trace_id)


def test_a_trace_opens_by_typing_its_id(ledger_env: Ledger) -> None:
    traces = _analytics(
        ledger_env, "breakdowns", "top_traces", window(last_call_day(ledger_env), 30), limit=3
    )
    trace_id = traces["trace_id"][2]
    at = run_app("sessions")
    at.text_input(key="trace_id_input").input(trace_id).run()
    assert not at.exception
    _drill_down_matches(at, ledger_env, trace_id)


@pytest.mark.parametrize("rank", [0, 39])  # among the costliest 25 listed, and beyond them
def test_a_session_opens_from_the_url(ledger_env: Ledger, rank: int) -> None:
    """Alert notifications link their offending sessions as ``/sessions?...&session=<key>``: the page lists
    that session's traces and opens its costliest one."""
    filters = window(last_call_day(ledger_env), 30)
    sessions = _analytics(ledger_env, "breakdowns", "top_sessions", filters, limit=rank + 1)
    key = sessions["session_key"][rank]
    traces = _analytics(ledger_env, "breakdowns", "top_traces", filters, limit=1000)
    own = traces.filter(traces["session_key"] == key)
    at = run_app("sessions", session=key)
    assert any(f"Traces of session `{key}`" in m.value for m in at.markdown)
    assert at.dataframe[1].value["trace_id"].tolist() == own["trace_id"].to_list()
    _drill_down_matches(at, ledger_env, own["trace_id"][0])
    assert at.query_params["session"] == key


def test_a_session_link_outside_the_window_says_so() -> None:
    at = run_app("sessions", session="no-such-session")
    assert "Session `no-such-session` has no calls" in at.warning[0].value


def test_an_unknown_trace_says_so() -> None:
    at = run_app("sessions", trace="no-such-trace")
    assert "No LLM call of trace `no-such-trace`" in at.warning[0].value


def test_waste_examples_open_the_trace_drill_down(ledger_env: Ledger) -> None:
    at = run_app("waste")
    reasons = _analytics(ledger_env, "waste", "waste_attribution", window(last_call_day(ledger_env), 30))
    example = reasons.filter(reasons["reason"] == "failed_task")["example_trace_ids"][0][0]
    at.button(key=f"example_failed_task_{example}").click().run()
    assert not at.exception
    assert at.title[0].value == "Sessions and traces"
    _drill_down_matches(at, ledger_env, example)
