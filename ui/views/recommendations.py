"""Recommendations and what-if: what to change, with the monthly saving the replay of the window's recorded
calls gives (and its 95 % interval), the evidence behind each, and a form to replay a policy of your own."""

from __future__ import annotations

import json
from typing import Any

import streamlit as st
import yaml

from agentledger.analytics.filters import Filters
from agentledger.analytics.recommend import Recommendation, RecommendOptions, Report, dashboard_max_age
from agentledger.analytics.whatif import parse_policy, run_whatif
from agentledger.core.errors import ConfigError, InputError
from agentledger.ui import act, figures, state
from agentledger.ui import format as fmt

_POLICY = "_agentledger_whatif_policy"  # the policy (JSON) last submitted through the form


# -- recommendations -------------------------------------------------------------------------------


def _trace_buttons(key: str, trace_ids: list[str]) -> None:
    if not trace_ids:
        st.caption("No example trace.")
        return
    for column, trace_id in zip(st.columns(3), trace_ids, strict=False):
        if column.button(
            f"{trace_id[:10]}…",
            key=f"{key}_{trace_id}",
            help=f"Open trace {trace_id}",
            icon=":material/open_in_new:",
            width="stretch",
        ):
            state.open_trace(trace_id)


def _details(rank: int, rec: Recommendation) -> None:
    """The expander of one recommendation: action, risk, evidence, example traces and its policy."""
    title = f"{rank}. {act.KIND_LABELS.get(rec.kind, rec.kind)} · {act.target_label(rec.target)}"
    with st.expander(f"{title} — {fmt.usd(rec.monthly_savings_usd)} a month"):
        st.markdown(f"**{rec.action}**")
        st.caption(f"Risk: {rec.risk} · confidence {rec.confidence}")
        low, high = rec.savings_ci_usd
        st.markdown(
            f"Saves about **{fmt.usd(rec.monthly_savings_usd)}** a month "
            f"(95 % interval {fmt.usd(low)} to {fmt.usd(high)})."
        )
        evidence, traces = st.columns([3, 2], gap="large")
        with evidence:
            st.markdown("**Evidence**")
            rows = act.evidence_rows(rec.evidence)
            st.markdown("\n".join(f"- {label}: **{value}**" for label, value in rows) or "—")
        with traces:
            st.markdown("**Example traces** (largest saving)")
            _trace_buttons(f"rec_{rank}_trace", list(rec.evidence.get("example_trace_ids") or []))
            if rec.policy:
                st.markdown("**Policy** (`agentledger whatif --policy FILE` replays it)")
                st.code(yaml.safe_dump(rec.policy, sort_keys=False), language="yaml")


def _recommendations(report: Report) -> None:
    recs = report.recommendations
    if not recs:
        threshold = RecommendOptions().min_monthly_savings_usd
        st.info(
            f"No change would save at least {fmt.usd(threshold)} a month in this window "
            "(`AGENTLEDGER_RECOMMEND_MIN_MONTHLY_SAVINGS_USD`). The notes below say what was looked at.",
            icon=":material/check_circle:",
        )
        return
    frame = act.recommendations_frame(recs)
    st.dataframe(
        frame,
        placeholder=fmt.UNKNOWN,  # an unknown value reads "—", not "None"
        hide_index=True,
        width="stretch",
        key="recommendations_table",
        # Tall rows: the long texts (target, action, risk) wrap instead of being cut.
        row_height=140,
        # What to change and what it saves first, in widths that fit the main column of a 1280 px window with
        # the sidebar open (about 810 px); the risk, also in each recommendation's details below, comes last.
        column_order=[
            "rank",
            "kind",
            "target",
            "action",
            "monthly_savings_usd",
            "ci_low_usd",
            "ci_high_usd",
            "confidence",
            "risk",
        ],
        column_config={
            "rank": st.column_config.NumberColumn("#", width=32),
            "kind": st.column_config.TextColumn("Kind", width=100),
            "target": st.column_config.TextColumn(
                "Target", width=140, help="Where the change applies: task type · agent · model"
            ),
            "action": st.column_config.TextColumn("Action", width=250, help="What to change"),
            "monthly_savings_usd": st.column_config.NumberColumn(
                "Per month",
                format="$%.2f",
                width=75,
                help="Saving a month: the window's calls replayed under the change, scaled to 30 days",
            ),
            "ci_low_usd": st.column_config.NumberColumn(
                "95 % low",
                format="$%.2f",
                width=65,
                help="Low end of the saving's 95 % interval (sessions resampled)",
            ),
            "ci_high_usd": st.column_config.NumberColumn(
                "95 % high", format="$%.2f", width=68, help="High end of the saving's 95 % interval"
            ),
            "confidence": st.column_config.TextColumn(
                "Confidence",
                width=80,
                help="How far the recorded calls alone vouch for the saving and the quality",
            ),
            "risk": st.column_config.TextColumn(
                "Risk", width=240, help="What may get worse after the change"
            ),
        },
    )
    labels = [
        f"{r['rank']}. {r['kind']} · {r['target'].split(' · ')[0]}" for r in frame.iter_rows(named=True)
    ]
    st.plotly_chart(
        figures.savings_bars(
            labels,
            frame["monthly_savings_usd"].to_list(),
            frame["ci_low_usd"].to_list(),
            frame["ci_high_usd"].to_list(),
        ),
        key="savings_chart",
    )
    for rank, rec in enumerate(recs, start=1):
        _details(rank, rec)


