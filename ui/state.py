"""Dashboard state: the global view (date range and filters) kept in the URL, the warehouse, cached reads.

The view is a small frozen dataclass with pure conversions to and from URL query parameters and to
:class:`~agentledger.analytics.filters.Filters`, so a shared link reproduces the same numbers. Reads go
through ``analytics/`` only: :func:`fetch` resolves an analytics function by module and name, runs it on the
cached warehouse and caches its result for :data:`TTL_SECONDS`. A function that does not exist (yet) raises
:class:`NotAvailable`, which pages show as a note instead of failing.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any

import streamlit as st

from agentledger.analytics.filters import DASHBOARD_DAYS, Filters, day_window, last_days
from agentledger.core.pricing import Pricer
from agentledger.core.records import LEDGER_END, LEDGER_START
from agentledger.core.settings import Settings
from agentledger.warehouse import connect
from agentledger.warehouse.base import Warehouse

# Fresh enough for a dashboard fed every few minutes, and a filter toggled back and forth is instant.
TTL_SECONDS = 60
# The values a filter can take change rarely (a new agent or model): ten minutes.
STABLE_TTL_SECONDS = 600
DEFAULT_DAYS = DASHBOARD_DAYS
# The filters of the sidebar, in order; each is a query parameter of the same name.
FILTER_DIMENSIONS = ("agent", "task_type", "model", "environment")
# Filters only a link sets (an alert's scope or group, e.g. ``?user=alice``): the sidebar shows one only while it
# is set, so that the pages never show a whole-project figure for a link that named a narrower scope.
LINK_DIMENSIONS = ("user", "feature", "provider", "source")
VIEW_DIMENSIONS = FILTER_DIMENSIONS + LINK_DIMENSIONS
DIMENSION_LABELS = {
    "agent": "Agent",
    "task_type": "Task type",
    "user": "User",
    "feature": "Feature",
    "model": "Model",
    "provider": "Provider",
    "source": "Source",
    "environment": "Environment",
}
ALL = "(all)"


def otlp_url() -> str:
    """Where this installation's OTLP/HTTP receiver listens (AGENTLEDGER_HOST and AGENTLEDGER_PORT)."""
    current = settings()
    host = f"[{current.host}]" if ":" in current.host else current.host
    return f"http://{host}:{current.port}/v1/traces"


def get_data_in() -> str:
    """What the pages say when the ledger is empty."""
    return f"""\
**No calls in this ledger yet.** Three ways to get data in:

- a synthetic workload to explore: `agentledger demo`
- OTLP trace files you already have: `agentledger ingest otlp FILE...`
- live traffic: point any OpenTelemetry exporter at `{otlp_url()}` (run `agentledger up` or `agentledger serve`)
"""


class NotAvailable(LookupError):
    """An analytics function the dashboard would use is not part of this build (yet)."""

    def __init__(self, module: str, name: str) -> None:
        super().__init__(f"agentledger.analytics.{module}.{name} is not available")
        self.module, self.name = module, name


# -- the view: pure, testable without a Streamlit runtime ------------------------------------------


def _parse_day(value: str | None) -> date | None:
    if not value:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        return None  # a mangled shared link falls back to the default window rather than failing
    # a day the ledger cannot hold (the windows before and after it must stay datetimes) falls back the same way
    return day if LEDGER_START.date() <= day < LEDGER_END.date() else None


@dataclass(frozen=True)
class View:
    """The days [start, end] (both inclusive, UTC) and the equality filters every page applies."""

    start: date
    end: date
    agent: str | None = None
    task_type: str | None = None
    model: str | None = None
    environment: str | None = None
    user: str | None = None
    feature: str | None = None
    provider: str | None = None
    source: str | None = None

    @property
    def days(self) -> int:
        """Length of the window in days."""
        return (self.end - self.start).days + 1

    def filters(self, project_id: str = "default") -> Filters:
        """The analytics filters: [start 00:00, end + 1 day 00:00) in UTC."""
        since, until = day_window(self.start, self.end)
        return Filters(
            since=since,
            until=until,
            agent=self.agent,
            task_type=self.task_type,
            model=self.model,
            environment=self.environment,
            user=self.user,
            feature=self.feature,
            provider=self.provider,
            source=self.source,
            project_id=project_id,
        )

    def previous(self) -> View:
        """The period of the same length just before this one, with the same filters."""
        return replace(self, start=self.start - timedelta(days=self.days), end=self.start - timedelta(days=1))

    def last_days(self, days: int) -> View:
        """The last ``days`` days of this window (the whole window when it is shorter)."""
        return replace(self, start=max(self.start, self.end - timedelta(days=days - 1)))

    def to_query(self) -> dict[str, str]:
        """Query parameters for the URL (unset filters are left out)."""
        params = {"from": self.start.isoformat(), "to": self.end.isoformat()}
        params.update({k: v for k in VIEW_DIMENSIONS if (v := getattr(self, k))})
        return params

    @classmethod
    def from_query(cls, params: Mapping[str, str], default: View) -> View:
        """The view a URL describes; missing or invalid parts come from ``default``."""
        start = _parse_day(params.get("from")) or default.start
        end = _parse_day(params.get("to")) or default.end
        if end < start:
            start, end = end, start
        chosen = {k: params.get(k) or getattr(default, k) for k in VIEW_DIMENSIONS}
        return cls(start=start, end=end, **chosen)


