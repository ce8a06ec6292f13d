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
