"""The contract every pull collector passes (Langfuse, Helicone, LiteLLM API / Postgres / files).

To put a collector under it, subclass :class:`CollectorContract` in a ``test_*.py`` module and provide a
``harness`` fixture returning a :class:`SourceHarness` over a populated source (a fake server, a database,
a folder of files)::

    class TestMyCollectorContract(CollectorContract):
        @pytest.fixture
        def harness(self, my_server):
            yield SourceHarness(make_collector=lambda: MyCollector(my_server.url, ...), ...)

The suite checks the pure half (``normalize`` is deterministic, leaves its input alone, emits canonical
records, rejects a malformed record with ``InputError``) and the I/O half end to end through the real
DuckDB warehouse and :class:`~agentledger.ingest.pipeline.Pipeline`: a full sync stores the expected rows
and counts the malformed ones, a second sync changes nothing, and a sync killed after any page (before
the page is written, or after it is written but before the cursor moves) resumes to exactly the rows of
an uninterrupted run.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, get_args

import pytest

from agentledger.core.errors import InputError
from agentledger.core.records import Call, SpanContext, SpanKind, Status
from agentledger.core.tokens import TokenCounts
from agentledger.ingest.collectors.base import Collector
from agentledger.ingest.pipeline import Pipeline
from agentledger.ingest.sync import SyncReport, sync_collector
from agentledger.warehouse import connect
from agentledger.warehouse.base import Cursor, Warehouse, cursor_key

PROJECT = "contract-project"


@dataclass
class SourceHarness:
    """What the contract needs to know about one populated source."""

    make_collector: Callable[[], Collector]  # a fresh collector over the populated source
    samples: list[dict[str, Any]]  # raw records for the pure-mapping checks (authentic where possible)
    malformed_record: dict[str, Any]  # a record ``normalize`` must reject with InputError
    expected_calls: int  # distinct calls a full sync stores
    expected_malformed: int  # malformed records a full sync meets (counted, not fatal)
    secrets: tuple[str, ...] = ()  # values that must never appear in keys, cursors or errors
    min_pages: int = 3  # the source yields at least this many pages, so kills can land between them
    since: datetime | None = None
    until: datetime | None = None


class SimulatedKill(Exception):
    """Stands for the process dying: not an agentledger error, so nothing may swallow it."""


class FailingPipeline:
    """A real pipeline that dies on its ``fail_on``-th ingest, before writing anything of that page."""

    def __init__(self, inner: Pipeline, fail_on: int) -> None:
        self.inner, self.fail_on, self.calls = inner, fail_on, 0

    def ingest(self, calls: list[Call], spans: list[SpanContext]) -> Any:
        self.calls += 1
        if self.calls == self.fail_on:
            raise SimulatedKill(f"killed before writing page {self.fail_on}")
        return self.inner.ingest(calls, spans)


class CursorKillingWarehouse:
    """A real warehouse whose ``fail_on``-th ``set_cursor`` dies: the page is written, the cursor not moved."""

    def __init__(self, inner: Warehouse, fail_on: int) -> None:
        self.inner, self.fail_on, self.calls = inner, fail_on, 0

    def set_cursor(self, cursor: Cursor) -> None:
        self.calls += 1
        if self.calls == self.fail_on:
            raise SimulatedKill(f"killed before storing cursor #{self.fail_on}")
        self.inner.set_cursor(cursor)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def open_warehouse(directory: Path, name: str) -> Warehouse:
    """A real DuckDB warehouse in a file of its own (migrated on connect)."""
    return connect(f"duckdb:///{directory / name}.duckdb")


def stored_rows(wh: Warehouse) -> dict[str, list[dict[str, Any]]]:
    """Every stored call and span, in key order, without the write timestamp (it differs run to run)."""
    order = "ORDER BY project_id, source, trace_id, span_id"
    calls = wh.sql(f"SELECT * EXCLUDE (ingested_at) FROM calls {order}").to_dicts()
    spans = wh.sql(f"SELECT * FROM spans {order}").to_dicts()
    return {"calls": calls, "spans": spans}


def source_key(harness: SourceHarness) -> str:
    """The cursor key of the harness's source in the contract's project."""
    collector = harness.make_collector()
    key = cursor_key(collector.source_key, PROJECT)
    close = getattr(collector, "close", None)
    if callable(close):
        close()
    return key


def run_sync(harness: SourceHarness, wh: Warehouse, pipeline: Any = None, **kwargs: Any) -> SyncReport:
    """One sync run with a fresh collector (as a new process would have)."""
    collector = harness.make_collector()
    try:
        return sync_collector(
            collector,
            pipeline or Pipeline(wh),
            wh,
            project_id=PROJECT,
            since=harness.since,
            until=harness.until,
            **kwargs,
        )
    finally:
        close = getattr(collector, "close", None)
        if callable(close):
            close()


class CollectorContract:
    """The shared suite; subclasses provide the ``harness`` fixture."""

    @pytest.fixture
    def harness(self) -> Iterator[SourceHarness]:
        raise NotImplementedError("a CollectorContract subclass must provide the `harness` fixture")

    @pytest.fixture
    def reference_run(self, harness: SourceHarness, tmp_path: Path) -> Iterator[dict[str, Any]]:
        """The rows and cursor of one uninterrupted sync into a fresh warehouse."""
        wh = open_warehouse(tmp_path, "reference")
        try:
            report = run_sync(harness, wh)
            cursor = wh.get_cursor(source_key(harness))
            yield {"rows": stored_rows(wh), "report": report, "cursor": cursor}
        finally:
            wh.close()

    # --- the protocol and the pure half ---------------------------------------------------------------

    def test_implements_the_protocol(self, harness: SourceHarness) -> None:
        collector = harness.make_collector()
        assert isinstance(collector, Collector)
        assert collector.name and collector.source_key

    def test_source_key_holds_no_secret(self, harness: SourceHarness) -> None:
        key = harness.make_collector().source_key
        for secret in harness.secrets:
            assert secret not in key

    def test_normalize_is_deterministic_and_leaves_input_alone(self, harness: SourceHarness) -> None:
        collector = harness.make_collector()
        for record in harness.samples:
            before = copy.deepcopy(record)
            first = collector.normalize(record, project_id=PROJECT)
            second = collector.normalize(copy.deepcopy(record), project_id=PROJECT)
            assert record == before
            assert first == second

    def test_normalized_records_are_canonical(self, harness: SourceHarness) -> None:
        collector = harness.make_collector()
        produced_calls = 0
        for record in harness.samples:
            out = collector.normalize(record, project_id=PROJECT)
            produced_calls += len(out.calls)
            for call in out.calls:
                _assert_canonical_call(call, collector.name)
            for span in out.spans:
                assert span.project_id == PROJECT and span.source == collector.name
                assert span.kind in get_args(SpanKind) and span.status in get_args(Status)
                assert span.trace_id and span.span_id
            assert len({c.key() for c in out.calls}) == len(out.calls)
        assert produced_calls > 0, "the samples must include at least one LLM call"

    def test_malformed_record_is_an_input_error(self, harness: SourceHarness) -> None:
        collector = harness.make_collector()
        with pytest.raises(InputError):
            collector.normalize(harness.malformed_record, project_id=PROJECT)
        assert isinstance(collector.record_id(harness.malformed_record), str)

    # --- end to end through the pipeline and the warehouse --------------------------------------------

    def test_full_sync_stores_every_call_and_counts_malformed(
        self, harness: SourceHarness, reference_run: dict[str, Any]
    ) -> None:
        report, rows, cursor = reference_run["report"], reference_run["rows"], reference_run["cursor"]
        assert report.ok and report.pages >= harness.min_pages
        assert report.malformed == harness.expected_malformed
        assert len(report.malformed_ids) == harness.expected_malformed
        assert len(rows["calls"]) == harness.expected_calls
        assert {c["project_id"] for c in rows["calls"]} == {PROJECT}
        assert cursor is not None and cursor.value is not None
        assert cursor.last_error is None and cursor.records == report.records
        assert cursor.last_run_at is not None

    def test_second_sync_changes_nothing(
        self, harness: SourceHarness, reference_run: dict[str, Any], tmp_path: Path
    ) -> None:
        wh = open_warehouse(tmp_path, "twice")
        try:
            run_sync(harness, wh)
            run_sync(harness, wh)
            assert stored_rows(wh) == reference_run["rows"]
        finally:
            wh.close()

    @pytest.mark.parametrize("kill", ["before_write", "after_write"])
    @pytest.mark.parametrize("page", [1, 2, 3])
    def test_killed_sync_resumes_to_the_uninterrupted_rows(
        self, harness: SourceHarness, reference_run: dict[str, Any], tmp_path: Path, kill: str, page: int
    ) -> None:
        assert page <= harness.min_pages
        wh = open_warehouse(tmp_path, f"killed-{kill}-{page}")
        try:
            with pytest.raises(SimulatedKill):
                if kill == "before_write":
                    run_sync(harness, wh, pipeline=FailingPipeline(Pipeline(wh), fail_on=page))
                else:
                    run_sync(harness, CursorKillingWarehouse(wh, fail_on=page), pipeline=Pipeline(wh))
            key = source_key(harness)
            failed = wh.get_cursor(key)
            if failed is not None:  # a kill before the first cursor write leaves no row to annotate
                assert failed.last_error and "SimulatedKill" in failed.last_error
                for secret in harness.secrets:
                    assert secret not in failed.last_error
            resumed = run_sync(harness, wh)
            assert resumed.ok
            assert stored_rows(wh) == reference_run["rows"]
            assert wh.get_cursor(key).value == reference_run["cursor"].value
            assert wh.get_cursor(key).last_error is None
        finally:
            wh.close()

    def test_progress_is_reported_after_every_page(self, harness: SourceHarness, tmp_path: Path) -> None:
        wh = open_warehouse(tmp_path, "progress")
        seen: list[int] = []
        try:
            report = run_sync(harness, wh, progress=lambda r: seen.append(r.pages))
        finally:
            wh.close()
        assert seen == list(range(1, report.pages + 1))


def _assert_canonical_call(call: Call, source: str) -> None:
    assert call.source == source and call.project_id == PROJECT
    assert call.trace_id and call.span_id
    assert call.started_at.tzinfo is not None and call.started_at.utcoffset() == UTC.utcoffset(None)
    assert call.ended_at is None or call.ended_at >= call.started_at
    TokenCounts.of(call)  # raises when cache > input or reasoning > output
    assert call.status in get_args(Status)
    assert call.cost_reported_usd is None or call.cost_reported_usd >= 0
    assert call.latency_ms is None or call.latency_ms >= 0
    assert call.ttft_ms is None or call.ttft_ms >= 0
    assert call.raw is not None and isinstance(json.loads(call.raw), dict)
