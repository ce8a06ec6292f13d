"""Compression: less input per call, where the history shows input that need not be sent.

Two findings per task type:
- a large stable prefix (system prompt + tool definitions estimated above ``prefix_target_tokens``):
  replayed as a prompt trim to that target;
- a context growing steadily per step (traces of ``context_min_steps`` steps or more, input rising at
  every step by ``context_min_growth_tokens`` on average): replayed as a cap keeping the last
  ``context_keep_last_turns`` turns. When most of the growth is not the previous step's output, it is
  tool results (or retrieved documents) piling up, and the action says to truncate those.
"""

from __future__ import annotations

import polars as pl

from agentledger.analytics.recommend.base import Context, Finding, number, target_of
from agentledger.analytics.whatif.policy import ContextCap, Policy, PromptTrim

__all__ = ["context_growth", "recommend_compression"]

# A trace grows "steadily" when its input rises at this share of its steps at least.
_RISING_STEPS = 0.8


def _prefix_trim(ctx: Context, task_type: str, calls: pl.DataFrame) -> Finding:
    o = ctx.options
    with_prefix = calls.filter(pl.col("prefix_hash").is_not_null()).with_columns(
        pl.col("input_tokens").min().over(["session_key", "prefix_hash"]).alias("prefix_tokens")
    )
    if with_prefix.height < o.min_calls:
        return Finding()
    prefix = number(with_prefix["prefix_tokens"].median())
    if prefix <= o.prefix_target_tokens:
        return Finding()
    result = ctx.replay(
        Policy(prompt_trim=PromptTrim(task_types=[task_type], prefix_target_tokens=o.prefix_target_tokens))
    )
    evidence = {
        "calls_with_prefix": with_prefix.height,
        "median_prefix_tokens": prefix,
        "prefix_share_of_input": number(with_prefix["prefix_tokens"].sum())
        / max(number(with_prefix["input_tokens"].sum()), 1.0),
        "prefix_target_tokens": o.prefix_target_tokens,
    }
    rec = ctx.from_replay(
        "compression",
        target_of(calls, task_type),
        result,
        confidence="low",
        evidence=evidence,
        risk="Shorter instructions can change behaviour: re-run the task type's evaluation set; the saving "
        "assumes the target size is reached",
        action=f"Trim the system prompt and tool definitions of {task_type} (about {prefix:,.0f} tokens) "
        f"towards {o.prefix_target_tokens:,} tokens: drop unused tools, move examples and reference text "
        "to retrieval",
    )
    return Finding(recommendations=[rec])


def context_growth(calls: pl.DataFrame, min_steps: int) -> pl.DataFrame:
    """Per trace of at least ``min_steps`` calls: steps, input growth per step, share of rising steps,
    and the growth not explained by the previous step's output (tool results, retrieved text)."""
    ordered = calls.sort(["trace_key", "step"]).with_columns(
        pl.col("input_tokens").diff().over("trace_key").alias("growth"),
        pl.col("output_tokens").shift(1).over("trace_key").alias("previous_output"),
    )
    return (
        ordered.group_by("trace_key")
        .agg(
            pl.len().alias("steps"),
            pl.col("trace_id").first(),
            ((pl.col("input_tokens").last() - pl.col("input_tokens").first()) / (pl.len() - 1)).alias(
                "growth_per_step"
            ),
            (pl.col("growth") > 0).mean().alias("rising_share"),
            pl.col("growth").clip(lower_bound=0).sum().alias("total_growth"),
            (pl.col("growth") - pl.col("previous_output")).clip(lower_bound=0).sum().alias("foreign_growth"),
        )
        .filter(pl.col("steps") >= min_steps)
    )


def _context_cap(ctx: Context, task_type: str, calls: pl.DataFrame) -> Finding:
    o = ctx.options
    traces = context_growth(calls, o.context_min_steps)
    if traces.height == 0:
        return Finding()
    steady = traces.filter(
        (pl.col("growth_per_step") >= o.context_min_growth_tokens) & (pl.col("rising_share") >= _RISING_STEPS)
    )
    if steady.height / traces.height < o.context_min_share:
        return Finding()
    total_growth = float(steady["total_growth"].sum())
    tool_share = float(steady["foreign_growth"].sum()) / total_growth if total_growth else 0.0
    keep = o.context_keep_last_turns
    result = ctx.replay(Policy(context_cap=ContextCap(task_types=[task_type], keep_last_turns=keep)))
    if tool_share >= o.tool_result_share:
        action = (
            f"Tool results dominate the input growth of {task_type} ({tool_share:.0%}): truncate or "
            f"summarize tool outputs before they enter the context, and keep the last {keep} turns"
        )
    else:
        action = f"Cap the history of {task_type}: keep the last {keep} turns (or summarize older ones)"
    evidence = {
        "long_traces": traces.height,
        "steadily_growing_traces": steady.height,
        "median_growth_tokens_per_step": number(steady["growth_per_step"].median()),
        "tool_result_share_of_growth": tool_share,
        "keep_last_turns": keep,
    }
    rec = ctx.from_replay(
        "compression",
        target_of(calls, task_type),
        result,
        confidence="medium",
        evidence=evidence,
        risk="Dropped turns may hold facts a later step needs; check the task type's success after the change",
        action=action,
    )
    return Finding(recommendations=[rec])


def recommend_compression(ctx: Context) -> Finding:
    """Prompt trims and context caps per task type (see the module docstring)."""
    finding = Finding()
    typed = ctx.priced.filter(pl.col("task_type").is_not_null())
    for (task_type,), calls in typed.group_by(["task_type"], maintain_order=True):
        finding.extend(_prefix_trim(ctx, task_type, calls))
        finding.extend(_context_cap(ctx, task_type, calls))
    return finding
