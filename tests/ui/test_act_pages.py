"""The Act pages through Streamlit's AppTest on demo data: recommendations and what-if, alerts and reports.

Every figure shown is compared with the analytics function run directly on the same data and window:
``recommend``, ``run_whatif``, ``alert_states``/``alert_history`` over rows written by the real alert
engine, and the weekly report's downloads with ``render``.
"""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage
from test_app import chart, last_call_day, run_app, tiles, walk, window
from ui_helpers import ALERTS_AT, Ledger, write_alert_rounds

from agentledger.analytics.alert_history import alert_history, alert_states
from agentledger.analytics.recommend import recommend
from agentledger.analytics.report import build_weekly_report
from agentledger.analytics.report_render import format_value, render
from agentledger.analytics.whatif import parse_policy, run_whatif
from agentledger.core.pricing import Pricer
from agentledger.core.settings import Settings
from agentledger.ui import act
from agentledger.ui import format as fmt
from agentledger.warehouse import connect

pytestmark = pytest.mark.usefixtures("ledger_env")
SUBMIT = "FormSubmitter:whatif_form-Replay the window"


def _on(ledger: Ledger, fn: Any, *args: Any, **kwargs: Any) -> Any:
    wh = connect(ledger.url)
    try:
        return fn(wh, *args, **kwargs)
    finally:
        wh.close()


def _elements(at: Any, kind: str) -> list[Any]:
    return [n for n in walk(at.main) if n.type == kind]


# -- recommendations -------------------------------------------------------------------------------


def test_the_recommendations_table_has_the_figures_of_recommend(ledger_env: Ledger) -> None:
    at = run_app("recommendations")
    expected = _on(ledger_env, recommend, window(last_call_day(ledger_env), 30), Settings())
    assert expected, "the demo data should give at least one recommendation"
    table = at.dataframe[0].value
    assert table["monthly_savings_usd"].tolist() == pytest.approx([r.monthly_savings_usd for r in expected])
    assert table["ci_low_usd"].tolist() == pytest.approx([r.savings_ci_usd[0] for r in expected])
    assert table["ci_high_usd"].tolist() == pytest.approx([r.savings_ci_usd[1] for r in expected])
    assert table["kind"].tolist() == [act.KIND_LABELS[r.kind] for r in expected]
    assert table["target"].tolist() == [act.target_label(r.target) for r in expected]
    assert table["confidence"].tolist() == [r.confidence for r in expected]
    assert table["action"].tolist() == [r.action for r in expected]
    assert table["risk"].tolist() == [r.risk for r in expected]
    bars = chart(at, "savings_chart")["data"][0]
    assert bars["x"] == pytest.approx([r.monthly_savings_usd for r in expected])
    assert len(at.expander) == len(expected)
    assert fmt.usd(expected[0].monthly_savings_usd) in at.expander[0].label


MAIN_COLUMN_AT_1280_PX = (
    810  # the page's main column in a 1280 px wide window with the sidebar open (Chromium)
)


def test_the_recommendations_table_shows_what_to_change_and_the_savings_in_a_1280px_window() -> None:
    table = run_app("recommendations").dataframe[0].proto
    columns, order = json.loads(table.columns), list(table.column_order)
    # Every column but the last (the risk, repeated in each recommendation's details) is in view without a
    # horizontal scroll, and the action and the dollar figures are among them.
    in_view = order[:-1]
    assert {"action", "monthly_savings_usd", "ci_low_usd", "ci_high_usd"} <= set(in_view)
    assert sum(columns[name]["width"] for name in in_view) <= MAIN_COLUMN_AT_1280_PX
    assert (
        max(order, key=lambda name: columns[name]["width"]) == "action"
    )  # the longest text gets the most room
    assert order[:2] == ["rank", "kind"]
    for name in order[2:]:  # every column past the rank and the kind explains itself
        assert columns[name].get("help"), name


def test_a_recommendation_shows_its_evidence_and_opens_an_example_trace(ledger_env: Ledger) -> None:
    at = run_app("recommendations")
    first = _on(ledger_env, recommend, window(last_call_day(ledger_env), 30), Settings())[0]
    evidence = " ".join(m.value for m in at.expander[0].markdown)
    for label, value in act.evidence_rows(first.evidence):
        assert f"{label}: **{value}**" in evidence
    trace_id = first.evidence["example_trace_ids"][0]
    at.button(key=f"rec_1_trace_{trace_id}").click().run()
    assert not at.exception
    assert at.title[0].value == "Sessions and traces"
    assert at.query_params["trace"] == trace_id


def test_the_notes_list_what_will_not_pay(ledger_env: Ledger) -> None:
    at = run_app("recommendations")
    from agentledger.analytics.recommend import recommend_report

    report = _on(ledger_env, recommend_report, window(last_call_day(ledger_env), 30), Settings())
    shown = " ".join(m.value for m in at.markdown)
    assert report.notes
    for note in report.notes:
        assert note.message in shown


def _replayed(ledger: Ledger, policy: dict[str, Any]) -> dict[str, Any]:
    return _on(
        ledger,
        run_whatif,
        window(last_call_day(ledger), 30),
        parse_policy(policy),
        Pricer.from_settings(Settings()),
        resamples=1000,
        seed=0,
    )


