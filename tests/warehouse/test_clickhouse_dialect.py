"""The canonical -> ClickHouse translation and the parameter binding (pure: no engine needed)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import polars as pl
import pyarrow as pa
import pytest
import sqlglot
from sqlglot import exp

from agentledger.core.errors import WarehouseError
from agentledger.warehouse.chtypes import BOOLEAN, HUGEINT, duckdb_kinds, to_polars
from agentledger.warehouse.dialect import (
    FUNCTION_MAP,
    bind_dollar_params,
    clickhouse_values_as_select,
    format_param,
    is_command,
    normalize_param,
    param_signature,
    param_type,
    to_clickhouse,
    transpile,
    transpile_expression,
)


def ch(sql: str, **params: object) -> str:
    """The transpiled text, whitespace collapsed, for exact assertions."""
    return " ".join(transpile(sql, param_signature(params)).sql.split())


@pytest.mark.parametrize(
    ("canonical", "clickhouse"),
    [
        ("SELECT quantile_cont(x, 0.95) AS p FROM t", "SELECT quantileExactInclusive(0.95)(x) AS p FROM t"),
        ("SELECT median(x) AS m FROM t", "SELECT quantileExactInclusive(0.5)(x) AS m FROM t"),
        ("SELECT SUM(x) AS s FROM t", "SELECT sumOrNull(x) AS s FROM t"),
        (
            "SELECT AVG(x) AS a, MIN(x) AS lo, MAX(x) AS hi FROM t",
            "SELECT avgOrNull(x) AS a, minOrNull(x) AS lo, maxOrNull(x) AS hi FROM t",
        ),
        (
            "SELECT bool_or(b) AS o, bool_and(b) AS a FROM t",
            "SELECT maxOrNull(b) AS o, minOrNull(b) AS a FROM t",
        ),
        ("SELECT COUNT(*) AS n FROM t", "SELECT COUNT(*) AS n FROM t"),
    ],
)
def test_function_mappings(canonical: str, clickhouse: str) -> None:
    assert ch(canonical) == clickhouse


def test_every_mapping_is_exercised_by_a_canonical_function() -> None:
    # The table is data: each key must be what sqlglot parses some DuckDB function into.
    parsed = {
        type(sqlglot.parse_one(f"SELECT {f}", read="duckdb").expressions[0])
        for f in (
            "quantile_cont(x, 0.5)",
            "median(x)",
            "sum(x)",
            "avg(x)",
            "min(x)",
            "max(x)",
            "bool_or(x)",
            "bool_and(x)",
        )
    }
    assert set(FUNCTION_MAP) == parsed


def test_filtered_and_windowed_aggregates_keep_their_clauses() -> None:
    assert (
        ch("SELECT SUM(x) FILTER (WHERE y) AS s FROM t") == "SELECT sumOrNull(x) FILTER(WHERE y) AS s FROM t"
    )
    assert "sumOrNull(x) OVER (PARTITION BY g)" in ch("SELECT SUM(x) OVER (PARTITION BY g) AS s FROM t")


def test_qualified_columns_get_their_plain_name() -> None:
    assert ch("SELECT t.a, t.b AS bee, t.* FROM t") == "SELECT t.a AS a, t.b AS bee, t.* FROM t"


def test_named_parameters_become_typed_server_parameters() -> None:
    text = ch(
        "SELECT * FROM t WHERE a = $a AND n > $n AND f < $f AND d >= $d AND flag = $flag AND x IN $xs",
        a="s",
        n=1,
        f=0.5,
        d=datetime(2024, 1, 1, tzinfo=UTC),
        flag=True,
        xs=["p", "q"],
    )
    assert "a = {a: String}" in text
    assert "n > {n: Int64}" in text
    assert "f < {f: Float64}" in text
    assert "d >= {d: DateTime64(6, 'UTC')}" in text
    assert "flag = {flag: Bool}" in text
    assert "IN {xs: Array(String)}" in text


def test_a_none_parameter_becomes_null_and_is_not_sent() -> None:
    transpiled, sent = to_clickhouse(
        "SELECT 1 AS one FROM t WHERE ($a IS NULL OR a = $a) AND b = $b", {"a": None, "b": "x"}
    )
    assert "NULL IS NULL OR a = NULL" in " ".join(transpiled.sql.split())
    assert sent == {"b": "x"}


def test_parameter_problems_are_named() -> None:
    with pytest.raises(WarehouseError, match=r"\$b has no value"):
        ch("SELECT $a, $b", a=1)
    with pytest.raises(WarehouseError, match="positional"):
        ch("SELECT ? AS x")
    with pytest.raises(WarehouseError, match="cannot bind a parameter of type"):
        param_type(object())
    with pytest.raises(WarehouseError, match="cannot parse"):
        transpile("SELECT FROM WHERE (")


@pytest.mark.parametrize(
    ("sql", "kinds"),
    [
        (
            "SELECT g, SUM(x) AS s, COUNT(*) AS n, CAST(SUM(y) AS BIGINT) AS c FROM t GROUP BY g",
            {"s": HUGEINT},
        ),
        (
            "WITH a AS (SELECT g, SUM(x) AS s FROM t GROUP BY g) SELECT g, s, COALESCE(s, 0) AS z, s / 2 AS h FROM a",
            {"s": HUGEINT, "z": HUGEINT},
        ),
        (
            "WITH a AS (SELECT SUM(x) AS s FROM t) SELECT b.s + 1 AS p FROM (SELECT * FROM a) AS b",
            {"p": HUGEINT},
        ),
        (
            "SELECT x > 1 AS big, x IS NULL AS missing, NOT f AS nf, x AS plain FROM t",
            {"big": BOOLEAN, "missing": BOOLEAN, "nf": BOOLEAN},
        ),
        ("SELECT SUM(x) OVER (PARTITION BY g) AS running FROM t", {"running": HUGEINT}),
        ("SELECT SUM(x) AS s FROM t UNION ALL SELECT 1 AS s FROM u", {"s": HUGEINT}),
        ("INSERT INTO t (a) VALUES (1)", {}),
    ],
)
def test_columns_duckdb_types_differently_are_found(sql: str, kinds: dict[str, str]) -> None:
    assert duckdb_kinds(sqlglot.parse_one(sql, read="duckdb")) == kinds


def test_results_get_duckdb_column_types() -> None:
    table = pa.table(
        {
            "n": pa.array([1], pa.uint64()),
            "s": pa.array([2], pa.int64()),
            "f": pa.array([1], pa.uint8()),
            "m": pa.array(["x"]).dictionary_encode(),
            "r": pa.array([0.5], pa.float32()),
            "ts": pa.array([0], pa.timestamp("us", tz="Etc/UTC")),
        }
    )
    frame = to_polars(table, {"s": HUGEINT, "f": BOOLEAN})
    assert dict(frame.schema) == {
        "n": pl.Int64,
        "s": pl.Decimal(38, 0),
        "f": pl.Boolean,
        "m": pl.String,
        "r": pl.Float64,
        "ts": pl.Datetime("us", "UTC"),
    }


def test_adhoc_inserts_with_parameters_become_insert_select() -> None:
    text = "INSERT INTO t (a, b) VALUES ({a: String}, NULL)"
    assert clickhouse_values_as_select(text) == "INSERT INTO t (a, b) SELECT {a: String}, NULL"
    assert clickhouse_values_as_select("SELECT 1") == "SELECT 1"
    assert clickhouse_values_as_select("INSERT INTO t VALUES (((") == "INSERT INTO t VALUES ((("


def test_inserts_run_as_commands_and_count_their_rows() -> None:
    transpiled = transpile("INSERT INTO t (a, b) VALUES ($a, 1), ($a, 2)", param_signature({"a": "x"}))
    assert not transpiled.returns_rows
    assert transpiled.inserted_rows == 2
    assert " ".join(transpiled.sql.split()) == (
        "INSERT INTO t ( a, b ) SELECT {a: String}, 1 UNION ALL SELECT {a: String}, 2"
    )
    assert is_command("-- note\n/* x */ insert into t values (1)")
    assert not is_command("WITH x AS (SELECT 1) SELECT * FROM x")


def test_transpiling_is_cached_per_parameter_types() -> None:
    sql = "SELECT * FROM t WHERE a = $a"
    assert transpile(sql, param_signature({"a": "x"})) is transpile(sql, param_signature({"a": "y"}))
    assert transpile(sql, param_signature({"a": 1})).sql != transpile(sql, param_signature({"a": "x"})).sql


def test_slot_expressions_are_transpiled() -> None:
    assert transpile_expression("CAST(CAST(date_trunc('week', c.started_at) AS DATE) AS VARCHAR)") == (
        "CAST(CAST(dateTrunc('WEEK', c.started_at) AS Nullable(DATE)) AS Nullable(String))"
    )


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        (True, "Bool"),
        (3, "Int64"),
        (2.5, "Float64"),
        ("x", "String"),
        (date(2024, 1, 2), "Date"),
        (datetime(2024, 1, 1, tzinfo=UTC), "DateTime64(6, 'UTC')"),
        ([1, 2], "Array(Int64)"),
        ([], "Array(String)"),
        ([None, "a"], "Array(String)"),
        (("a", 1), "Tuple(String, Int64)"),
        ([("a", "b")], "Array(Tuple(String, String))"),
    ],
)
def test_parameter_types(value: object, kind: str) -> None:
    assert param_type(value) == kind


def test_datetimes_are_normalized_to_utc_with_microseconds() -> None:
    paris = timezone(timedelta(hours=2))
    assert normalize_param(datetime(2024, 6, 1, 2, 0, 0, 5, tzinfo=paris)) == "2024-06-01 00:00:00.000005"
    assert normalize_param([datetime(2024, 1, 1, tzinfo=UTC)]) == ["2024-01-01 00:00:00.000000"]
    assert normalize_param(("a", date(2024, 1, 2))) == ("a", "2024-01-02")


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("plain", "plain"),
        ("o'brien \\ tab\t nl\n cr\r nul\0", "o\\'brien \\\\ tab\\t nl\\n cr\\r nul\\0"),
        (None, "\\N"),
        (True, "true"),
        (0.1, "0.1"),
        (["a'b", None], "['a\\'b', NULL]"),
        ([("p", "s")], "[('p', 's')]"),
    ],
)
def test_parameter_text_format(value: object, text: str) -> None:
    assert format_param(value) == text


def test_dollar_parameters_in_clickhouse_text() -> None:
    text, sent = bind_dollar_params(
        "SELECT '$not', `$no`, $a, $b, {z:String} -- $c\n /* $d */", {"a": 1, "b": None, "z": "q", "extra": 2}
    )
    assert text == "SELECT '$not', `$no`, {a:Int64}, NULL, {z:String} -- $c\n /* $d */"
    assert sent == {"a": 1, "z": "q", "extra": 2}
    with pytest.raises(WarehouseError, match="missing query parameters"):
        bind_dollar_params("SELECT $x", {})


def test_transpiled_queries_are_valid_clickhouse() -> None:
    # sqlglot reads back what it generated: a syntax slip in a mapping shows up here, not in production.
    text = transpile(
        "SELECT quantile_cont(x, 0.95) AS p, SUM(x) FILTER (WHERE y) AS s FROM t WHERE a = $a",
        param_signature({"a": "x"}),
    ).sql
    tree = sqlglot.parse_one(text, read="clickhouse")
    assert tree.find(exp.ParameterizedAgg) is not None
