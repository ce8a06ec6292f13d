"""What-if replay: what the recorded history would have cost under a changed policy.

``run_whatif(wh, filters, policy, pricer)`` reads the window's calls and replays them; the pure engine is
:func:`replay` over a polars frame, and policies are pydantic models loaded from YAML (:func:`load_policy`).
"""

from __future__ import annotations

from typing import Any

from agentledger.analytics.filters import Filters
from agentledger.analytics.whatif.data import MONTH_DAYS, Window, load_calls, resolve_window
from agentledger.analytics.whatif.policy import Policy, load_policy, parse_policy
from agentledger.analytics.whatif.replay import ORDER, ReplayResult, prepare_calls, replay
from agentledger.core.pricing import Pricer
from agentledger.warehouse.base import Warehouse

__all__ = [
    "MONTH_DAYS",
    "ORDER",
    "Policy",
    "ReplayResult",
    "Window",
    "load_calls",
    "load_policy",
    "parse_policy",
    "prepare_calls",
    "replay",
    "resolve_window",
    "run_whatif",
]


def run_whatif(
    wh: Warehouse,
    filters: Filters,
    policy: Policy,
    pricer: Pricer,
    *,
    resamples: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """Replay the window of ``filters`` (default: the last 30 days of data) under ``policy``.

    The JSON contract of ``agentledger whatif --json`` and ``POST /api/whatif``: the window, then
    :meth:`ReplayResult.to_dict`, plus the saving scaled to a month (and its interval).
    """
    window = resolve_window(wh, filters)
    result = replay(load_calls(wh, filters, window), policy, pricer, resamples=resamples, seed=seed)
    low, high = result.savings_ci_usd
    return {
        "window": window.to_dict(),
        **result.to_dict(),
        "monthly_savings_usd": window.monthly(result.savings_usd),
        "monthly_savings_ci_usd": [window.monthly(low), window.monthly(high)],
    }
