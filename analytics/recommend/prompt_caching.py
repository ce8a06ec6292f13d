"""Prompt caching: a stable prefix (same prefix_hash in a session, same model) sent again within the
provider cache's lifetime but billed without any cache read. The saving is the replay of prompt caching
on for the task type: a cache write on first use, reads within the TTL after it, at each provider's rates.
"""

from __future__ import annotations

from datetime import timedelta

import polars as pl

from agentledger.analytics.recommend.base import TARGET_COLUMNS, Context, Finding, number, target_of
from agentledger.analytics.whatif.policy import Policy, PromptCaching
from agentledger.core.pricing.catalog import canonical_provider

__all__ = ["recommend_prompt_caching", "uncached_repeats"]

_ACTIONS = {
    "anthropic": "mark the system prompt and tool definitions with cache_control breakpoints",
    "openai": "keep the static part (system prompt, tools) first and byte-identical across calls; OpenAI "
    "caches prefixes of 1,024+ tokens automatically and only a changing prefix defeats it",
    "google": "create an explicit context cache for the static prefix (or rely on implicit caching with "
    "the static part first)",
}


def uncached_repeats(calls: pl.DataFrame, ttl_seconds: float) -> pl.DataFrame:
    """``calls`` (time-ordered) with ``prefix_tokens``, the prefix estimate (least input among the calls
    sharing its prefix_hash in its session) and ``uncached_repeat``: the same prefix on the same model was
    sent earlier in the session within ``ttl_seconds``, yet this call read nothing from the cache."""
    group = ["session_key", "prefix_hash", "model"]
    return (
        calls.filter(pl.col("prefix_hash").is_not_null())
        .sort(["started_at", "source", "trace_id", "span_id"])
        .with_columns(
            (pl.col("started_at") - pl.col("started_at").shift(1).over(group)).alias("gap"),
            pl.col("input_tokens").min().over(["session_key", "prefix_hash"]).alias("prefix_tokens"),
        )
        .with_columns(
            (
                (pl.col("gap") <= timedelta(seconds=ttl_seconds)).fill_null(False)
                & (pl.col("cache_read_tokens") == 0)
            ).alias("uncached_repeat")
        )
    )


def recommend_prompt_caching(ctx: Context) -> Finding:
    """Prompt caching per task type where repeated prefixes are billed without cache reads."""
    o = ctx.options
    columns = ("prefix_hash", "started_at", "source", "trace_id", "span_id", "session_key", "input_tokens")
    priced = ctx.priced_columns(*TARGET_COLUMNS, *columns, "cache_read_tokens")
    marked = uncached_repeats(priced, o.prompt_cache_ttl_seconds)
    finding = Finding()
    for (task_type,), calls in marked.group_by(["task_type"], maintain_order=True):
        repeats = calls.filter(pl.col("uncached_repeat"))
        if task_type is None or repeats.height < o.min_calls:
            continue
        prefix = number(repeats["prefix_tokens"].median())
        if prefix < o.prompt_cache_min_prefix_tokens:
            continue
        policy = Policy(
            prompt_caching=PromptCaching(
                task_types=[task_type],
                ttl_seconds=o.prompt_cache_ttl_seconds,
                min_prefix_tokens=o.prompt_cache_min_prefix_tokens,
            )
        )
        target = target_of(calls, task_type)
        provider = canonical_provider(target["provider"]) or ""  # gcp.vertex_ai, gcp.gemini -> google
        evidence = {
            "calls_with_prefix": calls.height,
            "uncached_repeats": repeats.height,
            "median_prefix_tokens": prefix,
            "cache_hit_rate": _ratio(
                number(calls["cache_read_tokens"].sum()), number(calls["input_tokens"].sum())
            ),
            "ttl_seconds": o.prompt_cache_ttl_seconds,
        }
        action = f"Turn on prompt caching for {task_type}: " + _ACTIONS.get(
            provider, "use the provider's prompt caching for the static prefix"
        )
        risk = (
            "Any change in the prefix (a timestamp, a user name, reordered tools) breaks the cache; "
            "cache writes cost more than plain input at providers with a write premium (Anthropic 1.25x)"
        )
        result = ctx.replay(policy)
        finding.recommendations.append(
            ctx.from_replay(
                "prompt_caching",
                target,
                result,
                confidence="high",
                evidence=evidence,
                risk=risk,
                action=action,
            )
        )
    return finding


def _ratio(numerator: float, denominator: float) -> float | None:
    return None if not denominator else float(numerator) / float(denominator)
