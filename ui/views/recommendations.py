"""Recommendations and what-if: a placeholder until `agentledger recommend` exists."""

from __future__ import annotations

import streamlit as st

st.title("Recommendations and what-if")
st.info(
    "Coming with `agentledger recommend`: routing, caching, compression, output caps and batching "
    "recommendations, each with its monthly saving estimated by replaying your recorded history, and a what-if "
    "form to try a policy. Nothing is estimated on this page yet.",
    icon=":material/hourglass_top:",
)
st.markdown(
    "Until then, the **Breakdown** page (cost per completed task by task type and model) and the **Waste** page "
    "show where a change would pay most."
)