def test_a_substitution_in_the_form_replays_like_run_whatif(ledger_env: Ledger) -> None:
    at = run_app("recommendations")
    assert "gpt-4o-mini" in at.selectbox(key="wi_model_generate").options
    at.selectbox(key="wi_model_generate").set_value("gpt-4o-mini")
    at.button(key=SUBMIT).click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    expected = _replayed(
        ledger_env,
        {"substitutions": [{"task_type": "generate", "model": "gpt-4o-mini", "provider": "openai"}]},
    )
    assert expected["savings_usd"] > 0
    shown = tiles(at)
    assert shown["Recorded cost"][0] == fmt.usd(expected["recorded_cost_usd"])
    assert shown["Cost under the policy"][0] == fmt.usd(expected["replayed_cost_usd"])
    assert shown["Saving a month"][0] == fmt.usd(expected["monthly_savings_usd"])
    low, high = expected["monthly_savings_ci_usd"]
    assert any(f"95 % interval {fmt.usd(low)} to {fmt.usd(high)}" == c.value for c in at.caption)
    bars = chart(at, "whatif_chart")["data"]
    assert [b["name"] for b in bars] == ["recorded", "under the policy"]
    by_task = {r["key"]: r for r in expected["by_task_type"]}
    for key, value in zip(bars[1]["x"], bars[1]["y"], strict=True):
        assert value == pytest.approx(by_task[key]["replayed_cost_usd"])
    assert sum(bars[1]["y"]) == pytest.approx(expected["replayed_cost_usd"])
    at.segmented_control(key="whatif_by").set_value("by_agent").run()
    by_agent = chart(at, "whatif_chart")["data"][1]
    assert sum(by_agent["y"]) == pytest.approx(expected["replayed_cost_usd"])


def test_caps_and_levers_in_the_form_replay_like_run_whatif(ledger_env: Ledger) -> None:
    at = run_app("recommendations")
    at.number_input(key="wi_cap_plan").set_value(200)
    at.toggle(key="wi_prompt_caching").set_value(True)
    at.number_input(key="wi_prompt_ttl").set_value(600)
    at.toggle(key="wi_context_cap").set_value(True)
    at.number_input(key="wi_keep_turns").set_value(4)
    at.button(key=SUBMIT).click().run()
    assert not at.exception and not at.error
    expected = _replayed(
        ledger_env,
        {
            "prompt_caching": {"ttl_seconds": 600},
            "context_cap": {"keep_last_turns": 4},
            "max_tokens": [{"task_type": "plan", "max_tokens": 200}],
        },
    )
    assert tiles(at)["Cost under the policy"][0] == fmt.usd(expected["replayed_cost_usd"])
    risk = expected["truncation_risk"]
    assert risk["cut_calls"] > 0  # plan writes far more than 200 tokens
    assert any(
        f"{risk['cut_calls']} calls of {risk['capped_calls']} under a cap" in w.value for w in at.warning
    )


def test_an_untouched_form_says_it_changes_nothing() -> None:
    at = run_app("recommendations")
    at.button(key=SUBMIT).click().run()
    assert not at.exception
    assert any("changes nothing yet" in i.value for i in at.info)
    assert not [n for n in walk(at.main) if n.type == "plotly_chart" and n.key == "whatif_chart"]


# -- alerts and reports ----------------------------------------------------------------------------

AT = ALERTS_AT


