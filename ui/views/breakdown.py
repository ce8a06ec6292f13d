"""Breakdown: any metric by agent, task type, user, feature, model, provider, source or environment, as a
sortable table and a chart, with a CSV download."""

from __future__ import annotations

import streamlit as st

from agentledger.ui import figures, state, tables
from agentledger.ui import format as fmt
from agentledger.ui.state import DIMENSION_LABELS

DIMENSIONS = ("agent", "task_type", "user", "feature", "model", "provider", "source", "environment")


def _from_url(key: str, options: tuple[str, ...] | list[str], default: str) -> str:
    """The page's own choice from the URL (a shared link), else ``default``."""
    value = st.query_params.get(key)
    return value if value in options else default


if "breakdown_by" not in st.session_state:
    st.session_state["breakdown_by"] = _from_url("by", DIMENSIONS, "agent")
    st.session_state["breakdown_metric"] = _from_url("metric", list(tables.METRICS), "total_cost_usd")

st.title("Breakdown")
left, right = st.columns(2)
by = left.selectbox("Group by", DIMENSIONS, format_func=DIMENSION_LABELS.get, key="breakdown_by")
metric = right.selectbox(
    "Metric", list(tables.METRICS), format_func=lambda k: tables.METRICS[k][0], key="breakdown_metric"
)
st.query_params["by"], st.query_params["metric"] = by, metric

view = state.current_view()
result = state.fetch("metrics", "compute_metrics", state.current_filters(view), by)
label, kind = tables.METRICS[metric]
frame = tables.metrics_table(result["groups"], DIMENSION_LABELS[by])
if frame.is_empty():
    st.info("No calls in this window with these filters: widen the dates or clear a filter in the sidebar.")
    st.stop()

st.plotly_chart(
    figures.ranked_bars(
        frame[DIMENSION_LABELS[by]].to_list(), frame[metric].to_list(), title=label, kind=kind
    ),
    key="breakdown_chart",
)
if frame.height > 20:
    st.caption(f"The chart shows the top 20 of {frame.height} groups; the table has them all.")

# Dollars are written by tables.dollars (a column format would show a known $0.004 as "$0.00").
_FORMATS = {"usd": None, "pct": "percent", "count": "localized", "tokens": "compact"}
_UNKNOWN_HELP = "—: no call of the group has a known price (never counted as $0)"
st.dataframe(
    tables.dollars(frame, [k for k, (_, knd) in tables.METRICS.items() if knd == "usd"]),
    placeholder=fmt.UNKNOWN,  # an unknown value reads "—", not "None"
    hide_index=True,
    width="stretch",
    column_config={
        k: st.column_config.NumberColumn(
            lbl, format=_FORMATS[knd], help=_UNKNOWN_HELP if knd in ("usd", "pct") else None
        )
        for k, (lbl, knd) in tables.METRICS.items()
    },
    key="breakdown_table",
)
st.download_button(
    "Download CSV",
    tables.csv_table(frame),
    file_name=f"agentledger_{by}_{view.start}_{view.end}.csv",
    mime="text/csv",
    icon=":material/download:",
)
