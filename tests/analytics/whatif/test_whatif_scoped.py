"""The replay's shortcuts change no result: a replay of only the calls a policy can reach, and one pass for
policies that differ only by task type, give every call, total, interval and count the whole replay gives,
to the bit (property-based, over the oracle test's histories and policies)."""

from __future__ import annotations

import importlib
import math

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal
from test_whatif_oracle import INGEST, PRICER, histories, policies
from whatif_helpers import call, frame_of

from agentledger.analytics.whatif import Policy, ReplayResult, prepare_calls, replay
from agentledger.analytics.whatif.policy import ContextCap, PromptCaching, PromptTrim, ResponseCache
from agentledger.analytics.whatif.replay import replay_each, scope_rows
from agentledger.core.errors import InputError

replay_module = importlib.import_module("agentledger.analytics.whatif.replay")


def _whole(calls: pl.DataFrame, policy: Policy) -> ReplayResult:
    """The replay of every call, as before replays were scoped."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(replay_module, "scope_rows", lambda *_: None)
        return replay(calls, policy, PRICER, resamples=50)


def _assert_same(new: ReplayResult, old: ReplayResult) -> None:
    assert_frame_equal(new.per_call, old.per_call, check_exact=True)
    assert new.savings_usd == old.savings_usd
    assert new.savings_ci_usd == old.savings_ci_usd or all(math.isnan(v) for v in new.savings_ci_usd)
    assert new.added_calls == old.added_calls
    assert new.added_cost_usd == old.added_cost_usd
    assert {k: v for k, v in new.affected.items() if v} == {k: v for k, v in old.affected.items() if v}


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(histories(), policies())
def test_a_scoped_replay_is_the_whole_replay(calls: list, policy: Policy) -> None:
    prepared = prepare_calls(frame_of(calls, INGEST), PRICER)
    try:
        old = _whole(prepared, policy)
    except InputError as exc:
        with pytest.raises(InputError) as raised:
            replay(prepared, policy, PRICER, resamples=50)
        assert str(raised.value) == str(exc)
        return
    _assert_same(replay(prepared, policy, PRICER, resamples=50), old)


_LEVERS = {
    "response_cache": lambda tt, draw: ResponseCache(
        task_types=[tt], scope=draw(st.sampled_from(["project", "trace"])), ttl_seconds=600
    ),
    "prompt_caching": lambda tt, draw: PromptCaching(
        task_types=[tt],
        scope=draw(st.sampled_from(["session", "trace"])),
        min_prefix_tokens=draw(st.sampled_from([0, 1024])),
    ),
    "prompt_trim": lambda tt, draw: PromptTrim(task_types=[tt], prefix_target_tokens=1000),
    "context_cap": lambda tt, draw: ContextCap(
        task_types=[tt], **{draw(st.sampled_from(["keep_last_turns", "summarize_every"])): 1}
    ),
}


@st.composite
def families(draw: st.DrawFn) -> list[Policy]:
    """One lever, with the same settings, restricted to each of some task types in turn."""
    lever = draw(st.sampled_from(sorted(_LEVERS)))
    task_types = draw(st.lists(st.sampled_from(["a", "b", "c"]), min_size=2, max_size=3, unique=True))
    first = _LEVERS[lever](task_types[0], draw)
    settings_of = first.model_dump(exclude={"task_types"})
    return [Policy(**{lever: type(first)(**settings_of, task_types=[tt])}) for tt in task_types]


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(histories(), families())
def test_one_pass_over_several_task_types_is_each_replay(calls: list, policies_: list[Policy]) -> None:
    prepared = prepare_calls(frame_of(calls, INGEST), PRICER)
    try:
        each = [replay(prepared, p, PRICER, resamples=50) for p in policies_]
    except InputError:
        with pytest.raises(InputError):
            replay_each(prepared, policies_, PRICER, resamples=50)
        return
    for new, old in zip(replay_each(prepared, policies_, PRICER, resamples=50), each, strict=True):
        _assert_same(new, old)
    without = replay_each(prepared, policies_, PRICER, resamples=50, interval=False)
    for new, old in zip(without, each, strict=True):
        assert all(math.isnan(v) for v in new.savings_ci_usd)
        assert_frame_equal(new.per_call, old.per_call, check_exact=True)


def test_scope_rows_are_the_calls_a_policy_names() -> None:
    calls = prepare_calls(
        frame_of(
            [
                call("t1", "s1", 0, task_type="a", prompt_hash="P"),
                call("t1", "s2", 1, task_type="b", prompt_hash="P"),
                call("t2", "s3", 2, task_type="a", prompt_hash="P", model="mystery-model"),
            ]
        ),
        PRICER,
    )
    rows = scope_rows(calls, Policy(response_cache=ResponseCache(task_types=["a"])))
    assert rows is not None
    assert calls["span_id"].gather(rows).to_list() == ["s1"]  # not s3: no price, kept as recorded
    assert scope_rows(calls, Policy(response_cache=ResponseCache())) is None  # every call
    assert scope_rows(calls, Policy()) is None
    assert np.array_equal(
        scope_rows(calls, Policy(prompt_trim=PromptTrim(task_types=["a", "b"]))), np.array([0, 1])
    )
