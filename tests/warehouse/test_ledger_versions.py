"""Every path that changes a project's calls or spans gives it a new ledger version, and only its own: the
token the stored reports (analytics/snapshots.py) are valid for. Run on every backend."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest

from agentledger.analytics.filters import Filters
from agentledger.analytics.reprice import reprice
from agentledger.core.pricing import Pricer
from agentledger.core.records import Call, SpanContext, calls_to_arrow, spans_to_arrow
from agentledger.ingest.pipeline import Pipeline
from agentledger.warehouse import connect
from agentledger.warehouse.base import Warehouse, ledger_version
from agentledger.warehouse.copy import copy_ledger

T0 = datetime(2025, 6, 2, tzinfo=UTC)


def call(trace: str, span: str = "c", project_id: str = "default", **kw: object) -> Call:
    kw.setdefault("model", "gpt-4o")
    kw.setdefault("provider", "openai")
    return Call(
        source="otlp",
        trace_id=trace,
        span_id=span,
        started_at=T0 + timedelta(minutes=len(trace)),
        project_id=project_id,
        input_tokens=100,
        output_tokens=10,
        **kw,
    )


def versions(wh: Warehouse, *projects: str) -> list[str | None]:
    return [ledger_version(wh, p) for p in projects]


def test_a_batch_of_two_projects_stamps_both_and_no_other(warehouse: Warehouse) -> None:
    warehouse.write_calls(calls_to_arrow([call("t0", project_id="c")]))
    before = versions(warehouse, "a", "b", "c")
    warehouse.write_calls(calls_to_arrow([call("t1", project_id="a"), call("t2", project_id="b")]))
    after = versions(warehouse, "a", "b", "c")
    assert after[0] is not None and after[1] is not None and after[0] != after[1]
    assert before[:2] == [None, None] and after[2] == before[2] is not None


def test_spans_alone_stamp_their_project(warehouse: Warehouse) -> None:
    before = ledger_version(warehouse, "default")
    span = SpanContext(source="otlp", trace_id="t", span_id="s", started_at=T0, name="agent", kind="agent")
    warehouse.write_spans(spans_to_arrow([span]))
    assert ledger_version(warehouse, "default") not in (None, before)


def _context_update(project_id: str, agent: str | None) -> pa.Table:
    return pa.table(
        {
            "project_id": [project_id],
            "source": ["otlp"],
            "trace_id": ["t1"],
            "span_id": ["c"],
            "agent_name": [agent],
            "task_type": [None],
            "session_id": [None],
            "user_id": [None],
        },
        schema=pa.schema(
            [
                (n, pa.string())
                for n in (
                    "project_id",
                    "source",
                    "trace_id",
                    "span_id",
                    "agent_name",
                    "task_type",
                    "session_id",
                    "user_id",
                )
            ]
        ),
    )


def test_a_context_update_stamps_only_when_it_changes_a_call(warehouse: Warehouse) -> None:
    warehouse.write_calls(
        calls_to_arrow([call("t1", agent_name="triage", operation="chat", task_type="chat")])
    )
    before = ledger_version(warehouse, "default")
    assert warehouse.update_call_context(_context_update("default", "triage")) == 0
    assert ledger_version(warehouse, "default") == before
    assert warehouse.update_call_context(_context_update("default", "planner")) == 1
    assert ledger_version(warehouse, "default") not in (None, before)


def test_a_reprice_stamps_when_it_writes(warehouse: Warehouse) -> None:
    warehouse.write_calls(calls_to_arrow([call("t1"), call("t22")]))  # unpriced: a re-price prices them
    before = ledger_version(warehouse, "default")
    assert reprice(warehouse, Pricer(), Filters(), dry_run=True).calls_changed == 2
    assert ledger_version(warehouse, "default") == before  # a dry run writes nothing
    assert reprice(warehouse, Pricer(), Filters(), dry_run=False).calls_changed == 2
    assert ledger_version(warehouse, "default") not in (None, before)


def test_a_copy_stamps_the_target(tmp_path: Path) -> None:
    source = connect(f"duckdb:///{tmp_path / 'a.duckdb'}")
    target = connect(f"duckdb:///{tmp_path / 'b.duckdb'}")
    try:
        Pipeline(source, Pricer()).ingest([call("t1"), call("t2", project_id="other")], [])
        target.write_calls(calls_to_arrow([call("t9")]))
        before = ledger_version(target, "default")
        copy_ledger(source, target, source_label="a")
        assert ledger_version(target, "default") not in (None, before)
        assert ledger_version(target, "other") is not None
    finally:
        source.close()
        target.close()


def test_a_rolled_back_transaction_leaves_the_version_and_the_next_one_is_not_stamped_for_it(
    tmp_path: Path,
) -> None:
    wh = connect(f"duckdb:///{tmp_path / 'ledger.duckdb'}")
    try:
        wh.write_calls(calls_to_arrow([call("t1")]))
        before = versions(wh, "default", "x")
        with pytest.raises(RuntimeError), wh.transaction():
            wh.write_calls(calls_to_arrow([call("t2", project_id="x")]))
            raise RuntimeError("abort")
        assert versions(wh, "default", "x") == before
        wh.write_calls(calls_to_arrow([call("t3")]))  # a later transaction of another project
        assert ledger_version(wh, "x") is None  # the rolled-back project is not stamped by it
    finally:
        wh.close()
