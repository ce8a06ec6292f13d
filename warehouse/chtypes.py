"""ClickHouse results with DuckDB's column types, so a caller cannot tell the backends apart.

Most types map one to one (see :func:`to_polars`). Two cannot be read off the result itself and are taken
from the canonical query instead (:func:`duckdb_kinds`):

- an integer ``SUM`` is HUGEINT in DuckDB (``Decimal(38, 0)`` in polars) but Int64/UInt64 in ClickHouse, and
  it stays HUGEINT through CTEs, ``COALESCE``, ``CASE`` and arithmetic other than division;
- a predicate in a select list (``a > b``, ``x IS NULL``) is BOOLEAN in DuckDB but UInt8 in ClickHouse.
"""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl
import pyarrow as pa
from sqlglot import exp

HUGEINT = "hugeint"
BOOLEAN = "boolean"
Kinds = dict[str, str]  # output column -> HUGEINT | BOOLEAN

_TS = pa.timestamp("us", tz="UTC")
_ARROW = {HUGEINT: pa.decimal128(38, 0), BOOLEAN: pa.bool_()}
_PREDICATES = (exp.Predicate, exp.Not, exp.And, exp.Or, exp.Boolean)
_OPAQUE = (exp.Cast, exp.Div, exp.Subquery)  # their type is their own, whatever their operands


# ------------------------------------------------------------------------------------ from the query


def duckdb_kinds(tree: exp.Expression) -> Kinds:
    """Output columns of a canonical statement whose DuckDB type ClickHouse does not reproduce."""
    return _query_kinds(tree, {}) if isinstance(tree, exp.Query) else {}


def _query_kinds(query: exp.Expression, known: Mapping[str, Kinds]) -> Kinds:
    if isinstance(query, exp.SetOperation):  # a UNION's columns take the first branch's names and types
        return _query_kinds(query.left, known)
    if isinstance(query, exp.Subquery):
        return _query_kinds(query.this, known)
    if not isinstance(query, exp.Select):
        return {}
    scope = dict(known)
    for cte in query.ctes:
        scope[cte.alias] = _query_kinds(cte.this, scope)
    sources = _source_kinds(query, scope)
    kinds: Kinds = {}
    for projection in query.expressions:
        if isinstance(projection, exp.Star) or isinstance(projection.this, exp.Star):
            kinds.update(_star_kinds(projection, sources))
        elif kind := _expr_kind(projection.unalias(), sources):
            kinds[projection.alias_or_name] = kind
    return kinds


def _source_kinds(select: exp.Select, known: Mapping[str, Kinds]) -> dict[str, Kinds]:
    """Kinds of the columns of each table, CTE or subquery in FROM and JOIN, by alias."""
    froms = [select.args.get("from_") or select.args.get("from")]
    relations = [f.this for f in froms if f is not None] + [j.this for j in select.args.get("joins") or []]
    sources: dict[str, Kinds] = {}
    for relation in relations:
        if isinstance(relation, exp.Table):
            sources[relation.alias_or_name] = dict(known.get(relation.name, {}))
        elif isinstance(relation, exp.Subquery):
            sources[relation.alias_or_name] = _query_kinds(relation.this, known)
    return sources


def _star_kinds(projection: exp.Expression, sources: Mapping[str, Kinds]) -> Kinds:
    table = projection.table if isinstance(projection, exp.Column) else ""
    merged: Kinds = {}
    for alias, kinds in sources.items():
        if not table or alias == table:
            merged.update(kinds)
    return merged


def _expr_kind(node: exp.Expression, sources: Mapping[str, Kinds]) -> str | None:
    if isinstance(node, _OPAQUE):
        return None
    if isinstance(node, _PREDICATES):
        return BOOLEAN
    if isinstance(node, exp.Sum):
        return HUGEINT
    if isinstance(node, exp.Column):
        candidates = [sources.get(node.table, {})] if node.table else list(sources.values())
        return next((kinds[node.name] for kinds in candidates if node.name in kinds), None)
    if isinstance(node, exp.Window):  # SUM(x) OVER (...) is a sum; its PARTITION/ORDER BY are not values
        return _expr_kind(node.this, sources)
    children = (_expr_kind(child, sources) for child in node.iter_expressions())
    return HUGEINT if HUGEINT in children else None


# ------------------------------------------------------------------------------------ on the result


def to_polars(table: pa.Table, kinds: Mapping[str, str] | None = None) -> pl.DataFrame:
    """Arrow from ClickHouse -> polars with DuckDB's column types.

    LowCardinality columns arrive dictionary-encoded, counts as UInt64, small integers as UInt8/Int32,
    DateTime64 with the column's zone; ``kinds`` (from :func:`duckdb_kinds`) recasts integer columns that
    DuckDB types as HUGEINT or BOOLEAN.
    """
    kinds = kinds or {}
    columns = [_duckdb_like(table.column(name), kinds.get(name)) for name in table.column_names]
    frame = pl.from_arrow(pa.table(columns, names=table.column_names))
    assert isinstance(frame, pl.DataFrame)
    return frame


def _duckdb_like(column: pa.ChunkedArray, kind: str | None) -> pa.ChunkedArray:
    arrow_type = column.type
    if pa.types.is_dictionary(arrow_type):
        return _duckdb_like(column.cast(arrow_type.value_type), kind)
    if kind and pa.types.is_integer(arrow_type):
        return column.cast(_ARROW[kind])
    if pa.types.is_unsigned_integer(arrow_type) or (
        pa.types.is_integer(arrow_type) and arrow_type.bit_width < 64
    ):
        return column.cast(pa.int64())
    if pa.types.is_floating(arrow_type) and arrow_type.bit_width < 64:
        return column.cast(pa.float64())
    if pa.types.is_timestamp(arrow_type):
        return column.cast(_TS)
    return column
