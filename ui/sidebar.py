"""The global filters in the sidebar: date range, agent, task type, model, environment (and user, feature,
provider or source while a link has set one).

Their values start from the URL (a shared link opens the same view) and are written back to it on every run.
"""

from __future__ import annotations

from datetime import UTC, datetime

import streamlit as st

from agentledger.analytics.sources import DataExtent
from agentledger.ui import format as fmt
from agentledger.ui import state
from agentledger.ui.state import (
    ALL,
    DIMENSION_LABELS,
    FILTER_DIMENSIONS,
    LINK_DIMENSIONS,
    VIEW_DIMENSIONS,
    View,
)

_DATES = "f_dates"
_LAST = "_agentledger_last_view"
_INIT = "_agentledger_filters_loaded"


def _key(dimension: str) -> str:
    return f"f_{dimension}"


def _default(extent: DataExtent) -> View:
    return state.default_view(extent.last_call_at, datetime.now(UTC).date())


def _load(view: View) -> None:
    st.session_state[_DATES] = (view.start, view.end)
    for dim in VIEW_DIMENSIONS:
        st.session_state[_key(dim)] = getattr(view, dim) or ALL
    st.session_state[_LAST] = view


def _restore() -> None:
    """Give back their last values to filter widgets whose state was dropped (a run that skipped them)."""
    last: View = st.session_state[_LAST]
    if not isinstance(st.session_state.get(_DATES), tuple | list):
        st.session_state[_DATES] = (last.start, last.end)
    for dim in VIEW_DIMENSIONS:
        if _key(dim) not in st.session_state:
            st.session_state[_key(dim)] = getattr(last, dim) or ALL


def _options(dimension: str, project_id: str) -> list[str]:
    """The values a filter can take: every non-empty value seen in the ledger, most expensive first (for a
    filter only a link sets, the value of the link)."""
    values = state.fetch_stable("sources", "dimension_values", project_id)
    ranked = list(values.get(dimension, ()))
    chosen = st.session_state.get(_key(dimension))
    if chosen and chosen != ALL and chosen not in ranked:
        ranked.append(chosen)  # a value from a shared link that this ledger lacks still filters (to nothing)
    return [ALL, *ranked]


def _view_from_widgets() -> View:
    dates = st.session_state.get(_DATES)
    last: View = st.session_state[_LAST]
    # While a range is being picked the widget holds only its first day: keep the last complete range.
    if isinstance(dates, (tuple, list)) and len(dates) == 2:
        start, end = dates
    else:
        start, end = last.start, last.end
    chosen = {
        dim: (v if (v := st.session_state.get(_key(dim))) not in (None, ALL) else None)
        for dim in VIEW_DIMENSIONS
    }
    return View(start=start, end=end, **chosen)


def _reset(default: View) -> None:
    _load(default)


def render(extent: DataExtent) -> View:
    """Draw the filters, write the chosen view to the URL and return it."""
    default = _default(extent)
    if not st.session_state.get(_INIT):
        _load(View.from_query(st.query_params.to_dict(), default))
        st.session_state[_INIT] = True
    _restore()
    project_id = state.settings().project_id
    with st.sidebar:
        st.date_input("Dates (UTC)", key=_DATES, format="YYYY-MM-DD", help="Both days included")
        for dim in FILTER_DIMENSIONS:
            st.selectbox(DIMENSION_LABELS[dim], _options(dim, project_id), key=_key(dim))
        for dim in LINK_DIMENSIONS:
            if st.session_state.get(_key(dim)) not in (None, ALL):
                st.selectbox(
                    DIMENSION_LABELS[dim], _options(dim, project_id), key=_key(dim), help="Set by the link"
                )
        left, right = st.columns(2)
        left.button(
            "Reset", on_click=_reset, args=(default,), width="stretch", help="Last 30 days, no filters"
        )
        if right.button("Refresh", width="stretch", help="Read the warehouse again"):
            state.refresh()
        if not extent.empty:
            st.caption(
                f"{fmt.count(extent.calls)} calls from {fmt.when(extent.first_call_at)} "
                f"to {fmt.when(extent.last_call_at)}"
            )
    view = _view_from_widgets()
    st.session_state[_LAST] = view
    state.sync_url(view)
    return view
