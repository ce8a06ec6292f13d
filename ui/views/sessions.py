"""Sessions and traces: the costliest sessions and traces, and a trace's drill-down (a waterfall of its calls
and its context growth per step). A trace opens from a session row, a trace row, or ``?trace=<id>``; a
session (its traces, and its costliest trace opened) from a session row or ``?session=<key>``, as the
offending sessions of an alert link."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import polars as pl
import streamlit as st

from agentledger.analytics.filters import Filters
from agentledger.ui import figures, state, tables
from agentledger.ui import format as fmt

LIMIT = 25
# A session from a link (an alert's offending session) that is not among the costliest LIMIT is looked up
# among this many of the window's sessions.
SESSION_LOOKUP_LIMIT = 10_000
_TRACE = state.TRACE_KEY  # the open trace id (or None)
_SESSION = "_agentledger_session"  # the selected session key (or None)
_OPEN_FIRST = "_agentledger_open_first_trace"  # a session was just picked: open its costliest trace
_ROWS = "_agentledger_rows_{}"  # the ids behind the rows of each selectable table

# Written by tables.dollars: a fixed format shows a known $0.00002 as "$0.0000", which reads as free.
MONEY = st.column_config.NumberColumn(
    "Cost", help="—: no call has a known price (never counted as $0); unpriced calls left out"
)
COUNT = {"format": "localized"}
TIME = st.column_config.DatetimeColumn("Started (UTC)", format="YYYY-MM-DD HH:mm")


# -- selection callbacks: they run before the script, so the page renders the new trace at once ------


def _picked(table: str) -> str | None:
    rows = st.session_state[table].selection.rows
    ids = st.session_state.get(_ROWS.format(table), [])
    return ids[rows[0]] if rows and rows[0] < len(ids) else None


def _on_session() -> None:
    session = _picked("sessions_table")
    st.session_state[_SESSION] = session
    st.session_state[_OPEN_FIRST] = session is not None


def _on_trace(table: str) -> None:
    trace = _picked(table)
    if trace is not None:
        st.session_state[_TRACE] = trace


def _on_typed() -> None:
    typed = st.session_state["trace_id_input"].strip()
    if typed:
        st.session_state[_TRACE] = typed
    st.session_state["trace_id_input"] = ""


def _selectable(frame: pl.DataFrame, key: str, id_column: str, columns: dict, on_select: object) -> None:
    st.session_state[_ROWS.format(key)] = frame[id_column].to_list()
    st.dataframe(
        tables.dollars(frame, ["cost_usd"]),
        placeholder=fmt.UNKNOWN,  # an unknown value reads "—", not "None"
        key=key,
        on_select=on_select,
        selection_mode="single-row",
        hide_index=True,
        width="stretch",
        column_order=list(columns),
        column_config=columns,
    )


# -- pieces of the page ----------------------------------------------------------------------------


def _session_traces(filters: Filters, session: dict) -> pl.DataFrame:
    """The traces of one session, costliest first: the session's own time span and user narrow the scan."""
    since = max(filters.since, session["started_at"]) if filters.since else session["started_at"]
    until = session["ended_at"] + timedelta(milliseconds=1)
    narrow = replace(
        filters,
        since=since,
        until=min(filters.until, until) if filters.until else until,
        user=session["user_id"] or filters.user,
    )
    traces = state.fetch("breakdowns", "top_traces", narrow, limit=200)
    return traces.filter(pl.col("session_key") == session["session_key"])


TRACE_COLUMNS = {
    "trace_id": "Trace",
    "agent_name": "Agent",
    "task_type": "Task type",
    "outcome": "Outcome",
    "calls": st.column_config.NumberColumn("Calls", **COUNT),
    "error_calls": st.column_config.NumberColumn("Errors", **COUNT),
    "input_tokens": st.column_config.NumberColumn("Input tokens", format="compact"),
    "cost_usd": MONEY,
    "started_at": TIME,
}


def _sessions_section(filters: Filters) -> None:
    sessions = state.fetch("breakdowns", "top_sessions", filters, limit=LIMIT)
    sessions = sessions.with_columns((pl.col("duration_ms") / 60_000).alias("duration_min"))
    st.caption("Select a session to list its traces and open the costliest one below.")
    _selectable(
        sessions,
        "sessions_table",
        "session_key",
        {
            "session_key": "Session",
            "agent_name": "Agent",
            "user_id": "User",
            "tasks": st.column_config.NumberColumn("Tasks", **COUNT),
            "failed_tasks": st.column_config.NumberColumn("Failed", **COUNT),
            "calls": st.column_config.NumberColumn("Calls", **COUNT),
            "cost_usd": MONEY,
            "started_at": TIME,
            "duration_min": st.column_config.NumberColumn("Duration", format="%.1f min"),
        },
        _on_session,
    )
    chosen = st.session_state.get(_SESSION)
    match = sessions.filter(pl.col("session_key") == chosen) if chosen else sessions.clear()
    if chosen and match.is_empty():  # from a link: not among the costliest of the window
        more = state.fetch("breakdowns", "top_sessions", filters, limit=SESSION_LOOKUP_LIMIT)
        match = more.filter(pl.col("session_key") == chosen)
        if match.is_empty():
            st.warning(f"Session `{chosen}` has no calls in this window with these filters.")
            st.query_params.pop("session", None)
            return
    if match.is_empty():
        st.query_params.pop("session", None)
        return
    st.query_params["session"] = chosen
    traces = _session_traces(filters, match.row(0, named=True))
    if st.session_state.pop(_OPEN_FIRST, False) and not traces.is_empty():
        st.session_state[_TRACE] = traces["trace_id"][0]
    st.markdown(f"**Traces of session `{chosen}`** ({traces.height})")
    _selectable(
        traces, "session_traces_table", "trace_id", TRACE_COLUMNS, lambda: _on_trace("session_traces_table")
    )


