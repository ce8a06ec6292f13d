"""The DuckDB backend: URLs, migrations, idempotent Arrow upserts, transactions, queries, cursors."""

from __future__ import annotations

import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest

from agentledger.core.errors import ConfigError, WarehouseError
from agentledger.core.records import (
    CALL_SCHEMA,
    SPAN_SCHEMA,
    Call,
    SpanContext,
    calls_to_arrow,
    spans_to_arrow,
)
from agentledger.warehouse import BackendSpec, backend_for, connect, register_backend
from agentledger.warehouse.base import Cursor, Warehouse
from agentledger.warehouse.duckdb import DuckDBWarehouse, database_path
from agentledger.warehouse.migrations import load_migrations, split_statements

T0 = datetime(2025, 1, 1, 12, tzinfo=UTC)


@pytest.fixture
def wh():
    warehouse = connect("duckdb:///:memory:")
    yield warehouse
    warehouse.close()


def make_calls(n: int, trace: str = "t1", cost: float | None = 0.5) -> list[Call]:
    return [
        Call(
            source="otlp",
            trace_id=trace,
            span_id=f"{trace}-s{i}",
            started_at=T0 + timedelta(seconds=i),
            model="gpt-4o",
            input_tokens=100 + i,
            output_tokens=10,
            cost_usd=cost,
            tags={"team": "search", "i": str(i)},
        )
        for i in range(n)
    ]


def totals(wh: Warehouse) -> tuple[int, float, int]:
    row = wh.sql("SELECT COUNT(*) AS n, SUM(cost_usd) AS cost, SUM(input_tokens) AS tok FROM calls").row(0)
    return int(row[0]), float(row[1] or 0), int(row[2] or 0)


# -- URLs and the registry --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("duckdb:///:memory:", ":memory:"),
        ("duckdb://", ":memory:"),
        ("duckdb:///.agentledger/ledger.duckdb", ".agentledger/ledger.duckdb"),
        ("duckdb:////var/data/ledger.duckdb", "/var/data/ledger.duckdb"),
    ],
)
def test_database_path_follows_the_sqlalchemy_convention(url, path):
    assert database_path(url) == path


def test_connect_creates_parent_dirs_and_migrates(tmp_path: Path):
    target = tmp_path / "deep" / "er" / "ledger.duckdb"
    warehouse = connect(f"duckdb:///{target}")
    try:
        assert target.is_file()
        assert isinstance(warehouse, Warehouse)
        tables = set(warehouse.sql("SELECT table_name FROM information_schema.tables")["table_name"])
        assert {"calls", "spans", "cursors", "schema_migrations"} <= tables
    finally:
        warehouse.close()


def test_tables_have_exactly_the_record_columns(wh):
    for table, schema in (("calls", CALL_SCHEMA), ("spans", SPAN_SCHEMA)):
        cols = wh.sql(
            "SELECT column_name FROM information_schema.columns WHERE table_name = $t ORDER BY ordinal_position",
            {"t": table},
        )["column_name"].to_list()
        assert cols == schema.names


def test_migrations_apply_once(tmp_path: Path):
    url = f"duckdb:///{tmp_path / 'm.duckdb'}"
    connect(url).close()
    warehouse = connect(url)  # second open: nothing pending
    try:
        versions = warehouse.sql("SELECT version FROM schema_migrations")["version"].to_list()
        assert versions == [m.version for m in load_migrations("duckdb")]
    finally:
        warehouse.close()


def test_split_statements_drops_comments_and_keeps_order():
    text = "-- a comment; not a statement\nCREATE TABLE a (x INT);\n\nCREATE INDEX i ON a (x);\n"
    assert split_statements(text) == ["CREATE TABLE a (x INT)", "CREATE INDEX i ON a (x)"]


def test_unknown_scheme_and_missing_scheme_name_the_problem():
    with pytest.raises(ConfigError, match="unknown warehouse scheme 'postgres'"):
        backend_for("postgres://x")
    with pytest.raises(ConfigError, match="no scheme"):
        connect("ledger.duckdb")


def test_a_missing_optional_driver_names_the_extra(tmp_path: Path, monkeypatch):
    module = tmp_path / "fake_backend_mod.py"
    module.write_text("import not_installed_driver_xyz\nclass Backend: ...\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    register_backend(
        "fakedb", BackendSpec("fake_backend_mod", "Backend", "fakedb", ("not_installed_driver_xyz",))
    )
    try:
        with pytest.raises(ConfigError, match=r"pip install 'agentledger\[fakedb\]'"):
            backend_for("fakedb:///x")
    finally:
        sys.modules.pop("fake_backend_mod", None)


# -- writes -----------------------------------------------------------------------------------------


def test_writing_the_same_batch_twice_changes_nothing(wh):
    table = calls_to_arrow(make_calls(20))
    assert wh.write_calls(table) == 20
    first = totals(wh)
    wh.write_calls(table)
    assert totals(wh) == first == (20, 10.0, sum(100 + i for i in range(20)))


def test_a_rewrite_replaces_the_row_on_its_key(wh):
    calls = make_calls(3)
    wh.write_calls(calls_to_arrow(calls))
    calls[1].cost_usd = 4.0
    wh.write_calls(calls_to_arrow(calls[1:2]))
    assert totals(wh)[:2] == (3, 0.5 + 4.0 + 0.5)


