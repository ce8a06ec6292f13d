"""The replay through the real warehouse: an empty policy reproduces the recorded cost exactly, calls
without a computed price stay as recorded, windows scale to a month, intervals are seeded."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import polars as pl
import pytest
from whatif_helpers import GPT4O, GPT4O_MINI, T0, call, cost, frame_of

from agentledger.analytics.filters import Filters
from agentledger.analytics.metrics import compute_metrics
from agentledger.analytics.whatif import Policy, load_calls, replay, resolve_window, run_whatif
from agentledger.analytics.whatif.policy import Batch, Substitution
from agentledger.analytics.whatif.stats import bootstrap_total_ci
from agentledger.core.pricing import Pricer
from agentledger.ingest.pipeline import Pipeline
from agentledger.warehouse import connect


@pytest.fixture
def ledger():
    """Calls of every pricing situation, written through the real pipeline into DuckDB."""
    wh = connect("duckdb:///:memory:")
    computed = [
        call("t1", "a", 0, session_id="s1", task_type="classify"),
        call(
            "t1",
            "b",
            1,
            session_id="s1",
            model="claude-sonnet-4",
            input_tokens=5000,
            cache_read_tokens=3000,
            cache_write_tokens=500,
        ),
        call("t2", "a", 2, session_id="s2", model="o1", output_tokens=900, reasoning_tokens=700),
        call(
            "t3", "a", 3, model="gemini-2.5-pro", provider="google", input_tokens=250_000
        ),  # long-context band
        call("t4", "a", 4, model="my-private-model", provider="acme"),  # unpriced
        call(
            "t5", "a", 5, model="my-private-model", provider="acme", cost_reported_usd=0.042
        ),  # reported only
        call("t6", "a", 6, response_cache_hit=True),  # served by a gateway cache
    ]
    # the same call seen by a gateway too (same response id): the ledger counts it once, as the metrics do
    computed[0].response_id = "resp-1"
    gateway = call("h1", "h", 0, source="helicone", response_id="resp-1", task_type="classify")
    Pipeline(wh, Pricer()).ingest([*computed, gateway], [])
    # cost_policy=reported: the source's own figure counts although we can price it
    reported = [call("t7", "a", 7, cost_reported_usd=0.5, task_type="classify")]
    Pipeline(wh, Pricer(cost_policy="reported")).ingest(reported, [])
    yield wh
    wh.close()


WINDOW = Filters(since=T0 - timedelta(days=1), until=T0 + timedelta(days=1))


def test_empty_policy_reproduces_the_recorded_cost_exactly(ledger) -> None:
    calls = load_calls(ledger, WINDOW, resolve_window(ledger, WINDOW))
    result = replay(calls, Policy(), Pricer(), resamples=50)
    per_call = result.per_call
    same = per_call.select(pl.col("replayed_cost").eq_missing(pl.col("recorded_cost")).all()).item()
    assert same
    assert result.replayed_cost_usd == result.recorded_cost_usd
    assert result.savings_usd == 0.0 and result.savings_ci_usd == (0.0, 0.0)
    stored = ledger.sql("SELECT SUM(cost_usd) AS total FROM ledger_calls")["total"][0]
    assert per_call.height == 8  # 9 records, one call seen twice
    assert result.recorded_cost_usd == pytest.approx(stored, rel=1e-12)
    assert result.recorded_cost_usd == pytest.approx(
        compute_metrics(ledger, WINDOW)["total_cost_usd"], rel=1e-12
    )


def test_calls_without_a_computed_cost_stay_as_recorded_and_are_named(ledger) -> None:
    calls = load_calls(ledger, WINDOW, resolve_window(ledger, WINDOW))
    policy = Policy(substitutions=[Substitution(model="gpt-4o-mini", provider="openai")], batch=Batch())
    result = replay(calls, policy, Pricer(), resamples=50)
    assert result.kept() == {"reported": 2, "unpriced": 1, "response_cache_hit": 1}
    kept = result.per_call.filter(~pl.col("repriceable"))
    assert kept.select(pl.col("replayed_cost").eq_missing(pl.col("recorded_cost")).all()).item()
    notes = " | ".join(result.notes())
    assert "2 calls cost reported by the source" in notes and "1 calls no price known" in notes
    body = result.to_dict()
    assert body["kept_as_recorded"] == {"reported": 2, "unpriced": 1, "response_cache_hit": 1}
    assert body["repriced_calls"] == 4


def test_run_whatif_scales_the_window_to_a_month(ledger) -> None:
    half_month = Filters(since=T0 - timedelta(days=5), until=T0 + timedelta(days=10))
    policy = Policy(substitutions=[Substitution(task_type="classify", model="gpt-4o-mini")])
    body = run_whatif(ledger, half_month, policy, Pricer(), resamples=50)
    expected = cost(GPT4O, 1000, 100) - cost(GPT4O_MINI, 1000, 100)  # t1/a; t7 is kept (reported)
    assert body["window"]["days"] == 15.0
    assert body["savings_usd"] == pytest.approx(expected, rel=1e-12)
    assert body["monthly_savings_usd"] == pytest.approx(2 * expected, rel=1e-12)
    assert body["savings_pct"] == pytest.approx(100 * expected / body["recorded_cost_usd"], rel=1e-12)


def test_default_window_is_the_last_30_days_of_data_clipped_at_the_first_call() -> None:
    wh = connect("duckdb:///:memory:")
    Pipeline(wh, Pricer()).ingest([call("old", "a", -60 * 24 * 45), call("new", "a", 0)], [])
    window = resolve_window(wh, Filters())
    assert window.until == T0 + timedelta(microseconds=1)
    assert window.since == window.until - timedelta(days=30)
    young = connect("duckdb:///:memory:")
    Pipeline(young, Pricer()).ingest([call("a", "a", -60 * 24 * 3), call("b", "a", 0)], [])
    assert resolve_window(young, Filters()).since == T0 - timedelta(days=3)
    assert run_whatif(wh, Filters(), Policy(), Pricer())["calls"] == 1


def test_bootstrap_interval_is_seeded_and_brackets_the_total() -> None:
    rng = np.random.default_rng(1)
    per_session = rng.exponential(2.0, size=300)
    low, high = bootstrap_total_ci(per_session, resamples=1000, seed=7)
    assert (low, high) == bootstrap_total_ci(per_session, resamples=1000, seed=7)
    assert low < per_session.sum() < high
    # the spread of a sum of n iid sessions is about sqrt(n) x their standard deviation
    sd = np.sqrt(per_session.size) * per_session.std()
    assert 3.0 * sd < high - low < 4.9 * sd
    assert bootstrap_total_ci(np.array([]), 100) == (0.0, 0.0)
    assert bootstrap_total_ci(np.array([2.5]), 100) == (2.5, 2.5)


def test_the_interval_does_not_depend_on_row_order() -> None:
    calls = [
        call(f"t{i}", "c", i, session_id=f"s{i % 7}", input_tokens=1000 + 97 * i, task_type="a")
        for i in range(40)
    ]
    frame = frame_of(calls)
    policy = Policy(substitutions=[Substitution(model="gpt-4o-mini")])
    first = replay(frame, policy, Pricer(), resamples=300, seed=3).savings_ci_usd
    shuffled = replay(
        frame.sample(fraction=1.0, shuffle=True, seed=11), policy, Pricer(), resamples=300, seed=3
    )
    assert shuffled.savings_ci_usd == pytest.approx(first, rel=1e-12)
    assert first[0] < first[1]


@pytest.mark.parametrize("backend", ["duckdb", "chdb"])
def test_steps_count_the_trace_calls_outside_the_window_and_the_filters(backend: str, tmp_path) -> None:
    url = "duckdb:///:memory:" if backend == "duckdb" else f"chdb:///{tmp_path / 'chdb'}"
    wh = connect(url)
    try:
        calls = [
            call("t1", "a", 0, agent_name="x"),  # before the window
            call("t1", "b", 1, agent_name="y"),  # another agent
            call("t1", "c", 2, agent_name="x"),
            call("t1", "d", 3, agent_name="x"),
            call("t2", "a", 2, agent_name="x"),  # a trace wholly in scope
            call("t2", "b", 2, agent_name="x"),  # same start: then by span id
        ]
        Pipeline(wh, Pricer()).ingest(calls, [])
        for agent, expected in (
            ("x", {("t1", "c"): 3, ("t1", "d"): 4, ("t2", "a"): 1, ("t2", "b"): 2}),
            (None, {("t1", "b"): 2, ("t1", "c"): 3, ("t1", "d"): 4, ("t2", "a"): 1, ("t2", "b"): 2}),
        ):
            scope = Filters(since=T0 + timedelta(seconds=30), until=T0 + timedelta(minutes=10), agent=agent)
            frame = load_calls(wh, scope, resolve_window(wh, scope))
            steps = {(r["trace_id"], r["span_id"]): r["step"] for r in frame.iter_rows(named=True)}
            assert steps == expected
            assert frame["started_at"].is_sorted()
    finally:
        wh.close()


def test_a_group_of_unpriced_calls_costs_an_unknown_amount_not_zero(ledger) -> None:
    calls = load_calls(ledger, WINDOW, resolve_window(ledger, WINDOW))
    result = replay(calls.with_columns(pl.lit("a").alias("agent_name")), Policy(), Pricer(), resamples=10)
    by_model = {row["key"]: row for row in result.breakdown("model")}
    unpriced = by_model["my-private-model"]  # one unpriced call, one with a reported cost
    assert unpriced["recorded_cost_usd"] == pytest.approx(0.042)
    only_unpriced = replay(
        calls.filter(pl.col("cost_usd").is_null()), Policy(), Pricer(), resamples=10
    ).breakdown("provider")
    assert [(r["key"], r["recorded_cost_usd"], r["replayed_cost_usd"]) for r in only_unpriced] == [
        ("acme", None, None)
    ]


def test_a_batch_discount_per_provider_names_the_provider_as_written_or_as_the_catalog_knows_it() -> None:
    frame = frame_of(
        [
            call("t1", "a", 0, provider="azure.ai.openai"),
            call("t2", "a", 1, provider="openai"),
        ]
    )
    recorded = frame["cost_usd"].to_list()
    for written in ("azure", "azure.ai.openai", "AZURE.AI.OPENAI"):
        result = replay(frame, Policy(batch=Batch(provider_discounts={written: 0.0})), Pricer(), resamples=10)
        saved = dict(zip(result.per_call["provider"], result.per_call["saving"], strict=True))
        assert saved["azure.ai.openai"] == 0.0, written  # no batch discount on Azure here
        assert saved["openai"] == pytest.approx(0.5 * recorded[1]), written


def test_a_substitution_from_one_provider_leaves_the_same_model_elsewhere_alone() -> None:
    frame = frame_of([call("t1", "a", 0, provider="azure.ai.openai"), call("t2", "a", 1, provider="openai")])
    rule = Substitution(from_model="gpt-4o", from_provider="openai", model="gpt-4o-mini", provider="openai")
    result = replay(frame, Policy(substitutions=[rule]), Pricer(), resamples=10)
    saved = dict(zip(result.per_call["provider"], result.per_call["saving"], strict=True))
    assert saved["azure.ai.openai"] == 0.0
    assert saved["openai"] == pytest.approx(cost(GPT4O, 1000, 100) - cost(GPT4O_MINI, 1000, 100))


def test_calls_recorded_at_other_prices_than_todays_are_named_in_the_notes() -> None:
    frame = frame_of([call("t1", "a", 0), call("t2", "a", 1)])
    result = replay(frame, Policy(), Pricer(), resamples=10)
    assert not any("other prices" in n for n in result.notes())
    stale = frame.with_columns(
        pl.when(pl.col("trace_id") == "t1").then(pl.col("cost_usd") * 3).otherwise(pl.col("cost_usd"))
    )
    notes = replay(stale, Policy(), Pricer(), resamples=10).notes()
    assert any(n.startswith("1 calls were recorded at other prices") for n in notes)
