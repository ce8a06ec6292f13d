"""Output caps: ``max_tokens`` far above what a task type ever writes, or outputs cut short too often.

- Far above: the median ``max_tokens`` of a task type is at least ``output_cap_factor`` times its P99
  output. The proposed cap is ``output_cap_headroom`` x P99, rounded up to 16 tokens; the replay cuts the
  outputs above it (runaway answers) and the share it would have cut is the risk. When nothing would have
  been cut, lowering the cap is a guard, not a saving, and it is said in a note.
- Cut short: at least ``output_truncated_share`` of the calls stopped at max_tokens. The saving shown is
  what truncated calls in failed tasks cost (no replay can say how a longer answer would have gone).
"""

from __future__ import annotations

import math

import polars as pl

from agentledger.analytics.recommend.base import (
    TARGET_COLUMNS,
    Context,
    Finding,
    Note,
    Recommendation,
    number,
    target_of,
)
from agentledger.analytics.whatif.policy import OutputCap, Policy

__all__ = ["proposed_cap", "recommend_output_caps"]

_ROUND_TO = 16
_TRUNCATED = ("length", "max_tokens")


def proposed_cap(p99_output: float, headroom: float) -> int:
    """``headroom`` x the P99 output, rounded up to a multiple of 16 tokens."""
    return max(_ROUND_TO, math.ceil(headroom * p99_output / _ROUND_TO) * _ROUND_TO)


def _far_above(ctx: Context, task_type: str, calls: pl.DataFrame) -> Finding:
    o = ctx.options
    capped = calls.filter(pl.col("max_tokens") > 0)
    if capped.height < o.min_calls:
        return Finding()
    p99 = number(capped["output_tokens"].quantile(0.99, "linear"))
    p50_max = number(capped["max_tokens"].median())
    if p50_max < o.output_cap_factor * max(p99, 1.0):
        return Finding()
    cap = proposed_cap(p99, o.output_cap_headroom)
    result = ctx.replay(Policy(max_tokens=[OutputCap(task_type=task_type, max_tokens=cap)]))
    risk = result.truncation_risk()
    target = target_of(calls, task_type)
    if risk["cut_calls"] == 0:
        message = (
            f"{task_type} sets max_tokens {p50_max:,.0f} but writes at most {p99:,.0f} tokens (P99): a cap of "
            f"{cap} would guard against runaway answers; no recorded output would have been cut, so it saves nothing"
        )
        return Finding(notes=[Note(kind="output_caps", target=target, message=message)])
    evidence = {
        "calls_with_max_tokens": capped.height,
        "median_max_tokens": p50_max,
        "p99_output_tokens": p99,
        "proposed_max_tokens": cap,
        **risk,
    }
    rec = ctx.from_replay(
        "output_caps",
        target,
        result,
        confidence="medium" if risk["cut_share"] <= 0.01 else "low",
        evidence=evidence,
        risk=f"{risk['cut_calls']} of {risk['capped_calls']} calls ({risk['cut_share']:.1%}) would have been "
        f"cut at {cap} tokens; check that those long answers were not needed",
        action=f"Set max_tokens={cap} for {task_type} (now {p50_max:,.0f}; P99 output {p99:,.0f})",
    )
    return Finding(recommendations=[rec])


def _cut_short(ctx: Context, task_type: str, calls: pl.DataFrame) -> Finding:
    o = ctx.options
    truncated = pl.col("finish_reason").str.to_lowercase().is_in(_TRUNCATED).fill_null(False)
    marked = calls.with_columns(
        pl.when(truncated & (pl.col("outcome") == "failure"))
        .then(pl.col("cost_usd"))
        .otherwise(0.0)
        .alias("wasted")
    )
    share = float(marked.select(truncated.mean()).item() or 0.0)
    wasted = float(marked["wasted"].sum())
    if calls.height < o.min_calls or share < o.output_truncated_share or wasted <= 0:
        return Finding()
    examples = (
        marked.filter(pl.col("wasted") > 0)
        .group_by("trace_id")
        .agg(pl.col("wasted").sum())
        .sort(["wasted", "trace_id"], descending=[True, False])["trace_id"]
        .head(3)
        .to_list()
    )
    current = number(calls["max_tokens"].drop_nulls().median()) or None
    rec = Recommendation(
        kind="output_caps",
        target=target_of(calls, task_type),
        monthly_savings_usd=ctx.monthly(wasted),
        savings_ci_usd=ctx.session_ci(marked, "wasted"),
        confidence="low",
        evidence={
            "calls": calls.height,
            "truncated_share": share,
            "median_max_tokens": current,
            "wasted_in_failed_tasks_usd": wasted,
            "basis": "cost of truncated calls in failed tasks (not a replay)",
            "example_trace_ids": examples,
        },
        risk="A higher cap lets every answer run longer: it pays only if the truncated answers were "
        "retried or failed their task",
        action=f"{share:.1%} of {task_type} outputs stop at max_tokens: raise max_tokens, or ask for a "
        "shorter output format (a JSON schema, a word limit)",
    )
    return Finding(recommendations=[rec])


def _candidates(ctx: Context, typed: pl.DataFrame) -> list[str]:
    """The task types that may show either finding, in the order they first appear: the tests of
    :func:`_far_above` and :func:`_cut_short` on every task type at once, loosened so that rounding never
    leaves one out (each finding tests its own calls again)."""
    o = ctx.options
    capped = pl.col("max_tokens") > 0
    truncated = pl.col("finish_reason").str.to_lowercase().is_in(_TRUNCATED).fill_null(False)
    summary = typed.group_by("task_type", maintain_order=True).agg(
        pl.len().alias("calls"),
        capped.sum().alias("capped"),
        pl.col("output_tokens").filter(capped).quantile(0.99, "linear").fill_null(0.0).alias("p99"),
        pl.col("max_tokens").filter(capped).median().fill_null(0.0).alias("p50_max"),
        truncated.mean().alias("truncated_share"),
        (truncated & (pl.col("outcome") == "failure")).any().alias("wasted"),
    )
    far_above = (pl.col("capped") >= o.min_calls) & (
        pl.col("p50_max") >= o.output_cap_factor * pl.max_horizontal(pl.col("p99"), 1.0) * (1 - 1e-9)
    )
    cut_short = (
        (pl.col("calls") >= o.min_calls)
        & (pl.col("truncated_share") >= o.output_truncated_share * (1 - 1e-9))
        & pl.col("wasted")
    )
    return summary.filter(far_above | cut_short)["task_type"].to_list()


def recommend_output_caps(ctx: Context) -> Finding:
    """Output-cap recommendations per task type (see the module docstring)."""
    finding = Finding()
    typed = ctx.priced_columns(
        *TARGET_COLUMNS,
        "max_tokens",
        "output_tokens",
        "finish_reason",
        "outcome",
        "cost_usd",
        "trace_id",
        "session_key",
    ).filter(pl.col("task_type").is_not_null())
    for task_type in _candidates(ctx, typed):
        calls = typed.filter(pl.col("task_type") == task_type)
        finding.extend(_far_above(ctx, task_type, calls))
        finding.extend(_cut_short(ctx, task_type, calls))
    return finding
