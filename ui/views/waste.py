"""Waste: the dollars of failed tasks and failed calls, by reason and by agent, with example traces."""

from __future__ import annotations

import polars as pl
import streamlit as st

from agentledger.ui import figures, state, tables
from agentledger.ui import format as fmt
from agentledger.ui.state import DIMENSION_LABELS

REASONS = {"failed_task_usd": "failed tasks", "failed_call_usd": "failed calls and retries in other tasks"}
REASON_LABELS = {
    "failed_task": "Failed tasks",
    "failed_call": "Failed calls and retries",
    "runaway_loop": "Runaway loops",
    "duplicate_call": "Exact-duplicate calls",
    "truncated_output": "Truncated outputs",
    "unread_cache_write": "Cache writes never read",
}

view = state.current_view()
filters = state.current_filters(view)
st.title("Waste")
st.caption(
    "Money spent on work that did not deliver: every call of a failed task, and the failed calls (errors, "
    "retries) inside tasks that succeeded."
)

# The headline, the reasons and the split by group all come from one call (the same two queries).
with st.spinner("Attributing waste to its reasons…"):
    summary = state.fetch(
        "waste", "waste_summary", filters, runaway_threshold=state.settings().runaway_call_threshold
    )
# A row that wraps: each tile as wide as its text needs, so no label is cut on a narrow screen.
tiles = st.container(horizontal=True, key="waste_tiles")

wasted = summary["reasons"].filter(pl.col("counts_as_waste"))
unpriced = int(wasted["unpriced_calls"].sum()) if "unpriced_calls" in wasted.columns else 0
if unpriced:
    st.warning(
        f"{fmt.plural(unpriced, 'wasted call')} without a known price {'is' if unpriced == 1 else 'are'} left out "
        "of these dollars (never counted as $0). See **Sources and prices** for the models concerned.",
        icon=":material/warning:",
    )

st.subheader("Where the waste goes")
by = st.segmented_control(
    "Waste by",
    ["agent", "task_type", "model"],
    default="agent",
    required=True,
    format_func=DIMENSION_LABELS.get,
    key="waste_by",
    label_visibility="collapsed",
)
groups = summary["groups"][by]
# Dollars and calls add up over the groups, so the split by reason needs no query of its own.
split = tables.sum_groups(
    groups, ("failed_task_usd", "failed_task_calls", "failed_call_usd", "failed_call_calls")
)
# The detail under each number is its (grey) delta line: in a row that wraps, a tile keeps its text whole.
for label, value, detail in (
    (
        "Waste",
        summary["waste_usd"],
        f"{fmt.pct(summary['waste_ratio'])} of {fmt.usd(summary['total_cost_usd'])} spent",
    ),
    (
        "Failed tasks",
        split["failed_task_usd"],
        f"{fmt.plural(summary['failed_tasks'], 'task')}, {fmt.plural(split['failed_task_calls'], 'call')}",
    ),
    (
        "Failed calls and retries",
        split["failed_call_usd"],
        f"{fmt.plural(split['failed_call_calls'], 'call')} inside tasks that succeeded",
    ),
):
    tiles.metric(
        label, fmt.usd(value), detail, delta_color="off", delta_arrow="off", border=True, width="stretch"
    )

frame = pl.DataFrame(
    [{"key": fmt.label(g["key"]), **{k: g[k] for k in REASONS}} for g in groups],
    schema={"key": pl.String, **dict.fromkeys(REASONS, pl.Float64)},
)
st.plotly_chart(
    figures.stacked_bars(frame, key="key", parts=REASONS, title="Waste (USD)", nothing="No waste"),
    key="waste_by_group",
)

st.subheader("Waste by reason, with example traces")
st.caption(
    "Failed tasks and failed calls are the waste above and never overlap. The other reasons are informational: "
    "a call can carry several of them, and may also be in the first two."
)
reasons = summary["reasons"].with_columns(
    pl.col("reason").replace_strict(REASON_LABELS, default=pl.col("reason")).alias("label")
)
st.plotly_chart(
    figures.ranked_bars(
        reasons["label"].to_list(), reasons["cost_usd"].to_list(), title="Dollars", kind="usd"
    ),
    key="waste_reasons_chart",
)
for row in reasons.iter_rows(named=True):
    label, examples = st.columns([2, 3], vertical_alignment="center")
    kind = "waste" if row["counts_as_waste"] else "informational"
    label.markdown(
        f"**{row['label']}** · {fmt.usd(row['cost_usd'])} ({fmt.pct(row['share_of_cost'])} of spend)  \n"
        f"{fmt.plural(row['calls'], 'call')} in {fmt.plural(row['traces'], 'trace')} · {kind}"
    )
    ids = row["example_trace_ids"] or []
    if not ids:
        examples.caption("no example in this window")
    for column, trace_id in zip(examples.columns(3), ids, strict=False):
        if column.button(
            f"{trace_id[:10]}…",
            key=f"example_{row['reason']}_{trace_id}",
            help=f"Open trace {trace_id}",
            icon=":material/open_in_new:",
            width="stretch",
        ):
            state.open_trace(trace_id)
