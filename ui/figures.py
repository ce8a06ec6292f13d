"""Plotly figures of the dashboard, built from plain rows and polars frames (pure: no Streamlit, no I/O).

Each builder takes what an analytics function returns (or a frame shaped from it by the helpers here) and
returns a ``go.Figure``; an unknown cost (an unpriced model) is left out of dollar charts, never drawn as
zero, and the pages say how many calls that leaves out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, time, timedelta
from typing import Any

import plotly.graph_objects as go
import polars as pl

from agentledger.ui import format as fmt

# Colour-blind-safe qualitative palette (Paul Tol's "muted"), then grey for the long tail.
PALETTE = (
    "#332288",
    "#88CCEE",
    "#44AA99",
    "#117733",
    "#999933",
    "#DDCC77",
    "#CC6677",
    "#882255",
    "#AA4499",
)
OTHER = "other models"
OTHER_COLOR = "#BBBBBB"
STATUS_COLORS = {"ok": "#44AA99", "unset": "#88CCEE", "error": "#CC6677"}
MAX_SERIES = len(PALETTE)
DAY_MS = 86_400_000  # a day on a Plotly date axis

Row = Mapping[str, Any]


def _layout(fig: go.Figure, *, height: int = 360, **kwargs: Any) -> go.Figure:
    fig.update_layout(
        height=height,
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "xanchor": "left", "x": 0},
        hoverlabel={"namelength": -1},
        **kwargs,
    )
    return fig


def empty(message: str) -> go.Figure:
    """A blank figure that says why it is blank (no data in the window)."""
    fig = go.Figure()
    fig.add_annotation(text=message, showarrow=False, font={"size": 14})
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return _layout(fig, height=240)


# -- models: consistent colours, spend over time, mix ---------------------------------------------


def model_colors(models_by_cost: Sequence[str | None]) -> dict[str, str]:
    """A colour per model, most expensive first; models past the palette share the "other" grey."""
    names = [fmt.label(m) for m in models_by_cost]
    colors = {name: PALETTE[i] for i, name in enumerate(names[:MAX_SERIES])}
    colors.update({name: OTHER_COLOR for name in names[MAX_SERIES:]})
    colors[OTHER] = OTHER_COLOR
    return colors


def day_model_frame(groups: Mapping[str | None, Iterable[Row]]) -> pl.DataFrame:
    """Long frame (day, model, calls, cost_usd) from ``model_mix(wh, filters, "day")`` (day -> rows)."""
    rows = [
        {
            "day": day,
            "model": fmt.label(r.get("model")),
            "calls": int(r.get("calls") or 0),
            "cost_usd": r.get("cost_usd"),
        }
        for day, entries in groups.items()
        if day is not None
        for r in entries
    ]
    schema = {"day": pl.String, "model": pl.String, "calls": pl.Int64, "cost_usd": pl.Float64}
    frame = pl.DataFrame(rows, schema=schema)
    # Several providers can serve one model name: one bar segment per model and day.
    # An unknown cost stays unknown: the sum is null when every part is null (polars would say 0).
    cost = pl.when(pl.col("cost_usd").is_not_null().any()).then(pl.col("cost_usd").sum())
    return (
        frame.group_by("day", "model").agg(pl.col("calls").sum(), cost.alias("cost_usd")).sort("day", "model")
    )


def spend_over_time(
    frame: pl.DataFrame, colors: Mapping[str, str], window: tuple[date, date] | None = None
) -> go.Figure:
    """Daily spend as bars stacked by model; models without a colour of their own are "other models".

    ``window`` (first and last day) spans the time axis over the whole period shown, so days without spend
    read as such and a single day is one bar of a day's width, not a bar filling the chart.
    """
    priced = frame.filter(pl.col("cost_usd").is_not_null() & (pl.col("cost_usd") > 0))
    if priced.is_empty():
        return empty("No priced calls in this window")
    own = {m for m, c in colors.items() if c != OTHER_COLOR}
    priced = priced.with_columns(
        pl.when(pl.col("model").is_in(list(own)))
        .then(pl.col("model"))
        .otherwise(pl.lit(OTHER))
        .alias("model")
    )
    stacked = priced.group_by("day", "model").agg(pl.col("cost_usd").sum()).sort("day")
    fig = go.Figure()
    # Most expensive model at the bottom of the stack, where the eye compares heights best.
    for model in [m for m in colors if m in set(stacked["model"])]:
        part = stacked.filter(pl.col("model") == model)
        fig.add_bar(
            x=part["day"].to_list(),
            y=part["cost_usd"].to_list(),
            name=model,
            marker_color=colors.get(model, OTHER_COLOR),
            # A bar is 80 % of a day wide (in ms on the date axis): with one day alone Plotly would draw a hairline.
            width=[0.8 * DAY_MS] * part.height,
            hovertemplate="%{x}<br>" + model + ": $%{y:,.2f}<extra></extra>",
        )
    fig.update_layout(barmode="stack")
    fig.update_yaxes(title_text="spend (USD)", tickprefix="$", separatethousands=True)
    fig.update_xaxes(type="date", tickformat="%b %d")
    if window is not None:
        # Half a day beyond each end: the bars of the first and last day are centred on their date.
        first, last = (datetime.combine(d, time()) for d in window)
        fig.update_xaxes(range=[first - timedelta(hours=12), last + timedelta(hours=12)])
        if (last - first).days < 14:
            fig.update_xaxes(dtick=DAY_MS)  # one tick a day: never two ticks reading the same date
    return _layout(fig, height=380)


def model_mix(mix: Sequence[Row], colors: Mapping[str, str]) -> go.Figure:
    """Each model's share of cost (solid bar) above its share of calls (grey bar), most expensive on top."""
    if not mix:
        return empty("No calls in this window")
    models = [fmt.label(m.get("model")) for m in mix]
    cost_share = [m.get("cost_share") for m in mix]
    call_share = [m.get("call_share") for m in mix]
    fig = go.Figure()
    fig.add_bar(
        y=models,
        x=[0 if v is None else v * 100 for v in cost_share],
        name="share of cost",
        orientation="h",
        marker_color=[colors.get(m, OTHER_COLOR) for m in models],
        text=[f"{fmt.pct(v)} of cost" if v is not None else "unpriced" for v in cost_share],
        textposition="outside",
        cliponaxis=False,
        hovertemplate="%{y}: %{text}<extra></extra>",
    )
    fig.add_bar(
        y=models,
        x=[0 if v is None else v * 100 for v in call_share],
        name="share of calls",
        orientation="h",
        marker_color=OTHER_COLOR,
        text=[f"{fmt.pct(v)} of calls" for v in call_share],
        textposition="outside",
        cliponaxis=False,
        hovertemplate="%{y}: %{text}<extra></extra>",
    )
    fig.update_layout(barmode="group", bargap=0.3, bargroupgap=0.05)
    fig.update_yaxes(autorange="reversed", automargin=True)
    top = max([v for v in cost_share + call_share if v is not None] or [0.0])
    # Room on the right for the labels outside the longest bar, but no tick past 100 %.
    right = min(100, top * 100) * 1.45 + 5
    ticks = [t for t in range(0, 101, 20) if t <= right]
    fig.update_xaxes(
        title_text="share (%)", range=[0, right], tickvals=ticks, ticktext=[f"{t} %" for t in ticks]
    )
    return _layout(fig, height=max(260, 60 + 52 * len(models)), showlegend=False)


