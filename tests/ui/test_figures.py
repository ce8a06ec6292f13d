"""The Plotly figure builders: traces, values, stacking and colours, from plain rows."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import polars as pl
import pytest

from agentledger.ui import figures

MIX = [
    {
        "model": "claude-sonnet-4",
        "provider": "anthropic",
        "calls": 40,
        "cost_usd": 30.0,
        "cost_share": 0.75,
        "call_share": 0.4,
    },
    {
        "model": "gpt-4o-mini",
        "provider": "openai",
        "calls": 50,
        "cost_usd": 10.0,
        "cost_share": 0.25,
        "call_share": 0.5,
    },
    {
        "model": "llama-internal",
        "provider": "vllm",
        "calls": 10,
        "cost_usd": None,
        "cost_share": None,
        "call_share": 0.1,
    },
]


def test_model_colors_are_stable_and_the_tail_is_grey() -> None:
    models = [f"m{i}" for i in range(figures.MAX_SERIES + 3)]
    colors = figures.model_colors(models)
    assert colors["m0"] == figures.PALETTE[0]
    assert colors[f"m{figures.MAX_SERIES}"] == figures.OTHER_COLOR
    assert figures.model_colors([None])["unknown"] == figures.PALETTE[0]


def test_day_model_frame_merges_providers_of_one_model() -> None:
    groups = {
        "2026-11-01": [
            {"model": "gpt-4o", "provider": "openai", "calls": 2, "cost_usd": 1.0},
            {"model": "gpt-4o", "provider": "azure", "calls": 1, "cost_usd": 0.5},
        ],
        "2026-11-02": [{"model": None, "provider": None, "calls": 1, "cost_usd": None}],
        None: [{"model": "x", "calls": 1, "cost_usd": 9.0}],  # no day: not a bar
    }
    frame = figures.day_model_frame(groups)
    assert frame.to_dicts() == [
        {"day": "2026-11-01", "model": "gpt-4o", "calls": 3, "cost_usd": 1.5},
        {"day": "2026-11-02", "model": "unknown", "calls": 1, "cost_usd": None},
    ]


def test_spend_over_time_stacks_one_trace_per_model_most_expensive_first() -> None:
    frame = pl.DataFrame(
        {
            "day": ["2026-11-01", "2026-11-01", "2026-11-02", "2026-11-02"],
            "model": ["gpt-4o-mini", "claude-sonnet-4", "claude-sonnet-4", "llama-internal"],
            "calls": [5, 2, 3, 4],
            "cost_usd": [1.0, 6.0, 4.0, None],
        }
    )
    fig = figures.spend_over_time(
        frame, figures.model_colors(["claude-sonnet-4", "gpt-4o-mini", "llama-internal"])
    )
    assert fig.layout.barmode == "stack"
    assert [t.name for t in fig.data] == [
        "claude-sonnet-4",
        "gpt-4o-mini",
    ]  # the unpriced model draws nothing
    assert list(fig.data[0].x) == ["2026-11-01", "2026-11-02"]
    assert list(fig.data[0].y) == [6.0, 4.0]
    assert fig.data[0].marker.color == figures.PALETTE[0]


def test_spend_over_time_without_priced_calls_says_so() -> None:
    frame = pl.DataFrame(
        {"day": ["2026-11-01"], "model": ["x"], "calls": [1], "cost_usd": [None]},
        schema={"day": pl.String, "model": pl.String, "calls": pl.Int64, "cost_usd": pl.Float64},
    )
    fig = figures.spend_over_time(frame, {})
    assert not fig.data
    assert "No priced calls" in fig.layout.annotations[0].text


def test_model_mix_shows_cost_and_call_shares_and_marks_unpriced() -> None:
    fig = figures.model_mix(MIX, figures.model_colors([m["model"] for m in MIX]))
    cost, calls = fig.data
    assert list(cost.y) == ["claude-sonnet-4", "gpt-4o-mini", "llama-internal"]
    assert list(cost.x) == [75.0, 25.0, 0]
    assert cost.text[2] == "unpriced"
    assert list(calls.x) == pytest.approx([40.0, 50.0, 10.0])
    assert calls.text[1] == "50.0 % of calls"


def test_ranked_bars_sorts_and_drops_unknown_values() -> None:
    fig = figures.ranked_bars(["a", "b", None, "d"], [0.1, 0.5, 0.3, None], title="Waste ratio", kind="pct")
    (bars,) = fig.data
    assert list(bars.y) == ["b", "unknown", "a"]
    assert list(bars.x) == pytest.approx([50.0, 30.0, 10.0])
    assert list(bars.text) == ["50.0 %", "30.0 %", "10.0 %"]
    assert fig.layout.xaxis.ticksuffix == " %"


def test_bars_that_are_all_zero_still_show_their_value() -> None:
    fig = figures.ranked_bars(["llama-internal"], [0.0], title="Cache hit rate", kind="pct")
    (bars,) = fig.data
    assert (bars.textposition, list(bars.text)) == ("outside", ["0.0 %"])
    assert tuple(fig.layout.xaxis.range) == (0, 1)  # not an axis around zero with nothing on it


def test_model_mix_of_one_model_has_no_tick_past_100_percent() -> None:
    one = [{"model": "gpt-4o", "cost_share": 1.0, "call_share": 1.0}]
    fig = figures.model_mix(one, figures.model_colors(["gpt-4o"]))
    assert fig.layout.xaxis.range[1] > 100  # room for the labels beside the bars
    assert max(fig.layout.xaxis.tickvals) == 100
    assert fig.layout.xaxis.ticktext[-1] == "100 %"


def test_stacked_bars_sum_parts_and_rank_by_total() -> None:
    frame = pl.DataFrame({"key": ["x", "y", "z"], "a": [1.0, 5.0, 0.0], "b": [3.0, None, 0.0]})
    fig = figures.stacked_bars(frame, key="key", parts={"a": "part a", "b": "part b"}, title="Waste")
    assert [t.name for t in fig.data] == ["part a", "part b"]
    assert list(fig.data[0].y) == ["y", "x"]  # z costs nothing: not drawn
    assert list(fig.data[0].x) == [5.0, 1.0]


def _calls() -> pl.DataFrame:
    t0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
    return pl.DataFrame(
        {
            "step": [1, 2, 3],
            "started_at": [t0, t0 + timedelta(seconds=2), t0 + timedelta(seconds=5)],
            "ended_at": [t0 + timedelta(seconds=1.5), t0 + timedelta(seconds=4), t0 + timedelta(seconds=9)],
            "latency_ms": [1500.0, 2000.0, 4000.0],
            "model": ["gpt-4o", "gpt-4o", "claude-sonnet-4"],
            "input_tokens": [1000, 2000, 3500],
            "cache_read_tokens": [0, 1000, 2000],
            "output_tokens": [100, 200, 50],
            "cost_usd": [0.01, 0.02, None],
            "status": ["ok", "error", "ok"],
        }
    )


def test_trace_waterfall_places_each_call_at_its_offset_and_colours_by_status() -> None:
    fig = figures.trace_waterfall(_calls())
    by_status = {t.name: t for t in fig.data}
    assert set(by_status) == {"ok", "error"}
    ok = by_status["ok"]
    assert list(ok.y) == ["#1 gpt-4o", "#3 claude-sonnet-4"]
    assert list(ok.base) == [0.0, 5.0]
    assert list(ok.x) == pytest.approx([1.5, 4.0])
    assert list(ok.text) == ["$0.0100", "—"]
    assert "cache read 1.0 k" in by_status["error"].customdata[0]
    assert by_status["error"].marker.color == figures.STATUS_COLORS["error"]
    assert list(fig.layout.yaxis.categoryarray) == ["#1 gpt-4o", "#2 gpt-4o", "#3 claude-sonnet-4"]


def test_context_growth_splits_cached_from_fresh_input() -> None:
    fig = figures.context_growth(_calls().select("step", "input_tokens", "cache_read_tokens"))
    fresh, cached = fig.data
    assert list(fresh.x) == [1, 2, 3]
    assert list(fresh.y) == [1000, 1000, 1500]
    assert list(cached.y) == [0, 1000, 2000]
    assert fig.layout.barmode == "stack"


def test_empty_inputs_give_an_explaining_figure() -> None:
    assert (
        figures.trace_waterfall(_calls().clear()).layout.annotations[0].text == "This trace has no LLM calls"
    )
    assert figures.model_mix([], {}).layout.annotations
    assert figures.ranked_bars([], [], title="Spend", kind="usd").layout.annotations


def test_spend_over_time_spans_the_window_and_draws_a_lone_day_as_a_bar() -> None:
    """One day of data in a 30-day window: the axis covers the 30 days (empty days read as empty) and the day
    is a bar of most of a day's width, not a hairline Plotly draws for a lone date."""
    frame = pl.DataFrame({"day": ["2026-11-24"], "model": ["gpt-4o"], "calls": [3], "cost_usd": [0.5]})
    fig = figures.spend_over_time(
        frame, figures.model_colors(["gpt-4o"]), (date(2026, 10, 26), date(2026, 11, 24))
    )
    low, high = (datetime.fromisoformat(str(v)) for v in fig.layout.xaxis.range)
    assert low < datetime(2026, 10, 26) < datetime(2026, 11, 24) < high
    assert list(fig.data[0].width) == [pytest.approx(0.8 * 86_400_000)]
    short = figures.spend_over_time(
        frame, figures.model_colors(["gpt-4o"]), (date(2026, 11, 24), date(2026, 11, 24))
    )
    assert short.layout.xaxis.dtick == 86_400_000  # one tick a day, never "Nov 24, Nov 24"


def test_stacked_bars_of_unpriced_calls_say_so_rather_than_no_cost() -> None:
    frame = pl.DataFrame(
        {"key": ["x", "y"], "a": [None, None], "b": [None, None]},
        schema={"key": pl.String, "a": pl.Float64, "b": pl.Float64},
    )
    fig = figures.stacked_bars(
        frame, key="key", parts={"a": "part a", "b": "part b"}, title="Waste", nothing="No waste"
    )
    assert fig.layout.annotations[0].text == "No priced calls in this window"
    # No failed task ($0) but failed calls of unknown price: not "no waste".
    zeros = frame.with_columns(pl.lit(0.0).alias("a"))
    fig = figures.stacked_bars(
        zeros, key="key", parts={"a": "part a", "b": "part b"}, title="Waste", nothing="No waste"
    )
    assert fig.layout.annotations[0].text == "No waste with a known price in this window"
    all_zero = zeros.with_columns(pl.lit(0.0).alias("b"))
    fig = figures.stacked_bars(
        all_zero, key="key", parts={"a": "part a", "b": "part b"}, title="Waste", nothing="No waste"
    )
    assert fig.layout.annotations[0].text == "No waste in this window"
