"""Batching: task types nobody waits for, priced at the provider's batch discount.

A task type is not user-facing when the settings list it (``non_interactive_task_types``) or when at least
``batch_min_tag_share`` of its calls carry the tag ``<interactive_tag>=false``.
"""

from __future__ import annotations

import polars as pl

from agentledger.analytics.recommend.base import TARGET_COLUMNS, Context, Finding, target_of
from agentledger.analytics.whatif.policy import Batch, Policy

__all__ = ["recommend_batching", "tag_value"]

_FALSE = ("false", "0", "no")


def tag_value(calls: pl.DataFrame, key: str) -> pl.Series:
    """The value of tag ``key`` of every call (null where absent), from a Map column or the list of
    key/value structs a backend may return instead."""
    dtype = calls.schema["tags"]
    if isinstance(dtype, pl.List):
        values = calls.select(
            pl.col("tags")
            .list.eval(pl.element().filter(pl.element().struct.field("key") == key))
            .list.first()
            .struct.field("value")
        )
        return values.to_series()
    return calls.select(pl.col("tags").map.get(key)).to_series()


def _non_interactive(ctx: Context) -> dict[str, str]:
    """Task type -> how we know it is not user-facing ("settings" or "tag")."""
    o = ctx.options
    known = {task_type: "settings" for task_type in o.non_interactive_task_types}
    calls = ctx.priced_columns(*TARGET_COLUMNS, "tags").filter(pl.col("task_type").is_not_null())
    if calls.height == 0:
        return known
    flagged = calls.with_columns(
        tag_value(calls, o.interactive_tag)
        .str.to_lowercase()
        .is_in(_FALSE)
        .fill_null(False)
        .alias("batchable")
    )
    shares = flagged.group_by("task_type").agg(pl.col("batchable").mean(), pl.len().alias("calls"))
    for row in shares.iter_rows(named=True):
        if row["calls"] >= o.min_calls and row["batchable"] >= o.batch_min_tag_share:
            known.setdefault(row["task_type"], "tag")
    return known


def recommend_batching(ctx: Context) -> Finding:
    """A batch-pricing recommendation per non-interactive task type."""
    o = ctx.options
    finding = Finding()
    priced = ctx.priced_columns(*TARGET_COLUMNS)
    for task_type, basis in sorted(_non_interactive(ctx).items()):
        calls = priced.filter(pl.col("task_type") == task_type)
        if calls.height == 0:
            continue
        result = ctx.replay(Policy(batch=Batch(task_types=[task_type], discount=o.batch_discount)))
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
                },
                risk="Batch results arrive within 24 hours, not seconds; calls already sent through a batch "
                "API and priced with a batch override would not save again",
                action=f"Send {task_type} calls through the provider's batch API",
            )
        )
    return finding
