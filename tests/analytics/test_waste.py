"""Waste attribution on the hand-built ledger (handbuilt.py): every dollar figure worked out by hand."""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl
import pytest
from handbuilt import D2, PRICER, WEEK1, WEEK1_TOTAL, build
from polars.testing import assert_frame_equal

from agentledger.analytics.filters import Filters
from agentledger.analytics.metrics import compute_metrics, waste_breakdown
from agentledger.analytics.waste import (
    REASONS,
    SPLIT_DIMENSIONS,
    cache_write_premium,
    waste_attribution,
    waste_summary,
)
from agentledger.core.pricing import Pricer

WINDOW = Filters(since=WEEK1[0], until=WEEK1[1])
PREMIUM = (2.5 - 2.0) / 1e6  # acme-large: cache write - input, USD per token


@pytest.fixture(scope="module")
def wh():
    warehouse = build()
    yield warehouse
    warehouse.close()


def reasons(frame: pl.DataFrame, key: object = "__all__") -> dict[str, dict]:
    rows = (
        frame
        if key == "__all__"
        else frame.filter(pl.col("key").is_null() if key is None else pl.col("key") == key)
    )
    return {r["reason"]: r for r in rows.iter_rows(named=True)}


def test_every_reason_overall(wh):
    frame = waste_attribution(wh, WINDOW, runaway_threshold=3, pricer=PRICER)
    r = reasons(frame)
    assert list(r) == list(REASONS)
    expected = {
        # reason: (dollars, calls, traces, example traces by cost)
        "failed_task": (1.00, 2, 1, ["T3"]),
        "failed_call": (0.40, 1, 1, ["T2"]),
        "runaway_loop": (0.03 + 0.04 + 0.05, 3, 1, ["T4"]),  # T4 steps 4-5, and q2's 2nd/3rd sending
        "duplicate_call": (0.30 + 0.03 + 0.04, 3, 2, ["T1", "T4"]),
        "truncated_output": (0.30 + 0.75, 2, 2, ["T3", "T1"]),
        "unread_cache_write": ((1000 + 400) * PREMIUM, 2, 2, ["T3", "T4"]),
    }
    for reason, (dollars, calls, traces, examples) in expected.items():
        row = r[reason]
        assert row["cost_usd"] == pytest.approx(dollars), reason
        assert (row["calls"], row["traces"], row["example_trace_ids"]) == (calls, traces, examples), reason
        assert row["share_of_cost"] == pytest.approx(dollars / WEEK1_TOTAL), reason
        assert row["unpriced_calls"] == 0
        assert row["counts_as_waste"] is (reason in ("failed_task", "failed_call"))


def test_the_two_waste_reasons_add_up_to_compute_metrics_waste(wh):
    for filters in (WINDOW, Filters(), Filters(since=D2), Filters(model="acme-large")):
        frame = waste_attribution(wh, filters, pricer=PRICER)
        waste = frame.filter(pl.col("counts_as_waste"))["cost_usd"].sum()
        assert waste == pytest.approx(compute_metrics(wh, filters)["waste_usd"])
    grouped = waste_attribution(wh, WINDOW, "agent", pricer=PRICER)
    for group in compute_metrics(wh, WINDOW, "agent")["groups"]:
        part = reasons(grouped, group["key"])
        assert part["failed_task"]["cost_usd"] + part["failed_call"]["cost_usd"] == pytest.approx(
            group["waste_usd"]
        )


