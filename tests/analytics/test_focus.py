"""FOCUS 1.2 export of the priced ledger (priced.py, where every figure is worked out by hand)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import polars as pl
import pytest
from priced import CALLS, PRICER, TOTAL

from agentledger.analytics.filters import Filters
from agentledger.analytics.focus import FOCUS_COLUMNS, export_focus, focus_frame, split_cost
from agentledger.analytics.metrics import compute_metrics
from agentledger.core.errors import InputError
from agentledger.core.pricing import Pricer
from agentledger.core.records import Call
from agentledger.ingest.pipeline import Pipeline
from agentledger.warehouse import connect


@pytest.fixture(scope="module")
def wh():
    warehouse = connect("duckdb:///:memory:")
    Pipeline(warehouse, PRICER).ingest([c for c in CALLS], [])
    yield warehouse
    warehouse.close()


def rows_by(frame: pl.DataFrame, *columns: str) -> dict:
    return {tuple(r[c] for c in columns): r for r in frame.iter_rows(named=True)}


def test_hourly_rows_per_model_and_token_type(wh):
    frame, counts = focus_frame(wh, Filters(), "hour", PRICER)
    assert counts == {"calls": 5, "unpriced_calls_excluded": 1}
    assert frame.height == 4 + 2 + 3 + 2  # large 10:00, large cache hits, think 11:00, vendor-x 12:00
    rows = rows_by(frame, "ResourceName", "x_TokenType", "x_ResponseCacheHit")
    expected = {
        # (model, type, cache hit): (tokens, list $/MTok, billed)
        ("acme-large", "input", False): (11000, 2.0, 11000 * 2.0 / 1e6),
        ("acme-large", "cache_read", False): (4000, 0.5, 4000 * 0.5 / 1e6),
        ("acme-large", "cache_write", False): (1000, 2.5, 1000 * 2.5 / 1e6),
        ("acme-large", "output", False): (2500, 8.0, 2500 * 8.0 / 1e6),
        ("acme-large", "input", True): (1000, 2.0, 0.0),
        ("acme-large", "output", True): (100, 8.0, 0.0),
        ("acme-think", "input", False): (1000, 1.0, 0.001),
        ("acme-think", "output", False): (1000, 4.0, 0.004),
        ("acme-think", "reasoning", False): (2000, 12.0, 0.024),
        ("vendor-x", "input", False): (600, 100.0, 0.06),  # no price: 0.07 split by tokens, 600 : 100
        ("vendor-x", "output", False): (100, 100.0, 0.01),
    }
    assert set(rows) == set(expected)
    for key, (tokens, unit, billed) in expected.items():
        row = rows[key]
        assert row["ConsumedQuantity"] == tokens, key
        assert row["PricingQuantity"] == pytest.approx(tokens / 1e6), key
        assert row["ListUnitPrice"] == pytest.approx(unit), key
        assert row["ListCost"] == pytest.approx(unit * tokens / 1e6), key
        for column in ("BilledCost", "EffectiveCost", "ContractedCost"):
            assert row[column] == pytest.approx(billed, abs=1e-15), (key, column)
    cache_hit = rows[("acme-large", "input", True)]
    assert cache_hit["ContractedUnitPrice"] == 0.0
    assert rows[("acme-large", "input", False)]["x_ListPriceOrigin"] == "override"
    assert rows[("vendor-x", "input", False)]["x_ListPriceOrigin"] == "reported"
    assert rows[("vendor-x", "input", False)]["x_PriceStatus"] == "reported_only"


def test_billed_cost_adds_up_to_total_cost(wh):
    total = compute_metrics(wh, Filters())["total_cost_usd"]
    assert total == pytest.approx(TOTAL)
    for granularity in ("hour", "call"):
        frame, _ = focus_frame(wh, Filters(), granularity, PRICER)
        assert frame["BilledCost"].sum() == pytest.approx(total, abs=1e-12)
    only_large = Filters(model="acme-large")
    frame, _ = focus_frame(wh, only_large, "hour", PRICER)
    assert frame["BilledCost"].sum() == pytest.approx(compute_metrics(wh, only_large)["total_cost_usd"])


def test_billed_cost_adds_up_when_the_reported_cost_of_a_cache_hit_counts():
    # With cost_policy "reported" a gateway's reported cost is the call's cost, cache hit or not: the
    # export bills the ledger's cost_usd, so Σ BilledCost still equals total_cost_usd.
    warehouse = connect("duckdb:///:memory:")
    hit = Call(
        source="litellm",
        trace_id="RT",
        span_id="R1",
        started_at=datetime(2025, 1, 6, 10, tzinfo=UTC),
        provider="openai",
        model="gpt-4o",
        input_tokens=1000,
        output_tokens=100,
        response_cache_hit=True,
        cost_reported_usd=0.0035,
    )
    Pipeline(warehouse, Pricer(cost_policy="reported")).ingest([hit], [])
    total = compute_metrics(warehouse, Filters())["total_cost_usd"]
    assert total == pytest.approx(0.0035)
    for granularity in ("hour", "call"):
        frame, _ = focus_frame(warehouse, Filters(), granularity)
        assert frame["BilledCost"].sum() == pytest.approx(total, abs=1e-12)
    warehouse.close()


def test_the_fixed_focus_columns(wh):
    frame, _ = focus_frame(wh, Filters(model="acme-think"), "hour", PRICER)
    row = rows_by(frame, "x_TokenType")[("reasoning",)]
    assert list(frame.columns) == list(FOCUS_COLUMNS)
    assert {
        k: row[k]
        for k in (
            "ChargeCategory",
            "ChargeFrequency",
            "BillingCurrency",
            "PricingCurrency",
            "PricingUnit",
            "ConsumedUnit",
            "ServiceCategory",
            "ServiceSubcategory",
            "ProviderName",
            "ResourceName",
            "SkuId",
            "SkuMeter",
            "BillingAccountId",
            "PricingCategory",
        )
    } == {
        "ChargeCategory": "Usage",
        "ChargeFrequency": "Usage-Based",
        "BillingCurrency": "USD",
        "PricingCurrency": "USD",
        "PricingUnit": "1000000 Tokens",
        "ConsumedUnit": "Tokens",
        "ServiceCategory": "AI and Machine Learning",
        "ServiceSubcategory": "Generative AI",
        "ProviderName": "acme",
        "ResourceName": "acme-think",
        "SkuId": "acme/acme-think/reasoning",
        "SkuMeter": "Reasoning Tokens",
        "BillingAccountId": "default",
        "PricingCategory": "Standard",
    }
    assert row["ChargePeriodStart"] == datetime(2025, 1, 6, 11, tzinfo=UTC)
    assert row["ChargePeriodEnd"] == datetime(2025, 1, 6, 12, tzinfo=UTC)
    assert (row["BillingPeriodStart"], row["BillingPeriodEnd"]) == (
        datetime(2025, 1, 1, tzinfo=UTC),
        datetime(2025, 2, 1, tzinfo=UTC),
    )
    # No task type recorded (no operation, no workflow span): absent from the tags rather than null.
    assert json.loads(row["Tags"]) == {"agent": "writer", "session": "fs", "user": "una", "feature": "docs"}
    assert row["ContractedUnitPrice"] == pytest.approx(12.0)  # billed 0.024 for 0.002 million tokens
    assert row["x_Calls"] == 1 and row["x_TraceId"] is None


def test_per_call_rows_keep_trace_and_span_ids(wh):
    frame, _ = focus_frame(wh, Filters(), "call", PRICER)
    assert frame.height == 4 + 2 + 3 + 2 + 2  # F1 (4 types), F2, F3, F4, F6
    f1 = frame.filter(pl.col("x_SpanId") == "F1")
    assert dict(zip(f1["x_TokenType"], f1["BilledCost"], strict=True)) == pytest.approx(
        {"input": 0.010, "cache_read": 0.002, "cache_write": 0.0025, "output": 0.016}
    )
    assert set(f1["x_TraceId"]) == {"FT"}


def test_unpriced_calls_can_be_kept_with_null_costs(wh):
    frame, counts = focus_frame(wh, Filters(), "hour", PRICER, include_unpriced=True)
    mystery = frame.filter(pl.col("ResourceName") == "mystery")
    assert counts["unpriced_calls_excluded"] == 0
    assert mystery["ConsumedQuantity"].to_list() == [800, 80]
    assert mystery["BilledCost"].to_list() == [None, None]
    assert set(mystery["x_PriceStatus"]) == {"unpriced"}


def test_csv_and_parquet_files(wh, tmp_path):
    csv = export_focus(wh, Filters(), tmp_path / "focus.csv", "csv", "hour", pricer=PRICER)
    assert (csv.rows, csv.calls, csv.unpriced_calls_excluded) == (11, 5, 1)
    assert csv.billed_cost_usd == pytest.approx(TOTAL)
    text = pl.read_csv(csv.path, infer_schema=False)
    assert text.columns == list(FOCUS_COLUMNS)
    assert "2025-01-06T10:00:00Z" in set(text["ChargePeriodStart"])
    assert sum(float(v) for v in text["BilledCost"]) == pytest.approx(TOTAL)
    (tmp_path / "out").mkdir()  # a missing folder is refused, not created
    parquet = export_focus(
        wh, Filters(), tmp_path / "out" / "focus.parquet", "parquet", "call", pricer=PRICER
    )
    back = pl.read_parquet(parquet.path)
    assert back.height == parquet.rows == 13
    assert back["BilledCost"].sum() == pytest.approx(TOTAL)
    assert back.schema["ChargePeriodStart"] == pl.Datetime("us", "UTC")


def test_split_cost_adds_up_exactly():
    parts = split_cost({"a": 1.0, "b": 2.0, "c": 3.0}, 0.1)
    assert parts == pytest.approx({"a": 0.1 / 6, "b": 0.2 / 6, "c": 0.3 / 6})
    assert sum(parts.values()) == pytest.approx(0.1, abs=1e-18)
    assert split_cost({"a": 0.0, "b": 0.0}, 1.0) == {"a": 0.5, "b": 0.5}
    assert split_cost({}, 1.0) == {}


def test_bad_options_are_refused(wh, tmp_path):
    with pytest.raises(InputError, match="fmt"):
        export_focus(wh, Filters(), tmp_path / "x", "xlsx")
    with pytest.raises(InputError, match="granularity"):
        export_focus(wh, Filters(), tmp_path / "x", "csv", "day")
