"""`agentledger up` keeps the stored recommendations of the dashboard's default view fresh in the background."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from agentledger.analytics import recommend as recommend_module
from agentledger.analytics.recommend import dashboard_filters, recommend_report, stored_report
from agentledger.app.services import build_pipeline, keep_stored_fresh, load_demo
from agentledger.core.settings import Settings
from agentledger.warehouse import connect
from agentledger.warehouse.base import Warehouse


def _snapshot_versions(wh: Warehouse) -> list[str | None]:
    return wh.sql("SELECT ledger_version FROM snapshots WHERE kind = 'recommendations'")[
        "ledger_version"
    ].to_list()


def _wait_for(condition, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("the background refresh did not store the report in time")
        time.sleep(0.1)


def test_the_default_view_is_stored_ahead_and_served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"duckdb:///{tmp_path / 'ledger.duckdb'}"
    settings = Settings(_env_file=None, warehouse=url, api_keys=[])
    wh = connect(url)
    load_demo(build_pipeline(settings, wh), project_id="default", sessions=40)
    assert _snapshot_versions(wh) == []

    stop = threading.Event()
    refresher = threading.Thread(target=keep_stored_fresh, args=(wh, settings, stop), daemon=True)
    refresher.start()
    try:
        _wait_for(lambda: len(_snapshot_versions(wh)) == 1)
    finally:
        stop.set()
        refresher.join(timeout=60)
    assert not refresher.is_alive()  # stops at once when asked, not after its interval

    # What the dashboard asks for on its first visit is served from the snapshot, and is the computed report.
    filters = dashboard_filters(wh, "default")
    expected = recommend_report(wh, filters, settings)

    def must_not_compute(*args, **kwargs):
        raise AssertionError("the stored report was computed again")

    monkeypatch.setattr(recommend_module, "recommend_report", must_not_compute)
    assert stored_report(wh, filters, settings).model_dump() == expected.model_dump()


def test_a_failing_refresh_is_logged_and_does_not_end_the_loop(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"duckdb:///{tmp_path / 'ledger.duckdb'}"
    settings = Settings(_env_file=None, warehouse=url, api_keys=[])
    wh = connect(url)
    wh.sql("DROP TABLE snapshots")  # every refresh now fails
    stop = threading.Event()
    refresher = threading.Thread(target=keep_stored_fresh, args=(wh, settings, stop), daemon=True)
    with caplog.at_level("WARNING"):
        refresher.start()
        _wait_for(lambda: "refreshing the stored recommendations failed" in caplog.text, seconds=60)
        time.sleep(0.2)
        assert refresher.is_alive()  # waiting for its next check, not dead
        stop.set()
        refresher.join(timeout=60)
    assert not refresher.is_alive()