def test_per_agent(wh):
    frame = waste_attribution(wh, WINDOW, "agent", runaway_threshold=3, pricer=PRICER)
    assert set(frame["key"]) == {"planner", "coder", None}
    planner, coder, nobody = reasons(frame, "planner"), reasons(frame, "coder"), reasons(frame, None)
    assert planner["failed_call"]["cost_usd"] == pytest.approx(0.40)
    assert planner["failed_call"]["share_of_cost"] == pytest.approx(0.40 / 1.50)
    assert planner["duplicate_call"]["cost_usd"] == pytest.approx(0.30)
    assert planner["failed_task"]["cost_usd"] == 0.0 and planner["failed_task"]["calls"] == 0
    assert planner["unread_cache_write"]["cost_usd"] == 0.0  # T1's write was read by T2 (same session, 3 min)
    assert coder["failed_task"]["cost_usd"] == pytest.approx(1.00)
    assert coder["runaway_loop"]["cost_usd"] == pytest.approx(0.12)
    assert coder["truncated_output"]["cost_usd"] == pytest.approx(0.75)
    assert coder["unread_cache_write"]["cost_usd"] == pytest.approx(1400 * PREMIUM)
    assert all(row["cost_usd"] == 0.0 for row in nobody.values())


def test_steps_and_repeats_count_from_the_start_of_the_trace(wh):
    # Only T4's 4th and 5th calls are in this window; they are still steps 4 and 5, and c4 still the
    # third sending of q2.
    late = Filters(since=D2 + timedelta(minutes=3), until=D2 + timedelta(minutes=5))
    r = reasons(waste_attribution(wh, late, runaway_threshold=3, pricer=PRICER))
    assert (r["runaway_loop"]["cost_usd"], r["runaway_loop"]["calls"]) == (pytest.approx(0.09), 2)
    assert (r["duplicate_call"]["cost_usd"], r["duplicate_call"]["calls"]) == (pytest.approx(0.04), 1)
    # With the default threshold (25 calls) only the repeated prompt makes a loop: T4's c3 and c4.
    default = reasons(waste_attribution(wh, WINDOW, pricer=PRICER))
    assert default["runaway_loop"]["cost_usd"] == pytest.approx(0.03 + 0.04)


def test_unread_cache_writes_without_a_price_are_unknown_not_zero(wh):
    r = reasons(waste_attribution(wh, WINDOW, pricer=Pricer()))  # the catalog knows no acme model
    row = r["unread_cache_write"]
    assert (row["cost_usd"], row["calls"], row["unpriced_calls"]) == (None, 2, 2)
    assert row["share_of_cost"] is None


def test_cache_write_premium():
    assert cache_write_premium(PRICER, "acme", "acme-large", date(2025, 1, 6), 2_000_000) == pytest.approx(
        1.0
    )
    assert cache_write_premium(PRICER, "acme", "unknown-model", date(2025, 1, 6), 10) is None
    assert cache_write_premium(PRICER, "acme", None, date(2025, 1, 6), 10) is None


def test_an_empty_scope_has_no_rows(wh):
    assert waste_attribution(wh, Filters(agent="nobody"), pricer=PRICER).is_empty()


def test_the_summary_matches_compute_metrics_and_the_attribution(wh):
    for filters in (
        WINDOW,
        Filters(),
        Filters(since=D2),
        Filters(model="acme-large"),
        Filters(agent="nobody"),
    ):
        summary = waste_summary(wh, filters, runaway_threshold=3, pricer=PRICER)
        metrics = compute_metrics(wh, filters)
        for key in ("total_cost_usd", "calls", "waste_usd", "waste_ratio", "failed_tasks"):
            assert summary[key] == pytest.approx(metrics[key]), key
        split = waste_breakdown(wh, filters)
        for key in ("failed_task_usd", "failed_task_calls", "failed_call_usd", "failed_call_calls"):
            assert summary[key] == pytest.approx(split[key]), key
        expected = waste_attribution(wh, filters, runaway_threshold=3, pricer=PRICER)
        assert_frame_equal(summary["reasons"], expected)
        # the split by group comes from the same pass as the reasons
        for dimension in SPLIT_DIMENSIONS:
            groups = waste_breakdown(wh, filters, dimension)["groups"]
            assert [g["key"] for g in summary["groups"][dimension]] == [g["key"] for g in groups], dimension
            for got, want in zip(summary["groups"][dimension], groups, strict=True):
                assert got == pytest.approx(want), (dimension, want["key"])
