"""Alerts and reports: each alert instance's state, the history of notifications and where they went, and
the weekly top-10 cost report of a chosen ISO week, rendered and downloadable.

The alert engine (``agentledger alerts check``, the scheduler) writes the alert tables; this page only reads
them, through ``analytics.alert_history``. Rules are edited in the rules file, not here.
"""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
import streamlit as st

from agentledger.analytics.report import previous_week
from agentledger.analytics.report_render import render
from agentledger.ui import act, state
from agentledger.ui import format as fmt

HISTORY_LIMIT = 100
ROW = 76  # pixels of a history row
TIME = {"format": "YYYY-MM-DD HH:mm"}
REPORT_FORMATS = (
    ("md", "Markdown", "text/markdown"),
    ("html", "HTML", "text/html"),
    ("json", "JSON", "application/json"),
)


def _shown(table: pl.DataFrame) -> list[str]:
    """The columns to show: the group only when some rule is grouped (by agent, user…)."""
    return [c for c in table.columns if c != "group" or table["group"].null_count() < table.height]


def _tiles(states: pl.DataFrame, history: pl.DataFrame) -> None:
    row = st.container(horizontal=True, key="alert_tiles")  # wraps rather than cutting labels when narrow
    firing = fmt.count(states.filter(pl.col("status") == "firing").height)
    row.metric("Firing now", firing, border=True, width="stretch")
    row.metric("Alert instances", fmt.count(states.height), border=True, width="stretch")
    row.metric(
        "Undelivered notifications",
        fmt.count(int(history["undelivered"].sum()) if not history.is_empty() else 0),
        help=f"Among the last {HISTORY_LIMIT} events: deliveries pending, failed or abandoned",
        border=True,
        width="stretch",
    )


def _states(states: pl.DataFrame) -> None:
    st.subheader("State")
    if states.is_empty():
        st.info(
            "No rule has fired yet in this project. Rules are evaluated by `agentledger alerts check`, "
            "or on a schedule by `agentledger scheduler`.",
            icon=":material/notifications_off:",
        )
    else:
        table = act.alert_state_table(states)
        st.dataframe(
            table,
            placeholder=fmt.UNKNOWN,  # an unknown value reads "—", not "None"
            hide_index=True,
            width="stretch",
            key="alert_state_table",
            column_order=_shown(table),
            column_config={
                "rule": "Rule",
                "group": "Group",
                "kind": "Kind",
                "severity": "Severity",
                "status": "Status",
                "since": st.column_config.DatetimeColumn("Since (UTC)", **TIME),
                "value": "Last value",
                "threshold": "Threshold",
                "metric": "Metric",
                "evaluated_at": st.column_config.DatetimeColumn("Evaluated (UTC)", **TIME),
                "notified_at": st.column_config.DatetimeColumn("Last notified (UTC)", **TIME),
            },
        )


def _history(history: pl.DataFrame) -> None:
    st.subheader("History")
    table = act.alert_history_table(history)
    if table.is_empty():
        st.caption("No notification has been sent or recorded yet.")
        return
    st.caption(f"The last {fmt.plural(table.height, 'event')}, newest first, with where each notice went.")
    st.dataframe(
        table,
        placeholder=fmt.UNKNOWN,  # an unknown value reads "—", not "None"
        hide_index=True,
        width="stretch",
        key="alert_history_table",
        column_order=_shown(table),
        row_height=ROW,  # three lines: a failed delivery's error wraps instead of being cut
        height=min(40 + ROW * table.height, 800),  # every row in view up to ten
        column_config={
            # Fixed widths that add up to the page's width beside the sidebar in a 1280 px window (810 px),
            # so the delivery column wraps in view.
            "occurred_at": st.column_config.DatetimeColumn("When (UTC)", width=120, **TIME),
            "rule": st.column_config.TextColumn("Rule", width=95),
            "group": st.column_config.TextColumn("Group", width=85),
            "event": st.column_config.TextColumn("Event", width=65),
            "severity": st.column_config.TextColumn("Severity", width=60),
            "value": st.column_config.TextColumn("Value", width=60),
            "threshold": st.column_config.TextColumn("Threshold", width=70),
            "delivery": st.column_config.TextColumn("Delivery", width=255),
        },
    )


def _week(weeks: list[str], now: datetime, tz: str) -> str:
    """The week picker: the week in the URL, else the last complete week, else the newest with data."""
    wanted = st.query_params.get("week")
    last_complete = previous_week(now, tz)
    default = wanted if wanted in weeks else last_complete if last_complete in weeks else weeks[0]
    if st.session_state.get("report_week") not in weeks:
        st.session_state["report_week"] = default
    week = st.selectbox("ISO week", weeks, key="report_week", help=f"Monday to Sunday in {tz}")
    st.query_params["week"] = week
    return week


def _report(project_id: str) -> None:
    st.subheader("Weekly report")
    settings = state.settings()
    tz = settings.report_timezone
    extent = state.fetch("sources", "data_extent", project_id)
    weeks = act.report_weeks(extent.first_call_at, extent.last_call_at, tz)
    if not weeks:
        st.info("No calls yet: nothing to report.")
        return
    # To the minute: a rerun within the minute reuses the cached report (its "generated at" time).
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    picker, downloads = st.columns([1, 3], vertical_alignment="bottom")
    with picker:
        week = _week(weeks, now, tz)
    with st.spinner(f"Building the report of {week}…"):
        report = state.fetch("report", "build_weekly_report", settings, week, now=now)
    for column, (form, label, mime) in zip(downloads.columns(3), REPORT_FORMATS, strict=True):
        column.download_button(
            label,
            render(report, form),
            file_name=f"agentledger-weekly-{report.week}.{form}",
            mime=mime,
            key=f"report_download_{form}",
            icon=":material/download:",
            width="stretch",
        )
    st.caption(
        "The whole project, whatever the sidebar filters: the report `agentledger report weekly` prints and "
        "the scheduler sends each week (`AGENTLEDGER_REPORT_WEEKDAY`, `AGENTLEDGER_REPORT_HOUR`)."
    )
    with st.container(border=True):
        st.html(render(report, "html"))


# -- the page --------------------------------------------------------------------------------------

st.title("Alerts and reports")
project = state.settings().project_id
st.caption(
    f"Rules live in the `alerts:` section of `{state.settings().config_file}` (also served by "
    "`GET/PUT /api/alerts/rules`). The sidebar filters do not apply to this page: alerts and the report "
    "cover the whole project."
)
try:
    states = state.fetch("alert_history", "alert_states", project)
    history = state.fetch("alert_history", "alert_history", project, HISTORY_LIMIT)
    _tiles(states, history)
    _states(states)
    _history(history)
    _report(project)
except state.NotAvailable as exc:
    state.not_available("Alert state and the weekly report", exc)
