"""What every recommender returns, and the context they share (the window's calls, prices, thresholds)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any, Literal

import numpy as np
import polars as pl
from pydantic import BaseModel, Field

from agentledger.analytics.recommend.options import RecommendOptions
from agentledger.analytics.whatif import Policy, ReplayResult, Window, replay
from agentledger.analytics.whatif.replay import replay_each, savings_interval
from agentledger.analytics.whatif.stats import bootstrap_total_ci
from agentledger.core.pricing import Pricer, UnitPrices, model_tier

__all__ = [
    "TARGET_COLUMNS",
    "Confidence",
    "Context",
    "Finding",
    "Note",
    "Recommendation",
    "Report",
    "number",
    "target_of",
    "targets_of",
]

# The columns target_of reads: a recommender that splits the calls by task type keeps only what it reads.
TARGET_COLUMNS = ("task_type", "agent_name", "model", "provider")

Confidence = Literal["high", "medium", "low"]
Kind = Literal[
    "routing", "prompt_caching", "response_caching", "compression", "output_caps", "batching", "deterministic"
]


class Recommendation(BaseModel):
    """One change to make, what it would save per month (from the replay) and why we believe it."""

    kind: Kind
    target: dict[str, str | None] = Field(description="task_type, agent, model, provider as applicable")
    monthly_savings_usd: float = Field(description="Saving over the window scaled to 30 days")
    savings_ci_usd: tuple[float, float] = Field(description="95 % bootstrap interval (sessions), per month")
    confidence: Confidence
    evidence: dict[str, Any] = Field(description="The figures behind it, with example trace ids")
    risk: str
    action: str
    policy: dict[str, Any] | None = Field(
        None, description="The what-if policy the saving was replayed with (feed it to `agentledger whatif`)"
    )


class Note(BaseModel):
    """Something worth knowing that is not a recommendation (it would not pay, or cannot be checked)."""

    kind: Kind
    target: dict[str, str | None] = Field(default_factory=dict)
    message: str
    monthly_savings_usd: float | None = None


class Report(BaseModel):
    """The recommendations over a window, biggest monthly saving first, and the notes beside them."""

    window: dict[str, Any]
    recommendations: list[Recommendation]
    notes: list[Note]


@dataclass
class Finding:
    """What a recommender returns: recommendations and notes (the caller filters and orders them)."""

    recommendations: list[Recommendation] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)

    def extend(self, other: Finding) -> None:
        """Add ``other``'s recommendations and notes to this finding."""
        self.recommendations.extend(other.recommendations)
        self.notes.extend(other.notes)


