"""Each recommendation on a constructed history: the right target, and the saving a hand computation gives."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest
from recommend_histories import (
    D0,
    OPTIONS,
    SETTINGS,
    WINDOW,
    classification_history,
    classification_saving,
    duplicate_history,
    duplicate_saving,
    ledger,
    llm,
    output_cap_history,
    output_cap_saving,
    plain_history,
    system_prompt_history,
    system_prompt_saving,
)

from agentledger.analytics.recommend import Recommendation, recommend, recommend_report
from agentledger.analytics.whatif import parse_policy, run_whatif
from agentledger.core.pricing import Pricer

CORE_KINDS = {"routing", "prompt_caching", "response_caching", "output_caps"}


def only(recs: list[Recommendation], kind: str) -> Recommendation:
    found = [r for r in recs if r.kind == kind]
    assert len(found) == 1, [r.kind for r in recs]
    return found[0]


def test_routing_a_short_successful_classification_to_the_proven_cheaper_model() -> None:
    wh = ledger(classification_history())
    rec = only(recommend(wh, WINDOW, SETTINGS, OPTIONS), "routing")
    assert rec.target == {"task_type": "classify", "agent": "triage", "model": "gpt-4o", "provider": "openai"}
    assert rec.monthly_savings_usd == pytest.approx(classification_saving(), rel=0.01)
    current, substitute = rec.evidence["current"], rec.evidence["substitute"]
    assert (current["tasks"], current["success_rate"]) == (100, 0.99)
    assert (substitute["model"], substitute["tasks"], substitute["success_rate"]) == ("gpt-4o-mini", 50, 1.0)
    assert rec.policy == {
        "substitutions": [
            {
                "task_type": "classify",
                "from_model": "gpt-4o",
                "from_provider": "openai",
                "model": "gpt-4o-mini",
                "provider": "openai",
            }
        ]
    }
    assert rec.confidence == "medium"
    assert "gpt-4o-mini" in rec.action and "classify" in rec.action
    low, high = rec.savings_ci_usd
    assert low <= rec.monthly_savings_usd <= high
    assert set(rec.evidence["example_trace_ids"]) <= {f"big-{i}" for i in range(100)}


def test_routing_without_evidence_needs_a_shadow_evaluation() -> None:
    # the mini model served another task type only: no evidence on classify
    calls = [c for c in classification_history() if c.model == "gpt-4o"]
    for c in classification_history():
        if c.model == "gpt-4o-mini":
            c.task_type = "tag"
            calls.append(c)
    rec = only(recommend(ledger(calls), WINDOW, SETTINGS, OPTIONS), "routing")
    assert rec.target["task_type"] == "classify"
    assert rec.evidence["needs_shadow_evaluation"] is True
    assert rec.confidence == "low" and rec.action.startswith("Needs a shadow evaluation")
    assert rec.monthly_savings_usd == pytest.approx(classification_saving(), rel=0.01)


def test_prompt_caching_for_a_resent_system_prompt_without_cache_reads() -> None:
    wh = ledger(system_prompt_history())
    rec = only(recommend(wh, WINDOW, SETTINGS, OPTIONS), "prompt_caching")
    assert rec.target == {
        "task_type": "research",
        "agent": "researcher",
        "model": "claude-sonnet-4",
        "provider": "anthropic",
    }
    assert rec.monthly_savings_usd == pytest.approx(system_prompt_saving(), rel=0.01)
    assert rec.evidence["uncached_repeats"] == 100 and rec.evidence["median_prefix_tokens"] == 3000
    assert rec.evidence["cache_hit_rate"] == 0.0
    assert "cache_control" in rec.action


@pytest.mark.parametrize("provider", ["gcp.vertex_ai", "gcp.gemini"])
def test_prompt_caching_advice_follows_the_provider_whatever_its_endpoint(provider: str) -> None:
    calls = [
        dataclasses.replace(c, model="gemini-2.5-pro", model_requested="gemini-2.5-pro", provider=provider)
        for c in system_prompt_history()
    ]
    rec = only(recommend(ledger(calls), WINDOW, SETTINGS, OPTIONS), "prompt_caching")
    assert rec.target["provider"] == provider
    assert "explicit context cache" in rec.action


def test_response_caching_for_thirty_percent_exact_duplicates() -> None:
    wh = ledger(duplicate_history())
    rec = only(recommend(wh, WINDOW, SETTINGS, OPTIONS), "response_caching")
    assert rec.target["task_type"] == "faq" and rec.target["model"] == "gpt-4o"
    assert rec.evidence["duplicate_rate"] == pytest.approx(0.30)
    assert rec.monthly_savings_usd == pytest.approx(duplicate_saving(), rel=0.01)


def test_few_duplicates_are_a_note_that_it_will_not_pay() -> None:
    wh = ledger(duplicate_history(duplicates=10))
    report = recommend_report(wh, WINDOW, SETTINGS, OPTIONS)
    assert "response_caching" not in {r.kind for r in report.recommendations}
    note = next(n for n in report.notes if n.kind == "response_caching")
    assert "10.0%" in note.message and "will not pay" in note.message
    assert note.monthly_savings_usd == pytest.approx(duplicate_saving(10), rel=0.01)


def test_output_cap_far_above_the_p99_output() -> None:
    wh = ledger(output_cap_history())
    rec = only(recommend(wh, WINDOW, SETTINGS, OPTIONS), "output_caps")
    assert rec.target["task_type"] == "extract"
    assert rec.evidence["median_max_tokens"] == 4096 and rec.evidence["p99_output_tokens"] == 150
    assert rec.evidence["proposed_max_tokens"] == 304
    assert rec.evidence["cut_calls"] == 5 and rec.evidence["cut_share"] == pytest.approx(0.005)
    assert "5 of 1000 calls (0.5%)" in rec.risk
    assert rec.monthly_savings_usd == pytest.approx(output_cap_saving(), rel=0.01)


def test_a_history_without_those_patterns_gets_no_recommendation() -> None:
    report = recommend_report(ledger(plain_history()), WINDOW, SETTINGS, OPTIONS)
    assert report.recommendations == []
    assert not CORE_KINDS & {n.kind for n in report.notes}


def test_recommendations_are_ordered_by_monthly_saving_and_replayable() -> None:
    calls = classification_history() + system_prompt_history() + duplicate_history() + output_cap_history()
    wh = ledger(calls)
    recs = recommend(wh, WINDOW, SETTINGS, OPTIONS)
    savings = [r.monthly_savings_usd for r in recs]
    assert savings == sorted(savings, reverse=True)
    assert {r.kind for r in recs} >= CORE_KINDS
    for rec in recs:
        if rec.policy is None:
            continue
        replayed = run_whatif(wh, WINDOW, parse_policy(rec.policy), Pricer(), resamples=10)
        assert replayed["monthly_savings_usd"] == pytest.approx(rec.monthly_savings_usd, rel=1e-9)


def test_batching_for_task_types_listed_or_tagged_non_interactive() -> None:
    calls = duplicate_history()
    for c in output_cap_history()[:200]:
        c.tags = {"interactive": "false"}
        calls.append(c)
    wh = ledger(calls)
    options = OPTIONS.model_copy(update={"non_interactive_task_types": ["faq"]})
    batching = {
        r.target["task_type"]: r for r in recommend(wh, WINDOW, SETTINGS, options) if r.kind == "batching"
    }
    assert set(batching) == {"faq", "extract"}
    assert batching["faq"].confidence == "high" and batching["extract"].confidence == "medium"
    faq_cost = 100 * (800 * 2.5 + 200 * 10.0) / 1e6
    assert batching["faq"].monthly_savings_usd == pytest.approx(0.5 * faq_cost, rel=0.01)


def test_deterministic_replacement_is_reported_as_not_evaluated() -> None:
    report = recommend_report(ledger(plain_history()), WINDOW, SETTINGS, OPTIONS)
    note = next(n for n in report.notes if n.kind == "deterministic")
    assert "no output hash" in note.message


def test_the_clickhouse_backend_gives_the_same_recommendations(tmp_path) -> None:
    # chDB runs the ClickHouse backend's SQL in-process: whatif_calls.sql must transpile and agree.
    calls = classification_history() + duplicate_history() + output_cap_history()[:300]
    duck = recommend_report(ledger(calls), WINDOW, SETTINGS, OPTIONS)
    chdb = recommend_report(ledger(calls, f"chdb:///{tmp_path / 'chdb'}"), WINDOW, SETTINGS, OPTIONS)
    assert chdb.model_dump() == duck.model_dump()
    assert {r.kind for r in chdb.recommendations} >= {"routing", "response_caching"}


def _series(prefix: str, n: int, minute: int = 0, **fields) -> list:
    """``n`` calls an hour apart, one trace each, with ``fields``."""
    return [llm(f"{prefix}-{i}", "c", D0 + timedelta(hours=i, minutes=minute), **fields) for i in range(n)]


def _classify_on(model: str, provider: str, prefix: str, tasks: int = 25) -> list:
    return _series(
        prefix,
        tasks,
        len(prefix),
        model=model,
        provider=provider,
        task_type="classify",
        agent_name="triage",
        input_tokens=800,
        output_tokens=10,
    )


def test_routing_never_proposes_a_model_that_does_another_job() -> None:
    # The only cheaper model of the provider in the history is an embedding model.
    calls = _classify_on("gpt-4o", "openai", "big")
    calls += _series(
        "emb",
        12,
        model="text-embedding-3-small",
        operation="embeddings",
        task_type="search",
        input_tokens=800,
    )
    report = recommend_report(ledger(calls), WINDOW, SETTINGS, OPTIONS)
    assert [r for r in report.recommendations if r.kind == "routing"] == []
    assert any(n.kind == "routing" and "shadow evaluation" in n.message for n in report.notes)


def test_routing_the_same_model_on_two_providers_counts_each_providers_calls_once() -> None:
    calls = (
        _classify_on("gpt-4o", "openai", "oa")
        + _classify_on("gpt-4o", "azure.ai.openai", "az")
        + _classify_on("gpt-4o-mini", "openai", "mini")
    )
    routing = [r for r in recommend(ledger(calls), WINDOW, SETTINGS, OPTIONS) if r.kind == "routing"]
    per_call = (800 * (2.5 - 0.15) + 10 * (10.0 - 0.6)) / 1e6
    assert len(routing) == 2
    for rec in routing:
        assert rec.policy["substitutions"][0]["from_provider"] == rec.target["provider"]
        assert rec.monthly_savings_usd == pytest.approx(25 * per_call, rel=0.01)


def test_batching_counts_only_calls_tagged_non_interactive_on_providers_with_a_batch_api() -> None:
    volumes = {"input_tokens": 10_000, "output_tokens": 1_000}
    calls = _series("digest", 10, model="gpt-4o-mini", task_type="digest", **volumes)
    for i, c in enumerate(calls):  # 9 tagged non-interactive, 1 interactive
        c.tags = {"interactive": "true" if i == 0 else "false"}
    calls += _series(  # DeepSeek has no batch API
        "nightly",
        12,
        5,
        model="deepseek-chat",
        provider="deepseek",
        task_type="nightly",
        tags={"interactive": "false"},
        **volumes,
    )
    options = OPTIONS.model_copy(update={"min_calls": 5, "min_monthly_savings_usd": 0.0})
    batching = {
        r.target["task_type"]: r
        for r in recommend(ledger(calls), WINDOW, SETTINGS, options)
        if r.kind == "batching"
    }
    assert set(batching) == {"digest"}
    one_call = (10_000 * 0.15 + 1_000 * 0.6) / 1e6
    assert batching["digest"].monthly_savings_usd == pytest.approx(0.5 * 9 * one_call, rel=1e-6)
    assert batching["digest"].evidence["calls"] == 9


@pytest.mark.parametrize("operation", ["generate_content", "responses", None])
def test_routing_takes_a_model_recorded_under_another_generation_operation(operation) -> None:
    calls = classification_history()
    for c in calls:
        if c.model == "gpt-4o-mini":
            c.operation = operation
    rec = only(recommend(ledger(calls), WINDOW, SETTINGS, OPTIONS), "routing")
    assert rec.evidence["substitute"]["model"] == "gpt-4o-mini"


def test_provider_less_calls_of_a_model_recorded_with_a_provider_too_are_not_routed_twice() -> None:
    calls = _classify_on("gpt-4o", "openai", "oa") + _classify_on("gpt-4o-mini", "openai", "mini")
    calls += _classify_on("gpt-4o", None, "none")  # the same model, provider not recorded
    routing = [r for r in recommend(ledger(calls), WINDOW, SETTINGS, OPTIONS) if r.kind == "routing"]
    per_call = (800 * (2.5 - 0.15) + 10 * (10.0 - 0.6)) / 1e6
    assert [r.target["provider"] for r in routing] == ["openai"]
    assert routing[0].monthly_savings_usd == pytest.approx(25 * per_call, rel=0.01)
