"""Cost audit on the hand-built ledger (handbuilt.py): reported vs computed, disagreements, unpriced calls."""

from __future__ import annotations

import pytest
from handbuilt import D2, WEEK1, build, call

from agentledger.analytics.audit import cost_audit, cost_disagreements, unpriced_calls
from agentledger.analytics.filters import Filters
from agentledger.core.errors import InputError
from agentledger.ingest.pipeline import Pipeline

WINDOW = Filters(since=WEEK1[0], until=WEEK1[1])


@pytest.fixture(scope="module")
def wh():
    warehouse = build()
    yield warehouse
    warehouse.close()


def test_reported_vs_computed_per_source_and_model(wh):
    rows = {(r["source"], r["model"]): r for r in cost_audit(wh, WINDOW).iter_rows(named=True)}
    assert list(rows) == [
        ("helicone", "acme-small"),
        ("helicone", "mystery"),
        ("otlp", "acme-large"),
        ("otlp", "acme-small"),
    ]
    large = rows[("otlp", "acme-large")]
    # T1 c1 reports 0.10 for 0.10; T3 c1 reports 0.26 for 0.25 (4 %: within 5 %).
    assert (large["calls"], large["compared_calls"], large["disagreeing_calls"]) == (9, 2, 0)
    assert (large["reported_usd"], large["computed_usd"]) == pytest.approx((0.36, 0.35))
    assert large["relative_gap"] == pytest.approx((0.36 - 0.35) / 0.35)
    assert large["cost_usd"] == pytest.approx(1.65)
    small = rows[("otlp", "acme-small")]
    assert (small["calls"], small["compared_calls"], small["disagreeing_calls"]) == (3, 1, 1)
    assert small["relative_gap"] == pytest.approx(0.5)  # T1 c2: 0.30 reported for 0.20 computed
    mystery = rows[("helicone", "mystery")]
    assert (mystery["unpriced_calls"], mystery["compared_calls"], mystery["cost_usd"]) == (1, 0, None)
    assert mystery["relative_gap"] is None
    tight = {
        (r["source"], r["model"]): r for r in cost_audit(wh, WINDOW, tolerance=0.03).iter_rows(named=True)
    }
    assert tight[("otlp", "acme-large")]["disagreeing_calls"] == 1


def test_the_disagreeing_calls_largest_gap_first(wh):
    frame = cost_disagreements(wh, WINDOW, tolerance=0.03)
    assert [(r["trace_id"], r["span_id"]) for r in frame.iter_rows(named=True)] == [
        ("T1", "c2"),
        ("T3", "c1"),
    ]
    assert frame["gap_usd"].to_list() == pytest.approx([0.10, 0.01])
    assert frame["relative_gap"].to_list() == pytest.approx([0.5, 0.04])
    assert cost_disagreements(wh, WINDOW)["span_id"].to_list() == ["c2"]
    assert cost_disagreements(wh, WINDOW, tolerance=0.6).is_empty()
    assert cost_disagreements(wh, WINDOW, tolerance=0.03, limit=1).height == 1


def test_unpriced_calls_keep_their_tokens(wh):
    frame = unpriced_calls(wh, WINDOW)
    assert frame.height == 1
    row = frame.row(0, named=True)
    assert (row["source"], row["model"], row["price_status"], row["calls"]) == (
        "helicone",
        "mystery",
        "unpriced",
        1,
    )
    assert (row["input_tokens"], row["output_tokens"], row["cost_usd"]) == (500, 100, None)


def test_calls_priced_only_by_the_source_are_listed_with_their_reported_cost():
    wh = build()
    try:
        reported = call(
            "R1", "r1", D2, None, model="vendor-x", source="litellm", parent=None, input_tokens=600
        )
        reported.cost_reported_usd = reported.cost_usd = 0.07
        reported.price_status, reported.cost_source = "reported_only", "reported"
        Pipeline(wh).ingest([reported], [])
        rows = {r["model"]: r for r in unpriced_calls(wh, WINDOW).iter_rows(named=True)}
        assert rows["vendor-x"]["price_status"] == "reported_only"
        assert rows["vendor-x"]["cost_usd"] == pytest.approx(0.07)
        audit = {r["model"]: r for r in cost_audit(wh, WINDOW).iter_rows(named=True)}
        assert (audit["vendor-x"]["reported_only_calls"], audit["vendor-x"]["compared_calls"]) == (1, 0)
    finally:
        wh.close()


def test_a_negative_tolerance_is_refused(wh):
    with pytest.raises(InputError, match="tolerance"):
        cost_audit(wh, WINDOW, tolerance=-0.1)
