"""Canonical (DuckDB-flavoured) SQL to ClickHouse, and named parameters bound the ClickHouse way.

The canonical queries in ``sql/queries/*.sql`` are written once. For ClickHouse they are parsed with sqlglot,
rewritten by the data tables below (never ``if``-chains), and generated in the ClickHouse dialect:

- :data:`FUNCTION_MAP` says which canonical function becomes which ClickHouse one, e.g. ``quantile_cont`` ->
  ``quantileExactInclusive(q)(x)`` (equal to DuckDB's linear interpolation) and ``sum`` -> ``sumOrNull``
  (DuckDB's SUM of no rows is NULL, ClickHouse's ``sum`` is 0);
- named parameters (``$name`` or ``:name``) become server-side parameters ``{name:Type}``, the type read from
  the Python value by :data:`PARAM_TYPES`; a ``None`` becomes the constant ``NULL``, because an untyped NULL
  compares with any column type where a typed parameter would not (and chDB binds a ``None`` as 'NULL' text).

Values are never written into the SQL text: they travel beside it and the engine parses them for the
declared type.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Any

import sqlglot
from sqlglot import exp

from agentledger.core.errors import WarehouseError
from agentledger.warehouse.chtypes import Kinds, duckdb_kinds

CANONICAL_DIALECT = "duckdb"
TARGET_DIALECT = "clickhouse"


# ------------------------------------------------------------------------------------ function mappings


@dataclass(frozen=True)
class Renamed:
    """The same aggregate under another name, with the same arguments."""

    name: str

    def build(self, node: exp.Expression) -> exp.Expression:
        args = [node.this, *node.expressions] if node.this is not None else list(node.expressions)
        return exp.Anonymous(this=self.name, expressions=args)


@dataclass(frozen=True)
class Parametric:
    """A ClickHouse parametric aggregate ``name(level)(value)``.

    ``level_arg`` names the sqlglot argument holding the level (``expression`` for ``quantile_cont(x, q)``);
    ``fixed_level`` is used instead for functions that have none (``median``).
    """

    name: str
    level_arg: str | None = None
    fixed_level: float | None = None

    def build(self, node: exp.Expression) -> exp.Expression:
        level = node.args.get(self.level_arg) if self.level_arg else exp.Literal.number(self.fixed_level)
        if level is None:
            raise WarehouseError(f"{node.sql(CANONICAL_DIALECT)}: no quantile level to translate")
        # sqlglot's ParameterizedAgg keeps the level in `expressions` and the value in `params`.
        return exp.ParameterizedAgg(this=self.name, expressions=[level], params=[node.this])


# Canonical function (as sqlglot parses it from DuckDB) -> its ClickHouse form with DuckDB's semantics.
FUNCTION_MAP: dict[type[exp.Expression], Renamed | Parametric] = {
    # quantile_cont(x, q): linear interpolation between closest ranks, exactly like numpy's default.
    exp.PercentileCont: Parametric("quantileExactInclusive", level_arg="expression"),
    exp.Median: Parametric("quantileExactInclusive", fixed_level=0.5),
    # Over no rows (or only NULLs) DuckDB answers NULL; ClickHouse's plain aggregates answer 0 / nan.
    exp.Sum: Renamed("sumOrNull"),
    exp.Avg: Renamed("avgOrNull"),
    exp.Min: Renamed("minOrNull"),
    exp.Max: Renamed("maxOrNull"),
    exp.LogicalOr: Renamed("maxOrNull"),
    exp.LogicalAnd: Renamed("minOrNull"),
}


def map_functions(tree: exp.Expression) -> exp.Expression:
    """Rewrite every function of :data:`FUNCTION_MAP` in ``tree`` (returns the rewritten tree)."""

    def rewrite(node: exp.Expression) -> exp.Expression:
        mapping = FUNCTION_MAP.get(type(node))
        return mapping.build(node) if mapping else node

    return tree.transform(rewrite, copy=True)


# ------------------------------------------------------------------------------------ parameters


# Python type of a bound value -> ClickHouse parameter type; the first match wins (bool before int).
PARAM_TYPES: tuple[tuple[type, str], ...] = (
    (bool, "Bool"),
    (int, "Int64"),
    (float, "Float64"),
    (str, "String"),
    (datetime, "DateTime64(6, 'UTC')"),
    (date, "Date"),
)


def param_type(value: Any) -> str:
    """The ClickHouse type a parameter value is declared with: ``Array(T)`` for a list, ``Tuple(...)`` for a tuple."""
    if isinstance(value, list):
        items = [v for v in value if v is not None]
        return f"Array({param_type(items[0]) if items else 'String'})"
    if isinstance(value, tuple):
        return f"Tuple({', '.join(param_type(v) for v in value)})"
    for py_type, ch_type in PARAM_TYPES:
        if isinstance(value, py_type):
            return ch_type
    raise WarehouseError(f"cannot bind a parameter of type {type(value).__name__}: {value!r}")


def normalize_param(value: Any) -> Any:
    """A value in the form both drivers bind the same way: datetimes as UTC text with microseconds.

    (clickhouse-connect would drop the microseconds of a ``datetime``; chDB cannot parse an offset.)
    """
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value.isoformat(sep=" ", timespec="microseconds")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, list):
        return [normalize_param(v) for v in value]
    if isinstance(value, tuple):
        return tuple(normalize_param(v) for v in value)
    return value


_ESCAPES = str.maketrans({"\\": "\\\\", "'": "\\'", "\t": "\\t", "\n": "\\n", "\r": "\\r", "\0": "\\0"})


def format_param(value: Any, top_level: bool = True) -> str:
    """A normalized value in ClickHouse's text format for query parameters (what the server parses).

    Top-level strings are escaped but unquoted; inside arrays they are quoted, as ClickHouse expects.
    """
    if value is None:
        return "\\N" if top_level else "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(format_param(v, top_level=False) for v in value) + "]"
    if isinstance(value, tuple):
        return "(" + ", ".join(format_param(v, top_level=False) for v in value) + ")"
    if isinstance(value, str):
        escaped = value.translate(_ESCAPES)
        return escaped if top_level else f"'{escaped}'"
    return repr(value) if isinstance(value, float) else str(value)


def param_signature(params: Mapping[str, Any]) -> tuple[tuple[str, str | None], ...]:
    """Name and declared type of each parameter (``None`` for NULL): what the generated SQL depends on."""
    return tuple(sorted((name, None if v is None else param_type(v)) for name, v in params.items()))


def bind_placeholders(tree: exp.Expression, signature: Mapping[str, str | None]) -> exp.Expression:
    """Replace ``$name`` / ``:name`` placeholders by ``{name:Type}``, or ``NULL`` for a None value."""

    def rewrite(node: exp.Expression) -> exp.Expression:
        if not isinstance(node, exp.Placeholder) or node.args.get("kind") is not None:
            return node
        if node.this is None:
            raise WarehouseError("positional '?' parameters are not supported: name every parameter")
        name = node.name
        if name not in signature:
            raise WarehouseError(f"query parameter ${name} has no value: pass params[{name!r}]")
        ch_type = signature[name]
        if ch_type is None:
            return exp.Null()
        return exp.Placeholder(
            this=exp.Var(this=name), kind=exp.DataType.build(ch_type, dialect=TARGET_DIALECT)
        )

    return tree.transform(rewrite, copy=True)


# Quoted text and comments (group 1, kept as they are) or a `$name` placeholder (group 2).
_DOLLAR_PARAM = re.compile(
    r"""('(?:[^'\\]|\\.|'')*'|"(?:[^"\\]|\\.)*"|`[^`]*`|--[^\n]*|/\*.*?\*/)|\$([A-Za-z_]\w*)""",
    re.DOTALL,
)


