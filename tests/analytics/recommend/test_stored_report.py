"""The stored recommendations: served while the ledger and the inputs are those they were computed from,
recomputed as soon as either changes, on DuckDB and on the real ClickHouse engine (chDB)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from recommend_histories import D0, OPTIONS, SETTINGS, WINDOW, classification_history, ledger, llm

from agentledger.analytics import recommend as recommend_module
from agentledger.analytics.filters import Filters
from agentledger.analytics.recommend import (
    dashboard_filters,
    recommend_report,
    refresh_stored,
    stored_report,
)
from agentledger.analytics.snapshots import read_snapshot, write_snapshot
from agentledger.core.pricing import Pricer
from agentledger.ingest.pipeline import Pipeline
from agentledger.warehouse.base import Warehouse, ledger_version


@pytest.fixture(params=["duckdb", "chdb"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "chdb":
        pytest.importorskip("chdb")
        return f"chdb:///{tmp_path / 'chdb'}"
    return f"duckdb:///{tmp_path / 'ledger.duckdb'}"


class Counting:
    """recommend_report, counting how often the stored report had to compute it."""

    def __init__(self) -> None:
        self.runs = 0

    def __call__(self, *args, **kwargs):
        self.runs += 1
        return recommend_report(*args, **kwargs)


@pytest.fixture
def counting(monkeypatch: pytest.MonkeyPatch) -> Counting:
    counter = Counting()
    monkeypatch.setattr(recommend_module, "recommend_report", counter)
    return counter


def test_a_stored_report_is_the_computed_one_until_the_ledger_changes(url: str, counting: Counting) -> None:
    wh = ledger(classification_history(), url)
    fresh = recommend_report(wh, WINDOW, SETTINGS, OPTIONS)
    assert [r.kind for r in fresh.recommendations] == ["routing"]

    first = stored_report(wh, WINDOW, SETTINGS, OPTIONS)
    second = stored_report(wh, WINDOW, SETTINGS, OPTIONS)
    assert counting.runs == 1  # the second came from the snapshot
    assert first.model_dump() == second.model_dump() == fresh.model_dump()

    # Ten more failed classify calls on the cheap model: the evidence changes, so must the report.
    more = [
        llm(
            f"late-{i}",
            "c",
            D0 + timedelta(days=3, minutes=i),
            model="gpt-4o-mini",
            task_type="classify",
            input_tokens=500,
            output_tokens=20,
            status="error",
        )
        for i in range(10)
    ]
    Pipeline(wh, Pricer()).ingest(more, [])
    third = stored_report(wh, WINDOW, SETTINGS, OPTIONS)
    assert counting.runs == 2
    assert third.model_dump() == recommend_report(wh, WINDOW, SETTINGS, OPTIONS).model_dump()
    assert third.model_dump() != first.model_dump()


def test_other_inputs_are_other_snapshots(url: str, counting: Counting, tmp_path: Path) -> None:
    wh = ledger(classification_history(), url)
    stored_report(wh, WINDOW, SETTINGS, OPTIONS)
    # another window, other options, another cost policy, a price overrides file and its edit: each computes
    shorter = Filters(since=WINDOW.since, until=WINDOW.until - timedelta(days=1))
    stored_report(wh, shorter, SETTINGS, OPTIONS)
    stored_report(wh, WINDOW, SETTINGS, OPTIONS.model_copy(update={"min_calls": 5}))
    stored_report(wh, WINDOW, SETTINGS.model_copy(update={"cost_policy": "reported"}), OPTIONS)
    prices = tmp_path / "prices.yaml"
    prices.write_text(
        "overrides:\n  - model: gpt-4o-mini\n    effective_from: 2024-01-01\n"
        "    input_per_mtok: 0.1\n    output_per_mtok: 0.4\n"
    )
    with_file = SETTINGS.model_copy(update={"prices_file": prices})
    stored_report(wh, WINDOW, with_file, OPTIONS)
    assert counting.runs == 5
    stored_report(wh, WINDOW, with_file, OPTIONS)
    assert counting.runs == 5
    prices.write_text(prices.read_text().replace("0.4", "0.5"))
    stored_report(wh, WINDOW, with_file, OPTIONS)
    assert counting.runs == 6


def test_every_write_of_a_project_and_only_of_it_changes_its_version(url: str) -> None:
    wh = ledger(classification_history(), url)
    version = ledger_version(wh, "default")
    assert version is not None and ledger_version(wh, "other") is None

    Pipeline(wh, Pricer()).ingest([llm("x", "c", D0, project_id="other", input_tokens=1)], [])
    assert ledger_version(wh, "default") == version  # another project's write
    assert ledger_version(wh, "other") is not None

    Pipeline(wh, Pricer()).ingest(classification_history()[:3], [])  # the same rows again: still a write
    assert ledger_version(wh, "default") != version


def test_a_failed_write_leaves_the_version(tmp_path: Path) -> None:
    wh = ledger(classification_history(), f"duckdb:///{tmp_path / 'ledger.duckdb'}")
    version = ledger_version(wh, "default")
    batch = Pipeline(wh, Pricer())
    with pytest.raises(RuntimeError), wh.transaction():
        batch.ingest([llm("y", "c", D0, input_tokens=1)], [])
        raise RuntimeError("the write fails after the rows")
    assert ledger_version(wh, "default") == version
    assert wh.sql("SELECT count(*) AS n FROM calls WHERE trace_id = 'y'")["n"][0] == 0


def test_the_dashboards_default_view_is_stored_ahead(url: str, counting: Counting) -> None:
    wh: Warehouse = ledger(classification_history(), url)
    filters = dashboard_filters(wh, "default")
    last = wh.sql("SELECT max(started_at) AS t FROM calls")["t"][0]
    assert filters.until - filters.since == timedelta(days=30)
    assert filters.since <= last < filters.until and filters.until - last <= timedelta(days=1)

    refreshed = refresh_stored(wh, SETTINGS)
    assert counting.runs == 1
    assert refresh_stored(wh, SETTINGS).model_dump() == refreshed.model_dump()
    assert counting.runs == 1  # nothing changed: nothing computed
    # what the dashboard asks for (its default view, default options) is what was stored
    assert stored_report(wh, filters, SETTINGS).model_dump() == refreshed.model_dump()
    assert counting.runs == 1
    assert refreshed.model_dump() == recommend_report(wh, filters, SETTINGS).model_dump()
    snapshots = wh.sql("SELECT ledger_version FROM snapshots WHERE project_id = 'default'")
    assert snapshots["ledger_version"].to_list() == [ledger_version(wh, "default")]


def test_a_snapshot_is_read_back_whole(url: str) -> None:
    wh = ledger(classification_history(), url)
    stored_report(wh, WINDOW, SETTINGS, OPTIONS)
    rows = wh.sql("SELECT key FROM snapshots")
    assert rows.height == 1
    snap = read_snapshot(wh, "default", "recommendations", rows["key"][0])
    assert snap is not None and snap.seconds > 0 and snap.ledger_version == ledger_version(wh, "default")
    assert read_snapshot(wh, "other", "recommendations", rows["key"][0]) is None


def test_an_unreadable_snapshot_is_computed_again(url: str, counting: Counting) -> None:
    wh = ledger(classification_history(), url)
    first = stored_report(wh, WINDOW, SETTINGS, OPTIONS)
    key = wh.sql("SELECT key FROM snapshots")["key"][0]
    snap = read_snapshot(wh, "default", "recommendations", key)
    assert snap is not None
    write_snapshot(wh, "default", "recommendations", key, snap.ledger_version, '{"window": 1}', 0.1)
    again = stored_report(wh, WINDOW, SETTINGS, OPTIONS)
    assert counting.runs == 2 and again.model_dump() == first.model_dump()
    stored_report(wh, WINDOW, SETTINGS, OPTIONS)
    assert counting.runs == 2  # the good one was stored in its place


def test_a_caller_may_accept_a_recent_report_computed_before_the_latest_writes(
    url: str, counting: Counting
) -> None:
    wh = ledger(classification_history(), url)
    first = stored_report(wh, WINDOW, SETTINGS, OPTIONS)
    Pipeline(wh, Pricer()).ingest([llm("late", "c", D0 + timedelta(days=3), input_tokens=500)], [])

    # the dashboard accepts a report up to ten minutes old: served, though calls were written since
    served = stored_report(wh, WINDOW, SETTINGS, OPTIONS, max_age_seconds=600)
    assert counting.runs == 1 and served.model_dump() == first.model_dump()
    # a caller that does not (the API, the weekly report) gets the ledger as it is now
    exact = stored_report(wh, WINDOW, SETTINGS, OPTIONS)
    assert counting.runs == 2
    assert exact.model_dump() == recommend_report(wh, WINDOW, SETTINGS, OPTIONS).model_dump()

    # older than the age accepted: computed again
    Pipeline(wh, Pricer()).ingest([llm("later", "c", D0 + timedelta(days=4), input_tokens=500)], [])
    stored_report(wh, WINDOW, SETTINGS, OPTIONS, max_age_seconds=600)
    assert counting.runs == 2
    stored_report(wh, WINDOW, SETTINGS, OPTIONS, max_age_seconds=0)
    assert counting.runs == 3
