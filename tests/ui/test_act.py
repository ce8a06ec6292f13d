"""The pure shaping of the Act pages (ui/act.py) and their figures: recommendations, the what-if form's
policy, alert tables, report weeks."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
import pytest

from agentledger.analytics.recommend import Recommendation
from agentledger.analytics.whatif import parse_policy
from agentledger.ui import act, figures


def rec(**overrides: object) -> Recommendation:
    base = {
        "kind": "routing",
        "target": {"task_type": "classify", "agent": "support-bot", "model": "gpt-4o", "provider": "openai"},
        "monthly_savings_usd": 120.0,
        "savings_ci_usd": (80.0, 150.0),
        "confidence": "high",
        "evidence": {"example_trace_ids": ["t1", "t2"], "output_ratio": 1.25},
        "risk": "quality may drop",
        "action": "Route classify to gpt-4o-mini",
    }
    return Recommendation.model_validate({**base, **overrides})


def test_target_labels_name_what_is_set() -> None:
    assert act.target_label(rec().target) == "task type classify · agent support-bot · model gpt-4o (openai)"
    assert act.target_label({"task_type": "plan", "agent": None, "model": None}) == "task type plan"
    assert act.target_label({}) == "whole project"


def test_recommendations_frame_keeps_order_and_figures() -> None:
    frame = act.recommendations_frame([rec(), rec(kind="batching", monthly_savings_usd=5.0).model_dump()])
    assert frame["rank"].to_list() == [1, 2]
    assert frame["kind"].to_list() == ["Routing", "Batching"]
    assert frame["monthly_savings_usd"].to_list() == [120.0, 5.0]
    assert frame.row(0, named=True)["ci_low_usd"] == 80.0 and frame.row(0, named=True)["ci_high_usd"] == 150.0
    assert act.recommendations_frame([]).is_empty()


@pytest.mark.parametrize(
    ("key", "value", "text"),
    [
        ("window_savings_usd", 12.3456, "$12.35"),
        ("duplicate_rate", 0.25, "25.0 %"),
        ("prefix_share_of_input", 0.439, "43.9 %"),
        ("output_ratio", 1.25, "1.25×"),
        ("ttl_seconds", 300.0, "300 s"),
        ("median_prefix_tokens", 4294.0, "4,294"),
        ("calls", 12, "12"),
        ("needs_shadow_evaluation", True, "yes"),
        ("non_interactive_because", ["tag", "setting"], "tag, setting"),
        ("basis", "tags", "tags"),
        ("p99_output_tokens", None, "—"),
        ("growth", 0.123456, "0.123"),
    ],
)
def test_evidence_values_read_by_their_name(key: str, value: object, text: str) -> None:
    assert act.evidence_value(key, value) == text


def test_evidence_rows_flatten_nested_figures_and_leave_out_the_traces() -> None:
    rows = act.evidence_rows(
        {
            "current": {"model": "gpt-4o", "success_rate": 0.97},
            "output_ratio": 1.0,
            "example_trace_ids": ["t"],
        }
    )
    assert rows == [
        ("Current: model", "gpt-4o"),
        ("Current: success rate", "97.0 %"),
        ("Output ratio", "1.00×"),
    ]


def test_an_untouched_form_is_the_empty_policy() -> None:
    choices = act.WhatIfChoices(models={"classify": act.KEEP}, caps={"classify": 0})
    assert act.policy_document(choices, {}) == {}


def test_the_form_choices_become_a_valid_policy() -> None:
    choices = act.WhatIfChoices(
        models={"classify": "gpt-4o-mini", "plan": act.KEEP, "local": "llama"},
        caps={"classify": 0, "plan": 300},
        prompt_cache_ttl_seconds=600,
        response_cache_ttl_seconds=None,
        keep_last_turns=6,
    )
    doc = act.policy_document(choices, {"gpt-4o-mini": "openai", "llama": None})
    assert doc == {
        "substitutions": [
            {"task_type": "classify", "model": "gpt-4o-mini", "provider": "openai"},
            {"task_type": "local", "model": "llama"},
        ],
        "prompt_caching": {"ttl_seconds": 600},
        "context_cap": {"keep_last_turns": 6},
        "max_tokens": [{"task_type": "plan", "max_tokens": 300}],
    }
    assert parse_policy(doc).levers() == ["substitutions", "prompt_caching", "context_cap", "max_tokens"]


MIX = {
    "classify": [
        {"model": "gpt-4o-mini", "provider": "openai", "cost_usd": 1.0},
        {"model": "gpt-4o", "provider": "openai", "cost_usd": 5.0},
    ],
    "plan": [{"model": "o3-mini", "provider": "openai", "cost_usd": 9.0}],
    None: [{"model": "llama-local", "provider": "vllm", "cost_usd": None}],
}


def test_task_models_rank_task_types_and_their_models_by_cost() -> None:
    assert act.task_models(MIX) == {"plan": ["o3-mini"], "classify": ["gpt-4o", "gpt-4o-mini"]}


def test_substitutes_are_the_priced_models_seen() -> None:
    priced = {"gpt-4o", "gpt-4o-mini", "o3-mini"}
    models = act.substitute_models(MIX, lambda provider, model: model in priced)
    assert models == {"gpt-4o": "openai", "gpt-4o-mini": "openai", "o3-mini": "openai"}


T = datetime(2026, 11, 20, 19, 0, tzinfo=UTC)
R = datetime(2026, 11, 22, 19, 0, tzinfo=UTC)


def test_the_state_table_says_firing_or_ok_since_when_in_the_rule_unit() -> None:
    states = pl.DataFrame(
        [
            {"rule_name": "spend", "group_key": None, "status": "firing", "fired_at": T, "resolved_at": None,
             "value": 2.5, "threshold": 1.0, "unit": "usd", "op": ">", "kind": "threshold", "severity": "critical",
             "metric": "total_cost_usd", "evaluated_at": R, "notified_at": T},
            {"rule_name": "waste", "group_key": "agent=a", "status": "resolved", "fired_at": T, "resolved_at": R,
             "value": 0.05, "threshold": 0.2, "unit": "ratio", "op": ">=", "kind": "threshold", "severity": None,
             "metric": "waste_ratio", "evaluated_at": R, "notified_at": R},
            {"rule_name": "old", "group_key": None, "status": "resolved", "fired_at": T, "resolved_at": R,
             "value": None, "threshold": 3.0, "unit": None, "op": None, "kind": None, "severity": None,
             "metric": None, "evaluated_at": R, "notified_at": None},
        ]
    )  # fmt: skip
    table = act.alert_state_table(states)
    assert table["status"].to_list() == ["firing", "ok", "ok"]
    assert table["since"].to_list() == [T, R, R]
    assert table["value"].to_list() == ["$2.50", "5.0%", "n/a"]
    assert table["threshold"].to_list() == ["> $1.00", ">= 20.0%", "3"]
    assert table["group"].to_list() == [None, "agent=a", None]


def test_delivery_text_says_where_each_notice_went() -> None:
    deliveries = [
        {"channel": "slack", "status": "sent", "attempts": 1, "last_error": None},
        {"channel": "email", "status": "failed", "attempts": 3, "last_error": "SMTP 451 " + "x" * 200},
    ]
    text = act.delivery_text(deliveries)
    assert text.startswith("slack sent · email failed after 3 attempts (SMTP 451 x")
    assert text.endswith("…)") and len(text) < 160
    assert act.delivery_text([]) == "no channel: recorded only"


def test_report_weeks_cover_the_ledger_newest_first() -> None:
    first, last = datetime(2026, 10, 23, 21, 3, tzinfo=UTC), datetime(2026, 11, 20, 17, 35, tzinfo=UTC)
    assert act.report_weeks(first, last) == ["2026-W47", "2026-W46", "2026-W45", "2026-W44", "2026-W43"]
    # Sunday 23:30 UTC is already Monday in Tokyo: the weeks follow the report's time zone.
    sunday = datetime(2026, 11, 22, 23, 30, tzinfo=UTC)
    assert act.report_weeks(sunday, sunday, "Asia/Tokyo") == ["2026-W48"]
    assert act.report_weeks(None, None) == []


def test_savings_bars_draw_the_interval_around_each_saving() -> None:
    fig = figures.savings_bars(["1. a", "2. b"], [10.0, 4.0], [6.0, 5.0], [15.0, 9.0]).to_dict()
    bar = fig["data"][0]
    assert list(bar["x"]) == [10.0, 4.0]
    assert list(bar["error_x"]["array"]) == [5.0, 5.0]
    assert list(bar["error_x"]["arrayminus"]) == [
        4.0,
        0.0,
    ]  # an interval above the estimate: no whisker below
    assert figures.savings_bars([], [], [], []).to_dict()["layout"]["annotations"]


def test_recorded_vs_replayed_groups_the_two_costs_costliest_first() -> None:
    rows = [
        {"key": "a", "recorded_cost_usd": 1.0, "replayed_cost_usd": 0.5},
        {"key": None, "recorded_cost_usd": 3.0, "replayed_cost_usd": 3.0},
        {"key": "unpriced", "recorded_cost_usd": None, "replayed_cost_usd": None},
    ]
    fig = figures.recorded_vs_replayed(rows, title="task type").to_dict()
    recorded, replayed = fig["data"]
    assert list(recorded["x"]) == ["unknown", "a"] and list(recorded["y"]) == [3.0, 1.0]
    assert list(replayed["y"]) == [3.0, 0.5]
    assert fig["layout"]["barmode"] == "group"
