"""The warehouse contract, one suite run on every backend (DuckDB, chDB, and a live ClickHouse when set).

Whatever the engine, the same records written the same way read back the same, re-writing changes nothing,
and the metrics computed over them are the same JSON.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import re
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal
from warehouse_backends import every_backend

from agentledger.analytics.metrics import Filters, compute_metrics
from agentledger.app.services import load_demo
from agentledger.core.errors import ConfigError, WarehouseError
from agentledger.core.pricing import Pricer
from agentledger.core.records import (
    CALL_SCHEMA,
    SPAN_SCHEMA,
    Call,
    SpanContext,
    calls_to_arrow,
    spans_to_arrow,
)
from agentledger.ingest.pipeline import Pipeline
from agentledger.warehouse import connect
from agentledger.warehouse.base import Cursor, Warehouse
from agentledger.warehouse.migrations import load_migrations, sql_root

T0 = datetime(2024, 3, 31, 23, 59, 59, 999_999, tzinfo=UTC)  # a month boundary, to the microsecond
TRICKY = 'o\'brien \\ "q" \t tab \n newline ; DROP TABLE calls; -- ünï 😀'

# Backend-specific SQL only where a test reads something the contract has no query for.
COUNT_CALLS = "SELECT count(*) AS n FROM calls"
ALL_CALLS = "SELECT * FROM calls ORDER BY span_id"


def full_call(span_id: str = "s-full", **overrides: object) -> Call:
    """A call with every field set to a non-default value."""
    values: dict[str, object] = dict(
        source="otel",
        trace_id="trace-1",
        span_id=span_id,
        started_at=T0,
        project_id="proj",
        source_record_id="rec-1",
        parent_span_id="parent-1",
        session_id="sess-1",
        user_id="user-1",
        agent_name="planner",
        agent_version="1.2.3",
        feature="search",
        task_type="summarize",
        operation="chat",
        environment="prod",
        tags={"team": "ml", "quote": TRICKY, "": "empty key"},
        provider="openai",
        model_requested="gpt-4o",
        model="gpt-4o-2024-08-06",
        ended_at=T0 + timedelta(seconds=1, microseconds=1),
        latency_ms=1000.001,
        ttft_ms=123.456,
        input_tokens=1200,
        cache_read_tokens=1000,
        cache_write_tokens=100,
        output_tokens=300,
        reasoning_tokens=200,
        max_tokens=4096,
        finish_reason="stop",
        status="error",
        error_type="RateLimitError",
        response_cache_hit=False,
        prompt_hash="p" * 64,
        prefix_hash="f" * 64,
        response_id="chatcmpl-1",
        cost_reported_usd=0.0123,
        cost_computed_usd=0.012345678901,
        cost_usd=0.012345678901,
        cost_source="computed",
        price_status="priced",
        ingested_at=T0 + timedelta(days=1),
        raw='{"a": [1, 2, "x"]}',
    )
    values.update(overrides)
    return Call(**values)  # type: ignore[arg-type]


def bare_call(span_id: str = "s-bare", **overrides: object) -> Call:
    """A call with only the required fields: every optional column NULL, costs unknown."""
    values: dict[str, object] = dict(source="otel", trace_id="trace-2", span_id=span_id, started_at=T0)
    values.update(overrides)
    return Call(**values)  # type: ignore[arg-type]


def read_calls(wh: Warehouse) -> list[dict[str, object]]:
    return wh.sql(ALL_CALLS).to_dicts()


def count_calls(wh: Warehouse) -> int:
    return int(wh.sql(COUNT_CALLS)["n"][0])


def without(row: dict[str, object], *names: str) -> dict[str, object]:
    return {k: v for k, v in row.items() if k not in names}


# ------------------------------------------------------------------------------------ schema


def test_connect_migrates_and_migrate_is_idempotent(warehouse: Warehouse) -> None:
    expected = {m.version for m in load_migrations(warehouse.dialect)}
    assert warehouse.applied_migrations() == expected  # type: ignore[attr-defined]
    warehouse.migrate()
    warehouse.migrate()
    assert warehouse.applied_migrations() == expected  # type: ignore[attr-defined]
    assert count_calls(warehouse) == 0


def test_reopening_a_warehouse_keeps_its_rows(warehouse_url: str) -> None:
    wh = connect(warehouse_url)
    wh.write_calls(calls_to_arrow([full_call()]))
    wh.close()
    wh = connect(warehouse_url)  # migrates again: a no-op
    try:
        assert count_calls(wh) == 1
    finally:
        wh.close()


# ------------------------------------------------------------------------------------ round trip


def test_every_call_column_round_trips(warehouse: Warehouse) -> None:
    written = [full_call(), bare_call()]
    assert warehouse.write_calls(calls_to_arrow(written)) == 2
    frame = warehouse.sql(ALL_CALLS)
    assert frame.columns == CALL_SCHEMA.names
    expected = {r["span_id"]: r for r in calls_to_arrow(written).to_pylist()}
    for row in frame.to_dicts():
        want = expected[row["span_id"]]
        # Tags come back as a dict; their order is not part of the contract.
        assert row["tags"] == dict(want["tags"])
        assert without(row, "tags", "ingested_at") == without(want, "tags", "ingested_at")
        for column in ("started_at", "ended_at"):
            if row[column] is not None:
                assert row[column].utcoffset() == timedelta(0)


def test_call_column_types(warehouse: Warehouse) -> None:
    warehouse.write_calls(calls_to_arrow([full_call()]))
    schema = warehouse.sql(ALL_CALLS).schema
    assert schema["started_at"] == pl.Datetime("us", "UTC")
    assert schema["tags"] == pl.Map(pl.String, pl.String)
    assert schema["cost_usd"] == pl.Float64
    assert schema["input_tokens"] == pl.Int64
    assert schema["response_cache_hit"] == pl.Boolean


def test_ingested_at_is_never_older_than_written(warehouse: Warehouse) -> None:
    call = full_call()
    warehouse.write_calls(calls_to_arrow([call]))
    (row,) = read_calls(warehouse)
    assert call.ingested_at is not None
    assert row["ingested_at"] >= call.ingested_at


def test_every_span_column_round_trips(warehouse: Warehouse) -> None:
    spans = [
        SpanContext(
            source="otel",
            trace_id="t",
            span_id="root",
            project_id="proj",
            parent_span_id=None,
            name=TRICKY,
            kind="agent",
            started_at=T0,
            ended_at=T0 + timedelta(microseconds=1),
            status="ok",
            agent_name="a",
            task_type="tt",
            workflow_name="wf",
            session_id="s",
            user_id="u",
            outcome="success",
            source_outcome="failure",
        ),
        SpanContext(source="otel", trace_id="t", span_id="child", project_id="proj", parent_span_id="root"),
    ]
    assert warehouse.write_spans(spans_to_arrow(spans)) == 2
    got = warehouse.trace_spans([("proj", "otel", "t")])
    assert got.schema == SPAN_SCHEMA
    by_id = {r["span_id"]: r for r in got.to_pylist()}
    assert by_id == {r["span_id"]: r for r in spans_to_arrow(spans).to_pylist()}


# ------------------------------------------------------------------------------------ idempotence


def test_writing_the_same_batch_twice_changes_nothing(warehouse: Warehouse) -> None:
    batch = calls_to_arrow([full_call(), bare_call(), full_call("s-3", cost_usd=1.5)])
    warehouse.write_calls(batch)
    before = compute_metrics(warehouse, Filters(project_id="proj"))
    warehouse.write_calls(batch)
    warehouse.write_calls(batch)
    assert count_calls(warehouse) == 3
    assert compute_metrics(warehouse, Filters(project_id="proj")) == before


def test_a_rewrite_replaces_the_row(warehouse: Warehouse) -> None:
    warehouse.write_calls(calls_to_arrow([full_call(cost_usd=1.0)]))
    warehouse.write_calls(calls_to_arrow([full_call(cost_usd=None, price_status="unpriced")]))
    (row,) = read_calls(warehouse)
    assert row["cost_usd"] is None
    assert row["price_status"] == "unpriced"


def test_a_rewrite_that_moves_the_call_to_another_month_replaces_it(warehouse: Warehouse) -> None:
    # ClickHouse partitions by month: the two versions live in different partitions.
    warehouse.write_calls(calls_to_arrow([full_call(cost_usd=1.0)]))
    warehouse.write_calls(calls_to_arrow([full_call(started_at=T0 + timedelta(days=40), cost_usd=2.0)]))
    rows = read_calls(warehouse)
    assert [(r["started_at"], r["cost_usd"]) for r in rows] == [(T0 + timedelta(days=40), 2.0)]


def test_ingesting_twice_through_the_pipeline_changes_nothing(warehouse: Warehouse) -> None:
    calls = [full_call(f"s{i}", cost_usd=0.25 * i, parent_span_id="root") for i in range(5)]
    spans = [
        SpanContext(
            source="otel",
            trace_id="trace-1",
            span_id="root",
            project_id="proj",
            kind="agent",
            agent_name="boss",
            status="ok",
        )
    ]
    Pipeline(warehouse).ingest(calls, spans)
    before = compute_metrics(warehouse, Filters(project_id="proj"))
    Pipeline(warehouse).ingest(calls, spans)
    assert count_calls(warehouse) == 5
    assert compute_metrics(warehouse, Filters(project_id="proj")) == before
    assert before["total_cost_usd"] == 2.5
    assert before["calls"] == 5


# ------------------------------------------------------------------------------------ context updates


def test_a_late_parent_updates_the_stored_calls(warehouse: Warehouse) -> None:
    call = bare_call("llm", trace_id="tr", parent_span_id="agent", operation="chat", cost_usd=1.0)
    Pipeline(warehouse).ingest([call], [])
    (row,) = read_calls(warehouse)
    assert (row["agent_name"], row["task_type"]) == (None, "chat")
    parent = SpanContext(
        source="otel",
        trace_id="tr",
        span_id="agent",
        kind="agent",
        agent_name="researcher",
        task_type="triage",
        session_id="sess",
        user_id="ann",
    )
    Pipeline(warehouse).ingest([], [parent])
    (row,) = read_calls(warehouse)
    assert (row["agent_name"], row["task_type"], row["session_id"], row["user_id"]) == (
        "researcher",
        "triage",
        "sess",
        "ann",
    )
    assert row["cost_usd"] == 1.0
    assert count_calls(warehouse) == 1


def test_update_call_context_counts_changes_and_falls_back_to_operation(warehouse: Warehouse) -> None:
    warehouse.write_calls(calls_to_arrow([full_call("a", operation="embed"), full_call("b")]))
    key = {"project_id": ["proj"], "source": ["otel"], "trace_id": ["trace-1"]}
    update = pa.table(
        {
            **key,
            "span_id": ["a"],
            "agent_name": ["new"],
            "task_type": [None],
            "session_id": ["sess-1"],
            "user_id": ["user-1"],
        }
    )
    assert warehouse.update_call_context(update) == 1
    assert warehouse.update_call_context(update) == 0  # nothing changes the second time
    rows = {r["span_id"]: r for r in read_calls(warehouse)}
    assert (rows["a"]["agent_name"], rows["a"]["task_type"]) == ("new", "embed")
    assert rows["b"]["agent_name"] == "planner"
    assert without(rows["a"], "agent_name", "task_type", "ingested_at") == without(
        calls_to_arrow([full_call("a", operation="embed")]).to_pylist()[0] | {"tags": rows["a"]["tags"]},
        "agent_name",
        "task_type",
        "ingested_at",
    )


def test_trace_spans_returns_exactly_the_traces_asked_for(warehouse: Warehouse) -> None:
    spans = [
        SpanContext(source=src, trace_id=tr, span_id=f"{src}-{tr}-{i}", project_id=proj)
        for proj in ("p1", "p2")
        for src in ("otel", "langfuse")
        for tr in ("t1", "t2")
        for i in range(2)
    ]
    warehouse.write_spans(spans_to_arrow(spans))
    got = warehouse.trace_spans([("p1", "otel", "t1"), ("p2", "langfuse", "t2"), ("p9", "otel", "t1")])
    assert sorted(got.column("span_id").to_pylist()) == sorted(
        ["otel-t1-0", "otel-t1-1", "langfuse-t2-0", "langfuse-t2-1"]
    )
    assert warehouse.trace_spans([]).num_rows == 0


def test_stored_calls_returns_exactly_the_identities_asked_for(warehouse: Warehouse) -> None:
    calls = [
        full_call(f"{tr}-{i}", trace_id=tr, project_id=proj, tags={"k": f"{proj}{tr}{i}"})
        for proj in ("p1", "p2")
        for tr in ("t1", "t2")
        for i in range(2)
    ]
    warehouse.write_calls(calls_to_arrow(calls))
    got = warehouse.stored_calls(
        [("p1", "otel", "t1", "t1-0"), ("p2", "otel", "t2", "t2-1"), ("p1", "otel", "t2", "x")]
    )
    rows = sorted(got.to_pylist(), key=lambda r: r["project_id"])
    assert [(r["project_id"], r["span_id"], dict(r["tags"])) for r in rows] == [
        ("p1", "t1-0", {"k": "p1t10"}),
        ("p2", "t2-1", {"k": "p2t21"}),
    ]
    assert got.schema.names == CALL_SCHEMA.names
    assert warehouse.stored_calls([]).num_rows == 0


def test_an_api_call_recorded_again_in_a_later_request_is_counted_once(warehouse: Warehouse) -> None:
    """The provider SDK's own span arrives first, the instrumentation's sibling span in a later request."""
    pipeline = Pipeline(warehouse)
    end = T0 + timedelta(seconds=2)
    shared = dict(trace_id="tw", parent_span_id="agent", response_id="msg_1", ended_at=end, input_tokens=500)
    sdk = full_call("sdk", **shared, tags={"otel.scope.name": "com.anthropic.sdk"})
    theirs = full_call("instr", **shared, tags={})
    pipeline.ingest([sdk], [])
    pipeline.ingest([theirs], [])
    assert sorted(r["span_id"] for r in read_calls(warehouse)) == ["sdk"]
    assert sorted(warehouse.trace_spans([("proj", "otel", "tw")]).column("span_id").to_pylist()) == [
        "instr",
        "sdk",
    ]


# ------------------------------------------------------------------------------------ cursors


def test_cursors(warehouse: Warehouse) -> None:
    assert warehouse.get_cursor("langfuse:https://x") is None
    first = Cursor("langfuse:https://x", "2024-01-01T00:00:00Z", updated_at=T0, last_run_at=T0, records=10)
    warehouse.set_cursor(first)
    warehouse.set_cursor(Cursor("helicone:https://y", None, last_error=TRICKY))
    assert warehouse.get_cursor("langfuse:https://x") == first
    moved = Cursor("langfuse:https://x", "page-2", updated_at=T0 + timedelta(microseconds=1), records=20)
    warehouse.set_cursor(moved)
    assert warehouse.get_cursor("langfuse:https://x") == moved
    assert warehouse.get_cursor("helicone:https://y") == Cursor("helicone:https://y", None, last_error=TRICKY)


# ------------------------------------------------------------------------------------ queries


def test_unknown_costs_are_null_not_zero(warehouse: Warehouse) -> None:
    warehouse.write_calls(calls_to_arrow([bare_call("u1"), bare_call("u2")]))
    metrics = compute_metrics(warehouse, Filters())
    assert metrics["calls"] == 2
    assert metrics["unpriced_calls"] == 2
    assert metrics["total_cost_usd"] is None
    assert metrics["p95_session_cost_usd"] is None
    assert metrics["model_mix"][0]["cost_usd"] is None


def test_empty_window_gives_zero_cost_and_no_ratios(warehouse: Warehouse) -> None:
    warehouse.write_calls(calls_to_arrow([full_call()]))
    metrics = compute_metrics(warehouse, Filters(project_id="proj", since=T0 + timedelta(days=1)))
    assert metrics["calls"] == 0
    assert metrics["total_cost_usd"] == 0.0
    assert metrics["cost_per_completed_task_usd"] is None
    assert metrics["p95_session_cost_usd"] is None


def test_window_bounds_are_exact_to_the_microsecond(warehouse: Warehouse) -> None:
    warehouse.write_calls(calls_to_arrow([full_call(started_at=T0)]))
    us = timedelta(microseconds=1)
    assert compute_metrics(warehouse, Filters(project_id="proj", since=T0))["calls"] == 1
    assert compute_metrics(warehouse, Filters(project_id="proj", since=T0 + us))["calls"] == 0
    assert compute_metrics(warehouse, Filters(project_id="proj", until=T0 + us))["calls"] == 1
    assert compute_metrics(warehouse, Filters(project_id="proj", until=T0))["calls"] == 0


def test_filter_values_are_bound_not_spliced(warehouse: Warehouse) -> None:
    warehouse.write_calls(calls_to_arrow([full_call(agent_name=TRICKY), full_call("other", agent_name="x")]))
    assert compute_metrics(warehouse, Filters(project_id="proj", agent=TRICKY))["calls"] == 1
    assert compute_metrics(warehouse, Filters(project_id="proj", agent=TRICKY[:-1]))["calls"] == 0
    assert count_calls(warehouse) == 2


@pytest.mark.parametrize("group_by", ["day", "week", "agent", "model", "source"])
def test_grouped_metrics_have_one_entry_per_key(warehouse: Warehouse, group_by: str) -> None:
    calls = [
        full_call(f"s{i}", started_at=T0 + timedelta(days=i), agent_name=f"a{i % 2}", cost_usd=1.0)
        for i in range(4)
    ]
    warehouse.write_calls(calls_to_arrow(calls))
    groups = compute_metrics(warehouse, Filters(project_id="proj"), group_by)["groups"]
    assert sum(g["calls"] for g in groups) == 4
    assert sum(g["total_cost_usd"] for g in groups) == 4.0
    if group_by == "day":
        assert [g["key"] for g in groups] == ["2024-03-31", "2024-04-01", "2024-04-02", "2024-04-03"]
    if group_by == "week":  # ISO weeks start on Monday, UTC
        assert [g["key"] for g in groups] == ["2024-03-25", "2024-04-01"]


# ------------------------------------------------------------------------------------ protocol edges


def test_sql_binds_dollar_parameters_by_name(warehouse: Warehouse) -> None:
    warehouse.write_calls(calls_to_arrow([full_call(agent_name=TRICKY), full_call("s2")]))
    text = "SELECT count(*) AS n FROM calls WHERE agent_name = $agent AND started_at >= $since"
    assert warehouse.sql(text, {"agent": TRICKY, "since": T0, "unused": 1})["n"][0] == 1
    assert warehouse.sql(text, {"agent": None, "since": T0})["n"][0] == 0  # = NULL matches nothing
    with pytest.raises(WarehouseError, match="missing query parameters"):
        warehouse.sql("SELECT $x AS x")


def test_writes_without_required_columns_are_refused(warehouse: Warehouse) -> None:
    with pytest.raises(WarehouseError, match="lacks columns"):
        warehouse.write_calls(pa.table({"project_id": ["default"]}))
    with pytest.raises(WarehouseError, match="lacks columns"):
        warehouse.write_spans(pa.table({"project_id": ["default"]}))


def test_template_slots_accept_only_allow_listed_values(warehouse: Warehouse) -> None:
    params = Filters().params()
    assert warehouse.query("call_totals", params, group="agent").columns[0] == "group_key"
    with pytest.raises(ConfigError, match="not allowed"):
        warehouse.query("call_totals", params, group="agent_name; DROP TABLE calls")
    with pytest.raises(ConfigError, match="unknown template slots"):
        warehouse.query("call_totals", params, order="x")
    with pytest.raises(WarehouseError, match="no canonical query"):
        warehouse.query("does_not_exist")


def test_concurrent_writers_and_readers_from_threads(warehouse: Warehouse) -> None:
    errors: list[BaseException] = []

    def work(k: int) -> None:
        try:
            for j in range(4):
                warehouse.write_calls(calls_to_arrow([full_call(f"t{k}-{j}-{i}") for i in range(5)]))
                compute_metrics(warehouse, Filters(project_id="proj"))
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert count_calls(warehouse) == 4 * 4 * 5


def test_an_ingest_cut_short_and_retried_equals_a_clean_one(warehouse: Warehouse, tmp_path: Path) -> None:
    calls = [full_call(f"s{i}", parent_span_id="root", agent_name=None, cost_usd=0.5) for i in range(3)]
    spans = [
        SpanContext(source="otel", trace_id="trace-1", span_id="root", project_id="proj", agent_name="boss")
    ]
    # The first attempt dies after the spans were written (before the calls).
    with pytest.raises(RuntimeError), warehouse.transaction():
        warehouse.write_spans(spans_to_arrow(spans))
        raise RuntimeError("process killed")
    Pipeline(warehouse).ingest(calls, spans)
    rows = read_calls(warehouse)
    assert [r["agent_name"] for r in rows] == ["boss"] * 3
    assert compute_metrics(warehouse, Filters(project_id="proj"))["total_cost_usd"] == 1.5


# ------------------------------------------------------------------------------------ across backends
#
# The same data through every backend gives the same metrics JSON. Generated costs are multiples of 2**-20,
# so every sum is exact in any order and the JSON must be identical; only P95 is compared to the last bits,
# because DuckDB's wheel fuses the multiply-add of its interpolation (lo*(1-d) + hi*d) and ClickHouse's
# quantileExactInclusive does not: same method, last bit may differ.

GROUPINGS = (None, "day", "agent", "model")


def same_p95(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return abs(a - b) <= 2 * math.ulp(max(abs(a), abs(b)))


def assert_same_metrics(reference: object, other: object, *, exact: bool, path: str = "") -> None:
    """Equal JSON; floats exact and P95 to the last bits, or every float to 1e-9 relative when not ``exact``.

    Not exact: costs that are not exact binary fractions sum differently in a different order, and P95
    interpolates between those sums.
    """
    if isinstance(reference, dict):
        assert isinstance(other, dict) and reference.keys() == other.keys(), path
        for key in reference:
            assert_same_metrics(reference[key], other[key], exact=exact, path=f"{path}.{key}")
    elif isinstance(reference, list):
        assert isinstance(other, list) and len(reference) == len(other), path
        for i, (a, b) in enumerate(zip(reference, other, strict=True)):
            assert_same_metrics(a, b, exact=exact, path=f"{path}[{i}]")
    elif path.endswith("p95_session_cost_usd") and exact:
        assert same_p95(reference, other), (path, reference, other)  # type: ignore[arg-type]
    elif isinstance(reference, float) and not exact:
        assert isinstance(other, float) and math.isclose(reference, other, rel_tol=1e-9, abs_tol=1e-12), (
            path,
            reference,
            other,
        )
    else:
        assert reference == other, (path, reference, other)
        assert type(reference) is type(other), (path, reference, other)


def metrics_everywhere(warehouses: list[Warehouse], project_id: str) -> list[dict[str, object]]:
    return [
        {str(g): compute_metrics(wh, Filters(project_id=project_id), g) for g in GROUPINGS}
        for wh in warehouses
    ]


def query_schemas(wh: Warehouse) -> dict[str, pl.Schema]:
    return {q: wh.query(q, Filters().params(), group="day").schema for q in QUERIES}


QUERIES = ("call_totals", "model_mix", "session_costs", "task_outcomes")


def test_canonical_queries_return_the_same_column_types_everywhere(tmp_path: Path) -> None:
    with every_backend(tmp_path) as warehouses:
        for wh in warehouses:
            wh.write_calls(calls_to_arrow([full_call(), bare_call()]))
        reference, *others = [query_schemas(wh) for wh in warehouses]
        for schemas in others:
            assert schemas == reference


@st.composite
def workloads(draw: st.DrawFn) -> tuple[list[Call], list[SpanContext]]:
    """A few traces of LLM calls under a root span, with unknown costs, errors, sessions and users."""
    calls: list[Call] = []
    spans: list[SpanContext] = []
    for t in range(draw(st.integers(1, 6))):
        trace = f"trace-{t}"
        spans.append(
            SpanContext(
                source="otel",
                trace_id=trace,
                span_id="root",
                kind="agent",
                agent_name=draw(st.sampled_from([None, "planner", "coder"])),
                status=draw(st.sampled_from(["ok", "error", "unset"])),
                outcome=draw(st.sampled_from([None, None, "success", "failure"])),
                session_id=draw(st.sampled_from([None, "sess-a", "sess-b"])),
            )
        )
        for i in range(draw(st.integers(1, 6))):
            micros = draw(st.integers(0, 3 * 86_400 * 10**6))
            cost = draw(st.one_of(st.none(), st.integers(0, 10**7).map(lambda k: k / 2**20)))
            calls.append(
                Call(
                    source="otel",
                    trace_id=trace,
                    span_id=f"llm-{i}",
                    parent_span_id="root",
                    started_at=T0 + timedelta(microseconds=micros),
                    user_id=draw(st.sampled_from([None, "ann", "bob"])),
                    model=draw(st.sampled_from([None, "gpt-4o", "claude-sonnet"])),
                    provider=draw(st.sampled_from(["openai", "anthropic"])),
                    operation="chat",
                    input_tokens=draw(st.integers(0, 10**6)),
                    cache_read_tokens=draw(st.integers(0, 1000)),
                    output_tokens=draw(st.integers(0, 10**5)),
                    status=draw(st.sampled_from(["ok", "error", "unset"])),
                    response_cache_hit=draw(st.sampled_from([None, True, False])),
                    cost_usd=cost,
                    price_status="unpriced" if cost is None else "priced",
                )
            )
    return calls, spans


def test_metrics_are_the_same_json_on_every_backend_for_generated_calls(tmp_path: Path) -> None:
    projects = itertools.count()

    def check_on(warehouses: list[Warehouse]) -> None:
        @settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
        @given(workloads())
        def check(workload: tuple[list[Call], list[SpanContext]]) -> None:
            project = f"p{next(projects)}"  # one project per example: the warehouses are shared
            calls, spans = workload
            for wh in warehouses:
                for _ in range(2):  # twice: re-ingesting must change nothing
                    Pipeline(wh).ingest(
                        [dataclasses.replace(c, project_id=project) for c in calls],
                        [dataclasses.replace(s, project_id=project) for s in spans],
                    )
            reference, *others = metrics_everywhere(warehouses, project)
            for result in others:
                assert_same_metrics(reference, result, exact=True)

        check()

    with every_backend(tmp_path) as warehouses:
        check_on(warehouses)


def test_metrics_are_the_same_json_on_every_backend_for_the_demo_workload(tmp_path: Path) -> None:
    with every_backend(tmp_path) as warehouses:
        for wh in warehouses:
            load_demo(Pipeline(wh, Pricer()), project_id="demo", sessions=40, seed=3, end=T0)
        reference, *others = metrics_everywhere(warehouses, "demo")
        assert reference["None"]["calls"] > 100 and reference["None"]["total_cost_usd"] > 0  # type: ignore[index]
        for result in others:
            assert_same_metrics(reference, result, exact=False)


# Sample values of every parameter the canonical queries take; a new parameter needs one here.
SAMPLE_PARAMS: dict[str, object] = {
    **Filters(project_id="demo").params(),
    "limit": 50,
    "offset": 0,
    "tolerance": 0.05,
    "runaway_threshold": 25,
    "examples": 3,
    "per_call": False,
    "max_cost_usd": 0.5,
    "max_calls": 10,
    "max_steps": 5,
    "rule": None,
    "split": T0 - timedelta(days=3),  # two adjacent windows split there (weekly_report)
    "top": 3,
}
VOLATILE = re.compile(r"ingested_at$")  # the write time: each warehouse was written at its own moment


def canonical_queries() -> list[str]:
    return sorted(p.stem for p in (sql_root() / "queries").glob("*.sql"))


def sample_params(text: str, trace_id: str) -> dict[str, object]:
    used = set(re.findall(r"\$([A-Za-z_]\w*)", text))
    samples = {**SAMPLE_PARAMS, "trace_id": trace_id}
    missing = used - set(samples)
    assert not missing, f"add sample values for {sorted(missing)} to SAMPLE_PARAMS"
    return {name: samples[name] for name in used}


def comparable(frame: pl.DataFrame) -> pl.DataFrame:
    frame = frame.select([c for c in frame.columns if not VOLATILE.search(c)])
    return frame.sort(frame.columns, nulls_last=True) if frame.columns else frame


def test_every_canonical_query_gives_the_same_frame_everywhere(tmp_path: Path) -> None:
    with every_backend(tmp_path) as warehouses:
        for wh in warehouses:
            load_demo(Pipeline(wh, Pricer()), project_id="demo", sessions=20, seed=5, end=T0)
        trace_id = warehouses[0].sql("SELECT min(trace_id) AS t FROM calls")["t"][0]
        checked = 0
        for name in canonical_queries():
            text = warehouses[0].render(name, group="day")  # type: ignore[attr-defined]
            if text.lstrip("-/* \n").upper().startswith("INSERT") or "\nINSERT INTO" in text:
                continue  # writes: see test_a_canonical_insert_writes_one_row
            params = sample_params(text, trace_id)
            for group in ("none", "day"):
                reference, *others = [comparable(wh.query(name, params, group=group)) for wh in warehouses]
                for frame in others:
                    assert frame.schema == reference.schema, name
                    assert_frame_equal(frame, reference, rel_tol=1e-9, abs_tol=1e-12)
            checked += 1
        assert checked >= 10


def test_a_canonical_insert_writes_one_row(warehouse: Warehouse) -> None:
    at = T0 + timedelta(microseconds=7)
    params = {
        "run_id": TRICKY,
        "project_id": "proj",
        "started_at": at,
        "finished_at": at,
        "window_since": None,
        "window_until": None,
        "filters": "{}",
        "cost_policy": "computed",
        "calls_examined": 3,
        "calls_changed": 1,
        "cost_before_usd": None,
        "cost_after_usd": 1.25,
        "delta_usd": 0.5,
    }
    assert warehouse.query("record_reprice", params).to_dicts() == [{"Count": 1}]
    rows = warehouse.sql("SELECT * FROM reprices").to_dicts()
    assert rows == [params]


def test_every_canonical_query_is_right_before_any_merge(tmp_path: Path) -> None:
    # ClickHouse replaces superseded versions only when it merges parts: with merges stopped, every version of
    # every row stays stored, and the reads alone (FINAL) must still see one row per call, the newest.
    with every_backend(tmp_path) as warehouses:
        for wh in warehouses:
            if "versioned_upsert" in getattr(wh, "capabilities", frozenset()):
                for table in ("calls", "spans", "ledger_versions"):
                    wh.sql(f"SYSTEM STOP MERGES {table}")
            load_demo(Pipeline(wh, Pricer()), project_id="demo", sessions=12, seed=11, end=T0)
            calls = pl.from_arrow(
                wh.sql("SELECT * FROM calls ORDER BY span_id").to_arrow().select(CALL_SCHEMA.names)
            )
            assert isinstance(calls, pl.DataFrame)
            stored = calls.to_arrow().cast(CALL_SCHEMA)
            wh.write_calls(stored)  # the same calls twice more
            wh.write_calls(stored)
            wh.write_spans(
                wh.sql("SELECT * FROM spans").to_arrow().select(SPAN_SCHEMA.names).cast(SPAN_SCHEMA)
            )
            repriced = calls.gather_every(3).with_columns(
                pl.col("cost_usd") * 2, cost_source=pl.lit("reported")
            )
            wh.write_calls(repriced.to_arrow().cast(CALL_SCHEMA))  # a later version of a third of them
            context = calls.gather_every(5).select("project_id", "source", "trace_id", "span_id")
            context = context.with_columns(
                agent_name=pl.lit("late-parent"),
                task_type=pl.lit(None, pl.String),
                session_id=pl.lit("s-late"),
                user_id=pl.lit("u-late"),
            )
            assert wh.update_call_context(context.to_arrow()) > 0
        counts = [int(wh.sql("SELECT count(*) AS n FROM calls")["n"][0]) for wh in warehouses]
        assert len(set(counts)) == 1  # one row per call, whatever is stored underneath
        for wh in warehouses:
            if "versioned_upsert" in getattr(wh, "capabilities", frozenset()):
                stored = wh.sql("SELECT count(*) AS n FROM calls SETTINGS final = 0")["n"][0]
                assert stored > 3 * counts[0]  # every version is still there: nothing was merged away
        trace_id = warehouses[0].sql("SELECT min(trace_id) AS t FROM calls")["t"][0]
        for name in canonical_queries():
            text = warehouses[0].render(name, group="agent")  # type: ignore[attr-defined]
            if text.lstrip("-/* \n").upper().startswith("INSERT") or "\nINSERT INTO" in text:
                continue
            params = sample_params(text, trace_id)
            reference, *others = [comparable(wh.query(name, params, group="agent")) for wh in warehouses]
            for frame in others:
                assert_frame_equal(frame, reference, rel_tol=1e-9, abs_tol=1e-12)
