"""Sources and prices: each collector's last sync, cursor and error; calls per source; models without a
price; reported against computed cost."""

from __future__ import annotations

import polars as pl
import streamlit as st

from agentledger.ui import format as fmt
from agentledger.ui import state, tables

project_id = state.settings().project_id
st.title("Sources and prices")

st.subheader("Collectors")
cursors = state.fetch("sources", "list_sources", project_id)
if cursors.is_empty():
    st.info(
        "No collector has run yet. Configure Langfuse, Helicone or LiteLLM sources in `agentledger.yaml` and run "
        "`agentledger sync`, or import one source with `agentledger ingest langfuse|helicone|litellm ...`. "
        f"OTLP traffic (`{state.otlp_url()}`) needs no collector and appears below."
    )
else:
    failing = cursors.filter(pl.col("last_error").is_not_null())
    if not failing.is_empty():
        st.error(f"{failing.height} source(s) failed on their last run: see the last error column.")
    st.dataframe(
        cursors,
        placeholder=fmt.UNKNOWN,  # an unknown value reads "—", not "None"
        hide_index=True,
        width="stretch",
        column_config={
            "source_key": "Source",
            "value": "Cursor",
            "updated_at": st.column_config.DatetimeColumn("Cursor moved", format="YYYY-MM-DD HH:mm"),
            "last_run_at": st.column_config.DatetimeColumn("Last sync", format="YYYY-MM-DD HH:mm"),
            "last_error": "Last error",
            "records": st.column_config.NumberColumn("Records", format="localized"),
        },
        key="cursors",
    )

st.subheader("Calls per source")
activity = state.fetch("sources", "source_activity", project_id)
if activity.is_empty():
    st.markdown(state.get_data_in())
else:
    st.caption(
        "The whole ledger, whatever the dates and filters of the sidebar: what each source brought in."
    )
    st.dataframe(
        activity,
        placeholder=fmt.UNKNOWN,  # an unknown value reads "—", not "None"
        hide_index=True,
        width="stretch",
        column_config={
            "source": "Source",
            "calls": st.column_config.NumberColumn("Calls", format="localized"),
            "unpriced_calls": st.column_config.NumberColumn("Unpriced calls", format="localized"),
            "first_call_at": st.column_config.DatetimeColumn("First call", format="YYYY-MM-DD HH:mm"),
            "last_call_at": st.column_config.DatetimeColumn("Last call", format="YYYY-MM-DD HH:mm"),
            "last_ingested_at": st.column_config.DatetimeColumn("Last ingested", format="YYYY-MM-DD HH:mm"),
        },
        key="source_activity",
    )

view = state.current_view()
filters = state.current_filters(view)
settings = state.settings()
st.subheader("Models without a price")
st.caption(
    f"{view.start:%b %d} – {view.end:%b %d} with the sidebar's filters. An unpriced call has no cost (never $0); "
    "one priced only by its source's report counts that report. Add the model to the prices file "
    "(`AGENTLEDGER_PRICES_FILE`) and run `agentledger reprice`."
)
# "Every call has a price" is only true of a window that holds calls at all.
calls_in_window = state.fetch("metrics", "call_totals", filters).get(None, {}).get("calls") or 0
try:
    unpriced = state.fetch("audit", "unpriced_calls", filters)
except state.NotAvailable as exc:
    state.not_available("The list of calls without a price", exc)
else:
    if not calls_in_window:
        st.info(
            "No calls in this window with these filters: widen the dates or clear a filter in the sidebar."
        )
    elif unpriced.is_empty():
        st.success("Every call in this window has a computed price.", icon=":material/check_circle:")
    else:
        st.metric(
            "Calls without a computed price", fmt.count(unpriced["calls"].sum()), border=True, width="content"
        )
        st.dataframe(
            unpriced,
            placeholder=fmt.UNKNOWN,  # an unknown value reads "—", not "None"
            hide_index=True,
            width="stretch",
            column_order=[
                "source",
                "provider",
                "model",
                "price_status",
                "calls",
                "input_tokens",
                "output_tokens",
                "cost_usd",
                "last_call_at",
            ],
            column_config={
                "source": "Source",
                "provider": "Provider",
                "model": "Model",
                "price_status": "Price status",
                "calls": st.column_config.NumberColumn("Calls", format="localized"),
                "input_tokens": st.column_config.NumberColumn("Input tokens", format="compact"),
                "output_tokens": st.column_config.NumberColumn("Output tokens", format="compact"),
                "cost_usd": st.column_config.NumberColumn(
                    "Counted cost", format="$%.4f", help="The cost a source reported; —: no cost at all"
                ),
                "last_call_at": st.column_config.DatetimeColumn("Last call", format="YYYY-MM-DD HH:mm"),
            },
            key="unpriced_models",
        )

st.subheader("Reported against computed cost")
st.caption(
    f"Per source and model, over the calls that carry both costs. A call disagrees when the gap exceeds "
    f"{fmt.pct(settings.cost_tolerance)} of the computed cost (`AGENTLEDGER_COST_TOLERANCE`); the policy "
    f"`{settings.cost_policy}` decides which one counts."
)
try:
    audit = state.fetch("audit", "cost_audit", filters, tolerance=settings.cost_tolerance)
except state.NotAvailable as exc:
    state.not_available("The cost audit (reported against computed cost per source and model)", exc)
else:
    compared = audit.filter(pl.col("compared_calls") > 0)
    if compared.is_empty():
        st.info(
            "No call in this window carries both a reported and a computed cost, so there is nothing to compare."
        )
    else:
        disagreeing = int(compared["disagreeing_calls"].sum())
        if disagreeing:
            st.warning(
                f"{fmt.plural(disagreeing, 'call')} disagree beyond the tolerance.", icon=":material/warning:"
            )
        st.dataframe(
            tables.dollars(compared, ("reported_usd", "computed_usd")),
            placeholder=fmt.UNKNOWN,  # an unknown value reads "—", not "None"
            hide_index=True,
            width="stretch",
            column_order=[
                "source",
                "provider",
                "model",
                "compared_calls",
                "reported_usd",
                "computed_usd",
                "relative_gap",
                "disagreeing_calls",
            ],
            column_config={
                "source": "Source",
                "provider": "Provider",
                "model": "Model",
                "compared_calls": st.column_config.NumberColumn("Calls compared", format="localized"),
                "reported_usd": st.column_config.NumberColumn("Reported"),
                "computed_usd": st.column_config.NumberColumn("Computed"),
                "relative_gap": st.column_config.NumberColumn("Gap", format="percent"),
                "disagreeing_calls": st.column_config.NumberColumn("Disagreeing calls", format="localized"),
            },
            key="cost_audit",
        )
