"""Where the tokens go, on the hand-built ledger (handbuilt.py). Percentiles by hand with linear
interpolation: P90 of [a, b] (a <= b) is a + 0.9 (b - a)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from handbuilt import D2, PRICER, WEEK1, build

from agentledger.analytics.filters import Filters
from agentledger.analytics.tokens import (
    context_growth,
    model_tiers,
    output_verbosity,
    prefix_reuse,
    tier_distribution,
)
from agentledger.core.pricing import Pricer

WINDOW = Filters(since=WEEK1[0], until=WEEK1[1])


@pytest.fixture(scope="module")
def wh():
    warehouse = build()
    yield warehouse
    warehouse.close()


def test_context_growth_per_agent_and_step(wh):
    frame = context_growth(wh, WINDOW, max_steps=4)
    cells = {(r["key"], r["step"]): r for r in frame.iter_rows(named=True)}
    expected = {
        # (agent, step): (calls, mean, p50, p90)
        ("planner", 1): (2, 1100, 1100, 1000 + 0.9 * 200),  # T1 1000, T2 1200
        ("planner", 2): (2, 1650, 1650, 1500 + 0.9 * 300),  # T1 1500, T2 1800
        ("planner", 3): (1, 2000, 2000, 2000),
        ("coder", 1): (2, 2000, 2000, 1000 + 0.9 * 2000),  # T3 3000, T4 1000
        ("coder", 2): (2, 2300, 2300, 1100 + 0.9 * 2400),  # T3 3500, T4 1100
        ("coder", 3): (1, 1200, 1200, 1200),
        ("coder", 4): (1, 1300, 1300, 1300),
        (None, 1): (2, 750, 750, 500 + 0.9 * 500),  # H1 1000, H2 500: each its own task
    }
    assert set(cells) == set(expected)  # coder's step 5 is past max_steps
    for cell, (calls, mean, p50, p90) in expected.items():
        row = cells[cell]
        assert row["calls"] == calls, cell
        assert (row["mean_input_tokens"], row["p50_input_tokens"], row["p90_input_tokens"]) == pytest.approx(
            (mean, p50, p90)
        ), cell
    assert cells[("planner", 1)]["mean_cache_read_tokens"] == pytest.approx(150)  # T2 c1 read 300


def test_repeated_prefix_share(wh):
    row = prefix_reuse(wh, WINDOW).row(0, named=True)
    assert (row["calls"], row["input_tokens"], row["calls_with_prefix"], row["repeat_calls"]) == (
        14,
        21500,
        8,
        6,
    )
    # T1's prefix is estimated at min(1000, 1500, 2000) = 1000 tokens, T4's at min(1000..1400) = 1000.
    assert row["repeated_prefix_tokens"] == 2 * 1000 + 4 * 1000
    assert row["repeated_prefix_share"] == pytest.approx(6000 / 21500)
    # Cached part: min(prefix, cache reads) of each repeat: T1 c2 800, T1 c3 900, T4 c2 500.
    assert row["repeated_prefix_cached_tokens"] == 800 + 900 + 500
    assert row["repeated_prefix_cached_share"] == pytest.approx(2200 / 6000)


def test_a_repeat_is_seen_across_the_window_edge(wh):
    late = Filters(since=D2 + timedelta(minutes=2), until=D2 + timedelta(minutes=5))  # T4 c3..c5
    row = prefix_reuse(wh, late).row(0, named=True)
    assert (row["calls"], row["repeat_calls"], row["repeated_prefix_tokens"]) == (3, 3, 3000)


def test_output_verbosity_per_task_type(wh):
    rows = {r["key"]: r for r in output_verbosity(wh, WINDOW).iter_rows(named=True)}
    plan = rows["plan"]
    assert (plan["calls"], plan["calls_with_max_tokens"]) == (5, 3)
    assert (plan["p50_output_tokens"], plan["p99_output_tokens"], plan["p50_max_tokens"]) == (100, 100, 1000)
    # Ratios of the T1 calls: 100/1000, 100/1000, 100/100.
    assert plan["p50_output_ratio"] == pytest.approx(0.1)
    assert plan["p99_output_ratio"] == pytest.approx(0.1 + 0.98 * 0.9)
    code = rows["code"]
    assert (code["calls_with_max_tokens"], code["p50_output_ratio"], code["p99_output_ratio"]) == (
        0,
        None,
        None,
    )


def test_model_tiers_from_blended_prices(wh):
    frame = model_tiers(wh, WINDOW, PRICER)
    tiers = {r["model"]: (r["tier"], r["calls"]) for r in frame.iter_rows(named=True)}
    # acme-large: (3 x 2 + 8) / 4 = $3.5 per MTok blended -> standard; acme-small (3 + 2) / 4 = 1.25 -> budget.
    assert tiers == {"acme-large": ("standard", 9), "acme-small": ("budget", 4), "mystery": ("unknown", 1)}
    assert {r["model"]: r["tier"] for r in model_tiers(wh, WINDOW, Pricer()).iter_rows(named=True)} == {
        "acme-large": "unknown",
        "acme-small": "unknown",
        "mystery": "unknown",
    }


def test_tier_distribution(wh):
    rows = {r["tier"]: r for r in tier_distribution(wh, WINDOW, PRICER).iter_rows(named=True)}
    assert list(rows) == ["budget", "standard", "frontier", "unknown"]
    assert (rows["budget"]["models"], rows["budget"]["calls"]) == (1, 4)
    assert rows["budget"]["cost_usd"] == pytest.approx(0.20 + 0.30 + 0.50 + 0.05)
    assert rows["standard"]["cost_usd"] == pytest.approx(0.10 + 0.40 + 0.25 + 0.75 + 0.15)
    assert rows["standard"]["call_share"] == pytest.approx(9 / 14)
    assert rows["standard"]["cost_share"] == pytest.approx(1.65 / 2.70)
    assert (rows["frontier"]["calls"], rows["frontier"]["cost_usd"], rows["frontier"]["cost_share"]) == (
        0,
        0.0,
        0.0,
    )
    assert (rows["unknown"]["calls"], rows["unknown"]["cost_usd"]) == (1, None)
