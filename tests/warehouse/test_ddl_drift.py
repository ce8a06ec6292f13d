"""The DuckDB and ClickHouse schemas define the same tables, columns, order and compatible types.

Both schemas are read back from the engines after migrating (not parsed from the files), so what is
compared is what the engines actually created.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from agentledger.warehouse import connect
from agentledger.warehouse.base import Warehouse
from agentledger.warehouse.migrations import load_migrations

# DuckDB type -> the ClickHouse base types (LowCardinality/Nullable removed) that hold the same values.
COMPATIBLE = {
    "VARCHAR": {"String"},
    "BIGINT": {"Int64"},
    "INTEGER": {"Int32", "Int64"},
    "DOUBLE": {"Float64"},
    "BOOLEAN": {"Bool"},
    "TIMESTAMP WITH TIME ZONE": {"DateTime64(6, 'UTC')"},
    "MAP(VARCHAR, VARCHAR)": {"Map(String, String)"},
    "VARCHAR[]": {"Array(String)"},
}
# A view's column types are inferred by each engine: ClickHouse's count() is UInt64 (read back as Int64).
VIEW_COMPATIBLE = {**COMPATIBLE, "BIGINT": {"Int64", "UInt64"}}

# Deliberate differences, each with its reason.
CLICKHOUSE_ONLY_COLUMNS = {("spans", "ingested_at"): "the row version of the ReplacingMergeTree"}
NOT_NULL_IN_CLICKHOUSE_ONLY = {
    ("calls", "tags"): "a Map cannot be Nullable in ClickHouse; records always carry a (possibly empty) map",
    ("calls", "ingested_at"): "the row version, stamped on every write",
}


@pytest.fixture
def engines(tmp_path: Path) -> Iterator[tuple[Warehouse, Warehouse]]:
    duck = connect(f"duckdb:///{tmp_path / 'ledger.duckdb'}")
    ch = connect(f"chdb:///{tmp_path / 'chdb'}")
    yield duck, ch
    duck.close()
    ch.close()


def duckdb_relations(wh: Warehouse, kind: str) -> set[str]:
    frame = wh.sql(
        "SELECT table_name FROM information_schema.tables WHERE table_type = $kind", {"kind": kind}
    )
    return set(frame["table_name"].to_list())


def clickhouse_relations(wh: Warehouse, views: bool) -> set[str]:
    frame = wh.sql("SELECT name, engine FROM system.tables WHERE database = currentDatabase()")
    return {name for name, engine in frame.rows() if (engine == "View") == views}


def duckdb_columns(wh: Warehouse, table: str) -> list[tuple[str, str, bool]]:
    frame = wh.sql(
        "SELECT column_name, data_type, is_nullable FROM information_schema.columns "
        "WHERE table_name = $t ORDER BY ordinal_position",
        {"t": table},
    )
    return [(name, kind, nullable == "YES") for name, kind, nullable in frame.rows()]


def clickhouse_columns(wh: Warehouse, table: str) -> list[tuple[str, str, bool]]:
    frame = wh.sql(
        "SELECT name, type FROM system.columns WHERE database = currentDatabase() AND table = $t ORDER BY position",
        {"t": table},
    )
    return [(name, *base_type(kind)) for name, kind in frame.rows()]


def base_type(kind: str) -> tuple[str, bool]:
    """ClickHouse type without LowCardinality/Nullable wrappers, and whether it was Nullable."""
    nullable = False
    while match := re.fullmatch(r"(LowCardinality|Nullable)\((.*)\)", kind):
        nullable |= match.group(1) == "Nullable"
        kind = match.group(2)
    return re.sub(r"LowCardinality\((\w+)\)", r"\1", kind), nullable


def test_same_tables_and_views(engines: tuple[Warehouse, Warehouse]) -> None:
    duck, ch = engines
    assert {"calls", "spans", "cursors", "schema_migrations"} <= duckdb_relations(duck, "BASE TABLE")
    assert clickhouse_relations(ch, views=False) == duckdb_relations(duck, "BASE TABLE")
    assert clickhouse_relations(ch, views=True) == duckdb_relations(duck, "VIEW")


def test_same_columns_in_the_same_order(engines: tuple[Warehouse, Warehouse]) -> None:
    duck, ch = engines
    for table in duckdb_relations(duck, "BASE TABLE") | duckdb_relations(duck, "VIEW"):
        duck_names = [c[0] for c in duckdb_columns(duck, table)]
        ch_names = [
            c[0] for c in clickhouse_columns(ch, table) if (table, c[0]) not in CLICKHOUSE_ONLY_COLUMNS
        ]
        assert ch_names == duck_names, table


def test_compatible_types_and_nullability(engines: tuple[Warehouse, Warehouse]) -> None:
    duck, ch = engines
    for table in duckdb_relations(duck, "BASE TABLE"):
        ch_cols = {name: (kind, nullable) for name, kind, nullable in clickhouse_columns(ch, table)}
        for name, duck_type, duck_nullable in duckdb_columns(duck, table):
            ch_type, ch_nullable = ch_cols[name]
            assert ch_type in COMPATIBLE[duck_type], (
                f"{table}.{name}: DuckDB {duck_type} vs ClickHouse {ch_type}"
            )
            if (table, name) in NOT_NULL_IN_CLICKHOUSE_ONLY:
                assert not ch_nullable, f"{table}.{name}"
            else:
                assert ch_nullable == duck_nullable, (
                    f"{table}.{name}: nullable {duck_nullable} vs {ch_nullable}"
                )


def test_views_have_compatible_types(engines: tuple[Warehouse, Warehouse]) -> None:
    duck, ch = engines
    for view in duckdb_relations(duck, "VIEW"):
        ch_types = {name: kind for name, kind, _ in clickhouse_columns(ch, view)}
        for name, duck_type, _ in duckdb_columns(duck, view):
            assert ch_types[name] in VIEW_COMPATIBLE[duck_type], (
                f"{view}.{name}: {duck_type} vs {ch_types[name]}"
            )


def test_every_duckdb_migration_has_a_clickhouse_twin() -> None:
    duck = [(m.version, m.name) for m in load_migrations("duckdb")]
    ch = [(m.version, m.name) for m in load_migrations("clickhouse")]
    assert ch == duck


def test_the_exceptions_name_real_columns(engines: tuple[Warehouse, Warehouse]) -> None:
    duck, ch = engines
    for table, name in CLICKHOUSE_ONLY_COLUMNS:
        assert name in [c[0] for c in clickhouse_columns(ch, table)]
        assert name not in [c[0] for c in duckdb_columns(duck, table)]
    for table, name in NOT_NULL_IN_CLICKHOUSE_ONLY:
        assert name in [c[0] for c in duckdb_columns(duck, table)]
