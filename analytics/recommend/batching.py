"""Batching: task types nobody waits for, priced at the provider's batch discount.

A task type is not user-facing when the settings list it (``non_interactive_task_types``) or when at least
``batch_min_tag_share`` of its calls carry the tag ``<interactive_tag>=false``; then only those calls are
priced in batch, not the ones tagged otherwise. Only providers with a batch API (``batch_providers``) are
counted: the others' calls keep their price.
"""

from __future__ import annotations

import polars as pl

from agentledger.analytics.recommend.base import TARGET_COLUMNS, Context, Finding, target_of
from agentledger.analytics.whatif.levers import tagged_false
from agentledger.analytics.whatif.policy import Batch, Policy
from agentledger.core.pricing import provider_matches

__all__ = ["recommend_batching"]


def _non_interactive(ctx: Context) -> dict[str, str]:
    """Task type -> how we know it is not user-facing ("settings" or "tag")."""
    o = ctx.options
    known = {task_type: "settings" for task_type in o.non_interactive_task_types}
    calls = ctx.priced_columns(*TARGET_COLUMNS, "tags").filter(pl.col("task_type").is_not_null())
    if calls.height == 0:
        return known
    flagged = calls.with_columns(tagged_false(calls, o.interactive_tag).alias("batchable"))
    shares = flagged.group_by("task_type").agg(pl.col("batchable").mean(), pl.len().alias("calls"))
    for row in shares.iter_rows(named=True):
        if row["calls"] >= o.min_calls and row["batchable"] >= o.batch_min_tag_share:
            known.setdefault(row["task_type"], "tag")
    return known


def _has_batch_api(provider: str, ctx: Context) -> bool:
    """Whether ``provider`` is one of the options' ``batch_providers``."""
    return any(provider_matches(name, provider) for name in ctx.options.batch_providers)


def recommend_batching(ctx: Context) -> Finding:
    """A batch-pricing recommendation per non-interactive task type."""
    o = ctx.options
    finding = Finding()
    priced = ctx.priced_columns(*TARGET_COLUMNS, "tags")
    for task_type, basis in sorted(_non_interactive(ctx).items()):
        calls = priced.filter(pl.col("task_type") == task_type)
        if basis == "tag":  # only the calls tagged non-interactive: one tagged interactive stays as it is
            calls = calls.filter(tagged_false(calls, o.interactive_tag))
        # Providers without a batch API (DeepSeek, a self-hosted model priced by override) save nothing.
        without = sorted({p for p in calls["provider"].drop_nulls().unique() if not _has_batch_api(p, ctx)})
        # A call without a provider is priced at the default discount, as a policy's batch lever prices it.
        calls = calls.filter(pl.col("provider").is_null() | ~pl.col("provider").is_in(without))
        if calls.height == 0:
            continue
        batch = Batch(
            task_types=[task_type],
            discount=o.batch_discount,
            provider_discounts=dict.fromkeys(without, 0.0),
            non_interactive_tag=o.interactive_tag if basis == "tag" else None,
        )
        result = ctx.replay(Policy(batch=batch))
        how = (
            "listed in non_interactive_task_types"
            if basis == "settings"
            else f"calls tagged {o.interactive_tag}=false"
        )
        finding.recommendations.append(
            ctx.from_replay(
                "batching",
                target_of(calls, task_type),
                result,
                confidence="high" if basis == "settings" else "medium",
                evidence={
                    "calls": calls.height,
                    "non_interactive_because": how,
                    "batch_discount": o.batch_discount,
                    "providers_without_batch_api": without,
                },
                risk="Batch results arrive within 24 hours, not seconds; calls already sent through a batch "
                "API and priced with a batch override would not save again",
                action=f"Send {task_type} calls through the provider's batch API",
            )
        )
    return finding
