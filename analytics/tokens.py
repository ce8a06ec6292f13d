"""Where the tokens go: context growth per step, input spent on repeated prefixes, output verbosity against
``max_tokens``, and the split of traffic between budget, standard and frontier models.

- **Context growth** (``context_growth.sql``): a call's step is its position among all LLM calls of its task
  (trace), by start time; per group and step, the mean, P50 and P90 of input tokens (linear interpolation).
- **Repeated prefix** (``prefix_reuse.sql``): a call repeats a prefix when its ``prefix_hash`` (system prompt
  and tool definitions) was already sent earlier in the same trace. The prefix's size is not recorded: it is
  estimated as the smallest ``input_tokens`` among the trace's calls sharing that hash, an upper bound (no
  call can send less than its prefix), exact when the first call sent the prefix alone. The share is repeated
  prefix tokens / all input tokens; the cached part is what the provider's prompt cache served of them.
- **Output verbosity** (``output_verbosity.sql``): P50/P99 of output tokens, of ``max_tokens`` and of their
  ratio, per task type by default: a P99 ratio far below 1 means ``max_tokens`` could come down.
- **Model tiers**: each distinct model's price band from its blended catalog price
  (:func:`agentledger.core.pricing.model_tier`), computed in Python once per model; ``unknown`` without a price.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import polars as pl

from agentledger.analytics._common import check_choice, normalized, params
from agentledger.analytics.filters import GROUP_BY, Filters
from agentledger.analytics.metrics import model_mix, ratio
from agentledger.core.pricing import Pricer, model_tier
from agentledger.warehouse.base import Warehouse

__all__ = [
    "TIERS",
    "context_growth",
    "model_tiers",
    "output_verbosity",
    "prefix_reuse",
    "tier_distribution",
]

TIERS = ("budget", "standard", "frontier", "unknown")


def _query(wh: Warehouse, name: str, filters: Filters, group_by: str | None, **extra: Any) -> pl.DataFrame:
    check_choice("group_by", group_by, (None, *GROUP_BY))
    frame = normalized(wh.query(name, params(filters, **extra), group=group_by or "none"))
    frame = frame.rename({"group_key": "key"})
    return frame if group_by else frame.drop("key")


def context_growth(
    wh: Warehouse, filters: Filters, group_by: str | None = "agent", max_steps: int = 50
) -> pl.DataFrame:
    """Per group and step (1 = a task's first LLM call): calls, mean/P50/P90 input tokens, mean cache reads."""
    return _query(wh, "context_growth", filters, group_by, max_steps=max_steps)


def prefix_reuse(wh: Warehouse, filters: Filters, group_by: str | None = None) -> pl.DataFrame:
    """Per group: input tokens, calls with a prefix, calls repeating one, the repeated prefix tokens and their
    share of all input, and the part of them the provider cache served (see the module docstring)."""
    frame = _query(wh, "prefix_reuse", filters, group_by)
    shares = [
        ratio(r, i) for r, i in zip(frame["repeated_prefix_tokens"], frame["input_tokens"], strict=True)
    ]
    cached = [
        ratio(c, r)
        for c, r in zip(frame["repeated_prefix_cached_tokens"], frame["repeated_prefix_tokens"], strict=True)
    ]
    return frame.with_columns(
        pl.Series("repeated_prefix_share", shares, dtype=pl.Float64),
        pl.Series("repeated_prefix_cached_share", cached, dtype=pl.Float64),
    )


def output_verbosity(wh: Warehouse, filters: Filters, group_by: str | None = "task_type") -> pl.DataFrame:
    """Per group: calls, calls that set max_tokens, P50/P99 output tokens, P50 max_tokens, P50/P99 output/max."""
    return _query(wh, "output_verbosity", filters, group_by)


def _tier(pricer: Pricer, provider: str | None, model: str | None, at: datetime) -> str:
    prices = pricer.unit_prices(provider, model, at) if model else None
    return "unknown" if prices is None else model_tier(prices)


def model_tiers(
    wh: Warehouse, filters: Filters, pricer: Pricer | None = None, at: datetime | None = None
) -> pl.DataFrame:
    """Per model and provider in scope: its tier (priced at ``at``: the window's end, else now), calls, tokens
    and cost. Uses the catalog unless ``pricer`` is given."""
    pricer = pricer or Pricer()
    moment = at or filters.until or datetime.now(UTC)
    rows = model_mix(wh, filters).get(None, [])
    out = [
        {
            "model": r["model"],
            "provider": r["provider"],
            "tier": _tier(pricer, r["provider"], r["model"], moment),
            "calls": int(r["calls"]),
            "input_tokens": int(r["input_tokens"] or 0),
            "output_tokens": int(r["output_tokens"] or 0),
            "cost_usd": None if r["cost_usd"] is None else float(r["cost_usd"]),
        }
        for r in rows
    ]
    schema = {
        "model": pl.String(),
        "provider": pl.String(),
        "tier": pl.String(),
        "calls": pl.Int64(),
        "input_tokens": pl.Int64(),
        "output_tokens": pl.Int64(),
        "cost_usd": pl.Float64(),
    }
    frame = pl.DataFrame(out, schema=schema, orient="row") if out else pl.DataFrame(schema=schema)
    return frame.sort(["tier", "model", "provider"], nulls_last=True)


def tier_distribution(
    wh: Warehouse, filters: Filters, pricer: Pricer | None = None, at: datetime | None = None
) -> pl.DataFrame:
    """Per tier (budget, standard, frontier, unknown): models, calls, tokens, cost and their shares."""
    per_model = model_tiers(wh, filters, pricer, at)
    total_calls = per_model["calls"].sum()
    total_cost = per_model["cost_usd"].sum() if per_model["cost_usd"].is_not_null().any() else None
    rows = []
    for tier in TIERS:
        part = per_model.filter(pl.col("tier") == tier)
        cost = (
            part["cost_usd"].sum()
            if part["cost_usd"].is_not_null().any()
            else (0.0 if part.is_empty() else None)
        )
        rows.append(
            {
                "tier": tier,
                "models": part.height,
                "calls": int(part["calls"].sum()),
                "input_tokens": int(part["input_tokens"].sum()),
                "output_tokens": int(part["output_tokens"].sum()),
                "cost_usd": cost,
                "call_share": ratio(int(part["calls"].sum()), total_calls),
                "cost_share": ratio(cost, total_cost),
            }
        )
    return pl.DataFrame(rows)