@dataclass
class Context:
    """The prepared calls of one window and what every recommender needs to price and judge them."""

    calls: pl.DataFrame  # prepared (agentledger.analytics.whatif.prepare_calls)
    pricer: Pricer
    window: Window
    options: RecommendOptions

    # The priced calls' columns, each filtered once however many recommenders read it (see priced_columns).
    _priced: dict[str, pl.Series] = field(default_factory=dict, init=False, repr=False)

    @cached_property
    def _all_priced(self) -> bool:
        return bool(self.calls["repriceable"].all())

    def priced_columns(self, *columns: str) -> pl.DataFrame:
        """``columns`` of the calls a policy can change (their cost was computed from prices): the calls'
        own columns when every call is priced, else each column filtered once per context."""
        if self._all_priced:
            return self.calls.select(columns)
        for name in columns:
            if name not in self._priced:
                self._priced[name] = self.calls[name].filter(self.calls["repriceable"])
        return pl.DataFrame([self._priced[name] for name in columns])

    def replay(self, policy: Policy, *, interval: bool = True) -> ReplayResult:
        """``policy`` replayed over the window, with the options' bootstrap settings (without the interval
        when ``interval`` is False: :meth:`with_interval` adds it to the replays that need it)."""
        return replay(
            self.calls,
            policy,
            self.pricer,
            resamples=self.options.resamples,
            seed=self.options.seed,
            interval=interval,
        )

    def replay_each(self, policies: list[Policy], *, interval: bool = True) -> list[ReplayResult]:
        """:meth:`replay` of each of ``policies`` (in one pass when they differ only by task type)."""
        return replay_each(
            self.calls,
            policies,
            self.pricer,
            resamples=self.options.resamples,
            seed=self.options.seed,
            interval=interval,
        )

    def with_interval(self, result: ReplayResult) -> ReplayResult:
        """``result`` (a replay of these calls) with its bootstrap interval, as :meth:`replay` gives it."""
        ci = savings_interval(
            self.calls,
            result.saving,
            reached=result.reached,
            resamples=self.options.resamples,
            seed=self.options.seed,
        )
        return replace(result, savings_ci_usd=ci)

    def monthly(self, usd: float) -> float:
        """A saving over the window, per month."""
        return self.window.monthly(usd)

    def monthly_ci(self, interval: tuple[float, float]) -> tuple[float, float]:
        """An interval over the window, per month."""
        return (self.monthly(interval[0]), self.monthly(interval[1]))

    def session_ci(self, frame: pl.DataFrame, column: str) -> tuple[float, float]:
        """Monthly bootstrap interval of Σ ``column`` of ``frame`` (calls), resampling sessions."""
        per_session = (
            frame.group_by("session_key").agg(pl.col(column).sum()).sort("session_key")[column].to_numpy()
        )
        interval = bootstrap_total_ci(np.nan_to_num(per_session), self.options.resamples, self.options.seed)
        return self.monthly_ci(interval)

    def prices(self, provider: str | None, model: str) -> UnitPrices | None:
        """Current unit prices of ``model`` at the end of the window."""
        return self.pricer.unit_prices(provider, model, self.window.until)

    def blended_per_mtok(self, provider: str | None, model: str) -> float | None:
        """(3 x input + output) / 4 in USD per million tokens, the price that ranks models; None if unknown."""
        prices = self.prices(provider, model)
        return None if prices is None else (3 * prices.input + prices.output) / 4 * 1_000_000

    def tier(self, provider: str | None, model: str) -> str | None:
        """The model's price band (budget, standard, frontier), None when it has no price."""
        prices = self.prices(provider, model)
        return None if prices is None else model_tier(prices)

    def from_replay(
        self,
        kind: Kind,
        target: dict[str, str | None],
        result: ReplayResult,
        *,
        confidence: Confidence,
        evidence: dict[str, Any],
        risk: str,
        action: str,
    ) -> Recommendation:
        """A recommendation whose saving and interval come from ``result``."""
        return Recommendation(
            kind=kind,
            target=target,
            monthly_savings_usd=self.monthly(result.savings_usd),
            savings_ci_usd=self.monthly_ci(result.savings_ci_usd),
            confidence=confidence,
            evidence={
                **evidence,
                "window_savings_usd": result.savings_usd,
                "example_trace_ids": result.example_traces(),
            },
            risk=risk,
            action=action,
            policy=result.policy.model_dump(exclude_defaults=True),
        )


def number(value: Any) -> float:
    """A polars scalar (int, float, Decimal) as a float; an unknown value (None, NaN) as 0.0."""
    if value is None:
        return 0.0
    result = float(value)
    return 0.0 if result != result else result


def single(values: pl.Series) -> str | None:
    """The one non-null value of ``values``, or None when there are none or several."""
    distinct = values.drop_nulls().unique()
    return distinct[0] if distinct.len() == 1 else None


def dominant(values: pl.Series) -> str | None:
    """The most frequent non-null value of ``values`` (ties broken by name)."""
    counts = values.drop_nulls().value_counts(sort=False)
    if counts.height == 0:
        return None
    name = values.name
    return counts.sort(["count", name], descending=[True, False])[name][0]


def target_of(calls: pl.DataFrame, task_type: str | None) -> dict[str, str | None]:
    """task_type, its agent (when one agent runs it), its dominant model and that model's provider."""
    model = dominant(calls["model"])
    provider = single(calls.filter(pl.col("model") == model)["provider"]) if model else None
    return {
        "task_type": task_type,
        "agent": single(calls["agent_name"]),
        "model": model,
        "provider": provider,
    }


def targets_of(calls: pl.DataFrame) -> dict[str | None, dict[str, str | None]]:
    """:func:`target_of` of each task type's calls among ``calls``, keyed by task type: one grouping of the
    calls by their target columns, the rest worked out on its few rows."""
    combos = calls.group_by(TARGET_COLUMNS).len()
    agents = combos.group_by("task_type").agg(pl.col("agent_name").drop_nulls().unique())
    models = (
        combos.filter(pl.col("model").is_not_null())
        .group_by("task_type", "model")
        .agg(pl.col("len").sum().alias("count"), pl.col("provider").drop_nulls().unique().alias("providers"))
        .sort(["task_type", "count", "model"], descending=[False, True, False], nulls_last=True)
        .group_by("task_type", maintain_order=True)
        .first()
    )
    dominant_model = {row["task_type"]: row for row in models.iter_rows(named=True)}
    targets: dict[str | None, dict[str, str | None]] = {}
    for task_type, names in agents.iter_rows():
        top = dominant_model.get(task_type)
        model = None if top is None else top["model"]
        targets[task_type] = {
            "task_type": task_type,
            "agent": names[0] if len(names) == 1 else None,
            "model": model,
            "provider": top["providers"][0] if model and len(top["providers"]) == 1 else None,
        }
    return targets