def _notes(report: Report) -> None:
    if not report.notes:
        return
    st.subheader("Changes that will not pay, and checks not made")
    for note in report.notes:
        kind = act.KIND_LABELS.get(note.kind, note.kind)
        where = f" · {act.target_label(note.target)}" if note.target else ""
        saving = (
            f" ({fmt.usd(note.monthly_savings_usd)} a month)" if note.monthly_savings_usd is not None else ""
        )
        st.markdown(f"- **{kind}**{where}: {note.message}{saving}")


# -- what-if ---------------------------------------------------------------------------------------


@st.cache_data(ttl=state.TTL_SECONDS, show_spinner=False, max_entries=32)
def _replay(url: str, filters: Filters, policy_json: str) -> dict[str, Any]:
    """``run_whatif`` of ``policy_json`` over ``filters`` on the warehouse at ``url`` (the cache key)."""
    options = RecommendOptions()  # the same resampling as `agentledger whatif` and the API
    policy = parse_policy(json.loads(policy_json), "the what-if form")
    return run_whatif(
        state.warehouse(), filters, policy, state.pricer(), resamples=options.resamples, seed=options.seed
    )


def _form(filters: Filters) -> None:
    """The what-if form; a submitted form stores its policy for the run that shows the replay."""
    mix = state.fetch("metrics", "model_mix", filters, "task_type")
    tasks = act.task_models(mix)
    until = filters.until
    pricer = state.pricer()
    providers = act.substitute_models(
        mix, lambda provider, model: until is None or pricer.unit_prices(provider, model, until) is not None
    )
    with st.form("whatif_form"):
        head = st.columns([2, 2, 1])
        head[0].markdown("**Task type** (its models now)")
        head[1].markdown("**Serve it with**")
        head[2].markdown("**max_tokens cap** (0: none)")
        for task, models in tasks.items():
            row = st.columns([2, 2, 1], vertical_alignment="center")
            row[0].markdown(f"`{task}`  \n{', '.join(models)}")
            row[1].selectbox(
                f"Model for {task}",
                [act.KEEP, *providers],
                key=f"wi_model_{task}",
                label_visibility="collapsed",
            )
            row[2].number_input(
                f"max_tokens for {task}",
                min_value=0,
                step=64,
                key=f"wi_cap_{task}",
                label_visibility="collapsed",
            )
        levers = st.columns(3, gap="large")
        levers[0].toggle("Provider prompt caching", key="wi_prompt_caching")
        levers[0].number_input("Cache TTL (seconds)", min_value=1, value=300, step=60, key="wi_prompt_ttl")
        levers[1].toggle("Response cache (exact repeats)", key="wi_response_cache")
        levers[1].number_input(
            "Answer TTL (seconds)", min_value=1, value=3600, step=600, key="wi_response_ttl"
        )
        levers[2].toggle("Context cap", key="wi_context_cap")
        levers[2].number_input("Keep the last N turns", min_value=1, value=8, key="wi_keep_turns")
        submitted = st.form_submit_button("Replay the window", type="primary", icon=":material/replay:")
    st.caption(
        "Substitutes are the models seen in this window that have a price; outputs are assumed as long as "
        "the recorded ones. Calls whose cost the source reported, unpriced calls and cache hits stay as recorded."
    )
    if submitted:
        _submit(tasks, providers)