def bind_dollar_params(sql: str, params: Mapping[str, Any] | None) -> tuple[str, dict[str, Any]]:
    """ClickHouse text with DuckDB-style ``$name`` placeholders -> ``{name:Type}`` (``NULL`` for None).

    Lets one simple statement run on every backend; ``{name:Type}`` placeholders pass through untouched.
    Returns the text and the parameters to send.
    """
    given = dict(params or {})
    used = {m.group(2) for m in _DOLLAR_PARAM.finditer(sql) if m.group(2)}
    missing = used - set(given)
    if missing:
        raise WarehouseError(f"missing query parameters {sorted(missing)}")

    def replace(match: re.Match[str]) -> str:
        name = match.group(2)
        if name is None:
            return match.group(0)
        value = given[name]
        return "NULL" if value is None else f"{{{name}:{param_type(value)}}}"

    text = _DOLLAR_PARAM.sub(replace, sql) if used else sql
    # A `$name` bound to None became NULL in the text; `{name:Type}` parameters travel as given.
    return text, {k: v for k, v in given.items() if not (k in used and v is None)}


# ------------------------------------------------------------------------------------ structure


def alias_qualified_columns(tree: exp.Expression) -> exp.Expression:
    """Give ``t.col`` in a select list the explicit name ``col``.

    Standard SQL names that output column ``col``; ClickHouse names it ``t.col``, so an outer query's
    ``o.col`` would not resolve against a CTE or subquery that selects ``t.col``.
    """
    tree = tree.copy()
    for select in tree.find_all(exp.Select):
        select.set(
            "expressions",
            [
                e.as_(e.name, quoted=e.this.quoted) if _is_qualified_column(e) else e
                for e in select.expressions
            ],
        )
    return tree


