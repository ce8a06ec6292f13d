"""Which calls a what-if policy can change, so that a replay gathers only those rows.

A lever never changes a call outside its own selection (task types, agents, the substituted model), and what
it reads from the rest of the window (trace baselines, prefix estimates) is computed beforehand over all of
it by :func:`agentledger.analytics.whatif.replay.prepare_calls`.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from agentledger.analytics.whatif import levers
from agentledger.analytics.whatif.policy import Policy

__all__ = ["TOKEN_COLUMNS", "lever_columns", "scope_rows"]

TOKEN_COLUMNS = (
    "input_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "output_tokens",
    "reasoning_tokens",
)

# The prepared columns the replay reads whatever the policy, and those each lever adds (see :mod:`.levers`);
# a scoped replay gathers only these.
_BASE_COLUMNS = ("repriceable", "started_at", "provider", "price_model", *TOKEN_COLUMNS, "base_cost")
_SELECTION = ("task_type", "agent_name")
_LEVER_COLUMNS = {
    "substitutions": (*_SELECTION, "model", "model_requested"),
    "context_cap": (*_SELECTION, "trace_base_input", "trace_distance", "source", "trace_id", "step"),
    "prompt_trim": (*_SELECTION, "prefix_estimate", "prefix_hash", "session_key"),
    "max_tokens": _SELECTION,
    "response_cache": (*_SELECTION, "project_id", "trace_key", "prompt_hash", "status"),
    "prompt_caching": (
        *_SELECTION,
        "session_key",
        "trace_key",
        "prefix_hash",
        "prefix_estimate",
    ),
    "batch": (*_SELECTION, "tags"),
}


_DERIVED = frozenset(("trace_base_input", "trace_distance", "prefix_estimate"))


def lever_columns(calls: pl.DataFrame, policy: Policy) -> list[str]:
    """The columns of ``calls`` a replay of ``policy`` reads."""
    wanted = dict.fromkeys(_BASE_COLUMNS)
    for lever in policy.levers():
        wanted.update(dict.fromkeys(_LEVER_COLUMNS[lever]))
    present = set(calls.columns)
    return [name for name in wanted if name in present]


def scope_rows(calls: pl.DataFrame, policy: Policy) -> np.ndarray | None:
    """The rows of the prepared ``calls`` that ``policy``'s levers can change (ascending), or None when a
    lever reaches every call (or the policy sets none, which changes nothing).

    A lever never changes a call outside its own selection (task types, agents, the substituted model);
    levers applied after another act only on what that one selected or on their own selection.
    """
    if not _DERIVED.issubset(calls.columns):
        return None  # the window-wide figures must come from the whole window
    masks: list[np.ndarray] = []
    for rule in policy.substitutions:
        if (
            rule.task_type is None
            and rule.agent is None
            and rule.from_model is None
            and rule.from_provider is None
        ):
            return None
        mask = (
            levers.select(calls, "task_type", rule.task_type)
            & levers.select(calls, "agent_name", rule.agent)
            & levers.provider_mask(calls, rule.from_provider)
        )
        if rule.from_model is not None:
            mask &= levers.select(calls, "model", rule.from_model) | levers.select(
                calls, "model_requested", rule.from_model
            )
        masks.append(mask)
    for cap in policy.max_tokens:
        if cap.task_type is None and cap.agent is None:
            return None
        masks.append(
            levers.select(calls, "task_type", cap.task_type) & levers.select(calls, "agent_name", cap.agent)
        )
    for name in ("context_cap", "prompt_trim", "response_cache", "prompt_caching", "batch"):
        lever = getattr(policy, name)
        if lever is None:
            continue
        if lever.task_types is None and lever.agents is None:
            return None
        masks.append(levers.scope_mask(calls, lever))
    if not masks:
        return None
    reached = calls["repriceable"].to_numpy().astype(bool) & np.logical_or.reduce(masks)
    return np.flatnonzero(reached)
