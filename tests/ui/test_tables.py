"""What the pages show, shaped from analytics results: tiles, top drivers, breakdown tables."""

from __future__ import annotations

import polars as pl
import pytest

from agentledger.ui import format as fmt
from agentledger.ui import tables

CURRENT = {
    "calls": 10,
    "total_cost_usd": 120.0,
    "cost_per_completed_task_usd": 0.5,
    "waste_ratio": 0.10,
    "cache_hit_rate": 0.30,
    "p95_session_cost_usd": None,
}
PREVIOUS = {
    "calls": 8,
    "total_cost_usd": 100.0,
    "cost_per_completed_task_usd": 0.4,
    "waste_ratio": 0.125,
    "cache_hit_rate": 0.25,
    "p95_session_cost_usd": 2.0,
}


def test_tiles_format_values_and_deltas() -> None:
    tiles = {t.key: t for t in tables.overview_tiles(CURRENT, PREVIOUS)}
    assert list(tiles) == list(tables.TILE_KEYS)
    assert tiles["total_cost_usd"].value == "$120.00"
    assert tiles["total_cost_usd"].delta == "+$20.00 (+20.0 %)"
    assert tiles["total_cost_usd"].delta_color == "inverse"  # more spend is bad
    assert tiles["cost_per_completed_task_usd"].delta == "+$0.1000 (+25.0 %)"
    assert tiles["waste_ratio"].value == "10.0 %"
    assert tiles["waste_ratio"].delta == "-2.5 pp"
    assert tiles["cache_hit_rate"].delta == "+5.0 pp"
    assert tiles["cache_hit_rate"].delta_color == "normal"  # more cache reads is good


def test_unknown_value_has_no_delta_and_shows_a_dash() -> None:
    p95 = {t.key: t for t in tables.overview_tiles(CURRENT, PREVIOUS)}["p95_session_cost_usd"]
    assert p95.value == "—"
    assert p95.delta == tables.NO_DELTA
    assert not p95.delta_known
    assert p95.delta_color == "off"


def test_no_comparison_when_the_previous_period_is_empty() -> None:
    empty = {"calls": 0, "total_cost_usd": 0.0}
    tiles = tables.overview_tiles(CURRENT, empty)
    assert all(t.delta == tables.NO_DELTA for t in tiles)


def test_top_drivers_rank_by_cost_with_change() -> None:
    current = {
        "classify": {"total_cost_usd": 5.0},
        "answer": {"total_cost_usd": 12.0},
        "plan": {"total_cost_usd": 1.0},
        "new-task": {"total_cost_usd": 3.0},
        None: {"total_cost_usd": 2.0},
        "selfhosted": {"total_cost_usd": None},  # all unpriced: no known cost, not ranked
    }
    previous = {
        "classify": {"total_cost_usd": 10.0},
        "answer": {"total_cost_usd": 8.0},
        "plan": {"total_cost_usd": 1.0},
    }
    frame = tables.top_drivers(current, previous, limit=4)
    assert frame["key"].to_list() == ["answer", "classify", "new-task", "unknown"]
    answer = frame.row(0, named=True)
    assert answer["change_usd"] == pytest.approx(4.0)
    assert answer["change"] == pytest.approx(0.5)
    new = frame.row(2, named=True)
    assert new["previous_cost_usd"] == 0.0  # absent last week: it cost nothing then
    assert new["change"] is None


def test_top_drivers_against_a_period_without_any_call_compare_with_nothing() -> None:
    frame = tables.top_drivers({"classify": {"total_cost_usd": 5.0}}, {})
    row = frame.row(0, named=True)
    assert (row["previous_cost_usd"], row["change_usd"], row["change"]) == (None, None, None)


def test_metrics_table_orders_by_spend_and_keeps_unknowns() -> None:
    groups = [
        {"key": "a", "total_cost_usd": 1.0, "calls": 3, "waste_ratio": 0.5},
        {"key": None, "total_cost_usd": None, "calls": 2},
        {"key": "b", "total_cost_usd": 4.0, "calls": 1, "waste_ratio": None},
    ]
    frame = tables.metrics_table(groups, "Agent")
    assert frame["Agent"].to_list() == ["b", "a", "unknown"]
    assert frame["total_cost_usd"].to_list() == [4.0, 1.0, None]
    assert set(tables.METRICS) <= set(frame.columns)
    csv = tables.csv_table(frame).decode()
    assert csv.splitlines()[0].startswith("Agent,total_cost_usd,calls")
    assert pl.read_csv(tables.csv_table(frame)).height == 3


def test_sum_groups_keeps_unknown_apart_from_zero() -> None:
    groups = [{"usd": 1.5, "calls": 2}, {"usd": None, "calls": 3}, {"usd": 2.0, "calls": 0}]
    assert tables.sum_groups(groups, ("usd", "calls")) == {"usd": 3.5, "calls": 5}
    assert tables.sum_groups([{"usd": None}], ("usd",)) == {"usd": None}
    assert tables.sum_groups([], ("usd",)) == {"usd": 0}


def test_dollar_columns_keep_their_numbers_and_show_cents_of_a_cent() -> None:
    """A known $0.004 must not read "$0.00" (free) as a column's "dollar" format shows it; the cells keep their
    numbers so a sort is by value."""
    frame = pl.DataFrame({"key": ["a", "b", "c"], "cost_usd": [21.7558, 0.0042, None], "calls": [3, 1, 2]})
    styled = tables.dollars(frame, ["cost_usd", "missing"])
    shown = styled._translate(False, False)["body"]  # the cells as pandas renders them
    costs = [row[2]["display_value"] for row in shown]
    assert costs == [fmt.usd(21.7558), fmt.usd(0.0042), fmt.UNKNOWN] == ["$21.76", "$0.0042", "—"]
    assert [row[3]["display_value"] for row in shown] == ["3", "1", "2"]  # other columns untouched
    assert styled.data["cost_usd"].iloc[1] == 0.0042