def _trace_tiles(calls: pl.DataFrame) -> None:
    cost = calls["cost_usd"].drop_nulls()
    start, end = calls["started_at"].min(), calls["ended_at"].drop_nulls().max()
    errors = calls.filter(pl.col("status") == "error").height
    row = st.container(horizontal=True, key="trace_tiles")  # wraps rather than cutting values when narrow
    unpriced = calls.height - len(cost)
    row.metric(
        "Cost",
        fmt.usd(float(cost.sum()) if len(cost) else None),
        f"{fmt.plural(unpriced, 'call')} without a price left out" if unpriced else None,
        delta_color="off",
        delta_arrow="off",
        border=True,
        width="stretch",
    )
    row.metric(
        "Calls",
        fmt.count(calls.height),
        f"{errors} failed" if errors else None,
        delta_color="inverse",
        delta_arrow="off",
        border=True,
        width="stretch",
    )
    row.metric(
        "Input tokens",
        fmt.tokens(calls["input_tokens"].sum()),
        f"{fmt.tokens(calls['cache_read_tokens'].sum())} from cache",
        delta_color="off",
        delta_arrow="off",
        border=True,
        width="stretch",
    )
    row.metric("Output tokens", fmt.tokens(calls["output_tokens"].sum()), border=True, width="stretch")
    duration = (end - start).total_seconds() * 1000 if end is not None else None
    row.metric(
        "Duration",
        fmt.duration_ms(duration),
        f"outcome: {calls['outcome'][0]}",
        delta_color="normal" if calls["outcome"][0] == "success" else "inverse",
        delta_arrow="off",
        border=True,
        width="stretch",
    )


def _drill_down(filters: Filters, trace: str) -> None:
    project_id = state.settings().project_id
    calls = state.fetch("breakdowns", "trace_calls", project_id, trace)
    st.subheader(f"Trace `{trace}`")
    if calls.is_empty():
        st.warning(f"No LLM call of trace `{trace}` in this ledger (project `{project_id}`).")
        return
    first = calls.row(0, named=True)
    st.caption(
        f"{fmt.label(first['agent_name'])} · {fmt.label(first['task_type'])} · session "
        f"{fmt.label(first['session_id'], 'none')} · user {fmt.label(first['user_id'])} · source {first['source']}"
    )
    _trace_tiles(calls)
    st.plotly_chart(figures.trace_waterfall(calls), key="trace_waterfall")
    typical = state.fetch(
        "tokens",
        "context_growth",
        replace(filters, agent=first["agent_name"], task_type=first["task_type"]),
        group_by=None,
    )
    st.markdown("**Context growth per step**")
    label = f"median of {fmt.label(first['task_type'])} tasks"
    st.plotly_chart(figures.context_growth(calls, typical, label), key="trace_context_growth")
    st.dataframe(
        tables.dollars(calls, ["cost_usd"]),
        placeholder=fmt.UNKNOWN,  # an unknown value reads "—", not "None"
        hide_index=True,
        width="stretch",
        column_order=[
            "step",
            "model",
            "input_tokens",
            "cache_read_tokens",
            "output_tokens",
            "cost_usd",
            "latency_ms",
            "status",
            "finish_reason",
            "error_type",
        ],
        column_config={
            "step": "Step",
            "model": "Model",
            "input_tokens": st.column_config.NumberColumn("Input", **COUNT),
            "cache_read_tokens": st.column_config.NumberColumn("Cache reads", **COUNT),
            "output_tokens": st.column_config.NumberColumn("Output", **COUNT),
            "cost_usd": MONEY,
            "latency_ms": st.column_config.NumberColumn("Latency (ms)", format="%.0f"),
            "status": "Status",
            "finish_reason": "Finish reason",
            "error_type": "Error",
        },
        key="trace_calls_table",
    )


# -- the page --------------------------------------------------------------------------------------

st.title("Sessions and traces")
filters = state.current_filters()
if _TRACE not in st.session_state:
    st.session_state[_TRACE] = st.query_params.get("trace")  # a shared link opens its trace
if _SESSION not in st.session_state and st.query_params.get("session"):
    # A link to a session (an alert's offender) lists its traces and opens the costliest, unless it names one.
    st.session_state[_SESSION] = st.query_params["session"]
    st.session_state[_OPEN_FIRST] = not st.session_state[_TRACE]

# One list at a time: each is a scan of the whole window, so the hidden one is not computed.
shown = st.segmented_control(
    "List",
    ["sessions", "traces"],
    default="sessions",
    required=True,
    format_func={"sessions": "Costliest sessions", "traces": "Costliest traces"}.get,
    key="sessions_list",
    label_visibility="collapsed",
)
try:
    if shown == "sessions":
        _sessions_section(filters)
    else:
        st.caption("Select a trace to open it below.")
        top = state.fetch("breakdowns", "top_traces", filters, limit=LIMIT)
        _selectable(top, "traces_table", "trace_id", TRACE_COLUMNS, lambda: _on_trace("traces_table"))
except state.NotAvailable as exc:
    state.not_available("The costliest sessions and traces", exc)
    st.stop()

st.text_input("Open a trace by id", placeholder="trace id", key="trace_id_input", on_change=_on_typed)

trace = st.session_state.get(_TRACE)
if trace:
    st.query_params["trace"] = trace
    _drill_down(filters, trace)
else:
    st.query_params.pop("trace", None)
    st.info("Select a session or a trace above to see its calls.", icon=":material/touch_app:")
