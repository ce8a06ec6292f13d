"""Each lever of the replay against a hand computation on a small priced history."""

from __future__ import annotations

import pytest
from whatif_helpers import GPT4O, GPT4O_MINI, SONNET4, call, cost, frame_of

from agentledger.analytics.whatif import Policy, replay
from agentledger.analytics.whatif.policy import (
    Batch,
    ContextCap,
    OutputCap,
    PromptCaching,
    PromptTrim,
    ResponseCache,
    Substitution,
)
from agentledger.core.errors import InputError
from agentledger.core.pricing import Pricer

PRICER = Pricer()


def saving(calls, policy: Policy) -> float:
    return replay(frame_of(calls), policy, PRICER, resamples=10).savings_usd


def test_substitution_reprices_the_same_volumes_with_the_output_ratio() -> None:
    calls = [call(f"t{i}", "c", i, task_type="classify") for i in range(3)] + [
        call("u", "c", 9, task_type="chat")
    ]
    policy = Policy(substitutions=[Substitution(task_type="classify", model="gpt-4o-mini", output_ratio=1.5)])
    result = replay(frame_of(calls), policy, PRICER, resamples=10)
    expected = 3 * (cost(GPT4O, 1000, 100) - cost(GPT4O_MINI, 1000, 150))
    assert result.savings_usd == pytest.approx(expected, rel=1e-12)
    by_type = {row["key"]: row["savings_usd"] for row in result.breakdown("task_type")}
    assert by_type == {"classify": pytest.approx(expected, rel=1e-12), "chat": 0.0}
    assert result.affected["substitutions"] == 3


def test_first_matching_substitution_wins_and_from_model_restricts() -> None:
    calls = [
        call("a", "c", 0, task_type="classify"),
        call("b", "c", 1, task_type="classify", model="gpt-4o-mini"),
    ]
    policy = Policy(
        substitutions=[
            Substitution(task_type="classify", from_model="gpt-4o", model="gpt-4o-mini"),
            Substitution(task_type="classify", model="gpt-4o"),  # would make the mini call dearer
        ]
    )
    result = replay(frame_of(calls), policy, PRICER, resamples=10)
    after = dict(zip(result.per_call["trace_id"], result.per_call["model_after"], strict=True))
    assert after == {"a": "gpt-4o-mini", "b": "gpt-4o"}


def _session(model: str, minutes: list[float], **kw) -> list:
    return [
        call("t", f"s{i}", m, model=model, input_tokens=3000 + 500 * i, prefix_hash="P", **kw)
        for i, m in enumerate(minutes)
    ]


def test_prompt_caching_writes_once_and_reads_after_at_anthropic_rates() -> None:
    calls = _session("claude-sonnet-4", [0, 1, 2, 3])
    # prefix = least input sharing the hash = 3000: a write at the first call (premium), reads after.
    write_premium = 3000 * (SONNET4[2] - SONNET4[0]) / 1e6
    read_discount = 3000 * (SONNET4[0] - SONNET4[1]) / 1e6
    assert saving(calls, Policy(prompt_caching=PromptCaching())) == pytest.approx(
        3 * read_discount - write_premium, rel=1e-12
    )


def test_prompt_caching_at_openai_has_no_write_premium() -> None:
    calls = _session("gpt-4o", [0, 1, 2, 3])
    result = replay(frame_of(calls), Policy(prompt_caching=PromptCaching()), PRICER, resamples=10)
    saved = dict(zip(result.per_call["span_id"], result.per_call["saving"], strict=True))
    assert saved["s0"] == 0.0  # the write is billed like plain input: the catalog has no premium for OpenAI
    assert result.savings_usd == pytest.approx(3 * 3000 * (GPT4O[0] - GPT4O[1]) / 1e6, rel=1e-12)


@pytest.mark.parametrize(
    ("minutes", "ttl", "reads"),
    [
        ([0, 6, 12], 300, 0),  # every gap beyond the TTL: nothing is written, nothing read
        ([0, 4, 8], 300, 2),  # each read refreshes the TTL
        ([0, 4, 8], 180, 0),
        ([0, 1, 10, 11], 300, 2),  # expired at 10: written again, read at 11
    ],
)
def test_prompt_caching_ttl(minutes: list[float], ttl: float, reads: int) -> None:
    calls = _session("gpt-4o", minutes)
    expected = reads * 3000 * (GPT4O[0] - GPT4O[1]) / 1e6
    assert saving(calls, Policy(prompt_caching=PromptCaching(ttl_seconds=ttl))) == pytest.approx(
        expected, abs=1e-15
    )


def test_prompt_caching_prefix_size_minimum_and_existing_reads() -> None:
    calls = _session("gpt-4o", [0, 1, 2])
    explicit = Policy(prompt_caching=PromptCaching(prefix_tokens=2000))
    assert saving(calls, explicit) == pytest.approx(2 * 2000 * (GPT4O[0] - GPT4O[1]) / 1e6, rel=1e-12)
    short = [call("t", f"s{i}", i, input_tokens=800, prefix_hash="P") for i in range(3)]
    assert saving(short, Policy(prompt_caching=PromptCaching())) == 0.0  # below 1,024 tokens
    cached = [
        call("t", f"s{i}", i, input_tokens=3000, cache_read_tokens=3000 if i else 0, prefix_hash="P")
        for i in range(3)
    ]
    assert saving(cached, Policy(prompt_caching=PromptCaching())) == 0.0  # already read from the cache


