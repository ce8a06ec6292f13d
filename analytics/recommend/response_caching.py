"""Response caching: the share of a task type's calls a response cache would have served (exact prompt
repeats within the TTL, the replay's own count). Above ``response_cache_min_duplicate_rate`` it is a
recommendation; below it, a note saying it will not pay.
"""

from __future__ import annotations

import polars as pl

from agentledger.analytics._common import dollars
from agentledger.analytics.recommend.base import TARGET_COLUMNS, Context, Finding, Note, targets_of
from agentledger.analytics.whatif.policy import Policy, ResponseCache

__all__ = ["recommend_response_caching"]


def recommend_response_caching(ctx: Context) -> Finding:
    """A response cache per task type whose exact-duplicate rate is above the threshold; a note below."""
    o = ctx.options
    with_hash = ctx.priced_columns(*TARGET_COLUMNS, "prompt_hash").filter(
        pl.col("prompt_hash").is_not_null() & pl.col("task_type").is_not_null()
    )
    finding = Finding()
    counts = with_hash.group_by("task_type", maintain_order=True).len()
    candidates = [(task_type, calls) for task_type, calls in counts.iter_rows() if calls >= o.min_calls]
    targets = targets_of(with_hash)
    policies = [
        Policy(
            response_cache=ResponseCache(
                task_types=[task_type], scope="project", ttl_seconds=o.response_cache_ttl_seconds
            )
        )
        for task_type, _ in candidates
    ]
    # One pass for every task type; most become notes, which show no interval.
    results = ctx.replay_each(policies, interval=False)
    for (task_type, calls), result in zip(candidates, results, strict=True):
        served = result.served_calls
        rate = served / calls
        if served == 0:
            continue
        target = targets[task_type]
        if rate < o.response_cache_min_duplicate_rate:
            message = (
                f"{rate:.1%} of {task_type} calls repeat an earlier prompt within "
                f"{o.response_cache_ttl_seconds:g} s (below {o.response_cache_min_duplicate_rate:.0%}): "
                f"a response cache would save {dollars(ctx.monthly(result.savings_usd))} a month and will not "
                "pay for its upkeep and staleness risk"
            )
            finding.notes.append(
                Note(
                    kind="response_caching",
                    target=target,
                    message=message,
                    monthly_savings_usd=ctx.monthly(result.savings_usd),
                )
            )
            continue
        evidence = {
            "calls_with_prompt_hash": calls,
            "duplicate_calls": served,
            "duplicate_rate": rate,
            "ttl_seconds": o.response_cache_ttl_seconds,
        }
        finding.recommendations.append(
            ctx.from_replay(
                "response_caching",
                target,
                ctx.with_interval(result),
                confidence="medium" if rate < 0.5 else "high",
                evidence=evidence,
                risk="Cached answers go stale: only for prompts whose answer does not depend on time or "
                "outside state, and with temperature 0",
                action=f"Put a response cache (exact prompt match, TTL {o.response_cache_ttl_seconds:g} s) "
                f"in front of {task_type} calls, e.g. the gateway's cache",
            )
        )
    return finding
