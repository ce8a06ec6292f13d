"""The dashboard's view: URL round trip, analytics filters, previous period, and analytics lookup."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from agentledger.ui import state
from agentledger.ui.state import View

DEFAULT = View(start=date(2026, 10, 25), end=date(2026, 11, 23))


def test_filters_cover_whole_utc_days() -> None:
    view = View(start=date(2026, 11, 1), end=date(2026, 11, 7), agent="support-bot", model="gpt-4o")
    filters = view.filters("acme")
    assert filters.since == datetime(2026, 11, 1, tzinfo=UTC)
    assert filters.until == datetime(2026, 11, 8, tzinfo=UTC)  # end day included
    assert (filters.agent, filters.model, filters.task_type, filters.project_id) == (
        "support-bot",
        "gpt-4o",
        None,
        "acme",
    )
    assert view.days == 7


def test_previous_period_has_the_same_length_and_filters() -> None:
    view = View(start=date(2026, 11, 1), end=date(2026, 11, 7), task_type="answer")
    assert view.previous() == View(start=date(2026, 10, 25), end=date(2026, 10, 31), task_type="answer")
    assert view.last_days(3) == View(start=date(2026, 11, 5), end=date(2026, 11, 7), task_type="answer")
    assert view.last_days(30) == view


def test_url_round_trip() -> None:
    view = View(start=date(2026, 11, 1), end=date(2026, 11, 7), agent="a b", environment="prod")
    params = view.to_query()
    assert params == {"from": "2026-11-01", "to": "2026-11-07", "agent": "a b", "environment": "prod"}
    assert View.from_query(params, DEFAULT) == view


def test_link_filters_round_trip_into_the_analytics_filters() -> None:
    params = {"from": "2026-11-01", "to": "2026-11-07", "user": "alice", "source": "litellm"}
    view = View.from_query(params, DEFAULT)
    assert view.to_query() == params
    filters = view.filters()
    assert (filters.user, filters.source, filters.feature, filters.provider) == (
        "alice",
        "litellm",
        None,
        None,
    )


def test_bad_or_missing_url_parts_fall_back_to_the_default() -> None:
    assert View.from_query({}, DEFAULT) == DEFAULT
    assert View.from_query({"from": "yesterday", "to": "2026-11-30"}, DEFAULT) == View(
        start=DEFAULT.start, end=date(2026, 11, 30)
    )
    # reversed dates are put in order rather than rejected
    swapped = View.from_query({"from": "2026-11-10", "to": "2026-11-01"}, DEFAULT)
    assert (swapped.start, swapped.end) == (date(2026, 11, 1), date(2026, 11, 10))
    # days the ledger cannot hold (the comparison windows before them would not be dates) are not taken
    far = View.from_query({"from": "0005-01-01", "to": "9999-12-31"}, DEFAULT)
    assert (far.start, far.end) == (DEFAULT.start, DEFAULT.end)


def test_default_view_ends_on_the_last_call_day() -> None:
    last = datetime(2026, 11, 20, 23, 30, tzinfo=UTC)
    assert state.default_view(last, date(2027, 1, 1), days=7) == View(
        start=date(2026, 11, 14), end=date(2026, 11, 20)
    )
    assert state.default_view(None, date(2027, 1, 1), days=1) == View(
        start=date(2027, 1, 1), end=date(2027, 1, 1)
    )


def test_lookup_finds_existing_functions_and_reports_missing_ones() -> None:
    assert state.lookup("metrics", "compute_metrics") is not None
    assert state.lookup("metrics", "no_such_function") is None
    assert state.lookup("no_such_module", "anything") is None
    with pytest.raises(state.NotAvailable, match="agentledger.analytics.no_such_module.f"):
        state.fetch("no_such_module", "f")