def test_tags_and_null_costs_round_trip(wh):
    wh.write_calls(calls_to_arrow(make_calls(2, cost=None)))
    frame = wh.sql("SELECT tags, cost_usd FROM calls ORDER BY span_id")
    assert frame["cost_usd"].to_list() == [None, None]
    assert frame["tags"].to_list()[1] == {"team": "search", "i": "1"}


def test_writes_without_required_columns_are_refused(wh):
    with pytest.raises(WarehouseError, match="lacks columns"):
        wh.write_calls(pa.table({"project_id": ["default"]}))


def test_a_transaction_is_all_or_nothing(wh):
    spans = [SpanContext(source="otlp", trace_id="t1", span_id="root")]
    with pytest.raises(RuntimeError), wh.transaction():
        wh.write_spans(spans_to_arrow(spans))
        wh.write_calls(calls_to_arrow(make_calls(2)))
        raise RuntimeError("crash between writes")
    assert wh.sql("SELECT COUNT(*) AS n FROM spans")["n"][0] == 0
    assert totals(wh)[0] == 0


def test_a_failing_statement_rolls_back_the_earlier_writes_of_the_block(wh):
    with pytest.raises(WarehouseError), wh.transaction():
        wh.write_spans(spans_to_arrow([SpanContext(source="otlp", trace_id="t1", span_id="root")]))
        wh.write_calls(pa.table({"project_id": ["default"]}))
    assert wh.sql("SELECT COUNT(*) AS n FROM spans")["n"][0] == 0


def test_trace_spans_returns_exactly_the_traces_asked_for(wh):
    spans = [
        SpanContext(source="otlp", trace_id="t1", span_id="a"),
        SpanContext(source="otlp", trace_id="t1", span_id="b", parent_span_id="a"),
        SpanContext(source="langfuse", trace_id="t1", span_id="c"),  # same trace id, other source
        SpanContext(source="otlp", trace_id="t2", span_id="d"),
    ]
    wh.write_spans(spans_to_arrow(spans))
    got = wh.trace_spans([("default", "otlp", "t1")])
    assert sorted(got["span_id"].to_pylist()) == ["a", "b"]
    assert got.schema == SPAN_SCHEMA
    assert wh.trace_spans([]).num_rows == 0


def test_update_call_context_changes_only_what_differs(wh):
    calls = make_calls(2)
    for c in calls:
        c.operation = "chat"
    wh.write_calls(calls_to_arrow(calls))
    update = pa.table(
        {
            "project_id": ["default", "default"],
            "source": ["otlp", "otlp"],
            "trace_id": ["t1", "t1"],
            "span_id": ["t1-s0", "t1-s1"],
            "agent_name": ["planner", None],
            "task_type": [None, "triage"],
            "session_id": ["s", None],
            "user_id": [None, None],
        }
    )
    assert wh.update_call_context(update) == 2
    frame = wh.sql("SELECT agent_name, task_type, session_id FROM calls ORDER BY span_id")
    assert frame.rows() == [("planner", "chat", "s"), (None, "triage", None)]
    assert wh.update_call_context(update) == 0


def test_concurrent_writers_from_threads_are_serialized(wh):
    errors: list[BaseException] = []

    def writer(k: int) -> None:
        try:
            for j in range(5):
                wh.write_calls(calls_to_arrow(make_calls(10, trace=f"t{k}-{j}")))
                wh.sql("SELECT COUNT(*) FROM calls")
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert totals(wh)[0] == 4 * 5 * 10


# -- queries and cursors ----------------------------------------------------------------------------


def test_template_slots_accept_only_allow_listed_values(wh):
    assert "c.agent_name" in wh.render("call_totals", group="agent")
    with pytest.raises(ConfigError, match="not allowed"):
        wh.render("call_totals", group="agent_name; DROP TABLE calls")
    with pytest.raises(ConfigError, match="unknown template slots"):
        wh.render("call_totals", order="x")
    with pytest.raises(WarehouseError, match="no canonical query"):
        wh.query("does_not_exist")


def test_sql_binds_parameters_by_name(wh):
    wh.write_calls(calls_to_arrow(make_calls(3)))
    frame = wh.sql("SELECT COUNT(*) AS n FROM calls WHERE span_id = $sid", {"sid": "t1-s2", "unused": 1})
    assert frame["n"][0] == 1
    with pytest.raises(WarehouseError, match="missing query parameters"):
        wh.sql("SELECT $x AS x")


def test_cursors_round_trip(wh):
    assert wh.get_cursor("langfuse:https://cloud") is None
    cursor = Cursor(
        "langfuse:https://cloud", "2025-01-01T00:00:00Z", updated_at=T0, last_run_at=T0, records=7
    )
    wh.set_cursor(cursor)
    assert wh.get_cursor("langfuse:https://cloud") == cursor
    later = Cursor("langfuse:https://cloud", "page-2", updated_at=T0, last_error="HTTP 500", records=9)
    wh.set_cursor(later)
    assert wh.get_cursor("langfuse:https://cloud") == later


def test_data_survives_reopening_the_file(tmp_path: Path):
    url = f"duckdb:///{tmp_path / 'ledger.duckdb'}"
    first = DuckDBWarehouse(url)
    first.migrate()
    first.write_calls(calls_to_arrow(make_calls(5)))
    first.close()
    second = connect(url)
    try:
        assert totals(second)[0] == 5
    finally:
        second.close()