# -- breakdowns ------------------------------------------------------------------------------------

_METRIC_AXIS = {"usd": {"tickprefix": "$"}, "pct": {"ticksuffix": " %"}, "count": {}, "tokens": {}}


def _display_value(value: float | None, kind: str) -> float | None:
    if value is None:
        return None
    return value * 100 if kind == "pct" else value


def _display_text(value: float | None, kind: str) -> str:
    return {"usd": fmt.usd, "pct": fmt.pct, "tokens": fmt.tokens}.get(kind, fmt.count)(value)


def ranked_bars(
    keys: Sequence[str | None], values: Sequence[float | None], *, title: str, kind: str, limit: int = 20
) -> go.Figure:
    """Horizontal bars of one metric per group, largest first (unknown values left out, top ``limit``).

    ``kind`` is how the values read: "usd", "pct" (a ratio in [0, 1]), "count" or "tokens".
    """
    pairs = sorted(
        ((fmt.label(k), v) for k, v in zip(keys, values, strict=True) if v is not None),
        key=lambda p: p[1],
        reverse=True,
    )[:limit]
    if not pairs:
        return empty(f"No known {title.lower()} in this window")
    labels = [p[0] for p in pairs]
    shown = [_display_value(p[1], kind) for p in pairs]
    zero = not any(shown)  # every bar is 0: its label goes beside it, on an axis that starts at 0
    fig = go.Figure(
        go.Bar(
            y=labels,
            x=shown,
            orientation="h",
            marker_color=PALETTE[0],
            text=[_display_text(p[1], kind) for p in pairs],
            textposition="outside" if zero else "auto",
            cliponaxis=False,
            hovertemplate="%{y}: %{text}<extra></extra>",
        )
    )
    fig.update_yaxes(autorange="reversed", automargin=True)
    fig.update_xaxes(title_text=title, **_METRIC_AXIS.get(kind, {}))
    if zero:
        fig.update_xaxes(range=[0, 1])
    return _layout(fig, height=max(260, 60 + 30 * len(labels)), showlegend=False)