def values_as_select(tree: exp.Expression) -> exp.Expression:
    """``INSERT ... VALUES (...)`` -> ``INSERT ... SELECT ...``.

    A server parses the VALUES of an INSERT as data, where query parameters are not substituted; a SELECT
    is a query, where they are.
    """
    if not isinstance(tree, exp.Insert) or not isinstance(tree.expression, exp.Values):
        return tree
    rows = [exp.select(*(_value(e).copy() for e in row.expressions)) for row in tree.expression.expressions]
    union = rows[0]
    for row in rows[1:]:
        union = exp.union(union, row, distinct=False)
    tree = tree.copy()
    tree.set("expression", union)
    return tree


def _value(node: exp.Expression) -> exp.Expression:
    # sqlglot reads each ClickHouse VALUES item as a one-element tuple: the item is its element.
    while isinstance(node, exp.Paren) or (isinstance(node, exp.Tuple) and len(node.expressions) == 1):
        node = node.this if isinstance(node, exp.Paren) else node.expressions[0]
    return node


def clickhouse_values_as_select(sql: str) -> str:
    """:func:`values_as_select` for ClickHouse text (an ad-hoc ``INSERT ... VALUES`` with parameters)."""
    try:
        tree = sqlglot.parse_one(sql, read=TARGET_DIALECT)
    except sqlglot.errors.ParseError:
        return sql  # not ours to judge: the engine reports its own syntax errors
    rewritten = values_as_select(tree)
    return sql if rewritten is tree else rewritten.sql(dialect=TARGET_DIALECT)


def _is_qualified_column(node: exp.Expression) -> bool:
    return isinstance(node, exp.Column) and bool(node.table) and isinstance(node.this, exp.Identifier)


# ------------------------------------------------------------------------------------ transpiling


Transform = Callable[[exp.Expression], exp.Expression]
# Applied in order to every canonical statement (and to template slot expressions).
TRANSFORMS: tuple[Transform, ...] = (map_functions, alias_qualified_columns, values_as_select)


@dataclass(frozen=True)
class Transpiled:
    """A canonical statement in ClickHouse SQL, and what its result needs to look like DuckDB's."""

    sql: str
    kinds: Kinds  # output columns DuckDB types as HUGEINT or BOOLEAN (see chtypes.duckdb_kinds)
    returns_rows: bool = True  # False for INSERT and DDL: run as a command, not as a query
    inserted_rows: int | None = None  # rows of an INSERT ... VALUES (DuckDB answers them as "Count")


@lru_cache(maxsize=512)
def transpile(canonical_sql: str, signature: tuple[tuple[str, str | None], ...] = ()) -> Transpiled:
    """ClickHouse SQL for one canonical statement, its parameters declared by ``signature``.

    Cached: the same query with parameters of the same types transpiles once per process.
    """
    try:
        tree = sqlglot.parse_one(canonical_sql, read=CANONICAL_DIALECT)
    except sqlglot.errors.ParseError as exc:
        raise WarehouseError(f"cannot parse canonical query: {exc}") from exc
    kinds = duckdb_kinds(tree)
    values = tree.expression if isinstance(tree, exp.Insert) else None
    inserted = len(values.expressions) if isinstance(values, exp.Values) else None
    for transform in TRANSFORMS:
        tree = transform(tree)
    tree = bind_placeholders(tree, dict(signature))
    return Transpiled(
        tree.sql(dialect=TARGET_DIALECT, pretty=True), kinds, isinstance(tree, exp.Query), inserted
    )


_COMMANDS = ("INSERT", "CREATE", "ALTER", "DROP", "TRUNCATE", "OPTIMIZE", "RENAME", "SET", "SYSTEM")
_LEADING_COMMENTS = re.compile(r"^(\s+|--[^\n]*|/\*.*?\*/)*", re.DOTALL)


def is_command(sql: str) -> bool:
    """Whether a ClickHouse statement returns no rows (INSERT, DDL): it is sent as a command, not a query."""
    head = _LEADING_COMMENTS.sub("", sql, count=1)
    return head.split(None, 1)[0].upper() in _COMMANDS if head.strip() else False


@lru_cache(maxsize=256)
def transpile_expression(canonical_expression: str) -> str:
    """One canonical SQL expression (a template slot's value) in ClickHouse SQL."""
    try:
        tree = sqlglot.parse_one(canonical_expression, read=CANONICAL_DIALECT)
    except sqlglot.errors.ParseError as exc:
        raise WarehouseError(
            "a template slot holding more than one expression (a fragment of CTEs) cannot be transpiled into an "
            "override file: write the ClickHouse SQL out in the override"
        ) from exc
    for transform in TRANSFORMS:
        tree = transform(tree)
    return tree.sql(dialect=TARGET_DIALECT)


def to_clickhouse(
    canonical_sql: str, params: Mapping[str, Any] | None = None
) -> tuple[Transpiled, dict[str, Any]]:
    """Transpile a canonical statement and keep only the parameters that travel beside it (not the NULLs)."""
    params = dict(params or {})
    transpiled = transpile(canonical_sql, param_signature(params))
    return transpiled, {name: value for name, value in params.items() if value is not None}