def default_view(last_call_at: datetime | None, today: date, days: int = DEFAULT_DAYS) -> View:
    """The last ``days`` days up to the newest call (or today when the ledger is empty)."""
    start, end = last_days(last_call_at, today, days)
    return View(start=start, end=end)


# -- warehouse and cached reads --------------------------------------------------------------------


def settings() -> Settings:
    """The settings of this process (``AGENTLEDGER_*`` environment, ``.env``)."""
    return Settings()


@st.cache_resource(show_spinner=False)
def _open(url: str) -> Warehouse:
    # One warehouse per URL for the whole server process; DuckDB reuses its database instance when the
    # same file is already open in this process (as under `agentledger up`), so this adds no second writer.
    return connect(url)


def warehouse() -> Warehouse:
    """The configured warehouse, opened once per server process."""
    return _open(settings().warehouse)


@st.cache_resource(show_spinner=False)
def _pricer(prices_file: str | None, cost_policy: str) -> Pricer:
    return Pricer.from_settings(settings())


def pricer() -> Pricer:
    """The prices of this process (catalog, ``AGENTLEDGER_PRICES_FILE`` overrides), loaded once per file."""
    current = settings()
    return _pricer(str(current.prices_file) if current.prices_file else None, str(current.cost_policy))


def lookup(module: str, name: str) -> Callable[..., Any] | None:
    """``agentledger.analytics.<module>.<name>`` if this build has it, else None."""
    qualified = f"agentledger.analytics.{module}"
    try:
        mod = importlib.import_module(qualified)
    except ModuleNotFoundError as exc:
        if exc.name != qualified:
            raise  # a real import error inside an existing module must surface, not hide as "not available"
        return None
    fn = getattr(mod, name, None)
    return fn if callable(fn) else None


def _run(url: str, module: str, name: str, args: tuple[Any, ...], kwargs: tuple[tuple[str, Any], ...]) -> Any:
    fn = lookup(module, name)
    if fn is None:
        raise NotAvailable(module, name)
    return fn(_open(url), *args, **dict(kwargs))


_cached = st.cache_data(ttl=TTL_SECONDS, show_spinner=False, max_entries=512)(_run)


def fetch(module: str, name: str, *args: Any, **kwargs: Any) -> Any:
    """``analytics.<module>.<name>(warehouse, *args, **kwargs)``, cached for :data:`TTL_SECONDS`.

    Raises :class:`NotAvailable` when the function does not exist in this build.
    """
    if lookup(module, name) is None:
        raise NotAvailable(module, name)
    return _cached(settings().warehouse, module, name, args, tuple(sorted(kwargs.items())))


# A second cache over the same function: st.cache_data keys on the function's source, so give it its own name.
def _run_stable(
    url: str, module: str, name: str, args: tuple[Any, ...], kwargs: tuple[tuple[str, Any], ...]
) -> Any:
    return _run(url, module, name, args, kwargs)


_cached_stable = st.cache_data(ttl=STABLE_TTL_SECONDS, show_spinner=False, max_entries=64)(_run_stable)


def fetch_stable(module: str, name: str, *args: Any, **kwargs: Any) -> Any:
    """Like :func:`fetch`, cached for :data:`STABLE_TTL_SECONDS`: for what rarely changes (filter options)."""
    if lookup(module, name) is None:
        raise NotAvailable(module, name)
    return _cached_stable(settings().warehouse, module, name, args, tuple(sorted(kwargs.items())))


def available(module: str, name: str) -> bool:
    """Whether ``analytics.<module>.<name>`` exists in this build."""
    return lookup(module, name) is not None


def refresh() -> None:
    """Forget every cached result so the next run reads the warehouse again."""
    _cached.clear()
    _cached_stable.clear()
    _pricer.clear()  # an edited overrides file is read again


# -- the view in the session and in the URL --------------------------------------------------------

_VIEW_KEY = "_agentledger_view"


VIEW_PARAMS = ("from", "to", *VIEW_DIMENSIONS)


def sync_url(view: View) -> None:
    """Write the view to the URL (keeping a page's own parameters), touching it only when it changes."""
    current = st.query_params.to_dict()
    target = {k: v for k, v in current.items() if k not in VIEW_PARAMS}
    target.update(view.to_query())
    if target != current:
        st.query_params.from_dict(target)


def set_view(view: View) -> None:
    """Make ``view`` the one the pages of this run read."""
    st.session_state[_VIEW_KEY] = view


def current_view() -> View:
    """The view the sidebar chose in this run."""
    return st.session_state[_VIEW_KEY]


def current_filters(view: View | None = None) -> Filters:
    """The analytics filters of ``view`` (default: the current one) for the configured project."""
    return (view or current_view()).filters(settings().project_id)


TRACE_KEY = "_agentledger_trace"  # the trace the Sessions page shows (None: none open)
SESSIONS_VIEW = "views/sessions.py"


def open_trace(trace_id: str) -> None:
    """Show ``trace_id`` in the Sessions page's drill-down now (stops this page's run)."""
    st.session_state[TRACE_KEY] = trace_id
    st.switch_page(SESSIONS_VIEW, query_params={**current_view().to_query(), "trace": trace_id})


def not_available(what: str, exc: NotAvailable) -> None:
    """The note a page shows where an analytics function it uses is missing from this build."""
    needed = f"agentledger.analytics.{exc.module}.{exc.name}"
    st.info(
        f"{what} is not available yet in this build (it needs `{needed}`).", icon=":material/hourglass_top:"
    )