def stacked_bars(
    frame: pl.DataFrame, *, key: str, parts: Mapping[str, str], title: str, nothing: str = "Nothing"
) -> go.Figure:
    """Horizontal bars per ``key`` stacked by the dollar columns ``parts`` (column -> legend name).

    ``nothing`` names what is absent when every known value is 0 ("No waste in this window"); when no value
    is known at all (every call unpriced) the chart says there is no priced call rather than no cost.
    """
    if frame.is_empty():
        return empty("Nothing to show in this window")
    if all(frame[c].null_count() == frame.height for c in parts):
        return empty("No priced calls in this window")
    totals = frame.with_columns(pl.sum_horizontal([pl.col(c).fill_null(0) for c in parts]).alias("_total"))
    totals = totals.filter(pl.col("_total") > 0).sort("_total", descending=True).head(20)
    if totals.is_empty():
        if any(frame[c].null_count() for c in parts):  # what is there is unpriced: unknown, not none
            return empty(f"{nothing} with a known price in this window")
        return empty(f"{nothing} in this window")
    labels = [fmt.label(k) for k in totals[key].to_list()]
    fig = go.Figure()
    for i, (column, name) in enumerate(parts.items()):
        fig.add_bar(
            y=labels,
            x=totals[column].to_list(),
            name=name,
            orientation="h",
            marker_color=PALETTE[(i * 3 + 6) % len(PALETTE)],
            hovertemplate="%{y}<br>" + name + ": $%{x:,.2f}<extra></extra>",
        )
    fig.update_layout(barmode="stack")
    fig.update_yaxes(autorange="reversed", automargin=True)
    fig.update_xaxes(title_text=title, tickprefix="$")
    return _layout(fig, height=max(260, 80 + 32 * len(labels)))


# -- a trace: waterfall of its calls and context growth -------------------------------------------


def trace_waterfall(calls: pl.DataFrame) -> go.Figure:
    """A timeline of a trace's LLM calls: one bar per call from its start to its end, coloured by status.

    ``calls`` has started_at, ended_at (or latency_ms), model, input/cache_read/output tokens, cost_usd and
    status, one row per call.
    """
    if calls.is_empty():
        return empty("This trace has no LLM calls")
    calls = calls.sort("started_at")
    t0 = calls["started_at"][0]
    offsets = [(t - t0).total_seconds() for t in calls["started_at"].to_list()]
    durations = _durations_s(calls)
    labels = [f"#{i + 1} {fmt.label(m)}" for i, m in enumerate(calls["model"].to_list())]
    rows = calls.to_dicts()
    fig = go.Figure()
    for status in ("ok", "unset", "error"):
        idx = [i for i, r in enumerate(rows) if (r.get("status") or "unset") == status]
        if not idx:
            continue
        fig.add_bar(
            y=[labels[i] for i in idx],
            x=[max(durations[i], 0.001) for i in idx],
            base=[offsets[i] for i in idx],
            orientation="h",
            name=status,
            marker_color=STATUS_COLORS[status],
            customdata=[_call_hover(rows[i]) for i in idx],
            hovertemplate="%{y}<br>%{customdata}<extra></extra>",
            text=[fmt.usd(rows[i].get("cost_usd")) for i in idx],
            textposition="outside",
            cliponaxis=False,
        )
    fig.update_layout(barmode="overlay")
    fig.update_yaxes(categoryorder="array", categoryarray=labels, autorange="reversed", automargin=True)
    end = max(o + d for o, d in zip(offsets, durations, strict=True))
    fig.update_xaxes(title_text="seconds since the trace started", range=[0, end * 1.15 + 0.1])
    return _layout(fig, height=max(260, 80 + 28 * len(labels)))


def _durations_s(calls: pl.DataFrame) -> list[float]:
    starts = calls["started_at"].to_list()
    ends = calls["ended_at"].to_list() if "ended_at" in calls.columns else [None] * len(starts)
    latencies = calls["latency_ms"].to_list() if "latency_ms" in calls.columns else [None] * len(starts)
    out = []
    for start, end, latency in zip(starts, ends, latencies, strict=True):
        if end is not None:
            out.append((end - start).total_seconds())
        else:
            out.append((latency or 0.0) / 1000)
    return out


def _call_hover(row: Row) -> str:
    parts = [
        f"model {fmt.label(row.get('model'))}",
        f"input {fmt.tokens(row.get('input_tokens'))} (cache read {fmt.tokens(row.get('cache_read_tokens'))})",
        f"output {fmt.tokens(row.get('output_tokens'))}",
        f"cost {fmt.usd(row.get('cost_usd'))}",
        f"latency {fmt.duration_ms(row.get('latency_ms'))}",
        f"status {row.get('status') or 'unset'}",
    ]
    return "<br>".join(parts)


