"""`agentledger migrate`: a DuckDB demo ledger copied to chDB reproduces every metric; a stopped copy resumes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from typer.testing import CliRunner

from agentledger.analytics.filters import Filters
from agentledger.analytics.metrics import compute_metrics
from agentledger.app.cli import app
from agentledger.app.services import build_pipeline, load_demo
from agentledger.core.settings import Settings
from agentledger.warehouse import connect
from agentledger.warehouse.copy import copy_ledger

END = datetime(2026, 11, 16, tzinfo=UTC)


@pytest.fixture(scope="module")
def demo_duckdb(tmp_path_factory) -> str:
    url = f"duckdb:///{tmp_path_factory.mktemp('src') / 'ledger.duckdb'}"
    wh = connect(url)
    load_demo(build_pipeline(Settings(warehouse=url), wh), project_id="default", sessions=40, seed=3, end=END)
    wh.close()
    return url


def _metrics(url: str) -> dict:
    wh = connect(url)
    try:
        return compute_metrics(wh, Filters(project_id="default"), None)
    finally:
        wh.close()


def _assert_same_metrics(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key, value in a.items():
        if isinstance(value, float):
            assert b[key] == pytest.approx(value, rel=1e-9), key
        elif key == "model_mix":
            assert [(m["model"], m["calls"]) for m in value] == [(m["model"], m["calls"]) for m in b[key]]
            for x, y in zip(value, b[key], strict=True):
                if x["cost_usd"] is None:  # an unpriced model stays unknown on both sides
                    assert y["cost_usd"] is None
                else:
                    assert y["cost_usd"] == pytest.approx(x["cost_usd"], rel=1e-9)
        else:
            assert b[key] == value, key


def test_migrate_duckdb_to_chdb_reproduces_every_metric(demo_duckdb, tmp_path) -> None:
    target = f"chdb:///{tmp_path / 'ch'}"
    result = CliRunner().invoke(
        app, ["migrate", "--from", demo_duckdb, "--to", target, "--batch-rows", "500"]
    )
    assert result.exit_code == 0, result.output
    assert "MISMATCH" not in result.output
    _assert_same_metrics(_metrics(demo_duckdb), _metrics(target))


def test_a_stopped_copy_resumes_without_loss_or_duplicates(demo_duckdb, tmp_path) -> None:
    target_url = f"duckdb:///{tmp_path / 'copy.duckdb'}"
    source, target = connect(demo_duckdb), connect(target_url)

    class Stop(Exception):
        pass

    def stop_after_first_batch(table: str, n: int) -> None:
        raise Stop

    with pytest.raises(Stop):
        copy_ledger(source, target, source_label="src", batch_rows=100, progress=stop_after_first_batch)
    assert int(target.sql("SELECT count(*) AS n FROM calls")["n"][0]) == 100

    report = copy_ledger(source, target, source_label="src", batch_rows=100)
    assert report.ok and report.tables[0].copied < report.tables[0].source_rows  # resumed, not restarted
    source.close(), target.close()
    _assert_same_metrics(_metrics(demo_duckdb), _metrics(target_url))


def _state_rows(url: str) -> dict[str, list[tuple]]:
    from agentledger.warehouse.copy import STATE_TABLES

    wh = connect(url)
    try:
        rows = {}
        for table in STATE_TABLES:
            frame = wh.sql(f"SELECT * FROM {table}")
            rows[table] = sorted(frame.select(sorted(frame.columns)).rows(), key=repr)
        return rows
    finally:
        wh.close()


def test_api_keys_and_alert_state_travel_once_and_keys_keep_working(tmp_path) -> None:
    from datetime import timedelta

    from agentledger.alerts.state import AlertState
    from agentledger.alerts.store import AlertStore, Delivery
    from agentledger.core.security import hash_key
    from agentledger.warehouse.keys import KeyStore

    source_url = f"duckdb:///{tmp_path / 'src.duckdb'}"
    wh = connect(source_url)
    kept, secret = KeyStore(wh).create("team-a", name="ci")
    revoked, _ = KeyStore(wh).create("team-b")
    KeyStore(wh).revoke(revoked.key_id)
    store = AlertStore(wh, project_id="team-a")
    state = AlertState(
        "k1", "budget", None, "firing", END, level=1.0, value=12.5, threshold=10.0, fired_at=END
    )
    store.save_state(state)
    for n in range(3):
        delivery = Delivery(f"d{n}", "alert", "e1", "ops", "slack", {"text": "it's \\ 'over' ünï"}, END)
        store.enqueue(delivery)
        store.add_attempt(f"d{n}", 1, END + timedelta(seconds=n), n == 2, None if n == 2 else "down", 12.5)
    run = {
        "run_id": "r1",
        "project_id": "team-a",
        "started_at": END,
        "finished_at": END,
        "window_since": None,
    }
    run |= {"window_until": END, "filters": "{}", "cost_policy": "computed", "calls_examined": 3}
    run |= {"calls_changed": 1, "cost_before_usd": None, "cost_after_usd": 1.25, "delta_usd": 0.5}
    wh.query(
        "record_reprice", run
    )  # the re-price log: a plain MergeTree on ClickHouse, so no re-insert may happen
    wh.close()

    middle_url, back_url = f"chdb:///{tmp_path / 'ch'}", f"duckdb:///{tmp_path / 'back.duckdb'}"
    for origin, destination in ((source_url, middle_url), (middle_url, back_url)):
        for _ in range(2):  # a second copy adds nothing
            source, target = connect(origin), connect(destination)
            try:
                copy_ledger(source, target, source_label=origin)
            finally:
                source.close(), target.close()
        assert _state_rows(destination) == _state_rows(source_url)
        assert len(_state_rows(destination)["reprices"]) == 1

    wh = connect(back_url)
    try:
        keys = KeyStore(wh)
        assert keys.project_for_hash(hash_key(secret)) == "team-a"  # the same secret still signs in
        assert not keys.get(revoked.key_id).active  # and a revoked key stays revoked
        assert AlertStore(wh, project_id="team-a").states()["k1"] == state
    finally:
        wh.close()
