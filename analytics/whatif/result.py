"""The result of a what-if replay: what a policy would have cost over the replayed calls, per call and in sum.

A replay hands over arrays (the saving of every call, the flags of the calls its levers reached); the
per-call frame is assembled from them and the prepared calls on first use, so a caller that reads only the
saving, its interval, the example traces and the counts never pays for it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import polars as pl

from agentledger.analytics.whatif.policy import Policy

__all__ = ["KEPT_REASONS", "ReplayResult"]

# Why a call is not repriced, and what the output says about it.
KEPT_REASONS = {
    "reported": "cost reported by the source (no catalog price, or cost_policy=reported): kept as recorded",
    "unpriced": "no price known: cost unknown, left out of every sum",
    "response_cache_hit": "already served from a gateway cache at no cost",
    "no_current_price": "priced at ingest but the current prices have none: kept as recorded",
}

# The columns of the prepared calls the per-call frame carries, before the replay's own.
_CALL_COLUMNS = (
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
)


def _sum(series: pl.Series) -> float | None:
    """Σ of the known values; None when every value is unknown, 0.0 over no rows (like the metrics)."""
    if series.len() == 0:
        return 0.0
    return None if series.null_count() == series.len() else float(series.sum())


@dataclass(eq=False)
class ReplayResult:
    """What a policy would have cost over the replayed calls, and where the saving comes from.

    ``calls`` are the prepared calls replayed, ``saving`` the saving of each of them (0.0 where nothing
    changed), ``reached`` the calls the levers were applied to (ascending) and ``flags`` (free, capped, cut,
    summarized) their flags, in that order; the other calls carry none. ``substituted`` is the calls whose
    pricing model a substitution changed and that model (None when there are none).
    """

    policy: Policy
    calls: pl.DataFrame = field(repr=False)
    saving: np.ndarray = field(repr=False)
    reached: np.ndarray = field(repr=False)
    flags: dict[str, np.ndarray] = field(repr=False)
    savings_ci_usd: tuple[float, float]
    substituted: tuple[np.ndarray, pl.Series] | None = field(default=None, repr=False)
    added_calls: int = 0
    added_cost_usd: float = 0.0
    affected: dict[str, int] = field(default_factory=dict)

    @cached_property
    def per_call(self) -> pl.DataFrame:
        """One row per call: its identity, what it cost, what it costs under the policy, the saving, the
        model pricing it after the policy and the flags (free, capped, cut, summarized)."""
        calls = self.calls
        model_after = calls["price_model"].cast(pl.String)
        if self.substituted is not None:
            rows, models = self.substituted
            model_after = model_after.clone().scatter(rows, models)
        recorded = calls["cost_usd"]
        return calls.select(_CALL_COLUMNS).with_columns(
            model_after.alias("model_after"),
            recorded.alias("recorded_cost"),
            (recorded - pl.Series(self.saving)).alias("replayed_cost"),
            pl.Series("saving", self.saving, dtype=pl.Float64),
            *(pl.Series(name, self._spread(mask)) for name, mask in self.flags.items()),
        )

    def _spread(self, values: np.ndarray) -> np.ndarray:
        """``values`` (over the reached calls) over every call, False (or 0) elsewhere."""
        out = np.zeros(self.calls.height, dtype=values.dtype)
        out[self.reached] = values
        return out

    @property
    def recorded_cost_usd(self) -> float | None:
        """Σ cost_usd of the calls (unpriced ones left out)."""
        return _sum(self.calls["cost_usd"])

    @property
    def replayed_cost_usd(self) -> float | None:
        """Σ of the calls' costs under the policy."""
        return _sum(self.per_call["replayed_cost"])

    @property
    def savings_usd(self) -> float:
        """Recorded − replayed cost over the window (negative when the policy costs more)."""
        return float(pl.Series(self.saving, dtype=pl.Float64).sum())

    @property
    def savings_pct(self) -> float | None:
        """The saving in percent of the recorded cost (None when that is 0 or unknown)."""
        recorded = self.recorded_cost_usd
        return None if not recorded else self.savings_usd / recorded * 100.0

    @property
    def served_calls(self) -> int:
        """Calls a response cache would have served."""
        return int(self.flags["free"].sum())

    def kept(self) -> dict[str, int]:
        """Calls kept as recorded, by reason (see :data:`KEPT_REASONS`)."""
        counts = self.calls.filter(~pl.col("repriceable"))["kept_reason"].value_counts()
        return {row["kept_reason"]: int(row["count"]) for row in counts.iter_rows(named=True)}

    def breakdown(self, column: str) -> list[dict[str, Any]]:
        """Recorded cost, replayed cost and saving per value of ``column``, biggest saving first."""
        grouped = self.per_call.group_by(column).agg(
            pl.len().alias("calls"),
            _known_sum("recorded_cost").alias("recorded_cost_usd"),
            _known_sum("replayed_cost").alias("replayed_cost_usd"),
            pl.col("saving").sum().alias("savings_usd"),
        )
        rows = grouped.sort(["savings_usd", column], descending=[True, False], nulls_last=True)
        return [{"key": r.pop(column), **r} for r in rows.iter_rows(named=True)]

    def example_traces(self, limit: int = 3, mask: pl.Expr | None = None) -> list[str]:
        """Trace ids with the largest saving (among the calls ``mask`` selects)."""
        if mask is None:
            # calls saving nothing change no trace's sum: only the others are grouped
            saved = np.flatnonzero(self.saving != 0.0)
            frame = pl.DataFrame(
                {"trace_id": self.calls["trace_id"].gather(saved), "saving": self.saving[saved]}
            )
        else:
            frame = self.per_call.filter(mask).filter(pl.col("saving") != 0.0)
        top = (
            frame.group_by("trace_id")
            .agg(pl.col("saving").sum())
            .filter(pl.col("saving") > 0)
            .sort(["saving", "trace_id"], descending=[True, False])
        )
        return top["trace_id"].head(limit).to_list()

    def truncation_risk(self) -> dict[str, Any]:
        """Calls an output cap applied to, those it would have cut, and their share."""
        capped = int(self.flags["capped"].sum())
        cut = int(self.flags["cut"].sum())
        return {"capped_calls": capped, "cut_calls": cut, "cut_share": cut / capped if capped else None}

    def notes(self) -> list[str]:
        """Plain-language caveats: calls kept as recorded, added calls."""
        notes = [f"{n} calls {KEPT_REASONS[reason]}" for reason, n in sorted(self.kept().items())]
        stale = self.repriced_since()
        if stale:
            notes.append(
                f"{stale} calls were recorded at other prices than the catalog and overrides give now: their "
                "savings are at today's prices (`agentledger reprice` shows the difference, `--apply` stores it)"
            )
        if self.added_calls:
            notes.append(f"{self.added_calls} summarization calls added, costing ${self.added_cost_usd:,.4f}")
        risk = self.truncation_risk()
        if risk["cut_calls"]:
            notes.append(
                f"{risk['cut_calls']} of {risk['capped_calls']} capped calls ({risk['cut_share']:.1%}) "
                "would have been cut at max_tokens"
            )
        return notes

    def repriced_since(self) -> int:
        """Replayed calls whose stored cost differs from what today's prices give for the same volumes."""
        calls = self.calls.filter(pl.col("repriceable"))
        recorded, now = pl.col("cost_usd"), pl.col("base_cost")
        differ = (recorded - now).abs() > 1e-9 * pl.max_horizontal(recorded.abs(), now.abs(), pl.lit(1e-6))
        return int(calls.select(differ.fill_null(False).sum()).item())

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape of ``agentledger whatif --json`` and ``POST /api/whatif``."""
        low, high = self.savings_ci_usd
        return {
            "policy": self.policy.model_dump(exclude_defaults=True),
            "calls": self.calls.height,
            "repriced_calls": int(self.calls["repriceable"].sum()),
            "kept_as_recorded": self.kept(),
            "recorded_cost_usd": self.recorded_cost_usd,
            "replayed_cost_usd": self.replayed_cost_usd,
            "savings_usd": self.savings_usd,
            "savings_pct": self.savings_pct,
            "savings_ci_usd": [low, high],
            "affected_calls": self.affected,
            "served_from_cache": self.served_calls,
            "added_calls": self.added_calls,
            "added_cost_usd": self.added_cost_usd,
            "truncation_risk": self.truncation_risk(),
            "by_agent": self.breakdown("agent_name"),
            "by_task_type": self.breakdown("task_type"),
            "notes": self.notes(),
        }


def _known_sum(column: str) -> pl.Expr:
    """The sum of ``column``, null when none of its values is known (a group of unpriced calls costs an
    unknown amount, not $0)."""
    return pl.when(pl.col(column).is_not_null().any()).then(pl.col(column).sum())
