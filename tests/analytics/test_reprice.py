"""Re-pricing after an override changes: the dry run reports the exact difference, the real run applies it.

The ledger is priced.py's (priced at ingest: acme-large input $2 per million tokens). The new prices
raise acme-large's input to $3: F1 has 10000 - 4000 - 1000 = 5000 uncached input tokens (+$0.005), F2 6000
(+$0.006); F4 came from the gateway cache and stays $0. Everything else keeps its price.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from priced import CALLS, H10, PRICER

from agentledger.analytics.filters import Filters
from agentledger.analytics.metrics import compute_metrics
from agentledger.analytics.reprice import reprice
from agentledger.core.pricing import PriceOverride, Pricer
from agentledger.ingest.pipeline import Pipeline
from agentledger.warehouse import connect

RAISED = Pricer(
    [
        PriceOverride(
            model="acme-large",
            effective_from="2024-01-01",
            input_per_mtok=3.0,
            cache_read_per_mtok=0.5,
            cache_write_per_mtok=2.5,
            output_per_mtok=8.0,
        ),
        *PRICER.overrides[1:],
    ]
)
DELTA = 5000 * 1e-6 + 6000 * 1e-6


@pytest.fixture(params=["duckdb", "chdb"])
def wh(request, tmp_path):
    url = f"duckdb:///{tmp_path / 'l.duckdb'}" if request.param == "duckdb" else f"chdb:///{tmp_path / 'ch'}"
    warehouse = connect(url)
    Pipeline(warehouse, PRICER).ingest([c for c in CALLS], [])
    yield warehouse
    warehouse.close()


def stored_cost(wh, span: str) -> tuple:
    row = wh.sql(
        "SELECT cost_computed_usd, cost_usd, price_status, cost_source FROM calls WHERE span_id = $s",
        {"s": span},
    ).row(0)
    return row


def test_a_dry_run_reports_the_exact_difference_and_writes_nothing(wh):
    before = compute_metrics(wh, Filters())["total_cost_usd"]
    report = reprice(wh, RAISED, Filters(), dry_run=True)
    assert (report.dry_run, report.run_id) == (True, None)
    assert (report.calls_examined, report.calls_changed) == (6, 2)
    assert report.delta_usd == pytest.approx(DELTA)
    assert report.cost_before_usd == pytest.approx(before)
    assert report.cost_after_usd == pytest.approx(before + DELTA)
    models = {r["model"]: r for r in report.by_model().iter_rows(named=True)}
    large = models["acme-large"]
    assert (large["calls"], large["changed_calls"]) == (3, 2)
    assert (large["cost_before_usd"], large["cost_after_usd"]) == pytest.approx((0.0465, 0.0465 + DELTA))
    assert large["delta_usd"] == pytest.approx(DELTA)
    assert models["acme-think"]["delta_usd"] == 0.0 and models["acme-think"]["changed_calls"] == 0
    assert (models["mystery"]["unpriced_before"], models["mystery"]["unpriced_after"]) == (1, 1)
    assert report.by_model()["model"][0] == "acme-large"  # largest change first
    assert compute_metrics(wh, Filters())["total_cost_usd"] == before
    assert stored_cost(wh, "F1")[0] == pytest.approx(0.0305)


def test_the_real_run_applies_it_and_records_the_run(wh):
    before = compute_metrics(wh, Filters())
    report = reprice(wh, RAISED, Filters(), dry_run=False)
    after = compute_metrics(wh, Filters())
    assert after["total_cost_usd"] - before["total_cost_usd"] == pytest.approx(report.delta_usd)
    assert report.delta_usd == pytest.approx(DELTA)
    assert after["calls"] == before["calls"] == 6
    assert stored_cost(wh, "F1") == (pytest.approx(0.0355), pytest.approx(0.0355), "override", "override")
    assert stored_cost(wh, "F4")[1] == 0.0
    runs = wh.sql("SELECT run_id, calls_examined, calls_changed, delta_usd, cost_policy FROM reprices")
    assert runs.rows() == [(report.run_id, 6, 2, pytest.approx(DELTA), "computed")]
    again = reprice(wh, RAISED, Filters(), dry_run=False)  # nothing left to change
    assert (again.calls_changed, again.delta_usd) == (0, 0.0)
    assert compute_metrics(wh, Filters())["total_cost_usd"] == pytest.approx(after["total_cost_usd"])


def test_only_the_window_is_repriced(wh):
    only_f1 = Filters(since=H10, until=H10 + timedelta(minutes=10))
    report = reprice(wh, RAISED, only_f1, dry_run=False)
    assert (report.calls_examined, report.calls_changed) == (1, 1)
    assert report.delta_usd == pytest.approx(0.005)
    assert stored_cost(wh, "F2")[1] == pytest.approx(0.016)


def test_a_new_price_for_an_unpriced_model_is_counted(wh):
    priced = Pricer(
        [
            *PRICER.overrides,
            PriceOverride(
                model="mystery", effective_from="2024-01-01", input_per_mtok=1.0, output_per_mtok=1.0
            ),
        ]
    )
    report = reprice(wh, priced, Filters(model="mystery"), dry_run=False, batch_size=1)
    models = {r["model"]: r for r in report.by_model().iter_rows(named=True)}
    assert (models["mystery"]["unpriced_before"], models["mystery"]["unpriced_after"]) == (1, 0)
    assert report.delta_usd == pytest.approx((800 + 80) * 1e-6)
    assert compute_metrics(wh, Filters())["unpriced_calls"] == 0
