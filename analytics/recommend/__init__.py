"""Recommendations with dollars: each recommender proposes a what-if policy, and the replay of the window's
recorded calls under it gives the saving (scaled to a month), its bootstrap interval and the evidence.

``recommend(wh, filters, settings)`` returns them biggest monthly saving first; ``recommend_report`` adds
the window and the notes (changes that would not pay, checks that cannot be made).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from agentledger.analytics.filters import Filters
from agentledger.analytics.recommend.base import Context, Finding, Note, Recommendation, Report
from agentledger.analytics.recommend.batching import recommend_batching
from agentledger.analytics.recommend.compression import recommend_compression
from agentledger.analytics.recommend.options import RecommendOptions
from agentledger.analytics.recommend.output_caps import recommend_output_caps
from agentledger.analytics.recommend.prompt_caching import recommend_prompt_caching
from agentledger.analytics.recommend.response_caching import recommend_response_caching
from agentledger.analytics.recommend.routing import recommend_routing
from agentledger.analytics.whatif import load_calls, prepare_calls, resolve_window
from agentledger.core.pricing import Pricer
from agentledger.core.records import CALL_SCHEMA
from agentledger.core.settings import Settings
from agentledger.warehouse.base import Warehouse

__all__ = [
    "RECOMMENDERS",
    "Note",
    "RecommendOptions",
    "Recommendation",
    "Report",
    "recommend",
    "recommend_report",
]

RECOMMENDERS: dict[str, Callable[[Context], Finding]] = {
    "routing": recommend_routing,
    "prompt_caching": recommend_prompt_caching,
    "response_caching": recommend_response_caching,
    "compression": recommend_compression,
    "output_caps": recommend_output_caps,
    "batching": recommend_batching,
}

# Replacing a step by code needs to know its output was the same every time; without an output hash on
# the canonical record that cannot be checked, and guessing from prompts would be a fabrication.
_OUTPUT_HASH_FIELDS = ("output_hash", "response_hash")


def _deterministic_note() -> list[Note]:
    if any(name in CALL_SCHEMA.names for name in _OUTPUT_HASH_FIELDS):
        return []
    return [
        Note(
            kind="deterministic",
            message="Deterministic replacement (a step whose output is identical in over 95 % of its calls) "
            "is not evaluated: the canonical call record carries no output hash to compare outputs by",
        )
    ]


def build_context(
    wh: Warehouse, filters: Filters, pricer: Pricer, options: RecommendOptions | None = None
) -> Context:
    """The window of ``filters`` (default: the last 30 days of data) with its prepared calls."""
    window = resolve_window(wh, filters)
    calls = prepare_calls(load_calls(wh, filters, window), pricer)
    return Context(calls=calls, pricer=pricer, window=window, options=options or RecommendOptions())


def recommend_context(ctx: Context) -> Report:
    """Every recommender over ``ctx``: recommendations above the monthly threshold, biggest first."""
    finding = Finding()
    # The recommenders only read the context: they run side by side, their findings kept in their order.
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        for found in pool.map(lambda recommender: recommender(ctx), RECOMMENDERS.values()):
            finding.extend(found)
    threshold = ctx.options.min_monthly_savings_usd
    kept = [
        r for r in finding.recommendations if r.monthly_savings_usd >= threshold and r.monthly_savings_usd > 0
    ]
    kept.sort(key=lambda r: (-r.monthly_savings_usd, r.kind, str(sorted(r.target.items()))))
    return Report(
        window=ctx.window.to_dict(), recommendations=kept, notes=[*finding.notes, *_deterministic_note()]
    )


def recommend_report(
    wh: Warehouse, filters: Filters, settings: Settings, options: RecommendOptions | None = None
) -> Report:
    """Recommendations and notes over the window of ``filters``, priced with ``settings``' prices."""
    ctx = build_context(wh, filters, Pricer.from_settings(settings), options)
    return recommend_context(ctx)


def recommend(
    wh: Warehouse, filters: Filters, settings: Settings, options: RecommendOptions | None = None
) -> list[Recommendation]:
    """The recommendations over the window of ``filters``, biggest monthly saving first."""
    return recommend_report(wh, filters, settings, options).recommendations
