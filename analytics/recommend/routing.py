"""Routing: task types served by a pricey model although they are short and succeed nearly always.

A candidate is a (task type, model) on a standard- or frontier-priced model (not the budget band), with a
task success rate of at least ``routing_min_success`` over ``routing_min_tasks`` tasks and short outputs
(P90 ≤ ``routing_max_output_tokens``). The substitute is the cheapest model the history shows succeeding
on the same task type as often; where none did, the cheapest budget model of the same provider in the
history, flagged "needs a shadow evaluation" with low confidence.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from agentledger.analytics.recommend.base import Context, Finding, Note, single
from agentledger.analytics.whatif.policy import Policy, Substitution

__all__ = ["recommend_routing"]

# The columns of the priced calls routing reads (model_stats and the target's agent).
_COLUMNS = (
    "task_type",
    "agent_name",
    "model",
    "provider",
    "operation",
    "trace_index",
    "outcome",
    "output_tokens",
    "cost_usd",
)


def model_stats(calls: pl.DataFrame) -> pl.DataFrame:
    """Per (task type, provider, model) of the prepared ``calls``: calls, tasks (traces, counted by their
    ``trace_index``), successful tasks, output length and cost."""
    return (
        calls.filter(pl.col("task_type").is_not_null() & pl.col("model").is_not_null())
        .group_by(["task_type", "provider", "model"])
        .agg(
            pl.len().alias("calls"),
            pl.col("trace_index").n_unique().alias("tasks"),
            pl.col("trace_index").filter(pl.col("outcome") == "success").n_unique().alias("success_tasks"),
            pl.col("output_tokens").quantile(0.9, "linear").alias("p90_output_tokens"),
            pl.col("output_tokens").mean().alias("mean_output_tokens"),
            pl.col("cost_usd").sum().alias("cost_usd"),
        )
        .with_columns((pl.col("success_tasks") / pl.col("tasks")).alias("success_rate"))
    )


def _priced_stats(ctx: Context, stats: pl.DataFrame) -> list[dict[str, Any]]:
    rows = []
    for row in stats.iter_rows(named=True):
        blended = ctx.blended_per_mtok(row["provider"], row["model"])
        if blended is not None:
            rows.append({**row, "blended": blended, "tier": ctx.tier(row["provider"], row["model"])})
    return sorted(rows, key=lambda r: (r["task_type"], r["blended"], r["model"]))


def _is_candidate(row: dict[str, Any], ctx: Context) -> bool:
    o = ctx.options
    return (
        row["tier"] != "budget"
        and row["tasks"] >= o.routing_min_tasks
        and row["success_rate"] >= o.routing_min_success
        and row["p90_output_tokens"] <= o.routing_max_output_tokens
    )


Operations = dict[tuple[str | None, str], frozenset[str | None]]


# Operations that do not generate text; every other one (chat, generate_content, responses, text_completion, or
# none recorded) does.
_NOT_GENERATION = frozenset({"embeddings", "embedding", "moderation", "moderations", "rerank"})


def model_operations(calls: pl.DataFrame) -> Operations:
    """The kinds of work each (provider, model) did: ``generation``, or the operation that is not
    (``embeddings``, ``moderation`` …)."""
    pairs = calls.filter(pl.col("model").is_not_null()).select("provider", "model", "operation").unique()
    seen: dict[tuple[str | None, str], set[str | None]] = {}
    for provider, model, operation in pairs.iter_rows():
        kind = operation.lower() if operation and operation.lower() in _NOT_GENERATION else "generation"
        seen.setdefault((provider, model), set()).add(kind)
    return {key: frozenset(value) for key, value in seen.items()}


def _can_serve(candidate: dict[str, Any], current: dict[str, Any], operations: Operations) -> bool:
    """Whether ``candidate`` was seen doing the kind of work ``current`` does: an embedding or moderation
    model, cheap as it is, is no substitute for a chat model."""
    mine = operations.get((current["provider"], current["model"]), frozenset())
    theirs = operations.get((candidate["provider"], candidate["model"]), frozenset())
    return bool(mine & theirs)


def _proven(
    current: dict[str, Any], rows: list[dict[str, Any]], ctx: Context, operations: Operations
) -> dict[str, Any] | None:
    """The cheapest model that served the same task type with enough successful tasks."""
    o = ctx.options
    cheaper = [
        r
        for r in rows
        if r["task_type"] == current["task_type"]
        and r["blended"] < current["blended"]
        and r["tasks"] >= o.routing_min_tasks
        and r["success_rate"] >= o.routing_min_success
        and _can_serve(r, current, operations)
    ]
    return cheaper[0] if cheaper else None


def _shadow(
    current: dict[str, Any], rows: list[dict[str, Any]], operations: Operations
) -> dict[str, Any] | None:
    """The cheapest budget model of the same provider anywhere in the history (no evidence on this task)."""
    budget = [
        r
        for r in rows
        if r["provider"] == current["provider"]
        and r["tier"] == "budget"
        and r["blended"] < current["blended"]
        and _can_serve(r, current, operations)
    ]
    return min(budget, key=lambda r: (r["blended"], r["model"])) if budget else None


def _describe(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "model": row["model"],
        "provider": row["provider"],
        "tasks": row["tasks"],
        "calls": row["calls"],
        "success_rate": row["success_rate"],
        "p90_output_tokens": row["p90_output_tokens"],
        "mean_output_tokens": row["mean_output_tokens"],
        "blended_price_per_mtok": row["blended"],
    }


def _confidence(current: dict[str, Any], proven: dict[str, Any] | None) -> str:
    if proven is None:
        return "low"
    if proven["tasks"] >= 5 * current["tasks"] or (
        proven["tasks"] >= 100 and proven["success_rate"] >= current["success_rate"]
    ):
        return "high"
    return "medium"


def _shared_without_provider(current: dict[str, Any], rows: list[dict[str, Any]]) -> bool:
    """Whether ``current`` is the provider-less calls of a model that other calls of the task type record
    with a provider: a substitution cannot single them out (``from_provider`` left out means every provider),
    so they are not routed on their own."""
    return current["provider"] is None and any(
        r["task_type"] == current["task_type"]
        and r["model"] == current["model"]
        and r["provider"] is not None
        for r in rows
    )


def _one(
    ctx: Context,
    priced: pl.DataFrame,
    current: dict[str, Any],
    rows: list[dict[str, Any]],
    operations: Operations,
) -> Finding:
    task_type, model, provider = current["task_type"], current["model"], current["provider"]
    proven = _proven(current, rows, ctx, operations)
    substitute = proven or _shadow(current, rows, operations)
    if substitute is None:
        message = (
            f"{task_type} runs on {model} with {current['success_rate']:.1%} success and short outputs, "
            "but no cheaper model of its provider appears in the history: a shadow evaluation of a "
            "budget model would tell whether it can be routed"
        )
        return Finding(
            notes=[Note(kind="routing", target={"task_type": task_type, "model": model}, message=message)]
        )
    # A substitute that writes longer answers costs more per answer; one that writes shorter is not assumed.
    ratio = 1.0
    if proven is not None and current["mean_output_tokens"]:
        ratio = max(1.0, proven["mean_output_tokens"] / current["mean_output_tokens"])
    rule = Substitution(
        task_type=task_type,
        from_model=model,
        # the same model under another provider is another candidate, with its own replay
        from_provider=provider,
        model=substitute["model"],
        provider=substitute["provider"],
        output_ratio=ratio,
    )
    result = ctx.replay(Policy(substitutions=[rule]))
    scope = priced.filter(
        (pl.col("task_type") == task_type)
        & (pl.col("model") == model)
        & pl.col("provider").eq_missing(pl.lit(provider, dtype=pl.String))
    )
    evidence = {"current": _describe(current), "output_ratio": ratio}
    if proven is not None:
        evidence["substitute"] = _describe(proven)
        risk = (
            f"{proven['model']} succeeded on {proven['success_rate']:.1%} of {proven['tasks']} {task_type} tasks "
            f"vs {current['success_rate']:.1%} of {current['tasks']} on {model}; inputs the history lacks may differ"
        )
        action = f"Route task type {task_type} from {model} to {proven['model']}"
    else:
        evidence["substitute"] = {"model": substitute["model"], "provider": substitute["provider"]}
        evidence["needs_shadow_evaluation"] = True
        risk = f"No {task_type} task was ever served by {substitute['model']}: its quality on it is unknown"
        action = (
            f"Needs a shadow evaluation: run {substitute['model']} beside {model} on a sample of "
            f"{task_type} tasks, compare outcomes, then route {task_type} to it if they hold"
        )
    target = {
        "task_type": task_type,
        "agent": single(scope["agent_name"]),
        "model": model,
        "provider": current["provider"],
    }
    rec = ctx.from_replay(
        "routing",
        target,
        result,
        confidence=_confidence(current, proven),
        evidence=evidence,
        risk=risk,
        action=action,
    )
    return Finding(recommendations=[rec])


def recommend_routing(ctx: Context) -> Finding:
    """Routing recommendations (see the module docstring)."""
    priced = ctx.priced_columns(*_COLUMNS)
    rows = _priced_stats(ctx, model_stats(priced))
    operations = model_operations(priced)
    finding = Finding()
    for current in rows:
        if _is_candidate(current, ctx) and not _shared_without_provider(current, rows):
            finding.extend(_one(ctx, priced, current, rows, operations))
    return finding
