"""The row-by-row what-if replay as first released (with :mod:`reference_levers`): the oracle the vectorized
engine of ``agentledger.analytics.whatif`` is tested against. Not used outside the tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import polars as pl
import reference_levers as levers

from agentledger.analytics.whatif.policy import Policy
from agentledger.analytics.whatif.stats import bootstrap_total_ci
from agentledger.core.errors import InputError
from agentledger.core.pricing import Pricer, UnitPrices, cost_of
from agentledger.core.tokens import TokenCounts

__all__ = ["ORDER", "KEPT_REASONS", "ReplayResult", "prepare_calls", "replay"]

# The order levers apply in (names of Policy fields): volumes first, then caches, then the price.
ORDER = (
    "substitutions",
    "context_cap",
    "prompt_trim",
    "max_tokens",
    "response_cache",
    "prompt_caching",
    "batch",
)

# Why a call is not repriced, and what the output says about it.
KEPT_REASONS = {
    "reported": "cost reported by the source (no catalog price, or cost_policy=reported): kept as recorded",
    "unpriced": "no price known: cost unknown, left out of every sum",
    "response_cache_hit": "already served from a gateway cache at no cost",
    "no_current_price": "priced at ingest but the current prices have none: kept as recorded",
}

_TOKEN_COLUMNS = (
    "input_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "output_tokens",
    "reasoning_tokens",
)


def _lookup(
    pricer: Pricer, provider: str | None, model: str | None, at: datetime, any_provider: bool = False
) -> UnitPrices | None:
    """Unit prices as ingest looks them up; with ``any_provider``, a model not found under ``provider``
    is looked up by its name alone (a substitute named without its provider, e.g. another vendor's)."""
    if not model:
        return None
    prices = pricer.unit_prices(provider, model, at)
    if prices is None and any_provider and provider is not None:
        prices = pricer.unit_prices(None, model, at)
    return prices


def _counts(row: Any, state: levers.State | None = None, i: int = 0) -> TokenCounts:
    if state is None:
        return TokenCounts(**{name: int(row[name] or 0) for name in _TOKEN_COLUMNS})
    return TokenCounts(
        input_tokens=int(state.inp[i]),
        cache_read_tokens=int(state.read[i]),
        cache_write_tokens=int(state.write[i]),
        output_tokens=int(state.out[i]),
        reasoning_tokens=int(state.reas[i]),
    )


def _kept_reason(row: dict[str, Any]) -> str | None:
    if row["response_cache_hit"]:
        return "response_cache_hit"
    if row["cost_usd"] is None:
        return "unpriced"
    if row["cost_source"] not in ("computed", "override"):
        return "reported"
    return None


def prepare_calls(calls: pl.DataFrame, pricer: Pricer) -> pl.DataFrame:
    """``calls`` with what every replay needs: session and trace keys, whether the call can be repriced
    (``repriceable``, else ``kept_reason``), the model that prices it and its cost at current prices."""
    frame = calls.with_columns(
        pl.coalesce("session_id", "trace_id").alias("session_key"),
        pl.concat_str([pl.col("source"), pl.col("trace_id")], separator="\x1f").alias("trace_key"),
    )
    reasons: list[str | None] = []
    models: list[str | None] = []
    base: list[float | None] = []
    for row in frame.select(
        "provider",
        "model",
        "model_requested",
        "started_at",
        "cost_usd",
        "cost_source",
        "response_cache_hit",
        *_TOKEN_COLUMNS,
    ).iter_rows(named=True):
        reason, model, cost = _baseline(row, pricer)
        reasons.append(reason)
        models.append(model)
        base.append(cost)
    return frame.with_columns(
        pl.Series("kept_reason", reasons, dtype=pl.String),
        pl.Series("price_model", models, dtype=pl.String),
        pl.Series("base_cost", base, dtype=pl.Float64),
    ).with_columns(pl.col("kept_reason").is_null().alias("repriceable"))


def _baseline(row: dict[str, Any], pricer: Pricer) -> tuple[str | None, str | None, float | None]:
    """(kept reason, pricing model, cost at current prices) of one call, like ``Pricer.price`` picks them:
    the response's model, else the requested one; an override of the requested name beats a catalog price of
    the response's."""
    reason = _kept_reason(row)
    if reason is not None:
        return reason, row["model"], None
    model, requested = row["model"], row["model_requested"]
    prices = _lookup(pricer, row["provider"], model, row["started_at"])
    if requested and requested != model and (prices is None or prices.origin != "override"):
        on_requested = _lookup(pricer, row["provider"], requested, row["started_at"])
        if on_requested is not None and (prices is None or on_requested.origin == "override"):
            model, prices = requested, on_requested
    if prices is None:
        return "no_current_price", row["model"], None
    return None, model, cost_of(prices, _counts(row))


# -- the replay -------------------------------------------------------------------------------------


def _apply(state: levers.State, calls: pl.DataFrame, policy: Policy) -> None:
    if policy.substitutions:
        levers.substitute(state, calls, policy.substitutions)
    if policy.context_cap is not None:
        levers.cap_context(state, calls, policy.context_cap)
    if policy.prompt_trim is not None:
        levers.trim_prompt(state, calls, policy.prompt_trim)
    if policy.max_tokens:
        levers.cap_outputs(state, calls, policy.max_tokens)
    levers.scale_outputs(state)
    if policy.response_cache is not None:
        levers.serve_from_cache(state, calls, policy.response_cache)
    if policy.prompt_caching is not None:
        levers.cache_prompts(state, calls, policy.prompt_caching)
    if policy.batch is not None:
        levers.price_in_batch(state, calls, policy.batch)


def _changed(state: levers.State, calls: pl.DataFrame) -> np.ndarray:
    recorded = {name: calls[name].fill_null(0).to_numpy() for name in _TOKEN_COLUMNS}
    volumes = (
        (state.inp != recorded["input_tokens"])
        | (state.read != recorded["cache_read_tokens"])
        | (state.write != recorded["cache_write_tokens"])
        | (state.out != recorded["output_tokens"])
        | (state.reas != recorded["reasoning_tokens"])
    )
    return state.repriceable & (state.free | (state.rule >= 0) | volumes | (state.factor != 1.0))


def _policy_costs(state: levers.State, calls: pl.DataFrame, pricer: Pricer) -> np.ndarray:
    """Cost of each call under the policy: the baseline where nothing changed, else repriced."""
    cost = calls["base_cost"].fill_null(0.0).to_numpy().astype(np.float64, copy=True)
    changed = _changed(state, calls)
    cost[changed & state.free] = 0.0
    rows = np.flatnonzero(changed & ~state.free)
    started = calls["started_at"].gather(rows).to_list()
    for i, at in zip(rows, started, strict=True):
        prices = _lookup(pricer, state.provider[i], state.model[i], at, any_provider=state.rule[i] >= 0)
        if prices is None:
            rule = int(state.rule[i])
            where = f"substitutions[{rule}].model" if rule >= 0 else "model"
            raise InputError(
                f"{where}: no price for {state.model[i]!r} (provider {state.provider[i]!r}) on "
                f"{at:%Y-%m-%d}: add it to the price overrides file (AGENTLEDGER_PRICES_FILE)"
            )
        cost[i] = cost_of(prices, _counts(None, state, int(i))) * state.factor[i]
    return cost


def _summary_costs(calls: pl.DataFrame, policy: Policy, pricer: Pricer, before: np.ndarray) -> np.ndarray:
    """Cost of the summarization calls a context cap adds (one before each call in ``before``)."""
    added = np.zeros(calls.height)
    cap = policy.context_cap
    if cap is None or not before.any():
        return added
    recorded_input = calls["input_tokens"].fill_null(0).to_numpy()
    rows = np.flatnonzero(before)
    for i, at in zip(rows, calls["started_at"].gather(rows).to_list(), strict=True):
        prices = _lookup(pricer, cap.summarizer_provider, cap.summarizer_model, at, any_provider=True)
        if prices is None:
            raise InputError(
                f"context_cap.summarizer_model: no price for {cap.summarizer_model!r} on "
                f"{at:%Y-%m-%d}: add it to the price overrides file (AGENTLEDGER_PRICES_FILE)"
            )
        # The summarizer reads the whole context it replaces and writes the summary.
        counts = TokenCounts(input_tokens=int(recorded_input[i]), output_tokens=cap.summary_tokens)
        added[i] = cost_of(prices, counts)
    return added


def replay(
    calls: pl.DataFrame,
    policy: Policy,
    pricer: Pricer,
    *,
    resamples: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> ReplayResult:
    """Replay ``calls`` (prepared or not) under ``policy``; see the module docstring."""
    if "repriceable" not in calls.columns:
        calls = prepare_calls(calls, pricer)
    state = levers.State.of(calls)
    _apply(state, calls, policy)
    before = state.summarize
    policy_cost = _policy_costs(state, calls, pricer)
    added = _summary_costs(calls, policy, pricer, before)
    base = calls["base_cost"].fill_null(0.0).to_numpy()
    saving = np.where(state.repriceable, base - policy_cost - added, 0.0)
    per_call = _per_call(calls, state, saving)
    # Sessions in a fixed order: the seeded resampling must not depend on how the frame was grouped.
    by_session = per_call.group_by("session_key").agg(pl.col("saving").sum()).sort("session_key")
    ci = bootstrap_total_ci(by_session["saving"].to_numpy(), resamples=resamples, seed=seed, level=level)
    return ReplayResult(
        policy=policy,
        per_call=per_call,
        savings_ci_usd=ci,
        added_calls=int(before.sum()),
        added_cost_usd=float(added.sum()),
        affected={name: int(mask.sum()) for name, mask in state.affected.items()},
    )


def _per_call(calls: pl.DataFrame, state: levers.State, saving: np.ndarray) -> pl.DataFrame:
    recorded = calls["cost_usd"]
    return calls.select(
        "source",
        "trace_id",
        "span_id",
        "session_key",
        "agent_name",
        "task_type",
        "provider",
        "model",
        "started_at",
        "step",
        "outcome",
        "repriceable",
        "kept_reason",
    ).with_columns(
        pl.Series("model_after", state.model.tolist(), dtype=pl.String),
        recorded.alias("recorded_cost"),
        (recorded - pl.Series(saving)).alias("replayed_cost"),
        pl.Series("saving", saving, dtype=pl.Float64),
        pl.Series("free", state.free),
        pl.Series("capped", state.capped),
        pl.Series("cut", state.cut),
        pl.Series("summarized", state.summarize),
    )


# -- the result -------------------------------------------------------------------------------------


def _sum(series: pl.Series) -> float | None:
    """Σ of the known values; None when every value is unknown, 0.0 over no rows (like the metrics)."""
    if series.len() == 0:
        return 0.0
    return None if series.null_count() == series.len() else float(series.sum())


@dataclass
class ReplayResult:
    """What a policy would have cost over the replayed calls, and where the saving comes from."""

    policy: Policy
    per_call: pl.DataFrame
    savings_ci_usd: tuple[float, float]
    added_calls: int = 0
    added_cost_usd: float = 0.0
    affected: dict[str, int] = field(default_factory=dict)

    @property
    def recorded_cost_usd(self) -> float | None:
        """Σ cost_usd of the calls (unpriced ones left out)."""
        return _sum(self.per_call["recorded_cost"])

    @property
    def replayed_cost_usd(self) -> float | None:
        """Σ of the calls' costs under the policy."""
        return _sum(self.per_call["replayed_cost"])

    @property
    def savings_usd(self) -> float:
        """Recorded − replayed cost over the window (negative when the policy costs more)."""
        return float(self.per_call["saving"].sum())

    @property
    def savings_pct(self) -> float | None:
        """The saving in percent of the recorded cost (None when that is 0 or unknown)."""
        recorded = self.recorded_cost_usd
        return None if not recorded else self.savings_usd / recorded * 100.0

    def kept(self) -> dict[str, int]:
        """Calls kept as recorded, by reason (see :data:`KEPT_REASONS`)."""
        counts = self.per_call.filter(~pl.col("repriceable"))["kept_reason"].value_counts()
        return {row["kept_reason"]: int(row["count"]) for row in counts.iter_rows(named=True)}

    def breakdown(self, column: str) -> list[dict[str, Any]]:
        """Recorded cost, replayed cost and saving per value of ``column``, biggest saving first."""
        grouped = self.per_call.group_by(column).agg(
            pl.len().alias("calls"),
            pl.col("recorded_cost").sum().alias("recorded_cost_usd"),
            pl.col("replayed_cost").sum().alias("replayed_cost_usd"),
            pl.col("saving").sum().alias("savings_usd"),
        )
        rows = grouped.sort(["savings_usd", column], descending=[True, False], nulls_last=True)
        return [{"key": r.pop(column), **r} for r in rows.iter_rows(named=True)]

    def example_traces(self, limit: int = 3, mask: pl.Expr | None = None) -> list[str]:
        """Trace ids with the largest saving (among the calls ``mask`` selects)."""
        frame = self.per_call if mask is None else self.per_call.filter(mask)
        top = (
            frame.group_by("trace_id")
            .agg(pl.col("saving").sum())
            .filter(pl.col("saving") > 0)
            .sort(["saving", "trace_id"], descending=[True, False])
        )
        return top["trace_id"].head(limit).to_list()

    def truncation_risk(self) -> dict[str, Any]:
        """Calls an output cap applied to, those it would have cut, and their share."""
        capped = int(self.per_call["capped"].sum())
        cut = int(self.per_call["cut"].sum())
        return {"capped_calls": capped, "cut_calls": cut, "cut_share": cut / capped if capped else None}

    def notes(self) -> list[str]:
        """Plain-language caveats: calls kept as recorded, added calls."""
        notes = [f"{n} calls {KEPT_REASONS[reason]}" for reason, n in sorted(self.kept().items())]
        if self.added_calls:
            notes.append(f"{self.added_calls} summarization calls added, costing ${self.added_cost_usd:,.4f}")
        risk = self.truncation_risk()
        if risk["cut_calls"]:
            notes.append(
                f"{risk['cut_calls']} of {risk['capped_calls']} capped calls ({risk['cut_share']:.1%}) "
                "would have been cut at max_tokens"
            )
        return notes

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape of ``agentledger whatif --json`` and ``POST /api/whatif``."""
        low, high = self.savings_ci_usd
        return {
            "policy": self.policy.model_dump(exclude_defaults=True),
            "calls": self.per_call.height,
            "repriced_calls": int(self.per_call["repriceable"].sum()),
            "kept_as_recorded": self.kept(),
            "recorded_cost_usd": self.recorded_cost_usd,
            "replayed_cost_usd": self.replayed_cost_usd,
            "savings_usd": self.savings_usd,
            "savings_pct": self.savings_pct,
            "savings_ci_usd": [low, high],
            "affected_calls": self.affected,
            "served_from_cache": int(self.per_call["free"].sum()),
            "added_calls": self.added_calls,
            "added_cost_usd": self.added_cost_usd,
            "truncation_risk": self.truncation_risk(),
            "by_agent": self.breakdown("agent_name"),
            "by_task_type": self.breakdown("task_type"),
            "notes": self.notes(),
        }
