"""Alerts and reports: a placeholder until alert rules and the weekly report exist."""

from __future__ import annotations

import streamlit as st

st.title("Alerts and reports")
st.info(
    "Coming with `agentledger alerts` and `agentledger report weekly`: budget, P95 session cost and spike rules "
    "delivered to Slack and email, their state and history, and the weekly top-10 cost report rendered here. "
    "No alert is evaluated by this dashboard yet.",
    icon=":material/hourglass_top:",
)
st.markdown("Meanwhile the **Overview** compares every headline number with the previous period.")
