"""Recommendations with dollars: each recommender proposes a what-if policy, and the replay of the window's
recorded calls under it gives the saving (scaled to a month), its bootstrap interval and the evidence.

``recommend(wh, filters, settings)`` returns them biggest monthly saving first; ``recommend_report`` adds
the window and the notes (changes that would not pay, checks that cannot be made). ``stored_report`` is
``recommend_report`` kept as a snapshot (``analytics/snapshots.py``) until the project's ledger changes (or,
for a caller that accepts it, for a given age), and ``refresh_stored`` computes the dashboard's default
window ahead of its visits (the scheduler and ``agentledger up`` call it every ``recommend_refresh_minutes``;
it computes only when the ledger changed).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from importlib.metadata import PackageNotFoundError, version

from agentledger import __version__
from agentledger.analytics import snapshots
from agentledger.analytics.filters import DASHBOARD_DAYS, Filters, day_window, last_days
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
from agentledger.warehouse.base import Warehouse, ledger_version

__all__ = [
    "RECOMMENDERS",
    "Note",
    "RecommendOptions",
    "Recommendation",
    "Report",
    "dashboard_filters",
    "dashboard_max_age",
    "recommend",
    "recommend_report",
    "refresh_stored",
    "stored_report",
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


# -- stored reports ---------------------------------------------------------------------------------

# Raise when a change of the code changes the figures of a report computed from the same data, so that
# snapshots stored by the earlier code are not served (the package version changes with every release too).
REPORT_FORMAT = 2


def _catalog_version() -> str:
    try:
        return version("genai-prices")
    except PackageNotFoundError:  # pragma: no cover - a dependency of the package
        return "unknown"


def _prices_digest(settings: Settings) -> str | None:
    path = settings.prices_file
    if path is None:
        return None
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return f"unreadable:{path}"  # recommend_report itself reports the file's problem


def _report_inputs(filters: Filters, settings: Settings, options: RecommendOptions) -> dict[str, object]:
    """What a report depends on besides the ledger: the key of its snapshot."""
    return {
        "filters": filters.params(),
        "options": options.model_dump(mode="json"),
        "cost_policy": settings.cost_policy,
        "price_overrides": _prices_digest(settings),
        "catalog": _catalog_version(),
        "code": [__version__, REPORT_FORMAT],
    }


def stored_report(
    wh: Warehouse,
    filters: Filters,
    settings: Settings,
    options: RecommendOptions | None = None,
    max_age_seconds: float | None = None,
) -> Report:
    """:func:`recommend_report`, served from its snapshot while the project's calls and spans, the filters,
    the options and the prices are those it was computed from (computed and stored otherwise).

    With ``max_age_seconds``, a snapshot of the same filters, options and prices computed less than that long
    ago is served even if calls were written since (the dashboard: while data keeps arriving, the background
    refresh keeps its default view that fresh)."""
    chosen = options or RecommendOptions()
    if filters.until is None and ledger_version(wh, filters.project_id) is None:
        # An open window over a project never written ends "now" (resolve_window): no ledger version tells
        # when a report of it is out of date, so it is computed each time (at once: there are no calls).
        return recommend_report(wh, filters, settings, chosen)
    return snapshots.cached(
        wh,
        filters.project_id,
        "recommendations",
        _report_inputs(filters, settings, chosen),
        lambda: recommend_report(wh, filters, settings, chosen),
        encode=lambda report: report.model_dump_json(),
        decode=Report.model_validate_json,
        max_age=None if max_age_seconds is None else timedelta(seconds=max_age_seconds),
    )


def dashboard_filters(wh: Warehouse, project_id: str, today: date | None = None) -> Filters:
    """The dashboard's default view of ``project_id``: the last 30 days (UTC) up to the newest call's day."""
    extent = wh.query("data_extent", {"project_id": project_id}).row(0, named=True)
    start, end = last_days(extent["last_call_at"], today or datetime.now(UTC).date(), DASHBOARD_DAYS)
    since, until = day_window(start, end)
    return Filters(since=since, until=until, project_id=project_id)


def dashboard_max_age(settings: Settings) -> float:
    """Seconds the dashboard accepts a stored report computed before the latest writes: two refresh intervals
    (the background refresh recomputes the default view at every interval while data keeps arriving)."""
    return 2 * 60.0 * settings.recommend_refresh_minutes


def refresh_stored(wh: Warehouse, settings: Settings, project_id: str | None = None) -> Report:
    """The stored report of the dashboard's default view, computed now when the ledger changed since."""
    filters = dashboard_filters(wh, project_id or settings.project_id)
    return stored_report(wh, filters, settings)
