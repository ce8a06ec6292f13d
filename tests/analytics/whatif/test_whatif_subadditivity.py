"""Levers compose sub-additively: two policies together never save more than the sum of each alone.

Property-based over random OpenAI histories (no cache-write premium there) with levers that each lower or
keep every call's cost; the constructed recommendation histories are checked in
tests/analytics/recommend/test_recommend_subadditivity.py.
"""

from __future__ import annotations

from itertools import combinations

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
from agentledger.core.pricing import Pricer

PRICER = Pricer()

LEVERS = {
    "substitution": Policy(
        substitutions=[Substitution(task_type="a", model="gpt-4o-mini", provider="openai")]
    ),
    "prompt_caching": Policy(prompt_caching=PromptCaching()),
    "response_cache": Policy(response_cache=ResponseCache()),
    "context_cap": Policy(context_cap=ContextCap(keep_last_turns=2)),
    "prompt_trim": Policy(prompt_trim=PromptTrim(prefix_target_tokens=1500)),
    "max_tokens": Policy(max_tokens=[OutputCap(task_type="b", max_tokens=300)]),
    "batch": Policy(batch=Batch(task_types=["a"])),
}

calls_strategy = st.lists(
    st.builds(
        dict,
        trace=st.sampled_from(["t1", "t2", "t3"]),
        minute=st.integers(0, 20),
        model=st.sampled_from(["gpt-4o", "gpt-4.1"]),
        task_type=st.sampled_from(["a", "b"]),
        prefix_hash=st.sampled_from([None, "P", "Q"]),
        prompt_hash=st.sampled_from([None, "A", "B"]),
        input_tokens=st.integers(500, 6000),
        output_tokens=st.integers(0, 800),
        status=st.sampled_from(["ok", "ok", "error"]),
    ),
    min_size=1,
    max_size=14,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(calls_strategy)
def test_two_levers_never_save_more_than_the_sum_of_each(specs: list[dict]) -> None:
    calls = [
        call(s.pop("trace"), f"s{i}", s.pop("minute"), session_id=None, **s) for i, s in enumerate(specs)
    ]
    frame = prepare_calls(frame_of(calls), PRICER)
    alone = {name: replay(frame, policy, PRICER, resamples=1).savings_usd for name, policy in LEVERS.items()}
    assert all(value >= -1e-12 for value in alone.values()), alone
    for a, b in combinations(LEVERS, 2):
        together = replay(frame, LEVERS[a].combine(LEVERS[b]), PRICER, resamples=1).savings_usd
        assert together <= alone[a] + alone[b] + 1e-12, (a, b, together, alone[a], alone[b])