def context_growth(
    steps: pl.DataFrame, typical: pl.DataFrame | None = None, typical_label: str = ""
) -> go.Figure:
    """Input tokens per step of a task, split into cache reads and the rest (stacked bars).

    ``steps`` has a step number (``step``, 1-based; the row order when absent), ``input_tokens`` and
    optionally ``cache_read_tokens``. ``typical`` (``step``, ``p50_input_tokens``), when given, is drawn as a
    line: the median input per step of comparable tasks, to show whether this one grew faster.
    """
    if steps.is_empty():
        return empty("No steps to show")
    step = steps["step"].to_list() if "step" in steps.columns else list(range(1, steps.height + 1))
    total = [int(v or 0) for v in steps["input_tokens"].to_list()]
    cached = (
        [int(v or 0) for v in steps["cache_read_tokens"].to_list()]
        if "cache_read_tokens" in steps.columns
        else [0] * len(total)
    )
    fresh = [t - c for t, c in zip(total, cached, strict=True)]
    fig = go.Figure()
    fig.add_bar(x=step, y=fresh, name="input (not cached)", marker_color=PALETTE[0])
    fig.add_bar(x=step, y=cached, name="cache reads", marker_color=PALETTE[1])
    if typical is not None and not typical.is_empty():
        shown = typical.filter(pl.col("step") <= max(step))
        fig.add_scatter(
            x=shown["step"].to_list(),
            y=shown["p50_input_tokens"].to_list(),
            name=typical_label or "median of comparable tasks",
            mode="lines+markers",
            line={"color": PALETTE[6], "dash": "dot"},
        )
    fig.update_layout(barmode="stack")
    fig.update_xaxes(title_text="step (LLM call in order)", dtick=1 if len(step) <= 30 else None)
    fig.update_yaxes(title_text="input tokens", separatethousands=True)
    return _layout(fig, height=320)


# -- recommendations and what-if -------------------------------------------------------------------


def savings_bars(
    labels: Sequence[str], savings: Sequence[float], low: Sequence[float], high: Sequence[float]
) -> go.Figure:
    """Monthly saving per recommendation (horizontal bars, biggest on top) with its 95 % interval as
    error bars; the labels must be distinct (number them)."""
    if not labels:
        return empty("No recommendation saves enough in this window")
    fig = go.Figure(
        go.Bar(
            y=list(labels),
            x=list(savings),
            orientation="h",
            marker_color=PALETTE[2],
            error_x={
                "type": "data",
                "symmetric": False,
                "array": [max(h - s, 0.0) for s, h in zip(savings, high, strict=True)],
                "arrayminus": [max(s - lo, 0.0) for s, lo in zip(savings, low, strict=True)],
                "color": "#555555",
            },
            customdata=[[fmt.usd(lo), fmt.usd(h)] for lo, h in zip(low, high, strict=True)],
            text=[fmt.usd(s) for s in savings],
            # At the base of the bar, clear of the interval's whiskers at its end.
            textposition="inside",
            insidetextanchor="start",
            hovertemplate="%{y}<br>$%{x:,.2f} a month (95 %: %{customdata[0]} to %{customdata[1]})"
            "<extra></extra>",
        )
    )
    fig.update_yaxes(autorange="reversed", automargin=True)
    fig.update_xaxes(title_text="monthly saving (USD), 95 % interval", tickprefix="$", rangemode="tozero")
    return _layout(fig, height=max(220, 70 + 40 * len(labels)), showlegend=False)


def recorded_vs_replayed(rows: Sequence[Row], *, title: str) -> go.Figure:
    """Recorded and replayed cost side by side per group (the ``by_task_type`` / ``by_agent`` rows of a
    what-if replay), costliest recorded first."""
    shown = sorted(
        (r for r in rows if r.get("recorded_cost_usd") is not None),
        key=lambda r: -(r.get("recorded_cost_usd") or 0.0),
    )[:20]
    if not shown:
        return empty("No priced calls in this window")
    keys = [fmt.label(r.get("key")) for r in shown]
    fig = go.Figure()
    for name, column, color in (
        ("recorded", "recorded_cost_usd", OTHER_COLOR),
        ("under the policy", "replayed_cost_usd", PALETTE[0]),
    ):
        fig.add_bar(
            x=keys,
            y=[r.get(column) for r in shown],
            name=name,
            marker_color=color,
            hovertemplate="%{x}<br>" + name + ": $%{y:,.2f}<extra></extra>",
        )
    fig.update_layout(barmode="group", bargap=0.25)
    fig.update_yaxes(title_text="cost (USD)", tickprefix="$", separatethousands=True)
    fig.update_xaxes(title_text=title)
    return _layout(fig, height=380)