def test_response_cache_ttl_from_the_store_and_failed_calls_store_nothing() -> None:
    calls = [
        call("a1", "c", 0, prompt_hash="A"),
        call("a2", "c", 10, prompt_hash="A"),  # served
        call("a3", "c", 70, prompt_hash="A"),  # 70 min after the store: expired, stores again
        call("a4", "c", 80, prompt_hash="A"),  # served
        call("b1", "c", 0, prompt_hash="B", status="error"),  # a failure is not cached
        call("b2", "c", 5, prompt_hash="B"),  # stores
        call("b3", "c", 6, prompt_hash="B"),  # served
        call("x", "c", 7, prompt_hash="A", model="gpt-4o-mini"),  # another model: its own cache
    ]
    result = replay(frame_of(calls), Policy(response_cache=ResponseCache()), PRICER, resamples=10)
    served = set(result.per_call.filter("free")["trace_id"])
    assert served == {"a2", "a4", "b3"}
    assert result.savings_usd == pytest.approx(3 * cost(GPT4O, 1000, 100), rel=1e-12)


def test_response_cache_per_trace_scope() -> None:
    calls = [
        call("t1", "a", 0, prompt_hash="A"),
        call("t2", "a", 1, prompt_hash="A"),
        call("t2", "b", 2, prompt_hash="A"),
    ]
    result = replay(
        frame_of(calls), Policy(response_cache=ResponseCache(scope="trace")), PRICER, resamples=10
    )
    assert result.per_call.filter("free")[["trace_id", "span_id"]].rows() == [("t2", "b")]


def _growing_trace() -> list:
    return [call("t", f"s{j}", j, input_tokens=1000 * (j + 1)) for j in range(5)]


def test_context_cap_keeps_the_last_turns() -> None:
    # base 1,000, growth 1,000 a step; keeping 2 turns leaves 3,000 at steps 3 and 4 (1,000 + 2,000 removed)
    expected = 3000 * GPT4O[0] / 1e6
    assert saving(_growing_trace(), Policy(context_cap=ContextCap(keep_last_turns=2))) == pytest.approx(
        expected, rel=1e-12
    )


def test_context_cap_summarizes_every_k_steps_and_pays_for_the_summaries() -> None:
    cap = ContextCap(summarize_every=2, summary_tokens=200, summarizer_model="gpt-4o-mini")
    result = replay(frame_of(_growing_trace()), Policy(context_cap=cap), PRICER, resamples=10)
    # step 2: 1,000 + 200 (removes 1,800); step 3: 1,000 + 200 + one step of growth (removes 1,800);
    # step 4: 1,000 + 200 (removes 3,800). Summaries at steps 2 and 4 read 3,000 and 5,000 tokens.
    removed = (1800 + 1800 + 3800) * GPT4O[0] / 1e6
    summaries = cost(GPT4O_MINI, 3000, 200) + cost(GPT4O_MINI, 5000, 200)
    assert result.added_calls == 2
    assert result.added_cost_usd == pytest.approx(summaries, rel=1e-12)
    assert result.savings_usd == pytest.approx(removed - summaries, rel=1e-12)


def test_max_tokens_cuts_outputs_and_reports_the_share_cut() -> None:
    calls = [
        call(f"t{i}", "c", i, task_type="extract", output_tokens=100 + 100 * (i >= 8) * 5) for i in range(10)
    ]
    result = replay(
        frame_of(calls),
        Policy(max_tokens=[OutputCap(task_type="extract", max_tokens=200)]),
        PRICER,
        resamples=10,
    )
    assert result.savings_usd == pytest.approx(2 * 400 * GPT4O[3] / 1e6, rel=1e-12)
    assert result.truncation_risk() == {"capped_calls": 10, "cut_calls": 2, "cut_share": 0.2}


def test_batch_discount_default_and_per_provider() -> None:
    calls = [call("a", "c", 0, task_type="report"), call("b", "c", 1, task_type="chat")]
    half = saving(calls, Policy(batch=Batch(task_types=["report"])))
    assert half == pytest.approx(0.5 * cost(GPT4O, 1000, 100), rel=1e-12)
    custom = saving(calls, Policy(batch=Batch(task_types=["report"], provider_discounts={"OpenAI": 0.3})))
    assert custom == pytest.approx(0.3 * cost(GPT4O, 1000, 100), rel=1e-12)


def test_prompt_trim_removes_the_prefix_above_the_target() -> None:
    calls = [call("t", f"s{i}", i, input_tokens=5000 + 100 * i, prefix_hash="P") for i in range(3)]
    assert saving(calls, Policy(prompt_trim=PromptTrim(prefix_target_tokens=2000))) == pytest.approx(
        3 * 3000 * GPT4O[0] / 1e6, rel=1e-12
    )


def test_a_substitute_without_a_price_is_an_error_naming_the_rule() -> None:
    policy = Policy(substitutions=[Substitution(model="no-such-model-anywhere", provider="nowhere")])
    with pytest.raises(InputError, match=r"substitutions\[0\]\.model: no price for 'no-such-model-anywhere'"):
        replay(frame_of([call("t", "c")]), policy, PRICER, resamples=10)
