"""What only the ClickHouse backend has: its table engines, versioned upserts, de-duplicated reads, overrides.

Run on chDB (the ClickHouse engine in-process); the shared behaviour is in test_backend_contract.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from agentledger.analytics.metrics import Filters
from agentledger.core.records import Call, SpanContext, calls_to_arrow, spans_to_arrow
from agentledger.ingest.pipeline import Pipeline
from agentledger.warehouse import clickhouse, connect
from agentledger.warehouse.clickhouse import ClickHouseWarehouse, VersionClock

T0 = datetime(2024, 5, 17, 12, 0, 0, 123_456, tzinfo=UTC)


@pytest.fixture
def wh(tmp_path: Path) -> Iterator[ClickHouseWarehouse]:
    warehouse = connect(f"chdb:///{tmp_path / 'chdb'}")
    assert isinstance(warehouse, ClickHouseWarehouse)
    yield warehouse
    warehouse.close()


def call(span_id: str = "s1", **overrides: object) -> Call:
    values: dict[str, object] = dict(
        source="otel", trace_id="t1", span_id=span_id, started_at=T0, cost_usd=1.0
    )
    values.update(overrides)
    return Call(**values)  # type: ignore[arg-type]


def versions(wh: ClickHouseWarehouse, table: str = "calls") -> int:
    """Stored row versions, superseded ones included (reads without FINAL)."""
    return int(wh.sql(f"SELECT count() AS n FROM {table} SETTINGS final = 0")["n"][0])


# ------------------------------------------------------------------------------------ schema


def table_info(wh: ClickHouseWarehouse, name: str) -> dict[str, str]:
    return wh.sql(
        "SELECT engine_full, partition_key, sorting_key FROM system.tables "
        "WHERE database = currentDatabase() AND name = $name",
        {"name": name},
    ).row(0, named=True)


def column_info(wh: ClickHouseWarehouse, table: str) -> dict[str, tuple[str, str]]:
    frame = wh.sql(
        "SELECT name, type, compression_codec FROM system.columns WHERE database = currentDatabase() AND table = $t",
        {"t": table},
    )
    return {r["name"]: (r["type"], r["compression_codec"]) for r in frame.iter_rows(named=True)}


@pytest.mark.parametrize("table", ["calls", "spans"])
def test_record_tables_are_versioned_replacing_merge_trees_keyed_by_identity(
    wh: ClickHouseWarehouse, table: str
) -> None:
    info = table_info(wh, table)
    assert info["engine_full"].startswith("ReplacingMergeTree(ingested_at)")
    assert info["sorting_key"] == "project_id, source, trace_id, span_id"
    assert "toYYYYMM" in info["partition_key"] and "started_at" in info["partition_key"]


def test_cursors_and_migrations_keep_one_row_per_key(wh: ClickHouseWarehouse) -> None:
    assert table_info(wh, "cursors")["sorting_key"] == "source_key"
    assert table_info(wh, "schema_migrations")["sorting_key"] == "version"
    assert table_info(wh, "cursors")["engine_full"].startswith("ReplacingMergeTree")


def test_column_types_and_codecs(wh: ClickHouseWarehouse) -> None:
    cols = column_info(wh, "calls")
    for name in ("model", "provider", "agent_name", "task_type"):
        assert cols[name][0] == "LowCardinality(Nullable(String))", name
    for name in ("project_id", "source", "status", "price_status", "cost_source"):
        assert cols[name][0] == "LowCardinality(String)", name
    assert cols["tags"][0] == "Map(LowCardinality(String), String)"
    assert cols["cost_usd"][0] == "Nullable(Float64)"
    assert cols["started_at"] == ("DateTime64(6, 'UTC')", "CODEC(Delta(8), ZSTD(1))")
    for name in (
        "input_tokens",
        "output_tokens",
        "cache_read_tokens",
        "cache_write_tokens",
        "reasoning_tokens",
    ):
        assert cols[name] == ("Int64", "CODEC(T64, ZSTD(1))"), name


# ------------------------------------------------------------------------------------ versions


def test_versions_strictly_increase() -> None:
    clock = VersionClock()
    stamps = [clock.next() for _ in range(2000)]
    assert all(a < b for a, b in zip(stamps, stamps[1:], strict=False))
    assert stamps[0].tzinfo is UTC


def test_a_rewrite_is_a_new_version_and_reads_see_only_the_newest(wh: ClickHouseWarehouse) -> None:
    wh.write_calls(calls_to_arrow([call(cost_usd=1.0)]))
    wh.write_calls(calls_to_arrow([call(cost_usd=2.0)]))
    assert versions(wh) == 2  # both are stored until a merge
    assert wh.sql("SELECT cost_usd FROM calls")["cost_usd"].to_list() == [2.0]
    wh._client.command("OPTIMIZE TABLE calls FINAL")  # a background merge, forced
    assert versions(wh) == 1
    assert wh.sql("SELECT cost_usd FROM calls")["cost_usd"].to_list() == [2.0]


def test_views_read_only_the_newest_version(wh: ClickHouseWarehouse) -> None:
    wh.write_calls(calls_to_arrow([call(cost_usd=1.0, response_id="r1")]))
    wh.write_calls(calls_to_arrow([call(cost_usd=2.0, response_id="r1")]))
    assert versions(wh) == 2
    assert wh.sql("SELECT cost_usd FROM ledger_calls")["cost_usd"].to_list() == [2.0]


def test_duplicates_within_one_batch_keep_the_last(wh: ClickHouseWarehouse) -> None:
    assert wh.write_calls(calls_to_arrow([call(cost_usd=1.0), call(cost_usd=3.0)])) == 1
    assert wh.sql("SELECT cost_usd FROM calls")["cost_usd"].to_list() == [3.0]


def test_context_updates_reinsert_rows_and_never_mutate(wh: ClickHouseWarehouse) -> None:
    Pipeline(wh).ingest([call(parent_span_id="agent", operation="chat")], [])
    before = versions(wh)
    parent = SpanContext(source="otel", trace_id="t1", span_id="agent", kind="agent", agent_name="researcher")
    Pipeline(wh).ingest([], [parent])
    assert versions(wh) == before + 1  # the call was re-inserted whole with a newer version
    row = wh.sql("SELECT agent_name, cost_usd, ingested_at FROM calls").row(0, named=True)
    assert (row["agent_name"], row["cost_usd"]) == ("researcher", 1.0)
    mutations = wh.sql("SELECT count() AS n FROM system.mutations WHERE database = currentDatabase()")
    assert mutations["n"][0] == 0


def test_ingested_at_is_the_write_time(wh: ClickHouseWarehouse) -> None:
    before = datetime.now(UTC)
    wh.write_calls(calls_to_arrow([call(ingested_at=T0)]))
    stamped = wh.sql("SELECT ingested_at FROM calls")["ingested_at"][0]
    assert before <= stamped <= datetime.now(UTC) + timedelta(seconds=1)


def test_trace_reads_work_in_chunks(wh: ClickHouseWarehouse, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(clickhouse, "_IN_CHUNK", 7)
    spans = [SpanContext(source="otel", trace_id=f"t{i}", span_id="root") for i in range(50)]
    wh.write_spans(spans_to_arrow(spans))
    wh.write_calls(calls_to_arrow([call("llm", trace_id=f"t{i}", operation="chat") for i in range(50)]))
    assert wh.trace_spans([("default", "otel", f"t{i}") for i in range(60)]).num_rows == 50
    update = calls_to_arrow([call("llm", trace_id=f"t{i}", agent_name="a") for i in range(0, 50, 2)])
    assert wh.update_call_context(update) == 25
    assert wh.sql("SELECT count() AS n FROM calls WHERE agent_name = 'a'")["n"][0] == 25


# ------------------------------------------------------------------------------------ queries


def test_an_override_file_replaces_the_canonical_query(
    wh: ClickHouseWarehouse, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "sql"
    (root / "queries" / "clickhouse").mkdir(parents=True)
    (root / "queries" / "probe.sql").write_text("SELECT 'canonical' AS origin, {group} AS g")
    monkeypatch.setattr(clickhouse, "sql_root", lambda: root)
    clickhouse._read.cache_clear()
    assert wh.query("probe", {}, group="none")["origin"].to_list() == ["canonical"]
    (root / "queries" / "clickhouse" / "probe.sql").write_text(
        "SELECT 'override' AS origin, {group} AS g, {x:String} AS x"
    )
    frame = wh.query("probe", {"x": "bound"}, group="none")
    assert frame.row(0, named=True) == {"origin": "override", "g": None, "x": "bound"}
    assert "Nullable(String)" in wh.render("probe", group="none")  # slots are transpiled into overrides


def test_results_have_duckdb_column_types(wh: ClickHouseWarehouse) -> None:
    wh.write_calls(calls_to_arrow([call(model="gpt-4o")]))
    frame = wh.query("model_mix", Filters().params(), group="none")
    assert str(frame.schema["model"]) == "String"  # LowCardinality arrives dictionary-encoded
    assert str(frame.schema["calls"]) == "Int64"  # count() is UInt64 in ClickHouse
    assert str(frame.schema["input_tokens"]) == "Decimal(precision=38, scale=0)"  # DuckDB's SUM(BIGINT)


def test_transpiled_queries_are_cached(wh: ClickHouseWarehouse) -> None:
    from agentledger.warehouse.dialect import transpile

    transpile.cache_clear()
    for _ in range(3):
        wh.query("call_totals", Filters().params(), group="none")
    info = transpile.cache_info()
    assert (info.misses, info.hits) == (1, 2)
