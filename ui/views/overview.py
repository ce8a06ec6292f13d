"""Overview: the headline numbers against the previous period, spend by model over time, the model mix and
the week's top cost drivers."""

from __future__ import annotations

import streamlit as st

from agentledger.ui import figures, state, tables
from agentledger.ui import format as fmt
from agentledger.ui.state import DIMENSION_LABELS

view = state.current_view()
before = view.previous()
# This period and the one before in one pass over the ledger.
periods = state.fetch(
    "metrics", "compare_metrics", state.current_filters(view), state.current_filters(before)
)
now, prev = periods["current"], periods["previous"]

st.title("Overview")
compared = f"vs {before.start:%b %d} – {before.end:%b %d}"
extent = state.fetch("sources", "data_extent", state.settings().project_id)
first_day = extent.first_call_at.date() if extent.first_call_at is not None else None
if prev["calls"] and first_day is not None and before.start < first_day <= before.end:
    # A previous period mostly before the first call would read as a spike: say what it covers.
    compared += f" (the ledger starts on {first_day:%b %d}: the changes compare with that part of it only)"
st.caption(f"{view.start:%b %d, %Y} – {view.end:%b %d, %Y} ({view.days} days), {compared}")

# A row that wraps: each tile as wide as its text needs, so no value or change is cut on a narrow screen.
with st.container(horizontal=True, key="overview_tiles"):
    for tile in tables.overview_tiles(now, prev):
        st.metric(
            tile.label,
            tile.value,
            tile.delta,
            delta_color=tile.delta_color,
            help=tile.help,
            border=True,
            width="stretch",
            delta_arrow="auto" if tile.delta_known else "off",
        )

if now["calls"] == 0:
    st.info("No calls in this window with these filters: widen the dates or clear a filter in the sidebar.")
    st.stop()

st.caption(
    f"{fmt.count(now['calls'])} calls · {fmt.count(now['tasks'])} tasks "
    f"({fmt.count(now['completed_tasks'])} completed, {fmt.count(now['failed_tasks'])} failed) · "
    f"{fmt.count(now['sessions'])} sessions · waste {fmt.usd(now['waste_usd'])}"
)
if now["unpriced_calls"]:
    st.warning(
        f"{fmt.plural(now['unpriced_calls'], 'call')} without a known price {'is' if now['unpriced_calls'] == 1 else 'are'} "
        "left out of every dollar figure "
        "(never counted as $0). See **Sources and prices** for the models concerned.",
        icon=":material/warning:",
    )

week = view.last_days(7)
# The spend per day by model and the week's drivers (by each dimension offered) in one more pass.
series = state.fetch(
    "metrics",
    "overview_series",
    state.current_filters(view),
    state.current_filters(week),
    state.current_filters(week.previous()),
)

colors = figures.model_colors([m["model"] for m in now["model_mix"]])
# One above the other: side by side, long model names and share labels were cut on laptop screens.
st.subheader("Spend per day by model")
per_day = series["model_mix"]
st.plotly_chart(
    figures.spend_over_time(figures.day_model_frame(per_day), colors, (view.start, view.end)),
    key="spend_over_time",
)
st.subheader("Model mix")
st.plotly_chart(figures.model_mix(now["model_mix"], colors), key="model_mix")

st.subheader("Top cost drivers of the week" if week.days == 7 else "Top cost drivers")
st.caption(
    f"{week.start:%b %d} – {week.end:%b %d} against the {fmt.plural(week.days, 'day')} before"
    if week.days > 1
    else f"{week.start:%b %d} against the day before"
)
by = st.segmented_control(
    "Drivers by",
    ["task_type", "agent", "model"],
    default="task_type",
    required=True,
    format_func=DIMENSION_LABELS.get,
    key="drivers_by",
    label_visibility="collapsed",
)
weeks = series["drivers"][by]
drivers = tables.top_drivers(weeks["current"], weeks["previous"]).rename({"key": DIMENSION_LABELS[by]})
if drivers.is_empty():
    st.info("No priced calls in these days.", icon=":material/info:")
    st.stop()
st.dataframe(
    tables.dollars(drivers, ("cost_usd", "previous_cost_usd", "change_usd")),
    placeholder=fmt.UNKNOWN,  # an unknown value reads "—", not "None"
    hide_index=True,
    width="stretch",
    column_config={
        "cost_usd": st.column_config.NumberColumn("Cost this week" if week.days == 7 else "Cost"),
        "previous_cost_usd": st.column_config.NumberColumn("Week before" if week.days == 7 else "Before"),
        "change_usd": st.column_config.NumberColumn("Change"),
        "change": st.column_config.NumberColumn("Change %", format="percent"),
    },
    key="top_drivers",
)
