"""The column-wise replay gives every call the cost the row-by-row replay (``reference_replay``) gives it.

Property-based over generated histories: several providers and models (a long-context price band, a price
by time of day, a per-request fee, user overrides that change at midnight, a model nobody prices), cached
and reasoning tokens, failed and gateway-cached calls, calls over several days; and over policies drawing
every lever with its options. Prepared columns, per-call costs and flags, totals, added summarization calls
and affected counts must agree (costs to 1e-9 relative), and so must the errors.
"""

from __future__ import annotations

import math
from datetime import date

import numpy as np
import polars as pl
import pytest
import reference_replay
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from whatif_helpers import call, frame_of

from agentledger.analytics.whatif import Policy, prepare_calls, replay
from agentledger.analytics.whatif.policy import (
    Batch,
    ContextCap,
    OutputCap,
    PromptCaching,
    PromptTrim,
    ResponseCache,
    Substitution,
)
from agentledger.analytics.whatif.stats import bootstrap_total_ci
from agentledger.core.errors import InputError
from agentledger.core.pricing import PriceOverride, Pricer

_HOUSE = [
    PriceOverride(
        model="house-model", effective_from=date(2025, 6, 1), input_per_mtok=1.0, output_per_mtok=2.0
    ),
    PriceOverride(
        model="house-model",
        effective_from=date(2025, 6, 3),
        input_per_mtok=0.5,
        output_per_mtok=1.5,
        cache_read_per_mtok=0.1,
    ),
    PriceOverride(provider="openai", model="gpt-4.1", effective_from=date(2025, 6, 3), discount=0.2),
    # An override of a requested name beats the catalog price of the response's model.
    PriceOverride(model="gpt-4o-mini", effective_from=date(2025, 6, 2), discount=0.5),
]
# Ingest knows one more model than the replay: its calls have no current price.
INGEST = Pricer(
    overrides=[
        *_HOUSE,
        PriceOverride(
            model="retired-model", effective_from=date(2025, 1, 1), input_per_mtok=4.0, output_per_mtok=8.0
        ),
    ]
)
PRICER = Pricer(overrides=_HOUSE)

MODELS = [
    ("openai", "gpt-4o"),
    ("openai", "gpt-4.1"),
    ("openai", "o3-mini"),
    ("anthropic", "claude-sonnet-4-20250514"),
    ("google", "gemini-2.5-pro"),  # a price band above 200k input tokens
    ("deepseek", "deepseek-chat"),  # priced by time of day
    ("perplexity", "sonar"),  # a fee per request
    ("acme", "house-model"),  # overrides, changing on June 3
    ("acme", "retired-model"),  # no current price
    ("acme", "mystery-model"),  # no price at all
]


