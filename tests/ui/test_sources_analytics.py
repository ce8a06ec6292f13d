"""analytics/sources.py (what the Sources page and the default window read), on DuckDB and on chDB."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from agentledger.analytics.metrics import Filters, call_totals
from agentledger.analytics.sources import (
    FILTER_DIMENSIONS,
    data_extent,
    dimension_values,
    list_sources,
    source_activity,
)
from agentledger.core.records import Call, calls_to_arrow
from agentledger.warehouse import connect
from agentledger.warehouse.base import Cursor

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(params=["duckdb", "chdb"])
def wh(request: pytest.FixtureRequest, tmp_path: Path):  # noqa: ANN201
    url = f"duckdb:///{tmp_path / 'l.duckdb'}" if request.param == "duckdb" else f"chdb:///{tmp_path / 'ch'}"
    if request.param == "chdb":
        pytest.importorskip("chdb", reason="the chdb extra is part of the dev install")
    warehouse = connect(url)
    yield warehouse
    warehouse.close()


def _call(source: str, i: int, cost: float | None, project: str = "default") -> Call:
    return Call(
        source=source,
        trace_id=f"t{i}",
        span_id=f"s{i}",
        started_at=T0 + timedelta(hours=i),
        project_id=project,
        model="m",
        cost_usd=cost,
        ingested_at=T0 + timedelta(days=1, hours=i),
    )


def test_empty_ledger(wh) -> None:  # noqa: ANN001
    extent = data_extent(wh)
    assert extent.empty and extent.calls == 0
    assert extent.first_call_at is None and extent.last_call_at is None
    assert list_sources(wh).is_empty()
    assert source_activity(wh).is_empty()


def test_extent_activity_and_cursors(wh) -> None:  # noqa: ANN001
    calls = [
        _call("otlp", 0, 0.5),
        _call("otlp", 3, None),
        _call("langfuse", 1, 0.25),
        _call("otlp", 9, 1.0, "other"),
    ]
    wh.write_calls(calls_to_arrow(calls))
    wh.set_cursor(Cursor("langfuse:https://cloud.langfuse.com", "c-42", T0, T0, "HTTP 429", 1))
    extent = data_extent(wh)
    assert (extent.calls, extent.first_call_at, extent.last_call_at) == (3, T0, T0 + timedelta(hours=3))
    assert data_extent(wh, "other").calls == 1
    activity = {r["source"]: r for r in source_activity(wh).iter_rows(named=True)}
    assert set(activity) == {"langfuse", "otlp"}
    assert (activity["otlp"]["calls"], activity["otlp"]["unpriced_calls"]) == (2, 1)
    assert activity["otlp"]["last_call_at"] == T0 + timedelta(hours=3)
    # A backend may stamp the ingest time itself on write: it is at least the one given.
    assert activity["langfuse"]["last_ingested_at"] >= T0 + timedelta(days=1, hours=1)
    cursors = list_sources(wh).to_dicts()
    assert [(c["source_key"], c["value"], c["last_error"], c["records"]) for c in cursors] == [
        ("langfuse:https://cloud.langfuse.com", "c-42", "HTTP 429", 1)
    ]


def test_dimension_values_rank_every_filter_value_by_cost(wh) -> None:  # noqa: ANN001
    rows = [  # agent, task type, model, environment, cost
        ("planner", "plan", "gpt-4o", "prod", 1.0),
        ("planner", "plan", "claude", "prod", None),
        ("coder", "", "claude", None, 3.0),
        ("reviewer", None, "llama", "dev", None),  # unpriced only: ranks as 0
        ("auditor", "plan", "gpt-4o", "dev", 0.0),
    ]
    calls = [
        Call(
            source="otlp",
            trace_id=f"t{i}",
            span_id=f"s{i}",
            started_at=T0 + timedelta(minutes=i),
            agent_name=agent,
            task_type=task,
            model=model,
            environment=env,
            cost_usd=cost,
        )
        for i, (agent, task, model, env, cost) in enumerate(rows)
    ]
    calls.append(_call("otlp", 99, 50.0, "other"))  # another project's values stay out
    wh.write_calls(calls_to_arrow(calls))
    values = dimension_values(wh)
    assert values == {
        "agent": ["coder", "planner", "auditor", "reviewer"],
        "task_type": ["plan"],
        "model": ["claude", "gpt-4o", "llama"],
        "environment": ["prod", "dev"],
    }
    # what one call_totals query per dimension gives, non-empty keys most expensive first
    for dim in FILTER_DIMENSIONS:
        groups = call_totals(wh, Filters(), dim)
        ranked = sorted((k for k in groups if k), key=lambda k: (-(groups[k]["total_cost_usd"] or 0.0), k))
        assert values[dim] == ranked, dim
