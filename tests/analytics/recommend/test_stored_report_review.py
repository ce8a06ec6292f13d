"""The stored recommendations at their edges: a window that ends "now", a warehouse that cannot take the
snapshot for a moment, snapshots no version can serve again, a write whose version stamp is lost, and two
projects side by side."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from recommend_histories import D0, OPTIONS, SETTINGS, WINDOW, classification_history, ledger, llm

from agentledger.analytics.filters import Filters
from agentledger.analytics.recommend import recommend_report, stored_report
from agentledger.core.errors import TransientError, WarehouseError
from agentledger.core.pricing import Pricer
from agentledger.ingest.pipeline import Pipeline
from agentledger.warehouse import connect
from agentledger.warehouse.base import ledger_version


@pytest.fixture(params=["duckdb", "chdb"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "chdb":
        pytest.importorskip("chdb")
        return f"chdb:///{tmp_path / 'chdb'}"
    return f"duckdb:///{tmp_path / 'ledger.duckdb'}"


def test_an_open_window_over_a_project_without_calls_ends_now_at_every_request(url: str) -> None:
    # No since/until (the API's default): the window ends "now" while the project has no call, so a report
    # kept from an earlier request would show a window that ended then.
    wh = connect(url)
    open_window = Filters(project_id="empty")
    first = stored_report(wh, open_window, SETTINGS, OPTIONS)
    second = stored_report(wh, open_window, SETTINGS, OPTIONS)
    assert second.window["until"] > first.window["until"]


class RefusingSnapshots:
    """A warehouse whose writes of snapshots fail as ``error`` (the rest goes to ``wh``)."""

    def __init__(self, wh: Any, error: Exception) -> None:
        self._wh = wh
        self._error = error

    def sql(self, text: str, params: dict[str, Any] | None = None) -> Any:
        if text.lstrip().upper().startswith("INSERT") and "snapshots" in text:
            raise self._error
        return self._wh.sql(text, params)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._wh, name)


@pytest.mark.parametrize(
    "error",
    [WarehouseError("read-only"), TransientError("ClickHouse statement failed: connection reset")],
    ids=["refused", "transient"],
)
def test_a_report_that_cannot_be_stored_is_still_returned(tmp_path: Path, error: Exception) -> None:
    wh = ledger(classification_history(), f"duckdb:///{tmp_path / 'ledger.duckdb'}")
    report = stored_report(RefusingSnapshots(wh, error), WINDOW, SETTINGS, OPTIONS)  # type: ignore[arg-type]
    assert report.model_dump() == recommend_report(wh, WINDOW, SETTINGS, OPTIONS).model_dump()


def test_snapshots_of_a_version_that_is_gone_are_not_kept(tmp_path: Path) -> None:
    # A version is random and never comes back: a snapshot computed at an earlier one is served only to a
    # caller that accepts its age, so once older than any such age it goes.
    wh = ledger(classification_history(), f"duckdb:///{tmp_path / 'ledger.duckdb'}")
    shorter = Filters(since=WINDOW.since, until=WINDOW.until - timedelta(days=1))
    for day in range(5):
        stored_report(wh, WINDOW, SETTINGS, OPTIONS)
        stored_report(wh, shorter, SETTINGS, OPTIONS)
        Pipeline(wh, Pricer()).ingest([llm(f"more-{day}", "c", D0 + timedelta(days=day), input_tokens=9)], [])
    stored_report(wh, WINDOW, SETTINGS, OPTIONS)
    # young stale snapshots stay (a caller with a max_age may be served them): the shorter window's
    assert wh.sql("SELECT count(*) AS n FROM snapshots")["n"][0] == 2
    Pipeline(wh, Pricer()).ingest([llm("late", "c", D0, input_tokens=9)], [])
    wh.sql("UPDATE snapshots SET computed_at = computed_at - INTERVAL 2 DAY")
    stored_report(wh, shorter, SETTINGS, OPTIONS)  # both stale and old: the other one goes
    current = ledger_version(wh, "default")
    versions = wh.sql("SELECT ledger_version FROM snapshots")["ledger_version"].to_list()
    assert versions == [current]


def test_rows_whose_version_stamp_failed_are_not_hidden_by_a_stored_report(tmp_path: Path) -> None:
    pytest.importorskip("chdb")
    wh = ledger(classification_history(), f"chdb:///{tmp_path / 'chdb'}")
    before = stored_report(wh, WINDOW, SETTINGS, OPTIONS)
    try:
        client = wh._client  # type: ignore[attr-defined]
        insert = client.insert_arrow

        written: list[str] = []

        def lose_the_stamp(table_name: str, table: pa.Table) -> None:
            # the connection drops after the rows went in, before the version that follows them
            if table_name == "ledger_versions" and "calls" in written:
                raise WarehouseError("connection reset before the version was written")
            insert(table_name, table)
            written.append(table_name)

        client.insert_arrow = lose_the_stamp
        failed = [
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
        priced = Pipeline(wh, Pricer()).prepare(failed, []).call_table  # priced like any ingest
        assert priced is not None
        with pytest.raises(WarehouseError):
            wh.write_calls(priced)
        client.insert_arrow = insert
        assert (
            wh.sql("SELECT count(*) AS n FROM calls WHERE trace_id LIKE 'late-%'")["n"][0] == 10
        )  # rows are in
        after = stored_report(wh, WINDOW, SETTINGS, OPTIONS)
        assert after.model_dump() == recommend_report(wh, WINDOW, SETTINGS, OPTIONS).model_dump()
        assert after.model_dump() != before.model_dump()
    finally:
        wh.close()  # chDB holds one directory per process


def test_a_project_is_served_its_own_report_only(url: str) -> None:
    # Two projects with the same window and inputs: each is computed from, and served, its own calls.
    history = classification_history()
    wh = ledger(history, url)
    Pipeline(wh, Pricer()).ingest([replace(c, project_id="b") for c in history[:40]], [])
    a = Filters(since=WINDOW.since, until=WINDOW.until, project_id="default")
    b = Filters(since=WINDOW.since, until=WINDOW.until, project_id="b")
    stored_a = stored_report(wh, a, SETTINGS, OPTIONS)
    stored_b = stored_report(wh, b, SETTINGS, OPTIONS)
    assert (
        stored_report(wh, a, SETTINGS, OPTIONS).model_dump()
        == recommend_report(wh, a, SETTINGS, OPTIONS).model_dump()
    )
    assert (
        stored_report(wh, b, SETTINGS, OPTIONS).model_dump()
        == recommend_report(wh, b, SETTINGS, OPTIONS).model_dump()
    )
    assert stored_a.model_dump() != stored_b.model_dump()
    # a write of b leaves a's snapshot current, and changes b's
    Pipeline(wh, Pricer()).ingest([replace(c, project_id="b") for c in history[40:]], [])
    assert (
        stored_report(wh, b, SETTINGS, OPTIONS).model_dump()
        == recommend_report(wh, b, SETTINGS, OPTIONS).model_dump()
    )