def _submit(tasks: dict[str, list[str]], providers: dict[str, str | None]) -> None:
    ss = st.session_state
    choices = act.WhatIfChoices(
        models={t: ss[f"wi_model_{t}"] for t in tasks},
        caps={t: ss[f"wi_cap_{t}"] for t in tasks},
        prompt_cache_ttl_seconds=ss["wi_prompt_ttl"] if ss["wi_prompt_caching"] else None,
        response_cache_ttl_seconds=ss["wi_response_ttl"] if ss["wi_response_cache"] else None,
        keep_last_turns=ss["wi_keep_turns"] if ss["wi_context_cap"] else None,
    )
    ss[_POLICY] = json.dumps(act.policy_document(choices, providers), sort_keys=True)


def _tiles(result: dict[str, Any]) -> None:
    recorded, replayed = result["recorded_cost_usd"], result["replayed_cost_usd"]
    saving, pct = result["savings_usd"], result["savings_pct"]
    low, high = result["savings_ci_usd"]
    mlow, mhigh = result["monthly_savings_ci_usd"]
    cells = st.columns(4)
    cells[0].metric("Recorded cost", fmt.usd(recorded), border=True)
    cells[0].caption(f"{fmt.count(result['calls'])} calls, {fmt.count(result['repriced_calls'])} repriced")
    cells[1].metric(
        "Cost under the policy",
        fmt.usd(replayed),
        None if pct is None else f"{fmt.usd_delta(-saving)} ({-pct:+.1f} %)",
        delta_color="inverse",
        border=True,
    )
    cells[2].metric("Saving over the window", fmt.usd(saving), border=True)
    cells[2].caption(f"95 % interval {fmt.usd(low)} to {fmt.usd(high)}")
    cells[3].metric("Saving a month", fmt.usd(result["monthly_savings_usd"]), border=True)
    cells[3].caption(f"95 % interval {fmt.usd(mlow)} to {fmt.usd(mhigh)}")


def _result(filters: Filters, policy_json: str) -> None:
    policy = json.loads(policy_json)
    if not policy:
        st.info("The form changes nothing yet: pick a model, a cap or a lever above, then replay.")
        return
    try:
        with st.spinner("Replaying the window under the policy…"):
            result = _replay(state.settings().warehouse, filters, policy_json)
    except (ConfigError, InputError) as exc:
        st.error(f"Cannot replay this policy: {exc}")
        return
    _tiles(result)
    by = st.segmented_control(
        "Compare by",
        ["by_task_type", "by_agent"],
        default="by_task_type",
        required=True,
        format_func={"by_task_type": "Task type", "by_agent": "Agent"}.get,
        key="whatif_by",
        label_visibility="collapsed",
    )
    title = "task type" if by == "by_task_type" else "agent"
    st.plotly_chart(figures.recorded_vs_replayed(result[by], title=title), key="whatif_chart")
    risk = result["truncation_risk"]
    if risk["cut_calls"]:
        st.warning(
            f"{fmt.plural(risk['cut_calls'], 'call')} of {fmt.count(risk['capped_calls'])} under a cap "
            f"({fmt.pct(risk['cut_share'])}) would have been cut at max_tokens: their answers would be "
            "incomplete, and the saving assumes nobody asks again.",
            icon=":material/content_cut:",
        )
    notes = result["notes"] or ["No call was left out of the replay."]
    st.markdown("**Notes**\n" + "\n".join(f"- {n}" for n in notes))
    with st.expander("The policy (save it as a file for `agentledger whatif --policy FILE`)"):
        st.code(yaml.safe_dump(policy, sort_keys=False), language="yaml")


# -- the page --------------------------------------------------------------------------------------

view = state.current_view()
filters = state.current_filters(view)
st.title("Recommendations and what-if")
try:
    with st.spinner("Replaying the window under each candidate change…"):
        report = state.fetch(
            "recommend",
            "stored_report",
            filters,
            state.settings(),
            max_age_seconds=dashboard_max_age(state.settings()),
        )
except state.NotAvailable as exc:
    state.not_available("Recommendations", exc)
    st.stop()

st.caption(
    f"{view.start:%b %d, %Y} – {view.end:%b %d, %Y} ({view.days} days). Each saving replays the recorded calls "
    "of this window under the change, scaled to 30 days; the interval resamples sessions (95 %). Replays are "
    "stored: while calls keep arriving, one up to "
    f"{fmt.plural(round(dashboard_max_age(state.settings()) / 60), 'minute')} old is shown."
)
_recommendations(report)
_notes(report)

st.subheader("What if…")
st.caption("Replay this window's calls under changes of your own: the same replay as `agentledger whatif`.")
_form(filters)
if _POLICY in st.session_state:
    _result(filters, st.session_state[_POLICY])