@pytest.fixture
def alert_ledger(ledger_env: Ledger, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Ledger:
    """A copy of the demo ledger with two rounds of the real alert engine (see ``write_alert_rounds``)."""
    path = tmp_path / "alerts.duckdb"
    shutil.copy(ledger_env.path, path)
    ledger = Ledger(url=f"duckdb:///{path}", path=path)
    write_alert_rounds(ledger.url)
    monkeypatch.setenv("AGENTLEDGER_WAREHOUSE", ledger.url)
    return ledger


def test_the_alerts_page_shows_states_and_history_of_the_engine(alert_ledger: Ledger) -> None:
    at = run_app("alerts")
    states = _on(alert_ledger, alert_states, "default")
    history = _on(alert_ledger, alert_history, "default", 100)
    assert sorted(states.select("rule_name", "status").rows()) == [
        ("day-spend", "resolved"),
        ("no-price", "firing"),
        ("weekly-spend", "firing"),
    ]
    assert tiles(at)["Firing now"][0] == "2"
    shown = at.dataframe[0].value
    assert shown["rule"].tolist() == states["rule_name"].to_list()
    assert shown["status"].tolist() == ["firing", "firing", "ok"]
    weekly = shown[shown["rule"] == "weekly-spend"].iloc[0]
    # A rule still firing carries the value of the last round, two days after the first.
    last_round = AT + timedelta(days=2)
    spend = _on(alert_ledger, _window_spend, last_round - timedelta(days=7), last_round)
    assert weekly["value"] == format_value(spend, "usd") and weekly["threshold"] == "> $1.00"
    assert (weekly["kind"], weekly["severity"]) == ("threshold", "critical")
    events = at.dataframe[1].value
    # Three rules fired; two days later one resolved and the two still firing sent a reminder (6 h cooldown).
    assert len(events) == history.height == 6
    assert events["event"].tolist() == history["event"].to_list()
    assert sorted(events["event"][:3]) == ["reminder", "reminder", "resolved"]
    assert events["event"].tolist()[3:] == ["fired"] * 3
    # The webhook is down: the first round's notices were tried again in the second round.
    attempts = [2, 2, 2, 4, 4, 4]
    for text, n in zip(events["delivery"], attempts, strict=True):
        assert text.startswith(f"slack sent · webhook failed after {n} attempts (webhook channel 'webhook': ")
    assert tiles(at)["Undelivered notifications"][0] == "6"
    # The history's columns fit beside the sidebar in a 1280 px window, so a delivery error wraps in view.
    columns = json.loads(at.dataframe[1].proto.columns)
    assert sum(c["width"] for c in columns.values() if "width" in c) <= MAIN_COLUMN_AT_1280_PX


def _window_spend(wh: Any, since: datetime, until: datetime) -> float:
    from agentledger.analytics.metrics import Filters, compute_metrics

    return compute_metrics(wh, Filters(since=since, until=until))["total_cost_usd"]


@pytest.fixture
def media(monkeypatch: pytest.MonkeyPatch) -> dict[str, bytes]:
    """The files the app hands to Streamlit's media storage (download buttons), by file id."""
    stored: dict[str, bytes] = {}
    original = MemoryMediaFileStorage.load_and_get_id

    def load_and_get_id(self, path_or_data, mimetype, kind, filename=None):  # noqa: ANN001, ANN202
        file_id = original(self, path_or_data, mimetype, kind, filename)
        stored[file_id] = path_or_data if isinstance(path_or_data, bytes) else path_or_data.encode()
        return file_id

    monkeypatch.setattr(MemoryMediaFileStorage, "load_and_get_id", load_and_get_id)
    return stored


def _downloads(at: Any, media: dict[str, bytes]) -> dict[str, bytes]:
    out = {}
    for button in _elements(at, "download_button"):
        file_id = Path(button.proto.url).stem
        out[button.proto.label] = media[file_id]
    return out


def test_the_weekly_report_downloads_equal_render(ledger_env: Ledger, media: dict[str, bytes]) -> None:
    at = run_app("alerts", week="2026-W46")
    assert at.selectbox(key="report_week").value == "2026-W46"
    assert at.selectbox(key="report_week").options[0] == "2026-W47"  # the week of the last demo call
    files = _downloads(at, media)
    assert set(files) == {"Markdown", "HTML", "JSON"}
    generated = datetime.fromisoformat(json.loads(files["JSON"])["generated_at"])
    report = _on(ledger_env, build_weekly_report, Settings(), "2026-W46", now=generated)
    assert files["Markdown"].decode() == render(report, "md")
    assert files["HTML"].decode() == render(report, "html")
    # The JSON carries full floats, and DuckDB's parallel sums may differ in the last bits between two
    # builds: equal in structure and text, numbers within 1e-9.
    _same(json.loads(files["JSON"]), json.loads(render(report, "json")))
    assert report.totals["total_cost_usd"] > 0
    assert generated.tzinfo is not None and generated <= datetime.now(UTC)
    html = _elements(at, "html")
    assert html and fmt.usd(report.totals["total_cost_usd"]) in html[0].proto.body

    at.selectbox(key="report_week").set_value("2026-W45").run()
    assert not at.exception
    assert at.query_params["week"] == "2026-W45"
    assert json.loads(_downloads(at, media)["JSON"])["week"] == "2026-W45"


def _same(got: Any, expected: Any, where: str = "$") -> None:
    if isinstance(expected, dict):
        assert isinstance(got, dict) and got.keys() == expected.keys(), where
        for key in expected:
            _same(got[key], expected[key], f"{where}.{key}")
    elif isinstance(expected, list):
        assert isinstance(got, list) and len(got) == len(expected), where
        for i, (a, b) in enumerate(zip(got, expected, strict=True)):
            _same(a, b, f"{where}[{i}]")
    elif isinstance(expected, float):
        assert got == pytest.approx(expected, rel=1e-9, abs=1e-12), where
    else:
        assert got == expected, where


def test_an_empty_alert_history_explains_how_rules_run() -> None:
    at = run_app("alerts")
    assert any("agentledger alerts check" in i.value for i in at.info)
    assert tiles(at)["Firing now"][0] == "0"


@pytest.mark.parametrize("page", ["recommendations", "alerts"])
def test_a_filter_that_matches_nothing_still_renders(page: str) -> None:
    at = run_app(page, agent="no-such-agent")
    assert at.title[0].value
    if page == "recommendations":
        assert not at.dataframe  # no recommendation, so no table
        at.toggle(key="wi_prompt_caching").set_value(True)
        at.button(key=SUBMIT).click().run()
        assert not at.exception and not at.error
        assert tiles(at)["Cost under the policy"][0] == fmt.usd(0.0)