@st.composite
def histories(draw: st.DrawFn) -> list:
    n = draw(st.integers(1, 30))
    # A few models per history, so that calls share caches; hours and days apart now and then (prices
    # change at midnight and, for some models, by the hour).
    palette = draw(st.lists(st.sampled_from(MODELS), min_size=1, max_size=3, unique=True))
    calls = []
    for i in range(n):
        provider, model = draw(st.sampled_from(palette))
        minute = (
            draw(st.sampled_from([0, 0, 0, 0, 1, 3])) * 1440
            + draw(st.sampled_from([0, 0, 0, 8, 15])) * 60
            + draw(st.one_of(st.integers(0, 40), st.floats(0, 40, allow_nan=False)))
        )
        inp = draw(st.one_of(st.integers(1500, 6000), st.integers(0, 1500), st.integers(190_000, 260_000)))
        read = draw(st.one_of(st.just(0), st.just(0), st.integers(0, inp // 2)))
        write = draw(st.one_of(st.just(0), st.just(0), st.integers(0, (inp - read) // 2)))
        out = draw(st.integers(0, 2000))
        requested = draw(st.sampled_from([None, model, "gpt-4o-mini", "unknown-model"]))
        calls.append(
            call(
                draw(st.sampled_from(["t1", "t1", "t2", "t3"])),
                f"s{i}",
                minute,
                session_id=draw(st.sampled_from([None, "sa", "sb"])),
                provider=provider,
                model=model,
                model_requested=requested,
                task_type=draw(st.sampled_from(["a", "b", None])),
                agent_name=draw(st.sampled_from(["x", "y", None])),
                prefix_hash=draw(st.sampled_from(["P", "P", "Q", None])),
                prompt_hash=draw(st.sampled_from(["A", "A", "B", None])),
                input_tokens=inp,
                cache_read_tokens=read,
                cache_write_tokens=write,
                output_tokens=out,
                reasoning_tokens=draw(st.integers(0, out)),
                status=draw(st.sampled_from(["ok", "ok", "error"])),
                response_cache_hit=draw(st.sampled_from([None, None, None, None, False, True])),
                cost_reported_usd=draw(st.sampled_from([None, None, 0.01])),
            )
        )
    return calls


def _scope(draw: st.DrawFn) -> dict:
    return {
        "task_types": draw(st.sampled_from([None, ["a"], ["a", "b"]])),
        "agents": draw(st.sampled_from([None, ["x"]])),
    }


@st.composite
def policies(draw: st.DrawFn) -> Policy:
    levers: dict = {}
    if draw(st.booleans()):
        levers["substitutions"] = [
            Substitution(
                task_type=draw(st.sampled_from([None, "a", "b"])),
                agent=draw(st.sampled_from([None, "x"])),
                from_model=draw(st.sampled_from([None, "gpt-4o", "gemini-2.5-pro", "gpt-4o-mini"])),
                model=draw(
                    st.sampled_from(
                        ["gpt-4o-mini", "claude-3-5-haiku-latest", "house-model", "deepseek-chat"]
                    )
                ),
                provider=draw(st.sampled_from([None, "openai", "anthropic"])),
                output_ratio=draw(st.sampled_from([1.0, 0.5, 1.37, 2.0])),
            )
            for _ in range(draw(st.integers(1, 2)))
        ]
    if draw(st.booleans()):
        levers["prompt_caching"] = PromptCaching(
            ttl_seconds=draw(st.sampled_from([300, 60, 3600])),
            scope=draw(st.sampled_from(["session", "trace"])),
            prefix_tokens=draw(st.sampled_from([3000, None, 800])),
            min_prefix_tokens=draw(st.sampled_from([0, 500, 1024])),
            **_scope(draw),
        )
    if draw(st.booleans()):
        levers["response_cache"] = ResponseCache(
            scope=draw(st.sampled_from(["project", "trace"])),
            ttl_seconds=draw(st.sampled_from([600, 60, 3600, 86400])),
            **_scope(draw),
        )
    if draw(st.booleans()):
        levers["prompt_trim"] = PromptTrim(prefix_target_tokens=draw(st.integers(100, 3000)), **_scope(draw))
    if draw(st.booleans()):
        mode = draw(st.sampled_from(["keep_last_turns", "summarize_every"]))
        levers["context_cap"] = ContextCap(
            **{mode: draw(st.integers(1, 4))},
            summary_tokens=draw(st.integers(1, 600)),
            summarizer_model=draw(st.sampled_from(["gpt-4o-mini", "house-model", "mystery-model"])),
            summarizer_provider=draw(st.sampled_from(["openai", None])),
            **_scope(draw),
        )
    if draw(st.booleans()):
        levers["max_tokens"] = [
            OutputCap(
                task_type=draw(st.sampled_from([None, "a", "b"])),
                agent=draw(st.sampled_from([None, "x"])),
                max_tokens=draw(st.integers(1, 1500)),
            )
            for _ in range(draw(st.integers(1, 2)))
        ]
    if draw(st.booleans()):
        levers["batch"] = Batch(
            discount=draw(st.sampled_from([0.0, 0.5])),
            provider_discounts=draw(st.sampled_from([{}, {"OpenAI": 0.4}, {"anthropic": 0.0}])),
            **_scope(draw),
        )
    return Policy(**levers)


def _close(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-15)


def _assert_columns_close(new: pl.DataFrame, old: pl.DataFrame, column: str) -> None:
    for a, b in zip(new[column].to_list(), old[column].to_list(), strict=True):
        assert _close(a, b), (column, a, b)


def _replay_both(frame: pl.DataFrame, policy: Policy):
    try:
        old = reference_replay.replay(
            reference_replay.prepare_calls(frame, PRICER), policy, PRICER, resamples=50
        )
    except InputError as exc:
        with pytest.raises(InputError) as raised:
            replay(prepare_calls(frame, PRICER), policy, PRICER, resamples=50)
        assert str(raised.value) == str(exc)
        return None, None
    return replay(prepare_calls(frame, PRICER), policy, PRICER, resamples=50), old


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(histories(), policies())
def test_the_column_wise_replay_matches_the_row_by_row_one(calls: list, policy: Policy) -> None:
    frame = frame_of(calls, INGEST)
    prepared, reference = prepare_calls(frame, PRICER), reference_replay.prepare_calls(frame, PRICER)
    for column in ("kept_reason", "price_model", "repriceable", "session_key", "trace_key"):
        assert prepared[column].to_list() == reference[column].to_list(), column
    _assert_columns_close(prepared, reference, "base_cost")

    new, old = _replay_both(frame, policy)
    if new is None:
        return
    flags = ("model_after", "repriceable", "kept_reason", "free", "capped", "cut", "summarized", "span_id")
    for column in flags:
        assert new.per_call[column].to_list() == old.per_call[column].to_list(), column
    for column in ("recorded_cost", "replayed_cost", "saving"):
        _assert_columns_close(new.per_call, old.per_call, column)
    assert _close(new.recorded_cost_usd, old.recorded_cost_usd)
    assert _close(new.replayed_cost_usd, old.replayed_cost_usd)
    assert math.isclose(new.savings_usd, old.savings_usd, rel_tol=1e-9, abs_tol=1e-12)
    assert new.added_calls == old.added_calls
    assert math.isclose(new.added_cost_usd, old.added_cost_usd, rel_tol=1e-9, abs_tol=1e-15)
    assert new.affected == old.affected
    assert new.kept() == old.kept()
    assert new.truncation_risk() == old.truncation_risk()


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.one_of(st.just(0.0), st.floats(-5, 5, allow_nan=False)), max_size=60),
    st.integers(1, 400),
    st.integers(0, 2**32),
)
def test_the_session_bootstrap_is_seeded_and_brackets_only_reachable_totals(
    values: list[float], resamples: int, seed: int
) -> None:
    per_session = np.array(values)
    low, high = bootstrap_total_ci(per_session, resamples=resamples, seed=seed)
    assert (low, high) == bootstrap_total_ci(per_session, resamples=resamples, seed=seed)
    assert low <= high
    n = per_session.size
    # A resample's total lies between n times the least and n times the largest session value.
    lowest = n * min(values, default=0.0)
    highest = n * max(values, default=0.0)
    assert lowest - 1e-9 <= low and high <= highest + 1e-9


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["t1", "t2"]),
            st.integers(0, 90),
            st.sampled_from(["A", "B"]),
            st.sampled_from(["ok", "ok", "error"]),
            st.integers(500, 5000),
        ),
        min_size=1,
        max_size=40,
    ),
    st.integers(1, 1800),
    st.integers(1, 1800),
    st.sampled_from(["session", "trace"]),
    st.sampled_from(["project", "trace"]),
)
def test_the_cache_levers_time_to_live_rules_match_the_row_by_row_ones(
    specs: list[tuple], prompt_ttl: int, response_ttl: int, prompt_scope: str, response_scope: str
) -> None:
    calls = [
        call(trace, f"s{i}", minute, prompt_hash=prompt, prefix_hash="P", status=status, input_tokens=inp)
        for i, (trace, minute, prompt, status, inp) in enumerate(specs)
    ]
    frame = frame_of(calls, INGEST)
    for policy in (
        Policy(prompt_caching=PromptCaching(ttl_seconds=prompt_ttl, scope=prompt_scope, min_prefix_tokens=0)),
        Policy(response_cache=ResponseCache(ttl_seconds=response_ttl, scope=response_scope)),
        Policy(
            prompt_caching=PromptCaching(ttl_seconds=prompt_ttl, prefix_tokens=400),
            response_cache=ResponseCache(ttl_seconds=response_ttl, scope=response_scope),
        ),
    ):
        new, old = _replay_both(frame, policy)
        assert new.per_call["free"].to_list() == old.per_call["free"].to_list()
        _assert_columns_close(new.per_call, old.per_call, "saving")
        assert new.affected == old.affected
