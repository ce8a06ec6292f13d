"""Cost audit: the source's reported cost against ours, and what has no price at all.

- :func:`cost_audit`: per source, provider and model, Σ reported and Σ computed cost over the calls that
  have both, their relative gap ((reported - computed) / computed), how many calls disagree beyond the
  tolerance (``Settings.cost_tolerance``, relative to the computed cost), and how many calls are unpriced
  or priced only by the source's report;
- :func:`cost_disagreements`: those disagreeing calls, the largest absolute gap first;
- :func:`unpriced_calls`: calls without a computed price, per source, provider, model and price status,
  with their token volume: so nothing hides behind $0.
"""

from __future__ import annotations

import polars as pl

from agentledger.analytics._common import normalized, params
from agentledger.analytics.filters import Filters
from agentledger.analytics.metrics import ratio
from agentledger.core.errors import InputError
from agentledger.warehouse.base import Warehouse

__all__ = ["cost_audit", "cost_disagreements", "unpriced_calls"]


def _check_tolerance(tolerance: float) -> None:
    if not tolerance >= 0:
        raise InputError(f"tolerance={tolerance!r} must be a relative gap >= 0 (0.05 = 5 %)")


def cost_audit(wh: Warehouse, filters: Filters, tolerance: float = 0.05) -> pl.DataFrame:
    """Reported vs computed cost per source, provider and model (see the module docstring)."""
    _check_tolerance(tolerance)
    frame = normalized(wh.query("cost_audit", params(filters, tolerance=tolerance)))
    gaps = [
        ratio(None if r is None or c is None else r - c, c)
        for r, c in zip(frame["reported_usd"], frame["computed_usd"], strict=True)
    ]
    return frame.with_columns(pl.Series("relative_gap", gaps, dtype=pl.Float64))


def cost_disagreements(
    wh: Warehouse, filters: Filters, tolerance: float = 0.05, limit: int = 100
) -> pl.DataFrame:
    """The calls whose reported and computed costs differ by more than ``tolerance`` x computed."""
    _check_tolerance(tolerance)
    frame = normalized(wh.query("cost_disagreements", params(filters, tolerance=tolerance, limit=limit)))
    gaps = [ratio(g, c) for g, c in zip(frame["gap_usd"], frame["cost_computed_usd"], strict=True)]
    return frame.with_columns(pl.Series("relative_gap", gaps, dtype=pl.Float64))


def unpriced_calls(wh: Warehouse, filters: Filters) -> pl.DataFrame:
    """Calls with no computed price (catalog or override) and their tokens, most calls first."""
    return normalized(wh.query("unpriced_calls", params(filters)))
