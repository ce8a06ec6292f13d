"""On the constructed histories, any two policies combined save no more than the sum of each alone."""

from __future__ import annotations

from itertools import combinations

import pytest
from recommend_histories import (
    OPTIONS,
    SETTINGS,
    WINDOW,
    classification_history,
    duplicate_history,
    ledger,
    output_cap_history,
    plain_history,
    system_prompt_history,
)

from agentledger.analytics.recommend import recommend
from agentledger.analytics.whatif import (
    Policy,
    load_calls,
    parse_policy,
    prepare_calls,
    replay,
    resolve_window,
)
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

GENERIC = [
    Policy(batch=Batch()),
    Policy(response_cache=ResponseCache()),
    Policy(prompt_caching=PromptCaching()),
    Policy(max_tokens=[OutputCap(max_tokens=300)]),
    Policy(context_cap=ContextCap(keep_last_turns=3)),
    Policy(prompt_trim=PromptTrim(prefix_target_tokens=2000)),
    Policy(
        substitutions=[
            Substitution(from_model="gpt-4o", model="gpt-4o-mini", provider="openai"),
            Substitution(from_model="claude-sonnet-4", model="claude-3-5-haiku", provider="anthropic"),
        ]
    ),
]


@pytest.mark.parametrize(
    "history",
    [classification_history, system_prompt_history, duplicate_history, output_cap_history, plain_history],
)
def test_combined_policies_are_sub_additive(history) -> None:
    wh = ledger(history())
    pricer = Pricer()
    calls = prepare_calls(load_calls(wh, WINDOW, resolve_window(wh, WINDOW)), pricer)
    found = [parse_policy(r.policy) for r in recommend(wh, WINDOW, SETTINGS, OPTIONS) if r.policy]
    policies = found + GENERIC
    alone = [replay(calls, p, pricer, resamples=1).savings_usd for p in policies]
    checked = 0
    for (i, a), (j, b) in combinations(enumerate(policies), 2):
        if (set(a.levers()) & set(b.levers())) - {"substitutions", "max_tokens"}:
            continue  # one lever set twice: not a combination a policy can express
        together = replay(calls, a.combine(b), pricer, resamples=1).savings_usd
        assert together <= alone[i] + alone[j] + 1e-9, (a.levers(), b.levers(), together, alone[i], alone[j])
        checked += 1
    assert checked >= 21
